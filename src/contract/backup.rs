//! The record of a finished, verified backup.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a finished, verified backup is: recorded in the journal and printed by `backup --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    pub file: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    /// `host:port/database` (and schema), never the password.
    pub database: String,
    pub pg_dump_version: String,
    /// Entries `pg_restore --list` found in the archive.
    pub entries: usize,
    pub elapsed_ms: u64,
    pub created_at: String,
}
