//! Payload codecs: how invoke arguments, results and pushed values become bytes.
//!
//! Every peer of a channel must use the same codec, chosen with
//! [`Options::codec`](crate::Options::codec) from the closed set [`PayloadCodec`]. The default,
//! [`PayloadCodec::SerializeJson`], is the format the Node.js `cluster-client` package uses out
//! of the box, so Rust and Node processes can share a channel with no configuration;
//! [`PayloadCodec::Json`] is plain `serde_json`, for channels whose Node peers configure a JSON
//! `transcode`. A hand-written [`Service`](crate::Service) encodes its results with
//! [`PayloadCodec::encode`].
//!
//! JavaScript values map to [`JsValue`] (which keeps `undefined`, `null`, dates and buffers
//! apart), dates to [`serialize_json::Date`], buffers to [`Buffer`].

pub mod serialize_json;

mod js_value;
mod json;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use js_value::{Buffer, JsValue};
pub(crate) use json::Json;
pub(crate) use serialize_json::SerializeJson;

/// A payload format. Not public: the formats a channel can use are the closed set
/// [`PayloadCodec`] (every peer, Node ones included, must speak it), so nothing can be plugged
/// in here.
///
/// Codecs are cheap to clone and are used from many tasks at once. `encode` appends to `out`
/// (the runtime encodes straight into its output buffers); `decode` reads one whole value.
pub(crate) trait Codec: Clone + Send + Sync + 'static {
    /// A short name for logs and errors (`"serialize-json"`, `"json"`).
    fn name(&self) -> &'static str;

    /// Appends the encoding of `value` to `out`.
    fn encode<T: Serialize + ?Sized>(&self, value: &T, out: &mut Vec<u8>)
    -> Result<(), CodecError>;

    /// Decodes one value from the whole of `bytes`.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// The built-in codecs, chosen at run time (for example from configuration).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum PayloadCodec {
    /// The Node package's default format.
    #[default]
    SerializeJson,
    /// Plain JSON through `serde_json`.
    Json,
}

impl PayloadCodec {
    /// A short name for logs and errors (`"serialize-json"`, `"json"`).
    pub fn name(&self) -> &'static str {
        Codec::name(self)
    }

    /// Appends the encoding of `value` to `out`.
    ///
    /// ```
    /// use cluster_client::codec::PayloadCodec;
    ///
    /// let mut out = Vec::new();
    /// PayloadCodec::Json.encode(&["a", "b"], &mut out)?;
    /// assert_eq!(out, br#"["a","b"]"#);
    /// let back: Vec<String> = PayloadCodec::Json.decode(&out)?;
    /// assert_eq!(back, ["a", "b"]);
    /// # Ok::<(), cluster_client::codec::CodecError>(())
    /// ```
    pub fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        Codec::encode(self, value, out)
    }

    /// Decodes one value from the whole of `bytes`.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        Codec::decode(self, bytes)
    }

    /// Parses a codec name as used on the command line or in configuration.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "serialize-json" => Some(Self::SerializeJson),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

impl Codec for PayloadCodec {
    fn name(&self) -> &'static str {
        match self {
            Self::SerializeJson => SerializeJson::default().name(),
            Self::Json => Json.name(),
        }
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        match self {
            Self::SerializeJson => SerializeJson::default().encode(value, out),
            Self::Json => Json.encode(value, out),
        }
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        match self {
            Self::SerializeJson => SerializeJson::default().decode(bytes),
            Self::Json => Json.decode(bytes),
        }
    }
}

/// A value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{codec} {direction} failed: {message}")]
pub struct CodecError {
    codec: &'static str,
    direction: Direction,
    message: String,
}

/// Whether a [`CodecError`] happened while encoding or decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Turning a value into bytes.
    Encode,
    /// Turning bytes into a value.
    Decode,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Encode => "encode",
            Direction::Decode => "decode",
        })
    }
}

impl CodecError {
    /// An error of `codec` in `direction`, described by `message`.
    pub fn new(codec: &'static str, direction: Direction, message: impl std::fmt::Display) -> Self {
        Self {
            codec,
            direction,
            message: message.to_string(),
        }
    }

    /// The codec that failed.
    pub fn codec(&self) -> &'static str {
        self.codec
    }

    /// Whether encoding or decoding failed.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// What was wrong, without the codec name.
    pub fn message(&self) -> &str {
        &self.message
    }
}
