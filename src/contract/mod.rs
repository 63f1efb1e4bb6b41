//! The contract between the layers: plain data that `exec` produces and `wizard`, `cmd`, `tui`
//! and the stand-in consume: kong command lines, run events, journal entries, backup records.
//! A leaf: it knows `kong` (pure) and serde, nothing of `exec`, `cmd`, `store` or `tui`, so
//! any layer can name these types without importing another's machinery.

pub mod backup;
pub mod clone;
pub mod invocation;
pub mod journal;
pub mod run;

pub use backup::BackupRecord;
pub use invocation::{shell_quote, Invocation, KongCommand};
pub use journal::{DbIdentity, StateSummary};
pub use run::{RunEvent, RunId, RunOutcome, Stream};
