//! What the leader dispatches to: the [`Service`] trait, implemented for each client trait by
//! `#[cluster_client]` (or by hand), and the types it exchanges with the runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use serde::Serialize;
use serde_json::Value;

use crate::codec::{CodecError, PayloadCodec};
use crate::error::RemoteError;
use crate::protocol::ArgsReader;

/// A boxed `Send` future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The encoded values of one upstream subscription.
pub type ValueStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, CodecError>> + Send>>;

/// An invoke to run on the leader's real client.
#[derive(Debug, Clone)]
pub struct Call {
    /// The wire name of the method.
    pub method: String,
    /// The encoded argument list (see [`ArgsReader`]).
    pub args: Bytes,
    /// How many arguments `args` holds.
    pub arg_length: u32,
    /// The caller expects no answer.
    pub oneway: bool,
    /// The channel's payload codec.
    pub codec: PayloadCodec,
}

impl Call {
    /// A reader over the argument list.
    pub fn args(&self) -> ArgsReader<'_> {
        ArgsReader::new(&self.args, self.arg_length)
    }

    /// The error to answer for a method this service does not delegate.
    pub fn unknown_method(&self, channel: &str) -> InvokeError {
        InvokeError::Failure(
            RemoteError::new(
                "ClusterClientNoMethodError",
                format!(
                    "method \"{}\" is not delegated by channel {channel}",
                    self.method
                ),
            )
            .with_code("ERR_CLUSTER_NO_METHOD"),
        )
    }
}

/// Why an invoke failed on the leader.
///
/// A hand-written [`Service`] answers a failure with `Failure`: the runtime encodes it as the
/// error object every peer reads (`name`, `message`, `code`, `stack`), in the channel's codec.
///
/// ```
/// use cluster_client::{InvokeError, RemoteError};
///
/// let e = InvokeError::Failure(RemoteError::new("NotFound", "no such key").with_code("ENOENT"));
/// # let _ = e;
/// ```
#[derive(Debug)]
pub enum InvokeError {
    /// The real client's error, already encoded as the wire error object (what
    /// `#[cluster_client]` sends, with the typed error value for Rust peers).
    Encoded(Vec<u8>),
    /// A failure the runtime encodes (`name`, `message`, `code`, `stack`).
    Failure(RemoteError),
}

/// The leader-side dispatch table of one client trait.
///
/// `#[cluster_client]` generates an implementation per trait. Every method is called on the
/// leader only; each gets the real client behind an `Arc`.
pub trait Service: Send + Sync + 'static {
    /// The real client type.
    type Client: Send + Sync + 'static;

    /// The default channel name (Node: the class name).
    fn channel_name(&self) -> &str;

    /// Runs an invoke (two-way or oneway). Unknown methods answer [`Call::unknown_method`].
    fn invoke(
        &self,
        client: Arc<Self::Client>,
        call: Call,
    ) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>>;

    /// Subscribes the real client to `reg` (once per key; the runtime fans the values out).
    fn subscribe(
        &self,
        client: &Arc<Self::Client>,
        reg: Value,
        codec: &PayloadCodec,
    ) -> Result<ValueStream, RemoteError> {
        let _ = (client, reg, codec);
        Err(RemoteError::new(
            "ClusterClientNoMethodError",
            "this channel has no subscribe method",
        )
        .with_code("ERR_CLUSTER_NO_METHOD"))
    }

    /// Tells the real client that nobody subscribes to `reg` any more.
    fn unsubscribe(&self, client: &Arc<Self::Client>, reg: Value) -> BoxFuture<'static, ()> {
        let _ = (client, reg);
        Box::pin(async {})
    }

    /// The wire name of the method followers invoke (oneway) to publish, if any.
    fn publish_method(&self) -> Option<&str> {
        None
    }

    /// Closes the real client (the method delegated as `close`, if any).
    fn close(&self, client: Arc<Self::Client>) -> BoxFuture<'static, ()> {
        let _ = client;
        Box::pin(async {})
    }
}

/// The wire form of an error object, in Node's key order (`stack`, `name`, `message`, `code`).
#[derive(Serialize)]
struct WireErrorOut<'a> {
    stack: &'a str,
    name: &'a str,
    message: &'a str,
    code: Option<&'a str>,
}

/// Encodes `error` as the payload of a failed `invoke_result`.
pub(crate) fn encode_remote_error(
    codec: &PayloadCodec,
    error: &RemoteError,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    codec.encode(
        &WireErrorOut {
            stack: &error.stack,
            name: &error.name,
            message: &error.message,
            code: error.code.as_deref(),
        },
        out,
    )
}
