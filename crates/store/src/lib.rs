//! Engram's storage: the backend-neutral [`Store`] trait and its sea-orm implementation
//! ([`SqlStore`]) for SQLite (embedded default) and PostgreSQL, with one migration set.
//!
//! Every method takes the caller's org id and only ever touches that org's rows.

use std::sync::Arc;

use engram_core::time::Timestamp;
use engram_core::*;

pub mod migration;

mod entity;
mod sql;

pub use sql::{Backend, SchemaStatus, SqlStore, StoreOptions};

/// The storage contract. Its behaviour is pinned by the conformance suite in
/// `tests/conformance.rs`, which every backend runs unchanged.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database answers.
    async fn ping(&self) -> Result<()>;

    // Orgs and API keys.
    async fn create_org(&self, id: &str, name: &str, now: Timestamp) -> Result<Org>;
    async fn get_org(&self, id: &str) -> Result<Org>;
    async fn list_orgs(&self) -> Result<Vec<Org>>;
    async fn create_api_key(&self, key: &ApiKey, digest: &[u8]) -> Result<()>;
    async fn list_api_keys(&self, org: &str) -> Result<Vec<ApiKey>>;
    /// The key and its stored digest, whatever its state (expired and revoked keys too).
    async fn find_api_key(&self, key_id: &str) -> Result<Option<(ApiKey, Vec<u8>)>>;
    /// Revokes a key of `org` (any org when `org` is None). Revoking twice keeps the first time.
    async fn revoke_api_key(&self, org: Option<&str>, key_id: &str, now: Timestamp) -> Result<ApiKey>;
    async fn count_api_keys(&self) -> Result<u64>;

    // Agents.
    /// AlreadyExists when the name is taken in the org.
    async fn register_agent(&self, org: &str, agent: NewAgent, now: Timestamp) -> Result<Agent>;
    async fn get_agent(&self, org: &str, agent: &AgentRef) -> Result<Agent>;
    async fn list_agents(&self, org: &str, limit: u32, after: Option<Cursor>) -> Result<Page<Agent>>;
    /// Returns (deleted sessions, deleted memories).
    async fn delete_agent(&self, org: &str, agent: &AgentRef, cascade: bool) -> Result<(u64, u64)>;
    async fn agent_stats(&self, org: &str, agent: &AgentRef, now: Timestamp) -> Result<AgentStats>;

    // Sessions.
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

    // Memories.
    /// Stores validated memories in one transaction, committed before it returns. Each item is
    /// created or a duplicate of a memory with the same agent and dedup key created within
    /// `dedup_window` (earlier items of the same batch count). A missing agent id, session or parent
    /// fails the whole batch; InvalidArgument fields are named `memories[i].<field>`.
    async fn add_memories(
        &self,
        org: &str,
        memories: Vec<NewMemory>,
        dedup_window: chrono::Duration,
        now: Timestamp,
    ) -> Result<Vec<AddOutcome>>;
    async fn get_memory(&self, org: &str, id: &str, now: Timestamp) -> Result<Memory>;
    /// Never returns expired memories.
    async fn list_memories(&self, org: &str, query: &MemoryQuery, now: Timestamp) -> Result<MemoryPage>;
    /// How many memories match (expired ones excluded).
    async fn count_memories(&self, org: &str, filter: &MemoryFilter, now: Timestamp) -> Result<u64>;
    async fn update_memory(&self, org: &str, id: &str, patch: MemoryPatch, now: Timestamp) -> Result<Memory>;
    async fn delete_memory(&self, org: &str, id: &str) -> Result<()>;
    async fn delete_memories(&self, org: &str, filter: &DeleteFilter) -> Result<u64>;
}

pub type DynStore = Arc<dyn Store>;
