//! Engram's domain operations: what every API surface (gRPC, REST, and later MCP) calls. Each
//! operation checks the caller's permission, validates and applies defaults, and calls the store
//! (and the context assembler). This crate knows no proto, HTTP or SQL type: it depends only on
//! the domain (`engram-core`), the store's traits and `engram-context`.
//!
//! One module per resource: [`memories`], [`agents`], [`sessions`], [`context`], [`admin`].

use std::sync::Arc;

use engram_core::*;
use engram_store::DynStore;

pub mod admin;
pub mod agents;
pub mod context;
pub mod memories;
pub mod sessions;

pub use admin::create_api_key;
pub use context::{ContextOptions, ContextResult};
pub use memories::ListRequest;

/// The domain operations over one store, with the server's input limits.
#[derive(Clone)]
pub struct Engram {
    store: DynStore,
    limits: Arc<Limits>,
}

/// A page request over agents or sessions, as a client sent it.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub size: u32,
    pub token: String,
}

impl Engram {
    pub fn new(store: DynStore, limits: Limits) -> Self {
        Self { store, limits: Arc::new(limits) }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }
}

/// PermissionDenied unless the caller's key has `needed`.
fn require(principal: &Principal, needed: Permission) -> Result<()> {
    if principal.allows(needed) {
        return Ok(());
    }
    Err(Error::PermissionDenied(format!("this API key lacks the {} permission", needed.as_str())))
}

/// A page token of agents or sessions; empty means the first page.
fn cursor(field: &str, token: &str) -> Result<Option<Cursor>> {
    if token.is_empty() { Ok(None) } else { Cursor::decode(field, token).map(Some) }
}
