//! Request ids: one counter per process, shared by every channel and role, as in Node
//! (first id 1, wrapping back to 1 after 2^30 - 1).

use std::sync::atomic::{AtomicU64, Ordering};

const MAX_ID: u64 = (1 << 30) - 1;

pub(crate) fn next_id() -> i64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    (COUNTER.fetch_add(1, Ordering::Relaxed) % MAX_ID + 1) as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_positive_and_below_two_to_the_thirty() {
        for _ in 0..1000 {
            let id = super::next_id();
            assert!((1..1 << 30).contains(&id));
        }
    }
}
