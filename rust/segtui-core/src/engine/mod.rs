//! The scoring engine: per-account RFM, cost attribution, churn risk, health, stage and tier.

pub mod types;

pub use types::*;
