//! Store-level tests: snapshots written with SQL into a temporary store, read back by the
//! history layer (migration, hysteresis refresh, cohorts reader).

use std::path::PathBuf;

use rusqlite::{params, Connection};

use super::cohorts::{cohorts, read_lines};
use super::calendar::{days_from_civil, Period};
use super::hysteresis::refresh;
use super::migration::{migration, migration_cell, migration_chain};
use super::packed::{ensure_packed, is_packed, read_packed};
use super::snapcols::Labels;
use super::snapcols::open_read;

struct TempStore(PathBuf);

impl Drop for TempStore {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.0.display()));
        }
    }
}

fn store(name: &str) -> (TempStore, Connection) {
    let path = std::env::temp_dir().join(format!("segtui-history-{name}-{}.db", std::process::id()));
    let t = TempStore(path.clone());
    drop(TempStore(path.clone())); // remove leftovers of an earlier run
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;").unwrap();
    for (_, sql) in crate::schema::MIGRATIONS {
        conn.execute_batch(sql).unwrap();
    }
    (t, conn)
}

/// A snapshot with `rows = [(account id, rfm11, revenue)]`; rfm5 = "5:" + rfm11.
fn snapshot(conn: &Connection, day: i32, fp: &str, rows: &[(i64, &str, i64)]) -> i64 {
    for &(acc, _, _) in rows {
        conn.execute("INSERT OR IGNORE INTO accounts(id, account_key) VALUES (?1, 'k' || ?1)", [acc]).unwrap();
    }
    let total: i64 = rows.iter().map(|r| r.2).sum();
    conn.execute(
        "INSERT INTO snapshots(as_of_day, mode, config_fp, config, data_version, created_at, accounts, net_revenue) \
         VALUES (?1, 'transactions', ?2, '{}', 0, 't' || ?1, ?3, ?4)",
        params![day, fp, rows.len() as i64, total],
    )
    .unwrap();
    let id = conn.last_insert_rowid();
    for &(acc, seg, rev) in rows {
        conn.execute(
            "INSERT INTO snapshot_accounts(snapshot, account, frequency, monetary, rfm_segment, rfm5_segment, revenue, \
             direct_cost, allocated_cost, margin, churn_risk, churn_band, churn_reasons, health, health_band, lifecycle) \
             VALUES (?1, ?2, 1, ?4, ?3, '5:' || ?3, ?4, 0, 0, ?4, 0, 'low', '', 50, 'yellow', 'active')",
            params![id, acc, seg, rev],
        )
        .unwrap();
    }
    id
}

#[test]
fn migration_from_the_store_reconciles() {
    let (t, conn) = store("mig");
    let a = snapshot(&conn, 100, "fp", &[(1, "Loyal", 10), (2, "Loyal", 20), (3, "Lost", 5)]);
    let b = snapshot(&conn, 130, "fp", &[(1, "At Risk", 7), (2, "Loyal", 25), (4, "Champions", 40)]);
    let m = migration(&t.0, a, b, "rfm11", false).unwrap();
    assert_eq!(m.labels, ["Champions", "Loyal", "At Risk", "Lost"]);
    assert_eq!(m.revenue_a.iter().sum::<i64>(), 35);
    assert_eq!(m.revenue_b.iter().sum::<i64>(), 72);
    assert_eq!(m.accounts.iter().sum::<i64>(), 4);
    let (acc, ra, rb) = migration_cell(&t.0, a, b, "rfm11", false, "Loyal", "At Risk").unwrap();
    assert_eq!((acc, ra, rb), (vec![1], vec![10], vec![7]));
    let (acc, _, _) = migration_cell(&t.0, a, b, "rfm11", false, "Lost", "(gone)").unwrap();
    assert_eq!(acc, vec![3]);
    let m5 = migration(&t.0, a, b, "rfm5", false).unwrap();
    assert!(m5.labels.contains(&"5:Loyal".to_string()));
    assert!(migration(&t.0, a, 999, "rfm11", false).is_err());
    assert!(migration(&t.0, a, b, "nope", false).is_err());
}

#[test]
fn a_chain_of_matrices_equals_the_pairs() {
    let (t, conn) = store("chain");
    let s1 = snapshot(&conn, 100, "fp", &[(1, "Loyal", 10), (2, "Lost", 20)]);
    let s2 = snapshot(&conn, 130, "fp", &[(1, "At Risk", 7), (2, "Loyal", 25), (3, "Champions", 1)]);
    let s3 = snapshot(&conn, 160, "fp", &[(1, "Hibernating", 3), (3, "Champions", 9), (4, "Promising", 2)]);
    let chain = migration_chain(&t.0, &[s1, s2, s3], "rfm11", false).unwrap();
    assert_eq!(chain.len(), 2);
    for (m, (a, b)) in chain.iter().zip([(s1, s2), (s2, s3)]) {
        assert_eq!(m.cells(), migration(&t.0, a, b, "rfm11", false).unwrap().cells());
    }
    assert!(migration_chain(&t.0, &[s1], "rfm11", false).unwrap().is_empty());
}

#[test]
fn refresh_holds_and_releases_along_a_chain() {
    let (t, conn) = store("hyst");
    let s1 = snapshot(&conn, 100, "fp", &[(1, "Loyal", 1), (2, "Loyal", 1)]);
    let s2 = snapshot(&conn, 130, "fp", &[(1, "At Risk", 1), (2, "Loyal", 1)]);
    let other = snapshot(&conn, 131, "other", &[(1, "Lost", 1)]);
    let s3 = snapshot(&conn, 160, "fp", &[(1, "At Risk", 1), (2, "At Risk", 1)]);
    let r = refresh(&t.0, 2).unwrap();
    assert_eq!((r.chains, r.computed, r.held), (2, 4, 2));
    let held: Vec<(i64, i64, String, String, i64)> = conn
        .prepare("SELECT snapshot, account, rfm_segment, rfm5_segment, pending FROM snapshot_effective ORDER BY 1, 2")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        held,
        vec![(s2, 1, "Loyal".into(), "5:Loyal".into(), 1), (s3, 2, "Loyal".into(), "5:Loyal".into(), 1)]
    );
    // effective migration s1 -> s2: nobody moved; raw: one Loyal -> At Risk
    let eff = migration(&t.0, s1, s2, "rfm11", true).unwrap();
    assert_eq!(eff.cells().len(), 1);
    let raw = migration(&t.0, s1, s2, "rfm11", false).unwrap();
    assert_eq!(raw.cells().len(), 2);
    let eff5 = migration(&t.0, s2, s3, "rfm5", true).unwrap();
    let cells: Vec<(String, String, i64)> = eff5.cells().into_iter().map(|c| (c.from, c.to, c.accounts)).collect();
    assert_eq!(cells, vec![("5:Loyal".into(), "5:At Risk".into(), 1), ("5:Loyal".into(), "5:Loyal".into(), 1)]);
    // fresh: nothing recomputed; a new k recomputes everything
    assert_eq!(refresh(&t.0, 2).unwrap().computed, 0);
    let r = refresh(&t.0, 1).unwrap();
    assert_eq!((r.computed, r.held), (4, 0));
    let n: i64 = conn.query_row("SELECT count(*) FROM snapshot_effective", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
    let _ = other;
}

#[test]
fn cohorts_read_from_the_store() {
    let (t, conn) = store("coh");
    conn.execute_batch(
        "INSERT INTO accounts(id, account_key) VALUES (1, 'a'), (2, 'b');
         INSERT INTO imports(id, kind, file, fingerprint, options, started_at) VALUES (1, 'line-items', 'f', 'x', '{}', 'now');",
    )
    .unwrap();
    let d = |y, m, dd| days_from_civil(y, m, dd);
    for (i, (acc, day, amount)) in [(1, d(2025, 1, 3), 100), (1, d(2025, 2, 3), 50), (2, d(2025, 2, 9), 70)].iter().enumerate() {
        conn.execute(
            "INSERT INTO line_items(account, day, ts, invoice_key, amount, import_id, nkey) VALUES (?1, ?2, 0, 0, ?3, 1, ?4)",
            params![acc, day, amount, vec![i as u8; 16]],
        )
        .unwrap();
    }
    let lines = read_lines(&open_read(&t.0).unwrap()).unwrap();
    assert_eq!((lines.n_accounts, lines.max_day), (2, Some(d(2025, 2, 9))));
    let c = cohorts(lines.view(), lines.n_accounts, lines.max_day.unwrap(), Period::Month).unwrap();
    assert_eq!(c.size, [1, 1]);
    assert_eq!(c.active, [1, 1, 1, 0]);
    assert_eq!(c.revenue, [100, 50, 70, 0]);
}

#[test]
fn packed_columns_read_the_same_and_never_stale() {
    let (t, conn) = store("packed");
    let rows_a: Vec<(i64, &str, i64)> =
        (1..=300).map(|i| (i, ["Loyal", "Lost", "At Risk", "Champions"][i as usize % 4], i * 7 - 500)).collect();
    let rows_b: Vec<(i64, &str, i64)> =
        (5..=320).map(|i| (i, ["Lost", "Loyal", "Champions"][i as usize % 3], i * 3)).collect();
    let a = snapshot(&conn, 100, "fp", &rows_a);
    let b = snapshot(&conn, 130, "fp", &rows_b);
    let before = migration(&t.0, a, b, "rfm11", false).unwrap();
    let before5 = migration(&t.0, a, b, "rfm5", false).unwrap();
    let beforeq = migration(&t.0, a, b, "quadrant", false).unwrap();
    assert_eq!(ensure_packed(&t.0, &[a, b], 100).unwrap(), Some(2));
    assert_eq!(ensure_packed(&t.0, &[a, b], 100).unwrap(), Some(0));
    assert!(is_packed(&conn, a).unwrap());
    let mut l = Labels::new();
    assert!(read_packed(&conn, a, "rfm_segment", &mut l).unwrap().is_some());
    assert_eq!(migration(&t.0, a, b, "rfm11", false).unwrap(), before);
    assert_eq!(migration(&t.0, a, b, "rfm5", false).unwrap(), before5);
    assert_eq!(migration(&t.0, a, b, "quadrant", false).unwrap(), beforeq); // not packed: rows
    // a rescored snapshot (new created_at, new rows) is never read from stale packed columns
    conn.execute("UPDATE snapshot_accounts SET rfm_segment = 'Hibernating' WHERE snapshot = ?1", [b]).unwrap();
    conn.execute("UPDATE snapshots SET created_at = 'rescored' WHERE id = ?1", [b]).unwrap();
    assert!(!is_packed(&conn, b).unwrap());
    assert!(read_packed(&conn, b, "rfm_segment", &mut l).unwrap().is_none());
    let m = migration(&t.0, a, b, "rfm11", false).unwrap();
    assert_eq!(m.col_labels(), ["Hibernating", "(gone)"]);
    assert_eq!(ensure_packed(&t.0, &[a, b], 100).unwrap(), Some(1));
    assert_eq!(migration(&t.0, a, b, "rfm11", false).unwrap(), m);
    // damaged data: read from the rows instead
    conn.execute("UPDATE snapshot_columns SET data = x'0102' WHERE snapshot = ?1 AND name = 'account'", [a]).unwrap();
    assert!(read_packed(&conn, a, "rfm_segment", &mut l).is_err());
    assert_eq!(migration(&t.0, a, b, "rfm11", false).unwrap(), m);
    // deleting a snapshot takes its packed columns with it
    conn.execute("DELETE FROM snapshots WHERE id = ?1", [a]).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM snapshot_columns WHERE snapshot = ?1", [a], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}
