//! Vectors (issue 9): `memory_vectors` holds each embedded memory's vector (little-endian f32),
//! written with the memory or later by an embedder, and `orgs.vector_dim` the dimension every
//! vector of the org must have (fixed by its first vector); `memories_embedding_pending` is the
//! embedder's queue (memories with `embedding_state` 1, in key order).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE: &[&str] = &[
    "CREATE TABLE memory_vectors (memory_key INTEGER PRIMARY KEY, vector BLOB NOT NULL)",
    "ALTER TABLE orgs ADD COLUMN vector_dim INTEGER",
    "CREATE INDEX memories_embedding_pending ON memories (key) WHERE embedding_state = 1",
];

const POSTGRES: &[&str] = &[
    "CREATE TABLE memory_vectors (memory_key BIGINT PRIMARY KEY, vector BYTEA NOT NULL)",
    "ALTER TABLE orgs ADD COLUMN vector_dim INTEGER",
    "CREATE INDEX memories_embedding_pending ON memories (key) WHERE embedding_state = 1",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::statements::execute_all(manager, SQLITE, POSTGRES).await
    }
}
