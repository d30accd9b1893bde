//! Arbitrary bytes into the serialize-json decoder: it must never panic, and whatever it
//! accepts must encode again.
#![no_main]

use std::collections::BTreeMap;

use cluster_client::codec::serialize_json::{Date, JsError, from_slice, to_vec};
use libfuzzer_sys::fuzz_target;

/// A typed target built from std types (the fuzz crate has no serde derive): strings, integers
/// of every width, floats, bytes, dates, errors, options, nested sequences and maps.
type Typed = (
    String,
    Option<u64>,
    f64,
    Vec<u8>,
    Option<Date>,
    Option<JsError>,
    Vec<Vec<(bool, i128)>>,
    BTreeMap<u32, Option<String>>,
);

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = from_slice::<serde_json::Value>(data) {
        to_vec(&value).expect("a decoded Value encodes");
    }
    if let Ok(value) = from_slice::<Typed>(data) {
        to_vec(&value).expect("a decoded tuple encodes");
    }
    if let Ok(value) = from_slice::<JsError>(data) {
        to_vec(&value).expect("a decoded error encodes");
    }
});
