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

/// Appends `s`, escaped, to `out`.
#[inline]
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    match bytes.iter().position(|&b| needs_escape(b)) {
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
    fn unescapes_in_one_left_to_right_pass() {
        assert_eq!(unescaped("a+b%2Bc%7Cd%5Ee%25f"), "a b+c|d^e%f");
        assert_eq!(unescaped("%252B"), "%2B");
        assert_eq!(unescaped("%2b%zz%"), "%2b%zz%");
        assert_eq!(unescaped("%2"), "%2");
        assert_eq!(unescaped("中文+😀"), "中文 😀");
    }
}
