//! Writing a scoring result as a snapshot.
//!
//! [`write_snapshot`] checks the result first (equal column lengths, codes within their label
//! lists, accounts in increasing order, allocated costs reconciling with the pools), decodes
//! every label once, then runs one `BEGIN IMMEDIATE` transaction that deletes the snapshot with
//! the same (as-of day, mode, configuration fingerprint) — if any — and inserts the new one:
//! the `snapshots` row, its `snapshot_pools` and one `snapshot_accounts` row per account,
//! through prepared statements. Re-running therefore replaces atomically, and a run killed
//! mid-write leaves the previous snapshot as it was (SQLite rolls the transaction back).
//!
//! The write can also be split in two ([`begin_snapshot`], then [`finish_snapshot`]): the
//! transaction is opened and the replaced snapshot deleted before the result exists, so a
//! scoring run deletes while the engine computes (`store_io::run`).
//!
//! Column conventions in `snapshot_accounts`: code columns hold their label text; `recency_days`
//! and the three scores are NULL for accounts without a purchase; `margin_pct` (a fraction) is
//! NULL when revenue <= 0; `tier` is NULL when the store has no events (code 0), `size_band`
//! when employees are unknown (code 0); any code whose label is the empty string is NULL;
//! `churn_reasons` is the comma-separated list of reason labels ('' when none);
//! `primary_segment` is left NULL for the custom-segment rules to fill.
//!
//! New snapshot ids are always larger than every existing id (a replacement never reuses the
//! id of the snapshot it replaces), so an id names one snapshot for good.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};

use super::{open_rw, Result, SqlContext, StoreIoError};
use crate::engine::{ScoreResult, NULL_I64};

/// What describes a snapshot besides its rows.
#[derive(Clone, Debug, Default)]
pub struct SnapshotMeta {
    /// `transactions` or `saas`.
    pub mode: String,
    /// Fingerprint of the scoring configuration (same as-of + mode + fingerprint = replaced).
    pub config_fp: String,
    /// The configuration as JSON.
    pub config_json: String,
    /// `meta.data_version` of the data the result was computed from.
    pub data_version: i64,
    /// When the run started, ISO 8601 UTC.
    pub created_at: String,
    /// Seconds the run spent before writing (load + score); the write's own time is added.
    pub seconds_before_write: f64,
    /// Series label when part of a `--every` series.
    pub series: Option<String>,
}

/// What [`write_snapshot`] wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WrittenSnapshot {
    pub id: i64,
    /// Ids of the snapshot(s) replaced (same as-of, mode and configuration).
    pub replaced: Vec<i64>,
    pub as_of_day: i32,
    pub accounts: i64,
    pub net_revenue: i64,
    pub pooled_cost: i64,
    pub allocated_cost: i64,
    pub unallocated_cost: i64,
    /// Total seconds recorded in `snapshots.seconds` (before-write time + write time).
    pub seconds: f64,
    /// Seconds spent writing (checks, decoding, the transaction).
    pub seconds_write: f64,
}

/// Page cache of the writing connection (negative = KiB), unless the caller set one.
/// 256 MB holds the dirty pages of a million-account snapshot. (No memory map: measured on a
/// 12-snapshot series of a million accounts, mapping the store cost a third more system time.)
const WRITE_CACHE_KIB: i64 = -262_144;

fn data(msg: String) -> StoreIoError {
    StoreIoError::Data(format!("scoring result: {msg}"))
}

/// One code column's labels as bind values (`None` = NULL).
struct Labels<'a> {
    name: &'static str,
    values: Vec<Option<&'a str>>,
}

impl<'a> Labels<'a> {
    fn new(name: &'static str, labels: &'a [String], null_code_zero: bool) -> Self {
        let values = labels
            .iter()
            .enumerate()
            .map(|(i, l)| if (null_code_zero && i == 0) || l.is_empty() { None } else { Some(l.as_str()) })
            .collect();
        Labels { name, values }
    }

    fn check(&self, codes: &[u8], required: bool) -> Result<()> {
        for (row, &c) in codes.iter().enumerate() {
            match self.values.get(c as usize) {
                None => {
                    return Err(data(format!(
                        "{} code {c} at row {row} has no label (there are {})",
                        self.name,
                        self.values.len()
                    )))
                }
                Some(None) if required => {
                    return Err(data(format!("{} code {c} at row {row} has an empty label", self.name)))
                }
                _ => {}
            }
        }
        Ok(())
    }

    #[inline]
    fn get(&self, code: u8) -> Option<&'a str> {
        self.values[code as usize]
    }
}

/// Check a result before anything is written; returns the number of accounts.
fn check(r: &ScoreResult) -> Result<usize> {
    let s = &r.scores;
    let n = s.account.len();
    let lens: [(&str, usize); 23] = [
        ("recency_days", s.recency_days.len()),
        ("frequency", s.frequency.len()),
        ("monetary", s.monetary.len()),
        ("r_score", s.r_score.len()),
        ("f_score", s.f_score.len()),
        ("m_score", s.m_score.len()),
        ("rfm_segment", s.rfm_segment.len()),
        ("rfm5_segment", s.rfm5_segment.len()),
        ("revenue", s.revenue.len()),
        ("direct_cost", s.direct_cost.len()),
        ("allocated_cost", s.allocated_cost.len()),
        ("margin", s.margin.len()),
        ("margin_pct", s.margin_pct.len()),
        ("quadrant", s.quadrant.len()),
        ("churn_risk", s.churn_risk.len()),
        ("churn_band", s.churn_band.len()),
        ("churn_reasons", s.churn_reasons.len()),
        ("health", s.health.len()),
        ("health_band", s.health_band.len()),
        ("lifecycle", s.lifecycle.len()),
        ("tier", s.tier.len()),
        ("size_band", s.size_band.len()),
        ("account", n),
    ];
    if let Some((name, len)) = lens.iter().find(|(_, l)| *l != n) {
        return Err(data(format!("column {name} has {len} rows, account has {n}")));
    }
    if let Some(w) = s.account.windows(2).position(|w| w[0] >= w[1]) {
        return Err(data(format!("accounts are not in increasing order at row {}", w + 1)));
    }
    for (name, col) in [("r_score", &s.r_score), ("f_score", &s.f_score), ("m_score", &s.m_score)] {
        if let Some(row) = col.iter().position(|&v| v > 5) {
            return Err(data(format!("{name} {} at row {row} is outside 0..=5", col[row])));
        }
    }
    let nreasons = r.churn_reason_labels.len();
    if nreasons < 32 {
        if let Some(row) = s.churn_reasons.iter().position(|&b| b >> nreasons != 0) {
            return Err(data(format!("churn_reasons at row {row} has a bit without a label")));
        }
    }
    // allocated cost reconciles with the pools, exactly
    let per_account: i128 = s.allocated_cost.iter().map(|&v| v as i128).sum();
    let pooled: i128 = r.pools.iter().map(|p| p.allocated as i128).sum();
    if per_account != pooled {
        return Err(data(format!(
            "allocated cost per account sums to {per_account}, the pools allocated {pooled}"
        )));
    }
    for p in &r.pools {
        if p.allocated as i128 + p.unallocated as i128 != p.pooled as i128 {
            return Err(data(format!(
                "pool {}: allocated {} + unallocated {} != pooled {}",
                p.category, p.allocated, p.unallocated, p.pooled
            )));
        }
    }
    Ok(n)
}

fn sum_i64(v: &[i64], what: &str) -> Result<i64> {
    let t: i128 = v.iter().map(|&x| x as i128).sum();
    i64::try_from(t).map_err(|_| data(format!("{what} total overflows 64 bits")))
}

/// Write `r` as a snapshot into the store at `db` (see the module documentation).
pub fn write_snapshot_to(db: &Path, r: &ScoreResult, meta: &SnapshotMeta) -> Result<WrittenSnapshot> {
    let mut conn = open_rw(db)?;
    write_snapshot(&mut conn, r, meta)
}

/// Write `r` as a snapshot on `conn` (see the module documentation).
pub fn write_snapshot(conn: &mut Connection, r: &ScoreResult, meta: &SnapshotMeta) -> Result<WrittenSnapshot> {
    let t0 = Instant::now();
    let decoded = Decoded::new(r, meta)?;
    let pending = begin_snapshot(conn, r.as_of_day, &meta.mode, &meta.config_fp)?;
    finish_decoded(pending, r, meta, &decoded, t0)
}

/// A snapshot write in progress: the `BEGIN IMMEDIATE` transaction is open and the snapshot it
/// replaces (same as-of day, mode and configuration) is already deleted in it. Finish it with
/// [`finish_snapshot`]; dropped unfinished, it rolls back and the store is as it was.
///
/// Splitting the write lets a run delete the replaced snapshot (half a second at a million
/// accounts) while the engine is still computing the new one.
pub struct PendingSnapshot<'c> {
    conn: &'c mut Connection,
    open: bool,
    fk_was_on: bool,
    as_of_day: i32,
    mode: String,
    config_fp: String,
    replaced: Vec<i64>,
    /// Largest `accounts.id` when the transaction began.
    max_account_id: i64,
    /// Seconds spent beginning (finding and deleting the replaced snapshot).
    seconds_begin: f64,
}

impl PendingSnapshot<'_> {
    /// Ids of the snapshots this write replaces.
    pub fn replaced(&self) -> &[i64] {
        &self.replaced
    }

    fn end(&mut self, sql: &str) -> Result<()> {
        if self.open {
            self.open = false;
            self.conn.execute_batch(sql).ctx("ending the snapshot transaction")?;
        }
        Ok(())
    }
}

impl Drop for PendingSnapshot<'_> {
    fn drop(&mut self) {
        let _ = self.end("ROLLBACK");
        if self.fk_was_on {
            let _ = self.conn.execute_batch("PRAGMA foreign_keys = ON");
        }
    }
}

/// Start writing the snapshot of (`as_of_day`, `mode`, `config_fp`): open the write
/// transaction and delete the snapshot with the same key, if any.
pub fn begin_snapshot<'c>(conn: &'c mut Connection, as_of_day: i32, mode: &str, config_fp: &str) -> Result<PendingSnapshot<'c>> {
    let t0 = Instant::now();
    if mode.is_empty() || config_fp.is_empty() {
        return Err(data("a snapshot needs a mode and a configuration fingerprint".into()));
    }
    // Foreign-key checks cost two b-tree lookups per inserted row (a third of the write): the
    // transaction runs with them off and guarantees the references itself — the snapshot id is
    // the one it inserts, account ids come from the store's own rows (never deleted) and are
    // checked against the largest account id, and deletes of replaced snapshots apply every
    // table's ON DELETE action explicitly. (The pragma cannot change inside a transaction.)
    let fk_was_on: bool = conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0)).ctx("reading pragmas")?;
    conn.execute_batch("PRAGMA foreign_keys = OFF;").ctx("setting pragmas")?;
    let mut pending = PendingSnapshot {
        conn,
        open: false,
        fk_was_on,
        as_of_day,
        mode: mode.to_string(),
        config_fp: config_fp.to_string(),
        replaced: Vec::new(),
        max_account_id: 0,
        seconds_begin: 0.0,
    };
    let conn = &mut *pending.conn;
    let cache_size: i64 = conn.query_row("PRAGMA cache_size", [], |row| row.get(0)).ctx("reading pragmas")?;
    if cache_size == -2000 {
        // SQLite's default (2 MB) spills the transaction's pages to the WAL and reads them back
        conn.execute_batch(&format!("PRAGMA cache_size = {WRITE_CACHE_KIB};"))
            .ctx("setting pragmas")?;
    }
    let referencing = referencing_tables(conn)?;
    conn.execute_batch("BEGIN IMMEDIATE").ctx("starting the snapshot transaction")?;
    pending.open = true;
    let conn = &mut *pending.conn;
    pending.max_account_id = conn
        .query_row("SELECT coalesce(max(id), 0) FROM accounts", [], |row| row.get(0))
        .ctx("reading the largest account id")?;
    {
        let mut find = conn
            .prepare("SELECT id FROM snapshots WHERE as_of_day = ?1 AND mode = ?2 AND config_fp = ?3")
            .ctx("finding the snapshot to replace")?;
        let ids = find
            .query_map(params![as_of_day, mode, config_fp], |row| row.get::<_, i64>(0))
            .ctx("finding the snapshot to replace")?;
        for id in ids {
            pending.replaced.push(id.ctx("finding the snapshot to replace")?);
        }
    }
    for id in &pending.replaced {
        for (table, column, action) in &referencing {
            let (t, c) = (quote_ident(table), quote_ident(column));
            match action.as_str() {
                "CASCADE" => {
                    conn.execute(&format!("DELETE FROM {t} WHERE {c} = ?1"), [id])
                        .ctx(&format!("deleting the replaced snapshot's rows of {table}"))?;
                }
                "SET NULL" => {
                    conn.execute(&format!("UPDATE {t} SET {c} = NULL WHERE {c} = ?1"), [id])
                        .ctx(&format!("detaching {table} from the replaced snapshot"))?;
                }
                _ => {
                    let used: bool = conn
                        .query_row(&format!("SELECT EXISTS (SELECT 1 FROM {t} WHERE {c} = ?1)"), [id], |row| row.get(0))
                        .ctx(&format!("checking {table}"))?;
                    if used {
                        return Err(data(format!(
                            "snapshot {id} cannot be replaced: rows of {table} refer to it"
                        )));
                    }
                }
            }
        }
        conn.execute("DELETE FROM snapshots WHERE id = ?1", [id])
            .ctx("deleting the replaced snapshot")?;
    }
    pending.seconds_begin = t0.elapsed().as_secs_f64();
    Ok(pending)
}

/// Insert `r` in the transaction `pending` opened, and commit. `r` must be the result of the
/// key `pending` was begun with (as-of day; `meta` gives the same mode and fingerprint).
/// `meta.seconds_before_write` should not count time that overlapped the begin step.
pub fn finish_snapshot(pending: PendingSnapshot<'_>, r: &ScoreResult, meta: &SnapshotMeta) -> Result<WrittenSnapshot> {
    let t0 = Instant::now();
    let decoded = Decoded::new(r, meta)?;
    finish_decoded(pending, r, meta, &decoded, t0)
}

/// A result's checked size, labels and totals, decoded once before anything is written.
struct Decoded<'a> {
    n: usize,
    labels: [Labels<'a>; 8],
    reasons: HashMap<u32, String>,
    /// net revenue, pooled, allocated, unallocated cost
    totals: [i64; 4],
}

impl<'a> Decoded<'a> {
    fn new(r: &'a ScoreResult, meta: &SnapshotMeta) -> Result<Self> {
        if meta.mode.is_empty() || meta.config_fp.is_empty() {
            return Err(data("a snapshot needs a mode and a configuration fingerprint".into()));
        }
        let n = check(r)?;
        let s = &r.scores;
        let rfm = Labels::new("rfm_segment", &r.rfm_segment_labels, false);
        let rfm5 = Labels::new("rfm5_segment", &r.rfm5_segment_labels, false);
        let quadrant = Labels::new("quadrant", &r.quadrant_labels, false);
        let churn_band = Labels::new("churn_band", &r.churn_band_labels, false);
        let health_band = Labels::new("health_band", &r.health_band_labels, false);
        let lifecycle = Labels::new("lifecycle", &r.lifecycle_labels, false);
        let tier = Labels::new("tier", &r.tier_labels, true);
        let size_band = Labels::new("size_band", &r.size_band_labels, true);
        rfm.check(&s.rfm_segment, true)?;
        rfm5.check(&s.rfm5_segment, true)?;
        quadrant.check(&s.quadrant, false)?;
        churn_band.check(&s.churn_band, true)?;
        health_band.check(&s.health_band, true)?;
        lifecycle.check(&s.lifecycle, true)?;
        if !s.tier.is_empty() && r.tier_labels.is_empty() {
            return Err(data("tier codes without tier labels".into()));
        }
        tier.check(&s.tier, false)?;
        if !s.size_band.is_empty() && r.size_band_labels.is_empty() {
            return Err(data("size_band codes without size_band labels".into()));
        }
        size_band.check(&s.size_band, false)?;

        // churn reasons: decode each distinct bit set once
        let mut reasons: HashMap<u32, String> = HashMap::new();
        for &bits in &s.churn_reasons {
            reasons.entry(bits).or_insert_with(|| {
                (0..32)
                    .filter(|b| bits >> b & 1 == 1)
                    .map(|b| r.churn_reason_labels[b].as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            });
        }
        if !r.pool_shares.is_empty() && r.pool_shares.len() != r.pools.len() {
            return Err(data(format!("{} pool share columns for {} pools", r.pool_shares.len(), r.pools.len())));
        }
        for (p, shares) in r.pools.iter().zip(&r.pool_shares) {
            if !shares.is_empty() && shares.len() != n {
                return Err(data(format!("pool {} has {} shares for {n} accounts", p.category, shares.len())));
            }
            if !shares.is_empty() && sum_i64(shares, "pool share")? != p.allocated {
                return Err(data(format!("the shares of pool {} do not sum to its allocated amount", p.category)));
            }
        }
        let totals = [
            sum_i64(&s.revenue, "revenue")?,
            r.pools.iter().map(|p| p.pooled).sum::<i64>(),
            r.pools.iter().map(|p| p.allocated).sum::<i64>(),
            r.pools.iter().map(|p| p.unallocated).sum::<i64>(),
        ];
        Ok(Decoded {
            n,
            labels: [rfm, rfm5, quadrant, churn_band, health_band, lifecycle, tier, size_band],
            reasons,
            totals,
        })
    }
}

fn finish_decoded(
    mut pending: PendingSnapshot<'_>,
    r: &ScoreResult,
    meta: &SnapshotMeta,
    decoded: &Decoded<'_>,
    t0: Instant,
) -> Result<WrittenSnapshot> {
    if r.as_of_day != pending.as_of_day || meta.mode != pending.mode || meta.config_fp != pending.config_fp {
        return Err(data(format!(
            "the result (as of day {}, {} {}) is not the snapshot the write began (day {}, {} {})",
            r.as_of_day, meta.mode, meta.config_fp, pending.as_of_day, pending.mode, pending.config_fp
        )));
    }
    let n = decoded.n;
    let s = &r.scores;
    let [net_revenue, pooled_cost, allocated_cost, unallocated_cost] = decoded.totals;
    if let Some(&last) = s.account.last() {
        if last as i64 + 1 > pending.max_account_id {
            return Err(data(format!("account id {} does not exist in the store", last as i64 + 1)));
        }
    }
    let conn = &*pending.conn;
    let new_id: i64 = conn
        .query_row("SELECT coalesce(max(id), 0) + 1 FROM snapshots", [], |row| row.get(0))
        .ctx("choosing the snapshot id")?;
    // replaced ids were deleted by the begin step, and every new id is larger than any old one
    let new_id = new_id.max(pending.replaced.iter().max().map_or(0, |m| m + 1));
    conn.execute(
        "INSERT INTO snapshots(id, as_of_day, mode, config_fp, config, data_version, created_at, seconds, \
         accounts, net_revenue, pooled_cost, allocated_cost, unallocated_cost, series) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            new_id,
            r.as_of_day,
            meta.mode,
            meta.config_fp,
            meta.config_json,
            meta.data_version,
            meta.created_at,
            n as i64,
            net_revenue,
            pooled_cost,
            allocated_cost,
            unallocated_cost,
            meta.series,
        ],
    )
    .ctx("inserting the snapshot")?;
    {
        let mut ins = conn
            .prepare(
                "INSERT INTO snapshot_pools(snapshot, category, driver, pooled, allocated, unallocated) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .ctx("preparing the pool insert")?;
        for p in &r.pools {
            ins.execute(params![new_id, p.category, p.driver, p.pooled, p.allocated, p.unallocated])
                .ctx(&format!("inserting pool {}", p.category))?;
        }
    }
    let labels = {
        let l = &decoded.labels;
        [&l[0], &l[1], &l[2], &l[3], &l[4], &l[5], &l[6], &l[7]]
    };
    insert_accounts(conn, r, new_id, n, &decoded.reasons, labels)?;
    {
        let mut ins = conn
            .prepare("INSERT INTO snapshot_pool_shares(snapshot, category, data) VALUES (?1, ?2, ?3)")
            .ctx("preparing the pool share insert")?;
        for (p, shares) in r.pools.iter().zip(&r.pool_shares) {
            if !shares.is_empty() {
                let bytes: Vec<u8> = shares.iter().flat_map(|v| v.to_le_bytes()).collect();
                ins.execute(params![new_id, p.category, bytes])
                    .ctx(&format!("inserting the account shares of pool {}", p.category))?;
            }
        }
    }
    let seconds = meta.seconds_before_write + pending.seconds_begin + t0.elapsed().as_secs_f64();
    conn.execute("UPDATE snapshots SET seconds = ?1 WHERE id = ?2", params![seconds, new_id])
        .ctx("recording the run's time")?;
    pending.end("COMMIT")?;
    let replaced = std::mem::take(&mut pending.replaced);
    let seconds_begin = pending.seconds_begin;
    drop(pending); // restores the foreign-key setting
    Ok(WrittenSnapshot {
        id: new_id,
        replaced,
        as_of_day: r.as_of_day,
        accounts: n as i64,
        net_revenue,
        pooled_cost,
        allocated_cost,
        unallocated_cost,
        seconds,
        seconds_write: seconds_begin + t0.elapsed().as_secs_f64(),
    })
}

/// Tables with a foreign key to `snapshots(id)`: (table, column, on-delete action).
fn referencing_tables(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let tables: Vec<String> = {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            .ctx("listing tables")?;
        let rows = st.query_map([], |r| r.get(0)).ctx("listing tables")?;
        rows.collect::<std::result::Result<_, _>>().ctx("listing tables")?
    };
    let mut out = Vec::new();
    for t in tables {
        let mut st = conn
            .prepare("SELECT \"table\", \"from\", on_delete FROM pragma_foreign_key_list(?1)")
            .ctx("reading foreign keys")?;
        let rows = st
            .query_map([&t], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .ctx("reading foreign keys")?;
        for row in rows {
            let (parent, from, on_delete) = row.ctx("reading foreign keys")?;
            if parent.eq_ignore_ascii_case("snapshots") {
                out.push((t.clone(), from, on_delete.to_ascii_uppercase()));
            }
        }
    }
    Ok(out)
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Rows per `INSERT` statement of [`insert_accounts`]: one statement execution per row is a
/// third of the insert's time at a million accounts; 64 rows bind 1,536 parameters (SQLite
/// allows 32,766).
const ROWS_PER_INSERT: usize = 64;
/// Bound columns per `snapshot_accounts` row (`primary_segment` is written as NULL).
const BOUND_COLUMNS: usize = 24;

fn account_insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO snapshot_accounts(snapshot, account, recency_days, frequency, monetary, \
         r_score, f_score, m_score, rfm_segment, rfm5_segment, revenue, direct_cost, allocated_cost, \
         margin, margin_pct, quadrant, churn_risk, churn_band, churn_reasons, health, health_band, \
         lifecycle, tier, size_band, primary_segment) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for col in 0..BOUND_COLUMNS {
            sql.push_str(&format!("?{},", row * BOUND_COLUMNS + col + 1));
        }
        sql.push_str("NULL)");
    }
    sql
}

/// One `snapshot_accounts` row per account, [`ROWS_PER_INSERT`] rows per statement execution.
fn insert_accounts(
    tx: &Connection,
    r: &ScoreResult,
    snapshot: i64,
    n: usize,
    reasons: &HashMap<u32, String>,
    labels: [&Labels<'_>; 8],
) -> Result<()> {
    let [rfm, rfm5, quadrant, churn_band, health_band, lifecycle, tier, size_band] = labels;
    let s = &r.scores;
    let score = |v: u8| if v == 0 { None } else { Some(v as i64) };
    // binds account row `i` at parameter offset `base` (0 for the first row of the statement)
    let bind = |ins: &mut rusqlite::Statement<'_>, base: usize, i: usize| -> rusqlite::Result<()> {
        ins.raw_bind_parameter(base + 1, snapshot)?;
        ins.raw_bind_parameter(base + 2, s.account[i] as i64 + 1)?;
        ins.raw_bind_parameter(base + 3, (s.recency_days[i] != NULL_I64).then_some(s.recency_days[i]))?;
        ins.raw_bind_parameter(base + 4, s.frequency[i])?;
        ins.raw_bind_parameter(base + 5, s.monetary[i])?;
        ins.raw_bind_parameter(base + 6, score(s.r_score[i]))?;
        ins.raw_bind_parameter(base + 7, score(s.f_score[i]))?;
        ins.raw_bind_parameter(base + 8, score(s.m_score[i]))?;
        ins.raw_bind_parameter(base + 9, rfm.get(s.rfm_segment[i]))?;
        ins.raw_bind_parameter(base + 10, rfm5.get(s.rfm5_segment[i]))?;
        ins.raw_bind_parameter(base + 11, s.revenue[i])?;
        ins.raw_bind_parameter(base + 12, s.direct_cost[i])?;
        ins.raw_bind_parameter(base + 13, s.allocated_cost[i])?;
        ins.raw_bind_parameter(base + 14, s.margin[i])?;
        let pct = s.margin_pct[i];
        ins.raw_bind_parameter(base + 15, pct.is_finite().then_some(pct))?;
        ins.raw_bind_parameter(base + 16, quadrant.get(s.quadrant[i]))?;
        ins.raw_bind_parameter(base + 17, s.churn_risk[i] as i64)?;
        ins.raw_bind_parameter(base + 18, churn_band.get(s.churn_band[i]))?;
        ins.raw_bind_parameter(base + 19, reasons[&s.churn_reasons[i]].as_str())?;
        ins.raw_bind_parameter(base + 20, s.health[i] as i64)?;
        ins.raw_bind_parameter(base + 21, health_band.get(s.health_band[i]))?;
        ins.raw_bind_parameter(base + 22, lifecycle.get(s.lifecycle[i]))?;
        ins.raw_bind_parameter(base + 23, if s.tier.is_empty() { None } else { tier.get(s.tier[i]) })?;
        ins.raw_bind_parameter(base + 24, if s.size_band.is_empty() { None } else { size_band.get(s.size_band[i]) })?;
        Ok(())
    };
    let full = n / ROWS_PER_INSERT * ROWS_PER_INSERT;
    if full > 0 {
        let mut ins = tx.prepare(&account_insert_sql(ROWS_PER_INSERT)).ctx("preparing the account insert")?;
        for first in (0..full).step_by(ROWS_PER_INSERT) {
            let chunk = |ins: &mut rusqlite::Statement<'_>| -> rusqlite::Result<()> {
                for k in 0..ROWS_PER_INSERT {
                    bind(ins, k * BOUND_COLUMNS, first + k)?;
                }
                ins.raw_execute().map(|_| ())
            };
            chunk(&mut ins).ctx(&format!(
                "inserting the snapshot rows of account ids {}..={}",
                s.account[first] as i64 + 1,
                s.account[first + ROWS_PER_INSERT - 1] as i64 + 1
            ))?;
        }
    }
    if full < n {
        let mut ins = tx.prepare(&account_insert_sql(1)).ctx("preparing the account insert")?;
        for i in full..n {
            let row = |ins: &mut rusqlite::Statement<'_>| -> rusqlite::Result<()> {
                bind(ins, 0, i)?;
                ins.raw_execute().map(|_| ())
            };
            row(&mut ins).ctx(&format!("inserting the snapshot row of account id {}", s.account[i] as i64 + 1))?;
        }
    }
    Ok(())
}

/// Account `account_id`'s share of each pooled category of snapshot `snapshot`, in the order
/// of the snapshot's pools: `(category, share)` in minor units. Empty when the account is not in
/// the snapshot or the snapshot keeps no shares (written before schema v5, or no pools).
pub fn account_pool_shares(conn: &Connection, snapshot: i64, account_id: i64) -> Result<Vec<(String, i64)>> {
    // whether the account is in the snapshot, and its position among the snapshot's rows (a
    // count over the primary key range)
    let (present, pos): (bool, i64) = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM snapshot_accounts WHERE snapshot = ?1 AND account = ?2), \
                    (SELECT count(*) FROM snapshot_accounts WHERE snapshot = ?1 AND account < ?2)",
            params![snapshot, account_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ctx("locating the account in the snapshot")?;
    if !present {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String)> = {
        let mut st = conn
            .prepare(
                "SELECT id, category FROM snapshot_pool_shares WHERE snapshot = ?1 ORDER BY id",
            )
            .ctx("reading pool shares")?;
        let it = st.query_map([snapshot], |r| Ok((r.get(0)?, r.get(1)?))).ctx("reading pool shares")?;
        it.collect::<std::result::Result<_, _>>().ctx("reading pool shares")?
    };
    let mut out = Vec::with_capacity(rows.len());
    for (rowid, category) in rows {
        // eight bytes out of the column, not the whole column
        let blob = conn
            .blob_open(rusqlite::MAIN_DB, "snapshot_pool_shares", "data", rowid, true)
            .ctx("opening pool shares")?;
        let mut buf = [0u8; 8];
        let read = blob.read_at(&mut buf, (pos as usize) * 8).map_err(|e| data(format!("pool {category}: {e}")))?;
        if read != 8 {
            return Err(data(format!("the stored shares of pool {category} are shorter than the snapshot")));
        }
        out.push((category, i64::from_le_bytes(buf)));
    }
    Ok(out)
}

/// The snapshot with this id, if it exists: `(as_of_day, mode, config_fp, data_version)`.
pub fn snapshot_key(conn: &Connection, id: i64) -> Result<Option<(i32, String, String, i64)>> {
    conn.query_row(
        "SELECT as_of_day, mode, config_fp, data_version FROM snapshots WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
    .ctx("reading a snapshot")
}
