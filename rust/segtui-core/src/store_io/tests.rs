//! Tests of the store reader, the column cache and the snapshot writer on real stores built
//! from the schema in temporary directories.

use std::path::Path;

use rusqlite::Connection;

use super::testutil::{hand_result, import, line, new_store, Batch, TempDir};
use super::*;
use crate::engine::{NULL_DAY, NULL_I64, POOLED};

fn small_world() -> Batch {
    Batch {
        accounts: vec![("A".into(), Some(40), Some(9900)), ("B".into(), None, None)],
        lines: vec![
            line("A", 20000, 1500, Some("INV-1")),
            line("A", 20000, 500, Some("INV-1")),
            line("B", 20010, 7000, None),
            line("C", 20020, -300, Some("CN-9")),
        ],
        costs: vec![
            (Some("A".into()), 20001, "support".into(), 250, None),
            (None, 20002, "hosting".into(), 1000, Some(3)),
        ],
        events: vec![("B".into(), 20011, "login".into()), ("A".into(), 20012, "invite_team".into())],
    }
}

fn store_with(dir: &TempDir, b: &Batch) -> (std::path::PathBuf, Connection) {
    let db = dir.path().join("s.db");
    let mut conn = new_store(&db);
    import(&mut conn, b);
    (db, conn)
}

fn no_write() -> LoadOptions {
    LoadOptions { cache: true, cache_path: None, write_now: true }
}

#[test]
fn reads_every_scoring_input_with_dense_indexes_and_sentinels() {
    let dir = TempDir::new("read");
    let (db, _c) = store_with(&dir, &small_world());
    let conn = open_rw(&db).unwrap();
    let id = read::ensure_store_id(&conn).unwrap();
    assert_eq!(id.len(), 32);
    let s = read_store(&conn, &id).unwrap();
    assert_eq!(s.n_accounts, 3);
    assert_eq!(s.li_account, vec![0, 0, 1, 2]);
    assert_eq!(s.li_day, vec![20000, 20000, 20010, 20020]);
    assert_eq!(s.li_amount, vec![1500, 500, 7000, -300]);
    assert_eq!(s.li_invoice_key[0], s.li_invoice_key[1]);
    assert_ne!(s.li_invoice_key[0], 0);
    assert_eq!(s.li_invoice_key[2], 0);
    assert_eq!(s.cost_account, vec![0, POOLED]);
    assert_eq!(s.cost_categories, vec!["support".to_string(), "hosting".to_string()]);
    assert_eq!(s.cost_category, vec![0, 1]);
    assert_eq!(s.cost_driver_units, vec![NULL_I64, 3]);
    assert_eq!(s.ev_account, vec![1, 0]);
    assert_eq!(s.event_kinds, vec!["login".to_string(), "invite_team".to_string()]);
    assert_eq!(s.ev_kind, vec![0, 1]);
    assert_eq!(s.acc_employees, vec![40, NULL_I64, NULL_I64]);
    assert_eq!(s.acc_mrr, vec![9900, NULL_I64, NULL_I64]);
    assert_eq!(s.acc_signup_day, vec![NULL_DAY; 3]);
    assert_eq!(s.latest_line_day(), Some(20020));
    s.validate().unwrap();
    let inp = s.inputs();
    assert_eq!(inp.n_accounts, 3);
    assert_eq!(inp.line_items.amount.len(), 4);
    assert_eq!(inp.costs.category.len(), 2);
    assert_eq!(s.stamp.data_version, 1);
    assert_eq!(s.stamp.line_items.max_id, 4);
}

#[test]
fn cache_is_built_then_used_and_gives_the_same_columns() {
    let dir = TempDir::new("cache");
    let (db, _c) = store_with(&dir, &small_world());
    let (a, ra) = load_inputs(&db, &no_write()).unwrap();
    assert!(matches!(ra.cache, CacheOutcome::Rebuilt { .. }), "{:?}", ra.cache);
    assert!(ra.cache_bytes.unwrap() > 4096);
    assert!(sidecar_path(&db).exists());
    let (b, rb) = load_inputs(&db, &no_write()).unwrap();
    assert_eq!(rb.cache, CacheOutcome::Hit);
    assert_eq!(format!("{:?}", a), format!("{:?}", b));
    // the cache is private to the user
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sidecar_path(&db)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

fn full_read(db: &Path) -> StoreInputs {
    load_inputs(db, &LoadOptions { cache: false, ..Default::default() }).unwrap().0
}

#[test]
fn an_import_appends_only_the_new_rows_to_the_cache() {
    let dir = TempDir::new("stale");
    let (db, mut c) = store_with(&dir, &small_world());
    let (a, _) = load_inputs(&db, &no_write()).unwrap();
    // new rows, a new account, a new category and a new event kind; an account updated
    import(
        &mut c,
        &Batch {
            accounts: vec![("B".into(), Some(7), Some(100))],
            lines: vec![line("B", 20030, 4200, Some("INV-2")), line("NEW", 20031, 99, None)],
            costs: vec![(None, 20031, "marketing".into(), 77, None)],
            events: vec![("NEW".into(), 20031, "ticket".into())],
        },
    );
    let (b, rb) = load_inputs(&db, &no_write()).unwrap();
    assert_eq!(rb.cache, CacheOutcome::Appended { rows: 4 });
    assert_eq!(b.li_amount.len(), a.li_amount.len() + 2);
    assert_eq!(b.stamp.data_version, 2);
    assert_eq!(b.acc_employees[1], 7);
    assert_eq!(b.n_accounts, 4);
    // exactly what a full read gives
    assert_eq!(format!("{b:?}"), format!("{:?}", full_read(&db)));
    let (_, rc) = load_inputs(&db, &no_write()).unwrap();
    assert_eq!(rc.cache, CacheOutcome::Hit);
}

#[test]
fn a_store_that_did_not_only_grow_is_read_again_in_full() {
    let dir = TempDir::new("notgrow");
    let (db, mut c) = store_with(&dir, &small_world());
    let more = Batch { lines: vec![line("A", 20040, 1, None)], ..Default::default() };
    // an old row edited, then an import: the content sample of the old range differs
    load_inputs(&db, &no_write()).unwrap();
    c.execute("UPDATE line_items SET amount = amount + 1 WHERE id = 1", []).unwrap();
    import(&mut c, &more);
    let (b, rb) = load_inputs(&db, &no_write()).unwrap();
    assert!(matches!(rb.cache, CacheOutcome::Rebuilt { .. }), "{:?}", rb.cache);
    assert_eq!(format!("{b:?}"), format!("{:?}", full_read(&db)));
    // the last rows deleted, then an import that reuses their ids
    load_inputs(&db, &no_write()).unwrap();
    c.execute("DELETE FROM line_items WHERE id >= 4", []).unwrap();
    import(&mut c, &Batch { lines: vec![line("B", 20041, 5, None), line("B", 20042, 6, None)], ..Default::default() });
    let (b, rb) = load_inputs(&db, &no_write()).unwrap();
    assert!(matches!(rb.cache, CacheOutcome::Rebuilt { .. }), "{:?}", rb.cache);
    assert_eq!(format!("{b:?}"), format!("{:?}", full_read(&db)));
    // a category renamed, then an import
    load_inputs(&db, &no_write()).unwrap();
    c.execute("UPDATE cost_categories SET name = 'cloud' WHERE name = 'hosting'", []).unwrap();
    import(&mut c, &more);
    let (b, rb) = load_inputs(&db, &no_write()).unwrap();
    assert!(matches!(rb.cache, CacheOutcome::Rebuilt { .. }), "{:?}", rb.cache);
    assert_eq!(b.cost_categories[1], "cloud");
}

#[test]
fn stamps_round_trip_through_text() {
    let dir = TempDir::new("stamp");
    let (db, _c) = store_with(&dir, &small_world());
    let (s, _) = load_inputs(&db, &no_write()).unwrap();
    assert_eq!(Stamp::parse(&s.stamp.to_text()), Some(s.stamp.clone()));
    assert_eq!(Stamp::parse("v2 nonsense"), None);
    assert_eq!(Stamp::parse("v1 li=1/2"), None);
}

#[test]
fn an_edit_without_an_import_is_still_seen() {
    // Someone edits a row with another tool and forgets data_version: counts and ids are
    // unchanged, the content sample is not (all rows are sampled in a small table).
    let dir = TempDir::new("edit");
    let (db, c) = store_with(&dir, &small_world());
    load_inputs(&db, &no_write()).unwrap();
    c.execute("UPDATE line_items SET amount = 999 WHERE id = 2", []).unwrap();
    let (b, rb) = load_inputs(&db, &no_write()).unwrap();
    assert!(matches!(rb.cache, CacheOutcome::Rebuilt { .. }));
    assert_eq!(b.li_amount[1], 999);
    // a category renamed
    c.execute("UPDATE cost_categories SET name = 'cloud' WHERE name = 'hosting'", []).unwrap();
    let (b, rb) = load_inputs(&db, &no_write()).unwrap();
    assert!(matches!(rb.cache, CacheOutcome::Rebuilt { .. }));
    assert_eq!(b.cost_categories[1], "cloud");
}

#[test]
fn a_recreated_store_never_reuses_the_old_cache() {
    // Same path, same shape, same counts and data_version: only the store identity differs.
    let dir = TempDir::new("recreate");
    let (db, c) = store_with(&dir, &small_world());
    load_inputs(&db, &no_write()).unwrap();
    drop(c);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let mut c = new_store(&db);
    let mut w = small_world();
    w.lines[0].2 = 1501;
    import(&mut c, &w);
    let (b, rb) = load_inputs(&db, &no_write()).unwrap();
    assert!(matches!(rb.cache, CacheOutcome::Rebuilt { .. }), "{:?}", rb.cache);
    assert_eq!(b.li_amount[0], 1501);
}

#[test]
fn a_damaged_cache_is_detected_and_rebuilt() {
    let dir = TempDir::new("damage");
    let (db, _c) = store_with(&dir, &small_world());
    load_inputs(&db, &no_write()).unwrap();
    let p = sidecar_path(&db);
    let mut bytes = std::fs::read(&p).unwrap();
    let h = bytes.len() - 8; // inside the last column (event kind names) or its padding-free tail
    bytes[h] ^= 0x40;
    std::fs::write(&p, &bytes).unwrap();
    let (b, rb) = load_inputs(&db, &no_write()).unwrap();
    assert!(
        matches!(rb.cache, CacheOutcome::Rebuilt { ref reason } if reason.contains("damaged")),
        "{:?}",
        rb.cache
    );
    assert_eq!(b.event_kinds, vec!["login".to_string(), "invite_team".to_string()]);
    // truncated
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
    let (_, rb) = load_inputs(&db, &no_write()).unwrap();
    assert!(matches!(rb.cache, CacheOutcome::Rebuilt { ref reason } if reason.contains("damaged")));
    // garbage
    std::fs::write(&p, b"hello").unwrap();
    let (_, rb) = load_inputs(&db, &no_write()).unwrap();
    assert!(matches!(rb.cache, CacheOutcome::Rebuilt { .. }));
    let (_, rb) = load_inputs(&db, &no_write()).unwrap();
    assert_eq!(rb.cache, CacheOutcome::Hit);
}

#[test]
fn cache_off_reads_sqlite_and_leaves_no_file() {
    let dir = TempDir::new("off");
    let (db, _c) = store_with(&dir, &small_world());
    let (s, r) = load_inputs(&db, &LoadOptions { cache: false, ..Default::default() }).unwrap();
    assert_eq!(r.cache, CacheOutcome::Off);
    assert_eq!(s.li_amount.len(), 4);
    assert!(!sidecar_path(&db).exists());
}

#[test]
fn an_unwritable_cache_location_is_reported_not_fatal() {
    let dir = TempDir::new("unwritable");
    let (db, _c) = store_with(&dir, &small_world());
    let opts = LoadOptions { cache_path: Some(dir.path().join("no/such/dir/x.cols")), ..Default::default() };
    let (s, r) = load_inputs(&db, &opts).unwrap();
    assert_eq!(s.li_amount.len(), 4);
    assert!(r.cache_error.is_some());
}

#[test]
fn bad_rows_are_named_by_table_row_and_column() {
    let dir = TempDir::new("bad");
    let (db, c) = store_with(&dir, &small_world());
    c.execute("UPDATE line_items SET day = 'yesterday' WHERE id = 3", []).unwrap();
    let e = load_inputs(&db, &no_write()).unwrap_err();
    assert_eq!(e.to_string(), "line_items row id=3: column day: expected an integer");
    c.execute("UPDATE line_items SET day = 20000 WHERE id = 3", []).unwrap();
    c.execute("PRAGMA foreign_keys = OFF", []).unwrap();
    c.execute("UPDATE costs SET category = 77 WHERE id = 2", []).unwrap();
    let e = load_inputs(&db, &no_write()).unwrap_err();
    assert_eq!(e.to_string(), "costs row id=2: column category: 77 is not a cost category id");
}

#[test]
fn an_empty_store_loads_empty_columns() {
    let dir = TempDir::new("empty");
    let db = dir.path().join("s.db");
    drop(new_store(&db));
    let (s, _) = load_inputs(&db, &no_write()).unwrap();
    assert_eq!(s.n_accounts, 0);
    assert!(s.li_day.is_empty());
    assert_eq!(s.latest_line_day(), None);
    let (_, r) = load_inputs(&db, &no_write()).unwrap();
    assert_eq!(r.cache, CacheOutcome::Hit);
}

// ---------------------------------------------------------------------------------------------
// snapshots

fn meta(fp: &str) -> SnapshotMeta {
    SnapshotMeta {
        mode: "transactions".into(),
        config_fp: fp.into(),
        config_json: "{}".into(),
        data_version: 1,
        created_at: "2025-07-01T00:00:00Z".into(),
        seconds_before_write: 0.5,
        series: None,
    }
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn store_with_accounts(dir: &TempDir, n: usize) -> (std::path::PathBuf, Connection) {
    let db = dir.path().join("s.db");
    let conn = new_store(&db);
    conn.execute(
        &format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             INSERT INTO accounts(id, account_key) SELECT i, 'K' || i FROM s"
        ),
        [],
    )
    .unwrap();
    (db, conn)
}

#[test]
fn a_snapshot_is_written_with_labels_nulls_and_totals() {
    let dir = TempDir::new("snap");
    let (db, _c) = store_with_accounts(&dir, 20);
    let r = hand_result(20100, &(0..12).collect::<Vec<_>>(), 5);
    let w = snapshot::write_snapshot_to(&db, &r, &meta("fp1")).unwrap();
    assert_eq!(w.accounts, 12);
    assert!(w.replaced.is_empty());
    assert_eq!(w.net_revenue, r.scores.revenue.iter().sum::<i64>());
    assert_eq!((w.pooled_cost, w.allocated_cost, w.unallocated_cost), (5, 5, 0));
    let c = open_ro(&db).unwrap();
    let (acc, rev, secs): (i64, i64, f64) = c
        .query_row("SELECT accounts, net_revenue, seconds FROM snapshots WHERE id = ?1", [w.id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((acc, rev), (12, w.net_revenue));
    assert!(secs >= 0.5);
    // row 3 has no purchase: NULL recency and scores, 'No Purchase', NULL margin_pct
    let row: (Option<i64>, Option<i64>, String, String, Option<f64>, i64) = c
        .query_row(
            "SELECT recency_days, r_score, rfm_segment, rfm5_segment, margin_pct, account \
             FROM snapshot_accounts WHERE snapshot = ?1 AND account = 4",
            [w.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .unwrap();
    assert_eq!(row, (None, None, "No Purchase".into(), "No Purchase".into(), None, 4));
    // codes decode to labels; code 0 of tier / size band and empty quadrant labels are NULL
    let row: (Option<String>, Option<String>, Option<String>, String, String) = c
        .query_row(
            "SELECT quadrant, tier, size_band, churn_reasons, lifecycle FROM snapshot_accounts \
             WHERE snapshot = ?1 AND account = 1",
            [w.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(row, (None, None, None, String::new(), "churned".into()));
    let row: (Option<String>, Option<String>, Option<String>, String, f64) = c
        .query_row(
            "SELECT quadrant, tier, size_band, churn_reasons, margin_pct FROM snapshot_accounts \
             WHERE snapshot = ?1 AND account = 7",
            [w.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(row.0.as_deref(), Some("high revenue, low cost"));
    assert_eq!(row.1.as_deref(), Some("power"));
    assert_eq!(row.2.as_deref(), Some("Mid-Market"));
    assert_eq!(row.3, "activity_drop,renewal_decline");
    let i = 6usize;
    assert!((row.4 - r.scores.margin[i] as f64 / r.scores.revenue[i] as f64).abs() < 1e-12);
    let pools: (String, String, i64, i64, i64) = c
        .query_row(
            "SELECT category, driver, pooled, allocated, unallocated FROM snapshot_pools WHERE snapshot = ?1",
            [w.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(pools, ("hosting".into(), "revenue".into(), 5, 5, 0));
    // allocated reconciles in the stored rows too
    assert_eq!(count(&c, "SELECT sum(allocated_cost) FROM snapshot_accounts"), 5);
}

#[test]
fn the_same_as_of_and_config_replaces_atomically() {
    let dir = TempDir::new("replace");
    let (db, _c) = store_with_accounts(&dir, 20);
    let r = hand_result(20100, &(0..10).collect::<Vec<_>>(), 3);
    let a = snapshot::write_snapshot_to(&db, &r, &meta("fp1")).unwrap();
    let b = snapshot::write_snapshot_to(&db, &r, &meta("fp1")).unwrap();
    assert_eq!(b.replaced, vec![a.id]);
    assert!(b.id > a.id, "a replacement never reuses the replaced id");
    let c = open_ro(&db).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM snapshots"), 1);
    assert_eq!(count(&c, "SELECT count(*) FROM snapshot_accounts"), 10);
    assert_eq!(count(&c, "SELECT count(*) FROM snapshot_pools"), 1);
    // another configuration, mode or date is another snapshot
    snapshot::write_snapshot_to(&db, &r, &meta("fp2")).unwrap();
    let mut m = meta("fp1");
    m.mode = "saas".into();
    snapshot::write_snapshot_to(&db, &r, &m).unwrap();
    let r2 = hand_result(20101, &(0..10).collect::<Vec<_>>(), 3);
    snapshot::write_snapshot_to(&db, &r2, &meta("fp1")).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM snapshots"), 4);
    assert_eq!(count(&c, "SELECT count(*) FROM snapshot_accounts"), 40);
}

#[test]
fn a_failed_write_leaves_the_previous_snapshot_intact() {
    let dir = TempDir::new("atomic");
    let (db, c) = store_with_accounts(&dir, 10);
    let good = hand_result(20100, &(0..10).collect::<Vec<_>>(), 3);
    let a = snapshot::write_snapshot_to(&db, &good, &meta("fp1")).unwrap();
    // a failure in the middle of the inserts: after the old snapshot was deleted and six rows
    // of the new one were inserted, inside the transaction
    c.execute_batch(
        "CREATE TRIGGER fail_midway BEFORE INSERT ON snapshot_accounts WHEN NEW.account = 7 \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    let e = snapshot::write_snapshot_to(&db, &good, &meta("fp1")).unwrap_err();
    assert!(e.to_string().contains("account id 7") && e.to_string().contains("injected"), "{e}");
    let check = |c: &Connection| {
        assert_eq!(count(c, "SELECT count(*) FROM snapshots"), 1);
        assert_eq!(count(c, "SELECT id FROM snapshots"), a.id);
        assert_eq!(count(c, "SELECT count(*) FROM snapshot_accounts"), 10);
        assert_eq!(count(c, &format!("SELECT count(*) FROM snapshot_accounts WHERE snapshot = {}", a.id)), 10);
        assert_eq!(count(c, "SELECT count(*) FROM snapshot_pools"), 1);
    };
    check(&open_ro(&db).unwrap());
    // the writer's connection is left with foreign keys on, as it found it
    let mut w = open_rw(&db).unwrap();
    assert!(snapshot::write_snapshot(&mut w, &good, &meta("fp1")).is_err());
    assert_eq!(count(&w, "PRAGMA foreign_keys"), 1);
    check(&w);
    // an account id beyond the store's accounts is refused before anything is written
    c.execute_batch("DROP TRIGGER fail_midway").unwrap();
    let bad = hand_result(20100, &(0..11).collect::<Vec<_>>(), 3);
    let e = snapshot::write_snapshot_to(&db, &bad, &meta("fp1")).unwrap_err();
    assert!(e.to_string().contains("account id 11 does not exist"), "{e}");
    check(&w);
}

#[test]
fn replacing_applies_the_on_delete_actions_of_other_tables() {
    // other parts of segtui may keep rows per snapshot; replacing must not orphan them
    let dir = TempDir::new("cascade");
    let (db, c) = store_with_accounts(&dir, 10);
    c.execute_batch(
        "CREATE TABLE snap_notes(snapshot INTEGER REFERENCES snapshots(id) ON DELETE CASCADE, note TEXT);
         CREATE TABLE snap_links(snapshot INTEGER REFERENCES snapshots(id) ON DELETE SET NULL, x INTEGER);",
    )
    .unwrap();
    let r = hand_result(20100, &(0..10).collect::<Vec<_>>(), 3);
    let a = snapshot::write_snapshot_to(&db, &r, &meta("fp1")).unwrap();
    c.execute("INSERT INTO snap_notes VALUES (?1, 'n'), (?1, 'm')", [a.id]).unwrap();
    c.execute("INSERT INTO snap_links VALUES (?1, 5)", [a.id]).unwrap();
    snapshot::write_snapshot_to(&db, &r, &meta("fp1")).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM snap_notes"), 0);
    assert_eq!(count(&c, "SELECT count(*) FROM snap_links WHERE snapshot IS NULL"), 1);
    // a RESTRICT reference blocks the replacement, with a clear message
    c.execute_batch("CREATE TABLE snap_pins(snapshot INTEGER REFERENCES snapshots(id) ON DELETE RESTRICT);").unwrap();
    let b: i64 = count(&c, "SELECT id FROM snapshots");
    c.execute("INSERT INTO snap_pins VALUES (?1)", [b]).unwrap();
    let e = snapshot::write_snapshot_to(&db, &r, &meta("fp1")).unwrap_err();
    assert!(e.to_string().contains("rows of snap_pins refer to it"), "{e}");
    assert_eq!(count(&c, "SELECT id FROM snapshots"), b);
    assert_eq!(count(&c, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
}

#[test]
fn inconsistent_results_are_refused_before_writing() {
    let dir = TempDir::new("refuse");
    let (db, _c) = store_with_accounts(&dir, 10);
    let mut r = hand_result(20100, &(0..5).collect::<Vec<_>>(), 3);
    r.scores.allocated_cost[0] += 1;
    let e = snapshot::write_snapshot_to(&db, &r, &meta("fp")).unwrap_err();
    assert!(e.to_string().contains("allocated cost per account sums to 4"), "{e}");
    let mut r = hand_result(20100, &(0..5).collect::<Vec<_>>(), 3);
    r.scores.rfm_segment[2] = 40;
    let e = snapshot::write_snapshot_to(&db, &r, &meta("fp")).unwrap_err();
    assert_eq!(e.to_string(), "scoring result: rfm_segment code 40 at row 2 has no label (there are 12)");
    let mut r = hand_result(20100, &(0..5).collect::<Vec<_>>(), 3);
    r.scores.health.pop();
    assert!(snapshot::write_snapshot_to(&db, &r, &meta("fp")).is_err());
    let mut r = hand_result(20100, &[0, 2, 1], 3);
    r.scores.account = vec![0, 2, 1];
    assert!(snapshot::write_snapshot_to(&db, &r, &meta("fp")).unwrap_err().to_string().contains("increasing"));
    let c = open_ro(&db).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM snapshots"), 0);
}

#[test]
fn opening_refuses_what_is_not_a_current_store() {
    let dir = TempDir::new("open");
    let e = open_rw(&dir.path().join("missing.db")).unwrap_err();
    assert!(e.to_string().starts_with("no store at"));
    let p = dir.path().join("plain.db");
    Connection::open(&p).unwrap().execute_batch("CREATE TABLE x(a)").unwrap();
    assert!(open_rw(&p).unwrap_err().to_string().contains("not a segtui store"));
    let p2 = dir.path().join("newer.db");
    let c = new_store(&p2);
    c.execute_batch("PRAGMA user_version = 99").unwrap();
    assert!(open_ro(&p2).unwrap_err().to_string().contains("newer segtui"));
    let _ = Path::new("");
}

// ---------------------------------------------------------------------------------------------
// Measurements on a big store (not run by default):
//   SEGTUI_BENCH_DB=/path/store.db cargo test --release -p segtui-core bench_store_io -- --ignored --nocapture

#[test]
#[ignore]
fn bench_store_io() {
    use std::time::Instant;
    let Ok(db) = std::env::var("SEGTUI_BENCH_DB") else {
        eprintln!("set SEGTUI_BENCH_DB to a store");
        return;
    };
    let db = std::path::PathBuf::from(db);
    let cache = sidecar_path(&db);
    let _ = std::fs::remove_file(&cache);
    let conn = open_rw(&db).unwrap();
    let id = read::ensure_store_id(&conn).unwrap();
    let t = Instant::now();
    let stamp = read::in_read_txn(&conn, |c| read_stamp(c, &id)).unwrap();
    eprintln!("stamp: {:.3} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let s = read_store(&conn, &id).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let rows = s.li_day.len() + s.cost_day.len() + s.ev_day.len() + s.n_accounts;
    eprintln!(
        "SQLite read: {secs:.3} s, {rows} rows, {:.2} M rows/s ({} line items)",
        rows as f64 / secs / 1e6,
        s.li_day.len()
    );
    assert_eq!(s.stamp, stamp);
    let t = Instant::now();
    let bytes = sidecar::write_sidecar(&cache, &s).unwrap();
    eprintln!("cache write: {:.3} s, {} MB", t.elapsed().as_secs_f64(), bytes / 1_000_000);
    for _ in 0..3 {
        let t = Instant::now();
        let (s2, r) = load_inputs(&db, &LoadOptions::default()).unwrap();
        eprintln!(
            "load via cache: {:.3} s (stamp {:.3} s, columns {:.3} s), {:?}",
            t.elapsed().as_secs_f64(),
            r.seconds_stamp,
            r.seconds_read,
            r.cache
        );
        assert_eq!(s2.li_amount.len(), s.li_amount.len());
    }
    let day = s.latest_line_day().unwrap();
    let t = Instant::now();
    let res = run::score_loaded(&s, day, "{}").unwrap();
    eprintln!("kernel: {:.3} s, {} accounts", t.elapsed().as_secs_f64(), res.scores.account.len());
    let mut c = open_rw(&db).unwrap();
    let m = SnapshotMeta {
        mode: "transactions".into(),
        config_fp: "bench".into(),
        config_json: "{}".into(),
        data_version: s.stamp.data_version,
        created_at: "bench".into(),
        seconds_before_write: 0.0,
        series: Some("bench".into()),
    };
    for _ in 0..2 {
        let t = Instant::now();
        let w = write_snapshot(&mut c, &res, &m).unwrap();
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "snapshot write: {secs:.3} s, {} rows, {:.0} k rows/s (replaced {:?})",
            w.accounts,
            w.accounts as f64 / secs / 1e3,
            w.replaced
        );
    }
    let t = Instant::now();
    let cols = frame::read_columns(
        &c,
        "SELECT a.account_key, s.recency_days, s.frequency, s.monetary, s.r_score, s.f_score, s.m_score, \
         s.rfm_segment, s.rfm5_segment, s.revenue, s.direct_cost, s.allocated_cost, s.margin, s.margin_pct, \
         s.quadrant, s.churn_risk, s.churn_band, s.churn_reasons, s.health, s.health_band, s.lifecycle, s.tier, \
         s.size_band, a.industry, a.region FROM snapshot_accounts s JOIN accounts a ON a.id = s.account \
         WHERE s.snapshot = (SELECT max(id) FROM snapshots) ORDER BY s.account",
        &[],
        &[
            ColKind::Text, ColKind::Int, ColKind::Int, ColKind::Int, ColKind::Int, ColKind::Int, ColKind::Int,
            ColKind::Text, ColKind::Text, ColKind::Int, ColKind::Int, ColKind::Int, ColKind::Int, ColKind::Real,
            ColKind::Text, ColKind::Int, ColKind::Text, ColKind::Text, ColKind::Int, ColKind::Text, ColKind::Text,
            ColKind::Text, ColKind::Text, ColKind::Text, ColKind::Text,
        ],
        1_000_000,
    )
    .unwrap();
    eprintln!("snapshot frame read: {:.3} s, {} rows", t.elapsed().as_secs_f64(), cols[0].len);
    c.execute("DELETE FROM snapshots WHERE series = 'bench'", []).unwrap();
}

/// CPU seconds of this thread so far (to read measurements on a busy machine).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
        .map(|ns| ns / 1e9)
        .unwrap_or(0.0)
}

#[test]
#[ignore]
fn bench_snapshot_write() {
    use std::time::Instant;
    let n: usize = std::env::var("SEGTUI_BENCH_ACCOUNTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = TempDir::new("benchwrite");
    let (db, _c) = store_with_accounts(&dir, n);
    drop(_c);
    let r = hand_result(20100, &(0..n as u32).collect::<Vec<_>>(), 1000);
    let mut c = open_rw(&db).unwrap();
    for variant in ["plain", "replace", "replace"] {
        let (w0, c0) = (Instant::now(), thread_cpu());
        let w = write_snapshot(&mut c, &r, &meta("fp")).unwrap();
        let (wall, cpu) = (w0.elapsed().as_secs_f64(), thread_cpu() - c0);
        eprintln!(
            "{variant}: {wall:.3} s wall, {cpu:.3} s cpu, {} rows, {:.0} k rows/s wall, {:.0} k rows/s cpu",
            w.accounts,
            w.accounts as f64 / wall / 1e3,
            w.accounts as f64 / cpu / 1e3
        );
    }
}

#[test]
#[ignore]
fn bench_snapshot_write_variants() {
    use std::time::Instant;
    let n: usize = std::env::var("SEGTUI_BENCH_ACCOUNTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let r = hand_result(20100, &(0..n as u32).collect::<Vec<_>>(), 1000);
    for (name, pragmas) in [
        ("as shipped", ""),
        ("cache 400MB", "PRAGMA cache_size = -409600;"),
        ("cache 400MB + mmap 2GB", "PRAGMA cache_size = -409600; PRAGMA mmap_size = 2147483648;"),
    ] {
        let dir = TempDir::new("benchvar");
        let (db, c0) = store_with_accounts(&dir, n);
        drop(c0);
        let mut c = open_rw(&db).unwrap();
        c.execute_batch(pragmas).unwrap();
        for k in 0..2 {
            let (w0, t0) = (Instant::now(), thread_cpu());
            write_snapshot(&mut c, &r, &meta("fp")).unwrap();
            eprintln!("{name} #{k}: {:.3} s wall, {:.3} s cpu", w0.elapsed().as_secs_f64(), thread_cpu() - t0);
        }
    }
}

#[test]
fn pool_shares_are_kept_per_account_and_replaced_with_the_snapshot() {
    let dir = TempDir::new("shares");
    let (db, _c) = store_with_accounts(&dir, 20);
    let accounts: Vec<u32> = (0..12).map(|i| i + 3).collect(); // ids 4..=15
    let mut r = hand_result(20100, &accounts, 5);
    // two pools: hosting (one unit each to the first five) and support (7 to the last account)
    r.pools.push(crate::engine::PoolAllocation {
        category: "support".into(),
        driver: "equal".into(),
        pooled: 7,
        allocated: 7,
        unallocated: 0,
    });
    let mut support = vec![0i64; 12];
    support[11] = 7;
    r.pool_shares.push(support);
    r.scores.allocated_cost[11] += 7;
    r.scores.margin[11] -= 7;
    let w = snapshot::write_snapshot_to(&db, &r, &meta("fp1")).unwrap();
    let c = open_ro(&db).unwrap();
    let of = |id: i64| snapshot::account_pool_shares(&c, w.id, id).unwrap();
    assert_eq!(of(4), vec![("hosting".to_string(), 1), ("support".to_string(), 0)]);
    assert_eq!(of(9), vec![("hosting".to_string(), 0), ("support".to_string(), 0)]);
    assert_eq!(of(15), vec![("hosting".to_string(), 0), ("support".to_string(), 7)]);
    assert!(of(2).is_empty(), "not in the snapshot");
    // the shares of every account sum to its allocated cost
    for (i, &a) in accounts.iter().enumerate() {
        let total: i64 = of(a as i64 + 1).iter().map(|(_, v)| v).sum();
        assert_eq!(total, r.scores.allocated_cost[i]);
    }
    // shares that do not add up are refused before anything is written
    let mut bad = r.clone();
    bad.pool_shares[1][0] = 1;
    let e = snapshot::write_snapshot_to(&db, &bad, &meta("fp1")).unwrap_err();
    assert!(e.to_string().contains("do not sum"), "{e}");
    // replacing the snapshot replaces its shares
    let w2 = snapshot::write_snapshot_to(&db, &r, &meta("fp1")).unwrap();
    let n: i64 = c.query_row("SELECT count(*) FROM snapshot_pool_shares", [], |x| x.get(0)).unwrap();
    assert_eq!(n, 2);
    assert_eq!(snapshot::account_pool_shares(&c, w2.id, 15).unwrap()[1].1, 7);
}
