//! Deleting memories with what hangs off them: their `memory_tags` and `memory_vectors` rows, the
//! cold blocks only they used, and their share of `memory_counts`. (Their `memory_dedup` entries stay; a dedup lookup confirms every candidate
//! against the memory row, so an entry without one is skipped.)

use std::collections::HashMap;

use engram_core::Result;

use super::filter::Sql;
use super::refs::{TagKeys, tag_keys};
use crate::sql::conn::{Conn, Param, params};

/// Deletes the memories that `condition` (a WHERE clause over `memories m` that includes
/// `m.org_key = <org_key>`) selects. Returns how many went.
pub(crate) async fn delete_memories(conn: &mut Conn<'_>, tags: &TagKeys, org_key: i64, condition: Sql) -> Result<u64> {
    let select = format!(
        "SELECT m.key, m.agent_key, m.memory_type, m.time, m.tags, m.block_key FROM memories m WHERE {}",
        condition.text
    );
    let mut blocks = Vec::new();
    let doomed = conn
        .query(&select, condition.params, |r| {
            if let Some(block) = r.opt_i64(5)? {
                blocks.push(block);
            }
            Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?, r.i64(3)?, r.strings(4)?))
        })
        .await?;
    if doomed.is_empty() {
        return Ok(0);
    }

    let names: Vec<&str> = doomed.iter().flat_map(|d| d.4.iter().map(String::as_str)).collect();
    let keys = tag_keys(conn, tags, org_key, &names, false).await?;
    let tag_rows: Vec<(i64, i64, i64)> = doomed
        .iter()
        .flat_map(|(key, _, _, time, names)| {
            names.iter().filter_map(|n| keys.get(n)).map(move |tag| (*tag, *time, *key))
        })
        .collect();
    for chunk in tag_rows.chunks(300) {
        let tuples: Vec<String> =
            (0..chunk.len()).map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3)).collect();
        let sql =
            format!("DELETE FROM memory_tags WHERE (tag_key, time, memory_key) IN (VALUES {})", tuples.join(", "));
        let values = chunk.iter().flat_map(|(a, b, c)| [Param::from(*a), Param::from(*b), Param::from(*c)]).collect();
        conn.execute(&sql, values).await?;
    }

    let backend = conn.backend();
    let mut deleted = 0;
    for chunk in doomed.chunks(500) {
        let mut sql = Sql::new("DELETE FROM memories WHERE ");
        let keys = sql.any_int(backend, "key", chunk.iter().map(|d| d.0).collect());
        sql.push(&keys);
        deleted += conn.execute(&sql.text, sql.params).await?;
        let mut sql = Sql::new("DELETE FROM memory_vectors WHERE ");
        let keys = sql.any_int(backend, "memory_key", chunk.iter().map(|d| d.0).collect());
        sql.push(&keys);
        conn.execute(&sql.text, sql.params).await?;
    }

    blocks.sort_unstable();
    blocks.dedup();
    super::cold::drop_unused_blocks(conn, blocks).await?;

    let mut counts: HashMap<(i64, i64), i64> = HashMap::new();
    for (_, agent_key, memory_type, _, _) in &doomed {
        *counts.entry((*agent_key, *memory_type)).or_default() += 1;
    }
    for ((agent_key, memory_type), n) in counts {
        conn.execute(
            "UPDATE memory_counts SET count = count - $1 WHERE agent_key = $2 AND memory_type = $3",
            params![n, agent_key, memory_type],
        )
        .await?;
    }
    Ok(deleted)
}

/// Deletes an agent's conversations with their messages, and the working memory of its sessions
/// (before the sessions go). Returns how many conversations went.
pub(crate) async fn delete_agent_conversations(conn: &mut Conn<'_>, agent_key: i64) -> Result<u64> {
    conn.execute(
        "DELETE FROM conversation_messages WHERE conversation_key IN (SELECT key FROM conversations WHERE agent_key = $1)",
        params![agent_key],
    )
    .await?;
    conn.execute(
        "DELETE FROM working_memory WHERE session_key IN (SELECT key FROM sessions WHERE agent_key = $1)",
        params![agent_key],
    )
    .await?;
    conn.execute("DELETE FROM conversations WHERE agent_key = $1", params![agent_key]).await
}
