//! JavaScript types with no serde equivalent: `Date` and `Error`.
//!
//! Both reach the serialize-json serializer through a private newtype-struct name (the trick
//! `serde_json::value::RawValue` uses), so that any other serializer sees ordinary data: a
//! number of milliseconds, a map of properties.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Newtype-struct name that makes the serialize-json serializer write a date leaf.
pub(crate) const DATE_TOKEN: &str = "$serialize_json::private::Date";
/// Newtype-struct name that makes the serialize-json serializer open an Error `#` block.
pub(crate) const ERROR_TOKEN: &str = "$serialize_json::private::Error";

/// A JavaScript `Date`: milliseconds since the Unix epoch.
///
/// Through serialize-json it travels as a date leaf, so a Node peer receives a real `Date`;
/// through any other serializer it is a plain integer. It deserializes from a date leaf or from
/// any integer.
///
/// ```
/// use cluster_client::codec::serialize_json::{Date, to_vec};
///
/// assert_eq!(to_vec(&Date(1_700_000_000_000)).unwrap(), b"^^^LOYW3V28^0");
/// assert_eq!(serde_json::to_string(&Date(5)).unwrap(), "5");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Date(pub i64);

impl Date {
    /// The date `millis` milliseconds after the Unix epoch (negative: before it).
    pub fn from_millis(millis: i64) -> Self {
        Date(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// The current time, truncated to milliseconds.
    pub fn now() -> Self {
        Date::from(SystemTime::now())
    }

    /// This date as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        let offset = Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + offset
        } else {
            UNIX_EPOCH - offset
        }
    }
}

impl From<SystemTime> for Date {
    /// Truncates to milliseconds; saturates at the `i64` range.
    fn from(time: SystemTime) -> Self {
        let clamp = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Date(clamp(after)),
            Err(before) => Date(-clamp(before.duration())),
        }
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(DATE_TOKEN, &self.0)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MillisVisitor;

        impl Visitor<'_> for MillisVisitor {
            type Value = Date;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date or an integer number of milliseconds")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Date, E> {
                Ok(Date(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Date, E> {
                i64::try_from(v)
                    .map(Date)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Date, E> {
                // Other formats may carry milliseconds as a double; accept exact integers only.
                if v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64 {
                    Ok(Date(v as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
        }

        deserializer.deserialize_i64(MillisVisitor)
    }
}

/// A JavaScript `Error`: what a Node peer sends when a call fails, and what a Rust peer sends so
/// that Node callers receive a real `Error`.
///
/// Through serialize-json it is written as an Error block (`#`): `message`, `stack`, then the
/// own properties Node code usually sets, `name` and `code`, then any further properties in
/// `props`. It decodes from an Error block or from a plain object with those keys (Node's
/// `cluster-client` turns errors into plain objects in some replies). A `stack` of `None` is
/// written as `undefined`.
///
/// ```
/// use cluster_client::codec::serialize_json::{JsError, from_slice, to_vec};
///
/// let err = JsError {
///     stack: Some("Error: m\n    at x".into()),
///     code: Some("C".into()),
///     ..JsError::new("m")
/// };
/// let bytes = to_vec(&err).unwrap();
/// assert_eq!(bytes, "message|m|stack|Error:+m\n++++at+x|code|C^^^^#0|1|2|3|4|5]".as_bytes());
/// assert_eq!(from_slice::<JsError>(&bytes).unwrap(), err);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsError {
    /// `err.message`.
    pub message: String,
    /// `err.stack`, if known.
    pub stack: Option<String>,
    /// `err.name` when it is an own property (Node's `Error` leaves it on the prototype).
    pub name: Option<String>,
    /// `err.code`, the usual machine-readable error code (`"ECONNRESET"`).
    pub code: Option<String>,
    /// Any other own enumerable properties, in order.
    pub props: serde_json::Map<String, serde_json::Value>,
}

impl JsError {
    /// An error with `message` and nothing else.
    pub fn new(message: impl Into<String>) -> Self {
        JsError {
            message: message.into(),
            ..JsError::default()
        }
    }
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.name.as_deref().unwrap_or("Error"),
            self.message
        )?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for JsError {}

/// The properties of a [`JsError`] as a map, in the order Node writes them.
struct ErrorProps<'a>(&'a JsError);

impl Serialize for ErrorProps<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let err = self.0;
        let len =
            2 + usize::from(err.name.is_some()) + usize::from(err.code.is_some()) + err.props.len();
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("message", &err.message)?;
        match &err.stack {
            Some(stack) => map.serialize_entry("stack", stack)?,
            // `()` is `undefined` in serialize-json: the property exists but holds nothing.
            None => map.serialize_entry("stack", &())?,
        }
        if let Some(name) = &err.name {
            map.serialize_entry("name", name)?;
        }
        if let Some(code) = &err.code {
            map.serialize_entry("code", code)?;
        }
        for (key, value) in &err.props {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Serialize for JsError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(ERROR_TOKEN, &ErrorProps(self))
    }
}

impl<'de> Deserialize<'de> for JsError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ErrorVisitor;

        impl<'de> Visitor<'de> for ErrorVisitor {
            type Value = JsError;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an Error or an object with an error's properties")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsError, A::Error> {
                let mut err = JsError::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "message" => {
                            err.message = map.next_value::<Option<String>>()?.unwrap_or_default()
                        }
                        "stack" => err.stack = map.next_value()?,
                        "name" => err.name = map.next_value()?,
                        "code" => err.code = map.next_value()?,
                        _ => {
                            let value = map.next_value()?;
                            err.props.insert(key, value);
                        }
                    }
                }
                Ok(err)
            }
        }

        deserializer.deserialize_map(ErrorVisitor)
    }
}
