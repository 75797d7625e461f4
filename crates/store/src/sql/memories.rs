//! [`MemoryStore`] except ingest (`ingest`): reads, updates, deletes.

use serde_json::Value;

use engram_core::lifecycle::Tier;
use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::SqlStore;
use super::conn::{Conn, Param, params};
use super::shared::filter::{Select, Sql, memory_query};
use super::shared::purge::delete_memories;
use super::shared::refs::PublicIds;
use super::shared::refs::{TagKeys, tag_keys, touch_agents};
use super::shared::rows::{self, MEMORY_COLUMNS};
use super::writer::org_lock;
use crate::MemoryStore;

/// Most memories written after an outside index's sequence number that a listing `within` its
/// keys reads as well; past that, the index is too far behind to help and the listing walks.
const MAX_UNINDEXED: i64 = 10_000;

/// The keys a listing `within` reads: the index's, and those of the memories written after its
/// sequence number (read first, by `memories_by_org_seq`, so the listing itself is planned over
/// one list of keys on both backends). None when more than [`MAX_UNINDEXED`] were.
async fn within_keys(c: &mut Conn<'_>, org_key: i64, within: &Within) -> Result<Option<Vec<i64>>> {
    let tail = c
        .query(
            "SELECT key FROM memories WHERE org_key = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            params![org_key, within.after_seq, MAX_UNINDEXED + 1],
            |r| r.i64(0),
        )
        .await?;
    if tail.len() as i64 > MAX_UNINDEXED {
        return Ok(None);
    }
    let mut keys = within.keys.clone();
    keys.extend(tail);
    keys.sort_unstable();
    keys.dedup();
    Ok(Some(keys))
}

/// A memory of the org by its public id, unless expired at `now`.
async fn read_memory(
    c: &mut Conn<'_>,
    ids: &PublicIds,
    org_id: &str,
    org_key: i64,
    id: &str,
    now: Timestamp,
) -> Result<Option<(i64, Memory)>> {
    let mut sql = Sql::new(&format!("SELECT {MEMORY_COLUMNS} FROM memories m WHERE "));
    let now = sql.param(to_micros(now));
    let test = super::shared::refs::memory_id_test(&mut sql, org_key, id);
    sql.push(&format!("{test} AND (m.expires_at IS NULL OR m.expires_at > {now})"));
    let found = c.query(&sql.text, sql.params, rows::memory_row).await?;
    let found = found.into_iter().filter(|row| row.memory.id == id).collect();
    Ok(super::shared::refs::memories(c, ids, org_id, found).await?.pop())
}

/// Replaces the tags of a memory (key, time) in `memory_tags`. Returns the new names' keys, to
/// remember once committed.
async fn replace_tags(
    c: &mut Conn<'_>,
    tags: &TagKeys,
    org_key: i64,
    (key, time): (i64, i64),
    old: &[String],
    new: &[String],
) -> Result<Vec<(String, i64)>> {
    let old_names: Vec<&str> = old.iter().map(String::as_str).collect();
    for tag_key in tag_keys(c, tags, org_key, &old_names, false).await?.into_values() {
        c.execute(
            "DELETE FROM memory_tags WHERE tag_key = $1 AND time = $2 AND memory_key = $3",
            params![tag_key, time, key],
        )
        .await?;
    }
    let new_names: Vec<&str> = new.iter().map(String::as_str).collect();
    let new_keys = tag_keys(c, tags, org_key, &new_names, true).await?;
    for tag_key in new_keys.values() {
        c.execute(
            "INSERT INTO memory_tags (tag_key, time, memory_key) VALUES ($1, $2, $3)",
            params![*tag_key, time, key],
        )
        .await?;
    }
    Ok(new_keys.into_iter().collect())
}

/// The squared distance of a position from a `near` point (`filter::memory_query` orders by the
/// same expression).
fn squared_distance(near: &Near, position: Option<&Position>) -> f64 {
    let Some(p) = position else { return f64::INFINITY };
    let (dx, dy) = (p.x - near.x, p.y - near.y);
    let planar = dx * dx + dy * dy;
    match (near.z, p.z) {
        (Some(z), Some(pz)) => planar + (pz - z) * (pz - z),
        _ => planar,
    }
}

impl SqlStore {
    /// Up to `query.limit` rows of a listing (candidates: cold ones are not tested for
    /// `content_contains` yet).
    async fn read_page(
        &self,
        org: &str,
        org_key: i64,
        query: &MemoryQuery,
        now: Timestamp,
    ) -> Result<Vec<(i64, Memory)>> {
        let (org_id, store, backend, owned) = (org.to_owned(), self.clone(), self.backend(), query.clone());
        self.read(move |c| {
            Box::pin(async move {
                let query = owned;
                let within = match &query.within {
                    Some(w) => within_keys(c, org_key, w).await?,
                    None => None,
                };
                let select = Select::Page {
                    limit: query.limit.saturating_sub(1),
                    offset: query.offset,
                    order: query.order,
                    cursor: query.cursor.as_ref(),
                    within: within.as_deref(),
                    metadata_only: false,
                };
                let sql = memory_query(backend, org_key, &query.filter, now, select);
                let found = c.query(&sql.text, sql.params, rows::memory_row).await?;
                super::shared::refs::memories(c, &store.inner.ids, &org_id, found).await
            })
        })
        .await
    }
}

#[async_trait::async_trait]
impl MemoryStore for SqlStore {
    async fn add_memories(
        &self,
        org: &str,
        memories: Vec<ValidMemory>,
        dedup_window: chrono::Duration,
        now: Timestamp,
    ) -> Result<Vec<AddOutcome>> {
        super::ingest::add(self, org, memories, dedup_window, now).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, memory = id))]
    async fn get_memory(&self, org: &str, id: &str, now: Timestamp) -> Result<Memory> {
        let not_found = || Error::not_found("memory", id);
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found()) };
        let (org_id, wanted, store) = (org.to_owned(), id.to_owned(), self.clone());
        let found = self
            .read(move |c| {
                Box::pin(async move { read_memory(c, &store.inner.ids, &org_id, org_key, &wanted, now).await })
            })
            .await?;
        found.map(|(_, m)| m).ok_or_else(not_found)
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, limit = query.limit))]
    async fn list_memories(&self, org: &str, query: &MemoryQuery, now: Timestamp) -> Result<MemoryPage> {
        let empty = MemoryPage { memories: Vec::new(), next_cursor: None, has_more: false };
        let Some(org_key) = self.org_key(org).await? else { return Ok(empty) };
        let by_step = query.order.by_step();
        let near = query.filter.near.filter(|_| query.order.by_distance());
        let cursor_of = |key: i64, m: &Memory| MemoryCursor {
            time_us: match near {
                // The squared distance as the SQL computes it (same operations, same order).
                Some(n) => squared_distance(&n, m.position.as_ref()).to_bits() as i64,
                None if by_step => m.step.unwrap_or(0),
                None => to_micros(m.time),
            },
            key,
            query: 0,
        };
        // Cold memories come as candidates of `content_contains` (their content is compressed in
        // the database) and are tested here, decompressed: rows are read until the page is full
        // and one more match proves that more exist (one read when nothing is cold).
        let needle = query.filter.content_contains.as_ref();
        let passes = |m: &Memory| {
            m.tier != Tier::Cold || needle.is_none_or(|n| needle_matches(&m.content.to_lowercase(), n.as_str()))
        };
        let limit = query.limit as usize;
        let mut kept: Vec<(i64, Memory)> = Vec::new();
        let mut next = query.clone();
        let has_more = 'read: loop {
            let want = (limit + 1).saturating_sub(kept.len()).max(1) as u32;
            next.limit = want;
            let rows = self.read_page(org, org_key, &next, now).await?;
            let exhausted = rows.len() < want as usize;
            for (key, m) in rows {
                next.cursor = Some(cursor_of(key, &m));
                next.offset = 0;
                if !passes(&m) {
                    continue;
                }
                if kept.len() == limit {
                    break 'read true;
                }
                kept.push((key, m));
            }
            if exhausted {
                break false;
            }
        };
        let next_cursor = if has_more { kept.last().map(|(key, m)| cursor_of(*key, m)) } else { None };
        Ok(MemoryPage { memories: kept.into_iter().map(|(_, m)| m).collect(), has_more, next_cursor })
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org))]
    async fn count_memories(&self, org: &str, filter: &MemoryFilter, now: Timestamp) -> Result<u64> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(0) };
        let sql = memory_query(self.backend(), org_key, filter, now, Select::Count);
        let n = self.read(move |c| Box::pin(async move { c.query_i64(&sql.text, sql.params).await })).await?;
        let mut n = u64::try_from(n).unwrap_or(0);
        // The count left out cold memories of a `content_contains` filter: they are listed and
        // tested decompressed.
        if filter.content_contains.is_some() && (filter.tiers.is_empty() || filter.tiers.contains(&Tier::Cold)) {
            let mut query = MemoryQuery {
                filter: MemoryFilter { tiers: vec![Tier::Cold], ..filter.clone() },
                limit: 1_000,
                order: Order::default(),
                cursor: None,
                offset: 0,
                within: None,
            };
            loop {
                let page = self.list_memories(org, &query, now).await?;
                n += page.memories.len() as u64;
                match page.next_cursor {
                    Some(cursor) => query.cursor = Some(cursor),
                    None => break,
                }
            }
        }
        Ok(n)
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, memory = id))]
    async fn update_memory(&self, org: &str, id: &str, patch: MemoryPatch, now: Timestamp) -> Result<Memory> {
        let not_found = || Error::not_found("memory", id);
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found()) };
        let (org_id, id) = (org.to_owned(), id.to_owned());
        let store = self.clone();
        let (memory, new_tags) = self
            .write(org_lock(org_key), move |c| {
                Box::pin(async move {
                    let ids = &store.inner.ids;
                    let (key, memory) = read_memory(c, ids, &org_id, org_key, &id, now)
                        .await?
                        .ok_or_else(|| Error::not_found("memory", &id))?;
                    let mut new_tags = Vec::new();
                    let mut set = Sql::new("UPDATE memories SET seq = (SELECT last_seq + 1 FROM orgs WHERE key = ");
                    let org_param = set.param(org_key);
                    set.push(&format!("{org_param})"));
                    if let Some(importance) = patch.importance {
                        let value = set.param(importance);
                        set.push(&format!(", importance = {value}"));
                    }
                    if let Some(metadata) = patch.metadata {
                        let value = set.param(Param::Json(Value::Object(metadata)));
                        set.push(&format!(", metadata = {value}"));
                    }
                    if let Some(expires_at) = patch.expires_at {
                        let value = set.param(expires_at.map(to_micros));
                        set.push(&format!(", expires_at = {value}"));
                    }
                    if let Some(tags) = &patch.tags {
                        let value =
                            set.param(Param::Json(Value::Array(tags.iter().cloned().map(Value::String).collect())));
                        set.push(&format!(", tags = {value}"));
                        let time = to_micros(memory.time);
                        new_tags = replace_tags(c, &store.inner.tags, org_key, (key, time), &memory.tags, tags).await?;
                    }
                    let key_param = set.param(key);
                    set.push(&format!(" WHERE key = {key_param}"));
                    c.execute(&set.text, set.params).await?;
                    c.execute("UPDATE orgs SET last_seq = last_seq + 1 WHERE key = $1", params![org_key]).await?;
                    let agent =
                        super::shared::refs::find_agent(c, org_key, &AgentRef::Id(memory.agent_id.clone())).await?;
                    if let Some(agent) = agent {
                        touch_agents(c, &[agent.key], now).await?;
                    }
                    let (_, updated) = read_memory(c, &store.inner.ids, &org_id, org_key, &id, now)
                        .await?
                        .ok_or_else(|| Error::not_found("memory", &id))?;
                    Ok((updated, new_tags))
                })
            })
            .await?;
        self.inner.tags.remember(org_key, new_tags);
        Ok(memory)
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, memory = id))]
    async fn delete_memory(&self, org: &str, id: &str) -> Result<()> {
        let not_found = || Error::not_found("memory", id);
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found()) };
        let id = id.to_owned();
        let store = self.clone();
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let keys = super::shared::refs::find_memory_keys(c, org_key, std::slice::from_ref(&id)).await?;
                let key = keys.get(&id).copied().ok_or_else(|| Error::not_found("memory", &id))?;
                let mut condition = Sql::new("");
                let (org, key) = (condition.param(org_key), condition.param(key));
                // A primary-key lookup (see `memory_id_test`: no index serves `m.org_key + 0`).
                condition.push(&format!("m.key = {key} AND m.org_key + 0 = {org}"));
                match delete_memories(c, &store.inner.tags, org_key, condition).await? {
                    0 => Err(Error::not_found("memory", &id)),
                    _ => Ok(()),
                }
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org))]
    async fn delete_memories(&self, org: &str, filter: &DeleteFilter) -> Result<u64> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(0) };
        let mut condition = Sql::new("");
        let org_param = condition.param(org_key);
        condition.push(&format!("m.org_key = {org_param}"));
        if let Some(agent) = &filter.agent {
            let value = condition.param(agent.as_str());
            let column = super::shared::refs::agent_column(agent);
            condition.push(&format!(
                " AND m.agent_key = (SELECT key FROM agents WHERE org_key = {org_param} AND {column} = {value})"
            ));
        }
        if let Some(session_id) = &filter.session_id {
            let value = condition.param(session_id.as_str());
            condition.push(&format!(
                " AND m.session_key = (SELECT key FROM sessions WHERE org_key = {org_param} AND id = {value})"
            ));
        }
        if !filter.memory_types.is_empty() {
            let codes = condition.list(filter.memory_types.iter().map(|t| crate::encode::memory_type_code(*t)));
            condition.push(&format!(" AND m.memory_type IN ({codes})"));
        }
        if let Some(since) = filter.since {
            let value = condition.param(to_micros(since));
            condition.push(&format!(" AND m.time >= {value}"));
        }
        if let Some(until) = filter.until {
            let value = condition.param(to_micros(until));
            condition.push(&format!(" AND m.time < {value}"));
        }
        let store = self.clone();
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move { delete_memories(c, &store.inner.tags, org_key, condition).await })
        })
        .await
    }
}
