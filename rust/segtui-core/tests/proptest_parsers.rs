//! Property tests of the parsers that read user text: money, dates and the rule language.
//!
//! Whatever the text, a parser returns a value or an error: it never panics. Where a value is
//! returned it is exact (money round-trips through minor units, dates land on the calendar
//! day written), and rule errors point inside the rule's text. `PROPTEST_CASES` raises the
//! number of cases (default here: 256 per property, a few seconds in all).

use proptest::prelude::*;
use segtui_core::dates::{days_from_civil, DateFormat};
use segtui_core::money::Dec;
use segtui_core::rules::{self, compile, MetricColumn, MetricDef, Schema, Table, Unit, Values};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Text built from the pieces money and dates are made of, plus anything at all.
fn numberish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("0".to_string()),
        Just("9".to_string()),
        Just(".".to_string()),
        Just(",".to_string()),
        Just("-".to_string()),
        Just("+".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("e".to_string()),
        Just(" ".to_string()),
        Just("$".to_string()),
        Just("€".to_string()),
        Just("12345678901234567890".to_string()),
        "[0-9]{1,8}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop_oneof![
        prop::collection::vec(piece, 0..12).prop_map(|v| v.concat()),
        ".*",
    ]
}

fn dateish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[0-9]{1,4}",
        Just("-".to_string()),
        Just("/".to_string()),
        Just("T".to_string()),
        Just(":".to_string()),
        Just("Z".to_string()),
        Just("+".to_string()),
        Just(" ".to_string()),
        Just(".".to_string()),
        Just("UTC".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop_oneof![prop::collection::vec(piece, 0..10).prop_map(|v| v.concat()), ".*"]
}

fn formatish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("%Y".to_string()),
        Just("%y".to_string()),
        Just("%m".to_string()),
        Just("%d".to_string()),
        Just("%H".to_string()),
        Just("%M".to_string()),
        Just("%S".to_string()),
        Just("%f".to_string()),
        Just("%z".to_string()),
        Just("%p".to_string()),
        Just("%%".to_string()),
        Just("%".to_string()),
        Just("dd".to_string()),
        Just("mm".to_string()),
        Just("yyyy".to_string()),
        Just("HH".to_string()),
        Just("/".to_string()),
        Just("-".to_string()),
        Just(" ".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop_oneof![
        prop::collection::vec(piece, 0..8).prop_map(|v| v.concat()),
        Just("epoch".to_string()),
        Just("epoch_ms".to_string()),
        Just("iso".to_string()),
    ]
}

fn ruleish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("margin"), Just("revenue"), Just("health"), Just("industry"), Just("signup_day"),
        Just("did"), Just("\"login\""), Just("in"), Just("30d"), Just("next"), Just("times"),
        Just(">="), Just("<"), Just("="), Just("!="), Just("and"), Just("or"), Just("not"),
        Just("("), Just(")"), Just("between"), Just("first"), Just("active_days"), Just("0"),
        Just("-1.5"), Just("1e9"), Just("99999999999999999999999999"), Just("\"fintech\""),
        Just("2024-02-30"), Just("2024-01-01"), Just(","), Just("%"), Just("\""), Just("\n"),
        Just("é"), Just("\u{0}"), Just("  "),
    ];
    prop_oneof![
        3 => prop::collection::vec(token, 0..16).prop_map(|v| v.join(" ")),
        1 => ".*",
    ]
}

/// The character count of each line (as the rule errors count them).
fn line_lengths(src: &str) -> Vec<usize> {
    src.split('\n').map(|l| l.chars().count()).collect()
}

proptest! {
    #![proptest_config(config())]

    // --- money ---------------------------------------------------------------------------

    #[test]
    fn money_parsing_never_panics(text in numberish()) {
        for point in [b'.', b','] {
            if let Ok(d) = Dec::parse_with(&text, point) {
                for digits in 0..=4 {
                    let _ = d.to_minor_exact(digits);
                    let _ = d.to_minor_half_even(digits);
                }
            }
        }
    }

    #[test]
    fn money_round_trips_exactly(units in any::<i64>(), scale in 0u32..=4, pad in 0usize..3) {
        // the decimal text of units / 10^scale, with trailing zeros added
        let neg = units < 0;
        let digits = units.unsigned_abs().to_string();
        let digits = format!("{:0>width$}", digits, width = scale as usize + 1);
        let (int, frac) = digits.split_at(digits.len() - scale as usize);
        let frac = format!("{frac}{}", "0".repeat(pad));
        let sign = if neg { "-" } else { "" };
        let dot = if frac.is_empty() { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") };
        let comma = dot.replace('.', ",");
        let d = Dec::parse(&dot).unwrap();
        prop_assert_eq!(d.to_minor_exact(scale), Ok(units));
        prop_assert_eq!(Dec::parse_with(&comma, b',').unwrap().to_minor_exact(scale), Ok(units));
        // one decimal more than the currency has is refused unless it is zero, never rounded
        if scale > 0 && units % 10 != 0 {
            prop_assert!(d.to_minor_exact(scale - 1).is_err());
        }
        // with a decimal comma declared, the point is refused (and the other way round)
        if !frac.is_empty() {
            prop_assert!(Dec::parse_with(&dot, b',').is_err());
            prop_assert!(Dec::parse(&comma).is_err());
        }
    }

    #[test]
    fn half_even_rounding_is_within_half_a_unit(mant in -10i64.pow(15)..10i64.pow(15), scale in 0u32..=6, digits in 0u32..=3) {
        let d = Dec { mant: mant as i128, scale };
        let r = d.to_minor_half_even(digits).unwrap() as i128;
        // |r - mant * 10^digits / 10^scale| <= 1/2, compared in integers
        let exact_num = mant as i128 * 10i128.pow(digits);
        let den = 10i128.pow(scale);
        let diff2 = (2 * (r * den - exact_num)).abs();
        prop_assert!(diff2 <= den, "{d:?} -> {r} at {digits} digits");
        if diff2 == den {
            prop_assert_eq!(r % 2, 0, "a tie must go to the even unit");
        }
    }

    // --- dates ---------------------------------------------------------------------------

    #[test]
    fn date_parsing_never_panics(fmt in formatish(), text in dateish()) {
        let _ = DateFormat::Auto.parse_value(&text);
        if let Ok(f) = DateFormat::parse(&fmt) {
            let _ = f.parse_value(&text);
        }
    }

    #[test]
    fn iso_dates_land_on_the_day_written(y in 1900i64..=2199, m in 1u32..=12, d in 1u32..=31, h in 0u32..24, mi in 0u32..60, off in -14i64..=14) {
        let text = format!("{y:04}-{m:02}-{d:02}");
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let dim = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m as usize - 1];
        let got = DateFormat::Auto.parse_value(&text);
        if d > dim {
            prop_assert!(got.is_err(), "{text} does not exist");
            prop_assert_eq!(got.unwrap_err().code, "bad_date");
        } else {
            let day = days_from_civil(y, m, d);
            let s = got.unwrap();
            prop_assert_eq!(s.day as i64, day);
            prop_assert_eq!(s.ts, day * 86_400);
            // with a time and an offset: the day as written, the instant in UTC
            let sign = if off < 0 { '-' } else { '+' };
            let with = format!("{text}T{h:02}:{mi:02}:00{sign}{:02}:00", off.abs());
            let s = DateFormat::Auto.parse_value(&with).unwrap();
            prop_assert_eq!(s.day as i64, day);
            prop_assert_eq!(s.ts, day * 86_400 + (h as i64) * 3600 + (mi as i64) * 60 - off * 3600);
            // the same day written d/m/y needs a format, and reads right with it
            let dmy = format!("{d:02}/{m:02}/{y:04}");
            if d <= 12 && m <= 12 {
                prop_assert!(DateFormat::Auto.parse_value(&dmy).is_err());
            }
            let f = DateFormat::parse("%d/%m/%Y").unwrap();
            prop_assert_eq!(f.parse_value(&dmy).unwrap().day as i64, day);
        }
    }

    #[test]
    fn years_outside_the_range_are_refused(y in prop_oneof![0i64..1900, 2200i64..10000], m in 1u32..=12, d in 1u32..=28) {
        let got = DateFormat::Auto.parse_value(&format!("{y:04}-{m:02}-{d:02}"));
        prop_assert!(got.is_err());
    }

    // --- rules ---------------------------------------------------------------------------

    #[test]
    fn rule_parsing_never_panics_and_errors_point_inside(src in ruleish()) {
        if let Err(e) = rules::parser::parse(&src) {
            let lines = line_lengths(&src);
            prop_assert!(e.line >= 1 && e.line <= lines.len(), "{e:?} in {src:?}");
            prop_assert!(e.column >= 1 && e.column <= lines[e.line - 1] + 1, "{e:?} in {src:?}");
            prop_assert!(e.len >= 1 && !e.message.trim().is_empty());
        }
    }

    #[test]
    fn rules_compile_and_evaluate_or_say_where(src in ruleish(), as_of in 18_000i32..21_000) {
        let margin = [-500i64, 0, 12_000, i64::MIN];
        let health = [10i64, 50, 90, 0];
        let signup = [19_000i32, 20_000, 0, 18_500];
        let valid = [1u8, 1, 1, 0];
        let labels = vec!["fintech".to_string(), "retail".to_string()];
        let industry = [0u32, 1, u32::MAX, 0];
        let table = Table {
            n_rows: 4,
            account: None,
            columns: vec![
                MetricColumn { name: "margin".into(), unit: Unit::Money { scale: 2 }, values: Values::I64(&margin), valid: Some(&valid), per_account: true },
                MetricColumn { name: "revenue".into(), unit: Unit::Money { scale: 2 }, values: Values::I64(&margin), valid: None, per_account: true },
                MetricColumn { name: "health".into(), unit: Unit::Int, values: Values::I64(&health), valid: None, per_account: true },
                MetricColumn { name: "signup_day".into(), unit: Unit::Day, values: Values::I32(&signup), valid: Some(&valid), per_account: true },
                MetricColumn { name: "industry".into(), unit: Unit::Text, values: Values::Codes32 { codes: &industry, labels: &labels }, valid: None, per_account: true },
            ],
        };
        let schema = Schema {
            metrics: table.columns.iter().map(|c| MetricDef { name: c.name.as_str(), unit: c.unit, labels: c.values.labels() }).collect(),
            event_kinds: None,
        };
        match compile(&src, &schema) {
            Err(e) => {
                let lines = line_lengths(&src);
                prop_assert!(e.line >= 1 && e.line <= lines.len() && e.column >= 1 && e.column <= lines[e.line - 1] + 1, "{e:?} in {src:?}");
            }
            Ok(_) => {
                match rules::run(&[src.as_str()], &table, None, as_of) {
                    Ok(m) => prop_assert!(m.len() == 1 && m[0].n == 4),
                    Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
                }
            }
        }
    }
}
