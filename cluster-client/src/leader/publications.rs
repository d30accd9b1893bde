//! Which publications this leader has applied, so a publication a follower re-sends (it
//! re-sends all of them on every new connection, since the protocol has no acknowledgement)
//! reaches the real client once.

use std::collections::HashMap;

/// Publisher-and-key pairs remembered before the table starts over. Past it, a re-sent
/// publication may be applied again: at least once still holds.
const MAX_ENTRIES: usize = 1 << 20;

#[derive(Debug, Default)]
pub(crate) struct AppliedPublications {
    /// (publisher, slot) → the sequence number of the last publication applied.
    last: HashMap<(String, u64), u64>,
}

impl AppliedPublications {
    /// Whether the publication is new (and records it): true unless this publisher's key
    /// already had this or a later publication applied.
    pub(crate) fn admit(&mut self, publisher: &str, slot: u64, seq: u64) -> bool {
        if let Some(last) = self.last.get_mut(&(publisher.to_owned(), slot)) {
            if *last >= seq {
                return false;
            }
            *last = seq;
            return true;
        }
        if self.last.len() >= MAX_ENTRIES {
            tracing::warn!(
                entries = self.last.len(),
                "too many publishers and keys to remember; re-sent publications may be applied again"
            );
            self.last.clear();
        }
        self.last.insert((publisher.to_owned(), slot), seq);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_re_sent_or_older_publication_is_not_applied_again() {
        let mut applied = AppliedPublications::default();
        assert!(applied.admit("p1", 0, 5));
        assert!(!applied.admit("p1", 0, 5), "the same publication re-sent");
        assert!(!applied.admit("p1", 0, 3), "an older one");
        assert!(applied.admit("p1", 0, 9), "a newer one");
        assert!(applied.admit("p1", 1, 5), "another key");
        assert!(applied.admit("p2", 0, 5), "another publisher");
    }
}
