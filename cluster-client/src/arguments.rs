//! Argument lists as Rust tuples: `(a, b)` ↔ the wire's length-prefixed list.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError, Direction, PayloadCodec};
use crate::protocol::{ArgsReader, ArgsWriter};

/// A tuple of arguments that can be encoded into an invoke payload.
pub trait EncodeArgs {
    /// How many arguments.
    const COUNT: u32;
    /// Appends each argument to `w`.
    fn encode_args(&self, codec: &PayloadCodec, w: &mut ArgsWriter<'_>) -> Result<(), CodecError>;
}

/// A tuple of arguments that can be decoded from an invoke payload.
pub trait DecodeArgs: Sized {
    /// How many arguments.
    const COUNT: u32;
    /// Reads exactly `COUNT` arguments.
    fn decode_args(codec: &PayloadCodec, r: ArgsReader<'_>) -> Result<Self, CodecError>;
}

fn args_error(message: impl std::fmt::Display) -> CodecError {
    CodecError::new("arguments", Direction::Decode, message)
}

macro_rules! tuple_args {
    ($count:expr; $($name:ident $idx:tt),*) => {
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
            fn decode_args(codec: &PayloadCodec, mut r: ArgsReader<'_>) -> Result<Self, CodecError> {
                if r.remaining() != $count {
                    return Err(args_error(format_args!("expected {} arguments, got {}", $count, r.remaining())));
                }
                let value = ($(
                    {
                        let bytes = r.next_arg().map_err(args_error)?.ok_or_else(|| args_error("missing argument"))?;
                        codec.decode::<$name>(bytes).map_err(|e| args_error(format_args!("argument {}: {}", $idx, e)))?
                    },
                )*);
                r.finish().map_err(args_error)?;
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
