//! The evaluator's inputs: per-account metric columns and the event log, as plain slices.
//!
//! A [`Table`] has one row per account being evaluated (for a snapshot: its accounts, in the
//! order of `AccountScores`). Each [`MetricColumn`] is either **per row** (length `n_rows`, e.g.
//! a score column) or **per account** (indexed by the dense account index, length
//! `n_accounts`, e.g. a firmographic column of `AccountCols`), so neither side has to gather
//! into the other's order. `Table::account` maps rows to dense account indexes (`None`: row
//! `i` is account `i`).
//!
//! Nulls: a value is missing when its `valid` byte is 0 (when a mask is given) **or** when it
//! holds the type's sentinel: `NULL_I64` (`i64::MIN`), `NULL_DAY` (`i32::MIN`), NaN, the
//! column's `null_code`, or `u32::MAX` for `Codes32`. So the engine's sentinel columns go in
//! as they are, and Arrow/polars columns go in as values plus a validity mask.
//!
//! Events are the engine's [`Events`] (account, day, kind; any order) plus the kind names.

use crate::engine::Events;

/// What a column's numbers mean, which decides how literals are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// A whole number (employees, frequency, scores).
    Int,
    /// Money held as integer minor units; literals are written in major units
    /// (`revenue > 1000` means 1000.00 when `scale` is 2) and compared exactly.
    Money { scale: u32 },
    /// A real number, compared as written (`20%` is 0.2).
    Float,
    /// A share stored in percentage points (23.47 = 23.47 %), written in percent:
    /// `margin_pct < 20` and `margin_pct < 20%` both mean below 20 %.
    Percent,
    /// A share stored as a fraction (0.2347), written in percent like [`Unit::Percent`], so a
    /// rule means the same over the engine's fractions and over the exported percentages.
    Ratio,
    /// A day (days since 1970-01-01); literals are dates, `in 30d` / `in next 30d` are windows.
    Day,
    /// Text, as codes into labels.
    Text,
    /// True/false (0 / non-zero).
    Bool,
}

impl Unit {
    pub fn describe(self) -> &'static str {
        match self {
            Unit::Int => "a whole number",
            Unit::Money { .. } => "an amount of money",
            Unit::Float => "a number",
            Unit::Percent | Unit::Ratio => "a percentage",
            Unit::Day => "a date",
            Unit::Text => "text",
            Unit::Bool => "true/false",
        }
    }
}

/// A column's storage. Codes index `labels`.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    I64(&'a [i64]),
    I32(&'a [i32]),
    F64(&'a [f64]),
    /// Small numbers (scores 1–5); `null` is the value that means missing (e.g. 0 = no score).
    U8 { values: &'a [u8], null: Option<u8> },
    Codes8 { codes: &'a [u8], labels: &'a [String], null_code: Option<u8> },
    /// `u32::MAX` is null.
    Codes32 { codes: &'a [u32], labels: &'a [String] },
}

impl Values<'_> {
    pub fn len(&self) -> usize {
        match self {
            Values::I64(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::U8 { values, .. } => values.len(),
            Values::Codes8 { codes, .. } => codes.len(),
            Values::Codes32 { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn storage(&self) -> &'static str {
        match self {
            Values::I64(_) => "i64",
            Values::I32(_) => "i32",
            Values::F64(_) => "f64",
            Values::U8 { .. } => "u8",
            Values::Codes8 { .. } => "u8 codes",
            Values::Codes32 { .. } => "u32 codes",
        }
    }

    pub fn labels(&self) -> Option<&[String]> {
        match self {
            Values::Codes8 { labels, .. } | Values::Codes32 { labels, .. } => Some(labels),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct MetricColumn<'a> {
    pub name: String,
    pub unit: Unit,
    pub values: Values<'a>,
    /// Optional validity, one byte per value (0 = missing).
    pub valid: Option<&'a [u8]>,
    /// Indexed by dense account index instead of by row.
    pub per_account: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Table<'a> {
    pub n_rows: usize,
    /// Dense account index of each row; `None` when row `i` is account `i`.
    pub account: Option<&'a [u32]>,
    pub columns: Vec<MetricColumn<'a>>,
}

/// The event log: the engine's event columns and the names of the kinds.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventLog<'a> {
    pub events: Events<'a>,
    pub kinds: &'a [String],
}

/// What the compiler needs to know about a table: names, units, known labels, event kinds.
#[derive(Clone, Debug, Default)]
pub struct Schema<'a> {
    pub metrics: Vec<MetricDef<'a>>,
    /// The event kinds that exist (for warnings about unknown kinds); `None` = not known.
    pub event_kinds: Option<&'a [String]>,
}

#[derive(Clone, Copy, Debug)]
pub struct MetricDef<'a> {
    pub name: &'a str,
    pub unit: Unit,
    pub labels: Option<&'a [String]>,
}

impl<'a> Table<'a> {
    /// The table's schema, with the event kinds of `events` when given.
    pub fn schema(&'a self, events: Option<&EventLog<'a>>) -> Schema<'a> {
        Schema {
            metrics: self
                .columns
                .iter()
                .map(|c| MetricDef { name: c.name.as_str(), unit: c.unit, labels: c.values.labels() })
                .collect(),
            event_kinds: events.map(|e| e.kinds),
        }
    }

    pub fn column(&self, name: &str) -> Option<&MetricColumn<'a>> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Checks lengths, unit/storage pairs and duplicate names.
    pub fn validate(&self) -> Result<(), String> {
        let max_account = match self.account {
            Some(a) => {
                if a.len() != self.n_rows {
                    return Err(format!("account column has {} rows, the table {}", a.len(), self.n_rows));
                }
                a.iter().copied().max().map_or(0, |m| m as usize + 1)
            }
            None => self.n_rows,
        };
        for (i, c) in self.columns.iter().enumerate() {
            if self.columns[..i].iter().any(|o| o.name == c.name) {
                return Err(format!("column {} is given twice", c.name));
            }
            let n = c.values.len();
            if c.per_account {
                if n < max_account {
                    return Err(format!(
                        "column {} is per account but has {n} values for {max_account} accounts",
                        c.name
                    ));
                }
            } else if n != self.n_rows {
                return Err(format!("column {} has {n} values, the table {} rows", c.name, self.n_rows));
            }
            if let Some(v) = c.valid {
                if v.len() != n {
                    return Err(format!("column {}: validity mask has {} entries for {n} values", c.name, v.len()));
                }
            }
            let ok = matches!(
                (c.unit, &c.values),
                (Unit::Int, Values::I64(_) | Values::I32(_) | Values::U8 { .. })
                    | (Unit::Money { .. }, Values::I64(_))
                    | (Unit::Float | Unit::Percent | Unit::Ratio, Values::F64(_))
                    | (Unit::Day, Values::I32(_) | Values::I64(_))
                    | (Unit::Text, Values::Codes8 { .. } | Values::Codes32 { .. })
                    | (Unit::Bool, Values::U8 { .. } | Values::I64(_))
            );
            if !ok {
                return Err(format!("column {}: {:?} cannot be stored as {}", c.name, c.unit, c.values.storage()));
            }
            if let Unit::Money { scale } = c.unit {
                if scale > 6 {
                    return Err(format!("column {}: money scale {scale} is above 6", c.name));
                }
            }
        }
        Ok(())
    }
}
