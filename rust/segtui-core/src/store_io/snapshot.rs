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

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

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
/// 256 MB holds the dirty pages of a million-account snapshot; reads go through a memory map.
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

    let net_revenue = sum_i64(&s.revenue, "revenue")?;
    let pooled_cost = r.pools.iter().map(|p| p.pooled).sum::<i64>();
    let allocated_cost = r.pools.iter().map(|p| p.allocated).sum::<i64>();
    let unallocated_cost = r.pools.iter().map(|p| p.unallocated).sum::<i64>();

    // Foreign-key checks cost two b-tree lookups per inserted row (a third of the write): the
    // transaction runs with them off and guarantees the references itself — the snapshot id is
    // the one it inserts, account ids come from the store's own rows (never deleted) and are
    // checked against the largest account id, and deletes of replaced snapshots apply every
    // table's ON DELETE action explicitly.
    let fk_was_on: bool = conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0)).ctx("reading pragmas")?;
    conn.execute_batch("PRAGMA foreign_keys = OFF;").ctx("setting pragmas")?;
    let cache_size: i64 = conn.query_row("PRAGMA cache_size", [], |row| row.get(0)).ctx("reading pragmas")?;
    if cache_size == -2000 {
        // SQLite's default (2 MB) spills the transaction's pages to the WAL and reads them back
        conn.execute_batch(&format!("PRAGMA cache_size = {WRITE_CACHE_KIB}; PRAGMA mmap_size = 1073741824;"))
            .ctx("setting pragmas")?;
    }
    let labels = [&rfm, &rfm5, &quadrant, &churn_band, &health_band, &lifecycle, &tier, &size_band];
    let totals = [net_revenue, pooled_cost, allocated_cost, unallocated_cost];
    let out = write_in_txn(conn, r, meta, n, &reasons, labels, totals, t0);
    if fk_was_on {
        conn.execute_batch("PRAGMA foreign_keys = ON").ctx("restoring pragmas")?;
    }
    let (new_id, replaced, seconds) = out?;
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
        seconds_write: t0.elapsed().as_secs_f64(),
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

#[allow(clippy::too_many_arguments)]
fn write_in_txn(
    conn: &mut Connection,
    r: &ScoreResult,
    meta: &SnapshotMeta,
    n: usize,
    reasons: &HashMap<u32, String>,
    labels: [&Labels<'_>; 8],
    totals: [i64; 4],
    t0: Instant,
) -> Result<(i64, Vec<i64>, f64)> {
    let [rfm, rfm5, quadrant, churn_band, health_band, lifecycle, tier, size_band] = labels;
    let [net_revenue, pooled_cost, allocated_cost, unallocated_cost] = totals;
    let s = &r.scores;
    let referencing = referencing_tables(conn)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting the snapshot transaction")?;
    if let Some(&last) = s.account.last() {
        let max_id: i64 = tx
            .query_row("SELECT coalesce(max(id), 0) FROM accounts", [], |row| row.get(0))
            .ctx("reading the largest account id")?;
        if last as i64 + 1 > max_id {
            return Err(data(format!("account id {} does not exist in the store", last as i64 + 1)));
        }
    }
    let new_id: i64 = tx
        .query_row("SELECT coalesce(max(id), 0) + 1 FROM snapshots", [], |row| row.get(0))
        .ctx("choosing the snapshot id")?;
    let mut replaced = Vec::new();
    {
        let mut find = tx
            .prepare("SELECT id FROM snapshots WHERE as_of_day = ?1 AND mode = ?2 AND config_fp = ?3")
            .ctx("finding the snapshot to replace")?;
        let ids = find
            .query_map(params![r.as_of_day, meta.mode, meta.config_fp], |row| row.get::<_, i64>(0))
            .ctx("finding the snapshot to replace")?;
        for id in ids {
            replaced.push(id.ctx("finding the snapshot to replace")?);
        }
    }
    for id in &replaced {
        for (table, column, action) in &referencing {
            let (t, c) = (quote_ident(table), quote_ident(column));
            match action.as_str() {
                "CASCADE" => {
                    tx.execute(&format!("DELETE FROM {t} WHERE {c} = ?1"), [id])
                        .ctx(&format!("deleting the replaced snapshot's rows of {table}"))?;
                }
                "SET NULL" => {
                    tx.execute(&format!("UPDATE {t} SET {c} = NULL WHERE {c} = ?1"), [id])
                        .ctx(&format!("detaching {table} from the replaced snapshot"))?;
                }
                _ => {
                    let used: bool = tx
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
        tx.execute("DELETE FROM snapshots WHERE id = ?1", [id])
            .ctx("deleting the replaced snapshot")?;
    }
    tx.execute(
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
        let mut ins = tx
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
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO snapshot_accounts(snapshot, account, recency_days, frequency, monetary, \
                 r_score, f_score, m_score, rfm_segment, rfm5_segment, revenue, direct_cost, allocated_cost, \
                 margin, margin_pct, quadrant, churn_risk, churn_band, churn_reasons, health, health_band, \
                 lifecycle, tier, size_band, primary_segment) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
                 ?19, ?20, ?21, ?22, ?23, ?24, NULL)",
            )
            .ctx("preparing the account insert")?;
        ins.raw_bind_parameter(1, new_id).ctx("binding")?;
        let score = |v: u8| if v == 0 { None } else { Some(v as i64) };
        for i in 0..n {
            let bind = |ins: &mut rusqlite::Statement<'_>| -> rusqlite::Result<()> {
                ins.raw_bind_parameter(2, s.account[i] as i64 + 1)?;
                ins.raw_bind_parameter(3, (s.recency_days[i] != NULL_I64).then_some(s.recency_days[i]))?;
                ins.raw_bind_parameter(4, s.frequency[i])?;
                ins.raw_bind_parameter(5, s.monetary[i])?;
                ins.raw_bind_parameter(6, score(s.r_score[i]))?;
                ins.raw_bind_parameter(7, score(s.f_score[i]))?;
                ins.raw_bind_parameter(8, score(s.m_score[i]))?;
                ins.raw_bind_parameter(9, rfm.get(s.rfm_segment[i]))?;
                ins.raw_bind_parameter(10, rfm5.get(s.rfm5_segment[i]))?;
                ins.raw_bind_parameter(11, s.revenue[i])?;
                ins.raw_bind_parameter(12, s.direct_cost[i])?;
                ins.raw_bind_parameter(13, s.allocated_cost[i])?;
                ins.raw_bind_parameter(14, s.margin[i])?;
                let pct = s.margin_pct[i];
                ins.raw_bind_parameter(15, pct.is_finite().then_some(pct))?;
                ins.raw_bind_parameter(16, quadrant.get(s.quadrant[i]))?;
                ins.raw_bind_parameter(17, s.churn_risk[i] as i64)?;
                ins.raw_bind_parameter(18, churn_band.get(s.churn_band[i]))?;
                ins.raw_bind_parameter(19, reasons[&s.churn_reasons[i]].as_str())?;
                ins.raw_bind_parameter(20, s.health[i] as i64)?;
                ins.raw_bind_parameter(21, health_band.get(s.health_band[i]))?;
                ins.raw_bind_parameter(22, lifecycle.get(s.lifecycle[i]))?;
                ins.raw_bind_parameter(23, if s.tier.is_empty() { None } else { tier.get(s.tier[i]) })?;
                ins.raw_bind_parameter(
                    24,
                    if s.size_band.is_empty() { None } else { size_band.get(s.size_band[i]) },
                )?;
                ins.raw_execute()?;
                Ok(())
            };
            bind(&mut ins).ctx(&format!("inserting the snapshot row of account id {}", s.account[i] as i64 + 1))?;
        }
    }
    let seconds = meta.seconds_before_write + t0.elapsed().as_secs_f64();
    tx.execute("UPDATE snapshots SET seconds = ?1 WHERE id = ?2", params![seconds, new_id])
        .ctx("recording the run's time")?;
    tx.commit().ctx("committing the snapshot")?;
    Ok((new_id, replaced, seconds))
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
