//! [`AgentStore`]: registration, lookup by id or name, listing, deletion.

use engram_core::time::Timestamp;
use engram_core::*;

use super::SqlStore;
use super::conn::{Conn, params};
use super::shared::filter::Sql;
use super::shared::finish_page;
use super::shared::purge::{delete_agent_conversations, delete_memories};
use super::shared::refs::{TagKeys, agent_column, find_agent, insert_agent};
use super::shared::rows::{self, AGENT_COLUMNS};
use super::writer::org_lock;
use crate::AgentStore;

const AGENT_FROM: &str = "agents a JOIN orgs o ON o.key = a.org_key";

async fn read_agent(c: &mut Conn<'_>, org_key: i64, agent: &AgentRef) -> Result<Option<Agent>> {
    let sql =
        format!("SELECT {AGENT_COLUMNS} FROM {AGENT_FROM} WHERE a.org_key = $1 AND a.{} = $2", agent_column(agent));
    Ok(c.query_one(&sql, params![org_key, agent.as_str()], rows::agent).await?.map(|(_, a)| a))
}

#[async_trait::async_trait]
impl AgentStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, agent = agent.name))]
    async fn register_agent(&self, org: &str, agent: NewAgent, now: Timestamp) -> Result<Agent> {
        let org_key = self.org_key_for_write(org).await?;
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let name = AgentRef::Name(agent.name.clone());
                if let Some(existing) = find_agent(c, org_key, &name).await? {
                    return Err(Error::AlreadyExists { what: "agent", existing_id: existing.id });
                }
                let created = insert_agent(c, org_key, &agent, now).await?;
                read_agent(c, org_key, &AgentRef::Id(created.id))
                    .await?
                    .ok_or_else(|| Error::internal("the new agent was not found"))
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, agent = agent.as_str()))]
    async fn get_agent(&self, org: &str, agent: &AgentRef) -> Result<Agent> {
        let not_found = || Error::not_found("agent", agent.as_str());
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found()) };
        let wanted = agent.clone();
        let found = self.read(move |c| Box::pin(async move { read_agent(c, org_key, &wanted).await })).await?;
        found.ok_or_else(not_found)
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org))]
    async fn list_agents(&self, org: &str, limit: u32, after: Option<Cursor>) -> Result<Page<Agent>> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(Page { items: Vec::new(), next_cursor: None }) };
        let mut sql = Sql::new(&format!("SELECT {AGENT_COLUMNS} FROM {AGENT_FROM} WHERE a.org_key = "));
        let org = sql.param(org_key);
        sql.push(&org);
        if let Some(after) = after {
            let (at, id) = (sql.param(after.time_us), sql.param(after.id));
            sql.push(&format!(" AND (a.created_at > {at} OR (a.created_at = {at} AND a.id > {id}))"));
        }
        let limit_param = sql.param(i64::from(limit) + 1);
        sql.push(&format!(" ORDER BY a.created_at, a.id LIMIT {limit_param}"));
        let found =
            self.read(move |c| Box::pin(async move { c.query(&sql.text, sql.params, rows::agent).await })).await?;
        let agents: Vec<Agent> = found.into_iter().map(|(_, a)| a).collect();
        let (items, next_cursor) = finish_page(agents, limit, |a| Cursor {
            time_us: engram_core::time::to_micros(a.created_at),
            id: a.id.clone(),
            query: 0,
        });
        Ok(Page { items, next_cursor })
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, agent = agent.as_str(), cascade = cascade))]
    async fn delete_agent(&self, org: &str, agent: &AgentRef, cascade: bool) -> Result<AgentDeletion> {
        let not_found = || Error::not_found("agent", agent.as_str());
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found()) };
        let agent = agent.clone();
        let store = self.clone();
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let found =
                    find_agent(c, org_key, &agent).await?.ok_or_else(|| Error::not_found("agent", agent.as_str()))?;
                let tags: &TagKeys = &store.inner.tags;
                if !cascade {
                    let memories = c
                        .query_i64(
                            "SELECT CAST(coalesce(sum(count), 0) AS BIGINT) FROM memory_counts WHERE agent_key = $1",
                            params![found.key],
                        )
                        .await?;
                    let sessions =
                        c.query_i64("SELECT count(*) FROM sessions WHERE agent_key = $1", params![found.key]).await?;
                    let conversations = c
                        .query_i64("SELECT count(*) FROM conversations WHERE agent_key = $1", params![found.key])
                        .await?;
                    if memories + sessions + conversations > 0 {
                        return Err(Error::FailedPrecondition(format!(
                            "agent {} has {memories} memories, {sessions} sessions and {conversations} \
                             conversations; set cascade to delete them too",
                            found.id
                        )));
                    }
                    c.execute("DELETE FROM agents WHERE key = $1", params![found.key]).await?;
                    return Ok(AgentDeletion::default());
                }
                let mut condition = Sql::new("");
                let (org, agent_key) = (condition.param(org_key), condition.param(found.key));
                condition.push(&format!("m.org_key = {org} AND m.agent_key = {agent_key}"));
                let memories = delete_memories(c, tags, org_key, condition).await?;
                delete_agent_conversations(c, found.key).await?;
                let sessions = c.execute("DELETE FROM sessions WHERE agent_key = $1", params![found.key]).await?;
                c.execute("DELETE FROM memory_counts WHERE agent_key = $1", params![found.key]).await?;
                c.execute("DELETE FROM agents WHERE key = $1", params![found.key]).await?;
                Ok(AgentDeletion { sessions, memories })
            })
        })
        .await
    }
}
