//! Kernel tests: the design's definitions on small, hand-checked worlds.

use super::config::*;
use super::maps::*;
use super::*;

/// Owned columns for building `Inputs` in tests.
#[derive(Default, Clone)]
pub struct World {
    pub n: usize,
    pub li_account: Vec<u32>,
    pub li_day: Vec<i32>,
    pub li_amount: Vec<i64>,
    pub li_invoice: Vec<i64>,
    pub c_account: Vec<i64>,
    pub c_day: Vec<i32>,
    pub c_category: Vec<u32>,
    pub c_amount: Vec<i64>,
    pub c_units: Vec<i64>,
    pub e_account: Vec<u32>,
    pub e_day: Vec<i32>,
    pub e_kind: Vec<u32>,
    pub employees: Vec<i64>,
    pub mrr: Vec<i64>,
    pub seats: Vec<i64>,
    pub seat_limit: Vec<i64>,
    pub signup: Vec<i32>,
    pub renewal: Vec<i32>,
    pub categories: Vec<String>,
    pub kinds: Vec<String>,
}

impl World {
    pub fn new(n: usize) -> Self {
        World { n, categories: vec!["hosting".into(), "support".into()], ..Default::default() }
    }
    pub fn line(&mut self, a: u32, day: i32, amount: i64, invoice: i64) -> &mut Self {
        self.li_account.push(a);
        self.li_day.push(day);
        self.li_amount.push(amount);
        self.li_invoice.push(invoice);
        self
    }
    pub fn cost(&mut self, a: i64, day: i32, cat: u32, amount: i64) -> &mut Self {
        self.c_account.push(a);
        self.c_day.push(day);
        self.c_category.push(cat);
        self.c_amount.push(amount);
        self.c_units.push(NULL_I64);
        self
    }
    pub fn event(&mut self, a: u32, day: i32, kind: &str) -> &mut Self {
        let k = match self.kinds.iter().position(|x| x == kind) {
            Some(k) => k,
            None => {
                self.kinds.push(kind.into());
                self.kinds.len() - 1
            }
        };
        self.e_account.push(a);
        self.e_day.push(day);
        self.e_kind.push(k as u32);
        self
    }
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            n_accounts: self.n,
            line_items: LineItems {
                account: &self.li_account,
                day: &self.li_day,
                amount: &self.li_amount,
                invoice_key: &self.li_invoice,
            },
            costs: Costs {
                account: &self.c_account,
                day: &self.c_day,
                category: &self.c_category,
                amount: &self.c_amount,
                driver_units: &self.c_units,
            },
            events: Events { account: &self.e_account, day: &self.e_day, kind: &self.e_kind },
            accounts: AccountCols {
                employees: &self.employees,
                mrr: &self.mrr,
                seats: &self.seats,
                seat_limit: &self.seat_limit,
                signup_day: &self.signup,
                renewal_day: &self.renewal,
            },
            cost_categories: &self.categories,
            event_kinds: &self.kinds,
        }
    }
    pub fn score(&self, d: i32) -> ScoreResult {
        score(&self.inputs(), d, &ScoreConfig::default()).expect("scores")
    }
    pub fn score_with(&self, d: i32, cfg: &ScoreConfig) -> ScoreResult {
        score(&self.inputs(), d, cfg).expect("scores")
    }
}

fn seg(r: &ScoreResult, i: usize) -> &str {
    &r.rfm_segment_labels[r.scores.rfm_segment[i] as usize]
}

fn row(r: &ScoreResult, account: u32) -> usize {
    r.scores.account.iter().position(|&a| a == account).expect("account in snapshot")
}

#[test]
fn purchases_are_distinct_positive_invoices_and_account_days() {
    let mut w = World::new(3);
    // account 0: invoice 11 on day 10 (two lines), invoice 12 fully refunded on day 12,
    // no-invoice lines on day 15 (two lines = one purchase) and day 16.
    w.line(0, 10, 500, 11).line(0, 10, 300, 11);
    w.line(0, 12, 400, 12).line(0, 13, -400, 12);
    w.line(0, 15, 100, 0).line(0, 15, 50, 0).line(0, 16, 70, 0);
    // account 1: only a refund -> no purchase.
    w.line(1, 11, -90, 99);
    // account 2: a line after the as-of date only -> not in the snapshot.
    w.line(2, 30, 1000, 5);
    let r = w.score(20);
    assert_eq!(r.scores.account, vec![0, 1]);
    let s = &r.scores;
    assert_eq!(s.frequency[0], 3); // invoice 11, day 15, day 16 (invoice 12 nets to zero)
    assert_eq!(s.recency_days[0], 4);
    assert_eq!(s.monetary[0], 500 + 300 + 400 - 400 + 100 + 50 + 70);
    assert_eq!(s.revenue[0], s.monetary[0]);
    assert_eq!((s.r_score[0], s.f_score[0], s.m_score[0]), (1, 1, 1));
    assert_eq!(s.recency_days[1], NULL_I64);
    assert_eq!((s.r_score[1], s.f_score[1], s.m_score[1]), (0, 0, 0));
    assert_eq!(seg(&r, 1), NO_PURCHASE);
    assert_eq!(s.revenue[1], -90);
    assert_eq!(s.monetary[1], -90);
    assert!(s.margin_pct[1].is_nan());
}

#[test]
fn one_account_scores_one_everywhere() {
    let mut w = World::new(1);
    w.line(0, 5, 100, 1);
    let r = w.score(5);
    assert_eq!((r.scores.r_score[0], r.scores.f_score[0], r.scores.m_score[0]), (1, 1, 1));
    assert_eq!(seg(&r, 0), "Lost");
    assert_eq!(r.rfm5_segment_labels[r.scores.rfm5_segment[0] as usize], "Lost");
    assert_eq!(r.scores.recency_days[0], 0);
}

#[test]
fn tie_rule_over_accounts() {
    // 10 accounts, frequencies all equal (one purchase each), recency and monetary distinct.
    let mut w = World::new(10);
    for a in 0..10u32 {
        w.line(a, 100 + a as i32, 100 * (a as i64 + 1), a as i64 + 1);
    }
    let r = w.score(200);
    let s = &r.scores;
    assert!(s.f_score.iter().all(|&f| f == 1), "all-equal frequencies share the lowest score");
    assert_eq!(s.r_score, vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    assert_eq!(s.m_score, vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    // Ties in monetary: accounts 0..4 spend 100, 5..9 spend 200.
    let mut w = World::new(10);
    for a in 0..10u32 {
        w.line(a, 100, if a < 5 { 100 } else { 200 }, a as i64 + 1);
    }
    let r = w.score(100);
    assert_eq!(r.scores.m_score, vec![1, 1, 1, 1, 1, 3, 3, 3, 3, 3]);
    assert!(r.scores.r_score.iter().all(|&x| x == 1));
}

#[test]
fn refunds_larger_than_purchases() {
    let mut w = World::new(2);
    w.line(0, 1, 100, 1).line(0, 2, -300, 2);
    w.line(1, 1, 50, 3);
    let r = w.score(10);
    let s = &r.scores;
    assert_eq!(s.frequency[0], 1);
    assert_eq!(s.monetary[0], -200);
    assert_eq!(s.revenue[0], -200);
    assert!(s.margin_pct[0].is_nan());
    assert_eq!(s.m_score, vec![1, 3]);
    assert_eq!(s.margin[0], -200);
}

#[test]
fn costs_without_revenue_and_pooled_allocation() {
    let mut w = World::new(4);
    w.line(0, 1, 300, 1).line(1, 1, 100, 2).line(2, 1, -50, 3);
    w.cost(3, 1, 0, 40); // account 3: cost only
    w.cost(POOLED, 1, 1, 101); // support pool by revenue: 0 gets 3/4, 1 gets 1/4
    let r = w.score(5);
    let s = &r.scores;
    assert_eq!(s.account, vec![0, 1, 2, 3]);
    assert_eq!(seg(&r, 3), NO_PURCHASE);
    assert_eq!(s.revenue[3], 0);
    assert_eq!(s.direct_cost[3], 40);
    assert_eq!(s.allocated_cost, vec![76, 25, 0, 0]); // 75.75 -> 75 (+1), 25.25 -> 25
    assert_eq!(s.margin[3], -40);
    assert_eq!(r.pools.len(), 1);
    assert_eq!(r.pools[0], PoolAllocation { category: "support".into(), driver: "revenue".into(), pooled: 101, allocated: 101, unallocated: 0 });
    assert_eq!(s.allocated_cost.iter().sum::<i64>(), 101);
}

#[test]
fn pool_with_zero_driver_everywhere_is_unallocated() {
    let mut w = World::new(2);
    w.line(0, 1, -10, 1);
    w.cost(1, 1, 0, 5);
    w.cost(POOLED, 1, 1, 77);
    let r = w.score(5);
    assert_eq!(r.pools[0].pooled, 77);
    assert_eq!(r.pools[0].allocated, 0);
    assert_eq!(r.pools[0].unallocated, 77);
    assert!(r.scores.allocated_cost.iter().all(|&c| c == 0));
}

#[test]
fn empty_inputs_and_empty_windows() {
    let w = World::new(0);
    let r = w.score(100);
    assert!(r.scores.account.is_empty());
    assert!(r.pools.is_empty());
    let w = World::new(5);
    assert!(w.score(100).scores.account.is_empty());
    // Everything after the as-of date: empty snapshot.
    let mut w = World::new(2);
    w.line(0, 50, 100, 1).cost(1, 60, 0, 5).cost(POOLED, 60, 1, 9);
    let r = w.score(10);
    assert!(r.scores.account.is_empty());
    assert!(r.pools.is_empty());
    // A 30-day window with no activity in it: accounts stay, with zero frequency.
    let mut cfg = ScoreConfig::default();
    cfg.rfm.window_days = Some(30);
    let mut w = World::new(2);
    w.line(0, 10, 100, 1).line(1, 100, 100, 2);
    let r = w.score_with(200, &cfg);
    assert_eq!(r.scores.account, vec![0, 1]);
    assert_eq!(r.scores.frequency, vec![0, 0]);
    assert_eq!(r.scores.monetary, vec![0, 0]);
    assert_eq!(r.scores.recency_days, vec![190, 100]);
    assert_eq!(r.scores.r_score, vec![1, 3]);
    assert_eq!(r.scores.quadrant, vec![0, 0], "no revenue or cost in the window: no quadrant");
}

#[test]
fn window_limits_frequency_monetary_and_costs() {
    let mut cfg = ScoreConfig::default();
    cfg.rfm.window_days = Some(10);
    let mut w = World::new(1);
    w.line(0, 80, 100, 1).line(0, 91, 200, 2).line(0, 100, 300, 3);
    w.cost(0, 90, 0, 7).cost(0, 95, 0, 11);
    let r = w.score_with(100, &cfg);
    let s = &r.scores;
    assert_eq!(s.frequency[0], 2);
    assert_eq!(s.monetary[0], 500);
    assert_eq!(s.direct_cost[0], 11);
    assert_eq!(s.recency_days[0], 0);
}

#[test]
fn quadrant_uses_exact_even_median() {
    // Revenues 100, 200, 300, 400: median 250. Costs 10, 10, 30, 30: median 20.
    let mut w = World::new(4);
    for (a, (rev, cost)) in [(100, 10), (200, 30), (300, 10), (400, 30)].iter().enumerate() {
        w.line(a as u32, 1, *rev, a as i64 + 1);
        w.cost(a as i64, 1, 0, *cost);
    }
    let r = w.score(2);
    let q: Vec<&str> = r.scores.quadrant.iter().map(|&c| r.quadrant_labels[c as usize].as_str()).collect();
    assert_eq!(q, vec!["low revenue, low cost", "low revenue, high cost", "high revenue, low cost", "high revenue, high cost"]);
    // Median 250.5 (odd sum): revenue 250 is low, 251 is high; exact, no float.
    let mut w = World::new(2);
    w.line(0, 1, 250, 1).line(1, 1, 251, 2);
    let r = w.score(2);
    assert_eq!(r.scores.quadrant.iter().map(|&c| c <= 2).collect::<Vec<_>>(), vec![false, true]);
}

#[test]
fn margin_and_margin_pct() {
    let mut w = World::new(1);
    w.line(0, 1, 1000, 1).cost(0, 1, 0, 250);
    let r = w.score(1);
    assert_eq!(r.scores.margin[0], 750);
    assert_eq!(r.scores.margin_pct[0], 0.75);
}

#[test]
fn all_125_triples_map_to_exactly_one_segment_in_each_map() {
    let c = ScoreConfig::default();
    for r in 1..=5u8 {
        for f in 1..=5u8 {
            for m in 1..=5u8 {
                let a = c.rfm11.code(r, f, m);
                let b = c.rfm5.code(r, f, m);
                assert!(a >= 1 && (a as usize) < c.rfm11.labels.len());
                assert!(b >= 1 && (b as usize) < c.rfm5.labels.len());
                // rfm5 coarsens rfm11: the same rfm11 segment always lands in one rfm5 segment.
                let coarse = &c.rfm5.defs[b as usize - 1];
                assert!(coarse.rfm11.contains(&c.rfm11.labels[a as usize]));
            }
        }
    }
    // The design's grid, cell by cell (rows FM 5..1, columns R 1..5).
    let grid = [
        ["Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"],
        ["Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"],
        ["At Risk", "At Risk", "Need Attention", "Potential Loyalist", "Potential Loyalist"],
        ["Lost", "Hibernating", "About to Sleep", "Potential Loyalist", "Potential Loyalist"],
        ["Lost", "Hibernating", "About to Sleep", "Promising", "New Customers"],
    ];
    for r in 1..=5u8 {
        for f in 1..=5u8 {
            for m in 1..=5u8 {
                let want = grid[(5 - fm(f, m)) as usize][r as usize - 1];
                assert_eq!(c.rfm11.labels[c.rfm11.code(r, f, m) as usize], want, "r{r} f{f} m{m}");
            }
        }
    }
    assert_eq!(c.rfm11.code(0, 3, 3), 0);
    assert_eq!(c.rfm11.labels[0], NO_PURCHASE);
}

#[test]
fn map_validation_names_the_cell() {
    let e = ScoreConfig::from_json(r#"{"maps": {"rfm11": [{"name": "All", "cells": ["r1-5 fm1-4"]}]}}"#).unwrap_err();
    assert_eq!(e.key, "maps.rfm11");
    assert!(e.message.contains("cell r1 f4 m5 (fm5) has no segment"), "{e}");
    let e = ScoreConfig::from_json(
        r#"{"maps": {"rfm11": [{"name": "A", "cells": ["r1-5"]}, {"name": "B", "cells": ["r5 f5 m5"]}]}}"#,
    )
    .unwrap_err();
    assert!(e.message.contains("cell r5 f5 m5 (fm5) is named twice: \"A\" and \"B\""), "{e}");
    let e = ScoreConfig::from_json(r#"{"maps": {"rfm11": [{"name": "A", "cells": ["r1-6"]}]}}"#).unwrap_err();
    assert_eq!(e.key, "maps.rfm11[0].cells[0]");
    let e = ScoreConfig::from_json(r#"{"maps": {"rfm5": [{"name": "Everyone", "rfm11": ["Champions", "Loyal"]}]}}"#)
        .unwrap_err();
    assert!(e.to_string().starts_with("maps.rfm5: cell r1 f1 m1 (fm1) has no segment"), "{e}");
    let e = ScoreConfig::from_json(r#"{"maps": {"rfm5": [{"name": "X", "rfm11": ["Champs"]}]}}"#).unwrap_err();
    assert_eq!(e.key, "maps.rfm5[0].rfm11[0]");
    // A custom rfm11 needs a matching rfm5.
    let e = ScoreConfig::from_json(r#"{"maps": {"rfm11": [{"name": "All", "cells": ["r1-5"]}]}}"#).unwrap_err();
    assert_eq!(e.key, "maps.rfm5");
    let ok = ScoreConfig::from_json(
        r#"{"maps": {"rfm11": [{"name": "All", "cells": ["r1-5"]}], "rfm5": [{"name": "Everyone", "rfm11": ["All"]}]}}"#,
    )
    .unwrap();
    assert_eq!(ok.rfm11.labels, vec![NO_PURCHASE, "All"]);
}

#[test]
fn config_errors_name_the_key() {
    let e = ScoreConfig::from_json(r#"{"rfm": {"window_days": -3}}"#).unwrap_err();
    assert_eq!(e.to_string(), "rfm.window_days: expected a positive integer, got -3");
    let e = ScoreConfig::from_json(r#"{"rfm": {"windows": 3}}"#).unwrap_err();
    assert_eq!(e.key, "rfm.windows");
    assert!(e.message.starts_with("unknown key"));
    let e = ScoreConfig::from_json(r#"{"costs": {"drivers": {"hosting": "cpu"}}}"#).unwrap_err();
    assert_eq!(e.key, "costs.drivers.hosting");
    let e = ScoreConfig::from_json(r#"{"churn": {"weights": {"failed_payment": 120}}}"#).unwrap_err();
    assert_eq!(e.to_string(), "churn.weights.failed_payment: expected an integer from 0 to 100, got 120");
    let e = ScoreConfig::from_json(r#"{"churn": {"gap_factor_pct": 300, "gap_long_factor_pct": 200}}"#).unwrap_err();
    assert_eq!(e.to_string(), "churn.gap_long_factor_pct: must not be below gap_factor_pct (300), got 200");
    let e = ScoreConfig::from_json(r#"{"churn": {"gap_min_purchases": 1}}"#).unwrap_err();
    assert_eq!(e.to_string(), "churn.gap_min_purchases: expected an integer of at least 2, got 1");
    let e = ScoreConfig::from_json(r#"{"rfm": {"thresholds": {"recency": [10, 20, 30, 40]}}}"#).unwrap_err();
    assert_eq!(e.key, "rfm.thresholds.recency");
    let e = ScoreConfig::from_json(r#"{"mode": "b2b"}"#).unwrap_err();
    assert_eq!(e.key, "mode");
    let e = ScoreConfig::from_json("[1, 2]").unwrap_err();
    assert!(e.message.contains("expected a table"));
    let e = ScoreConfig::from_json("{").unwrap_err();
    assert!(e.message.contains("not valid JSON"));
}

#[test]
fn canonical_json_round_trips() {
    let c = ScoreConfig::default();
    let j = c.to_canonical_json();
    assert_eq!(ScoreConfig::from_json(&j).unwrap(), c);
    let c2 = ScoreConfig::from_json(
        r#"{"mode": "saas", "rfm": {"window_days": 365, "thresholds": {"frequency": [2, 3, 5, 8]}},
            "costs": {"drivers": {"support": "events:support_ticket", "hosting": "equal"}},
            "tier": {"core_features": ["report"]}}"#,
    )
    .unwrap();
    let j2 = c2.to_canonical_json();
    assert_ne!(j, j2);
    assert_eq!(ScoreConfig::from_json(&j2).unwrap(), c2);
    assert_eq!(ScoreConfig::from_json(&j2).unwrap().to_canonical_json(), j2);
}

#[test]
fn bad_input_columns_are_errors() {
    let mut w = World::new(2);
    w.line(5, 1, 100, 1);
    let e = score(&w.inputs(), 10, &ScoreConfig::default()).unwrap_err();
    assert!(e.message.contains("line_items.account, row 0"), "{e}");
    let mut w = World::new(2);
    w.line(0, 1, 100, 1);
    w.li_day.pop();
    let e = score(&w.inputs(), 10, &ScoreConfig::default()).unwrap_err();
    assert!(e.message.contains("line_items.day"), "{e}");
    let mut w = World::new(2);
    w.cost(0, 1, 7, 100);
    let e = score(&w.inputs(), 10, &ScoreConfig::default()).unwrap_err();
    assert!(e.message.contains("costs.category, row 0"), "{e}");
    let mut w = World::new(2);
    w.employees = vec![1];
    let e = score(&w.inputs(), 10, &ScoreConfig::default()).unwrap_err();
    assert!(e.message.contains("accounts.employees"), "{e}");
}

/// A synthetic world like the benchmark's (skewed accounts, ~3 lines per invoice, refunds,
/// lines without invoice, 30 % pooled costs over 8 categories), rows in random order.
pub fn synthetic(n_lines: usize, n_accounts: usize, n_costs: usize, seed: u64) -> World {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut w = World::new(n_accounts);
    w.categories = (0..8).map(|i| format!("cat{i}")).collect();
    let n_inv = (n_lines / 3).max(1);
    let heavy = (n_accounts / 20).max(1) as u64;
    let inv: Vec<(u32, i32)> = (0..n_inv)
        .map(|_| {
            let a = if next() % 2 == 0 { next() % heavy } else { next() % n_accounts as u64 };
            (a as u32, 19_000 + (next() % 1095) as i32)
        })
        .collect();
    for _ in 0..n_lines {
        let k = (next() % n_inv as u64) as usize;
        let key = if next() % 20 == 0 { 0 } else { k as i64 + 1 };
        let amt = if next() % 33 == 0 { -((next() % 30_000) as i64) } else { 100 + (next() % 20_000) as i64 };
        w.line(inv[k].0, inv[k].1, amt, key);
    }
    for _ in 0..n_costs {
        let a = if next() % 10 < 3 { POOLED } else { (next() % n_accounts as u64) as i64 };
        w.cost(a, 19_000 + (next() % 1095) as i32, (next() % 8) as u32, 10 + (next() % 5000) as i64);
    }
    w
}

#[test]
#[ignore = "timing run: cargo test --release -p segtui-core -- --ignored --nocapture phases"]
fn phases() {
    let n_lines: usize = std::env::var("LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let w = synthetic(n_lines, n_lines / 10, n_lines / 5, 42);
    // Process CPU seconds (user + system) from /proc: stable under a busy machine.
    let cpu = || -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (t(11) + t(12)) / 100.0
    };
    let faults = || -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        f.get(7).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    let iters: usize = std::env::var("ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for _ in 0..iters {
        let (t, c, pf) = (std::time::Instant::now(), cpu(), faults());
        let r = w.score(20_094);
        let (total, cpu_s) = (t.elapsed().as_secs_f64(), cpu() - c);
        eprintln!("page faults: {}", faults() - pf);
        let phases: Vec<String> = r.timings.iter().map(|(p, s)| format!("{p} {:.1}", s * 1e3)).collect();
        eprintln!("wall {:.1} ms, cpu {:.0} ms: {}", total * 1e3, cpu_s * 1e3, phases.join(", "));
    }
}

/// A plain re-statement of section 4–6 of the definitions, for comparison on random worlds:
/// (account -> (frequency, last purchase day, revenue, direct cost)) over members.
fn brute_force(w: &World, d: i32, win: Option<i64>) -> std::collections::BTreeMap<u32, (i64, Option<i32>, i64, i64)> {
    use std::collections::{BTreeMap, HashMap};
    let in_win = |day: i32| win.is_none_or(|wd| i64::from(d) - i64::from(day) < wd);
    let mut units: HashMap<(u32, i64, i32), (i128, i32)> = HashMap::new();
    let mut out: BTreeMap<u32, (i64, Option<i32>, i64, i64)> = BTreeMap::new();
    for i in 0..w.li_account.len() {
        let (a, day, amt, key) = (w.li_account[i], w.li_day[i], w.li_amount[i], w.li_invoice[i]);
        if day > d {
            continue;
        }
        let e = out.entry(a).or_default();
        if in_win(day) {
            e.2 += amt;
        }
        let u = units.entry((a, key, if key == 0 { day } else { 0 })).or_insert((0, day));
        u.0 += i128::from(amt);
        u.1 = u.1.min(day);
    }
    for ((a, _, _), (net, day)) in units {
        if net > 0 {
            let e = out.get_mut(&a).unwrap();
            if in_win(day) {
                e.0 += 1;
            }
            e.1 = Some(e.1.map_or(day, |x| x.max(day)));
        }
    }
    for i in 0..w.c_account.len() {
        let (a, day) = (w.c_account[i], w.c_day[i]);
        if a >= 0 && day <= d {
            let e = out.entry(a as u32).or_default();
            if in_win(day) {
                e.3 += w.c_amount[i];
            }
        }
    }
    out
}

#[test]
fn random_worlds_match_a_brute_force_restatement() {
    for (seed, lines, accounts) in [(1u64, 3_000usize, 40usize), (2, 20_000, 3_000), (3, 5_000, 7), (4, 200, 500)] {
        let w = synthetic(lines, accounts, lines / 5, seed);
        for (d, win) in [(20_094, None), (19_600, Some(90)), (19_000, Some(1)), (20_500, Some(365))] {
            let mut cfg = ScoreConfig::default();
            cfg.rfm.window_days = win;
            let r = w.score_with(d, &cfg);
            let s = &r.scores;
            let expect = brute_force(&w, d, win);
            assert_eq!(s.account, expect.keys().copied().collect::<Vec<_>>(), "seed {seed} d {d}");
            for (i, (_, &(freq, last, rev, direct))) in expect.iter().enumerate() {
                assert_eq!(s.frequency[i], freq, "seed {seed} d {d} account {}", s.account[i]);
                assert_eq!(s.recency_days[i], last.map_or(NULL_I64, |l| i64::from(d - l)));
                assert_eq!(s.revenue[i], rev);
                assert_eq!(s.monetary[i], rev);
                assert_eq!(s.direct_cost[i], direct);
                assert_eq!(s.margin[i], rev - direct - s.allocated_cost[i]);
            }
            let pooled: i64 = r.pools.iter().map(|p| p.pooled).sum();
            let allocated: i64 = r.pools.iter().map(|p| p.allocated).sum();
            let unallocated: i64 = r.pools.iter().map(|p| p.unallocated).sum();
            assert_eq!(allocated + unallocated, pooled);
            assert_eq!(s.allocated_cost.iter().sum::<i64>(), allocated);
            // Per-pool shares: each pool sums to its allocated amount, per account they sum to
            // the account's allocated cost.
            assert_eq!(r.pool_shares.len(), r.pools.len());
            for (p, shares) in r.pools.iter().zip(&r.pool_shares) {
                assert!(shares.is_empty() || shares.len() == s.account.len());
                assert_eq!(shares.iter().sum::<i64>(), p.allocated, "seed {seed} d {d} pool {}", p.category);
            }
            for i in 0..s.account.len() {
                let by_pool: i64 = r.pool_shares.iter().filter(|v| !v.is_empty()).map(|v| v[i]).sum();
                assert_eq!(by_pool, s.allocated_cost[i]);
            }
            // Scores by the tie rule over the accounts with a purchase.
            let scored: Vec<usize> = (0..s.account.len()).filter(|&i| s.recency_days[i] != NULL_I64).collect();
            let n = scored.len();
            for &i in &scored {
                let worse_r = scored.iter().filter(|&&j| s.recency_days[j] > s.recency_days[i]).count();
                let worse_f = scored.iter().filter(|&&j| s.frequency[j] < s.frequency[i]).count();
                let worse_m = scored.iter().filter(|&&j| s.monetary[j] < s.monetary[i]).count();
                assert_eq!(s.r_score[i] as usize, 1 + 5 * worse_r / n);
                assert_eq!(s.f_score[i] as usize, 1 + 5 * worse_f / n);
                assert_eq!(s.m_score[i] as usize, 1 + 5 * worse_m / n);
            }
        }
    }
}

/// (churn_risk, reason bits) of `account`.
fn churn(r: &ScoreResult, account: u32) -> (u8, u32) {
    let i = row(r, account);
    (r.scores.churn_risk[i], r.scores.churn_reasons[i])
}

#[test]
fn inactivity_is_measured_against_the_usual_gap_in_two_levels() {
    const D: i32 = 1000;
    // Purchases 10 days apart (k = 3, usual gap 10), the last one s days before D: half the
    // weight (20) beyond 200 % of the gap, all of it (40) beyond 400 %. Accounts 0..4: s = 20
    // (exactly 200 %), 21, 40 (exactly 400 %), 41; account 4: k = 2, so the default gap of 90
    // applies and s = 100 is below 180 although it is 20 times its single gap of 5 days.
    let mut w = World::new(5);
    for (a, s) in [(0u32, 20), (1, 21), (2, 40), (3, 41)] {
        for g in [0, 10, 20] {
            w.line(a, D - s - g, 100, 0);
        }
    }
    w.line(4, D - 105, 100, 0).line(4, D - 100, 100, 0);
    // product use every day of the last 120, so that activity_drop stays out of the way
    for a in 0..5 {
        for g in 0..120 {
            w.event(a, D - g, "create_task");
        }
    }
    let r = w.score(D);
    assert_eq!(churn(&r, 0), (0, 0));
    assert_eq!(churn(&r, 1), (20, 1));
    assert_eq!(churn(&r, 2), (20, 1));
    assert_eq!(churn(&r, 3), (40, 1));
    assert_eq!(churn(&r, 4), (0, 0));
    // An odd weight halves down: 25 -> 12 at the first level.
    let cfg = ScoreConfig::from_json(r#"{"churn": {"weights": {"inactive_beyond_usual_gap": 25}}}"#).unwrap();
    let r = w.score_with(D, &cfg);
    assert_eq!((churn(&r, 1).0, churn(&r, 3).0), (12, 25));
    // With gap_min_purchases = 2 account 4's own gap (5 days) counts: 100 > 400 % of 5.
    let cfg = ScoreConfig::from_json(r#"{"churn": {"gap_min_purchases": 2}}"#).unwrap();
    assert_eq!(churn(&w.score_with(D, &cfg), 4), (40, 1));
}

#[test]
fn activity_is_product_use_when_there_is_any() {
    const D: i32 = 1000;
    let mut w = World::new(4);
    // Everyone buys every 10 days up to D-2: nothing overdue, recent purchase days 3, prior 9.
    for a in 0..4 {
        for i in 0..12 {
            w.line(a, D - 2 - 10 * i, 100, 0);
        }
    }
    // 0: used the product on 7 prior days, none in the last 30: stopped -> full weight 40.
    // 1: the same plus one recent login: 1/30 < 50 % of 7/90 -> dropped, half weight 20.
    // 2: used the product once, 200 days ago: a product user with no recent use -> stopped, 40.
    // 3: no product use: judged on its purchase days, 3/30 is not below 50 % of 9/90 -> nothing.
    for a in [0u32, 1] {
        for g in [35, 40, 50, 60, 80, 100, 110] {
            w.event(a, D - g, "create_task");
        }
    }
    w.event(1, D - 3, "login").event(2, D - 200, "login");
    // tickets and failed payments are not product use
    w.event(3, D - 1, "support_ticket").event(3, D - 50, "payment_failed");
    let r = w.score(D);
    assert_eq!(churn(&r, 0), (40, 2));
    assert_eq!(churn(&r, 1), (20, 2));
    assert_eq!(churn(&r, 2), (40, 2));
    assert_eq!(churn(&r, 3), (0, 0));
}

fn cfg(json: &str) -> ScoreConfig {
    ScoreConfig::from_json(json).expect("valid config")
}

fn label<'a>(labels: &'a [String], code: u8) -> &'a str {
    &labels[code as usize]
}

fn reasons(r: &ScoreResult, i: usize) -> Vec<&str> {
    let bits = r.scores.churn_reasons[i];
    (0..r.churn_reason_labels.len()).filter(|b| bits >> b & 1 == 1).map(|b| r.churn_reason_labels[b].as_str()).collect()
}

#[test]
fn every_driver_and_the_active_population() {
    let mut w = World::new(4);
    w.categories = ["rev", "li", "seats", "units", "api", "eq"].iter().map(|s| s.to_string()).collect();
    w.line(0, 10, 100, 1).line(0, 10, 200, 2).line(1, 10, 100, 3).line(2, 10, -50, 4);
    w.line(3, 1, 999, 5); // a member, but not active in the 5-day window
    w.seats = vec![1, NULL_I64, 4, 100];
    w.cost(0, 10, 3, 0).cost(1, 10, 3, 0);
    w.c_units[0] = 3;
    w.c_units[1] = 4;
    w.event(0, 9, "api").event(0, 10, "api").event(2, 10, "api").event(3, 10, "api").event(3, 2, "api");
    for (cat, amount) in [(0u32, 400i64), (1, 40), (2, 10), (3, 7), (4, 9), (5, 10)] {
        w.cost(POOLED, 10, cat, amount);
    }
    let c = cfg(
        r#"{"rfm": {"window_days": 5}, "costs": {"drivers": {"li": "line_items", "seats": "seats",
            "units": "driver_units", "api": "events:api", "eq": "equal"}}}"#,
    );
    let r = w.score_with(10, &c);
    assert_eq!(r.scores.account, vec![0, 1, 2, 3]);
    // rev 300/100/0, li 20/10/10, seats 2/0/8, units 3/4/0, api 6/0/3, eq 4/3/3.
    assert_eq!(r.scores.allocated_cost, vec![335, 117, 24, 0]);
    assert_eq!(
        *r.pool_shares,
        vec![
            vec![300, 100, 0, 0],
            vec![20, 10, 10, 0],
            vec![2, 0, 8, 0],
            vec![3, 4, 0, 0],
            vec![6, 0, 3, 0],
            vec![4, 3, 3, 0],
        ]
    );
    let pools: Vec<(String, String, i64, i64)> =
        r.pools.iter().map(|p| (p.category.clone(), p.driver.clone(), p.pooled, p.allocated)).collect();
    assert_eq!(
        pools,
        vec![
            ("rev".into(), "revenue".into(), 400, 400),
            ("li".into(), "line_items".into(), 40, 40),
            ("seats".into(), "seats".into(), 10, 10),
            ("units".into(), "driver_units".into(), 7, 7),
            ("api".into(), "events:api".into(), 9, 9),
            ("eq".into(), "equal".into(), 10, 10),
        ]
    );
    assert_eq!(r.scores.quadrant[3], 0, "not active in the window: no quadrant");
    // A driver naming an unknown event kind leaves its pool unallocated, reported.
    let c = cfg(r#"{"costs": {"default_driver": "events:nope"}}"#);
    let r = w.score_with(10, &c);
    assert!(r.pools.iter().all(|p| p.allocated == 0 && p.unallocated == p.pooled));
    assert!(r.scores.allocated_cost.iter().all(|&a| a == 0));
}

#[test]
fn negative_pool_is_a_credit() {
    let mut w = World::new(3);
    w.line(0, 1, 10, 1).line(1, 1, 10, 2).line(2, 1, 10, 3);
    w.cost(POOLED, 1, 0, -10);
    let r = w.score_with(1, &cfg(r#"{"costs": {"default_driver": "equal"}}"#));
    assert_eq!(r.scores.allocated_cost, vec![-4, -3, -3]);
    assert_eq!(r.pools[0].allocated, -10);
}

#[test]
fn churn_signals_fire_as_defined() {
    let mut w = World::new(4);
    // 0: purchases every 10 days, then 30 days quiet: beyond its usual gap, and a drop.
    for (k, day) in [100, 110, 120, 130].iter().enumerate() {
        w.line(0, *day, 100, 10 + k as i64);
    }
    // 1: a refund of 30 % of recent gross, none before.
    w.line(1, 150, 1000, 20).line(1, 155, -300, 21);
    // 2: three support tickets in the last 30 days, none before; a failed payment.
    w.line(2, 159, 100, 30);
    w.event(2, 150, "support_ticket").event(2, 151, "support_ticket").event(2, 152, "support_ticket");
    w.event(2, 158, "payment_failed");
    // 3: renewal in 10 days, one active day in the last 30 against four in the 90 before.
    for (k, day) in [50, 60, 70, 80, 140].iter().enumerate() {
        w.line(3, *day, 100, 40 + k as i64);
    }
    w.renewal = vec![NULL_DAY, NULL_DAY, NULL_DAY, 170];
    let r = w.score(160);
    // 0: usual gap 10 (k = 4), 30 days quiet: beyond 200 % but not 400 % -> 40 div 2 = 20; no
    // product use, so its activity is its purchase days: none recent, four prior -> stopped, 40.
    assert_eq!(reasons(&r, 0), vec!["inactive_beyond_usual_gap", "activity_drop"]);
    assert_eq!(r.scores.churn_risk[0], 60);
    assert_eq!(label(&r.churn_band_labels, r.scores.churn_band[0]), "high");
    assert_eq!(reasons(&r, 1), vec!["refund_spike"]);
    assert_eq!(r.scores.churn_risk[1], 10);
    assert_eq!(label(&r.churn_band_labels, r.scores.churn_band[1]), "low");
    // 2: tickets 10 + failed payment 15 (tickets and failed payments are not product use).
    assert_eq!(reasons(&r, 2), vec!["ticket_spike", "failed_payment"]);
    assert_eq!(r.scores.churn_risk[2], 25);
    assert_eq!(label(&r.churn_band_labels, r.scores.churn_band[2]), "medium");
    assert_eq!(reasons(&r, 3), vec!["renewal_declining"]);
    assert_eq!(label(&r.churn_band_labels, r.scores.churn_band[3]), "low");
    // 15 days of quiet is within twice the usual gap of 10: no inactivity signal.
    let r = w.score(145);
    assert!(!reasons(&r, 0).contains(&"inactive_beyond_usual_gap"));
    // Weights and bands are configuration.
    let r = w.score_with(160, &cfg(r#"{"churn": {"weights": {"refund_spike": 40}, "bands": {"medium_from": 30}}}"#));
    assert_eq!(r.scores.churn_risk[1], 40);
    assert_eq!(label(&r.churn_band_labels, r.scores.churn_band[1]), "medium");
}

#[test]
fn health_and_lifecycle() {
    let mut w = World::new(6);
    let d = 1000;
    // 0: the best account, growing: an old purchase, then three in the last 5 days.
    w.line(0, d - 200, 5000, 1).line(0, d - 5, 5000, 2).line(0, d - 3, 5000, 3).line(0, d - 1, 5000, 4);
    // 1..3: single small purchases long ago (not churned: within 180 days).
    w.line(1, d - 100, 10, 5).line(2, d - 110, 20, 6).line(3, d - 120, 30, 7);
    // 4: churned: last purchase 200 days ago.
    w.line(4, d - 200, 40, 8);
    // 5: onboarding: first purchase 10 days ago.
    w.line(5, d - 10, 50, 9);
    let r = w.score(d);
    let s = &r.scores;
    let life: Vec<&str> = s.lifecycle.iter().map(|&c| label(&r.lifecycle_labels, c)).collect();
    assert_eq!(life, vec!["expansion-ready", "active", "active", "active", "churned", "onboarding"]);
    // Account 0: R = F = M = 5 (components 100), trend 100 (no prior activity), margin 100
    // (no cost), risk 0: health = (25+15+15+15+10+20)·100 / 100 = 100.
    assert_eq!((s.r_score[0], s.f_score[0], s.m_score[0]), (5, 5, 5));
    assert_eq!(s.health[0], 100);
    assert_eq!(label(&r.health_band_labels, s.health_band[0]), "green");
    // Account 1: R = 1 + 5·3 div 6 = 3 (three accounts are older), F = 1, M = 1; no activity in 120 days: trend 0;
    // margin 100; inactivity needs two purchase days: risk 0.
    // health = (25·50 + 0 + 0 + 0 + 10·100 + 20·100 + 50) / 100 = 43 (rounded half up).
    assert_eq!((s.r_score[1], s.f_score[1], s.m_score[1]), (3, 1, 1));
    assert_eq!(s.health[1], 43);
    assert_eq!(label(&r.health_band_labels, s.health_band[1]), "yellow");
    // Signup within 30 days makes an account without a purchase onboarding, not churned.
    let mut w2 = World::new(1);
    w2.cost(0, d - 1, 0, 5);
    w2.signup = vec![d - 3];
    let r2 = w2.score(d);
    assert_eq!(label(&r2.lifecycle_labels, r2.scores.lifecycle[0]), "onboarding");
    w2.signup = vec![NULL_DAY];
    let r2 = w2.score(d);
    assert_eq!(label(&r2.lifecycle_labels, r2.scores.lifecycle[0]), "churned");
    // Seats near the plan limit also make a green account expansion-ready.
    // Product use on ten days in the prior 90 against three in the last 30: not growing (trend 45).
    // (Once an account uses the product, its activity days are its days of use, not its purchases.)
    let mut w3 = w.clone();
    for k in (60..70).chain([1, 3, 5]) {
        w3.event(0, d - k, "report");
    }
    let r3 = w3.score(d);
    assert_eq!(r3.scores.health[0], 92);
    assert_eq!(label(&r3.lifecycle_labels, r3.scores.lifecycle[0]), "active");
    w3.seats = vec![90, NULL_I64, NULL_I64, NULL_I64, NULL_I64, NULL_I64];
    w3.seat_limit = vec![100, NULL_I64, NULL_I64, NULL_I64, NULL_I64, NULL_I64];
    let r3 = w3.score(d);
    assert_eq!(label(&r3.lifecycle_labels, r3.scores.lifecycle[0]), "expansion-ready");
    w3.seats[0] = 89;
    let r3 = w3.score(d);
    assert_eq!(label(&r3.lifecycle_labels, r3.scores.lifecycle[0]), "active");
}

#[test]
fn behavioural_tiers_and_size_bands() {
    let mut w = World::new(6);
    let d = 500;
    for a in 0..6u32 {
        w.line(a, d, 100, a as i64 + 1);
    }
    for day in d - 21..=d {
        w.event(0, day, "report").event(0, day, "export").event(0, day, "share");
    }
    for day in d - 3..=d {
        w.event(1, day, "report");
    }
    w.event(2, d - 1, "login");
    w.event(3, d - 40, "report");
    w.event(4, d - 2, "support_ticket");
    w.employees = vec![NULL_I64, 99, 100, 999, 1000, -5];
    let r = w.score(d);
    let tiers: Vec<&str> = r.scores.tier.iter().map(|&c| label(&r.tier_labels, c)).collect();
    assert_eq!(tiers, vec!["power", "core", "shallow", "disengaged", "disengaged", "disengaged"]);
    let sizes: Vec<&str> = r.scores.size_band.iter().map(|&c| label(&r.size_band_labels, c)).collect();
    assert_eq!(sizes, vec!["", "SMB", "Mid-Market", "Mid-Market", "Enterprise", ""]);
    // Core features are configuration: with only "share" as core, account 1 is shallow and
    // account 0 (one core feature) is core, not power.
    let r = w.score_with(d, &cfg(r#"{"tier": {"core_features": ["share"]}}"#));
    assert_eq!(label(&r.tier_labels, r.scores.tier[1]), "shallow");
    assert_eq!(label(&r.tier_labels, r.scores.tier[0]), "core");
    // No events on or before D at all: no tier for anyone.
    let mut w2 = World::new(1);
    w2.line(0, d, 100, 1).event(0, d + 1, "report");
    assert_eq!(w2.score(d).scores.tier, vec![0]);
}

#[test]
fn saas_mode() {
    let mut w = World::new(3);
    let d = 1000;
    w.line(0, d - 10, 1000, 1).line(1, d - 10, -1000, 2).line(2, d - 200, 500, 3);
    w.event(0, d - 1, "report").event(0, d - 1, "report").event(0, d - 2, "export").event(0, d - 100, "report");
    w.event(1, d - 5, "login");
    w.mrr = vec![NULL_I64, NULL_I64, 7000];
    let r = w.score_with(d, &cfg(r#"{"mode": "saas"}"#));
    let s = &r.scores;
    assert_eq!(s.frequency, vec![3, 0, 0], "high-signal events in the last 90 days; logins are passive");
    assert_eq!(s.recency_days, vec![1, NULL_I64, NULL_I64]);
    // No MRR: floor(net revenue of the last 90 days / 3); MRR when known.
    assert_eq!(s.monetary, vec![333, -334, 7000]);
    assert_eq!(s.revenue, vec![1000, -1000, 500]);
    let r = w.score_with(d, &cfg(r#"{"mode": "saas", "saas": {"frequency": "active_days"}}"#));
    assert_eq!(r.scores.frequency, vec![2, 0, 0]);
    let r = w.score_with(d, &cfg(r#"{"mode": "saas", "saas": {"high_signal_events": ["login"]}}"#));
    assert_eq!(r.scores.frequency, vec![0, 1, 0]);
    assert_eq!(r.scores.recency_days, vec![NULL_I64, 5, NULL_I64]);
    // Saas mode counts accounts known only by their events; transactions mode does not.
    let mut w2 = World::new(2);
    w2.line(0, d, 100, 1).event(1, d, "report");
    assert_eq!(w2.score_with(d, &cfg(r#"{"mode": "saas"}"#)).scores.account, vec![0, 1]);
    assert_eq!(w2.score(d).scores.account, vec![0]);
}

#[test]
fn fixed_thresholds_and_quadrant_thresholds() {
    let mut w = World::new(3);
    for k in 0..5 {
        w.line(0, 100 - k, 100, 10 + k as i64);
    }
    w.line(1, 20, 40, 30).line(2, 99, 5000, 31);
    let c = cfg(
        r#"{"rfm": {"thresholds": {"recency": [60, 30, 7, 1], "frequency": [2, 3, 5, 10], "monetary": [100, 200, 500, 1000]}},
            "quadrant": {"revenue_threshold": 500, "cost_threshold": 1}}"#,
    );
    let r = w.score_with(100, &c);
    let s = &r.scores;
    assert_eq!(s.r_score, vec![5, 1, 5]);
    assert_eq!(s.f_score, vec![4, 1, 1]);
    assert_eq!(s.m_score, vec![4, 1, 5]);
    let q: Vec<&str> = s.quadrant.iter().map(|&c| label(&r.quadrant_labels, c)).collect();
    assert_eq!(q, vec!["high revenue, low cost", "low revenue, low cost", "high revenue, low cost"]);
}

#[test]
fn pooled_costs_without_any_account() {
    let mut w = World::new(0);
    w.cost(POOLED, 1, 0, 50);
    let r = w.score(5);
    assert!(r.scores.account.is_empty());
    assert_eq!(r.pools.len(), 1);
    assert_eq!((r.pools[0].pooled, r.pools[0].allocated, r.pools[0].unallocated), (50, 0, 50));
    let mut w = World::new(1);
    w.cost(-2, 1, 0, 50);
    let e = score(&w.inputs(), 5, &ScoreConfig::default()).unwrap_err();
    assert!(e.message.contains("costs.account, row 0: account index -2 out of range"), "{e}");
}

#[test]
fn tie_cuts_give_the_tie_rule_scores() {
    use super::kernel::tie_cuts;
    use super::rank::{tie_scores, Better};
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // the score of each value read off the cuts: 1 + the cuts it beats
    let scores_by_cuts = |v: &[i64], b: Better| -> Vec<u8> {
        let cuts = tie_cuts(&mut v.to_vec(), b);
        v.iter().map(|&x| 1 + cuts.iter().filter(|&&t| if b == Better::Higher { x > t } else { x < t }).count() as u8).collect()
    };
    // small ranges (counted), wide ranges (selected), extremes, one value, many ties
    for &(n, range) in &[(1usize, 1u64), (2, 1), (5, 3), (7, 2), (100, 5), (1000, 70_000), (999, u64::MAX), (4000, 1 << 15), (30_000, 3)] {
        let v: Vec<i64> = (0..n).map(|_| (next() % range).wrapping_sub(range / 2) as i64).collect();
        for b in [Better::Higher, Better::Lower] {
            assert_eq!(scores_by_cuts(&v, b), tie_scores(&v, b), "n={n} range={range} {b:?}");
        }
    }
    let ext = vec![i64::MIN, i64::MAX, 0, i64::MIN, 5];
    for b in [Better::Higher, Better::Lower] {
        assert_eq!(scores_by_cuts(&ext, b), tie_scores(&ext, b));
    }
}
