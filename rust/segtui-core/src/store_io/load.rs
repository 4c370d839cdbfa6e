//! [`load_inputs`]: the scoring inputs of a store, from the column cache when it is fresh.
//!
//! Inside one read transaction the store's [`Stamp`] is read; if `<store>.cols` carries the same
//! stamp (and every checksum holds) the columns come from it. If the store only grew since the
//! cache was built (imports append line items, costs and events; see
//! [`read_appended`] for the checks), the cache is used and only the rows added since are read,
//! with the accounts. Otherwise everything is read from SQLite in that same transaction. Either
//! way a new cache is written (temporary file + rename). A damaged cache is never used.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::read::{ensure_store_id, in_read_txn, read_appended, read_rows, read_stamp, Stamp, StoreInputs};
use super::sidecar::{
    read_sidecar, read_sidecar_any, remove_stale_temporaries, sidecar_path, write_sidecar, SidecarRead,
};
use super::{open_ro, open_rw, Result, StoreIoError};

/// How [`load_inputs`] uses the column cache.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Use (and maintain) the cache. Off: always read SQLite, leave any cache alone.
    pub cache: bool,
    /// Where the cache lives (default: [`sidecar_path`] of the store).
    pub cache_path: Option<PathBuf>,
    /// Write a rebuilt cache before returning. Off: the caller writes it (for instance while
    /// the kernel runs) with [`write_pending_cache`].
    pub write_now: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { cache: true, cache_path: None, write_now: true }
    }
}

/// What happened to the cache.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheOutcome {
    /// The cache was fresh and used.
    Hit,
    /// The store only grew since the cache was built: the cache was used and the `rows` added
    /// since were read from SQLite (a new cache is written).
    Appended { rows: usize },
    /// The cache could not be used (`reason`); the inputs were read from SQLite.
    Rebuilt { reason: String },
    /// Caching is off.
    Off,
}

/// Where the inputs came from and what it cost.
#[derive(Clone, Debug)]
pub struct LoadReport {
    pub cache: CacheOutcome,
    /// The cache file (even when it was not used).
    pub cache_path: Option<PathBuf>,
    /// A rebuilt cache still to be written ([`write_pending_cache`]).
    pub pending_cache: Option<PathBuf>,
    /// Bytes of the cache written, when it was.
    pub cache_bytes: Option<u64>,
    /// Why writing the cache failed (the load itself still succeeded).
    pub cache_error: Option<String>,
    pub seconds_stamp: f64,
    pub seconds_read: f64,
    pub seconds_cache_write: f64,
}

/// Load every scoring input of the store at `db`.
pub fn load_inputs(db: &Path, opts: &LoadOptions) -> Result<(StoreInputs, LoadReport)> {
    let t0 = Instant::now();
    // a read-write connection creates the store's identity once; a read-only store still loads
    let conn = match open_rw(db) {
        Ok(c) => c,
        Err(StoreIoError::Sqlite { .. }) => open_ro(db)?,
        Err(e) => return Err(e),
    };
    let store_id = ensure_store_id(&conn)?;
    let cache_path = opts.cache.then(|| opts.cache_path.clone().unwrap_or_else(|| sidecar_path(db)));
    let mut report = LoadReport {
        cache: CacheOutcome::Off,
        cache_path: cache_path.clone(),
        pending_cache: None,
        cache_bytes: None,
        cache_error: None,
        seconds_stamp: 0.0,
        seconds_read: 0.0,
        seconds_cache_write: 0.0,
    };
    let inputs = in_read_txn(&conn, |c| {
        let stamp = read_stamp(c, &store_id)?;
        report.seconds_stamp = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        if let Some(path) = &cache_path {
            match read_sidecar(path, &stamp.to_text())? {
                SidecarRead::Fresh(mut s) => {
                    s.stamp = stamp;
                    report.cache = CacheOutcome::Hit;
                    report.seconds_read = t1.elapsed().as_secs_f64();
                    return Ok(s);
                }
                SidecarRead::Stale(reason) => {
                    report.pending_cache = Some(path.clone());
                    if let Some((old_text, old)) = read_sidecar_any(path) {
                        if let Some(old_stamp) = Stamp::parse(&old_text) {
                            if let Some((s, rows)) = read_appended(c, &old_stamp, old, stamp.clone())? {
                                report.cache = CacheOutcome::Appended { rows };
                                report.seconds_read = t1.elapsed().as_secs_f64();
                                return Ok(s);
                            }
                        }
                    }
                    report.cache = CacheOutcome::Rebuilt { reason };
                }
                SidecarRead::Unusable(reason) => {
                    report.cache = CacheOutcome::Rebuilt { reason };
                    report.pending_cache = Some(path.clone());
                }
            }
        }
        let s = read_rows(c, stamp)?;
        report.seconds_read = t1.elapsed().as_secs_f64();
        Ok(s)
    })?;
    drop(conn);
    if opts.write_now {
        write_pending_cache(&inputs, &mut report);
    }
    Ok((inputs, report))
}

/// Write the cache a [`load_inputs`] call rebuilt (no-op when none is pending). A failure is
/// recorded in the report, not raised: the cache is an accelerator, never a requirement.
pub fn write_pending_cache(inputs: &StoreInputs, report: &mut LoadReport) {
    let Some(path) = report.pending_cache.take() else { return };
    let t = Instant::now();
    remove_stale_temporaries(&path);
    match write_sidecar(&path, inputs) {
        Ok(bytes) => report.cache_bytes = Some(bytes),
        Err(e) => report.cache_error = Some(e.to_string()),
    }
    report.seconds_cache_write = t.elapsed().as_secs_f64();
}
