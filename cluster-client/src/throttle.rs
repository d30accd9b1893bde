//! Rate limits for warnings that a peer can cause, so no peer can flood the logs.

use std::time::Duration;

use tokio::time::Instant;

/// Lets `burst` lines through per period and counts the ones it held back.
#[derive(Debug)]
pub(crate) struct Throttle {
    every: Duration,
    burst: u32,
    window: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl Throttle {
    /// One line per `every`.
    pub(crate) const fn new(every: Duration) -> Self {
        Self::with_burst(every, 1)
    }

    /// `burst` lines per `every`.
    pub(crate) const fn with_burst(every: Duration, burst: u32) -> Self {
        Self {
            every,
            burst,
            window: None,
            used: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line may be logged now (`n` lines were held back before it), `None`
    /// when this one must be held back.
    pub(crate) fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        let fresh = self
            .window
            .is_none_or(|t| now.duration_since(t) >= self.every);
        if fresh {
            self.window = Some(now);
            self.used = 0;
        }
        if self.used >= self.burst {
            self.suppressed += 1;
            return None;
        }
        self.used += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_period_with_a_count_of_the_rest() {
        let mut t = Throttle::new(Duration::from_secs(1));
        assert_eq!(t.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(t.allow(), None);
        }
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert_eq!(t.allow(), Some(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_the_rest_is_counted() {
        let mut t = Throttle::with_burst(Duration::from_secs(1), 3);
        let passed: Vec<_> = (0..5).map(|_| t.allow()).collect();
        assert_eq!(passed, [Some(0), Some(0), Some(0), None, None]);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(t.allow(), Some(2));
    }
}
