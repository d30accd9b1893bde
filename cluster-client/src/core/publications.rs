//! The publications a core remembers: the last one per key, for re-sending to every new
//! connection and every new real client. O(1) per publication; only a replay sorts.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

/// One key's last publication.
#[derive(Debug, Clone)]
pub(crate) struct Remembered {
    key: Arc<str>,
    /// The publisher's number for this key (sent so a Rust leader can recognise re-sends).
    pub(crate) slot: u64,
    /// When it was made, in the core's order of oneway calls and publications.
    pub(crate) seq: u64,
    /// The encoded argument list (one argument).
    pub(crate) args: Bytes,
}

#[derive(Debug, Default)]
pub(crate) struct Publications {
    by_key: HashMap<Arc<str>, Remembered>,
    next_slot: u64,
}

impl Publications {
    /// Records a publication made at `seq`; returns the key as shared and its slot.
    pub(crate) fn record(&mut self, key: &str, seq: u64, args: Bytes) -> (Arc<str>, u64) {
        if let Some(entry) = self.by_key.get_mut(key) {
            entry.seq = seq;
            entry.args = args;
            return (entry.key.clone(), entry.slot);
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        let key: Arc<str> = Arc::from(key);
        let entry = Remembered {
            key: key.clone(),
            slot,
            seq,
            args,
        };
        self.by_key.insert(key.clone(), entry);
        (key, slot)
    }

    /// The last publication of `key` if it is still the one made at `seq`.
    pub(crate) fn current(&self, key: &str, seq: u64) -> Option<&Remembered> {
        self.by_key.get(key).filter(|p| p.seq == seq)
    }

    /// Every key's last publication, oldest first.
    pub(crate) fn in_order(&self) -> Vec<(Arc<str>, u64)> {
        let mut all: Vec<_> = self
            .by_key
            .iter()
            .map(|(k, p)| (k.clone(), p.seq))
            .collect();
        all.sort_unstable_by_key(|(_, seq)| *seq);
        all
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_key_replayed_in_the_order_of_their_last_publication() {
        let mut p = Publications::default();
        let (_, a) = p.record("a", 1, Bytes::from_static(b"a1"));
        let (_, b) = p.record("b", 2, Bytes::from_static(b"b1"));
        let (_, a2) = p.record("a", 3, Bytes::from_static(b"a2"));
        assert_eq!(a, a2, "a key keeps its slot");
        assert_ne!(a, b);
        assert_eq!(p.len(), 2);
        let order: Vec<_> = p
            .in_order()
            .into_iter()
            .map(|(k, s)| (k.to_string(), s))
            .collect();
        assert_eq!(order, [("b".to_string(), 2), ("a".to_string(), 3)]);
        assert!(p.current("a", 1).is_none(), "superseded");
        assert_eq!(p.current("a", 3).unwrap().args, Bytes::from_static(b"a2"));
    }
}
