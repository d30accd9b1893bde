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
