use std::io;

/// A peer sent bytes that are not a valid packet. The connection that carried them cannot be
/// trusted to stay in sync and is closed; other connections are unaffected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Reading or writing the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The version byte was not 1.
    #[error("unsupported protocol version {0} (expected 1)")]
    UnsupportedVersion(u8),
    /// The type byte was neither 0 (request) nor 1 (response).
    #[error("unknown frame type byte {0} (expected 0 = request or 1 = response)")]
    UnknownFrameType(u8),
    /// A length field was negative.
    #[error("negative {field} length {len}")]
    NegativeLength {
        /// `"conn"` or `"app"`.
        field: &'static str,
        /// The value read.
        len: i32,
    },
    /// The frame would be larger than the configured maximum.
    #[error("frame length {len} exceeds max {max}")]
    FrameTooLarge {
        /// Header plus both bodies, in bytes.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The conn object was not valid UTF-8 JSON.
    #[error("conn object is not valid JSON: {0}")]
    InvalidConn(String),
    /// The conn object was JSON but not an object with a string `type`.
    #[error("conn object is not an object with a string \"type\": {0}")]
    ConnNotObject(String),
    /// A packet lacked a field its type requires, or had it with the wrong type.
    #[error("{packet} packet: field \"{field}\" is missing or not a {expected}")]
    BadField {
        /// The packet type.
        packet: &'static str,
        /// The field name as on the wire.
        field: &'static str,
        /// What the field should have been.
        expected: &'static str,
    },
    /// The invoke argument list did not match its declared count or length.
    #[error("invoke arguments: {0}")]
    BadArgs(String),
}
