//! The decoder: splits the payload into its four dictionaries and the structure, then drives
//! serde visitors straight from the structure's tokens.
//!
//! Dictionary entries are parsed lazily, when the structure refers to them, and strings are
//! borrowed from the input unless they contain an escape.

use serde::de::value::{StrDeserializer, U8Deserializer, UnitDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use serde::de::value::MapDeserializer;

use super::error::{Error, ErrorKind};
use super::escape::{unescape_into, unescaped};
use super::number::{self, Integer};
use super::special::{EMPTY_STRING, FALSE, NULL, TRUE, UNDEFINED};
use super::split::{self, Dictionaries, Sections};
use crate::codec::js_value::{JS_DATE_KEY, JS_UNDEFINED_KEY, JS_VALUE_TOKEN};

/// One structure token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// An index into the dictionaries (already checked to be in range).
    Leaf(usize),
    /// `-1` … `-5`.
    Special(u8),
    /// `@`, `$`, `*` or `#`.
    Open(u8),
    /// `]`.
    Close,
    /// The structure is exhausted.
    End,
}

/// [`STRUCTURE_CLASS`] of the bytes that end a token: `|`, `@`, `$`, `*`, `#` and `]`.
const DELIMITER: u8 = 36;
/// [`STRUCTURE_CLASS`] of every other byte that is not a base-36 digit.
const OTHER: u8 = 37;

/// What each byte is in the structure: a base-36 digit's value (either case), [`DELIMITER`]
/// or [`OTHER`].
static STRUCTURE_CLASS: [u8; 256] = {
    let mut table = [OTHER; 256];
    let mut i = 0;
    while i < 256 {
        if number::DIGIT_VALUES[i] != number::NOT_A_DIGIT {
            table[i] = number::DIGIT_VALUES[i];
        }
        i += 1;
    }
    let delimiters = *b"|@$*#]";
    let mut i = 0;
    while i < delimiters.len() {
        table[delimiters[i] as usize] = DELIMITER;
        i += 1;
    }
    table
};

/// Which dictionary a leaf lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeafKind {
    // The values are the dictionaries' numbers in `Dictionaries::range`.
    Str = 0,
    Int = 1,
    Float = 2,
    Date = 3,
}

/// Decoding state over one payload.
pub(crate) struct Decoder<'de> {
    input: &'de str,
    /// Every dictionary entry: strings, then integers, floats, dates.
    dictionaries: Dictionaries,
    strings_end: usize,
    ints_end: usize,
    floats_end: usize,
    /// Current offset in `input` (inside the structure).
    pos: usize,
    /// Offset of the last token read, for error messages.
    token_start: usize,
    depth: usize,
    max_depth: usize,
    /// Where escaped strings are unescaped; reused across strings.
    scratch: String,
}

/// Decodes one value from the whole of `bytes`.
pub(crate) fn decode<'de, T: de::Deserialize<'de>>(
    bytes: &'de [u8],
    max_depth: usize,
) -> Result<T, Error> {
    let mut decoder = Decoder::new(bytes, max_depth, Buffers::take())?;
    let result = T::deserialize(&mut decoder).and_then(|value| decoder.end().map(|()| value));
    Buffers {
        dictionaries: decoder.dictionaries,
        scratch: decoder.scratch,
    }
    .put_back();
    result
}

/// Buffers above this size are not kept for the next decode on the thread.
const KEEP_CAPACITY: usize = 1 << 20;

/// The decoder's buffers, kept per thread between decodes so that a decode allocates only
/// what the target type needs.
#[derive(Default)]
struct Buffers {
    dictionaries: Dictionaries,
    scratch: String,
}

thread_local! {
    static BUFFERS: std::cell::RefCell<Buffers> = std::cell::RefCell::new(Buffers::default());
}

impl Buffers {
    /// Takes this thread's buffers (empty ones when a nested decode already holds them).
    fn take() -> Buffers {
        BUFFERS
            .try_with(|b| std::mem::take(&mut *b.borrow_mut()))
            .unwrap_or_default()
    }

    /// Returns buffers for reuse, unless they grew too large to keep around.
    fn put_back(mut self) {
        if self.dictionaries.capacity_bytes() + self.scratch.capacity() > KEEP_CAPACITY {
            return;
        }
        self.dictionaries.clear();
        self.scratch.clear();
        // Ignored when the thread is shutting down: the buffers are just dropped.
        let _ = BUFFERS.try_with(|b| {
            if let Ok(mut slot) = b.try_borrow_mut() {
                *slot = self;
            }
        });
    }
}

/// The error for nesting deeper than `max_depth`.
#[cold]
#[inline(never)]
pub(super) fn too_deep(max_depth: usize) -> Error {
    Error::new(ErrorKind::TooDeep { max_depth })
}

fn describe_leaf(kind: LeafKind) -> &'static str {
    match kind {
        LeafKind::Str => "a string",
        LeafKind::Int => "an integer",
        LeafKind::Float => "a fraction",
        LeafKind::Date => "a date",
    }
}

impl<'de> Decoder<'de> {
    fn new(bytes: &'de [u8], max_depth: usize, buffers: Buffers) -> Result<Self, Error> {
        if bytes.is_empty() {
            return Err(Error::new(ErrorKind::EmptyInput));
        }
        let input = std::str::from_utf8(bytes).map_err(|e| {
            Error::new(ErrorKind::InvalidUtf8 {
                offset: e.valid_up_to(),
            })
        })?;
        // Offsets are stored as u32 to halve the entry table.
        if bytes.len() > split::MAX_LEN {
            return Err(Error::new(ErrorKind::TooLarge { len: bytes.len() }));
        }
        // The table grows with the separators present, never from a number written in the input.
        let Buffers {
            mut dictionaries,
            scratch,
        } = buffers;
        let Sections {
            ends: section_ends,
            structure_start,
        } = dictionaries
            .split(bytes)
            .map_err(|found| Error::new(ErrorKind::MissingSeparators { found }))?;
        let [strings_end, ints_end, floats_end, _] = section_ends;
        Ok(Decoder {
            input,
            dictionaries,
            strings_end,
            ints_end,
            floats_end,
            pos: structure_start,
            token_start: structure_start,
            depth: 0,
            max_depth,
            scratch,
        })
    }

    /// Checks that nothing but separators follows the top-level value.
    fn end(&mut self) -> Result<(), Error> {
        match self.next_token()? {
            Token::End => Ok(()),
            _ => Err(Error::new(ErrorKind::TrailingStructure {
                offset: self.token_start,
            })),
        }
    }

    /// Skips `|` separators; returns the next byte without consuming it.
    #[inline]
    fn peek_byte(&mut self) -> Option<u8> {
        let bytes = self.input.as_bytes();
        let mut pos = self.pos;
        let next = loop {
            match bytes.get(pos) {
                Some(b'|') => pos += 1,
                other => break other.copied(),
            }
        };
        self.pos = pos;
        next
    }

    /// Whether the current container is over: at `]` (not consumed) or at the end of input
    /// (Node's decoder ends open containers there too).
    #[inline]
    fn at_container_end(&mut self) -> bool {
        matches!(self.peek_byte(), None | Some(b']'))
    }

    /// Reads the next token.
    ///
    /// The common tokens (a container mark, `]`, an index of up to 12 digits, `-1` … `-5`)
    /// are read here; everything else, including every malformed token, by
    /// [`Self::next_token_slow`].
    #[inline(always)]
    fn next_token(&mut self) -> Result<Token, Error> {
        let bytes = self.input.as_bytes();
        let mut pos = self.pos;
        let first = loop {
            match bytes.get(pos) {
                Some(b'|') => pos += 1,
                Some(&b) => break b,
                None => {
                    self.pos = pos;
                    self.token_start = pos;
                    return Ok(Token::End);
                }
            }
        };
        self.token_start = pos;
        let class = STRUCTURE_CLASS[usize::from(first)];
        if class < DELIMITER {
            // An index. 12 digits always fit (36^12 < 2^63); longer ones take the slow path,
            // so the wrapping arithmetic never yields a wrong index.
            let mut index = u64::from(class);
            let mut end = pos + 1;
            loop {
                let class = bytes
                    .get(end)
                    .map_or(DELIMITER, |&c| STRUCTURE_CLASS[usize::from(c)]);
                if class >= DELIMITER {
                    if class == DELIMITER && end - pos <= 12 {
                        self.pos = end;
                        return self.leaf(index);
                    }
                    break;
                }
                index = index.wrapping_mul(36).wrapping_add(u64::from(class));
                end += 1;
            }
            return self.next_token_slow(pos);
        }
        match first {
            b'@' | b'$' | b'*' | b'#' => {
                self.pos = pos + 1;
                return Ok(Token::Open(first));
            }
            b']' => {
                self.pos = pos + 1;
                return Ok(Token::Close);
            }
            b'-' => {
                let special = bytes.get(pos + 1).copied().unwrap_or(0);
                let after = bytes
                    .get(pos + 2)
                    .map_or(DELIMITER, |&c| STRUCTURE_CLASS[usize::from(c)]);
                if (b'1'..=b'5').contains(&special) && after == DELIMITER {
                    self.pos = pos + 2;
                    return Ok(Token::Special(special - b'0'));
                }
            }
            _ => {}
        }
        self.next_token_slow(pos)
    }

    /// Reads the token at `start` when it is not one of the common forms: long indices,
    /// `-0`, and the malformed ones, which get an error naming them.
    #[cold]
    #[inline(never)]
    fn next_token_slow(&mut self, start: usize) -> Result<Token, Error> {
        let bytes = self.input.as_bytes();
        let mut end = start;
        while let Some(&c) = bytes.get(end) {
            if matches!(c, b'|' | b'@' | b'$' | b'*' | b'#' | b']') {
                break;
            }
            end += 1;
        }
        self.pos = end;
        let text = &bytes[start..end];
        let invalid = || {
            Error::new(ErrorKind::InvalidInteger {
                text: String::from_utf8_lossy(text).into_owned(),
                location: format!("at byte {start}"),
            })
        };
        if let Some(rest) = text.strip_prefix(b"-") {
            return match rest {
                [d @ b'1'..=b'5'] => Ok(Token::Special(d - b'0')),
                // `-0` is index 0 to `parseInt` as well.
                [b'0'] => self.leaf(0),
                _ if number::parse_base36(text).is_some() => {
                    Err(Error::new(ErrorKind::UnknownSpecial {
                        token: String::from_utf8_lossy(text).into_owned(),
                        offset: start,
                    }))
                }
                _ => Err(invalid()),
            };
        }
        match number::parse_base36(text) {
            Some(Integer::I64(index)) => self.leaf(index.unsigned_abs()),
            Some(Integer::U64(index)) => self.leaf(index),
            Some(_) => self.leaf(u64::MAX),
            None => Err(invalid()),
        }
    }

    #[inline]
    fn leaf(&self, index: u64) -> Result<Token, Error> {
        match usize::try_from(index) {
            Ok(i) if i < self.dictionaries.len() => Ok(Token::Leaf(i)),
            _ => Err(self.leaf_out_of_range(index)),
        }
    }

    #[cold]
    #[inline(never)]
    fn leaf_out_of_range(&self, index: u64) -> Error {
        Error::new(ErrorKind::LeafOutOfRange {
            index,
            len: self.dictionaries.len(),
            offset: self.token_start,
        })
    }

    fn peek_token(&mut self) -> Result<Token, Error> {
        let (pos, token_start) = (self.pos, self.token_start);
        let token = self.next_token();
        self.pos = pos;
        self.token_start = token_start;
        token
    }

    #[inline]
    fn kind(&self, index: usize) -> LeafKind {
        if index < self.strings_end {
            LeafKind::Str
        } else if index < self.ints_end {
            LeafKind::Int
        } else if index < self.floats_end {
            LeafKind::Float
        } else {
            LeafKind::Date
        }
    }

    /// The text of entry `index`.
    #[inline]
    fn entry(&self, index: usize) -> &'de str {
        let input: &'de str = self.input;
        // Entries are split at ASCII `|`/`^`, so both ends are char boundaries.
        self.dictionaries
            .range(self.kind(index) as usize, index)
            .and_then(|range| input.get(range))
            .unwrap_or("")
    }

    /// The text of entry `index` and whether it contains `+` or `%` (only then can a string
    /// entry need unescaping).
    #[inline]
    fn string_entry(&self, index: usize) -> (&'de str, bool) {
        let input: &'de str = self.input;
        // Entries are split at ASCII `|`/`^`, so both ends are char boundaries.
        // Only called for string leaves.
        self.dictionaries
            .string_range(index)
            .and_then(|range| Some((input.get(range.clone())?, self.dictionaries.escaped(&range))))
            .unwrap_or(("", false))
    }

    fn describe(&self, token: Token) -> &'static str {
        match token {
            Token::Leaf(i) => describe_leaf(self.kind(i)),
            Token::Special(TRUE | FALSE) => "a boolean",
            Token::Special(NULL) => "null",
            Token::Special(EMPTY_STRING) => "a string",
            Token::Special(_) => "undefined",
            Token::Open(b'@') => "an array",
            Token::Open(b'$') => "an object",
            Token::Open(b'*') => "a buffer",
            Token::Open(_) => "an error",
            Token::Close => "']'",
            Token::End => "the end of input",
        }
    }

    #[cold]
    #[inline(never)]
    fn unexpected(&self, expected: &'static str, token: Token) -> Error {
        if token == Token::End {
            return Error::new(ErrorKind::UnexpectedEnd { expected });
        }
        Error::new(ErrorKind::UnexpectedValue {
            expected,
            found: self.describe(token),
            offset: self.token_start,
        })
    }

    /// The integer in integer or date entry `index`.
    #[inline]
    fn integer(&self, index: usize) -> Result<Integer, Error> {
        let text = self.entry(index);
        number::parse_base36(text.as_bytes()).ok_or_else(|| {
            Error::new(ErrorKind::InvalidInteger {
                text: text.to_owned(),
                location: match self.kind(index) {
                    LeafKind::Date => {
                        format!("in date dictionary entry {}", index - self.floats_end)
                    }
                    _ => format!("in integer dictionary entry {}", index - self.strings_end),
                },
            })
        })
    }

    /// The number in float entry `index`.
    #[inline]
    fn float(&self, index: usize) -> Result<f64, Error> {
        let text = self.entry(index);
        number::parse_js_float(text).ok_or_else(|| {
            Error::new(ErrorKind::InvalidFloat {
                text: text.to_owned(),
            })
        })
    }

    /// Any numeric leaf as a double.
    #[inline]
    fn number_f64(&self, index: usize) -> Result<f64, Error> {
        match self.kind(index) {
            LeafKind::Float => self.float(index),
            _ => self.integer(index).map(Integer::to_f64),
        }
    }

    #[inline]
    fn enter(&mut self) -> Result<(), Error> {
        if self.depth >= self.max_depth {
            return Err(too_deep(self.max_depth));
        }
        self.depth += 1;
        Ok(())
    }

    /// Consumes the `]` (or end of input) that closes the current container.
    #[inline]
    fn leave(&mut self, what: &'static str) -> Result<(), Error> {
        self.depth -= 1;
        match self.peek_byte() {
            Some(b']') => {
                self.pos += 1;
                Ok(())
            }
            None => Ok(()),
            Some(_) => Err(self.more_elements(what)),
        }
    }

    /// The error for a container with more children than its type takes.
    #[cold]
    fn more_elements(&mut self, what: &'static str) -> Error {
        self.token_start = self.pos;
        Error::new(ErrorKind::UnexpectedValue {
            expected: what,
            found: "more elements",
            offset: self.pos,
        })
    }

    /// Visits string leaf `index`, borrowed from the input unless it has escapes.
    fn visit_string<V: Visitor<'de>>(
        &mut self,
        index: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (text, escaped) = self.string_entry(index);
        if escaped {
            self.scratch.clear();
            unescape_into(&mut self.scratch, text);
            visitor.visit_str(&self.scratch)
        } else {
            visitor.visit_borrowed_str(text)
        }
    }

    /// Visits string leaf `index` for a target that takes ownership (`String`, self-describing
    /// values): borrowed from the input unless it has escapes, and then unescaped straight
    /// into the `String` handed over, with no copy through the scratch buffer.
    fn visit_owned_string<V: Visitor<'de>>(
        &mut self,
        index: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (text, escaped) = self.string_entry(index);
        if escaped {
            visitor.visit_string(unescaped(text))
        } else {
            visitor.visit_borrowed_str(text)
        }
    }

    /// Visits an integer the way `deserialize_any` sees it: within 64 bits exactly, beyond as
    /// JavaScript's double (so `serde_json::Value` and other self-describing targets work).
    fn visit_integer_any<V: Visitor<'de>>(
        &self,
        index: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.integer(index)? {
            Integer::I64(v) => visitor.visit_i64(v),
            Integer::U64(v) => visitor.visit_u64(v),
            wide => visitor.visit_f64(wide.to_f64()),
        }
    }

    /// `deserialize_any` for [`JsValue`](crate::codec::JsValue), keeping apart what serde's
    /// data model merges: `null` (none) from `undefined`, dates from numbers, buffers from
    /// arrays. Dates and `undefined` arrive as one-entry maps under private keys.
    fn deserialize_js_value<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        match self.peek_token()? {
            Token::Leaf(i) if self.kind(i) == LeafKind::Date => {
                self.next_token()?;
                let millis = match self.integer(i)? {
                    Integer::I64(v) => v,
                    Integer::U64(v) => i64::try_from(v).unwrap_or(i64::MAX),
                    wide => wide.to_f64() as i64,
                };
                visitor.visit_map(MapDeserializer::new(std::iter::once((JS_DATE_KEY, millis))))
            }
            Token::Special(NULL) => {
                self.next_token()?;
                visitor.visit_none()
            }
            Token::Special(UNDEFINED) => {
                self.next_token()?;
                visitor.visit_map(MapDeserializer::new(std::iter::once((
                    JS_UNDEFINED_KEY,
                    true,
                ))))
            }
            Token::Open(b'*') => de::Deserializer::deserialize_bytes(&mut *self, visitor),
            _ => de::Deserializer::deserialize_any(&mut *self, visitor),
        }
    }

    fn visit_container<V: Visitor<'de>>(
        &mut self,
        kind: u8,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.enter()?;
        let (value, what) = match kind {
            b'@' => (
                visitor.visit_seq(Elements { de: self })?,
                "']' closing the array",
            ),
            b'*' => (
                visitor.visit_seq(BufferBytes { de: self })?,
                "']' closing the buffer",
            ),
            _ => (
                visitor.visit_map(Entries { de: self })?,
                "']' closing the object",
            ),
        };
        self.leave(what)?;
        Ok(value)
    }

    /// Reads a buffer's bytes after its `*`.
    fn buffer_bytes(&mut self) -> Result<Vec<u8>, Error> {
        self.enter()?;
        let mut bytes = Vec::new();
        while !self.at_container_end() {
            bytes.push(self.next_byte()?);
        }
        self.leave("']' closing the buffer")?;
        Ok(bytes)
    }

    /// Reads one buffer element: an integer leaf from 0 to 255.
    fn next_byte(&mut self) -> Result<u8, Error> {
        let token = self.next_token()?;
        if let Token::Leaf(i) = token {
            if self.kind(i) == LeafKind::Int {
                if let Integer::I64(v) = self.integer(i)? {
                    if let Ok(byte) = u8::try_from(v) {
                        return Ok(byte);
                    }
                }
            }
        }
        Err(Error::new(ErrorKind::UnexpectedValue {
            expected: "a byte (an integer from 0 to 255) in a buffer",
            found: self.describe(token),
            offset: self.token_start,
        }))
    }

    /// Skips one value without building anything.
    fn skip_value(&mut self) -> Result<(), Error> {
        match self.next_token()? {
            Token::Leaf(_) | Token::Special(_) => Ok(()),
            Token::Open(_) => {
                self.enter()?;
                while !self.at_container_end() {
                    self.skip_value()?;
                }
                self.leave("']'")
            }
            token => Err(self.unexpected("a value", token)),
        }
    }

    /// Deserializes into an integer type named `target`.
    fn deserialize_integer<V: Visitor<'de>>(
        &mut self,
        visitor: V,
        target: &'static str,
    ) -> Result<V::Value, Error> {
        let token = self.next_token()?;
        let Token::Leaf(i) = token else {
            return Err(self.unexpected(target, token));
        };
        let kind = self.kind(i);
        if kind == LeafKind::Int {
            if let Some(v) = number::parse_base36_short(self.entry(i).as_bytes()) {
                return visitor.visit_i64(v);
            }
        }
        match kind {
            LeafKind::Int | LeafKind::Date => match self.integer(i)? {
                Integer::I64(v) => visitor.visit_i64(v),
                Integer::U64(v) => visitor.visit_u64(v),
                Integer::I128(v) => visitor.visit_i128(v),
                Integer::F64(v) => visitor.visit_f64(v),
            },
            LeafKind::Float => {
                let v = self.float(i)?;
                if v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64 {
                    // Not something Node writes, but an integral double is still an integer.
                    visitor.visit_i64(v as i64)
                } else {
                    Err(Error::new(ErrorKind::FractionForInteger {
                        target,
                        value: self.entry(i).to_owned(),
                        offset: self.token_start,
                    }))
                }
            }
            LeafKind::Str => Err(self.unexpected(target, token)),
        }
    }
}

macro_rules! integer_methods {
    ($($method:ident => $target:literal),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                self.deserialize_integer(visitor, $target)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let token = self.next_token()?;
        match token {
            Token::Leaf(i) => match self.kind(i) {
                LeafKind::Str => self.visit_owned_string(i, visitor),
                LeafKind::Int | LeafKind::Date => self.visit_integer_any(i, visitor),
                LeafKind::Float => visitor.visit_f64(self.float(i)?),
            },
            Token::Special(TRUE) => visitor.visit_bool(true),
            Token::Special(FALSE) => visitor.visit_bool(false),
            Token::Special(EMPTY_STRING) => visitor.visit_borrowed_str(""),
            Token::Special(_) => visitor.visit_unit(),
            Token::Open(kind) => self.visit_container(kind, visitor),
            token => Err(self.unexpected("a value", token)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next_token()? {
            Token::Special(TRUE) => visitor.visit_bool(true),
            Token::Special(FALSE) => visitor.visit_bool(false),
            token => Err(self.unexpected("a boolean", token)),
        }
    }

    integer_methods! {
        deserialize_i8 => "an integer (i8)",
        deserialize_i16 => "an integer (i16)",
        deserialize_i32 => "an integer (i32)",
        deserialize_i64 => "an integer (i64)",
        deserialize_i128 => "an integer (i128)",
        deserialize_u8 => "an integer (u8)",
        deserialize_u16 => "an integer (u16)",
        deserialize_u32 => "an integer (u32)",
        deserialize_u64 => "an integer (u64)",
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // Values beyond i128 only fit a u128 exactly when parsed as one.
        if let Token::Leaf(i) = self.peek_token()? {
            if self.kind(i) == LeafKind::Int {
                if let Some(v) = number::parse_base36_u128(self.entry(i).as_bytes()) {
                    self.next_token()?;
                    return visitor.visit_u128(v);
                }
            }
        }
        self.deserialize_integer(visitor, "an integer (u128)")
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next_token()? {
            Token::Leaf(i) if self.kind(i) != LeafKind::Str => {
                visitor.visit_f64(self.number_f64(i)?)
            }
            token => Err(self.unexpected("a number", token)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next_token()? {
            Token::Leaf(i) if self.kind(i) == LeafKind::Str => self.visit_string(i, visitor),
            Token::Special(EMPTY_STRING) => visitor.visit_borrowed_str(""),
            token => Err(self.unexpected("a string", token)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next_token()? {
            Token::Leaf(i) if self.kind(i) == LeafKind::Str => self.visit_owned_string(i, visitor),
            Token::Special(EMPTY_STRING) => visitor.visit_borrowed_str(""),
            token => Err(self.unexpected("a string", token)),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next_token()? {
            Token::Open(b'*') => visitor.visit_byte_buf(self.buffer_bytes()?),
            Token::Open(b'@') => self.visit_container(b'@', visitor),
            Token::Leaf(i) if self.kind(i) == LeafKind::Str => {
                let (text, escaped) = self.string_entry(i);
                if escaped {
                    self.scratch.clear();
                    unescape_into(&mut self.scratch, text);
                    visitor.visit_bytes(self.scratch.as_bytes())
                } else {
                    visitor.visit_borrowed_bytes(text.as_bytes())
                }
            }
            Token::Special(EMPTY_STRING) => visitor.visit_borrowed_bytes(b""),
            token => Err(self.unexpected("a buffer", token)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek_token()? {
            Token::Special(NULL | UNDEFINED) => {
                self.next_token()?;
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next_token()? {
            Token::Special(NULL | UNDEFINED) => visitor.visit_unit(),
            token => Err(self.unexpected("null or undefined", token)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == JS_VALUE_TOKEN {
            return self.deserialize_js_value(visitor);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next_token()? {
            Token::Open(kind @ (b'@' | b'*')) => self.visit_container(kind, visitor),
            token => Err(self.unexpected("an array", token)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next_token()? {
            Token::Open(kind @ (b'$' | b'#')) => self.visit_container(kind, visitor),
            token => Err(self.unexpected("an object", token)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.next_token()? {
            // An array fills the fields in order, as with serde_json.
            Token::Open(kind @ (b'$' | b'#' | b'@')) => self.visit_container(kind, visitor),
            token => Err(self.unexpected("an object", token)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.next_token()? {
            Token::Leaf(i) if self.kind(i) == LeafKind::Str => {
                let (text, escaped) = self.string_entry(i);
                if escaped {
                    self.scratch.clear();
                    unescape_into(&mut self.scratch, text);
                    let variant: StrDeserializer<'_, Error> =
                        self.scratch.as_str().into_deserializer();
                    visitor.visit_enum(variant)
                } else {
                    let variant: StrDeserializer<'_, Error> = text.into_deserializer();
                    visitor.visit_enum(variant)
                }
            }
            Token::Special(EMPTY_STRING) => {
                visitor.visit_enum(IntoDeserializer::<Error>::into_deserializer(""))
            }
            Token::Open(b'$') => {
                self.enter()?;
                let value = visitor.visit_enum(Variant { de: &mut *self })?;
                self.leave("']' closing the single-key object of an enum variant")?;
                Ok(value)
            }
            token => Err(self.unexpected("an enum (a string or a single-key object)", token)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip_value()?;
        visitor.visit_unit()
    }
}

/// The elements of an array.
struct Elements<'a, 'de> {
    de: &'a mut Decoder<'de>,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.de.at_container_end() {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// The bytes of a buffer, seen as a sequence of `u8` (for `Vec<u8>` and self-describing
/// targets such as `serde_json::Value`).
struct BufferBytes<'a, 'de> {
    de: &'a mut Decoder<'de>,
}

impl<'de> de::SeqAccess<'de> for BufferBytes<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.de.at_container_end() {
            return Ok(None);
        }
        let byte = self.de.next_byte()?;
        seed.deserialize(U8Deserializer::<Error>::new(byte))
            .map(Some)
    }
}

/// The key/value pairs of an object or Error block.
struct Entries<'a, 'de> {
    de: &'a mut Decoder<'de>,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.de.at_container_end() {
            return Ok(None);
        }
        seed.deserialize(MapKey { de: &mut *self.de }).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        if self.de.at_container_end() {
            // An odd number of children: Node assigns `undefined` to the last key.
            return seed.deserialize(UnitDeserializer::<Error>::new());
        }
        seed.deserialize(&mut *self.de)
    }
}

/// The variant of an enum written as a single-key object.
struct Variant<'a, 'de> {
    de: &'a mut Decoder<'de>,
}

impl<'de> de::EnumAccess<'de> for Variant<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Error> {
        let variant = seed.deserialize(MapKey { de: &mut *self.de })?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        if self.de.at_container_end() {
            return Ok(());
        }
        de::Deserialize::deserialize(&mut *self.de)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(&mut *self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(&mut *self.de, "", fields, visitor)
    }
}

/// An object key. Keys are strings in JavaScript; integer, float and boolean targets parse the
/// string, as with `serde_json` (`HashMap<u32, _>` works).
struct MapKey<'a, 'de> {
    de: &'a mut Decoder<'de>,
}

impl MapKey<'_, '_> {
    /// The key's text when the next token is a string leaf; the token is consumed only then.
    fn string_key(&mut self) -> Result<Option<String>, Error> {
        match self.de.peek_token()? {
            Token::Leaf(i) if self.de.kind(i) == LeafKind::Str => {
                self.de.next_token()?;
                let mut key = String::new();
                unescape_into(&mut key, self.de.entry(i));
                Ok(Some(key))
            }
            _ => Ok(None),
        }
    }

    fn parse_error(&self, key: &str, target: &'static str) -> Error {
        Error::new(ErrorKind::Custom(format!(
            "object key \"{key}\" at byte {} is not {target}",
            self.de.token_start
        )))
    }
}

macro_rules! key_number_methods {
    ($($method:ident: $ty:ty => $visit:ident, $target:literal;)*) => {
        $(
            fn $method<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error> {
                match self.string_key()? {
                    Some(key) => match key.parse::<$ty>() {
                        Ok(v) => visitor.$visit(v),
                        Err(_) => Err(self.parse_error(&key, $target)),
                    },
                    None => de::Deserializer::$method(self.de, visitor),
                }
            }
        )*
    };
}

macro_rules! key_forward_methods {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                de::Deserializer::$method(self.de, visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for MapKey<'_, 'de> {
    type Error = Error;

    key_number_methods! {
        deserialize_bool: bool => visit_bool, "a boolean";
        deserialize_i8: i8 => visit_i8, "an i8";
        deserialize_i16: i16 => visit_i16, "an i16";
        deserialize_i32: i32 => visit_i32, "an i32";
        deserialize_i64: i64 => visit_i64, "an i64";
        deserialize_i128: i128 => visit_i128, "an i128";
        deserialize_u8: u8 => visit_u8, "a u8";
        deserialize_u16: u16 => visit_u16, "a u16";
        deserialize_u32: u32 => visit_u32, "a u32";
        deserialize_u64: u64 => visit_u64, "a u64";
        deserialize_u128: u128 => visit_u128, "a u128";
        deserialize_f32: f32 => visit_f32, "an f32";
        deserialize_f64: f64 => visit_f64, "an f64";
    }

    key_forward_methods! {
        deserialize_any, deserialize_char, deserialize_str, deserialize_string, deserialize_bytes,
        deserialize_byte_buf, deserialize_option, deserialize_unit, deserialize_seq, deserialize_map,
        deserialize_identifier, deserialize_ignored_any,
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_unit_struct(self.de, name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        // Keep key semantics for the wrapped type (`struct Id(u32)` as a key).
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple(self.de, len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple_struct(self.de, name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self.de, name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_enum(self.de, name, variants, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_split_across_word_boundaries() {
        let text = "a-long-first-entry|b|c-is-also-quite-long^7|A^^^@0|1|2|3|4]";
        let value: Vec<serde_json::Value> = decode(text.as_bytes(), 8).unwrap_or_default();
        assert_eq!(
            value,
            serde_json::json!(["a-long-first-entry", "b", "c-is-also-quite-long", 7, 10])
                .as_array()
                .cloned()
                .unwrap_or_default()
        );
    }
}
