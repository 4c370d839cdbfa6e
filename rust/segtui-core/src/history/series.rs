//! Snapshot series: many as-of dates scored from one preparation of the inputs.
//!
//! A single-date run reads every row and keeps those on or before its date. A series of dates
//! `D1 < D2 < … < Dk` instead prepares the rows once:
//!
//! 1. rows after `Dk` are dropped, and the rest are put in day order (a counting sort), so the
//!    rows of date `Di` are a *prefix* of the prepared columns: each date's run reads only its
//!    own rows, never a later row;
//! 2. line items of one account, one purchase unit (invoice, or day when there is none), one
//!    day and one sign are merged into one row (their amounts summed). Every line-item figure
//!    of the engine depends on lines only through such sums (revenue, refunds and gross
//!    amounts in activity windows, the net of a purchase unit and its first day), except the
//!    *number* of line items, which only the `line_items` cost driver reads; with that driver
//!    configured, lines are not merged.
//!
//! Each date is then scored by the engine itself ([`crate::engine::score`]) on its prefix, so
//! a series snapshot is the single-date result for that date; the tests check it field by
//! field on random worlds (every mode, window, driver and signal).

use rayon::prelude::*;

use crate::engine::{score, Costs, Driver, EngineError, Events, Inputs, LineItems, ScoreConfig, ScoreResult};

/// Rows in day order with per-day offsets: the rows of days `<= d` are `0..offsets[d - min + 1]`.
struct DayIndex {
    min_day: i32,
    /// `offsets[i]` = rows with day `< min_day + i`; length = days + 1.
    offsets: Vec<usize>,
}

impl DayIndex {
    fn prefix(&self, day: i32) -> usize {
        if self.offsets.len() <= 1 || day < self.min_day {
            return 0;
        }
        let i = ((day as i64 - self.min_day as i64 + 1) as usize).min(self.offsets.len() - 1);
        self.offsets[i]
    }
}

/// Stable counting sort of the rows with `day <= max_day` by day; returns the row order and
/// the day index. Falls back to a comparison sort for an absurdly wide day range.
fn day_order(days: &[i32], max_day: i32) -> (Vec<u32>, DayIndex) {
    let mut min_day = i32::MAX;
    let mut kept = 0usize;
    for &d in days {
        if d <= max_day {
            min_day = min_day.min(d);
            kept += 1;
        }
    }
    if kept == 0 {
        return (Vec::new(), DayIndex { min_day: 0, offsets: vec![0] });
    }
    let span = (max_day as i64 - min_day as i64 + 1) as usize;
    let mut order: Vec<u32>;
    let mut offsets = vec![0usize; span + 1];
    if span <= 4 * kept + 1_000_000 {
        for &d in days {
            if d <= max_day {
                offsets[(d - min_day) as usize + 1] += 1;
            }
        }
        for i in 0..span {
            offsets[i + 1] += offsets[i];
        }
        let mut cursor = offsets.clone();
        order = vec![0u32; kept];
        for (i, &d) in days.iter().enumerate() {
            if d <= max_day {
                let c = &mut cursor[(d - min_day) as usize];
                order[*c] = i as u32;
                *c += 1;
            }
        }
    } else {
        order = (0..days.len() as u32).filter(|&i| days[i as usize] <= max_day).collect();
        order.par_sort_by_key(|&i| days[i as usize]);
        // offsets by binary search over the sorted order
        let mut j = 0usize;
        for (k, off) in offsets.iter_mut().enumerate() {
            let limit = min_day as i64 + k as i64; // rows with day < limit
            while j < order.len() && (days[order[j] as usize] as i64) < limit {
                j += 1;
            }
            *off = j;
        }
    }
    (order, DayIndex { min_day, offsets })
}

/// Owned, day-ordered (and for line items possibly merged) copies of the inputs.
pub struct Prepared {
    li_account: Vec<u32>,
    li_day: Vec<i32>,
    li_amount: Vec<i64>,
    li_key: Vec<i64>,
    li_days: DayIndex,
    c_account: Vec<i64>,
    c_day: Vec<i32>,
    c_category: Vec<u32>,
    c_amount: Vec<i64>,
    c_units: Vec<i64>,
    c_days: DayIndex,
    e_account: Vec<u32>,
    e_day: Vec<i32>,
    e_kind: Vec<u32>,
    e_days: DayIndex,
    /// Line items in, line items after merging (for reporting).
    pub lines_in: usize,
    pub lines_prepared: usize,
}

fn gather<T: Copy + Send + Sync>(col: &[T], order: &[u32]) -> Vec<T> {
    order.par_iter().map(|&i| col[i as usize]).collect()
}

impl Prepared {
    /// Prepare `inputs` for as-of dates up to `max_day`.
    pub fn new(inputs: &Inputs<'_>, max_day: i32, config: &ScoreConfig) -> Prepared {
        let li = inputs.line_items;
        let has_key = !li.invoice_key.is_empty();
        let merge = !inputs.cost_categories.iter().any(|c| *config.driver_for(c) == Driver::LineItems);
        let (order, index) = day_order(li.day, max_day);
        let lines_in = order.len();
        let (li_account, li_day, li_amount, li_key, li_days) = if merge {
            merge_lines(li, has_key, &order, &index)
        } else {
            let key = if has_key { gather(li.invoice_key, &order) } else { Vec::new() };
            (gather(li.account, &order), gather(li.day, &order), gather(li.amount, &order), key, index)
        };
        let lines_prepared = li_account.len();

        let co = inputs.costs;
        let (corder, c_days) = day_order(co.day, max_day);
        let c_units = if co.driver_units.is_empty() { Vec::new() } else { gather(co.driver_units, &corder) };
        let ev = inputs.events;
        let (eorder, e_days) = day_order(ev.day, max_day);
        Prepared {
            li_account,
            li_day,
            li_amount,
            li_key,
            li_days,
            c_account: gather(co.account, &corder),
            c_day: gather(co.day, &corder),
            c_category: gather(co.category, &corder),
            c_amount: gather(co.amount, &corder),
            c_units,
            c_days,
            e_account: gather(ev.account, &eorder),
            e_day: gather(ev.day, &eorder),
            e_kind: gather(ev.kind, &eorder),
            e_days,
            lines_in,
            lines_prepared,
        }
    }

    /// The inputs of one as-of date: `base` with its rows replaced by the prepared prefix.
    pub fn inputs_for<'a>(&'a self, base: &Inputs<'a>, day: i32) -> Inputs<'a> {
        let nl = self.li_days.prefix(day);
        let nc = self.c_days.prefix(day);
        let ne = self.e_days.prefix(day);
        Inputs {
            n_accounts: base.n_accounts,
            line_items: LineItems {
                account: &self.li_account[..nl],
                day: &self.li_day[..nl],
                amount: &self.li_amount[..nl],
                invoice_key: if self.li_key.is_empty() { &[] } else { &self.li_key[..nl] },
            },
            costs: Costs {
                account: &self.c_account[..nc],
                day: &self.c_day[..nc],
                category: &self.c_category[..nc],
                amount: &self.c_amount[..nc],
                driver_units: if self.c_units.is_empty() { &[] } else { &self.c_units[..nc] },
            },
            events: Events { account: &self.e_account[..ne], day: &self.e_day[..ne], kind: &self.e_kind[..ne] },
            accounts: base.accounts,
            cost_categories: base.cost_categories,
            event_kinds: base.event_kinds,
        }
    }
}

type Merged = (Vec<u32>, Vec<i32>, Vec<i64>, Vec<i64>, DayIndex);

/// Merge line items of one (day, account, unit key, sign) into one row, day by day.
fn merge_lines(li: LineItems<'_>, has_key: bool, order: &[u32], index: &DayIndex) -> Merged {
    let n_days = index.offsets.len() - 1;
    let key_of = |i: usize| if has_key { li.invoice_key[i] } else { 0 };
    // Each day is merged on its own; days are independent, so run them in parallel chunks.
    let chunks: Vec<(usize, usize)> = {
        let target = (order.len() / (rayon::current_num_threads() * 16)).max(1 << 14);
        let mut v = Vec::new();
        let mut start = 0;
        while start < n_days {
            let mut end = start + 1;
            while end < n_days && index.offsets[end] - index.offsets[start] < target {
                end += 1;
            }
            v.push((start, end));
            start = end;
        }
        v
    };
    let parts: Vec<(Vec<u32>, Vec<i32>, Vec<i64>, Vec<i64>, Vec<usize>)> = chunks
        .par_iter()
        .map(|&(d0, d1)| {
            let mut acc = Vec::new();
            let mut day = Vec::new();
            let mut amt = Vec::new();
            let mut key = Vec::new();
            let mut counts = Vec::with_capacity(d1 - d0);
            let mut rows: Vec<(u32, i64, bool, i64)> = Vec::new();
            for dd in d0..d1 {
                let seg = &order[index.offsets[dd]..index.offsets[dd + 1]];
                rows.clear();
                rows.extend(seg.iter().map(|&i| {
                    let i = i as usize;
                    (li.account[i], key_of(i), li.amount[i] < 0, li.amount[i])
                }));
                rows.sort_unstable_by_key(|r| (r.0, r.1, r.2));
                let before = acc.len();
                let d = index.min_day + dd as i32;
                let mut g = 0;
                while g < rows.len() {
                    let (a, k, neg, _) = rows[g];
                    let mut sum: i64 = 0;
                    let mut overflow = false;
                    let mut h = g;
                    while h < rows.len() && rows[h].0 == a && rows[h].1 == k && rows[h].2 == neg {
                        match sum.checked_add(rows[h].3) {
                            Some(s) => sum = s,
                            None => overflow = true,
                        }
                        h += 1;
                    }
                    if overflow {
                        // keep the rows as they are: the engine reports the overflow itself
                        for r in &rows[g..h] {
                            acc.push(r.0);
                            day.push(d);
                            amt.push(r.3);
                            key.push(r.1);
                        }
                    } else {
                        acc.push(a);
                        day.push(d);
                        amt.push(sum);
                        key.push(k);
                    }
                    g = h;
                }
                counts.push(acc.len() - before);
            }
            (acc, day, amt, key, counts)
        })
        .collect();
    let total: usize = parts.iter().map(|p| p.0.len()).sum();
    let mut out_acc = Vec::with_capacity(total);
    let mut out_day = Vec::with_capacity(total);
    let mut out_amt = Vec::with_capacity(total);
    let mut out_key = Vec::with_capacity(if has_key { total } else { 0 });
    let mut offsets = Vec::with_capacity(n_days + 1);
    offsets.push(0usize);
    for (a, d, m, k, counts) in parts {
        out_acc.extend(a);
        out_day.extend(d);
        out_amt.extend(m);
        if has_key {
            out_key.extend(k);
        }
        for c in counts {
            let last = *offsets.last().unwrap();
            offsets.push(last + c);
        }
    }
    (out_acc, out_day, out_amt, out_key, DayIndex { min_day: index.min_day, offsets })
}

/// Scores the days of a series from one [`Prepared`], two days at a time: the engine's
/// per-date finishing steps (score ranks, pooled-cost allocation, output columns) are partly
/// sequential, so a second date scored alongside keeps both cores busy.
pub struct Series<'a> {
    prepared: &'a Prepared,
    base: Inputs<'a>,
    config: &'a ScoreConfig,
    days: Vec<i32>,
    ahead: Option<(usize, Result<ScoreResult, EngineError>)>,
    /// Score two days at a time (the default when more than one thread is available).
    pub pairs: bool,
}

impl<'a> Series<'a> {
    pub fn new(prepared: &'a Prepared, base: Inputs<'a>, days: &[i32], config: &'a ScoreConfig) -> Self {
        Series { prepared, base, config, days: days.to_vec(), ahead: None, pairs: rayon::current_num_threads() > 1 }
    }

    fn one(&self, k: usize) -> Result<ScoreResult, EngineError> {
        let d = self.days[k];
        score(&self.prepared.inputs_for(&self.base, d), d, self.config)
    }

    /// The result for the `k`-th day (call in order; with `pairs`, day `k + 1` is scored
    /// alongside and kept for the next call).
    pub fn score_at(&mut self, k: usize) -> Result<ScoreResult, EngineError> {
        if let Some((j, r)) = self.ahead.take() {
            if j == k {
                return r;
            }
        }
        if self.pairs && k + 1 < self.days.len() {
            let (a, b) = rayon::join(|| self.one(k), || self.one(k + 1));
            self.ahead = Some((k + 1, b));
            a
        } else {
            self.one(k)
        }
    }
}

/// Score every date of `days` (strictly ascending), calling `each` with every result in
/// order as soon as it is computed (so a caller can store it and drop it).
pub fn score_series_each<E: From<EngineError>>(
    inputs: &Inputs<'_>,
    days: &[i32],
    config: &ScoreConfig,
    mut each: impl FnMut(ScoreResult) -> Result<(), E>,
) -> Result<(), E> {
    if days.windows(2).any(|w| w[0] >= w[1]) {
        return Err(EngineError { message: "series dates must be strictly ascending".into() }.into());
    }
    let Some(&last) = days.last() else { return Ok(()) };
    let prepared = Prepared::new(inputs, last, config);
    let mut series = Series::new(&prepared, *inputs, days, config);
    if std::env::var_os("SEGTUI_SERIES_SEQUENTIAL").is_some() {
        series.pairs = false;
    }
    for k in 0..days.len() {
        each(series.score_at(k)?)?;
    }
    Ok(())
}

/// Score every date of `days` (strictly ascending); the results in the same order.
pub fn score_series(inputs: &Inputs<'_>, days: &[i32], config: &ScoreConfig) -> Result<Vec<ScoreResult>, EngineError> {
    let mut out = Vec::with_capacity(days.len());
    score_series_each(inputs, days, config, |r| {
        out.push(r);
        Ok::<(), EngineError>(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{AccountCols, ScoreResult, NULL_DAY, NULL_I64, POOLED};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[derive(Default)]
    struct World {
        n: usize,
        li: (Vec<u32>, Vec<i32>, Vec<i64>, Vec<i64>),
        co: (Vec<i64>, Vec<i32>, Vec<u32>, Vec<i64>, Vec<i64>),
        ev: (Vec<u32>, Vec<i32>, Vec<u32>),
        ac: (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>, Vec<i32>, Vec<i32>),
        cats: Vec<String>,
        kinds: Vec<String>,
    }

    impl World {
        fn random(seed: u64, n: usize, lines: usize) -> World {
            let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let day0 = 20_000;
            let span = 500;
            let mut w = World { n, ..Default::default() };
            let mut i = 0;
            while i < lines {
                let a = r.below(n as u64) as u32;
                let d = day0 + r.below(span) as i32;
                let key = if r.below(10) == 0 { 0 } else { 1 + r.below(40) as i64 };
                for _ in 0..1 + r.below(4) {
                    // some lines of an invoice come days later (a refund on the same invoice)
                    let dd = if r.below(8) == 0 { d + r.below(60) as i32 } else { d };
                    let amt = match r.below(10) {
                        0 => -(r.below(3000) as i64),
                        1 => 0,
                        _ => r.below(5000) as i64 + 1,
                    };
                    w.li.0.push(a);
                    w.li.1.push(dd);
                    w.li.2.push(amt);
                    w.li.3.push(key);
                    i += 1;
                }
            }
            w.cats = vec!["hosting".into(), "support".into(), "shipping".into()];
            for _ in 0..lines / 3 {
                let pooled = r.below(3) == 0;
                w.co.0.push(if pooled { POOLED } else { r.below(n as u64) as i64 });
                w.co.1.push(day0 + r.below(span) as i32);
                w.co.2.push(r.below(3) as u32);
                w.co.3.push(r.below(900) as i64);
                w.co.4.push(if r.below(2) == 0 { NULL_I64 } else { r.below(5) as i64 });
            }
            w.kinds = ["login", "create_task", "support_ticket", "payment_failed", "invite_team"].map(String::from).to_vec();
            for _ in 0..lines / 2 {
                w.ev.0.push(r.below(n as u64) as u32);
                w.ev.1.push(day0 + r.below(span) as i32);
                w.ev.2.push(r.below(5) as u32);
            }
            for _ in 0..n {
                let opt = |r: &mut Rng, m: u64| if r.below(3) == 0 { NULL_I64 } else { r.below(m) as i64 };
                w.ac.0.push(opt(&mut r, 3000));
                w.ac.1.push(opt(&mut r, 90_000));
                w.ac.2.push(opt(&mut r, 40));
                w.ac.3.push(opt(&mut r, 40));
                w.ac.4.push(if r.below(3) == 0 { NULL_DAY } else { day0 + r.below(span) as i32 });
                w.ac.5.push(if r.below(3) == 0 { NULL_DAY } else { day0 + r.below(span + 60) as i32 });
            }
            w
        }

        fn inputs(&self) -> Inputs<'_> {
            Inputs {
                n_accounts: self.n,
                line_items: LineItems { account: &self.li.0, day: &self.li.1, amount: &self.li.2, invoice_key: &self.li.3 },
                costs: Costs {
                    account: &self.co.0,
                    day: &self.co.1,
                    category: &self.co.2,
                    amount: &self.co.3,
                    driver_units: &self.co.4,
                },
                events: Events { account: &self.ev.0, day: &self.ev.1, kind: &self.ev.2 },
                accounts: AccountCols {
                    employees: &self.ac.0,
                    mrr: &self.ac.1,
                    seats: &self.ac.2,
                    seat_limit: &self.ac.3,
                    signup_day: &self.ac.4,
                    renewal_day: &self.ac.5,
                },
                cost_categories: &self.cats,
                event_kinds: &self.kinds,
            }
        }
    }

    fn assert_same(a: &ScoreResult, b: &ScoreResult, what: &str) {
        let (x, y) = (&a.scores, &b.scores);
        macro_rules! same {
            ($($f:ident),*) => { $( assert_eq!(x.$f, y.$f, "{what}: column {}", stringify!($f)); )* };
        }
        same!(
            account, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment, rfm5_segment,
            revenue, direct_cost, allocated_cost, margin, quadrant, churn_risk, churn_band, churn_reasons,
            health, health_band, lifecycle, tier, size_band
        );
        assert_eq!(x.margin_pct.len(), y.margin_pct.len());
        for (p, q) in x.margin_pct.iter().zip(&y.margin_pct) {
            assert!(p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()), "{what}: margin_pct {p} != {q}");
        }
        assert_eq!(a.pools, b.pools, "{what}: pools");
        assert_eq!(a.as_of_day, b.as_of_day);
        assert_eq!(a.rfm_segment_labels, b.rfm_segment_labels);
        assert_eq!(a.lifecycle_labels, b.lifecycle_labels);
    }

    const CONFIGS: &[&str] = &[
        "{}",
        r#"{"rfm": {"window_days": 120}}"#,
        r#"{"mode": "saas"}"#,
        r#"{"costs": {"default_driver": "line_items"}}"#,
        r#"{"costs": {"default_driver": "driver_units", "drivers": {"support": "events:support_ticket", "hosting": "seats"}}}"#,
        r#"{"mode": "saas", "rfm": {"window_days": 60}, "costs": {"default_driver": "equal"}}"#,
    ];

    #[test]
    fn every_series_snapshot_equals_its_single_date_run() {
        for seed in 1..=12u64 {
            let w = World::random(seed, 40 + (seed as usize * 7) % 50, 300 + seed as usize * 40);
            let inputs = w.inputs();
            for (ci, cfg_json) in CONFIGS.iter().enumerate() {
                let cfg = ScoreConfig::from_json(cfg_json).unwrap();
                // before any data, inside, on the last day, past the end
                let days: Vec<i32> = vec![19_990, 20_000, 20_031, 20_100, 20_213, 20_350, 20_499, 20_560, 20_700];
                let series = score_series(&inputs, &days, &cfg).unwrap();
                assert_eq!(series.len(), days.len());
                for (r, &d) in series.iter().zip(&days) {
                    let single = score(&inputs, d, &cfg).unwrap();
                    assert_same(r, &single, &format!("seed {seed}, config {ci}, day {d}"));
                }
            }
        }
    }

    #[test]
    fn lines_are_merged_unless_the_line_items_driver_is_used() {
        let w = World::random(99, 30, 2000);
        let cfg = ScoreConfig::default();
        let p = Prepared::new(&w.inputs(), 30_000, &cfg);
        assert_eq!(p.lines_in, w.li.0.len());
        assert!(p.lines_prepared < p.lines_in, "{} lines merged to {}", p.lines_in, p.lines_prepared);
        let cfg = ScoreConfig::from_json(r#"{"costs": {"drivers": {"support": "line_items"}}}"#).unwrap();
        let p = Prepared::new(&w.inputs(), 30_000, &cfg);
        assert_eq!(p.lines_prepared, p.lines_in);
        // rows after the last date are not prepared
        let p = Prepared::new(&w.inputs(), 20_100, &ScoreConfig::default());
        assert!(p.lines_in < w.li.0.len());
    }

    #[test]
    fn empty_inputs_and_bad_dates() {
        let w = World { n: 3, ..Default::default() };
        let inputs = Inputs { n_accounts: 3, ..w.inputs() };
        let cfg = ScoreConfig::default();
        let r = score_series(&inputs, &[10, 20], &cfg).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[0].scores.account.is_empty());
        assert!(score_series(&inputs, &[20, 10], &cfg).is_err());
        assert!(score_series(&inputs, &[20, 20], &cfg).is_err());
        assert!(score_series(&inputs, &[], &cfg).unwrap().is_empty());
    }

    #[test]
    fn engine_errors_pass_through() {
        let mut w = World::random(5, 10, 50);
        w.li.0[3] = 99; // account index out of range
        let cfg = ScoreConfig::default();
        let e = score_series(&w.inputs(), &[20_600], &cfg).unwrap_err();
        assert!(e.message.contains("out of range"), "{}", e.message);
    }
}
