//! Typed packets: the conn object parsed into a [`Message`], plus header and payload.

use std::borrow::Cow;

use bytes::{BufMut, Bytes};
use serde_json::{Map, Value};

use super::ProtocolError;
use super::frame::{Frame, FrameCodec, FrameKind, HEADER_LEN, Header};
use super::js_json::{write_js_json, write_js_string};

/// What a packet is, from its conn object's `type` and fields.
///
/// `Debug` never prints a shared secret.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// Follower → leader, first packet of every connection: join a channel.
    RegisterChannel {
        /// The channel (Node: the client name).
        channel_name: String,
        /// The shared secret, when the channel requires one. Node leaders ignore the field.
        secret: Option<String>,
        /// The follower's identity (Rust followers send it; Node leaders ignore it): a Rust
        /// leader serves a follower's new connection only after its previous one has been
        /// read to the end, so what the follower sent keeps its order across reconnects.
        follower: Option<String>,
    },
    /// Leader → follower: the answer to `register_channel`; the payload is
    /// `{success:true}` or `{success:false, error:{message, stack, name, code}}`.
    RegisterChannelRes,
    /// Follower → leader, oneway: start receiving values for `reg`.
    Subscribe {
        /// `$$inner$$__` + the JSON of `reg` (the leader recomputes it).
        key: String,
        /// The subscription's argument, as plain JSON.
        reg: Value,
    },
    /// Follower → leader, oneway: stop receiving values for `reg`.
    Unsubscribe {
        /// As for [`Message::Subscribe`].
        key: String,
        /// As for [`Message::Subscribe`].
        reg: Value,
    },
    /// Leader → follower request: a value for a subscription; the payload is the value.
    SubscribeResult {
        /// The subscription key.
        key: String,
    },
    /// Follower → leader: acknowledges a `subscribe_result`.
    SubscribeResultRes,
    /// Follower → leader: call a method; the payload is the argument list.
    Invoke {
        /// The wire name of the method.
        method: String,
        /// How many arguments the payload holds.
        arg_length: u32,
        /// No response is expected.
        oneway: bool,
    },
    /// Follower → leader: a publication. On the wire it is a oneway `invoke` of the publish
    /// method with one argument, plus three keys Node leaders ignore: who published it, which
    /// of its keys (`slot`) and the publisher's sequence number, so a Rust leader can tell a
    /// re-sent publication it already applied from a new one.
    Publish {
        /// The wire name of the publish method.
        method: String,
        /// The publishing handle's identity (unique per process and channel core).
        publisher: String,
        /// The publisher's number for the publication's key.
        slot: u64,
        /// The publisher's sequence number; later publications have larger ones.
        seq: u64,
    },
    /// Leader → follower: the outcome of an invoke; the payload is the result or the error.
    InvokeResult {
        /// Whether the payload is a result (true) or an error (false).
        success: bool,
    },
    /// Follower → leader: keep-alive.
    Heartbeat,
    /// Leader → follower: keep-alive answer.
    HeartbeatRes,
    /// Follower → leader: what the leader serves (a Rust extension; a Node leader ignores
    /// the packet type and never answers).
    Status,
    /// Leader → follower: the answer to `status`; the payload describes the channel.
    StatusRes,
    /// A packet type this implementation does not know. It is reported, not fatal.
    Unknown {
        /// The `type` field as sent.
        type_name: String,
        /// The conn object as sent, so it can be forwarded or logged unchanged.
        conn: Bytes,
    },
}

impl Message {
    /// The `type` string on the wire.
    pub fn type_name(&self) -> &str {
        match self {
            Message::RegisterChannel { .. } => "register_channel",
            Message::RegisterChannelRes => "register_channel_res",
            Message::Subscribe { .. } => "subscribe",
            Message::Unsubscribe { .. } => "unSubscribe",
            Message::SubscribeResult { .. } => "subscribe_result",
            Message::SubscribeResultRes => "subscribe_result_res",
            Message::Invoke { .. } | Message::Publish { .. } => "invoke",
            Message::InvokeResult { .. } => "invoke_result",
            Message::Heartbeat => "heartbeat",
            Message::HeartbeatRes => "heartbeat_res",
            Message::Status => "status",
            Message::StatusRes => "status_res",
            Message::Unknown { type_name, .. } => type_name,
        }
    }

    /// Whether this message travels as a request or a response frame.
    pub fn kind(&self) -> FrameKind {
        match self {
            Message::RegisterChannelRes
            | Message::SubscribeResultRes
            | Message::InvokeResult { .. }
            | Message::HeartbeatRes
            | Message::StatusRes => FrameKind::Response,
            _ => FrameKind::Request,
        }
    }

    /// Parses a conn object.
    pub fn from_conn(conn: &Bytes) -> Result<Self, ProtocolError> {
        // Every packet crosses here. Node and this crate write the hot packet types with fixed
        // bytes, so match those first; then try a typed, borrowing parse; the slow path (which
        // also words the errors) runs only when both fail.
        if let Some(message) = Self::from_exact_conn(conn) {
            return Ok(message);
        }
        if let Ok(raw) = serde_json::from_slice::<RawConn<'_>>(conn) {
            if let Some(message) = raw.into_message(conn) {
                return Ok(message);
            }
        }
        Self::from_conn_slow(conn)
    }

    /// Recognises the conn objects of the frequent packets exactly as `JSON.stringify` (and
    /// [`Message::write_conn`]) writes them; anything else returns `None`.
    fn from_exact_conn(conn: &[u8]) -> Option<Self> {
        match conn {
            br#"{"type":"invoke_result","success":true}"# => {
                return Some(Message::InvokeResult { success: true });
            }
            br#"{"type":"invoke_result","success":false}"# => {
                return Some(Message::InvokeResult { success: false });
            }
            br#"{"type":"heartbeat"}"# => return Some(Message::Heartbeat),
            br#"{"type":"heartbeat_res"}"# => return Some(Message::HeartbeatRes),
            br#"{"type":"subscribe_result_res"}"# => return Some(Message::SubscribeResultRes),
            _ => {}
        }
        // {"type":"invoke","method":"<plain>","argLength":<digits>,"oneway":<bool>}
        let rest = conn.strip_prefix(br#"{"type":"invoke","method":""#)?;
        let end = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let (method, rest) = rest.split_at(end);
        let rest = rest.strip_prefix(br#"","argLength":"#)?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 9 || (digits > 1 && rest[0] == b'0') {
            return None;
        }
        let arg_length = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
        let oneway = match &rest[digits..] {
            br#","oneway":false}"# => false,
            br#","oneway":true}"# => true,
            _ => return None,
        };
        let method = std::str::from_utf8(method).ok()?.to_owned();
        Some(Message::Invoke {
            method,
            arg_length,
            oneway,
        })
    }

    fn from_conn_slow(conn: &Bytes) -> Result<Self, ProtocolError> {
        let value: Value =
            serde_json::from_slice(conn).map_err(|e| ProtocolError::InvalidConn(e.to_string()))?;
        let Value::Object(mut obj) = value else {
            return Err(ProtocolError::ConnNotObject(describe(&value)));
        };
        let type_name = match obj.get("type") {
            Some(Value::String(t)) => t.clone(),
            other => {
                return Err(ProtocolError::ConnNotObject(format!(
                    "\"type\" is {}",
                    other.map_or("missing".into(), describe)
                )));
            }
        };
        Ok(match type_name.as_str() {
            "register_channel" => Message::RegisterChannel {
                channel_name: take_string(&mut obj, "register_channel", "channelName")?,
                secret: match obj.remove("secret") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s),
                    Some(_) => return Err(bad("register_channel", "secret", "string")),
                },
                follower: match obj.remove("follower") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s),
                    Some(_) => return Err(bad("register_channel", "follower", "string")),
                },
            },
            "register_channel_res" => Message::RegisterChannelRes,
            "subscribe" => Message::Subscribe {
                key: take_string(&mut obj, "subscribe", "key")?,
                reg: obj
                    .remove("reg")
                    .ok_or(bad("subscribe", "reg", "JSON value"))?,
            },
            "unSubscribe" => Message::Unsubscribe {
                key: take_string(&mut obj, "unSubscribe", "key")?,
                reg: obj
                    .remove("reg")
                    .ok_or(bad("unSubscribe", "reg", "JSON value"))?,
            },
            "subscribe_result" => Message::SubscribeResult {
                key: take_string(&mut obj, "subscribe_result", "key")?,
            },
            "subscribe_result_res" => Message::SubscribeResultRes,
            "invoke" if publication_keys(&obj) => Message::Publish {
                method: take_string(&mut obj, "invoke", "method")?,
                publisher: take_string(&mut obj, "invoke", "publisher")?,
                slot: obj.get("slot").and_then(Value::as_u64).unwrap_or(0),
                seq: obj.get("seq").and_then(Value::as_u64).unwrap_or(0),
            },
            "invoke" => Message::Invoke {
                method: take_string(&mut obj, "invoke", "method")?,
                arg_length: match obj.get("argLength") {
                    // Node omits nothing here, but a missing count can only mean "no arguments".
                    None => 0,
                    Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or(bad(
                        "invoke",
                        "argLength",
                        "non-negative integer",
                    ))?,
                },
                oneway: match obj.get("oneway") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(bad("invoke", "oneway", "boolean")),
                },
            },
            "invoke_result" => Message::InvokeResult {
                success: match obj.get("success") {
                    Some(Value::Bool(b)) => *b,
                    _ => return Err(bad("invoke_result", "success", "boolean")),
                },
            },
            "heartbeat" => Message::Heartbeat,
            "heartbeat_res" => Message::HeartbeatRes,
            "status" => Message::Status,
            "status_res" => Message::StatusRes,
            _ => Message::Unknown {
                type_name,
                conn: conn.clone(),
            },
        })
    }

    /// Appends the conn object exactly as Node writes it (same keys, same order, no spaces).
    pub fn write_conn(&self, out: &mut Vec<u8>) {
        if let Message::Unknown { conn, .. } = self {
            out.extend_from_slice(conn);
            return;
        }
        out.extend_from_slice(b"{\"type\":");
        write_js_string(out, self.type_name());
        match self {
            Message::RegisterChannel {
                channel_name,
                secret,
                follower,
            } => {
                out.extend_from_slice(b",\"channelName\":");
                write_js_string(out, channel_name);
                if let Some(secret) = secret {
                    out.extend_from_slice(b",\"secret\":");
                    write_js_string(out, secret);
                }
                if let Some(follower) = follower {
                    out.extend_from_slice(b",\"follower\":");
                    write_js_string(out, follower);
                }
            }
            Message::Subscribe { key, reg } | Message::Unsubscribe { key, reg } => {
                out.extend_from_slice(b",\"key\":");
                write_js_string(out, key);
                out.extend_from_slice(b",\"reg\":");
                write_js_json(out, reg);
            }
            Message::SubscribeResult { key } => {
                out.extend_from_slice(b",\"key\":");
                write_js_string(out, key);
            }
            Message::Invoke {
                method,
                arg_length,
                oneway,
            } => {
                out.extend_from_slice(b",\"method\":");
                write_js_string(out, method);
                out.extend_from_slice(b",\"argLength\":");
                out.extend_from_slice(arg_length.to_string().as_bytes());
                out.extend_from_slice(if *oneway {
                    b",\"oneway\":true"
                } else {
                    b",\"oneway\":false"
                });
            }
            Message::Publish {
                method,
                publisher,
                slot,
                seq,
            } => {
                out.extend_from_slice(b",\"method\":");
                write_js_string(out, method);
                out.extend_from_slice(b",\"argLength\":1,\"oneway\":true,\"publisher\":");
                write_js_string(out, publisher);
                out.extend_from_slice(b",\"slot\":");
                out.extend_from_slice(slot.to_string().as_bytes());
                out.extend_from_slice(b",\"seq\":");
                out.extend_from_slice(seq.to_string().as_bytes());
            }
            Message::InvokeResult { success } => {
                out.extend_from_slice(if *success {
                    b",\"success\":true"
                } else {
                    b",\"success\":false"
                });
            }
            _ => {}
        }
        out.push(b'}');
    }
}

/// A whole packet: header, message and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The header (its kind may differ from [`Message::kind`] only when a peer sent it so).
    pub header: Header,
    /// The parsed conn object.
    pub message: Message,
    /// The payload bytes, empty when there is none.
    pub app: Bytes,
}

impl Packet {
    /// Parses a frame's conn object.
    pub fn from_frame(frame: Frame) -> Result<Self, ProtocolError> {
        let message = Message::from_conn(&frame.conn)?;
        Ok(Self {
            header: frame.header,
            message,
            app: frame.app,
        })
    }

    /// Appends this packet as frame bytes.
    pub fn encode(&self, codec: &FrameCodec, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        Self::encode_with(codec, self.header, &self.message, out, |out| {
            out.extend_from_slice(&self.app);
            Ok(())
        })
    }

    /// Appends a frame for `message`, letting `payload` write the app body straight into the
    /// output buffer (so a codec can encode in place). The lengths are patched afterwards. On
    /// error nothing is left appended.
    pub fn encode_with<E: From<ProtocolError>>(
        codec: &FrameCodec,
        header: Header,
        message: &Message,
        out: &mut Vec<u8>,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        message.write_conn(out);
        let conn_len = out.len() - start - HEADER_LEN;
        if let Err(e) = payload(out) {
            out.truncate(start);
            return Err(e);
        }
        let app_len = out.len() - start - HEADER_LEN - conn_len;
        if let Err(e) = codec.check_len(conn_len, app_len) {
            out.truncate(start);
            return Err(e.into());
        }
        let mut header_bytes = &mut out[start..start + HEADER_LEN];
        header.put(conn_len as u32, app_len as u32, &mut header_bytes);
        debug_assert!(header_bytes.remaining_mut() == 0);
        Ok(())
    }
}

impl Packet {
    /// Appends the header and conn object of a frame whose app body, `app_len` bytes, the
    /// caller sends after them from its own buffer. On error nothing is left appended.
    pub(crate) fn encode_head(
        codec: &FrameCodec,
        header: Header,
        message: &Message,
        out: &mut Vec<u8>,
        app_len: usize,
    ) -> Result<(), ProtocolError> {
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        message.write_conn(out);
        let conn_len = out.len() - start - HEADER_LEN;
        if let Err(e) = codec.check_len(conn_len, app_len) {
            out.truncate(start);
            return Err(e);
        }
        let mut header_bytes = &mut out[start..start + HEADER_LEN];
        header.put(conn_len as u32, app_len as u32, &mut header_bytes);
        debug_assert!(header_bytes.remaining_mut() == 0);
        Ok(())
    }
}

/// The conn object's fields, borrowed where the JSON allows. Fields a packet type does not use
/// are ignored, as Node ignores them.
#[derive(serde::Deserialize)]
struct RawConn<'a> {
    #[serde(rename = "type", borrow)]
    type_name: Cow<'a, str>,
    #[serde(rename = "channelName", borrow, default)]
    channel_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    secret: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    follower: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(default)]
    reg: Option<Value>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(rename = "argLength", default)]
    arg_length: Option<u32>,
    #[serde(default)]
    oneway: Option<bool>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(borrow, default)]
    publisher: Option<Cow<'a, str>>,
    #[serde(default)]
    slot: Option<u64>,
    #[serde(default)]
    seq: Option<u64>,
}

impl RawConn<'_> {
    /// The message, or `None` when a field the type needs is missing (the slow path then
    /// explains what is wrong).
    fn into_message(self, conn: &Bytes) -> Option<Message> {
        Some(match &*self.type_name {
            "invoke" => match (self.publisher, self.slot, self.seq) {
                (Some(publisher), Some(slot), Some(seq))
                    if self.arg_length == Some(1) && self.oneway == Some(true) =>
                {
                    Message::Publish {
                        method: self.method?.into_owned(),
                        publisher: publisher.into_owned(),
                        slot,
                        seq,
                    }
                }
                _ => Message::Invoke {
                    method: self.method?.into_owned(),
                    arg_length: self.arg_length.unwrap_or(0),
                    oneway: self.oneway.unwrap_or(false),
                },
            },
            "invoke_result" => Message::InvokeResult {
                success: self.success?,
            },
            "subscribe_result" => Message::SubscribeResult {
                key: self.key?.into_owned(),
            },
            "subscribe_result_res" => Message::SubscribeResultRes,
            "heartbeat" => Message::Heartbeat,
            "heartbeat_res" => Message::HeartbeatRes,
            "status" => Message::Status,
            "status_res" => Message::StatusRes,
            "register_channel" => Message::RegisterChannel {
                channel_name: self.channel_name?.into_owned(),
                secret: self.secret.map(Cow::into_owned),
                follower: self.follower.map(Cow::into_owned),
            },
            "register_channel_res" => Message::RegisterChannelRes,
            "subscribe" => Message::Subscribe {
                key: self.key?.into_owned(),
                reg: self.reg?,
            },
            "unSubscribe" => Message::Unsubscribe {
                key: self.key?.into_owned(),
                reg: self.reg?,
            },
            _ => Message::Unknown {
                type_name: self.type_name.into_owned(),
                conn: conn.clone(),
            },
        })
    }
}

fn bad(packet: &'static str, field: &'static str, expected: &'static str) -> ProtocolError {
    ProtocolError::BadField {
        packet,
        field,
        expected,
    }
}

fn take_string(
    obj: &mut Map<String, Value>,
    packet: &'static str,
    field: &'static str,
) -> Result<String, ProtocolError> {
    match obj.remove(field) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(bad(packet, field, "string")),
    }
}

/// Whether an invoke's conn object carries a publication's identity (see [`Message::Publish`]).
fn publication_keys(obj: &Map<String, Value>) -> bool {
    obj.get("publisher").is_some_and(Value::is_string)
        && obj.get("slot").is_some_and(Value::is_u64)
        && obj.get("seq").is_some_and(Value::is_u64)
        && obj.get("argLength").and_then(Value::as_u64) == Some(1)
        && obj.get("oneway") == Some(&Value::Bool(true))
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::RegisterChannel {
                channel_name,
                secret,
                follower,
            } => f
                .debug_struct("RegisterChannel")
                .field("channel_name", channel_name)
                .field("secret", &secret.as_ref().map(|_| "<redacted>"))
                .field("follower", follower)
                .finish(),
            Message::RegisterChannelRes => f.write_str("RegisterChannelRes"),
            Message::Subscribe { key, reg } => f
                .debug_struct("Subscribe")
                .field("key", key)
                .field("reg", reg)
                .finish(),
            Message::Unsubscribe { key, reg } => f
                .debug_struct("Unsubscribe")
                .field("key", key)
                .field("reg", reg)
                .finish(),
            Message::SubscribeResult { key } => {
                f.debug_struct("SubscribeResult").field("key", key).finish()
            }
            Message::SubscribeResultRes => f.write_str("SubscribeResultRes"),
            Message::Invoke {
                method,
                arg_length,
                oneway,
            } => f
                .debug_struct("Invoke")
                .field("method", method)
                .field("arg_length", arg_length)
                .field("oneway", oneway)
                .finish(),
            Message::Publish {
                method,
                publisher,
                slot,
                seq,
            } => f
                .debug_struct("Publish")
                .field("method", method)
                .field("publisher", publisher)
                .field("slot", slot)
                .field("seq", seq)
                .finish(),
            Message::InvokeResult { success } => f
                .debug_struct("InvokeResult")
                .field("success", success)
                .finish(),
            Message::Heartbeat => f.write_str("Heartbeat"),
            Message::HeartbeatRes => f.write_str("HeartbeatRes"),
            Message::Status => f.write_str("Status"),
            Message::StatusRes => f.write_str("StatusRes"),
            Message::Unknown { type_name, conn } => f
                .debug_struct("Unknown")
                .field("type_name", type_name)
                .field("conn_len", &conn.len())
                .finish(),
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
