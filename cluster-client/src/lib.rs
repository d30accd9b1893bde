//! Share one backend connection between the processes of a host.
//!
//! The processes compete to bind a loopback port; the winner (the leader) runs the real
//! client, the others (followers) forward their calls to it, and when the leader dies the
//! survivors elect a new one and carry on, subscriptions included. The wire protocol is that of
//! the Node.js package `cluster-client@3.7.0`, so Rust and Node processes can share a channel.
//!
//! Describe the client as a trait and put [`cluster_client`] on it:
//!
//! ```no_run
//! use cluster_client::cluster_client;
//! use futures::{Stream, StreamExt};
//! use serde::{Deserialize, Serialize};
//!
//! #[cluster_client(rename_all = "camelCase")]
//! pub trait Registry: Send + Sync + 'static {
//!     #[delegate(invoke)]
//!     async fn get_data(&self, id: String) -> Result<Vec<String>, RegistryError>;
//!     #[delegate(subscribe)]
//!     fn watch(&self, service: String) -> impl Stream<Item = Vec<String>> + Send + 'static;
//!     #[delegate(publish)]
//!     fn register(&self, address: String);
//! }
//!
//! /// What the calls fail with (the runtime's errors arrive through `From`).
//! #[derive(Debug, Serialize, Deserialize)]
//! pub struct RegistryError(String);
//!
//! impl std::fmt::Display for RegistryError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str(&self.0)
//!     }
//! }
//!
//! impl std::error::Error for RegistryError {}
//!
//! impl From<cluster_client::Error> for RegistryError {
//!     fn from(e: cluster_client::Error) -> Self {
//!         RegistryError(e.to_string())
//!     }
//! }
//!
//! /// The real client (here a stand-in that answers from memory).
//! struct RealRegistry;
//!
//! impl Registry for RealRegistry {
//!     async fn get_data(&self, id: String) -> Result<Vec<String>, RegistryError> {
//!         Ok(vec![format!("{id}.example:80")])
//!     }
//!     fn watch(&self, service: String) -> impl Stream<Item = Vec<String>> + Send + 'static {
//!         futures::stream::iter([vec![format!("{service}.example:80")]])
//!     }
//!     fn register(&self, _address: String) {}
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // In every worker process: the factory runs only where (and whenever) this process leads.
//! let registry = RegistryCluster::builder()
//!     .port(7777)
//!     .create(|| async { Ok::<_, String>(RealRegistry) })
//!     .await?;
//! let addresses = registry.get_data("svc".into()).await?;
//! let mut changes = registry.watch("svc".into());
//! while let Some(addresses) = changes.next().await {
//!     println!("svc is now at {addresses:?}");
//! }
//! registry.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! Without the macro, implement [`Service`] by hand and use [`Builder`] and [`Handle`]
//! directly: channel name, method name and encoded arguments in, encoded results and streams of
//! values out.
//!
//! # Cargo features
//!
//! * `metrics`: counters and latency histograms of calls and elections through the `metrics`
//!   facade (`cluster_client_calls_total`, `cluster_client_call_seconds`,
//!   `cluster_client_elections_total`); no exporter is installed.
//! * `protocol`: makes the `protocol` module public (frames, typed messages, argument lists),
//!   for this crate's tests, benchmarks and fuzz targets. **Unstable**: it changes with the
//!   runtime and is not covered by semver; nothing a client needs is in it.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod __private;
mod arguments;
mod backoff;
mod builder;
pub mod codec;
mod core;
mod election;
mod error;
mod follower;
mod handle;
mod leader;
mod metrics;
mod options;
mod outbox;
#[cfg(feature = "protocol")]
pub mod protocol;
// Without the feature, the parts only the tests and fuzz targets use are unused here.
#[cfg(not(feature = "protocol"))]
#[allow(dead_code, unused_imports)]
mod protocol;
mod request_id;
mod routing;
mod scope;
mod service;
mod status;
mod subscription;
mod task;
mod throttle;
mod time;

pub use arguments::{ArgDecoder, DecodeArgs, EncodeArgs};
pub use builder::Builder;
pub use error::{Error, ErrorObject, RemoteError};
pub use handle::Handle;
pub use options::{LagPolicy, Options, RolePolicy};
pub use protocol::ArgsReader;
pub use scope::Scope;
pub use service::{BoxFuture, Call, InvokeError, Service, ValueStream};
pub use status::{ChannelStatus, RoleStatus, Status};
pub use subscription::{CloseReason, RawSubscription, Subscription};

pub use cluster_client_derive::cluster_client;

/// The hasher of the maps keyed by subscription keys (the leader's registry, each connection's
/// key set, a handle core's local keys): much cheaper than SipHash on keys of 20-100 bytes.
/// Keys come from the processes of this host, and the seed is random per process, so
/// colliding keys cannot be prepared from outside.
pub(crate) type KeyHasher = foldhash::fast::RandomState;
