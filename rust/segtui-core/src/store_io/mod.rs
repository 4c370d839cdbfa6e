//! Bulk reads of the store for scoring and writes of snapshots (in progress).
