//! Share one backend connection between the processes of a host.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod __private;
mod arguments;
mod backoff;
pub mod codec;
mod error;
mod follower;
mod handle;
mod leader;
mod options;
mod outbox;
pub mod protocol;
mod request_id;
mod scope;
mod service;
mod subscription;

pub use arguments::{DecodeArgs, EncodeArgs};
pub use error::{Error, RemoteError};
pub use handle::{Builder, Handle, Remote, Route};
pub use options::{LagPolicy, Options, RolePolicy};
pub use scope::Scope;
pub use service::{BoxFuture, Call, InvokeError, Service, ValueStream, encode_remote_error};
pub use subscription::{CloseReason, RawSubscription, Subscription};

pub use cluster_client_derive::cluster_client;
