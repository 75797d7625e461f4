//! SQLite bulk writes: one prepared statement per table, executed per row on the writer's
//! connection (no SQL text is built or parsed per row).

use rusqlite::Connection;

use engram_core::Result;
use engram_core::time::to_micros;

use super::row::NewRow;
use crate::sql::conn::sqlite::error;

pub(super) fn allocate_keys(conn: &Connection, n: usize) -> Result<Vec<i64>> {
    let last: i64 = conn
        .prepare_cached(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'memories'), 0), \
             coalesce((SELECT max(key) FROM memories), 0))",
        )
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(error)?;
    Ok((last + 1..).take(n).collect())
}

pub(super) fn advance_memory_keys(conn: &Connection, key: i64) -> Result<()> {
    // SQLite keeps the counter of an AUTOINCREMENT table in `sqlite_sequence` (a row once the
    // table had one), and raises it on every insert of a larger key; ordinary statements may
    // change it.
    conn.prepare_cached("UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'memories' AND seq < ?1")
        .and_then(|mut stmt| stmt.execute([key]))
        .map_err(error)?;
    conn.prepare_cached(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'memories', ?1 \
         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'memories')",
    )
    .and_then(|mut stmt| stmt.execute([key]))
    .map_err(error)?;
    Ok(())
}

pub(super) fn insert_memories(conn: &Connection, rows: &[NewRow<'_>]) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO memories (key, org_key, agent_key, session_key, memory_type, event_type, content, metadata, \
             tags, importance, parent_id, dedup_key, dedup_hash, time, created_at, step, pos_x, pos_y, pos_z, \
             expires_at, seq, embedding_state, scope) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
             ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
        )
        .map_err(error)?;
    for row in rows {
        let m = row.memory;
        stmt.execute(rusqlite::params![
            row.key,
            row.org_key,
            row.agent_key,
            row.session_key,
            row.memory_type,
            m.event_type,
            m.content,
            row.metadata,
            row.tags,
            m.importance,
            m.parent_id,
            row.dedup_key,
            row.dedup_hash,
            to_micros(m.time),
            to_micros(m.created_at),
            m.step,
            m.position.map(|p| p.x),
            m.position.map(|p| p.y),
            m.position.and_then(|p| p.z),
            m.expires_at.map(to_micros),
            row.seq,
            row.embedding_state,
            m.scope,
        ])
        .map_err(error)?;
    }
    Ok(())
}

pub(super) fn insert_memory_tags(conn: &Connection, rows: &[(i64, i64, i64)]) -> Result<()> {
    let mut stmt = conn
        .prepare_cached("INSERT INTO memory_tags (tag_key, time, memory_key) VALUES (?1, ?2, ?3)")
        .map_err(error)?;
    for (tag_key, time, memory_key) in rows {
        stmt.execute([tag_key, time, memory_key]).map_err(error)?;
    }
    Ok(())
}

pub(super) fn insert_vectors(conn: &Connection, rows: &[(i64, Vec<u8>)]) -> Result<()> {
    let mut stmt =
        conn.prepare_cached("INSERT INTO memory_vectors (memory_key, vector) VALUES (?1, ?2)").map_err(error)?;
    for (memory_key, vector) in rows {
        stmt.execute(rusqlite::params![memory_key, vector]).map_err(error)?;
    }
    Ok(())
}

pub(super) fn insert_dedup(conn: &Connection, rows: &[(i64, i64)]) -> Result<()> {
    let mut stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO memory_dedup (hash, memory_key) VALUES (?1, ?2)").map_err(error)?;
    for (hash, memory_key) in rows {
        stmt.execute([hash, memory_key]).map_err(error)?;
    }
    Ok(())
}
