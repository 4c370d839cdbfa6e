//! Bulk reads of the store for scoring and writes of snapshots.
//!
//! - [`read`]: the scoring inputs as owned column vectors ([`StoreInputs`]), read straight out of
//!   SQLite, and the [`Stamp`] that identifies the data they were read from.
//! - [`sidecar`]: a columnar cache file beside the store (`<store>.cols`), stamped with the
//!   store's identity, `meta.data_version`, row counts, max ids and a sample of row contents;
//!   checksummed, written atomically, rebuilt whenever the stamp differs.
//! - [`load`]: [`load_inputs`], the one entry point a scoring run uses: sidecar when it is
//!   fresh, SQLite (and a new sidecar) when it is not.
//! - [`snapshot`]: [`write_snapshot`], one short transaction that replaces the snapshot with the
//!   same (as-of, mode, configuration) by the new one.
//! - [`run`]: [`score_store`], a scoring run from store to snapshot(s).
//! - [`frame`]: fixed SQL queries read into typed columns (nullable, arrow layout) without a
//!   per-row object on the far side, for the listings and the TUI.

pub mod frame;
pub mod load;
pub mod read;
pub mod run;
pub mod sidecar;
pub mod snapshot;

pub use frame::{read_columns, ColData, ColKind, FrameColumn};
pub use load::{load_inputs, CacheOutcome, LoadOptions, LoadReport};
pub use read::{read_stamp, read_store, Stamp, StoreInputs, TableStamp};
pub use run::{score_store, DayReport, RunError, RunOptions, RunReport};
pub use sidecar::sidecar_path;
pub use snapshot::{write_snapshot, write_snapshot_to, SnapshotMeta, WrittenSnapshot};
/// A bound parameter of a listing query (re-exported so the binding needs no SQLite crate).
pub use rusqlite::types::Value as SqlValue;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// What went wrong reading or writing the store.
#[derive(Debug)]
pub enum StoreIoError {
    /// SQLite refused a statement; `context` says which step.
    Sqlite { context: String, source: rusqlite::Error },
    /// A file (the store, the sidecar) could not be read or written.
    Io { path: PathBuf, source: std::io::Error },
    /// The store's content breaks an invariant the scoring path relies on (names table, row
    /// and column), or a result handed to the writer is inconsistent.
    Data(String),
    /// A snapshot or store asked for does not exist.
    NotFound(String),
    /// Another process holds the write lock for longer than the busy timeout.
    Busy(String),
}

impl fmt::Display for StoreIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreIoError::Sqlite { context, source } => write!(f, "{context}: {source}"),
            StoreIoError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            StoreIoError::Data(m) | StoreIoError::NotFound(m) | StoreIoError::Busy(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StoreIoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreIoError::Sqlite { source, .. } => Some(source),
            StoreIoError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreIoError>;

/// Attach a context to a rusqlite result; a busy/locked store becomes [`StoreIoError::Busy`].
pub(crate) trait SqlContext<T> {
    fn ctx(self, context: &str) -> Result<T>;
}

impl<T> SqlContext<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, context: &str) -> Result<T> {
        self.map_err(|e| {
            if let rusqlite::Error::SqliteFailure(code, _) = &e {
                if matches!(code.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) {
                    return StoreIoError::Busy(format!(
                        "{context}: the store is busy (another segtui process is writing); try again when it finishes"
                    ));
                }
            }
            StoreIoError::Sqlite { context: context.to_string(), source: e }
        })
    }
}

/// Busy timeout for every connection the core opens (the same as the Python side).
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Open an existing store for reading and writing, with the pragmas the Python side uses
/// (WAL, foreign keys on, synchronous NORMAL, busy timeout). Never creates a store.
pub fn open_rw(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(StoreIoError::NotFound(format!("no store at {}", path.display())));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .ctx(&format!("opening {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT).ctx("setting the busy timeout")?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
    )
    .ctx("configuring the store connection")?;
    check_schema(&conn, path)?;
    Ok(conn)
}

/// Open an existing store read-only (listings, the TUI's frames).
pub fn open_ro(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(StoreIoError::NotFound(format!("no store at {}", path.display())));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .ctx(&format!("opening {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT).ctx("setting the busy timeout")?;
    check_schema(&conn, path)?;
    Ok(conn)
}

fn check_schema(conn: &Connection, path: &Path) -> Result<()> {
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx("reading the schema version")?;
    let latest = crate::schema::latest_version();
    if v == 0 {
        return Err(StoreIoError::Data(format!(
            "{} is not a segtui store (no schema): open it with segtui first",
            path.display()
        )));
    }
    if v > latest {
        return Err(StoreIoError::Data(format!(
            "{} was written by a newer segtui (schema v{v}; this one knows up to v{latest})",
            path.display()
        )));
    }
    if v < latest {
        return Err(StoreIoError::Data(format!(
            "{} needs a schema upgrade (v{v} -> v{latest}): open it once with segtui",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests;
