//! Splitting a payload into its dictionary entries, eight bytes at a time.
//!
//! Every word of input is turned into bit masks of its `|`, `^`, `+` and `%` bytes (exact
//! SWAR byte comparisons), so the loop costs a few instructions per word plus a few per entry,
//! not a branch per byte. While it splits, it notes which entries hold a `+` or `%`: only
//! those strings need unescaping.

use std::ops::Range;

/// The escape flag, stored in the top bit of an entry's end offset.
const ESCAPED: u32 = 1 << 31;

/// The largest payload the splitter addresses (offsets keep their top bit for the flag).
pub(super) const MAX_LEN: usize = (ESCAPED - 1) as usize;

/// One dictionary entry: a byte range of the input and whether it contains `+` or `%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    start: u32,
    end_and_flag: u32,
}

impl Entry {
    #[inline]
    fn new(start: usize, end: usize, escaped: bool) -> Self {
        // Both fit: the input is at most MAX_LEN bytes long.
        Entry {
            start: start as u32,
            end_and_flag: end as u32 | if escaped { ESCAPED } else { 0 },
        }
    }

    /// The entry's bytes in the input.
    #[inline]
    pub(super) fn range(self) -> Range<usize> {
        self.start as usize..(self.end_and_flag & !ESCAPED) as usize
    }

    /// Whether the entry contains `+` or `%` (a string entry that may need unescaping).
    #[inline]
    pub(super) fn escaped(self) -> bool {
        self.end_and_flag & ESCAPED != 0
    }
}

/// Where the dictionaries end and the structure starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sections {
    /// For each of the four dictionaries, the number of entries up to and including it.
    pub(super) ends: [usize; 4],
    /// Offset of the structure (just past the fourth `^`).
    pub(super) structure_start: usize,
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const SEVEN_BITS: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// `0x80` in each byte of `word` equal to `needle`, zero elsewhere (exact: no false positives
/// from borrows, unlike the shorter "has a zero byte" test).
#[inline]
fn eq_mask(word: u64, needle: u8) -> u64 {
    let x = word ^ (LOW_BITS * u64::from(needle));
    !(((x & SEVEN_BITS) + SEVEN_BITS) | x | SEVEN_BITS)
}

/// Appends the entries of the four `^`-terminated dictionaries at the start of `bytes` to
/// `entries`. Returns the number of `^` found when there are fewer than four.
///
/// `^` never occurs escaped in the string dictionary, so the first four are the separators.
/// An empty dictionary has no entries (not one empty entry); `|` always ends an entry.
pub(super) fn split(bytes: &[u8], entries: &mut Vec<Entry>) -> Result<Sections, usize> {
    debug_assert!(bytes.len() <= MAX_LEN);
    let mut ends = [0usize; 4];
    let mut found = 0;
    let mut entry_start = 0;
    let mut section_start = 0;
    // Whether the current entry has shown a `+` or `%` so far.
    let mut escaped = false;
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    let tail = chunks.remainder();
    let words = chunks
        .by_ref()
        .map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            word
        })
        .chain((!tail.is_empty()).then(|| {
            // Zero padding matches none of the four bytes.
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            word
        }));
    for word in words {
        let word = u64::from_le_bytes(word);
        let carets = eq_mask(word, b'^');
        let mut separators = eq_mask(word, b'|') | carets;
        let mut escapes = eq_mask(word, b'+') | eq_mask(word, b'%');
        while separators != 0 {
            let bit = separators.trailing_zeros();
            // Masks of the bytes before this one.
            let before = (1u64 << bit) - 1;
            escaped |= escapes & before != 0;
            escapes &= !before;
            let at = base + (bit / 8) as usize;
            if carets & (1 << bit) == 0 {
                entries.push(Entry::new(entry_start, at, escaped));
            } else {
                if at > section_start {
                    entries.push(Entry::new(entry_start, at, escaped));
                }
                ends[found] = entries.len();
                found += 1;
                if found == 4 {
                    return Ok(Sections {
                        ends,
                        structure_start: at + 1,
                    });
                }
                section_start = at + 1;
            }
            entry_start = at + 1;
            escaped = false;
            separators &= separators - 1;
        }
        escaped |= escapes != 0;
        base += 8;
    }
    Err(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward byte-at-a-time split the word-wise one must agree with.
    fn reference(bytes: &[u8]) -> Result<(Vec<(Range<usize>, bool)>, Sections), usize> {
        let mut entries = Vec::new();
        let mut ends = [0; 4];
        let mut found = 0;
        let (mut entry_start, mut section_start) = (0, 0);
        for (i, &b) in bytes.iter().enumerate() {
            let close = |entries: &mut Vec<_>| {
                let text = &bytes[entry_start..i];
                entries.push((entry_start..i, text.iter().any(|&c| c == b'+' || c == b'%')));
            };
            if b == b'|' {
                close(&mut entries);
                entry_start = i + 1;
            } else if b == b'^' {
                if i > section_start {
                    close(&mut entries);
                }
                ends[found] = entries.len();
                found += 1;
                if found == 4 {
                    let structure_start = i + 1;
                    return Ok((
                        entries,
                        Sections {
                            ends,
                            structure_start,
                        },
                    ));
                }
                entry_start = i + 1;
                section_start = i + 1;
            }
        }
        Err(found)
    }

    fn split_all(bytes: &[u8]) -> Result<(Vec<(Range<usize>, bool)>, Sections), usize> {
        let mut entries = Vec::new();
        let sections = split(bytes, &mut entries)?;
        Ok((
            entries.iter().map(|e| (e.range(), e.escaped())).collect(),
            sections,
        ))
    }

    #[test]
    fn masks_are_exact() {
        // Bytes that differ from the needle only in the high bit, or that sit next to a match,
        // are not matches.
        let word = u64::from_le_bytes([b'|', 0xFC, b'|', 0, b'}', b'|', b'|', 0x7C ^ 0x80]);
        assert_eq!(eq_mask(word, b'|'), 0x0080_8000_0080_0080);
        assert_eq!(eq_mask(u64::from_le_bytes(*b"abcdefgh"), b'|'), 0);
        assert_eq!(eq_mask(u64::MAX, 0xFF), 0x8080_8080_8080_8080);
    }

    #[test]
    fn agrees_with_the_byte_at_a_time_split() {
        let cases: &[&[u8]] = &[
            b"^^^^",
            b"^^^",
            b"",
            b"a^^^^0",
            b"a|b|c^1|2^3.5^Z^@0|1|2|3|4|5]",
            b"a-long-first-entry|b|c-is-also-quite-long^7|A^^^@0|1|2|3|4]",
            b"a+b|x%25y|plain|%|+^1e+21^^^@0]",
            b"||^|^^^",
            b"12345678|12345678|1234567^^^^",
            b"1234567+|2345678%^1^^^0",
        ];
        for case in cases {
            assert_eq!(
                split_all(case),
                reference(case),
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn escape_flags_end_at_each_separator_within_a_word() {
        let (entries, _) = split_all(b"a+|b|%|c^^^^").expect("four separators");
        let flags: Vec<bool> = entries.iter().map(|(_, escaped)| *escaped).collect();
        assert_eq!(flags, [true, false, true, false]);
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_reference_on_arbitrary_input(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'|', b'^', b'+', b'%', b'a', b'0', 0x80, 0xFF]),
                0..80,
            )
        ) {
            proptest::prop_assert_eq!(split_all(&bytes), reference(&bytes));
        }
    }
}
