//! Evaluation: all rules over all rows of a [`Table`], reading the event log once.
//!
//! 1. The event features every rule needs are collected: counts per (kind, window), active
//!    days per (kind or any kind, window), first day per kind.
//! 2. One pass over the events fills them (events after the as-of day are skipped; so are
//!    events of accounts not in the table). Counts per kind are kept in window buckets and
//!    summed afterwards, so each event costs one increment whatever the number of windows;
//!    active days are a bitmap of the last N days per row, so events may come in any order.
//! 3. Each rule is evaluated as two bitsets per node (rows where it is true, rows where it is
//!    false; the rest are unknown), following Kleene's three-valued logic.
//!
//! Windows: "in Nd" is the N days ending on the as-of day D, inclusive: an event on day d is
//! in the window when `D - N < d <= D`, i.e. its age `D - d` is below N. So `in 1d` is D alone
//! and `in 7d` is D-6 ..= D.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::compile::{CompiledRule, FloatSet, IntSet, Node, Test};
use super::table::{EventLog, MetricColumn, Table, Unit, Values};

/// The accounts a rule matched, as a bitset over the table's rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matches {
    pub bits: Vec<u64>,
    pub n: usize,
}

impl Matches {
    pub fn get(&self, row: usize) -> bool {
        self.bits[row >> 6] >> (row & 63) & 1 == 1
    }

    pub fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// One byte per row, 1 for a match.
    pub fn to_bytes(&self) -> Vec<u8> {
        (0..self.n).map(|i| self.get(i) as u8).collect()
    }

    /// The matching rows, ascending.
    pub fn rows(&self) -> Vec<usize> {
        (0..self.n).filter(|i| self.get(*i)).collect()
    }
}

/// True / false bitsets of a node (rows in neither are unknown).
struct Tri {
    t: Vec<u64>,
    f: Vec<u64>,
}

fn words(n: usize) -> usize {
    n.div_ceil(64)
}

/// Builds a `Tri` from a per-row test (`None` = unknown).
fn tri_from(n: usize, test: impl Fn(usize) -> Option<bool>) -> Tri {
    let nw = words(n);
    let mut t = vec![0u64; nw];
    let mut f = vec![0u64; nw];
    for w in 0..nw {
        let base = w * 64;
        let end = (base + 64).min(n);
        let (mut tw, mut fw) = (0u64, 0u64);
        for row in base..end {
            match test(row) {
                Some(true) => tw |= 1 << (row - base),
                Some(false) => fw |= 1 << (row - base),
                None => {}
            }
        }
        t[w] = tw;
        f[w] = fw;
    }
    Tri { t, f }
}

// ---- event features ----------------------------------------------------------------------

#[derive(Default)]
struct KindPlan {
    /// Finite count windows, ascending; bucket i holds ages in [w[i-1], w[i]).
    windows: Vec<u32>,
    ever: bool,
    /// age -> bucket, for ages below the largest finite window.
    bucket_of_age: Vec<u8>,
    count_base: usize,
    n_buckets: usize,
    active: Option<(usize, u32)>,
    first: Option<usize>,
}

/// Active days of the last `max` days per row, one bit per day of age.
struct DayBits {
    per_row: usize,
    bits: Vec<u64>,
}

impl DayBits {
    fn new(rows: usize, max: u32) -> Self {
        let per_row = (max as usize).div_ceil(64);
        DayBits { per_row, bits: vec![0; rows * per_row] }
    }

    /// Days with a bit among ages `0..window`.
    fn count(&self, row: usize, window: u32) -> u32 {
        let w = &self.bits[row * self.per_row..(row + 1) * self.per_row];
        let full = (window as usize) >> 6;
        let mut c: u32 = w[..full.min(w.len())].iter().map(|x| x.count_ones()).sum();
        let rest = window & 63;
        if rest > 0 && full < w.len() {
            c += (w[full] & ((1u64 << rest) - 1)).count_ones();
        }
        c
    }
}

struct Features {
    counts: Vec<Vec<u32>>,
    /// (kind, window) -> index into `counts` (cumulative after the pass).
    count_index: HashMap<(String, Option<u32>), usize>,
    days: Vec<DayBits>,
    /// kind (None = any) -> index into `days`.
    day_index: HashMap<Option<String>, usize>,
    firsts: Vec<Vec<i32>>,
    first_index: HashMap<String, usize>,
}

fn plan_and_scan(
    rules: &[CompiledRule],
    table: &Table,
    events: Option<&EventLog>,
    as_of: i32,
) -> Result<Features, String> {
    let n = table.n_rows;
    // What is needed, by kind name.
    let mut count_w: BTreeMap<String, BTreeSet<Option<u32>>> = BTreeMap::new();
    let mut active_w: BTreeMap<Option<String>, u32> = BTreeMap::new();
    let mut first_k: BTreeSet<String> = BTreeSet::new();
    for r in rules {
        for l in &r.leaves {
            match &l.test {
                Test::Count { kind, window, .. } => {
                    count_w.entry(kind.clone()).or_default().insert(*window);
                }
                Test::Active { kind, window, .. } => {
                    let m = active_w.entry(kind.clone()).or_insert(0);
                    *m = (*m).max(*window);
                }
                Test::First { kind, .. } => {
                    first_k.insert(kind.clone());
                }
                _ => {}
            }
        }
    }
    let empty = EventLog::default();
    let log = events.unwrap_or(&empty);
    let kind_id: HashMap<&str, usize> = log.kinds.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let mut plans: Vec<Option<KindPlan>> = (0..log.kinds.len()).map(|_| None).collect();
    let mut f = Features {
        counts: Vec::new(),
        count_index: HashMap::new(),
        days: Vec::new(),
        day_index: HashMap::new(),
        firsts: Vec::new(),
        first_index: HashMap::new(),
    };
    for (kind, ws) in &count_w {
        let base = f.counts.len();
        let finite: Vec<u32> = ws.iter().flatten().copied().collect();
        let ever = ws.contains(&None);
        let nb = finite.len() + ever as usize;
        for (i, w) in finite.iter().enumerate() {
            f.count_index.insert((kind.clone(), Some(*w)), base + i);
        }
        if ever {
            f.count_index.insert((kind.clone(), None), base + finite.len());
        }
        f.counts.extend((0..nb).map(|_| vec![0u32; n]));
        if let Some(&k) = kind_id.get(kind.as_str()) {
            let max = finite.last().copied().unwrap_or(0) as usize;
            let mut bucket_of_age = vec![0u8; max];
            let mut b = 0;
            for (age, slot) in bucket_of_age.iter_mut().enumerate() {
                while age as u32 >= finite[b] {
                    b += 1;
                }
                *slot = b as u8;
            }
            if nb > 255 {
                return Err("too many different windows for one event kind (at most 255)".into());
            }
            let p = plans[k].get_or_insert_with(KindPlan::default);
            p.windows = finite;
            p.ever = ever;
            p.bucket_of_age = bucket_of_age;
            p.count_base = base;
            p.n_buckets = nb;
        }
    }
    for (kind, max) in &active_w {
        let slot = f.days.len();
        f.days.push(DayBits::new(n, *max));
        f.day_index.insert(kind.clone(), slot);
        if let Some(kind) = kind {
            if let Some(&k) = kind_id.get(kind.as_str()) {
                plans[k].get_or_insert_with(KindPlan::default).active = Some((slot, *max));
            }
        }
    }
    for kind in &first_k {
        let slot = f.firsts.len();
        f.firsts.push(vec![i32::MAX; n]);
        f.first_index.insert(kind.clone(), slot);
        if let Some(&k) = kind_id.get(kind.as_str()) {
            plans[k].get_or_insert_with(KindPlan::default).first = Some(slot);
        }
    }
    let any_slot = f.day_index.get(&None).copied();
    if events.is_none() || (plans.iter().all(|p| p.is_none()) && any_slot.is_none()) {
        return Ok(f);
    }

    let ev = &log.events;
    if ev.day.len() != ev.account.len() || ev.kind.len() != ev.account.len() {
        return Err(format!(
            "event columns differ in length: account {}, day {}, kind {}",
            ev.account.len(),
            ev.day.len(),
            ev.kind.len()
        ));
    }
    scan(&mut f, &plans, table, ev, any_slot, active_w.get(&None).copied().unwrap_or(0), as_of)?;
    // Buckets -> cumulative counts per window.
    for p in plans.iter().flatten() {
        for b in 1..p.n_buckets {
            let (lo, hi) = f.counts.split_at_mut(p.count_base + b);
            let prev = &lo[p.count_base + b - 1];
            for (x, y) in hi[0].iter_mut().zip(prev) {
                *x = x.saturating_add(*y);
            }
        }
    }
    Ok(f)
}

/// Events each thread filters and partitions per round (bounds scratch memory to about
/// 16 bytes per event of a round).
/// (Small under test, so that the tests go through many rounds.)
const CHUNK: usize = if cfg!(test) { 1 << 10 } else { 1 << 21 };
/// Accounts per block of the partition: a block's feature rows stay in cache while its
/// events are applied.
const BLOCK_SHIFT: u32 = 11;
const NO_ROW: u32 = u32::MAX;

/// A raw pointer that may cross threads. Used only for writes that are provably disjoint
/// (see [`scan`]).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Everything the apply step needs, shareable between threads.
struct ScanCtx<'p> {
    plans: &'p [Option<KindPlan>],
    slot_plan: Vec<usize>,
    slot_of_kind: Vec<u8>,
    limit: Vec<u32>,
    identity: bool,
    row_of: Vec<u32>,
    n_accounts: usize,
    n_blocks: usize,
    any: Option<(SendPtr<u64>, usize)>,
    any_window: u32,
    counts: Vec<SendPtr<u32>>,
    days: Vec<(SendPtr<u64>, usize)>,
    firsts: Vec<SendPtr<i32>>,
    as_of: i32,
}

/// One partitioned slice of events: packed events ordered by account block, and the start
/// of each block.
struct Part {
    packed: Vec<u64>,
    starts: Vec<usize>,
    bad_kind: Option<usize>,
}

impl ScanCtx<'_> {
    /// The event as `account << 32 | age << 8 | slot`, or `None` when no rule needs it.
    #[inline]
    fn keep(&self, ev: &crate::engine::Events, i: usize, bad: &mut Option<usize>) -> Option<u64> {
        let d = ev.day[i];
        if d > self.as_of {
            return None;
        }
        let a = ev.account[i] as usize;
        if a >= self.n_accounts {
            return None;
        }
        let k = ev.kind[i] as usize;
        if k >= self.slot_of_kind.len() {
            *bad = Some(k);
            return None;
        }
        let s = self.slot_of_kind[k];
        let age = (self.as_of as i64 - d as i64).min(u32::MAX as i64) as u32;
        if age >= self.limit[s as usize] {
            return None;
        }
        Some(((a as u64) << 32) | ((age.min(0xFF_FFFF) as u64) << 8) | s as u64)
    }

    /// Filters events `lo..hi` and orders the survivors by account block (counting sort).
    fn partition(&self, ev: &crate::engine::Events, lo: usize, hi: usize) -> Part {
        let mut bad_kind = None;
        let mut tmp = Vec::with_capacity((hi - lo) / 2);
        let mut starts = vec![0usize; self.n_blocks + 1];
        for i in lo..hi {
            if let Some(p) = self.keep(ev, i, &mut bad_kind) {
                starts[((p >> 32) as usize >> BLOCK_SHIFT) + 1] += 1;
                tmp.push(p);
            }
        }
        for b in 1..=self.n_blocks {
            starts[b] += starts[b - 1];
        }
        let mut packed = vec![0u64; tmp.len()];
        let mut next = starts.clone();
        for p in tmp {
            let b = (p >> 32) as usize >> BLOCK_SHIFT;
            packed[next[b]] = p;
            next[b] += 1;
        }
        Part { packed, starts, bad_kind }
    }

    /// Applies the events of blocks `blocks` from every part.
    ///
    /// # Safety
    /// Two calls running at the same time must get disjoint block ranges: blocks partition
    /// the accounts and each account has at most one row, so their writes never overlap.
    unsafe fn apply(&self, parts: &[Part], blocks: std::ops::Range<usize>) {
        for part in parts {
            for &p in &part.packed[part.starts[blocks.start]..part.starts[blocks.end]] {
                let a = (p >> 32) as usize;
                let age = ((p >> 8) & 0xFF_FFFF) as u32;
                let s = (p & 0xFF) as usize;
                let row = if self.identity {
                    a
                } else {
                    match self.row_of[a] {
                        NO_ROW => continue,
                        r => r as usize,
                    }
                };
                unsafe {
                    if let Some((bits, per_row)) = self.any {
                        if age < self.any_window {
                            *bits.0.add(row * per_row + (age as usize >> 6)) |= 1 << (age & 63);
                        }
                    }
                    if s == 0 {
                        continue;
                    }
                    let Some(plan) = &self.plans[self.slot_plan[s]] else { continue };
                    if plan.n_buckets > 0 {
                        let b = if (age as usize) < plan.bucket_of_age.len() {
                            Some(plan.bucket_of_age[age as usize] as usize)
                        } else if plan.ever {
                            Some(plan.n_buckets - 1)
                        } else {
                            None
                        };
                        if let Some(b) = b {
                            let c = self.counts[plan.count_base + b].0.add(row);
                            *c = (*c).saturating_add(1);
                        }
                    }
                    if let Some((slot, max)) = plan.active {
                        if age < max {
                            let (bits, per_row) = self.days[slot];
                            *bits.0.add(row * per_row + (age as usize >> 6)) |= 1 << (age & 63);
                        }
                    }
                    if let Some(slot) = plan.first {
                        // The oldest event is the smallest day (ages beyond 2^24 days are
                        // clamped: far beyond any window).
                        let day = self.as_of - age as i32;
                        let x = self.firsts[slot].0.add(row);
                        if day < *x {
                            *x = day;
                        }
                    }
                }
            }
        }
    }
}

/// One pass over the events, in rounds. In each round every thread filters its slice
/// sequentially (day, kind, age against the longest window that kind needs), packing each
/// useful event into a `u64`, and orders its survivors by account block; then the threads
/// apply the events block range by block range, so the random writes into per-row features
/// stay within cache-sized blocks and no two threads touch the same row.
fn scan(
    f: &mut Features,
    plans: &[Option<KindPlan>],
    table: &Table,
    ev: &crate::engine::Events,
    any_slot: Option<usize>,
    any_window: u32,
    as_of: i32,
) -> Result<(), String> {
    use rayon::prelude::*;
    let n_kinds = plans.len();
    // Slot 0: a kind without a plan (only useful for "active days of any kind").
    let mut slot_of_kind = vec![0u8; n_kinds];
    let mut slot_plan: Vec<usize> = vec![usize::MAX];
    let mut limit: Vec<u32> = vec![if any_slot.is_some() { any_window } else { 0 }];
    for (k, p) in plans.iter().enumerate() {
        let Some(p) = p else { continue };
        if slot_plan.len() > 255 {
            return Err("too many different event kinds in the rules (at most 255)".into());
        }
        slot_of_kind[k] = slot_plan.len() as u8;
        slot_plan.push(k);
        let mut lim = p.bucket_of_age.len() as u32;
        if p.ever || p.first.is_some() {
            lim = u32::MAX;
        }
        if let Some((_, m)) = p.active {
            lim = lim.max(m);
        }
        limit.push(lim.max(limit[0]));
    }
    // Rows by dense account index (none needed when row i is account i).
    let identity = table.account.is_none_or(|a| a.iter().enumerate().all(|(i, x)| *x as usize == i));
    let row_of: Vec<u32> = match table.account {
        Some(acc) if !identity => {
            let max = acc.iter().copied().max().map_or(0, |m| m as usize + 1);
            let mut r = vec![NO_ROW; max];
            for (row, a) in acc.iter().enumerate() {
                r[*a as usize] = row as u32;
            }
            r
        }
        _ => Vec::new(),
    };
    let n_accounts = if identity { table.n_rows } else { row_of.len() };
    let n_blocks = (n_accounts >> BLOCK_SHIFT) + 1;
    let ctx = ScanCtx {
        plans,
        slot_plan,
        slot_of_kind,
        limit,
        identity,
        row_of,
        n_accounts,
        n_blocks,
        any: any_slot.map(|s| (SendPtr(f.days[s].bits.as_mut_ptr()), f.days[s].per_row)),
        any_window,
        counts: f.counts.iter_mut().map(|c| SendPtr(c.as_mut_ptr())).collect(),
        days: f.days.iter_mut().map(|d| (SendPtr(d.bits.as_mut_ptr()), d.per_row)).collect(),
        firsts: f.firsts.iter_mut().map(|x| SendPtr(x.as_mut_ptr())).collect(),
        as_of,
    };
    let threads = rayon::current_num_threads().max(1);
    let n_events = ev.account.len();
    let mut bad_kind = None;
    let mut lo = 0;
    while lo < n_events {
        let per = CHUNK.min(n_events.div_ceil(threads)).max(1);
        let ranges: Vec<(usize, usize)> =
            (0..threads).map(|t| (lo + t * per, (lo + (t + 1) * per).min(n_events))).filter(|(a, b)| a < b).collect();
        let parts: Vec<Part> = ranges.par_iter().map(|&(a, b)| ctx.partition(ev, a, b)).collect();
        bad_kind = bad_kind.or(parts.iter().find_map(|p| p.bad_kind));
        let spans: Vec<std::ops::Range<usize>> =
            (0..threads).map(|t| t * n_blocks / threads..(t + 1) * n_blocks / threads).collect();
        // SAFETY: the block ranges are disjoint (see `ScanCtx::apply`); the feature vectors
        // outlive the scope and are not otherwise touched during it.
        spans.into_par_iter().for_each(|span| unsafe { ctx.apply(&parts, span) });
        lo = ranges.last().map_or(n_events, |r| r.1);
    }
    if let Some(k) = bad_kind {
        return Err(format!("event kind index {k} is out of range ({n_kinds} kinds given)"));
    }
    Ok(())
}

// ---- leaves --------------------------------------------------------------------------------

/// Index of a row's value in a column (per row, or per account through `Table::account`).
#[inline]
fn ix(col: &MetricColumn, table: &Table, row: usize) -> usize {
    if col.per_account {
        table.account.map_or(row, |a| a[row] as usize)
    } else {
        row
    }
}

#[inline]
fn valid(col: &MetricColumn, i: usize) -> bool {
    col.valid.is_none_or(|v| v[i] != 0)
}

/// A whole-number column as `Option<i64>` per row.
fn int_tri(col: &MetricColumn, table: &Table, pred: impl Fn(i64) -> bool) -> Tri {
    let n = table.n_rows;
    let boolean = col.unit == Unit::Bool;
    let norm = |v: i64| if boolean { (v != 0) as i64 } else { v };
    match col.values {
        Values::I64(v) => tri_from(n, |r| {
            let i = ix(col, table, r);
            let x = v[i];
            (valid(col, i) && x != i64::MIN).then(|| pred(norm(x)))
        }),
        Values::I32(v) => tri_from(n, |r| {
            let i = ix(col, table, r);
            let x = v[i];
            (valid(col, i) && x != i32::MIN).then(|| pred(x as i64))
        }),
        Values::U8 { values, null } => tri_from(n, |r| {
            let i = ix(col, table, r);
            let x = values[i];
            (valid(col, i) && Some(x) != null).then(|| pred(norm(x as i64)))
        }),
        _ => tri_from(n, |_| None),
    }
}

fn is_null_tri(col: &MetricColumn, table: &Table) -> Tri {
    let n = table.n_rows;
    match col.values {
        Values::I64(v) => tri_from(n, |r| {
            let i = ix(col, table, r);
            Some(!valid(col, i) || v[i] == i64::MIN)
        }),
        Values::I32(v) => tri_from(n, |r| {
            let i = ix(col, table, r);
            Some(!valid(col, i) || v[i] == i32::MIN)
        }),
        Values::F64(v) => tri_from(n, |r| {
            let i = ix(col, table, r);
            Some(!valid(col, i) || v[i].is_nan())
        }),
        Values::U8 { values, null } => tri_from(n, |r| {
            let i = ix(col, table, r);
            Some(!valid(col, i) || Some(values[i]) == null)
        }),
        Values::Codes8 { codes, null_code, .. } => tri_from(n, |r| {
            let i = ix(col, table, r);
            Some(!valid(col, i) || Some(codes[i]) == null_code)
        }),
        Values::Codes32 { codes, .. } => tri_from(n, |r| {
            let i = ix(col, table, r);
            Some(!valid(col, i) || codes[i] == u32::MAX)
        }),
    }
}

fn leaf_tri(test: &Test, table: &Table, f: &Features, as_of: i32) -> Result<Tri, String> {
    let n = table.n_rows;
    let col = |name: &str| table.column(name).ok_or_else(|| format!("the table has no column {name}"));
    Ok(match test {
        Test::Int { col: c, set } => {
            let c = col(c)?;
            match set {
                IntSet::Range(lo, hi) => {
                    let (lo, hi) = (*lo, *hi);
                    int_tri(c, table, move |x| lo <= x && x <= hi)
                }
                IntSet::In(vs) => int_tri(c, table, |x| vs.binary_search(&x).is_ok()),
            }
        }
        Test::DayRel { col: c, lo, hi } => {
            let c = col(c)?;
            let (lo, hi) = (*lo, *hi);
            let d = as_of as i64;
            int_tri(c, table, move |x| lo <= x - d && x - d <= hi)
        }
        Test::Float { col: c, set } => {
            let c = col(c)?;
            let Values::F64(v) = c.values else { return Err(format!("column {} is not f64", c.name)) };
            let pred = |x: f64| match set {
                FloatSet::Range { lo, lo_incl, hi, hi_incl } => {
                    (x > *lo || (*lo_incl && x == *lo)) && (x < *hi || (*hi_incl && x == *hi))
                }
                FloatSet::In(vs) => vs.contains(&x),
            };
            tri_from(n, |r| {
                let i = ix(c, table, r);
                let x = v[i];
                (valid(c, i) && !x.is_nan()).then(|| pred(x))
            })
        }
        Test::Text { col: c, values } => {
            let c = col(c)?;
            match c.values {
                Values::Codes8 { codes, labels, null_code } => {
                    let lut: Vec<bool> = labels.iter().map(|l| values.contains(l)).collect();
                    tri_from(n, |r| {
                        let i = ix(c, table, r);
                        let x = codes[i];
                        (valid(c, i) && Some(x) != null_code).then(|| lut.get(x as usize).copied().unwrap_or(false))
                    })
                }
                Values::Codes32 { codes, labels } => {
                    let lut: Vec<bool> = labels.iter().map(|l| values.contains(l)).collect();
                    tri_from(n, |r| {
                        let i = ix(c, table, r);
                        let x = codes[i];
                        (valid(c, i) && x != u32::MAX).then(|| lut.get(x as usize).copied().unwrap_or(false))
                    })
                }
                _ => return Err(format!("column {} is not text", c.name)),
            }
        }
        Test::IsNull { col: c } => is_null_tri(col(c)?, table),
        Test::Count { kind, window, lo, hi } => {
            let (lo, hi) = (*lo, *hi);
            match f.count_index.get(&(kind.clone(), *window)) {
                Some(&s) => {
                    let v = &f.counts[s];
                    tri_from(n, |r| Some(lo <= v[r] as i64 && v[r] as i64 <= hi))
                }
                None => tri_from(n, |_| Some(lo <= 0 && 0 <= hi)),
            }
        }
        Test::Active { kind, window, lo, hi } => {
            let (lo, hi) = (*lo, *hi);
            match f.day_index.get(kind) {
                Some(&s) => {
                    let b = &f.days[s];
                    tri_from(n, |r| {
                        let c = b.count(r, *window) as i64;
                        Some(lo <= c && c <= hi)
                    })
                }
                None => tri_from(n, |_| Some(lo <= 0 && 0 <= hi)),
            }
        }
        Test::First { kind, window } => {
            let w = *window as i64;
            match f.first_index.get(kind) {
                Some(&s) => {
                    let v = &f.firsts[s];
                    tri_from(n, |r| Some(v[r] != i32::MAX && (as_of as i64 - v[r] as i64) < w))
                }
                None => tri_from(n, |_| Some(false)),
            }
        }
    })
}

fn eval_node(node: &Node, leaves: &[Tri]) -> Tri {
    match node {
        Node::Lit(i, neg) => {
            let l = &leaves[*i];
            if *neg {
                Tri { t: l.f.clone(), f: l.t.clone() }
            } else {
                Tri { t: l.t.clone(), f: l.f.clone() }
            }
        }
        Node::And(items) | Node::Or(items) => {
            let and = matches!(node, Node::And(_));
            let mut acc = eval_node(&items[0], leaves);
            for it in &items[1..] {
                let x = eval_node(it, leaves);
                for w in 0..acc.t.len() {
                    if and {
                        acc.t[w] &= x.t[w];
                        acc.f[w] |= x.f[w];
                    } else {
                        acc.t[w] |= x.t[w];
                        acc.f[w] &= x.f[w];
                    }
                }
            }
            acc
        }
    }
}

/// Evaluates compiled rules over a table as of day `as_of`; one [`Matches`] per rule.
pub fn evaluate(
    rules: &[CompiledRule],
    table: &Table,
    events: Option<&EventLog>,
    as_of: i32,
) -> Result<Vec<Matches>, String> {
    table.validate()?;
    let t0 = std::time::Instant::now();
    let features = plan_and_scan(rules, table, events, as_of)?;
    if std::env::var_os("SEGTUI_RULES_TRACE").is_some() {
        eprintln!("rules: event pass {:.3} s", t0.elapsed().as_secs_f64());
    }
    use rayon::prelude::*;
    rules
        .par_iter()
        .map(|r| {
            let leaves = r
                .leaves
                .iter()
                .map(|l| leaf_tri(&l.test, table, &features, as_of))
                .collect::<Result<Vec<_>, _>>()?;
            let t = eval_node(&r.root, &leaves).t;
            Ok(Matches { bits: t, n: table.n_rows })
        })
        .collect()
}
