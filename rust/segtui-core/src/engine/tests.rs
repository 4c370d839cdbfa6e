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
