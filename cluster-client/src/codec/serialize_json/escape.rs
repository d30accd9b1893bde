//! The string-dictionary escapes: space→`+`, `+`→`%2B`, `|`→`%7C`, `^`→`%5E`, `%`→`%25`.
//!
//! Only these five characters are touched; everything else (newlines, non-ASCII) is written as
//! is. Decoding is one left-to-right pass and is case-sensitive, as in Node (`%2b` stays `%2b`).

use wide::u8x16;

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

/// The first eight bytes of `bytes` (at least eight long) as a word.
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(chunk) = bytes.get(at..at + 8) {
        word.copy_from_slice(chunk);
    }
    u64::from_le_bytes(word)
}

/// The bytes of a string shorter than eight as one word, some of them repeated, the rest zero
/// (which needs no escape): a word that needs an escape exactly when the string does.
#[inline(always)]
fn short_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let byte = |i: usize| u64::from(bytes.get(i).copied().unwrap_or(0));
    if n >= 4 {
        let half = |at: usize| {
            let mut four = [0u8; 4];
            if let Some(chunk) = bytes.get(at..at + 4) {
                four.copy_from_slice(chunk);
            }
            u64::from(u32::from_le_bytes(four))
        };
        half(0) | half(n - 4) << 32
    } else if n > 0 {
        byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16
    } else {
        0
    }
}

/// Whether any of the sixteen bytes of `v` needs an escape.
#[inline(always)]
fn lane_needs_escape(v: u8x16) -> bool {
    let hits = v.simd_eq(u8x16::splat(b' '))
        | v.simd_eq(u8x16::splat(b'+'))
        | v.simd_eq(u8x16::splat(b'|'))
        | v.simd_eq(u8x16::splat(b'^'))
        | v.simd_eq(u8x16::splat(b'%'));
    hits.to_bitmask() != 0
}

/// Two words as one 16-byte lane.
#[inline(always)]
fn lane(low: u64, high: u64) -> u8x16 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&low.to_le_bytes());
    bytes[8..].copy_from_slice(&high.to_le_bytes());
    u8x16::new(bytes)
}

/// Whether any byte of `bytes` needs an escape: sixteen bytes at a time (16-byte SIMD lanes,
/// `wide`), a string of up to sixteen bytes as one lane of overlapping words, so that no
/// loop runs over single bytes.
#[inline]
fn any_needs_escape(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n < 8 {
        return lane_needs_escape(lane(short_word(bytes), 0));
    }
    if n <= 16 {
        return lane_needs_escape(lane(word_at(bytes, 0), word_at(bytes, n - 8)));
    }
    let mut at = 0;
    while at + 16 < n {
        if lane_needs_escape(lane(word_at(bytes, at), word_at(bytes, at + 8))) {
            return true;
        }
        at += 16;
    }
    lane_needs_escape(lane(word_at(bytes, n - 16), word_at(bytes, n - 8)))
}

/// The offset of the first byte of `bytes` that needs an escape, if any (what the tests check
/// [`any_needs_escape`] against).
#[cfg(test)]
fn first_escape(bytes: &[u8]) -> Option<usize> {
    if !any_needs_escape(bytes) {
        return None;
    }
    bytes.iter().position(|&b| needs_escape(b))
}

/// Appends `bytes` to `out`; runs of 4 to 16 bytes as two overlapping fixed-size copies
/// rather than a call to `memcpy`.
#[inline]
pub(crate) fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    let start = out.len();
    if (8..=16).contains(&n) {
        let (mut head, mut tail) = ([0u8; 8], [0u8; 8]);
        head.copy_from_slice(&bytes[..8]);
        tail.copy_from_slice(&bytes[n - 8..]);
        out.extend_from_slice(&head);
        out.truncate(start + n - 8);
        out.extend_from_slice(&tail);
    } else if (4..8).contains(&n) {
        let (mut head, mut tail) = ([0u8; 4], [0u8; 4]);
        head.copy_from_slice(&bytes[..4]);
        tail.copy_from_slice(&bytes[n - 4..]);
        out.extend_from_slice(&head);
        out.truncate(start + n - 4);
        out.extend_from_slice(&tail);
    } else {
        out.extend_from_slice(bytes);
    }
}

/// Appends `s`, escaped, to `out`.
#[inline]
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if any_needs_escape(bytes) {
        push_escaped_slow(out, bytes);
    } else {
        push_bytes(out, bytes);
    }
}

/// [`push_escaped`] for a string that has something to escape; out of line, so that the
/// common case stays small where it is inlined.
#[inline(never)]
fn push_escaped_slow(out: &mut Vec<u8>, bytes: &[u8]) {
    let first = bytes
        .iter()
        .position(|&b| needs_escape(b))
        .unwrap_or(bytes.len());
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
    fn short_copies_append_exactly() {
        let text: Vec<u8> = (0u8..70).collect();
        for n in 0..=text.len() {
            let mut out = b"prefix".to_vec();
            push_bytes(&mut out, &text[..n]);
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(&out[6..], &text[..n], "{n} bytes");
        }
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
