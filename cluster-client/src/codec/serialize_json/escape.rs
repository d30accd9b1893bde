//! The string-dictionary escapes: space→`+`, `+`→`%2B`, `|`→`%7C`, `^`→`%5E`, `%`→`%25`.
//!
//! Only these five characters are touched; everything else (newlines, non-ASCII) is written as
//! is. Decoding is one left-to-right pass and is case-sensitive, as in Node (`%2b` stays `%2b`).

/// Which bytes need an escape in the string dictionary.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    table[b' ' as usize] = true;
    table[b'+' as usize] = true;
    table[b'|' as usize] = true;
    table[b'^' as usize] = true;
    table[b'%' as usize] = true;
    table
};

/// Whether `b` needs an escape in the string dictionary.
#[inline]
fn needs_escape(b: u8) -> bool {
    NEEDS_ESCAPE[usize::from(b)]
}

/// Each byte of `x` that equals `byte`, as its top bit (exact: no false positives).
#[inline(always)]
fn bytes_equal(x: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let y = x ^ (0x0101_0101_0101_0101 * u64::from(byte));
    // A byte of `y` is zero exactly when neither its top bit nor its low seven bits are set;
    // adding 0x7F to the low seven bits cannot carry into the next byte.
    !(((y & LOW7) + LOW7) | y | LOW7)
}

/// Whether any of the eight bytes of `x` needs an escape.
#[inline(always)]
fn word_needs_escape(x: u64) -> bool {
    (bytes_equal(x, b' ')
        | bytes_equal(x, b'+')
        | bytes_equal(x, b'|')
        | bytes_equal(x, b'^')
        | bytes_equal(x, b'%'))
        != 0
}

/// The offset of the first byte of `bytes` that needs an escape, if any: eight bytes at a
/// time, then byte by byte from the first word that has one (and in the tail).
#[inline]
fn first_escape(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in words.by_ref() {
        let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        if word_needs_escape(x) {
            return word
                .iter()
                .position(|&b| needs_escape(b))
                .map(|i| offset + i);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| needs_escape(b))
        .map(|i| offset + i)
}

/// Appends `s`, escaped, to `out`.
#[inline]
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    match first_escape(bytes) {
        None => out.extend_from_slice(bytes),
        Some(first) => {
            out.reserve(bytes.len() + 8);
            out.extend_from_slice(&bytes[..first]);
            // Escapes are rare and strings short: byte pushes beat copying runs with `memcpy`.
            for &b in &bytes[first..] {
                match b {
                    b' ' => out.push(b'+'),
                    b'+' => out.extend_from_slice(b"%2B"),
                    b'|' => out.extend_from_slice(b"%7C"),
                    b'^' => out.extend_from_slice(b"%5E"),
                    b'%' => out.extend_from_slice(b"%25"),
                    _ => out.push(b),
                }
            }
        }
    }
}

/// The unescaped form of `s`, in a `String` of its own.
pub(crate) fn unescaped(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        // Only `+`s (spaces): a byte-for-byte map, which keeps UTF-8 valid.
        let spaced: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        if let Ok(text) = String::from_utf8(spaced) {
            return text;
        }
    }
    let mut out = String::with_capacity(s.len());
    unescape_into(&mut out, s);
    out
}

/// Appends the unescaped form of `s` to `out`.
pub(crate) fn unescape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (replacement, len) = match bytes[i] {
            b'+' => (' ', 1),
            b'%' => match bytes.get(i + 1..i + 3) {
                Some(b"2B") => ('+', 3),
                Some(b"7C") => ('|', 3),
                Some(b"5E") => ('^', 3),
                Some(b"25") => ('%', 3),
                _ => {
                    // Not one of the four escapes: kept literally, as Node does.
                    i += 1;
                    continue;
                }
            },
            _ => {
                i += 1;
                continue;
            }
        };
        // `i` and `i + len` sit on ASCII bytes, hence on char boundaries.
        out.push_str(&s[run_start..i]);
        out.push(replacement);
        i += len;
        run_start = i;
    }
    out.push_str(&s[run_start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        push_escaped(&mut out, s);
        String::from_utf8(out).unwrap_or_default()
    }

    fn unescaped(s: &str) -> String {
        let mut out = String::new();
        unescape_into(&mut out, s);
        out
    }

    #[test]
    fn escapes_the_five_specials() {
        assert_eq!(escaped("a b+c|d^e%f"), "a+b%2Bc%7Cd%5Ee%25f");
        assert_eq!(escaped("%2B"), "%252B");
        assert_eq!(escaped("中文 😀"), "中文+😀");
        assert_eq!(escaped("plain"), "plain");
    }

    #[test]
    fn finds_escapes_in_every_position_of_a_word() {
        for special in [' ', '+', '|', '^', '%'] {
            for len in 1..20 {
                for at in 0..len {
                    let text: String = (0..len)
                        .map(|i| if i == at { special } else { 'a' })
                        .collect();
                    assert_eq!(first_escape(text.as_bytes()), Some(at), "{text:?}");
                }
            }
        }
        // Neighbours of the specials (and bytes with the top bit set) are not escapes.
        let near = "!*,{}]_&$\x1f\x7f~ÿ\u{80}中文-.@0123456789";
        assert_eq!(first_escape(near.as_bytes()), None);
        assert_eq!(escaped(near), near);
    }

    #[test]
    fn owned_unescaping_matches_appending() {
        for s in [
            "a+b",
            "a+b%2Bc%7Cd%5Ee%25f",
            "%252B",
            "%2b%zz%",
            "中文+😀",
            "+",
            "plain",
            "",
        ] {
            // `unescaped` here is the appending form.
            assert_eq!(super::unescaped(s), unescaped(s), "{s}");
        }
    }

    #[test]
    fn unescapes_in_one_left_to_right_pass() {
        assert_eq!(unescaped("a+b%2Bc%7Cd%5Ee%25f"), "a b+c|d^e%f");
        assert_eq!(unescaped("%252B"), "%2B");
        assert_eq!(unescaped("%2b%zz%"), "%2b%zz%");
        assert_eq!(unescaped("%2"), "%2");
        assert_eq!(unescaped("中文+😀"), "中文 😀");
    }
}
