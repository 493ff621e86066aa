//! Unit tests for `quantity`: Kubernetes' own valid and invalid examples
//! (from apimachinery's quantity_test.go, converted to bytes rounded up),
//! our byte-specific rules, overflow, formatting and a round-trip property.

use super::*;
use crate::core::testkit::splitmix;

/// (name, input, bytes)
const KUBERNETES_VALID: &[(&str, &str, u64)] = &[
    ("zero", "0", 0),
    ("zero nano", "0n", 0),
    ("zero micro", "0u", 0),
    ("zero milli", "0m", 0),
    ("zero Ki", "0Ki", 0),
    ("zero k", "0k", 0),
    ("zero Mi", "0Mi", 0),
    ("zero M", "0M", 0),
    ("zero Gi", "0Gi", 0),
    ("zero G", "0G", 0),
    ("zero Ti", "0Ti", 0),
    ("zero T", "0T", 0),
    ("no suffix", "1", 1),
    ("binary Ki", "1Ki", 1024),
    ("binary 8Ki", "8Ki", 8 * 1024),
    ("binary Mi", "7Mi", 7 << 20),
    ("binary Gi", "6Gi", 6 << 30),
    ("binary Ti", "5Ti", 5 << 40),
    ("binary Pi", "4Pi", 4 << 50),
    ("binary Ei", "3Ei", 3 << 60),
    ("binary 10Ti", "10Ti", 10 << 40),
    ("binary 100Ti", "100Ti", 100 << 40),
    ("nano rounds up", "5n", 1),
    ("micro rounds up", "4u", 1),
    ("milli rounds up", "3m", 1),
    ("plain 9", "9", 9),
    ("decimal k", "8k", 8_000),
    ("decimal 50k", "50k", 50_000),
    ("decimal M", "7M", 7_000_000),
    ("decimal G", "6G", 6_000_000_000),
    ("decimal T", "5T", 5_000_000_000_000),
    ("decimal 40T", "40T", 40_000_000_000_000),
    ("decimal 300T", "300T", 300_000_000_000_000),
    ("decimal P", "2P", 2_000_000_000_000_000),
    ("decimal E", "1E", 1_000_000_000_000_000_000),
    ("exponent E-3 rounds up", "1E-3", 1),
    ("exponent e3", "1e3", 1_000),
    ("exponent E6", "1E6", 1_000_000),
    ("exponent e9", "1e9", 1_000_000_000),
    ("exponent E12", "1E12", 1_000_000_000_000),
    ("exponent e15", "1e15", 1_000_000_000_000_000),
    ("exponent E18", "1E18", 1_000_000_000_000_000_000),
    ("exponent e14", "1e14", 100_000_000_000_000),
    ("exponent e13", "1e13", 10_000_000_000_000),
    ("fraction k", "100.035k", 100_035),
    ("0.001", "0.001", 1),
    ("0.0005k", "0.0005k", 1),
    ("0.005", "0.005", 1),
    ("0.05", "0.05", 1),
    ("0.5", "0.5", 1),
    ("0.00050k", "0.00050k", 1),
    ("0.00500", "0.00500", 1),
    ("0.05000", "0.05000", 1),
    ("0.50000", "0.50000", 1),
    ("0.5e0", "0.5e0", 1),
    ("0.5e-1", "0.5e-1", 1),
    ("0.5e-2", "0.5e-2", 1),
    ("10.035M", "10.035M", 10_035_000),
    ("1.2e3", "1.2e3", 1_200),
    ("1.3E+6", "1.3E+6", 1_300_000),
    ("1.40e9", "1.40e9", 1_400_000_000),
    ("1.53E12", "1.53E12", 1_530_000_000_000),
    ("1.6e15", "1.6e15", 1_600_000_000_000_000),
    ("1.7E18", "1.7E18", 1_700_000_000_000_000_000),
    ("9.01 rounds up", "9.01", 10),
    ("8.1k", "8.1k", 8_100),
    ("7.123456M", "7.123456M", 7_123_456),
    ("6.987654321G", "6.987654321G", 6_987_654_321),
    ("5.444T", "5.444T", 5_444_000_000_000),
    ("40.1T", "40.1T", 40_100_000_000_000),
    ("300.2T", "300.2T", 300_200_000_000_000),
    ("2.5P", "2.5P", 2_500_000_000_000_000),
    ("1.01E", "1.01E", 1_010_000_000_000_000_000),
    ("3.001n", "3.001n", 1),
    ("1.1E-9", "1.1E-9", 1),
    ("0.0000000001", "0.0000000001", 1),
    ("0.0000000005", "0.0000000005", 1),
    ("0.00000000050", "0.00000000050", 1),
    ("0.5e-9", "0.5e-9", 1),
    ("0.9n", "0.9n", 1),
    ("0.00000012345", "0.00000012345", 1),
    ("0.00000012354", "0.00000012354", 1),
    ("12E", "12E", 12_000_000_000_000_000_000),
    ("fractional Ki rounds up", "100.035Ki", 102_436), // 102435.84
    ("0.5Mi", "0.5Mi", 524_288),
    ("0.05Gi rounds up", "0.05Gi", 53_687_092), // 53687091.2
    ("0.025Ti rounds up", "0.025Ti", 27_487_790_695), // 27487790694.4
    ("troll tiny Ki", "0.000000000001Ki", 1),
    ("troll leading dot", ".001", 1),
    ("troll leading dot k", ".0001k", 1),
    ("troll trailing dot", "1.", 1),
    ("troll trailing dot G", "1.G", 1_000_000_000),
    // parseQuantityString's own table: "." and "-." scan as zero.
    ("troll lone dot", ".", 0),
    ("troll minus dot", "-.", 0),
];

#[test]
fn kubernetes_valid_examples() {
    for &(name, input, want) in KUBERNETES_VALID {
        assert_eq!(parse(input), Ok(want), "case {name:?}: {input:?}");
        // Kubernetes' test also parses every example with an explicit '+'.
        if input.starts_with('-') {
            continue;
        }
        let plus = format!("+{input}");
        assert_eq!(parse(&plus), Ok(want), "case {name:?} with '+': {plus:?}");
    }
}

#[test]
fn kubernetes_valid_examples_negated_are_rejected_unless_zero() {
    for &(name, input, want) in KUBERNETES_VALID {
        let neg = if input.starts_with('-') {
            input.to_string()
        } else {
            format!("-{input}")
        };
        let got = parse(&neg);
        if want == 0 {
            assert_eq!(got, Ok(0), "case {name:?}: {neg:?} is zero");
        } else {
            let e = got.expect_err(name);
            assert!(e.reason.contains("negative"), "case {name:?}: {e}");
        }
    }
}

#[test]
fn kubernetes_invalid_examples() {
    let cases: &[(&str, &str)] = &[
        ("two dots", "1.1.M"),
        ("sign inside", "1+1.0M"),
        ("milli with i", "0.1mi"),
        ("unknown suffix am", "0.1am"),
        ("letters only", "aoeu"),
        ("lone i after fraction", ".5i"),
        ("lone i", "1i"),
        ("negative lone i", "-3.01i"),
        ("exponent without digits", "-3.01e-"),
        ("exponent past int32", "1e4294967297"),
        ("leading space", " 1"),
        ("trailing space", "1 "),
        ("empty", ""),
        ("Non-Numeric", "Non-Numeric"),
    ];
    for &(name, input) in cases {
        assert!(parse(input).is_err(), "case {name:?}: {input:?} parsed");
    }
}

#[test]
fn exponent_bounds_follow_kubernetes_int32_rule() {
    let cases: &[(&str, &str, Option<u64>)] = &[
        ("max int32 exponent overflows bytes", "1E2147483647", None),
        ("-max int32 rounds up to a byte", "1E-2147483647", Some(1)),
        ("max int32 + 1 rejected", "1E2147483648", None),
        ("min int32 rejected", "1E-2147483648", None),
        ("int64 max rejected", "1E9223372036854775807", None),
        ("past int64 rejected", "1E9223372036854775808", None),
        ("leading zeros in exponent", "1e0009", Some(1_000_000_000)),
        ("explicit plus exponent", "1e+3", Some(1_000)),
    ];
    for &(name, input, want) in cases {
        assert_eq!(parse(input).ok(), want, "case {name:?}: {input:?}");
    }
}

#[test]
fn other_invalid_inputs_name_the_problem() {
    let cases: &[(&str, &str, &str)] = &[
        ("uppercase K", "1K", "unknown suffix \"K\""),
        ("lowercase ki", "1ki", "unknown suffix \"ki\""),
        ("KB", "1KB", "unknown suffix \"KB\""),
        ("lone e", "1e", "unknown suffix \"e\""),
        ("fractional exponent", "1e1.5", "unexpected '.'"),
        ("space inside", "1 Gi", "unexpected ' '"),
        ("tab", "1\tGi", "unexpected '\\t'"),
        ("unicode", "1Ｍ", "unexpected 'Ｍ'"),
        ("hex", "0x10", "unexpected 'x'"),
        ("double sign", "--1", "unknown suffix \"-1\""),
        ("negative", "-1Gi", "negative"),
        ("negative tiny", "-1n", "negative"),
        ("empty", "", "empty"),
    ];
    for &(name, input, want) in cases {
        let e = parse(input).expect_err(name);
        assert!(
            e.reason.contains(want),
            "case {name:?}: {input:?}: reason {:?} lacks {want:?}",
            e.reason
        );
        assert_eq!(e.input, input, "case {name:?}");
    }
}

#[test]
fn design_examples_and_exact_values() {
    let cases: &[(&str, &str, u64)] = &[
        ("100Mi", "100Mi", 100 << 20),
        ("5Gi", "5Gi", 5 << 30),
        ("1.5G", "1.5G", 1_500_000_000),
        ("1.5Gi", "1.5Gi", 1_610_612_736),
        ("500M", "500M", 500_000_000),
        ("1e9", "1e9", 1_000_000_000),
        ("plain bytes", "128974848", 128_974_848),
        ("leading zeros", "0000000000000000000000000001Ki", 1024),
        ("long zero fraction", "1.000000000000000000000000000000", 1),
        (
            "long fraction rounds up",
            "1.000000000000000000000000000001",
            2,
        ),
        (
            "many digits cancelled by exponent",
            "100000000000000000000000e-23",
            1,
        ),
        ("max u64", "18446744073709551615", u64::MAX),
        ("15Ei fits", "15Ei", 15 << 60),
        ("1e19 fits", "1e19", 10_000_000_000_000_000_000),
        // Kubernetes caps binary at 2^63-1 here; we keep the exact value.
        ("9Ei exact (k8s caps)", "9Ei", 9 << 60),
    ];
    for &(name, input, want) in cases {
        assert_eq!(parse(input), Ok(want), "case {name:?}: {input:?}");
    }
}

#[test]
fn overflow_is_an_error_not_a_wrap() {
    let cases: &[(&str, &str)] = &[
        ("u64 max + 1", "18446744073709551616"),
        ("rounding up past u64 max", "18446744073709551615.1"),
        ("16Ei", "16Ei"),
        ("1e20", "1e20"),
        ("19E", "19E"),
        ("k8s int64-max Ki (k8s caps)", "9223372036854775807Ki"),
        ("huge exponent", "1e999"),
        ("many digits", "99999999999999999999999999999999999999999"),
    ];
    for &(name, input) in cases {
        let e = parse(input).expect_err(name);
        assert!(e.reason.contains("exceeds"), "case {name:?}: {e}");
    }
}

#[test]
fn error_display_quotes_input() {
    let e = parse("5GB").expect_err("5GB");
    assert_eq!(
        e.to_string(),
        "invalid quantity \"5GB\": unknown suffix \"GB\"; expected one of Ki Mi Gi Ti Pi Ei \
         (powers of 1024), k M G T P E (powers of 1000), m u n, or an exponent such as e9"
    );
}

#[test]
fn format_canonical_forms() {
    let cases: &[(&str, u64, &str)] = &[
        ("zero", 0, "0"),
        ("one", 1, "1"),
        ("under a k", 999, "999"),
        ("1k", 1_000, "1k"),
        ("1Ki", 1_024, "1Ki"),
        ("1.5Ki is not whole", 1_536, "1536"),
        ("2Ki", 2_048, "2Ki"),
        ("tie-ish: 1000Ki beats 1024k", 1_024_000, "1000Ki"),
        ("1M", 1_000_000, "1M"),
        ("100Mi", 100 << 20, "100Mi"),
        ("1Gi", 1 << 30, "1Gi"),
        ("1.5Gi", 1_610_612_736, "1536Mi"),
        ("500M", 500_000_000, "500M"),
        ("1G", 1_000_000_000, "1G"),
        ("1T not 976562500Ki", 1_000_000_000_000, "1T"),
        ("1E", 1_000_000_000_000_000_000, "1E"),
        ("15Ei", 15 << 60, "15Ei"),
        ("max", u64::MAX, "18446744073709551615"),
        ("odd", 128_974_849, "128974849"),
    ];
    for &(name, bytes, want) in cases {
        assert_eq!(format(bytes), want, "case {name:?}");
    }
}

#[test]
fn format_then_parse_round_trips() {
    let mut values: Vec<u64> = vec![0, 1, 999, 1000, 1023, 1024, 1025, u64::MAX, u64::MAX - 1];
    for shift in 0..64 {
        values.push(1 << shift);
        values.push((1u64 << shift).wrapping_sub(1));
    }
    let mut p = 1u64;
    while let Some(next) = p.checked_mul(10) {
        values.push(next);
        p = next;
    }
    let mut state = 42;
    for _ in 0..20_000 {
        let r = splitmix(&mut state);
        values.push(r);
        values.push(r >> (r % 64)); // small values too
        values.push((r % 100_000).saturating_mul(1 << (10 * (r % 6))));
        values.push((r % 100_000).saturating_mul(10u64.pow((r % 15) as u32)));
    }
    for v in values {
        let text = format(v);
        assert_eq!(parse(&text), Ok(v), "format({v}) = {text:?}");
    }
}

#[test]
fn arbitrary_strings_never_panic() {
    let alphabet = b"0123456789.+-eEinumkKMGTP \txZ\xff";
    let mut state = 7;
    for _ in 0..50_000 {
        let len = (splitmix(&mut state) % 12) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(splitmix(&mut state) % alphabet.len() as u64) as usize])
            .collect();
        let s = String::from_utf8_lossy(&bytes);
        let _ = parse(&s);
    }
}
