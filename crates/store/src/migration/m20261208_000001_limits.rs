//! Operators' limits (issue 13): `limits` holds the rate limit of an API key or an org and an
//! org's quota of stored memories, by the subject's text id (`key_…` or `org_…`); subjects
//! without a row get the server's defaults. `memory_counts_by_org` sums an org's counters for
//! the quota check without reading its agents.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE: &[&str] = &[
    "CREATE TABLE limits (subject TEXT PRIMARY KEY NOT NULL, rate_per_sec REAL, burst INTEGER, \
     max_memories INTEGER, updated_at INTEGER NOT NULL)",
    "CREATE INDEX memory_counts_by_org ON memory_counts (org_key)",
];

const POSTGRES: &[&str] = &[
    "CREATE TABLE limits (subject TEXT PRIMARY KEY, rate_per_sec DOUBLE PRECISION, burst BIGINT, \
     max_memories BIGINT, updated_at BIGINT NOT NULL)",
    "CREATE INDEX memory_counts_by_org ON memory_counts (org_key)",
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
