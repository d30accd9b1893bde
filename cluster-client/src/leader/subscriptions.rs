//! The leader's subscription registry: one upstream subscription per key, fanned out to every
//! subscriber (or to one at random when broadcast is off), with the last value cached and
//! replayed to late subscribers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;
use tokio::task::AbortHandle;

use crate::backoff::random_below;
use crate::outbox::Outbox;
use crate::protocol::{Header, Message};
use crate::request_id::next_id;

/// Identifies one subscriber: a follower connection, or a local handle core.
pub(crate) type SubscriberId = u64;

pub(crate) fn next_subscriber_id() -> SubscriberId {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Hands `(key, value)` to the handles of this process.
pub(crate) type LocalDelivery = Arc<dyn Fn(&str, &Bytes) + Send + Sync>;

/// Where a subscriber's values go.
#[derive(Clone)]
pub(crate) enum Sink {
    /// A follower connection: a `subscribe_result` request carrying the leader's timeout.
    Remote {
        outbox: Arc<Outbox>,
        timeout_ms: i32,
    },
    /// Handles of this process.
    Local(LocalDelivery),
}

impl Sink {
    fn deliver(&self, message: &Message, key: &str, value: &Bytes) {
        match self {
            Sink::Remote { outbox, timeout_ms } => {
                // A closed connection is being torn down; its subscriptions go with it.
                let _ = outbox.push_bytes(Header::request(next_id(), *timeout_ms), message, value);
            }
            Sink::Local(f) => f(key, value),
        }
    }
}

struct Topic {
    reg: Value,
    subscribers: Vec<(SubscriberId, Sink)>,
    last: Option<Bytes>,
    upstream: Option<AbortHandle>,
}

/// A key nobody subscribes to any more: stop its upstream subscription.
pub(crate) struct Abandoned {
    pub(crate) reg: Value,
    upstream: Option<AbortHandle>,
}

impl Abandoned {
    pub(crate) fn stop(&self) {
        if let Some(h) = &self.upstream {
            h.abort();
        }
    }
}

pub(crate) struct SubscriptionRegistry {
    topics: Mutex<HashMap<String, Topic>>,
    broadcast: bool,
}

impl SubscriptionRegistry {
    pub(crate) fn new(broadcast: bool) -> Self {
        Self {
            topics: Mutex::new(HashMap::new()),
            broadcast,
        }
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<String, Topic>> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a subscriber. Returns whether the key is new (its upstream must be started, then
    /// recorded with [`Self::set_upstream`]) and, for a late subscriber while broadcasting, the
    /// cached value to hand it. Nothing is delivered here, so callers may hold their own locks.
    pub(crate) fn add(
        &self,
        key: &str,
        reg: Value,
        id: SubscriberId,
        sink: Sink,
    ) -> (bool, Option<Bytes>) {
        let mut topics = self.topics();
        match topics.get_mut(key) {
            Some(topic) => {
                if topic.subscribers.iter().any(|(s, _)| *s == id) {
                    return (false, None);
                }
                topic.subscribers.push((id, sink));
                (false, topic.last.clone().filter(|_| self.broadcast))
            }
            None => {
                topics.insert(
                    key.to_owned(),
                    Topic {
                        reg,
                        subscribers: vec![(id, sink)],
                        last: None,
                        upstream: None,
                    },
                );
                (true, None)
            }
        }
    }

    /// Records the task feeding `key`; aborts it at once if the key was abandoned meanwhile.
    pub(crate) fn set_upstream(&self, key: &str, handle: AbortHandle) {
        match self.topics().get_mut(key) {
            Some(topic) => topic.upstream = Some(handle),
            None => handle.abort(),
        }
    }

    /// A value from upstream: cache it and push it out. Sinks run outside the registry's
    /// lock, so a local sink may take locks of its own.
    pub(crate) fn deliver(&self, key: &str, value: Bytes) {
        let targets: Vec<Sink> = {
            let mut topics = self.topics();
            let Some(topic) = topics.get_mut(key) else {
                return;
            };
            topic.last = Some(value.clone());
            if self.broadcast {
                topic.subscribers.iter().map(|(_, s)| s.clone()).collect()
            } else if topic.subscribers.is_empty() {
                Vec::new()
            } else {
                let i = random_below(topic.subscribers.len() as u64) as usize;
                vec![topic.subscribers[i].1.clone()]
            }
        };
        let message = Message::SubscribeResult {
            key: key.to_owned(),
        };
        for sink in targets {
            sink.deliver(&message, key, &value);
        }
    }

    /// Hands a replayed value to one sink.
    pub(crate) fn replay(key: &str, sink: &Sink, value: &Bytes) {
        sink.deliver(
            &Message::SubscribeResult {
                key: key.to_owned(),
            },
            key,
            value,
        );
    }

    /// Removes one subscriber from one key.
    pub(crate) fn remove(&self, key: &str, id: SubscriberId) -> Option<Abandoned> {
        let mut topics = self.topics();
        let topic = topics.get_mut(key)?;
        topic.subscribers.retain(|(s, _)| *s != id);
        if topic.subscribers.is_empty() {
            let topic = topics.remove(key)?;
            return Some(Abandoned {
                reg: topic.reg,
                upstream: topic.upstream,
            });
        }
        None
    }

    /// Removes a subscriber from every key (its connection closed).
    pub(crate) fn remove_all(&self, id: SubscriberId) -> Vec<Abandoned> {
        let mut topics = self.topics();
        let mut gone = Vec::new();
        topics.retain(|_, topic| {
            topic.subscribers.retain(|(s, _)| *s != id);
            if topic.subscribers.is_empty() {
                gone.push(Abandoned {
                    reg: topic.reg.take(),
                    upstream: topic.upstream.take(),
                });
                false
            } else {
                true
            }
        });
        gone
    }

    /// Stops every upstream subscription (the leader is closing).
    pub(crate) fn clear(&self) {
        for (_, topic) in self.topics().drain() {
            if let Some(h) = topic.upstream {
                h.abort();
            }
        }
    }
}
