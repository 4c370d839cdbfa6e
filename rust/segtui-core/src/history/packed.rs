//! Packed snapshot columns: the columns history reads, stored once per snapshot as
//! little-endian arrays (schema v3, table `snapshot_columns`).
//!
//! Reading a million-account snapshot out of `snapshot_accounts` costs a step of SQLite's
//! virtual machine per row, and reads every page of the wide rows (hundreds of MB) when they
//! are not in the OS cache. The packed form of what a migration reads (account ids, revenue,
//! the rfm11 or rfm5 codes) is a few MB per column, read in one piece. `segtui score` packs
//! the snapshots it writes; reads never pack (they fall back to the rows).
//!
//! Every packed column carries the `created_at` of the snapshot it was packed from (`basis`):
//! a rescored snapshot is repacked, never read stale. Rows of a deleted snapshot go with it
//! (ON DELETE CASCADE).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::maps::NONE;
use super::snapcols::{read_snapshot, Labels, SnapCols};
use super::{HistoryError, Result};

const ACCOUNT: &str = "account";
const REVENUE: &str = "revenue";
/// The segment columns packed: the RFM maps (the default migrations). Other maps are read
/// from the rows.
pub const PACKED: &[&str] = &["rfm_segment", "rfm5_segment"];

fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn i64s(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn u16s(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bad(id: i64, name: &str) -> HistoryError {
    HistoryError::Invalid(format!("snapshot {id}: packed column {name} is damaged; it will be rebuilt"))
}

fn un_u32(b: &[u8], n: usize, id: i64, name: &str) -> Result<Vec<u32>> {
    if b.len() != 4 * n {
        return Err(bad(id, name));
    }
    Ok(b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect())
}
fn un_i64(b: &[u8], n: usize, id: i64, name: &str) -> Result<Vec<i64>> {
    if b.len() != 8 * n {
        return Err(bad(id, name));
    }
    Ok(b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect())
}
fn un_u16(b: &[u8], n: usize, id: i64, name: &str) -> Result<Vec<u16>> {
    if b.len() != 2 * n {
        return Err(bad(id, name));
    }
    Ok(b.chunks_exact(2).map(|c| u16::from_le_bytes(c.try_into().unwrap())).collect())
}

fn basis_of(conn: &Connection, id: i64) -> Result<(String, i64)> {
    conn.query_row("SELECT created_at, accounts FROM snapshots WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| HistoryError::NotFound(format!("no snapshot with id {id}")))
}

/// Whether snapshot `id` has fresh packed columns.
pub fn is_packed(conn: &Connection, id: i64) -> Result<bool> {
    let (basis, _) = basis_of(conn, id)?;
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM snapshot_columns WHERE snapshot = ?1 AND basis = ?2",
        params![id, basis],
        |r| r.get(0),
    )?;
    Ok(n as usize == 2 + PACKED.len())
}

/// Pack snapshot `id` (one scan of its rows) and store the columns, replacing older ones.
/// Run inside the caller's transaction when there is one.
pub fn pack(conn: &Connection, id: i64) -> Result<()> {
    let (basis, _) = basis_of(conn, id)?;
    let mut labels: Vec<Labels> = PACKED.iter().map(|_| Labels::new()).collect();
    let cols = read_snapshot(conn, id, PACKED, &mut labels, NONE, true)?;
    conn.execute("DELETE FROM snapshot_columns WHERE snapshot = ?1", [id])?;
    let mut ins = conn.prepare(
        "INSERT INTO snapshot_columns(snapshot, name, basis, labels, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    ins.execute(params![id, ACCOUNT, basis, Option::<String>::None, u32s(&cols.account)])?;
    ins.execute(params![id, REVENUE, basis, Option::<String>::None, i64s(&cols.revenue)])?;
    for (j, column) in PACKED.iter().enumerate() {
        let names = serde_json::to_string(labels[j].names()).expect("labels serialize");
        ins.execute(params![id, column, basis, names, u16s(&cols.codes[j])])?;
    }
    Ok(())
}

/// Pack a snapshot straight from the result it was written from (no read back): what a
/// scoring run calls after writing snapshot `id` with `created_at = basis`.
pub fn pack_result(conn: &Connection, id: i64, basis: &str, r: &crate::engine::ScoreResult) -> Result<()> {
    let s = &r.scores;
    let account: Vec<u32> = s.account.iter().map(|&a| a + 1).collect();
    let code_cols: [(&str, &[u8], &[String]); 2] = [
        ("rfm_segment", &s.rfm_segment, &r.rfm_segment_labels),
        ("rfm5_segment", &s.rfm5_segment, &r.rfm5_segment_labels),
    ];
    debug_assert_eq!(PACKED, ["rfm_segment", "rfm5_segment"]);
    let tx = conn.unchecked_transaction()?;
    tx.execute("DELETE FROM snapshot_columns WHERE snapshot = ?1", [id])?;
    {
        let mut ins = tx.prepare(
            "INSERT INTO snapshot_columns(snapshot, name, basis, labels, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        ins.execute(params![id, ACCOUNT, basis, Option::<String>::None, u32s(&account)])?;
        ins.execute(params![id, REVENUE, basis, Option::<String>::None, i64s(&s.revenue)])?;
        for (name, codes, labels) in code_cols {
            let codes: Vec<u16> = codes.iter().map(|&c| c as u16).collect();
            let names = serde_json::to_string(labels).expect("labels serialize");
            ins.execute(params![id, name, basis, names, u16s(&codes)])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Pack every snapshot of `ids` that has no fresh packed columns; returns how many were packed.
/// Gives up quietly (returns `Ok(None)`) when the store is busy for longer than `wait_ms`.
pub fn ensure_packed(path: &Path, ids: &[i64], wait_ms: u64) -> Result<Option<usize>> {
    let mut conn = super::snapcols::open_write(path)?;
    conn.busy_timeout(std::time::Duration::from_millis(wait_ms))?;
    let todo: Vec<i64> = ids.iter().copied().filter(|&id| !is_packed(&conn, id).unwrap_or(false)).collect();
    if todo.is_empty() {
        return Ok(Some(0));
    }
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy || e.code == rusqlite::ErrorCode::DatabaseLocked =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e.into()),
    };
    for &id in &todo {
        pack(&tx, id)?;
    }
    tx.commit()?;
    Ok(Some(todo.len()))
}

/// The packed columns of snapshot `id` for one map column (plus account ids and revenue),
/// coded through `labels`; `None` when they are missing or stale.
pub fn read_packed(conn: &Connection, id: i64, column: &str, labels: &mut Labels) -> Result<Option<SnapCols>> {
    let (basis, n) = basis_of(conn, id)?;
    let n = n.max(0) as usize;
    let mut stmt =
        conn.prepare_cached("SELECT labels, data FROM snapshot_columns WHERE snapshot = ?1 AND name = ?2 AND basis = ?3")?;
    let mut get = |name: &str| -> Result<Option<(Option<String>, Vec<u8>)>> {
        Ok(stmt.query_row(params![id, name, basis], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    };
    let (Some((_, acc)), Some((_, rev)), Some((names, codes))) = (get(ACCOUNT)?, get(REVENUE)?, get(column)?) else {
        return Ok(None);
    };
    let account = un_u32(&acc, n, id, ACCOUNT)?;
    let revenue = un_i64(&rev, n, id, REVENUE)?;
    let raw = un_u16(&codes, n, id, column)?;
    let names: Vec<String> = serde_json::from_str(names.as_deref().unwrap_or("[]")).map_err(|_| bad(id, column))?;
    let remap: Vec<u16> = names.iter().map(|s| labels.code_str(s)).collect();
    let mut code = Vec::with_capacity(n);
    for c in raw {
        code.push(*remap.get(c as usize).ok_or_else(|| bad(id, column))?);
    }
    Ok(Some(SnapCols { account, codes: vec![code], revenue }))
}

/// One map column of snapshot `id` (with account ids and revenue): packed when fresh, else
/// read from `snapshot_accounts`.
pub fn read_map(conn: &Connection, id: i64, column: &str, null_label: &str, labels: &mut Labels) -> Result<SnapCols> {
    // Not a packed column; missing, stale or damaged packed columns (or a store without the
    // table): read the rows.
    match if PACKED.contains(&column) { read_packed(conn, id, column, labels) } else { Ok(None) } {
        Ok(Some(c)) => return Ok(c),
        Err(e @ HistoryError::NotFound(_)) => return Err(e),
        Ok(None) | Err(_) => {}
    }
    let mut ls = [std::mem::take(labels)];
    let r = read_snapshot(conn, id, &[column], &mut ls, null_label, true);
    let [l] = ls;
    *labels = l;
    r
}
