//! Invoke argument lists: each argument is a `u32` big-endian length and that many bytes of
//! payload-codec output; the count travels in the conn object (`argLength`).

use super::ProtocolError;

/// Writes an argument list into a payload buffer.
#[derive(Debug)]
pub struct ArgsWriter<'a> {
    out: &'a mut Vec<u8>,
    count: u32,
}

impl<'a> ArgsWriter<'a> {
    /// Starts a list at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out, count: 0 }
    }

    /// Appends one argument whose bytes `write` appends to the buffer.
    pub fn push<E>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        if let Err(e) = write(self.out) {
            self.out.truncate(at);
            return Err(e);
        }
        let len = (self.out.len() - at - 4) as u32;
        self.out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        self.count += 1;
        Ok(())
    }

    /// How many arguments were written (the `argLength` to send).
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// Reads an argument list, checking it against the declared count.
#[derive(Debug, Clone)]
pub struct ArgsReader<'a> {
    rest: &'a [u8],
    remaining: u32,
    index: u32,
}

impl<'a> ArgsReader<'a> {
    /// A reader over `payload`, which must hold exactly `arg_length` arguments.
    pub fn new(payload: &'a [u8], arg_length: u32) -> Self {
        Self {
            rest: payload,
            remaining: arg_length,
            index: 0,
        }
    }

    /// How many arguments are still to be read.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// The next argument's bytes, `Ok(None)` after the last one.
    pub fn next_arg(&mut self) -> Result<Option<&'a [u8]>, ProtocolError> {
        if self.remaining == 0 {
            if !self.rest.is_empty() {
                return Err(ProtocolError::BadArgs(format!(
                    "{} bytes left after the {} declared arguments",
                    self.rest.len(),
                    self.index
                )));
            }
            return Ok(None);
        }
        let Some((len, rest)) = self.rest.split_first_chunk::<4>() else {
            return Err(ProtocolError::BadArgs(format!(
                "argument {} of {}: payload ends before its length prefix",
                self.index,
                self.index + self.remaining
            )));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > rest.len() {
            return Err(ProtocolError::BadArgs(format!(
                "argument {} declares {len} bytes but only {} remain",
                self.index,
                rest.len()
            )));
        }
        let (arg, rest) = rest.split_at(len);
        self.rest = rest;
        self.remaining -= 1;
        self.index += 1;
        Ok(Some(arg))
    }

    /// Checks that nothing is left after the last argument.
    pub fn finish(mut self) -> Result<(), ProtocolError> {
        match self.next_arg()? {
            None => Ok(()),
            Some(_) => Err(ProtocolError::BadArgs(format!(
                "{} more arguments than the method takes",
                self.remaining + 1
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_count() {
        let mut buf = Vec::new();
        let mut w = ArgsWriter::new(&mut buf);
        w.push(|o| -> Result<(), ()> {
            o.extend_from_slice(b"hi^^^^0");
            Ok(())
        })
        .unwrap();
        w.push(|o| -> Result<(), ()> {
            o.extend_from_slice(b"");
            Ok(())
        })
        .unwrap();
        assert_eq!(w.count(), 2);
        assert_eq!(buf, b"\0\0\0\x07hi^^^^0\0\0\0\0");
        let mut r = ArgsReader::new(&buf, 2);
        assert_eq!(r.next_arg().unwrap(), Some(&b"hi^^^^0"[..]));
        assert_eq!(r.next_arg().unwrap(), Some(&b""[..]));
        r.finish().unwrap();
    }

    #[test]
    fn failed_argument_leaves_nothing_behind() {
        let mut buf = b"xy".to_vec();
        let mut w = ArgsWriter::new(&mut buf);
        assert!(
            w.push(|o| {
                o.push(1);
                Err("no")
            })
            .is_err()
        );
        assert_eq!(w.count(), 0);
        assert_eq!(buf, b"xy");
    }

    #[test]
    fn mismatches_are_clear_errors() {
        let err = ArgsReader::new(b"\0\0\0\x09abc", 1).next_arg().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invoke arguments: argument 0 declares 9 bytes but only 3 remain"
        );
        let err = ArgsReader::new(b"\0\0", 1).next_arg().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invoke arguments: argument 0 of 1: payload ends before its length prefix"
        );
        let mut r = ArgsReader::new(b"\0\0\0\0zz", 1);
        r.next_arg().unwrap();
        assert_eq!(
            r.next_arg().unwrap_err().to_string(),
            "invoke arguments: 2 bytes left after the 1 declared arguments"
        );
    }
}
