//! serialize-json against the bytes Node's `serialize-json@1.0.3` writes: the codec vectors, the
//! payloads of a captured Node session, malformed input, and property tests.

use std::fmt;

use cluster_client::codec::serialize_json::{
    self, DEFAULT_MAX_DEPTH, Date, Error, ErrorKind, JsError, from_slice,
    from_slice_with_max_depth, to_vec, to_vec_with_max_depth,
};
use cluster_client::codec::{Direction, PayloadCodec};
use proptest::prelude::*;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// A JavaScript value, as the fixtures describe it, with a Rust serialization for each kind.
// ---------------------------------------------------------------------------------------------

/// A JavaScript value, expressed with the Rust types the codec maps to each JS type.
#[derive(Debug, Clone)]
enum Js {
    Undefined,
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Arr(Vec<Js>),
    Obj(Vec<(String, Js)>),
    Buf(Vec<u8>),
    Date(Date),
    Err(JsError),
}

impl PartialEq for Js {
    fn eq(&self, other: &Self) -> bool {
        use Js::*;
        match (self, other) {
            (Undefined, Undefined) | (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (UInt(a), UInt(b)) => a == b,
            // Bit equality would separate -0 from 0; NaN must equal NaN here.
            (Float(a), Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Str(a), Str(b)) => a == b,
            (Arr(a), Arr(b)) => a == b,
            (Obj(a), Obj(b)) => a == b,
            (Buf(a), Buf(b)) => a == b,
            (Date(a), Date(b)) => a == b,
            (Err(a), Err(b)) => a == b,
            _ => false,
        }
    }
}

impl Serialize for Js {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Js::Undefined => s.serialize_unit(),
            Js::Null => s.serialize_none(),
            Js::Bool(b) => s.serialize_bool(*b),
            Js::Int(i) => s.serialize_i64(*i),
            Js::UInt(u) => s.serialize_u64(*u),
            Js::Float(f) => s.serialize_f64(*f),
            Js::Str(v) => s.serialize_str(v),
            Js::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Js::Obj(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Js::Buf(bytes) => s.serialize_bytes(bytes),
            Js::Date(d) => d.serialize(s),
            Js::Err(e) => e.serialize(s),
        }
    }
}

impl Js {
    /// Reads the fixtures' tagged JSON: `{"$undefined":true}`, `{"$float":"NaN"}`,
    /// `{"$buffer_hex":"00ff"}`, `{"$date":ms}`, `{"$error":{...}}`; anything else is plain JSON.
    fn from_tagged(v: &Value) -> Js {
        match v {
            Value::Null => Js::Null,
            Value::Bool(b) => Js::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Js::Int(i),
                (None, Some(u)) => Js::UInt(u),
                _ => Js::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Js::Str(s.clone()),
            Value::Array(items) => Js::Arr(items.iter().map(Js::from_tagged).collect()),
            Value::Object(map) => {
                if let Some((tag, inner)) = map.iter().next().filter(|_| map.len() == 1) {
                    match tag.as_str() {
                        "$undefined" => return Js::Undefined,
                        "$float" => {
                            return Js::Float(
                                inner.as_str().and_then(|s| s.parse().ok()).expect("$float"),
                            );
                        }
                        "$buffer_hex" => return Js::Buf(hex(inner.as_str().expect("$buffer_hex"))),
                        "$date" => return Js::Date(Date(inner.as_i64().expect("$date"))),
                        "$error" => {
                            return Js::Err(serde_json::from_value(inner.clone()).expect("$error"));
                        }
                        _ => {}
                    }
                }
                Js::Obj(
                    map.iter()
                        .map(|(k, v)| (k.clone(), Js::from_tagged(v)))
                        .collect(),
                )
            }
        }
    }

    /// What decoding into `serde_json::Value` gives: dates as milliseconds, buffers as byte
    /// arrays, `undefined` and non-finite numbers as `null`, errors as objects.
    fn value_view(&self) -> Value {
        match self {
            Js::Undefined | Js::Null => Value::Null,
            Js::Bool(b) => json!(b),
            Js::Int(i) => json!(i),
            Js::UInt(u) => json!(u),
            Js::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, |n| {
                // Integral doubles travel in the integer dictionary and come back as integers.
                if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                    json!(*f as i64)
                } else {
                    Value::Number(n)
                }
            }),
            Js::Str(s) => json!(s),
            Js::Arr(items) => Value::Array(items.iter().map(Js::value_view).collect()),
            Js::Obj(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value_view()))
                    .collect(),
            ),
            Js::Buf(bytes) => json!(bytes),
            Js::Date(d) => json!(d.0),
            Js::Err(e) => {
                let mut map = serde_json::Map::new();
                map.insert("message".into(), json!(e.message));
                map.insert("stack".into(), json!(e.stack));
                if let Some(name) = &e.name {
                    map.insert("name".into(), json!(name));
                }
                if let Some(code) = &e.code {
                    map.insert("code".into(), json!(code));
                }
                map.extend(e.props.clone());
                Value::Object(map)
            }
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex digit"))
        .collect()
}

/// Decodes a value of the same shape as `self.0`, through the Rust type each JS kind maps to
/// (`Vec<u8>` via `deserialize_byte_buf`, [`Date`], [`JsError`], `Option<()>` for `null`, ...).
struct Shaped<'a>(&'a Js);

impl<'de> DeserializeSeed<'de> for Shaped<'_> {
    type Value = Js;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Js, D::Error> {
        Ok(match self.0 {
            Js::Undefined => {
                <()>::deserialize(d)?;
                Js::Undefined
            }
            Js::Null => match Option::<()>::deserialize(d)? {
                None => Js::Null,
                Some(()) => return Err(de::Error::custom("expected null")),
            },
            Js::Bool(_) => Js::Bool(bool::deserialize(d)?),
            Js::Int(_) => Js::Int(i64::deserialize(d)?),
            Js::UInt(_) => Js::UInt(u64::deserialize(d)?),
            Js::Float(_) => Js::Float(f64::deserialize(d)?),
            Js::Str(_) => Js::Str(String::deserialize(d)?),
            Js::Buf(_) => Js::Buf(d.deserialize_byte_buf(BytesVisitor)?),
            Js::Date(_) => Js::Date(Date::deserialize(d)?),
            Js::Err(_) => Js::Err(JsError::deserialize(d)?),
            Js::Arr(items) => d.deserialize_seq(ShapedSeq(items))?,
            Js::Obj(pairs) => d.deserialize_map(ShapedMap(pairs))?,
        })
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
}

struct ShapedSeq<'a>(&'a [Js]);

impl<'de> Visitor<'de> for ShapedSeq<'_> {
    type Value = Js;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {}", self.0.len())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Js, A::Error> {
        let mut out = Vec::new();
        for item in self.0 {
            out.push(
                seq.next_element_seed(Shaped(item))?
                    .ok_or_else(|| de::Error::custom("array too short"))?,
            );
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("array too long"));
        }
        Ok(Js::Arr(out))
    }
}

struct ShapedMap<'a>(&'a [(String, Js)]);

impl<'de> Visitor<'de> for ShapedMap<'_> {
    type Value = Js;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object of {}", self.0.len())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Js, A::Error> {
        let mut out = Vec::new();
        for (_, value) in self.0 {
            let key: String = map
                .next_key()?
                .ok_or_else(|| de::Error::custom("object too short"))?;
            out.push((key, map.next_value_seed(Shaped(value))?));
        }
        if map.next_key::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("object too long"));
        }
        Ok(Js::Obj(out))
    }
}

/// Decodes `bytes` into the shape of `like`.
fn decode_shaped(bytes: &[u8], like: &Js) -> Result<Js, Error> {
    // The public API takes a `Deserialize` type, not a seed: hand the shape over in a
    // thread-local to a wrapper type.
    SHAPE.with(|s| *s.borrow_mut() = Some(like.clone()));
    let result = from_slice::<ShapedValue>(bytes).map(|v| v.0);
    SHAPE.with(|s| *s.borrow_mut() = None);
    result
}

thread_local! {
    static SHAPE: std::cell::RefCell<Option<Js>> = const { std::cell::RefCell::new(None) };
}

struct ShapedValue(Js);

impl<'de> Deserialize<'de> for ShapedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shape = SHAPE
            .with(|s| s.borrow().clone())
            .ok_or_else(|| de::Error::custom("no shape set"))?;
        Shaped(&shape).deserialize(d).map(ShapedValue)
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct CodecVectors {
    vectors: Vec<CodecVector>,
}

#[derive(Deserialize)]
struct CodecVector {
    js: String,
    encoded: String,
    value: Value,
    decoded: Option<Value>,
    #[serde(default = "yes")]
    encode: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct NodePayloads {
    payloads: Vec<NodePayload>,
}

#[derive(Deserialize)]
struct NodePayload {
    label: String,
    hex: String,
    value: Value,
}

fn codec_vectors() -> Vec<CodecVector> {
    let text = include_str!("fixtures/serialize_json/codec_vectors.json");
    serde_json::from_str::<CodecVectors>(text)
        .expect("fixture parses")
        .vectors
}

fn node_payloads() -> Vec<NodePayload> {
    let text = include_str!("fixtures/serialize_json/node_payloads.json");
    serde_json::from_str::<NodePayloads>(text)
        .expect("fixture parses")
        .payloads
}

/// Node tags `undefined` as `{"$undefined":true}` in the capture; the fixtures use the same tags.
fn js(v: &Value) -> Js {
    Js::from_tagged(v)
}

// ---------------------------------------------------------------------------------------------
// Byte-exact vectors
// ---------------------------------------------------------------------------------------------

#[test]
fn every_codec_vector_encodes_byte_exact_and_decodes_back() {
    let vectors = codec_vectors();
    let mut checked = 0;
    for v in &vectors {
        let value = js(&v.value);
        let expected = v.decoded.as_ref().map_or_else(|| value.clone(), js);
        if v.encode {
            let bytes = to_vec(&value).unwrap_or_else(|e| panic!("{}: encode failed: {e}", v.js));
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                v.encoded,
                "encoding of {}",
                v.js
            );
        }
        let typed = decode_shaped(v.encoded.as_bytes(), &expected)
            .unwrap_or_else(|e| panic!("{}: typed decode failed: {e}", v.js));
        assert_eq!(typed, expected, "typed decode of {}", v.js);
        let untyped: Value =
            from_slice(v.encoded.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", v.js));
        assert_eq!(untyped, expected.value_view(), "Value decode of {}", v.js);
        checked += 1;
    }
    println!("checked {checked} serialize-json codec vectors");
    assert_eq!(checked, 46);
    assert_eq!(checked, vectors.len());
}

#[test]
fn every_captured_node_payload_decodes_and_re_encodes_byte_exact() {
    let payloads = node_payloads();
    let mut checked = 0;
    for p in &payloads {
        let bytes = hex(&p.hex);
        let expected = js(&p.value);
        let decoded =
            decode_shaped(&bytes, &expected).unwrap_or_else(|e| panic!("{}: {e}", p.label));
        assert_eq!(decoded, expected, "{}", p.label);
        let again = to_vec(&decoded).unwrap_or_else(|e| panic!("{}: {e}", p.label));
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&bytes),
            "{}",
            p.label
        );
        let untyped: Value = from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.label));
        assert_eq!(untyped, expected.value_view(), "{}", p.label);
        checked += 1;
    }
    println!("checked {checked} captured Node payloads");
    assert_eq!(checked, 27);
}

#[test]
fn register_reply_round_trips_through_serde_json_value() {
    let bytes = b"success^^^^$0|-1]";
    let value: Value = from_slice(bytes).unwrap();
    assert_eq!(value, json!({ "success": true }));
    assert_eq!(to_vec(&value).unwrap(), bytes);
}

#[test]
fn echo_all_arguments_decode_into_typed_rust_values() {
    // A11: the arguments of `echoAll(1, -2, 3.5, true, false, null, undefined, '', 'a b', [1, 'x'],
    // {k: 'v', n: 35}, Buffer [00 ff 10], new Date(1700000000000))`.
    assert_eq!(from_slice::<i32>(b"^1^^^0").unwrap(), 1);
    assert_eq!(from_slice::<i8>(b"^-2^^^0").unwrap(), -2);
    assert_eq!(from_slice::<f32>(b"^^3.5^^0").unwrap(), 3.5);
    assert!(from_slice::<bool>(b"^^^^-1").unwrap());
    assert!(!from_slice::<bool>(b"^^^^-2").unwrap());
    assert_eq!(from_slice::<Option<String>>(b"^^^^-3").unwrap(), None);
    from_slice::<()>(b"^^^^-5").unwrap();
    assert_eq!(from_slice::<Option<u8>>(b"^^^^-5").unwrap(), None);
    assert_eq!(from_slice::<String>(b"^^^^-4").unwrap(), "");
    assert_eq!(from_slice::<String>(b"a+b^^^^0").unwrap(), "a b");
    assert_eq!(
        from_slice::<(u8, String)>(b"x^1^^^@1|0]").unwrap(),
        (1, "x".into())
    );

    #[derive(Debug, PartialEq, Deserialize, Serialize)]
    struct Kn {
        k: String,
        n: u32,
    }
    let kn = Kn {
        k: "v".into(),
        n: 35,
    };
    assert_eq!(from_slice::<Kn>(b"k|v|n^Z^^^$0|1|2|3]").unwrap(), kn);
    assert_eq!(to_vec(&kn).unwrap(), b"k|v|n^Z^^^$0|1|2|3]");
    assert_eq!(
        from_slice::<Vec<u8>>(b"^0|73|G^^^*0|1|2]").unwrap(),
        [0, 255, 16]
    );
    assert_eq!(
        from_slice::<Date>(b"^^^LOYW3V28^0").unwrap(),
        Date(1_700_000_000_000)
    );
}

#[test]
fn echo_all_result_array_re_encodes_from_a_typed_tuple() {
    // A12, with the trailing `null` the leader appends for the callback.
    type EchoAll = (
        i32,
        i32,
        f64,
        bool,
        bool,
        Option<u8>,
        (),
        String,
        String,
        (u8, String),
        Value,
        Js,
        Date,
        Option<u8>,
    );
    let bytes = "a+b|x|k|v|n^1|-2|1|Z|0|73|G^3.5^LOYW3V28^@5|6|C|-1|-2|-3|-5|-4|0|@7|1]|$2|3|4|8]|*9|A|B]|D|-3]";
    let value: EchoAll = (
        1,
        -2,
        3.5,
        true,
        false,
        None,
        (),
        String::new(),
        "a b".into(),
        (1, "x".into()),
        json!({ "k": "v", "n": 35 }),
        Js::Buf(vec![0, 255, 16]),
        Date(1_700_000_000_000),
        None,
    );
    assert_eq!(String::from_utf8(to_vec(&value).unwrap()).unwrap(), bytes);
    let untyped: Value = from_slice(bytes.as_bytes()).unwrap();
    assert_eq!(
        untyped,
        json!([1, -2, 3.5, true, false, null, null, "", "a b", [1, "x"], { "k": "v", "n": 35 }, [0, 255, 16], 1_700_000_000_000i64, null])
    );
}

#[test]
fn node_error_replies_decode_into_js_error() {
    // A26: `{success: false, error: {message, stack, name, code}}` as a plain object.
    #[derive(Deserialize)]
    struct RegisterReply {
        success: bool,
        error: Option<JsError>,
    }
    let payload = node_payloads()
        .into_iter()
        .find(|p| p.label == "A26")
        .expect("A26 present");
    let reply: RegisterReply = from_slice(&hex(&payload.hex)).unwrap();
    assert!(!reply.success);
    let err = reply.error.expect("an error");
    assert_eq!(err.message, "broken ready");
    assert_eq!(err.name.as_deref(), Some("Error"));
    assert_eq!(err.code.as_deref(), Some("E_BROKEN"));
    assert!(
        err.stack
            .as_deref()
            .is_some_and(|s| s.starts_with("Error: broken ready\n    at Immediate"))
    );
    assert_eq!(err.to_string(), "Error: broken ready (E_BROKEN)");

    // The `#` form Node writes for a real Error decodes the same way, with extra properties kept.
    let err: JsError = from_slice(
        "message|m|stack|Error:+m\n++++at+x|code|C|errno|name|TypeError^-4^^^#0|1|2|3|4|5|6|9|7|8]"
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(err.message, "m");
    assert_eq!(err.name.as_deref(), Some("TypeError"));
    assert_eq!(err.props.get("errno"), Some(&json!(-4)));
    let as_value: Value = from_slice(b"message|m|stack^^^^#0|1|2|-5]").unwrap();
    assert_eq!(as_value, json!({ "message": "m", "stack": null }));
}

#[test]
fn js_error_without_stack_writes_undefined_and_round_trips() {
    let err = JsError {
        name: Some("TypeError".into()),
        ..JsError::new("bad")
    };
    let bytes = to_vec(&err).unwrap();
    assert_eq!(bytes, b"message|bad|stack|name|TypeError^^^^#0|1|2|-5|3|4]");
    assert_eq!(from_slice::<JsError>(&bytes).unwrap(), err);
    // Through other serializers it is a plain object.
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({ "message": "bad", "stack": null, "name": "TypeError" })
    );
}

// ---------------------------------------------------------------------------------------------
// Hand-made decode cases and Rust-specific mappings
// ---------------------------------------------------------------------------------------------

#[test]
fn hand_made_decode_cases() {
    assert_eq!(from_slice::<String>(b"x^^^^0").unwrap(), "x");
    // Token 2 is the first integer, base-36 "a" = 10.
    assert_eq!(
        from_slice::<Value>(b"a|b^a^^^$0|2]").unwrap(),
        json!({ "a": 10 })
    );
    // Structure tokens are base 36 and case-insensitive.
    let dict = "s0|s1|s2|s3|s4|s5|s6|s7|s8|s9|s10^^^^";
    assert_eq!(
        from_slice::<String>(format!("{dict}a").as_bytes()).unwrap(),
        "s10"
    );
    assert_eq!(
        from_slice::<String>(format!("{dict}A").as_bytes()).unwrap(),
        "s10"
    );
    // Integer entries too, and they may carry a sign.
    assert_eq!(from_slice::<i64>(b"^-zz^^^0").unwrap(), -(35 * 36 + 35));
    // An empty buffer throws in Node.
    assert_eq!(
        *from_slice::<Value>(b"").unwrap_err().kind(),
        ErrorKind::EmptyInput
    );
}

#[test]
fn containers_end_at_end_of_input_as_in_node() {
    assert_eq!(from_slice::<Value>(b"a^1^^^@0|1").unwrap(), json!(["a", 1]));
    assert_eq!(
        from_slice::<Value>(b"k^^^^$0|-1").unwrap(),
        json!({ "k": true })
    );
    assert_eq!(from_slice::<Value>(b"^^^^@@@").unwrap(), json!([[[]]]));
    // An odd number of children leaves the last key undefined, as Node's decoder does.
    assert_eq!(
        from_slice::<Value>(b"k^^^^$0]").unwrap(),
        json!({ "k": null })
    );
}

#[test]
fn unit_is_undefined_and_none_is_null() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Marker;
    assert_eq!(to_vec(&()).unwrap(), b"^^^^-5");
    assert_eq!(to_vec(&Marker).unwrap(), b"^^^^-5");
    assert_eq!(to_vec(&None::<u8>).unwrap(), b"^^^^-3");
    from_slice::<()>(b"^^^^-3").unwrap();
    assert_eq!(from_slice::<Marker>(b"^^^^-5").unwrap(), Marker);
}

#[test]
fn enums_map_like_serde_json() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Cmd {
        Stop,
        Go(u32),
        Move { x: i32, y: i32 },
        Pair(u8, String),
    }
    let cases = [
        (Cmd::Stop, "Stop^^^^0"),
        (Cmd::Go(7), "Go^7^^^$0|1]"),
        (Cmd::Move { x: 1, y: -1 }, "Move|x|y^1|-1^^^$0|$1|3|2|4]]"),
        (Cmd::Pair(2, "b".into()), "Pair|b^2^^^$0|@2|1]]"),
    ];
    for (value, text) in cases {
        let bytes = to_vec(&value).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), text);
        assert_eq!(from_slice::<Cmd>(text.as_bytes()).unwrap(), value);
    }
    assert_eq!(from_slice::<Cmd>(b"Stop^^^^$0|-3]").unwrap(), Cmd::Stop);
}

#[test]
fn map_keys_take_their_string_form() {
    use std::collections::BTreeMap;
    let map: BTreeMap<u32, bool> = [(1, true), (20, false)].into();
    let bytes = to_vec(&map).unwrap();
    assert_eq!(bytes, b"1|20^^^^$0|-1|1|-2]");
    assert_eq!(from_slice::<BTreeMap<u32, bool>>(&bytes).unwrap(), map);
    let chars: BTreeMap<char, bool> = [('x', true)].into();
    assert_eq!(to_vec(&chars).unwrap(), b"x^^^^$0|-1]");
    let bad: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
    assert_eq!(
        to_vec(&bad).unwrap_err().to_string(),
        "map keys must be strings, integers, booleans or chars; found a sequence"
    );
}

#[test]
fn integers_are_exact_across_all_rust_widths() {
    for v in [i64::MIN, i64::MAX, 0, -1] {
        assert_eq!(from_slice::<i64>(&to_vec(&v).unwrap()).unwrap(), v);
    }
    assert_eq!(
        from_slice::<u64>(&to_vec(&u64::MAX).unwrap()).unwrap(),
        u64::MAX
    );
    assert_eq!(
        from_slice::<i128>(&to_vec(&i128::MIN).unwrap()).unwrap(),
        i128::MIN
    );
    assert_eq!(
        from_slice::<u128>(&to_vec(&u128::MAX).unwrap()).unwrap(),
        u128::MAX
    );
    // Self-describing targets see anything beyond 64 bits as JavaScript would: a double.
    assert_eq!(
        from_slice::<Value>(&to_vec(&u128::MAX).unwrap()).unwrap(),
        json!(u128::MAX as f64)
    );
    // An integer decodes into a float target.
    assert_eq!(from_slice::<f64>(b"^Z^^^0").unwrap(), 35.0);
}

#[test]
fn doubles_follow_node() {
    assert_eq!(to_vec(&1e21f64).unwrap(), b"^5V1J4F4DS7C000^^^0");
    assert_eq!(
        from_slice::<f64>(b"^5V1J4F4DS7C000^^^0").unwrap(),
        1.0000000000000001e21
    );
    assert_eq!(to_vec(&-0.0f64).unwrap(), b"^0^^^0");
    assert_eq!(to_vec(&f64::NEG_INFINITY).unwrap(), b"^^-Infinity^^0");
    assert_eq!(to_vec(&0.1f32).unwrap(), b"^^0.1^^0");
    assert_eq!(to_vec(&2.0f32).unwrap(), b"^2^^^0");
    assert!(from_slice::<f64>(b"^^NaN^^0").unwrap().is_nan());
}

#[test]
fn bytes_decode_as_bytes_or_as_a_sequence() {
    struct Bytes(Vec<u8>);
    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }
    let bytes = to_vec(&Bytes(b"hi".to_vec())).unwrap();
    assert_eq!(bytes, b"^2W|2X^^^*0|1]");
    assert_eq!(from_slice::<Vec<u8>>(&bytes).unwrap(), b"hi");
    assert_eq!(from_slice::<Value>(&bytes).unwrap(), json!([104, 105]));
    assert_eq!(
        decode_shaped(&bytes, &Js::Buf(vec![])).unwrap(),
        Js::Buf(b"hi".to_vec())
    );
}

#[test]
fn payload_codec_appends_and_maps_errors() {
    let codec = PayloadCodec::SerializeJson;
    let mut out = b"prefix".to_vec();
    codec.encode(&"hi", &mut out).unwrap();
    assert_eq!(out, b"prefixhi^^^^0");
    // A failed encode leaves the buffer as it was.
    let deep = nested_value(DEFAULT_MAX_DEPTH + 1);
    let err = codec.encode(&deep, &mut out).unwrap_err();
    assert_eq!(out, b"prefixhi^^^^0");
    assert_eq!(err.direction(), Direction::Encode);
    assert_eq!(err.codec(), "serialize-json");
    assert_eq!(err.message(), "nesting deeper than 128");
    let err = codec.decode::<String>(b"^^^^@]").unwrap_err();
    assert_eq!(err.direction(), Direction::Decode);
    assert_eq!(err.message(), "expected a string, found an array at byte 4");
}

// ---------------------------------------------------------------------------------------------
// Malformed input: clean, specific errors
// ---------------------------------------------------------------------------------------------

fn decode_error<T: serde::de::DeserializeOwned + fmt::Debug>(bytes: &[u8]) -> String {
    from_slice::<T>(bytes).expect_err("must fail").to_string()
}

/// Checks that each payload fails to decode (as a `Value`) with exactly its message.
fn assert_decode_errors(cases: &[(&[u8], &str)]) {
    for (bytes, message) in cases {
        assert_eq!(
            decode_error::<Value>(bytes),
            *message,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn malformed_input_is_reported_precisely() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"",
            "empty input: a serialize-json payload has 4 '^' separators and a structure",
        ),
        (b"a^b^0", "expected 4 '^' separators, found 2"),
        (b"ok^^^^\xff", "invalid UTF-8 at byte 6"),
        (
            b"a|b^^^^1Z",
            "leaf index 71 out of range: the dictionaries hold 2 entries (at byte 7)",
        ),
        (
            b"^^^^-7",
            "unknown special token -7 at byte 4 (expected -1 to -5)",
        ),
        (b"^^^^!x", "invalid base-36 integer \"!x\" at byte 4"),
        (b"^^^^-", "invalid base-36 integer \"-\" at byte 4"),
        (b"^^^^@0^1]", "invalid base-36 integer \"0^1\" at byte 5"),
        (
            b"^!^^^0",
            "invalid base-36 integer \"!\" in integer dictionary entry 0",
        ),
        (
            b"^^^1.5^0",
            "invalid base-36 integer \"1.5\" in date dictionary entry 0",
        ),
        (
            b"^^abc^^0",
            "invalid number \"abc\" in the float dictionary",
        ),
        (b"x^^^^", "unexpected end of input: expected a value"),
        (
            b"^^^^-1|-2",
            "trailing structure after the top-level value at byte 7",
        ),
        (
            b"^^^^@]]",
            "trailing structure after the top-level value at byte 6",
        ),
        (b"^^^^]", "expected a value, found ']' at byte 4"),
    ];
    assert_decode_errors(cases);
}

#[test]
fn structure_tokens_read_as_node_reads_them() {
    // `-0` is index 0 to `parseInt`, indices are case-insensitive, and leading zeros past the
    // 12-digit fast path still read as a number.
    assert_eq!(from_slice::<Value>(b"x^^^^-0").ok(), Some(json!("x")));
    assert_eq!(
        from_slice::<Value>(b"a|b|c|d|e|f|g|h|i|j|k^^^^a").ok(),
        Some(json!("k"))
    );
    assert_eq!(
        from_slice::<Value>(b"x^^^^0000000000000").ok(),
        Some(json!("x"))
    );
    let cases: &[(&[u8], &str)] = &[
        (
            b"^^^^-12",
            "unknown special token -12 at byte 4 (expected -1 to -5)",
        ),
        // `x` is a base-36 digit: `-1x` is a number, just not a special one.
        (
            b"^^^^-1x",
            "unknown special token -1x at byte 4 (expected -1 to -5)",
        ),
        (b"^^^^-1.", "invalid base-36 integer \"-1.\" at byte 4"),
        (b"^^^^@1.5]", "invalid base-36 integer \"1.5\" at byte 5"),
        (
            b"^^^^1000000000000",
            "leaf index 4738381338321616896 out of range: the dictionaries hold 0 entries (at byte 4)",
        ),
    ];
    assert_decode_errors(cases);
}

#[test]
fn type_mismatches_name_both_sides() {
    assert_eq!(
        decode_error::<String>(b"^^^^@]"),
        "expected a string, found an array at byte 4"
    );
    assert_eq!(
        decode_error::<i32>(b"^^1.5^^0"),
        "expected an integer (i32), found the fraction 1.5 at byte 7"
    );
    assert_eq!(
        decode_error::<u8>(b"x^^^^0"),
        "expected an integer (u8), found a string at byte 5"
    );
    assert_eq!(
        decode_error::<bool>(b"^^^^-3"),
        "expected a boolean, found null at byte 4"
    );
    assert_eq!(
        decode_error::<Vec<u8>>(b"^^^^$]"),
        "expected an array, found an object at byte 4"
    );
    assert_eq!(
        decode_error::<(bool,)>(b"^^^^@-1|-2]"),
        "expected ']' closing the array, found more elements at byte 8"
    );
    assert_eq!(
        decode_error::<Vec<u8>>(b"^8C^^^*0]"),
        "expected a byte (an integer from 0 to 255) in a buffer, found an integer at byte 7"
    );
    assert_eq!(
        decode_error::<u8>(b"^8C^^^0"),
        "invalid value: integer `300`, expected u8"
    );
    assert_eq!(
        decode_error::<String>(b"^^^^"),
        "unexpected end of input: expected a string"
    );
}

// ---------------------------------------------------------------------------------------------
// Depth limits
// ---------------------------------------------------------------------------------------------

fn nested_value(depth: usize) -> Value {
    let mut v = json!([]);
    for _ in 1..depth {
        v = json!([v]);
    }
    v
}

#[test]
fn nesting_at_the_limit_works_and_beyond_it_is_a_clean_error_both_ways() {
    let at_limit = nested_value(DEFAULT_MAX_DEPTH);
    let bytes = to_vec(&at_limit).unwrap();
    assert_eq!(from_slice::<Value>(&bytes).unwrap(), at_limit);

    let too_deep = nested_value(DEFAULT_MAX_DEPTH + 1);
    assert_eq!(
        *to_vec(&too_deep).unwrap_err().kind(),
        ErrorKind::TooDeep { max_depth: 128 }
    );
    let text = format!("^^^^{}", "@".repeat(DEFAULT_MAX_DEPTH + 1));
    assert_eq!(
        decode_error::<Value>(text.as_bytes()),
        "nesting deeper than 128"
    );

    // Far beyond any stack: still a clean error, for every container kind and for skipping.
    for open in ["@", "$", "*", "#", "$0|"] {
        let text = format!("k^^^^{}", open.repeat(1_000_000));
        let err = from_slice::<Value>(text.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::TooDeep { .. } | ErrorKind::UnexpectedValue { .. }
            ),
            "{open}: {err}"
        );
        assert!(from_slice::<de::IgnoredAny>(text.as_bytes()).is_err());
    }
    assert_eq!(
        to_vec_with_max_depth(&nested_value(3), 2)
            .unwrap_err()
            .to_string(),
        "nesting deeper than 2"
    );
    assert!(from_slice_with_max_depth::<Value>(b"^^^^@@@]]]", 2).is_err());
    assert!(from_slice_with_max_depth::<Value>(b"^^^^@@]]", 2).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ +|^%a-z0-9\n中文😀]{0,12}",
        "(%2B|%7C|%5E|%25|%2b|%|\\+| ){0,6}",
        any::<String>(),
    ]
}

fn arb_js() -> impl Strategy<Value = Js> {
    let leaf = prop_oneof![
        Just(Js::Undefined),
        Just(Js::Null),
        any::<bool>().prop_map(Js::Bool),
        any::<i64>().prop_map(Js::Int),
        any::<u64>().prop_map(Js::UInt),
        // Integral doubles beyond 2^53 go through V8's inexact radix conversion (see
        // `doubles_follow_node`), so they are not part of the identity.
        any::<f64>()
            .prop_filter("finite, exact in base 36", |f| {
                f.is_finite() && (f.fract() != 0.0 || f.abs() < 9_007_199_254_740_992.0)
            })
            .prop_map(Js::Float),
        arb_string().prop_map(Js::Str),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Js::Buf),
        any::<i64>().prop_map(|ms| Js::Date(Date(ms))),
        (
            arb_string(),
            proptest::option::of(arb_string()),
            proptest::option::of(arb_string())
        )
            .prop_map(|(message, stack, code)| Js::Err(JsError {
                stack,
                code,
                ..JsError::new(message)
            })),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Js::Arr),
            proptest::collection::vec((arb_string(), inner), 0..6).prop_map(Js::Obj),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_is_the_identity(value in arb_js()) {
        let bytes = to_vec(&value).expect("encodes");
        let back = decode_shaped(&bytes, &value).expect("decodes");
        prop_assert_eq!(&back, &value);
        // Self-describing decoding agrees too.
        let untyped: Value = from_slice(&bytes).expect("decodes as Value");
        prop_assert_eq!(untyped, value.value_view());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = from_slice::<Value>(&bytes);
        let _ = from_slice::<Vec<Option<String>>>(&bytes);
    }

    #[test]
    fn structure_like_text_never_panics(
        text in "[0-9A-Z|$@*#\\]^+-]{0,40}",
        structure in "[0-9A-Za-z|$@*#\\]-]{0,40}",
    ) {
        let _ = from_slice::<Value>(text.as_bytes());
        let framed = format!("a|b+c|%2B^1|-Z|zz^1.5|NaN^LOYW3V28^{structure}");
        if let Ok(value) = from_slice::<Value>(framed.as_bytes()) {
            // Whatever decodes re-encodes.
            prop_assert!(to_vec(&value).is_ok());
        }
        let _ = from_slice::<(String, Vec<u8>, Option<f64>)>(framed.as_bytes());
    }
}

#[test]
fn public_paths_are_reachable() {
    // What users name: the codec choice and the JavaScript types of the format.
    let _: PayloadCodec = PayloadCodec::SerializeJson;
    let _: serialize_json::Date = serialize_json::Date::from_millis(0);
}

// ---------------------------------------------------------------------------------------------
// Large values: the size of the last large encode on a thread is set aside for the next.
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Record {
    id: u64,
    name: String,
    score: f64,
    tags: Vec<String>,
}

fn records(n: usize, name_len: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            id: i as u64 * 7919,
            name: format!("{i:0name_len$}"),
            score: i as f64 / 8.0,
            tags: vec![format!("t{}", i % 5), "x".into()],
        })
        .collect()
}

/// Encoding a large value after a large value, a small one after a large one, and a larger
/// one after a small one gives the same bytes as encoding each alone, and a small value is not
/// left with the large one's room.
#[test]
fn sizes_set_aside_from_an_earlier_encode_change_nothing_but_room() {
    std::thread::spawn(|| {
        let large = records(4000, 40);
        let larger = records(9000, 60);
        let small = records(2, 3);
        let fresh = |v: &Vec<Record>| {
            std::thread::scope(|s| s.spawn(|| to_vec(v).unwrap()).join().unwrap())
        };
        let (large_alone, larger_alone, small_alone) =
            (fresh(&large), fresh(&larger), fresh(&small));
        assert!(large_alone.len() > 256 * 1024);
        assert_eq!(to_vec(&large).unwrap(), large_alone);
        assert_eq!(to_vec(&large).unwrap(), large_alone);
        let small_after = to_vec(&small).unwrap();
        assert_eq!(small_after, small_alone);
        assert!(
            small_after.capacity() < 64 * 1024,
            "a small value keeps {} bytes of room",
            small_after.capacity()
        );
        assert_eq!(to_vec(&larger).unwrap(), larger_alone);
        assert_eq!(to_vec(&larger).unwrap(), larger_alone);
        let back: Vec<Record> = from_slice(&to_vec(&large).unwrap()).unwrap();
        assert_eq!(back, large);
    })
    .join()
    .unwrap();
}

/// The same for the JSON codec: a large value after a large one encodes the same, and a small
/// value after it is not left with its room.
#[test]
fn json_sizes_set_aside_change_nothing_but_room() {
    std::thread::spawn(|| {
        let codec = PayloadCodec::Json;
        let encode = |v: &Vec<Record>| {
            let mut out = Vec::new();
            codec.encode(v, &mut out).unwrap();
            out
        };
        let (large, small) = (records(4000, 40), records(2, 3));
        let first = encode(&large);
        assert!(first.len() > 256 * 1024);
        assert_eq!(encode(&large), first);
        let small_after = encode(&small);
        assert_eq!(small_after, serde_json::to_vec(&small).unwrap());
        assert!(small_after.capacity() < 64 * 1024);
    })
    .join()
    .unwrap();
}
