//! The wizard, pure: a [`Model`], one [`Msg`] type for everything that happens, and
//! [`update`], which changes the model and returns the [`Effect`]s for the runtime (`tui`) to
//! carry out. No I/O and no clock, so tests drive it headless, message by message.
//!
//! Steps: Preflight -> Strategy, then the chosen strategy's steps ([`flow`]); Preflight ->
//! Bootstrap -> Done for an empty database. The first read of the database decides where to
//! enter: a live lock waits (Waiting), pending migrations resume at Decommission.

pub mod dual;
pub mod failed;
pub mod flow;
pub mod keys;
pub mod memo;
pub mod model;
pub mod reading;
pub mod review;
pub mod text;
pub mod update;

pub use crate::kong::diagnose::{Finding, Severity};
pub use keys::{Key, KeyCode};
pub use model::{blocks, Model, Reading, Setup, Step};
pub use reading::Interpreter;
pub use update::{update, Effect, Msg};

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dual;
#[cfg(test)]
mod tests_half;
#[cfg(test)]
mod tests_review;
#[cfg(test)]
mod tests_strategy;
