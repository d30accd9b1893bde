//! This process's subscriptions on a channel: one upstream subscription per key (through the
//! local leader or the follower connection), fanned out to every local stream of the key.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::{Core, Role, lock};
use crate::KeyHasher;
use crate::follower::{CallFailure, FollowerConn};
use crate::leader::Endpoint;
use crate::protocol::{HEADER_LEN, Message, subscription_key};
use crate::service::Service;
use crate::subscription::{CloseReason, Detach, Listener, RawSubscription};

#[derive(Default)]
pub(crate) struct Locals {
    pub(super) keys: HashMap<String, LocalKey, KeyHasher>,
    next_listener: u64,
}

pub(crate) struct LocalKey {
    pub(super) reg: Value,
    pub(super) listeners: Vec<(u64, Arc<Listener>)>,
    pub(super) last: Option<Bytes>,
}

impl LocalKey {
    pub(super) fn push(&mut self, value: Bytes) {
        self.last = Some(value.clone());
        for (_, l) in &self.listeners {
            l.push(value.clone());
        }
    }

    pub(super) fn close(&self, reason: CloseReason) {
        for (_, l) in &self.listeners {
            l.close(reason);
        }
    }
}

impl Locals {
    pub(super) fn deliver(&mut self, key: &str, value: Bytes) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.push(value);
        }
    }
}

/// Whether a subscription could be handed to the current role.
pub(super) enum Attached {
    /// Subscribed (or it will be, with the next role).
    Yes,
    /// The leader cannot take it (its frame is over the leader's limit): the stream ends.
    Refused,
}

impl<S: Service> Core<S> {
    /// Subscribes to `reg` for a new local stream.
    pub(crate) fn subscribe(&self, reg: Value) -> RawSubscription {
        let key = subscription_key(&reg);
        let listener = Listener::new(self.options.subscription_buffer, self.options.lag_policy);
        let mut locals = lock(&self.locals);
        locals.next_listener += 1;
        let id = locals.next_listener;
        let role = self.role.borrow().clone();
        let mut fresh = false;
        match locals.keys.get_mut(&key) {
            Some(entry) => {
                if let Some(last) = &entry.last {
                    listener.push(last.clone());
                }
                entry.listeners.push((id, listener.clone()));
            }
            None => {
                let mut entry = LocalKey {
                    reg,
                    listeners: vec![(id, listener.clone())],
                    last: None,
                };
                match self.attach(&role, &key, &mut entry) {
                    Attached::Yes => {
                        locals.keys.insert(key.clone(), entry);
                        fresh = true;
                    }
                    Attached::Refused => listener.close(CloseReason::Refused),
                }
            }
        }
        drop(locals);
        drop(role);
        if fresh {
            self.watch_first_value(&key);
        }
        let owner: Arc<dyn Detach> = match self.weak.upgrade() {
            Some(core) => core,
            None => {
                listener.close(CloseReason::HandleClosed);
                return RawSubscription::new(key, id, listener, None);
            }
        };
        RawSubscription::new(key, id, listener, Some(owner))
    }

    /// With a subscribe timeout set, warns when a new subscription gets no first value in
    /// time (the value is still delivered whenever it comes).
    fn watch_first_value(&self, key: &str) {
        let Some(limit) = self.options.subscribe_timeout else {
            return;
        };
        let weak = self.weak.clone();
        let key = key.to_owned();
        self.tasks.spawn(async move {
            tokio::time::sleep(limit).await;
            let Some(core) = weak.upgrade() else { return };
            let waiting = lock(&core.locals)
                .keys
                .get(&key)
                .is_some_and(|e| e.last.is_none());
            if waiting {
                tracing::warn!(
                    channel = %core.channel,
                    key = ?key,
                    "subscribe timeout: no value within {}ms",
                    limit.as_millis()
                );
            }
        });
    }

    /// Starts receiving `key` from `role` (called with `locals` held; runs no real-client
    /// code: a local leader starts the upstream on a task of its own).
    pub(super) fn attach(&self, role: &Role<S>, key: &str, entry: &mut LocalKey) -> Attached {
        match role {
            Role::Leading { leader, .. } => {
                let replay = leader.subscribe_local(
                    key.into(),
                    entry.reg.clone(),
                    self.local_id,
                    self.local_sink(),
                );
                if let Some(value) = replay {
                    entry.push(value);
                }
                Attached::Yes
            }
            Role::Following(conn) => {
                let message = Message::Subscribe {
                    key: key.to_owned(),
                    reg: entry.reg.clone(),
                };
                if frame_len(&message) > conn.max_frame_len() {
                    tracing::warn!(
                        channel = %self.channel,
                        key = ?key,
                        max = conn.max_frame_len(),
                        "a subscription key is over the leader's frame limit; its stream ends"
                    );
                    return Attached::Refused;
                }
                match conn.send(&message, "subscribe", |_| Ok(())) {
                    Ok(_) | Err(CallFailure::NotSent) => Attached::Yes,
                    Err(CallFailure::Failed(e)) => {
                        tracing::warn!(channel = %self.channel, key = ?key, error = ?e.to_string(), "subscription refused; its stream ends");
                        Attached::Refused
                    }
                }
            }
            _ => Attached::Yes,
        }
    }

    /// Tells the current role that nobody here subscribes to `key` any more.
    fn detach_key(&self, role: &Role<S>, key: &str, reg: &Value) {
        match role {
            Role::Leading { leader, .. } => Endpoint::unsubscribe(&**leader, key, self.local_id),
            Role::Following(conn) => unsubscribe_remote(conn, key, reg),
            _ => {}
        }
    }

    /// Ends every local stream of `key` and the upstream subscription.
    pub(crate) fn unsubscribe_all(&self, key: &str) {
        let mut locals = lock(&self.locals);
        let role = self.role.borrow().clone();
        let removed = locals.keys.remove(key);
        if let Some(entry) = &removed {
            entry.close(CloseReason::Unsubscribed);
            self.detach_key(&role, key, &entry.reg);
        }
        drop(locals);
        drop((removed, role));
    }

    /// Ends every local stream (the core is closing).
    pub(crate) fn close_streams(&self) {
        let keys: Vec<_> = lock(&self.locals).keys.drain().collect();
        for (_, entry) in &keys {
            entry.close(CloseReason::HandleClosed);
        }
    }
}

impl<S: Service> Detach for Core<S> {
    fn detach(&self, key: &str, listener_id: u64) {
        let mut locals = lock(&self.locals);
        let role = self.role.borrow().clone();
        let mut removed = None;
        if let Some(entry) = locals.keys.get_mut(key) {
            entry.listeners.retain(|(id, _)| *id != listener_id);
            if entry.listeners.is_empty() {
                removed = locals.keys.remove(key);
            }
        }
        if let Some(entry) = &removed {
            self.detach_key(&role, key, &entry.reg);
        }
        drop(locals);
        // The role may hold the last reference to the real client: dropped unlocked.
        drop((removed, role));
    }
}

fn unsubscribe_remote(conn: &FollowerConn, key: &str, reg: &Value) {
    let message = Message::Unsubscribe {
        key: key.to_owned(),
        reg: reg.clone(),
    };
    let _ = conn.send(&message, "unSubscribe", |_| Ok(()));
}

/// The framed length of a packet without payload.
fn frame_len(message: &Message) -> usize {
    let mut conn = Vec::new();
    message.write_conn(&mut conn);
    HEADER_LEN + conn.len()
}
