//! Deadlines from durations that users (or peers) choose: they saturate instead of overflowing.

use std::time::Duration;

use tokio::time::Instant;

/// Far enough to mean "never" for any process, small enough to add to any instant.
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// The instant `d` from now, or a far-away one when `d` is too large to add.
pub(crate) fn deadline_after(d: Duration) -> Instant {
    after(Instant::now(), d)
}

/// `start + d`, saturating.
pub(crate) fn after(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .unwrap_or_else(|| start.checked_add(FAR).unwrap_or(start))
}

/// A duration in whole milliseconds for wire headers (saturating at `i32::MAX`).
pub(crate) fn header_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate() {
        let now = Instant::now();
        assert!(after(now, Duration::MAX) > now + Duration::from_secs(3600));
        assert_eq!(
            after(now, Duration::from_millis(5)),
            now + Duration::from_millis(5)
        );
        assert_eq!(header_ms(Duration::MAX), i32::MAX);
        assert_eq!(header_ms(Duration::from_millis(3000)), 3000);
    }
}
