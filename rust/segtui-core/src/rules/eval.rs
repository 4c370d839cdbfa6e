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

    #[inline]
    fn set(&mut self, row: usize, age: u32) {
        self.bits[row * self.per_row + (age as usize >> 6)] |= 1 << (age & 63);
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

    // Rows by dense account index.
    const NO_ROW: u32 = u32::MAX;
    let row_of: Option<Vec<u32>> = table.account.map(|acc| {
        let max = acc.iter().copied().max().map_or(0, |m| m as usize + 1);
        let mut r = vec![NO_ROW; max];
        for (row, a) in acc.iter().enumerate() {
            r[*a as usize] = row as u32;
        }
        r
    });

    let ev = &log.events;
    if ev.day.len() != ev.account.len() || ev.kind.len() != ev.account.len() {
        return Err(format!(
            "event columns differ in length: account {}, day {}, kind {}",
            ev.account.len(),
            ev.day.len(),
            ev.kind.len()
        ));
    }
    let any_max = any_slot.map_or(0, |s| f.days[s].per_row as u32 * 64);
    let any_window = active_w.get(&None).copied().unwrap_or(0).min(any_max);
    let n_kinds = plans.len();
    let mut bad_kind = None;
    for i in 0..ev.account.len() {
        let d = ev.day[i];
        if d > as_of {
            continue;
        }
        let a = ev.account[i] as usize;
        let row = match &row_of {
            Some(r) => match r.get(a) {
                Some(&x) if x != NO_ROW => x as usize,
                _ => continue,
            },
            None => {
                if a >= n {
                    continue;
                }
                a
            }
        };
        let age = (as_of as i64 - d as i64).min(u32::MAX as i64) as u32;
        if let Some(s) = any_slot {
            if age < any_window {
                f.days[s].set(row, age);
            }
        }
        let k = ev.kind[i] as usize;
        if k >= n_kinds {
            bad_kind = Some(k);
            continue;
        }
        let Some(p) = &plans[k] else { continue };
        if p.n_buckets > 0 {
            let b = if (age as usize) < p.bucket_of_age.len() {
                Some(p.bucket_of_age[age as usize] as usize)
            } else if p.ever {
                Some(p.n_buckets - 1)
            } else {
                None
            };
            if let Some(b) = b {
                let c = &mut f.counts[p.count_base + b][row];
                *c = c.saturating_add(1);
            }
        }
        if let Some((slot, max)) = p.active {
            if age < max {
                f.days[slot].set(row, age);
            }
        }
        if let Some(slot) = p.first {
            let x = &mut f.firsts[slot][row];
            if d < *x {
                *x = d;
            }
        }
    }
    if let Some(k) = bad_kind {
        return Err(format!("event kind index {k} is out of range ({n_kinds} kinds given)"));
    }
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
    let features = plan_and_scan(rules, table, events, as_of)?;
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
