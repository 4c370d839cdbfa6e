//! Store reads and snapshot writes: the scoring inputs of a store (through the column cache)
//! and fixed listing queries read into Arrow-layout columns. Every call releases the GIL.

use std::path::PathBuf;

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use segtui_core::store_io::SqlValue as Value;

use segtui_core::store_io::{
    self, CacheOutcome, ColData, ColKind, LoadOptions, LoadReport, RunError, RunOptions, StoreIoError,
};

use crate::columns::Column;

/// A store error as a Python exception: data problems are `ValueError`, a missing store or
/// snapshot `FileNotFoundError`, a busy store `TimeoutError`, anything else `OSError`.
pub fn to_py_err(e: StoreIoError) -> PyErr {
    match e {
        StoreIoError::Data(m) => PyValueError::new_err(m),
        StoreIoError::NotFound(m) => PyFileNotFoundError::new_err(m),
        StoreIoError::Busy(m) => PyTimeoutError::new_err(m),
        other => PyOSError::new_err(other.to_string()),
    }
}

/// The load report as a dict (shared with the scoring pipeline).
pub fn report_dict<'py>(py: Python<'py>, r: &LoadReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (cache, reason) = match &r.cache {
        CacheOutcome::Hit => ("hit", None),
        CacheOutcome::Appended { rows } => ("appended", Some(format!("{rows} rows added since the cache was built"))),
        CacheOutcome::Rebuilt { reason } => ("rebuilt", Some(reason.clone())),
        CacheOutcome::Off => ("off", None),
    };
    d.set_item("cache", cache)?;
    d.set_item("cache_reason", reason)?;
    d.set_item("cache_path", r.cache_path.as_ref().map(|p| p.to_string_lossy().into_owned()))?;
    d.set_item("cache_bytes", r.cache_bytes)?;
    d.set_item("cache_error", r.cache_error.clone())?;
    d.set_item("seconds_stamp", r.seconds_stamp)?;
    d.set_item("seconds_read", r.seconds_read)?;
    d.set_item("seconds_cache_write", r.seconds_cache_write)?;
    Ok(d)
}

/// Every scoring input of the store at `db`, as columns: ``{"n_accounts": int,
/// "li_account": Column(uint32), ..., "cost_categories": [str], "event_kinds": [str],
/// "data_version": int, "report": {...}}``. The column names and sentinels are those of
/// ``segtui_core::engine::Inputs`` (see the stub).
#[pyfunction]
#[pyo3(signature = (db, *, cache = true))]
fn read_inputs<'py>(py: Python<'py>, db: PathBuf, cache: bool) -> PyResult<Bound<'py, PyDict>> {
    let opts = LoadOptions { cache, ..Default::default() };
    let (s, report) = py.detach(|| store_io::load_inputs(&db, &opts)).map_err(to_py_err)?;
    let d = PyDict::new(py);
    d.set_item("n_accounts", s.n_accounts)?;
    d.set_item("data_version", s.stamp.data_version)?;
    d.set_item("report", report_dict(py, &report)?)?;
    d.set_item("cost_categories", s.cost_categories)?;
    d.set_item("event_kinds", s.event_kinds)?;
    macro_rules! put {
        ($($f:ident),*) => { $( d.set_item(stringify!($f), Column::from(s.$f))?; )* };
    }
    put!(
        li_account, li_day, li_amount, li_invoice_key, cost_account, cost_day, cost_category, cost_amount,
        cost_driver_units, ev_account, ev_day, ev_kind, acc_employees, acc_mrr, acc_seats, acc_seat_limit,
        acc_signup_day, acc_renewal_day
    );
    Ok(d)
}

fn to_value(v: &Bound<'_, PyAny>, i: usize) -> PyResult<Value> {
    if v.is_none() {
        Ok(Value::Null)
    } else if let Ok(b) = v.cast::<pyo3::types::PyBool>() {
        Ok(Value::Integer(b.is_true() as i64))
    } else if let Ok(x) = v.extract::<i64>() {
        Ok(Value::Integer(x))
    } else if let Ok(x) = v.extract::<f64>() {
        Ok(Value::Real(x))
    } else if let Ok(s) = v.extract::<String>() {
        Ok(Value::Text(s))
    } else {
        Err(PyValueError::new_err(format!(
            "parameter {}: expected int, float, str or None, got {}",
            i + 1,
            v.get_type().name()?
        )))
    }
}

fn parse_kinds(kinds: &[String]) -> PyResult<Vec<ColKind>> {
    kinds
        .iter()
        .map(|k| match k.as_str() {
            "int" => Ok(ColKind::Int),
            "real" => Ok(ColKind::Real),
            "text" => Ok(ColKind::Text),
            other => Err(PyValueError::new_err(format!("unknown column kind {other:?}: int, real or text"))),
        })
        .collect()
}

fn columns_list<'py>(py: Python<'py>, cols: Vec<store_io::FrameColumn>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for c in cols {
        let validity = c.validity.map(Column::from);
        let item = match c.data {
            ColData::I64(v) => ("int", Column::from(v), None, validity, c.len, c.null_count),
            ColData::F64(v) => ("real", Column::from(v), None, validity, c.len, c.null_count),
            ColData::Text { offsets, data } => {
                ("text", Column::from(data), Some(Column::from(offsets)), validity, c.len, c.null_count)
            }
        };
        out.append((c.name, item.0, item.1, item.2, item.3, item.4, item.5))?;
    }
    Ok(out)
}

/// Run a fixed read-only query on the store and return its columns without a Python object
/// per row: ``[(name, kind, data, offsets, validity, length, null_count), ...]`` where kind is
/// ``"int"`` (data: Column int64), ``"real"`` (Column float64) or ``"text"`` (data: Column
/// uint8 of UTF-8 bytes, offsets: Column int64, arrow large_string layout); validity is an
/// arrow bitmap Column (uint8) or None when the column has no null.
#[pyfunction]
#[pyo3(signature = (db, sql, params, kinds, capacity = 0))]
fn read_columns<'py>(
    py: Python<'py>,
    db: PathBuf,
    sql: String,
    params: &Bound<'py, PyList>,
    kinds: Vec<String>,
    capacity: usize,
) -> PyResult<Bound<'py, PyList>> {
    let params: Vec<Value> = params.iter().enumerate().map(|(i, v)| to_value(&v, i)).collect::<PyResult<_>>()?;
    let kinds = parse_kinds(&kinds)?;
    let cols = py
        .detach(|| {
            let conn = store_io::open_ro(&db)?;
            store_io::read_columns(&conn, &sql, &params, &kinds, capacity)
        })
        .map_err(to_py_err)?;
    columns_list(py, cols)
}

/// Several fixed read-only queries at once, each on its own connection and thread (the
/// machine's cores share the decoding work): ``queries`` is a list of ``(sql, params, kinds,
/// capacity)``; returns one column list (as :func:`read_columns`) per query, in order.
#[pyfunction]
fn read_columns_many<'py>(
    py: Python<'py>,
    db: PathBuf,
    queries: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyList>> {
    let mut jobs: Vec<(String, Vec<Value>, Vec<ColKind>, usize)> = Vec::new();
    for q in queries.iter() {
        let (sql, params, kinds, capacity): (String, Bound<'py, PyList>, Vec<String>, usize) = q.extract()?;
        let params: Vec<Value> =
            params.iter().enumerate().map(|(i, v)| to_value(&v, i)).collect::<PyResult<_>>()?;
        jobs.push((sql, params, parse_kinds(&kinds)?, capacity));
    }
    let results = py.detach(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|(sql, params, kinds, cap)| {
                    let db = &db;
                    s.spawn(move || {
                        let conn = store_io::open_ro(db)?;
                        store_io::read_columns(&conn, sql, params, kinds, *cap)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a reader thread does not panic")).collect::<Vec<_>>()
        })
    });
    let out = PyList::empty(py);
    for r in results {
        out.append(columns_list(py, r.map_err(to_py_err)?)?)?;
    }
    Ok(out)
}

/// Score the store at `db` as of each day in `as_of_days` (empty: the latest line item's day)
/// and write one snapshot per day. See the stub for the returned dict.
#[pyfunction]
#[pyo3(signature = (db, *, as_of_days, config_json, config_fp, created_at, cache = true, series = None, progress = None))]
#[allow(clippy::too_many_arguments)]
fn score_store<'py>(
    py: Python<'py>,
    db: PathBuf,
    as_of_days: Vec<i32>,
    config_json: String,
    config_fp: String,
    created_at: String,
    cache: bool,
    series: Option<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = RunOptions { as_of_days, config_json, config_fp, created_at, cache, series };
    let report = py
        .detach(|| {
            let say = |msg: &str| {
                if let Some(cb) = &progress {
                    Python::attach(|py| {
                        // a failing progress callback must not fail the run
                        let _ = cb.call1(py, (msg,));
                    });
                }
            };
            store_io::score_store(&db, &opts, &say)
        })
        .map_err(|e| match e {
            RunError::Store(e) => to_py_err(e),
            other => PyValueError::new_err(other.to_string()),
        })?;
    let d = PyDict::new(py);
    d.set_item("mode", &report.mode)?;
    d.set_item("data_version", report.data_version)?;
    let rows = PyDict::new(py);
    rows.set_item("line_items", report.rows.0)?;
    rows.set_item("costs", report.rows.1)?;
    rows.set_item("events", report.rows.2)?;
    rows.set_item("accounts", report.rows.3)?;
    d.set_item("rows", rows)?;
    d.set_item("load", report_dict(py, &report.load)?)?;
    d.set_item("seconds_load", report.seconds_load)?;
    d.set_item("seconds_total", report.seconds_total)?;
    let snaps = PyList::empty(py);
    for day in &report.days {
        let w = &day.written;
        let s = PyDict::new(py);
        s.set_item("id", w.id)?;
        s.set_item("replaced", w.replaced.clone())?;
        s.set_item("as_of_day", w.as_of_day)?;
        s.set_item("accounts", w.accounts)?;
        s.set_item("net_revenue", w.net_revenue)?;
        s.set_item("pooled_cost", w.pooled_cost)?;
        s.set_item("allocated_cost", w.allocated_cost)?;
        s.set_item("unallocated_cost", w.unallocated_cost)?;
        s.set_item("seconds", w.seconds)?;
        s.set_item("seconds_score", day.seconds_score)?;
        s.set_item("seconds_write", day.seconds_write)?;
        snaps.append(s)?;
    }
    d.set_item("snapshots", snaps)?;
    Ok(d)
}

/// The path of the column cache of the store at `db`.
#[pyfunction]
fn cache_path(db: PathBuf) -> PathBuf {
    store_io::sidecar_path(&db)
}

/// Account `account_id`'s share of each pooled category of snapshot `snapshot` (see the stub).
#[pyfunction]
fn account_pool_shares(py: Python<'_>, db: PathBuf, snapshot: i64, account_id: i64) -> PyResult<Vec<(String, i64)>> {
    py.detach(|| {
        let conn = store_io::open_ro(&db)?;
        store_io::snapshot::account_pool_shares(&conn, snapshot, account_id)
    })
    .map_err(to_py_err)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(account_pool_shares, m)?)?;
    m.add_function(wrap_pyfunction!(read_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(read_columns, m)?)?;
    m.add_function(wrap_pyfunction!(read_columns_many, m)?)?;
    m.add_function(wrap_pyfunction!(cache_path, m)?)?;
    m.add_function(wrap_pyfunction!(score_store, m)?)?;
    Ok(())
}
