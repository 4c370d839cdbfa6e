//! `score`: every per-account figure of one scoring run, as of one day.
//!
//! Shape of the computation (see `docs/scoring.md` for the definitions):
//! 1. validate the columns (lengths, index ranges);
//! 2. partition line items, events and direct costs into buckets of consecutive accounts (one
//!    parallel radix pass each, rows after the as-of day dropped); pooled costs summed per
//!    category;
//! 3. one parallel pass over the buckets: a cache-resident counting sort by account, then every
//!    account's rows are read once, yielding revenue, purchases, recency/frequency/monetary,
//!    direct cost, driver units, activity, churn signals, tier and band;
//! 4. scores by the tie rule, pooled-cost allocation by largest remainders, quadrant medians;
//! 5. health and lifecycle, and the output columns.

use super::alloc::allocate_into;
use super::config::{Driver, Mode, SaasFrequency, ScoreConfig, CHURN_SIGNALS};
use super::group::{bucket_shift, local_group, partition, Buckets};
use super::mem::Scratch;
use super::rank::{threshold_score, tie_scores, Better};
use super::types::*;
use rayon::prelude::*;
use std::fmt;

/// A scoring run that cannot proceed: malformed input columns or figures out of range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineError {
    pub message: String,
}

impl EngineError {
    fn new(message: impl Into<String>) -> Self {
        EngineError { message: message.into() }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EngineError {}

/// Labels of the code columns (code `i` → `labels[i]`; `""` = no value).
pub const QUADRANT_LABELS: [&str; 5] =
    ["", "high revenue, low cost", "high revenue, high cost", "low revenue, low cost", "low revenue, high cost"];
pub const CHURN_BAND_LABELS: [&str; 3] = ["low", "medium", "high"];
pub const HEALTH_BAND_LABELS: [&str; 3] = ["red", "yellow", "green"];
pub const LIFECYCLE_LABELS: [&str; 5] = ["churned", "onboarding", "at-risk", "expansion-ready", "active"];
pub const TIER_LABELS: [&str; 5] = ["", "power", "core", "shallow", "disengaged"];
pub const SIZE_BAND_LABELS: [&str; 4] = ["", "SMB", "Mid-Market", "Enterprise"];

const LIFE_CHURNED: u8 = 0;
const LIFE_ONBOARDING: u8 = 1;
const LIFE_AT_RISK: u8 = 2;
const LIFE_EXPANSION: u8 = 3;
const LIFE_ACTIVE: u8 = 4;

// Roles of an event kind.
const K_ACTIVITY: u8 = 1;
const K_TICKET: u8 = 2;
const K_FAILED: u8 = 4;
const K_HIGH: u8 = 8;
const K_CORE: u8 = 16;

#[derive(Clone, Copy)]
struct LineRec {
    key: i64,
    amount: i64,
    day: i32,
    account: u32,
}

#[derive(Clone, Copy)]
struct EventRec {
    day: i32,
    kind: u32,
    account: u32,
}

#[derive(Clone, Copy)]
struct CostRec {
    amount: i64,
    units: i64,
    day: i32,
    category: u32,
    account: u32,
}

/// Per-account results of the account pass (members of the snapshot only).
#[derive(Clone, Copy, Default)]
struct Agg {
    member: bool,
    account: u32,
    revenue: i64,
    direct: i64,
    recency: i64,
    frequency: i64,
    monetary: i64,
    lines_window: u32,
    reasons: u32,
    active_window: bool,
    has_purchase: bool,
    growing: bool,
    seats_near: bool,
    churned: bool,
    onboarding: bool,
    churn_risk: u8,
    churn_band: u8,
    tier: u8,
    size_band: u8,
    trend: u8,
}

/// The members' aggregates, in ascending account order, over the per-account array.
#[derive(Clone, Copy)]
struct Members<'a> {
    all: &'a [Agg],
    members: &'a [u32],
}

impl<'a> Members<'a> {
    fn par_iter(&self) -> impl IndexedParallelIterator<Item = &'a Agg> + 'a {
        let all = self.all;
        self.members.par_iter().with_min_len(1 << 12).map(move |&a| &all[a as usize])
    }
}

impl std::ops::Index<usize> for Members<'_> {
    type Output = Agg;
    #[inline]
    fn index(&self, i: usize) -> &Agg {
        &self.all[self.members[i] as usize]
    }
}

/// Per-thread buffers: one bucket's rows grouped by account, and per-account work lists.
#[derive(Default)]
struct KernelScratch {
    lines: Vec<LineRec>,
    line_starts: Vec<u32>,
    events: Vec<EventRec>,
    event_starts: Vec<u32>,
    costs: Vec<CostRec>,
    cost_starts: Vec<u32>,
    work: Work,
}

#[derive(Default)]
struct Work {
    units: Vec<Unit>,
    table: Vec<u32>,
    pdays: Vec<i32>,
    act: Vec<i32>,
    tier_days: Vec<i32>,
    feats: Vec<u32>,
    hs: Vec<i32>,
}

/// A purchase unit being summed: an invoice (`key != 0`, `tag = 0`) or an account-day
/// without invoice (`key = 0`, `tag = day`).
#[derive(Clone, Copy)]
struct Unit {
    net: i128,
    key: i64,
    tag: i32,
    first: i32,
}

/// Sum one account's lines into units (no sorting: a linear scan for a few lines, a small
/// open-addressing table keyed by the invoice hash otherwise).
fn build_units(lines: &[LineRec], w: &mut Work) {
    w.units.clear();
    let tag_of = |l: &LineRec| if l.key == 0 { l.day } else { 0 };
    if lines.len() <= 16 {
        for l in lines.iter() {
            let tag = tag_of(l);
            match w.units.iter_mut().find(|u| u.key == l.key && u.tag == tag) {
                Some(u) => {
                    u.net += i128::from(l.amount);
                    u.first = u.first.min(l.day);
                }
                None => w.units.push(Unit { net: i128::from(l.amount), key: l.key, tag, first: l.day }),
            }
        }
        return;
    }
    let bits = (2 * lines.len()).next_power_of_two().trailing_zeros();
    let mask = (1usize << bits) - 1;
    w.table.clear();
    w.table.resize(1 << bits, u32::MAX);
    for l in lines.iter() {
        let tag = tag_of(l);
        let mix = (l.key as u64 ^ (tag as u32 as u64).rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut slot = (mix >> (64 - bits)) as usize;
        loop {
            let t = w.table[slot];
            if t == u32::MAX {
                w.table[slot] = w.units.len() as u32;
                w.units.push(Unit { net: i128::from(l.amount), key: l.key, tag, first: l.day });
                break;
            }
            let u = &mut w.units[t as usize];
            if u.key == l.key && u.tag == tag {
                u.net += i128::from(l.amount);
                u.first = u.first.min(l.day);
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
}

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Per-account side outputs indexed by dense account (each written by exactly one bucket).
struct Side {
    /// Σ driver_units per `driver_units` category slot.
    units: Vec<SendPtr<i64>>,
    /// Events in the window per `events:<kind>` driver slot.
    events: Vec<SendPtr<i64>>,
}

struct Ctx<'a> {
    inp: &'a Inputs<'a>,
    cfg: &'a ScoreConfig,
    d: i64,
    /// Window length in days (i64::MAX = all history).
    win: i64,
    saas: bool,
    kind_flags: Vec<u8>,
    has_events: bool,
    shift: u32,
    lines: Buckets<LineRec>,
    events: Buckets<EventRec>,
    costs: Buckets<CostRec>,
    /// Category -> driver_units slot.
    unit_slot: Vec<Option<usize>>,
    /// Event kind -> events-driver slot.
    kind_slot: Vec<Option<usize>>,
    side: Side,
}

#[inline]
fn opt_i64(col: &[i64], a: usize) -> Option<i64> {
    col.get(a).copied().filter(|&v| v != NULL_I64)
}

#[inline]
fn opt_day(col: &[i32], a: usize) -> Option<i64> {
    col.get(a).copied().filter(|&v| v != NULL_DAY).map(i64::from)
}

fn check_len(name: &str, got: usize, want: usize, optional: bool) -> Result<(), EngineError> {
    if got == want || (optional && got == 0) {
        Ok(())
    } else {
        Err(EngineError::new(format!("column {name}: {got} rows, expected {want}")))
    }
}

fn check_index(name: &str, col: &[u32], limit: usize, what: &str) -> Result<(), EngineError> {
    // A vectorisable max first; the row is looked up only when something is out of range.
    if col.iter().copied().max().is_some_and(|m| m as usize >= limit) {
        let i = col.iter().position(|&c| c as usize >= limit).expect("max is out of range");
        return Err(EngineError::new(format!(
            "column {name}, row {i}: {what} index {} out of range ({limit} {what}s)",
            col[i]
        )));
    }
    Ok(())
}

fn check_inputs(inp: &Inputs) -> Result<(), EngineError> {
    let n = inp.n_accounts;
    if n >= u32::MAX as usize {
        return Err(EngineError::new(format!("n_accounts = {n} exceeds 2^32 - 2")));
    }
    let li = &inp.line_items;
    let nl = li.account.len();
    check_len("line_items.day", li.day.len(), nl, false)?;
    check_len("line_items.amount", li.amount.len(), nl, false)?;
    check_len("line_items.invoice_key", li.invoice_key.len(), nl, true)?;
    let co = &inp.costs;
    let nc = co.account.len();
    check_len("costs.day", co.day.len(), nc, false)?;
    check_len("costs.category", co.category.len(), nc, false)?;
    check_len("costs.amount", co.amount.len(), nc, false)?;
    check_len("costs.driver_units", co.driver_units.len(), nc, true)?;
    check_index("costs.category", co.category, inp.cost_categories.len(), "category")?;
    let ev = &inp.events;
    let ne = ev.account.len();
    check_len("events.day", ev.day.len(), ne, false)?;
    check_len("events.kind", ev.kind.len(), ne, false)?;
    check_index("events.kind", ev.kind, inp.event_kinds.len(), "event kind")?;
    let ac = &inp.accounts;
    check_len("accounts.employees", ac.employees.len(), n, true)?;
    check_len("accounts.mrr", ac.mrr.len(), n, true)?;
    check_len("accounts.seats", ac.seats.len(), n, true)?;
    check_len("accounts.seat_limit", ac.seat_limit.len(), n, true)?;
    check_len("accounts.signup_day", ac.signup_day.len(), n, true)?;
    check_len("accounts.renewal_day", ac.renewal_day.len(), n, true)?;
    Ok(())
}

fn out_of_range(column: &str, row: usize, value: i64, n: usize) -> EngineError {
    let pooled = if column == "costs.account" { "-1 = pooled, " } else { "" };
    EngineError::new(format!(
        "column {column}, row {row}: account index {value} out of range ({pooled}n_accounts = {n})"
    ))
}

fn kind_roles(inp: &Inputs, cfg: &ScoreConfig) -> Vec<u8> {
    let ev = &cfg.events;
    let has = |list: &[String], k: &str| list.iter().any(|x| x == k);
    inp.event_kinds
        .iter()
        .map(|k| {
            let mut f = 0u8;
            let ticket = has(&ev.ticket_kinds, k);
            let failed = has(&ev.failed_payment_kinds, k);
            if ticket {
                f |= K_TICKET;
            }
            if failed {
                f |= K_FAILED;
            }
            let activity = !ticket && !failed;
            if activity {
                f |= K_ACTIVITY;
            }
            let feature = activity && !has(&ev.passive_kinds, k);
            let high = match &cfg.saas.high_signal_events {
                Some(list) => has(list, k),
                None => feature,
            };
            if high {
                f |= K_HIGH;
            }
            let core = match &cfg.tier.core_features {
                Some(list) => has(list, k),
                None => feature,
            };
            if core {
                f |= K_CORE;
            }
            f
        })
        .collect()
}

fn to_i64(v: i128, what: &str, account: usize) -> Result<i64, EngineError> {
    i64::try_from(v).map_err(|_| {
        EngineError::new(format!("account index {account}: {what} does not fit in 64-bit minor units"))
    })
}

/// Phase timings.
struct Clock {
    last: std::time::Instant,
    laps: Vec<(String, f64)>,
}

impl Clock {
    fn new() -> Self {
        Clock { last: std::time::Instant::now(), laps: Vec::new() }
    }
    fn lap(&mut self, name: &str) {
        let now = std::time::Instant::now();
        self.laps.push((name.to_string(), (now - self.last).as_secs_f64()));
        self.last = now;
    }
}

/// Score every account as of `as_of_day` (days since 1970-01-01).
pub fn score(inputs: &Inputs, as_of_day: i32, config: &ScoreConfig) -> Result<ScoreResult, EngineError> {
    let mut clock = Clock::new();
    check_inputs(inputs)?;
    let n = inputs.n_accounts;
    let d = i64::from(as_of_day);
    let win = config.rfm.window_days.unwrap_or(i64::MAX);
    let in_win = |day: i32| d - i64::from(day) < win;
    let shift = bucket_shift(n, inputs.line_items.account.len() + inputs.events.account.len() + inputs.costs.account.len());

    // ---- partition rows into buckets of accounts --------------------------------------------
    let li = inputs.line_items;
    let lines = partition(
        n,
        li.account.len(),
        shift,
        |i| Some(li.account[i] as usize),
        |i| li.day[i] <= as_of_day,
        |i| LineRec {
            key: li.invoice_key.get(i).copied().unwrap_or(0),
            amount: li.amount[i],
            day: li.day[i],
            account: li.account[i],
        },
    )
    .map_err(|i| out_of_range("line_items.account", i, i64::from(li.account[i]), n))?;
    let ev = inputs.events;
    let events = partition(
        n,
        ev.account.len(),
        shift,
        |i| Some(ev.account[i] as usize),
        |i| ev.day[i] <= as_of_day,
        |i| EventRec { day: ev.day[i], kind: ev.kind[i], account: ev.account[i] },
    )
    .map_err(|i| out_of_range("events.account", i, i64::from(ev.account[i]), n))?;
    let co = inputs.costs;
    // Pooled rows are summed below, not partitioned.
    let cost_account = |i: usize| match co.account[i] {
        POOLED => None,
        a if a >= 0 && (a as u64) < n as u64 => Some(a as usize),
        _ => Some(usize::MAX),
    };
    let costs = partition(
        n,
        co.account.len(),
        shift,
        cost_account,
        |i| co.day[i] <= as_of_day,
        |i| CostRec {
            amount: co.amount[i],
            units: co.driver_units.get(i).copied().unwrap_or(NULL_I64),
            day: co.day[i],
            category: co.category[i],
            account: co.account[i] as u32,
        },
    )
    .map_err(|i| out_of_range("costs.account", i, co.account[i], n))?;
    let ncat = inputs.cost_categories.len();
    let (pooled, pool_rows) = (0..co.account.len())
        .into_par_iter()
        .with_min_len(1 << 16)
        .fold(
            || (vec![0i128; ncat], vec![false; ncat]),
            |(mut sum, mut seen), i| {
                if co.account[i] == POOLED && co.day[i] <= as_of_day && in_win(co.day[i]) {
                    let c = co.category[i] as usize;
                    sum[c] += i128::from(co.amount[i]);
                    seen[c] = true;
                }
                (sum, seen)
            },
        )
        .reduce(
            || (vec![0i128; ncat], vec![false; ncat]),
            |(mut s1, mut f1), (s2, f2)| {
                for c in 0..ncat {
                    s1[c] += s2[c];
                    f1[c] |= f2[c];
                }
                (s1, f1)
            },
        );
    clock.lap("partition");

    // ---- drivers that need per-account side sums ---------------------------------------------
    let drivers: Vec<Driver> = inputs.cost_categories.iter().map(|c| config.driver_for(c).clone()).collect();
    let mut unit_slot = vec![None; ncat];
    let mut kind_slot = vec![None; inputs.event_kinds.len()];
    let (mut n_units, mut n_kinds) = (0, 0);
    for (c, dr) in drivers.iter().enumerate() {
        if !pool_rows[c] {
            continue;
        }
        match dr {
            Driver::DriverUnits => {
                unit_slot[c] = Some(n_units);
                n_units += 1;
            }
            Driver::Events(k) => {
                if let Some(ki) = inputs.event_kinds.iter().position(|x| x == k) {
                    if kind_slot[ki].is_none() {
                        kind_slot[ki] = Some(n_kinds);
                        n_kinds += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let mut unit_sums: Vec<Vec<i64>> = (0..n_units).map(|_| vec![0i64; n]).collect();
    let mut kind_counts: Vec<Vec<i64>> = (0..n_kinds).map(|_| vec![0i64; n]).collect();
    let side = Side {
        units: unit_sums.iter_mut().map(|v| SendPtr(v.as_mut_ptr())).collect(),
        events: kind_counts.iter_mut().map(|v| SendPtr(v.as_mut_ptr())).collect(),
    };

    let ctx = Ctx {
        inp: inputs,
        cfg: config,
        d,
        win,
        saas: config.mode == Mode::Saas,
        kind_flags: kind_roles(inputs, config),
        has_events: !events.recs.is_empty(),
        shift,
        lines,
        events,
        costs,
        unit_slot,
        kind_slot,
        side,
    };

    // ---- the account pass, bucket by bucket ------------------------------------------------------
    // `by_account[a]` is account a's aggregate (`member = false` outside the snapshot).
    let mut by_account: Scratch<Agg> = Scratch::new(n);
    by_account
        .par_chunks_mut(1 << shift)
        .enumerate()
        .map_init(KernelScratch::default, |s, (b, chunk)| bucket_pass(&ctx, s, b, chunk))
        .collect::<Result<Vec<usize>, EngineError>>()?;
    // Members in ascending account order; `aggs[i]` below is the i-th member's aggregate.
    let members: Vec<u32> = by_account
        .par_iter()
        .enumerate()
        .with_min_len(1 << 14)
        .filter(|(_, a)| a.member)
        .map(|(i, _)| i as u32)
        .collect();
    let aggs = Members { all: &by_account, members: &members };
    let m = members.len();
    clock.lap("accounts");

    // ---- R / F / M scores over the accounts with a purchase --------------------------------
    let scored: Vec<u32> = (0..m as u32).filter(|&i| aggs[i as usize].has_purchase).collect();
    let dim = |val: fn(&Agg) -> i64, cuts: &Option<[i64; 4]>, better: Better| -> Vec<u8> {
        let mut out = vec![0u8; m];
        let values: Vec<i64> = scored.par_iter().map(|&i| val(&aggs[i as usize])).collect();
        let s = match cuts {
            Some(c) => values.par_iter().map(|&v| threshold_score(v, c, better)).collect(),
            None => tie_scores(&values, better),
        };
        for (k, &i) in scored.iter().enumerate() {
            out[i as usize] = s[k];
        }
        out
    };
    let rfm = &config.rfm;
    let r_score = dim(|a| a.recency, &rfm.recency_thresholds, Better::Lower);
    let f_score = dim(|a| a.frequency, &rfm.frequency_thresholds, Better::Higher);
    let m_score = dim(|a| a.monetary, &rfm.monetary_thresholds, Better::Higher);
    clock.lap("scores");

    // ---- pooled-cost allocation ----------------------------------------------------------------
    let mut pools = Vec::new();
    let total_abs: i128 = (0..ncat).filter(|&c| pool_rows[c]).map(|c| pooled[c].abs()).sum();
    if total_abs > i128::from(i64::MAX) {
        return Err(EngineError::new("the pooled costs together do not fit in 64-bit minor units"));
    }
    // Σ |pools| fits in i64, so no account's allocated total can overflow.
    let mut allocated: Scratch<i64> = Scratch::filled(m, 0);
    let mut weight_cache: Vec<(String, Vec<i64>)> = Vec::new();
    let mut pool_shares: Vec<Vec<i64>> = Vec::new();
    for c in 0..ncat {
        if !pool_rows[c] {
            continue;
        }
        let name = &inputs.cost_categories[c];
        let pool = pooled[c] as i64;
        // Categories sharing a driver share its weights (driver_units are per category).
        let cache_key = match &drivers[c] {
            Driver::DriverUnits => format!("driver_units#{c}"),
            other => other.name(),
        };
        let wi = match weight_cache.iter().position(|(k, _)| *k == cache_key) {
            Some(i) => i,
            None => {
                let w = driver_weights(&ctx, aggs, &drivers[c], c, &unit_sums, &kind_counts);
                weight_cache.push((cache_key, w));
                weight_cache.len() - 1
            }
        };
        // each pool's shares are kept (the account screen explains cost by category)
        let mut share = vec![0i64; m];
        let done = allocate_into(pool, &weight_cache[wi].1, &mut share);
        if done {
            allocated.par_iter_mut().zip(share.par_iter()).with_min_len(1 << 14).for_each(|(a, s)| *a += s);
        }
        pool_shares.push(if done { share } else { Vec::new() });
        pools.push(PoolAllocation {
            category: name.clone(),
            driver: drivers[c].name(),
            pooled: pool,
            allocated: if done { pool } else { 0 },
            unallocated: if done { 0 } else { pool },
        });
    }
    drop(weight_cache);
    clock.lap("allocation");

    // ---- quadrant thresholds --------------------------------------------------------------------
    let cost: Vec<i64> = aggs
        .par_iter()
        .zip(allocated.par_iter())
        .map(|(a, &al)| to_i64(i128::from(a.direct) + i128::from(al), "cost to serve", a.account as usize))
        .collect::<Result<_, _>>()?;
    // "high" ⇔ 2·v ≥ lo + hi, where lo/hi are the middle values (equal for an odd count).
    let rev_mid = config.quadrant.revenue_threshold.map(|t| 2 * i128::from(t)).or_else(|| {
        median_x2(aggs.par_iter().filter(|a| a.active_window).map(|a| a.revenue).collect())
    });
    let cost_mid = config.quadrant.cost_threshold.map(|t| 2 * i128::from(t)).or_else(|| {
        median_x2(aggs.par_iter().zip(cost.par_iter()).filter(|(a, _)| a.active_window).map(|(_, &c)| c).collect())
    });

    // ---- final figures, in parallel into preallocated columns -------------------------------
    let mut out = AccountScores::default();
    // Columns are written through raw pointers into their capacity (each index once, in
    // parallel) and get their length when every row is written.
    macro_rules! each_col {
        ($mac:ident) => {
            $mac!(
                account, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment,
                rfm5_segment, revenue, direct_cost, allocated_cost, margin, margin_pct, quadrant,
                churn_risk, churn_band, churn_reasons, health, health_band, lifecycle, tier, size_band
            )
        };
    }
    macro_rules! reserve_cols {
        ($($f:ident),*) => { $( out.$f = Vec::with_capacity(m); )* };
    }
    each_col!(reserve_cols);
    struct Ptrs {
        account: SendPtr<u32>,
        recency_days: SendPtr<i64>,
        frequency: SendPtr<i64>,
        monetary: SendPtr<i64>,
        r_score: SendPtr<u8>,
        f_score: SendPtr<u8>,
        m_score: SendPtr<u8>,
        rfm_segment: SendPtr<u8>,
        rfm5_segment: SendPtr<u8>,
        revenue: SendPtr<i64>,
        direct_cost: SendPtr<i64>,
        allocated_cost: SendPtr<i64>,
        margin: SendPtr<i64>,
        margin_pct: SendPtr<f64>,
        quadrant: SendPtr<u8>,
        churn_risk: SendPtr<u8>,
        churn_band: SendPtr<u8>,
        churn_reasons: SendPtr<u32>,
        health: SendPtr<u8>,
        health_band: SendPtr<u8>,
        lifecycle: SendPtr<u8>,
        tier: SendPtr<u8>,
        size_band: SendPtr<u8>,
    }
    macro_rules! ptrs {
        ($($f:ident),*) => { Ptrs { $( $f: SendPtr(out.$f.as_mut_ptr()), )* } };
    }
    let p = each_col!(ptrs);
    let h = &config.health;
    let wsum: i64 = h.weights.iter().sum();
    (0..m).into_par_iter().with_min_len(4096).try_for_each(|i| -> Result<(), EngineError> {
        let p = &p;
        let a = &aggs[i];
        let (r, f, mm) = (r_score[i], f_score[i], m_score[i]);
        let margin = to_i64(i128::from(a.revenue) - i128::from(cost[i]), "margin", a.account as usize)?;
        let margin_pct = if a.revenue > 0 { margin as f64 / a.revenue as f64 } else { f64::NAN };
        let quadrant = match (a.active_window, rev_mid, cost_mid) {
            (true, Some(rm), Some(cm)) => {
                let high_rev = 2 * i128::from(a.revenue) >= rm;
                let high_cost = 2 * i128::from(cost[i]) >= cm;
                match (high_rev, high_cost) {
                    (true, false) => 1,
                    (true, true) => 2,
                    (false, false) => 3,
                    (false, true) => 4,
                }
            }
            _ => 0,
        };
        let sc = |s: u8| if s == 0 { 0 } else { 25 * (i64::from(s) - 1) };
        let margin_c = if a.revenue <= 0 {
            0
        } else {
            match (margin.checked_mul(10_000), h.margin_full_pct.checked_mul(a.revenue)) {
                (Some(x), Some(y)) => x.div_euclid(y).clamp(0, 100),
                _ => (10_000 * i128::from(margin)).div_euclid(i128::from(h.margin_full_pct) * i128::from(a.revenue)).clamp(0, 100) as i64,
            }
        };
        let comps = [sc(r), sc(f), sc(mm), i64::from(a.trend), margin_c, 100 - i64::from(a.churn_risk)];
        let wc: i64 = comps.iter().zip(h.weights).map(|(c, w)| c * w).sum();
        let health = ((2 * wc + wsum) / (2 * wsum)) as u8;
        let health_band = if i64::from(health) >= h.green_from {
            2
        } else if i64::from(health) >= h.yellow_from {
            1
        } else {
            0
        };
        let lifecycle = if a.churned {
            LIFE_CHURNED
        } else if a.onboarding {
            LIFE_ONBOARDING
        } else if a.churn_band == 2 {
            LIFE_AT_RISK
        } else if health_band == 2 && (a.growing || a.seats_near) {
            LIFE_EXPANSION
        } else {
            LIFE_ACTIVE
        };
        // SAFETY: every column has length m and index i is written by this iteration only.
        unsafe {
            p.account.0.add(i).write(a.account);
            p.recency_days.0.add(i).write(if a.has_purchase { a.recency } else { NULL_I64 });
            p.frequency.0.add(i).write(a.frequency);
            p.monetary.0.add(i).write(a.monetary);
            p.r_score.0.add(i).write(r);
            p.f_score.0.add(i).write(f);
            p.m_score.0.add(i).write(mm);
            p.rfm_segment.0.add(i).write(config.rfm11.code(r, f, mm));
            p.rfm5_segment.0.add(i).write(config.rfm5.code(r, f, mm));
            p.revenue.0.add(i).write(a.revenue);
            p.direct_cost.0.add(i).write(a.direct);
            p.allocated_cost.0.add(i).write(allocated[i]);
            p.margin.0.add(i).write(margin);
            p.margin_pct.0.add(i).write(margin_pct);
            p.quadrant.0.add(i).write(quadrant);
            p.churn_risk.0.add(i).write(a.churn_risk);
            p.churn_band.0.add(i).write(a.churn_band);
            p.churn_reasons.0.add(i).write(a.reasons);
            p.health.0.add(i).write(health);
            p.health_band.0.add(i).write(health_band);
            p.lifecycle.0.add(i).write(lifecycle);
            p.tier.0.add(i).write(a.tier);
            p.size_band.0.add(i).write(a.size_band);
        }
        Ok(())
    })?;
    macro_rules! set_lens {
        // SAFETY: the loop above wrote indices 0..m of every column (within its capacity m).
        ($($f:ident),*) => { $( unsafe { out.$f.set_len(m) }; )* };
    }
    each_col!(set_lens);
    clock.lap("figures");

    let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Ok(ScoreResult {
        as_of_day,
        scores: out,
        pools,
        pool_shares,
        rfm_segment_labels: config.rfm11.labels.clone(),
        rfm5_segment_labels: config.rfm5.labels.clone(),
        quadrant_labels: labels(&QUADRANT_LABELS),
        churn_band_labels: labels(&CHURN_BAND_LABELS),
        churn_reason_labels: labels(&CHURN_SIGNALS),
        health_band_labels: labels(&HEALTH_BAND_LABELS),
        lifecycle_labels: labels(&LIFECYCLE_LABELS),
        tier_labels: labels(&TIER_LABELS),
        size_band_labels: labels(&SIZE_BAND_LABELS),
        timings: clock.laps,
    })
}

/// Twice the median (lo + hi of the middle pair), exact; `None` for no values.
fn median_x2(mut v: Vec<i64>) -> Option<i128> {
    let k = v.len();
    if k == 0 {
        return None;
    }
    let (lo_i, hi_i) = ((k - 1) / 2, k / 2);
    let (_, &mut hi, _) = v.select_nth_unstable(hi_i);
    let lo = if lo_i == hi_i { hi } else { *v[..hi_i].iter().max().expect("lo_i < hi_i") };
    Some(i128::from(lo) + i128::from(hi))
}

fn driver_weights(
    ctx: &Ctx,
    aggs: Members<'_>,
    driver: &Driver,
    category: usize,
    unit_sums: &[Vec<i64>],
    kind_counts: &[Vec<i64>],
) -> Vec<i64> {
    let seats = ctx.inp.accounts.seats;
    let side: Option<&Vec<i64>> = match driver {
        Driver::DriverUnits => ctx.unit_slot[category].map(|s| &unit_sums[s]),
        Driver::Events(k) => ctx
            .inp
            .event_kinds
            .iter()
            .position(|x| x == k)
            .and_then(|ki| ctx.kind_slot[ki])
            .map(|s| &kind_counts[s]),
        _ => None,
    };
    aggs.par_iter()
        .map(|a| {
            if !a.active_window {
                return 0;
            }
            let i = a.account as usize;
            match driver {
                Driver::Revenue => a.revenue.max(0),
                Driver::LineItems => i64::from(a.lines_window),
                Driver::Seats => opt_i64(seats, i).unwrap_or(0).max(0),
                Driver::Equal => 1,
                Driver::DriverUnits | Driver::Events(_) => side.map_or(0, |v| v[i].max(0)),
            }
        })
        .collect()
}

#[inline]
fn span<'a, R>(rows: &'a [R], starts: &[u32], k: usize) -> &'a [R] {
    &rows[starts[k] as usize..starts[k + 1] as usize]
}

/// Group one bucket's rows by account and run the account pass on each of its accounts,
/// writing `out[k]` for account `base + k`. Returns the number of members.
fn bucket_pass(ctx: &Ctx, s: &mut KernelScratch, b: usize, out: &mut [Agg]) -> Result<usize, EngineError> {
    let base = b << ctx.shift;
    let width = out.len();
    let (lines, events, costs) = (ctx.lines.bucket(b), ctx.events.bucket(b), ctx.costs.bucket(b));
    local_group(lines, width, base, |r| r.account as usize, &mut s.line_starts, &mut s.lines);
    local_group(events, width, base, |r| r.account as usize, &mut s.event_starts, &mut s.events);
    local_group(costs, width, base, |r| r.account as usize, &mut s.cost_starts, &mut s.costs);
    let mut members = 0;
    for (k, slot) in out.iter_mut().enumerate() {
        let agg = account_pass(
            ctx,
            &mut s.work,
            base + k,
            span(&s.lines, &s.line_starts, k),
            span(&s.events, &s.event_starts, k),
            span(&s.costs, &s.cost_starts, k),
        )?;
        *slot = match agg {
            Some(a) => {
                members += 1;
                a
            }
            None => Agg { member: false, ..Agg::default() },
        };
    }
    Ok(members)
}

/// Everything about one account that needs only its own rows (all on or before D).
fn account_pass(
    ctx: &Ctx,
    s: &mut Work,
    a: usize,
    lines: &[LineRec],
    evs: &[EventRec],
    costs: &[CostRec],
) -> Result<Option<Agg>, EngineError> {
    if lines.is_empty() && costs.is_empty() && !(ctx.saas && !evs.is_empty()) {
        return Ok(None);
    }
    let cfg = ctx.cfg;
    let ch = &cfg.churn;
    let d = ctx.d;
    let (rd, pd) = (ch.recent_days, ch.prior_days);
    let act_span = rd + pd;
    let months_span = 30 * cfg.saas.revenue_months;

    // ---- direct costs and driver units -----------------------------------------------------------
    let mut direct: i128 = 0;
    let mut cost_in_window = false;
    for c in costs.iter() {
        if d - i64::from(c.day) < ctx.win {
            cost_in_window = true;
            direct += i128::from(c.amount);
            if let Some(slot) = ctx.unit_slot[c.category as usize] {
                if c.units != NULL_I64 {
                    // SAFETY: slot arrays have length n; account `a` belongs to this bucket only.
                    unsafe {
                        let p = ctx.side.units[slot].0.add(a);
                        *p = p.read().saturating_add(c.units);
                    }
                }
            }
        }
    }
    let direct = to_i64(direct, "direct cost", a)?;

    // ---- line items: revenue, refunds, purchase units --------------------------------------------
    let mut revenue: i128 = 0;
    let mut lines_window = 0u32;
    let (mut r_ref, mut r_gross, mut p_ref, mut p_gross) = (0i128, 0i128, 0i128, 0i128);
    let mut rev_months: i128 = 0;
    for l in lines.iter() {
        let age = d - i64::from(l.day);
        let amt = i128::from(l.amount);
        if age < ctx.win {
            revenue += amt;
            lines_window += 1;
        }
        if age < rd {
            if amt < 0 {
                r_ref -= amt;
            } else {
                r_gross += amt;
            }
        } else if age < act_span {
            if amt < 0 {
                p_ref -= amt;
            } else {
                p_gross += amt;
            }
        }
        if age < months_span {
            rev_months += amt;
        }
    }
    let revenue = to_i64(revenue, "net revenue", a)?;

    // Units: same non-zero invoice key, or (no invoice) same day; a purchase is a unit with a
    // positive net, dated by its earliest line.
    build_units(lines, s);
    s.pdays.clear();
    s.pdays.extend(s.units.iter().filter(|u| u.net > 0).map(|u| u.first));
    let n_purchases_window = s.pdays.iter().filter(|&&p| d - i64::from(p) < ctx.win).count() as i64;
    s.pdays.sort_unstable();
    s.pdays.dedup();
    let first_purchase = s.pdays.first().map(|&p| i64::from(p));
    let last_purchase = s.pdays.last().map(|&p| i64::from(p));

    // ---- events ------------------------------------------------------------------------------------------
    s.act.clear();
    s.tier_days.clear();
    s.feats.clear();
    s.hs.clear();
    let tw = cfg.tier.window_days;
    let sw = cfg.saas.window_days;
    let (mut r_tickets, mut p_tickets, mut failed) = (0i64, 0i64, 0i64);
    let mut last_event_activity: Option<i64> = None;
    let mut hs_window_events = 0i64;
    for e in evs.iter() {
        let f = ctx.kind_flags[e.kind as usize];
        let age = d - i64::from(e.day);
        if f & K_ACTIVITY != 0 {
            last_event_activity = Some(last_event_activity.map_or(i64::from(e.day), |x| x.max(i64::from(e.day))));
            if age < act_span {
                s.act.push(e.day);
            }
            if age < tw {
                s.tier_days.push(e.day);
            }
        }
        if f & K_CORE != 0 && age < tw {
            s.feats.push(e.kind);
        }
        if f & K_TICKET != 0 {
            if age < rd {
                r_tickets += 1;
            } else if age < act_span {
                p_tickets += 1;
            }
        }
        if f & K_FAILED != 0 && age < rd {
            failed += 1;
        }
        if ctx.saas && f & K_HIGH != 0 {
            s.hs.push(e.day);
            if age < sw {
                hs_window_events += 1;
            }
        }
        if age < ctx.win {
            if let Some(slot) = ctx.kind_slot[e.kind as usize] {
                // SAFETY: as for the unit sums above.
                unsafe {
                    let p = ctx.side.events[slot].0.add(a);
                    *p = p.read() + 1;
                }
            }
        }
    }
    // ---- the mode's R / F / M basis -------------------------------------------------------------
    let (has_purchase, recency, frequency, monetary, basis_first, basis_last, basis_days) = if ctx.saas {
        s.hs.sort_unstable();
        s.hs.dedup();
        let freq = match cfg.saas.frequency {
            SaasFrequency::Events => hs_window_events,
            SaasFrequency::ActiveDays => s.hs.iter().filter(|&&x| d - i64::from(x) < sw).count() as i64,
        };
        let monetary = match opt_i64(ctx.inp.accounts.mrr, a) {
            Some(mrr) => mrr,
            None => to_i64(rev_months.div_euclid(i128::from(cfg.saas.revenue_months)), "monthly revenue", a)?,
        };
        let first = s.hs.first().map(|&x| i64::from(x));
        let last = s.hs.last().map(|&x| i64::from(x));
        (last.is_some(), last.map_or(0, |l| d - l), freq, monetary, first, last, s.hs.len())
    } else {
        (
            last_purchase.is_some(),
            last_purchase.map_or(0, |l| d - l),
            n_purchases_window,
            revenue,
            first_purchase,
            last_purchase,
            s.pdays.len(),
        )
    };

    // ---- activity days: product use, or purchases for an account without any ---------------------
    let has_use = last_event_activity.is_some();
    if !has_use {
        s.act.extend(s.pdays.iter().filter(|&&p| d - i64::from(p) < act_span));
    }
    s.act.sort_unstable();
    s.act.dedup();
    let recent = s.act.iter().filter(|&&x| d - i64::from(x) < rd).count() as i64;
    let prior = s.act.len() as i64 - recent;

    // ---- churn signals ------------------------------------------------------------------------------------
    // Inactivity and activity drop add half their weight at the first level, all of it at the
    // second; the other signals add their weight when they fire.
    let mut reasons = 0u32;
    let mut points = [0i64; 6];
    if let (Some(first), Some(last)) = (basis_first, basis_last) {
        let k = basis_days as i64;
        let since = d - last;
        // the usual gap as the fraction num / den
        let (num, den) = if k >= ch.gap_min_purchases { (last - first, k - 1) } else { (ch.gap_default_days, 1) };
        let beyond = |pct: i64| 100 * i128::from(since) * i128::from(den) > i128::from(pct) * i128::from(num);
        // gap_long_factor_pct >= gap_factor_pct (the configuration ensures it)
        if since >= ch.gap_min_days && beyond(ch.gap_factor_pct) {
            reasons |= 1 << 0;
            points[0] = if beyond(ch.gap_long_factor_pct) { ch.weights[0] } else { ch.weights[0] / 2 };
        }
    }
    let dropped = prior >= ch.drop_min_prior_days && 100 * recent * pd < ch.drop_below_pct * prior * rd;
    if recent == 0 && (dropped || has_use) {
        points[1] = ch.weights[1];
        reasons |= 1 << 1;
    } else if dropped {
        points[1] = ch.weights[1] / 2;
        reasons |= 1 << 1;
    }
    if let Some(renewal) = opt_day(ctx.inp.accounts.renewal_day, a) {
        let until = renewal - d;
        if (0..ch.renewal_within_days).contains(&until) && recent * pd < prior * rd {
            reasons |= 1 << 2;
        }
    }
    if r_ref > 0
        && 100 * r_ref >= i128::from(ch.refund_min_share_pct) * r_gross
        && 100 * r_ref * p_gross >= i128::from(ch.refund_spike_factor_pct) * p_ref * r_gross
    {
        reasons |= 1 << 3;
    }
    if r_tickets >= ch.ticket_min && 100 * r_tickets * pd >= ch.ticket_spike_factor_pct * p_tickets * rd {
        reasons |= 1 << 4;
    }
    if failed >= 1 {
        reasons |= 1 << 5;
    }
    for b in 2..6 {
        if reasons & (1 << b) != 0 {
            points[b] = ch.weights[b];
        }
    }
    let risk: i64 = points.iter().sum::<i64>().min(100);
    let churn_band = if risk >= ch.high_from {
        2
    } else if risk >= ch.medium_from {
        1
    } else {
        0
    };

    // ---- trend, lifecycle inputs -----------------------------------------------------------------------
    let trend = if prior == 0 {
        if recent > 0 {
            100
        } else {
            0
        }
    } else {
        ((100 * recent * pd) / (2 * prior * rd)).min(100)
    };
    let growing = recent >= 1 && 100 * recent * pd >= cfg.lifecycle.growth_pct * prior * rd;
    let ac = &ctx.inp.accounts;
    let seats_near = match (opt_i64(ac.seats, a), opt_i64(ac.seat_limit, a)) {
        (Some(s), Some(l)) if l > 0 => 100 * i128::from(s) >= i128::from(cfg.lifecycle.seat_limit_pct) * i128::from(l),
        _ => false,
    };
    let signup = opt_day(ac.signup_day, a).filter(|&x| x <= d);
    let mut last_seen = [last_purchase, last_event_activity, signup].into_iter().flatten().max();
    if ctx.saas {
        last_seen = last_seen.max(basis_last);
    }
    let churned = last_seen.is_none_or(|x| d - x >= cfg.lifecycle.churn_horizon_days);
    let onb = cfg.lifecycle.onboarding_days;
    let onboarding = first_purchase.is_some_and(|x| d - x < onb) || signup.is_some_and(|x| d - x < onb);

    // ---- tier ------------------------------------------------------------------------------------------------
    let tier = if !ctx.has_events {
        0
    } else {
        s.tier_days.sort_unstable();
        s.tier_days.dedup();
        s.feats.sort_unstable();
        s.feats.dedup();
        let (days, feats) = (s.tier_days.len() as i64, s.feats.len() as i64);
        let t = &cfg.tier;
        if days >= t.power_active_days.max(1) && feats >= t.power_core_features {
            1
        } else if days >= t.core_active_days.max(1) && feats >= t.core_core_features {
            2
        } else if days >= 1 {
            3
        } else {
            4
        }
    };
    let size_band = match opt_i64(ac.employees, a) {
        Some(e) if e >= 0 => {
            if e < cfg.size_bands.mid_market_from {
                1
            } else if e < cfg.size_bands.enterprise_from {
                2
            } else {
                3
            }
        }
        _ => 0,
    };

    Ok(Some(Agg {
        member: true,
        account: a as u32,
        revenue,
        direct,
        recency,
        frequency,
        monetary,
        lines_window,
        reasons,
        active_window: lines_window > 0 || cost_in_window,
        has_purchase,
        growing,
        seats_near,
        churned,
        onboarding,
        churn_risk: risk as u8,
        churn_band,
        tier,
        size_band,
        trend: trend as u8,
    }))
}
