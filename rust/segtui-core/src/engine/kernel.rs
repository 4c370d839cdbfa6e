//! `score`: every per-account figure of one scoring run, as of one day.
//!
//! Shape of the computation (see `docs/scoring.md` for the definitions):
//! 1. validate the columns (lengths, index ranges);
//! 2. group line items and events by dense account index (parallel counting sort, rows after
//!    the as-of day dropped); one linear pass over costs (direct per account, pooled per
//!    category, driver units);
//! 3. one parallel pass over accounts that reads each account's rows once and yields revenue,
//!    purchases, recency/frequency/monetary, activity, churn signals, tier and band;
//! 4. scores by the tie rule, pooled-cost allocation by largest remainders, quadrant medians;
//! 5. health and lifecycle, and the output columns.

use super::alloc::largest_remainder;
use super::config::{Driver, Mode, SaasFrequency, ScoreConfig, CHURN_SIGNALS};
use super::group::{group_by_account, Grouped};
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
}

#[derive(Clone, Copy)]
struct EventRec {
    day: i32,
    kind: u32,
}

/// Per-account results of the account pass (members of the snapshot only).
#[derive(Clone, Copy, Default)]
struct Agg {
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

#[derive(Default)]
struct Scratch {
    units: Vec<(i64, i32, i64)>,
    pdays: Vec<i32>,
    act: Vec<i32>,
    tier_days: Vec<i32>,
    feats: Vec<u32>,
    hs: Vec<i32>,
}

struct Ctx<'a> {
    inp: &'a Inputs<'a>,
    cfg: &'a ScoreConfig,
    d: i64,
    /// Window length in days (i64::MAX = all history).
    win: i64,
    saas: bool,
    kind_flags: Vec<u8>,
    lines: Grouped<LineRec>,
    events: Grouped<EventRec>,
    has_events: bool,
    direct: Vec<i64>,
    /// bit 0: a direct cost on or before D; bit 1: a direct cost row in the window.
    cost_flags: Vec<u8>,
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

fn check_inputs(inp: &Inputs) -> Result<(), EngineError> {
    let n = inp.n_accounts;
    if n > u32::MAX as usize {
        return Err(EngineError::new(format!("n_accounts = {n} exceeds 2^32 - 1")));
    }
    let li = &inp.line_items;
    let nl = li.account.len();
    check_len("line_items.day", li.day.len(), nl, false)?;
    check_len("line_items.amount", li.amount.len(), nl, false)?;
    check_len("line_items.invoice_key", li.invoice_key.len(), nl, true)?;
    if let Some(i) = li.account.par_iter().position_first(|&a| a as usize >= n) {
        return Err(EngineError::new(format!(
            "column line_items.account, row {i}: account index {} out of range (n_accounts = {n})",
            li.account[i]
        )));
    }
    let co = &inp.costs;
    let nc = co.account.len();
    check_len("costs.day", co.day.len(), nc, false)?;
    check_len("costs.category", co.category.len(), nc, false)?;
    check_len("costs.amount", co.amount.len(), nc, false)?;
    check_len("costs.driver_units", co.driver_units.len(), nc, true)?;
    if let Some(i) = co.account.par_iter().position_first(|&a| a < POOLED || a >= n as i64) {
        return Err(EngineError::new(format!(
            "column costs.account, row {i}: account index {} out of range (-1 = pooled, n_accounts = {n})",
            co.account[i]
        )));
    }
    let ncat = inp.cost_categories.len();
    if let Some(i) = co.category.par_iter().position_first(|&c| c as usize >= ncat) {
        return Err(EngineError::new(format!(
            "column costs.category, row {i}: category index {} out of range ({ncat} categories)",
            co.category[i]
        )));
    }
    let ev = &inp.events;
    let ne = ev.account.len();
    check_len("events.day", ev.day.len(), ne, false)?;
    check_len("events.kind", ev.kind.len(), ne, false)?;
    if let Some(i) = ev.account.par_iter().position_first(|&a| a as usize >= n) {
        return Err(EngineError::new(format!(
            "column events.account, row {i}: account index {} out of range (n_accounts = {n})",
            ev.account[i]
        )));
    }
    let nk = inp.event_kinds.len();
    if let Some(i) = ev.kind.par_iter().position_first(|&k| k as usize >= nk) {
        return Err(EngineError::new(format!(
            "column events.kind, row {i}: kind index {} out of range ({nk} event kinds)",
            ev.kind[i]
        )));
    }
    let ac = &inp.accounts;
    check_len("accounts.employees", ac.employees.len(), n, true)?;
    check_len("accounts.mrr", ac.mrr.len(), n, true)?;
    check_len("accounts.seats", ac.seats.len(), n, true)?;
    check_len("accounts.seat_limit", ac.seat_limit.len(), n, true)?;
    check_len("accounts.signup_day", ac.signup_day.len(), n, true)?;
    check_len("accounts.renewal_day", ac.renewal_day.len(), n, true)?;
    Ok(())
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

/// Score every account as of `as_of_day` (days since 1970-01-01).
pub fn score(inputs: &Inputs, as_of_day: i32, config: &ScoreConfig) -> Result<ScoreResult, EngineError> {
    check_inputs(inputs)?;
    let n = inputs.n_accounts;
    let d = i64::from(as_of_day);
    let li = inputs.line_items;
    let ev = inputs.events;
    let lines = group_by_account(
        n,
        li.account.len(),
        |i| li.account[i] as usize,
        |i| li.day[i] <= as_of_day,
        |i| LineRec { key: li.invoice_key.get(i).copied().unwrap_or(0), amount: li.amount[i], day: li.day[i] },
    );
    let events = group_by_account(
        n,
        ev.account.len(),
        |i| ev.account[i] as usize,
        |i| ev.day[i] <= as_of_day,
        |i| EventRec { day: ev.day[i], kind: ev.kind[i] },
    );
    let win = config.rfm.window_days.unwrap_or(i64::MAX);

    // Costs: direct per account, pooled per category, driver units per driver_units category.
    let co = inputs.costs;
    let ncat = inputs.cost_categories.len();
    let drivers: Vec<Driver> = inputs.cost_categories.iter().map(|c| config.driver_for(c).clone()).collect();
    let mut unit_slot: Vec<Option<usize>> = vec![None; ncat];
    let mut n_unit_slots = 0;
    for (c, dr) in drivers.iter().enumerate() {
        if *dr == Driver::DriverUnits {
            unit_slot[c] = Some(n_unit_slots);
            n_unit_slots += 1;
        }
    }
    let mut direct_acc = vec![0i128; n];
    let mut cost_flags = vec![0u8; n];
    let mut pooled = vec![0i128; ncat];
    let mut pool_rows = vec![false; ncat];
    let mut units: Vec<Vec<i128>> = vec![Vec::new(); n_unit_slots];
    for i in 0..co.account.len() {
        let day = co.day[i];
        if day > as_of_day {
            continue;
        }
        let in_win = d - i64::from(day) < win;
        let a = co.account[i];
        let cat = co.category[i] as usize;
        if a == POOLED {
            if in_win {
                pooled[cat] += i128::from(co.amount[i]);
                pool_rows[cat] = true;
            }
            continue;
        }
        let a = a as usize;
        cost_flags[a] |= 1;
        if !in_win {
            continue;
        }
        cost_flags[a] |= 2;
        direct_acc[a] += i128::from(co.amount[i]);
        if let Some(s) = unit_slot[cat] {
            let u = co.driver_units.get(i).copied().unwrap_or(NULL_I64);
            if u != NULL_I64 {
                if units[s].is_empty() {
                    units[s] = vec![0; n];
                }
                units[s][a] += i128::from(u);
            }
        }
    }
    let mut direct = vec![0i64; n];
    for a in 0..n {
        direct[a] = to_i64(direct_acc[a], "direct cost", a)?;
    }
    drop(direct_acc);

    let ctx = Ctx {
        inp: inputs,
        cfg: config,
        d,
        win,
        saas: config.mode == Mode::Saas,
        kind_flags: kind_roles(inputs, config),
        has_events: !events.recs.is_empty(),
        lines,
        events,
        direct,
        cost_flags,
    };

    let aggs: Vec<Agg> = (0..n)
        .into_par_iter()
        .with_min_len(2048)
        .map_init(Scratch::default, |s, a| account_pass(&ctx, s, a))
        .filter_map(|r| r.transpose())
        .collect::<Result<Vec<Agg>, EngineError>>()?;
    let m = aggs.len();

    // ---- R / F / M scores over the accounts with a purchase --------------------------------
    let scored: Vec<usize> = (0..m).filter(|&i| aggs[i].has_purchase).collect();
    let dim = |val: fn(&Agg) -> i64, cuts: &Option<[i64; 4]>, better: Better| -> Vec<u8> {
        let mut out = vec![0u8; m];
        let values: Vec<i64> = scored.iter().map(|&i| val(&aggs[i])).collect();
        let s = match cuts {
            Some(c) => values.iter().map(|&v| threshold_score(v, c, better)).collect(),
            None => tie_scores(&values, better),
        };
        for (k, &i) in scored.iter().enumerate() {
            out[i] = s[k];
        }
        out
    };
    let rfm = &config.rfm;
    let r_score = dim(|a| a.recency, &rfm.recency_thresholds, Better::Lower);
    let f_score = dim(|a| a.frequency, &rfm.frequency_thresholds, Better::Higher);
    let m_score = dim(|a| a.monetary, &rfm.monetary_thresholds, Better::Higher);

    // ---- pooled-cost allocation ----------------------------------------------------------------
    let accounts_of: Vec<u32> = aggs.iter().map(|a| a.account).collect();
    let mut allocated = vec![0i128; m];
    let mut pools = Vec::new();
    for c in 0..ncat {
        if !pool_rows[c] {
            continue;
        }
        let name = &inputs.cost_categories[c];
        let pool = i64::try_from(pooled[c]).map_err(|_| {
            EngineError::new(format!("pooled cost of category {name:?} does not fit in 64-bit minor units"))
        })?;
        let weights = driver_weights(&ctx, &aggs, &drivers[c], unit_slot[c].map(|s| &units[s]));
        let (alloc_total, unalloc) = match largest_remainder(pool, &weights, &accounts_of) {
            Some(shares) => {
                for (i, s) in shares.iter().enumerate() {
                    allocated[i] += i128::from(*s);
                }
                (pool, 0)
            }
            None => (0, pool),
        };
        pools.push(PoolAllocation {
            category: name.clone(),
            driver: drivers[c].name(),
            pooled: pool,
            allocated: alloc_total,
            unallocated: unalloc,
        });
    }

    // ---- quadrant thresholds --------------------------------------------------------------------
    let mut cost = Vec::with_capacity(m);
    for (i, a) in aggs.iter().enumerate() {
        cost.push(to_i64(i128::from(a.direct) + allocated[i], "cost to serve", a.account as usize)?);
    }
    let pop: Vec<usize> = (0..m).filter(|&i| aggs[i].active_window).collect();
    // "high" ⇔ 2·v ≥ lo + hi, where lo/hi are the middle values (equal for an odd count).
    let rev_mid = config
        .quadrant
        .revenue_threshold
        .map(|t| 2 * i128::from(t))
        .or_else(|| median_x2(pop.iter().map(|&i| aggs[i].revenue).collect()));
    let cost_mid = config
        .quadrant
        .cost_threshold
        .map(|t| 2 * i128::from(t))
        .or_else(|| median_x2(pop.iter().map(|&i| cost[i]).collect()));

    // ---- final figures ----------------------------------------------------------------------------
    let mut out = AccountScores::default();
    let h = &config.health;
    let wsum: i64 = h.weights.iter().sum();
    for (i, a) in aggs.iter().enumerate() {
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
            let x = (10_000 * i128::from(margin)).div_euclid(i128::from(h.margin_full_pct) * i128::from(a.revenue));
            x.clamp(0, 100) as i64
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
        out.account.push(a.account);
        out.recency_days.push(if a.has_purchase { a.recency } else { NULL_I64 });
        out.frequency.push(a.frequency);
        out.monetary.push(a.monetary);
        out.r_score.push(r);
        out.f_score.push(f);
        out.m_score.push(mm);
        out.rfm_segment.push(config.rfm11.code(r, f, mm));
        out.rfm5_segment.push(config.rfm5.code(r, f, mm));
        out.revenue.push(a.revenue);
        out.direct_cost.push(a.direct);
        out.allocated_cost.push(allocated[i] as i64);
        out.margin.push(margin);
        out.margin_pct.push(margin_pct);
        out.quadrant.push(quadrant);
        out.churn_risk.push(a.churn_risk);
        out.churn_band.push(a.churn_band);
        out.churn_reasons.push(a.reasons);
        out.health.push(health);
        out.health_band.push(health_band);
        out.lifecycle.push(lifecycle);
        out.tier.push(a.tier);
        out.size_band.push(a.size_band);
    }

    let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Ok(ScoreResult {
        as_of_day,
        scores: out,
        pools,
        rfm_segment_labels: config.rfm11.labels.clone(),
        rfm5_segment_labels: config.rfm5.labels.clone(),
        quadrant_labels: labels(&QUADRANT_LABELS),
        churn_band_labels: labels(&CHURN_BAND_LABELS),
        churn_reason_labels: labels(&CHURN_SIGNALS),
        health_band_labels: labels(&HEALTH_BAND_LABELS),
        lifecycle_labels: labels(&LIFECYCLE_LABELS),
        tier_labels: labels(&TIER_LABELS),
        size_band_labels: labels(&SIZE_BAND_LABELS),
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

fn driver_weights(ctx: &Ctx, aggs: &[Agg], driver: &Driver, units: Option<&Vec<i128>>) -> Vec<i64> {
    let seats = ctx.inp.accounts.seats;
    let kind_index = match driver {
        Driver::Events(k) => ctx.inp.event_kinds.iter().position(|x| x == k),
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
                Driver::DriverUnits => match units {
                    Some(u) if !u.is_empty() => u[i].clamp(0, i128::from(i64::MAX)) as i64,
                    _ => 0,
                },
                Driver::Events(_) => match kind_index {
                    Some(k) => ctx
                        .events
                        .of(i)
                        .iter()
                        .filter(|e| e.kind as usize == k && ctx.d - i64::from(e.day) < ctx.win)
                        .count() as i64,
                    None => 0,
                },
            }
        })
        .collect()
}

/// Everything about one account that needs only its own rows.
fn account_pass(ctx: &Ctx, s: &mut Scratch, a: usize) -> Result<Option<Agg>, EngineError> {
    let lines = ctx.lines.of(a);
    let evs = ctx.events.of(a);
    let cf = ctx.cost_flags[a];
    if lines.is_empty() && cf & 1 == 0 && !(ctx.saas && !evs.is_empty()) {
        return Ok(None);
    }
    let cfg = ctx.cfg;
    let ch = &cfg.churn;
    let d = ctx.d;
    let (rd, pd) = (ch.recent_days, ch.prior_days);
    let act_span = rd + pd;
    let months_span = 30 * cfg.saas.revenue_months;

    // ---- line items: revenue, refunds, purchase units --------------------------------------------
    let mut revenue: i128 = 0;
    let mut lines_window = 0u32;
    let (mut r_ref, mut r_gross, mut p_ref, mut p_gross) = (0i128, 0i128, 0i128, 0i128);
    let mut rev_months: i128 = 0;
    for l in lines {
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

    s.units.clear();
    s.units.extend(lines.iter().map(|l| (l.key, l.day, l.amount)));
    if !s.units.windows(2).all(|w| (w[0].0, w[0].1) <= (w[1].0, w[1].1)) {
        s.units.sort_unstable_by_key(|u| (u.0, u.1));
    }
    s.pdays.clear();
    let mut i = 0;
    while i < s.units.len() {
        let (key, day, _) = s.units[i];
        let mut net: i128 = 0;
        let mut j = i;
        while j < s.units.len() && s.units[j].0 == key && (key != 0 || s.units[j].1 == day) {
            net += i128::from(s.units[j].2);
            j += 1;
        }
        if net > 0 {
            s.pdays.push(day); // sorted by day within a key: the unit's first day
        }
        i = j;
    }
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
    for e in evs {
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

    // ---- activity days: purchases and activity events ------------------------------------------
    s.act.extend(s.pdays.iter().filter(|&&p| d - i64::from(p) < act_span));
    s.act.sort_unstable();
    s.act.dedup();
    let recent = s.act.iter().filter(|&&x| d - i64::from(x) < rd).count() as i64;
    let prior = s.act.len() as i64 - recent;

    // ---- churn signals ------------------------------------------------------------------------------------
    let mut reasons = 0u32;
    if let (Some(first), Some(last)) = (basis_first, basis_last) {
        let k = basis_days as i64;
        let since = d - last;
        if k >= 2 && since >= ch.gap_min_days && 100 * i128::from(since) * i128::from(k - 1) > i128::from(ch.gap_factor_pct) * i128::from(last - first) {
            reasons |= 1 << 0;
        }
    }
    if prior >= ch.drop_min_prior_days && 100 * recent * pd < ch.drop_below_pct * prior * rd {
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
    let risk: i64 = (0..6).filter(|b| reasons & (1 << b) != 0).map(|b| ch.weights[b]).sum::<i64>().min(100);
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
        account: a as u32,
        revenue,
        direct: ctx.direct[a],
        recency,
        frequency,
        monetary,
        lines_window,
        reasons,
        active_window: lines_window > 0 || cf & 2 != 0,
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
