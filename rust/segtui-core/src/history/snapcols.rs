//! Reading snapshot columns out of the store fast.
//!
//! `snapshot_accounts` is keyed by `(snapshot, account)`, so one snapshot is one range scan in
//! account order. Text columns are interned to `u16` codes while reading (a segment map has a
//! handful of labels), so nothing downstream touches a string per row.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{HistoryError, Result};

/// Interns labels to dense `u16` codes. One interner can be shared by several snapshots so
/// that equal labels get equal codes across them.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    names: Vec<String>,
    last: usize,
}

impl Labels {
    pub fn new() -> Self {
        Self::default()
    }

    /// The code of `label`, adding it when new.
    pub fn code(&mut self, label: &[u8]) -> u16 {
        if let Some(n) = self.names.get(self.last) {
            if n.as_bytes() == label {
                return self.last as u16;
            }
        }
        let i = match self.names.iter().position(|n| n.as_bytes() == label) {
            Some(i) => i,
            None => {
                assert!(self.names.len() < u16::MAX as usize, "more than 65535 distinct labels");
                self.names.push(String::from_utf8_lossy(label).into_owned());
                self.names.len() - 1
            }
        };
        self.last = i;
        i as u16
    }

    pub fn code_str(&mut self, label: &str) -> u16 {
        self.code(label.as_bytes())
    }

    /// The code of `label` if it has been seen.
    pub fn find(&self, label: &str) -> Option<u16> {
        self.names.iter().position(|n| n == label).map(|i| i as u16)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A snapshot's header row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: i64,
    pub as_of_day: i32,
    pub mode: String,
    pub config_fp: String,
    pub accounts: i64,
    pub net_revenue: i64,
}

/// Open the store read-only for bulk reads (memory-mapped, large page cache).
pub fn open_read(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    tune(&conn)?;
    Ok(conn)
}

/// Open the store for writing derived history tables.
pub fn open_write(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(std::time::Duration::from_millis(5000))?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    tune(&conn)?;
    Ok(conn)
}

fn tune(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_millis(5000))?;
    // 64 MiB page cache, up to 4 GiB memory-mapped: bulk scans read pages in place.
    conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA mmap_size = 4294967296;")?;
    Ok(())
}

const INFO_COLS: &str = "id, as_of_day, mode, config_fp, accounts, net_revenue";

fn info_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SnapshotInfo> {
    Ok(SnapshotInfo {
        id: r.get(0)?,
        as_of_day: r.get(1)?,
        mode: r.get(2)?,
        config_fp: r.get(3)?,
        accounts: r.get(4)?,
        net_revenue: r.get(5)?,
    })
}

/// The header of snapshot `id`.
pub fn snapshot_info(conn: &Connection, id: i64) -> Result<SnapshotInfo> {
    let sql = format!("SELECT {INFO_COLS} FROM snapshots WHERE id = ?1");
    match conn.query_row(&sql, [id], info_row) {
        Ok(i) => Ok(i),
        Err(rusqlite::Error::QueryReturnedNoRows) => Err(HistoryError::NotFound(format!("no snapshot with id {id}"))),
        Err(e) => Err(e.into()),
    }
}

/// The comparable snapshots of `(mode, config_fp)` (the same scoring configuration), ordered
/// by as-of day. At most one snapshot exists per day for one configuration.
pub fn chain(conn: &Connection, mode: &str, config_fp: &str) -> Result<Vec<SnapshotInfo>> {
    let sql = format!(
        "SELECT {INFO_COLS} FROM snapshots WHERE mode = ?1 AND config_fp = ?2 ORDER BY as_of_day, id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([mode, config_fp], info_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Columns of one snapshot, in account order.
#[derive(Clone, Debug, Default)]
pub struct SnapCols {
    /// Store account ids (`accounts.id`), ascending.
    pub account: Vec<u32>,
    /// One code column per requested text column, coded by the matching interner.
    pub codes: Vec<Vec<u16>>,
    /// Net revenue in the snapshot's window (empty unless asked for).
    pub revenue: Vec<i64>,
}

/// Read `text_columns` (interned through `labels`, one interner per column; NULL becomes
/// `null_label`) and optionally revenue, for every account of snapshot `id`.
///
/// Column names must come from [`super::maps`], never from user input.
pub fn read_snapshot(
    conn: &Connection,
    id: i64,
    text_columns: &[&str],
    labels: &mut [Labels],
    null_label: &str,
    with_revenue: bool,
) -> Result<SnapCols> {
    assert_eq!(text_columns.len(), labels.len());
    let expected: i64 = conn
        .query_row("SELECT accounts FROM snapshots WHERE id = ?1", [id], |r| r.get(0))
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => HistoryError::NotFound(format!("no snapshot with id {id}")),
            e => e.into(),
        })?;
    let mut cols = String::from("account");
    for c in text_columns {
        cols.push_str(", ");
        cols.push_str(c);
    }
    if with_revenue {
        cols.push_str(", revenue");
    }
    let sql = format!("SELECT {cols} FROM snapshot_accounts WHERE snapshot = ?1 ORDER BY account");
    let mut stmt = conn.prepare(&sql)?;
    let cap = expected.max(0) as usize;
    let mut out = SnapCols {
        account: Vec::with_capacity(cap),
        codes: (0..text_columns.len()).map(|_| Vec::with_capacity(cap)).collect(),
        revenue: if with_revenue { Vec::with_capacity(cap) } else { Vec::new() },
    };
    let null_bytes = null_label.as_bytes();
    let mut rows = stmt.query([id])?;
    while let Some(row) = rows.next()? {
        let acc: i64 = row.get(0)?;
        out.account.push(acc as u32);
        for (j, lab) in labels.iter_mut().enumerate() {
            let code = match row.get_ref(1 + j)? {
                ValueRef::Text(t) => lab.code(t),
                ValueRef::Null => lab.code(null_bytes),
                other => {
                    return Err(HistoryError::Invalid(format!(
                        "snapshot {id}: column {} holds a {:?} for account {acc}",
                        text_columns[j],
                        other.data_type()
                    )))
                }
            };
            out.codes[j].push(code);
        }
        if with_revenue {
            out.revenue.push(row.get(1 + text_columns.len())?);
        }
    }
    Ok(out)
}

/// Accounts whose effective RFM segments differ from the raw ones at snapshot `id` (see
/// [`super::hysteresis`]): `(account, rfm11 code, rfm5 code, pending)`, in account order.
pub fn read_held(
    conn: &Connection,
    id: i64,
    rfm11: &mut Labels,
    rfm5: &mut Labels,
) -> Result<Vec<(u32, u16, u16, u32)>> {
    let mut stmt = conn.prepare(
        "SELECT account, rfm_segment, rfm5_segment, pending FROM snapshot_effective WHERE snapshot = ?1 ORDER BY account",
    )?;
    let mut rows = stmt.query([id])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let acc: i64 = row.get(0)?;
        let a = rfm11.code(row.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?);
        let b = rfm5.code(row.get_ref(2)?.as_bytes().map_err(rusqlite::Error::from)?);
        let p: i64 = row.get(3)?;
        out.push((acc as u32, a, b, p as u32));
    }
    Ok(out)
}

/// Replace the codes of held accounts in `cols.codes[which]` by their effective codes.
/// `held` and `cols.account` are both in account order.
pub fn apply_held(cols: &mut SnapCols, held: &[(u32, u16, u16, u32)], which: usize, rfm5: bool) {
    let mut i = 0;
    for &(acc, c11, c5, _) in held {
        while i < cols.account.len() && cols.account[i] < acc {
            i += 1;
        }
        if i < cols.account.len() && cols.account[i] == acc {
            cols.codes[which][i] = if rfm5 { c5 } else { c11 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_is_stable_and_dense() {
        let mut l = Labels::new();
        assert_eq!(l.code(b"Loyal"), 0);
        assert_eq!(l.code(b"Lost"), 1);
        assert_eq!(l.code(b"Loyal"), 0);
        assert_eq!(l.code_str("Lost"), 1);
        assert_eq!(l.find("Lost"), Some(1));
        assert_eq!(l.find("x"), None);
        assert_eq!(l.names(), ["Loyal", "Lost"]);
    }
}
