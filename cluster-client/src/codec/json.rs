use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecError, Direction};

/// Plain JSON through `serde_json`.
///
/// Node peers must configure a matching `transcode` (`JSON.stringify` to a `Buffer`, and
/// `JSON.parse` back). Byte buffers and dates have no JSON form of their own: they travel as
/// whatever their `Serialize` implementation produces (an array of numbers, a number of
/// milliseconds).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Json;

impl Codec for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        serde_json::to_writer(out, value).map_err(|e| CodecError::new("json", Direction::Encode, e))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| CodecError::new("json", Direction::Decode, e))
    }
}
