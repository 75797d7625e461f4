//! The JSON shapes of the Memtrace-compatible REST surface (`../shared/memtrace-compat.md`),
//! and their conversions from and to domain types. Optional fields are omitted, never `null`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use engram_core::time::{Timestamp, format_rfc3339};
use engram_core::*;

fn rfc3339(t: &Timestamp) -> String {
    format_rfc3339(*t)
}

#[derive(Debug, Serialize)]
pub struct MemoryJson {
    pub id: String,
    pub time: String,
    pub created_at: String,
    pub org_id: String,
    pub agent_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub memory_type: &'static str,
    pub event_type: String,
    pub content: String,
    pub metadata: Metadata,
    pub tags: Vec<String>,
    pub dedup_key: String,
    pub importance: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<PositionJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub access_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `hot`, `warm` or `cold` (README "Memory lifecycle").
    pub tier: &'static str,
}

/// A radius around a point (`MemoryFilter.near`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearJson {
    pub x: f64,
    pub y: f64,
    #[serde(default)]
    pub z: Option<f64>,
    pub radius: f64,
}

impl From<NearJson> for Near {
    fn from(n: NearJson) -> Self {
        Near { x: n.x, y: n.y, z: n.z, radius: n.radius }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionJson {
    pub x: f64,
    pub y: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
}

impl From<Memory> for MemoryJson {
    fn from(m: Memory) -> Self {
        Self {
            time: rfc3339(&m.time),
            created_at: rfc3339(&m.created_at),
            memory_type: m.memory_type.as_str(),
            expires_at: m.expires_at.as_ref().map(rfc3339),
            last_accessed_at: m.last_accessed_at.as_ref().map(rfc3339),
            access_count: m.access_count,
            position: m.position.map(|p| PositionJson { x: p.x, y: p.y, z: p.z }),
            id: m.id,
            org_id: m.org_id,
            agent_id: m.agent_id,
            session_id: m.session_id,
            event_type: m.event_type,
            content: m.content,
            metadata: m.metadata,
            tags: m.tags,
            dedup_key: m.dedup_key,
            importance: m.importance,
            parent_id: m.parent_id,
            step: m.step,
            scope: m.scope,
            tier: m.tier.name(),
        }
    }
}

/// A memory to create (`POST /api/v1/memories`). Unknown fields are ignored, as Memtrace does.
#[derive(Debug, Default, Deserialize)]
pub struct NewMemoryJson {
    #[serde(default)]
    pub agent_id: String,
    pub session_id: Option<String>,
    pub memory_type: Option<String>,
    pub event_type: Option<String>,
    #[serde(default)]
    pub content: String,
    pub metadata: Option<Metadata>,
    pub tags: Option<Vec<String>>,
    pub dedup_key: Option<String>,
    pub importance: Option<f64>,
    pub parent_id: Option<String>,
    /// Engram: when it happened (RFC 3339); default now.
    pub time: Option<String>,
    pub step: Option<i64>,
    pub position: Option<PositionJson>,
    pub expires_at: Option<String>,
    pub reasoning: Option<String>,
    /// Engram extension: the client's embedding of the memory.
    pub embedding: Option<Vec<f32>>,
    /// Engram extension: the end user the memory is about.
    pub scope: Option<String>,
}

impl NewMemoryJson {
    pub fn into_domain(self, prefix: &str) -> Result<NewMemory> {
        let f = |name: &str| format!("{prefix}.{name}");
        let memory_type = match self.memory_type.as_deref() {
            None | Some("") => None,
            Some(t) => Some(MemoryType::parse(&f("memory_type"), t)?),
        };
        Ok(NewMemory {
            agent: self.agent_id,
            session_id: self.session_id.filter(|s| !s.is_empty()),
            memory_type,
            event_type: self.event_type.unwrap_or_default(),
            content: self.content,
            metadata: self.metadata.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            importance: self.importance,
            parent_id: self.parent_id.filter(|s| !s.is_empty()),
            dedup_key: self.dedup_key.filter(|s| !s.is_empty()),
            time: timestamp(&f("time"), self.time.as_deref())?,
            step: self.step,
            position: self.position.map(|p| Position { x: p.x, y: p.y, z: p.z }),
            expires_at: timestamp(&f("expires_at"), self.expires_at.as_deref())?,
            reasoning: self.reasoning,
            embedding: self.embedding.unwrap_or_default(),
            scope: self.scope.filter(|s| !s.is_empty()),
        })
    }
}

/// An absolute RFC 3339 time given in a body (relative specs make no sense for `time`), in the
/// range a gRPC `Timestamp` is held to (`engram_core::time::parse_timestamp`).
pub fn timestamp(field: &str, value: Option<&str>) -> Result<Option<Timestamp>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => engram_core::time::parse_timestamp(field, text).map(Some),
    }
}

#[derive(Debug, Serialize)]
pub struct MemoryListJson {
    pub memories: Vec<MemoryJson>,
    pub count: usize,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchResultJson {
    pub results: Vec<MemoryJson>,
    pub count: usize,
    pub has_more: bool,
    pub query_time_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// With a `query` (an Engram extension): each result's score and its parts, in the same order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<ScoreJson>>,
    /// With a `query`: the mode that ranked the results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    /// Semantic and hybrid: memories the filters admit that have no vector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unembedded: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ScoreJson {
    pub id: String,
    pub score: f64,
    pub keyword: f64,
    pub semantic: f64,
    pub recency: f64,
    pub importance: f64,
}

/// `POST /api/v1/search`.
#[derive(Debug, Default, Deserialize)]
pub struct SearchJson {
    pub agent_id: Option<String>,
    pub session_id: Option<String>,
    pub memory_types: Option<Vec<String>>,
    pub event_types: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub any_tags: Option<Vec<String>>,
    pub content_contains: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub min_importance: Option<f64>,
    pub step_min: Option<i64>,
    pub step_max: Option<i64>,
    /// Engram extension: only memories of this scope.
    pub scope: Option<String>,
    /// Engram extension: equality on top-level metadata keys.
    pub attributes: Option<Metadata>,
    /// Engram extension: within a radius of a point.
    pub near: Option<NearJson>,
    /// Only these tiers: `hot`, `warm`, `cold` (or `stm`, `im`, `ltm`).
    #[serde(default)]
    pub tiers: Option<Vec<String>>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub order: Option<String>,
    pub page_token: Option<String>,
    /// Engram extension: rank by relevance to this text (see SearchMemoriesRequest.query).
    pub query: Option<String>,
    /// Engram extension: `keyword`, `semantic` or `hybrid` (with `query`).
    pub mode: Option<String>,
    /// Engram extension: the client's embedding of the query (semantic and hybrid).
    pub query_embedding: Option<Vec<f32>>,
}

#[derive(Debug, Serialize)]
pub struct AgentJson {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub description: String,
    pub config: Metadata,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<String>,
}

impl From<Agent> for AgentJson {
    fn from(a: Agent) -> Self {
        Self {
            created_at: rfc3339(&a.created_at),
            last_active_at: a.last_active_at.as_ref().map(rfc3339),
            id: a.id,
            org_id: a.org_id,
            name: a.name,
            description: a.description,
            config: a.config,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewAgentJson {
    #[serde(default)]
    pub name: String,
    pub description: Option<String>,
    pub config: Option<Metadata>,
}

#[derive(Debug, Serialize)]
pub struct AgentStatsJson {
    pub agent_id: String,
    pub memory_count: u64,
    pub memories_24h: u64,
    pub errors_24h: u64,
    pub session_count: u64,
    pub active_sessions: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<String>,
    pub memory_types: serde_json::Map<String, Value>,
    /// Engram extension: live memories per tier (`hot`, `warm`, `cold`).
    pub tiers: serde_json::Map<String, Value>,
}

impl From<AgentStats> for AgentStatsJson {
    fn from(s: AgentStats) -> Self {
        Self {
            last_active_at: s.last_active_at.as_ref().map(rfc3339),
            memory_types: s.memory_types.iter().map(|(t, n)| (t.as_str().to_owned(), Value::from(*n))).collect(),
            agent_id: s.agent_id,
            memory_count: s.memory_count,
            memories_24h: s.memories_24h,
            errors_24h: s.errors_24h,
            session_count: s.session_count,
            active_sessions: s.active_sessions,
            tiers: [("hot", s.tiers.hot), ("warm", s.tiers.warm), ("cold", s.tiers.cold)]
                .into_iter()
                .map(|(name, n)| (name.to_owned(), Value::from(n)))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SessionJson {
    pub id: String,
    pub org_id: String,
    pub agent_id: String,
    pub status: &'static str,
    pub metadata: Metadata,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

impl From<Session> for SessionJson {
    fn from(s: Session) -> Self {
        Self {
            status: s.status.as_str(),
            created_at: rfc3339(&s.created_at),
            updated_at: rfc3339(&s.updated_at),
            closed_at: s.closed_at.as_ref().map(rfc3339),
            id: s.id,
            org_id: s.org_id,
            agent_id: s.agent_id,
            metadata: s.metadata,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewSessionJson {
    #[serde(default)]
    pub agent_id: String,
    pub metadata: Option<Metadata>,
}

/// `PUT /api/v1/sessions/{id}`. Metadata replaces the session's unless `metadata_mode` is `merge`.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateSessionJson {
    pub status: Option<String>,
    pub metadata: Option<Metadata>,
    pub metadata_mode: Option<String>,
}

/// `POST /api/v1/sessions/{id}/context`.
#[derive(Debug, Default, Deserialize)]
pub struct ContextJson {
    pub max_tokens: Option<i64>,
    pub include_types: Option<Vec<String>>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub tokenizer: Option<String>,
    /// Engram extension: what the next prompt is about (see ContextOptions.query).
    pub query: Option<String>,
    /// Engram extension: only memories of this scope.
    pub scope: Option<String>,
}

/// The answer of `POST /sessions/{id}/context` (with `session_id`) and of
/// `POST /agents/{id}/context` (with `agent_id`, an Engram extension).
#[derive(Debug, Serialize)]
pub struct ContextResultJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub context: String,
    pub memory_count: usize,
    pub token_count: usize,
    pub memory_ids: Vec<String>,
    pub omitted_count: usize,
    pub tokenizer: &'static str,
}
