//! The Rust twin of the Node fixture's `DemoClient` (`tests/interop/node/demo_client.js`), with
//! a hand-written [`Service`] speaking the same method names, so Rust and Node processes can
//! lead or follow each other on one channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cluster_client::codec::{JsValue, PayloadCodec};
use cluster_client::{ArgDecoder, BoxFuture, Call, InvokeError, RemoteError, Service, ValueStream};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

/// A subscription argument: `{topic}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reg {
    /// The topic.
    pub topic: String,
}

/// A publication: `{topic, value}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pub {
    /// The topic.
    pub topic: String,
    /// The value to store and deliver.
    pub value: JsValue,
}

/// A topic's last value and, once someone subscribed, the feed of later values.
type TopicState = (Option<JsValue>, Option<broadcast::Sender<JsValue>>);

/// The real client: an in-memory table of topic values, like the Node `DemoClient`.
#[derive(Default)]
pub struct NodeDemo {
    topics: Mutex<HashMap<String, TopicState>>,
}

impl NodeDemo {
    fn deliver(&self, topic: &str, value: JsValue) {
        let mut topics = self.topics.lock().unwrap();
        let entry = topics.entry(topic.to_owned()).or_default();
        entry.0 = Some(value.clone());
        if let Some(tx) = &entry.1 {
            let _ = tx.send(value);
        }
    }

    fn watch(&self, topic: &str) -> (Option<JsValue>, broadcast::Receiver<JsValue>) {
        let mut topics = self.topics.lock().unwrap();
        let entry = topics.entry(topic.to_owned()).or_default();
        let rx = entry
            .1
            .get_or_insert_with(|| broadcast::channel(1024).0)
            .subscribe();
        (entry.0.clone(), rx)
    }
}

/// The dispatch table: `echo`, `echoAll` (variadic), `add`, `fail`, `notify` (oneway),
/// `publish`, `subscribe`, `unSubscribe`, with the fixture's JavaScript meaning.
#[derive(Clone, Copy, Default)]
pub struct NodeDemoService;

fn bad_args(e: impl std::fmt::Display) -> InvokeError {
    InvokeError::Failure(RemoteError::new("ArgumentError", e.to_string()).with_code("ERR_BAD_ARGS"))
}

fn encode<T: Serialize>(codec: &PayloadCodec, v: &T) -> Result<Vec<u8>, InvokeError> {
    let mut out = Vec::new();
    codec.encode(v, &mut out).map_err(bad_args)?;
    Ok(out)
}

impl Service for NodeDemoService {
    type Client = NodeDemo;

    fn channel_name(&self) -> &str {
        "DemoClient"
    }

    fn invoke(
        &self,
        client: Arc<NodeDemo>,
        call: Call,
    ) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
        Box::pin(async move {
            let codec = &call.codec;
            // Arguments as JavaScript passes them: a missing one is `undefined`, extra ones
            // are ignored, `...args` takes the rest.
            let mut args = ArgDecoder::new(codec, call.args());
            let result = match call.method.as_str() {
                "echo" => {
                    let v: JsValue = args.next("x").map_err(bad_args)?;
                    encode(codec, &v)
                }
                "echoAll" => {
                    let all: Vec<JsValue> = args.rest("args").map_err(bad_args)?;
                    encode(codec, &all)
                }
                "add" => {
                    let a: JsValue = args.next("a").map_err(bad_args)?;
                    let b: JsValue = args.next("b").map_err(bad_args)?;
                    encode(codec, &js_add(&a, &b))
                }
                "fail" => {
                    let m: JsValue = args.next("msg").map_err(bad_args)?;
                    // `new Error(undefined)` has an empty message.
                    let message = match m {
                        JsValue::Undefined => String::new(),
                        JsValue::String(s) => s,
                        other => serde_json::to_string(&to_tagged(&other)).unwrap_or_default(),
                    };
                    Err(InvokeError::Failure(
                        RemoteError::new("Error", message).with_code("E_DEMO"),
                    ))
                }
                "notify" => {
                    let m: JsValue = args.next("msg").map_err(bad_args)?;
                    client.deliver("notify", m);
                    encode(codec, &())
                }
                "publish" => {
                    let p: Pub = args.next("reg").map_err(bad_args)?;
                    client.deliver(&p.topic, p.value);
                    encode(codec, &())
                }
                _ => Err(call.unknown_method("DemoClient")),
            };
            args.finish().map_err(bad_args)?;
            result
        })
    }

    fn subscribe(
        &self,
        client: &Arc<NodeDemo>,
        reg: Value,
        codec: &PayloadCodec,
    ) -> Result<ValueStream, RemoteError> {
        let reg: Reg = serde_json::from_value(reg)
            .map_err(|e| RemoteError::new("ArgumentError", e.to_string()))?;
        let (current, rx) = client.watch(&reg.topic);
        let later = crate::streams::from_broadcast(rx);
        let codec = codec.clone();
        Ok(Box::pin(futures::stream::iter(current).chain(later).map(
            move |v| {
                let mut out = Vec::new();
                codec.encode(&v, &mut out).map(|()| out)
            },
        )))
    }

    fn publish_method(&self) -> Option<&str> {
        Some("publish")
    }
}

/// JavaScript's `a + b` for the values the fixture adds: numbers (with `undefined` as NaN)
/// and strings.
fn js_add(a: &JsValue, b: &JsValue) -> JsValue {
    fn number(v: &JsValue) -> f64 {
        match v {
            JsValue::Number(n) => *n,
            JsValue::Bool(b) => f64::from(u8::from(*b)),
            JsValue::Null => 0.0,
            _ => f64::NAN,
        }
    }
    match (a, b) {
        (JsValue::String(x), JsValue::String(y)) => JsValue::String(format!("{x}{y}")),
        _ => JsValue::Number(number(a) + number(b)),
    }
}

/// Converts a tagged JSON line value (`{"$date":ms}`, `{"$buffer":"hex"}`,
/// `{"$undefined":true}`, `{"$number":"NaN"}`) into a [`JsValue`].
pub fn from_tagged(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::Null,
        Value::Bool(b) => JsValue::Bool(*b),
        Value::Number(n) => JsValue::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => JsValue::String(s.clone()),
        Value::Array(items) => JsValue::Array(items.iter().map(from_tagged).collect()),
        Value::Object(map) if map.len() == 1 => {
            let (k, inner) = map.iter().next().unwrap();
            match (k.as_str(), inner) {
                ("$date", Value::Number(ms)) => {
                    JsValue::Date(cluster_client::codec::serialize_json::Date::from_millis(
                        ms.as_f64().unwrap_or(0.0) as i64,
                    ))
                }
                ("$buffer", Value::String(hex)) => JsValue::Buffer(
                    (0..hex.len() / 2)
                        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                        .collect(),
                ),
                ("$undefined", _) => JsValue::Undefined,
                ("$number", Value::String(s)) => JsValue::Number(match s.as_str() {
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => f64::NAN,
                }),
                _ => JsValue::Object(vec![(k.clone(), from_tagged(inner))]),
            }
        }
        Value::Object(map) => JsValue::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_tagged(v)))
                .collect(),
        ),
    }
}

/// The inverse of [`from_tagged`].
pub fn to_tagged(v: &JsValue) -> Value {
    match v {
        JsValue::Undefined => serde_json::json!({"$undefined": true}),
        JsValue::Null => Value::Null,
        JsValue::Bool(b) => Value::Bool(*b),
        JsValue::Number(n) if n.is_nan() => serde_json::json!({"$number": "NaN"}),
        JsValue::Number(n) if n.is_infinite() => {
            serde_json::json!({"$number": if *n > 0.0 { "Infinity" } else { "-Infinity" }})
        }
        JsValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 => {
            Value::from(*n as i64)
        }
        JsValue::Number(n) => Value::from(*n),
        JsValue::String(s) => Value::String(s.clone()),
        JsValue::Array(items) => Value::Array(items.iter().map(to_tagged).collect()),
        JsValue::Object(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), to_tagged(v)))
                .collect(),
        ),
        JsValue::Buffer(b) => {
            serde_json::json!({"$buffer": b.iter().map(|x| format!("{x:02x}")).collect::<String>()})
        }
        JsValue::Date(d) => serde_json::json!({"$date": d.millis()}),
    }
}
