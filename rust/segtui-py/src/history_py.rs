//! Segment history: migration matrices, effective segments (hysteresis), cohorts.
//!
//! Every call releases the GIL while the core works; bulk results leave as [`Column`]s.

use std::path::PathBuf;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use segtui_core::engine::ScoreConfig;
use segtui_core::history::{calendar, cohorts, hysteresis, migration, packed, series, snapcols, HistoryError};

use crate::columns::{Column, NumView};

fn err(e: HistoryError) -> PyErr {
    match e {
        HistoryError::Store(e) => PyRuntimeError::new_err(format!("store: {e}")),
        HistoryError::NotFound(m) | HistoryError::Invalid(m) => PyValueError::new_err(m),
    }
}

fn period(by: &str) -> PyResult<calendar::Period> {
    calendar::Period::parse(by)
        .ok_or_else(|| PyValueError::new_err(format!("unknown period {by:?}: choose week, month or quarter")))
}

/// The from × to migration matrix between snapshots `a` and `b` over `map`.
///
/// Returns a dict: `labels` (segments in canonical order), `rows` / `cols` (labels with
/// accounts, `(new)` / `(gone)` last), and the non-empty cells as parallel lists `from`, `to`,
/// `accounts`, `revenue_a`, `revenue_b`.
#[pyfunction]
#[pyo3(signature = (db_path, a, b, map = "rfm11", effective = false))]
fn migration_matrix<'py>(
    py: Python<'py>,
    db_path: PathBuf,
    a: i64,
    b: i64,
    map: &str,
    effective: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let m = py.detach(|| migration::migration(&db_path, a, b, map, effective)).map_err(err)?;
    matrix_dict(py, m)
}

fn matrix_dict<'py>(py: Python<'py>, m: migration::Matrix) -> PyResult<Bound<'py, PyDict>> {
    let cells = m.cells();
    let d = PyDict::new(py);
    d.set_item("labels", m.labels.clone())?;
    d.set_item("rows", m.row_labels())?;
    d.set_item("cols", m.col_labels())?;
    d.set_item("from", cells.iter().map(|c| c.from.clone()).collect::<Vec<_>>())?;
    d.set_item("to", cells.iter().map(|c| c.to.clone()).collect::<Vec<_>>())?;
    d.set_item("accounts", cells.iter().map(|c| c.accounts).collect::<Vec<_>>())?;
    d.set_item("revenue_a", cells.iter().map(|c| c.revenue_a).collect::<Vec<_>>())?;
    d.set_item("revenue_b", cells.iter().map(|c| c.revenue_b).collect::<Vec<_>>())?;
    Ok(d)
}

/// The matrices between consecutive snapshots of `ids`, each snapshot read once: a list of
/// dicts shaped like [`migration_matrix`]'s.
#[pyfunction]
#[pyo3(signature = (db_path, ids, map = "rfm11", effective = false))]
fn migration_chain<'py>(
    py: Python<'py>,
    db_path: PathBuf,
    ids: Vec<i64>,
    map: &str,
    effective: bool,
) -> PyResult<Bound<'py, PyList>> {
    let ms = py.detach(|| migration::migration_chain(&db_path, &ids, map, effective)).map_err(err)?;
    let out = PyList::empty(py);
    for m in ms {
        out.append(matrix_dict(py, m)?)?;
    }
    Ok(out)
}

/// The accounts of one migration cell `from_label -> to_label` (`(new)` / `(gone)` allowed):
/// `(account ids, revenue in A, revenue in B)` as columns, in account order.
#[pyfunction]
#[pyo3(signature = (db_path, a, b, from_label, to_label, map = "rfm11", effective = false))]
#[allow(clippy::too_many_arguments)]
fn migration_cell(
    py: Python<'_>,
    db_path: PathBuf,
    a: i64,
    b: i64,
    from_label: &str,
    to_label: &str,
    map: &str,
    effective: bool,
) -> PyResult<(Column, Column, Column)> {
    let (acc, ra, rb) = py
        .detach(|| migration::migration_cell(&db_path, a, b, map, effective, from_label, to_label))
        .map_err(err)?;
    Ok((Column::from(acc), Column::from(ra), Column::from(rb)))
}

/// Pack the columns history reads for every snapshot of `ids` that lacks fresh ones. Returns
/// how many were packed, or `None` when the store stayed busy for `wait_ms`.
#[pyfunction]
#[pyo3(signature = (db_path, ids, wait_ms = 100))]
fn history_pack(py: Python<'_>, db_path: PathBuf, ids: Vec<i64>, wait_ms: u64) -> PyResult<Option<usize>> {
    py.detach(|| packed::ensure_packed(&db_path, &ids, wait_ms)).map_err(err)
}

/// Bring the stored effective segments (hysteresis `k`; `k <= 1` = none) of every chain of
/// comparable snapshots up to date. Returns `{"chains", "computed", "held"}`.
#[pyfunction]
fn hysteresis_refresh<'py>(py: Python<'py>, db_path: PathBuf, k: u32) -> PyResult<Bound<'py, PyDict>> {
    let s = py.detach(|| hysteresis::refresh(&db_path, k)).map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("chains", s.chains)?;
    d.set_item("computed", s.computed)?;
    d.set_item("held", s.held)?;
    Ok(d)
}

fn cohort_dict<'py>(py: Python<'py>, c: cohorts::Cohorts) -> PyResult<Bound<'py, PyDict>> {
    let rows = c.rows();
    let d = PyDict::new(py);
    d.set_item("cohort", rows.iter().map(|r| r.cohort.clone()).collect::<Vec<_>>())?;
    d.set_item("period", Column::from(rows.iter().map(|r| r.period).collect::<Vec<i32>>()))?;
    d.set_item("complete", Column::from(rows.iter().map(|r| r.complete as u8).collect::<Vec<u8>>()))?;
    d.set_item("accounts", Column::from(rows.iter().map(|r| r.accounts).collect::<Vec<i64>>()))?;
    d.set_item("active", Column::from(rows.iter().map(|r| r.active).collect::<Vec<i64>>()))?;
    d.set_item("revenue", Column::from(rows.iter().map(|r| r.revenue).collect::<Vec<i64>>()))?;
    d.set_item("logo_retention", Column::from(rows.iter().map(|r| r.logo_retention).collect::<Vec<f64>>()))?;
    d.set_item(
        "revenue_retention",
        Column::from(rows.iter().map(|r| r.revenue_retention.unwrap_or(f64::NAN)).collect::<Vec<f64>>()),
    )?;
    d.set_item("as_of_day", c.as_of_day)?;
    d.set_item("no_purchase_accounts", c.no_purchase_accounts)?;
    d.set_item("revenue_before_cohort", c.revenue_before_cohort)?;
    Ok(d)
}

/// Cohorts over line-item columns (dense account index, day, amount, invoice key).
/// Returns the long table as columns (`revenue_retention` is NaN where period-0 revenue <= 0)
/// plus `no_purchase_accounts` and `revenue_before_cohort`.
#[pyfunction]
#[pyo3(signature = (account, day, amount, invoice_key, n_accounts, as_of_day, by = "month"))]
#[allow(clippy::too_many_arguments)]
fn cohorts_columns<'py>(
    py: Python<'py>,
    account: &Bound<'py, PyAny>,
    day: &Bound<'py, PyAny>,
    amount: &Bound<'py, PyAny>,
    invoice_key: &Bound<'py, PyAny>,
    n_accounts: usize,
    as_of_day: i32,
    by: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let p = period(by)?;
    let account = NumView::<u32>::new(account, "account")?;
    let day = NumView::<i32>::new(day, "day")?;
    let amount = NumView::<i64>::new(amount, "amount")?;
    let invoice_key = NumView::<i64>::new(invoice_key, "invoice_key")?;
    let lines = cohorts::Lines {
        account: account.as_slice(),
        day: day.as_slice(),
        amount: amount.as_slice(),
        invoice_key: invoice_key.as_slice(),
    };
    let c = py.detach(|| cohorts::cohorts(lines, n_accounts, as_of_day, p)).map_err(err)?;
    cohort_dict(py, c)
}

/// Cohorts straight from the store's line items, as of `as_of_day` (default: the latest
/// line item's day). Same result shape as [`cohorts_columns`].
#[pyfunction]
#[pyo3(signature = (db_path, as_of_day = None, by = "month"))]
fn cohorts_store<'py>(
    py: Python<'py>,
    db_path: PathBuf,
    as_of_day: Option<i32>,
    by: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let p = period(by)?;
    let c = py
        .detach(|| -> Result<cohorts::Cohorts, HistoryError> {
            let conn = snapcols::open_read(&db_path)?;
            let lines = cohorts::read_lines(&conn)?;
            let as_of = as_of_day.or(lines.max_day).unwrap_or(0);
            cohorts::cohorts(lines.view(), lines.n_accounts, as_of, p)
        })
        .map_err(err)?;
    cohort_dict(py, c)
}

/// The as-of days of a series: the last day of every `by` period (week, month, quarter)
/// ending within `since..=until`.
#[pyfunction]
fn series_days(by: &str, since: i32, until: i32) -> PyResult<Vec<i32>> {
    Ok(calendar::series_days(period(by)?, since, until))
}

/// The label of the `by` period containing `day` (`2025-02`, `2025-Q1`, or a week's Monday).
#[pyfunction]
fn period_label(by: &str, day: i32) -> PyResult<String> {
    let p = period(by)?;
    Ok(p.label(p.index(day)))
}

/// The engine's own exception type (`ScoreConfigError` / `ScoreInputError`) with `msg`.
fn engine_err(py: Python<'_>, kind: &str, msg: String) -> PyErr {
    match py.import("segtui._core").and_then(|m| m.getattr(kind)) {
        Ok(t) => PyErr::from_type(t.cast_into().expect("an exception type"), msg),
        Err(_) => PyValueError::new_err(msg),
    }
}

/// A snapshot series over int-coded columns: the inputs of `score_columns`, every day of
/// `as_of_days` (strictly ascending) scored from one preparation of the rows. Each result (the
/// dict `score_columns` returns) goes to `each` as soon as it is computed when given, else
/// all are returned in a list.
#[pyfunction]
#[pyo3(signature = (line_items, costs, events, accounts, n_accounts, cost_categories, event_kinds, as_of_days, config_json, each = None))]
#[allow(clippy::too_many_arguments)]
fn score_series_columns<'py>(
    py: Python<'py>,
    line_items: &Bound<'py, PyDict>,
    costs: &Bound<'py, PyDict>,
    events: &Bound<'py, PyDict>,
    accounts: &Bound<'py, PyDict>,
    n_accounts: usize,
    cost_categories: Vec<String>,
    event_kinds: Vec<String>,
    as_of_days: Vec<i32>,
    config_json: &str,
    each: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let config =
        ScoreConfig::from_json(config_json).map_err(|e| engine_err(py, "ScoreConfigError", e.to_string()))?;
    let cols = crate::engine_py::InputColumns::new(line_items, costs, events, accounts)?;
    let inputs = cols.inputs(n_accounts, &cost_categories, &event_kinds);
    if as_of_days.windows(2).any(|w| w[0] >= w[1]) {
        return Err(PyValueError::new_err("as_of_days must be strictly ascending"));
    }
    let out = PyList::empty(py);
    let Some(&last) = as_of_days.last() else { return Ok(out) };
    // Prepare once (GIL released), then score each day; results cross to Python one by one.
    let prepared = py.detach(|| series::Prepared::new(&inputs, last, &config));
    let mut run = series::Series::new(&prepared, inputs, &as_of_days, &config);
    if std::env::var_os("SEGTUI_SERIES_SEQUENTIAL").is_some() {
        run.pairs = false;
    }
    for k in 0..as_of_days.len() {
        let r = py.detach(|| run.score_at(k)).map_err(|e| engine_err(py, "ScoreInputError", e.message))?;
        let d = crate::engine_py::result_to_dict(py, r)?;
        match &each {
            Some(f) => {
                f.call1((d,))?;
            }
            None => out.append(d)?,
        }
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(score_series_columns, m)?)?;
    m.add_function(wrap_pyfunction!(migration_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(migration_cell, m)?)?;
    m.add_function(wrap_pyfunction!(migration_chain, m)?)?;
    m.add_function(wrap_pyfunction!(hysteresis_refresh, m)?)?;
    m.add_function(wrap_pyfunction!(history_pack, m)?)?;
    m.add_function(wrap_pyfunction!(cohorts_columns, m)?)?;
    m.add_function(wrap_pyfunction!(cohorts_store, m)?)?;
    m.add_function(wrap_pyfunction!(series_days, m)?)?;
    m.add_function(wrap_pyfunction!(period_label, m)?)?;
    Ok(())
}
