//! The bulk import path: validated batches of text columns into one SQLite transaction.
//!
//! The Python side reads a file with polars and hands over batches of text columns (every column
//! of the file, under its source name) together with the column mapping. An [`Importer`] holds one
//! connection and one `BEGIN IMMEDIATE` transaction for the whole file:
//!
//! 1. [`Importer::open`] refuses a file already imported with the same fingerprint and options
//!    ([`Opened::AlreadyImported`]), records the import, and loads the account keys, cost
//!    categories, event kinds and the store's currency;
//! 2. [`Importer::add_bad_records`] stores the records a structural pass found unreadable
//!    (see [`csvscan`]) and takes them out of the row numbering;
//! 3. [`Importer::add_batch`] parses each row exactly (money as minor units, dates strictly),
//!    computes its natural key, creates accounts it refers to, inserts with
//!    `ON CONFLICT(nkey) DO NOTHING` (duplicates are counted), and keeps every unusable row in
//!    `rejects` with its row number, source column, reason code and raw values;
//! 4. [`Importer::commit`] writes the counts and the summary, bumps `meta.data_version` when
//!    anything changed, and commits. Dropping an importer without committing rolls back.

pub mod csvscan;

use crate::dates::{format_day, DateFormat, Stamp};
use crate::keys::{invoice_key, nkey, Fx, KeyBuilder, PassMap};
use crate::money::{currency_digits, normalize_currency, Dec};
use rusqlite::{CachedStatement, Connection, OpenFlags, OptionalExtension};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

/// A text column of one batch: value `i` as UTF-8 bytes, `None` when null.
pub trait TextCol: Sync {
    fn len(&self) -> usize;
    fn get(&self, i: usize) -> Option<&[u8]>;
}

impl TextCol for Vec<Option<String>> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn get(&self, i: usize) -> Option<&[u8]> {
        self[i].as_deref().map(str::as_bytes)
    }
}

impl TextCol for Vec<Option<&str>> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn get(&self, i: usize) -> Option<&[u8]> {
        self[i].map(str::as_bytes)
    }
}

/// What is being imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    LineItems,
    Costs,
    Events,
    Accounts,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "line-items" | "line_items" => Some(Kind::LineItems),
            "costs" => Some(Kind::Costs),
            "events" => Some(Kind::Events),
            "accounts" => Some(Kind::Accounts),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::LineItems => "line-items",
            Kind::Costs => "costs",
            Kind::Events => "events",
            Kind::Accounts => "accounts",
        }
    }

    /// Target fields this kind reads (required ones first).
    pub fn targets(self) -> &'static [T] {
        use T::*;
        match self {
            Kind::LineItems => &[
                AccountId,
                OccurredAt,
                Amount,
                Quantity,
                UnitPrice,
                InvoiceId,
                Sku,
                Description,
                Currency,
            ],
            Kind::Costs => &[
                OccurredAt,
                Category,
                Amount,
                AccountId,
                DriverUnits,
                Currency,
            ],
            Kind::Events => &[AccountId, OccurredAt, Event, Value],
            Kind::Accounts => &[
                AccountId, Name, Industry, Employees, Region, Plan, SignupAt, RenewalAt, Mrr,
                Seats, SeatLimit, Currency,
            ],
        }
    }
}

/// Target fields (the data contract's column names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum T {
    AccountId,
    OccurredAt,
    Amount,
    Quantity,
    UnitPrice,
    InvoiceId,
    Sku,
    Description,
    Currency,
    Category,
    DriverUnits,
    Event,
    Value,
    Name,
    Industry,
    Employees,
    Region,
    Plan,
    SignupAt,
    RenewalAt,
    Mrr,
    Seats,
    SeatLimit,
}

const N_T: usize = 23;

impl T {
    pub const ALL: [T; N_T] = [
        T::AccountId,
        T::OccurredAt,
        T::Amount,
        T::Quantity,
        T::UnitPrice,
        T::InvoiceId,
        T::Sku,
        T::Description,
        T::Currency,
        T::Category,
        T::DriverUnits,
        T::Event,
        T::Value,
        T::Name,
        T::Industry,
        T::Employees,
        T::Region,
        T::Plan,
        T::SignupAt,
        T::RenewalAt,
        T::Mrr,
        T::Seats,
        T::SeatLimit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            T::AccountId => "account_id",
            T::OccurredAt => "occurred_at",
            T::Amount => "amount",
            T::Quantity => "quantity",
            T::UnitPrice => "unit_price",
            T::InvoiceId => "invoice_id",
            T::Sku => "sku",
            T::Description => "description",
            T::Currency => "currency",
            T::Category => "category",
            T::DriverUnits => "driver_units",
            T::Event => "event",
            T::Value => "value",
            T::Name => "name",
            T::Industry => "industry",
            T::Employees => "employees",
            T::Region => "region",
            T::Plan => "plan",
            T::SignupAt => "signup_at",
            T::RenewalAt => "renewal_at",
            T::Mrr => "mrr",
            T::Seats => "seats",
            T::SeatLimit => "seat_limit",
        }
    }

    pub fn from_name(s: &str) -> Option<T> {
        T::ALL.iter().copied().find(|t| t.name() == s)
    }
}

/// Errors that stop an import (the transaction is rolled back; nothing changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// The store cannot be used (busy, wrong schema, I/O).
    Store(String),
    /// The options or the file's columns do not fit (a missing mapped column, a bad format).
    Usage(String),
    /// The data cannot be imported as a whole (mixed currency scale, unreadable structure).
    Data(String),
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Store(m) | ImportError::Usage(m) | ImportError::Data(m) => f.write_str(m),
        }
    }
}

impl From<rusqlite::Error> for ImportError {
    fn from(e: rusqlite::Error) -> Self {
        let busy = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::DatabaseBusy || f.code == rusqlite::ErrorCode::DatabaseLocked
        );
        if busy {
            ImportError::Store(
                "store is busy: another segtui process is writing; try again when it finishes"
                    .into(),
            )
        } else {
            ImportError::Store(format!("store: {e}"))
        }
    }
}

/// Import options (the `options_json` given to [`Importer::open`]).
///
/// ```json
/// {"mapping": {"account_id": "CustomerID", ...},   // target -> source column, required
///  "date_format": "%m/%d/%Y %H:%M" | null,          // see dates::DateFormat::parse
///  "cancel_prefix": "C" | null,                      // invoices starting with it are cancellations
///  "skip": {"Status": ["void", "draft"]},            // rows whose source value is listed are skipped
///  ...}                                              // other keys are recorded, not read
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub mapping: Vec<(T, String)>,
    pub date_format: DateFormat,
    pub cancel_prefix: Option<String>,
    pub skip: Vec<(String, Vec<String>)>,
    /// `"decimal": ","`: numbers are written with a decimal comma (`12,50`).
    pub decimal_comma: bool,
}

impl Options {
    pub fn from_json(kind: Kind, text: &str) -> Result<Options, ImportError> {
        let usage = |m: String| ImportError::Usage(m);
        let v: Value =
            serde_json::from_str(text).map_err(|e| usage(format!("options are not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| usage("options must be a JSON object".into()))?;
        let mut mapping = Vec::new();
        if let Some(m) = obj.get("mapping") {
            let m = m
                .as_object()
                .ok_or_else(|| usage("options.mapping must be an object".into()))?;
            for (target, source) in m {
                let t = T::from_name(target)
                    .ok_or_else(|| usage(format!("unknown target column {target:?}")))?;
                if !kind.targets().contains(&t) {
                    return Err(usage(format!(
                        "{} imports have no column {target:?}",
                        kind.name()
                    )));
                }
                let s = source.as_str().ok_or_else(|| {
                    usage(format!("mapping for {target:?} must be a column name"))
                })?;
                mapping.push((t, s.to_string()));
            }
        }
        mapping.sort();
        let date_format = match obj.get("date_format").and_then(Value::as_str) {
            Some(f) => DateFormat::parse(f).map_err(usage)?,
            None => DateFormat::Auto,
        };
        let cancel_prefix = obj
            .get("cancel_prefix")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        let mut skip = Vec::new();
        if let Some(s) = obj.get("skip").and_then(Value::as_object) {
            for (col, vals) in s {
                let vals = vals
                    .as_array()
                    .ok_or_else(|| usage(format!("options.skip.{col} must be a list")))?
                    .iter()
                    .filter_map(|v| v.as_str().map(|s| s.trim().to_lowercase()))
                    .collect();
                skip.push((col.clone(), vals));
            }
        }
        let decimal_comma = match obj.get("decimal").and_then(Value::as_str) {
            None | Some(".") => false,
            Some(",") => true,
            Some(d) => {
                return Err(usage(format!(
                    "options.decimal must be \".\" or \",\", not {d:?}"
                )))
            }
        };
        let opts = Options {
            mapping,
            date_format,
            cancel_prefix,
            skip,
            decimal_comma,
        };
        opts.check(kind)?;
        Ok(opts)
    }

    fn source(&self, t: T) -> Option<&str> {
        self.mapping
            .iter()
            .find(|(x, _)| *x == t)
            .map(|(_, s)| s.as_str())
    }

    fn check(&self, kind: Kind) -> Result<(), ImportError> {
        let need: &[T] = match kind {
            Kind::LineItems => &[T::AccountId, T::OccurredAt],
            Kind::Costs => &[T::OccurredAt, T::Category, T::Amount],
            Kind::Events => &[T::AccountId, T::OccurredAt, T::Event],
            Kind::Accounts => &[T::AccountId],
        };
        let missing: Vec<&str> = need
            .iter()
            .filter(|t| self.source(**t).is_none())
            .map(|t| t.name())
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::Usage(format!(
                "{} imports need the column(s) {}: map them with --map target=source",
                kind.name(),
                missing.join(", ")
            )));
        }
        if kind == Kind::LineItems
            && self.source(T::Amount).is_none()
            && (self.source(T::Quantity).is_none() || self.source(T::UnitPrice).is_none())
        {
            return Err(ImportError::Usage(
                "line-items imports need amount, or quantity and unit_price: map them with --map"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Counts and figures of one import (also the body of the JSON summary).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Data rows in the file: imported + duplicate + rejected + skipped + blank.
    pub rows_read: u64,
    pub rows_imported: u64,
    pub rows_duplicate: u64,
    pub rows_rejected: u64,
    pub rows_skipped: u64,
    pub blank_rows: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// The first reject of each reason: (row, source column, message).
    pub reject_examples: BTreeMap<String, (u64, Option<String>, String)>,
    pub skipped_by_rule: BTreeMap<String, u64>,
    pub missing_account_ids: u64,
    pub accounts_new: u64,
    pub accounts_seen: u64,
    pub accounts_updated: u64,
    pub cancellations: u64,
    /// Sum of imported amounts (net revenue for line items, total cost for costs), minor units.
    pub amount_total: i128,
    /// Sum of the negative imported amounts (refunds and credits), minor units.
    pub refunds_total: i128,
    pub day_min: Option<i32>,
    pub day_max: Option<i32>,
    pub seconds_parse: f64,
    pub seconds_sqlite: f64,
}

/// A file already imported with the same fingerprint and options.
#[derive(Clone, Debug)]
pub struct PreviousImport {
    pub import_id: i64,
    pub finished_at: Option<String>,
    pub summary: Option<String>,
}

pub enum Opened {
    Ready(Box<Importer>),
    AlreadyImported(PreviousImport),
}

/// A row that cannot be used.
struct Reject {
    col: Option<T>,
    reason: &'static str,
    message: String,
}

fn rej(col: T, reason: &'static str, message: impl Into<String>) -> Reject {
    Reject {
        col: Some(col),
        reason,
        message: message.into(),
    }
}

/// One import in progress (one file, one transaction).
pub struct Importer {
    conn: Connection,
    kind: Kind,
    file: String,
    import_id: i64,
    opts: Options,
    st: State,
    finished: bool,
    started: Instant,
    /// secondary indexes dropped for this import, rebuilt before commit: (name, sql)
    deferred: Vec<(String, String)>,
}

/// Everything but the connection (so statements can borrow the connection while state changes).
struct State {
    import_id: i64,
    file: String,
    accounts: HashMap<Box<str>, i64, Fx>,
    next_account: i64,
    /// per account id: 0 untouched, 1 existing and referenced, 2 created by this import
    touched: Vec<u8>,
    interned: HashMap<Box<str>, i64, Fx>,
    /// base -> next occurrence number, for rows whose base was already met in this file
    /// (see [`State::insert_keyed`]); stays small: only repeated rows get an entry
    repeats: PassMap<u128, u32>,
    removed: Vec<u64>,
    removed_k: usize,
    clean_rows: u64,
    currency: Option<String>,
    currency_is_new: bool,
    scale: Option<u32>,
    stats: Stats,
    sqlite_time: Duration,
}

const SQL_LINE: &str = "INSERT INTO line_items(account, day, ts, invoice, invoice_key, sku, description, quantity, \
    unit_price, amount, is_cancel, import_id, nkey) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13) \
    ON CONFLICT(nkey) DO NOTHING";
const SQL_COST: &str =
    "INSERT INTO costs(account, day, category, amount, driver_units, import_id, nkey) \
    VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(nkey) DO NOTHING";
const SQL_EVENT: &str = "INSERT INTO events(account, day, ts, kind, value, import_id, nkey) \
    VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(nkey) DO NOTHING";
const SQL_NEW_ACCOUNT: &str =
    "INSERT INTO accounts(id, account_key, first_import) VALUES (?1, ?2, ?3)";
const SQL_REJECT: &str =
    "INSERT INTO rejects(import_id, file, row, col, reason, message, raw) VALUES (?1,?2,?3,?4,?5,?6,?7)";
const SQL_ACCOUNT_NEW_FULL: &str = "INSERT INTO accounts(id, account_key, name, industry, employees, region, plan, \
    signup_day, renewal_day, mrr, seats, seat_limit, first_import) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)";
// Cells that are empty leave the stored value; the WHERE clause makes an identical row a no-op.
const SQL_ACCOUNT_UPDATE: &str = "UPDATE accounts SET name = coalesce(?2, name), industry = coalesce(?3, industry), \
    employees = coalesce(?4, employees), region = coalesce(?5, region), plan = coalesce(?6, plan), \
    signup_day = coalesce(?7, signup_day), renewal_day = coalesce(?8, renewal_day), mrr = coalesce(?9, mrr), \
    seats = coalesce(?10, seats), seat_limit = coalesce(?11, seat_limit) \
    WHERE id = ?1 AND (name IS NOT coalesce(?2, name) OR industry IS NOT coalesce(?3, industry) \
    OR employees IS NOT coalesce(?4, employees) OR region IS NOT coalesce(?5, region) OR plan IS NOT coalesce(?6, plan) \
    OR signup_day IS NOT coalesce(?7, signup_day) OR renewal_day IS NOT coalesce(?8, renewal_day) \
    OR mrr IS NOT coalesce(?9, mrr) OR seats IS NOT coalesce(?10, seats) OR seat_limit IS NOT coalesce(?11, seat_limit))";

fn table_of(kind: Kind) -> &'static str {
    match kind {
        Kind::LineItems => "line_items",
        Kind::Costs => "costs",
        Kind::Events => "events",
        Kind::Accounts => "accounts",
    }
}

/// Below this many incoming rows, secondary indexes are always maintained row by row.
pub const DEFER_INDEXES_MIN_ROWS: u64 = 20_000;

/// Columns of one batch resolved against the mapping.
struct Cols<'a> {
    all: &'a [(&'a str, &'a dyn TextCol)],
    idx: [Option<usize>; N_T],
    src: [&'a str; N_T],
}

impl<'a> Cols<'a> {
    /// The trimmed text of target `t` in row `i`; `None` when unmapped, null or blank.
    #[inline]
    fn text(&self, t: T, i: usize) -> Result<Option<&'a str>, Reject> {
        let Some(c) = self.idx[t as usize] else {
            return Ok(None);
        };
        let Some(b) = self.all[c].1.get(i) else {
            return Ok(None);
        };
        let s =
            std::str::from_utf8(b).map_err(|_| rej(t, "bad_encoding", "text that is not UTF-8"))?;
        let s = s.trim();
        Ok(if s.is_empty() { None } else { Some(s) })
    }

    /// Like [`Cols::text`] but keeps surrounding spaces (free text such as descriptions).
    #[inline]
    fn raw(&self, t: T, i: usize) -> Result<Option<&'a str>, Reject> {
        let Some(c) = self.idx[t as usize] else {
            return Ok(None);
        };
        let Some(b) = self.all[c].1.get(i) else {
            return Ok(None);
        };
        let s =
            std::str::from_utf8(b).map_err(|_| rej(t, "bad_encoding", "text that is not UTF-8"))?;
        Ok(if s.trim().is_empty() { None } else { Some(s) })
    }

    fn mapped(&self, t: T) -> bool {
        self.idx[t as usize].is_some()
    }

    /// All source values of row `i` as a JSON object (for rejects).
    fn raw_json(&self, i: usize) -> String {
        // written by hand to keep the file's column order (serde_json's map sorts its keys)
        let mut out = String::from("{");
        for (k, (name, col)) in self.all.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push_str(&Value::String((*name).to_string()).to_string());
            out.push(':');
            match col.get(i) {
                None => out.push_str("null"),
                Some(b) => out.push_str(&Value::String(String::from_utf8_lossy(b).into_owned()).to_string()),
            }
        }
        out.push('}');
        out
    }
}

fn parse_int(t: T, s: &str) -> Result<i64, Reject> {
    Dec::parse(s)
        .ok()
        .and_then(Dec::to_integer)
        .ok_or_else(|| rej(t, "bad_number", format!("{s:?} is not a whole number")))
}

impl Importer {
    /// Open the store at `db_path` and start importing `file` (see the module docs).
    pub fn open(
        db_path: &Path,
        kind: Kind,
        file: &str,
        fingerprint: &str,
        options_json: &str,
    ) -> Result<Opened, ImportError> {
        let opts = Options::from_json(kind, options_json)?;
        if !db_path.exists() {
            return Err(ImportError::Store(format!(
                "no store at {}",
                db_path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_millis(5000))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version != crate::schema::latest_version() {
            return Err(ImportError::Store(format!(
                "store schema is v{version}, this importer writes v{}; open the store with segtui first",
                crate::schema::latest_version()
            )));
        }
        // The importer builds every reference itself (accounts exist before their rows, in the
        // same transaction), so per-row foreign key checks would only cost time. A 256 MiB page
        // cache keeps the indexes' hot pages in memory and bounds the sorter of deferred index
        // builds (beyond it, SQLite spills to temporary files: memory stays bounded for any
        // file size); `threads = 2` lets that sort use a second core.
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF; PRAGMA synchronous = NORMAL; \
             PRAGMA cache_size = -262144; PRAGMA threads = 2;",
        )?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let prev = conn
            .query_row(
                "SELECT id, finished_at, summary FROM imports WHERE kind = ?1 AND fingerprint = ?2 AND options = ?3",
                (kind.name(), fingerprint, options_json),
                |r| Ok(PreviousImport { import_id: r.get(0)?, finished_at: r.get(1)?, summary: r.get(2)? }),
            )
            .optional()?;
        if let Some(p) = prev {
            conn.execute_batch("ROLLBACK")?;
            return Ok(Opened::AlreadyImported(p));
        }
        conn.execute(
            "INSERT INTO imports(kind, file, fingerprint, options, started_at) \
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            (kind.name(), file, fingerprint, options_json),
        )?;
        let import_id = conn.last_insert_rowid();

        let mut accounts: HashMap<Box<str>, i64, Fx> = HashMap::default();
        let mut max_id = 0i64;
        {
            let mut q = conn.prepare("SELECT id, account_key FROM accounts")?;
            let mut rows = q.query([])?;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let key: String = r.get(1)?;
                max_id = max_id.max(id);
                accounts.insert(key.into_boxed_str(), id);
            }
        }
        let mut interned: HashMap<Box<str>, i64, Fx> = HashMap::default();
        let table = match kind {
            Kind::Costs => Some("cost_categories"),
            Kind::Events => Some("event_kinds"),
            _ => None,
        };
        if let Some(table) = table {
            let mut q = conn.prepare(&format!("SELECT id, name FROM {table}"))?;
            let mut rows = q.query([])?;
            while let Some(r) = rows.next()? {
                let name: String = r.get(1)?;
                interned.insert(name.into_boxed_str(), r.get(0)?);
            }
        }
        let meta = |k: &str| -> Result<Option<String>, rusqlite::Error> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                .optional()
        };
        let currency = meta("currency")?.filter(|s| !s.is_empty());
        let scale = match meta("money_scale")? {
            Some(s) => Some(
                s.parse::<u32>()
                    .map_err(|_| ImportError::Store(format!("meta.money_scale is {s:?}")))?,
            ),
            None => currency.as_deref().map(currency_digits),
        };
        let st = State {
            import_id,
            file: file.to_string(),
            touched: vec![0; max_id as usize + 1],
            next_account: max_id + 1,
            accounts,
            interned,
            repeats: PassMap::default(),
            removed: Vec::new(),
            removed_k: 0,
            clean_rows: 0,
            currency,
            currency_is_new: false,
            scale,
            stats: Stats::default(),
            sqlite_time: Duration::ZERO,
        };
        Ok(Opened::Ready(Box::new(Importer {
            conn,
            kind,
            file: file.to_string(),
            import_id,
            opts,
            st,
            finished: false,
            started: Instant::now(),
            deferred: Vec::new(),
        })))
    }

    pub fn import_id(&self) -> i64 {
        self.import_id
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn stats(&self) -> &Stats {
        &self.st.stats
    }

    /// The store's currency (or the one this import is setting), when known.
    pub fn currency(&self) -> Option<&str> {
        self.st.currency.as_deref()
    }

    /// Decimals of money in the store (2 until a currency says otherwise).
    pub fn money_scale(&self) -> u32 {
        self.st.scale.unwrap_or(2)
    }

    /// Tell the importer how many rows are coming (before the first batch). When they are at
    /// least as many as the table already holds (and not a handful), the table's secondary
    /// indexes that take rows in random order (those not led by `day`) are dropped now and
    /// rebuilt in one sorted pass before commit, which is much cheaper than maintaining them row
    /// by row. The unique natural-key index always stays (it
    /// finds duplicates). Both happen inside the import's transaction: an interrupted import
    /// leaves the indexes as they were.
    pub fn expect_rows(&mut self, n: u64) -> Result<bool, ImportError> {
        if self.kind == Kind::Accounts
            || self.st.clean_rows > 0
            || !self.deferred.is_empty()
            || n < DEFER_INDEXES_MIN_ROWS
        {
            return Ok(false);
        }
        let table = table_of(self.kind);
        let t0 = Instant::now();
        let existing: i64 = self.conn.query_row(
            &format!("SELECT coalesce(max(rowid), 0) FROM {table}"),
            [],
            |r| r.get(0),
        )?;
        if (existing as u64) > n {
            return Ok(false);
        }
        let mut idx = Vec::new();
        {
            let mut q = self.conn.prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL \
                 AND sql NOT LIKE 'CREATE UNIQUE%'",
            )?;
            let mut rows = q.query([table])?;
            while let Some(r) = rows.next()? {
                idx.push((r.get::<_, String>(0)?, r.get::<_, String>(1)?));
            }
        }
        // An index led by the day grows at its end when the file is in date order (exports
        // usually are): maintaining it row by row is cheaper than sorting it again. The others
        // (account first) take rows in random order: those are rebuilt.
        let mut keep = Vec::new();
        for (name, _) in &idx {
            let first: Option<String> = self
                .conn
                .query_row(
                    "SELECT name FROM pragma_index_info(?1) ORDER BY seqno LIMIT 1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            if first.as_deref() == Some("day") {
                keep.push(name.clone());
            }
        }
        idx.retain(|(name, _)| !keep.contains(name));
        for (name, _) in &idx {
            self.conn
                .execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
        }
        self.deferred = idx;
        self.st.sqlite_time += t0.elapsed();
        Ok(!self.deferred.is_empty())
    }

    /// Record the rows a structural pass found unreadable (`bad`: row, reason, message, raw
    /// text, the column at fault when the problem lies in one field)
    /// and the blank rows; both leave the row numbering of the batches. Call before the first batch.
    pub fn add_bad_records(
        &mut self,
        bad: &[(u64, String, String, String, Option<String>)],
        blank: &[u64],
    ) -> Result<(), ImportError> {
        if self.st.clean_rows > 0 {
            return Err(ImportError::Usage(
                "bad records must be given before the first batch".into(),
            ));
        }
        let t0 = Instant::now();
        {
            let mut stmt = self.conn.prepare_cached(SQL_REJECT)?;
            for (row, reason, message, raw, column) in bad {
                let raw_json = json!({ "_record": raw }).to_string();
                stmt.execute((
                    self.import_id,
                    &self.file,
                    *row as i64,
                    column.as_deref(),
                    reason,
                    message,
                    raw_json,
                ))?;
                self.st.stats.rows_rejected += 1;
                self.st.stats.rows_read += 1;
                *self
                    .st
                    .stats
                    .rejected_by_reason
                    .entry(reason.clone())
                    .or_insert(0) += 1;
                self.st
                    .stats
                    .reject_examples
                    .entry(reason.clone())
                    .or_insert_with(|| (*row, column.clone(), message.clone()));
            }
        }
        self.st.stats.blank_rows += blank.len() as u64;
        self.st.stats.rows_read += blank.len() as u64;
        self.st.removed.extend(bad.iter().map(|b| b.0));
        self.st.removed.extend_from_slice(blank);
        self.st.removed.sort_unstable();
        self.st.removed.dedup();
        self.st.sqlite_time += t0.elapsed();
        Ok(())
    }

    /// Import one batch: `cols` are all the file's columns (source name, values), every one the
    /// same length; `first_row` is the number of rows given in earlier batches.
    pub fn add_batch(
        &mut self,
        cols: &[(&str, &dyn TextCol)],
        first_row: u64,
    ) -> Result<(), ImportError> {
        if first_row != self.st.clean_rows {
            return Err(ImportError::Usage(format!(
                "batches out of order: expected first_row {}, got {first_row}",
                self.st.clean_rows
            )));
        }
        let n = cols.first().map(|c| c.1.len()).unwrap_or(0);
        if let Some((name, _)) = cols.iter().find(|c| c.1.len() != n) {
            return Err(ImportError::Usage(format!(
                "column {name:?} has a different length in this batch"
            )));
        }
        let mut idx = [None; N_T];
        let mut src = [""; N_T];
        for (t, s) in &self.opts.mapping {
            let k = cols.iter().position(|c| c.0 == s.as_str()).ok_or_else(|| {
                ImportError::Usage(format!(
                    "column {s:?} (mapped to {}) is not in the file; its columns are: {}",
                    t.name(),
                    cols.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
                ))
            })?;
            idx[*t as usize] = Some(k);
            src[*t as usize] = cols[k].0;
        }
        let c = Cols {
            all: cols,
            idx,
            src,
        };
        let mut skip_cols = Vec::new();
        for (name, vals) in &self.opts.skip {
            if let Some(k) = cols.iter().position(|c| c.0 == name.as_str()) {
                skip_cols.push((k, name.as_str(), vals));
            }
        }
        self.st.fix_currency(&c, n)?;

        let conn = &self.conn;
        let mut s = Stmts {
            item: match self.kind {
                Kind::LineItems => Some(Fast::prepare(conn, SQL_LINE)?),
                Kind::Costs => Some(Fast::prepare(conn, SQL_COST)?),
                Kind::Events => Some(Fast::prepare(conn, SQL_EVENT)?),
                Kind::Accounts => None,
            },
            update: match self.kind {
                Kind::Accounts => Some(conn.prepare_cached(SQL_ACCOUNT_UPDATE)?),
                _ => None,
            },
            owner: match self.kind {
                Kind::Accounts => None,
                k => Some(conn.prepare_cached(&format!(
                    "SELECT import_id FROM {} WHERE nkey = ?1",
                    table_of(k)
                ))?),
            },
            account: conn.prepare_cached(if self.kind == Kind::Accounts {
                SQL_ACCOUNT_NEW_FULL
            } else {
                SQL_NEW_ACCOUNT
            })?,
            reject: conn.prepare_cached(SQL_REJECT)?,
            intern: match self.kind {
                Kind::Costs => Some(conn.prepare_cached(
                    "INSERT INTO cost_categories(name) VALUES (?1) RETURNING id",
                )?),
                Kind::Events => Some(
                    conn.prepare_cached("INSERT INTO event_kinds(name) VALUES (?1) RETURNING id")?,
                ),
                _ => None,
            },
        };
        let currency = self.st.currency.clone();
        let parser = Parser {
            kind: self.kind,
            scale: self.st.scale(),
            currency: currency.as_deref(),
            date_format: &self.opts.date_format,
            cancel_prefix: self.opts.cancel_prefix.as_deref(),
            skip: skip_cols,
            point: if self.opts.decimal_comma { b',' } else { b'.' },
        };
        let st = &mut self.st;
        let mut parse_time = Duration::ZERO;
        if n <= 2 * CHUNK_ROWS {
            // small batch: no helper thread
            let t = Instant::now();
            let mut kb = KeyBuilder::default();
            let parsed: Vec<Parsed<'_>> = (0..n).map(|i| parser.parse(&c, i, &mut kb)).collect();
            parse_time += t.elapsed();
            let t = Instant::now();
            for (i, p) in parsed.into_iter().enumerate() {
                st.apply(p, &c, i, &mut s)?;
            }
            st.sqlite_time += t.elapsed();
        } else {
            // parse chunk k+1 on a helper thread while chunk k is written
            let result = std::thread::scope(|scope| -> Result<Duration, ImportError> {
                let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<Parsed<'_>>)>(2);
                let parser = &parser;
                let c = &c;
                let producer = scope.spawn(move || {
                    // time spent parsing (not waiting for the writer)
                    let mut busy = Duration::ZERO;
                    let mut kb = KeyBuilder::default();
                    let mut start = 0;
                    while start < n {
                        let t = Instant::now();
                        let end = (start + CHUNK_ROWS).min(n);
                        let v: Vec<Parsed<'_>> =
                            (start..end).map(|i| parser.parse(c, i, &mut kb)).collect();
                        busy += t.elapsed();
                        if tx.send((start, v)).is_err() {
                            break; // the writer stopped on an error
                        }
                        start = end;
                    }
                    busy
                });
                for (start, v) in rx {
                    let t = Instant::now();
                    for (k, p) in v.into_iter().enumerate() {
                        st.apply(p, c, start + k, &mut s)?;
                    }
                    st.sqlite_time += t.elapsed();
                }
                Ok(producer.join().expect("parser thread panicked"))
            });
            parse_time += result?;
        }
        st.stats.seconds_sqlite = st.sqlite_time.as_secs_f64();
        st.stats.seconds_parse += parse_time.as_secs_f64();
        Ok(())
    }

    /// Finish: record counts and `summary_json` on the import, bump `meta.data_version` when
    /// anything changed, commit. Returns the store's data version after the import.
    pub fn commit(mut self, summary_json: &str) -> Result<i64, ImportError> {
        self.rebuild_indexes()?;
        let s = &self.st.stats;
        let seconds = self.started.elapsed().as_secs_f64();
        self.conn.execute(
            "UPDATE imports SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), rows_read = ?2, \
             rows_imported = ?3, rows_duplicate = ?4, rows_rejected = ?5, seconds = ?6, summary = ?7 WHERE id = ?1",
            (
                self.import_id,
                s.rows_read as i64,
                s.rows_imported as i64,
                s.rows_duplicate as i64,
                s.rows_rejected as i64,
                seconds,
                summary_json,
            ),
        )?;
        let changed = s.rows_imported > 0 || s.accounts_new > 0;
        if changed {
            self.conn.execute(
                "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'data_version'",
                [],
            )?;
        }
        if self.st.currency_is_new {
            if let Some(c) = &self.st.currency {
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('currency', ?1)",
                    [c],
                )?;
            }
        }
        if changed {
            let scale = self.st.scale.unwrap_or(2).to_string();
            self.conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('money_scale', ?1)",
                [scale],
            )?;
        }
        let dv: String = self.conn.query_row(
            "SELECT value FROM meta WHERE key = 'data_version'",
            [],
            |r| r.get(0),
        )?;
        self.conn.execute_batch("COMMIT")?;
        self.finished = true;
        Ok(dv.parse().unwrap_or(0))
    }

    /// Rebuild the indexes dropped by [`Importer::expect_rows`] (also done by commit).
    pub fn rebuild_indexes(&mut self) -> Result<(), ImportError> {
        let t0 = Instant::now();
        let deferred = std::mem::take(&mut self.deferred);
        if !deferred.is_empty() {
            // each sort thread may buffer up to the cache size: halve it to bound peak memory
            self.conn.execute_batch("PRAGMA cache_size = -131072")?;
        }
        for (_, sql) in deferred {
            self.conn.execute_batch(&sql)?;
        }
        self.st.sqlite_time += t0.elapsed();
        self.st.stats.seconds_sqlite = self.st.sqlite_time.as_secs_f64();
        Ok(())
    }

    /// Abandon the import: the store is left as it was.
    pub fn rollback(mut self) -> Result<(), ImportError> {
        self.finished = true;
        self.conn.execute_batch("ROLLBACK")?;
        Ok(())
    }

    /// The store's data version as this transaction sees it.
    pub fn data_version(&self) -> Result<i64, ImportError> {
        let dv: String = self.conn.query_row(
            "SELECT value FROM meta WHERE key = 'data_version'",
            [],
            |r| r.get(0),
        )?;
        Ok(dv.parse().unwrap_or(0))
    }
}

impl Drop for Importer {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

struct Stmts<'c, 'a> {
    /// the row insert of line items, costs and events
    item: Option<Fast<'c, 'a>>,
    /// the firmographics update of an accounts import
    update: Option<CachedStatement<'c>>,
    /// the import that owns a given nkey (only run when an insert met an existing key)
    owner: Option<CachedStatement<'c>>,
    account: CachedStatement<'c>,
    reject: CachedStatement<'c>,
    intern: Option<CachedStatement<'c>>,
}

/// A prepared insert driven through SQLite's C API, for the hot path: text is bound without a
/// copy (`SQLITE_STATIC`), which is sound because every text bound lives in the batch's column
/// buffers (lifetime `'a`), every parameter is bound again before each step, and the statement is
/// finalised before the batch ends. (rusqlite copies every text value it binds.)
struct Fast<'c, 'a> {
    db: *mut rusqlite::ffi::sqlite3,
    st: *mut rusqlite::ffi::sqlite3_stmt,
    _life: std::marker::PhantomData<(&'c Connection, &'a str)>,
}

impl<'c, 'a> Fast<'c, 'a> {
    fn prepare(conn: &'c Connection, sql: &str) -> Result<Self, ImportError> {
        use rusqlite::ffi;
        let c_sql = std::ffi::CString::new(sql).expect("SQL has no NUL");
        let mut st: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        // SAFETY: the handle is valid while `conn` lives ('c), and Fast never outlives it.
        let db = unsafe { conn.handle() };
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                c_sql.as_ptr(),
                -1,
                ffi::SQLITE_PREPARE_PERSISTENT as u32,
                &mut st,
                std::ptr::null_mut(),
            )
        };
        let f = Fast { db, st, _life: std::marker::PhantomData };
        f.check(rc)?;
        Ok(f)
    }

    fn check(&self, rc: std::ffi::c_int) -> Result<(), ImportError> {
        if rc == rusqlite::ffi::SQLITE_OK {
            return Ok(());
        }
        // SAFETY: sqlite3_errmsg returns a valid C string owned by the connection
        let msg = unsafe { std::ffi::CStr::from_ptr(rusqlite::ffi::sqlite3_errmsg(self.db)) };
        Err(ImportError::Store(format!("store: {} (code {rc})", msg.to_string_lossy())))
    }

    fn i64(&mut self, idx: i32, v: i64) -> Result<(), ImportError> {
        // SAFETY: a valid prepared statement; SQLite checks the index
        self.check(unsafe { rusqlite::ffi::sqlite3_bind_int64(self.st, idx, v) })
    }

    fn null(&mut self, idx: i32) -> Result<(), ImportError> {
        self.check(unsafe { rusqlite::ffi::sqlite3_bind_null(self.st, idx) })
    }

    fn opt_i64(&mut self, idx: i32, v: Option<i64>) -> Result<(), ImportError> {
        match v {
            Some(v) => self.i64(idx, v),
            None => self.null(idx),
        }
    }

    fn opt_f64(&mut self, idx: i32, v: Option<f64>) -> Result<(), ImportError> {
        match v {
            Some(v) => self.check(unsafe { rusqlite::ffi::sqlite3_bind_double(self.st, idx, v) }),
            None => self.null(idx),
        }
    }

    fn text(&mut self, idx: i32, v: Option<&'a str>) -> Result<(), ImportError> {
        match v {
            // SAFETY: `v` lives for 'a, longer than this statement (see the type's docs)
            Some(v) => self.check(unsafe {
                rusqlite::ffi::sqlite3_bind_text64(
                    self.st,
                    idx,
                    v.as_ptr() as *const std::ffi::c_char,
                    v.len() as u64,
                    rusqlite::ffi::SQLITE_STATIC(),
                    rusqlite::ffi::SQLITE_UTF8 as u8,
                )
            }),
            None => self.null(idx),
        }
    }

    fn blob16(&mut self, idx: i32, v: &[u8; 16]) -> Result<(), ImportError> {
        // the key is a temporary: SQLite copies it
        self.check(unsafe {
            rusqlite::ffi::sqlite3_bind_blob(
                self.st,
                idx,
                v.as_ptr() as *const std::ffi::c_void,
                16,
                rusqlite::ffi::SQLITE_TRANSIENT(),
            )
        })
    }

    /// Run the insert; returns the number of rows it changed (0 when the key already existed).
    fn execute(&mut self) -> Result<u64, ImportError> {
        use rusqlite::ffi;
        // SAFETY: a valid statement with every parameter bound
        let rc = unsafe { ffi::sqlite3_step(self.st) };
        let out = if rc == ffi::SQLITE_DONE {
            Ok(unsafe { ffi::sqlite3_changes64(self.db) } as u64)
        } else {
            let code = if rc == ffi::SQLITE_ROW { ffi::SQLITE_MISUSE } else { rc };
            let e = self.check(code);
            let busy = rc & 0xff == ffi::SQLITE_BUSY || rc & 0xff == ffi::SQLITE_LOCKED;
            Err(if busy {
                ImportError::Store("store is busy: another segtui process is writing; try again when it finishes".into())
            } else {
                e.err().unwrap_or_else(|| ImportError::Store(format!("store: step failed (code {rc})")))
            })
        };
        unsafe { ffi::sqlite3_reset(self.st) };
        out
    }
}

impl Drop for Fast<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: finalising a statement we prepared (null is a no-op)
        unsafe { rusqlite::ffi::sqlite3_finalize(self.st) };
    }
}

/// Rows per chunk handed from the parser thread to the writer.
const CHUNK_ROWS: usize = 8192;

/// One row after parsing (phase 1, no store access): what the writer (phase 2) will do with it.
enum Parsed<'a> {
    Line(LineItem<'a>),
    Cost {
        stamp: Stamp,
        category: &'a str,
        amount: i64,
        acct: Option<&'a str>,
        units: Option<i64>,
        base: u128,
    },
    Event {
        acct: &'a str,
        stamp: Stamp,
        kind: &'a str,
        value: Option<f64>,
        base: u128,
    },
    Account {
        acct: &'a str,
        f: AccountFields<'a>,
    },
    Skip(String),
    Reject(Reject),
}

/// Read-only parsing context, shared with the parser thread.
struct Parser<'o> {
    kind: Kind,
    scale: u32,
    currency: Option<&'o str>,
    date_format: &'o DateFormat,
    cancel_prefix: Option<&'o str>,
    /// (column index, column name, lower-case values that skip the row)
    skip: Vec<(usize, &'o str, &'o Vec<String>)>,
    /// the decimal mark of numbers: `b'.'`, or `b','` when declared
    point: u8,
}

impl Parser<'_> {
    fn parse<'a>(&self, c: &Cols<'a>, i: usize, kb: &mut KeyBuilder) -> Parsed<'a> {
        for (k, name, vals) in &self.skip {
            if let Some(b) = c.all[*k].1.get(i) {
                let v = String::from_utf8_lossy(b).trim().to_lowercase();
                if vals.contains(&v) {
                    return Parsed::Skip(format!("{name}={v}"));
                }
            }
        }
        let r = match self.kind {
            Kind::LineItems => self.line_item(c, i, kb).map(Parsed::Line),
            Kind::Costs => self.cost(c, i, kb),
            Kind::Events => self.event(c, i, kb),
            Kind::Accounts => self.account(c, i),
        };
        r.unwrap_or_else(Parsed::Reject)
    }

    fn check_currency(&self, c: &Cols<'_>, i: usize) -> Result<(), Reject> {
        if let Some(s) = c.text(T::Currency, i)? {
            let code = normalize_currency(s).map_err(|e| rej(T::Currency, "bad_currency", e.0))?;
            match self.currency {
                Some(cur) if cur == code => {}
                Some(cur) => return Err(rej(
                    T::Currency,
                    "currency_mismatch",
                    format!(
                        "{code} in a store kept in {cur} (one currency per store; convert first)"
                    ),
                )),
                None => {
                    return Err(rej(
                        T::Currency,
                        "currency_mismatch",
                        format!("{code} in a store with no currency"),
                    ))
                }
            }
        }
        Ok(())
    }

    fn date(&self, c: &Cols<'_>, t: T, i: usize) -> Result<Option<Stamp>, Reject> {
        match c.text(t, i)? {
            None => Ok(None),
            Some(s) => self
                .date_format
                .parse_value(s)
                .map(Some)
                .map_err(|e| rej(t, e.code, e.message)),
        }
    }

    fn money(&self, c: &Cols<'_>, t: T, i: usize) -> Result<Option<i64>, Reject> {
        match c.text(t, i)? {
            None => Ok(None),
            Some(s) => {
                let d = Dec::parse_with(s, self.point)
                    .map_err(|e| rej(t, "bad_amount", e.0))?;
                d.to_minor_exact(self.scale)
                    .map(Some)
                    .map_err(|e| rej(t, "bad_amount", e.0))
            }
        }
    }

    fn int(&self, c: &Cols<'_>, t: T, i: usize) -> Result<Option<i64>, Reject> {
        match c.text(t, i)? {
            None => Ok(None),
            Some(s) => parse_int(t, s).map(Some),
        }
    }

    fn line_item<'a>(
        &self,
        c: &Cols<'a>,
        i: usize,
        kb: &mut KeyBuilder,
    ) -> Result<LineItem<'a>, Reject> {
        let acct = c
            .text(T::AccountId, i)?
            .ok_or_else(|| rej(T::AccountId, "missing_account", "no account id"))?;
        let stamp = self
            .date(c, T::OccurredAt, i)?
            .ok_or_else(|| rej(T::OccurredAt, "missing_date", "no date"))?;
        self.check_currency(c, i)?;
        let scale = self.scale;
        let quantity = match c.text(T::Quantity, i)? {
            None => None,
            Some(q) => Some((
                q,
                Dec::parse_with(q, self.point)
                    .map_err(|e| rej(T::Quantity, "bad_quantity", e.0))?,
            )),
        };
        let price = match c.text(T::UnitPrice, i)? {
            None => None,
            Some(p) => Some(
                Dec::parse_with(p, self.point)
                    .map_err(|e| rej(T::UnitPrice, "bad_price", e.0))?,
            ),
        };
        let unit_price = match price {
            None => None,
            Some(p) => Some(
                p.to_minor_half_even(scale)
                    .map_err(|e| rej(T::UnitPrice, "bad_price", e.0))?,
            ),
        };
        let mut amount = if c.mapped(T::Amount) {
            self.money(c, T::Amount, i)?
                .ok_or_else(|| rej(T::Amount, "missing_amount", "no amount"))?
        } else {
            let (_, q) =
                quantity.ok_or_else(|| rej(T::Quantity, "missing_quantity", "no quantity"))?;
            let p = price.ok_or_else(|| rej(T::UnitPrice, "missing_price", "no unit price"))?;
            q.mul(p)
                .and_then(|x| x.to_minor_half_even(scale))
                .map_err(|e| {
                    rej(
                        T::UnitPrice,
                        "bad_amount",
                        format!("quantity × unit price: {}", e.0),
                    )
                })?
        };
        let invoice = c.text(T::InvoiceId, i)?;
        let is_cancel = match (self.cancel_prefix, invoice) {
            (Some(p), Some(inv)) => inv.starts_with(p),
            _ => false,
        };
        if is_cancel && amount > 0 {
            // a cancellation is a credit whatever the sign it was exported with
            amount = -amount;
        }
        let sku = c.text(T::Sku, i)?;
        let description = c.raw(T::Description, i)?;
        kb.start(1);
        kb.text(Some(acct))
            .int(Some(stamp.ts))
            .text(invoice)
            .text(sku)
            .text(description)
            .int(Some(amount));
        for d in [quantity.map(|q| q.1), price] {
            match d {
                Some(d) => {
                    let d = d.trimmed();
                    kb.int(Some(d.mant as i64))
                        .int(Some((d.mant >> 64) as i64))
                        .int(Some(d.scale as i64));
                }
                None => {
                    kb.int(None);
                }
            }
        }
        let base = kb.base();
        Ok(LineItem {
            acct,
            stamp,
            amount,
            invoice,
            sku,
            description,
            quantity: quantity.map(|q| q.0),
            unit_price,
            is_cancel,
            base,
        })
    }

    fn cost<'a>(&self, c: &Cols<'a>, i: usize, kb: &mut KeyBuilder) -> Result<Parsed<'a>, Reject> {
        let stamp = self
            .date(c, T::OccurredAt, i)?
            .ok_or_else(|| rej(T::OccurredAt, "missing_date", "no date"))?;
        let category = c
            .text(T::Category, i)?
            .ok_or_else(|| rej(T::Category, "missing_category", "no cost category"))?;
        self.check_currency(c, i)?;
        let amount = self
            .money(c, T::Amount, i)?
            .ok_or_else(|| rej(T::Amount, "missing_amount", "no amount"))?;
        let acct = c.text(T::AccountId, i)?;
        let units = self.int(c, T::DriverUnits, i)?;
        kb.start(2);
        kb.text(acct)
            .int(Some(stamp.day as i64))
            .text(Some(category))
            .int(Some(amount))
            .int(units);
        Ok(Parsed::Cost {
            stamp,
            category,
            amount,
            acct,
            units,
            base: kb.base(),
        })
    }

    fn event<'a>(&self, c: &Cols<'a>, i: usize, kb: &mut KeyBuilder) -> Result<Parsed<'a>, Reject> {
        let acct = c
            .text(T::AccountId, i)?
            .ok_or_else(|| rej(T::AccountId, "missing_account", "no account id"))?;
        let stamp = self
            .date(c, T::OccurredAt, i)?
            .ok_or_else(|| rej(T::OccurredAt, "missing_date", "no date"))?;
        let kind = c
            .text(T::Event, i)?
            .ok_or_else(|| rej(T::Event, "missing_event", "no event name"))?;
        let value = match c.text(T::Value, i)? {
            None => None,
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Some(x),
                _ => {
                    return Err(rej(
                        T::Value,
                        "bad_value",
                        format!("{v:?} is not a finite number"),
                    ))
                }
            },
        };
        kb.start(3);
        kb.text(Some(acct))
            .int(Some(stamp.ts))
            .text(Some(kind))
            .int(value.map(|v| v.to_bits() as i64));
        Ok(Parsed::Event {
            acct,
            stamp,
            kind,
            value,
            base: kb.base(),
        })
    }

    fn account<'a>(&self, c: &Cols<'a>, i: usize) -> Result<Parsed<'a>, Reject> {
        let acct = c
            .text(T::AccountId, i)?
            .ok_or_else(|| rej(T::AccountId, "missing_account", "no account id"))?;
        self.check_currency(c, i)?;
        let f = AccountFields {
            name: c.raw(T::Name, i)?.map(str::trim),
            industry: c.text(T::Industry, i)?,
            employees: self.int(c, T::Employees, i)?,
            region: c.text(T::Region, i)?,
            plan: c.text(T::Plan, i)?,
            signup_day: self.date(c, T::SignupAt, i)?.map(|s| s.day),
            renewal_day: self.date(c, T::RenewalAt, i)?.map(|s| s.day),
            mrr: self.money(c, T::Mrr, i)?,
            seats: self.int(c, T::Seats, i)?,
            seat_limit: self.int(c, T::SeatLimit, i)?,
        };
        for (t, v) in [
            (T::Employees, f.employees),
            (T::Seats, f.seats),
            (T::SeatLimit, f.seat_limit),
        ] {
            if v.is_some_and(|x| x < 0) {
                return Err(rej(t, "bad_number", "a negative count"));
            }
        }
        Ok(Parsed::Account { acct, f })
    }
}

impl State {
    /// The 1-based file row of the next batch row (skipping rows removed before polars read the file).
    fn row_number(&mut self) -> u64 {
        let mut r = self.clean_rows + 1 + self.removed_k as u64;
        while self.removed_k < self.removed.len() && self.removed[self.removed_k] <= r {
            self.removed_k += 1;
            r += 1;
        }
        self.clean_rows += 1;
        r
    }

    /// Settle the store's currency before parsing money: the store's, else the first code in
    /// this batch's currency column, else none (2 decimals).
    fn fix_currency(&mut self, c: &Cols<'_>, n: usize) -> Result<(), ImportError> {
        if self.currency.is_some() || !c.mapped(T::Currency) {
            return Ok(());
        }
        for i in 0..n {
            if let Ok(Some(s)) = c.text(T::Currency, i) {
                if let Ok(code) = normalize_currency(s) {
                    let digits = currency_digits(&code);
                    if let Some(scale) = self.scale {
                        if scale != digits {
                            return Err(ImportError::Data(format!(
                                "the store holds money with {scale} decimals and no currency; {code} has {digits}: \
                                 one currency per store"
                            )));
                        }
                    }
                    self.scale = Some(digits);
                    self.currency = Some(code);
                    self.currency_is_new = true;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn scale(&self) -> u32 {
        self.scale.unwrap_or(2)
    }

    /// Phase 2: write one parsed row (row `i` of the batch).
    fn apply<'a>(
        &mut self,
        p: Parsed<'a>,
        c: &Cols<'a>,
        i: usize,
        s: &mut Stmts<'_, 'a>,
    ) -> Result<(), ImportError> {
        let row = self.row_number();
        self.stats.rows_read += 1;
        match p {
            Parsed::Line(v) => self.write_line_item(v, s),
            Parsed::Cost {
                stamp,
                category,
                amount,
                acct,
                units,
                base,
            } => {
                let account = match acct {
                    Some(a) => Some(self.account_for(a, s)?),
                    None => None,
                };
                let cat = self.intern(category, s)?;
                let st = s.item.as_mut().expect("costs insert");
                st.opt_i64(1, account)?;
                st.i64(2, stamp.day as i64)?;
                st.i64(3, cat)?;
                st.i64(4, amount)?;
                st.opt_i64(5, units)?;
                st.i64(6, self.import_id)?;
                if self.insert_keyed(s, stamp.day, base, 7)? {
                    self.stats.amount_total += amount as i128;
                    if amount < 0 {
                        self.stats.refunds_total += amount as i128;
                    }
                    self.count_day(stamp.day);
                }
                Ok(())
            }
            Parsed::Event {
                acct,
                stamp,
                kind,
                value,
                base,
            } => {
                let account = self.account_for(acct, s)?;
                let kind_id = self.intern(kind, s)?;
                let st = s.item.as_mut().expect("events insert");
                st.i64(1, account)?;
                st.i64(2, stamp.day as i64)?;
                st.i64(3, stamp.ts)?;
                st.i64(4, kind_id)?;
                st.opt_f64(5, value)?;
                st.i64(6, self.import_id)?;
                if self.insert_keyed(s, stamp.day, base, 7)? {
                    self.count_day(stamp.day);
                }
                Ok(())
            }
            Parsed::Account { acct, f } => self.write_account(acct, f, s),
            Parsed::Skip(rule) => {
                self.stats.rows_skipped += 1;
                *self.stats.skipped_by_rule.entry(rule).or_insert(0) += 1;
                Ok(())
            }
            Parsed::Reject(r) => self.reject(c, i, row, r, s),
        }
    }

    fn account_for(&mut self, key: &str, s: &mut Stmts<'_, '_>) -> Result<i64, ImportError> {
        if let Some(&id) = self.accounts.get(key) {
            let t = &mut self.touched[id as usize];
            if *t == 0 {
                *t = 1;
                self.stats.accounts_seen += 1;
            }
            return Ok(id);
        }
        let id = self.next_account;
        self.next_account += 1;
        s.account.raw_bind_parameter(1, id)?;
        s.account.raw_bind_parameter(2, key)?;
        s.account.raw_bind_parameter(3, self.import_id)?;
        s.account.raw_execute()?;
        self.accounts.insert(key.into(), id);
        self.touched.push(2);
        self.stats.accounts_new += 1;
        Ok(id)
    }

    fn intern(&mut self, name: &str, s: &mut Stmts<'_, '_>) -> Result<i64, ImportError> {
        if let Some(&id) = self.interned.get(name) {
            return Ok(id);
        }
        let stmt = s.intern.as_mut().expect("interned kinds have a statement");
        let id: i64 = stmt.query_row([name], |r| r.get(0))?;
        self.interned.insert(name.into(), id);
        Ok(id)
    }

    fn count_day(&mut self, day: i32) {
        self.stats.day_min = Some(self.stats.day_min.map_or(day, |d| d.min(day)));
        self.stats.day_max = Some(self.stats.day_max.map_or(day, |d| d.max(day)));
    }

    /// Insert the bound row under its natural key (parameter `key_param`); true when it is new.
    ///
    /// The occurrence number of a row is how many identical rows (same base) came before it in
    /// this file. It is found without remembering every row: a first insert uses occurrence 0;
    /// only when that key already exists do we look at who owns it. If this import does, an
    /// identical row came earlier in this file, so this one is occurrence 1; if an earlier import
    /// does, this row is a duplicate of it. Either way the base is remembered from then on and
    /// its later copies take the next numbers.
    fn insert_keyed(
        &mut self,
        s: &mut Stmts<'_, '_>,
        day: i32,
        base: u128,
        key_param: i32,
    ) -> Result<bool, ImportError> {
        let item = s.item.as_mut().expect("keyed kinds have an insert");
        let new = if let Some(next) = self.repeats.get_mut(&base) {
            let key = nkey(day, base, *next);
            *next += 1;
            item.blob16(key_param, &key)?;
            item.execute()? == 1
        } else {
            let key0 = nkey(day, base, 0);
            item.blob16(key_param, &key0)?;
            if item.execute()? == 1 {
                true
            } else {
                let owner_stmt = s
                    .owner
                    .as_mut()
                    .expect("keyed kinds have an owner statement");
                let owner: i64 = owner_stmt.query_row([&key0[..]], |r| r.get(0))?;
                if owner == self.import_id {
                    self.repeats.insert(base, 2);
                    let key1 = nkey(day, base, 1);
                    item.blob16(key_param, &key1)?;
                    item.execute()? == 1
                } else {
                    self.repeats.insert(base, 1);
                    false
                }
            }
        };
        if new {
            self.stats.rows_imported += 1;
        } else {
            self.stats.rows_duplicate += 1;
        }
        Ok(new)
    }

    fn write_line_item<'a>(
        &mut self,
        v: LineItem<'a>,
        s: &mut Stmts<'_, 'a>,
    ) -> Result<(), ImportError> {
        let LineItem {
            acct,
            stamp,
            amount,
            invoice,
            sku,
            description,
            quantity,
            unit_price,
            is_cancel,
            base,
        } = v;
        let account = self.account_for(acct, s)?;
        let st = s.item.as_mut().expect("line items insert");
        st.i64(1, account)?;
        st.i64(2, stamp.day as i64)?;
        st.i64(3, stamp.ts)?;
        st.text(4, invoice)?;
        st.i64(5, invoice_key(invoice))?;
        st.text(6, sku)?;
        st.text(7, description)?;
        st.text(8, quantity)?;
        st.opt_i64(9, unit_price)?;
        st.i64(10, amount)?;
        st.i64(11, is_cancel as i64)?;
        st.i64(12, self.import_id)?;
        if self.insert_keyed(s, stamp.day, base, 13)? {
            self.stats.amount_total += amount as i128;
            if amount < 0 {
                self.stats.refunds_total += amount as i128;
            }
            if is_cancel {
                self.stats.cancellations += 1;
            }
            self.count_day(stamp.day);
        }
        Ok(())
    }

    fn write_account(
        &mut self,
        acct: &str,
        f: AccountFields<'_>,
        s: &mut Stmts<'_, '_>,
    ) -> Result<(), ImportError> {
        if let Some(&id) = self.accounts.get(acct) {
            let st = s.update.as_mut().expect("accounts update");
            st.raw_bind_parameter(1, id)?;
            f.bind(st, 2)?;
            let n = st.raw_execute()?;
            let t = &mut self.touched[id as usize];
            if *t == 0 {
                *t = 1;
                self.stats.accounts_seen += 1;
            }
            if n == 1 {
                self.stats.rows_imported += 1;
                self.stats.accounts_updated += 1;
            } else {
                self.stats.rows_duplicate += 1;
            }
        } else {
            let id = self.next_account;
            self.next_account += 1;
            let st = &mut s.account;
            st.raw_bind_parameter(1, id)?;
            st.raw_bind_parameter(2, acct)?;
            f.bind(st, 3)?;
            st.raw_bind_parameter(13, self.import_id)?;
            st.raw_execute()?;
            self.accounts.insert(acct.into(), id);
            self.touched.push(2);
            self.stats.accounts_new += 1;
            self.stats.rows_imported += 1;
        }
        if let Some(m) = f.mrr {
            self.stats.amount_total += m as i128;
        }
        Ok(())
    }

    fn reject(
        &mut self,
        c: &Cols<'_>,
        i: usize,
        row: u64,
        r: Reject,
        s: &mut Stmts<'_, '_>,
    ) -> Result<(), ImportError> {
        if r.reason == "missing_account" {
            self.stats.missing_account_ids += 1;
        }
        self.stats.rows_rejected += 1;
        *self
            .stats
            .rejected_by_reason
            .entry(r.reason.to_string())
            .or_insert(0) += 1;
        let col = r.col.map(|t| c.src[t as usize]);
        if !self.stats.reject_examples.contains_key(r.reason) {
            self.stats.reject_examples.insert(
                r.reason.to_string(),
                (row, col.map(String::from), r.message.clone()),
            );
        }
        let raw = c.raw_json(i);
        s.reject.execute((
            self.import_id,
            &self.file,
            row as i64,
            col,
            r.reason,
            &r.message,
            raw,
        ))?;
        Ok(())
    }
}

struct LineItem<'a> {
    acct: &'a str,
    stamp: Stamp,
    amount: i64,
    invoice: Option<&'a str>,
    sku: Option<&'a str>,
    description: Option<&'a str>,
    quantity: Option<&'a str>,
    unit_price: Option<i64>,
    is_cancel: bool,
    base: u128,
}

struct AccountFields<'a> {
    name: Option<&'a str>,
    industry: Option<&'a str>,
    employees: Option<i64>,
    region: Option<&'a str>,
    plan: Option<&'a str>,
    signup_day: Option<i32>,
    renewal_day: Option<i32>,
    mrr: Option<i64>,
    seats: Option<i64>,
    seat_limit: Option<i64>,
}

impl AccountFields<'_> {
    /// Bind the ten fields to parameters `first..first+10`.
    fn bind(&self, st: &mut CachedStatement<'_>, first: usize) -> rusqlite::Result<()> {
        st.raw_bind_parameter(first, self.name)?;
        st.raw_bind_parameter(first + 1, self.industry)?;
        st.raw_bind_parameter(first + 2, self.employees)?;
        st.raw_bind_parameter(first + 3, self.region)?;
        st.raw_bind_parameter(first + 4, self.plan)?;
        st.raw_bind_parameter(first + 5, self.signup_day)?;
        st.raw_bind_parameter(first + 6, self.renewal_day)?;
        st.raw_bind_parameter(first + 7, self.mrr)?;
        st.raw_bind_parameter(first + 8, self.seats)?;
        st.raw_bind_parameter(first + 9, self.seat_limit)?;
        Ok(())
    }
}

/// A stats snapshot as JSON (the Rust half of the import summary).
pub fn stats_json(st: &Stats, scale: u32, currency: Option<&str>) -> Value {
    // exact: a total beyond 64 bits (possible with amounts near the limit) is given as
    // decimal text rather than wrapped around
    let minor = |v: i128| -> Value {
        i64::try_from(v)
            .map(|x| json!(x))
            .unwrap_or_else(|_| json!(v.to_string()))
    };
    json!({
        "rows_read": st.rows_read,
        "rows_imported": st.rows_imported,
        "rows_duplicate": st.rows_duplicate,
        "rows_rejected": st.rows_rejected,
        "rows_skipped": st.rows_skipped,
        "blank_rows": st.blank_rows,
        "rejected_by_reason": st.rejected_by_reason,
        "reject_examples": st.reject_examples.iter().map(|(k, (row, col, msg))| {
            (k.clone(), json!({"row": row, "column": col, "message": msg}))
        }).collect::<Map<String, Value>>(),
        "skipped_by_rule": st.skipped_by_rule,
        "missing_account_ids": st.missing_account_ids,
        "accounts_new": st.accounts_new,
        "accounts_seen": st.accounts_seen,
        "accounts_updated": st.accounts_updated,
        "cancellations": st.cancellations,
        "amount_total_minor": minor(st.amount_total),
        "refunds_total_minor": minor(st.refunds_total),
        "money_scale": scale,
        "currency": currency,
        "date_min": st.day_min.map(|d| format_day(d as i64)),
        "date_max": st.day_max.map(|d| format_day(d as i64)),
        "seconds_parse": st.seconds_parse,
        "seconds_sqlite": st.seconds_sqlite,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("segtui-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        let conn = Connection::open(&p).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL").unwrap();
        for (v, sql) in crate::schema::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {v}"))
                .unwrap();
        }
        p
    }

    fn col(v: &[&str]) -> Vec<Option<String>> {
        v.iter()
            .map(|s| {
                if *s == "<null>" {
                    None
                } else {
                    Some(s.to_string())
                }
            })
            .collect()
    }

    const OPTS: &str = r#"{"mapping": {"account_id": "cust", "occurred_at": "date", "quantity": "qty", "unit_price": "price", "invoice_id": "inv"}, "cancel_prefix": "C"}"#;

    fn import(db: &Path, fp: &str, cols: &[(&str, Vec<Option<String>>)]) -> Option<(Stats, i64)> {
        let mut imp = match Importer::open(db, Kind::LineItems, "f.csv", fp, OPTS).unwrap() {
            Opened::Ready(i) => i,
            Opened::AlreadyImported(_) => return None,
        };
        let refs: Vec<(&str, &dyn TextCol)> =
            cols.iter().map(|(n, c)| (*n, c as &dyn TextCol)).collect();
        imp.add_batch(&refs, 0).unwrap();
        let st = imp.stats().clone();
        let dv = imp.commit("{}").unwrap();
        Some((st, dv))
    }

    fn q(db: &Path, sql: &str) -> i64 {
        Connection::open(db)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn imports_line_items_exactly_and_idempotently() {
        let db = store("li.db");
        let cols = vec![
            ("inv", col(&["1", "1", "C2", "3", "4", "4"])),
            ("cust", col(&["a", "b", "a", "<null>", "b", "b"])),
            (
                "date",
                col(&[
                    "2024-01-02",
                    "2024-01-02T10:00",
                    "2024-01-03",
                    "2024-01-03",
                    "2024-13-01",
                    "2024-01-05",
                ]),
            ),
            ("qty", col(&["3", "1", "1", "1", "1", "1"])),
            ("price", col(&["0.335", "2.50", "4.00", "1", "1", "1.5"])),
        ];
        let (st, dv) = import(&db, "fp1", &cols).unwrap();
        assert_eq!(
            (
                st.rows_read,
                st.rows_imported,
                st.rows_rejected,
                st.missing_account_ids
            ),
            (6, 4, 2, 1)
        );
        assert_eq!(st.rejected_by_reason.get("bad_date"), Some(&1));
        // 3 × 0.335 = 1.005 → 1.00 (half to even); the cancellation is a credit
        assert_eq!(st.amount_total, 100 + 250 - 400 + 150);
        assert_eq!(st.accounts_new, 2);
        assert_eq!(dv, 1);
        assert_eq!(q(&db, "SELECT count(*) FROM rejects WHERE row = 4 AND col = 'cust' AND reason = 'missing_account'"), 1);
        assert_eq!(
            q(
                &db,
                "SELECT count(*) FROM rejects WHERE row = 5 AND col = 'date'"
            ),
            1
        );
        assert_eq!(
            q(&db, "SELECT is_cancel FROM line_items WHERE invoice = 'C2'"),
            1
        );
        assert_eq!(q(&db, "SELECT max(id) FROM accounts"), 2);
        // the same fingerprint is refused; the same rows under another fingerprint are duplicates
        assert!(import(&db, "fp1", &cols).is_none());
        let (st2, dv2) = import(&db, "fp2", &cols).unwrap();
        assert_eq!(
            (
                st2.rows_imported,
                st2.rows_duplicate,
                st2.accounts_new,
                st2.accounts_seen
            ),
            (0, 4, 0, 2)
        );
        assert_eq!(dv2, 1, "nothing changed, data_version stays");
        assert_eq!(q(&db, "SELECT count(*) FROM line_items"), 4);
    }

    #[test]
    fn genuine_duplicates_in_one_file_are_kept_and_recognised_later() {
        let db = store("dup.db");
        let two = vec![
            ("inv", col(&["9", "9"])),
            ("cust", col(&["x", "x"])),
            ("date", col(&["2024-02-01", "2024-02-01"])),
            ("qty", col(&["1", "1"])),
            ("price", col(&["5", "5"])),
        ];
        let (st, _) = import(&db, "a", &two).unwrap();
        assert_eq!(st.rows_imported, 2);
        // a later export with the same two lines plus a third copy: only the third is new
        let three = vec![
            ("inv", col(&["9", "9", "9"])),
            ("cust", col(&["x", "x", "x"])),
            ("date", col(&["2024-02-01", "2024-02-01", "2024-02-01"])),
            ("qty", col(&["1", "1", "1"])),
            ("price", col(&["5", "5", "5"])),
        ];
        let (st, _) = import(&db, "b", &three).unwrap();
        assert_eq!((st.rows_imported, st.rows_duplicate), (1, 2));
        assert_eq!(q(&db, "SELECT count(*) FROM line_items"), 3);
    }

    #[test]
    fn rollback_leaves_the_store_as_it_was() {
        let db = store("rb.db");
        let cols = vec![
            ("inv", col(&["1"])),
            ("cust", col(&["a"])),
            ("date", col(&["2024-01-02"])),
            ("qty", col(&["1"])),
            ("price", col(&["1"])),
        ];
        {
            let Opened::Ready(mut imp) =
                Importer::open(&db, Kind::LineItems, "f", "x", OPTS).unwrap()
            else {
                panic!()
            };
            let refs: Vec<(&str, &dyn TextCol)> =
                cols.iter().map(|(n, c)| (*n, c as &dyn TextCol)).collect();
            imp.add_batch(&refs, 0).unwrap();
            // dropped without commit
        }
        assert_eq!(
            q(&db, "SELECT count(*) FROM line_items") + q(&db, "SELECT count(*) FROM imports"),
            0
        );
        assert_eq!(q(&db, "SELECT count(*) FROM accounts"), 0);
    }

    #[test]
    fn missing_mapping_is_a_usage_error() {
        let e = Options::from_json(
            Kind::LineItems,
            r#"{"mapping": {"account_id": "a", "occurred_at": "d"}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, ImportError::Usage(m) if m.contains("amount")));
        let e = Options::from_json(Kind::Costs, r#"{"mapping": {"sku": "a"}}"#).unwrap_err();
        assert!(matches!(e, ImportError::Usage(_)));
    }
}
