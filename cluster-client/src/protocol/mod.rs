//! The wire protocol of Node `cluster-client@3.7.0`: frames, typed messages, invoke argument
//! lists and subscription keys. Bytes in, bytes out: no I/O and no notion of roles.
//!
//! A frame is a 24-byte big-endian header, a JSON "conn" object that says what the packet is,
//! and an opaque payload encoded with the channel's [payload codec](crate::codec).

mod args;
mod error;
mod frame;
mod js_json;
mod message;

pub use args::{ArgsReader, ArgsWriter};
pub use error::ProtocolError;
pub use frame::{DEFAULT_MAX_FRAME_LEN, Frame, FrameCodec, FrameKind, HEADER_LEN, Header, VERSION};
pub use js_json::{subscription_key, write_js_json, write_js_string};
pub use message::{Message, Packet};
