//! The plain commands: each reads what it needs, prints, and returns an exit code.

pub mod auto;
pub mod context;
pub mod diagnose;
pub mod plan;
pub mod preflight;
pub mod rehearse;
pub mod standin;
pub mod status;
pub mod strategy;

/// An exit code chosen by a command (Kong-compatible where Kong has one).
pub type Code = i32;
pub mod backup;
pub mod journal;
pub mod nodes;
pub mod rollback;
