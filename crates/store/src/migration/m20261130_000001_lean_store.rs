//! The lean store (issue 8): integer keys, narrow indexes, interned tags, counters, the per-org
//! commit sequence. Upgrades a store of the first schema in place, in one transaction: the old
//! tables are set aside (SQLite: renamed `v0_*`; PostgreSQL: moved to the schema `engram_v0`), the
//! new ones created (`sql/lean_store.<backend>.sql`), every row copied (`sql/lean_store.copy.sql`
//! and, for memories, [`copy_memories`]), the copy checked row for row by count, and the old
//! tables dropped.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use sea_orm_migration::prelude::*;

use engram_core::{MemoryType, derived_dedup_key};

use crate::encode::{dedup_hash, memory_type_code};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 6] = ["orgs", "api_keys", "agents", "sessions", "memories", "memory_tags"];
const SQLITE_SCHEMA: &str = include_str!("sql/lean_store.sqlite.sql");
const POSTGRES_SCHEMA: &str = include_str!("sql/lean_store.postgres.sql");
const COPY: &str = include_str!("sql/lean_store.copy.sql");
/// Where the copy script hands over to [`copy_memories`].
const MEMORIES_MARKER: &str = "-- (memories: Rust)";
/// Old memories read and written per statement.
const CHUNK: usize = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// Also on SQLite: a crash half-way leaves the first schema intact.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let (schema, v0) = match backend {
            DbBackend::Postgres => {
                db.execute_unprepared("CREATE SCHEMA engram_v0").await?;
                for table in TABLES {
                    db.execute_unprepared(&format!("ALTER TABLE {table} SET SCHEMA engram_v0")).await?;
                }
                (POSTGRES_SCHEMA, "engram_v0.")
            }
            _ => {
                for table in TABLES {
                    db.execute_unprepared(&format!("ALTER TABLE {table} RENAME TO v0_{table}")).await?;
                }
                (SQLITE_SCHEMA, "v0_")
            }
        };
        for statement in statements(schema) {
            db.execute_unprepared(&statement).await?;
        }
        let copy = COPY.replace("{v0}", v0);
        let (before, after) = copy
            .split_once(MEMORIES_MARKER)
            .ok_or_else(|| DbErr::Migration("the copy script lost its memories marker".into()))?;
        for statement in statements(before) {
            db.execute_unprepared(&statement).await?;
        }
        copy_memories(db, backend, v0).await?;
        for statement in statements(after) {
            db.execute_unprepared(&statement).await?;
        }
        if backend == DbBackend::Postgres {
            // Keys were given explicitly: the identities go on after them.
            for table in ["orgs", "agents", "sessions", "tags", "memories"] {
                db.execute_unprepared(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'key'), coalesce(max(key), 0) + 1, false) FROM {table}"
                ))
                .await?;
            }
        }
        check_counts(db, backend, v0).await?;
        match backend {
            DbBackend::Postgres => db.execute_unprepared("DROP SCHEMA engram_v0 CASCADE").await.map(drop),
            _ => {
                for table in TABLES.iter().rev() {
                    db.execute_unprepared(&format!("DROP TABLE v0_{table}")).await?;
                }
                Ok(())
            }
        }
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("the lean store cannot be turned back into the first schema".into()))
    }
}

/// The statements of a script: `--` comment lines dropped, split at `;`.
fn statements(script: &str) -> Vec<String> {
    let code: String =
        script.lines().filter(|line| !line.trim_start().starts_with("--")).map(|line| format!("{line}\n")).collect();
    code.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Copies the old memories in id (= creation) order, giving them keys 1, 2, … in that order, a
/// per-org commit sequence 1, 2, …, their memory type code and dedup hash. Their ids stay theirs
/// (`legacy_id`: new memories' ids are derived from their keys). A dedup key equal to the derived
/// one is stored as NULL (it is derived again on read).
async fn copy_memories(db: &SchemaManagerConnection<'_>, backend: DbBackend, v0: &str) -> Result<(), DbErr> {
    let select = format!(
        "SELECT m.id, o.key, a.key, a.id, s.key, m.memory_type, m.event_type, m.content, m.metadata, m.tags, \
         m.importance, m.parent_id, m.dedup_key, m.time, m.created_at, m.step, m.pos_x, m.pos_y, m.pos_z, m.expires_at \
         FROM {v0}memories m JOIN orgs o ON o.id = m.org_id JOIN agents a ON a.id = m.agent_id \
         LEFT JOIN sessions s ON s.id = m.session_id WHERE m.id > {p1} ORDER BY m.id LIMIT {CHUNK}",
        p1 = if backend == DbBackend::Postgres { "$1" } else { "?" },
    );
    let mut last_id = String::new();
    let mut key: i64 = 0;
    let mut seqs: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    loop {
        let rows = db.query_all_raw(Statement::from_sql_and_values(backend, &select, [last_id.clone().into()])).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = Query::insert();
        insert.into_table(Alias::new("memories")).columns(
            [
                "key",
                "legacy_id",
                "org_key",
                "agent_key",
                "session_key",
                "memory_type",
                "event_type",
                "content",
                "metadata",
                "tags",
                "importance",
                "parent_id",
                "dedup_key",
                "dedup_hash",
                "time",
                "created_at",
                "step",
                "pos_x",
                "pos_y",
                "pos_z",
                "expires_at",
                "seq",
            ]
            .map(Alias::new),
        );
        for row in &rows {
            let id: String = row.try_get_by_index(0)?;
            let org_key: i64 = row.try_get_by_index(1)?;
            let agent_key: i64 = row.try_get_by_index(2)?;
            let agent_id: String = row.try_get_by_index(3)?;
            let memory_type: String = row.try_get_by_index(5)?;
            let event_type: String = row.try_get_by_index(6)?;
            let content: String = row.try_get_by_index(7)?;
            let dedup_key: String = row.try_get_by_index(12)?;
            let memory_type =
                MemoryType::parse("memory_type", &memory_type).map_err(|e| DbErr::Migration(e.to_string()))?;
            let derived = derived_dedup_key(&agent_id, &event_type, &content);
            let stored_key = (dedup_key != derived).then(|| dedup_key.clone());
            key += 1;
            let seq = seqs.entry(org_key).or_insert(0);
            *seq += 1;
            let values: Vec<SimpleExpr> = vec![
                key.into(),
                id.clone().into(),
                org_key.into(),
                agent_key.into(),
                row.try_get_by_index::<Option<i64>>(4)?.into(),
                memory_type_code(memory_type).into(),
                event_type.into(),
                content.into(),
                json_value(row.try_get_by_index::<serde_json::Value>(8)?).into(),
                json_value(row.try_get_by_index::<serde_json::Value>(9)?).into(),
                row.try_get_by_index::<f64>(10)?.into(),
                row.try_get_by_index::<Option<String>>(11)?.into(),
                stored_key.into(),
                dedup_hash(agent_key, &dedup_key).into(),
                row.try_get_by_index::<i64>(13)?.into(),
                row.try_get_by_index::<i64>(14)?.into(),
                row.try_get_by_index::<Option<i64>>(15)?.into(),
                row.try_get_by_index::<Option<f64>>(16)?.into(),
                row.try_get_by_index::<Option<f64>>(17)?.into(),
                row.try_get_by_index::<Option<f64>>(18)?.into(),
                row.try_get_by_index::<Option<i64>>(19)?.into(),
                (*seq).into(),
            ];
            insert.values(values).map_err(|e| DbErr::Migration(e.to_string()))?;
            last_id = id;
        }
        db.execute(&insert).await?;
        if key % 100_000 < CHUNK as i64 {
            tracing::info!(copied = key, "migrating memories to the lean store");
        }
    }
}

fn json_value(value: serde_json::Value) -> Value {
    Value::Json(Some(Box::new(value)))
}

/// Fails the migration (and so rolls it back) unless every old row has its new one.
async fn check_counts(db: &SchemaManagerConnection<'_>, backend: DbBackend, v0: &str) -> Result<(), DbErr> {
    for (old, new) in [
        ("orgs", "orgs"),
        ("api_keys", "api_keys"),
        ("agents", "agents"),
        ("sessions", "sessions"),
        ("memories", "memories"),
        ("memory_tags", "memory_tags"),
    ] {
        let sql = format!("SELECT (SELECT count(*) FROM {v0}{old}), (SELECT count(*) FROM {new})");
        let row = db
            .query_one_raw(Statement::from_string(backend, sql))
            .await?
            .ok_or_else(|| DbErr::Migration("count query returned nothing".into()))?;
        let (before, after): (i64, i64) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        if before != after {
            return Err(DbErr::Migration(format!(
                "copying {old} to the lean store kept {after} of {before} rows; nothing was changed"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_into_statements() {
        for script in [SQLITE_SCHEMA, POSTGRES_SCHEMA] {
            let all = statements(script);
            assert!(all.iter().all(|s| !s.contains("--")), "a comment survived");
            assert_eq!(all.iter().filter(|s| s.starts_with("CREATE TABLE")).count(), 10);
        }
        assert!(COPY.contains(MEMORIES_MARKER));
    }

    #[test]
    fn the_errors_index_lists_the_error_event_types() {
        let list = engram_core::ERROR_EVENT_TYPES.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
        for script in [SQLITE_SCHEMA, POSTGRES_SCHEMA] {
            assert!(script.contains(&format!("WHERE event_type IN ({list})")), "memories_errors_by_agent_time");
        }
    }
}
