//! kongrade: a guide through Kong Gateway database upgrades.
//!
//! Layers, data flowing down: `kong` (pure knowledge of Kong), `store` (reads databases),
//! `exec` (processes, files, HTTP), `cmd` (the plain commands), `wizard` and `tui` (the app).

pub mod bounded;
pub mod cli;
pub mod cmd;
pub mod contract;
pub mod exec;
pub mod kong;
pub mod store;
pub mod text;
pub mod training;
pub mod tui;
pub mod wizard;
