//! Splitting a payload into its dictionary entries, 64 bytes at a time.
//!
//! Each 64-byte block is compared against `|`, `^`, `+` and `%` with 16-byte SIMD lanes
//! (`wide`, safe on every target) into bit masks; the entries are then read off the
//! separator bits. Each entry also records whether it holds a `+` or `%`: only those string
//! entries need unescaping.

use std::ops::Range;

use wide::u8x16;

/// The escape flag, kept in the top bit of an entry's end offset.
const ESCAPED: u32 = 1 << 31;

/// The largest payload the splitter addresses (offsets are `u32`s with the top bit spare).
pub(super) const MAX_LEN: usize = (ESCAPED - 64) as usize;

/// One dictionary entry: a byte range of the input, and the escape flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    start: u32,
    end_and_flag: u32,
}

/// Where the dictionaries end and the structure starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sections {
    /// For each of the four dictionaries, the number of entries up to and including it.
    pub(super) ends: [usize; 4],
    /// Offset of the structure (just past the fourth `^`).
    pub(super) structure_start: usize,
}

/// The entries of a payload's four dictionaries.
#[derive(Debug, Default)]
pub(super) struct Dictionaries {
    entries: Vec<Entry>,
}

/// The masks of one 64-byte block: bit `i` set where byte `i` is `|` or `^`; where it is
/// `^`; where it is `+` or `%`.
#[inline]
fn block_masks(block: &[u8; 64]) -> (u64, u64, u64) {
    let bar = u8x16::splat(b'|');
    let caret = u8x16::splat(b'^');
    let plus = u8x16::splat(b'+');
    let percent = u8x16::splat(b'%');
    let (mut separators, mut carets, mut escapes) = (0u64, 0u64, 0u64);
    for (i, lane) in block.chunks_exact(16).enumerate() {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(lane);
        let v = u8x16::new(bytes);
        let is_caret = v.simd_eq(caret);
        let shift = 16 * i;
        // `to_bitmask` has one bit per lane, in its low 16 bits.
        let bits = |mask: u8x16| u64::from(mask.to_bitmask() as u16) << shift;
        separators |= bits(v.simd_eq(bar) | is_caret);
        carets |= bits(is_caret);
        escapes |= bits(v.simd_eq(plus) | v.simd_eq(percent));
    }
    (separators, carets, escapes)
}

impl Dictionaries {
    /// Forgets the last payload's entries, keeping the allocation.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }

    /// The heap memory held, in bytes.
    pub(super) fn capacity_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// The number of entries in all four dictionaries.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The byte range of entry `index`.
    #[inline]
    pub(super) fn range(&self, index: usize) -> Option<Range<usize>> {
        self.entries
            .get(index)
            .map(|e| e.start as usize..(e.end_and_flag & !ESCAPED) as usize)
    }

    /// The byte range of entry `index` and whether it contains `+` or `%` (only then can a
    /// string entry need unescaping).
    #[inline]
    pub(super) fn range_and_escaped(&self, index: usize) -> Option<(Range<usize>, bool)> {
        self.entries.get(index).map(|e| {
            (
                e.start as usize..(e.end_and_flag & !ESCAPED) as usize,
                e.end_and_flag & ESCAPED != 0,
            )
        })
    }

    /// Splits the four `^`-terminated dictionaries at the start of `bytes` (at most
    /// [`MAX_LEN`] long) into entries. Returns the number of `^` found when there are fewer
    /// than four.
    ///
    /// `^` never occurs escaped in the string dictionary, so the first four are the
    /// separators. An empty dictionary has no entries (not one empty entry); `|` always ends
    /// an entry.
    pub(super) fn split(&mut self, bytes: &[u8]) -> Result<Sections, usize> {
        debug_assert!(bytes.len() <= MAX_LEN);
        self.clear();
        // A local vector, so that its length stays in a register; given back at the end.
        let mut entries = std::mem::take(&mut self.entries);
        let sections = split_into(bytes, &mut entries);
        self.entries = entries;
        sections
    }
}

/// Where the splitter is: the current entry's start and whether it has shown a `+` or `%`
/// in an earlier block.
struct Cursor {
    entry_start: u32,
    carried: bool,
}

impl Cursor {
    /// Ends the current entry at the separator at `base + bit`, taking the escape bits before
    /// it out of `escapes`.
    #[inline]
    fn end_entry(&mut self, base: u32, bit: u32, escapes: &mut u64) -> Entry {
        let at = base + bit;
        let before = (1u64 << bit) - 1;
        let escaped = self.carried || *escapes & before != 0;
        *escapes &= !before;
        self.carried = false;
        let entry = Entry {
            start: self.entry_start,
            end_and_flag: at | if escaped { ESCAPED } else { 0 },
        };
        self.entry_start = at + 1;
        entry
    }
}

/// [`Dictionaries::split`] on a plain vector.
fn split_into(bytes: &[u8], entries: &mut Vec<Entry>) -> Result<Sections, usize> {
    let mut ends = [0usize; 4];
    let mut found = 0;
    let mut section_start = 0u32;
    let mut cursor = Cursor {
        entry_start: 0,
        carried: false,
    };
    let mut base = 0u32;
    for chunk in bytes.chunks(64) {
        // Zero padding in the last block matches none of the four bytes.
        let mut block = [0u8; 64];
        block[..chunk.len()].copy_from_slice(chunk);
        let (separators, carets, mut escapes) = block_masks(&block);
        let mut rest = separators;
        while rest != 0 {
            let bit = rest.trailing_zeros();
            rest &= rest - 1;
            let entry = cursor.end_entry(base, bit, &mut escapes);
            if carets & (1 << bit) == 0 {
                entries.push(entry);
                continue;
            }
            // A section end (four in a payload).
            let at = base + bit;
            if at > section_start {
                entries.push(entry);
            }
            ends[found] = entries.len();
            found += 1;
            if found == 4 {
                return Ok(Sections {
                    ends,
                    structure_start: at as usize + 1,
                });
            }
            section_start = at + 1;
        }
        cursor.carried |= escapes != 0;
        base += 64;
    }
    Err(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Split = (Vec<(Range<usize>, bool)>, Sections);

    /// The straightforward byte-at-a-time split the block-wise one must agree with.
    fn reference(bytes: &[u8]) -> Result<Split, usize> {
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

    fn split_all(bytes: &[u8]) -> Result<Split, usize> {
        let mut dictionaries = Dictionaries::default();
        let sections = dictionaries.split(bytes)?;
        let entries = (0..dictionaries.len())
            .filter_map(|i| dictionaries.range_and_escaped(i))
            .collect();
        Ok((entries, sections))
    }

    #[test]
    fn agrees_with_the_byte_at_a_time_split() {
        let long = format!("{}|{}+|x^^^^0", "a".repeat(70), "b%".repeat(80));
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
            long.as_bytes(),
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
    fn escape_flags_are_per_entry() {
        let (entries, _) = split_all(b"a+|b|%|c^^^^").expect("four separators");
        let flags: Vec<bool> = entries.iter().map(|(_, escaped)| *escaped).collect();
        assert_eq!(flags, [true, false, true, false]);
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_reference_on_arbitrary_input(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'|', b'^', b'+', b'%', b'a', b'0', 0x80, 0xFF]),
                0..300,
            )
        ) {
            proptest::prop_assert_eq!(split_all(&bytes), reference(&bytes));
        }
    }
}
