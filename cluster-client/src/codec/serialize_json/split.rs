//! Finding a payload's dictionary entries.
//!
//! One pass over the dictionaries, 64 bytes at a time with 16-byte SIMD lanes (`wide`, safe on
//! every target), marks the separators (`|`, `^`) and the escape bytes (`+`, `%`), and lists
//! where each separator is. Entry `i` of a dictionary is then the text between two listed
//! separators: two loads, in any order. Whether an entry holds an escape is only worked out for
//! the strings, from the marks, when the structure reads them.

use std::ops::Range;

use wide::u8x16;

/// The largest payload the splitter addresses (offsets are `u32`s).
pub(super) const MAX_LEN: usize = (1 << 31) - 64;

/// Where the dictionaries end and the structure starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sections {
    /// For each of the four dictionaries, the number of entries up to and including it.
    pub(super) ends: [usize; 4],
    /// Offset of the structure (just past the fourth `^`).
    pub(super) structure_start: usize,
}

/// The dictionaries of one payload.
#[derive(Debug, Default)]
pub(super) struct Dictionaries {
    /// `0`, then one past each separator of the dictionaries, in order (the fourth `^` last):
    /// an entry spans from one value to one less than the next.
    after_separators: Vec<u32>,
    /// Per 64-byte block of the dictionaries: bit `i` set where byte `i` is `+` or `%`.
    escapes: Vec<u64>,
    /// Cumulative entry counts of the four dictionaries.
    ends: [usize; 4],
    /// For each dictionary, how many empty dictionaries come before it: an empty dictionary
    /// has a separator (its `^`) but no entry.
    skips: [usize; 4],
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
    /// Forgets the last payload's entries, keeping the allocations.
    pub(super) fn clear(&mut self) {
        self.after_separators.clear();
        self.escapes.clear();
        self.ends = [0; 4];
        self.skips = [0; 4];
    }

    /// The heap memory held, in bytes.
    pub(super) fn capacity_bytes(&self) -> usize {
        self.after_separators.capacity() * std::mem::size_of::<u32>()
            + self.escapes.capacity() * std::mem::size_of::<u64>()
    }

    /// The number of entries in all four dictionaries.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.ends[3]
    }

    /// The byte range of entry `index` (counted over all four dictionaries, below
    /// [`Self::len`]) of dictionary `dictionary` (0 strings, 1 integers, 2 floats, 3 dates;
    /// the caller knows which from [`Sections::ends`]). `None` only past the list.
    #[inline]
    pub(super) fn range(&self, dictionary: usize, index: usize) -> Option<Range<usize>> {
        let at = index + self.skips.get(dictionary)?;
        match self.after_separators.get(at..at + 2)? {
            &[start, after_end] => Some(start as usize..after_end as usize - 1),
            _ => None,
        }
    }

    /// The byte range of string entry `index` (the strings are the first dictionary, which no
    /// empty one precedes).
    #[inline]
    pub(super) fn string_range(&self, index: usize) -> Option<Range<usize>> {
        match self.after_separators.get(index..index + 2)? {
            &[start, after_end] => Some(start as usize..after_end as usize - 1),
            _ => None,
        }
    }

    /// Whether `range` (an entry's) holds a `+` or `%`: only then can a string entry need
    /// unescaping.
    #[inline]
    pub(super) fn escaped(&self, range: &Range<usize>) -> bool {
        let (first, last) = (range.start / 64, range.end / 64);
        let word = |block: usize| self.escapes.get(block).copied().unwrap_or(0);
        if first == last {
            // `range.end % 64 - range.start % 64` bits, fewer than 64.
            let bits = word(first) >> (range.start % 64);
            return bits & ((1u64 << (range.end % 64 - range.start % 64)) - 1) != 0;
        }
        self.escaped_across_blocks(range)
    }

    /// [`Self::escaped`] for an entry that spans 64-byte blocks.
    fn escaped_across_blocks(&self, range: &Range<usize>) -> bool {
        let (first, last) = (range.start / 64, range.end / 64);
        let word = |block: usize| self.escapes.get(block).copied().unwrap_or(0);
        word(first) >> (range.start % 64) != 0
            || (first + 1..last).any(|block| word(block) != 0)
            || word(last) & ((1u64 << (range.end % 64)) - 1) != 0
    }

    /// Splits the four `^`-terminated dictionaries at the start of `bytes` (at most
    /// [`MAX_LEN`] long). Returns the number of `^` found when there are fewer than four.
    ///
    /// `^` never occurs escaped in the string dictionary, so the first four are the
    /// separators. An empty dictionary has no entries (not one empty entry); `|` always ends
    /// an entry.
    pub(super) fn split(&mut self, bytes: &[u8]) -> Result<Sections, usize> {
        debug_assert!(bytes.len() <= MAX_LEN);
        self.clear();
        // Local vectors, so that their lengths stay in registers; given back at the end.
        let mut list = std::mem::take(&mut self.after_separators);
        let mut escapes = std::mem::take(&mut self.escapes);
        let carets = split_into(bytes, &mut list, &mut escapes);
        self.after_separators = list;
        self.escapes = escapes;
        let carets = carets?;
        // `carets[d]`: where in the list dictionary `d`'s `^` is.
        let (mut total, mut skipped, mut previous) = (0, 0, 0);
        for (d, &caret) in carets.iter().enumerate() {
            self.skips[d] = skipped;
            // Empty when its `^` is where it starts (one past the previous `^`, or 0).
            let empty = self.after_separators.get(previous).copied()
                == self.after_separators.get(caret).map(|&after| after - 1);
            if empty {
                skipped += 1;
            } else {
                total += caret - previous;
            }
            self.ends[d] = total;
            previous = caret;
        }
        let structure_start = self
            .after_separators
            .get(carets[3])
            .map_or(0, |&a| a as usize);
        Ok(Sections {
            ends: self.ends,
            structure_start,
        })
    }
}

/// [`Dictionaries::split`] on plain vectors: fills `list` and `escapes`, and returns where in
/// `list` each of the four `^` is, or how many there were.
fn split_into(
    bytes: &[u8],
    list: &mut Vec<u32>,
    escapes: &mut Vec<u64>,
) -> Result<[usize; 4], usize> {
    // Written by index ahead of `n`, then cut to `n`: no capacity check per separator.
    list.clear();
    let mut n = 1;
    let mut carets_at = [0usize; 4];
    let mut found = 0;
    let mut base = 0u32;
    let mut blocks = bytes.chunks_exact(64);
    let mut tail = [0u8; 64];
    let mut in_tail = false;
    let result = loop {
        let block: &[u8; 64] = match blocks.next() {
            Some(chunk) => chunk.try_into().unwrap_or(&tail),
            None => {
                let rest = blocks.remainder();
                if rest.is_empty() || in_tail {
                    break Err(found);
                }
                // Zero padding matches none of the four bytes.
                tail[..rest.len()].copy_from_slice(rest);
                in_tail = true;
                &tail
            }
        };
        let (mut separators, mut carets, block_escapes) = block_masks(block);
        escapes.push(block_escapes);
        // Room for every separator of the block, its offset plus one (at most 64).
        if list.len() < n + 64 {
            list.resize(n + 64 + 192, 0);
        }
        // A slice, so that its bounds stay in registers across the stores.
        let slots = list.as_mut_slice();
        if carets == 0 {
            while separators != 0 {
                slots[n] = base + separators.trailing_zeros() + 1;
                n += 1;
                separators &= separators - 1;
            }
        } else {
            // A section end (four in a payload): stop at the fourth.
            while separators != 0 {
                let bit = separators & separators.wrapping_neg();
                slots[n] = base + separators.trailing_zeros() + 1;
                n += 1;
                separators &= separators - 1;
                if carets & bit != 0 {
                    carets &= !bit;
                    carets_at[found] = n - 1;
                    found += 1;
                    if found == 4 {
                        break;
                    }
                }
            }
            if found == 4 {
                break Ok(carets_at);
            }
        }
        base += 64;
    };
    list.truncate(n);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    type Split = (Vec<(Range<usize>, bool)>, Sections);

    /// The straightforward byte-at-a-time split the marks and cursors must agree with.
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

    /// Reads every entry in the order `order` gives for the number of entries.
    fn split_in_order(bytes: &[u8], order: impl Fn(usize) -> Vec<usize>) -> Result<Split, usize> {
        let mut dictionaries = Dictionaries::default();
        let sections = dictionaries.split(bytes)?;
        let len = dictionaries.len();
        let mut entries = vec![None; len];
        for i in order(len) {
            let dictionary = sections.ends.iter().position(|&end| i < end).unwrap_or(4);
            if dictionary == 0 {
                assert_eq!(dictionaries.string_range(i), dictionaries.range(0, i));
            }
            entries[i] = dictionaries
                .range(dictionary, i)
                .map(|range| (range.clone(), dictionaries.escaped(&range)));
        }
        let entries = entries.into_iter().flatten().collect::<Vec<_>>();
        assert_eq!(entries.len(), len, "every entry is found");
        Ok((entries, sections))
    }

    /// Each dictionary in order, the dictionaries interleaved (as the structure reads them).
    fn interleaved(bytes: &[u8]) -> Result<Split, usize> {
        let ends = reference(bytes).map(|(_, s)| s.ends).unwrap_or_default();
        split_in_order(bytes, |_| {
            let mut queues: Vec<Vec<usize>> = (0..4)
                .map(|d| {
                    (if d == 0 { 0 } else { ends[d - 1] }..ends[d])
                        .rev()
                        .collect()
                })
                .collect();
            let mut order = Vec::new();
            while queues.iter().any(|q| !q.is_empty()) {
                for q in queues.iter_mut() {
                    order.extend(q.pop());
                }
            }
            order
        })
    }

    fn cases() -> Vec<Vec<u8>> {
        let long = format!("{}|{}+|x^^^^0", "a".repeat(70), "b%".repeat(80));
        let many = format!("{}^1|2^^^", vec!["ab"; 100].join("|"));
        let mut cases: Vec<Vec<u8>> = [
            &b"^^^^"[..],
            b"^^^",
            b"",
            b"a^^^^0",
            b"a|b|c^1|2^3.5^Z^@0|1|2|3|4|5]",
            b"a-long-first-entry|b|c-is-also-quite-long^7|A^^^@0|1|2|3|4]",
            b"a+b|x%25y|plain|%|+^1e+21^^^@0]",
            b"||^|^^^",
            b"12345678|12345678|1234567^^^^",
            b"1234567+|2345678%^1^^^0",
        ]
        .iter()
        .map(|c| c.to_vec())
        .collect();
        cases.push(long.into_bytes());
        cases.push(many.into_bytes());
        cases
    }

    #[test]
    fn agrees_with_the_byte_at_a_time_split_in_any_read_order() {
        for case in cases() {
            let text = String::from_utf8_lossy(&case).into_owned();
            let expected = reference(&case);
            assert_eq!(
                split_in_order(&case, |n| (0..n).collect()),
                expected,
                "{text}"
            );
            assert_eq!(
                split_in_order(&case, |n| (0..n).rev().collect()),
                expected,
                "{text}"
            );
            assert_eq!(
                split_in_order(&case, |n| (0..n)
                    .step_by(3)
                    .chain((0..n).step_by(2))
                    .chain(0..n)
                    .collect()),
                expected,
                "{text}"
            );
            assert_eq!(interleaved(&case), expected, "{text}");
        }
    }

    #[test]
    fn escape_flags_are_per_entry() {
        let (entries, _) =
            split_in_order(b"a+|b|%|c^^^^", |n| (0..n).collect()).expect("four separators");
        let flags: Vec<bool> = entries.iter().map(|(_, escaped)| *escaped).collect();
        assert_eq!(flags, [true, false, true, false]);
    }

    #[test]
    fn entries_past_the_list_are_none() {
        let mut dictionaries = Dictionaries::default();
        assert!(dictionaries.split(b"a|b^1^^^").is_ok());
        assert_eq!(dictionaries.range(1, 2), Some(4..5));
        assert_eq!(dictionaries.range(3, 5), None);
        assert_eq!(dictionaries.range(4, 0), None);
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_reference_on_arbitrary_input(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'|', b'^', b'+', b'%', b'a', b'0', 0x80, 0xFF]),
                0..300,
            ),
            seed in 0usize..1000,
        ) {
            let expected = reference(&bytes);
            proptest::prop_assert_eq!(split_in_order(&bytes, |n| (0..n).collect()), expected.clone());
            proptest::prop_assert_eq!(interleaved(&bytes), expected.clone());
            // A scrambled order: each read is in order, a short skip, or far off.
            let scrambled = split_in_order(&bytes, |n| {
                let mut order: Vec<usize> = (0..n).map(|i| (i * 7 + seed) % n.max(1)).collect();
                order.extend(0..n);
                order
            });
            proptest::prop_assert_eq!(scrambled, expected);
        }
    }
}
