//! The leader's upstream subscriptions: every stream the real client opened, one per key, all
//! driven by one task per leader.
//!
//! A key costs a small future in a [`FuturesUnordered`] (no task, no join-set entry), so a
//! leader holding 100,000 keys pays for 100,000 of those and nothing per key on the scheduler.
//! The real client's `subscribe` runs on a short task per key, outside every lock, which hands
//! the stream to the driver; a stream is stopped through the [`AbortHandle`] its topic keeps
//! in the registry.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures::stream::{AbortRegistration, Abortable, FuturesUnordered};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::subscriptions::SubscriptionRegistry;
use crate::error::RemoteError;
use crate::service::ValueStream;
use crate::throttle::Throttle;

/// Opens the real client's stream for one key (captures the client and the registration).
pub(crate) type Opener = Box<dyn FnOnce() -> Result<ValueStream, RemoteError> + Send>;

/// A key whose stream is to be opened and fed.
pub(crate) struct Open {
    pub(crate) key: Arc<str>,
    pub(crate) generation: u64,
    pub(crate) abort: AbortRegistration,
    pub(crate) open: Opener,
}

/// What every feed of one leader shares.
pub(crate) struct Shared {
    pub(crate) registry: Weak<SubscriptionRegistry>,
    pub(crate) channel: Arc<str>,
    pub(crate) refusals: Arc<Mutex<Throttle>>,
}

/// At most this many values of one stream are handled per poll, so one busy key cannot keep
/// the others (and the driver's queue of new keys) waiting.
const VALUES_PER_POLL: usize = 32;

/// Runs until the leader drops its sender (or aborts the task): feeds every open stream's
/// values to the registry.
///
/// The queue is unbounded in type only: each entry is a topic the registry has just created,
/// and the registry's keys are bounded by the per-connection subscription limit.
pub(crate) async fn drive(mut opened: mpsc::UnboundedReceiver<Feed>) {
    let mut feeds: FuturesUnordered<Feed> = FuturesUnordered::new();
    loop {
        tokio::select! {
            feed = opened.recv() => {
                let Some(feed) = feed else { return };
                feeds.push(feed);
                // A re-subscription brings thousands at once: take what is queued in one go.
                for _ in 0..1024 {
                    match opened.try_recv() {
                        Ok(feed) => feeds.push(feed),
                        Err(_) => break,
                    }
                }
            }
            Some(()) = feeds.next(), if !feeds.is_empty() => {}
        }
    }
}

/// Opens one key's stream (the real client's code, isolated from panics) and delivers what it
/// has at once; the feed to hand to the driver, unless the stream is done already.
///
/// Runs on a short task of its own per key, not on the driver: a real client whose
/// `subscribe` blocks holds up that key only.
pub(crate) fn open(shared: &Arc<Shared>, open: Open) -> Option<Feed> {
    let Open {
        key,
        generation,
        abort,
        open,
    } = open;
    match std::panic::catch_unwind(AssertUnwindSafe(open)) {
        Ok(Ok(stream)) => {
            let mut feed = Feed {
                key,
                generation,
                stream: Abortable::new(stream, abort),
                shared: shared.clone(),
            };
            // Most streams have their first value at once: deliver it here. The driver polls
            // the feed again, which registers its real waker.
            let mut cx = Context::from_waker(Waker::noop());
            Pin::new(&mut feed)
                .poll(&mut cx)
                .is_pending()
                .then_some(feed)
        }
        Ok(Err(e)) => {
            let held_back = shared
                .refusals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .allow();
            if let Some(held_back) = held_back {
                tracing::warn!(channel = %shared.channel, key = ?key, error = ?e.to_string(), held_back, "the real client refused a subscription");
            }
            None
        }
        Err(_) => {
            tracing::error!(channel = %shared.channel, key = ?key, "the real client's subscribe panicked");
            None
        }
    }
}

/// One key's stream, delivering each value to the registry; done when the stream ends, is
/// aborted, panics, or the registry is gone.
pub(crate) struct Feed {
    key: Arc<str>,
    generation: u64,
    stream: Abortable<ValueStream>,
    shared: Arc<Shared>,
}

impl Future for Feed {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        for _ in 0..VALUES_PER_POLL {
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                Pin::new(&mut this.stream).poll_next(cx)
            }));
            let item = match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Some(item))) => item,
                Ok(Poll::Ready(None)) => return Poll::Ready(()),
                Err(_) => {
                    tracing::error!(channel = %this.shared.channel, key = ?this.key, "a subscription stream of the real client panicked");
                    return Poll::Ready(());
                }
            };
            let Some(registry) = this.shared.registry.upgrade() else {
                return Poll::Ready(());
            };
            match item {
                Ok(bytes) => {
                    let delivered =
                        registry.deliver(&this.key, this.generation, Bytes::from(bytes));
                    if let Some(o) = delivered {
                        tracing::warn!(
                            channel = %this.shared.channel,
                            key = ?this.key,
                            len = o.len,
                            max = o.max,
                            times = o.count,
                            "a subscription value is over a follower's frame limit and was not sent to it"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(channel = %this.shared.channel, key = ?this.key, error = ?e.to_string(), "dropping a value that could not be encoded")
                }
            }
        }
        // More may be ready: come back after the others had their turn.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
