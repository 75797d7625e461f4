//! Deleting memories with what hangs off them: their `memory_tags` and `memory_vectors` rows, the
//! cold blocks only they used, and their share of `memory_counts` (a cold memory's content
//! length comes from its block's header). Their `memory_dedup` entries stay: a dedup lookup
//! confirms every candidate against the memory row, so an entry without one is skipped.

use engram_core::Result;

use super::counts::Tallies;
use super::filter::Sql;
use super::refs::{TagKeys, tag_keys};
use crate::sql::conn::{Conn, Param, params};

/// Deletes the memories that `condition` (a WHERE clause over `memories m` that includes
/// `m.org_key = <org_key>`, or `m.org_key + 0 = <org_key>` for a lookup by key) selects. Returns
/// how many went.
pub(crate) async fn delete_memories(conn: &mut Conn<'_>, tags: &TagKeys, org_key: i64, condition: Sql) -> Result<u64> {
    let select = format!(
        "SELECT m.key, m.agent_key, m.memory_type, m.time, m.tags, octet_length(m.content), m.block_key, \
         m.block_slot FROM memories m WHERE {}",
        condition.text
    );
    let mut tallies = Tallies::default();
    let mut cold = Vec::new();
    let doomed = conn
        .query(&select, condition.params, |r| {
            let (agent_key, memory_type) = (r.i64(1)?, r.i64(2)?);
            match (r.opt_i64(6)?, r.opt_i64(7)?) {
                (Some(block), Some(slot)) => cold.push((agent_key, memory_type, (block, slot))),
                _ => tallies.count(agent_key, memory_type, r.i64(5)?.max(0) as usize),
            }
            Ok((r.i64(0)?, agent_key, memory_type, r.i64(3)?, r.strings(4)?))
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

    if !cold.is_empty() {
        let at: Vec<(i64, i64)> = cold.iter().map(|c| c.2).collect();
        let lengths = super::cold::lengths(conn, &at).await?;
        for (agent_key, memory_type, at) in &cold {
            tallies.count(*agent_key, *memory_type, lengths.get(at).copied().unwrap_or(0));
        }
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

    let mut blocks: Vec<i64> = cold.iter().map(|c| c.2.0).collect();
    blocks.sort_unstable();
    blocks.dedup();
    super::cold::drop_unused_blocks(conn, blocks).await?;
    tallies.subtract(conn).await?;
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
