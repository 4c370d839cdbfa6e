//! The scoring engine across the boundary: numpy columns in, `Column`s out, GIL released.

use crate::columns::{Column, NumView};
use pyo3::buffer::Element;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use segtui_core::engine::{
    score, AccountCols, Costs, Events, Inputs, LineItems, ScoreConfig, ScoreResult,
};

create_exception!(_core, ScoreConfigError, PyValueError, "The scoring configuration is invalid; the message names the key.");
create_exception!(_core, ScoreInputError, PyValueError, "The scoring input columns are inconsistent; the message names the column.");

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ScoreConfigError", m.py().get_type::<ScoreConfigError>())?;
    m.add("ScoreInputError", m.py().get_type::<ScoreInputError>())?;
    m.add_function(wrap_pyfunction!(score_columns, m)?)?;
    m.add_function(wrap_pyfunction!(default_config_json, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_config_json, m)?)?;
    m.add_function(wrap_pyfunction!(release_scoring_memory, m)?)?;
    Ok(())
}

/// Free the buffers the scoring kernel keeps for its next run (scratch memory, freed result
/// columns); returns the bytes freed.
#[pyfunction]
fn release_scoring_memory() -> usize {
    let held = segtui_core::engine::mem::idle_scratch_bytes();
    segtui_core::engine::mem::release_scratch();
    held
}

fn parse_config(config_json: &str) -> PyResult<ScoreConfig> {
    ScoreConfig::from_json(config_json).map_err(|e| ScoreConfigError::new_err(e.to_string()))
}

/// The default scoring configuration as canonical JSON.
#[pyfunction]
fn default_config_json() -> String {
    ScoreConfig::default().to_canonical_json()
}

/// Validate a configuration (defaults + the given keys) and return it complete, canonical.
#[pyfunction]
fn canonical_config_json(py: Python<'_>, config_json: &str) -> PyResult<String> {
    let _ = py;
    Ok(parse_config(config_json)?.to_canonical_json())
}

/// The named columns of one input table. Unknown names are rejected (typos must not pass
/// silently); an empty dict is a table with no rows.
struct Table<'py> {
    name: &'static str,
    dict: Bound<'py, PyDict>,
}

impl<'py> Table<'py> {
    fn new(name: &'static str, dict: &Bound<'py, PyDict>, known: &[&str]) -> PyResult<Self> {
        for key in dict.keys() {
            let k: String = key.extract().map_err(|_| {
                ScoreInputError::new_err(format!("{name}: column names must be strings"))
            })?;
            if !known.contains(&k.as_str()) {
                return Err(ScoreInputError::new_err(format!(
                    "{name}: unknown column {k:?} (expected {})",
                    known.join(", ")
                )));
            }
        }
        Ok(Table { name, dict: dict.clone() })
    }

    /// A column; `required` ones must be present unless the table is empty.
    fn col<T: Element + Copy>(&self, key: &str, required: bool) -> PyResult<Option<NumView<T>>> {
        match self.dict.get_item(key)? {
            Some(obj) => NumView::<T>::new(&obj, &format!("{}.{key}", self.name))
                .map(Some)
                .map_err(|e| ScoreInputError::new_err(e.to_string())),
            None if required && !self.dict.is_empty() => Err(ScoreInputError::new_err(format!(
                "{}: missing column {key:?}",
                self.name
            ))),
            None => Ok(None),
        }
    }
}

fn slice<T: Element + Copy>(v: &Option<NumView<T>>) -> &[T] {
    v.as_ref().map_or(&[], |v| v.as_slice())
}

/// The four input tables of the engine as borrowed numpy columns (the contract of
/// `score_columns`, shared by every binding that scores).
pub(crate) struct InputColumns {
    li_account: Option<NumView<u32>>,
    li_day: Option<NumView<i32>>,
    li_amount: Option<NumView<i64>>,
    li_invoice: Option<NumView<i64>>,
    co_account: Option<NumView<i64>>,
    co_day: Option<NumView<i32>>,
    co_category: Option<NumView<u32>>,
    co_amount: Option<NumView<i64>>,
    co_units: Option<NumView<i64>>,
    ev_account: Option<NumView<u32>>,
    ev_day: Option<NumView<i32>>,
    ev_kind: Option<NumView<u32>>,
    ac_i64: [Option<NumView<i64>>; 4],
    ac_signup: Option<NumView<i32>>,
    ac_renewal: Option<NumView<i32>>,
}

impl InputColumns {
    pub(crate) fn new(
        line_items: &Bound<'_, PyDict>,
        costs: &Bound<'_, PyDict>,
        events: &Bound<'_, PyDict>,
        accounts: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let li = Table::new("line_items", line_items, &["account", "day", "amount", "invoice_key"])?;
        let co = Table::new("costs", costs, &["account", "day", "category", "amount", "driver_units"])?;
        let ev = Table::new("events", events, &["account", "day", "kind"])?;
        let ac = Table::new(
            "accounts",
            accounts,
            &["employees", "mrr", "seats", "seat_limit", "signup_day", "renewal_day"],
        )?;
        Ok(InputColumns {
            li_account: li.col("account", true)?,
            li_day: li.col("day", true)?,
            li_amount: li.col("amount", true)?,
            li_invoice: li.col("invoice_key", false)?,
            co_account: co.col("account", true)?,
            co_day: co.col("day", true)?,
            co_category: co.col("category", true)?,
            co_amount: co.col("amount", true)?,
            co_units: co.col("driver_units", false)?,
            ev_account: ev.col("account", true)?,
            ev_day: ev.col("day", true)?,
            ev_kind: ev.col("kind", true)?,
            ac_i64: [
                ac.col("employees", false)?,
                ac.col("mrr", false)?,
                ac.col("seats", false)?,
                ac.col("seat_limit", false)?,
            ],
            ac_signup: ac.col("signup_day", false)?,
            ac_renewal: ac.col("renewal_day", false)?,
        })
    }

    /// The engine's view of the columns (they stay pinned while `self` lives).
    pub(crate) fn inputs<'a>(&'a self, n_accounts: usize, cost_categories: &'a [String], event_kinds: &'a [String]) -> Inputs<'a> {
        let [employees, mrr, seats, seat_limit] = &self.ac_i64;
        Inputs {
            n_accounts,
            line_items: LineItems {
                account: slice(&self.li_account),
                day: slice(&self.li_day),
                amount: slice(&self.li_amount),
                invoice_key: slice(&self.li_invoice),
            },
            costs: Costs {
                account: slice(&self.co_account),
                day: slice(&self.co_day),
                category: slice(&self.co_category),
                amount: slice(&self.co_amount),
                driver_units: slice(&self.co_units),
            },
            events: Events { account: slice(&self.ev_account), day: slice(&self.ev_day), kind: slice(&self.ev_kind) },
            accounts: AccountCols {
                employees: slice(employees),
                mrr: slice(mrr),
                seats: slice(seats),
                seat_limit: slice(seat_limit),
                signup_day: slice(&self.ac_signup),
                renewal_day: slice(&self.ac_renewal),
            },
            cost_categories,
            event_kinds,
        }
    }
}

/// Score one as-of day over int-coded columns. See the stub for the full contract.
#[pyfunction]
#[pyo3(signature = (line_items, costs, events, accounts, n_accounts, cost_categories, event_kinds, as_of_day, config_json))]
#[allow(clippy::too_many_arguments)]
fn score_columns<'py>(
    py: Python<'py>,
    line_items: &Bound<'py, PyDict>,
    costs: &Bound<'py, PyDict>,
    events: &Bound<'py, PyDict>,
    accounts: &Bound<'py, PyDict>,
    n_accounts: usize,
    cost_categories: Vec<String>,
    event_kinds: Vec<String>,
    as_of_day: i32,
    config_json: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let config = parse_config(config_json)?;
    let cols = InputColumns::new(line_items, costs, events, accounts)?;
    let inputs = cols.inputs(n_accounts, &cost_categories, &event_kinds);
    // The views pin the numpy buffers until they drop, after the detached call returns.
    let result = py
        .detach(|| score(&inputs, as_of_day, &config))
        .map_err(|e| ScoreInputError::new_err(e.message))?;
    result_to_dict(py, result)
}

/// A result as the dict `score_columns` returns (`as_of_day`, `timings`, `columns`, `labels`, `pools`).
pub(crate) fn result_to_dict<'py>(py: Python<'py>, r: ScoreResult) -> PyResult<Bound<'py, PyDict>> {
    let mut s = r.scores;
    let cols = PyDict::new(py);
    macro_rules! put {
        ($($f:ident),*) => { $( cols.set_item(stringify!($f), Column::from(std::mem::take(&mut s.$f)).recycled())?; )* };
    }
    put!(
        account, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment,
        rfm5_segment, revenue, direct_cost, allocated_cost, margin, margin_pct, quadrant,
        churn_risk, churn_band, churn_reasons, health, health_band, lifecycle, tier, size_band
    );
    let labels = PyDict::new(py);
    labels.set_item("rfm_segment", r.rfm_segment_labels)?;
    labels.set_item("rfm5_segment", r.rfm5_segment_labels)?;
    labels.set_item("quadrant", r.quadrant_labels)?;
    labels.set_item("churn_band", r.churn_band_labels)?;
    labels.set_item("churn_reasons", r.churn_reason_labels)?;
    labels.set_item("health_band", r.health_band_labels)?;
    labels.set_item("lifecycle", r.lifecycle_labels)?;
    labels.set_item("tier", r.tier_labels)?;
    labels.set_item("size_band", r.size_band_labels)?;
    let pools = PyList::empty(py);
    for p in r.pools {
        let d = PyDict::new(py);
        d.set_item("category", p.category)?;
        d.set_item("driver", p.driver)?;
        d.set_item("pooled", p.pooled)?;
        d.set_item("allocated", p.allocated)?;
        d.set_item("unallocated", p.unallocated)?;
        pools.append(d)?;
    }
    let out = PyDict::new(py);
    out.set_item("as_of_day", r.as_of_day)?;
    out.set_item("timings", r.timings)?;
    out.set_item("columns", cols)?;
    out.set_item("labels", labels)?;
    out.set_item("pools", pools)?;
    Ok(out)
}
