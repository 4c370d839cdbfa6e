//! Scoring inputs straight out of SQLite, and the stamp that identifies the data.
//!
//! [`read_store`] reads every row a scoring run can use (all dates: a series of as-of dates
//! reuses one load and the kernel filters by day) into owned column vectors, one sequential
//! table scan per table, inside one read transaction, together with the [`Stamp`] of exactly
//! that data. [`StoreInputs::inputs`] lends them to the engine as an [`Inputs`].

use rusqlite::{Connection, OptionalExtension, Row};

use super::{Result, SqlContext, StoreIoError};
use crate::engine::{AccountCols, Costs, Events, Inputs, LineItems, NULL_DAY, NULL_I64, POOLED};

/// Rows sampled per table for the stamp's content check (evenly spaced over the ids).
pub const SAMPLE_ROWS: i64 = 256;

/// The identity of one table's contents as far as the stamp can tell cheaply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStamp {
    /// Row count (small name tables only; -1 for the big tables, where counting would cost
    /// a full index walk).
    pub count: i64,
    pub max_id: i64,
    /// Hash of the scoring columns of [`SAMPLE_ROWS`] rows at evenly spaced ids (all rows
    /// for the small name tables).
    pub sample: u64,
}

/// What identifies the data a load was made from: the store's random identity
/// (`meta.store_id`, so a recreated store never matches), the schema version,
/// `meta.data_version` (bumped by every import), the last import's fingerprint and finish
/// time, and per table the largest id and a hash of the scoring columns of the last row and of
/// rows at evenly spaced ids (every row of the small name tables).
///
/// Every change segtui itself makes bumps `data_version`. A hand edit with another tool that
/// leaves `data_version` alone is still seen when it changes a table's largest id or touches
/// a sampled row; after other hand edits, delete the cache (`<store>.cols`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub schema_version: i64,
    pub store_id: String,
    pub data_version: i64,
    /// Hash of (id, kind, fingerprint, finished_at) of the newest import, 0 when none.
    pub last_import: u64,
    pub line_items: TableStamp,
    pub costs: TableStamp,
    pub events: TableStamp,
    pub accounts: TableStamp,
    pub cost_categories: TableStamp,
    pub event_kinds: TableStamp,
}

impl Stamp {
    /// A one-line canonical text form (what the sidecar header stores and compares).
    pub fn to_text(&self) -> String {
        let t = |s: &TableStamp| format!("{}/{}/{:016x}", s.count, s.max_id, s.sample);
        format!(
            "v1 schema={} store={} data={} import={:016x} li={} co={} ev={} ac={} cc={} ek={}",
            self.schema_version,
            self.store_id,
            self.data_version,
            self.last_import,
            t(&self.line_items),
            t(&self.costs),
            t(&self.events),
            t(&self.accounts),
            t(&self.cost_categories),
            t(&self.event_kinds),
        )
    }
}

impl Stamp {
    /// Parse [`Stamp::to_text`] back (`None` for any other text).
    pub fn parse(text: &str) -> Option<Stamp> {
        let mut it = text.split(' ');
        if it.next()? != "v1" {
            return None;
        }
        let mut st = Stamp::default();
        let table = |v: &str| -> Option<TableStamp> {
            let mut p = v.split('/');
            let t = TableStamp {
                count: p.next()?.parse().ok()?,
                max_id: p.next()?.parse().ok()?,
                sample: u64::from_str_radix(p.next()?, 16).ok()?,
            };
            p.next().is_none().then_some(t)
        };
        for part in it {
            let (k, v) = part.split_once('=')?;
            match k {
                "schema" => st.schema_version = v.parse().ok()?,
                "store" => st.store_id = v.to_string(),
                "data" => st.data_version = v.parse().ok()?,
                "import" => st.last_import = u64::from_str_radix(v, 16).ok()?,
                "li" => st.line_items = table(v)?,
                "co" => st.costs = table(v)?,
                "ev" => st.events = table(v)?,
                "ac" => st.accounts = table(v)?,
                "cc" => st.cost_categories = table(v)?,
                "ek" => st.event_kinds = table(v)?,
                _ => return None,
            }
        }
        Some(st)
    }
}

/// Every scoring input, owned. Borrow it as an engine [`Inputs`] with [`StoreInputs::inputs`].
#[derive(Clone, Debug, Default)]
pub struct StoreInputs {
    pub stamp: Stamp,
    /// `max(accounts.id)`: dense account indexes are `0..n_accounts` (`accounts.id - 1`).
    pub n_accounts: usize,
    pub li_account: Vec<u32>,
    pub li_day: Vec<i32>,
    pub li_amount: Vec<i64>,
    pub li_invoice_key: Vec<i64>,
    pub cost_account: Vec<i64>,
    pub cost_day: Vec<i32>,
    pub cost_category: Vec<u32>,
    pub cost_amount: Vec<i64>,
    pub cost_driver_units: Vec<i64>,
    pub ev_account: Vec<u32>,
    pub ev_day: Vec<i32>,
    pub ev_kind: Vec<u32>,
    pub acc_employees: Vec<i64>,
    pub acc_mrr: Vec<i64>,
    pub acc_seats: Vec<i64>,
    pub acc_seat_limit: Vec<i64>,
    pub acc_signup_day: Vec<i32>,
    pub acc_renewal_day: Vec<i32>,
    /// Category names ordered by `cost_categories.id`; `cost_category` indexes into it.
    pub cost_categories: Vec<String>,
    /// Event kind names ordered by `event_kinds.id`; `ev_kind` indexes into it.
    pub event_kinds: Vec<String>,
}

impl StoreInputs {
    /// The engine's view of these columns (no copy).
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            n_accounts: self.n_accounts,
            line_items: LineItems {
                account: &self.li_account,
                day: &self.li_day,
                amount: &self.li_amount,
                invoice_key: &self.li_invoice_key,
            },
            costs: Costs {
                account: &self.cost_account,
                day: &self.cost_day,
                category: &self.cost_category,
                amount: &self.cost_amount,
                driver_units: &self.cost_driver_units,
            },
            events: Events { account: &self.ev_account, day: &self.ev_day, kind: &self.ev_kind },
            accounts: AccountCols {
                employees: &self.acc_employees,
                mrr: &self.acc_mrr,
                seats: &self.acc_seats,
                seat_limit: &self.acc_seat_limit,
                signup_day: &self.acc_signup_day,
                renewal_day: &self.acc_renewal_day,
            },
            cost_categories: &self.cost_categories,
            event_kinds: &self.event_kinds,
        }
    }

    /// The latest line item day (the default as-of date), `None` without line items.
    pub fn latest_line_day(&self) -> Option<i32> {
        self.li_day.iter().copied().max()
    }

    /// Rows held, per table: (line items, costs, events, accounts).
    pub fn row_counts(&self) -> (usize, usize, usize, usize) {
        (self.li_day.len(), self.cost_day.len(), self.ev_day.len(), self.n_accounts)
    }

    /// Bytes held by the column vectors.
    pub fn heap_bytes(&self) -> usize {
        self.li_day.len() * 24 + self.cost_day.len() * 32 + self.ev_day.len() * 12 + self.n_accounts * 40
    }

    /// Check the invariants the engine relies on (indexes in range); the sidecar loader calls
    /// it so a damaged cache can never index out of bounds.
    pub fn validate(&self) -> Result<()> {
        let n = self.n_accounts;
        let lens = [
            self.li_account.len(),
            self.li_day.len(),
            self.li_amount.len(),
            self.li_invoice_key.len(),
        ];
        let cl = [
            self.cost_account.len(),
            self.cost_day.len(),
            self.cost_category.len(),
            self.cost_amount.len(),
            self.cost_driver_units.len(),
        ];
        let el = [self.ev_account.len(), self.ev_day.len(), self.ev_kind.len()];
        let al = [
            self.acc_employees.len(),
            self.acc_mrr.len(),
            self.acc_seats.len(),
            self.acc_seat_limit.len(),
            self.acc_signup_day.len(),
            self.acc_renewal_day.len(),
        ];
        if lens.iter().any(|&l| l != lens[0])
            || cl.iter().any(|&l| l != cl[0])
            || el.iter().any(|&l| l != el[0])
            || al.iter().any(|&l| l != n)
        {
            return Err(StoreIoError::Data("scoring columns of unequal length".into()));
        }
        if self.li_account.iter().any(|&a| a as usize >= n) {
            return Err(StoreIoError::Data("a line item's account index is out of range".into()));
        }
        if self.ev_account.iter().any(|&a| a as usize >= n) {
            return Err(StoreIoError::Data("an event's account index is out of range".into()));
        }
        if self.cost_account.iter().any(|&a| a != POOLED && (a < 0 || a as usize >= n)) {
            return Err(StoreIoError::Data("a cost's account index is out of range".into()));
        }
        let nc = self.cost_categories.len();
        if self.cost_category.iter().any(|&c| c as usize >= nc) {
            return Err(StoreIoError::Data("a cost's category index is out of range".into()));
        }
        let nk = self.event_kinds.len();
        if self.ev_kind.iter().any(|&k| k as usize >= nk) {
            return Err(StoreIoError::Data("an event's kind index is out of range".into()));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The stamp

/// FNV-1a over bytes with a final avalanche: small inputs (stamps, samples) only.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    pub fn finish(self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// Read the store's random identity, creating it when absent (needs a writable connection;
/// on a read-only one an absent identity reads as the empty string).
pub fn ensure_store_id(conn: &Connection) -> Result<String> {
    let get = |c: &Connection| -> Result<Option<String>> {
        c.query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |r| r.get(0))
            .optional()
            .ctx("reading meta.store_id")
    };
    if let Some(id) = get(conn)? {
        return Ok(id);
    }
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
        return Ok(String::new());
    }
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', lower(hex(randomblob(16))))",
        [],
    )
    .ctx("creating meta.store_id")?;
    Ok(get(conn)?.unwrap_or_default())
}

fn table_max_id(conn: &Connection, table: &str) -> Result<i64> {
    // max(id) is one b-tree descent. (count(*) would walk a whole index: 0.3-2 s for 10 M
    // rows, more than the rest of a cached load; see the module documentation of `sidecar`
    // for what the stamp does and does not detect.)
    conn.query_row(&format!("SELECT coalesce(max(id), 0) FROM {table}"), [], |r| r.get(0))
        .ctx(&format!("reading the largest id of {table}"))
}

/// Hash the given columns of rows at `SAMPLE_ROWS` evenly spaced ids (absent ids hash as such).
fn sample_rows(conn: &Connection, table: &str, cols: &str, max_id: i64) -> Result<u64> {
    let mut h = Fnv::new();
    if max_id <= 0 {
        return Ok(h.finish());
    }
    let mut stmt = conn
        .prepare(&format!("SELECT {cols} FROM {table} WHERE id = ?1"))
        .ctx(&format!("sampling {table}"))?;
    let ncol = stmt.column_count();
    let n = SAMPLE_ROWS.min(max_id);
    let mut last = 0;
    for k in 0..n {
        // ids 1 + floor(k * max / n): the first and (for k = n-1) close to the last row
        let id = 1 + ((k as i128 * max_id as i128) / n as i128) as i64;
        if id == last {
            continue;
        }
        last = id;
        h.i64(id);
        let mut rows = stmt.query([id]).ctx(&format!("sampling {table}"))?;
        match rows.next().ctx(&format!("sampling {table}"))? {
            None => h.bytes(b"-"),
            Some(row) => {
                for i in 0..ncol {
                    hash_value(&mut h, row, i);
                }
            }
        }
    }
    // the last row always counts (appends change it)
    let mut rows = stmt.query([max_id]).ctx(&format!("sampling {table}"))?;
    if let Some(row) = rows.next().ctx(&format!("sampling {table}"))? {
        for i in 0..ncol {
            hash_value(&mut h, row, i);
        }
    }
    Ok(h.finish())
}

fn hash_value(h: &mut Fnv, row: &Row<'_>, i: usize) {
    use rusqlite::types::ValueRef;
    match row.get_ref_unwrap(i) {
        ValueRef::Null => h.bytes(b"n"),
        ValueRef::Integer(v) => {
            h.bytes(b"i");
            h.i64(v)
        }
        ValueRef::Real(v) => {
            h.bytes(b"r");
            h.i64(v.to_bits() as i64)
        }
        ValueRef::Text(t) => {
            h.bytes(b"t");
            h.i64(t.len() as i64);
            h.bytes(t)
        }
        ValueRef::Blob(b) => {
            h.bytes(b"b");
            h.i64(b.len() as i64);
            h.bytes(b)
        }
    }
}

fn names_stamp(conn: &Connection, table: &str) -> Result<(TableStamp, Vec<(i64, String)>)> {
    let mut stmt = conn
        .prepare(&format!("SELECT id, name FROM {table} ORDER BY id"))
        .ctx(&format!("reading {table}"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .ctx(&format!("reading {table}"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .ctx(&format!("reading {table}"))?;
    let mut h = Fnv::new();
    for (id, name) in &rows {
        h.i64(*id);
        h.i64(name.len() as i64);
        h.bytes(name.as_bytes());
    }
    let st = TableStamp {
        count: rows.len() as i64,
        max_id: rows.last().map(|r| r.0).unwrap_or(0),
        sample: h.finish(),
    };
    Ok((st, rows))
}

const LI_COLS: &str = "id, account, day, amount, invoice_key";
const COST_COLS: &str = "id, account, day, category, amount, driver_units";
const EV_COLS: &str = "id, account, day, kind";
const ACC_COLS: &str = "id, employees, mrr, seats, seat_limit, signup_day, renewal_day";

/// The stamp of the store as seen by `conn`'s current read transaction (call it inside the
/// transaction that reads the data, so the two agree). `store_id` comes from
/// [`ensure_store_id`].
pub fn read_stamp(conn: &Connection, store_id: &str) -> Result<Stamp> {
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx("reading the schema version")?;
    let data_version: i64 = conn
        .query_row(
            "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'data_version'), 0)",
            [],
            |r| r.get(0),
        )
        .ctx("reading meta.data_version")?;
    let last_import = {
        let mut stmt = conn
            .prepare("SELECT id, kind, fingerprint, coalesce(finished_at, '') FROM imports ORDER BY id DESC LIMIT 1")
            .ctx("reading the last import")?;
        let mut rows = stmt.query([]).ctx("reading the last import")?;
        match rows.next().ctx("reading the last import")? {
            None => 0,
            Some(row) => {
                let mut h = Fnv::new();
                for i in 0..4 {
                    hash_value(&mut h, row, i);
                }
                h.finish()
            }
        }
    };
    let mut tables = Vec::with_capacity(4);
    for (table, cols) in [("line_items", LI_COLS), ("costs", COST_COLS), ("events", EV_COLS), ("accounts", ACC_COLS)] {
        let max_id = table_max_id(conn, table)?;
        let sample = sample_rows(conn, table, cols, max_id)?;
        tables.push(TableStamp { count: -1, max_id, sample });
    }
    let (cost_categories, _) = names_stamp(conn, "cost_categories")?;
    let (event_kinds, _) = names_stamp(conn, "event_kinds")?;
    let accounts = tables.pop().unwrap();
    let events = tables.pop().unwrap();
    let costs = tables.pop().unwrap();
    let line_items = tables.pop().unwrap();
    Ok(Stamp {
        schema_version,
        store_id: store_id.to_string(),
        data_version,
        last_import,
        line_items,
        costs,
        events,
        accounts,
        cost_categories,
        event_kinds,
    })
}

// ---------------------------------------------------------------------------------------------
// The rows

fn bad(table: &str, id: i64, col: &str, what: &str) -> StoreIoError {
    StoreIoError::Data(format!("{table} row id={id}: column {col}: {what}"))
}

#[inline]
fn int_at(row: &Row<'_>, i: usize, table: &str, id: i64, col: &str) -> Result<i64> {
    row.get_ref_unwrap(i)
        .as_i64()
        .map_err(|_| bad(table, id, col, "expected an integer"))
}

#[inline]
fn opt_int_at(row: &Row<'_>, i: usize, table: &str, id: i64, col: &str) -> Result<Option<i64>> {
    row.get_ref_unwrap(i)
        .as_i64_or_null()
        .map_err(|_| bad(table, id, col, "expected an integer or NULL"))
}

#[inline]
fn day_of(v: i64, table: &str, id: i64, col: &str) -> Result<i32> {
    // days since 1970 within years 0001..9999
    if !(-719_162..=2_932_896).contains(&v) {
        return Err(bad(table, id, col, &format!("day number {v} is outside years 1..9999")));
    }
    Ok(v as i32)
}

#[inline]
fn account_index(v: i64, n: usize, table: &str, id: i64) -> Result<u32> {
    if v < 1 || v as u64 > n as u64 {
        return Err(bad(table, id, "account", &format!("{v} is not an account id")));
    }
    Ok((v - 1) as u32)
}

fn dense_index(ids: &[(i64, String)], table: &str) -> Result<(Vec<u32>, Vec<String>)> {
    // map store id -> position in the id-ordered name list
    let max = ids.last().map(|r| r.0).unwrap_or(0);
    if max > 10_000_000 || ids.iter().any(|r| r.0 < 1) {
        return Err(StoreIoError::Data(format!("{table}: ids must be 1..10,000,000")));
    }
    let mut map = vec![u32::MAX; max as usize + 1];
    for (pos, (id, _)) in ids.iter().enumerate() {
        map[*id as usize] = pos as u32;
    }
    Ok((map, ids.iter().map(|r| r.1.clone()).collect()))
}

/// Read every scoring input out of the store in one read transaction, with its stamp.
/// `store_id` comes from [`ensure_store_id`].
pub fn read_store(conn: &Connection, store_id: &str) -> Result<StoreInputs> {
    // One read transaction: the stamp and the rows describe the same data.
    in_read_txn(conn, |c| {
        let stamp = read_stamp(c, store_id)?;
        read_rows(c, stamp)
    })
}

/// Run `f` inside one read transaction (a consistent view of the store).
pub fn in_read_txn<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN").ctx("starting a read transaction")?;
    let out = f(conn);
    let end = conn.execute_batch("COMMIT").ctx("ending the read transaction");
    let out = out?;
    end?;
    Ok(out)
}

/// Read the rows described by `stamp`; call it in the read transaction `stamp` was read in.
pub fn read_rows(conn: &Connection, stamp: Stamp) -> Result<StoreInputs> {
    let mut s = StoreInputs::default();
    read_accounts(conn, &stamp, &mut s)?;
    let (cat_map, kind_map) = read_names(conn, &mut s)?;
    let n = s.n_accounts;
    read_line_items(conn, n, 0, stamp.line_items.max_id, &mut s)?;
    read_costs(conn, n, &cat_map, 0, stamp.costs.max_id, &mut s)?;
    read_events(conn, n, &kind_map, 0, stamp.events.max_id, &mut s)?;
    s.stamp = stamp;
    Ok(s)
}

/// Bring `old` (the inputs of `old_stamp`, e.g. from the cache) up to `stamp` by reading only
/// the rows added since, when the store only grew: same store and schema, every table's
/// largest id at least the old one with its old rows unchanged (the content sample of the old
/// id range, recomputed now, equals the old one), and the old category and event-kind lists
/// still a prefix of the current ones. Accounts are re-read whole (imports update their
/// firmographics in place). `None` when the store did not simply grow.
pub fn read_appended(conn: &Connection, old_stamp: &Stamp, mut old: StoreInputs, stamp: Stamp) -> Result<Option<(StoreInputs, usize)>> {
    if old_stamp.store_id.is_empty()
        || old_stamp.store_id != stamp.store_id
        || old_stamp.schema_version != stamp.schema_version
    {
        return Ok(None);
    }
    for (table, cols, o, n) in [
        ("line_items", LI_COLS, &old_stamp.line_items, &stamp.line_items),
        ("costs", COST_COLS, &old_stamp.costs, &stamp.costs),
        ("events", EV_COLS, &old_stamp.events, &stamp.events),
    ] {
        if n.max_id < o.max_id || sample_rows(conn, table, cols, o.max_id)? != o.sample {
            return Ok(None);
        }
    }
    let before = old.li_day.len() + old.cost_day.len() + old.ev_day.len();
    let (old_cats, old_kinds) = (std::mem::take(&mut old.cost_categories), std::mem::take(&mut old.event_kinds));
    read_accounts(conn, &stamp, &mut old)?;
    let (cat_map, kind_map) = read_names(conn, &mut old)?;
    if !old.cost_categories.starts_with(&old_cats) || !old.event_kinds.starts_with(&old_kinds) {
        return Ok(None);
    }
    let n = old.n_accounts;
    read_line_items(conn, n, old_stamp.line_items.max_id, stamp.line_items.max_id, &mut old)?;
    read_costs(conn, n, &cat_map, old_stamp.costs.max_id, stamp.costs.max_id, &mut old)?;
    read_events(conn, n, &kind_map, old_stamp.events.max_id, stamp.events.max_id, &mut old)?;
    old.stamp = stamp;
    old.validate()?;
    let added = old.li_day.len() + old.cost_day.len() + old.ev_day.len() - before;
    Ok(Some((old, added)))
}

fn read_accounts(conn: &Connection, stamp: &Stamp, s: &mut StoreInputs) -> Result<()> {
    let n_accounts = stamp.accounts.max_id.max(0);
    if n_accounts > 2_000_000 {
        // dense indexing allocates per id: refuse absurdly sparse ids rather than exhaust memory
        let count: i64 =
            conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0)).ctx("counting accounts")?;
        if n_accounts > u32::MAX as i64 || n_accounts > 2 * count + 1_000_000 {
            return Err(StoreIoError::Data(format!(
                "accounts: ids are too sparse for dense indexing ({count} rows, largest id {n_accounts})"
            )));
        }
    }
    let n = n_accounts as usize;
    s.n_accounts = n;
    s.acc_employees = vec![NULL_I64; n];
    s.acc_mrr = vec![NULL_I64; n];
    s.acc_seats = vec![NULL_I64; n];
    s.acc_seat_limit = vec![NULL_I64; n];
    s.acc_signup_day = vec![NULL_DAY; n];
    s.acc_renewal_day = vec![NULL_DAY; n];
    let t = "accounts";
    let mut stmt = conn.prepare(&format!("SELECT {ACC_COLS} FROM accounts")).ctx("reading accounts")?;
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().ctx("reading accounts")? {
        let id = int_at(row, 0, t, 0, "id")?;
        if id < 1 || id as usize > n {
            return Err(bad(t, id, "id", "ids must be 1 or more"));
        }
        let i = (id - 1) as usize;
        s.acc_employees[i] = opt_int_at(row, 1, t, id, "employees")?.unwrap_or(NULL_I64);
        s.acc_mrr[i] = opt_int_at(row, 2, t, id, "mrr")?.unwrap_or(NULL_I64);
        s.acc_seats[i] = opt_int_at(row, 3, t, id, "seats")?.unwrap_or(NULL_I64);
        s.acc_seat_limit[i] = opt_int_at(row, 4, t, id, "seat_limit")?.unwrap_or(NULL_I64);
        if let Some(d) = opt_int_at(row, 5, t, id, "signup_day")? {
            s.acc_signup_day[i] = day_of(d, t, id, "signup_day")?;
        }
        if let Some(d) = opt_int_at(row, 6, t, id, "renewal_day")? {
            s.acc_renewal_day[i] = day_of(d, t, id, "renewal_day")?;
        }
    }
    Ok(())
}

/// Category and kind names into `s`; returns the maps store id -> dense index.
fn read_names(conn: &Connection, s: &mut StoreInputs) -> Result<(Vec<u32>, Vec<u32>)> {
    let (_, cats) = names_stamp(conn, "cost_categories")?;
    let (cat_map, cat_names) = dense_index(&cats, "cost_categories")?;
    let (_, kinds) = names_stamp(conn, "event_kinds")?;
    let (kind_map, kind_names) = dense_index(&kinds, "event_kinds")?;
    s.cost_categories = cat_names;
    s.event_kinds = kind_names;
    Ok((cat_map, kind_map))
}

/// The rows of `table` with `after < id <= upto`, in id order.
fn range_query(table: &str, cols: &str) -> String {
    format!("SELECT {cols} FROM {table} WHERE id > ?1 AND id <= ?2 ORDER BY id")
}

fn read_line_items(conn: &Connection, n: usize, after: i64, upto: i64, s: &mut StoreInputs) -> Result<()> {
    let t = "line_items";
    let cap = (upto - after).max(0) as usize;
    s.li_account.reserve_exact(cap);
    s.li_day.reserve_exact(cap);
    s.li_amount.reserve_exact(cap);
    s.li_invoice_key.reserve_exact(cap);
    let mut stmt = conn.prepare(&range_query(t, LI_COLS)).ctx("reading line_items")?;
    let mut rows = stmt.query([after, upto]).ctx("reading line_items")?;
    while let Some(row) = rows.next().ctx("reading line_items")? {
        let id = int_at(row, 0, t, 0, "id")?;
        s.li_account.push(account_index(int_at(row, 1, t, id, "account")?, n, t, id)?);
        s.li_day.push(day_of(int_at(row, 2, t, id, "day")?, t, id, "day")?);
        s.li_amount.push(int_at(row, 3, t, id, "amount")?);
        s.li_invoice_key.push(int_at(row, 4, t, id, "invoice_key")?);
    }
    Ok(())
}

fn read_costs(conn: &Connection, n: usize, cat_map: &[u32], after: i64, upto: i64, s: &mut StoreInputs) -> Result<()> {
    let t = "costs";
    let cap = (upto - after).max(0) as usize;
    s.cost_account.reserve_exact(cap);
    s.cost_day.reserve_exact(cap);
    s.cost_category.reserve_exact(cap);
    s.cost_amount.reserve_exact(cap);
    s.cost_driver_units.reserve_exact(cap);
    let mut stmt = conn.prepare(&range_query(t, COST_COLS)).ctx("reading costs")?;
    let mut rows = stmt.query([after, upto]).ctx("reading costs")?;
    while let Some(row) = rows.next().ctx("reading costs")? {
        let id = int_at(row, 0, t, 0, "id")?;
        s.cost_account.push(match opt_int_at(row, 1, t, id, "account")? {
            None => POOLED,
            Some(a) => account_index(a, n, t, id)? as i64,
        });
        s.cost_day.push(day_of(int_at(row, 2, t, id, "day")?, t, id, "day")?);
        let c = int_at(row, 3, t, id, "category")?;
        let ci = if c >= 0 && (c as usize) < cat_map.len() { cat_map[c as usize] } else { u32::MAX };
        if ci == u32::MAX {
            return Err(bad(t, id, "category", &format!("{c} is not a cost category id")));
        }
        s.cost_category.push(ci);
        s.cost_amount.push(int_at(row, 4, t, id, "amount")?);
        s.cost_driver_units.push(opt_int_at(row, 5, t, id, "driver_units")?.unwrap_or(NULL_I64));
    }
    Ok(())
}

fn read_events(conn: &Connection, n: usize, kind_map: &[u32], after: i64, upto: i64, s: &mut StoreInputs) -> Result<()> {
    let t = "events";
    let cap = (upto - after).max(0) as usize;
    s.ev_account.reserve_exact(cap);
    s.ev_day.reserve_exact(cap);
    s.ev_kind.reserve_exact(cap);
    let mut stmt = conn.prepare(&range_query(t, EV_COLS)).ctx("reading events")?;
    let mut rows = stmt.query([after, upto]).ctx("reading events")?;
    while let Some(row) = rows.next().ctx("reading events")? {
        let id = int_at(row, 0, t, 0, "id")?;
        s.ev_account.push(account_index(int_at(row, 1, t, id, "account")?, n, t, id)?);
        s.ev_day.push(day_of(int_at(row, 2, t, id, "day")?, t, id, "day")?);
        let k = int_at(row, 3, t, id, "kind")?;
        let ki = if k >= 0 && (k as usize) < kind_map.len() { kind_map[k as usize] } else { u32::MAX };
        if ki == u32::MAX {
            return Err(bad(t, id, "kind", &format!("{k} is not an event kind id")));
        }
        s.ev_kind.push(ki);
    }
    Ok(())
}
