//! segtui-core: the pure-Rust heart of segtui (no Python in here).
//!
//! - [`schema`]: the SQLite store's schema and forward migrations.
//! - [`money`], [`dates`], [`keys`]: exact parsing of money and dates, natural keys.
//! - [`import`]: the bulk import path (validated batches into one SQLite transaction).
//! - [`engine`]: the scoring kernels (RFM, cost attribution, churn, health, stage, tier).
//! - [`store_io`]: reading scoring inputs out of the store fast, writing snapshots.

pub mod dates;
pub mod engine;
pub mod history;
pub mod import;
pub mod keys;
pub mod money;
pub mod rules;
pub mod schema;
pub mod store_io;
