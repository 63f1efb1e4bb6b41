//! kongrade: a guide through Kong Gateway database upgrades.
//!
//! Layers, data flowing down: `kong` (pure knowledge of Kong) and `contract` (the plain data the
//! layers exchange: kong command lines, run events, journal entries, backup records), `store`
//! (reads databases through one `Store` trait), `exec` (processes, files, HTTP), `training` (the
//! demo's cluster), `cmd` (the plain commands), `wizard` (pure) and `tui` (the app). Only `cli`
//! knows clap; it hands every command plain structs and one resolved `cmd::context::Connection`.

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
