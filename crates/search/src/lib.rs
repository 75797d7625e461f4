//! Engram's full-text index: BM25 over [tantivy], one index per org so that term statistics
//! (document frequencies, average lengths) never mix orgs, and one ranking implementation for
//! every store backend (SQLite and PostgreSQL feed the same documents; the same query ranks them
//! the same).
//!
//! The index is derived data: it follows the store's change feed (the per-org commit sequence)
//! and records in each commit the sequence number it has reached, so a restart resumes where it
//! stopped and a lost index is rebuilt from the store. This crate knows tantivy and the domain
//! types only; the app feeds it and hydrates what it finds.

mod analyzer;
mod grams;
mod graph;
mod index;
mod neighbourhood;
mod query;
mod schema;
mod slots;
mod timeline;
mod vectors;

pub use analyzer::TextQuery;
pub use index::{Candidates, FullText, Indexed, Nearest, Scored};
pub use neighbourhood::Neighbourhood;
pub use query::Ranking;
