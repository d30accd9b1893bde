//! serialize-json, the Node `cluster-client` default payload format (stub; being written).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecError, Direction};

/// Default maximum nesting depth of arrays, objects, buffers and errors.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// The serialize-json codec.
#[derive(Debug, Clone, Copy)]
pub struct SerializeJson {
    max_depth: usize,
}

impl Default for SerializeJson {
    fn default() -> Self {
        Self { max_depth: DEFAULT_MAX_DEPTH }
    }
}

impl SerializeJson {
    /// A codec that rejects values nested deeper than `max_depth`.
    pub fn with_max_depth(max_depth: usize) -> Self {
        Self { max_depth }
    }
}

impl Codec for SerializeJson {
    fn name(&self) -> &'static str {
        "serialize-json"
    }

    fn encode<T: Serialize + ?Sized>(&self, _value: &T, _out: &mut Vec<u8>) -> Result<(), CodecError> {
        Err(CodecError::new("serialize-json", Direction::Encode, "not implemented yet"))
    }

    fn decode<T: DeserializeOwned>(&self, _bytes: &[u8]) -> Result<T, CodecError> {
        Err(CodecError::new("serialize-json", Direction::Decode, "not implemented yet"))
    }
}
