//! The state every handle of one channel in one scope shares: the current role, the local
//! subscriptions, the remembered publications and the ordered queue of oneway calls.
//!
//! Lock rule (kept by every module that touches this state):
//! - the locks are `locals` then `ordered`, always in that order, never across an `.await`;
//! - no real-client code, callback or `Drop` of user data runs under them: the role that holds
//!   the real client is cloned out and dropped after the locks are released, real-client calls
//!   run on owned tasks or in the caller after every lock is released;
//! - a new role is published while both locks are held, so a subscription or an ordered call
//!   made at any moment is either replayed to the new role or sent through it, never neither.

mod locals;
mod publications;
mod replay;
mod status;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::codec::CodecError;
use crate::error::Error;
use crate::follower::{FollowerConn, PushHandler};
use crate::leader::{ChannelLeader, SubscriberId, next_subscriber_id};
use crate::options::Options;
use crate::routing::ordered::OrderedState;
use crate::scope::Scope;
use crate::service::{BoxFuture, Service};
use crate::task::{OwnedTask, TaskSet};

pub(crate) use locals::Locals;
pub(crate) use publications::Publications;

/// Creates the real client; called whenever this process becomes the leader.
pub(crate) type Factory<C> =
    Arc<dyn Fn() -> BoxFuture<'static, Result<C, crate::error::RemoteError>> + Send + Sync>;

/// What this core is doing right now.
pub(crate) enum Role<S: Service> {
    /// Looking for a leader, or becoming one.
    Electing,
    /// Leading, with a ready real client.
    Leading {
        leader: Arc<ChannelLeader<S>>,
        client: Arc<S::Client>,
    },
    /// Following a ready leader through this connection.
    Following(Arc<FollowerConn>),
    /// Something definitive went wrong (calls fail with it at once); the election may still
    /// be retrying in the background.
    Failed(Error),
    /// The last handle closed.
    Closed,
}

impl<S: Service> Clone for Role<S> {
    fn clone(&self) -> Self {
        match self {
            Role::Electing => Role::Electing,
            Role::Leading { leader, client } => Role::Leading {
                leader: leader.clone(),
                client: client.clone(),
            },
            Role::Following(conn) => Role::Following(conn.clone()),
            Role::Failed(e) => Role::Failed(e.clone()),
            Role::Closed => Role::Closed,
        }
    }
}

/// Everything the handles of one channel in one scope share.
pub(crate) struct Core<S: Service> {
    pub(crate) channel: String,
    pub(crate) options: Options,
    pub(crate) service: Arc<S>,
    pub(crate) factory: Factory<S::Client>,
    pub(crate) scope: Scope,
    pub(crate) role: watch::Sender<Role<S>>,
    pub(crate) locals: Mutex<Locals>,
    pub(crate) ordered: Mutex<OrderedState>,
    /// Woken when the local queue of ordered calls is empty again.
    pub(crate) ordered_idle: tokio::sync::Notify,
    handles: AtomicUsize,
    /// Completed elections: times this core started leading or following a leader.
    pub(crate) elections: AtomicU64,
    /// When the last election completed.
    pub(crate) last_election: Mutex<Option<std::time::SystemTime>>,
    /// Two-way calls of this core waiting for their answer.
    pub(crate) calls_in_flight: AtomicUsize,
    pub(crate) shutdown: CancellationToken,
    supervisor: Mutex<Option<OwnedTask>>,
    /// This core's identity as a subscriber of its own leader.
    pub(crate) local_id: SubscriberId,
    /// This core's identity as a publisher (unique per process and core).
    pub(crate) publisher: String,
    /// Small tasks of this core: subscribe-timeout watches, the local ordered queue and the
    /// rest of oneway calls that did not finish at once.
    pub(crate) tasks: TaskSet,
    pub(crate) weak: Weak<Core<S>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: Service> Core<S> {
    pub(crate) fn new(
        channel: String,
        options: Options,
        service: Arc<S>,
        factory: Factory<S::Client>,
        scope: Scope,
    ) -> Arc<Self> {
        Arc::new_cyclic(|weak| Core {
            channel,
            options,
            service,
            factory,
            scope,
            role: watch::Sender::new(Role::Electing),
            locals: Mutex::new(Locals::default()),
            ordered: Mutex::new(OrderedState::default()),
            ordered_idle: tokio::sync::Notify::new(),
            handles: AtomicUsize::new(0),
            elections: AtomicU64::new(0),
            last_election: Mutex::new(None),
            calls_in_flight: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
            supervisor: Mutex::new(None),
            local_id: next_subscriber_id(),
            publisher: new_publisher_id(),
            tasks: TaskSet::new(),
            weak: weak.clone(),
        })
    }

    pub(crate) fn codec_error(&self, method: &str, e: CodecError) -> Error {
        Error::Codec {
            channel: self.channel.clone(),
            method: method.to_owned(),
            source: Arc::new(e),
        }
    }

    /// A call of `method` that got no answer within `timeout`.
    pub(crate) fn timeout_error(&self, method: &str, timeout: std::time::Duration) -> Error {
        Error::Timeout {
            channel: self.channel.clone(),
            method: method.to_owned(),
            port: self.options.port,
            timeout,
        }
    }

    pub(crate) fn closed_error(&self) -> Error {
        Error::Closed {
            channel: self.channel.clone(),
        }
    }

    /// A new handle on this core.
    pub(crate) fn acquire(&self) {
        self.handles.fetch_add(1, Ordering::AcqRel);
    }

    /// Starts the supervisor (once, by the builder that made the core).
    pub(crate) fn set_supervisor(&self, task: OwnedTask) {
        *lock(&self.supervisor) = Some(task);
    }

    /// Drops one handle; the last one shuts the core down. Returns the supervisor, which ends
    /// once the role is torn down.
    pub(crate) fn release(&self) -> Option<OwnedTask> {
        if self.handles.fetch_sub(1, Ordering::AcqRel) != 1 {
            return None;
        }
        let port_key = (!self.options.single_mode).then_some(self.options.port);
        self.scope
            .remove_core(port_key, &self.channel, self as *const Self as *const ());
        self.shutdown.cancel();
        lock(&self.supervisor).take()
    }

    /// Replaces the role; the old one is returned so the caller drops it after its locks.
    pub(crate) fn swap_role(&self, role: Role<S>) -> Role<S> {
        self.role.send_replace(role)
    }

    /// Leaves the current role for `role` (unless the core is shutting down, which ends in
    /// `Closed`). The old role is dropped here, outside every lock.
    pub(crate) fn set_role(&self, role: Role<S>) {
        if self.shutdown.is_cancelled() && !matches!(role, Role::Closed) {
            return;
        }
        let old = self.swap_role(role);
        drop(old);
    }

    /// Hands a value from the leader to the local streams of `key`.
    pub(crate) fn deliver_local(&self, key: &str, value: Bytes) {
        lock(&self.locals).deliver(key, value);
    }

    /// Where a follower connection delivers pushed values.
    pub(crate) fn push_handler(&self) -> PushHandler {
        let weak = self.weak.clone();
        Arc::new(move |key: &str, value: Bytes| {
            if let Some(core) = weak.upgrade() {
                core.deliver_local(key, value);
            }
        })
    }

    /// Where this process's own leader delivers values for the local streams.
    pub(crate) fn local_sink(&self) -> crate::leader::Sink {
        let weak = self.weak.clone();
        crate::leader::Sink::Local(Arc::new(move |key: &str, value: &Bytes| {
            if let Some(core) = weak.upgrade() {
                core.deliver_local(key, value.clone());
            }
        }))
    }
}

/// Process id, a per-process counter and some randomness: unique among the publishers a
/// leader can meet, also across restarts of a process that reuses a pid.
fn new_publisher_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        crate::backoff::random_below(u64::MAX)
    )
}
