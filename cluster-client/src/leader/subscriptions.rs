//! The leader's subscription registry: one upstream subscription per key, fanned out to every
//! subscriber (or to one at random when broadcast is off), with the last value cached and
//! replayed to late subscribers.
//!
//! Lock rule: the registry's lock covers only its own map. Values are pushed to sinks after it
//! is released (a local sink takes the handle core's lock), and upstream streams are opened by
//! the leader's upstream driver, never under it. Topics that leave the map are dropped after
//! the lock is released (a sink may hold the last reference to a local delivery).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::{AbortHandle, AbortRegistration};
use serde_json::Value;

use crate::KeyHasher;
use crate::backoff::random_below;
use crate::outbox::{Outbox, PushError};
use crate::protocol::{Header, Message, ProtocolError};
use crate::request_id::next_id;

/// Identifies one subscriber: a follower connection, or a local handle core.
pub(crate) type SubscriberId = u64;

pub(crate) fn next_subscriber_id() -> SubscriberId {
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

/// A value that could not be pushed to one follower because it is over the frame limit.
pub(crate) struct TooLarge {
    pub(crate) len: u64,
    pub(crate) max: usize,
}

impl Sink {
    fn deliver(&self, message: &Message, key: &str, value: &Bytes) -> Result<(), TooLarge> {
        match self {
            Sink::Remote { outbox, timeout_ms } => {
                let header = Header::request(next_id(), *timeout_ms);
                // One buffer for every follower: a large value is not copied per connection.
                match outbox.push_shared(header, message, value) {
                    Err(PushError::Protocol(ProtocolError::FrameTooLarge { len, max })) => {
                        Err(TooLarge { len, max })
                    }
                    // A closed connection is being torn down; its subscriptions go with it.
                    _ => Ok(()),
                }
            }
            Sink::Local(f) => {
                f(key, value);
                Ok(())
            }
        }
    }
}

struct Topic {
    /// The registration as compact JSON, parsed again only for the real client's
    /// `unsubscribe` (a `Value` costs several allocations per key; this costs one).
    reg: Box<str>,
    /// Tells this topic from an earlier one of the same key.
    generation: u64,
    subscribers: Vec<(SubscriberId, Sink)>,
    last: Option<Bytes>,
    /// Stops the upstream stream (whether or not it was opened yet).
    upstream: AbortHandle,
    /// Values that could not be pushed to some follower because of their size.
    oversized: u64,
}

impl Topic {
    /// Takes subscriber `id` out (keeping the others' order), for the caller to drop outside
    /// the lock.
    fn take_subscriber(&mut self, id: SubscriberId) -> Option<(SubscriberId, Sink)> {
        let i = self.subscribers.iter().position(|(s, _)| *s == id)?;
        Some(self.subscribers.remove(i))
    }
}

/// A key nobody subscribes to any more: stop its upstream subscription and tell the real
/// client.
pub(crate) struct Abandoned {
    reg: Box<str>,
    upstream: AbortHandle,
    /// Dropped by whoever handles the abandonment, outside the registry's lock.
    _topic: Box<Topic>,
}

impl Abandoned {
    fn new(mut topic: Box<Topic>) -> Self {
        Self {
            reg: std::mem::take(&mut topic.reg),
            upstream: topic.upstream.clone(),
            _topic: topic,
        }
    }
}

impl Abandoned {
    /// The registration the key was subscribed with.
    pub(crate) fn reg(&self) -> Value {
        // Written by `serde_json` from a `Value` (see `add`), so it parses back to the same one.
        serde_json::from_str(&self.reg).unwrap_or(Value::Null)
    }

    pub(crate) fn stop(&self) {
        self.upstream.abort();
    }
}

/// What [`SubscriptionRegistry::add`] found.
pub(crate) struct Added {
    /// The key is new: its upstream must be started (with this generation, stopped through
    /// this registration).
    pub(crate) start: Option<(u64, AbortRegistration)>,
    /// The cached value for a late subscriber (when broadcasting).
    pub(crate) replay: Option<Bytes>,
}

/// A value pushed to a follower that was over its frame limit, for the caller to report.
pub(crate) struct Oversized {
    pub(crate) count: u64,
    pub(crate) len: u64,
    pub(crate) max: usize,
}

/// Topics by key. A topic is boxed: the map's buckets stay small (key and pointer), which
/// matters at 100,000 keys, where the map holds up to twice as many buckets as keys.
type Topics = HashMap<Arc<str>, Box<Topic>, KeyHasher>;

pub(crate) struct SubscriptionRegistry {
    /// Keyed by the same `Arc<str>` the subscribing connection keeps in its own key set.
    topics: Mutex<Topics>,
    broadcast: bool,
    generations: AtomicU64,
}

impl SubscriptionRegistry {
    pub(crate) fn new(broadcast: bool) -> Self {
        Self {
            topics: Mutex::new(Topics::default()),
            broadcast,
            generations: AtomicU64::new(0),
        }
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, Topics> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a subscriber. Nothing is delivered here, so callers may hold their own locks.
    pub(crate) fn add(&self, key: &Arc<str>, reg: &Value, id: SubscriberId, sink: Sink) -> Added {
        let mut topics = self.topics();
        match topics.get_mut(&**key) {
            Some(topic) => {
                if topic.subscribers.iter().any(|(s, _)| *s == id) {
                    return Added {
                        start: None,
                        replay: None,
                    };
                }
                topic.subscribers.push((id, sink));
                Added {
                    start: None,
                    replay: topic.last.clone().filter(|_| self.broadcast),
                }
            }
            None => {
                let generation = self.generations.fetch_add(1, Ordering::Relaxed);
                let (upstream, registration) = AbortHandle::new_pair();
                topics.insert(
                    key.clone(),
                    Box::new(Topic {
                        reg: reg.to_string().into_boxed_str(),
                        generation,
                        subscribers: vec![(id, sink)],
                        last: None,
                        upstream,
                        oversized: 0,
                    }),
                );
                Added {
                    start: Some((generation, registration)),
                    replay: None,
                }
            }
        }
    }

    /// A value from upstream: cache it and push it out. Returns what could not be pushed to
    /// some follower for its size, the first time and then every 1000th time for this key.
    pub(crate) fn deliver(&self, key: &str, generation: u64, value: Bytes) -> Option<Oversized> {
        let targets: Vec<Sink> = {
            let mut topics = self.topics();
            let topic = topics.get_mut(key).filter(|t| t.generation == generation)?;
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
        let mut too_large = None;
        for sink in targets {
            if let Err(e) = sink.deliver(&message, key, &value) {
                too_large = Some(e);
            }
        }
        let e = too_large?;
        let mut topics = self.topics();
        let topic = topics.get_mut(key)?;
        topic.oversized += 1;
        (topic.oversized % 1000 == 1).then_some(Oversized {
            count: topic.oversized,
            len: e.len,
            max: e.max,
        })
    }

    /// Hands a replayed value to one sink.
    pub(crate) fn replay(key: &str, sink: &Sink, value: &Bytes) {
        let _ = sink.deliver(
            &Message::SubscribeResult {
                key: key.to_owned(),
            },
            key,
            value,
        );
    }

    /// Removes one subscriber from one key.
    pub(crate) fn remove(&self, key: &str, id: SubscriberId) -> Option<Abandoned> {
        // Declared before the guard, so the removed sink is dropped after it is released.
        let _removed: Option<(SubscriberId, Sink)>;
        let mut topics = self.topics();
        let topic = topics.get_mut(key)?;
        _removed = topic.take_subscriber(id);
        if topic.subscribers.is_empty() {
            return topics.remove(key).map(Abandoned::new);
        }
        None
    }

    /// Removes a subscriber from the given keys (its connection closed).
    pub(crate) fn remove_keys<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
        id: SubscriberId,
    ) -> Vec<Abandoned> {
        let mut removed: Vec<(SubscriberId, Sink)> = Vec::new();
        let mut gone = Vec::new();
        let mut topics = self.topics();
        for key in keys {
            let Some(topic) = topics.get_mut(key) else {
                continue;
            };
            removed.extend(topic.take_subscriber(id));
            if topic.subscribers.is_empty() {
                if let Some(topic) = topics.remove(key) {
                    gone.push(Abandoned::new(topic));
                }
            }
        }
        drop(topics);
        drop(removed);
        gone
    }

    /// Keys with an upstream subscription.
    pub(crate) fn len(&self) -> usize {
        self.topics().len()
    }

    /// Stops every upstream subscription (the leader is closing). The topics are dropped after
    /// the lock is released (their sinks may hold the last reference to a local delivery).
    pub(crate) fn clear(&self) {
        let topics: Vec<Box<Topic>> = self.topics().drain().map(|(_, t)| t).collect();
        for topic in &topics {
            topic.upstream.abort();
        }
        drop(topics);
    }
}
