//! Snapshot series: many as-of dates scored from one grouping of the inputs.
//!
//! A single-date run reads every row, keeps those on or before its date, groups them by
//! account and reads each account's rows. A series of dates `D1 < D2 < … < Dk` runs the
//! engine's multi-date pass ([`crate::engine::multi`]) instead:
//!
//! 1. the rows on or before `Dk` are grouped by account **once**, each account's rows in day
//!    order;
//! 2. every account is visited once per batch of dates: its rows are cut at each date by
//!    forward-only cursors, so each date's per-account sums, purchase units, activity days and
//!    churn signals come from one visit (the same per-account definitions as a single run:
//!    the same derivation from the same collected figures);
//! 3. the account-level steps of each date (scores, maps, allocation, margin, quadrant,
//!    health, lifecycle, output columns) are the single run's own finishing code, two dates
//!    at a time when more than one thread is available.
//!
//! So a series snapshot is the single-date result for that date; the tests check it field by
//! field on random worlds (every mode, window, driver and signal, batches of every size).

use crate::engine::multi::{DayAggs, MultiPass};
use crate::engine::{EngineError, Inputs, ScoreConfig, ScoreResult};

/// Aggregates of one batch of dates take at most about this many bytes (1 M accounts: room for
/// 8 dates of 64-byte aggregates, so a 12-month series runs as two batches of 6). Measured on
/// 10 M lines: one batch of 12 costs the same CPU time (one visit of the rows less, more fresh
/// memory) and 370 MB more at the peak.
const BATCH_BYTES: usize = 512 << 20;

/// The inputs grouped once for as-of dates up to a last day (or the error that stops every
/// date: malformed columns, an account index out of range).
pub struct Prepared<'a> {
    pass: Result<MultiPass<'a>, EngineError>,
}

impl<'a> Prepared<'a> {
    /// Prepare `inputs` for as-of dates up to `max_day`.
    pub fn new(inputs: &Inputs<'a>, max_day: i32, config: &'a ScoreConfig) -> Prepared<'a> {
        Prepared { pass: MultiPass::new(inputs, max_day, config) }
    }
}

/// Scores the days of a series from one [`Prepared`]: batch by batch (one visit of every
/// account's rows per batch), then each day's finishing steps, two days at a time.
pub struct Series<'a> {
    prepared: &'a Prepared<'a>,
    days: Vec<i32>,
    /// The current batch: index of its first day, and its aggregates.
    batch: Option<(usize, DayAggs)>,
    ahead: Option<(usize, Result<ScoreResult, EngineError>)>,
    /// Finish two days at a time (the default when more than one thread is available).
    pub pairs: bool,
    /// Most days per batch (default: as many as fit in the batch memory budget).
    pub batch_days: usize,
}

impl<'a> Series<'a> {
    /// `days` strictly ascending, none after the prepared last day. (`base` and `config` are
    /// those given to [`Prepared::new`].)
    pub fn new(prepared: &'a Prepared<'a>, base: Inputs<'a>, days: &[i32], config: &'a ScoreConfig) -> Self {
        let _ = (base, config);
        let batch_days = match &prepared.pass {
            Ok(p) => {
                // even batches: 12 days with room for 8 run as 6 + 6
                let most = p.batch_len(BATCH_BYTES).min(days.len().max(1));
                let batches = days.len().div_ceil(most).max(1);
                days.len().div_ceil(batches).max(1)
            }
            Err(_) => 1,
        };
        Series {
            prepared,
            days: days.to_vec(),
            batch: None,
            ahead: None,
            pairs: rayon::current_num_threads() > 1,
            batch_days,
        }
    }

    /// The result for the `k`-th day (call in order; with `pairs`, day `k + 1` is finished
    /// alongside and kept for the next call).
    pub fn score_at(&mut self, k: usize) -> Result<ScoreResult, EngineError> {
        if let Some((j, r)) = self.ahead.take() {
            if j == k {
                return r;
            }
        }
        let pass = self.prepared.pass.as_ref().map_err(Clone::clone)?;
        let in_batch = |b: &Option<(usize, DayAggs)>| b.as_ref().is_some_and(|(s, a)| k >= *s && k < s + a.days().len());
        if !in_batch(&self.batch) {
            self.batch = None; // free the previous batch first
            let end = (k + self.batch_days.max(1)).min(self.days.len());
            self.batch = Some((k, pass.aggregate(&self.days[k..end])?));
        }
        let (start, aggs) = self.batch.as_ref().expect("batch computed above");
        let j = k - start;
        if self.pairs && j + 1 < aggs.days().len() {
            let (a, b) = rayon::join(|| pass.finish_day(aggs, j), || pass.finish_day(aggs, j + 1));
            self.ahead = Some((k + 1, b));
            a
        } else {
            pass.finish_day(aggs, j)
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
        return Err(EngineError::new("series dates must be strictly ascending").into());
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
    use crate::engine::{score, AccountCols, Costs, Events, LineItems, ScoreResult, NULL_DAY, NULL_I64, POOLED};

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
        assert_eq!(a.pool_shares, b.pool_shares, "{what}: pool shares");
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

    /// The series through batches of `batch` days, finishing one or two days at a time.
    fn series_in_batches(inputs: &Inputs<'_>, days: &[i32], cfg: &ScoreConfig, batch: usize, pairs: bool) -> Vec<ScoreResult> {
        let prepared = Prepared::new(inputs, *days.last().unwrap(), cfg);
        let mut s = Series::new(&prepared, *inputs, days, cfg);
        s.batch_days = batch;
        s.pairs = pairs;
        (0..days.len()).map(|k| s.score_at(k).unwrap()).collect()
    }

    #[test]
    fn batches_of_every_size_give_the_single_date_results() {
        let w = World::random(77, 60, 900);
        let inputs = w.inputs();
        let days: Vec<i32> = vec![19_000, 20_010, 20_011, 20_012, 20_200, 20_201, 20_499, 20_530, 21_000];
        for (ci, cfg_json) in CONFIGS.iter().enumerate() {
            let cfg = ScoreConfig::from_json(cfg_json).unwrap();
            let singles: Vec<ScoreResult> = days.iter().map(|&d| score(&inputs, d, &cfg).unwrap()).collect();
            for batch in [1, 2, 4, days.len()] {
                for pairs in [false, true] {
                    let got = series_in_batches(&inputs, &days, &cfg, batch, pairs);
                    for ((r, single), &d) in got.iter().zip(&singles).zip(&days) {
                        assert_same(r, single, &format!("config {ci}, batch {batch}, pairs {pairs}, day {d}"));
                    }
                }
            }
        }
    }

    /// Worlds the random ones rarely make: accounts whose first row comes after some dates,
    /// dates with no new rows at all, refunds that turn a purchase off and on again, an account
    /// with only events (saas members) or only costs, many lines of one account (the hashed
    /// unit table), every date of a dense run of days.
    #[test]
    fn late_accounts_quiet_dates_and_turned_purchases() {
        let mut w = World::random(3, 30, 200);
        // account 0: one invoice bought, refunded below zero, bought again, on successive days
        for (d, amt) in [(20_100, 500), (20_101, -800), (20_103, 400), (20_104, 10)] {
            w.li.0.push(0);
            w.li.1.push(d);
            w.li.2.push(amt);
            w.li.3.push(424_242);
        }
        // account 1: 300 lines (hash table), first row late
        for i in 0..300 {
            w.li.0.push(1);
            w.li.1.push(20_450 + (i % 40));
            w.li.2.push(if i % 7 == 0 { -30 } else { 100 + i as i64 });
            w.li.3.push(if i % 5 == 0 { 0 } else { 1 + (i % 23) as i64 });
        }
        // account 2: only events (a saas member without purchases), from late on
        w.li.0.iter_mut().filter(|a| **a == 2).for_each(|a| *a = 3);
        w.co.0.iter_mut().filter(|a| **a == 2).for_each(|a| *a = 3);
        for i in 0..40 {
            w.ev.0.push(2);
            w.ev.1.push(20_300 + 3 * i);
            w.ev.2.push((i % 5) as u32);
        }
        // account 5: a line decades back (a bucket whose days span too wide a range to count)
        for (d, amt) in [(-9_000, 300), (20_090, 5), (-9_000, -20)] {
            w.li.0.push(5);
            w.li.1.push(d);
            w.li.2.push(amt);
            w.li.3.push(0);
        }
        // account 4: only costs
        w.li.0.iter_mut().filter(|a| **a == 4).for_each(|a| *a = 6);
        w.ev.0.iter_mut().filter(|a| **a == 4).for_each(|a| *a = 6);
        w.co.0.push(4);
        w.co.1.push(20_200);
        w.co.2.push(1);
        w.co.3.push(77);
        w.co.4.push(3);
        let inputs = w.inputs();
        let mut days: Vec<i32> = vec![-9_001, -9_000, 0];
        days.extend(20_098..20_108);
        days.extend([20_299, 20_300, 20_301, 20_449, 20_450, 20_460, 20_495, 20_496, 20_497, 20_900, 20_901]);
        for (ci, cfg_json) in CONFIGS.iter().enumerate() {
            let cfg = ScoreConfig::from_json(cfg_json).unwrap();
            for batch in [1, 3, days.len()] {
                let got = series_in_batches(&inputs, &days, &cfg, batch, true);
                for (r, &d) in got.iter().zip(&days) {
                    assert_same(r, &score(&inputs, d, &cfg).unwrap(), &format!("config {ci}, batch {batch}, day {d}"));
                }
            }
        }
        // dates before any row: empty snapshots
        let cfg = ScoreConfig::default();
        let early = score_series(&inputs, &[-20_000, -19_000], &cfg).unwrap();
        assert!(early.iter().all(|r| r.scores.account.is_empty() && r.pools.is_empty()));
    }

    /// Every saas frequency and an events driver with no tickets on some dates.
    #[test]
    fn saas_frequencies_and_event_drivers() {
        let cfgs = [
            r#"{"mode": "saas", "saas": {"frequency": "active_days", "window_days": 45}}"#,
            r#"{"mode": "saas", "saas": {"frequency": "events", "high_signal_events": ["login"]}, "rfm": {"window_days": 200}}"#,
            r#"{"costs": {"default_driver": "events:login"}, "tier": {"window_days": 10}}"#,
        ];
        for seed in 20..24u64 {
            let w = World::random(seed, 50, 700);
            let inputs = w.inputs();
            let days: Vec<i32> = vec![19_999, 20_000, 20_050, 20_051, 20_250, 20_400, 20_499, 20_620];
            for (ci, cfg_json) in cfgs.iter().enumerate() {
                let cfg = ScoreConfig::from_json(cfg_json).unwrap();
                let got = series_in_batches(&inputs, &days, &cfg, 3, true);
                for (r, &d) in got.iter().zip(&days) {
                    assert_same(r, &score(&inputs, d, &cfg).unwrap(), &format!("seed {seed}, config {ci}, day {d}"));
                }
            }
        }
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

    /// A figure that stops fitting in 64 bits on a later date fails that date only: the
    /// earlier dates are delivered first, as their single-date runs would be.
    #[test]
    fn an_overflow_fails_only_its_date() {
        let mut w = World::random(8, 10, 50);
        for d in [20_000, 20_300] {
            w.li.0.push(0);
            w.li.1.push(d);
            w.li.2.push(i64::MAX / 2 + 10);
            w.li.3.push(0);
        }
        let inputs = w.inputs();
        let cfg = ScoreConfig::default();
        let days = [20_100, 20_200, 20_400];
        let mut got = Vec::new();
        let e = score_series_each(&inputs, &days, &cfg, |r| {
            got.push(r);
            Ok::<(), EngineError>(())
        })
        .unwrap_err();
        assert_eq!(got.len(), 2);
        for (r, &d) in got.iter().zip(&days) {
            assert_same(r, &score(&inputs, d, &cfg).unwrap(), &format!("day {d}"));
        }
        let single = score(&inputs, 20_400, &cfg).unwrap_err();
        assert_eq!(e, single);
        assert!(e.message.contains("does not fit"), "{}", e.message);
        // the failing account travels with the error (the store names it by its key)
        assert_eq!(e.account, Some(0));
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
