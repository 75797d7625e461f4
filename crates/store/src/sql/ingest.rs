//! Memory ingest, done by the group-commit writer: the AddMemories requests queued together are
//! inserted in one pass per org (one agent lookup, one dedup query, multi-row inserts), however many
//! requests and items they hold. A request whose references are wrong (unknown agent id, session,
//! parent) gets its own error and writes nothing; the others go on. Every check reads before any
//! write, so a failed request needs no savepoint.

use std::collections::{HashMap, HashSet};

use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::oneshot;

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::memories::not_expired;
use super::{agents, convert, db_err};
use crate::entity::{memories as mem, memory_tags as tags, sessions};

/// Keys per `IN (...)` list.
const IN_CHUNK: usize = 500;
/// Memory rows per INSERT (20 columns: far below every bind-parameter limit).
const MEMORY_CHUNK: usize = 100;
/// Tag rows per INSERT (3 columns).
const TAG_CHUNK: usize = 500;

/// One AddMemories request waiting for the writer.
pub(crate) struct AddJob {
    pub org: String,
    pub items: Vec<NewMemory>,
    pub window: chrono::Duration,
    pub now: Timestamp,
    pub reply: oneshot::Sender<Result<Vec<AddOutcome>>>,
    /// Set by [`insert_jobs`]; sent once the transaction committed.
    pub result: Option<Result<Vec<AddOutcome>>>,
}

/// Inserts the memories of `jobs` (all of `org`). `Err` means the transaction is unusable.
pub(crate) async fn insert_jobs(txn: &DatabaseTransaction, org: &str, jobs: &mut [&mut AddJob]) -> Result<()> {
    // 1. Agents that exist, by id or name.
    let refs: Vec<AgentRef> = jobs
        .iter()
        .flat_map(|job| job.items.iter().map(|m| m.agent.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .map(AgentRef::parse)
        .collect();
    let mut agent_ids = agents::find_many(txn, org, &refs).await?;

    // 2. References, checked per job before anything is written.
    let session_ids: Vec<String> = jobs
        .iter()
        .flat_map(|j| j.items.iter().filter_map(|m| m.session_id.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut session_owner: HashMap<String, String> = HashMap::new();
    for chunk in session_ids.chunks(IN_CHUNK) {
        let rows: Vec<(String, String)> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .column(sessions::Column::AgentId)
            .filter(sessions::Column::OrgId.eq(org))
            .filter(sessions::Column::Id.is_in(chunk.iter().map(String::as_str)))
            .into_tuple()
            .all(txn)
            .await
            .map_err(db_err)?;
        session_owner.extend(rows);
    }
    let parent_ids: Vec<String> = jobs
        .iter()
        .flat_map(|j| j.items.iter().filter_map(|m| m.parent_id.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut parents: HashSet<String> = HashSet::new();
    for chunk in parent_ids.chunks(IN_CHUNK) {
        let rows: Vec<String> = mem::Entity::find()
            .select_only()
            .column(mem::Column::Id)
            .filter(mem::Column::OrgId.eq(org))
            .filter(mem::Column::Id.is_in(chunk.iter().map(String::as_str)))
            .into_tuple()
            .all(txn)
            .await
            .map_err(db_err)?;
        parents.extend(rows);
    }
    for job in jobs.iter_mut() {
        if let Err(err) = check_references(&job.items, &agent_ids, &session_owner, &parents) {
            job.result = Some(Err(err));
        }
    }

    // 3. Register the new agent names of the jobs that go on.
    let earliest = jobs.iter().map(|j| j.now).min();
    for job in jobs.iter().filter(|j| j.result.is_none()) {
        for item in &job.items {
            if !agent_ids.contains_key(&item.agent) {
                let agent = agents::find_or_register(txn, org, &AgentRef::parse(&item.agent), job.now).await?;
                agent_ids.insert(item.agent.clone(), agent.id);
            }
        }
    }

    // 4. Dedup against what is stored (within each job's window) and what this pass adds.
    let keyed: Vec<Vec<(String, String)>> = jobs
        .iter()
        .map(|job| {
            job.items
                .iter()
                .map(|m| {
                    let agent_id = agent_ids.get(&m.agent).cloned().unwrap_or_default();
                    let key =
                        m.dedup_key.clone().unwrap_or_else(|| derived_dedup_key(&agent_id, &m.event_type, &m.content));
                    (agent_id, key)
                })
                .collect()
        })
        .collect();
    let widest = jobs.iter().map(|j| j.now - j.window).min();
    let mut seen: HashMap<(String, String), (String, i64)> = HashMap::new();
    if let (Some(earliest), Some(widest)) = (earliest, widest) {
        let keys: Vec<&str> = keyed
            .iter()
            .zip(jobs.iter())
            .filter(|(_, job)| job.result.is_none())
            .flat_map(|(keys, _)| keys.iter().map(|(_, k)| k.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for chunk in keys.chunks(IN_CHUNK) {
            let rows: Vec<(String, String, String, i64)> = mem::Entity::find()
                .select_only()
                .column(mem::Column::Id)
                .column(mem::Column::AgentId)
                .column(mem::Column::DedupKey)
                .column(mem::Column::CreatedAt)
                .filter(mem::Column::OrgId.eq(org))
                .filter(mem::Column::DedupKey.is_in(chunk.iter().copied()))
                .filter(mem::Column::CreatedAt.gte(to_micros(widest)))
                .filter(not_expired(earliest))
                .order_by_desc(mem::Column::CreatedAt)
                .into_tuple()
                .all(txn)
                .await
                .map_err(db_err)?;
            // Newest first, so the kept entry is the most recent match.
            for (id, agent_id, key, created_at) in rows {
                seen.entry((agent_id, key)).or_insert((id, created_at));
            }
        }
    }

    // 5. Rows for everything that is not a duplicate.
    let mut rows = Vec::new();
    let mut tag_rows = Vec::new();
    let mut touched: HashSet<String> = HashSet::new();
    let mut latest = None;
    for (job, keys) in jobs.iter_mut().zip(keyed) {
        if job.result.is_some() {
            continue;
        }
        let cutoff = to_micros(job.now - job.window);
        let items = std::mem::take(&mut job.items);
        let mut outcomes = Vec::with_capacity(items.len());
        for (item, (agent_id, key)) in items.into_iter().zip(keys) {
            touched.insert(agent_id.clone());
            if let Some((existing_id, _)) = seen.get(&(agent_id.clone(), key.clone())).filter(|(_, at)| *at >= cutoff) {
                outcomes.push(AddOutcome::Duplicate { existing_id: existing_id.clone() });
                continue;
            }
            let memory = Memory {
                id: ids::memory_id(),
                org_id: org.to_owned(),
                agent_id: agent_id.clone(),
                session_id: item.session_id,
                memory_type: item.memory_type.unwrap_or(MemoryType::Episodic),
                event_type: item.event_type,
                content: item.content,
                metadata: item.metadata,
                tags: item.tags,
                importance: item.importance.unwrap_or(DEFAULT_IMPORTANCE),
                parent_id: item.parent_id,
                dedup_key: key.clone(),
                time: item.time.unwrap_or(job.now),
                created_at: job.now,
                step: item.step,
                position: item.position,
                expires_at: item.expires_at,
            };
            seen.insert((agent_id, key), (memory.id.clone(), to_micros(job.now)));
            rows.push(convert::memory_row(&memory));
            tag_rows.extend(memory.tags.iter().map(|tag| tags::ActiveModel {
                memory_id: Set(memory.id.clone()),
                tag: Set(tag.clone()),
                org_id: Set(org.to_owned()),
                time: Set(to_micros(memory.time)),
            }));
            outcomes.push(AddOutcome::Created(memory));
        }
        latest = latest.max(Some(job.now));
        job.result = Some(Ok(outcomes));
    }

    // 6. Write.
    for chunk in chunked(rows, MEMORY_CHUNK) {
        mem::Entity::insert_many(chunk).exec_without_returning(txn).await.map_err(db_err)?;
    }
    for chunk in chunked(tag_rows, TAG_CHUNK) {
        tags::Entity::insert_many(chunk).exec_without_returning(txn).await.map_err(db_err)?;
    }
    if let Some(latest) = latest {
        agents::touch(txn, org, touched.into_iter().collect(), latest).await?;
    }
    Ok(())
}

/// A job's references: agent ids must exist, sessions must exist and belong to the memory's agent,
/// parents must exist. Fields are named `memories[i].<field>`.
fn check_references(
    items: &[NewMemory],
    agent_ids: &HashMap<String, String>,
    session_owner: &HashMap<String, String>,
    parents: &HashSet<String>,
) -> Result<()> {
    for (i, item) in items.iter().enumerate() {
        let agent_id = agent_ids.get(&item.agent);
        if agent_id.is_none() && is_agent_id(&item.agent) {
            return Err(Error::not_found("agent", &item.agent));
        }
        if let Some(session_id) = &item.session_id {
            match session_owner.get(session_id) {
                None => return Err(Error::not_found("session", session_id)),
                Some(owner) if Some(owner) != agent_id => {
                    return Err(Error::invalid(
                        format!("memories[{i}].session_id"),
                        format!("session {session_id} belongs to agent {owner}, not to {}", item.agent),
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

fn chunked<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(size).collect());
    }
    chunks
}
