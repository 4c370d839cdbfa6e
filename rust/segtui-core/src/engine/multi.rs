//! The multi-date pass: the figures of many as-of days from one grouping of the rows.
//!
//! A single-date run ([`super::score`]) groups the rows on or before its day by account and
//! reads every account's rows once. Scoring D1 < D2 < … < Dk that way repeats the grouping and
//! the reading of the older rows k times. Here instead:
//!
//! 1. [`MultiPass::new`] groups the rows on or before the last day by account **once** (the
//!    engine's radix partition into buckets of accounts, then a counting sort per bucket), and
//!    puts each account's rows in day order;
//! 2. [`MultiPass::aggregate`] visits every account once for a batch of days: its day-ordered
//!    rows are cut at each day by cursors that only move forward (one cursor per window
//!    boundary: the day itself, the RFM window, the recent and prior churn windows, the saas
//!    and tier windows, the monthly-revenue window), so a window's sum is the difference of two
//!    running sums; purchase units (invoice, or day without invoice) are built line by line in
//!    day order, keeping the count of purchase units per first day, so the purchase figures of a
//!    day are read off without rebuilding them. The result of each (account, day) is the same
//!    [`Raw`] the single-date collector produces, turned into the account's figures by the same
//!    [`derive`];
//! 3. [`MultiPass::finish_day`] runs the account-level steps of one day (scores and ties,
//!    maps, pooled-cost allocation, margin, quadrant, health, lifecycle) with the very
//!    [`finish`] of the single-date run.
//!
//! Memory: the grouped rows (as in a single run) plus one aggregate per account and day of the
//! batch; callers choose batches that fit (see [`MultiPass::batch_len`]).

use super::config::{Driver, Mode, SaasFrequency, ScoreConfig};
use super::group::{bucket_shift, local_group, Buckets};
use super::kernel::{
    check_inputs, derive, finish, kind_roles, partition_rows, saturate, side_slots, Agg, Clock, CostRec, DeriveCtx,
    EngineError, EventRec, Finish, LineRec, Raw, K_ACTIVITY, K_CORE, K_FAILED, K_HIGH, K_TICKET,
};
use super::mem::Scratch;
use super::types::*;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Rows of every account, account after account, in day order within an account.
struct Grouped<R: Copy> {
    recs: Scratch<R>,
    /// The rows of account `a` are `recs[starts[a]..starts[a + 1]]`.
    starts: Vec<usize>,
}

impl<R: Copy> Grouped<R> {
    #[inline]
    fn of(&self, a: usize) -> &[R] {
        &self.recs[self.starts[a]..self.starts[a + 1]]
    }
}

/// Turn partitioned buckets into per-account runs in day order, in place.
fn group<R: Copy + Send + Sync>(
    mut b: Buckets<R>,
    n: usize,
    account: impl Fn(&R) -> usize + Sync,
    day: impl Fn(&R) -> i32 + Sync,
) -> Grouped<R> {
    let shift = b.shift;
    let nb = b.n_buckets();
    let mut starts = vec![0usize; n + 1];
    let total = b.offsets[nb];
    let recs = SendPtr(b.recs.as_mut_ptr());
    let st = SendPtr(starts.as_mut_ptr());
    let offsets = &b.offsets;
    (0..nb).into_par_iter().for_each_init(
        || (Vec::<u32>::new(), Vec::<R>::new(), Vec::<u32>::new()),
        |(ls, out, hist), bi| {
            let (recs, st) = (recs, st);
            let base = bi << shift;
            let width = ((bi + 1) << shift).min(n).saturating_sub(base);
            let (off, end) = (offsets[bi], offsets[bi + 1]);
            // SAFETY: buckets cover disjoint ranges of the records, and bucket bi is handled
            // by this iteration only; likewise the starts of its accounts.
            let region = unsafe { std::slice::from_raw_parts_mut(recs.0.add(off), end - off) };
            // Day order first (a counting sort when the bucket's days span a moderate range),
            // then the stable grouping by account keeps it within each account.
            let (lo, hi) = region.iter().fold((i32::MAX, i32::MIN), |(l, h), r| (l.min(day(r)), h.max(day(r))));
            let span = if region.is_empty() { 0 } else { (i64::from(hi) - i64::from(lo) + 1) as usize };
            let counted = span > 0 && span <= 4 * region.len() + 4096;
            if counted {
                hist.clear();
                hist.resize(span + 1, 0);
                for r in region.iter() {
                    hist[(day(r) - lo) as usize + 1] += 1;
                }
                for i in 0..span {
                    hist[i + 1] += hist[i];
                }
                out.clear();
                out.reserve(region.len());
                let dst = out.as_mut_ptr();
                for r in region.iter() {
                    let c = &mut hist[(day(r) - lo) as usize];
                    // SAFETY: the cursors cover 0..len once each, within the reserved capacity.
                    unsafe { dst.add(*c as usize).write(*r) };
                    *c += 1;
                }
                unsafe { out.set_len(region.len()) };
                region.copy_from_slice(out);
            }
            local_group(region, width, base, &account, ls, out);
            for k in 0..width {
                if !counted {
                    out[ls[k] as usize..ls[k + 1] as usize].sort_unstable_by_key(&day);
                }
                unsafe { st.0.add(base + k).write(off + ls[k] as usize) };
            }
            region.copy_from_slice(out);
        },
    );
    starts[n] = total;
    Grouped { recs: b.recs, starts }
}

/// Everything the days of a series share: the grouped rows and what the configuration says
/// about event kinds and drivers.
pub struct MultiPass<'a> {
    inputs: Inputs<'a>,
    config: &'a ScoreConfig,
    max_day: i32,
    lines: Grouped<LineRec>,
    events: Grouped<EventRec>,
    costs: Grouped<CostRec>,
    /// Pooled cost rows on or before the last day: (day, category, amount).
    pooled: Vec<(i32, u32, i64)>,
    kind_flags: Vec<u8>,
    drivers: Vec<Driver>,
    first_event_day: Option<i32>,
    /// Seconds spent grouping (reported once, with the first day finished).
    pub seconds_grouping: f64,
    grouping_reported: AtomicBool,
}

/// The aggregates of a batch of days (see [`MultiPass::aggregate`]).
pub struct DayAggs {
    days: Vec<i32>,
    by_account: Vec<Scratch<Agg>>,
    pooled: Vec<Vec<i128>>,
    pool_rows: Vec<Vec<bool>>,
    unit_slot: Vec<Option<usize>>,
    kind_slot: Vec<Option<usize>>,
    /// `[day][slot][account]`
    unit_sums: Vec<Vec<Vec<i64>>>,
    kind_counts: Vec<Vec<Vec<i64>>>,
    /// A day whose figures cannot be computed (a sum beyond 64 bits) fails alone: its error.
    errors: Vec<Option<EngineError>>,
    seconds: f64,
}

impl DayAggs {
    pub fn days(&self) -> &[i32] {
        &self.days
    }
}

#[derive(Clone, Copy, Default)]
struct LineCursor {
    i: usize,
    amt: i128,
    gross: i128,
    refund: i128,
}

impl LineCursor {
    /// Take in the rows with `day <= limit`.
    #[inline]
    fn upto(&mut self, rows: &[LineRec], limit: i64) {
        while self.i < rows.len() && i64::from(rows[self.i].day) <= limit {
            let x = i128::from(rows[self.i].amount);
            self.amt += x;
            if x < 0 {
                self.refund -= x;
            } else {
                self.gross += x;
            }
            self.i += 1;
        }
    }
}

#[derive(Clone, Copy, Default)]
struct EventCursor {
    i: usize,
    tickets: i64,
    failed: i64,
    high: i64,
}

impl EventCursor {
    #[inline]
    fn upto(&mut self, rows: &[EventRec], limit: i64, flags: &[u8], saas: bool) {
        while self.i < rows.len() && i64::from(rows[self.i].day) <= limit {
            let f = flags[rows[self.i].kind as usize];
            self.tickets += i64::from(f & K_TICKET != 0);
            self.failed += i64::from(f & K_FAILED != 0);
            self.high += i64::from(saas && f & K_HIGH != 0);
            self.i += 1;
        }
    }
}

#[derive(Clone, Copy, Default)]
struct CostCursor {
    i: usize,
    amt: i128,
}

impl CostCursor {
    #[inline]
    fn upto(&mut self, rows: &[CostRec], limit: i64) {
        while self.i < rows.len() && i64::from(rows[self.i].day) <= limit {
            self.amt += i128::from(rows[self.i].amount);
            self.i += 1;
        }
    }
}

/// A purchase unit built line by line: `fd` is the index of its first day in `Units::fd`.
#[derive(Clone, Copy)]
struct Unit {
    net: i128,
    key: i64,
    tag: i32,
    fd: u32,
}

/// One account's purchase units as its lines come in day order. `fd` lists the distinct first
/// days of units (ascending, since lines come in day order) and `cnt[i]` how many units first
/// dated `fd[i]` have a positive net now; `npos` is their total, `distinct` the number of first
/// days with a positive count (the distinct purchase days).
#[derive(Default)]
struct Units {
    units: Vec<Unit>,
    table: Vec<u32>,
    bits: u32,
    fd: Vec<i32>,
    cnt: Vec<u32>,
    npos: i64,
    distinct: usize,
}

impl Units {
    fn reset(&mut self, lines: usize) {
        self.units.clear();
        self.fd.clear();
        self.cnt.clear();
        self.npos = 0;
        self.distinct = 0;
        if lines > 16 {
            self.bits = (2 * lines).next_power_of_two().trailing_zeros();
            self.table.clear();
            self.table.resize(1 << self.bits, u32::MAX);
        } else {
            self.bits = 0;
        }
    }

    fn create(&mut self, key: i64, tag: i32, day: i32) -> usize {
        if self.fd.last() != Some(&day) {
            self.fd.push(day);
            self.cnt.push(0);
        }
        self.units.push(Unit { net: 0, key, tag, fd: (self.fd.len() - 1) as u32 });
        self.units.len() - 1
    }

    #[inline]
    fn add(&mut self, l: &LineRec) {
        let tag = if l.key == 0 { l.day } else { 0 };
        let ui = if self.bits == 0 {
            match self.units.iter().position(|u| u.key == l.key && u.tag == tag) {
                Some(i) => i,
                None => self.create(l.key, tag, l.day),
            }
        } else {
            let bits = self.bits;
            let mask = (1usize << bits) - 1;
            let mix = (l.key as u64 ^ (tag as u32 as u64).rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut slot = (mix >> (64 - bits)) as usize;
            loop {
                let t = self.table[slot];
                if t == u32::MAX {
                    let i = self.create(l.key, tag, l.day);
                    self.table[slot] = i as u32;
                    break i;
                }
                let u = &self.units[t as usize];
                if u.key == l.key && u.tag == tag {
                    break t as usize;
                }
                slot = (slot + 1) & mask;
            }
        };
        let u = &mut self.units[ui];
        let was = u.net > 0;
        u.net += i128::from(l.amount);
        let is = u.net > 0;
        if was != is {
            let c = &mut self.cnt[u.fd as usize];
            if is {
                if *c == 0 {
                    self.distinct += 1;
                }
                *c += 1;
                self.npos += 1;
            } else {
                *c -= 1;
                if *c == 0 {
                    self.distinct -= 1;
                }
                self.npos -= 1;
            }
        }
    }

    /// Purchase units first dated after `after`.
    fn count_after(&self, after: i64) -> i64 {
        let mut k = 0i64;
        for i in (0..self.fd.len()).rev() {
            if i64::from(self.fd[i]) <= after {
                break;
            }
            k += i64::from(self.cnt[i]);
        }
        k
    }

    /// Distinct purchase days in `(lo, hi]` (hi = the newest day taken in).
    fn days_after(&self, lo: i64) -> i64 {
        let mut k = 0i64;
        for i in (0..self.fd.len()).rev() {
            if i64::from(self.fd[i]) <= lo {
                break;
            }
            k += i64::from(self.cnt[i] > 0);
        }
        k
    }

    fn first(&self) -> Option<i64> {
        self.cnt.iter().position(|&c| c > 0).map(|i| i64::from(self.fd[i]))
    }

    fn last(&self) -> Option<i64> {
        self.cnt.iter().rposition(|&c| c > 0).map(|i| i64::from(self.fd[i]))
    }
}

#[derive(Default)]
struct MultiWork {
    units: Units,
    adays: Vec<i32>,
    hdays: Vec<i32>,
    kind_stamp: Vec<u64>,
    stamp: u64,
    unit_acc: Vec<(i128, bool)>,
}

/// Rows with `day <= limit` among day-sorted `days`.
#[inline]
fn upto(days: &[i32], limit: i64) -> usize {
    days.partition_point(|&d| i64::from(d) <= limit)
}

/// Where one batch writes: per day, the aggregates and the side sums.
struct Out {
    aggs: Vec<SendPtr<Agg>>,
    errors: Vec<std::sync::Mutex<Option<EngineError>>>,
    units: Vec<Vec<SendPtr<i64>>>,
    kinds: Vec<Vec<SendPtr<i64>>>,
}

impl<'a> MultiPass<'a> {
    /// Group the rows on or before `max_day` (every row's account index is checked, as in a
    /// single-date run).
    pub fn new(inputs: &Inputs<'a>, max_day: i32, config: &'a ScoreConfig) -> Result<MultiPass<'a>, EngineError> {
        let t0 = Instant::now();
        check_inputs(inputs)?;
        let n = inputs.n_accounts;
        let li = inputs.line_items;
        let ev = inputs.events;
        let co = inputs.costs;
        let shift = bucket_shift(n, li.account.len() + ev.account.len() + co.account.len());
        let (lines, events, costs) = partition_rows(inputs, shift, max_day)?;
        let first_event_day = events.recs.iter().map(|e| e.day).min();
        let pooled: Vec<(i32, u32, i64)> = (0..co.account.len())
            .into_par_iter()
            .with_min_len(1 << 16)
            .filter(|&i| co.account[i] == POOLED && co.day[i] <= max_day)
            .map(|i| (co.day[i], co.category[i], co.amount[i]))
            .collect();
        let (lines, (events, costs)) = rayon::join(
            || group(lines, n, |r| r.account as usize, |r| r.day),
            || {
                (
                    group(events, n, |r| r.account as usize, |r| r.day),
                    group(costs, n, |r| r.account as usize, |r| r.day),
                )
            },
        );
        Ok(MultiPass {
            inputs: *inputs,
            config,
            max_day,
            lines,
            events,
            costs,
            pooled,
            kind_flags: kind_roles(inputs, config),
            drivers: inputs.cost_categories.iter().map(|c| config.driver_for(c).clone()).collect(),
            first_event_day,
            seconds_grouping: t0.elapsed().as_secs_f64(),
            grouping_reported: AtomicBool::new(false),
        })
    }

    /// How many days one batch may hold so that its aggregates stay within about `budget`
    /// bytes (at least one).
    pub fn batch_len(&self, budget: usize) -> usize {
        let per_day = self.inputs.n_accounts.max(1) * std::mem::size_of::<Agg>();
        (budget / per_day).max(1)
    }

    /// The aggregates of every account at every day of `days` (strictly ascending, each on or
    /// before the pass's last day), from one visit of each account's rows.
    pub fn aggregate(&self, days: &[i32]) -> Result<DayAggs, EngineError> {
        let t0 = Instant::now();
        if days.windows(2).any(|w| w[0] >= w[1]) || days.last().is_some_and(|&d| d > self.max_day) {
            return Err(EngineError::new("multi-date days must be ascending and within the prepared range"));
        }
        let n = self.inputs.n_accounts;
        let k = days.len();
        let cfg = self.config;
        let ncat = self.inputs.cost_categories.len();
        let win = cfg.rfm.window_days.unwrap_or(i64::MAX);

        // pooled sums per day and category
        let (pooled, pool_rows) = self
            .pooled
            .par_iter()
            .with_min_len(1 << 14)
            .fold(
                || (vec![vec![0i128; ncat]; k], vec![vec![false; ncat]; k]),
                |(mut sum, mut seen), &(day, c, amt)| {
                    for (j, &d) in days.iter().enumerate() {
                        if day <= d && i64::from(d) - i64::from(day) < win {
                            sum[j][c as usize] += i128::from(amt);
                            seen[j][c as usize] = true;
                        }
                    }
                    (sum, seen)
                },
            )
            .reduce(
                || (vec![vec![0i128; ncat]; k], vec![vec![false; ncat]; k]),
                |(mut s1, mut f1), (s2, f2)| {
                    for j in 0..k {
                        for c in 0..ncat {
                            s1[j][c] += s2[j][c];
                            f1[j][c] |= f2[j][c];
                        }
                    }
                    (s1, f1)
                },
            );
        // side-sum slots for every category pooled on some day of the batch
        let any_rows: Vec<bool> = (0..ncat).map(|c| pool_rows.iter().any(|r| r[c])).collect();
        let (unit_slot, kind_slot, n_units, n_kinds) = side_slots(&self.inputs, &self.drivers, &any_rows);
        let mut unit_sums: Vec<Vec<Vec<i64>>> = (0..k).map(|_| (0..n_units).map(|_| vec![0i64; n]).collect()).collect();
        let mut kind_counts: Vec<Vec<Vec<i64>>> = (0..k).map(|_| (0..n_kinds).map(|_| vec![0i64; n]).collect()).collect();
        let mut by_account: Vec<Scratch<Agg>> = (0..k).map(|_| Scratch::new(n)).collect();
        let out = Out {
            aggs: by_account.iter_mut().map(|s| SendPtr(s.as_mut_ptr())).collect(),
            errors: (0..k).map(|_| std::sync::Mutex::new(None)).collect(),
            units: unit_sums.iter_mut().map(|d| d.iter_mut().map(|v| SendPtr(v.as_mut_ptr())).collect()).collect(),
            kinds: kind_counts.iter_mut().map(|d| d.iter_mut().map(|v| SendPtr(v.as_mut_ptr())).collect()).collect(),
        };
        let days64: Vec<i64> = days.iter().map(|&d| i64::from(d)).collect();
        let has_events: Vec<bool> = days.iter().map(|&d| self.first_event_day.is_some_and(|f| f <= d)).collect();
        const CHUNK: usize = 2048;
        (0..n.div_ceil(CHUNK)).into_par_iter().for_each_init(MultiWork::default, |w, c| {
            for a in c * CHUNK..((c + 1) * CHUNK).min(n) {
                self.account(w, a, &days64, &has_events, &unit_slot, &kind_slot, &out);
            }
        });
        let errors = out.errors.into_iter().map(|e| e.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
        Ok(DayAggs {
            days: days.to_vec(),
            by_account,
            pooled,
            pool_rows,
            unit_slot,
            kind_slot,
            unit_sums,
            kind_counts,
            errors,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }

    /// The result of the `j`-th day of a batch.
    pub fn finish_day(&self, aggs: &DayAggs, j: usize) -> Result<ScoreResult, EngineError> {
        if let Some(e) = &aggs.errors[j] {
            return Err(e.clone());
        }
        let mut clock = Clock::new();
        if !self.grouping_reported.swap(true, Ordering::Relaxed) {
            clock.laps.push(("partition".into(), self.seconds_grouping));
        }
        clock.laps.push(("accounts".into(), aggs.seconds / aggs.days.len() as f64));
        let fin = Finish {
            inputs: &self.inputs,
            config: self.config,
            drivers: &self.drivers,
            unit_slot: &aggs.unit_slot,
            kind_slot: &aggs.kind_slot,
        };
        finish(
            &fin,
            aggs.days[j],
            &aggs.by_account[j],
            &aggs.pooled[j],
            &aggs.pool_rows[j],
            &aggs.unit_sums[j],
            &aggs.kind_counts[j],
            clock,
        )
    }

    /// One account at every day of the batch: one forward visit of its day-ordered rows.
    #[allow(clippy::too_many_arguments)]
    fn account(
        &self,
        w: &mut MultiWork,
        a: usize,
        days: &[i64],
        has_events: &[bool],
        unit_slot: &[Option<usize>],
        kind_slot: &[Option<usize>],
        out: &Out,
    ) {
        let cfg = self.config;
        let saas = cfg.mode == Mode::Saas;
        let lines = self.lines.of(a);
        let evs = self.events.of(a);
        let costs = self.costs.of(a);
        let not_member = Agg { member: false, ..Agg::default() };
        if lines.is_empty() && costs.is_empty() && (!saas || evs.is_empty()) {
            for p in &out.aggs {
                // SAFETY: (day, account a) is written by this call only, within length n.
                unsafe { p.0.add(a).write(not_member) };
            }
            return;
        }
        let ch = &cfg.churn;
        let (rd, pd) = (ch.recent_days, ch.prior_days);
        let act_span = rd + pd;
        let months_span = 30 * cfg.saas.revenue_months;
        let win = cfg.rfm.window_days.unwrap_or(i64::MAX);
        let tw = cfg.tier.window_days;
        let sw = cfg.saas.window_days;
        let flags = &self.kind_flags[..];

        w.units.reset(lines.len());
        w.adays.clear();
        w.hdays.clear();
        for e in evs {
            let f = flags[e.kind as usize];
            if f & K_ACTIVITY != 0 && w.adays.last() != Some(&e.day) {
                w.adays.push(e.day);
            }
            if saas && f & K_HIGH != 0 && w.hdays.last() != Some(&e.day) {
                w.hdays.push(e.day);
            }
        }
        if w.kind_stamp.len() < flags.len() {
            w.kind_stamp.resize(flags.len(), 0);
        }
        let mut l_cut = LineCursor::default();
        let (mut l_win, mut l_rd, mut l_act, mut l_mon) = (l_cut, l_cut, l_cut, l_cut);
        let (mut e_cut, mut e_rd, mut e_act, mut e_sw) =
            (EventCursor::default(), EventCursor::default(), EventCursor::default(), EventCursor::default());
        let (mut c_cut, mut c_win) = (CostCursor::default(), CostCursor::default());
        let mut taken = 0usize; // lines taken into the units
        let n_units = out.units.first().map_or(0, |v| v.len());
        let n_kinds = out.kinds.first().map_or(0, |v| v.len());

        for (j, &d) in days.iter().enumerate() {
            l_cut.upto(lines, d);
            c_cut.upto(costs, d);
            let ne = upto_events(evs, d);
            if l_cut.i == 0 && c_cut.i == 0 && !(saas && ne > 0) {
                // SAFETY: as above.
                unsafe { out.aggs[j].0.add(a).write(not_member) };
                continue;
            }
            let mut raw = Raw::default();
            // ---- costs
            c_win.upto(costs, d.saturating_sub(win));
            raw.direct = c_cut.amt - c_win.amt;
            raw.cost_in_window = c_cut.i > c_win.i;
            if n_units > 0 {
                w.unit_acc.clear();
                w.unit_acc.resize(n_units, (0, false));
                for c in &costs[c_win.i..c_cut.i] {
                    if let Some(slot) = unit_slot[c.category as usize] {
                        if c.units != NULL_I64 {
                            let u = &mut w.unit_acc[slot];
                            u.0 += i128::from(c.units);
                            u.1 = true;
                        }
                    }
                }
                for (slot, &(sum, seen)) in w.unit_acc.iter().enumerate() {
                    if seen {
                        // SAFETY: as above.
                        unsafe { out.units[j][slot].0.add(a).write(saturate(sum)) };
                    }
                }
            }
            // ---- line items
            l_win.upto(lines, d.saturating_sub(win));
            l_rd.upto(lines, d - rd);
            l_act.upto(lines, d - act_span);
            l_mon.upto(lines, d - months_span);
            raw.revenue = l_cut.amt - l_win.amt;
            raw.lines_window = (l_cut.i - l_win.i) as u32;
            raw.r_ref = l_cut.refund - l_rd.refund;
            raw.r_gross = l_cut.gross - l_rd.gross;
            raw.p_ref = l_rd.refund - l_act.refund;
            raw.p_gross = l_rd.gross - l_act.gross;
            raw.rev_months = l_cut.amt - l_mon.amt;
            while taken < l_cut.i {
                w.units.add(&lines[taken]);
                taken += 1;
            }
            let u = &w.units;
            raw.n_purchases_window = if win == i64::MAX { u.npos } else { u.count_after(d.saturating_sub(win)) };
            raw.first_purchase = u.first();
            raw.last_purchase = u.last();
            raw.purchase_days = u.distinct;

            // ---- events
            e_cut.upto(evs, d, flags, saas);
            e_rd.upto(evs, d - rd, flags, saas);
            e_act.upto(evs, d - act_span, flags, saas);
            raw.r_tickets = e_cut.tickets - e_rd.tickets;
            raw.p_tickets = e_rd.tickets - e_act.tickets;
            raw.failed = e_cut.failed - e_rd.failed;
            let na = upto(&w.adays, d);
            raw.last_event_activity = if na > 0 { Some(i64::from(w.adays[na - 1])) } else { None };
            if na > 0 {
                raw.recent = (na - upto(&w.adays, d - rd)) as i64;
                raw.prior = (na - upto(&w.adays, d - act_span)) as i64 - raw.recent;
            } else {
                raw.recent = u.days_after(d - rd);
                raw.prior = u.days_after(d - act_span) - raw.recent;
            }
            if saas {
                e_sw.upto(evs, d - sw, flags, saas);
                let nh = upto(&w.hdays, d);
                raw.hs_first = if nh > 0 { Some(i64::from(w.hdays[0])) } else { None };
                raw.hs_last = if nh > 0 { Some(i64::from(w.hdays[nh - 1])) } else { None };
                raw.hs_days = nh;
                raw.hs_freq = match cfg.saas.frequency {
                    SaasFrequency::Events => e_cut.high - e_sw.high,
                    SaasFrequency::ActiveDays => (nh - upto(&w.hdays, d - sw)) as i64,
                };
            }
            if has_events[j] {
                raw.tier_days = (na - upto(&w.adays, d - tw)) as i64;
                let from = evs[..ne].partition_point(|e| i64::from(e.day) <= d - tw);
                w.stamp += 1;
                let mut feats = 0i64;
                for e in &evs[from..ne] {
                    if flags[e.kind as usize] & K_CORE != 0 && w.kind_stamp[e.kind as usize] != w.stamp {
                        w.kind_stamp[e.kind as usize] = w.stamp;
                        feats += 1;
                    }
                }
                raw.tier_feats = feats;
            }
            if n_kinds > 0 {
                let from = evs[..ne].partition_point(|e| i64::from(e.day) <= d.saturating_sub(win));
                for e in &evs[from..ne] {
                    if let Some(slot) = kind_slot[e.kind as usize] {
                        // SAFETY: as above.
                        unsafe {
                            let p = out.kinds[j][slot].0.add(a);
                            *p = p.read() + 1;
                        }
                    }
                }
            }
            let dc = DeriveCtx { cfg, accounts: &self.inputs.accounts, saas, has_events: has_events[j] };
            let agg = match derive(&dc, a, d, &raw) {
                Ok(agg) => agg,
                Err(e) => {
                    let mut slot = out.errors[j].lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(e);
                    not_member
                }
            };
            // SAFETY: as above.
            unsafe { out.aggs[j].0.add(a).write(agg) };
        }
    }
}

/// Events with `day <= d` among day-sorted events.
#[inline]
fn upto_events(evs: &[EventRec], d: i64) -> usize {
    evs.partition_point(|e| i64::from(e.day) <= d)
}
