//! [`ExportStore`] and [`ImportStore`]: every row a restore needs, as [`Record`]s.
//!
//! Export reads an org's rows kind by kind, each in key order after a position (`+org_key`
//! keeps SQLite on the primary key: a page is a key range read, not a sort of the org's rows),
//! so a page costs its rows whatever the store's size, and an export resumes after any record.
//! Cold memories come with their content decompressed; vectors as stored.
//!
//! Import writes a run of records of one org in one writer job, under the org's lock (an org
//! record alone, under the lock of org creation). Every record is checked before it writes
//! (a bad one is [`Error::InvalidItem`] naming its index and field, and the job rolls back; the
//! records before it are then written again on their own). A record whose row exists is left as
//! it is. A memory keeps its key when no memory has it (its id stays derived), else takes a new
//! one and keeps its id as `legacy_id`; the key sequence is first moved past the run's keys
//! (`dialect::advance_memory_keys`). It takes the org's next commit sequence number, its tags,
//! dedup hash, vector and its count in `memory_counts`; cold memories are compressed into
//! blocks again. A conversation is created empty and counts the messages imported into it.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;

use engram_core::conversation::Role;
use engram_core::lifecycle::Tier;
use engram_core::*;

use super::SqlStore;
use super::conn::{Conn, Param, Row, params};
use super::dialect;
use super::shared::cold;
use super::shared::counts::Tallies;
use super::shared::rows::{self, KEY_COLUMNS, KEY_FROM, MEMORY_COLUMN_COUNT, MEMORY_COLUMNS};
use super::writer::{org_lock, orgs_lock};
use crate::encode::{dedup_hash, memory_type_code};
use crate::records::*;
use crate::{ExportStore, ImportStore};

/// Most records of one page.
const MAX_PAGE: u32 = 10_000;

/// The integer position of a page of keyed rows.
fn after_key(kind: ExportKind, after: &ExportAfter) -> Result<i64> {
    match after {
        ExportAfter::Start => Ok(i64::MIN),
        ExportAfter::Key(key) => Ok(*key),
        other => Err(Error::invalid("after", format!("{other:?} is not a position among {} records", kind.as_str()))),
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[async_trait::async_trait]
impl ExportStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn export_orgs(&self, org: Option<&str>) -> Result<Vec<(i64, OrgRecord)>> {
        let wanted = org.map(str::to_owned);
        let found = self
            .read(move |c| {
                Box::pin(async move {
                    let sql = "SELECT key, id, name, created_at, vector_dim FROM orgs \
                               WHERE ($1 IS NULL OR id = $1) ORDER BY key";
                    c.query(sql, params![wanted], |r| {
                        Ok((
                            r.i64(0)?,
                            OrgRecord {
                                id: r.string(1)?,
                                name: r.string(2)?,
                                created_at: r.i64(3)?,
                                vector_dim: r.opt_i64(4)?,
                            },
                        ))
                    })
                    .await
                })
            })
            .await?;
        match org {
            Some(id) if found.is_empty() => Err(Error::not_found("org", id)),
            _ => Ok(found),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, kind = kind.as_str()))]
    async fn export_page(
        &self,
        org: &str,
        kind: ExportKind,
        after: &ExportAfter,
        limit: u32,
    ) -> Result<Vec<(ExportAfter, Record)>> {
        let org_key = self.org_key(org).await?.ok_or_else(|| Error::not_found("org", org))?;
        let (org_id, after) = (org.to_owned(), after.clone());
        let limit = i64::from(limit.clamp(1, MAX_PAGE));
        self.read(move |c| {
            Box::pin(async move {
                let org = (org_key, org_id.as_str());
                match kind {
                    ExportKind::Org => Err(Error::invalid("kind", "orgs are read with export_orgs")),
                    ExportKind::Agent => agents(c, org, after_key(kind, &after)?, limit).await,
                    ExportKind::Session => sessions(c, org, after_key(kind, &after)?, limit).await,
                    ExportKind::Memory => memories(c, org, after_key(kind, &after)?, limit).await,
                    ExportKind::Conversation => conversations(c, org, after_key(kind, &after)?, limit).await,
                    ExportKind::Message => {
                        let (conversation, seq) = match &after {
                            ExportAfter::Start => (i64::MIN, i64::MIN),
                            ExportAfter::Message(conversation, seq) => (*conversation, *seq),
                            other => {
                                return Err(Error::invalid("after", format!("{other:?} is not a message position")));
                            }
                        };
                        messages(c, org, (conversation, seq), limit).await
                    }
                    ExportKind::WorkingMemory => working_memory(c, org, after_key(kind, &after)?, limit).await,
                    ExportKind::ApiKey => {
                        let after_id = match &after {
                            ExportAfter::Start => String::new(),
                            ExportAfter::Id(id) => id.clone(),
                            other => return Err(Error::invalid("after", format!("{other:?} is not an API key id"))),
                        };
                        api_keys(c, org, after_id, limit).await
                    }
                    ExportKind::Limits => {
                        let after_id = match &after {
                            ExportAfter::Start => String::new(),
                            ExportAfter::Id(id) => id.clone(),
                            other => return Err(Error::invalid("after", format!("{other:?} is not a subject id"))),
                        };
                        limits(c, org, after_id, limit).await
                    }
                }
            })
        })
        .await
    }
}

type Page = Vec<(ExportAfter, Record)>;

async fn agents(c: &mut Conn<'_>, (org_key, org): (i64, &str), after: i64, limit: i64) -> Result<Page> {
    let sql = "SELECT key, id, name, description, config, created_at, last_active_at FROM agents \
               WHERE +org_key = $1 AND key > $2 ORDER BY key LIMIT $3";
    c.query(sql, params![org_key, after, limit], |r| {
        let record = AgentRecord {
            org: org.to_owned(),
            id: r.string(1)?,
            name: r.string(2)?,
            description: r.string(3)?,
            config: r.object(4)?,
            created_at: r.i64(5)?,
            last_active_at: r.opt_i64(6)?,
        };
        Ok((ExportAfter::Key(r.i64(0)?), Record::Agent(record)))
    })
    .await
}

async fn sessions(c: &mut Conn<'_>, (org_key, org): (i64, &str), after: i64, limit: i64) -> Result<Page> {
    let sql = "SELECT s.key, s.id, a.id, s.status, s.metadata, s.created_at, s.updated_at, s.closed_at \
               FROM sessions s JOIN agents a ON a.key = s.agent_key \
               WHERE +s.org_key = $1 AND s.key > $2 ORDER BY s.key LIMIT $3";
    c.query(sql, params![org_key, after, limit], |r| {
        let record = SessionRecord {
            org: org.to_owned(),
            id: r.string(1)?,
            agent: r.string(2)?,
            status: r.string(3)?,
            metadata: r.object(4)?,
            created_at: r.i64(5)?,
            updated_at: r.i64(6)?,
            closed_at: r.opt_i64(7)?,
        };
        Ok((ExportAfter::Key(r.i64(0)?), Record::Session(record)))
    })
    .await
}

async fn memories(c: &mut Conn<'_>, (org_key, org): (i64, &str), after: i64, limit: i64) -> Result<Page> {
    let sql = format!(
        "SELECT {MEMORY_COLUMNS}, a.id, s.id, m.embedding_state, m.decayed_to, v.codec, v.vector \
         FROM memories m JOIN agents a ON a.key = m.agent_key LEFT JOIN sessions s ON s.key = m.session_key \
         LEFT JOIN memory_vectors v ON v.memory_key = m.key \
         WHERE +m.org_key = $1 AND m.key > $2 ORDER BY m.key LIMIT $3"
    );
    let n = MEMORY_COLUMN_COUNT;
    let found = c
        .query(&sql, params![org_key, after, limit], |r| {
            let row = rows::memory_row(r)?;
            let vector = match r.opt_bytes(n + 5)? {
                Some(bytes) => Some(VectorRecord { codec: r.opt_i64(n + 4)?.unwrap_or(0), data: b64().encode(bytes) }),
                None => None,
            };
            let extra = (r.string(n)?, r.opt_string(n + 1)?, r.i64(n + 2)?, r.opt_i64(n + 3)?, vector);
            Ok((row, extra))
        })
        .await?;
    let blocks: Vec<(i64, i64)> = found.iter().filter_map(|(row, _)| row.block).collect();
    let mut contents = if blocks.is_empty() { HashMap::new() } else { cold::contents(c, &blocks).await? };
    let mut page = Vec::with_capacity(found.len());
    for (row, (agent, session, embedding_state, decayed_to, vector)) in found {
        let m = row.memory;
        let content = match row.block {
            Some(at) => contents.remove(&at).ok_or_else(|| Error::internal("a cold memory's block is missing"))?,
            None => m.content,
        };
        let record = MemoryRecord {
            org: org.to_owned(),
            id: m.id,
            key: row.key,
            agent,
            session,
            memory_type: m.memory_type.as_str().to_owned(),
            event_type: m.event_type,
            content,
            metadata: m.metadata,
            tags: m.tags,
            importance: m.importance,
            parent_id: m.parent_id,
            dedup_key: row.dedup_key,
            time: time::to_micros(m.time),
            created_at: time::to_micros(m.created_at),
            step: m.step,
            position: m.position.map(|p| PositionRecord { x: p.x, y: p.y, z: p.z }),
            expires_at: m.expires_at.map(time::to_micros),
            scope: m.scope,
            access_count: i64::try_from(m.access_count).unwrap_or(i64::MAX),
            last_accessed_at: m.last_accessed_at.map(time::to_micros),
            tier: m.tier.name().to_owned(),
            decayed_to,
            embedding_state,
            vector,
        };
        page.push((ExportAfter::Key(row.key), Record::Memory(record)));
    }
    Ok(page)
}

async fn conversations(c: &mut Conn<'_>, (org_key, org): (i64, &str), after: i64, limit: i64) -> Result<Page> {
    let sql = "SELECT c.key, a.id, c.scope, c.name, c.message_count, c.token_total, c.last_seq, c.created_at, \
               c.last_activity_at, c.summary, c.summary_through, c.summary_tokens, c.summary_at \
               FROM conversations c JOIN agents a ON a.key = c.agent_key \
               WHERE +c.org_key = $1 AND c.key > $2 ORDER BY c.key LIMIT $3";
    c.query(sql, params![org_key, after, limit], |r| {
        let summary = match r.opt_string(9)? {
            Some(text) => Some(SummaryRecord {
                text,
                through_seq: r.opt_i64(10)?.unwrap_or(0),
                tokens: r.opt_i64(11)?.unwrap_or(0),
                updated_at: r.opt_i64(12)?.unwrap_or(0),
            }),
            None => None,
        };
        let record = ConversationRecord {
            org: org.to_owned(),
            agent: r.string(1)?,
            scope: r.string(2)?,
            conversation: r.string(3)?,
            message_count: r.i64(4)?,
            token_total: r.i64(5)?,
            last_seq: r.i64(6)?,
            created_at: r.i64(7)?,
            last_activity_at: r.i64(8)?,
            summary,
        };
        Ok((ExportAfter::Key(r.i64(0)?), Record::Conversation(record)))
    })
    .await
}

async fn messages(c: &mut Conn<'_>, (org_key, org): (i64, &str), after: (i64, i64), limit: i64) -> Result<Page> {
    let sql = "SELECT m.conversation_key, a.id, c.scope, c.name, m.seq, m.id, m.role, m.content, m.name, \
               m.tool_calls, m.tool_call_id, m.time, m.metadata, m.tokens, m.client_id, m.created_at \
               FROM conversation_messages m JOIN conversations c ON c.key = m.conversation_key \
               JOIN agents a ON a.key = c.agent_key \
               WHERE c.org_key = $1 AND (m.conversation_key > $2 OR (m.conversation_key = $2 AND m.seq > $3)) \
               ORDER BY m.conversation_key, m.seq LIMIT $4";
    c.query(sql, params![org_key, after.0, after.1, limit], |r| {
        let role = i16::try_from(r.i64(6)?).ok().and_then(Role::from_code);
        let tool_calls = match r.opt_str(9)? {
            Some(text) => {
                Some(serde_json::from_str(text).map_err(|e| Error::internal(format!("stored tool calls: {e}")))?)
            }
            None => None,
        };
        let seq = r.i64(4)?;
        let record = MessageRecord {
            org: org.to_owned(),
            agent: r.string(1)?,
            scope: r.string(2)?,
            conversation: r.string(3)?,
            seq,
            id: r.string(5)?,
            role: role.ok_or_else(|| Error::internal("stored message role"))?.as_str().to_owned(),
            content: r.string(7)?,
            name: r.opt_string(8)?,
            tool_calls,
            tool_call_id: r.opt_string(10)?,
            time: r.i64(11)?,
            metadata: r.object(12)?,
            tokens: r.i64(13)?,
            client_id: r.opt_string(14)?,
            created_at: r.i64(15)?,
        };
        Ok((ExportAfter::Message(r.i64(0)?, seq), Record::Message(record)))
    })
    .await
}

async fn working_memory(c: &mut Conn<'_>, (org_key, org): (i64, &str), after: i64, limit: i64) -> Result<Page> {
    let sql = "SELECT w.session_key, s.id, w.document, w.version, w.updated_at \
               FROM working_memory w JOIN sessions s ON s.key = w.session_key \
               WHERE +w.org_key = $1 AND w.session_key > $2 ORDER BY w.session_key LIMIT $3";
    c.query(sql, params![org_key, after, limit], |r| {
        let record = WorkingMemoryRecord {
            org: org.to_owned(),
            session: r.string(1)?,
            document: r.object(2)?,
            version: r.i64(3)?,
            updated_at: r.i64(4)?,
        };
        Ok((ExportAfter::Key(r.i64(0)?), Record::WorkingMemory(record)))
    })
    .await
}

async fn api_keys(c: &mut Conn<'_>, (org_key, org): (i64, &str), after: String, limit: i64) -> Result<Page> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.org_key = $1 AND k.id > $2 ORDER BY k.id LIMIT $3");
    c.query(&sql, params![org_key, after, limit], |r: &Row<'_>| {
        let (key, digest) = rows::api_key(r)?;
        let record = ApiKeyRecord {
            org: org.to_owned(),
            id: key.id.clone(),
            name: key.name,
            digest: rows::hex_encode(&digest),
            // As stored: a permission this build does not know is kept too.
            permissions: r.str(4)?.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
            created_at: time::to_micros(key.created_at),
            expires_at: key.expires_at.map(time::to_micros),
            revoked_at: key.revoked_at.map(time::to_micros),
        };
        Ok((ExportAfter::Id(key.id), Record::ApiKey(record)))
    })
    .await
}

/// The limits of the org itself and of its API keys, by subject id.
async fn limits(c: &mut Conn<'_>, (org_key, org): (i64, &str), after: String, limit: i64) -> Result<Page> {
    let sql = "SELECT subject, rate_per_sec, burst, max_memories, max_memory_bytes, updated_at FROM limits \
               WHERE (subject = $1 OR subject IN (SELECT id FROM api_keys WHERE org_key = $2)) AND subject > $3 \
               ORDER BY subject LIMIT $4";
    c.query(sql, params![org, org_key, after, limit], |r: &Row<'_>| {
        let record = LimitsRecord {
            org: org.to_owned(),
            subject: r.string(0)?,
            rate_per_sec: r.opt_f64(1)?,
            burst: r.opt_i64(2)?.and_then(|b| u32::try_from(b).ok()),
            max_memories: r.opt_i64(3)?.and_then(|m| u64::try_from(m).ok()),
            max_memory_bytes: r.opt_i64(4)?.and_then(|m| u64::try_from(m).ok()),
            updated_at: r.i64(5)?,
        };
        Ok((ExportAfter::Id(record.subject.clone()), Record::Limits(record)))
    })
    .await
}

#[async_trait::async_trait]
impl ImportStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(records = records.len()))]
    async fn import_records(&self, records: Vec<Record>) -> Result<Vec<Imported>> {
        let records: Arc<[Record]> = records.into();
        let mut out = Vec::with_capacity(records.len());
        let mut start = 0;
        while start < records.len() {
            // A run: an org record alone, or the records of one org up to the next org record.
            let end = match &records[start] {
                Record::Org(_) => start + 1,
                first => {
                    let org = first.org();
                    start
                        + records[start..].iter().take_while(|r| !matches!(r, Record::Org(_)) && r.org() == org).count()
                }
            };
            match self.import_run(records.clone(), start..end).await {
                Ok(done) => out.extend(done),
                Err(Error::InvalidItem { index, field, rule }) => {
                    if index > start {
                        out.extend(self.import_run(records.clone(), start..index).await?);
                    }
                    return Err(Error::InvalidItem { index, field, rule });
                }
                Err(err) => return Err(err),
            }
            start = end;
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn refresh_statistics(&self) -> Result<()> {
        let Some(pool) = self.pg_pool() else { return Ok(()) };
        sea_orm::sqlx::query("ANALYZE").execute(pool).await.map_err(crate::sql::conn::postgres::error)?;
        Ok(())
    }
}

/// `err` as the error of record `index` (a check's `InvalidArgument` names the field).
fn at(index: usize, err: Error) -> Error {
    match err {
        Error::InvalidArgument { field, rule } => Error::InvalidItem { index, field, rule },
        Error::NotFound { what, id } => {
            Error::InvalidItem { index, field: what.to_owned(), rule: format!("{id} does not exist here") }
        }
        other => other,
    }
}

impl SqlStore {
    /// Writes `records[range]` (one org record, or records of one org) in one writer job.
    async fn import_run(&self, records: Arc<[Record]>, range: std::ops::Range<usize>) -> Result<Vec<Imported>> {
        let first = range.start;
        if let Record::Org(org) = &records[first] {
            let org = org.clone();
            return self
                .write(orgs_lock(), move |c| {
                    Box::pin(async move { import_org(c, &org).await.map(|i| vec![i]).map_err(|e| at(first, e)) })
                })
                .await;
        }
        let org_id = records[first].org().to_owned();
        let Some(org_key) = self.org_key(&org_id).await? else {
            return Err(Error::InvalidItem {
                index: first,
                field: "org".into(),
                rule: format!("org {org_id} does not exist here: its org record must come first"),
            });
        };
        let store = self.clone();
        let (done, tags) = self
            .write(org_lock(org_key), move |c| {
                Box::pin(async move {
                    // Every lookup of a run is by key: index plans whatever the statistics (a
                    // fresh database being filled has none).
                    dialect::keyed_plans(c, true).await?;
                    let mut run = Run::new(org_key, org_id);
                    let keys = records[range.clone()].iter().filter_map(|r| match r {
                        Record::Memory(m) => Some(m.key),
                        _ => None,
                    });
                    if let Some(max) = keys.max() {
                        dialect::advance_memory_keys(c, max).await?;
                    }
                    let mut done = Vec::with_capacity(range.len());
                    for index in range {
                        let imported = run.import(c, &store, &records[index]).await.map_err(|e| at(index, e))?;
                        done.push(imported);
                    }
                    run.finish(c).await?;
                    dialect::keyed_plans(c, false).await?;
                    Ok((done, run.tags))
                })
            })
            .await?;
        self.inner.tags.remember(org_key, tags);
        Ok(done)
    }
}

async fn import_org(c: &mut Conn<'_>, org: &OrgRecord) -> Result<Imported> {
    non_empty("id", &org.id)?;
    non_empty("name", &org.name)?;
    if c.query_one("SELECT key FROM orgs WHERE id = $1", params![&org.id], |r| r.i64(0)).await?.is_some() {
        return Ok(Imported::Existing);
    }
    if let Some(other) = c.query_one("SELECT id FROM orgs WHERE name = $1", params![&org.name], |r| r.string(0)).await?
    {
        return Err(Error::invalid("name", format!("{:?} is the name of org {other} here", org.name)));
    }
    c.execute(
        "INSERT INTO orgs (id, name, created_at, vector_dim) VALUES ($1, $2, $3, $4)",
        params![&org.id, &org.name, org.created_at, org.vector_dim],
    )
    .await?;
    Ok(Imported::Created)
}

fn non_empty(field: &str, value: &str) -> Result<()> {
    if value.is_empty() { Err(Error::invalid(field, "must not be empty")) } else { Ok(()) }
}

fn json(object: &Metadata) -> Param {
    Param::Json(serde_json::Value::Object(object.clone()))
}

/// A cold memory waiting for its block (written at the end of the run).
struct ColdMemory {
    agent_key: i64,
    time: i64,
    key: i64,
    content: String,
}

/// One run's state: lookups already made, and what is written once at its end.
struct Run {
    org_key: i64,
    org_id: String,
    agents: HashMap<String, i64>,
    conversations: HashMap<(i64, String, String), i64>,
    /// The org's vector dimension, once read.
    vector_dim: Option<Option<i64>>,
    tag_rows: Vec<(i64, i64, i64)>,
    dedup_rows: Vec<(i64, i64)>,
    counts: Tallies,
    cold: Vec<ColdMemory>,
    /// Tag names and keys used (to cache once committed).
    tags: HashMap<String, i64>,
}

impl Run {
    fn new(org_key: i64, org_id: String) -> Self {
        Self {
            org_key,
            org_id,
            agents: HashMap::new(),
            conversations: HashMap::new(),
            vector_dim: None,
            tag_rows: Vec::new(),
            dedup_rows: Vec::new(),
            counts: Tallies::default(),
            cold: Vec::new(),
            tags: HashMap::new(),
        }
    }

    async fn import(&mut self, c: &mut Conn<'_>, store: &SqlStore, record: &Record) -> Result<Imported> {
        match record {
            Record::Org(_) => Err(Error::internal("an org record inside a run")),
            Record::Agent(r) => self.agent(c, r).await,
            Record::Session(r) => self.session(c, r).await,
            Record::Memory(r) => self.memory(c, store, r).await,
            Record::Conversation(r) => self.conversation(c, r).await,
            Record::Message(r) => self.message(c, r).await,
            Record::WorkingMemory(r) => self.working_memory(c, r).await,
            Record::ApiKey(r) => self.api_key(c, r).await,
            Record::Limits(r) => self.limits(c, r).await,
        }
    }

    /// The key of agent `id` of the org (field `field` names it in the error).
    async fn agent_key(&mut self, c: &mut Conn<'_>, field: &str, id: &str) -> Result<i64> {
        if let Some(key) = self.agents.get(id) {
            return Ok(*key);
        }
        let sql = "SELECT key FROM agents WHERE org_key = $1 AND id = $2";
        let key = c.query_one(sql, params![self.org_key, id], |r| r.i64(0)).await?.ok_or_else(|| {
            Error::invalid(
                field,
                format!("agent {id} does not exist in org {}: its agent record must come first", self.org_id),
            )
        })?;
        self.agents.insert(id.to_owned(), key);
        Ok(key)
    }

    async fn session_key(&mut self, c: &mut Conn<'_>, field: &str, id: &str) -> Result<(i64, i64)> {
        let sql = "SELECT key, agent_key FROM sessions WHERE org_key = $1 AND id = $2";
        c.query_one(sql, params![self.org_key, id], |r| Ok((r.i64(0)?, r.i64(1)?))).await?.ok_or_else(|| {
            Error::invalid(
                field,
                format!("session {id} does not exist in org {}: its session record must come first", self.org_id),
            )
        })
    }

    async fn conversation_key(
        &mut self,
        c: &mut Conn<'_>,
        agent_key: i64,
        scope: &str,
        name: &str,
    ) -> Result<Option<i64>> {
        let wanted = (agent_key, scope.to_owned(), name.to_owned());
        if let Some(key) = self.conversations.get(&wanted) {
            return Ok(Some(*key));
        }
        let sql = "SELECT key FROM conversations WHERE agent_key = $1 AND scope = $2 AND name = $3";
        let key = c.query_one(sql, params![agent_key, scope, name], |r| r.i64(0)).await?;
        if let Some(key) = key {
            self.conversations.insert(wanted, key);
        }
        Ok(key)
    }

    async fn agent(&mut self, c: &mut Conn<'_>, r: &AgentRecord) -> Result<Imported> {
        non_empty("id", &r.id)?;
        non_empty("name", &r.name)?;
        let found = c.query_one("SELECT org_key FROM agents WHERE id = $1", params![&r.id], |row| row.i64(0)).await?;
        match found {
            Some(org_key) if org_key == self.org_key => return Ok(Imported::Existing),
            Some(_) => return Err(Error::invalid("id", format!("agent {} exists in another org here", r.id))),
            None => {}
        }
        let sql = "SELECT id FROM agents WHERE org_key = $1 AND name = $2";
        if let Some(other) = c.query_one(sql, params![self.org_key, &r.name], |row| row.string(0)).await? {
            return Err(Error::invalid("name", format!("{:?} is the name of agent {other} here", r.name)));
        }
        let values = vec![
            Param::from(&r.id),
            self.org_key.into(),
            Param::from(&r.name),
            Param::from(&r.description),
            json(&r.config),
            r.created_at.into(),
            r.last_active_at.into(),
        ];
        let sql = "INSERT INTO agents (id, org_key, name, description, config, created_at, last_active_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING key";
        let key = c.query_i64(sql, values).await?;
        self.agents.insert(r.id.clone(), key);
        Ok(Imported::Created)
    }

    async fn session(&mut self, c: &mut Conn<'_>, r: &SessionRecord) -> Result<Imported> {
        non_empty("id", &r.id)?;
        let status = SessionStatus::parse("status", &r.status)?;
        let found = c.query_one("SELECT org_key FROM sessions WHERE id = $1", params![&r.id], |row| row.i64(0)).await?;
        match found {
            Some(org_key) if org_key == self.org_key => return Ok(Imported::Existing),
            Some(_) => return Err(Error::invalid("id", format!("session {} exists in another org here", r.id))),
            None => {}
        }
        let agent_key = self.agent_key(c, "agent", &r.agent).await?;
        let values = vec![
            Param::from(&r.id),
            self.org_key.into(),
            agent_key.into(),
            status.as_str().into(),
            json(&r.metadata),
            r.created_at.into(),
            r.updated_at.into(),
            r.closed_at.into(),
        ];
        let sql = "INSERT INTO sessions (id, org_key, agent_key, status, metadata, created_at, updated_at, closed_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        c.execute(sql, values).await?;
        Ok(Imported::Created)
    }

    async fn memory(&mut self, c: &mut Conn<'_>, store: &SqlStore, r: &MemoryRecord) -> Result<Imported> {
        // Checks first: nothing is written for a bad record.
        non_empty("id", &r.id)?;
        if r.key < 1 {
            return Err(Error::invalid("key", format!("is {}; must be 1 or more", r.key)));
        }
        let memory_type = MemoryType::parse("memory_type", &r.memory_type)?;
        let tier = Tier::ALL
            .into_iter()
            .find(|t| t.name() == r.tier)
            .ok_or_else(|| Error::invalid("tier", format!("{:?} is not a tier (hot, warm, cold)", r.tier)))?;
        if !(0..=3).contains(&r.embedding_state) {
            return Err(Error::invalid("embedding_state", format!("is {}; must be 0, 1, 2 or 3", r.embedding_state)));
        }
        if r.access_count < 0 {
            return Err(Error::invalid("access_count", "must not be negative"));
        }
        if let Some(tag) = r.tags.iter().find(|t| t.is_empty()) {
            return Err(Error::invalid("tags", format!("{tag:?}: a tag must not be empty")));
        }
        let vector = match &r.vector {
            None => None,
            Some(v) => Some(self.checked_vector(c, v).await?),
        };
        let agent_key = self.agent_key(c, "agent", &r.agent).await?;
        let session_key = match &r.session {
            None => None,
            Some(id) => {
                let (key, owner) = self.session_key(c, "session", id).await?;
                if owner != agent_key {
                    return Err(Error::invalid("session", format!("session {id} belongs to another agent")));
                }
                Some(key)
            }
        };
        // One lookup for both questions: is the memory here (by its public id, in this org), and
        // is its key free. The rows that can answer: its key, the key its id names, its legacy id.
        let named = ids::memory_key_of(&r.id).map_or(r.key, |(_, key)| key);
        // (Point lookups joined by UNION ALL: each an index seek, whatever the planner's statistics.)
        let sql = "SELECT key, legacy_id, created_at, org_key FROM memories WHERE key = $1 \
                   UNION ALL SELECT key, legacy_id, created_at, org_key FROM memories WHERE key = $2 \
                   UNION ALL SELECT key, legacy_id, created_at, org_key FROM memories WHERE legacy_id = $3";
        let rows = c
            .query(sql, params![r.key, named, &r.id], |row| {
                Ok((row.i64(0)?, row.opt_string(1)?, row.i64(2)?, row.i64(3)?))
            })
            .await?;
        let here = rows.iter().any(|(key, legacy, created_at, org_key)| {
            *org_key == self.org_key
                && legacy.clone().unwrap_or_else(|| ids::memory_id_of(created_at.div_euclid(1000), *key)) == r.id
        });
        if here {
            return Ok(Imported::Existing);
        }

        // Its key, if free; else a new one, with its id kept as a legacy id.
        let taken = rows.iter().any(|(key, ..)| *key == r.key);
        let key = if taken { dialect::allocate_keys(c, 1).await?[0] } else { r.key };
        let derived = ids::memory_id_of(r.created_at.div_euclid(1000), key);
        let legacy_id = (derived != r.id).then(|| r.id.clone());
        let seq = c
            .query_i64(
                "UPDATE orgs SET last_seq = last_seq + 1 WHERE key = $1 RETURNING last_seq",
                params![self.org_key],
            )
            .await?;
        let tags = serde_json::Value::from(r.tags.clone());
        let position = r.position;
        let values = vec![
            Param::from(key),
            self.org_key.into(),
            agent_key.into(),
            session_key.into(),
            memory_type_code(memory_type).into(),
            Param::from(&r.event_type),
            Param::from(&r.content),
            json(&r.metadata),
            Param::Json(tags),
            r.importance.into(),
            r.parent_id.clone().into(),
            r.dedup_key.clone().into(),
            dedup_hash(agent_key, &self.dedup_key(r)).into(),
            r.time.into(),
            r.created_at.into(),
            r.step.into(),
            position.map(|p| p.x).into(),
            position.map(|p| p.y).into(),
            position.and_then(|p| p.z).into(),
            r.expires_at.into(),
            seq.into(),
            r.access_count.into(),
            r.last_accessed_at.into(),
            r.embedding_state.into(),
            legacy_id.into(),
            r.scope.clone().into(),
            r.decayed_to.into(),
            // The tier: a cold memory is written warm here and moved to its block in `finish`.
            if tier == Tier::Cold { Tier::Warm.code() } else { tier.code() }.into(),
        ];
        let sql = "INSERT INTO memories (key, org_key, agent_key, session_key, memory_type, event_type, content, \
                   metadata, tags, importance, parent_id, dedup_key, dedup_hash, time, created_at, step, pos_x, pos_y, \
                   pos_z, expires_at, seq, access_count, last_accessed_at, embedding_state, legacy_id, scope, \
                   decayed_to, tier) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                   $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)";
        c.execute(sql, values).await?;
        if let Some((codec, bytes)) = vector {
            c.execute(
                "INSERT INTO memory_vectors (memory_key, vector, codec) VALUES ($1, $2, $3)",
                vec![key.into(), Param::Bytes(bytes), codec.into()],
            )
            .await?;
        }
        let missing: Vec<&str> = r.tags.iter().map(String::as_str).filter(|t| !self.tags.contains_key(*t)).collect();
        if !missing.is_empty() {
            let found = super::shared::refs::tag_keys(c, &store.inner.tags, self.org_key, &missing, true).await?;
            self.tags.extend(found);
        }
        for name in &r.tags {
            let tag = self.tags.get(name).copied().ok_or_else(|| Error::internal("a tag key was not found"))?;
            self.tag_rows.push((tag, r.time, key));
        }
        self.dedup_rows.push((dedup_hash(agent_key, &self.dedup_key(r)), key));
        self.counts.count(agent_key, memory_type_code(memory_type), r.content.len());
        if tier == Tier::Cold {
            self.cold.push(ColdMemory { agent_key, time: r.time, key, content: r.content.clone() });
        }
        Ok(Imported::Created)
    }

    /// The memory's dedup key: the client's, or derived from (agent id, event type, content).
    fn dedup_key(&self, r: &MemoryRecord) -> String {
        r.dedup_key.clone().unwrap_or_else(|| derived_dedup_key(&r.agent, &r.event_type, &r.content))
    }

    /// A vector record's codec and bytes, checked against the org's dimension (set by the first).
    async fn checked_vector(&mut self, c: &mut Conn<'_>, v: &VectorRecord) -> Result<(i64, Vec<u8>)> {
        let bytes = b64().decode(&v.data).map_err(|e| Error::invalid("vector.data", format!("not base64: {e}")))?;
        let dim = match v.codec {
            0 if !bytes.is_empty() && bytes.len() % 4 == 0 => bytes.len() / 4,
            1 if bytes.len() > 4 => bytes.len() - 4,
            0 | 1 => {
                return Err(Error::invalid(
                    "vector.data",
                    format!("{} bytes is not a vector of codec {}", bytes.len(), v.codec),
                ));
            }
            other => return Err(Error::invalid("vector.codec", format!("is {other}; must be 0 (f32) or 1 (int8)"))),
        };
        let dim = i64::try_from(dim).unwrap_or(i64::MAX);
        let stored = match self.vector_dim {
            Some(stored) => stored,
            None => {
                let sql = "SELECT vector_dim FROM orgs WHERE key = $1";
                c.query_one(sql, params![self.org_key], |r| r.opt_i64(0)).await?.flatten()
            }
        };
        match stored {
            Some(d) if d != dim => {
                return Err(Error::invalid("vector", format!("has {dim} dimensions; this org's vectors have {d}")));
            }
            Some(_) => {}
            None => {
                c.execute("UPDATE orgs SET vector_dim = $1 WHERE key = $2", params![dim, self.org_key]).await?;
            }
        }
        self.vector_dim = Some(Some(dim));
        Ok((v.codec, bytes))
    }

    async fn conversation(&mut self, c: &mut Conn<'_>, r: &ConversationRecord) -> Result<Imported> {
        non_empty("conversation", &r.conversation)?;
        let agent_key = self.agent_key(c, "agent", &r.agent).await?;
        if self.conversation_key(c, agent_key, &r.scope, &r.conversation).await?.is_some() {
            return Ok(Imported::Existing);
        }
        let summary = r.summary.as_ref();
        let values = vec![
            self.org_key.into(),
            agent_key.into(),
            Param::from(&r.scope),
            Param::from(&r.conversation),
            r.created_at.into(),
            r.last_activity_at.into(),
            Param::Text(summary.map(|s| s.text.clone())),
            Param::Int(summary.map(|s| s.through_seq)),
            Param::Int(summary.map(|s| s.tokens)),
            Param::Int(summary.map(|s| s.updated_at)),
        ];
        // Counts start at 0: each message imported adds itself (`message`).
        let sql = "INSERT INTO conversations (org_key, agent_key, scope, name, created_at, last_activity_at, summary, \
                   summary_through, summary_tokens, summary_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                   RETURNING key";
        let key = c.query_i64(sql, values).await?;
        self.conversations.insert((agent_key, r.scope.clone(), r.conversation.clone()), key);
        Ok(Imported::Created)
    }

    async fn message(&mut self, c: &mut Conn<'_>, r: &MessageRecord) -> Result<Imported> {
        non_empty("id", &r.id)?;
        let role = Role::parse(&r.role).ok_or_else(|| {
            Error::invalid("role", format!("{:?} is not a role (system, user, assistant, tool)", r.role))
        })?;
        if r.seq < 1 {
            return Err(Error::invalid("seq", format!("is {}; must be 1 or more", r.seq)));
        }
        if r.tokens < 0 {
            return Err(Error::invalid("tokens", "must not be negative"));
        }
        let tool_calls = match &r.tool_calls {
            None => None,
            Some(calls @ serde_json::Value::Array(_)) => Some(calls.to_string()),
            Some(_) => return Err(Error::invalid("tool_calls", "must be a JSON array")),
        };
        let agent_key = self.agent_key(c, "agent", &r.agent).await?;
        let conversation = self.conversation_key(c, agent_key, &r.scope, &r.conversation).await?.ok_or_else(|| {
            Error::invalid(
                "conversation",
                format!(
                    "conversation {} of agent {} does not exist here: its record must come first",
                    r.conversation, r.agent
                ),
            )
        })?;
        let sql = "SELECT count(*) FROM conversation_messages WHERE conversation_key = $1 AND seq = $2";
        if c.query_i64(sql, params![conversation, r.seq]).await? > 0 {
            return Ok(Imported::Existing);
        }
        if let Some(client_id) = &r.client_id {
            let sql = "SELECT seq FROM conversation_messages WHERE conversation_key = $1 AND client_id = $2";
            if let Some(seq) = c.query_one(sql, params![conversation, client_id], |row| row.i64(0)).await? {
                return Err(Error::invalid(
                    "client_id",
                    format!("{client_id:?} is the client id of message {seq} here"),
                ));
            }
        }
        let values = vec![
            conversation.into(),
            r.seq.into(),
            Param::from(&r.id),
            i64::from(role.code()).into(),
            Param::from(&r.content),
            r.name.clone().into(),
            Param::Text(tool_calls),
            r.tool_call_id.clone().into(),
            r.time.into(),
            json(&r.metadata),
            r.tokens.into(),
            r.client_id.clone().into(),
            r.created_at.into(),
        ];
        let sql = "INSERT INTO conversation_messages (conversation_key, seq, id, role, content, name, tool_calls, \
                   tool_call_id, time, metadata, tokens, client_id, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
        c.execute(sql, values).await?;
        let sql = "UPDATE conversations SET message_count = message_count + 1, token_total = token_total + $1, \
                   last_seq = CASE WHEN last_seq > $2 THEN last_seq ELSE $2 END WHERE key = $3";
        c.execute(sql, params![r.tokens, r.seq, conversation]).await?;
        Ok(Imported::Created)
    }

    async fn working_memory(&mut self, c: &mut Conn<'_>, r: &WorkingMemoryRecord) -> Result<Imported> {
        let (session_key, _) = self.session_key(c, "session", &r.session).await?;
        let sql = "SELECT count(*) FROM working_memory WHERE session_key = $1";
        if c.query_i64(sql, params![session_key]).await? > 0 {
            return Ok(Imported::Existing);
        }
        let sql = "INSERT INTO working_memory (session_key, org_key, document, version, updated_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        let values =
            vec![session_key.into(), self.org_key.into(), json(&r.document), r.version.into(), r.updated_at.into()];
        c.execute(sql, values).await?;
        Ok(Imported::Created)
    }

    async fn api_key(&mut self, c: &mut Conn<'_>, r: &ApiKeyRecord) -> Result<Imported> {
        non_empty("id", &r.id)?;
        non_empty("name", &r.name)?;
        if r.digest.len() != 64 || !r.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid("digest", "must be 64 hex characters (SHA-256 of the secret)"));
        }
        if let Some(p) = r.permissions.iter().find(|p| Permission::parse(p).is_none()) {
            return Err(Error::invalid("permissions", format!("{p:?} is not read, write or admin")));
        }
        let found = c.query_one("SELECT org_key FROM api_keys WHERE id = $1", params![&r.id], |row| row.i64(0)).await?;
        match found {
            Some(org_key) if org_key == self.org_key => return Ok(Imported::Existing),
            Some(_) => return Err(Error::invalid("id", format!("API key {} exists in another org here", r.id))),
            None => {}
        }
        let values = vec![
            Param::from(&r.id),
            self.org_key.into(),
            Param::from(&r.name),
            r.digest.to_ascii_lowercase().into(),
            r.permissions.join(",").into(),
            r.created_at.into(),
            r.expires_at.into(),
            r.revoked_at.into(),
        ];
        let sql = "INSERT INTO api_keys (id, org_key, name, digest, permissions, created_at, expires_at, revoked_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        c.execute(sql, values).await?;
        Ok(Imported::Created)
    }

    /// An org's or its key's limits; limits already set here for the subject are kept.
    async fn limits(&mut self, c: &mut Conn<'_>, r: &LimitsRecord) -> Result<Imported> {
        let limits = engram_core::quota::SubjectLimits {
            rate_per_sec: r.rate_per_sec,
            burst: r.burst,
            max_memories: r.max_memories,
            max_memory_bytes: r.max_memory_bytes,
        };
        limits.validate()?;
        if limits.is_empty() {
            return Err(Error::invalid("subject", "a limits record sets at least one limit"));
        }
        if r.subject != self.org_id {
            let sql = "SELECT org_key FROM api_keys WHERE id = $1";
            match c.query_one(sql, params![&r.subject], |row| row.i64(0)).await? {
                Some(org_key) if org_key == self.org_key => {}
                _ => {
                    return Err(Error::invalid(
                        "subject",
                        format!("{} is neither org {} nor one of its API keys", r.subject, self.org_id),
                    ));
                }
            }
        }
        let sql = "INSERT INTO limits (subject, rate_per_sec, burst, max_memories, max_memory_bytes, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject) DO NOTHING";
        let to_i64 = |v: Option<u64>, field: &str| {
            v.map(|v| i64::try_from(v).map_err(|_| Error::invalid(field, "must be at most 2^63 - 1"))).transpose()
        };
        let values = vec![
            Param::from(&r.subject),
            r.rate_per_sec.into(),
            r.burst.map(i64::from).into(),
            to_i64(r.max_memories, "max_memories")?.into(),
            to_i64(r.max_memory_bytes, "max_memory_bytes")?.into(),
            r.updated_at.into(),
        ];
        Ok(if c.execute(sql, values).await? == 0 { Imported::Existing } else { Imported::Created })
    }

    /// Writes what the run's memories share: tag index rows, dedup hashes, counters, and the
    /// cold memories' blocks.
    async fn finish(&mut self, c: &mut Conn<'_>) -> Result<()> {
        dialect::insert_memory_tags(c, &self.tag_rows).await?;
        dialect::insert_dedup(c, &self.dedup_rows).await?;
        std::mem::take(&mut self.counts).add(c, self.org_key).await?;
        let mut cold_memories = std::mem::take(&mut self.cold);
        cold_memories.sort_unstable_by_key(|m| (m.agent_key, m.time, m.key));
        for block in cold::blocks(cold_memories, |m| m.agent_key, |m| m.content.len()) {
            let contents: Vec<&str> = block.iter().map(|m| m.content.as_str()).collect();
            let (raw, data) = cold::encode(&contents)?;
            let block_key = c
                .query_i64(
                    "INSERT INTO cold_blocks (org_key, raw_bytes, data) VALUES ($1, $2, $3) RETURNING key",
                    params![self.org_key, i64::try_from(raw).unwrap_or(i64::MAX), Param::Bytes(data)],
                )
                .await?;
            for (slot, m) in block.iter().enumerate() {
                c.execute(
                    "UPDATE memories SET content = '', block_key = $1, block_slot = $2, tier = $3 WHERE key = $4",
                    params![block_key, slot as i64, Tier::Cold.code(), m.key],
                )
                .await?;
            }
        }
        Ok(())
    }
}
