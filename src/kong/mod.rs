//! Everything kongrade knows about Kong, as pure functions over data: no I/O here.

pub mod catalog;
pub mod conf;
pub mod snapshot;
pub mod state;
pub mod target;
pub mod version;
