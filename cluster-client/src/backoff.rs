//! Bounded, jittered retry delays, and the little randomness the runtime needs.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A uniformly-distributed number in `0..n` (`n > 0`), good enough for jitter and for picking
/// a subscriber; not for anything secret.
pub(crate) fn random_below(n: u64) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() % n.max(1)
}

/// Exponential backoff with full jitter: attempt k waits a random time in
/// `[base * 2^k / 2, base * 2^k]`, capped at `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let ceiling_us = ceiling.as_micros().max(1) as u64;
        Duration::from_micros(ceiling_us / 2 + random_below(ceiling_us / 2 + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_bounded() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(200));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(5) && first <= Duration::from_millis(10));
        for _ in 0..40 {
            assert!(b.next_delay() <= Duration::from_millis(200));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(10));
    }
}
