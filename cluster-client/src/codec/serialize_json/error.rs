//! What can go wrong while encoding or decoding serialize-json.

use std::fmt::Display;

/// A serialize-json encoding or decoding error.
///
/// The message names the problem and where it is: a byte offset into the payload or an entry
/// of one of the four dictionaries. [`Error::kind`] gives the details as data. The error is
/// one pointer wide, so that `Result`s stay small on the decoder's hot path.
///
/// ```
/// use cluster_client::codec::serialize_json::{ErrorKind, from_slice};
///
/// let err = from_slice::<u8>(b"^^^^-7").unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::UnknownSpecial { .. }));
/// assert_eq!(err.to_string(), "unknown special token -7 at byte 4 (expected -1 to -5)");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<ErrorKind>);

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The payload was empty (Node throws on an empty buffer too).
    #[error("empty input: a serialize-json payload has 4 '^' separators and a structure")]
    EmptyInput,
    /// The payload is larger than this decoder addresses.
    #[error("payload of {len} bytes is too large: at most 2 GiB")]
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// The payload is not UTF-8.
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Fewer than four `^` separators.
    #[error("expected 4 '^' separators, found {found}")]
    MissingSeparators {
        /// How many there were.
        found: usize,
    },
    /// A structure token or integer-dictionary entry is not a base-36 integer.
    #[error("invalid base-36 integer \"{text}\" {location}")]
    InvalidInteger {
        /// The offending text.
        text: String,
        /// Where it was (`at byte 17`, `in the date dictionary`).
        location: String,
    },
    /// A float-dictionary entry is not a number as JavaScript writes them.
    #[error("invalid number \"{text}\" in the float dictionary")]
    InvalidFloat {
        /// The offending text.
        text: String,
    },
    /// A structure token refers past the end of the dictionaries.
    #[error(
        "leaf index {index} out of range: the dictionaries hold {len} entries (at byte {offset})"
    )]
    LeafOutOfRange {
        /// The index written in the structure.
        index: u64,
        /// The number of entries in all four dictionaries.
        len: usize,
        /// Offset of the token in the payload.
        offset: usize,
    },
    /// A negative structure token other than the specials −1 … −5.
    #[error("unknown special token {token} at byte {offset} (expected -1 to -5)")]
    UnknownSpecial {
        /// The token as written.
        token: String,
        /// Offset of the token in the payload.
        offset: usize,
    },
    /// Containers nested deeper than the configured limit.
    #[error("nesting deeper than {max_depth}")]
    TooDeep {
        /// The limit.
        max_depth: usize,
    },
    /// The structure ended where a value was required.
    #[error("unexpected end of input: expected {expected}")]
    UnexpectedEnd {
        /// What was expected.
        expected: &'static str,
    },
    /// A value of the wrong kind for the target type.
    #[error("expected {expected}, found {found} at byte {offset}")]
    UnexpectedValue {
        /// What the target type needs.
        expected: &'static str,
        /// What the payload holds.
        found: &'static str,
        /// Offset of the token in the payload.
        offset: usize,
    },
    /// A number with a fraction where an integer type was asked for.
    #[error("expected {target}, found the fraction {value} at byte {offset}")]
    FractionForInteger {
        /// The integer type asked for (`an integer (i32)`).
        target: &'static str,
        /// The fraction, as JavaScript writes it.
        value: String,
        /// Offset of the token in the payload.
        offset: usize,
    },
    /// More structure after the top-level value.
    #[error("trailing structure after the top-level value at byte {offset}")]
    TrailingStructure {
        /// Offset of the first extra token.
        offset: usize,
    },
    /// A map key that has no string form.
    #[error("map keys must be strings, integers, booleans or chars; found {found}")]
    KeyNotString {
        /// What the key was.
        found: &'static str,
    },
    /// A leaf index beyond what the encoder can address (more than 2^32 leaves).
    #[error("too many leaves: serialize-json payloads are limited to {max} leaves here")]
    TooManyLeaves {
        /// The limit.
        max: u64,
    },
    /// An error reported by a `Serialize` or `Deserialize` implementation.
    #[error("{0}")]
    Custom(String),
}

impl serde::ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::new(ErrorKind::Custom(msg.to_string()))
    }
}

impl serde::de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::new(ErrorKind::Custom(msg.to_string()))
    }
}
