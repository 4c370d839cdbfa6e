//! Test helpers: stores built from the schema in a temporary directory, rows put in with SQL
//! the way an import would (one transaction, an `imports` row, `meta.data_version` bumped).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{params, Connection};

use crate::engine::{AccountScores, PoolAllocation, PoolShares, ScoreResult, NULL_I64};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "segtui-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new store at `path` with the full schema.
pub fn new_store(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;").unwrap();
    for (v, sql) in crate::schema::MIGRATIONS {
        conn.execute_batch(sql).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {v}")).unwrap();
    }
    conn
}

/// Rows of one simulated import.
#[derive(Default)]
pub struct Batch {
    /// (account_key, employees, mrr)
    pub accounts: Vec<(String, Option<i64>, Option<i64>)>,
    /// (account_key, day, amount, invoice text)
    pub lines: Vec<(String, i64, i64, Option<String>)>,
    /// (account_key or None for pooled, day, category, amount, driver_units)
    pub costs: Vec<(Option<String>, i64, String, i64, Option<i64>)>,
    /// (account_key, day, kind)
    pub events: Vec<(String, i64, String)>,
}

fn invoice_key(inv: &Option<String>) -> i64 {
    match inv {
        None => 0,
        Some(s) => {
            let mut h = crate::store_io::read::Fnv::new();
            h.bytes(s.as_bytes());
            (h.finish() as i64) | 1
        }
    }
}

fn account_id(conn: &Connection, key: &str) -> i64 {
    conn.execute("INSERT OR IGNORE INTO accounts(account_key) VALUES (?1)", [key]).unwrap();
    conn.query_row("SELECT id FROM accounts WHERE account_key = ?1", [key], |r| r.get(0)).unwrap()
}

/// Apply `b` as one import (one transaction, data_version bumped).
pub fn import(conn: &mut Connection, b: &Batch) {
    static FP: AtomicU64 = AtomicU64::new(0);
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT INTO imports(kind, file, fingerprint, options, started_at, finished_at) \
         VALUES ('line-items', 'test.csv', ?1, '{}', '2025-01-01T00:00:00Z', '2025-01-01T00:00:01Z')",
        [format!("fp{}-{}", std::process::id(), FP.fetch_add(1, Ordering::Relaxed))],
    )
    .unwrap();
    let imp = tx.last_insert_rowid();
    let mut nkey = tx
        .query_row("SELECT (SELECT count(*) FROM line_items) + (SELECT count(*) FROM costs) + (SELECT count(*) FROM events)", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    let mut next = || {
        nkey += 1;
        nkey.to_le_bytes().repeat(2)
    };
    for (key, emp, mrr) in &b.accounts {
        let id = account_id(&tx, key);
        tx.execute("UPDATE accounts SET employees = ?2, mrr = ?3 WHERE id = ?1", params![id, emp, mrr]).unwrap();
    }
    for (key, day, amount, inv) in &b.lines {
        let id = account_id(&tx, key);
        tx.execute(
            "INSERT INTO line_items(account, day, ts, invoice, invoice_key, amount, import_id, nkey) \
             VALUES (?1, ?2, ?2 * 86400, ?3, ?4, ?5, ?6, ?7)",
            params![id, day, inv, invoice_key(inv), amount, imp, next()],
        )
        .unwrap();
    }
    for (key, day, cat, amount, units) in &b.costs {
        let id = key.as_ref().map(|k| account_id(&tx, k));
        tx.execute("INSERT OR IGNORE INTO cost_categories(name) VALUES (?1)", [cat]).unwrap();
        let cid: i64 = tx.query_row("SELECT id FROM cost_categories WHERE name = ?1", [cat], |r| r.get(0)).unwrap();
        tx.execute(
            "INSERT INTO costs(account, day, category, amount, driver_units, import_id, nkey) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, day, cid, amount, units, imp, next()],
        )
        .unwrap();
    }
    for (key, day, kind) in &b.events {
        let id = account_id(&tx, key);
        tx.execute("INSERT OR IGNORE INTO event_kinds(name) VALUES (?1)", [kind]).unwrap();
        let kid: i64 = tx.query_row("SELECT id FROM event_kinds WHERE name = ?1", [kind], |r| r.get(0)).unwrap();
        tx.execute(
            "INSERT INTO events(account, day, ts, kind, import_id, nkey) VALUES (?1, ?2, ?2 * 86400, ?3, ?4, ?5)",
            params![id, day, kid, imp, next()],
        )
        .unwrap();
    }
    tx.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'", []).unwrap();
    tx.commit().unwrap();
}

pub fn line(key: &str, day: i64, amount: i64, inv: Option<&str>) -> (String, i64, i64, Option<String>) {
    (key.to_string(), day, amount, inv.map(|s| s.to_string()))
}

/// A hand-built result for `accounts` (dense indexes), with one pool of `pooled` minor units
/// allocated one unit per account (the rest unallocated).
pub fn hand_result(as_of_day: i32, accounts: &[u32], pooled: i64) -> ScoreResult {
    let n = accounts.len();
    let mut s = AccountScores::default();
    s.account = accounts.to_vec();
    for (i, _) in accounts.iter().enumerate() {
        let purchased = i % 4 != 3;
        s.recency_days.push(if purchased { (i as i64 * 7) % 400 } else { NULL_I64 });
        s.frequency.push(if purchased { 1 + i as i64 % 9 } else { 0 });
        s.monetary.push(if purchased { 1000 + i as i64 * 13 } else { -250 });
        let sc = |k: usize| if purchased { 1 + ((i + k) % 5) as u8 } else { 0 };
        s.r_score.push(sc(0));
        s.f_score.push(sc(1));
        s.m_score.push(sc(2));
        s.rfm_segment.push(if purchased { (i % 11) as u8 } else { 11 });
        s.rfm5_segment.push(if purchased { (i % 5) as u8 } else { 5 });
        let revenue = if purchased { 1000 + i as i64 * 13 } else { -250 };
        s.revenue.push(revenue);
        s.direct_cost.push(i as i64 % 300);
        let alloc = if (i as i64) < pooled { 1 } else { 0 };
        s.allocated_cost.push(alloc);
        let margin = revenue - (i as i64 % 300) - alloc;
        s.margin.push(margin);
        s.margin_pct.push(if revenue > 0 { margin as f64 / revenue as f64 } else { f64::NAN });
        s.quadrant.push((i % 5) as u8);
        s.churn_risk.push((i % 101) as u8);
        s.churn_band.push((i % 3) as u8);
        s.churn_reasons.push((i % 8) as u32);
        s.health.push((i % 101) as u8);
        s.health_band.push((i % 3) as u8);
        s.lifecycle.push((i % 5) as u8);
        s.tier.push((i % 5) as u8);
        s.size_band.push((i % 4) as u8);
    }
    let allocated = (n as i64).min(pooled);
    let labels = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    ScoreResult {
        as_of_day,
        scores: s,
        pools: vec![PoolAllocation {
            category: "hosting".into(),
            driver: "revenue".into(),
            pooled,
            allocated,
            unallocated: pooled - allocated,
        }],
        pool_shares: PoolShares(vec![(0..n as i64).map(|i| i64::from(i < allocated)).collect()]),
        rfm_segment_labels: labels(&[
            "Champions",
            "Loyal",
            "Potential Loyalist",
            "New Customers",
            "Promising",
            "Need Attention",
            "About to Sleep",
            "At Risk",
            "Can't Lose Them",
            "Hibernating",
            "Lost",
            "No Purchase",
        ]),
        rfm5_segment_labels: labels(&["Champions", "Loyal", "At Risk", "Dormant", "Lost", "No Purchase"]),
        quadrant_labels: labels(&[
            "",
            "high revenue, low cost",
            "high revenue, high cost",
            "low revenue, low cost",
            "low revenue, high cost",
        ]),
        churn_band_labels: labels(&["low", "medium", "high"]),
        churn_reason_labels: labels(&["inactive_beyond_usual_gap", "activity_drop", "renewal_decline"]),
        health_band_labels: labels(&["red", "yellow", "green"]),
        lifecycle_labels: labels(&["churned", "onboarding", "at-risk", "expansion-ready", "active"]),
        tier_labels: labels(&["", "power", "core", "shallow", "disengaged"]),
        size_band_labels: labels(&["", "SMB", "Mid-Market", "Enterprise"]),
        ..Default::default()
    }
}
