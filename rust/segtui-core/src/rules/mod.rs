//! Custom segments as rules: a small language over account metrics and events.
//!
//! ```text
//! margin < 0
//! industry in ("fintech", "banking") and employees between 50 and 500
//! did "invite_team" >= 3 times in 30d and not did "create_task" in 14d
//! active_days in 30d >= 20 or first "integration_activated" in 7d
//! renewal_day in next 30d and (churn_band = "high" or health < 40)
//! ```
//!
//! - [`parser::parse`]: text to syntax tree; errors carry the 1-based line and column of the
//!   mistake and say what was expected ([`RuleError`]).
//! - [`compile::compile`]: names resolved against a [`Schema`], literals converted exactly into
//!   each column's units (money in major units against integer minor units, dates to days),
//!   negations pushed to the leaves under three-valued logic, and rules that can never match
//!   rejected ([`analysis`]).
//! - [`eval::evaluate`]: every rule over every row of a [`Table`], reading the events once.
//!
//! The inputs are plain columns (see [`table`]), so the same evaluator runs over the scoring
//! engine's `AccountScores` (per-row columns with sentinel nulls and `u8` codes), the
//! `AccountCols` firmographics (per-account columns) and the engine's `Events`, or over
//! columns lent from Python (values plus validity masks, text as codes and labels).

pub mod analysis;
pub mod ast;
pub mod compile;
pub mod engine_table;
pub mod error;
pub mod eval;
pub mod lexer;
pub mod parser;
pub mod store;
pub mod table;

pub use compile::{compile, CompiledRule};
pub use error::{RuleError, Span};
pub use eval::{evaluate, Matches};
pub use table::{EventLog, MetricColumn, MetricDef, Schema, Table, Unit, Values};

/// Compiles every rule against `table` (and the event kinds of `events`), then evaluates them
/// in one pass. A rule that does not compile is reported with its index.
pub fn run(
    sources: &[&str],
    table: &Table,
    events: Option<&EventLog>,
    as_of_day: i32,
) -> Result<Vec<Matches>, RunError> {
    table.validate().map_err(RunError::Input)?;
    let schema = table.schema(events);
    let rules = sources
        .iter()
        .enumerate()
        .map(|(i, s)| compile(s, &schema).map_err(|e| RunError::Rule(i, e)))
        .collect::<Result<Vec<_>, _>>()?;
    evaluate(&rules, table, events, as_of_day).map_err(RunError::Input)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// Rule `i` does not compile.
    Rule(usize, RuleError),
    /// The columns are inconsistent (lengths, types).
    Input(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Rule(i, e) => write!(f, "rule {}: {e}", i + 1),
            RunError::Input(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for RunError {}

#[cfg(test)]
mod tests;
