//! [`ErasureStore`]: everything stored about one end user (a scope) or one agent, deleted in one
//! write transaction under the org's lock: memories with their tags, vectors, cold blocks, counters
//! and dedup entries (the SQLite writer's buffered ones too), conversations with their messages
//! and summaries; for an agent also its sessions with their working memory, and the agent. The
//! erased memory keys are returned so the caller can drop them from its indexes and caches.
//!
//! `memory_dedup` has no index by memory, so its entries are deleted by a scan: erasure is rare.

use engram_core::*;

use super::SqlStore;
use super::conn::{Conn, params};
use super::shared::filter::Sql;
use super::shared::purge::delete_memories;
use super::shared::refs::find_agent;
use super::writer::org_lock;
use crate::{Erased, ErasureStore};

impl SqlStore {
    async fn erase(&self, org: &str, target: Target) -> Result<Erased> {
        let Some(org_key) = self.org_key(org).await? else {
            return match target {
                Target::Agent(agent) => Err(Error::not_found("agent", agent.as_str())),
                Target::Scope(_) => Ok(Erased::default()),
            };
        };
        let store = self.clone();
        let erased = self
            .write(org_lock(org_key), move |c| Box::pin(async move { erase_in(c, &store, org_key, target).await }))
            .await?;
        if let Ok(mut buffer) = self.inner.dedup.lock() {
            buffer.forget(&erased.memory_keys);
        }
        Ok(erased)
    }
}

enum Target {
    Scope(String),
    Agent(AgentRef),
}

async fn erase_in(c: &mut Conn<'_>, store: &SqlStore, org_key: i64, target: Target) -> Result<Erased> {
    let mut erased = Erased::default();
    let mut condition = Sql::new("");
    let org = condition.param(org_key);
    // Which memories and conversations: the scope's (every agent of the org), or the agent's.
    let agent_key = match &target {
        Target::Scope(scope) => {
            let value = condition.param(scope.as_str());
            condition.push(&format!("m.org_key = {org} AND m.scope = {value}"));
            erased.memory_keys = c
                .query(
                    "SELECT key FROM memories WHERE org_key = $1 AND scope = $2",
                    params![org_key, scope.as_str()],
                    |r| r.i64(0),
                )
                .await?;
            None
        }
        Target::Agent(agent) => {
            let found =
                find_agent(c, org_key, agent).await?.ok_or_else(|| Error::not_found("agent", agent.as_str()))?;
            let value = condition.param(found.key);
            condition.push(&format!("m.org_key = {org} AND m.agent_key = {value}"));
            erased.memory_keys = c
                .query(
                    "SELECT key FROM memories WHERE org_key = $1 AND agent_key = $2",
                    params![org_key, found.key],
                    |r| r.i64(0),
                )
                .await?;
            Some(found.key)
        }
    };
    let conversation_keys = match (&target, agent_key) {
        (Target::Scope(scope), _) => {
            c.query(
                "SELECT c.key FROM conversations c JOIN agents a ON a.key = c.agent_key \
                 WHERE a.org_key = $1 AND c.scope = $2",
                params![org_key, scope.as_str()],
                |r| r.i64(0),
            )
            .await?
        }
        (Target::Agent(_), Some(agent_key)) => {
            c.query("SELECT key FROM conversations WHERE agent_key = $1", params![agent_key], |r| r.i64(0)).await?
        }
        (Target::Agent(_), None) => Vec::new(),
    };
    erased.memories = delete_memories(c, &store.inner.tags, org_key, condition).await?;
    for chunk in erased.memory_keys.chunks(500) {
        let mut sql = Sql::new("DELETE FROM memory_dedup WHERE ");
        let keys = sql.any_int(c.backend(), "memory_key", chunk.to_vec());
        sql.push(&keys);
        c.execute(&sql.text, sql.params).await?;
    }
    for chunk in conversation_keys.chunks(500) {
        let mut sql = Sql::new("DELETE FROM conversation_messages WHERE ");
        let keys = sql.any_int(c.backend(), "conversation_key", chunk.to_vec());
        sql.push(&keys);
        erased.messages += c.execute(&sql.text, sql.params).await?;
        let mut sql = Sql::new("DELETE FROM conversations WHERE ");
        let keys = sql.any_int(c.backend(), "key", chunk.to_vec());
        sql.push(&keys);
        erased.conversations += c.execute(&sql.text, sql.params).await?;
    }
    if let Some(agent_key) = agent_key {
        erased.working_memories = c
            .execute(
                "DELETE FROM working_memory WHERE session_key IN (SELECT key FROM sessions WHERE agent_key = $1)",
                params![agent_key],
            )
            .await?;
        erased.sessions = c.execute("DELETE FROM sessions WHERE agent_key = $1", params![agent_key]).await?;
        c.execute("DELETE FROM memory_counts WHERE agent_key = $1", params![agent_key]).await?;
        erased.agents = c.execute("DELETE FROM agents WHERE key = $1", params![agent_key]).await?;
    }
    Ok(erased)
}

#[async_trait::async_trait]
impl ErasureStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org))]
    async fn erase_scope(&self, org: &str, scope: &str) -> Result<Erased> {
        self.erase(org, Target::Scope(scope.to_owned())).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, agent = agent.as_str()))]
    async fn erase_agent(&self, org: &str, agent: &AgentRef) -> Result<Erased> {
        self.erase(org, Target::Agent(agent.clone())).await
    }
}
