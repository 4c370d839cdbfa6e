//! The scoring engine's data contract: what goes in, what comes out.
//!
//! Accounts are addressed by a **dense index** `0..n_accounts` (the store's `accounts.id - 1`).
//! Days are days since 1970-01-01. Money is `i64` minor units. Optional numbers use a sentinel
//! (`NULL_I64`, `NULL_DAY`) so columns stay plain slices that Python can lend without copying.

/// Sentinel for a missing `i64` (employees, mrr, seats, ...).
pub const NULL_I64: i64 = i64::MIN;
/// Sentinel for a missing day.
pub const NULL_DAY: i32 = i32::MIN;
/// Account index of a pooled cost (a cost row with no account).
pub const POOLED: i64 = -1;

/// Line items, one entry per row, in any order.
#[derive(Clone, Copy, Debug, Default)]
pub struct LineItems<'a> {
    pub account: &'a [u32],
    pub day: &'a [i32],
    pub amount: &'a [i64],
    /// 64-bit hash of the invoice text; 0 = no invoice (a purchase is then an account-day).
    pub invoice_key: &'a [i64],
}

/// Cost rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Costs<'a> {
    /// Dense account index, or [`POOLED`].
    pub account: &'a [i64],
    pub day: &'a [i32],
    /// Index into [`Inputs::cost_categories`].
    pub category: &'a [u32],
    pub amount: &'a [i64],
    /// Units of the category's driver carried by this row ([`NULL_I64`] when absent).
    pub driver_units: &'a [i64],
}

/// Product events.
#[derive(Clone, Copy, Debug, Default)]
pub struct Events<'a> {
    pub account: &'a [u32],
    pub day: &'a [i32],
    /// Index into [`Inputs::event_kinds`].
    pub kind: &'a [u32],
}

/// Per-account firmographics, each of length `n_accounts` (sentinels for missing values).
#[derive(Clone, Copy, Debug, Default)]
pub struct AccountCols<'a> {
    pub employees: &'a [i64],
    pub mrr: &'a [i64],
    pub seats: &'a [i64],
    pub seat_limit: &'a [i64],
    pub signup_day: &'a [i32],
    pub renewal_day: &'a [i32],
}

/// Everything one scoring run reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inputs<'a> {
    pub n_accounts: usize,
    pub line_items: LineItems<'a>,
    pub costs: Costs<'a>,
    pub events: Events<'a>,
    pub accounts: AccountCols<'a>,
    /// Names of cost categories, indexed by `Costs::category`.
    pub cost_categories: &'a [String],
    /// Names of event kinds, indexed by `Events::kind`.
    pub event_kinds: &'a [String],
}

/// Per-account results, one entry per account **in the snapshot**: accounts with any line
/// item or cost on or before the as-of date, ordered by dense index.
///
/// Categorical results are `u8` codes into the label lists of [`ScoreResult`].
#[derive(Clone, Debug, Default)]
pub struct AccountScores {
    pub account: Vec<u32>,
    /// Days since the last purchase; [`NULL_I64`] for accounts without a purchase.
    pub recency_days: Vec<i64>,
    pub frequency: Vec<i64>,
    pub monetary: Vec<i64>,
    /// 1..=5, 0 when the account has no purchase (no score).
    pub r_score: Vec<u8>,
    pub f_score: Vec<u8>,
    pub m_score: Vec<u8>,
    pub rfm_segment: Vec<u8>,
    pub rfm5_segment: Vec<u8>,
    pub revenue: Vec<i64>,
    pub direct_cost: Vec<i64>,
    pub allocated_cost: Vec<i64>,
    pub margin: Vec<i64>,
    /// margin / revenue as a fraction (f64::NAN when revenue <= 0).
    pub margin_pct: Vec<f64>,
    pub quadrant: Vec<u8>,
    pub churn_risk: Vec<u8>,
    pub churn_band: Vec<u8>,
    /// Bit set over [`ScoreResult::churn_reason_labels`].
    pub churn_reasons: Vec<u32>,
    pub health: Vec<u8>,
    pub health_band: Vec<u8>,
    pub lifecycle: Vec<u8>,
    /// 0 = no events at all for the store (tier not computed).
    pub tier: Vec<u8>,
    /// 0 = unknown employees.
    pub size_band: Vec<u8>,
}

macro_rules! account_score_fields {
    ($mac:ident) => {
        $mac!(
            account, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment,
            rfm5_segment, revenue, direct_cost, allocated_cost, margin, margin_pct, quadrant,
            churn_risk, churn_band, churn_reasons, health, health_band, lifecycle, tier, size_band
        )
    };
}
pub(crate) use account_score_fields;

/// The columns' memory goes back to the engine's buffer pool (the next run reuses it).
impl Drop for AccountScores {
    fn drop(&mut self) {
        macro_rules! give {
            ($($f:ident),*) => { $( super::mem::give_vec(std::mem::take(&mut self.$f)); )* };
        }
        account_score_fields!(give);
    }
}

/// Each snapshot account's share of each pool (see [`ScoreResult::pool_shares`]); the
/// memory goes back to the engine's buffer pool when dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolShares(pub Vec<Vec<i64>>);

impl std::ops::Deref for PoolShares {
    type Target = Vec<Vec<i64>>;
    fn deref(&self) -> &Vec<Vec<i64>> {
        &self.0
    }
}

impl std::ops::DerefMut for PoolShares {
    fn deref_mut(&mut self) -> &mut Vec<Vec<i64>> {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a PoolShares {
    type Item = &'a Vec<i64>;
    type IntoIter = std::slice::Iter<'a, Vec<i64>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Drop for PoolShares {
    fn drop(&mut self) {
        for v in self.0.drain(..) {
            super::mem::give_vec(v);
        }
    }
}

/// One pooled cost category's allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolAllocation {
    pub category: String,
    pub driver: String,
    pub pooled: i64,
    pub allocated: i64,
    /// Pooled cost whose driver was zero for every account: reported, never lost.
    pub unallocated: i64,
}

/// The result of one scoring run as of one date.
#[derive(Clone, Debug, Default)]
pub struct ScoreResult {
    pub as_of_day: i32,
    pub scores: AccountScores,
    pub pools: Vec<PoolAllocation>,
    /// Per pool of `pools` (same order): each snapshot account's share of the pool, aligned
    /// with `scores.account`; empty for a pool that could not be allocated. Summed over the
    /// pools it is `scores.allocated_cost`; each pool's shares sum to its `allocated`.
    pub pool_shares: PoolShares,
    /// Label lists for the `u8` code columns (code `i` -> `labels[i]`).
    pub rfm_segment_labels: Vec<String>,
    pub rfm5_segment_labels: Vec<String>,
    pub quadrant_labels: Vec<String>,
    pub churn_band_labels: Vec<String>,
    pub churn_reason_labels: Vec<String>,
    pub health_band_labels: Vec<String>,
    pub lifecycle_labels: Vec<String>,
    pub tier_labels: Vec<String>,
    pub size_band_labels: Vec<String>,
    /// Wall time of each phase of the run, `(phase, seconds)`, in order (for progress and
    /// the snapshot's timings; not part of the result's meaning).
    pub timings: Vec<(String, f64)>,
}
