//! Segment history: what moved between snapshots, and who.
//!
//! Everything here reads the stored snapshot tables (or line-item columns, for cohorts) and
//! works on integer codes, never on per-row strings:
//!
//! - [`maps`]: the segment maps a migration can be taken over (rfm11, rfm5, quadrant, ...),
//!   with their canonical label order.
//! - [`snapcols`]: reading one snapshot's segment and revenue columns out of the store fast,
//!   interning labels to small codes.
//! - [`packed`]: the columns history reads, packed once per snapshot (fast, cold-cache safe).
//! - [`migration`]: the from × to matrix between two snapshots (with `(new)` and `(gone)`),
//!   and the accounts of one cell.
//! - [`hysteresis`]: effective segments (an account leaves a segment only after `k`
//!   consecutive snapshots elsewhere), computed along a chain of comparable snapshots and
//!   stored sparsely beside the raw ones.
//! - [`cohorts`]: first-purchase cohorts × periods since, logo and revenue retention.
//! - [`series`]: a snapshot series (many as-of dates) from one preparation of the inputs.
//! - [`calendar`]: civil dates and month/quarter/week periods on day numbers.

pub mod calendar;
pub mod cohorts;
pub mod hysteresis;
pub mod maps;
pub mod migration;
pub mod packed;
pub mod series;
pub mod snapcols;

#[cfg(test)]
mod tests;

use std::fmt;

/// Errors of the history layer. `Invalid` and `NotFound` are the caller's to fix; `Store`
/// wraps SQLite.
#[derive(Debug)]
pub enum HistoryError {
    Store(rusqlite::Error),
    NotFound(String),
    Invalid(String),
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::Store(e) => write!(f, "store: {e}"),
            HistoryError::NotFound(m) | HistoryError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for HistoryError {}

impl From<rusqlite::Error> for HistoryError {
    fn from(e: rusqlite::Error) -> Self {
        HistoryError::Store(e)
    }
}

pub type Result<T> = std::result::Result<T, HistoryError>;
