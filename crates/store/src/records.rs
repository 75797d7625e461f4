//! The records of an export (`engram export` / `engram import`): every row a restore needs, in a
//! backend-neutral form, one record per NDJSON line (the line format is `engram-server`'s
//! `export` module). What [`crate::ExportStore`] reads and [`crate::ImportStore`] writes.
//!
//! Rows are named by their public ids (orgs, agents, sessions, memories, messages, API keys;
//! limits by their subject's id) or, for conversations, by (agent id, scope, conversation id);
//! integer keys are the store's own,
//! except a memory's `key`, from which its id is derived (`engram_core::ids::memory_id_of`).
//! Times are integer microseconds since the Unix epoch (UTC), as stored: exact on both backends.
//! JSON values (metadata, config, documents) are kept as they are. Derived data is not exported:
//! commit sequence numbers (`seq`, `orgs.last_seq`: an import takes the target's next ones),
//! counters (`memory_counts`, a conversation's counts: kept by the import as rows go in), dedup
//! hashes, tag keys, the full-text index.

use serde::{Deserialize, Serialize};

use engram_core::Metadata;

/// One exported row. Serialized with its kind in the `kind` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Org(OrgRecord),
    Agent(AgentRecord),
    Session(SessionRecord),
    Memory(MemoryRecord),
    Conversation(ConversationRecord),
    Message(MessageRecord),
    WorkingMemory(WorkingMemoryRecord),
    ApiKey(ApiKeyRecord),
    Limits(LimitsRecord),
}

impl Record {
    pub fn kind(&self) -> ExportKind {
        match self {
            Record::Org(_) => ExportKind::Org,
            Record::Agent(_) => ExportKind::Agent,
            Record::Session(_) => ExportKind::Session,
            Record::Memory(_) => ExportKind::Memory,
            Record::Conversation(_) => ExportKind::Conversation,
            Record::Message(_) => ExportKind::Message,
            Record::WorkingMemory(_) => ExportKind::WorkingMemory,
            Record::ApiKey(_) => ExportKind::ApiKey,
            Record::Limits(_) => ExportKind::Limits,
        }
    }

    /// The org the record belongs to (an org record: its own id).
    pub fn org(&self) -> &str {
        match self {
            Record::Org(r) => &r.id,
            Record::Agent(r) => &r.org,
            Record::Session(r) => &r.org,
            Record::Memory(r) => &r.org,
            Record::Conversation(r) => &r.org,
            Record::Message(r) => &r.org,
            Record::WorkingMemory(r) => &r.org,
            Record::ApiKey(r) => &r.org,
            Record::Limits(r) => &r.org,
        }
    }
}

/// The kinds of records, in the order an org's records are exported (each refers only to kinds
/// before it, so an import in file order always finds what a record names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExportKind {
    Org,
    Agent,
    Session,
    Memory,
    Conversation,
    Message,
    WorkingMemory,
    ApiKey,
    Limits,
}

impl ExportKind {
    pub const ALL: [ExportKind; 9] = [
        Self::Org,
        Self::Agent,
        Self::Session,
        Self::Memory,
        Self::Conversation,
        Self::Message,
        Self::WorkingMemory,
        Self::ApiKey,
        Self::Limits,
    ];

    /// The name of the kind in the `kind` field of a line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Org => "org",
            Self::Agent => "agent",
            Self::Session => "session",
            Self::Memory => "memory",
            Self::Conversation => "conversation",
            Self::Message => "message",
            Self::WorkingMemory => "working_memory",
            Self::ApiKey => "api_key",
            Self::Limits => "limits",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Where a page of an org's records of one kind starts: after this position (see
/// [`crate::ExportStore::export_page`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ExportAfter {
    /// From the first record.
    #[default]
    Start,
    /// After the row with this store key (agents, sessions, memories, conversations, working
    /// memory by its session's key).
    Key(i64),
    /// After this message: (the conversation's key, the message's seq).
    Message(i64, i64),
    /// After the API key, or the limits' subject, with this id.
    Id(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// The dimension every vector of the org has (set by its first vector).
    #[serde(default)]
    pub vector_dim: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRecord {
    pub org: String,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Its config, with its lifecycle policy (key `lifecycle`) if it has one.
    #[serde(default)]
    pub config: Metadata,
    pub created_at: i64,
    #[serde(default)]
    pub last_active_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRecord {
    pub org: String,
    pub id: String,
    /// The agent's id.
    pub agent: String,
    /// `active` or `closed`.
    pub status: String,
    #[serde(default)]
    pub metadata: Metadata,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub closed_at: Option<i64>,
}

/// A memory's position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionRecord {
    pub x: f64,
    pub y: f64,
    #[serde(default)]
    pub z: Option<f64>,
}

/// A memory's vector exactly as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorRecord {
    /// 0: little-endian f32 values; 1: quantized (`engram_core::vector::quantize`: an f32
    /// scale, then one i8 code per value).
    pub codec: i64,
    /// The stored bytes, base64 (standard alphabet, padded).
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryRecord {
    pub org: String,
    /// Its public id: derived from `key` and `created_at`, or (a memory of an upgraded store, or
    /// one imported where its key was taken) a legacy id kept as is.
    pub id: String,
    /// Its key in the exporting store.
    pub key: i64,
    /// The agent's id.
    pub agent: String,
    /// The session's id.
    #[serde(default)]
    pub session: Option<String>,
    pub memory_type: String,
    pub event_type: String,
    /// The content, decompressed for a cold memory.
    pub content: String,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub tags: Vec<String>,
    pub importance: f64,
    #[serde(default)]
    pub parent_id: Option<String>,
    /// The client's dedup key; None when derived from (agent id, event type, content).
    #[serde(default)]
    pub dedup_key: Option<String>,
    pub time: i64,
    pub created_at: i64,
    #[serde(default)]
    pub step: Option<i64>,
    #[serde(default)]
    pub position: Option<PositionRecord>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub access_count: i64,
    #[serde(default)]
    pub last_accessed_at: Option<i64>,
    /// `hot`, `warm` or `cold`.
    pub tier: String,
    /// Until when importance decay has been applied.
    #[serde(default)]
    pub decayed_to: Option<i64>,
    /// 0: no vector wanted, 1: waiting for the server's embedder, 2: has its vector, 3: the
    /// embedder's vector was refused.
    #[serde(default)]
    pub embedding_state: i64,
    #[serde(default)]
    pub vector: Option<VectorRecord>,
}

/// A conversation's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryRecord {
    pub text: String,
    pub through_seq: i64,
    pub tokens: i64,
    pub updated_at: i64,
}

/// A conversation; its counts (`message_count`, `token_total`, `last_seq`) are exported for
/// reading and recomputed by an import from the messages it stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationRecord {
    pub org: String,
    /// The agent's id.
    pub agent: String,
    #[serde(default)]
    pub scope: String,
    pub conversation: String,
    #[serde(default)]
    pub message_count: i64,
    #[serde(default)]
    pub token_total: i64,
    #[serde(default)]
    pub last_seq: i64,
    pub created_at: i64,
    pub last_activity_at: i64,
    #[serde(default)]
    pub summary: Option<SummaryRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRecord {
    pub org: String,
    /// The conversation: (agent id, scope, conversation id).
    pub agent: String,
    #[serde(default)]
    pub scope: String,
    pub conversation: String,
    pub seq: i64,
    pub id: String,
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    pub content: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The tool calls as stored (a JSON array).
    #[serde(default)]
    pub tool_calls: Option<serde_json::Value>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    pub time: i64,
    #[serde(default)]
    pub metadata: Metadata,
    pub tokens: i64,
    #[serde(default)]
    pub client_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingMemoryRecord {
    pub org: String,
    /// The session's id.
    pub session: String,
    pub document: Metadata,
    pub version: i64,
    pub updated_at: i64,
}

/// An API key: its digest, never its secret (none is stored), so the secrets handed out keep
/// working after a restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRecord {
    pub org: String,
    pub id: String,
    pub name: String,
    /// SHA-256 of the secret, 64 lowercase hex characters.
    pub digest: String,
    pub permissions: Vec<String>,
    pub created_at: i64,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

/// An operator's limits of the org itself (`subject` is the org's id) or of one of its API keys
/// (a key id): rate limits and quotas (`engram org limits`, `engram key limits`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsRecord {
    pub org: String,
    pub subject: String,
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_memories: Option<u64>,
    #[serde(default)]
    pub max_memory_bytes: Option<u64>,
    pub updated_at: i64,
}

/// What [`crate::ImportStore::import_records`] did with each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Written.
    Created,
    /// Already in the store (the same id, or the same conversation or message): left as it is.
    Existing,
}
