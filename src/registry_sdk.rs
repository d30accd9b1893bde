//! A stand-in for a registry SDK crate: a trait the application does not own (no
//! `#[cluster_client]` on it) and the SDK's client implementing it over the demo [`Backend`].
//!
//! Applications share it by putting `#[cluster_client]` on their own `impl Registry for ..`
//! (the worker binary `impl-worker` does; it is another crate, so the trait is foreign there).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::demo::{Backend, Demo, Publication, Topic};

/// What the SDK's calls fail with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SdkError {
    /// No instance of the service is registered.
    Unknown {
        /// The service looked up.
        service: String,
    },
    /// The call did not reach the registry (timeout, lost leader, ...).
    Transport {
        /// The runtime's error code.
        code: String,
    },
}

impl std::fmt::Display for SdkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdkError::Unknown { service } => write!(f, "unknown service {service:?}"),
            SdkError::Transport { code } => write!(f, "transport failure {code}"),
        }
    }
}

impl std::error::Error for SdkError {}

impl From<cluster_client::Error> for SdkError {
    fn from(e: cluster_client::Error) -> Self {
        SdkError::Transport {
            code: e.code().to_owned(),
        }
    }
}

/// The SDK's trait, written as SDKs write them: an associated error type, a plain `async fn`
/// (no `Send` promised) next to a `Send` future, and a provided method.
#[allow(async_fn_in_trait)]
pub trait Registry {
    /// What calls fail with.
    type Error;

    /// The addresses of a service's instances.
    async fn lookup(&self, service: String) -> Result<Vec<String>, Self::Error>;

    /// One address of a service, for a caller on `port`.
    fn resolve(
        &self,
        service: String,
        port: u16,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// Tells the registry a node is alive (nobody waits for it).
    fn heartbeat(&self, node: String);

    /// The values of a topic: the current one, then every change.
    fn subscribe(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static;

    /// Stops watching a topic.
    fn unsubscribe(&self, topic: Topic);

    /// Registers a value under a topic.
    fn register(&self, registration: Publication);

    /// Closes the connection.
    async fn close(&self);

    /// Who is answering (a provided method).
    fn describe(&self) -> String {
        "registry-sdk".to_owned()
    }
}

/// The SDK's client.
pub struct SdkRegistry {
    demo: Demo,
    backend: Arc<Backend>,
}

impl SdkRegistry {
    /// Connects to `backend`.
    pub fn connect(backend: Arc<Backend>) -> Self {
        Self {
            demo: Demo::connect(backend.clone()),
            backend,
        }
    }
}

/// The fixed directory the SDK answers lookups from.
fn instances(service: &str) -> Option<Vec<String>> {
    match service {
        "db" => Some(vec!["10.0.0.5:5432".to_owned(), "10.0.0.6:5432".to_owned()]),
        "cache" => Some(vec!["10.0.1.9:6379".to_owned()]),
        _ => None,
    }
}

impl Registry for SdkRegistry {
    type Error = SdkError;

    async fn lookup(&self, service: String) -> Result<Vec<String>, SdkError> {
        instances(&service).ok_or(SdkError::Unknown { service })
    }

    async fn resolve(&self, service: String, port: u16) -> Result<String, SdkError> {
        let all = instances(&service).ok_or(SdkError::Unknown { service })?;
        Ok(all[usize::from(port) % all.len()].clone())
    }

    fn heartbeat(&self, node: String) {
        self.demo.notify(node);
    }

    fn subscribe(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static {
        self.demo.subscribe(topic)
    }

    fn unsubscribe(&self, _topic: Topic) {
        self.backend.unsubscribes.fetch_add(1, Ordering::SeqCst);
    }

    fn register(&self, registration: Publication) {
        self.demo.publish(registration);
    }

    async fn close(&self) {
        self.backend.clients_closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs a fixed set of calls through any implementation and returns their results as JSON
/// (`{"Ok": ..}` or `{"Err": ..}` each), so that any two ways of calling can be compared.
pub async fn script<R: Registry<Error = SdkError>>(registry: &R) -> Value {
    json!({
        "db": registry.lookup("db".into()).await,
        "unknown": registry.lookup("queue".into()).await,
        "resolve": registry.resolve("db".into(), 8081).await,
        "resolve_unknown": registry.resolve("queue".into(), 1).await,
    })
}
