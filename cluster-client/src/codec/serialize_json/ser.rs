//! The encoder: a serde `Serializer` that fills the four dictionaries and writes the
//! structure as it goes.
//!
//! A string leaf's index is known at once (strings are the first dictionary), so it is written
//! straight into the structure, as are containers, `]` and the special tokens. An integer,
//! fraction or date leaf's index depends on the final size of every earlier dictionary: the
//! encoder notes where it goes and writes it when the structure is copied to the output.

use serde::ser::{self, Impossible, Serialize};

use super::error::{Error, ErrorKind};
use super::escape::push_escaped;
use super::number::{self, DoubleForm};
use super::special::{EMPTY_STRING, FALSE, NULL, TRUE, UNDEFINED};
use super::types::{DATE_TOKEN, ERROR_TOKEN};

/// A leaf whose index is only known at the end: which dictionary, and its index there.
#[derive(Debug, Clone, Copy)]
enum Deferred {
    Int(u32),
    Float(u32),
    Date(u32),
}

/// Where a deferred leaf goes in the structure.
#[derive(Debug, Clone, Copy)]
struct Patch {
    /// Offset in the structure buffer.
    at: u32,
    leaf: Deferred,
}

/// What the next value means, announced through a private newtype-struct name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Magic {
    None,
    /// The next `i64` is a date in milliseconds.
    Date,
    /// The next map is an Error block.
    Error,
}

/// A dictionary other than the strings: entries joined by `|`.
#[derive(Default)]
struct Dictionary {
    text: Vec<u8>,
    len: u32,
}

fn too_many_leaves() -> Error {
    Error::new(ErrorKind::TooManyLeaves {
        max: u64::from(u32::MAX),
    })
}

impl Dictionary {
    /// Starts a new entry; returns its index within this dictionary.
    #[inline]
    fn begin_entry(&mut self) -> Result<u32, Error> {
        if self.len > 0 {
            self.text.push(b'|');
        }
        let index = self.len;
        self.len = self.len.checked_add(1).ok_or_else(too_many_leaves)?;
        Ok(index)
    }
}

/// Encoding state. Strings go straight into the output (they are the first section); the
/// other dictionaries and the structure are buffered until the end.
pub(crate) struct Encoder<'o> {
    out: &'o mut Vec<u8>,
    strings: u32,
    ints: Dictionary,
    floats: Dictionary,
    dates: Dictionary,
    /// The structure, without the deferred leaves.
    structure: Vec<u8>,
    patches: Vec<Patch>,
    /// Whether the next token is the first of a container (or of the whole structure), which
    /// takes no `|` before it.
    after_open: bool,
    depth: usize,
    max_depth: usize,
    magic: Magic,
}

/// Buffers above this size are not kept for the next encode on the thread.
const KEEP_CAPACITY: usize = 1 << 20;

/// The encoder's buffers, kept per thread between encodes: an encode then allocates nothing
/// but the output's growth.
#[derive(Default)]
struct Buffers {
    ints: Vec<u8>,
    floats: Vec<u8>,
    dates: Vec<u8>,
    structure: Vec<u8>,
    patches: Vec<Patch>,
}

thread_local! {
    static BUFFERS: std::cell::RefCell<Buffers> = std::cell::RefCell::new(Buffers::default());
    /// What the last large encode on this thread wrote, for the next one to set aside first.
    static LAST_LARGE: std::cell::Cell<Sizes> = const { std::cell::Cell::new(Sizes::NONE) };
}

/// Encodes from this size on remember their sizes: the next encode on the thread reserves them
/// up front, so a large value (a config blob sent again and again) is not moved in memory
/// each time a buffer doubles.
const LARGE: usize = 64 * 1024;

/// The bytes an encode wrote to the output and to each of its buffers.
#[derive(Clone, Copy)]
struct Sizes {
    out: usize,
    ints: usize,
    floats: usize,
    dates: usize,
    structure: usize,
}

impl Sizes {
    const NONE: Sizes = Sizes {
        out: 0,
        ints: 0,
        floats: 0,
        dates: 0,
        structure: 0,
    };

    fn last_large() -> Sizes {
        LAST_LARGE.try_with(|c| c.get()).unwrap_or(Sizes::NONE)
    }

    /// Remembers these sizes if they make a large encode, else forgets the last one.
    fn remember(self) {
        let keep = if self.out >= LARGE { self } else { Sizes::NONE };
        let _ = LAST_LARGE.try_with(|c| c.set(keep));
    }
}

impl Buffers {
    /// Takes this thread's buffers (empty ones when a nested encode already holds them).
    fn take() -> Buffers {
        BUFFERS
            .try_with(|b| std::mem::take(&mut *b.borrow_mut()))
            .unwrap_or_default()
    }

    /// Returns buffers for reuse, unless they grew too large to keep around.
    fn put_back(mut self) {
        let size = self.ints.capacity()
            + self.floats.capacity()
            + self.dates.capacity()
            + self.structure.capacity()
            + self.patches.capacity() * std::mem::size_of::<Patch>();
        if size > KEEP_CAPACITY {
            return;
        }
        self.ints.clear();
        self.floats.clear();
        self.dates.clear();
        self.structure.clear();
        self.patches.clear();
        // Ignored when the thread is shutting down: the buffers are just dropped.
        let _ = BUFFERS.try_with(|b| {
            if let Ok(mut slot) = b.try_borrow_mut() {
                *slot = self;
            }
        });
    }
}

/// Appends the serialize-json encoding of `value` to `out`; on error `out` is left as it was.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    max_depth: usize,
) -> Result<(), Error> {
    let start = out.len();
    let Buffers {
        mut ints,
        mut floats,
        mut dates,
        mut structure,
        patches,
    } = Buffers::take();
    let hint = Sizes::last_large();
    let capacity_before = out.capacity();
    if hint.out > 0 {
        out.reserve(hint.out);
        ints.reserve(hint.ints);
        floats.reserve(hint.floats);
        dates.reserve(hint.dates);
        structure.reserve(hint.structure);
    }
    let mut encoder = Encoder {
        out: &mut *out,
        strings: 0,
        ints: Dictionary { text: ints, len: 0 },
        floats: Dictionary {
            text: floats,
            len: 0,
        },
        dates: Dictionary {
            text: dates,
            len: 0,
        },
        structure,
        patches,
        after_open: true,
        depth: 0,
        max_depth,
        magic: Magic::None,
    };
    let result = value.serialize(&mut encoder);
    let sizes = Sizes {
        out: 0,
        ints: encoder.ints.text.len(),
        floats: encoder.floats.text.len(),
        dates: encoder.dates.text.len(),
        structure: encoder.structure.len(),
    };
    if result.is_ok() {
        encoder.finish();
    }
    Buffers {
        ints: encoder.ints.text,
        floats: encoder.floats.text,
        dates: encoder.dates.text,
        structure: encoder.structure,
        patches: encoder.patches,
    }
    .put_back();
    if result.is_err() {
        out.truncate(start);
    }
    let written = out.len() - start;
    if hint.out > 0 && written < hint.out / 2 && out.capacity() > capacity_before {
        // Set aside for a larger value than this one: give back what this encode added.
        out.shrink_to(capacity_before.max(out.len()));
    }
    Sizes {
        out: written,
        ..sizes
    }
    .remember();
    result
}

impl Encoder<'_> {
    /// Writes the four `^` separators, the other dictionaries and the structure with its
    /// deferred leaves filled in.
    fn finish(&mut self) {
        let Encoder {
            out,
            strings,
            ints,
            floats,
            dates,
            structure,
            patches,
            ..
        } = self;
        out.reserve(
            ints.text.len()
                + floats.text.len()
                + dates.text.len()
                + 4
                + structure.len()
                + patches.len() * 4,
        );
        out.push(b'^');
        out.extend_from_slice(&ints.text);
        out.push(b'^');
        out.extend_from_slice(&floats.text);
        out.push(b'^');
        out.extend_from_slice(&dates.text);
        out.push(b'^');
        let int_base = u64::from(*strings);
        let float_base = int_base + u64::from(ints.len);
        let date_base = float_base + u64::from(floats.len);
        let mut copied = 0;
        for patch in patches.iter() {
            let at = patch.at as usize;
            out.extend_from_slice(&structure[copied..at]);
            copied = at;
            number::push_u64(
                out,
                match patch.leaf {
                    Deferred::Int(i) => int_base + u64::from(i),
                    Deferred::Float(i) => float_base + u64::from(i),
                    Deferred::Date(i) => date_base + u64::from(i),
                },
            );
        }
        out.extend_from_slice(&structure[copied..]);
    }

    /// Children are joined by `|`: a separator goes before every token except the first, a
    /// container's first child, and a `]`. Returns whether this token takes one.
    #[inline]
    fn separated(&mut self) -> bool {
        !std::mem::replace(&mut self.after_open, false)
    }

    /// Writes the separator if needed.
    #[inline]
    fn separator(&mut self) {
        if self.separated() {
            self.structure.push(b'|');
        }
    }

    #[inline]
    fn special(&mut self, kind: u8) {
        if self.separated() {
            self.structure.extend_from_slice(&[b'|', b'-', b'0' + kind]);
        } else {
            self.structure.extend_from_slice(&[b'-', b'0' + kind]);
        }
    }

    #[inline]
    fn string(&mut self, s: &str) -> Result<(), Error> {
        if s.is_empty() {
            self.special(EMPTY_STRING);
            return Ok(());
        }
        if self.strings > 0 {
            self.out.push(b'|');
        }
        push_escaped(self.out, s);
        let separated = self.separated();
        number::push_separated_u64(&mut self.structure, separated, u64::from(self.strings));
        self.strings = self.strings.checked_add(1).ok_or_else(too_many_leaves)?;
        Ok(())
    }

    /// Notes a leaf to be written at the current end of the structure.
    #[inline]
    fn defer(&mut self, leaf: Deferred) -> Result<(), Error> {
        self.separator();
        let at = u32::try_from(self.structure.len()).map_err(|_| too_many_leaves())?;
        self.patches.push(Patch { at, leaf });
        Ok(())
    }

    #[inline]
    fn int_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        let index = self.ints.begin_entry()?;
        write(&mut self.ints.text);
        self.defer(Deferred::Int(index))
    }

    #[inline]
    fn float_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        let index = self.floats.begin_entry()?;
        write(&mut self.floats.text);
        self.defer(Deferred::Float(index))
    }

    fn date(&mut self, millis: i64) -> Result<(), Error> {
        let index = self.dates.begin_entry()?;
        number::push_i64(&mut self.dates.text, millis);
        self.defer(Deferred::Date(index))
    }

    fn f64(&mut self, x: f64) -> Result<(), Error> {
        match number::double_form(x) {
            DoubleForm::Integer => self.int_with(|out| number::push_integral_f64(out, x)),
            DoubleForm::Float => self.float_with(|out| number::push_js_f64(out, x)),
        }
    }

    #[inline]
    fn open(&mut self, kind: u8) -> Result<(), Error> {
        if self.depth >= self.max_depth {
            return Err(Error::new(ErrorKind::TooDeep {
                max_depth: self.max_depth,
            }));
        }
        self.depth += 1;
        // A magic name applies to the value it wraps, not to anything nested inside it.
        self.magic = Magic::None;
        if self.separated() {
            self.structure.extend_from_slice(&[b'|', kind]);
        } else {
            self.structure.push(kind);
        }
        self.after_open = true;
        Ok(())
    }

    #[inline]
    fn close(&mut self) {
        self.depth -= 1;
        self.structure.push(b']');
        self.after_open = false;
    }
}

impl<'a, 'o> ser::Serializer for &'a mut Encoder<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.special(if v { TRUE } else { FALSE });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        if self.magic == Magic::Date {
            self.magic = Magic::None;
            return self.date(v);
        }
        self.int_with(|out| number::push_i64(out, v))
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.int_with(|out| number::push_i128(out, v))
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.int_with(|out| number::push_u64(out, v))
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.int_with(|out| number::push_u128(out, v))
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        match number::double_form(f64::from(v)) {
            DoubleForm::Integer => self.f64(f64::from(v)),
            DoubleForm::Float => self.float_with(|out| number::push_js_f32(out, v)),
        }
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.f64(v)
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v)
    }

    /// A Node `Buffer`: one integer leaf per byte.
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.open(b'*')?;
        for &byte in v {
            self.int_with(|out| number::push_u64(out, u64::from(byte)))?;
        }
        self.close();
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.special(NULL);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    /// `()` is what a Node function returning nothing produces: `undefined`.
    fn serialize_unit(self) -> Result<(), Error> {
        self.special(UNDEFINED);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.string(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.magic = if name == DATE_TOKEN {
            Magic::Date
        } else if name == ERROR_TOKEN {
            Magic::Error
        } else {
            Magic::None
        };
        let result = value.serialize(&mut *self);
        self.magic = Magic::None;
        result
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.open(b'$')?;
        self.string(variant)?;
        value.serialize(&mut *self)?;
        self.close();
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, Error> {
        self.open(b'@')?;
        Ok(self)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, Error> {
        self.open(b'@')?;
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        self.open(b'@')?;
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Error> {
        self.open(b'$')?;
        self.string(variant)?;
        self.open(b'@')?;
        Ok(self)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self, Error> {
        let kind = if self.magic == Magic::Error {
            b'#'
        } else {
            b'$'
        };
        self.open(kind)?;
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        self.open(b'$')?;
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Error> {
        self.open(b'$')?;
        self.string(variant)?;
        self.open(b'$')?;
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut Encoder<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Encoder<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Encoder<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Encoder<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }

    /// Closes the array and the single-key object around it.
    fn end(self) -> Result<(), Error> {
        self.close();
        self.close();
        Ok(())
    }
}

impl ser::SerializeMap for &mut Encoder<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        key.serialize(MapKeySerializer(self))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Encoder<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.string(key)?;
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Encoder<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.string(key)?;
        value.serialize(&mut **self)
    }

    /// Closes the object and the single-key object around it.
    fn end(self) -> Result<(), Error> {
        self.close();
        self.close();
        Ok(())
    }
}

/// Serializes a map key: JavaScript object keys are strings, so integers, booleans and chars
/// are written in their string form (as `serde_json` does) and anything else is refused.
struct MapKeySerializer<'a, 'o>(&'a mut Encoder<'o>);

impl MapKeySerializer<'_, '_> {
    fn display(self, v: impl std::fmt::Display) -> Result<(), Error> {
        self.0.string(&v.to_string())
    }
}

fn key_error(found: &'static str) -> Error {
    Error::new(ErrorKind::KeyNotString { found })
}

impl ser::Serializer for MapKeySerializer<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.0.string(if v { "true" } else { "false" })
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.display(v)
    }

    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(key_error("a float"))
    }

    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(key_error("a float"))
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.0.string(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.string(v)
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_error("bytes"))
    }

    fn serialize_none(self) -> Result<(), Error> {
        Err(key_error("null"))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_error("unit"))
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_error("a unit struct"))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.0.string(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_error("an enum variant with data"))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_error("a sequence"))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_error("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_error("a tuple struct"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_error("an enum variant with data"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_error("a map"))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_error("a struct"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_error("an enum variant with data"))
    }
}
