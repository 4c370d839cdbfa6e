//! The importer's binding: `Importer` (one file, one transaction) and the CSV structural pass.
//!
//! Text columns arrive as `TextSpec` tuples (pyarrow `large_string` buffers, see `columns.rs`);
//! each batch is parsed and inserted with the GIL released.

use crate::columns::{TextSlice, TextView};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use segtui_core::dates::DateFormat;
use segtui_core::import::csvscan::{self, Dialect, ScanError};
use segtui_core::import::{stats_json, ImportError, Importer as Core, Kind, Opened, TextCol};
use segtui_core::money::Dec;
use std::path::PathBuf;
use std::sync::Mutex;

create_exception!(
    _core,
    ImportStoreError,
    PyException,
    "The store cannot be used (busy, schema, I/O)."
);
create_exception!(
    _core,
    ImportUsageError,
    PyException,
    "Options or columns do not fit the file."
);
create_exception!(
    _core,
    ImportDataError,
    PyException,
    "The file cannot be imported as a whole."
);

fn to_py(e: ImportError) -> PyErr {
    match e {
        ImportError::Store(m) => ImportStoreError::new_err(m),
        ImportError::Usage(m) => ImportUsageError::new_err(m),
        ImportError::Data(m) => ImportDataError::new_err(m),
    }
}

fn scan_err(path: &std::path::Path, e: ScanError) -> PyErr {
    match e {
        ScanError::Io(e) => ImportStoreError::new_err(format!("{}: {e}", path.display())),
        ScanError::Structure(m) => ImportDataError::new_err(format!("{}: {m}", path.display())),
    }
}

struct SliceCol<'a>(TextSlice<'a>);

impl TextCol for SliceCol<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: usize) -> Option<&[u8]> {
        self.0.get(i)
    }
}

/// One import in progress: `Importer(db_path, kind, file, fingerprint, options_json)`.
#[pyclass(module = "segtui._core", name = "Importer")]
pub struct PyImporter {
    inner: Mutex<Option<Box<Core>>>,
    previous: Option<(i64, Option<String>, Option<String>)>,
}

impl PyImporter {
    fn with<R>(&self, f: impl FnOnce(&mut Core) -> Result<R, ImportError>) -> PyResult<R> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("importer lock poisoned"))?;
        let imp = g
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("this import is finished"))?;
        f(imp).map_err(to_py)
    }
}

#[pymethods]
impl PyImporter {
    #[new]
    fn new(
        py: Python<'_>,
        db_path: PathBuf,
        kind: &str,
        file: &str,
        fingerprint: &str,
        options_json: &str,
    ) -> PyResult<Self> {
        let k = Kind::parse(kind).ok_or_else(|| {
            ImportUsageError::new_err(format!(
                "unknown kind {kind:?}: line-items, costs, events or accounts"
            ))
        })?;
        let opened = py
            .detach(|| Core::open(&db_path, k, file, fingerprint, options_json))
            .map_err(to_py)?;
        Ok(match opened {
            Opened::Ready(imp) => PyImporter {
                inner: Mutex::new(Some(imp)),
                previous: None,
            },
            Opened::AlreadyImported(p) => PyImporter {
                inner: Mutex::new(None),
                previous: Some((p.import_id, p.finished_at, p.summary)),
            },
        })
    }

    /// `(import_id, finished_at, summary_json)` of an earlier import of the same file and options,
    /// else None (then this importer is ready).
    #[getter]
    fn already_imported(&self) -> Option<(i64, Option<String>, Option<String>)> {
        self.previous.clone()
    }

    #[getter]
    fn import_id(&self) -> PyResult<i64> {
        self.with(|i| Ok(i.import_id()))
    }

    /// Announce the number of rows coming (enables deferred index builds for big imports);
    /// returns True when secondary indexes were deferred.
    fn expect_rows(&self, py: Python<'_>, n: u64) -> PyResult<bool> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("importer lock poisoned"))?;
        let imp = g
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("this import is finished"))?;
        py.detach(|| imp.expect_rows(n)).map_err(to_py)
    }

    /// Rebuild deferred indexes now (commit does it too); lets the summary include the time.
    fn rebuild_indexes(&self, py: Python<'_>) -> PyResult<()> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("importer lock poisoned"))?;
        let imp = g
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("this import is finished"))?;
        py.detach(|| imp.rebuild_indexes()).map_err(to_py)
    }

    /// Rows found unreadable before reading (`(row, reason, message, raw_text)`) and blank rows.
    fn add_bad_records(
        &self,
        py: Python<'_>,
        bad: Vec<(u64, String, String, String, Option<String>)>,
        blank: Vec<u64>,
    ) -> PyResult<()> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("importer lock poisoned"))?;
        let imp = g
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("this import is finished"))?;
        py.detach(|| imp.add_bad_records(&bad, &blank))
            .map_err(to_py)
    }

    /// Import one batch: `columns` maps every source column name to a TextSpec; `first_row` is
    /// the number of rows given in earlier batches.
    fn add_batch(
        &self,
        py: Python<'_>,
        columns: &Bound<'_, PyDict>,
        first_row: u64,
    ) -> PyResult<()> {
        let mut names = Vec::with_capacity(columns.len());
        let mut views = Vec::with_capacity(columns.len());
        for (k, v) in columns.iter() {
            let name: String = k.extract()?;
            views.push(TextView::new(&v, &name)?);
            names.push(name);
        }
        let slices: Vec<SliceCol<'_>> = views.iter().map(|v| SliceCol(v.borrow())).collect();
        let cols: Vec<(&str, &dyn TextCol)> = names
            .iter()
            .zip(slices.iter())
            .map(|(n, s)| (n.as_str(), s as &dyn TextCol))
            .collect();
        let mut g = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("importer lock poisoned"))?;
        let imp = g
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("this import is finished"))?;
        py.detach(|| imp.add_batch(&cols, first_row)).map_err(to_py)
    }

    /// `meta.data_version` as this import's transaction sees it (before commit).
    #[getter]
    fn data_version(&self) -> PyResult<i64> {
        self.with(|i| i.data_version())
    }

    /// Counts so far, as JSON (see `docs/import.md`).
    fn stats_json(&self) -> PyResult<String> {
        self.with(|i| Ok(stats_json(i.stats(), i.money_scale(), i.currency()).to_string()))
    }

    /// Record the summary, bump the data version if anything changed, commit; returns the data version.
    fn commit(&self, py: Python<'_>, summary_json: &str) -> PyResult<i64> {
        let imp = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("importer lock poisoned"))?
            .take()
            .ok_or_else(|| PyValueError::new_err("this import is finished"))?;
        py.detach(|| imp.commit(summary_json)).map_err(to_py)
    }

    /// Abandon the import; the store is left as it was. Safe to call twice.
    fn rollback(&self, py: Python<'_>) -> PyResult<()> {
        let imp = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("importer lock poisoned"))?
            .take();
        if let Some(imp) = imp {
            py.detach(|| imp.rollback()).map_err(to_py)?;
        }
        Ok(())
    }
}

fn dialect(delimiter: &str, quote: &str) -> PyResult<Dialect> {
    let one = |s: &str, what: &str| -> PyResult<u8> {
        match s.as_bytes() {
            [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
            _ => Err(ImportUsageError::new_err(format!(
                "{what} must be one ASCII character, not {s:?}"
            ))),
        }
    };
    let d = Dialect {
        delimiter: one(delimiter, "the delimiter")?,
        quote: one(quote, "the quote character")?,
    };
    if d.delimiter == d.quote {
        return Err(ImportUsageError::new_err(
            "the delimiter and the quote character must differ",
        ));
    }
    Ok(d)
}

type Chunks = Vec<(u64, u64, u64)>;
type ScanOut = (
    String,
    u64,
    Vec<String>,
    u64,
    Vec<(u64, String, String, String, Option<String>)>,
    Vec<u64>,
    Chunks,
);

fn scan_out(s: csvscan::Scan) -> ScanOut {
    let bad = s
        .bad
        .into_iter()
        .map(|b| (b.row, b.reason.to_string(), b.message, b.raw, b.column))
        .collect();
    (s.sha256, s.bytes, s.header, s.records, bad, s.blank, s.chunks)
}

/// Structural pass over a CSV file: `(sha256, bytes, header, records, bad, blank, chunks)`;
/// `chunks` are `(start, end, rows)` byte ranges of at most `chunk_rows` records.
#[pyfunction]
#[pyo3(signature = (path, delimiter = ",", quote = "\"", chunk_rows = 200_000))]
fn scan_csv(
    py: Python<'_>,
    path: PathBuf,
    delimiter: &str,
    quote: &str,
    chunk_rows: u64,
) -> PyResult<ScanOut> {
    let d = dialect(delimiter, quote)?;
    let s = py
        .detach(|| csvscan::scan(&path, d, chunk_rows))
        .map_err(|e| scan_err(&path, e))?;
    Ok(scan_out(s))
}

/// Copy a CSV file without the given data rows (sorted): `(rows written, chunks of the copy)`.
#[pyfunction]
#[pyo3(signature = (src, dst, drop, delimiter = ",", quote = "\"", chunk_rows = 200_000))]
fn write_clean_csv(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    drop: Vec<u64>,
    delimiter: &str,
    quote: &str,
    chunk_rows: u64,
) -> PyResult<(u64, Chunks)> {
    let d = dialect(delimiter, quote)?;
    py.detach(|| csvscan::write_clean(&src, &dst, d, &drop, chunk_rows))
        .map_err(|e| scan_err(&src, e))
}

/// Structural pass over a JSON lines file: `(sha256, bytes, keys, records, bad, blank, chunks)`.
#[pyfunction]
#[pyo3(signature = (path, chunk_rows = 200_000))]
fn scan_ndjson(py: Python<'_>, path: PathBuf, chunk_rows: u64) -> PyResult<ScanOut> {
    let s = py
        .detach(|| csvscan::scan_ndjson(&path, chunk_rows))
        .map_err(|e| scan_err(&path, e))?;
    Ok(scan_out(s))
}

/// Copy a JSON lines file without the given lines (sorted): `(lines written, chunks of the copy)`.
#[pyfunction]
#[pyo3(signature = (src, dst, drop, chunk_rows = 200_000))]
fn write_clean_lines(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    drop: Vec<u64>,
    chunk_rows: u64,
) -> PyResult<(u64, Chunks)> {
    py.detach(|| csvscan::write_clean_lines(&src, &dst, &drop, chunk_rows))
        .map_err(|e| scan_err(&src, e))
}

/// Parse one date: `(day, ts)` (days since 1970-01-01, Unix seconds); `fmt` as `--date-format`.
#[pyfunction]
#[pyo3(signature = (text, fmt = None))]
fn parse_date(text: &str, fmt: Option<&str>) -> PyResult<(i32, i64)> {
    let f = DateFormat::parse(fmt.unwrap_or("")).map_err(ImportUsageError::new_err)?;
    let st = f
        .parse_value(text)
        .map_err(|e| PyValueError::new_err(format!("{}: {}", e.code, e.message)))?;
    Ok((st.day, st.ts))
}

/// Check a `--date-format`; returns it normalised (`auto`, `epoch`, `epoch_ms` or the pattern).
#[pyfunction]
fn check_date_format(fmt: &str) -> PyResult<String> {
    Ok(
        match DateFormat::parse(fmt).map_err(ImportUsageError::new_err)? {
            DateFormat::Auto => "auto".into(),
            DateFormat::Epoch => "epoch".into(),
            DateFormat::EpochMs => "epoch_ms".into(),
            DateFormat::Pattern { spec, .. } => spec,
        },
    )
}

/// Exact money: decimal text to integer minor units with `digits` decimals (`round=True`:
/// half to even, else the text must fit exactly).
#[pyfunction]
#[pyo3(signature = (text, digits = 2, round = false))]
fn parse_money(text: &str, digits: u32, round: bool) -> PyResult<i64> {
    let d = Dec::parse(text).map_err(|e| PyValueError::new_err(e.0))?;
    let r = if round {
        d.to_minor_half_even(digits)
    } else {
        d.to_minor_exact(digits)
    };
    r.map_err(|e| PyValueError::new_err(e.0))
}

/// The stable 64-bit key of an invoice's text (0 for none).
#[pyfunction]
#[pyo3(signature = (invoice))]
fn invoice_key(invoice: Option<&str>) -> i64 {
    segtui_core::keys::invoice_key(invoice)
}

/// SHA-256 of a file's bytes (hex).
#[pyfunction]
fn sha256_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| csvscan::sha256_file(&path))
        .map_err(|e| ImportStoreError::new_err(format!("{}: {e}", path.display())))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyImporter>()?;
    m.add_function(wrap_pyfunction!(scan_csv, m)?)?;
    m.add_function(wrap_pyfunction!(write_clean_csv, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_file, m)?)?;
    m.add_function(wrap_pyfunction!(scan_ndjson, m)?)?;
    m.add_function(wrap_pyfunction!(parse_date, m)?)?;
    m.add_function(wrap_pyfunction!(check_date_format, m)?)?;
    m.add_function(wrap_pyfunction!(parse_money, m)?)?;
    m.add_function(wrap_pyfunction!(invoice_key, m)?)?;
    m.add_function(wrap_pyfunction!(write_clean_lines, m)?)?;
    m.add("ImportStoreError", m.py().get_type::<ImportStoreError>())?;
    m.add("ImportUsageError", m.py().get_type::<ImportUsageError>())?;
    m.add("ImportDataError", m.py().get_type::<ImportDataError>())?;
    Ok(())
}
