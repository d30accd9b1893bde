//! The one error type of the runtime.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec::CodecError;
use crate::protocol::ProtocolError;

/// Everything that can go wrong between a handle and the real client.
///
/// Messages name the channel, the port and the method involved. The type is cheap to clone,
/// because one failure (a lost leader) is often reported to many waiting calls.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No answer within the call's timeout (this includes waiting for a leader to be elected).
    #[error("channel {channel}: {method} got no response within {}ms (port {port})", timeout.as_millis())]
    Timeout {
        /// The channel.
        channel: String,
        /// The method, or what was being waited for.
        method: String,
        /// The port.
        port: u16,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The connection to the leader was lost while the call was in flight. The call may or may
    /// not have run on the leader; a new leader is being elected.
    #[error("channel {channel}: leader on port {port} was lost while {method} was in flight")]
    LeaderLost {
        /// The channel.
        channel: String,
        /// The method in flight.
        method: String,
        /// The port.
        port: u16,
    },
    /// The handle was closed.
    #[error("channel {channel}: the handle is closed")]
    Closed {
        /// The channel.
        channel: String,
    },
    /// The leader's real client answered with an error.
    #[error("channel {channel}: {method} failed on the leader: {error}")]
    Remote {
        /// The channel.
        channel: String,
        /// The method.
        method: String,
        /// The error as the leader reported it.
        error: Box<RemoteError>,
        /// The encoded error object as received (empty when the runtime made the error), from
        /// which a typed error value can be decoded.
        payload: bytes::Bytes,
    },
    /// The leader's real client could not be created (its factory failed), so nothing on the
    /// channel can be served until a retry succeeds.
    #[error("channel {channel}: the leader's client is not ready: {error}")]
    LeaderNotReady {
        /// The channel.
        channel: String,
        /// The factory's error.
        error: Box<RemoteError>,
    },
    /// The process that owns the port does not serve this channel.
    #[error("channel {channel}: the leader on port {port} does not serve this channel ({message})")]
    NoLeaderForChannel {
        /// The channel.
        channel: String,
        /// The port.
        port: u16,
        /// What the port owner said.
        message: String,
    },
    /// The leader requires a shared secret this handle did not present (or presented wrong).
    #[error("channel {channel}: the leader on port {port} refused this process: {message}")]
    Unauthorized {
        /// The channel.
        channel: String,
        /// The port.
        port: u16,
        /// What the leader said.
        message: String,
    },
    /// A value could not be encoded or decoded.
    #[error("channel {channel}: {method}: {source}")]
    Codec {
        /// The channel.
        channel: String,
        /// The method whose value failed.
        method: String,
        /// What went wrong.
        #[source]
        source: Arc<CodecError>,
    },
    /// The peer broke the protocol; the connection was closed.
    #[error("channel {channel}: protocol error on port {port}: {source}")]
    Protocol {
        /// The channel.
        channel: String,
        /// The port.
        port: u16,
        /// What was wrong.
        #[source]
        source: Arc<ProtocolError>,
    },
    /// The port could not be bound for a reason other than another process holding it.
    #[error("channel {channel}: cannot bind 127.0.0.1:{port}: {source}")]
    Bind {
        /// The channel.
        channel: String,
        /// The port.
        port: u16,
        /// The operating system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// This process was configured to lead (`is_leader(true)`) but another process holds the port.
    #[error("channel {channel}: cannot lead, port {port} is occupied by another process")]
    PortOccupied {
        /// The channel.
        channel: String,
        /// The port.
        port: u16,
    },
    /// Connecting to the leader failed or timed out.
    #[error("channel {channel}: cannot connect to the leader on 127.0.0.1:{port}: {reason}")]
    Connect {
        /// The channel.
        channel: String,
        /// The port.
        port: u16,
        /// Why.
        reason: String,
    },
    /// Something holds the port that does not answer like a cluster-client leader (an HTTP
    /// server, a silent or garbling process). The handle keeps retrying in the background.
    #[error(
        "channel {channel}: port {port} is held by something that is not a cluster-client leader: {seen}"
    )]
    PortHeldByStranger {
        /// The channel.
        channel: String,
        /// The port.
        port: u16,
        /// What the port's owner did: closed the connection, sent bytes that are not a
        /// frame, or did not answer.
        seen: String,
    },
    /// The same channel is already used in this process by a handle of another client type.
    #[error(
        "channel {channel} on port {port} is already used in this process by a different client type"
    )]
    ChannelTypeMismatch {
        /// The channel.
        channel: String,
        /// The port.
        port: u16,
    },
    /// The call is not valid for this channel (for example a publish on a trait that declares no
    /// publish method).
    #[error("channel {channel}: {message}")]
    Usage {
        /// The channel.
        channel: String,
        /// What was wrong.
        message: String,
    },
}

/// How an invoke's error looks to other processes: the `name` and `code` a Node follower reads
/// as `err.name` and `err.code` (a Rust follower gets the error value itself).
///
/// Implement it on an invoke's error type to choose them; without an implementation, `name` is
/// the type's name and there is no `code`. Both methods have defaults:
///
/// ```
/// use cluster_client::ErrorObject;
///
/// #[derive(Debug)]
/// enum RegistryError {
///     NotFound(String),
///     Backend(String),
/// }
///
/// impl ErrorObject for RegistryError {
///     fn name(&self) -> String {
///         "Error".into() // what a JavaScript `new Error(..)` has
///     }
///     fn code(&self) -> Option<String> {
///         Some(match self {
///             RegistryError::NotFound(_) => "E_NOT_FOUND".into(),
///             RegistryError::Backend(_) => "E_BACKEND".into(),
///         })
///     }
/// }
/// # let e = RegistryError::NotFound("svc".into());
/// # assert_eq!(e.code().as_deref(), Some("E_NOT_FOUND"));
/// # let _ = RegistryError::Backend(String::new());
/// ```
pub trait ErrorObject {
    /// The error's `name` (default: the type's name without its path, `RegistryError`).
    fn name(&self) -> String {
        short_type_name::<Self>().to_owned()
    }

    /// The error's `code` (default: none).
    fn code(&self) -> Option<String> {
        None
    }
}

/// `RegistryError` for `my_crate::RegistryError<X>`.
pub(crate) fn short_type_name<E: ?Sized>() -> &'static str {
    let full = std::any::type_name::<E>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

impl ErrorObject for RemoteError {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn code(&self) -> Option<String> {
        self.code.clone()
    }
}

impl ErrorObject for Error {
    fn name(&self) -> String {
        self.to_remote().name
    }

    fn code(&self) -> Option<String> {
        self.to_remote().code
    }
}

/// `cluster_client::Error` can be an invoke's error type: it crosses the wire as its error
/// object (`name`, `message`, `code`) and arrives as [`Error::Remote`].
impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_remote().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Error {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let error = RemoteError::from(WireError::deserialize(deserializer)?);
        Ok(Error::Remote {
            channel: String::new(),
            method: String::new(),
            error: Box::new(error),
            payload: bytes::Bytes::new(),
        })
    }
}

/// The stack a Rust leader sends when the error has none of its own: Node's first line
/// (`name: message`), then where it came from.
pub(crate) fn synthesized_stack(name: &str, message: &str, origin: &str) -> String {
    // JavaScript's first line: `name: message`, or just `name` when the message is empty.
    let head = if message.is_empty() {
        name.to_owned()
    } else {
        format!("{name}: {message}")
    };
    format!(
        "{head}\n    at {origin} (Rust cluster-client leader, pid {})",
        std::process::id()
    )
}

/// An error as it crosses the wire: the four fields Node keeps (`name`, `message`, `stack`,
/// `code`) and, between Rust peers, the encoded error value itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RemoteError {
    /// The error's kind, e.g. `"Error"` or a Rust type name.
    pub name: String,
    /// The human-readable message.
    pub message: String,
    /// The stack or backtrace text, when the peer sent one.
    #[serde(default)]
    pub stack: String,
    /// A machine-readable code, when the peer sent one.
    #[serde(default)]
    pub code: Option<String>,
}

impl RemoteError {
    /// An error with a name and a message.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
            stack: String::new(),
            code: None,
        }
    }

    /// Sets the code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

/// An error object as a peer sent it (failed invoke, failed register): every field optional,
/// `code` whatever JSON-ish value the peer used.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireError {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    stack: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

impl WireError {
    /// What to report when the error object itself could not be decoded.
    pub(crate) fn undecodable(why: impl fmt::Display) -> Self {
        Self {
            message: Some(format!("the leader's error could not be decoded: {why}")),
            ..Self::default()
        }
    }
}

impl From<WireError> for RemoteError {
    fn from(wire: WireError) -> Self {
        let code = wire.code.and_then(|c| match c {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        });
        RemoteError {
            name: wire.name.unwrap_or_else(|| "Error".into()),
            message: wire.message.unwrap_or_default(),
            stack: wire.stack.unwrap_or_default(),
            code,
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RemoteError {}

impl Error {
    /// The leader's error, when the call failed on the leader: what a Node leader's error
    /// (`name`, `message`, `stack`, `code`) or a Rust leader's arrives as. Use it to build an
    /// invoke's own error type in its `From<cluster_client::Error>`.
    pub fn remote(&self) -> Option<&RemoteError> {
        match self {
            Error::Remote { error, .. } | Error::LeaderNotReady { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The error as a follower would receive it on the wire.
    pub fn to_remote(&self) -> RemoteError {
        match self {
            Error::Remote { error, .. } | Error::LeaderNotReady { error, .. } => (**error).clone(),
            other => {
                RemoteError::new("ClusterClientError", other.to_string()).with_code(other.code())
            }
        }
    }

    /// A stable code for the kind of error (`"ERR_CLUSTER_TIMEOUT"`, ...), sent as `code` to peers.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Timeout { .. } => "ERR_CLUSTER_TIMEOUT",
            Error::LeaderLost { .. } => "ERR_CLUSTER_LEADER_LOST",
            Error::Closed { .. } => "ERR_CLUSTER_CLOSED",
            Error::Remote { .. } => "ERR_CLUSTER_REMOTE",
            Error::LeaderNotReady { .. } => "ERR_CLUSTER_LEADER_NOT_READY",
            Error::NoLeaderForChannel { .. } => "ERR_CLUSTER_NO_CHANNEL",
            Error::Unauthorized { .. } => "ERR_CLUSTER_AUTH",
            Error::Codec { .. } => "ERR_CLUSTER_CODEC",
            Error::Protocol { .. } => "ERR_CLUSTER_PROTOCOL",
            Error::Bind { .. } => "ERR_CLUSTER_BIND",
            Error::PortOccupied { .. } => "ERR_CLUSTER_PORT_OCCUPIED",
            Error::Connect { .. } => "ERR_CLUSTER_CONNECT",
            Error::PortHeldByStranger { .. } => "ERR_CLUSTER_PORT_STRANGER",
            Error::ChannelTypeMismatch { .. } => "ERR_CLUSTER_CHANNEL_TYPE",
            Error::Usage { .. } => "ERR_CLUSTER_USAGE",
        }
    }
}
