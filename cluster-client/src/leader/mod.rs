//! The leader: owns the real client of a channel and serves it to followers and to the
//! handles of its own process.
//!
//! Lock rule: the leader's locks (readiness, the subscription registry, applied publications)
//! cover only its own maps, and are never held while real-client code runs. Real-client
//! `subscribe`, `unsubscribe` and `close` run on tasks the leader owns ([`TaskSet`]) or after
//! every lock is released; invokes are futures the caller polls outside every lock.

mod connection;
mod publications;
mod server;
mod subscriptions;
mod upstream;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::stream::AbortRegistration;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::error::RemoteError;
use crate::options::Options;
use crate::service::{BoxFuture, Call, InvokeError, Service};
use crate::status::ChannelStatus;
use crate::task::TaskSet;
use crate::throttle::Throttle;
use publications::AppliedPublications;
pub(crate) use server::PortServer;
use subscriptions::{Abandoned, SubscriptionRegistry};
pub(crate) use subscriptions::{Sink, SubscriberId, next_subscriber_id};

/// The state of the real client.
pub(crate) enum Readiness<C> {
    Pending,
    Ready(Arc<C>),
    Failed(RemoteError),
}

/// What the port server needs of a channel, whatever its client type.
pub(crate) trait Endpoint: Send + Sync + 'static {
    fn channel(&self) -> &str;
    /// Identifies this leader incarnation, so a follower can tell a reconnect to the same
    /// leader from a new one (and a port server can tell two leaders of one channel apart).
    fn instance_id(&self) -> &str;
    fn options(&self) -> &Options;
    /// Cancelled when this leader stops serving: its connections close.
    fn stopped(&self) -> &CancellationToken;
    fn is_ready(&self) -> bool;
    /// Resolves once the real client is ready, or with its creation error.
    fn wait_ready(&self) -> BoxFuture<'_, Result<(), RemoteError>>;
    /// Runs an invoke. Panics in the real client become error answers.
    fn invoke(&self, call: Call) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>>;
    /// Runs a publication unless this leader already applied it (or a later one of the same
    /// publisher and key); `None` when it is skipped.
    fn publish(
        &self,
        publisher: &str,
        slot: u64,
        seq: u64,
        call: Call,
    ) -> Option<BoxFuture<'static, Result<Vec<u8>, InvokeError>>>;
    fn subscribe(&self, key: Arc<str>, reg: Value, id: SubscriberId, sink: Sink);
    fn unsubscribe(&self, key: &str, id: SubscriberId);
    /// Removes a follower connection from every key it held.
    fn drop_subscriber(&self, keys: &[Arc<str>], id: SubscriberId);
    /// A follower registered (`true`) or its connection closed (`false`).
    fn follower_count(&self, joined: bool);
    /// Makes connection `conn`, whose end `done` tells, the current one of `follower`;
    /// returns the end of that follower's previous connection while it is still served.
    fn current_connection(
        &self,
        follower: &str,
        conn: SubscriberId,
        done: CancellationToken,
    ) -> Option<CancellationToken>;
    /// Connection `conn` of `follower` ended.
    fn connection_ended(&self, follower: &str, conn: SubscriberId);
    /// What this leader serves, for a `status` request.
    fn status(&self, port: u16, connections: usize, queued_bytes: usize) -> ChannelStatus;
}

/// What every key's feed shares, and the upstream driver's queue of opened feeds.
type Upstreams = (Arc<upstream::Shared>, mpsc::UnboundedSender<upstream::Feed>);

/// One channel's leader.
pub(crate) struct ChannelLeader<S: Service> {
    channel: Arc<str>,
    instance_id: String,
    service: Arc<S>,
    options: Options,
    ready: watch::Sender<Readiness<S::Client>>,
    subscriptions: Arc<SubscriptionRegistry>,
    /// The upstream driver and real-client unsubscribe calls.
    tasks: TaskSet,
    /// Keys for the upstream driver to open (set when the real client is ready; `None` when
    /// that happened outside a runtime).
    upstreams: OnceLock<Option<Upstreams>>,
    applied: Mutex<AppliedPublications>,
    stopped: CancellationToken,
    refusals: Arc<Mutex<Throttle>>,
    followers: AtomicUsize,
    /// Each Rust follower's current connection (one entry per open connection at most).
    connections_of: Mutex<HashMap<String, (SubscriberId, CancellationToken)>>,
}

impl<S: Service> ChannelLeader<S> {
    pub(crate) fn new(channel: String, service: Arc<S>, options: Options) -> Arc<Self> {
        let subscriptions = Arc::new(SubscriptionRegistry::new(options.broadcast));
        Arc::new(Self {
            channel: channel.into(),
            instance_id: new_instance_id(),
            service,
            options,
            ready: watch::Sender::new(Readiness::Pending),
            subscriptions,
            tasks: TaskSet::new(),
            upstreams: OnceLock::new(),
            applied: Mutex::new(AppliedPublications::default()),
            stopped: CancellationToken::new(),
            refusals: Arc::new(Mutex::new(Throttle::new(Duration::from_secs(10)))),
            followers: AtomicUsize::new(0),
            connections_of: Mutex::new(HashMap::new()),
        })
    }

    /// The real client is ready: starts the upstream driver (here, on the runtime that
    /// runs the election, whatever thread later subscribes) and serves.
    pub(crate) fn set_ready(&self, client: Arc<S::Client>) {
        self.upstreams.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let shared = Arc::new(upstream::Shared {
                registry: Arc::downgrade(&self.subscriptions),
                channel: self.channel.clone(),
                refusals: self.refusals.clone(),
            });
            self.tasks.spawn(upstream::drive(rx)).map(|_| (shared, tx))
        });
        self.ready.send_replace(Readiness::Ready(client));
    }

    /// Records the factory's failure (the previous value, if any, is dropped outside the lock).
    pub(crate) fn set_failed(&self, error: RemoteError) {
        let _previous = self.ready.send_replace(Readiness::Failed(error));
    }

    pub(crate) fn client(&self) -> Option<Arc<S::Client>> {
        match &*self.ready.borrow() {
            Readiness::Ready(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// Starts the real client's subscription for a new key: the upstream driver opens it on
    /// its task, outside every lock.
    fn start_upstream(
        &self,
        key: &Arc<str>,
        reg: Value,
        generation: u64,
        abort: AbortRegistration,
    ) {
        let Some(client) = self.client() else { return };
        let Some((shared, driver)) = self.upstreams() else {
            return;
        };
        let (shared, driver) = (shared.clone(), driver.clone());
        let service = self.service.clone();
        let codec = self.options.codec.clone();
        let open = upstream::Open {
            key: key.clone(),
            generation,
            abort,
            open: Box::new(move || service.subscribe(&client, reg, &codec)),
        };
        self.tasks.spawn(async move {
            if let Some(feed) = upstream::open(&shared, open) {
                // Fails only once the driver is gone: the leader is closing.
                let _ = driver.send(feed);
            }
        });
    }

    /// The upstream driver's queue (`None` before the real client is ready, or once the
    /// leader has closed).
    fn upstreams(&self) -> Option<&Upstreams> {
        self.upstreams
            .get()?
            .as_ref()
            .filter(|(_, driver)| !driver.is_closed())
    }

    fn abandon(&self, gone: Abandoned) {
        gone.stop();
        let Some(client) = self.client() else {
            return;
        };
        let service = self.service.clone();
        let channel = self.channel.clone();
        let reg = gone.reg();
        // Reached from `Drop` of a subscription stream, possibly after the runtime is gone:
        // then there is nothing left to tell (the task set spawns nothing).
        self.tasks.spawn(async move {
            let fut = AssertUnwindSafe(async move { service.unsubscribe(&client, reg).await });
            if fut.catch_unwind().await.is_err() {
                tracing::error!(%channel, "the real client's unsubscribe panicked");
            }
        });
    }

    /// Adds a local subscriber and returns the cached value it should get first, without
    /// delivering it (the caller may hold locks a delivery would need).
    pub(crate) fn subscribe_local(
        &self,
        key: Arc<str>,
        reg: Value,
        id: SubscriberId,
        sink: Sink,
    ) -> Option<Bytes> {
        let added = self.subscriptions.add(&key, &reg, id, sink);
        if let Some((generation, abort)) = added.start {
            self.start_upstream(&key, reg, generation, abort);
        }
        added.replay
    }

    /// Followers registered on the channel now.
    pub(crate) fn followers(&self) -> usize {
        self.followers.load(Ordering::Relaxed)
    }

    /// Stops serving: connections registered here close, upstream subscriptions stop, and the
    /// real client is closed (outside every lock).
    pub(crate) async fn close(&self) {
        self.stopped.cancel();
        self.tasks.abort_all();
        self.subscriptions.clear();
        let previous = self.ready.send_replace(Readiness::Pending);
        if let Readiness::Ready(client) = previous {
            if AssertUnwindSafe(self.service.close(client))
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::error!(channel = %self.channel, "the real client's close panicked");
            }
        }
    }
}

impl<S: Service> Endpoint for ChannelLeader<S> {
    fn channel(&self) -> &str {
        &self.channel
    }

    fn instance_id(&self) -> &str {
        &self.instance_id
    }

    fn options(&self) -> &Options {
        &self.options
    }

    fn stopped(&self) -> &CancellationToken {
        &self.stopped
    }

    fn is_ready(&self) -> bool {
        matches!(&*self.ready.borrow(), Readiness::Ready(_))
    }

    fn wait_ready(&self) -> BoxFuture<'_, Result<(), RemoteError>> {
        let mut rx = self.ready.subscribe();
        Box::pin(async move {
            loop {
                match &*rx.borrow_and_update() {
                    Readiness::Ready(_) => return Ok(()),
                    Readiness::Failed(e) => return Err(e.clone()),
                    Readiness::Pending => {}
                }
                if rx.changed().await.is_err() {
                    return Err(RemoteError::new(
                        "ClusterClientError",
                        "the leader is closing",
                    ));
                }
            }
        })
    }

    fn invoke(&self, call: Call) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
        let Some(client) = self.client() else {
            return Box::pin(async {
                Err(InvokeError::Failure(
                    RemoteError::new("ClusterClientError", "the leader's client is not ready")
                        .with_code("ERR_CLUSTER_LEADER_NOT_READY"),
                ))
            });
        };
        guarded_invoke(&*self.service, &self.channel, client, call)
    }

    fn publish(
        &self,
        publisher: &str,
        slot: u64,
        seq: u64,
        call: Call,
    ) -> Option<BoxFuture<'static, Result<Vec<u8>, InvokeError>>> {
        let fresh = self
            .applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(publisher, slot, seq);
        if !fresh {
            tracing::debug!(channel = %self.channel, publisher = ?publisher, slot, seq, "skipping a re-sent publication already applied");
            return None;
        }
        Some(self.invoke(call))
    }

    fn subscribe(&self, key: Arc<str>, reg: Value, id: SubscriberId, sink: Sink) {
        if let Some(value) = self.subscribe_local(key.clone(), reg, id, sink.clone()) {
            SubscriptionRegistry::replay(&key, &sink, &value);
        }
    }

    fn unsubscribe(&self, key: &str, id: SubscriberId) {
        if let Some(gone) = self.subscriptions.remove(key, id) {
            self.abandon(gone);
        }
    }

    fn drop_subscriber(&self, keys: &[Arc<str>], id: SubscriberId) {
        for gone in self
            .subscriptions
            .remove_keys(keys.iter().map(|k| &**k), id)
        {
            self.abandon(gone);
        }
    }

    fn follower_count(&self, joined: bool) {
        if joined {
            self.followers.fetch_add(1, Ordering::Relaxed);
        } else {
            self.followers.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn current_connection(
        &self,
        follower: &str,
        conn: SubscriberId,
        done: CancellationToken,
    ) -> Option<CancellationToken> {
        let previous = self
            .connections_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(follower.to_owned(), (conn, done));
        previous
            .filter(|(id, done)| *id != conn && !done.is_cancelled())
            .map(|(_, done)| done)
    }

    fn connection_ended(&self, follower: &str, conn: SubscriberId) {
        let mut current = self
            .connections_of
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if current.get(follower).is_some_and(|(id, _)| *id == conn) {
            current.remove(follower);
        }
    }

    fn status(&self, port: u16, connections: usize, queued_bytes: usize) -> ChannelStatus {
        ChannelStatus {
            channel: self.channel.to_string(),
            port,
            leader_pid: std::process::id(),
            leader_id: self.instance_id.clone(),
            followers: self.followers(),
            connections,
            upstream_keys: self.subscriptions.len(),
            queued_bytes,
        }
    }
}

/// Runs one invoke on the real client; a panic in the dispatch or in the real client answers
/// this call and nothing else.
pub(crate) fn guarded_invoke<S: Service>(
    service: &S,
    channel: &str,
    client: Arc<S::Client>,
    call: Call,
) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
    let method = call.method.clone();
    let channel = channel.to_owned();
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| service.invoke(client, call))) {
        Ok(fut) => fut,
        Err(_) => return Box::pin(async move { Err(panicked(&channel, &method)) }),
    };
    Box::pin(async move {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(result) => result,
            Err(_) => Err(panicked(&channel, &method)),
        }
    })
}

fn panicked(channel: &str, method: &str) -> InvokeError {
    tracing::error!(
        channel,
        method = ?method,
        "the real client panicked; answering the call with an error"
    );
    InvokeError::Failure(
        RemoteError::new(
            "ClusterClientPanicError",
            format!("method {method:?} panicked on the leader of channel {channel}"),
        )
        .with_code("ERR_CLUSTER_PANIC"),
    )
}

/// Process id plus a per-process counter: unique among the leaders a follower can meet.
fn new_instance_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
