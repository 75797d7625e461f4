//! Schema migrations: one set (sea-orm-migration) for SQLite and PostgreSQL, applied in order and
//! never edited once shipped. Times are BIGINT microseconds since the Unix epoch; JSON columns are
//! JSONB on PostgreSQL and text on SQLite.
//!
//! - `m20261122_000001_initial`: the first schema (text ids everywhere).
//! - `m20261130_000001_lean_store`: the lean store; upgrades a first-schema store in place.
//! - `m20261201_000001_vectors`: memory vectors and each org's vector dimension.
//! - `m20261206_000001_conversations`: conversations, their messages, and working memory.
//! - `m20261207_000001_lifecycle`: cold blocks, decay and tier columns of memories.
//! - `m20261208_000001_limits`: operators' rate limits and memory quotas per key and org.
//! - `m20261209_000001_memory_bytes`: content bytes in the memory counters; org byte quotas.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261130_000001_lean_store;
mod m20261201_000001_vectors;
mod m20261206_000001_conversations;
mod m20261207_000001_lifecycle;
mod m20261208_000001_limits;
mod m20261209_000001_memory_bytes;
mod statements;

pub use m20261209_000001_memory_bytes::recount_memory_bytes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261130_000001_lean_store::Migration),
            Box::new(m20261201_000001_vectors::Migration),
            Box::new(m20261206_000001_conversations::Migration),
            Box::new(m20261207_000001_lifecycle::Migration),
            Box::new(m20261208_000001_limits::Migration),
            Box::new(m20261209_000001_memory_bytes::Migration),
        ]
    }
}
