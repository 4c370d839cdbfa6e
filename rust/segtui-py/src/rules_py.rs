//! `segtui._core` bindings of the rule language (`segtui_core::rules`).
//!
//! - `rules_parse(rules)`: syntax only; the metric names each rule mentions.
//! - `rules_check(rules, metrics, event_kinds=None)`: compile against a schema, raise
//!   `RuleError(message, index, line, column, length)`; returns per rule its warnings and the
//!   events it needs.
//! - `rules_read_events(db, kinds, max_window, as_of_day)`: the needed events from a store.
//! - `rules_evaluate(rules, n_rows, account, columns, events, event_kinds, as_of_day)`: every
//!   rule over every row in one pass; one `uint8` column (0/1) per rule, plus warnings.

use std::collections::HashMap;

use pyo3::create_exception;
use pyo3::exceptions::{PyValueError, PyRuntimeError};
use pyo3::prelude::*;

use segtui_core::engine::Events;
use segtui_core::rules::store::{read_events_at, EventNeeds};
use segtui_core::rules::{self as core_rules, EventLog, MetricColumn, MetricDef, Schema, Table, Unit, Values};

use crate::columns::{Column, NumView, TextSlice, TextView};

create_exception!(_core, RuleError, PyValueError, "A rule that does not compile: args are (message, index, line, column, length).");

type Warning = (String, usize, usize, usize);

fn rule_error(index: usize, e: &core_rules::RuleError) -> PyErr {
    RuleError::new_err((e.message.clone(), index, e.line, e.column, e.len))
}

fn warnings(r: &core_rules::CompiledRule) -> Vec<Warning> {
    r.warnings.iter().map(|w| (w.message.clone(), w.line, w.column, w.len)).collect()
}

fn parse_unit(s: &str) -> PyResult<Unit> {
    Ok(match s {
        "int" => Unit::Int,
        "float" => Unit::Float,
        "percent" => Unit::Percent,
        "ratio" => Unit::Ratio,
        "day" => Unit::Day,
        "text" => Unit::Text,
        "bool" => Unit::Bool,
        "money" => Unit::Money { scale: 2 },
        _ => match s.strip_prefix("money:").and_then(|n| n.parse::<u32>().ok()) {
            Some(scale) if scale <= 6 => Unit::Money { scale },
            _ => {
                return Err(PyValueError::new_err(format!(
                    "unknown unit {s:?}: use int, money:N, float, percent, ratio, day, text or bool"
                )))
            }
        },
    })
}

/// Parses `rules` (syntax only); returns the metric names each one mentions.
#[pyfunction]
fn rules_parse(rules: Vec<String>) -> PyResult<Vec<Vec<String>>> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| segtui_core::rules::parser::parse(r).map(|e| e.metrics()).map_err(|e| rule_error(i, &e)))
        .collect()
}

/// (warnings, kinds or None for every kind, max_window or None for all history, uses_events)
type CheckInfo = (Vec<Warning>, Option<Vec<String>>, Option<u32>, bool);

/// Compiles `rules` against the metrics `[(name, unit), ...]` (and event kinds, when known).
#[pyfunction]
#[pyo3(signature = (rules, metrics, event_kinds=None))]
fn rules_check(rules: Vec<String>, metrics: Vec<(String, String)>, event_kinds: Option<Vec<String>>) -> PyResult<Vec<CheckInfo>> {
    let units = metrics.iter().map(|(_, u)| parse_unit(u)).collect::<PyResult<Vec<_>>>()?;
    let schema = Schema {
        metrics: metrics.iter().zip(&units).map(|((n, _), u)| MetricDef { name: n, unit: *u, labels: None }).collect(),
        event_kinds: event_kinds.as_deref(),
    };
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let c = core_rules::compile(r, &schema).map_err(|e| rule_error(i, &e))?;
        let needs = EventNeeds::of(std::slice::from_ref(&c));
        out.push((
            warnings(&c),
            needs.kinds.map(|k| k.into_iter().collect()),
            needs.max_window,
            needs.any,
        ));
    }
    Ok(out)
}

/// Reads the events of `kinds` (None: all) within `max_window` days (None: all history)
/// up to `as_of_day` from the store at `db`: (account, day, kind, kind names).
#[pyfunction]
#[pyo3(signature = (db, kinds, max_window, as_of_day))]
fn rules_read_events(
    py: Python<'_>,
    db: String,
    kinds: Option<Vec<String>>,
    max_window: Option<u32>,
    as_of_day: i32,
) -> PyResult<(Column, Column, Column, Vec<String>)> {
    let ev = py
        .detach(move || {
            let needs = EventNeeds { kinds: kinds.map(|k| k.into_iter().collect()), max_window, any: true };
            read_events_at(&db, &needs, as_of_day)
        })
        .map_err(PyRuntimeError::new_err)?;
    Ok((ev.account.into(), ev.day.into(), ev.kind.into(), ev.kinds))
}

enum Held {
    I64(NumView<i64>),
    I32(NumView<i32>),
    F64(NumView<f64>),
    U8(NumView<u8>),
    Text(TextView),
    /// Already dictionary-encoded: codes (`u32::MAX` = null) and labels.
    Codes(NumView<u32>, Vec<String>),
}

struct HeldColumn {
    name: String,
    unit: Unit,
    values: Held,
    valid: Option<NumView<u8>>,
    per_account: bool,
}

/// Dictionary-encodes a text column: codes (`u32::MAX` = null) and labels in first-seen order.
fn encode(t: TextSlice<'_>) -> (Vec<u32>, Vec<String>) {
    let mut map: HashMap<&[u8], u32> = HashMap::new();
    let mut labels = Vec::new();
    let mut codes = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        codes.push(match t.get(i) {
            None => u32::MAX,
            Some(b) => *map.entry(b).or_insert_with(|| {
                labels.push(String::from_utf8_lossy(b).into_owned());
                (labels.len() - 1) as u32
            }),
        });
    }
    (codes, labels)
}

/// Evaluates `rules` over a table of `n_rows` rows.
///
/// `account`: dense account index per row (uint32), or None when row i is account i.
/// `columns`: `[(name, unit, values, valid | None, per_account), ...]` where values are int64
/// (int, money:N), float64 (float), int32 (day), uint8 (bool) buffers; text is a text spec or
/// `(codes uint32, labels)` with `u32::MAX` for a missing value;
/// `valid` is an optional uint8 mask (0 = missing).
/// `events`: `(account uint32, day int32, kind uint32)` or None; kinds index `event_kinds`.
#[pyfunction]
#[pyo3(signature = (rules, n_rows, account, columns, events, event_kinds, as_of_day))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn rules_evaluate(
    py: Python<'_>,
    rules: Vec<String>,
    n_rows: usize,
    account: Option<Bound<'_, PyAny>>,
    columns: Vec<(String, String, Bound<'_, PyAny>, Option<Bound<'_, PyAny>>, bool)>,
    events: Option<(Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyAny>)>,
    event_kinds: Vec<String>,
    as_of_day: i32,
) -> PyResult<(Vec<Column>, Vec<Vec<Warning>>)> {
    let account = account.map(|a| NumView::<u32>::new(&a, "account")).transpose()?;
    let mut held = Vec::new();
    for (name, unit, values, valid, per_account) in &columns {
        let unit = parse_unit(unit)?;
        let values = match unit {
            Unit::Int | Unit::Money { .. } => Held::I64(NumView::new(values, name)?),
            Unit::Float | Unit::Percent | Unit::Ratio => Held::F64(NumView::new(values, name)?),
            Unit::Day => Held::I32(NumView::new(values, name)?),
            Unit::Bool => Held::U8(NumView::new(values, name)?),
            Unit::Text => match values.extract::<(Bound<'_, PyAny>, Vec<String>)>() {
                Ok((codes, labels)) => Held::Codes(NumView::new(&codes, name)?, labels),
                Err(_) => Held::Text(TextView::new(values, name)?),
            },
        };
        let valid = valid.as_ref().map(|v| NumView::<u8>::new(v, name)).transpose()?;
        held.push(HeldColumn { name: name.clone(), unit, values, valid, per_account: *per_account });
    }
    let events = match &events {
        Some((a, d, k)) => Some((NumView::<u32>::new(a, "event account")?, NumView::<i32>::new(d, "event day")?, NumView::<u32>::new(k, "event kind")?)),
        None => None,
    };
    // Plain slices from here on: safe to use without the GIL.
    let acc = account.as_ref().map(|a| a.as_slice());
    let texts: Vec<Option<TextSlice<'_>>> =
        held.iter().map(|h| if let Held::Text(t) = &h.values { Some(t.borrow()) } else { None }).collect();
    let ev = events.as_ref().map(|(a, d, k)| (a.as_slice(), d.as_slice(), k.as_slice()));
    let result = py.detach(|| {
        let encoded: Vec<Option<(Vec<u32>, Vec<String>)>> = texts.iter().map(|t| t.map(encode)).collect();
        let mut cols = Vec::with_capacity(held.len());
        for (h, enc) in held.iter().zip(&encoded) {
            let values = match (&h.values, enc) {
                (Held::I64(v), _) => Values::I64(v.as_slice()),
                (Held::I32(v), _) => Values::I32(v.as_slice()),
                (Held::F64(v), _) => Values::F64(v.as_slice()),
                (Held::U8(v), _) => Values::U8 { values: v.as_slice(), null: None },
                (Held::Text(_), Some((codes, labels))) => Values::Codes32 { codes, labels },
                (Held::Codes(codes, labels), _) => Values::Codes32 { codes: codes.as_slice(), labels },
                (Held::Text(_), None) => unreachable!(),
            };
            cols.push(MetricColumn {
                name: h.name.clone(),
                unit: h.unit,
                values,
                valid: h.valid.as_ref().map(|v| v.as_slice()),
                per_account: h.per_account,
            });
        }
        let table = Table { n_rows, account: acc, columns: cols };
        let log = ev.map(|(account, day, kind)| EventLog { events: Events { account, day, kind }, kinds: &event_kinds });
        if let Err(e) = table.validate() {
            return Err(PyValueError::new_err(e));
        }
        let schema = table.schema(Some(log.as_ref().unwrap_or(&EventLog { events: Events::default(), kinds: &event_kinds })));
        let compiled = rules
            .iter()
            .enumerate()
            .map(|(i, r)| core_rules::compile(r, &schema).map_err(|e| rule_error(i, &e)))
            .collect::<PyResult<Vec<_>>>()?;
        let matches = core_rules::evaluate(&compiled, &table, log.as_ref(), as_of_day).map_err(PyValueError::new_err)?;
        let warns = compiled.iter().map(warnings).collect::<Vec<_>>();
        Ok((matches, warns))
    });
    let (matches, warns) = result?;
    Ok((matches.into_iter().map(|m| Column::from(m.to_bytes())).collect(), warns))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RuleError", m.py().get_type::<RuleError>())?;
    m.add_function(wrap_pyfunction!(rules_parse, m)?)?;
    m.add_function(wrap_pyfunction!(rules_check, m)?)?;
    m.add_function(wrap_pyfunction!(rules_read_events, m)?)?;
    m.add_function(wrap_pyfunction!(rules_evaluate, m)?)?;
    Ok(())
}
