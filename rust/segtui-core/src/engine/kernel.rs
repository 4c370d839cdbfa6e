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

use super::alloc::{allocate, WeightTotals};
use super::config::{Driver, Mode, SaasFrequency, ScoreConfig, CHURN_SIGNALS};
use super::group::{bucket_shift, local_group, partition, Buckets};
use super::mem::{self, Scratch};
use super::rank::{threshold_score, Better};
use super::types::*;
use rayon::prelude::*;
use std::fmt;

/// A scoring run that cannot proceed: malformed input columns or figures out of range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineError {
    pub message: String,
    /// The dense index of the account whose figures failed, when one did (the message names
    /// it by index; a caller that knows the accounts, such as the store, can name it by id).
    pub account: Option<usize>,
}

impl EngineError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        EngineError { message: message.into(), account: None }
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
pub(crate) const K_ACTIVITY: u8 = 1;
pub(crate) const K_TICKET: u8 = 2;
pub(crate) const K_FAILED: u8 = 4;
pub(crate) const K_HIGH: u8 = 8;
pub(crate) const K_CORE: u8 = 16;

#[derive(Clone, Copy)]
pub(crate) struct LineRec {
    pub(crate) key: i64,
    pub(crate) amount: i64,
    pub(crate) day: i32,
    pub(crate) account: u32,
}

#[derive(Clone, Copy)]
pub(crate) struct EventRec {
    pub(crate) day: i32,
    pub(crate) kind: u32,
    pub(crate) account: u32,
}

#[derive(Clone, Copy)]
pub(crate) struct CostRec {
    pub(crate) amount: i64,
    pub(crate) units: i64,
    pub(crate) day: i32,
    pub(crate) category: u32,
    pub(crate) account: u32,
}

/// Per-account results of the account pass (members of the snapshot only).
#[derive(Clone, Copy, Default)]
pub(crate) struct Agg {
    pub(crate) member: bool,
    pub(crate) account: u32,
    pub(crate) revenue: i64,
    pub(crate) direct: i64,
    pub(crate) recency: i64,
    pub(crate) frequency: i64,
    pub(crate) monetary: i64,
    pub(crate) lines_window: u32,
    pub(crate) reasons: u32,
    pub(crate) active_window: bool,
    pub(crate) has_purchase: bool,
    pub(crate) growing: bool,
    pub(crate) seats_near: bool,
    pub(crate) churned: bool,
    pub(crate) onboarding: bool,
    pub(crate) churn_risk: u8,
    pub(crate) churn_band: u8,
    pub(crate) tier: u8,
    pub(crate) size_band: u8,
    pub(crate) trend: u8,
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
    /// Σ driver units of the account per slot, and whether any row counted.
    unit_acc: Vec<(i128, bool)>,
}

/// A purchase unit being summed: an invoice (`key != 0`, `tag = 0`) or an account-day
/// without invoice (`key = 0`, `tag = day`).
#[derive(Clone, Copy)]
pub(crate) struct Unit {
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

pub(crate) fn check_inputs(inp: &Inputs) -> Result<(), EngineError> {
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

pub(crate) fn out_of_range(column: &str, row: usize, value: i64, n: usize) -> EngineError {
    let pooled = if column == "costs.account" { "-1 = pooled, " } else { "" };
    EngineError::new(format!(
        "column {column}, row {row}: account index {value} out of range ({pooled}n_accounts = {n})"
    ))
}

pub(crate) fn kind_roles(inp: &Inputs, cfg: &ScoreConfig) -> Vec<u8> {
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

pub(crate) fn to_i64(v: i128, what: &str, account: usize) -> Result<i64, EngineError> {
    i64::try_from(v).map_err(|_| EngineError {
        message: format!("account index {account}: {what} does not fit in 64-bit minor units"),
        account: Some(account),
    })
}

/// Phase timings.
pub(crate) struct Clock {
    last: std::time::Instant,
    pub(crate) laps: Vec<(String, f64)>,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock { last: std::time::Instant::now(), laps: Vec::new() }
    }
    pub(crate) fn lap(&mut self, name: &str) {
        let now = std::time::Instant::now();
        self.laps.push((name.to_string(), (now - self.last).as_secs_f64()));
        self.last = now;
    }
}

/// Line items, events and direct cost rows on or before `max_day`, partitioned into buckets of
/// consecutive accounts (every account index checked; pooled cost rows are left out).
pub(super) fn partition_rows(
    inputs: &Inputs,
    shift: u32,
    max_day: i32,
) -> Result<(Buckets<LineRec>, Buckets<EventRec>, Buckets<CostRec>), EngineError> {
    let n = inputs.n_accounts;
    let li = inputs.line_items;
    let lines = partition(
        n,
        li.account.len(),
        shift,
        |i| Some(li.account[i] as usize),
        |i| li.day[i] <= max_day,
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
        |i| ev.day[i] <= max_day,
        |i| EventRec { day: ev.day[i], kind: ev.kind[i], account: ev.account[i] },
    )
    .map_err(|i| out_of_range("events.account", i, i64::from(ev.account[i]), n))?;
    let co = inputs.costs;
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
        |i| co.day[i] <= max_day,
        |i| CostRec {
            amount: co.amount[i],
            units: co.driver_units.get(i).copied().unwrap_or(NULL_I64),
            day: co.day[i],
            category: co.category[i],
            account: co.account[i] as u32,
        },
    )
    .map_err(|i| out_of_range("costs.account", i, co.account[i], n))?;
    Ok((lines, events, costs))
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
    let (lines, events, costs) = partition_rows(inputs, shift, as_of_day)?;
    let co = inputs.costs;
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
    let (unit_slot, kind_slot, n_units, n_kinds) = side_slots(inputs, &drivers, &pool_rows);
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
    clock.lap("accounts");
    let Ctx { unit_slot, kind_slot, lines, events, costs, .. } = ctx;
    drop((lines, events, costs));
    let fin = Finish { inputs, config, drivers: &drivers, unit_slot: &unit_slot, kind_slot: &kind_slot };
    finish(&fin, as_of_day, &by_account, &pooled, &pool_rows, &unit_sums, &kind_counts, clock)
}

/// Category -> driver-units slot and event kind -> events-driver slot, for the categories
/// with pooled rows (`pool_rows`); and the numbers of slots.
pub(crate) fn side_slots(
    inputs: &Inputs,
    drivers: &[Driver],
    pool_rows: &[bool],
) -> (Vec<Option<usize>>, Vec<Option<usize>>, usize, usize) {
    let mut unit_slot = vec![None; drivers.len()];
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
    (unit_slot, kind_slot, n_units, n_kinds)
}

/// What the finishing steps read besides the per-account aggregates.
pub(crate) struct Finish<'a> {
    pub inputs: &'a Inputs<'a>,
    pub config: &'a ScoreConfig,
    /// The driver of every cost category.
    pub drivers: &'a [Driver],
    /// Category -> slot of `unit_sums`, event kind -> slot of `kind_counts`.
    pub unit_slot: &'a [Option<usize>],
    pub kind_slot: &'a [Option<usize>],
}

/// The account-level steps of one as-of day, from every account's aggregate (`by_account`,
/// indexed by dense account; `member = false` outside the snapshot), the pooled sums per
/// category (`pooled`, with `pool_rows[c]` = the category has a pooled row in the window) and
/// the driver side sums: scores by the tie rule (or thresholds), the 11- and 5-segment maps,
/// pooled-cost allocation by largest remainders, margin, quadrant, health, lifecycle and the
/// output columns. Shared by the single-date run and the multi-date pass.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    fin: &Finish,
    as_of_day: i32,
    by_account: &[Agg],
    pooled: &[i128],
    pool_rows: &[bool],
    unit_sums: &[Vec<i64>],
    kind_counts: &[Vec<i64>],
    mut clock: Clock,
) -> Result<ScoreResult, EngineError> {
    let (inputs, config, drivers) = (fin.inputs, fin.config, fin.drivers);
    let ncat = inputs.cost_categories.len();
    // Members in ascending account order; `aggs[i]` below is the i-th member's aggregate.
    // (Temporaries of a million entries come from the scratch pool: fresh memory costs a page
    // fault per 4 KiB, and the finishing steps run once per date of a series.)
    // The aggregates (64 bytes each) are read in as few passes as possible: reading them is
    // most of the cost of these steps at a million accounts.
    let ([members], [n_members]) = par_filter_cols(by_account.len(), |i| [by_account[i].member.then_some(i as u32)]);
    let members = &members[..n_members];
    let aggs = Members { all: by_account, members };
    let m = members.len();

    // ---- R / F / M scores over the accounts with a purchase --------------------------------
    // Four cut values per dimension; each account's scores are read off them with the output.
    let rfm = &config.rfm;
    // one pass: the scored accounts' R, F, M values and the active accounts' revenue
    let ([mut rv, mut fv, mut mv, mut revenues], [n_scored, _, _, n_active]) = par_filter_cols(m, |i| {
        let a = &aggs[i];
        let p = a.has_purchase;
        [p.then_some(a.recency), p.then_some(a.frequency), p.then_some(a.monetary), a.active_window.then_some(a.revenue)]
    });
    let cuts_of = |values: &mut [i64], cuts: &Option<[i64; 4]>, better: Better| -> ScoreCuts {
        match cuts {
            Some(c) => ScoreCuts { cuts: *c, better, tie: false },
            None => ScoreCuts { cuts: tie_cuts(values, better), better, tie: true },
        }
    };
    let (r_cuts, (f_cuts, m_cuts)) = rayon::join(
        || cuts_of(&mut rv[..n_scored], &rfm.recency_thresholds, Better::Lower),
        || {
            rayon::join(
                || cuts_of(&mut fv[..n_scored], &rfm.frequency_thresholds, Better::Higher),
                || cuts_of(&mut mv[..n_scored], &rfm.monetary_thresholds, Better::Higher),
            )
        },
    );
    drop((rv, fv, mv));
    clock.lap("scores");

    // ---- pooled-cost allocation ----------------------------------------------------------------
    let mut pools = Vec::new();
    let total_abs: i128 = (0..ncat).filter(|&c| pool_rows[c]).map(|c| pooled[c].abs()).sum();
    if total_abs > i128::from(i64::MAX) {
        return Err(EngineError::new("the pooled costs together do not fit in 64-bit minor units"));
    }
    // Σ |pools| fits in i64, so no account's allocated total can overflow.
    let mut allocated: Scratch<i64> = Scratch::filled(m, 0);
    let mut weight_cache: Vec<(String, Scratch<i64>, WeightTotals)> = Vec::new();
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
        let wi = match weight_cache.iter().position(|(k, _, _)| *k == cache_key) {
            Some(i) => i,
            None => {
                let w = driver_weights(fin, aggs, &drivers[c], c, unit_sums, kind_counts);
                let totals = WeightTotals::of(&w);
                weight_cache.push((cache_key, w, totals));
                weight_cache.len() - 1
            }
        };
        // each pool's shares are kept (the account screen explains cost by category); the
        // allocation overwrites them and adds them to `allocated`
        let mut share: Vec<i64> = mem::filled_vec(m, 0);
        let (_, weights, totals) = &weight_cache[wi];
        let done = allocate(pool, weights, *totals, &mut share, &mut allocated);
        pool_shares.push(if done {
            share
        } else {
            mem::give_vec(share);
            Vec::new()
        });
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
    let mut cost: Scratch<i64> = Scratch::new(m);
    cost.par_iter_mut().zip(aggs.par_iter()).zip(allocated.par_iter()).with_min_len(1 << 12).try_for_each(
        |((c, a), &al)| -> Result<(), EngineError> {
            *c = to_i64(i128::from(a.direct) + i128::from(al), "cost to serve", a.account as usize)?;
            Ok(())
        },
    )?;
    // "high" ⇔ 2·v ≥ lo + hi, where lo/hi are the middle values (equal for an odd count).
    let (rev_mid, cost_mid) = rayon::join(
        || {
            config.quadrant.revenue_threshold.map(|t| 2 * i128::from(t)).or_else(|| {
                median_x2(&mut revenues[..n_active])
            })
        },
        || {
            config.quadrant.cost_threshold.map(|t| 2 * i128::from(t)).or_else(|| {
                let ([mut costs], [k]) = par_filter_cols(m, |i| [aggs[i].active_window.then_some(cost[i])]);
                median_x2(&mut costs[..k])
            })
        },
    );

    // ---- final figures, in parallel into preallocated columns -------------------------------
    let mut out = AccountScores::default();
    // Columns are written through raw pointers into their capacity (each index once, in
    // parallel) and get their length when every row is written.
    // (from the buffer pool: the columns of an earlier result, already paged in)
    macro_rules! reserve_cols {
        ($($f:ident),*) => { $( out.$f = mem::take_vec(m); )* };
    }
    account_score_fields!(reserve_cols);
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
    let p = account_score_fields!(ptrs);
    let h = &config.health;
    let wsum: i64 = h.weights.iter().sum();
    (0..m).into_par_iter().with_min_len(4096).try_for_each(|i| -> Result<(), EngineError> {
        let p = &p;
        let a = &aggs[i];
        let (r, f, mm) = if a.has_purchase {
            (r_cuts.score(a.recency), f_cuts.score(a.frequency), m_cuts.score(a.monetary))
        } else {
            (0, 0, 0)
        };
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
    account_score_fields!(set_lens);
    clock.lap("figures");

    let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Ok(ScoreResult {
        as_of_day,
        scores: out,
        pools,
        pool_shares: PoolShares(pool_shares),
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

/// The cut values of one score dimension: fixed thresholds, or the four order statistics
/// of the tie rule.
#[derive(Clone, Copy)]
struct ScoreCuts {
    cuts: [i64; 4],
    better: Better,
    tie: bool,
}

impl ScoreCuts {
    #[inline]
    fn score(&self, v: i64) -> u8 {
        if !self.tie {
            return threshold_score(v, &self.cuts, self.better);
        }
        1 + self
            .cuts
            .iter()
            .filter(|&&t| match self.better {
                Better::Higher => v > t,
                Better::Lower => v < t,
            })
            .count() as u8
    }
}

/// The tie rule's four cut values over `values` (the scored accounts' values): with
/// `q_k = ceil(k·n / 5)`, a value scores above k exactly when at least `q_k` values are worse,
/// i.e. (higher is better) when it exceeds the `q_k`-th smallest value, or (lower is better)
/// when it is below the `q_k`-th largest (the rule of `rank::tie_scores`, whose scores the
/// tests compare). A small value range is counted in one pass; otherwise four selections, each
/// in the part the previous one left.
pub(crate) fn tie_cuts(values: &mut [i64], better: Better) -> [i64; 4] {
    let n = values.len();
    let mut cut = [0i64; 4];
    if n == 0 {
        return cut;
    }
    // sorted positions of the four order statistics, ascending
    let pos = |k: usize| {
        let q = (k * n).div_ceil(5);
        match better {
            Better::Higher => q - 1,
            Better::Lower => n - q,
        }
    };
    let (lo, hi) = values
        .par_iter()
        .with_min_len(1 << 14)
        .fold(|| (i64::MAX, i64::MIN), |(l, h), &v| (l.min(v), h.max(v)))
        .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let range = (i128::from(hi) - i128::from(lo)) as u128;
    if range < 1 << 16 {
        let width = range as usize + 1;
        let hist = values
            .par_chunks(1 << 16)
            .map(|chunk| {
                let mut h = vec![0u32; width];
                for &v in chunk {
                    h[(v - lo) as usize] += 1;
                }
                h
            })
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            })
            .expect("values are not empty");
        for k in 1..=4 {
            let p = pos(k);
            let mut seen = 0usize;
            for (i, &c) in hist.iter().enumerate() {
                seen += c as usize;
                if seen > p {
                    cut[k - 1] = lo + i as i64;
                    break;
                }
            }
        }
        return cut;
    }
    let mut order: Vec<(usize, usize)> = (1..=4).map(|k| (pos(k), k)).collect();
    order.sort_unstable();
    let mut from = 0usize;
    for (p, k) in order {
        // everything before `from` is <= values[from - 1] <= the next statistic
        let (_, v, _) = values[from..].select_nth_unstable(p - from);
        cut[k - 1] = *v;
        from = p;
    }
    cut
}

/// Twice the median (lo + hi of the middle pair), exact; `None` for no values.
fn median_x2(v: &mut [i64]) -> Option<i128> {
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
    ctx: &Finish,
    aggs: Members<'_>,
    driver: &Driver,
    category: usize,
    unit_sums: &[Vec<i64>],
    kind_counts: &[Vec<i64>],
) -> Scratch<i64> {
    let seats = ctx.inputs.accounts.seats;
    let side: Option<&Vec<i64>> = match driver {
        Driver::DriverUnits => ctx.unit_slot[category].map(|s| &unit_sums[s]),
        Driver::Events(k) => ctx
            .inputs
            .event_kinds
            .iter()
            .position(|x| x == k)
            .and_then(|ki| ctx.kind_slot[ki])
            .map(|s| &kind_counts[s]),
        _ => None,
    };
    let mut out: Scratch<i64> = Scratch::new(aggs.members.len());
    out.par_iter_mut().zip(aggs.par_iter()).with_min_len(1 << 12).for_each(|(o, a)| {
        *o = if !a.active_window {
            0
        } else {
            let i = a.account as usize;
            match driver {
                Driver::Revenue => a.revenue.max(0),
                Driver::LineItems => i64::from(a.lines_window),
                Driver::Seats => opt_i64(seats, i).unwrap_or(0).max(0),
                Driver::Equal => 1,
                Driver::DriverUnits | Driver::Events(_) => side.map_or(0, |v| v[i].max(0)),
            }
        };
    });
    out
}

/// `K` filtered columns in one parallel pass over `0..len`: column `k` holds `f(i)[k]` for the
/// indices where it is `Some`, in ascending order, in its first `counts[k]` entries. Buffers
/// come from the scratch pool: each chunk writes from its own start, then the chunks are
/// moved together.
fn par_filter_cols<T: Copy + Send + Sync, const K: usize>(
    len: usize,
    f: impl Fn(usize) -> [Option<T>; K] + Sync,
) -> ([Scratch<T>; K], [usize; K]) {
    const CHUNK: usize = 1 << 15;
    let chunks = len.div_ceil(CHUNK);
    let mut cols: [Scratch<T>; K] = std::array::from_fn(|_| Scratch::new(len));
    let ptrs: [SendPtr<T>; K] = std::array::from_fn(|k| SendPtr(cols[k].as_mut_ptr()));
    let counts: Vec<[usize; K]> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let ptrs = &ptrs;
            let start = c * CHUNK;
            let mut n = [0usize; K];
            for i in start..(start + CHUNK).min(len) {
                for (k, v) in f(i).into_iter().enumerate() {
                    if let Some(v) = v {
                        // SAFETY: chunk c writes only within start..start + CHUNK (at most one
                        // value per index), a range of its own within every column.
                        unsafe { ptrs[k].0.add(start + n[k]).write(v) };
                        n[k] += 1;
                    }
                }
            }
            n
        })
        .collect();
    let mut totals = [0usize; K];
    for (k, col) in cols.iter_mut().enumerate() {
        let mut to = 0usize;
        for (c, n) in counts.iter().enumerate() {
            let from = c * CHUNK;
            if from != to {
                col.copy_within(from..from + n[k], to);
            }
            to += n[k];
        }
        totals[k] = to;
    }
    (cols, totals)
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

/// What the account pass reads from one account's rows as of one day D (all rows on or before
/// D): sums and counts over the activity windows, the purchase days, the event days. Two
/// collectors fill it: [`collect`] (one day, rows in any order) and the multi-date pass
/// (`engine::multi`, rows in day order, every date of a series in one visit); [`derive`] turns
/// it into the account's figures, the same for both.
#[derive(Clone, Copy, Default)]
pub(crate) struct Raw {
    /// Σ direct cost in the RFM window; whether any cost row is in the window.
    pub direct: i128,
    pub cost_in_window: bool,
    /// Σ line amounts in the RFM window, and their number.
    pub revenue: i128,
    pub lines_window: u32,
    /// Refunds (as positive amounts) and gross amounts of the recent and the prior window.
    pub r_ref: i128,
    pub r_gross: i128,
    pub p_ref: i128,
    pub p_gross: i128,
    /// Σ line amounts in the last `30 · revenue_months` days.
    pub rev_months: i128,
    /// Purchases (units with a positive net) first dated in the RFM window.
    pub n_purchases_window: i64,
    /// First and last purchase day, and the number of distinct purchase days.
    pub first_purchase: Option<i64>,
    pub last_purchase: Option<i64>,
    pub purchase_days: usize,
    /// Latest day of a product-use event.
    pub last_event_activity: Option<i64>,
    /// Distinct activity days in the recent window and in the prior window.
    pub recent: i64,
    pub prior: i64,
    pub r_tickets: i64,
    pub p_tickets: i64,
    pub failed: i64,
    /// High-signal event days (saas): first, last, distinct count; the saas frequency.
    pub hs_first: Option<i64>,
    pub hs_last: Option<i64>,
    pub hs_days: usize,
    pub hs_freq: i64,
    /// Distinct activity days and distinct core features in the tier window.
    pub tier_days: i64,
    pub tier_feats: i64,
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
    let raw = collect(ctx, s, a, lines, evs, costs);
    let dc = DeriveCtx { cfg: ctx.cfg, accounts: &ctx.inp.accounts, saas: ctx.saas, has_events: ctx.has_events };
    derive(&dc, a, ctx.d, &raw).map(Some)
}

/// One day's [`Raw`] from an account's rows (any order), and its side sums (driver units and
/// event counts of the allocation drivers).
fn collect(ctx: &Ctx, s: &mut Work, a: usize, lines: &[LineRec], evs: &[EventRec], costs: &[CostRec]) -> Raw {
    let cfg = ctx.cfg;
    let ch = &cfg.churn;
    let d = ctx.d;
    let (rd, pd) = (ch.recent_days, ch.prior_days);
    let act_span = rd + pd;
    let months_span = 30 * cfg.saas.revenue_months;
    let mut raw = Raw::default();

    // ---- direct costs and driver units -----------------------------------------------------------
    let mut direct: i128 = 0;
    let mut cost_in_window = false;
    let n_units = ctx.side.units.len();
    if n_units > 0 {
        s.unit_acc.clear();
        s.unit_acc.resize(n_units, (0, false));
    }
    for c in costs.iter() {
        if d - i64::from(c.day) < ctx.win {
            cost_in_window = true;
            direct += i128::from(c.amount);
            if let Some(slot) = ctx.unit_slot[c.category as usize] {
                if c.units != NULL_I64 {
                    let u = &mut s.unit_acc[slot];
                    u.0 += i128::from(c.units);
                    u.1 = true;
                }
            }
        }
    }
    for (slot, &(sum, seen)) in s.unit_acc.iter().enumerate().take(n_units) {
        if seen {
            // SAFETY: slot arrays have length n; account `a` belongs to this bucket only.
            unsafe { ctx.side.units[slot].0.add(a).write(saturate(sum)) };
        }
    }
    raw.direct = direct;
    raw.cost_in_window = cost_in_window;

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
    (raw.revenue, raw.lines_window, raw.rev_months) = (revenue, lines_window, rev_months);
    (raw.r_ref, raw.r_gross, raw.p_ref, raw.p_gross) = (r_ref, r_gross, p_ref, p_gross);

    // Units: same non-zero invoice key, or (no invoice) same day; a purchase is a unit with a
    // positive net, dated by its earliest line.
    build_units(lines, s);
    s.pdays.clear();
    s.pdays.extend(s.units.iter().filter(|u| u.net > 0).map(|u| u.first));
    raw.n_purchases_window = s.pdays.iter().filter(|&&p| d - i64::from(p) < ctx.win).count() as i64;
    s.pdays.sort_unstable();
    s.pdays.dedup();
    raw.first_purchase = s.pdays.first().map(|&p| i64::from(p));
    raw.last_purchase = s.pdays.last().map(|&p| i64::from(p));
    raw.purchase_days = s.pdays.len();

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
    (raw.r_tickets, raw.p_tickets, raw.failed) = (r_tickets, p_tickets, failed);
    raw.last_event_activity = last_event_activity;
    if ctx.saas {
        s.hs.sort_unstable();
        s.hs.dedup();
        raw.hs_freq = match cfg.saas.frequency {
            SaasFrequency::Events => hs_window_events,
            SaasFrequency::ActiveDays => s.hs.iter().filter(|&&x| d - i64::from(x) < sw).count() as i64,
        };
        raw.hs_first = s.hs.first().map(|&x| i64::from(x));
        raw.hs_last = s.hs.last().map(|&x| i64::from(x));
        raw.hs_days = s.hs.len();
    }

    // ---- activity days: product use, or purchases for an account without any ---------------------
    if last_event_activity.is_none() {
        s.act.extend(s.pdays.iter().filter(|&&p| d - i64::from(p) < act_span));
    }
    s.act.sort_unstable();
    s.act.dedup();
    raw.recent = s.act.iter().filter(|&&x| d - i64::from(x) < rd).count() as i64;
    raw.prior = s.act.len() as i64 - raw.recent;

    // ---- tier inputs ----------------------------------------------------------------------------------
    if ctx.has_events {
        s.tier_days.sort_unstable();
        s.tier_days.dedup();
        s.feats.sort_unstable();
        s.feats.dedup();
        raw.tier_days = s.tier_days.len() as i64;
        raw.tier_feats = s.feats.len() as i64;
    }
    raw
}

/// An exact sum of driver units, saturated to 64 bits.
#[inline]
pub(crate) fn saturate(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// What [`derive`] reads besides an account's [`Raw`].
pub(crate) struct DeriveCtx<'a> {
    pub cfg: &'a ScoreConfig,
    pub accounts: &'a AccountCols<'a>,
    pub saas: bool,
    /// Any event on or before D in the whole store (the tier is computed only then).
    pub has_events: bool,
}

/// An account's figures as of day `d` from its [`Raw`]: the mode's R / F / M basis, churn
/// signals and risk, trend, lifecycle inputs, tier and size band.
pub(crate) fn derive(ctx: &DeriveCtx, a: usize, d: i64, raw: &Raw) -> Result<Agg, EngineError> {
    let cfg = ctx.cfg;
    let ch = &cfg.churn;
    let (rd, pd) = (ch.recent_days, ch.prior_days);
    let direct = to_i64(raw.direct, "direct cost", a)?;
    let revenue = to_i64(raw.revenue, "net revenue", a)?;

    // ---- the mode's R / F / M basis -------------------------------------------------------------
    let (has_purchase, recency, frequency, monetary, basis_first, basis_last, basis_days) = if ctx.saas {
        let monetary = match opt_i64(ctx.accounts.mrr, a) {
            Some(mrr) => mrr,
            None => to_i64(raw.rev_months.div_euclid(i128::from(cfg.saas.revenue_months)), "monthly revenue", a)?,
        };
        let (first, last) = (raw.hs_first, raw.hs_last);
        (last.is_some(), last.map_or(0, |l| d - l), raw.hs_freq, monetary, first, last, raw.hs_days)
    } else {
        (
            raw.last_purchase.is_some(),
            raw.last_purchase.map_or(0, |l| d - l),
            raw.n_purchases_window,
            revenue,
            raw.first_purchase,
            raw.last_purchase,
            raw.purchase_days,
        )
    };
    let (recent, prior) = (raw.recent, raw.prior);
    let has_use = raw.last_event_activity.is_some();
    let (r_ref, r_gross, p_ref, p_gross) = (raw.r_ref, raw.r_gross, raw.p_ref, raw.p_gross);
    let (r_tickets, p_tickets, failed) = (raw.r_tickets, raw.p_tickets, raw.failed);

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
    if let Some(renewal) = opt_day(ctx.accounts.renewal_day, a) {
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
    let ac = ctx.accounts;
    let seats_near = match (opt_i64(ac.seats, a), opt_i64(ac.seat_limit, a)) {
        (Some(s), Some(l)) if l > 0 => 100 * i128::from(s) >= i128::from(cfg.lifecycle.seat_limit_pct) * i128::from(l),
        _ => false,
    };
    let signup = opt_day(ac.signup_day, a).filter(|&x| x <= d);
    let mut last_seen = [raw.last_purchase, raw.last_event_activity, signup].into_iter().flatten().max();
    if ctx.saas {
        last_seen = last_seen.max(basis_last);
    }
    let churned = last_seen.is_none_or(|x| d - x >= cfg.lifecycle.churn_horizon_days);
    let onb = cfg.lifecycle.onboarding_days;
    let onboarding = raw.first_purchase.is_some_and(|x| d - x < onb) || signup.is_some_and(|x| d - x < onb);

    // ---- tier ------------------------------------------------------------------------------------------------
    let tier = if !ctx.has_events {
        0
    } else {
        let (days, feats) = (raw.tier_days, raw.tier_feats);
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

    Ok(Agg {
        member: true,
        account: a as u32,
        revenue,
        direct,
        recency,
        frequency,
        monetary,
        lines_window: raw.lines_window,
        reasons,
        active_window: raw.lines_window > 0 || raw.cost_in_window,
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
    })
}
