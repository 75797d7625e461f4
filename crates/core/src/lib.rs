//! Engram's domain: the types every surface shares, their validation, time specs and errors.
//!
//! This crate does no I/O and knows nothing of gRPC, HTTP or SQL.

pub mod conversation;
pub mod error;
pub mod ids;
pub mod lifecycle;
pub mod quota;
pub mod time;
pub mod types;
pub mod validate;
pub mod vector;
pub mod working_memory;

pub use error::{Error, Result};
pub use types::*;
pub use validate::Limits;
