//! Argument lists as Rust tuples: `(a, b)` ↔ the wire's length-prefixed list.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{CodecError, Direction, PayloadCodec};
use crate::protocol::{ArgsReader, ArgsWriter};

/// A tuple of arguments that can be encoded into an invoke payload: `()`, `(a,)`, `(a, b)`, ...
/// of `Serialize` values. Sealed: the tuples are all it is for.
pub trait EncodeArgs: sealed::Tuple {
    /// How many arguments.
    const COUNT: u32;
    /// Appends each argument to `w`.
    #[doc(hidden)]
    fn encode_args(&self, codec: &PayloadCodec, w: &mut ArgsWriter<'_>) -> Result<(), CodecError>;
}

mod sealed {
    /// The tuples [`EncodeArgs`](super::EncodeArgs) is implemented for.
    pub trait Tuple {}
}

/// A tuple of arguments that can be decoded from an invoke payload.
pub trait DecodeArgs: Sized {
    /// How many arguments.
    const COUNT: u32;
    /// Reads `COUNT` arguments with JavaScript's meaning (see [`ArgDecoder`]): a missing one
    /// is `undefined`, extra ones are ignored.
    fn decode_args(codec: &PayloadCodec, r: ArgsReader<'_>) -> Result<Self, CodecError>;
}

fn args_error(message: impl std::fmt::Display) -> CodecError {
    CodecError::new("arguments", Direction::Decode, message)
}

/// Reads an invoke's arguments one by one, with JavaScript's meaning, as a Node leader passes
/// them to the real method: an argument the caller did not send is `undefined` (so an
/// `Option<T>`, a [`JsValue`](crate::codec::JsValue) or `()` parameter takes it, and any other
/// type is an error naming the parameter), and arguments beyond the last parameter are ignored.
#[derive(Debug)]
pub struct ArgDecoder<'a> {
    reader: ArgsReader<'a>,
    codec: &'a PayloadCodec,
    /// How many arguments the caller sent.
    given: u32,
    index: u32,
}

impl<'a> ArgDecoder<'a> {
    /// A decoder over an argument list read by `reader`.
    pub fn new(codec: &'a PayloadCodec, reader: ArgsReader<'a>) -> Self {
        Self {
            given: reader.remaining(),
            reader,
            codec,
            index: 0,
        }
    }

    fn describe(&self, name: &str) -> String {
        if name.is_empty() {
            format!("argument {}", self.index)
        } else {
            format!("argument {} (`{name}`)", self.index)
        }
    }

    /// The next argument, named `name` in errors (`""` for none).
    pub fn next<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, CodecError> {
        let what = self.describe(name);
        let arg = self.reader.next_arg().map_err(args_error)?;
        self.index += 1;
        match arg {
            Some(bytes) => self
                .codec
                .decode::<T>(bytes)
                .map_err(|e| args_error(format_args!("{what}: {e}"))),
            None => {
                let mut undefined = Vec::new();
                self.codec
                    .encode(&(), &mut undefined)
                    .and_then(|()| self.codec.decode::<T>(&undefined))
                    .map_err(|_| {
                        args_error(format_args!(
                            "{what} is missing: the caller sent {} argument(s), and a missing argument is `undefined`, which {} cannot hold",
                            self.given,
                            std::any::type_name::<T>()
                        ))
                    })
            }
        }
    }

    /// Every argument left, as a rest parameter (`...args` in JavaScript).
    pub fn rest<T: DeserializeOwned>(&mut self, name: &str) -> Result<Vec<T>, CodecError> {
        let mut all = Vec::with_capacity(self.reader.remaining().min(1024) as usize);
        while self.reader.remaining() > 0 {
            all.push(self.next::<T>(name)?);
        }
        Ok(all)
    }

    /// Ends the list: arguments beyond the last parameter are ignored (their framing is still
    /// checked). Returns how many were ignored.
    pub fn finish(mut self) -> Result<u32, CodecError> {
        let mut extra = 0;
        while self.reader.next_arg().map_err(args_error)?.is_some() {
            extra += 1;
        }
        if extra > 0 {
            tracing::debug!(extra, "ignoring arguments beyond the method's parameters");
        }
        Ok(extra)
    }
}

/// Writes an invoke's arguments one by one (the other side of [`ArgDecoder`]).
#[derive(Debug)]
pub struct ArgEncoder<'a, 'b> {
    writer: ArgsWriter<'b>,
    codec: &'a PayloadCodec,
}

impl<'a, 'b> ArgEncoder<'a, 'b> {
    /// An encoder appending to `out`.
    pub fn new(codec: &'a PayloadCodec, out: &'b mut Vec<u8>) -> Self {
        Self {
            writer: ArgsWriter::new(out),
            codec,
        }
    }

    /// Appends one argument.
    pub fn arg<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        let codec = self.codec;
        self.writer.push(|out| codec.encode(value, out))
    }

    /// Appends each element as an argument of its own (a rest parameter).
    pub fn rest<T: Serialize>(&mut self, values: &[T]) -> Result<(), CodecError> {
        values.iter().try_for_each(|v| self.arg(v))
    }
}

macro_rules! tuple_args {
    ($count:expr; $($name:ident $idx:tt),*) => {
        impl<$($name: Serialize),*> sealed::Tuple for ($($name,)*) {}

        impl<$($name: Serialize),*> EncodeArgs for ($($name,)*) {
            const COUNT: u32 = $count;
            #[allow(unused_variables)]
            fn encode_args(&self, codec: &PayloadCodec, w: &mut ArgsWriter<'_>) -> Result<(), CodecError> {
                $( w.push(|out| codec.encode(&self.$idx, out))?; )*
                Ok(())
            }
        }

        impl<$($name: DeserializeOwned),*> DecodeArgs for ($($name,)*) {
            const COUNT: u32 = $count;
            #[allow(unused_variables, unused_mut)]
            fn decode_args(codec: &PayloadCodec, r: ArgsReader<'_>) -> Result<Self, CodecError> {
                let mut args = ArgDecoder::new(codec, r);
                let value = ($( args.next::<$name>("")?, )*);
                args.finish()?;
                Ok(value)
            }
        }
    };
}
tuple_args!(0;);
tuple_args!(1; A 0);
tuple_args!(2; A 0, B 1);
tuple_args!(3; A 0, B 1, C 2);
tuple_args!(4; A 0, B 1, C 2, D 3);
tuple_args!(5; A 0, B 1, C 2, D 3, E 4);
tuple_args!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_args!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_args!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_args!(9; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_args!(10; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_args!(11; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_args!(12; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
