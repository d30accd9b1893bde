use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecError, Direction};

/// Encodes from this size on are remembered, for the next encode on the thread to reserve.
const LARGE: usize = 64 * 1024;

thread_local! {
    static LAST_LARGE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn last_large() -> usize {
    LAST_LARGE.try_with(|c| c.get()).unwrap_or(0)
}

fn remember(size: usize) {
    let _ = LAST_LARGE.try_with(|c| c.set(size));
}

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
        // A large value is set aside for at once when the last one on this thread was large,
        // so it is not moved in memory each time the output doubles.
        let start = out.len();
        let (hint, capacity_before) = (last_large(), out.capacity());
        out.reserve(hint);
        let result = serde_json::to_writer(&mut *out, value)
            .map_err(|e| CodecError::new("json", Direction::Encode, e));
        let written = out.len() - start;
        if hint > 0 && written < hint / 2 && out.capacity() > capacity_before {
            out.shrink_to(capacity_before.max(out.len()));
        }
        remember(if result.is_ok() && written >= LARGE {
            written
        } else {
            0
        });
        result
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| CodecError::new("json", Direction::Decode, e))
    }
}
