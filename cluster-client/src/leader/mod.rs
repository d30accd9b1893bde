//! The leader: owns the real client of a channel and serves it to followers and to the
//! handles of its own process.

mod connection;
mod server;
mod subscriptions;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::watch;

use crate::error::RemoteError;
use crate::options::Options;
use crate::service::{BoxFuture, Call, InvokeError, Service};

pub(crate) use connection::PIPELINE_CHUNK;
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
    /// leader from a new one.
    fn instance_id(&self) -> &str;
    fn options(&self) -> &Options;
    /// Resolves once the real client is ready, or with its creation error.
    fn wait_ready(&self) -> BoxFuture<'_, Result<(), RemoteError>>;
    /// Runs an invoke. Panics in the real client become error answers.
    fn invoke(&self, call: Call) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>>;
    fn subscribe(&self, key: String, reg: Value, id: SubscriberId, sink: Sink);
    fn unsubscribe(&self, key: &str, id: SubscriberId);
    fn drop_subscriber(&self, id: SubscriberId);
}

/// One channel's leader.
pub(crate) struct ChannelLeader<S: Service> {
    channel: String,
    instance_id: String,
    service: Arc<S>,
    options: Options,
    ready: watch::Sender<Readiness<S::Client>>,
    subscriptions: Arc<SubscriptionRegistry>,
}

impl<S: Service> ChannelLeader<S> {
    pub(crate) fn new(channel: String, service: Arc<S>, options: Options) -> Arc<Self> {
        let subscriptions = Arc::new(SubscriptionRegistry::new(options.broadcast));
        Arc::new(Self {
            channel,
            instance_id: new_instance_id(),
            service,
            options,
            ready: watch::Sender::new(Readiness::Pending),
            subscriptions,
        })
    }

    pub(crate) fn set_ready(&self, client: Arc<S::Client>) {
        self.ready.send_replace(Readiness::Ready(client));
    }

    pub(crate) fn set_failed(&self, error: RemoteError) {
        self.ready.send_replace(Readiness::Failed(error));
    }

    pub(crate) fn client(&self) -> Option<Arc<S::Client>> {
        match &*self.ready.borrow() {
            Readiness::Ready(c) => Some(c.clone()),
            _ => None,
        }
    }

    fn start_upstream(&self, key: &str, reg: Value) {
        let Some(client) = self.client() else { return };
        let stream = match self.service.subscribe(&client, reg, &self.options.codec) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(channel = %self.channel, key, error = %e, "the real client refused a subscription");
                return;
            }
        };
        let registry = Arc::downgrade(&self.subscriptions);
        let owned_key = key.to_owned();
        let channel = self.channel.clone();
        let task = tokio::spawn(async move {
            let mut stream = stream;
            while let Some(item) = stream.next().await {
                let Some(registry) = registry.upgrade() else {
                    break;
                };
                match item {
                    Ok(bytes) => registry.deliver(&owned_key, Bytes::from(bytes)),
                    Err(e) => {
                        tracing::warn!(%channel, key = %owned_key, error = %e, "dropping a value that could not be encoded")
                    }
                }
            }
        });
        self.subscriptions.set_upstream(key, task.abort_handle());
    }

    fn abandon(&self, gone: Abandoned) {
        gone.stop();
        // Reached from `Drop` of a subscription stream, possibly after the runtime is gone:
        // then there is nothing left to tell.
        let (Some(client), Ok(runtime)) = (self.client(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(self.service.unsubscribe(&client, gone.reg));
    }

    /// Adds a subscriber and returns the cached value it should get first, without delivering
    /// it (the caller may hold locks a delivery would need).
    pub(crate) fn subscribe_local(
        &self,
        key: String,
        reg: Value,
        id: SubscriberId,
        sink: Sink,
    ) -> Option<Bytes> {
        let (new_topic, replay) = self.subscriptions.add(&key, reg.clone(), id, sink);
        if new_topic {
            self.start_upstream(&key, reg);
        }
        replay
    }

    /// Stops the upstream subscriptions and closes the real client.
    pub(crate) async fn close(&self) {
        self.subscriptions.clear();
        let client = match self.ready.send_replace(Readiness::Pending) {
            Readiness::Ready(c) => Some(c),
            _ => None,
        };
        if let Some(client) = client {
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
                Err(InvokeError::Failure(RemoteError::new(
                    "ClusterClientError",
                    "the leader's client is not ready",
                )))
            });
        };
        let method = call.method.clone();
        let channel = self.channel.clone();
        // A panic in the dispatch or in the real client answers this call and nothing else.
        let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.service.invoke(client, call)
        })) {
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

    fn subscribe(&self, key: String, reg: Value, id: SubscriberId, sink: Sink) {
        if let Some(value) = self.subscribe_local(key.clone(), reg, id, sink.clone()) {
            SubscriptionRegistry::replay(&key, &sink, &value);
        }
    }

    fn unsubscribe(&self, key: &str, id: SubscriberId) {
        if let Some(gone) = self.subscriptions.remove(key, id) {
            self.abandon(gone);
        }
    }

    fn drop_subscriber(&self, id: SubscriberId) {
        for gone in self.subscriptions.remove_all(id) {
            self.abandon(gone);
        }
    }
}

fn panicked(channel: &str, method: &str) -> InvokeError {
    tracing::error!(
        channel,
        method,
        "the real client panicked; answering the call with an error"
    );
    InvokeError::Failure(
        RemoteError::new(
            "ClusterClientPanicError",
            format!("method \"{method}\" panicked on the leader of channel {channel}"),
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
