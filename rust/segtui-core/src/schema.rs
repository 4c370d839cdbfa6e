//! The store's schema, as an ordered list of forward migrations.
//!
//! This is the single source of the schema: the Python package applies the same list
//! (`segtui._core.schema_migrations()`), and the Rust tests build stores from it.
//! Conventions:
//! - money is INTEGER minor units (cents for a 2-decimal currency);
//! - `day` columns are days since 1970-01-01 (the calendar date as written in the export);
//! - `ts` columns are Unix seconds (UTC when the export gave an offset, else the local time
//!   as written, read as if it were UTC);
//! - accounts get integer keys; the exporter's id is kept as text in `accounts.account_key`;
//! - `nkey` is a 128-bit natural key (fields + occurrence number among identical rows), so an
//!   overlapping export never doubles a row while genuine duplicate lines are all kept.

/// (version, SQL) pairs; applying versions `current+1..=latest` in order upgrades a store.
pub const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4), (5, V5)];

/// The newest schema version this build understands.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

const V1: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('data_version', '0');

CREATE TABLE imports (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,          -- line-items | costs | events | accounts
    file          TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,          -- sha256 of the file's bytes
    options       TEXT NOT NULL,          -- JSON: mapping, preset, formats (part of the fingerprint)
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    rows_read     INTEGER NOT NULL DEFAULT 0,
    rows_imported INTEGER NOT NULL DEFAULT 0,
    rows_duplicate INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    seconds       REAL,
    summary       TEXT                    -- JSON summary as printed by `segtui import --format json`
);
CREATE UNIQUE INDEX imports_fingerprint ON imports(kind, fingerprint, options);

CREATE TABLE rejects (
    id        INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    file      TEXT NOT NULL,
    row       INTEGER NOT NULL,           -- 1-based data row number (header is row 0)
    col       TEXT,                       -- source column name, NULL for whole-row problems
    reason    TEXT NOT NULL,              -- stable code: missing_account, bad_amount, bad_date, ...
    message   TEXT NOT NULL,              -- human text
    raw       TEXT NOT NULL               -- the row's values as JSON object, nothing lost
);
CREATE INDEX rejects_import ON rejects(import_id);

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    account_key TEXT NOT NULL UNIQUE,     -- the exporter's id, as text (leading zeros kept)
    name        TEXT,
    industry    TEXT,
    employees   INTEGER,
    region      TEXT,
    plan        TEXT,
    signup_day  INTEGER,
    renewal_day INTEGER,
    mrr         INTEGER,                  -- minor units per month
    seats       INTEGER,
    seat_limit  INTEGER,
    first_import INTEGER REFERENCES imports(id)
);

CREATE TABLE line_items (
    id          INTEGER PRIMARY KEY,
    account     INTEGER NOT NULL REFERENCES accounts(id),
    day         INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    invoice     TEXT,
    invoice_key INTEGER NOT NULL,         -- 64-bit hash of invoice text, 0 when there is none
    sku         TEXT,
    description TEXT,
    quantity    TEXT,                     -- exact decimal text as given
    unit_price  INTEGER,                  -- minor units
    amount      INTEGER NOT NULL,         -- minor units; negative = refund/credit
    is_cancel   INTEGER NOT NULL DEFAULT 0,
    import_id   INTEGER NOT NULL REFERENCES imports(id),
    nkey        BLOB NOT NULL UNIQUE
);
CREATE INDEX line_items_account_day ON line_items(account, day);
CREATE INDEX line_items_day ON line_items(day);

CREATE TABLE cost_categories (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL UNIQUE
);

CREATE TABLE costs (
    id           INTEGER PRIMARY KEY,
    account      INTEGER REFERENCES accounts(id),   -- NULL = pooled cost
    day          INTEGER NOT NULL,
    category     INTEGER NOT NULL REFERENCES cost_categories(id),
    amount       INTEGER NOT NULL,
    driver_units INTEGER,
    import_id    INTEGER NOT NULL REFERENCES imports(id),
    nkey         BLOB NOT NULL UNIQUE
);
CREATE INDEX costs_account_day ON costs(account, day);

CREATE TABLE event_kinds (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    account   INTEGER NOT NULL REFERENCES accounts(id),
    day       INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    kind      INTEGER NOT NULL REFERENCES event_kinds(id),
    value     REAL,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    nkey      BLOB NOT NULL UNIQUE
);
CREATE INDEX events_account_day ON events(account, day);

CREATE TABLE snapshots (
    id           INTEGER PRIMARY KEY,
    as_of_day    INTEGER NOT NULL,
    mode         TEXT NOT NULL,           -- transactions | saas
    config_fp    TEXT NOT NULL,           -- fingerprint of the scoring configuration
    config       TEXT NOT NULL,           -- the configuration as JSON
    data_version INTEGER NOT NULL,        -- meta.data_version the snapshot was computed from
    created_at   TEXT NOT NULL,
    seconds      REAL,
    accounts     INTEGER NOT NULL,
    net_revenue  INTEGER NOT NULL,
    pooled_cost  INTEGER NOT NULL DEFAULT 0,
    allocated_cost INTEGER NOT NULL DEFAULT 0,
    unallocated_cost INTEGER NOT NULL DEFAULT 0,
    series       TEXT,                    -- series label when part of `--every`, else NULL
    UNIQUE (as_of_day, mode, config_fp)
);

CREATE TABLE snapshot_pools (
    snapshot    INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    category    TEXT NOT NULL,
    driver      TEXT NOT NULL,
    pooled      INTEGER NOT NULL,
    allocated   INTEGER NOT NULL,
    unallocated INTEGER NOT NULL,
    PRIMARY KEY (snapshot, category)
) WITHOUT ROWID;

CREATE TABLE snapshot_accounts (
    snapshot       INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    account        INTEGER NOT NULL REFERENCES accounts(id),
    recency_days   INTEGER,
    frequency      INTEGER NOT NULL,
    monetary       INTEGER NOT NULL,
    r_score        INTEGER,
    f_score        INTEGER,
    m_score        INTEGER,
    rfm_segment    TEXT NOT NULL,
    rfm5_segment   TEXT NOT NULL,
    revenue        INTEGER NOT NULL,
    direct_cost    INTEGER NOT NULL,
    allocated_cost INTEGER NOT NULL,
    margin         INTEGER NOT NULL,
    margin_pct     REAL,
    quadrant       TEXT,
    churn_risk     INTEGER NOT NULL,
    churn_band     TEXT NOT NULL,
    churn_reasons  TEXT NOT NULL,         -- comma-separated reason codes, '' when none
    health         INTEGER NOT NULL,
    health_band    TEXT NOT NULL,
    lifecycle      TEXT NOT NULL,
    tier           TEXT,
    size_band      TEXT,
    primary_segment TEXT,
    PRIMARY KEY (snapshot, account)
) WITHOUT ROWID;
CREATE INDEX snapshot_accounts_segment ON snapshot_accounts(snapshot, rfm_segment);
"#;

/// v2 (segment history): effective segments under hysteresis, stored beside the raw ones.
/// Only *held* accounts get a row (effective != raw); everyone else's effective segment is the
/// raw one. `snapshot_hysteresis` stamps what each snapshot's rows were computed from.
const V2: &str = r#"
CREATE TABLE snapshot_effective (
    snapshot     INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    account      INTEGER NOT NULL REFERENCES accounts(id),
    rfm_segment  TEXT NOT NULL,           -- effective rfm11 segment (the raw one is in snapshot_accounts)
    rfm5_segment TEXT NOT NULL,           -- effective rfm5 segment
    pending      INTEGER NOT NULL,        -- consecutive snapshots whose raw segment was elsewhere (1..k-1)
    PRIMARY KEY (snapshot, account)
) WITHOUT ROWID;

CREATE TABLE snapshot_hysteresis (
    snapshot      INTEGER PRIMARY KEY REFERENCES snapshots(id) ON DELETE CASCADE,
    k             INTEGER NOT NULL,       -- hysteresis the rows were computed with (1 = none)
    prev_snapshot INTEGER,                -- previous snapshot of the chain (same mode and config), NULL = first
    basis         TEXT NOT NULL,          -- snapshots.created_at when computed (rescoring makes it stale)
    held          INTEGER NOT NULL,       -- rows in snapshot_effective
    computed_at   TEXT NOT NULL
);

CREATE VIEW snapshot_segments AS
SELECT a.snapshot, a.account,
       a.rfm_segment, a.rfm5_segment,
       coalesce(e.rfm_segment, a.rfm_segment)   AS effective_segment,
       coalesce(e.rfm5_segment, a.rfm5_segment) AS effective_rfm5_segment,
       coalesce(e.pending, 0)                   AS pending
FROM snapshot_accounts a
LEFT JOIN snapshot_effective e ON e.snapshot = a.snapshot AND e.account = a.account;
"#;

/// v3 (segment history): the columns history reads, packed once per snapshot (little-endian
/// arrays: u32 account ids, i64 revenue, u16 codes of the rfm11 and rfm5 segments with their
/// labels as a JSON list), so a migration between million-account snapshots reads a few MB instead of every
/// wide row. `basis` is the snapshot's `created_at` they were packed from.
const V3: &str = r#"
CREATE TABLE snapshot_columns (
    id       INTEGER PRIMARY KEY,
    snapshot INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,               -- account | revenue | a segment column of snapshot_accounts
    basis    TEXT NOT NULL,
    labels   TEXT,                        -- JSON list: code -> label (segment columns only)
    data     BLOB NOT NULL,
    UNIQUE (snapshot, name)
);
"#;

/// v4: no secondary index on `snapshot_accounts`. Keeping `(snapshot, rfm_segment)` indexed cost
/// about 2 s of every million-account snapshot write (1.3 s inserting, 0.7 s deleting a replaced
/// snapshot) to save a fraction of a second on a one-segment listing, which reads the snapshot's
/// rows by their primary key range instead (about 0.2 s at a million accounts). Segment
/// browsing in the TUI and history read whole snapshots or the packed columns anyway.
const V4: &str = r#"
DROP INDEX IF EXISTS snapshot_accounts_segment;
"#;

/// v5: each account's share of each pooled cost, so an account's allocated cost is explained
/// by category. One row per (snapshot, pooled category): little-endian i64 shares in minor
/// units, one per account of the snapshot in account order (the order of its
/// `snapshot_accounts` rows); written in the snapshot's own transaction. Snapshots written
/// before v5 have no rows here (their per-account split is known in total only).
const V5: &str = r#"
CREATE TABLE snapshot_pool_shares (
    id       INTEGER PRIMARY KEY,
    snapshot INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    data     BLOB NOT NULL,
    UNIQUE (snapshot, category)
);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_to_an_empty_store() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for (_, sql) in MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        let n: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type='table'", [], |r| r.get(0))
            .unwrap();
        assert!(n >= 12);
        assert_eq!(latest_version(), 5);
        // writes of million-account snapshots pay for every index of snapshot_accounts (v4)
        let idx: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='index' AND tbl_name='snapshot_accounts' AND sql IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(idx, 0);
    }
}
