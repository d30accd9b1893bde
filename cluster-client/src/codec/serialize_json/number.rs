//! Numbers as serialize-json writes them: upper-case base 36 for integers (exact for Rust
//! integers, V8's inexact radix conversion for doubles beyond 2^53) and JavaScript's `String(n)`
//! for other doubles; and the reverse, with JavaScript's `parseInt(x, 36)` / `parseFloat(x)`
//! semantics for the forms Node writes.

const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// 2^53: below it every integer is exactly representable as a double.
const TWO_POW_53: f64 = 9_007_199_254_740_992.0;

/// Every number below 36² as two upper-case base-36 digits.
const PAIRS: [[u8; 2]; 36 * 36] = {
    let mut table = [[0u8; 2]; 36 * 36];
    let mut i = 0;
    while i < 36 * 36 {
        table[i] = [DIGITS[i / 36], DIGITS[i % 36]];
        i += 1;
    }
    table
};

/// Appends `n` in upper-case base 36.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    // Most leaf indices and many payload integers have one or two digits.
    if n < 36 {
        out.push(DIGITS[n as usize]);
    } else if n < 36 * 36 {
        out.extend_from_slice(&PAIRS[n as usize]);
    } else {
        push_u64_long(out, n);
    }
}

/// Appends `|` (when `separated`) and `n` in upper-case base 36, with one append for the
/// common short forms.
#[inline]
pub(crate) fn push_separated_u64(out: &mut Vec<u8>, separated: bool, n: u64) {
    match (separated, n) {
        (true, 0..36) => out.extend_from_slice(&[b'|', DIGITS[n as usize]]),
        (true, 36..1296) => {
            let [a, b] = PAIRS[n as usize];
            out.extend_from_slice(&[b'|', a, b]);
        }
        (true, _) => {
            out.push(b'|');
            push_u64_long(out, n);
        }
        (false, _) => push_u64(out, n),
    }
}

fn push_u64_long(out: &mut Vec<u8>, mut n: u64) {
    // Three or four digits (ids, timestamps in seconds' range): two table lookups, one append.
    const PAIR: u64 = 36 * 36;
    if n < PAIR * PAIR {
        let [c, d] = PAIRS[(n % PAIR) as usize];
        let [a, b] = PAIRS[(n / PAIR) as usize];
        if a == b'0' {
            out.extend_from_slice(&[b, c, d]);
        } else {
            out.extend_from_slice(&[a, b, c, d]);
        }
        return;
    }
    // u64::MAX has 13 base-36 digits.
    let mut buf = [0u8; 13];
    let mut i = buf.len();
    while n > 0 {
        i -= 1;
        buf[i] = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `n` in upper-case base 36 with a leading `-` when negative.
pub(crate) fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Appends `n` in upper-case base 36.
pub(crate) fn push_u128(out: &mut Vec<u8>, mut n: u128) {
    if let Ok(small) = u64::try_from(n) {
        return push_u64(out, small);
    }
    // u128::MAX has 25 base-36 digits.
    let mut buf = [0u8; 25];
    let mut i = buf.len();
    while n > 0 {
        i -= 1;
        buf[i] = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `n` in upper-case base 36 with a leading `-` when negative.
pub(crate) fn push_i128(out: &mut Vec<u8>, n: i128) {
    if n < 0 {
        out.push(b'-');
    }
    push_u128(out, n.unsigned_abs());
}

/// Where serialize-json puts a double.
pub(crate) enum DoubleForm {
    /// An integral value: goes to the integer dictionary.
    Integer,
    /// A fraction, NaN or an infinity: goes to the float dictionary.
    Float,
}

/// Which dictionary Node's encoder would choose for `x` (`x % 1 === 0`).
pub(crate) fn double_form(x: f64) -> DoubleForm {
    if x.is_finite() && is_integral(x) {
        DoubleForm::Integer
    } else {
        DoubleForm::Float
    }
}

/// Whether finite `x` has no fraction (`x % 1 === 0`), without a call to `trunc`.
#[inline]
fn is_integral(x: f64) -> bool {
    // Every double from 2^53 up is an integer; below, the cast is exact for integers.
    x.abs() >= TWO_POW_53 || (x as i64) as f64 == x
}

/// Appends an integral, finite double as Node's `x.toString(36).toUpperCase()` does.
///
/// Below 2^53 the conversion is exact. Beyond it V8's radix conversion is not exact, and Node
/// peers compare bytes, so this reproduces V8's steps on the double itself.
pub(crate) fn push_integral_f64(out: &mut Vec<u8>, x: f64) {
    if x.abs() < TWO_POW_53 {
        // Exact: the cast cannot truncate, and `-0.0` becomes `0`.
        return push_i64(out, x as i64);
    }
    let negative = x < 0.0;
    let mut x = x.abs();
    // Least significant digit first; reversed at the end. f64::MAX needs about 200 digits.
    let mut digits: Vec<u8> = Vec::with_capacity(32);
    while x / 36.0 >= TWO_POW_53 {
        x /= 36.0;
        digits.push(b'0');
    }
    loop {
        let r = x % 36.0;
        // `x` is an integer here (every double >= 2^53 is), so `r` is an exact integer < 36.
        digits.push(DIGITS[r as usize]);
        x = (x - r) / 36.0;
        if x <= 0.0 {
            break;
        }
    }
    if negative {
        out.push(b'-');
    }
    out.extend(digits.iter().rev());
}

/// Appends a double as JavaScript's `String(x)` (`3.5`, `1e-7`, `NaN`, `-Infinity`).
pub(crate) fn push_js_f64(out: &mut Vec<u8>, x: f64) {
    if !push_short_decimal(out, x) {
        out.extend_from_slice(ryu_js::Buffer::new().format(x).as_bytes());
    }
}

/// Exact powers of ten as doubles, 10^0 to 10^22 (all exactly representable).
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The most fraction digits [`push_short_decimal`] tries.
const SHORT_FRACTION_DIGITS: usize = 6;

/// Appends `x` when it is a fraction with at most six decimals and a magnitude from 10^-6 to
/// 10^9 (prices, scores, ratios), which is most of what applications send; returns false,
/// writing nothing, for everything else.
///
/// The digits are those of `String(x)`: for the smallest `k` such that `m = round(|x|·10^k)`
/// gives back `x` as `m / 10^k` (one correctly rounded division of two exact doubles, which is
/// also what parsing the decimal does), the decimal `m·10^-k` is the shortest one that reads
/// back as `x`. It is the only candidate with `k` decimals, since in this range `10^-k` is
/// wider than the gap between neighbouring doubles, so it is also the closest one. And
/// JavaScript writes this range without an exponent.
fn push_short_decimal(out: &mut Vec<u8>, x: f64) -> bool {
    let magnitude = x.abs();
    // Also false for NaN; integral values are not fractions.
    if !(1e-6..1e9).contains(&magnitude) || is_integral(magnitude) {
        return false;
    }
    for k in 1..=SHORT_FRACTION_DIGITS {
        let Some(&scale) = POWERS_OF_TEN.get(k) else {
            break;
        };
        // Rounds to the nearest integer (below 10^15, so exact as a u64 and as a double); a
        // tie can go either way, but a tie never reads back as `x`.
        let m = (magnitude * scale + 0.5) as u64;
        if m as f64 / scale != magnitude {
            continue;
        }
        // `m` is below 10^15: the digits, sign and point fit 18 bytes, written right to left
        // and appended at once.
        let mut buf = [0u8; 24];
        let mut i = buf.len();
        let mut rest = m;
        for _ in 0..k {
            i -= 1;
            buf[i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        i -= 1;
        buf[i] = b'.';
        loop {
            i -= 1;
            buf[i] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if x < 0.0 {
            i -= 1;
            buf[i] = b'-';
        }
        out.extend_from_slice(&buf[i..]);
        return true;
    }
    false
}

/// Appends an `f32` in its shortest JavaScript-style form (`0.1`, not `0.10000000149011612`):
/// a peer parses it back to the same `f32`, and Node shows the number the user wrote.
pub(crate) fn push_js_f32(out: &mut Vec<u8>, x: f32) {
    out.extend_from_slice(ryu_js::Buffer::new().format(x).as_bytes());
}

/// An integer parsed from base 36.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Integer {
    /// Fits an `i64` (negative values always land here when they fit).
    I64(i64),
    /// Non-negative and beyond `i64` but within `u64`.
    U64(u64),
    /// Beyond 64 bits but within 128.
    I128(i128),
    /// Beyond 128 bits: only an approximation exists, as in JavaScript.
    F64(f64),
}

impl Integer {
    /// The value as JavaScript's `parseInt` would give it.
    pub(crate) fn to_f64(self) -> f64 {
        match self {
            Integer::I64(v) => v as f64,
            Integer::U64(v) => v as f64,
            Integer::I128(v) => v as f64,
            Integer::F64(v) => v,
        }
    }
}

/// [`DIGIT_VALUES`] of a byte that is not a base-36 digit.
pub(crate) const NOT_A_DIGIT: u8 = 255;

/// Value of each byte as a base-36 digit (either case); [`NOT_A_DIGIT`] for anything else.
pub(crate) const DIGIT_VALUES: [u8; 256] = {
    let mut table = [NOT_A_DIGIT; 256];
    let mut i = 0;
    while i < 36 {
        table[DIGITS[i] as usize] = i as u8;
        table[DIGITS[i].to_ascii_lowercase() as usize] = i as u8;
        i += 1;
    }
    table
};

/// The value of `b` as a base-36 digit (case-insensitive).
#[inline]
pub(crate) fn digit(b: u8) -> Option<u8> {
    match DIGIT_VALUES[b as usize] {
        NOT_A_DIGIT => None,
        d => Some(d),
    }
}

fn digit_value(b: u8) -> Option<u32> {
    digit(b).map(u32::from)
}

/// Parses 1 to 12 base-36 digits with no sign, the form of most integers Node writes; `None`
/// for anything else, which [`parse_base36`] then reads.
#[inline]
pub(crate) fn parse_base36_short(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 12 {
        return None;
    }
    // 12 digits always fit (36^12 < 2^63).
    let mut acc = 0i64;
    for &b in text {
        let d = DIGIT_VALUES[usize::from(b)];
        if d == NOT_A_DIGIT {
            return None;
        }
        acc = acc * 36 + i64::from(d);
    }
    Some(acc)
}

/// Parses a base-36 integer (case-insensitive, optional leading `-`), as exactly as it fits.
///
/// Returns `None` for anything that is not an optional `-` followed by at least one digit.
pub(crate) fn parse_base36(text: &[u8]) -> Option<Integer> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    if digits.len() <= 12 {
        // Fast path: 12 digits always fit (36^12 < 2^63).
        let mut acc: i64 = 0;
        for &b in digits {
            acc = acc * 36 + i64::from(digit(b)?);
        }
        return Some(Integer::I64(if negative { -acc } else { acc }));
    }
    let mut acc: u128 = 0;
    let mut overflowed_at = None;
    for (i, &b) in digits.iter().enumerate() {
        let d = digit_value(b)?;
        match acc
            .checked_mul(36)
            .and_then(|v| v.checked_add(u128::from(d)))
        {
            Some(v) => acc = v,
            None => {
                overflowed_at = Some(i);
                break;
            }
        }
    }
    if let Some(i) = overflowed_at {
        // Beyond u128: continue in floating point, as `parseInt` does for every digit.
        let mut approx = acc as f64;
        for &b in &digits[i..] {
            approx = approx * 36.0 + f64::from(digit_value(b)?);
        }
        return Some(Integer::F64(if negative { -approx } else { approx }));
    }
    Some(if negative {
        if acc <= i64::MAX as u128 + 1 {
            Integer::I64((-(acc as i128)) as i64)
        } else if acc <= i128::MAX as u128 + 1 {
            Integer::I128((acc as i128).wrapping_neg())
        } else {
            Integer::F64(-(acc as f64))
        }
    } else if let Ok(v) = i64::try_from(acc) {
        Integer::I64(v)
    } else if let Ok(v) = u64::try_from(acc) {
        Integer::U64(v)
    } else if let Ok(v) = i128::try_from(acc) {
        Integer::I128(v)
    } else {
        // Beyond i128: `u128` targets parse exactly through `parse_base36_u128`.
        Integer::F64(acc as f64)
    })
}

/// Parses a non-negative base-36 integer exactly into a `u128` (for `u128` targets).
pub(crate) fn parse_base36_u128(text: &[u8]) -> Option<u128> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u128, |acc, &b| {
        acc.checked_mul(36)?
            .checked_add(u128::from(digit_value(b)?))
    })
}

/// Parses a float-dictionary entry as `parseFloat` would, for the forms `String(n)` writes:
/// `NaN`, `Infinity`, `-Infinity`, decimals and exponents (`1e-7`, `1.5e+21`).
pub(crate) fn parse_js_float(text: &str) -> Option<f64> {
    // The common form first: it rejects the named values and exponents.
    if let Some(x) = parse_short_decimal(text.as_bytes()) {
        return Some(x);
    }
    match text {
        "NaN" => return Some(f64::NAN),
        "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    // Rust also accepts `inf`, `nan` and `infinity` in any case; JavaScript does not.
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !looks_numeric {
        return None;
    }
    text.parse().ok()
}

/// Parses `-?digits.digits` with at most 15 digits in all, the form of most fractions Node
/// writes; `None` for anything else.
///
/// With at most 15 digits the digits form an integer below 2^53 and the decimal is that
/// integer divided by an exact power of ten: one correctly rounded division gives the double
/// closest to the decimal, as a full parse does.
fn parse_short_decimal(text: &[u8]) -> Option<f64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.len() > 16 {
        return None;
    }
    let mut m = 0u64;
    let mut count = 0;
    let mut point = None;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' if point.is_none() && i > 0 && i + 1 < digits.len() => point = Some(i),
            _ => return None,
        }
    }
    if count == 0 || count > 15 {
        return None;
    }
    let decimals = point.map_or(0, |p| digits.len() - p - 1);
    let magnitude = m as f64 / POWERS_OF_TEN[decimals];
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integral(x: f64) -> String {
        let mut out = Vec::new();
        push_integral_f64(&mut out, x);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn base36_at_the_digit_boundaries() {
        for (n, text) in [
            (0, "0"),
            (35, "Z"),
            (36, "10"),
            (1295, "ZZ"),
            (1296, "100"),
            (46_656, "1000"),
            (u64::MAX, "3W5E11264SGSF"),
        ] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, text.as_bytes(), "{n}");
        }
    }

    #[test]
    fn small_integers_match_node() {
        let mut out = Vec::new();
        push_i64(&mut out, -1_099_511_627_776);
        assert_eq!(out, b"-E13WU1OG");
        assert_eq!(integral(2f64.powi(53)), "2GOSA7PA2GW");
        assert_eq!(integral(-0.0), "0");
    }

    #[test]
    fn base36_digits_match_plain_conversion_at_every_length() {
        let plain = |mut n: u64| {
            let mut digits = Vec::new();
            loop {
                digits.push(DIGITS[(n % 36) as usize]);
                n /= 36;
                if n == 0 {
                    break;
                }
            }
            digits.reverse();
            digits
        };
        let mut samples: Vec<u64> = (0..50_000).collect();
        for p in 1..13u32 {
            let edge = 36u64.pow(p);
            samples.extend([
                edge - 1,
                edge,
                edge + 1,
                edge.saturating_mul(7).saturating_add(5),
            ]);
        }
        samples.extend([u64::MAX, u64::MAX - 1, 1_000_000, 1_245_208]);
        for n in samples {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, plain(n), "{n}");
        }
    }

    #[test]
    fn doubles_beyond_2_pow_53_follow_v8() {
        assert_eq!(integral(1e21), "5V1J4F4DS7C000");
        // `(1e21).toString(36)` decodes to 1.0000000000000001e21 in Node.
        let back = parse_base36(b"5V1J4F4DS7C000").map(Integer::to_f64);
        assert_eq!(back, Some(1.0000000000000001e21));
        assert!(integral(f64::MAX).len() > 190);
        assert!(integral(-f64::MAX).starts_with('-'));
    }

    #[test]
    fn wide_integers_round_trip() {
        for v in [i128::MIN, i128::MAX, i64::MIN as i128, u64::MAX as i128, 0] {
            let mut out = Vec::new();
            push_i128(&mut out, v);
            let parsed = parse_base36(&out);
            let expected = if let Ok(x) = i64::try_from(v) {
                Integer::I64(x)
            } else if let Ok(x) = u64::try_from(v) {
                Integer::U64(x)
            } else {
                Integer::I128(v)
            };
            assert_eq!(parsed, Some(expected), "{v}");
        }
        let mut out = Vec::new();
        push_u128(&mut out, u128::MAX);
        assert_eq!(parse_base36_u128(&out), Some(u128::MAX));
        assert_eq!(parse_base36(&out), Some(Integer::F64(u128::MAX as f64)));
    }

    #[test]
    fn parse_rejects_non_digits() {
        assert_eq!(parse_base36(b"-"), None);
        assert_eq!(parse_base36(b""), None);
        assert_eq!(parse_base36(b"!x"), None);
        assert_eq!(parse_base36(b"zz"), Some(Integer::I64(35 * 36 + 35)));
        assert_eq!(parse_base36(b"NAN"), Some(Integer::I64(30191)));
    }

    #[test]
    fn js_floats() {
        assert_eq!(parse_js_float("1e-7"), Some(1e-7));
        assert_eq!(parse_js_float("1.5e+21"), Some(1.5e21));
        assert!(parse_js_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_js_float("inf"), None);
        assert_eq!(parse_js_float("-Infinity"), Some(f64::NEG_INFINITY));
        let mut out = Vec::new();
        push_js_f64(&mut out, 1e-7);
        assert_eq!(out, b"1e-7");
    }

    fn js(x: f64) -> String {
        let mut out = Vec::new();
        push_js_f64(&mut out, x);
        String::from_utf8(out).unwrap_or_default()
    }

    fn ryu(x: f64) -> String {
        ryu_js::Buffer::new().format(x).to_owned()
    }

    #[test]
    fn short_decimals_print_as_javascript_does() {
        for x in [
            0.5,
            1.75,
            -3.25,
            0.1,
            0.2,
            0.3,
            1e-6,
            0.000123,
            123456.789,
            999999999.5,
            0.1 + 0.2,
            1.0 / 3.0,
            1e-7,
            2.5e-6,
            5e-324,
            1e9 + 0.5,
            -0.000001,
            40.04,
            1.005,
        ] {
            assert_eq!(js(x), ryu(x), "{x:?}");
        }
        // Both paths agree and the fast one was taken where it applies.
        let mut out = Vec::new();
        assert!(push_short_decimal(&mut out, 123456.789));
        assert!(!push_short_decimal(&mut out, 0.1 + 0.2));
        assert!(!push_short_decimal(&mut out, 7.0));
    }

    #[test]
    fn short_decimals_parse_as_a_full_parse_does() {
        for text in [
            "0.5",
            "-1.75",
            "123456.789",
            "0.000001",
            "999999999999999",
            "0.30000000000000004",
            "5.",
            ".5",
            "1.2.3",
            "-",
            "",
        ] {
            assert_eq!(parse_js_float(text), text.parse::<f64>().ok(), "{text}");
        }
        assert_eq!(parse_short_decimal(b"0.30000000000000004"), None);
        assert_eq!(parse_short_decimal(b"-0.1"), Some(-0.1));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn any_double_prints_as_javascript_does(bits in proptest::num::u64::ANY) {
            let x = f64::from_bits(bits);
            proptest::prop_assert_eq!(js(x), ryu(x));
        }

        #[test]
        fn decimals_print_and_parse_as_javascript_does(
            m in 0u64..2_000_000_000_000_000,
            k in 0usize..10,
            negative in proptest::bool::ANY,
        ) {
            let x = m as f64 / POWERS_OF_TEN[k];
            let x = if negative { -x } else { x };
            let text = js(x);
            proptest::prop_assert_eq!(&text, &ryu(x));
            proptest::prop_assert_eq!(parse_js_float(&text).map(f64::to_bits), Some(x.to_bits()));
            if let Some(fast) = parse_short_decimal(text.as_bytes()) {
                let full = text.parse::<f64>().ok().map(f64::to_bits);
                proptest::prop_assert_eq!(Some(fast.to_bits()), full);
            }
        }
    }
}
