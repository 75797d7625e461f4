//! Org quotas of content bytes (issue 13): `memory_counts.bytes` keeps the UTF-8 bytes of the
//! content of each (agent, memory type)'s memories next to their count, and `limits` gets the
//! org's `max_memory_bytes`. Existing counters are filled from the memories: hot ones by
//! `octet_length(content)`, cold ones from their blocks' headers ([`recount_memory_bytes`]).

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE: &[&str] = &[
    "ALTER TABLE memory_counts ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE limits ADD COLUMN max_memory_bytes INTEGER",
];

const POSTGRES: &[&str] = &[
    "ALTER TABLE memory_counts ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE limits ADD COLUMN max_memory_bytes BIGINT",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::statements::execute_all(manager, SQLITE, POSTGRES).await?;
        recount_memory_bytes(manager.get_connection()).await
    }
}

/// Sets every `memory_counts.bytes` to the content bytes of its memories (what the write paths
/// keep it at): one pass over the memories, and one read of each cold block's header. Used by
/// the migration; public so that a test can check it against what the write paths keep.
#[doc(hidden)]
pub async fn recount_memory_bytes(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    // Hot memories hold their content; a cold one holds '' (its content is in its block).
    db.execute_unprepared(
        "UPDATE memory_counts SET bytes = coalesce((SELECT sum(octet_length(m.content)) FROM memories m \
         WHERE m.agent_key = memory_counts.agent_key AND m.memory_type = memory_counts.memory_type), 0)",
    )
    .await?;
    let mut bytes: HashMap<(i64, i64), i64> = HashMap::new();
    let mut block: Option<(i64, Vec<usize>)> = None;
    // Cold memories by (block, slot), a page at a time, each block's header read once.
    let mut after = (i64::MIN, i64::MIN);
    loop {
        let page = db
            .query_all_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT CAST(agent_key AS BIGINT) AS agent_key, CAST(memory_type AS BIGINT) AS memory_type, \
                     CAST(block_key AS BIGINT) AS block_key, CAST(block_slot AS BIGINT) AS block_slot FROM memories \
                     WHERE block_key IS NOT NULL AND block_slot IS NOT NULL \
                     AND (block_key > {b} OR (block_key = {b} AND block_slot > {s})) \
                     ORDER BY block_key, block_slot LIMIT 10000",
                    b = after.0,
                    s = after.1
                ),
            ))
            .await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            let agent_key: i64 = row.try_get("", "agent_key")?;
            let memory_type: i64 = row.try_get("", "memory_type")?;
            let (block_key, slot): (i64, i64) = (row.try_get("", "block_key")?, row.try_get("", "block_slot")?);
            after = (block_key, slot);
            if block.as_ref().is_none_or(|(key, _)| *key != block_key) {
                let data = db
                    .query_one_raw(Statement::from_string(
                        backend,
                        format!("SELECT data FROM cold_blocks WHERE key = {block_key}"),
                    ))
                    .await?
                    .map(|r| r.try_get::<Vec<u8>>("", "data"))
                    .transpose()?
                    .unwrap_or_default();
                let lengths = crate::sql::shared::cold::content_lengths(&data)
                    .map_err(|e| DbErr::Migration(format!("cold block {block_key}: {e}")))?;
                block = Some((block_key, lengths));
            }
            let len = block.as_ref().and_then(|(_, lengths)| lengths.get(slot as usize)).copied().unwrap_or(0);
            *bytes.entry((agent_key, memory_type)).or_default() += len as i64;
        }
    }
    for ((agent_key, memory_type), n) in bytes {
        db.execute_unprepared(&format!(
            "UPDATE memory_counts SET bytes = bytes + {n} WHERE agent_key = {agent_key} AND memory_type = {memory_type}"
        ))
        .await?;
    }
    Ok(())
}
