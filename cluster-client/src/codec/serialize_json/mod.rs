//! serialize-json, the payload format the Node `cluster-client` package uses by default
//! (`serialize-json@1.0.3`), byte-compatible with it.
//!
//! A payload is `S^I^F^D^STRUCT`: a dictionary of strings, one of base-36 integers, one of
//! floats and one of dates (each `|`-separated), then the structure, where every leaf is a
//! base-36 index into the concatenated dictionaries, `-1` … `-5` are `true`, `false`, `null`,
//! `""` and `undefined`, and `@` (array), `$` (object), `*` (Buffer) and `#` (Error) open
//! containers closed by `]`.
//!
//! Mapping between Rust and JavaScript values:
//!
//! | Rust (serde) | JavaScript |
//! |---|---|
//! | `bool` | boolean |
//! | integers (`i8` … `u128`) | number (exact base 36; beyond 2^53 Node loses precision) |
//! | `f32`, `f64` | number (integral values go to the integer dictionary, as in Node) |
//! | `&str`, `String`, `char` | string |
//! | `Option::None` | `null` (decodes from `null` and `undefined`) |
//! | `()`, unit structs | `undefined` (decodes from `null` and `undefined`) |
//! | bytes (`serde_bytes`, `serialize_bytes`) | `Buffer` |
//! | sequences, tuples | array |
//! | structs, maps | object (keys in the order serde visits them) |
//! | [`Date`] | `Date` |
//! | [`JsError`] | `Error` |
//! | unit variant / other variants | string / single-key object (as `serde_json`) |
//!
//! ```
//! use cluster_client::codec::serialize_json::{from_slice, to_vec};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Published {
//!     #[serde(rename = "dataId")]
//!     data_id: String,
//!     value: String,
//! }
//!
//! let value = Published { data_id: "foo".into(), value: "hello world|^%+".into() };
//! let bytes = to_vec(&value).unwrap();
//! assert_eq!(bytes, b"dataId|foo|value|hello+world%7C%5E%25%2B^^^^$0|1|2|3]");
//! assert_eq!(from_slice::<Published>(&bytes).unwrap(), value);
//! ```

mod de;
mod error;
mod escape;
mod number;
mod ser;
mod split;
mod types;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecError, Direction};

pub use error::{Error, ErrorKind};
pub use types::{Date, JsError};

/// Default maximum nesting depth of arrays, objects, buffers and errors.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// The serialize-json codec (what [`PayloadCodec::SerializeJson`](crate::codec::PayloadCodec)
/// runs): `{"success": true}` is `success^^^^$0|-1]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SerializeJson {
    max_depth: usize,
}

impl Default for SerializeJson {
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl Codec for SerializeJson {
    fn name(&self) -> &'static str {
        "serialize-json"
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        ser::encode_into(value, out, self.max_depth)
            .map_err(|e| CodecError::new("serialize-json", Direction::Encode, e))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        de::decode(bytes, self.max_depth)
            .map_err(|e| CodecError::new("serialize-json", Direction::Decode, e))
    }
}

/// Encodes `value` as serialize-json, nesting limited to [`DEFAULT_MAX_DEPTH`].
///
/// ```
/// use cluster_client::codec::serialize_json::to_vec;
///
/// assert_eq!(to_vec(&(1, "x")).unwrap(), b"x^1^^^@1|0]");
/// ```
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    to_vec_with_max_depth(value, DEFAULT_MAX_DEPTH)
}

/// Encodes `value` as serialize-json, rejecting nesting deeper than `max_depth`.
pub fn to_vec_with_max_depth<T: Serialize + ?Sized>(
    value: &T,
    max_depth: usize,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    ser::encode_into(value, &mut out, max_depth)?;
    Ok(out)
}

/// Appends the serialize-json encoding of `value` to `out`; on error `out` is unchanged.
pub fn to_writer_vec<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    max_depth: usize,
) -> Result<(), Error> {
    ser::encode_into(value, out, max_depth)
}

/// Decodes one serialize-json value from the whole of `bytes`, nesting limited to
/// [`DEFAULT_MAX_DEPTH`].
///
/// ```
/// use cluster_client::codec::serialize_json::from_slice;
///
/// let v: (u8, String) = from_slice(b"x^1^^^@1|0]").unwrap();
/// assert_eq!(v, (1, "x".to_string()));
/// let err = from_slice::<u8>(b"^^^").unwrap_err();
/// assert_eq!(err.to_string(), "expected 4 '^' separators, found 3");
/// ```
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    from_slice_with_max_depth(bytes, DEFAULT_MAX_DEPTH)
}

/// Decodes one serialize-json value from the whole of `bytes`, rejecting nesting deeper than
/// `max_depth`.
pub fn from_slice_with_max_depth<T: DeserializeOwned>(
    bytes: &[u8],
    max_depth: usize,
) -> Result<T, Error> {
    de::decode(bytes, max_depth)
}

/// Decodes one value that may borrow strings from `bytes` (`&str` fields work when the string
/// has no escapes), nesting limited to [`DEFAULT_MAX_DEPTH`].
pub fn from_slice_borrowed<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    de::decode(bytes, DEFAULT_MAX_DEPTH)
}

/// The special leaf tokens of the structure: `-1` true, `-2` false, `-3` null, `-4` the empty
/// string, `-5` undefined (stored without the sign).
mod special {
    pub(super) const TRUE: u8 = 1;
    pub(super) const FALSE: u8 = 2;
    pub(super) const NULL: u8 = 3;
    pub(super) const EMPTY_STRING: u8 = 4;
    pub(super) const UNDEFINED: u8 = 5;
}
