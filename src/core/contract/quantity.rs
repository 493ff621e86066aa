//! Kubernetes resource quantities (`100Mi`, `5Gi`, `1.5G`, `1e9`), parsed to
//! a whole number of bytes with exact integer arithmetic, and formatted back.
//!
//! Grammar (the one of `k8s.io/apimachinery/pkg/api/resource`):
//!
//! ```text
//! <quantity>        ::= <signedNumber><suffix>
//! <signedNumber>    ::= <number> | "+"<number> | "-"<number>
//! <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//! <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//! <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
//! <decimalExponent> ::= "e" <signedInteger> | "E" <signedInteger>
//! ```
//!
//! No whitespace anywhere. Like Kubernetes, the scanner also accepts the
//! degenerate numbers `.`, `+`, `-` and `-.` as zero, and a non-zero value is
//! rounded UP to the next whole byte (`0.5` is 1 byte, `1m` is 1 byte), which
//! is what `Quantity.Value()` returns. The exponent of `e`/`E` must lie in
//! `[-2147483647, 2147483647]` (Kubernetes' int32 scale bound).
//!
//! Where we deliberately differ from Kubernetes, for a byte count:
//! - a negative quantity is an error (Kubernetes keeps the sign); `-0` is 0;
//! - a value above `u64::MAX` bytes is an error. Kubernetes silently caps a
//!   binary-suffixed quantity at 2^63-1 (`9Ei` parses as 2^63-1); we return
//!   the exact value when it fits in a u64 and an error otherwise.
//!
//! The arithmetic never uses floats: the digits are multiplied out as a
//! decimal digit string, so any length of input is exact, and the result is
//! checked against `u64` before it is returned.

use std::fmt;

/// Why a quantity was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError {
    pub input: String,
    pub reason: String,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid quantity {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for QuantityError {}

/// Largest exponent Kubernetes accepts after `e`/`E` (int32, negatable).
const MAX_EXPONENT: i64 = i32::MAX as i64;

/// What the suffix multiplies the number by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// times 10^n (n may be negative)
    Decimal(i64),
    /// times 2^n
    Binary(u32),
}

/// Parses a quantity to a whole number of bytes (rounded up, as Kubernetes
/// rounds byte quantities up).
pub fn parse(input: &str) -> Result<u64, QuantityError> {
    let err = |reason: String| QuantityError {
        input: input.to_string(),
        reason,
    };
    let (negative, int_digits, frac_digits, suffix) = scan(input).map_err(err)?;
    let scale = interpret_suffix(suffix).map_err(err)?;

    // All significant digits, leading zeros stripped; the value is
    // digits * 10^(-frac_len) * scale.
    let mut digits: Vec<u8> = int_digits
        .bytes()
        .chain(frac_digits.bytes())
        .skip_while(|&b| b == b'0')
        .map(|b| b - b'0')
        .collect();
    if digits.is_empty() {
        return Ok(0); // any zero, including "-0", "0.000Ki", "." and "+"
    }
    if negative {
        return Err(err(
            "a size cannot be negative (remove the leading '-')".to_string()
        ));
    }
    let frac_len = i64::try_from(frac_digits.len())
        .map_err(|_| err("the number has too many digits".to_string()))?;
    let (exp10, shift) = match scale {
        Scale::Decimal(e) => (e.checked_sub(frac_len), 0),
        Scale::Binary(s) => (Some(-frac_len), s),
    };
    let exp10 = exp10.ok_or_else(|| err("the number has too many digits".to_string()))?;
    if shift > 0 {
        multiply_small(&mut digits, 1u64 << shift);
    }
    to_bytes_rounding_up(&digits, exp10).ok_or_else(|| {
        err(format!(
            "the value exceeds the largest byte count, {} (about 16Ei)",
            u64::MAX
        ))
    })
}

/// Splits `input` into sign, integer digits, fraction digits and suffix, the
/// way Kubernetes' `parseQuantityString` scans it.
fn scan(input: &str) -> Result<(bool, &str, &str, &str), String> {
    if input.is_empty() {
        return Err("empty; expected a number such as 100Mi, 1.5Gi or 1e9".to_string());
    }
    let bytes = input.as_bytes();
    let mut pos = 0;
    let mut negative = false;
    match bytes.first() {
        Some(b'-') => {
            negative = true;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }
    let digits_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |n| from + n)
    };
    let int_end = digits_end(pos);
    let int_digits = &input[pos..int_end];
    pos = int_end;
    let mut frac_digits = "";
    if bytes.get(pos) == Some(&b'.') {
        let frac_end = digits_end(pos + 1);
        frac_digits = &input[pos + 1..frac_end];
        pos = frac_end;
    }
    let suffix = &input[pos..];
    // Suffix shape: letters from the suffix alphabet, an optional sign, digits.
    let sb = suffix.as_bytes();
    let letters = sb
        .iter()
        .position(|b| !b"eEinumkKMGTP".contains(b))
        .unwrap_or(sb.len());
    let mut rest = letters;
    if matches!(sb.get(rest), Some(b'+') | Some(b'-')) {
        rest += 1;
    }
    rest += sb[rest..].iter().take_while(|b| b.is_ascii_digit()).count();
    if rest != sb.len() {
        if !sb.is_empty() && sb.iter().all(u8::is_ascii_alphabetic) {
            return Err(unknown_suffix(suffix));
        }
        let bad = suffix[rest..].chars().next().unwrap_or(' ');
        return Err(format!(
            "unexpected {bad:?}; expected <number><suffix> with no spaces, \
             e.g. 512Mi, 1.5Gi, 500M, 1e9"
        ));
    }
    Ok((negative, int_digits, frac_digits, suffix))
}

/// The multiplier a suffix stands for.
fn interpret_suffix(suffix: &str) -> Result<Scale, String> {
    let scale = match suffix {
        "" => Scale::Decimal(0),
        "n" => Scale::Decimal(-9),
        "u" => Scale::Decimal(-6),
        "m" => Scale::Decimal(-3),
        "k" => Scale::Decimal(3),
        "M" => Scale::Decimal(6),
        "G" => Scale::Decimal(9),
        "T" => Scale::Decimal(12),
        "P" => Scale::Decimal(15),
        "E" => Scale::Decimal(18),
        "Ki" => Scale::Binary(10),
        "Mi" => Scale::Binary(20),
        "Gi" => Scale::Binary(30),
        "Ti" => Scale::Binary(40),
        "Pi" => Scale::Binary(50),
        "Ei" => Scale::Binary(60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
            Scale::Decimal(parse_exponent(&s[1..]).ok_or_else(|| {
                format!(
                    "bad exponent {s:?}; expected e or E then an integer \
                     between -{MAX_EXPONENT} and {MAX_EXPONENT}"
                )
            })?)
        }
        s => return Err(unknown_suffix(s)),
    };
    Ok(scale)
}

fn unknown_suffix(s: &str) -> String {
    format!(
        "unknown suffix {s:?}; expected one of Ki Mi Gi Ti Pi Ei \
         (powers of 1024), k M G T P E (powers of 1000), m u n, \
         or an exponent such as e9"
    )
}

/// A signed decimal integer within Kubernetes' exponent bounds.
fn parse_exponent(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i64 = 0;
    for b in digits.bytes() {
        v = v.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
        if v > MAX_EXPONENT {
            return None;
        }
    }
    Some(if neg { -v } else { v })
}

/// `digits` (most significant first, base 10) *= `m`, in place.
fn multiply_small(digits: &mut Vec<u8>, m: u64) {
    let mut carry: u128 = 0;
    for d in digits.iter_mut().rev() {
        let v = u128::from(*d) * u128::from(m) + carry;
        *d = (v % 10) as u8;
        carry = v / 10;
    }
    let mut head = Vec::new();
    while carry > 0 {
        head.push((carry % 10) as u8);
        carry /= 10;
    }
    if !head.is_empty() {
        head.reverse();
        head.extend_from_slice(digits);
        *digits = head;
    }
}

/// ceil(digits * 10^exp10) as u64, or None when it does not fit.
/// `digits` has no leading zero and is not empty.
fn to_bytes_rounding_up(digits: &[u8], exp10: i64) -> Option<u64> {
    let len = i64::try_from(digits.len()).ok()?;
    // Number of digits before the decimal point.
    let int_len = len.checked_add(exp10)?;
    if int_len > 20 {
        return None; // at least 10^20 > u64::MAX
    }
    if int_len <= 0 {
        return Some(1); // 0 < value < 1: rounds up to one byte
    }
    let int_len = usize::try_from(int_len).ok()?;
    let mut value: u128 = 0;
    for i in 0..int_len {
        let d = digits.get(i).copied().unwrap_or(0); // past the end: zeros from 10^exp10
        value = value * 10 + u128::from(d);
    }
    let fraction_nonzero = digits.iter().skip(int_len).any(|&d| d != 0);
    if fraction_nonzero {
        value += 1;
    }
    u64::try_from(value).ok()
}

/// Formats bytes in Kubernetes canonical form: no fraction, the largest
/// suffix that keeps the number whole.
///
/// Rule: 0 is `0`. Otherwise take the largest binary suffix (`Ki`..`Ei`)
/// that divides the value exactly and the largest decimal suffix (`k`..`E`)
/// that does; the one leaving the smaller number wins, binary on a tie; with
/// neither, the plain number. So `1073741824` → `1Gi`, `1024000` → `1000Ki`
/// (1000 < 1024), `500000000` → `500M`, `1000000000000` → `1T` (not
/// `976562500Ki`), `1536` → `1536` (1.5Ki is not whole).
///
/// Kubernetes keeps the suffix family a quantity was written in and then
/// makes the exponent as large as possible; a byte count has no family, so we
/// take whichever family gives the larger exponent. The output always parses
/// back to the same number of bytes.
pub fn format(bytes: u64) -> String {
    if bytes == 0 {
        return "0".to_string();
    }
    const BINARY: [(&str, u32); 6] = [
        ("Ei", 60),
        ("Pi", 50),
        ("Ti", 40),
        ("Gi", 30),
        ("Mi", 20),
        ("Ki", 10),
    ];
    const DECIMAL: [(&str, u64); 6] = [
        ("E", 1_000_000_000_000_000_000),
        ("P", 1_000_000_000_000_000),
        ("T", 1_000_000_000_000),
        ("G", 1_000_000_000),
        ("M", 1_000_000),
        ("k", 1_000),
    ];
    let binary = BINARY
        .iter()
        .find(|(_, shift)| bytes.trailing_zeros() >= *shift)
        .map(|(suffix, shift)| (bytes >> shift, *suffix));
    let decimal = DECIMAL
        .iter()
        .find(|(_, unit)| bytes % unit == 0)
        .map(|(suffix, unit)| (bytes / unit, *suffix));
    let best = match (binary, decimal) {
        (Some(b), Some(d)) => Some(if d.0 < b.0 { d } else { b }),
        (b, d) => b.or(d),
    };
    match best {
        Some((mantissa, suffix)) => format!("{mantissa}{suffix}"),
        None => bytes.to_string(),
    }
}

#[cfg(test)]
#[path = "quantity_tests.rs"]
mod tests;
