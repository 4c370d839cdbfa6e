//! The scoring engine: per-account RFM, cost attribution, churn risk, health, stage and tier.
//!
//! Entry point: [`score`]`(inputs, as_of_day, config)`. Definitions: `docs/scoring.md`.

pub mod alloc;
pub mod config;
pub mod group;
pub mod kernel;
pub mod maps;
pub mod mem;
pub mod multi;
pub mod rank;
pub mod types;

pub use config::{ConfigError, Driver, Mode, ScoreConfig};
pub use kernel::{score, EngineError};
pub use maps::{SegmentDef, SegmentMap, NO_PURCHASE};
pub use types::*;

#[cfg(test)]
mod tests;
