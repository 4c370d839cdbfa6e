//! First-purchase cohorts × periods since, with logo and revenue retention.
//!
//! Definitions (see docs/history.md):
//! - a *purchase* is a distinct invoice of an account with positive net amount (lines without
//!   an invoice: a distinct account-day), dated by its earliest line; only lines on or before
//!   the as-of day count;
//! - an account's *cohort* is the period (month, quarter or week) of its first purchase;
//!   accounts without a purchase have no cohort (they are counted apart);
//! - *period since* `p` of cohort `c` is the period `c + p`; period 0 is the cohort's own;
//! - *active* accounts of `(c, p)`: accounts of cohort `c` with a purchase in period `p`
//!   (logo retention = active / cohort size);
//! - *revenue* of `(c, p)`: net revenue (refunds subtracted) of cohort `c`'s accounts from line
//!   items dated in period `p` (revenue retention = revenue / revenue of period 0). Lines of a
//!   cohort's account dated before its cohort period (a refund before the first purchase) are
//!   outside every cell and reported as `revenue_before_cohort`.

use rayon::prelude::*;

use super::calendar::Period;
use super::{HistoryError, Result};

/// Line-item columns for cohorts: dense account index (`accounts.id - 1`), day, amount in
/// minor units, invoice key (0 = no invoice).
#[derive(Clone, Copy, Debug, Default)]
pub struct Lines<'a> {
    pub account: &'a [u32],
    pub day: &'a [i32],
    pub amount: &'a [i64],
    pub invoice_key: &'a [i64],
}

/// The cohort matrix. Cohort `c` (0-based from `first_period`) and period since `p` are at
/// `c * n_periods + p`; cells past the as-of period stay 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cohorts {
    pub period: Option<Period>,
    /// Period index (see [`Period::index`]) of cohort 0.
    pub first_period: i32,
    /// Period index containing the as-of day.
    pub as_of_period: i32,
    pub as_of_day: i32,
    pub n_periods: usize,
    /// Accounts per cohort.
    pub size: Vec<i64>,
    pub active: Vec<i64>,
    pub revenue: Vec<i64>,
    /// Accounts with line items on or before the as-of day but no purchase.
    pub no_purchase_accounts: i64,
    /// Net amount of lines dated before their account's cohort period.
    pub revenue_before_cohort: i64,
}

/// One `(cohort, period since)` row of the long table.
#[derive(Clone, Debug, PartialEq)]
pub struct CohortRow {
    pub cohort: String,
    pub period: i32,
    /// Whether the period has ended by the as-of day.
    pub complete: bool,
    pub accounts: i64,
    pub active: i64,
    pub revenue: i64,
    pub logo_retention: f64,
    /// `None` when the cohort's period-0 revenue is not positive.
    pub revenue_retention: Option<f64>,
}

impl Cohorts {
    /// The long table: every cohort with accounts × periods 0..=as-of period.
    pub fn rows(&self) -> Vec<CohortRow> {
        let Some(period) = self.period else { return Vec::new() };
        let n = self.n_periods;
        let mut out = Vec::new();
        for c in 0..n {
            let size = self.size[c];
            if size == 0 {
                continue;
            }
            let ci = self.first_period + c as i32;
            let base = self.revenue[c * n];
            for p in 0..=(self.as_of_period - ci) {
                let k = c * n + p as usize;
                out.push(CohortRow {
                    cohort: period.label(ci),
                    period: p,
                    complete: period.end(ci + p) <= self.as_of_day,
                    accounts: size,
                    active: self.active[k],
                    revenue: self.revenue[k],
                    logo_retention: self.active[k] as f64 / size as f64,
                    revenue_retention: if base > 0 { Some(self.revenue[k] as f64 / base as f64) } else { None },
                });
            }
        }
        out
    }
}

/// Per-thread accumulator.
struct Acc {
    size: Vec<i64>,
    active: Vec<i64>,
    revenue: Vec<i64>,
    no_purchase: i64,
    before: i64,
}

impl Acc {
    fn new(n: usize) -> Self {
        Acc { size: vec![0; n], active: vec![0; n * n], revenue: vec![0; n * n], no_purchase: 0, before: 0 }
    }
    fn merge(mut self, o: Acc) -> Acc {
        for (a, b) in self.size.iter_mut().zip(o.size) {
            *a += b;
        }
        for (a, b) in self.active.iter_mut().zip(o.active) {
            *a += b;
        }
        for (a, b) in self.revenue.iter_mut().zip(o.revenue) {
            *a += b;
        }
        self.no_purchase += o.no_purchase;
        self.before += o.before;
        self
    }
}

/// Compute cohorts by `period` as of `as_of_day` over `lines` (`n_accounts` dense accounts).
pub fn cohorts(lines: Lines<'_>, n_accounts: usize, as_of_day: i32, period: Period) -> Result<Cohorts> {
    let n_lines = lines.account.len();
    if lines.day.len() != n_lines || lines.amount.len() != n_lines || lines.invoice_key.len() != n_lines {
        return Err(HistoryError::Invalid("line-item columns differ in length".into()));
    }
    // Rows in scope, and the day range they span.
    let mut min_day = i32::MAX;
    let mut counts = vec![0u32; n_accounts + 1];
    for i in 0..n_lines {
        let d = lines.day[i];
        if d > as_of_day {
            continue;
        }
        let a = lines.account[i] as usize;
        if a >= n_accounts {
            return Err(HistoryError::Invalid(format!(
                "line item {i}: account index {a} is out of range (n_accounts = {n_accounts})"
            )));
        }
        min_day = min_day.min(d);
        counts[a + 1] += 1;
    }
    let as_of_period = period.index(as_of_day);
    if min_day == i32::MAX {
        return Ok(Cohorts { period: Some(period), as_of_day, as_of_period, first_period: as_of_period, ..Default::default() });
    }
    // CSR: line indexes grouped by account.
    let mut offsets = vec![0usize; n_accounts + 1];
    for a in 0..n_accounts {
        offsets[a + 1] = offsets[a] + counts[a + 1] as usize;
    }
    drop(counts);
    let mut fill = offsets.clone();
    let mut idx = vec![0u32; offsets[n_accounts]];
    for i in 0..n_lines {
        if lines.day[i] > as_of_day {
            continue;
        }
        let a = lines.account[i] as usize;
        idx[fill[a]] = i as u32;
        fill[a] += 1;
    }
    drop(fill);
    // Period of every day in range, looked up rather than recomputed per line.
    let first_period = period.index(min_day);
    let period_of: Vec<i32> = (min_day..=as_of_day).map(|d| period.index(d) - first_period).collect();
    let n = (as_of_period - first_period + 1) as usize;

    let chunk = (n_accounts / (rayon::current_num_threads() * 8)).max(1024);
    let n_chunks = n_accounts.div_ceil(chunk);
    let acc = (0..n_chunks)
        .into_par_iter()
        .map(|ci| {
            let accounts = ci * chunk..((ci + 1) * chunk).min(n_accounts);
            let mut acc = Acc::new(n);
            // (is account-day, key, day, amount), reused across accounts
            let mut buf: Vec<(bool, i64, i32, i64)> = Vec::new();
            let mut purchase_periods: Vec<usize> = Vec::new();
            for a in accounts {
                let rows = &idx[offsets[a]..offsets[a + 1]];
                if rows.is_empty() {
                    continue;
                }
                buf.clear();
                for &r in rows {
                    let r = r as usize;
                    let key = lines.invoice_key[r];
                    let d = lines.day[r];
                    if key != 0 {
                        buf.push((false, key, d, lines.amount[r]));
                    } else {
                        buf.push((true, d as i64, d, lines.amount[r]));
                    }
                }
                buf.sort_unstable_by_key(|x| (x.0, x.1));
                purchase_periods.clear();
                let mut first = i32::MAX;
                let mut g = 0;
                while g < buf.len() {
                    let mut h = g;
                    let mut net = 0i64;
                    let mut day = i32::MAX;
                    while h < buf.len() && buf[h].0 == buf[g].0 && buf[h].1 == buf[g].1 {
                        net += buf[h].3;
                        day = day.min(buf[h].2);
                        h += 1;
                    }
                    if net > 0 {
                        first = first.min(day);
                        purchase_periods.push(period_of[(day - min_day) as usize] as usize);
                    }
                    g = h;
                }
                if first == i32::MAX {
                    acc.no_purchase += 1;
                    continue;
                }
                let c = period_of[(first - min_day) as usize] as usize;
                acc.size[c] += 1;
                purchase_periods.sort_unstable();
                purchase_periods.dedup();
                for &p in &purchase_periods {
                    acc.active[c * n + (p - c)] += 1;
                }
                for &(_, _, d, amount) in &buf {
                    let p = period_of[(d - min_day) as usize] as usize;
                    if p < c {
                        acc.before += amount;
                    } else {
                        acc.revenue[c * n + (p - c)] += amount;
                    }
                }
            }
            acc
        })
        .reduce(|| Acc::new(n), Acc::merge);
    Ok(Cohorts {
        period: Some(period),
        first_period,
        as_of_period,
        as_of_day,
        n_periods: n,
        size: acc.size,
        active: acc.active,
        revenue: acc.revenue,
        no_purchase_accounts: acc.no_purchase,
        revenue_before_cohort: acc.before,
    })
}

/// Line-item columns owned (read from the store).
#[derive(Clone, Debug, Default)]
pub struct OwnedLines {
    pub account: Vec<u32>,
    pub day: Vec<i32>,
    pub amount: Vec<i64>,
    pub invoice_key: Vec<i64>,
    pub n_accounts: usize,
    /// Day of the latest line item (`None` for an empty store).
    pub max_day: Option<i32>,
}

impl OwnedLines {
    pub fn view(&self) -> Lines<'_> {
        Lines { account: &self.account, day: &self.day, amount: &self.amount, invoice_key: &self.invoice_key }
    }
}

/// The line-item columns cohorts need, straight from the store (dense account index).
pub fn read_lines(conn: &rusqlite::Connection) -> Result<OwnedLines> {
    let n_accounts: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM accounts", [], |r| r.get(0))?;
    let n_lines: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM line_items", [], |r| r.get(0))?;
    let cap = n_lines.max(0) as usize;
    let mut out = OwnedLines {
        account: Vec::with_capacity(cap),
        day: Vec::with_capacity(cap),
        amount: Vec::with_capacity(cap),
        invoice_key: Vec::with_capacity(cap),
        n_accounts: n_accounts as usize,
        max_day: None,
    };
    let mut stmt = conn.prepare("SELECT account, day, amount, invoice_key FROM line_items")?;
    let mut rows = stmt.query([])?;
    let mut max_day = i32::MIN;
    while let Some(r) = rows.next()? {
        let a: i64 = r.get(0)?;
        let d: i32 = r.get(1)?;
        if a < 1 || a > n_accounts {
            return Err(HistoryError::Invalid(format!("line_items: account {a} is not in accounts")));
        }
        out.account.push((a - 1) as u32);
        out.day.push(d);
        out.amount.push(r.get(2)?);
        out.invoice_key.push(r.get(3)?);
        max_day = max_day.max(d);
    }
    if !out.day.is_empty() {
        out.max_day = Some(max_day);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::calendar::days_from_civil;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        days_from_civil(y, m, d)
    }

    #[test]
    fn monthly_cohorts_retention() {
        // account 0: Jan purchase (invoice 11, two lines), Mar purchase; a Mar refund.
        // account 1: Jan purchase (no invoice), Feb purchase, Feb refund on its own day.
        // account 2: Feb purchase, then a full refund of it in Feb (same invoice): no purchase.
        // account 3: only a refund.
        let account = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3];
        let days = [
            day(2025, 1, 5),
            day(2025, 1, 6),
            day(2025, 3, 2),
            day(2025, 3, 9),
            day(2025, 1, 20),
            day(2025, 2, 3),
            day(2025, 2, 4),
            day(2025, 2, 1),
            day(2025, 2, 2),
            day(2025, 1, 1),
        ];
        let amount = [1000, 500, 300, -100, 800, 400, -50, 200, -200, -10];
        let inv = [11, 11, 12, 0, 0, 0, 0, 21, 21, 0];
        let lines = Lines { account: &account, day: &days, amount: &amount, invoice_key: &inv };
        let c = cohorts(lines, 4, day(2025, 3, 31), Period::Month).unwrap();
        assert_eq!(c.n_periods, 3);
        assert_eq!(c.size, [2, 0, 0]);
        assert_eq!(c.no_purchase_accounts, 2);
        assert_eq!(&c.active[0..3], [2, 1, 1]);
        assert_eq!(&c.revenue[0..3], [2300, 350, 200]);
        let rows = c.rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].cohort, "2025-01");
        assert!(rows.iter().all(|r| r.complete));
        assert_eq!(rows[1].logo_retention, 0.5);
        assert_eq!(rows[2].revenue_retention, Some(200.0 / 2300.0));
        // money reconciles: every line of a cohort account is in a cell or before it
        let total: i64 = amount.iter().sum();
        let in_cells: i64 = c.revenue.iter().sum();
        let outside_cohorts = (200 - 200) + (-10); // accounts 2 and 3
        assert_eq!(in_cells + c.revenue_before_cohort, total - outside_cohorts);
    }

    #[test]
    fn as_of_hides_later_lines_and_marks_partial_periods() {
        let account = [0, 0];
        let days = [day(2025, 1, 5), day(2025, 4, 5)];
        let amount = [100, 100];
        let inv = [0, 0];
        let lines = Lines { account: &account, day: &days, amount: &amount, invoice_key: &inv };
        let c = cohorts(lines, 1, day(2025, 3, 15), Period::Quarter).unwrap();
        let rows = c.rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].cohort, "2025-Q1");
        assert!(!rows[0].complete);
        assert_eq!(rows[0].revenue, 100);
    }

    #[test]
    fn empty_and_bad_input() {
        let c = cohorts(Lines::default(), 0, 100, Period::Month).unwrap();
        assert!(c.rows().is_empty());
        let lines = Lines { account: &[5], day: &[1], amount: &[1], invoice_key: &[0] };
        assert!(cohorts(lines, 2, 100, Period::Month).is_err());
    }
}
