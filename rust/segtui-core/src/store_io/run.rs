//! A scoring run from store to snapshot: load the inputs once (column cache or SQLite), score
//! each requested as-of day with the engine, write each result as a snapshot.
//!
//! While the first day is scored, a rebuilt column cache is written on a second thread, so a
//! cold run pays for the SQLite read but not also for the cache write.

use std::path::Path;
use std::time::Instant;

use super::load::{load_inputs, write_pending_cache, LoadOptions, LoadReport};
use super::read::StoreInputs;
use super::snapshot::{begin_snapshot, finish_snapshot, SnapshotMeta, WrittenSnapshot};
use super::{open_ro, open_rw, StoreIoError};
use crate::engine::{score, ConfigError, EngineError, Mode, ScoreConfig};

const WRITER_STOPPED: &str = "the snapshot writer stopped";

/// What to score.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// As-of days to score (days since 1970-01-01; scored in ascending order, duplicates once);
    /// empty = the day of the latest line item. Several days are scored as a series from one
    /// preparation of the rows (`history::series`).
    pub as_of_days: Vec<i32>,
    /// The scoring configuration as JSON (a partial `[scoring]` table is completed with the
    /// defaults by the engine).
    pub config_json: String,
    /// Fingerprint of the configuration (same as-of + mode + fingerprint = replaced).
    pub config_fp: String,
    /// Creation time of the run, ISO 8601 UTC.
    pub created_at: String,
    /// Use the column cache (see [`super::sidecar`]).
    pub cache: bool,
    /// Series label recorded on each snapshot (`--every`), if any.
    pub series: Option<String>,
}

/// One scored and written day.
#[derive(Clone, Debug)]
pub struct DayReport {
    pub written: WrittenSnapshot,
    pub seconds_score: f64,
    pub seconds_write: f64,
}

/// What a run did and what it cost.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub days: Vec<DayReport>,
    pub load: LoadReport,
    pub mode: String,
    pub data_version: i64,
    /// Rows loaded: line items, costs, events, accounts (dense index range).
    pub rows: (usize, usize, usize, usize),
    pub seconds_load: f64,
    pub seconds_total: f64,
}

/// Why a run failed.
#[derive(Debug)]
pub enum RunError {
    Store(StoreIoError),
    Config(ConfigError),
    Engine(EngineError),
    /// Nothing to score (no line items and no as-of date given).
    NoData(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Store(e) => e.fmt(f),
            RunError::Config(e) => write!(f, "scoring configuration: {e}"),
            RunError::Engine(e) => write!(f, "scoring: {e}"),
            RunError::NoData(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

impl From<EngineError> for RunError {
    fn from(e: EngineError) -> Self {
        RunError::Engine(e)
    }
}

impl From<StoreIoError> for RunError {
    fn from(e: StoreIoError) -> Self {
        RunError::Store(e)
    }
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01, proleptic Gregorian calendar).
pub fn iso_date(day: i32) -> String {
    // civil-from-days (H. Hinnant's algorithm)
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The mode's name as stored in `snapshots.mode`.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Transactions => "transactions",
        Mode::Saas => "saas",
    }
}

/// Score the store at `db` for each requested day and write the snapshots. `progress` gets a
/// short plain line at each stage (for stderr).
pub fn score_store(db: &Path, opts: &RunOptions, progress: &(dyn Fn(&str) + Sync)) -> Result<RunReport, RunError> {
    let t0 = Instant::now();
    let config = ScoreConfig::from_json(if opts.config_json.trim().is_empty() { "{}" } else { &opts.config_json })
        .map_err(RunError::Config)?;
    let canonical = config.to_canonical_json();
    if opts.config_fp.is_empty() {
        return Err(RunError::Config(ConfigError::new("", "the configuration fingerprint is missing")));
    }
    progress("reading the store");
    let load_opts = LoadOptions { cache: opts.cache, cache_path: None, write_now: false };
    let (inputs, mut load) = load_inputs(db, &load_opts)?;
    let seconds_load = t0.elapsed().as_secs_f64();
    let (li, co, ev, ac) = inputs.row_counts();
    progress(&format!(
        "read {li} line items, {co} costs, {ev} events, {ac} accounts in {seconds_load:.2} s ({})",
        match &load.cache {
            super::CacheOutcome::Hit => "column cache".to_string(),
            super::CacheOutcome::Appended { rows } => format!("column cache + {rows} new rows"),
            super::CacheOutcome::Rebuilt { reason } => format!("from SQLite: {reason}"),
            super::CacheOutcome::Off => "from SQLite, cache off".to_string(),
        }
    ));
    let mut days: Vec<i32> = if opts.as_of_days.is_empty() {
        match inputs.latest_line_day() {
            Some(d) => vec![d],
            None => {
                return Err(RunError::NoData(
                    "the store has no line items: import some first (or give --as-of)".into(),
                ))
            }
        }
    } else {
        opts.as_of_days.clone()
    };
    days.sort_unstable();
    days.dedup();
    let mode = mode_name(config.mode).to_string();

    // The writer thread owns the write connection. For each day, in order, it begins the
    // snapshot's transaction (deleting the snapshot that day's result replaces) *before* the
    // result exists, so that delete overlaps scoring; then it inserts the result the scoring
    // side hands over, commits and packs. In a series it writes day k while day k+1 is scored.
    // The hand-over is a rendezvous channel: at most one finished result waits for the writer.
    let (hand_over, results) = std::sync::mpsc::sync_channel::<(crate::engine::ScoreResult, f64)>(0);
    let writer = |results: std::sync::mpsc::Receiver<(crate::engine::ScoreResult, f64)>| -> Result<Vec<DayReport>, RunError> {
        let mut conn = open_rw(db)?;
        let mut reports: Vec<DayReport> = Vec::with_capacity(days.len());
        // time of the previous commit (the run's start for the first day)
        let mut since = t0;
        for &day in &days {
            let pending = begin_snapshot(&mut conn, day, &mode, &opts.config_fp)?;
            let Ok((result, seconds_score)) = results.recv() else {
                // the scoring side stopped (its error is the run's): roll this day back
                return Ok(reports);
            };
            let t2 = Instant::now();
            let meta = SnapshotMeta {
                mode: mode.clone(),
                config_fp: opts.config_fp.clone(),
                config_json: canonical.clone(),
                data_version: inputs.stamp.data_version,
                created_at: opts.created_at.clone(),
                seconds_before_write: (t2 - since).as_secs_f64(),
                series: opts.series.clone(),
            };
            let written = finish_snapshot(pending, &result, &meta)?;
            since = Instant::now();
            // the columns history reads, packed from the result (a failure only slows history reads)
            let _ = crate::history::packed::pack_result(&conn, written.id, &meta.created_at, &result);
            drop(result);
            reports.push(DayReport { written, seconds_score, seconds_write: t2.elapsed().as_secs_f64() });
        }
        Ok(reports)
    };
    // The scoring side: each result goes to the writer as soon as it is computed.
    let mut tick = Instant::now();
    // (it owns the sending end: when run_all drops it, the writer learns no more results come)
    let each = move |result: crate::engine::ScoreResult| -> Result<(), RunError> {
        let seconds_score = tick.elapsed().as_secs_f64();
        progress(&format!(
            "scored {} accounts as of {} in {seconds_score:.2} s; writing the snapshot",
            result.scores.account.len(),
            iso_date(result.as_of_day)
        ));
        hand_over.send((result, seconds_score)).map_err(|_| RunError::NoData(WRITER_STOPPED.into()))?;
        tick = Instant::now();
        Ok(())
    };
    let run_all = |mut each: Box<dyn FnMut(crate::engine::ScoreResult) -> Result<(), RunError> + '_>| -> Result<(), RunError> {
        if days.len() == 1 {
            each(score(&inputs.inputs(), days[0], &config).map_err(RunError::Engine)?)
        } else {
            crate::history::series::score_series_each(&inputs.inputs(), &days, &config, each)
        }
    };
    let mut l = load.clone();
    let pending_cache = load.pending_cache.is_some();
    let (scored, written) = std::thread::scope(|s| {
        let writer = s.spawn(move || writer(results));
        // a rebuilt column cache is written meanwhile on another thread
        let cache_writer = pending_cache.then(|| s.spawn(|| write_pending_cache(&inputs, &mut l)));
        let scored = run_all(Box::new(each));
        let written = writer.join().expect("the snapshot writer does not panic");
        if let Some(w) = cache_writer {
            w.join().expect("the cache writer does not panic");
        }
        (scored, written)
    });
    if pending_cache {
        load = l;
    }
    let reports = match (scored, written) {
        // the writer failed: its error, not the hand-over's
        (_, Err(e)) => return Err(e),
        (Err(e), Ok(_)) => return Err(name_account(db, e)),
        (Ok(()), Ok(reports)) => reports,
    };
    Ok(RunReport {
        days: reports,
        load,
        mode,
        data_version: inputs.stamp.data_version,
        rows: (li, co, ev, ac),
        seconds_load,
        seconds_total: t0.elapsed().as_secs_f64(),
    })
}

/// An engine error about one account names it by its dense index; the store knows its key,
/// which is what the user's files say: "account index 41" becomes
/// `account "ACME-042" (accounts.id 42)`.
fn name_account(db: &Path, e: RunError) -> RunError {
    let RunError::Engine(mut err) = e else { return e };
    let Some(a) = err.account else { return RunError::Engine(err) };
    let key: Option<String> = open_ro(db).ok().and_then(|c| {
        c.query_row("SELECT account_key FROM accounts WHERE id = ?1", [a as i64 + 1], |r| r.get(0)).ok()
    });
    if let Some(key) = key {
        err.message = err.message.replacen(&format!("account index {a}"), &format!("account {key:?} (accounts.id {})", a + 1), 1);
    }
    RunError::Engine(err)
}

/// Score already loaded inputs for one day without writing (for benchmarks and tests).
pub fn score_loaded(inputs: &StoreInputs, as_of_day: i32, config_json: &str) -> Result<crate::engine::ScoreResult, RunError> {
    let config = ScoreConfig::from_json(config_json).map_err(RunError::Config)?;
    score(&inputs.inputs(), as_of_day, &config).map_err(RunError::Engine)
}

#[cfg(test)]
mod tests {
    use super::iso_date;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(20269), "2025-06-30");
        assert_eq!(iso_date(-1), "1969-12-31");
        assert_eq!(iso_date(11016), "2000-02-29");
    }
}
