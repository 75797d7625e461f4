//! Engram's storage: one trait per resource ([`OrgStore`], [`KeyStore`], [`AgentStore`],
//! [`SessionStore`], [`MemoryStore`], [`StatsStore`], [`FeedStore`], [`EmbedQueueStore`], [`AccessStore`],
//! [`ConversationStore`], [`WorkingMemoryStore`], [`LifecycleStore`], [`StateStore`], [`ExportStore`], [`ImportStore`];
//! [`Store`] is their sum) and their SQL
//! implementation [`SqlStore`] for SQLite (embedded default) and PostgreSQL, with one migration set.
//!
//! Every method takes the caller's org id and only ever touches that org's rows. Inputs are the
//! domain's validated types (e.g. [`ValidMemory`]); the store checks references (agents, sessions,
//! parents), never the shape of input.
//!
//! The behaviour of every backend is pinned by the conformance suite (`tests/conformance/`, one
//! file per resource), which each backend runs unchanged.

use std::sync::Arc;

use engram_core::time::Timestamp;
use engram_core::*;

pub mod migration;

mod encode;
pub mod records;
mod sql;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use sql::{Backend, SQLITE_MMAP_MAX_MB, SchemaStatus, SqlStore, StoreOptions, backup_sqlite};

/// Orgs (tenants). Orgs are never deleted.
#[async_trait::async_trait]
pub trait OrgStore: Send + Sync {
    /// AlreadyExists when the id or the name is taken.
    async fn create_org(&self, id: &str, name: &str, now: Timestamp) -> Result<Org>;
    async fn get_org(&self, id: &str) -> Result<Org>;
    async fn list_orgs(&self) -> Result<Vec<Org>>;
}

/// API keys: stored as a digest, read on every request (revocation is effective at once).
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// NotFound when the key's org does not exist.
    async fn create_api_key(&self, key: &ApiKey, digest: &[u8]) -> Result<()>;
    async fn list_api_keys(&self, org: &str) -> Result<Vec<ApiKey>>;
    /// The key and its stored digest, whatever its state (expired and revoked keys too).
    async fn find_api_key(&self, key_id: &str) -> Result<Option<(ApiKey, Vec<u8>)>>;
    /// Revokes a key of `org` (any org when `org` is None). Revoking twice keeps the first time.
    async fn revoke_api_key(&self, org: Option<&str>, key_id: &str, now: Timestamp) -> Result<ApiKey>;
    async fn count_api_keys(&self) -> Result<u64>;
}

/// Agents, named by id or by their unique name in the org.
#[async_trait::async_trait]
pub trait AgentStore: Send + Sync {
    /// AlreadyExists when the name is taken in the org.
    async fn register_agent(&self, org: &str, agent: NewAgent, now: Timestamp) -> Result<Agent>;
    async fn get_agent(&self, org: &str, agent: &AgentRef) -> Result<Agent>;
    async fn list_agents(&self, org: &str, limit: u32, after: Option<Cursor>) -> Result<Page<Agent>>;
    /// Without `cascade`, FailedPrecondition while the agent has memories or sessions.
    async fn delete_agent(&self, org: &str, agent: &AgentRef, cascade: bool) -> Result<AgentDeletion>;
}

/// Sessions of agents.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    /// An unknown agent name registers the agent; an unknown id is NotFound.
    async fn create_session(&self, org: &str, agent: &AgentRef, metadata: Metadata, now: Timestamp) -> Result<Session>;
    async fn get_session(&self, org: &str, id: &str) -> Result<Session>;
    async fn list_sessions(
        &self,
        org: &str,
        agent: Option<&AgentRef>,
        status: Option<SessionStatus>,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<Page<Session>>;
    async fn update_session(&self, org: &str, id: &str, patch: SessionPatch, now: Timestamp) -> Result<Session>;
}

/// Memories: ingest, filtered time-ordered listing, updates and deletes.
#[async_trait::async_trait]
pub trait MemoryStore: Send + Sync {
    /// Stores memories, committed before it returns. Each item is created or a duplicate of a
    /// memory with the same agent and dedup key created within `dedup_window` (earlier items of the
    /// same batch count). A missing agent id, session or parent fails the whole batch (NotFound);
    /// a session of another agent is [`Error::InvalidItem`] naming the item and `session_id`.
    async fn add_memories(
        &self,
        org: &str,
        memories: Vec<ValidMemory>,
        dedup_window: chrono::Duration,
        now: Timestamp,
    ) -> Result<Vec<AddOutcome>>;
    async fn get_memory(&self, org: &str, id: &str, now: Timestamp) -> Result<Memory>;
    /// Ordered by time, then by creation (see [`MemoryCursor`]). Never returns expired memories.
    async fn list_memories(&self, org: &str, query: &MemoryQuery, now: Timestamp) -> Result<MemoryPage>;
    /// How many memories match (expired ones excluded).
    async fn count_memories(&self, org: &str, filter: &MemoryFilter, now: Timestamp) -> Result<u64>;
    async fn update_memory(&self, org: &str, id: &str, patch: MemoryPatch, now: Timestamp) -> Result<Memory>;
    async fn delete_memory(&self, org: &str, id: &str) -> Result<()>;
    /// Returns how many memories were deleted.
    async fn delete_memories(&self, org: &str, filter: &DeleteFilter) -> Result<u64>;
}

/// Statistics, from counters kept in the write transaction and index-only counts.
#[async_trait::async_trait]
pub trait StatsStore: Send + Sync {
    async fn agent_stats(&self, org: &str, agent: &AgentRef, now: Timestamp) -> Result<AgentStats>;
    /// The org's live memories per type and per agent (from the counters, corrected for expiry),
    /// and each agent's step range (index seeks, no memory rows read).
    async fn memory_statistics(&self, org: &str, now: Timestamp) -> Result<MemoryStatistics>;
}

/// An org's newest commit sequence number (see [`FeedStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedHead {
    pub org_id: String,
    pub last_seq: i64,
}

/// A memory as last written, at the commit sequence number of that write.
#[derive(Debug, Clone)]
pub struct FeedChange {
    pub seq: i64,
    /// The memory's integer key: stable, never reused; what derived indexes store.
    pub key: i64,
    pub memory: Memory,
    /// Its vector, if it has one.
    pub vector: Option<Vec<f32>>,
}

/// The change feed that indexes outside the store (full text) follow, on every replica. Each
/// write of a memory (create, update) gives it its org's next sequence number; rows become
/// visible in that order, so following `seq > n` misses nothing. Deletes leave no entry: an index
/// drops what [`FeedStore::memories_by_keys`] no longer returns.
#[async_trait::async_trait]
pub trait FeedStore: Send + Sync {
    /// Every org's newest sequence number (one small read: the orgs table).
    async fn feed_heads(&self) -> Result<Vec<FeedHead>>;
    /// The org's memories written after `after_seq`, in sequence order, at most `limit` (expired
    /// ones included).
    async fn feed_changes(&self, org: &str, after_seq: i64, limit: u32) -> Result<Vec<FeedChange>>;
    /// The org's memories with these keys that still exist and are not expired at `now`, with
    /// their keys, in no particular order (at most 10,000 keys).
    async fn memories_by_keys(&self, org: &str, keys: &[i64], now: Timestamp) -> Result<Vec<(i64, Memory)>>;
}

/// A memory waiting for the server's embedder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEmbedding {
    pub org_id: String,
    pub key: i64,
    /// What to embed (the memory's content).
    pub text: String,
}

/// What [`EmbedQueueStore::store_embeddings`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddingsStored {
    pub stored: u64,
    /// Vectors of another dimension than the org's: their memories are marked failed.
    pub rejected: u64,
}

/// The embedder's queue, in the store (it survives restarts): memories written while the server
/// has an embedder wait until their vector is stored, once.
#[async_trait::async_trait]
pub trait EmbedQueueStore: Send + Sync {
    /// The oldest waiting memories of every org, at most `limit`.
    async fn pending_embeddings(&self, limit: u32) -> Result<Vec<PendingEmbedding>>;
    /// How many memories wait.
    async fn count_pending_embeddings(&self) -> Result<u64>;
    /// Stores the vectors of waiting memories of `org` (by key), each at the org's next commit
    /// sequence number. A memory deleted or already embedded meanwhile is skipped.
    async fn store_embeddings(&self, org: &str, vectors: Vec<(i64, Vec<f32>)>) -> Result<EmbeddingsStored>;
}

/// Reads of memories counted on them (`Memory::access_count`, `last_accessed_at`).
#[async_trait::async_trait]
pub trait AccessStore: Send + Sync {
    /// Adds each count to its memory (by id) and moves `last_accessed_at` up to `at`. Unknown
    /// or deleted memories are skipped.
    async fn record_accesses(&self, org: &str, accesses: Vec<(String, u64)>, at: Timestamp) -> Result<()>;
}

/// A conversation as stored, with its key (what the window cache and message reads use).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationHead {
    pub key: i64,
    pub conversation: engram_core::conversation::Conversation,
    /// The agent's config (read in the same lookup: window limits may be set there).
    pub agent_config: Metadata,
}

/// A page of a conversation's messages: after (or, newest first, before) a `seq`, within times.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageQuery {
    /// Oldest first: messages with a greater seq; newest first: with a smaller one.
    pub after_seq: Option<i64>,
    pub newest_first: bool,
    /// Inclusive.
    pub since: Option<Timestamp>,
    /// Exclusive.
    pub until: Option<Timestamp>,
    pub limit: u32,
}

/// Conversations: message histories isolated by (org, agent, scope, conversation id).
#[async_trait::async_trait]
pub trait ConversationStore: Send + Sync {
    /// Appends messages in order, atomically, numbered after the conversation's last (created on
    /// first append; an unknown agent name registers the agent). A message whose client id the
    /// conversation already holds is not stored again: the stored one is returned (marked not new).
    async fn append_messages(
        &self,
        org: &str,
        conv: &engram_core::conversation::ConversationRef,
        messages: Vec<engram_core::conversation::ValidMessage>,
        now: Timestamp,
    ) -> Result<engram_core::conversation::Appended>;
    /// The conversation, if it exists: one indexed lookup (no messages read).
    async fn conversation_head(
        &self,
        org: &str,
        conv: &engram_core::conversation::ConversationRef,
    ) -> Result<Option<ConversationHead>>;
    /// Every system message of the conversation and its `newest` newest other messages, in seq order.
    async fn window_messages(
        &self,
        org: &str,
        conversation_key: i64,
        newest: u32,
    ) -> Result<Vec<engram_core::conversation::Message>>;
    /// NotFound when the conversation does not exist.
    async fn list_messages(
        &self,
        org: &str,
        conv: &engram_core::conversation::ConversationRef,
        query: &MessageQuery,
    ) -> Result<Vec<engram_core::conversation::Message>>;
    /// The agent's conversations (in one scope when given), in creation order, after a key.
    async fn list_conversations(
        &self,
        org: &str,
        agent: &AgentRef,
        scope: Option<&str>,
        limit: u32,
        after_key: Option<i64>,
    ) -> Result<Vec<ConversationHead>>;
    /// Deletes the conversation and its messages; returns how many messages went. NotFound when
    /// it does not exist.
    async fn delete_conversation(&self, org: &str, conv: &engram_core::conversation::ConversationRef) -> Result<u64>;
    /// Sets (or, with None, clears) the conversation's summary. NotFound when it does not exist.
    async fn set_summary(
        &self,
        org: &str,
        conv: &engram_core::conversation::ConversationRef,
        summary: Option<engram_core::conversation::Summary>,
        now: Timestamp,
    ) -> Result<engram_core::conversation::Conversation>;
}

/// Working memory: one JSON document per session, written with optimistic concurrency.
#[async_trait::async_trait]
pub trait WorkingMemoryStore: Send + Sync {
    /// The session's document (empty, version 0, when never written). NotFound: no such session.
    async fn get_working_memory(&self, org: &str, session: &str) -> Result<engram_core::working_memory::WorkingMemory>;
    /// Replaces the document if its version is still `expected_version` (else Aborted, nothing
    /// written); the new version is one more. `document` None clears it (version still grows).
    async fn put_working_memory(
        &self,
        org: &str,
        session: &str,
        expected_version: i64,
        document: Option<Metadata>,
        now: Timestamp,
    ) -> Result<engram_core::working_memory::WorkingMemory>;
}

/// An agent as the lifecycle sees it: its key (what [`engram_core::lifecycle::MemoryFacts`] name)
/// and its config (where an agent's `lifecycle` policy is kept).
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleAgent {
    pub key: i64,
    pub id: String,
    pub name: String,
    pub config: Metadata,
}

/// One batch of a maintenance pass, applied in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifecycleBatch {
    /// Memories to delete (with their tags, vectors and counters).
    pub delete: Vec<i64>,
    /// New importance, and the time decay now counts from.
    pub decay: Vec<(i64, f64, Timestamp)>,
    /// Tier moves: to cold compresses the content (a memory with an embedding pending stays
    /// where it is), from cold restores it.
    pub moves: Vec<(i64, engram_core::lifecycle::Tier)>,
}

/// What [`LifecycleStore::apply_lifecycle`] did (memories changed or deleted meanwhile are skipped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleApplied {
    pub deleted: u64,
    pub decayed: u64,
    pub moved: u64,
    /// Content bytes moved to cold, and their compressed size.
    pub cold_bytes_before: u64,
    pub cold_bytes_after: u64,
}

/// The tiers of an org: counts (from index-only scans) and the cold tier's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TierStatistics {
    pub tiers: TierCounts,
    /// Per agent (by id), for agents with memories.
    pub agents: Vec<(String, TierCounts)>,
    /// Content bytes of the cold blocks before and after compression (slots of memories deleted
    /// or moved up included until their block is dropped).
    pub cold_bytes_before: u64,
    pub cold_bytes_after: u64,
}

/// What an erasure deleted; `memory_keys` are the erased memories' keys, for the caller's indexes
/// and caches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    pub memories: u64,
    pub conversations: u64,
    pub messages: u64,
    pub sessions: u64,
    pub working_memories: u64,
    pub agents: u64,
    pub memory_keys: Vec<i64>,
}

/// Erasure of everything about one end user (a scope) or one agent, in one transaction.
#[async_trait::async_trait]
pub trait ErasureStore: Send + Sync {
    /// The scope's memories (every agent's) and conversations of the org; an unknown org or
    /// scope erases nothing.
    async fn erase_scope(&self, org: &str, scope: &str) -> Result<Erased>;
    /// The agent with its memories, sessions, working memory and conversations; NotFound for an
    /// unknown agent.
    async fn erase_agent(&self, org: &str, agent: &AgentRef) -> Result<Erased>;
}

/// Operators' limits: rate limits of API keys and orgs, orgs' quotas of memories and bytes.
#[async_trait::async_trait]
pub trait LimitStore: Send + Sync {
    /// Replaces the limits of `subject` (an API key id or an org id; not checked to exist, so a
    /// limit can be set before its subject is made); empty limits delete its row.
    async fn set_limits(&self, subject: &str, limits: &engram_core::quota::SubjectLimits, now: Timestamp)
    -> Result<()>;
    /// The limits stored for these subjects; subjects without any are left out.
    async fn limits(&self, subjects: &[String]) -> Result<Vec<(String, engram_core::quota::SubjectLimits)>>;
    /// The org's memories and their content bytes by its counters (expired ones not yet deleted
    /// included); zero for an unknown org.
    async fn org_usage(&self, org: &str) -> Result<engram_core::quota::Usage>;
}

/// The simulation's reads: what the state vectorizer compares, without whole memories.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// The keys and metadata of the org's live memories matching `query.filter`, in
    /// `query.order`, at most `query.limit` of them, from the first (no cursor, offset or
    /// `within`; a `content_contains` filter is refused: it needs the content).
    async fn memory_metadata(&self, org: &str, query: &MemoryQuery, now: Timestamp) -> Result<Vec<(i64, Metadata)>>;
}

/// Held while a maintenance pass runs on an org; dropping it lets the next one run.
pub trait MaintenanceLease: Send + Sync {}

/// The memory lifecycle: what maintenance reads and writes (`engram-app::maintenance` decides).
#[async_trait::async_trait]
pub trait LifecycleStore: Send + Sync {
    /// The org's agents (only `agent` when given).
    async fn lifecycle_agents(&self, org: &str, agent: Option<&AgentRef>) -> Result<Vec<LifecycleAgent>>;
    /// Facts of the org's memories (of one agent when given) with a time up to `until`
    /// (inclusive), expired ones included, in (time, key) order after `after`, at most `limit`.
    async fn memory_facts(
        &self,
        org: &str,
        agent_key: Option<i64>,
        after: Option<(Timestamp, i64)>,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<engram_core::lifecycle::MemoryFacts>>;
    /// Retention's choice for one agent: its memories older than `older_than` or beyond its
    /// `keep_newest` newest, except its `keep_top` most important.
    async fn retention_victims(
        &self,
        org: &str,
        agent_key: i64,
        older_than: Option<Timestamp>,
        keep_newest: Option<u64>,
        keep_top: u64,
    ) -> Result<Vec<i64>>;
    /// Applies a batch in one transaction (a crash leaves it whole or not at all).
    async fn apply_lifecycle(&self, org: &str, batch: LifecycleBatch) -> Result<LifecycleApplied>;
    async fn tier_statistics(&self, org: &str) -> Result<TierStatistics>;
    /// Sets (None: removes) the key `key` of an agent's config. NotFound: no such agent.
    async fn set_agent_policy(
        &self,
        org: &str,
        agent: &AgentRef,
        key: &str,
        value: Option<serde_json::Value>,
    ) -> Result<()>;
    /// One pass per org at a time, across processes (PostgreSQL: a session advisory lock, released
    /// when the lease drops or its connection dies; SQLite: one process owns the file). None when
    /// another pass holds it.
    async fn try_maintenance_lease(&self, org: &str) -> Result<Option<Box<dyn MaintenanceLease>>>;
}

/// Export: every stored row of an org as [`records::Record`]s, page by page in a fixed order
/// (the kinds in [`records::ExportKind`] order, each by its key), so an export runs in constant
/// memory and resumes after any record it wrote.
#[async_trait::async_trait]
pub trait ExportStore: Send + Sync {
    /// The orgs (only `org` when given; NotFound when it does not exist), in key order, with
    /// their keys.
    async fn export_orgs(&self, org: Option<&str>) -> Result<Vec<(i64, records::OrgRecord)>>;
    /// At most `limit` records of `kind` (not `Org`) of the org after `after`, in export order,
    /// each with its position (what `after` takes to continue after it). Memories come with
    /// their content decompressed and their vector as stored; expired ones are included.
    async fn export_page(
        &self,
        org: &str,
        kind: records::ExportKind,
        after: &records::ExportAfter,
        limit: u32,
    ) -> Result<Vec<(records::ExportAfter, records::Record)>>;
}

/// Import: records written as they were exported, idempotently: a record whose row already
/// exists (by id; a conversation by agent, scope and name; a message by its conversation and
/// seq) is left as it is. A memory keeps its key (so its id) when no memory has that key, else it
/// gets a new key and keeps its id as `legacy_id`; key sequences move past imported keys.
/// Imported memories take the org's next commit sequence numbers (the change feed sees them) and
/// count in `memory_counts`; cold memories are stored cold again.
#[async_trait::async_trait]
pub trait ImportStore: Send + Sync {
    /// Writes `records` in order, through the writer (each org's records under its lock). A bad
    /// record fails with [`Error::InvalidItem`] naming its index and field: the records before it
    /// are written, it and those after are not.
    async fn import_records(&self, records: Vec<records::Record>) -> Result<Vec<records::Imported>>;

    /// Brings the planner's statistics up to date after a bulk import, as after any bulk load
    /// (PostgreSQL: `ANALYZE` of the database, so reads are planned for the imported rows at
    /// once rather than when autovacuum gets to them, or never where it is off; SQLite: nothing,
    /// the store's plans follow its indexes, not statistics).
    async fn refresh_statistics(&self) -> Result<()>;
}

/// Everything a server needs from storage.
#[async_trait::async_trait]
pub trait Store:
    OrgStore
    + KeyStore
    + AgentStore
    + SessionStore
    + MemoryStore
    + StatsStore
    + FeedStore
    + EmbedQueueStore
    + AccessStore
    + ConversationStore
    + WorkingMemoryStore
    + LifecycleStore
    + StateStore
    + LimitStore
    + ErasureStore
    + ExportStore
    + ImportStore
    + 'static
{
    /// Answers when the database answers.
    async fn ping(&self) -> Result<()>;

    /// Called once the server stopped taking requests: leaves the database tidy (SQLite: the WAL
    /// checkpointed into the file).
    async fn close(&self) -> Result<()>;
}

pub type DynStore = Arc<dyn Store>;
