//! Engram's domain operations: what every API surface (gRPC, REST, and later MCP) calls. Each
//! operation checks the caller's permission, validates and applies defaults, and calls the store
//! (and the context assembler). This crate knows no proto, HTTP or SQL type: it depends only on
//! the domain (`engram-core`), the store's traits and `engram-context`.
//!
//! One module per resource: [`memories`], [`agents`], [`sessions`], [`context`], [`admin`],
//! [`conversations`] (with `windows`, the hot-window cache) and `working_memory`;
//! [`search`] ranks memories by relevance over the full-text index that `indexer` keeps current;
//! `contains` serves `content_contains` listings from its trigrams; [`maintenance`] runs the memory
//! lifecycle; `result_cache` keeps the results of expensive reads.

mod access;
mod access_log;
pub mod admin;
pub mod agents;
mod contains;
pub mod context;
pub mod conversations;
mod embedder;
pub mod erasure;
mod handle;
mod hot_cache;
mod indexer;
mod limiter;
mod limits;
pub mod maintenance;
pub mod memories;
mod relevance;
mod result_cache;
pub mod search;
pub mod sessions;
pub mod simulation;
pub mod watch;
mod windows;
mod working_memory;

pub use admin::create_api_key;
pub use context::{ContextOptions, ContextResult};
pub use handle::{Engram, PageRequest};
pub use hot_cache::HotCacheStats;
pub use limiter::LimitDefaults;
pub use memories::ListRequest;
pub use relevance::Relevance;
pub use search::{Hit, RankedPage, RankedRequest, SearchMode};
pub use windows::WindowCacheStats;
