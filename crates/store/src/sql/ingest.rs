//! [`crate::MemoryStore::add_memories`]: memory ingest, done by the group-commit writer.
//!
//! A request queues itself per org ([`Pending`]) and submits a writer job that drains the queue,
//! so the requests that arrive together are inserted in one pass: one agent lookup, one reference
//! check, one dedup lookup, bulk inserts (see `dialect`), one counter update, however many requests
//! and items they hold. A request whose references are wrong (unknown agent id, session, parent)
//! gets its own error and writes nothing; the others go on. Every check reads before any write.
//!
//! Dedup: an item is a duplicate of a live memory of the same agent and dedup key (given, or
//! derived from agent id, event type and content) created within the request's window, stored
//! before or earlier in the same pass. Candidates are found by [`dedup_hash`] in `memory_dedup`
//! (and, on SQLite, in the writer's buffer of recent hashes, see [`DedupBuffer`]), then confirmed
//! against the memory row.

use std::collections::{HashMap, HashSet};

use tokio::sync::oneshot;

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::SqlStore;
use super::conn::{Backend, Conn, Param, params};
use super::dialect::{self, NewRow};
use super::shared::counts::Tallies;
use super::shared::filter::Sql;
use super::shared::ingest::{AddJob, DedupBuffer, Prepared};
use super::shared::refs::{AgentKey, find_agents, find_memory_keys, insert_agent, tag_keys, touch_agents};
use super::writer::{Done, Isolation, org_lock};
use crate::encode::{dedup_hash, memory_type_code};

/// Keys per `IN (…)` list on SQLite.
const IN_CHUNK: usize = 500;

pub(super) async fn add(
    store: &SqlStore,
    org: &str,
    items: Vec<ValidMemory>,
    window: chrono::Duration,
    now: Timestamp,
) -> Result<Vec<AddOutcome>> {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        "store.write",
        otel.kind = "client",
        db.system = store.inner.backend.system(),
        org,
        items = items.len()
    );
    queue(store, org, items, window, now).instrument(span).await
}

/// Queues the items for the org's next ingest job, then waits for its commit.
async fn queue(
    store: &SqlStore,
    org: &str,
    items: Vec<ValidMemory>,
    window: chrono::Duration,
    now: Timestamp,
) -> Result<Vec<AddOutcome>> {
    let org_key = store.org_key_for_write(org).await?;
    let items = items.into_iter().map(Prepared::new).collect();
    let (reply, answer) = oneshot::channel();
    store.inner.pending.push(org_key, AddJob { items, window, now, reply });
    let (drainer, org_id) = (store.clone(), org.to_owned());
    store
        .inner
        .writer
        .submit(org_lock(org_key), Isolation::None, Box::new(move |c| Box::pin(drain(c, drainer, org_key, org_id))))
        .await?;
    answer.await.map_err(|_| Error::Unavailable("the store writer failed; see the server log".into()))?
}

/// The writer job: ingests every request of the org queued by now.
async fn drain(c: &mut Conn<'_>, store: SqlStore, org_key: i64, org_id: String) -> (bool, Done) {
    let jobs = store.inner.pending.take(org_key);
    if jobs.is_empty() {
        return (true, Box::new(|_| {}));
    }
    let mut inputs = Vec::with_capacity(jobs.len());
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        inputs.push(Input { items: job.items, window: job.window, now: job.now });
        replies.push(job.reply);
    }
    let passed = match dialect::keyed_plans(c, true).await {
        Ok(()) => pass(c, &store, org_key, &org_id, inputs).await,
        Err(err) => Err(err),
    };
    let passed = match (passed, dialect::keyed_plans(c, false).await) {
        (Ok(done), Err(err)) => {
            undo_dedup(&store, &done.dedup);
            Err(err)
        }
        (passed, _) => passed,
    };
    match passed {
        Ok(done) => {
            let finish = move |commit: Result<()>| {
                if commit.is_ok() {
                    store.inner.tags.remember(org_key, done.tags);
                    if let DedupChange::Flushed { to, .. } = &done.dedup {
                        store.inner.dedup.lock().unwrap_or_else(std::sync::PoisonError::into_inner).flushed_to(*to);
                    }
                } else {
                    undo_dedup(&store, &done.dedup);
                }
                for (reply, outcome) in replies.into_iter().zip(done.outcomes) {
                    let _ = reply.send(commit.clone().and(outcome));
                }
            };
            (true, Box::new(finish))
        }
        Err(err) => {
            tracing::error!(error = %err, "memory ingest failed");
            let fail = move |_: Result<()>| {
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            };
            (false, Box::new(fail))
        }
    }
}

/// The distinct values of `values`, in no particular order.
fn distinct<T: Eq + std::hash::Hash>(values: impl Iterator<Item = T>) -> Vec<T> {
    values.collect::<HashSet<T>>().into_iter().collect()
}

/// Takes a pass's hashes out of SQLite's dedup buffer again: its transaction does not commit.
fn undo_dedup(store: &SqlStore, change: &DedupChange) {
    if let DedupChange::Added(entries) | DedupChange::Flushed { added: entries, .. } = change {
        store.inner.dedup.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(entries);
    }
}

struct Input {
    items: Vec<Prepared>,
    window: chrono::Duration,
    now: Timestamp,
}

/// What a pass leaves for after the commit.
struct Passed {
    outcomes: Vec<Result<Vec<AddOutcome>>>,
    /// Tag names and keys it used (some new), to cache once committed.
    tags: Vec<(String, i64)>,
    dedup: DedupChange,
}

/// What a pass did to SQLite's dedup buffer, to settle once the commit's outcome is known.
enum DedupChange {
    /// PostgreSQL: the hashes are in `memory_dedup` (in the transaction).
    None,
    /// Hashes (hash, key) added to the buffer: taken out again if the commit fails.
    Added(Vec<(i64, i64)>),
    /// The buffer was written to `memory_dedup` up to key `to` (and this pass's hashes added to
    /// the buffer): on commit the buffer drops what the table now holds; on failure only `added`
    /// is taken out.
    Flushed { to: i64, added: Vec<(i64, i64)> },
}

/// A new memory and what its rows need besides it.
struct Staged {
    memory: Memory,
    agent_key: i64,
    session_key: Option<i64>,
    metadata: String,
    tags: String,
    /// The dedup key is the client's (stored), not derived (recomputed on read).
    client_key: bool,
    dedup_hash: i64,
    embedding: Option<Vec<f32>>,
    /// Queue it for the server's embedder (no client vector).
    embed: bool,
}

/// An item's outcome in its request: a duplicate, or the index of its [`Staged`] memory.
enum Slot {
    Duplicate(Existing),
    Created(usize),
}

/// What a duplicate duplicates: a stored memory (its id), or a memory of this pass (its index
/// among the staged ones, whose ids are set once their keys are allocated).
#[derive(Clone)]
enum Existing {
    Stored(String),
    Staged(usize),
}

/// Each staged memory fills exactly one slot; an empty slot would be a bug of this module.
fn unreachable_memory() -> Memory {
    panic!("an ingest slot was filled twice")
}

/// A session: its key and its agent's key and id.
struct SessionRef {
    key: i64,
    agent_key: i64,
    agent_id: String,
}

/// One item's dedup identity.
#[derive(Clone, PartialEq, Eq, Hash)]
struct DedupId {
    agent_key: i64,
    key: String,
}

async fn pass(c: &mut Conn<'_>, store: &SqlStore, org_key: i64, org_id: &str, inputs: Vec<Input>) -> Result<Passed> {
    let backend = c.backend();
    let mut outcomes: Vec<Option<Result<Vec<AddOutcome>>>> = (0..inputs.len()).map(|_| None).collect();

    // 1. References: agents, sessions, parents; each request checked before anything is written.
    let items = || inputs.iter().flat_map(|input| input.items.iter().map(|p| &p.item));
    let refs = distinct(items().map(|m| m.agent.clone()));
    let mut agents = find_agents(c, org_key, &refs).await?;
    let sessions = find_sessions(c, org_key, distinct(items().filter_map(|m| m.session_id.clone()))).await?;
    let parent_ids = distinct(items().filter_map(|m| m.parent_id.clone()));
    let parents: HashSet<String> = find_memory_keys(c, org_key, &parent_ids).await?.into_keys().collect();
    for (input, outcome) in inputs.iter().zip(outcomes.iter_mut()) {
        if let Err(err) = check_references(input.items.iter().map(|p| &p.item), &agents, &sessions, &parents) {
            *outcome = Some(Err(err));
        }
    }

    // 1b. Vectors: every one of the org has the dimension of its first (`orgs.vector_dim`).
    let stored_dim =
        c.query_one("SELECT vector_dim FROM orgs WHERE key = $1", params![org_key], |r| r.opt_i64(0)).await?;
    let mut dim = stored_dim.flatten();
    for (input, outcome) in inputs.iter().zip(outcomes.iter_mut()) {
        if outcome.is_some() {
            continue;
        }
        let mut wanted = dim;
        for (index, p) in input.items.iter().enumerate() {
            let Some(vector) = &p.item.embedding else { continue };
            let n = i64::try_from(vector.len()).unwrap_or(i64::MAX);
            match wanted {
                Some(d) if d != n => {
                    *outcome = Some(Err(Error::InvalidItem {
                        index,
                        field: "embedding".into(),
                        rule: format!("has {n} dimensions; this org's vectors have {d}"),
                    }));
                    break;
                }
                _ => wanted = Some(n),
            }
        }
        if outcome.is_none() {
            dim = wanted;
        }
    }
    if let (None, Some(dim)) = (stored_dim.flatten(), dim) {
        c.execute("UPDATE orgs SET vector_dim = $1 WHERE key = $2", params![dim, org_key]).await?;
    }

    // 2. New agent names of the requests that go on.
    for (input, outcome) in inputs.iter().zip(&outcomes) {
        if outcome.is_some() {
            continue;
        }
        for Prepared { item, .. } in &input.items {
            if let AgentRef::Name(name) = &item.agent
                && !agents.contains_key(name)
            {
                let new = NewAgent { name: name.clone(), description: String::new(), config: Metadata::new() };
                let agent = insert_agent(c, org_key, &new, input.now).await?;
                agents.insert(name.clone(), agent);
            }
        }
    }

    // 3. Dedup identities, and what is stored under them (within the widest window).
    let going: Vec<usize> = (0..inputs.len()).filter(|i| outcomes[*i].is_none()).collect();
    let ids_of = |input: &Input| -> Vec<DedupId> {
        input
            .items
            .iter()
            .map(|Prepared { item: m, .. }| {
                let agent = &agents[m.agent.as_str()];
                let key =
                    m.dedup_key.clone().unwrap_or_else(|| derived_dedup_key(&agent.id, &m.event_type, &m.content));
                DedupId { agent_key: agent.key, key }
            })
            .collect()
    };
    let dedup_ids: Vec<Vec<DedupId>> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| if going.contains(&i) { ids_of(input) } else { Vec::new() })
        .collect();
    let mut seen: HashMap<DedupId, (Existing, i64)> = HashMap::new();
    if let (Some(earliest), Some(widest)) =
        (going.iter().map(|i| inputs[*i].now).min(), going.iter().map(|i| inputs[*i].now - inputs[*i].window).min())
    {
        let hashes = distinct(dedup_ids.iter().flatten().map(|id| dedup_hash(id.agent_key, &id.key)));
        let (from, until) = (to_micros(widest), to_micros(earliest));
        let buffered = match backend {
            Backend::Sqlite => {
                let lock = || store.inner.dedup.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if !lock().loaded {
                    *lock() = load_buffer(c, store.inner.dedup_buffer).await?;
                }
                let buffer = lock();
                hashes.iter().flat_map(|h| buffer.keys(*h)).collect()
            }
            Backend::Postgres => Vec::new(),
        };
        for (id, existing, at) in dedup_candidates(c, org_key, hashes, buffered, (from, until)).await? {
            let entry = seen.entry(id).or_insert((Existing::Stored(existing.clone()), at));
            if at > entry.1 {
                *entry = (Existing::Stored(existing), at);
            }
        }
    }

    // 4. What is not a duplicate becomes a memory (rows are written from it below).
    let mut staged: Vec<Staged> = Vec::new();
    let mut slots: Vec<Vec<Slot>> = (0..inputs.len()).map(|_| Vec::new()).collect();
    let mut touched: HashSet<i64> = HashSet::new();
    let mut latest: Option<Timestamp> = None;
    for (i, (input, ids)) in inputs.into_iter().zip(dedup_ids).enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        let now_us = to_micros(input.now);
        let cutoff = to_micros(input.now - input.window);
        latest = latest.max(Some(input.now));
        for (Prepared { item, metadata, tags }, id) in input.items.into_iter().zip(ids) {
            touched.insert(id.agent_key);
            if let Some((existing, _)) = seen.get(&id).filter(|(_, at)| *at >= cutoff) {
                slots[i].push(Slot::Duplicate(existing.clone()));
                continue;
            }
            let agent = &agents[item.agent.as_str()];
            let session_key = item.session_id.as_ref().map(|s| sessions[s].key);
            let dedup_hash = dedup_hash(id.agent_key, &id.key);
            let (embedding, embed) = (item.embedding, item.embed);
            let memory = Memory {
                // Set once its key is known.
                id: String::new(),
                org_id: org_id.to_owned(),
                agent_id: agent.id.clone(),
                session_id: item.session_id,
                memory_type: item.memory_type,
                event_type: item.event_type,
                content: item.content,
                metadata: item.metadata,
                tags: item.tags,
                importance: item.importance,
                parent_id: item.parent_id,
                dedup_key: id.key.clone(),
                time: item.time.unwrap_or(input.now),
                created_at: input.now,
                step: item.step,
                position: item.position,
                expires_at: item.expires_at,
                scope: item.scope,
                access_count: 0,
                last_accessed_at: None,
                tier: engram_core::lifecycle::Tier::Hot,
            };
            seen.insert(id.clone(), (Existing::Staged(staged.len()), now_us));
            slots[i].push(Slot::Created(staged.len()));
            staged.push(Staged {
                memory,
                agent_key: agent.key,
                session_key,
                metadata,
                tags,
                client_key: item.dedup_key.is_some(),
                dedup_hash,
                embedding,
                embed,
            });
        }
    }

    // 5. Write: memories (their commit sequence numbers first), tags, dedup hashes, counters.
    let mut tags = Vec::new();
    let mut dedup = DedupChange::None;
    if !staged.is_empty() {
        let keys = dialect::allocate_keys(c, staged.len()).await?;
        for (s, key) in staged.iter_mut().zip(&keys) {
            s.memory.id = ids::memory_id_of(to_micros(s.memory.created_at).div_euclid(1000), *key);
        }
        let n = i64::try_from(staged.len()).unwrap_or(i64::MAX);
        let last = c
            .query_i64(
                "UPDATE orgs SET last_seq = last_seq + $1 WHERE key = $2 RETURNING last_seq",
                params![n, org_key],
            )
            .await?;
        let rows: Vec<NewRow<'_>> = staged
            .iter()
            .zip(&keys)
            .zip(last - n + 1..)
            .map(|((s, key), seq)| NewRow {
                key: *key,
                memory: &s.memory,
                org_key,
                agent_key: s.agent_key,
                session_key: s.session_key,
                memory_type: memory_type_code(s.memory.memory_type),
                metadata: &s.metadata,
                tags: &s.tags,
                dedup_key: s.client_key.then_some(s.memory.dedup_key.as_str()),
                dedup_hash: s.dedup_hash,
                seq,
                embedding_state: match (&s.embedding, s.embed) {
                    (Some(_), _) => 2,
                    (None, true) => 1,
                    (None, false) => 0,
                },
            })
            .collect();
        dialect::insert_memories(c, &rows).await?;
        drop(rows);
        let vectors: Vec<(i64, Vec<u8>)> = staged
            .iter()
            .zip(&keys)
            .filter_map(|(s, key)| s.embedding.as_deref().map(|v| (*key, vector::to_bytes(v))))
            .collect();
        dialect::insert_vectors(c, &vectors).await?;
        drop(vectors);

        let names: Vec<&str> = distinct(staged.iter().flat_map(|s| s.memory.tags.iter().map(String::as_str)));
        let tag_keys = tag_keys(c, &store.inner.tags, org_key, &names, true).await?;
        let tag_rows: Vec<(i64, i64, i64)> = staged
            .iter()
            .zip(&keys)
            .flat_map(|(s, key)| {
                let time = to_micros(s.memory.time);
                let tag_keys = &tag_keys;
                s.memory.tags.iter().map(move |name| (tag_keys[name], time, *key))
            })
            .collect();
        dialect::insert_memory_tags(c, &tag_rows).await?;
        tags = tag_keys.into_iter().collect();

        let entries: Vec<(i64, i64)> = staged.iter().zip(&keys).map(|(s, key)| (s.dedup_hash, *key)).collect();
        dedup = match backend {
            Backend::Postgres => {
                dialect::insert_dedup(c, &entries).await?;
                DedupChange::None
            }
            Backend::Sqlite => {
                let lock = || store.inner.dedup.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let buffered = lock().len;
                if buffered + entries.len() < store.inner.dedup_buffer {
                    DedupChange::Added(entries.clone())
                } else {
                    let mut all = lock().sorted();
                    all.extend(entries.iter().copied());
                    all.sort_unstable();
                    dialect::insert_dedup(c, &all).await?;
                    let to = all.iter().map(|(_, key)| *key).max().unwrap_or(0);
                    c.execute(
                        "INSERT INTO store_state (name, value) VALUES ('dedup_flushed_key', $1) \
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                        params![to],
                    )
                    .await?;
                    DedupChange::Flushed { to, added: entries.clone() }
                }
            }
        };

        let mut tallies = Tallies::default();
        for s in &staged {
            tallies.count(s.agent_key, memory_type_code(s.memory.memory_type), s.memory.content.len());
        }
        tallies.add(c, org_key).await?;
    }
    if let Some(latest) = latest {
        let mut touched: Vec<i64> = touched.into_iter().collect();
        touched.sort_unstable();
        touch_agents(c, &touched, latest).await?;
    }

    // Now (the pass wrote everything): later passes of this group must see these memories too.
    if let DedupChange::Added(entries) | DedupChange::Flushed { added: entries, .. } = &dedup {
        store.inner.dedup.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(entries);
    }
    let staged_ids: Vec<String> = staged.iter().map(|s| s.memory.id.clone()).collect();
    let mut memories: Vec<Option<Memory>> = staged.into_iter().map(|s| Some(s.memory)).collect();
    let created: Vec<Vec<AddOutcome>> = slots
        .into_iter()
        .map(|slots| {
            slots
                .into_iter()
                .map(|slot| match slot {
                    Slot::Duplicate(Existing::Stored(existing_id)) => AddOutcome::Duplicate { existing_id },
                    Slot::Duplicate(Existing::Staged(i)) => {
                        AddOutcome::Duplicate { existing_id: staged_ids[i].clone() }
                    }
                    Slot::Created(i) => AddOutcome::Created(memories[i].take().unwrap_or_else(unreachable_memory)),
                })
                .collect()
        })
        .collect();
    let outcomes = outcomes.into_iter().zip(created).map(|(outcome, created)| outcome.unwrap_or(Ok(created))).collect();
    Ok(Passed { outcomes, tags, dedup })
}

/// SQLite's dedup buffer as the database has it (read once after start-up): the memories above
/// the flushed key, with room for `capacity` (the flush threshold).
async fn load_buffer(c: &mut Conn<'_>, capacity: usize) -> Result<DedupBuffer> {
    let flushed = c.query_i64("SELECT value FROM store_state WHERE name = 'dedup_flushed_key'", Vec::new()).await?;
    let entries = c
        .query("SELECT dedup_hash, key FROM memories WHERE key > $1", params![flushed], |r| Ok((r.i64(0)?, r.i64(1)?)))
        .await?;
    let mut buffer = DedupBuffer::with_capacity(flushed, capacity.max(entries.len()));
    buffer.add(&entries);
    Ok(buffer)
}

/// Stored memories that may be duplicates: those whose dedup hash is in `hashes` (through
/// `memory_dedup`) or whose key is in `buffered` (SQLite's buffer), live at `until` and created
/// since `from`. Returns each one's dedup identity, id and creation time.
///
/// SQLite: one prepared point lookup per hash (an index seek each; almost all find nothing), then
/// the few candidates' rows. PostgreSQL: one round trip for all hashes (`= ANY`).
async fn dedup_candidates(
    c: &mut Conn<'_>,
    org_key: i64,
    hashes: Vec<i64>,
    mut buffered: Vec<i64>,
    (from, until): (i64, i64),
) -> Result<Vec<(DedupId, String, i64)>> {
    let backend = c.backend();
    let lookups: Vec<(bool, Vec<i64>)> = match backend {
        Backend::Sqlite => {
            for hash in hashes {
                let keys =
                    c.query("SELECT memory_key FROM memory_dedup WHERE hash = ?1", params![hash], |r| r.i64(0)).await?;
                buffered.extend(keys);
            }
            buffered.sort_unstable();
            buffered.dedup();
            buffered.chunks(IN_CHUNK).map(|chunk| (false, chunk.to_vec())).collect()
        }
        Backend::Postgres => vec![(true, hashes)],
    };
    let mut found = Vec::new();
    let columns = "m.key, m.legacy_id, m.agent_key, a.id, m.dedup_key, m.event_type, m.content, m.created_at, m.block_key, m.block_slot";
    for (by_hash, values) in lookups {
        if values.is_empty() {
            continue;
        }
        let mut sql = Sql::new("");
        let (org, since, live) = (sql.param(org_key), sql.param(from), sql.param(until));
        let tables = if by_hash {
            // PostgreSQL, driven from the hashes: index lookups whatever the planner's statistics
            // (a fresh database has none; a join the other way round would scan memories).
            // `OFFSET 0` keeps each LATERAL a step of its own (hash, dedup rows, memory, agent), and
            // `dialect::keyed_plans` makes each an index scan.
            let hashes = sql.param(Param::Ints(values));
            format!(
                "unnest({hashes}::bigint[]) AS h(hash) \
                 CROSS JOIN LATERAL (SELECT d.memory_key FROM memory_dedup d WHERE d.hash = h.hash OFFSET 0) d \
                 CROSS JOIN LATERAL (SELECT * FROM memories m WHERE m.key = d.memory_key OFFSET 0) m \
                 CROSS JOIN LATERAL (SELECT a.id FROM agents a WHERE a.key = m.agent_key OFFSET 0) a WHERE TRUE"
            )
        } else {
            let keys = sql.any_int(backend, "m.key", values);
            format!("memories m CROSS JOIN agents a WHERE {keys} AND a.key = m.agent_key")
        };
        sql.push(&format!(
            "SELECT {columns} FROM {tables} AND m.org_key = {org} \
             AND m.created_at >= {since} AND (m.expires_at IS NULL OR m.expires_at > {live})"
        ));
        // A cold memory's content is compressed: its derived key is computed once it is read.
        let rows = c
            .query(&sql.text, sql.params, |r| {
                let agent_id = r.str(3)?;
                let block = match (r.opt_i64(8)?, r.opt_i64(9)?) {
                    (Some(block), Some(slot)) => Some((block, slot)),
                    _ => None,
                };
                let (key, cold) = match (r.opt_str(4)?, block) {
                    (Some(key), _) => (key.to_owned(), None),
                    (None, Some(at)) => (String::new(), Some((agent_id.to_owned(), r.string(5)?, at))),
                    (None, None) => (derived_dedup_key(agent_id, r.str(5)?, r.str(6)?), None),
                };
                let created_at = r.i64(7)?;
                let id = match r.opt_string(1)? {
                    Some(legacy) => legacy,
                    None => ids::memory_id_of(created_at.div_euclid(1000), r.i64(0)?),
                };
                Ok((DedupId { agent_key: r.i64(2)?, key }, id, created_at, cold))
            })
            .await?;
        let blocks: Vec<(i64, i64)> = rows.iter().filter_map(|r| r.3.as_ref().map(|c| c.2)).collect();
        let mut contents =
            if blocks.is_empty() { HashMap::new() } else { super::shared::cold::contents(c, &blocks).await? };
        for (mut dedup, id, created_at, cold) in rows {
            if let Some((agent_id, event_type, at)) = cold {
                let content = contents.remove(&at).unwrap_or_default();
                dedup.key = derived_dedup_key(&agent_id, &event_type, &content);
            }
            found.push((dedup, id, created_at));
        }
    }
    Ok(found)
}

/// The sessions among `ids` in the org, by id.
async fn find_sessions(c: &mut Conn<'_>, org_key: i64, ids: Vec<String>) -> Result<HashMap<String, SessionRef>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut sql = Sql::new("");
        let org = sql.param(org_key);
        let test = sql.any_text(c.backend(), "s.id", chunk.to_vec());
        sql.push(&format!(
            "SELECT s.id, s.key, s.agent_key, (SELECT a.id FROM agents a WHERE a.key = s.agent_key) \
             FROM sessions s WHERE s.org_key = {org} AND {test}"
        ));
        let rows = c
            .query(&sql.text, sql.params, |r| {
                Ok((r.string(0)?, SessionRef { key: r.i64(1)?, agent_key: r.i64(2)?, agent_id: r.string(3)? }))
            })
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// A request's references: agent ids must exist, sessions must exist and belong to the memory's
/// agent, parents must exist.
fn check_references<'a>(
    items: impl Iterator<Item = &'a ValidMemory>,
    agents: &HashMap<String, AgentKey>,
    sessions: &HashMap<String, SessionRef>,
    parents: &HashSet<String>,
) -> Result<()> {
    for (i, item) in items.enumerate() {
        let agent = agents.get(item.agent.as_str());
        if let (None, AgentRef::Id(id)) = (agent, &item.agent) {
            return Err(Error::not_found("agent", id));
        }
        if let Some(session_id) = &item.session_id {
            match sessions.get(session_id) {
                None => return Err(Error::not_found("session", session_id)),
                Some(session) if Some(session.agent_key) != agent.map(|a| a.key) => {
                    return Err(Error::invalid_item(
                        i,
                        "session_id",
                        format!(
                            "session {session_id} belongs to agent {}, not to {}",
                            session.agent_id,
                            item.agent.as_str()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(parent_id) = &item.parent_id
            && !parents.contains(parent_id)
        {
            return Err(Error::not_found("parent memory", parent_id));
        }
    }
    Ok(())
}
