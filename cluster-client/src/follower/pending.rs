//! The follower's in-flight table: request id → the caller waiting for its response.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::protocol::Message;

/// A response as the caller receives it.
pub(crate) type Response = (Message, Bytes);

#[derive(Default)]
pub(crate) struct PendingCalls {
    calls: Mutex<Option<HashMap<i64, oneshot::Sender<Response>>>>,
}

impl PendingCalls {
    pub(crate) fn new() -> Self {
        Self {
            calls: Mutex::new(Some(HashMap::new())),
        }
    }

    /// Registers a call; `None` once the connection has failed.
    pub(crate) fn insert(&self, id: i64) -> Option<oneshot::Receiver<Response>> {
        let (tx, rx) = oneshot::channel();
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()?
            .insert(id, tx);
        Some(rx)
    }

    pub(crate) fn remove(&self, id: i64) {
        if let Some(calls) = self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            calls.remove(&id);
        }
    }

    /// Hands a response to its caller; responses nobody waits for are dropped.
    pub(crate) fn complete(&self, id: i64, response: Response) {
        let tx = self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .and_then(|c| c.remove(&id));
        if let Some(tx) = tx {
            let _ = tx.send(response);
        }
    }

    /// Fails every waiting call (their receivers see the sender dropped) and refuses new ones.
    pub(crate) fn fail_all(&self) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map_or(0, |c| c.len())
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |c| c.len())
    }
}

/// Removes the entry when the waiting caller goes away (timeout or cancellation).
pub(crate) struct PendingGuard<'a> {
    pub(crate) pending: &'a PendingCalls,
    pub(crate) id: i64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_table_is_cleaned_on_every_path() {
        let pending = PendingCalls::new();
        // Answered.
        let rx = pending.insert(1).unwrap();
        pending.complete(1, (Message::HeartbeatRes, Bytes::new()));
        assert!(rx.await.is_ok());
        assert_eq!(pending.len(), 0);
        // Timed out or cancelled: the guard removes the entry.
        let rx = pending.insert(2).unwrap();
        drop(PendingGuard {
            pending: &pending,
            id: 2,
        });
        drop(rx);
        assert_eq!(pending.len(), 0);
        // An answer nobody waits for is dropped.
        pending.complete(3, (Message::HeartbeatRes, Bytes::new()));
        assert_eq!(pending.len(), 0);
        // The connection failed: every waiter learns it, and no new call is accepted.
        let a = pending.insert(4).unwrap();
        let b = pending.insert(5).unwrap();
        assert_eq!(pending.fail_all(), 2);
        assert!(a.await.is_err() && b.await.is_err());
        assert!(pending.insert(6).is_none());
        assert_eq!(pending.len(), 0);
    }
}
