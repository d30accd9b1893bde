//! Subscription streams handed to the application. They outlive role changes: the handle feeds
//! them from whichever leader is current.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures::Stream;
use serde::de::DeserializeOwned;

use crate::codec::PayloadCodec;
use crate::options::LagPolicy;

/// Why a subscription stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The key was unsubscribed through the handle.
    Unsubscribed,
    /// The consumer fell behind and the lag policy is [`LagPolicy::Close`].
    Lagged,
    /// The handle was closed.
    HandleClosed,
    /// The leader cannot take the subscription (its key is over the leader's frame limit).
    Refused,
}

/// The buffer between the runtime and one subscription stream.
pub(crate) struct Listener {
    state: Mutex<ListenerState>,
    capacity: usize,
    policy: LagPolicy,
}

struct ListenerState {
    queue: VecDeque<Bytes>,
    closed: Option<CloseReason>,
    waker: Option<Waker>,
    lagged: u64,
}

impl Listener {
    pub(crate) fn new(capacity: usize, policy: LagPolicy) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(ListenerState {
                queue: VecDeque::new(),
                closed: None,
                waker: None,
                lagged: 0,
            }),
            capacity: capacity.max(1),
            policy,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ListenerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a value, applying the lag policy when the buffer is full.
    pub(crate) fn push(&self, value: Bytes) {
        let mut st = self.state();
        if st.closed.is_some() {
            return;
        }
        if st.queue.len() >= self.capacity {
            st.lagged += 1;
            match self.policy {
                LagPolicy::KeepLatest => {
                    st.queue.pop_front();
                }
                LagPolicy::Close => {
                    st.closed = Some(CloseReason::Lagged);
                    st.queue.clear();
                    if let Some(w) = st.waker.take() {
                        w.wake();
                    }
                    return;
                }
            }
        }
        st.queue.push_back(value);
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }

    pub(crate) fn close(&self, reason: CloseReason) {
        let mut st = self.state();
        if st.closed.is_none() {
            st.closed = Some(reason);
        }
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut st = self.state();
        if let Some(v) = st.queue.pop_front() {
            return Poll::Ready(Some(v));
        }
        if st.closed.is_some() {
            return Poll::Ready(None);
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Removes a listener from its handle when the stream is dropped.
pub(crate) trait Detach: Send + Sync {
    fn detach(&self, key: &str, listener_id: u64);
}

/// A stream of encoded values for one subscription (see [`Subscription`] for decoded ones).
pub struct RawSubscription {
    key: String,
    id: u64,
    listener: Arc<Listener>,
    owner: Option<Arc<dyn Detach>>,
}

impl RawSubscription {
    pub(crate) fn new(
        key: String,
        id: u64,
        listener: Arc<Listener>,
        owner: Option<Arc<dyn Detach>>,
    ) -> Self {
        Self {
            key,
            id,
            listener,
            owner,
        }
    }

    /// The subscription key (`$$inner$$__` + the JSON of the argument).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// How many values were dropped because the consumer did not keep up.
    pub fn lagged(&self) -> u64 {
        self.listener.state().lagged
    }

    /// Why the stream ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        let st = self.listener.state();
        if st.queue.is_empty() { st.closed } else { None }
    }
}

impl Stream for RawSubscription {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.listener.poll_next(cx)
    }
}

impl Drop for RawSubscription {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            owner.detach(&self.key, self.id);
        }
    }
}

impl std::fmt::Debug for RawSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSubscription")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A subscription: a stream of values that keeps delivering across leader changes.
///
/// Values that cannot be decoded as `T` are skipped with a warning. Dropping the stream
/// unsubscribes it; when it was the last one for its key in this process, the leader is told.
pub struct Subscription<T> {
    raw: RawSubscription,
    codec: PayloadCodec,
    _item: PhantomData<fn() -> T>,
}

impl<T> Subscription<T> {
    pub(crate) fn new(raw: RawSubscription, codec: PayloadCodec) -> Self {
        Self {
            raw,
            codec,
            _item: PhantomData,
        }
    }

    /// The subscription key.
    pub fn key(&self) -> &str {
        self.raw.key()
    }

    /// How many values were dropped because the consumer did not keep up.
    pub fn lagged(&self) -> u64 {
        self.raw.lagged()
    }

    /// Why the stream ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.raw.close_reason()
    }
}

impl<T: DeserializeOwned> Stream for Subscription<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.raw).poll_next(cx) {
                Poll::Ready(Some(bytes)) => match this.codec.decode::<T>(&bytes) {
                    Ok(v) => return Poll::Ready(Some(v)),
                    Err(e) => {
                        tracing::warn!(key = ?this.raw.key, error = ?e.to_string(), "skipping a subscription value that does not decode")
                    }
                },
                other => return other.map(|_| None),
            }
        }
    }
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("key", &self.raw.key)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn keep_latest_drops_the_oldest() {
        let l = Listener::new(2, LagPolicy::KeepLatest);
        for v in ["a", "b", "c"] {
            l.push(Bytes::from(v));
        }
        l.close(CloseReason::Unsubscribed);
        let raw = RawSubscription::new("k".into(), 1, l, None);
        assert_eq!(raw.lagged(), 1);
        let got: Vec<Bytes> = raw.collect().await;
        assert_eq!(got, vec![Bytes::from("b"), Bytes::from("c")]);
    }

    #[tokio::test]
    async fn close_policy_ends_the_stream_with_a_reason() {
        let l = Listener::new(1, LagPolicy::Close);
        l.push(Bytes::from("a"));
        l.push(Bytes::from("b"));
        let mut raw = RawSubscription::new("k".into(), 1, l, None);
        assert_eq!(raw.next().await, None);
        assert_eq!(raw.close_reason(), Some(CloseReason::Lagged));
    }
}
