//! JSON text exactly as JavaScript's `JSON.stringify` writes it.
//!
//! Node peers derive subscription keys with `JSON.stringify(reg)` and route pushes by comparing
//! keys as strings, so a Rust peer must produce the same text for the same value: numbers in
//! JavaScript's format (`1`, not `1.0`), integer-like object keys first in ascending order (the
//! order a JavaScript object enumerates them), and JavaScript's string escapes.

use serde_json::{Map, Number, Value};

/// The prefix Node puts in front of every subscription key.
const KEY_PREFIX: &str = "$$inner$$__";

/// The wire key of a subscription: `$$inner$$__` followed by the compact JSON of `reg`.
pub fn subscription_key(reg: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(KEY_PREFIX.as_bytes());
    write_js_json(&mut out, reg);
    // Only valid UTF-8 was written: the prefix, ASCII punctuation and whole `str`s.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `value` as `JSON.stringify(value)` would write it.
pub fn write_js_json(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_js_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_js_json(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Appends `s` as a JSON string literal with JavaScript's escapes.
pub fn write_js_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// JavaScript numbers are doubles: integers beyond 2^53 and all fractions print as the double
/// they become.
fn write_number(out: &mut Vec<u8>, n: &Number) {
    const SAFE: u64 = 1 << 53;
    if let Some(u) = n.as_u64().filter(|u| *u <= SAFE) {
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= SAFE) {
        out.extend_from_slice(i.to_string().as_bytes());
    } else {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f.is_finite() {
            let mut buf = ryu_js::Buffer::new();
            out.extend_from_slice(buf.format_finite(f).as_bytes());
        } else {
            out.extend_from_slice(b"null");
        }
    }
}

/// An "array index" key in ECMAScript terms: the canonical decimal form of an integer below
/// 2^32 - 1. Objects enumerate these first, in ascending numeric order.
fn array_index(key: &str) -> Option<u32> {
    let b = key.as_bytes();
    if b.is_empty()
        || b.len() > 10
        || (b.len() > 1 && b[0] == b'0')
        || !b.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    key.parse::<u64>()
        .ok()
        .filter(|n| *n < u32::MAX as u64)
        .map(|n| n as u32)
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    out.push(b'{');
    let mut first = true;
    let mut write_entry = |out: &mut Vec<u8>, k: &str, v: &Value| {
        if !first {
            out.push(b',');
        }
        first = false;
        write_js_string(out, k);
        out.push(b':');
        write_js_json(out, v);
    };
    if map.keys().any(|k| array_index(k).is_some()) {
        let mut indexed: Vec<(u32, &String, &Value)> = map
            .iter()
            .filter_map(|(k, v)| array_index(k).map(|i| (i, k, v)))
            .collect();
        indexed.sort_by_key(|(i, _, _)| *i);
        for (_, k, v) in indexed {
            write_entry(out, k, v);
        }
        for (k, v) in map.iter().filter(|(k, _)| array_index(k).is_none()) {
            write_entry(out, k, v);
        }
    } else {
        for (k, v) in map {
            write_entry(out, k, v);
        }
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn js(v: &Value) -> String {
        let mut out = Vec::new();
        write_js_json(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn key_matches_captured_node_key() {
        assert_eq!(
            subscription_key(&json!({"dataId": "foo"})),
            "$$inner$$__{\"dataId\":\"foo\"}"
        );
    }

    #[test]
    fn numbers_print_as_javascript_doubles() {
        assert_eq!(
            js(&json!([
                1.0,
                1.5,
                -0.0,
                1e21,
                9007199254740993u64,
                -3,
                1e-7
            ])),
            "[1,1.5,0,1e+21,9007199254740992,-3,1e-7]"
        );
    }

    #[test]
    fn integer_like_keys_come_first_in_ascending_order() {
        let v: Value = serde_json::from_str(r#"{"z":1,"10":2,"2":3,"01":4,"b":5}"#).unwrap();
        assert_eq!(js(&v), r#"{"2":3,"10":2,"z":1,"01":4,"b":5}"#);
    }

    #[test]
    fn strings_use_javascript_escapes() {
        let v = Value::String("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}/\u{7f}é\u{2028}".into());
        assert_eq!(
            js(&v),
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f/\u{7f}é\u{2028}\""
        );
    }
}
