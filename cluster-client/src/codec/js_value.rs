//! Dynamic JavaScript values, for methods that take or return "anything" (as Node methods
//! often do), and byte buffers.
//!
//! With the serialize-json codec a [`JsValue`] keeps every type the format carries apart:
//! `undefined` from `null`, buffers from arrays, dates from numbers. With the JSON codec it
//! is plain JSON (buffers and dates then arrive as whatever the peer's JSON made of them).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::serialize_json::Date;

/// The newtype-struct name by which a [`JsValue`] asks the serialize-json decoder to keep
/// types apart. Other decoders pass the value straight through.
pub(crate) const JS_VALUE_TOKEN: &str = "$serialize_json::private::JsValue";
/// The single key of the map by which the decoder hands a date to [`JsValue`].
pub(crate) const JS_DATE_KEY: &str = "$serialize_json::private::JsDate";
/// The single key of the map by which the decoder hands `undefined` to [`JsValue`].
pub(crate) const JS_UNDEFINED_KEY: &str = "$serialize_json::private::JsUndefined";

/// Any value a JavaScript peer can send through the payload codec.
#[derive(Debug, Clone, PartialEq)]
pub enum JsValue {
    /// `undefined` (what a `void` function returns).
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (JavaScript numbers are doubles).
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<JsValue>),
    /// An object, keys in order.
    Object(Vec<(String, JsValue)>),
    /// A Node `Buffer`.
    Buffer(Vec<u8>),
    /// A `Date`.
    Date(Date),
}

impl JsValue {
    /// The value of `key` when this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&JsValue> {
        match self {
            JsValue::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsValue::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for JsValue {
    fn from(s: &str) -> Self {
        JsValue::String(s.to_owned())
    }
}

impl Serialize for JsValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JsValue::Undefined => s.serialize_unit(),
            JsValue::Null => s.serialize_none(),
            JsValue::Bool(b) => s.serialize_bool(*b),
            JsValue::Number(n) => s.serialize_f64(*n),
            JsValue::String(v) => s.serialize_str(v),
            JsValue::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            JsValue::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            JsValue::Buffer(bytes) => s.serialize_bytes(bytes),
            JsValue::Date(d) => d.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for JsValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_newtype_struct(JS_VALUE_TOKEN, JsValueVisitor)
    }
}

struct JsValueVisitor;

impl<'de> Visitor<'de> for JsValueVisitor {
    type Value = JsValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JavaScript value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<JsValue, D::Error> {
        d.deserialize_any(self)
    }

    /// Self-describing formats (JSON) report `null` as unit; serialize-json reports
    /// `undefined` through a private map key instead.
    fn visit_unit<E: de::Error>(self) -> Result<JsValue, E> {
        Ok(JsValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<JsValue, E> {
        Ok(JsValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JsValue, D::Error> {
        JsValue::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsValue, E> {
        Ok(JsValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsValue, E> {
        Ok(JsValue::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsValue, E> {
        Ok(JsValue::Number(v as f64))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<JsValue, E> {
        Ok(JsValue::Number(v as f64))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<JsValue, E> {
        Ok(JsValue::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsValue, E> {
        Ok(JsValue::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsValue, E> {
        Ok(JsValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<JsValue, E> {
        Ok(JsValue::String(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<JsValue, E> {
        Ok(JsValue::Buffer(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<JsValue, E> {
        Ok(JsValue::Buffer(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsValue, A::Error> {
        // No capacity from the peer's size hint: it is not trusted.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<JsValue>()? {
            items.push(item);
        }
        Ok(JsValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if entries.is_empty() && key == JS_DATE_KEY {
                let millis: i64 = map.next_value()?;
                return Ok(JsValue::Date(Date::from_millis(millis)));
            }
            if entries.is_empty() && key == JS_UNDEFINED_KEY {
                map.next_value::<bool>()?;
                return Ok(JsValue::Undefined);
            }
            let value: JsValue = map.next_value()?;
            entries.push((key, value));
        }
        Ok(JsValue::Object(entries))
    }
}

/// A byte buffer: a Node `Buffer` with serialize-json (a JSON array of numbers with JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Buffer(pub Vec<u8>);

impl Serialize for Buffer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Buffer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BufferVisitor;

        impl<'de> Visitor<'de> for BufferVisitor {
            type Value = Buffer;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte buffer")
            }

            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Buffer, E> {
                Ok(Buffer(v.to_vec()))
            }

            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Buffer, E> {
                Ok(Buffer(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Buffer, A::Error> {
                let mut bytes = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                Ok(Buffer(bytes))
            }
        }

        d.deserialize_byte_buf(BufferVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::serialize_json::{from_slice, to_vec};

    fn bytes(v: &JsValue) -> String {
        String::from_utf8(to_vec(v).unwrap()).unwrap()
    }

    #[test]
    fn every_variant_keeps_its_type_through_serialize_json() {
        let cases = [
            (JsValue::Undefined, "^^^^-5"),
            (JsValue::Null, "^^^^-3"),
            (JsValue::Bool(true), "^^^^-1"),
            (JsValue::Number(35.0), "^Z^^^0"),
            (JsValue::Number(3.5), "^^3.5^^0"),
            (JsValue::String("a b".into()), "a+b^^^^0"),
            (JsValue::Buffer(vec![0, 255, 16]), "^0|73|G^^^*0|1|2]"),
            (
                JsValue::Date(Date::from_millis(1_700_000_000_000)),
                "^^^LOYW3V28^0",
            ),
            (
                JsValue::Array(vec![JsValue::Null, JsValue::Undefined]),
                "^^^^@-3|-5]",
            ),
            (
                JsValue::Object(vec![("u".into(), JsValue::Undefined)]),
                "u^^^^$0|-5]",
            ),
        ];
        for (value, wire) in cases {
            assert_eq!(bytes(&value), wire);
            assert_eq!(
                from_slice::<JsValue>(wire.as_bytes()).unwrap(),
                value,
                "{wire}"
            );
        }
        let nested = JsValue::Object(vec![
            ("when".into(), JsValue::Date(Date::from_millis(-1))),
            (
                "raw".into(),
                JsValue::Array(vec![JsValue::Buffer(vec![]), JsValue::Number(-2.0)]),
            ),
        ]);
        assert_eq!(
            from_slice::<JsValue>(&to_vec(&nested).unwrap()).unwrap(),
            nested
        );
    }

    #[test]
    fn json_null_is_null() {
        let v: JsValue = serde_json::from_str(r#"{"a":null,"b":[1,"x"]}"#).unwrap();
        assert_eq!(
            v,
            JsValue::Object(vec![
                ("a".into(), JsValue::Null),
                (
                    "b".into(),
                    JsValue::Array(vec![JsValue::Number(1.0), "x".into()])
                ),
            ])
        );
    }

    #[test]
    fn buffers_decode_from_buffers_and_arrays() {
        let b: Buffer = from_slice(b"^0|73|G^^^*0|1|2]").unwrap();
        assert_eq!(b, Buffer(vec![0, 255, 16]));
        let b: Buffer = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(b, Buffer(vec![1, 2]));
    }
}
