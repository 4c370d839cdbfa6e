//! The rule language end to end on a small hand-built world: parse errors (message and
//! column), rules that can never match, and the accounts each rule selects.

use super::lexer::days_from_civil;
use super::*;
use crate::engine::Events;

const NAMES: [&str; 8] = ["A", "B", "C", "D", "E", "F", "G", "H"];
/// Row i is account ACC[i] (rows are not in account order, to exercise per-account columns).
const ACC: [u32; 8] = [7, 6, 5, 4, 3, 2, 1, 0];
const NULL: i64 = i64::MIN;
const ND: i32 = i32::MIN;

fn d0() -> i32 {
    days_from_civil(2025, 6, 30).unwrap()
}

struct World {
    revenue: Vec<i64>,
    margin: Vec<i64>,
    margin_valid: Vec<u8>,
    margin_pct: Vec<f64>,
    employees: Vec<i64>,
    industry: Vec<u32>,
    industry_labels: Vec<String>,
    rfm: Vec<u8>,
    rfm_labels: Vec<String>,
    r_score: Vec<u8>,
    signup: Vec<i32>,
    renewal: Vec<i32>,
    ev_account: Vec<u32>,
    ev_day: Vec<i32>,
    ev_kind: Vec<u32>,
    kinds: Vec<String>,
}

/// Per-account column from per-row values.
fn per_account<T: Copy + Default>(rows: &[T]) -> Vec<T> {
    let mut out = vec![T::default(); 8];
    for (r, v) in rows.iter().enumerate() {
        out[ACC[r] as usize] = *v;
    }
    out
}

fn world() -> World {
    let d = d0();
    let kinds: Vec<String> =
        ["login", "invite_team", "create_task", "api_call", "integration_activated"].map(String::from).to_vec();
    let k = |name: &str| kinds.iter().position(|x| x == name).unwrap() as u32;
    // (row, age, kind); age -1 is the day after the as-of day.
    let mut ev: Vec<(usize, i32, u32)> = Vec::new();
    for a in [0, 10, 29] {
        ev.push((0, a, k("invite_team")));
    }
    ev.push((0, 14, k("create_task")));
    for a in 0..20 {
        ev.push((0, a, k("login")));
    }
    for a in [30, 5, 6] {
        ev.push((1, a, k("invite_team")));
    }
    ev.push((1, 13, k("create_task")));
    ev.extend([(3, -1, k("api_call")), (3, 6, k("api_call")), (3, 7, k("integration_activated")), (3, 100, k("login"))]);
    ev.extend([(4, 6, k("integration_activated")), (4, 2, k("integration_activated")), (4, 7, k("api_call"))]);
    ev.extend([(5, 400, k("integration_activated")), (5, 1, k("integration_activated")), (5, 0, k("login"))]);
    for a in 0..30 {
        ev.push((6, a, k("login")));
    }
    ev.push((6, 100, k("create_task")));
    for _ in 0..3 {
        ev.push((7, 3, k("invite_team")));
    }
    // Shuffle deterministically: the evaluator must not depend on event order.
    let mut order: Vec<usize> = (0..ev.len()).collect();
    order.sort_by_key(|i| (i * 7919) % 101);
    let mut ev_account: Vec<u32> = order.iter().map(|&i| ACC[ev[i].0]).collect();
    let mut ev_day: Vec<i32> = order.iter().map(|&i| d - ev[i].1).collect();
    let mut ev_kind: Vec<u32> = order.iter().map(|&i| ev[i].2).collect();
    // An account outside the table: ignored.
    for _ in 0..5 {
        ev_account.push(8);
        ev_day.push(d);
        ev_kind.push(k("invite_team"));
    }
    let industry_labels: Vec<String> = ["fintech", "banking", "retail", "Fintech", "saas"].map(String::from).to_vec();
    let rfm_labels: Vec<String> =
        ["No Purchase", "Champions", "At Risk", "Lost", "New Customers", "Hibernating"].map(String::from).to_vec();
    World {
        revenue: vec![150000, 0, -500, 99999, 100000, 5000, 250000, 1000],
        margin: vec![50000, -1200, -3000, 0, 10, -1, 100000, 777],
        margin_valid: vec![1, 1, 1, 1, 1, 1, 1, 0],
        margin_pct: vec![0.333, f64::NAN, f64::NAN, 0.0, 0.0001, -0.0002, 0.4, f64::NAN],
        employees: per_account(&[50, 500, 49, 501, NULL, 120, 1000, 10]),
        industry: per_account(&[0, 1, 2, u32::MAX, 3, 4, 1, 2]),
        industry_labels,
        rfm: vec![1, 2, 3, 2, 4, 0, 1, 5],
        rfm_labels,
        r_score: vec![5, 2, 1, 2, 5, 0, 4, 1],
        signup: per_account(&[d - 400, d - 10, ND, d - 29, d - 30, d, d - 2000, d - 6]),
        renewal: per_account(&[d + 30, d + 31, ND, d + 1, d, d + 15, d - 1, ND]),
        ev_account,
        ev_day,
        ev_kind,
        kinds,
    }
}

fn table(w: &World) -> Table<'_> {
    let col = |name: &str, unit: Unit, values: Values<'static>| MetricColumn {
        name: name.into(),
        unit,
        values,
        valid: None,
        per_account: false,
    };
    let _ = col;
    let mk = |name: &str, unit: Unit, per_account: bool| (name.to_string(), unit, per_account);
    let specs = [
        mk("revenue", Unit::Money { scale: 2 }, false),
        mk("margin", Unit::Money { scale: 2 }, false),
        mk("margin_pct", Unit::Float, false),
        mk("employees", Unit::Int, true),
        mk("industry", Unit::Text, true),
        mk("rfm_segment", Unit::Text, false),
        mk("r_score", Unit::Int, false),
        mk("signup_day", Unit::Day, true),
        mk("renewal_day", Unit::Day, true),
    ];
    let values: Vec<Values<'_>> = vec![
        Values::I64(&w.revenue),
        Values::I64(&w.margin),
        Values::F64(&w.margin_pct),
        Values::I64(&w.employees),
        Values::Codes32 { codes: &w.industry, labels: &w.industry_labels },
        Values::Codes8 { codes: &w.rfm, labels: &w.rfm_labels, null_code: None },
        Values::U8 { values: &w.r_score, null: Some(0) },
        Values::I32(&w.signup),
        Values::I32(&w.renewal),
    ];
    let columns = specs
        .into_iter()
        .zip(values)
        .map(|((name, unit, per_account), values)| MetricColumn {
            valid: if name == "margin" { Some(&w.margin_valid[..]) } else { None },
            name,
            unit,
            values,
            per_account,
        })
        .collect();
    Table { n_rows: 8, account: Some(&ACC), columns }
}

fn log(w: &World) -> EventLog<'_> {
    EventLog { events: Events { account: &w.ev_account, day: &w.ev_day, kind: &w.ev_kind }, kinds: &w.kinds }
}

fn names(m: &Matches) -> String {
    m.rows().into_iter().map(|r| NAMES[r]).collect::<Vec<_>>().join(",")
}

const CASES: &[(&str, &str)] = &[
    ("margin < 0", "B,C,F"),
    ("not margin < 0", "A,D,E,G"),
    ("margin >= 0 or margin is null", "A,D,E,G,H"),
    ("revenue >= 1000", "A,E,G"),
    ("revenue > 999.989", "A,D,E,G"),
    ("revenue = 999.99", "D"),
    ("revenue between -5 and 10", "B,C,H"),
    ("employees between 50 and 500", "A,B,F"),
    ("employees not between 50 and 500", "C,D,G,H"),
    ("industry in (\"fintech\", \"banking\")", "A,B,G"),
    ("industry not in ('fintech','banking')", "C,E,F,H"),
    ("industry != \"retail\"", "A,B,E,F,G"),
    ("industry is null", "D"),
    ("industry is not null and employees is null", "E"),
    ("rfm_segment = \"At Risk\"", "B,D"),
    ("r_score >= 4", "A,E,G"),
    ("r_score is null", "F"),
    ("did \"invite_team\" >= 3 times in 30d", "A,H"),
    ("did \"invite_team\" >= 3 times in 31d", "A,B,H"),
    ("did \"invite_team\" >= 3 times in 29 days", "H"),
    ("not did \"create_task\" in 14d", "A,C,D,E,F,G,H"),
    ("did \"create_task\" in 15d", "A,B"),
    ("did \"api_call\" in 7d", "D"),
    ("did \"api_call\" in 1d", ""),
    ("active_days in 30d >= 20", "A,G"),
    ("active_days in 30d >= 22", "G"),
    ("active_days \"login\" in 30d = 20", "A"),
    ("active_days in 1d >= 1", "A,F,G"),
    ("first \"integration_activated\" in 7d", "E"),
    ("first \"integration_activated\" in 8d", "D,E"),
    ("did \"integration_activated\" in 7d and not first \"integration_activated\" in 7d", "F"),
    ("did \"invite_team\" >= 3 times in 30d and not did \"create_task\" in 14d", "A,H"),
    ("(industry = \"banking\" or industry = \"retail\") and not (employees > 100)", "C,H"),
    ("not (industry = \"fintech\" and margin < 0)", "A,B,C,D,E,F,G,H"),
    ("not (industry = \"retail\" or margin < 0)", "A,E,G"),
    ("signup_day in 30d", "B,D,F,H"),
    ("renewal_day in next 30d", "A,D,F"),
    ("renewal_day not in next 30d", "B,E,G"),
    ("signup_day >= 2025-06-01", "B,D,F,H"),
    ("signup_day < \"2025-06-01\"", "A,E,G"),
    ("margin_pct < 20%", "D,E,F"),
    ("did \"login\" and not did \"login\" in 30d", "D"),
    ("did \"invite_team\" = 0 times in 30d", "C,D,E,F,G"),
    ("did \"invite_team\" != 2 times in 30d", "A,C,D,E,F,G,H"),
    (
        "(did \"login\" in 30d and (r_score >= 4 or rfm_segment = \"At Risk\")) or (industry is null and margin = 0)",
        "A,D,G",
    ),
    ("did \"nonexistent\" in 30d", ""),
    ("NOT (Margin_pct < 0.2) OR did 'api_call' ever", "A,D,E,G"),
];

#[test]
fn each_rule_selects_the_expected_accounts() {
    let w = world();
    let t = table(&w);
    let l = log(&w);
    let sources: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    // All rules in one evaluation (one pass over the events).
    let result = run(&sources, &t, Some(&l), d0());
    let result = match result {
        Err(RunError::Rule(i, e)) if sources[i].contains("Margin_pct") => {
            // metric names are case-sensitive: the suggestion names the real one
            assert_eq!(e.message, "unknown metric `Margin_pct` (did you mean `margin_pct`?)");
            let mut s = sources.clone();
            s[i] = "NOT (margin_pct < 0.2) OR did 'api_call' ever";
            run(&s, &t, Some(&l), d0()).unwrap()
        }
        other => other.unwrap(),
    };
    let mut failures = Vec::new();
    for ((src, want), got) in CASES.iter().zip(&result) {
        if names(got) != *want {
            failures.push(format!("{src}: expected [{want}], got [{}]", names(got)));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn events_in_any_order_and_without_events() {
    let w = world();
    let t = table(&w);
    let mut rev = w.ev_account.clone();
    rev.reverse();
    let mut day = w.ev_day.clone();
    day.reverse();
    let mut kind = w.ev_kind.clone();
    kind.reverse();
    let l = EventLog { events: Events { account: &rev, day: &day, kind: &kind }, kinds: &w.kinds };
    let m = run(&["active_days in 30d >= 21", "did \"invite_team\" >= 3 times in 30d"], &t, Some(&l), d0()).unwrap();
    assert_eq!(names(&m[0]), "A,G");
    assert_eq!(names(&m[1]), "A,H");
    // No event log at all: every count is 0.
    let m = run(&["not did \"login\" in 30d"], &t, None, d0()).unwrap();
    assert_eq!(m[0].count(), 8);
}

fn err(src: &str) -> RuleError {
    let w = world();
    let t = table(&w);
    let l = log(&w);
    match run(&[src], &t, Some(&l), d0()) {
        Err(RunError::Rule(0, e)) => e,
        other => panic!("{src}: expected an error, got {other:?}"),
    }
}

#[test]
fn parse_errors_say_what_was_expected_and_where() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "the rule is empty: write a condition such as `margin < 0` or `did \"login\" in 30d`"),
        ("margin <", 9, "expected a number or quoted text after `<`, found the end of the rule"),
        ("margin < 0 and", 15, "expected a condition after `and`, found the end of the rule"),
        ("(margin < 0", 12, "expected `)` to close the `(` at column 1, found the end of the rule"),
        ("margin < 0)", 11, "unexpected `)`: there is no `(` for it to close"),
        ("margin < 0 revenue > 1", 12, "expected `and`, `or` or the end of the rule after a condition, found `revenue`"),
        ("not", 4, "expected a condition after `not`, found the end of the rule"),
        ("margin", 7, "expected a comparison (=, !=, <, <=, >, >=), `in`, `between` or `is null` after `margin`, found the end of the rule"),
        ("margin = null", 10, "nothing is equal to null: test a missing value with `is null` or `is not null`"),
        ("margin is nul", 11, "expected `null` after `is`, found `nul`"),
        ("did invite_team in 7d", 5, "expected an event name in quotes after `did`, found `invite_team`: write \"invite_team\""),
        ("did \"x\" 3 times in 7d", 9, "expected a comparison before the count, e.g. `did \"x\" >= 3 times`"),
        ("did \"x\" >= 3 in 7d", 14, "expected `times` after `3`, found `in`"),
        ("did \"x\" in 30", 12, "expected a window such as `30d` or `30 days`, found the number 30: add the unit"),
        ("did \"x\" in 30d >= 3", 16, "write the count before the window: `did \"x\" >= 3 times in 30d`"),
        ("did \"x\" in 0d", 12, "a window is at least 1 day long (`in 1d` is the as-of day alone)"),
        ("did \"x\" in 3 months", 12, "expected a window such as `30d` or `30 days`, found the number 3: add the unit"),
        ("did \"x\" in 3m", 13, "unknown unit `m` after a number: months have no fixed length: write the window in days, e.g. `90d`"),
        ("first \"x\"", 10, "expected `in` and a window (e.g. `in 7d`) after `\"x\"`, found the end of the rule"),
        ("active_days in 30d", 19, "expected a comparison such as `>= 20` after `30d`, found the end of the rule"),
        ("industry in ()", 14, "the list is empty: put at least one value between the parentheses"),
        ("industry in (\"a\" \"b\")", 18, "expected `,` or `)` to close the list opened at column 13, found the text \"b\""),
        ("industry = fintech", 12, "expected a number or quoted text after `=`, found `fintech` (metrics compare with values, not with other metrics; quote text: \"fintech\")"),
        ("\"fintech\" = industry", 1, "expected a metric name or an event condition, found the text \"fintech\" (to test an event write `did \"fintech\" in 30d`)"),
        ("5 < margin", 1, "expected a metric name on the left of the comparison, found the number 5 (write e.g. `employees > 50`)"),
        ("margin < 0 and and", 16, "expected a condition after `and`, found `and`"),
        ("margin ! 0", 8, "unexpected `!`: write `!=` for \"not equal\", or `not` to negate a condition"),
        ("industry = \"fin", 12, "this text is never closed: add a closing \""),
        ("did \"x\" in next 7d", 12, "events are only counted up to the as-of day: `in next ...` applies to dates such as renewal_day"),
    ];
    let mut failures = Vec::new();
    for (src, col, msg) in cases {
        let e = err(src);
        if (e.column, e.message.as_str()) != (*col, *msg) {
            failures.push(format!("{src:?}: expected column {col} {msg:?}, got column {} {:?}", e.column, e.message));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn binding_errors_name_the_metric_and_the_fix() {
    let cases: &[(&str, usize, &str)] = &[
        ("margn < 0", 1, "unknown metric `margn` (did you mean `margin`?)"),
        ("industry < \"a\"", 12, "industry is text: compare it with =, != or `in (...)`, not <"),
        ("employees > \"50\"", 13, "employees is a whole number, but \"50\" is text (remove the quotes to compare with a number)"),
        ("industry = 5", 12, "industry is text: put the value in quotes, \"5\""),
        ("revenue > 10%", 11, "revenue is an amount of money, but 10% is a percentage (percentages apply to ratios such as margin_pct)"),
        ("margin in 30d", 11, "a window applies to dates and events; margin is an amount of money"),
        ("signup_day > 5", 14, "signup_day is a date: write it as YYYY-MM-DD, e.g. 2025-01-31, or use a window such as `signup_day in 30d`"),
        ("signup_day = \"31/01/2025\"", 14, "signup_day is a date: write it as YYYY-MM-DD, e.g. 2025-01-31"),
        ("employees between 500 and 50", 19, "`between 500 and 50` is empty: the lower bound comes first (`between 50 and 500`)"),
    ];
    let mut failures = Vec::new();
    for (src, col, msg) in cases {
        let e = err(src);
        if (e.column, e.message.as_str()) != (*col, *msg) {
            failures.push(format!("{src:?}: expected column {col} {msg:?}, got column {} {:?}", e.column, e.message));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rules_that_can_never_match_are_rejected_with_the_reason() {
    let cases: &[(&str, usize, &str)] = &[
        ("margin < 1 and margin > 5", 1, "this rule can never match: `margin < 1` and `margin > 5` cannot both be true"),
        ("employees > 10 and employees is null", 1, "this rule can never match: `employees > 10` and `employees is null` cannot both be true"),
        ("industry = \"retail\" and industry = \"saas\"", 1, "this rule can never match: `industry = \"retail\"` and `industry = \"saas\"` cannot both be true"),
        ("industry in (\"a\", \"b\") and not industry in (\"b\", \"a\")", 1, "this rule can never match: `industry in (\"a\", \"b\")` and `not industry in (\"b\", \"a\")` cannot both be true"),
        ("revenue = 999.995", 1, "this rule can never match: `revenue = 999.995` can never be true"),
        ("employees > 10.5 and employees < 11", 1, "this rule can never match: `employees > 10.5` and `employees < 11` cannot both be true"),
        ("did \"login\" in 7d and not did \"login\" in 30d", 1, "this rule can never match: `did \"login\" in 7d` and `not did \"login\" in 30d` cannot both be true"),
        ("did \"a\" >= 5 times in 30d and did \"a\" < 5 times ever", 1, "this rule can never match: `did \"a\" >= 5 times in 30d` and `did \"a\" < 5 times ever` cannot both be true"),
        ("active_days in 7d >= 8", 1, "this rule can never match: `active_days in 7d >= 8` can never be true (a 7-day window has at most 7 active days)"),
        ("active_days in 30d >= 25 and active_days in 7d = 0", 1, "this rule can never match: `active_days in 30d >= 25` and `active_days in 7d = 0` cannot both be true"),
        ("did \"x\" in 7d and active_days in 30d = 0", 1, "this rule can never match: `did \"x\" in 7d` and `active_days in 30d = 0` cannot both be true"),
        ("first \"x\" in 7d and not did \"x\" in 30d", 1, "this rule can never match: `first \"x\" in 7d` and `not did \"x\" in 30d` cannot both be true"),
        ("first \"x\" in 7d and not first \"x\" in 30d", 1, "this rule can never match: `first \"x\" in 7d` and `not first \"x\" in 30d` cannot both be true"),
        ("first \"x\" in 7d and did \"x\" >= 2 times ever and did \"x\" < 2 times in 10d", 1, "this rule can never match: `first \"x\" in 7d`, `did \"x\" >= 2 times ever` and `did \"x\" < 2 times in 10d` cannot all be true"),
        ("did \"x\" < 0 times in 7d", 1, "this rule can never match: `did \"x\" < 0 times in 7d` can never be true (a count is 0 or more)"),
        ("renewal_day in next 7d and renewal_day in 30d", 1, "this rule can never match: `renewal_day in next 7d` and `renewal_day in 30d` cannot both be true"),
        ("not (margin < 0 or margin >= 0 or margin is null)", 6, "this rule can never match: `not margin < 0` and `not margin >= 0` cannot both be true"),
        (
            "(margin < 1 and margin > 5) or (employees < 1 and employees > 5)",
            2,
            "this rule can never match: each alternative contradicts itself: `margin < 1` and `margin > 5` cannot both be true; `employees < 1` and `employees > 5` cannot both be true",
        ),
    ];
    let mut failures = Vec::new();
    for (src, col, msg) in cases {
        let e = err(src);
        if (e.column, e.message.as_str()) != (*col, *msg) {
            failures.push(format!("{src:?}: expected column {col} {msg:?}, got column {} {:?}", e.column, e.message));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn satisfiable_rules_are_not_rejected() {
    let w = world();
    let t = table(&w);
    let l = log(&w);
    for src in [
        "margin <= 1 and margin >= 1",
        "did \"a\" >= 5 times in 30d and did \"a\" < 5 times in 7d",
        "not did \"a\" in 7d and did \"a\" in 30d",
        "first \"x\" in 30d and not first \"x\" in 7d",
        "not first \"x\" in 7d and did \"x\" in 7d",
        "active_days in 30d >= 23 and active_days in 7d = 0",
        "not did \"a\" and not did \"b\"",
        "margin_pct > 0.1 and margin_pct < 0.1000001",
        "employees != 5 and employees != 6 and employees between 5 and 7",
        "signup_day in 30d and signup_day >= 2025-01-01",
    ] {
        let schema = t.schema(Some(&l));
        if let Err(e) = compile(src, &schema) {
            panic!("{src}: {e}");
        }
    }
}

#[test]
fn warnings_for_dead_branches_unknown_events_and_values() {
    let w = world();
    let t = table(&w);
    let l = log(&w);
    let schema = t.schema(Some(&l));
    let r = compile("(margin < 1 and margin > 5) or industry = \"fintec\" or did \"invte_team\" in 7d", &schema).unwrap();
    let msgs: Vec<String> = r.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        msgs,
        vec![
            "column 43: \"fintec\" never occurs in industry (did you mean \"fintech\"?)",
            "column 59: no event \"invte_team\" in the data (did you mean \"invite_team\"?): it counts as never done",
            "column 2: this part of the rule can never match: `margin < 1` and `margin > 5` cannot both be true",
        ]
    );
}

#[test]
fn the_window_boundary_is_inclusive_of_the_as_of_day_and_n_minus_1_days_before() {
    // One account, one event per day of age 0..=9: `in Nd` sees exactly N of them.
    let d = 20_000;
    let acc = vec![0u32; 10];
    let day: Vec<i32> = (0..10).map(|a| d - a).collect();
    let kind = vec![0u32; 10];
    let kinds = vec!["e".to_string()];
    let l = EventLog { events: Events { account: &acc, day: &day, kind: &kind }, kinds: &kinds };
    let t = Table { n_rows: 1, account: None, columns: vec![] };
    for n in 1..=10 {
        let ok = format!("did \"e\" = {n} times in {n}d and active_days in {n}d = {n}");
        let m = run(&[&ok], &t, Some(&l), d).unwrap();
        assert_eq!(m[0].count(), 1, "{ok}");
    }
    // As of the day before, the newest event is in the future and not counted.
    let m = run(&["did \"e\" = 9 times ever", "first \"e\" in 9d", "first \"e\" in 8d"], &t, Some(&l), d - 1).unwrap();
    assert_eq!(m.iter().map(|m| m.count()).collect::<Vec<_>>(), vec![1, 1, 0]);
}

#[test]
fn inputs_are_checked() {
    let v = vec![1i64, 2];
    let t = Table {
        n_rows: 3,
        account: None,
        columns: vec![MetricColumn { name: "x".into(), unit: Unit::Int, values: Values::I64(&v), valid: None, per_account: false }],
    };
    assert_eq!(run(&["x > 1"], &t, None, 0), Err(RunError::Input("column x has 2 values, the table 3 rows".into())));
    let t = Table {
        n_rows: 2,
        account: None,
        columns: vec![MetricColumn { name: "x".into(), unit: Unit::Text, values: Values::I64(&v), valid: None, per_account: false }],
    };
    assert_eq!(run(&["x > 1"], &t, None, 0), Err(RunError::Input("column x: Text cannot be stored as i64".into())));
}

#[test]
fn many_accounts_many_rounds_and_a_permuted_row_order_agree_with_naive_counts() {
    // 9000 accounts (several partition blocks), rows in a scrambled account order, events in
    // random order (many scan rounds under test), some of accounts outside the table.
    let n = 9000usize;
    let d = 20_000;
    let mut x: u64 = 12345;
    let mut rnd = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let accounts: Vec<u32> = (0..n as u32).map(|r| (r * 7919 + 13) % (n as u32 + 500)).collect();
    let n_ev = 60_000;
    let ev_account: Vec<u32> = (0..n_ev).map(|_| rnd(n as u64 + 800) as u32).collect();
    let ev_day: Vec<i32> = (0..n_ev).map(|_| d + 2 - rnd(50) as i32).collect();
    let ev_kind: Vec<u32> = (0..n_ev).map(|_| rnd(3) as u32).collect();
    let kinds: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let t = Table { n_rows: n, account: Some(&accounts), columns: vec![] };
    let l = EventLog { events: Events { account: &ev_account, day: &ev_day, kind: &ev_kind }, kinds: &kinds };
    let rules = ["did \"a\" >= 2 times in 10d", "active_days in 20d >= 3", "first \"b\" in 30d", "did \"c\" = 0 times ever"];
    let m = run(&rules, &t, Some(&l), d).unwrap();
    let mut by_account: Vec<Vec<usize>> = vec![Vec::new(); n + 800];
    for i in 0..n_ev {
        if ev_day[i] <= d {
            by_account[ev_account[i] as usize].push(i);
        }
    }
    for (row, &acc) in accounts.iter().enumerate() {
        let mine = &by_account[acc as usize];
        let count_a = mine.iter().filter(|&&i| ev_kind[i] == 0 && d - ev_day[i] < 10).count();
        let mut days: Vec<i32> = mine.iter().filter(|&&i| d - ev_day[i] < 20).map(|&i| ev_day[i]).collect();
        days.sort();
        days.dedup();
        let first_b = mine.iter().filter(|&&i| ev_kind[i] == 1).map(|&i| ev_day[i]).min();
        let any_c = mine.iter().any(|&i| ev_kind[i] == 2);
        let want = [count_a >= 2, days.len() >= 3, first_b.is_some_and(|f| d - f < 30), !any_c];
        for (k, w) in want.iter().enumerate() {
            assert_eq!(m[k].get(row), *w, "rule {} row {row} account {acc}", rules[k]);
        }
    }
    assert!(m.iter().all(|x| x.count() > 0 && x.count() < n), "{:?}", m.iter().map(|x| x.count()).collect::<Vec<_>>());
}
