//! References between rows: org ids to keys (cached), agents by id or name (found, registered,
//! touched), tag names to keys (interned per org, cached once committed).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use crate::sql::conn::{Conn, Param, params, placeholders};

/// Org ids to keys. Orgs are never deleted and keys never change, so what was read once stays
/// true for the life of the process, on every replica.
#[derive(Default)]
pub(crate) struct OrgKeys(RwLock<HashMap<String, i64>>);

impl OrgKeys {
    pub(crate) fn cached(&self, org: &str) -> Option<i64> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(org).copied()
    }

    pub(crate) fn remember(&self, org: &str, key: i64) {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(org.to_owned(), key);
    }
}

pub(crate) async fn org_key(conn: &mut Conn<'_>, org: &str) -> Result<Option<i64>> {
    conn.query_one("SELECT key FROM orgs WHERE id = $1", params![org], |r| r.i64(0)).await
}

/// The column that an agent reference names.
pub(crate) fn agent_column(agent: &AgentRef) -> &'static str {
    match agent {
        AgentRef::Id(_) => "id",
        AgentRef::Name(_) => "name",
    }
}

/// An agent's key and public id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentKey {
    pub key: i64,
    pub id: String,
}

/// The agent a reference names in the org, if any.
pub(crate) async fn find_agent(conn: &mut Conn<'_>, org_key: i64, agent: &AgentRef) -> Result<Option<AgentKey>> {
    let sql = format!("SELECT key, id FROM agents WHERE org_key = $1 AND {} = $2", agent_column(agent));
    conn.query_one(&sql, params![org_key, agent.as_str()], |r| Ok(AgentKey { key: r.i64(0)?, id: r.string(1)? })).await
}

/// The agents that exist among `refs` (two queries per 500, whatever their number): each found
/// reference's text to its agent.
pub(crate) async fn find_agents(
    conn: &mut Conn<'_>,
    org_key: i64,
    refs: &[AgentRef],
) -> Result<HashMap<String, AgentKey>> {
    let mut found = HashMap::with_capacity(refs.len());
    let (ids, names): (Vec<&AgentRef>, Vec<&AgentRef>) = refs.iter().partition(|r| matches!(r, AgentRef::Id(_)));
    for (column, wanted) in [("id", ids), ("name", names)] {
        for chunk in wanted.chunks(500) {
            let sql = format!(
                "SELECT key, id, name FROM agents WHERE org_key = $1 AND {column} IN ({})",
                placeholders(2, chunk.len())
            );
            let mut values = params![org_key];
            values.extend(chunk.iter().map(|r| Param::from(r.as_str())));
            let rows =
                conn.query(&sql, values, |r| Ok((AgentKey { key: r.i64(0)?, id: r.string(1)? }, r.string(2)?))).await?;
            for (agent, name) in rows {
                let text = if column == "id" { agent.id.clone() } else { name };
                found.insert(text, agent);
            }
        }
    }
    Ok(found)
}

/// Inserts an agent; the caller checked that the name is free.
pub(crate) async fn insert_agent(
    conn: &mut Conn<'_>,
    org_key: i64,
    agent: &NewAgent,
    now: Timestamp,
) -> Result<AgentKey> {
    let id = ids::agent_id();
    let sql = "INSERT INTO agents (id, org_key, name, description, config, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING key";
    let config = Param::Json(serde_json::Value::Object(agent.config.clone()));
    let values = vec![
        Param::from(&id),
        org_key.into(),
        Param::from(&agent.name),
        Param::from(&agent.description),
        config,
        to_micros(now).into(),
    ];
    let key = conn.query_i64(sql, values).await?;
    Ok(AgentKey { key, id })
}

/// Resolves a reference for a write: a known agent, or a new one for an unknown name.
/// An unknown id is NotFound.
pub(crate) async fn find_or_register_agent(
    conn: &mut Conn<'_>,
    org_key: i64,
    agent: &AgentRef,
    now: Timestamp,
) -> Result<AgentKey> {
    if let Some(found) = find_agent(conn, org_key, agent).await? {
        return Ok(found);
    }
    match agent {
        AgentRef::Id(id) => Err(Error::not_found("agent", id)),
        AgentRef::Name(name) => {
            let new = NewAgent { name: name.clone(), description: String::new(), config: Metadata::new() };
            insert_agent(conn, org_key, &new, now).await
        }
    }
}

/// Marks agents active at `now`.
pub(crate) async fn touch_agents(conn: &mut Conn<'_>, agent_keys: &[i64], now: Timestamp) -> Result<()> {
    for chunk in agent_keys.chunks(500) {
        let sql = format!("UPDATE agents SET last_active_at = $1 WHERE key IN ({})", placeholders(2, chunk.len()));
        let mut values = params![to_micros(now)];
        values.extend(chunk.iter().map(|k| Param::from(*k)));
        conn.execute(&sql, values).await?;
    }
    Ok(())
}

/// The SQL test (over `memories m`) that selects the memory of org `org_key` a public id names:
/// by key for ids derived from keys, by `legacy_id` for ids from before. A keyed id also decodes
/// from some old ids by chance, and its creation millisecond is not in the test: the caller
/// confirms that the row's id is the one asked for.
///
/// It is a primary-key lookup (or one of the unique legacy index) whatever the planner knows: the
/// candidate keys come first (`m.key IN (key, the legacy id's key)`), and the org is tested as
/// `m.org_key + 0`, which no index serves. On PostgreSQL without statistics (a fresh database,
/// autovacuum off) the bare `OR` of the two tests was a BitmapAnd with a scan of the org's whole
/// index (4 ms at 120,000 memories), and with the org as an index condition the planner took
/// `memories_by_org_time` with the key as a filter of the org's range (0.4 ms at 12,000); this
/// form takes 0.03 ms (EXPLAIN ANALYZE; OPERATIONS.md "Soak"). Every GetMemory, delete by id and
/// read-access update runs it.
pub(crate) fn memory_id_test(sql: &mut super::filter::Sql, org_key: i64, id: &str) -> String {
    let org = sql.param(org_key);
    let legacy = sql.param(id);
    match ids::memory_key_of(id) {
        Some((_, key)) => {
            let key = sql.param(key);
            format!(
                "m.key IN ({key}, (SELECT l.key FROM memories l WHERE l.legacy_id = {legacy})) \
                 AND m.org_key + 0 = {org} AND ((m.key = {key} AND m.legacy_id IS NULL) OR m.legacy_id = {legacy})"
            )
        }
        None => format!("m.legacy_id = {legacy} AND m.org_key + 0 = {org}"),
    }
}

/// The keys of the memories among `ids` that exist in the org (expired ones too), by id.
pub(crate) async fn find_memory_keys(c: &mut Conn<'_>, org_key: i64, ids: &[String]) -> Result<HashMap<String, i64>> {
    let mut found = HashMap::new();
    for id in ids {
        let mut sql = super::filter::Sql::new("SELECT m.key, m.legacy_id, m.created_at FROM memories m WHERE ");
        let test = memory_id_test(&mut sql, org_key, id);
        sql.push(&test);
        let rows = c
            .query(&sql.text, sql.params, |r| {
                let key = r.i64(0)?;
                let stored =
                    r.opt_string(1)?.unwrap_or_else(|| ids::memory_id_of(r.i64(2).unwrap_or(0).div_euclid(1000), key));
                Ok((stored, key))
            })
            .await?;
        found.extend(rows.into_iter().filter(|(stored, _)| stored == id));
    }
    Ok(found)
}

/// Most public ids kept by [`PublicIds`] per kind; past it the cache starts over.
const ID_CACHE_LIMIT: usize = 100_000;

/// The public ids of agent and session keys. Keys are never given twice and ids never change,
/// so an entry stays true forever (a deleted agent's entry is never asked for again).
#[derive(Default)]
pub(crate) struct PublicIds {
    agents: Mutex<HashMap<i64, String>>,
    sessions: Mutex<HashMap<i64, String>>,
}

/// The ids of `keys` in `table` (agents or sessions): from `cache`, the rest in one query.
async fn ids_of(
    c: &mut Conn<'_>,
    cache: &Mutex<HashMap<i64, String>>,
    table: &str,
    keys: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, String>> {
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    {
        let cached = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            match cached.get(&key) {
                Some(id) => {
                    found.insert(key, id.clone());
                }
                None => missing.push(key),
            }
        }
    }
    missing.sort_unstable();
    missing.dedup();
    for chunk in missing.chunks(500) {
        let mut sql = super::filter::Sql::new(&format!("SELECT key, id FROM {table} WHERE "));
        let test = sql.any_int(c.backend(), "key", chunk.to_vec());
        sql.push(&test);
        let rows = c.query(&sql.text, sql.params, |r| Ok((r.i64(0)?, r.string(1)?))).await?;
        let mut cached = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cached.len() > ID_CACHE_LIMIT {
            cached.clear();
        }
        for (key, id) in rows {
            cached.insert(key, id.clone());
            found.insert(key, id);
        }
    }
    Ok(found)
}

/// Memories of rows: their agents' and sessions' public ids filled in, and cold memories' content
/// decompressed.
pub(crate) async fn memories(
    c: &mut Conn<'_>,
    cache: &PublicIds,
    org_id: &str,
    mut rows: Vec<super::rows::MemoryRow>,
) -> Result<Vec<(i64, Memory)>> {
    let cold: Vec<(i64, i64)> = rows.iter().filter_map(|r| r.block).collect();
    if !cold.is_empty() {
        let mut contents = super::cold::contents(c, &cold).await?;
        for row in rows.iter_mut() {
            if let Some(at) = row.block {
                row.memory.content =
                    contents.remove(&at).ok_or_else(|| Error::internal("a cold memory's block is missing"))?;
            }
        }
    }
    let agents = ids_of(c, &cache.agents, "agents", rows.iter().map(|r| r.agent_key)).await?;
    let sessions = ids_of(c, &cache.sessions, "sessions", rows.iter().filter_map(|r| r.session_key)).await?;
    rows.into_iter()
        .map(|row| {
            let agent_id =
                agents.get(&row.agent_key).cloned().ok_or_else(|| Error::internal("a memory's agent is missing"))?;
            let session_id = row.session_key.and_then(|key| sessions.get(&key).cloned());
            Ok(row.into_memory(org_id, &agent_id, session_id))
        })
        .collect()
}

/// Most tag names kept by [`TagKeys`]; past it the cache starts over.
const TAG_CACHE_LIMIT: usize = 100_000;

/// Tag names to keys, per org. Tags are never deleted, so a committed key never changes; keys of
/// a transaction that did not commit must not be remembered (see [`tag_keys`]).
#[derive(Default)]
pub(crate) struct TagKeys(Mutex<HashMap<i64, HashMap<String, i64>>>);

impl TagKeys {
    pub(crate) fn remember(&self, org_key: i64, tags: impl IntoIterator<Item = (String, i64)>) {
        let mut orgs = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if orgs.values().map(HashMap::len).sum::<usize>() > TAG_CACHE_LIMIT {
            orgs.clear();
        }
        orgs.entry(org_key).or_default().extend(tags);
    }
}

/// The keys of tag names in an org, creating the missing ones when `create` (in a write). Returns
/// every name found or created; the caller remembers them in `cache` once its transaction
/// committed.
pub(crate) async fn tag_keys(
    conn: &mut Conn<'_>,
    cache: &TagKeys,
    org_key: i64,
    names: &[&str],
    create: bool,
) -> Result<HashMap<String, i64>> {
    let mut keys = HashMap::with_capacity(names.len());
    let mut missing: Vec<&str> = Vec::new();
    {
        let orgs = cache.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = orgs.get(&org_key);
        for name in names {
            match known.and_then(|tags| tags.get(*name)) {
                Some(key) => {
                    keys.insert((*name).to_owned(), *key);
                }
                None => missing.push(name),
            }
        }
    }
    missing.sort_unstable();
    missing.dedup();
    for chunk in missing.chunks(500) {
        let sql =
            format!("SELECT name, key FROM tags WHERE org_key = $1 AND name IN ({})", placeholders(2, chunk.len()));
        let mut values = params![org_key];
        values.extend(chunk.iter().map(|n| Param::from(*n)));
        keys.extend(conn.query(&sql, values, |r| Ok((r.string(0)?, r.i64(1)?))).await?);
    }
    if create {
        for name in missing {
            if !keys.contains_key(name) {
                let key = conn
                    .query_i64("INSERT INTO tags (org_key, name) VALUES ($1, $2) RETURNING key", params![org_key, name])
                    .await?;
                keys.insert(name.to_owned(), key);
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::memory_id_test;
    use crate::sql::shared::filter::Sql;
    use crate::testsuite::TestStore;

    /// How PostgreSQL runs [`memory_id_test`] in org 1 for a keyed id and for an id from before:
    /// each plan's text, labelled.
    async fn plans(store: &TestStore, when: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (what, id) in [
            ("keyed", engram_core::ids::memory_id_of(1_770_000_000_000, 15_000)),
            ("legacy", "mem_01M8NMQRAM1AVVA6REY45ZYTVV".to_owned()),
        ] {
            // As GetMemory reads it (`read_memory`): with the expiry test, which makes the org's
            // time index (org, time, key, expires_at) look like a covering choice.
            let mut sql = Sql::new("EXPLAIN SELECT m.key, m.content FROM memories m WHERE ");
            let now = sql.param(1_i64);
            let test = memory_id_test(&mut sql, 1, &id);
            sql.push(&format!("{test} AND (m.expires_at IS NULL OR m.expires_at > {now})"));
            let plan = store
                .sql
                .read(move |c| Box::pin(async move { c.query(&sql.text, sql.params, |r| r.string(0)).await }))
                .await
                .expect("EXPLAIN");
            out.push((format!("{what} id, {when}"), plan.join("\n")));
        }
        out
    }

    /// Without statistics (a fresh database, autovacuum off or not run yet) the planner took the
    /// org's indexes for a memory's id and scanned the whole org for one row (with the bare `OR`
    /// a BitmapAnd with `memories_by_org_seq`; with the org as an index condition, at 20,000
    /// memories, `memories_by_org_time`): every GetMemory, delete and read-access update paid for
    /// it. The id's test must be a lookup of the primary key or of the unique legacy index, at
    /// any size, with or without statistics.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_id_is_an_index_lookup_with_or_without_statistics() {
        let store = TestStore::postgres().await;
        let pool = store.sql.pg_pool().expect("a PostgreSQL store").clone();
        let run = |sql: String| {
            let pool = pool.clone();
            async move {
                sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(sql.clone()))
                    .execute(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
        };
        run("ALTER TABLE memories SET (autovacuum_enabled = false)".into()).await;
        let insert = |from: u32, to: u32| {
            format!(
                "INSERT INTO memories (org_key, agent_key, memory_type, event_type, content, metadata, tags, \
                 importance, dedup_hash, time, created_at, seq) SELECT 1, 1 + g % 10, 1, 'note', 'content ' || g, \
                 '{{}}', '[]', 0.5, g, g, g, g FROM generate_series({from}, {to}) g"
            )
        };
        let mut all = Vec::new();
        run(insert(1, 20_000)).await;
        all.extend(plans(&store, "20,000 memories, no statistics").await);
        run(insert(20_001, 60_000)).await;
        all.extend(plans(&store, "60,000 memories, no statistics").await);
        run("ANALYZE memories".into()).await;
        all.extend(plans(&store, "60,000 memories, analyzed").await);
        for (case, plan) in all {
            let index = if case.starts_with("keyed") { "memories_pkey" } else { "memories_by_legacy_id" };
            assert!(plan.contains(index), "{case}: not a lookup of {index}:\n{plan}");
            assert!(!plan.contains("memories_by_org") && !plan.contains("Seq Scan"), "{case}: scans the org:\n{plan}");
        }
    }
}
