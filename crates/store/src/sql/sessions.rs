//! [`SessionStore`]: sessions of agents.

use serde_json::Value;

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::SqlStore;
use super::conn::{Conn, Param, params};
use super::shared::filter::Sql;
use super::shared::finish_page;
use super::shared::refs::{find_agent, find_or_register_agent, touch_agents};
use super::shared::rows::{self, SESSION_COLUMNS, SESSION_FROM};
use super::writer::org_lock;
use crate::SessionStore;

async fn read_session(c: &mut Conn<'_>, org_key: i64, id: &str) -> Result<Option<(i64, Session)>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE s.org_key = $1 AND s.id = $2");
    c.query_one(&sql, params![org_key, id], rows::session).await
}

#[async_trait::async_trait]
impl SessionStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, agent = agent.as_str()))]
    async fn create_session(&self, org: &str, agent: &AgentRef, metadata: Metadata, now: Timestamp) -> Result<Session> {
        let org_key = self.org_key_for_write(org).await?;
        let agent = agent.clone();
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let owner = find_or_register_agent(c, org_key, &agent, now).await?;
                let id = ids::session_id();
                let sql = "INSERT INTO sessions (id, org_key, agent_key, status, metadata, created_at, updated_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $6)";
                let values = vec![
                    Param::from(&id),
                    org_key.into(),
                    owner.key.into(),
                    SessionStatus::Active.as_str().into(),
                    Param::Json(Value::Object(metadata)),
                    to_micros(now).into(),
                ];
                c.execute(sql, values).await?;
                touch_agents(c, &[owner.key], now).await?;
                let (_, session) = read_session(c, org_key, &id)
                    .await?
                    .ok_or_else(|| Error::internal("the new session was not found"))?;
                Ok(session)
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, session = id))]
    async fn get_session(&self, org: &str, id: &str) -> Result<Session> {
        let not_found = || Error::not_found("session", id);
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found()) };
        let wanted = id.to_owned();
        let found = self.read(move |c| Box::pin(async move { read_session(c, org_key, &wanted).await })).await?;
        found.map(|(_, s)| s).ok_or_else(not_found)
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org))]
    async fn list_sessions(
        &self,
        org: &str,
        agent: Option<&AgentRef>,
        status: Option<SessionStatus>,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<Page<Session>> {
        let empty = || Page { items: Vec::new(), next_cursor: None };
        let Some(org_key) = self.org_key(org).await? else { return Ok(empty()) };
        let mut sql = Sql::new(&format!("SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE s.org_key = "));
        let org = sql.param(org_key);
        sql.push(&org);
        if let Some(agent) = agent {
            let value = sql.param(agent.as_str());
            let column = super::shared::refs::agent_column(agent);
            sql.push(&format!(
                " AND s.agent_key = (SELECT key FROM agents WHERE org_key = {org} AND {column} = {value})"
            ));
        }
        if let Some(status) = status {
            let value = sql.param(status.as_str());
            sql.push(&format!(" AND s.status = {value}"));
        }
        if let Some(after) = after {
            let (at, id) = (sql.param(after.time_us), sql.param(after.id));
            sql.push(&format!(" AND (s.created_at > {at} OR (s.created_at = {at} AND s.id > {id}))"));
        }
        let limit_param = sql.param(i64::from(limit) + 1);
        sql.push(&format!(" ORDER BY s.created_at, s.id LIMIT {limit_param}"));
        let found =
            self.read(move |c| Box::pin(async move { c.query(&sql.text, sql.params, rows::session).await })).await?;
        let sessions: Vec<Session> = found.into_iter().map(|(_, s)| s).collect();
        let (items, next_cursor) =
            finish_page(sessions, limit, |s| Cursor { time_us: to_micros(s.created_at), id: s.id.clone(), query: 0 });
        Ok(Page { items, next_cursor })
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, session = id))]
    async fn update_session(&self, org: &str, id: &str, patch: SessionPatch, now: Timestamp) -> Result<Session> {
        let not_found = || Error::not_found("session", id);
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found()) };
        let id = id.to_owned();
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let (key, session) =
                    read_session(c, org_key, &id).await?.ok_or_else(|| Error::not_found("session", &id))?;
                let mut status = session.status;
                let mut closed_at = session.closed_at.map(to_micros);
                if let Some(new_status) = patch.status {
                    status = new_status;
                    closed_at = match new_status {
                        SessionStatus::Closed => closed_at.or(Some(to_micros(now))),
                        SessionStatus::Active => None,
                    };
                }
                let mut metadata = session.metadata;
                if let Some((changes, mode)) = patch.metadata {
                    match mode {
                        MetadataMode::Replace => metadata = changes,
                        MetadataMode::Merge => metadata.extend(changes),
                    }
                }
                let sql =
                    "UPDATE sessions SET status = $1, closed_at = $2, metadata = $3, updated_at = $4 WHERE key = $5";
                let values = vec![
                    Param::from(status.as_str()),
                    closed_at.into(),
                    Param::Json(Value::Object(metadata)),
                    to_micros(now).into(),
                    key.into(),
                ];
                c.execute(sql, values).await?;
                // The session's agent is active now.
                if let Some(agent) = find_agent(c, org_key, &AgentRef::Id(session.agent_id.clone())).await? {
                    touch_agents(c, &[agent.key], now).await?;
                }
                let (_, updated) =
                    read_session(c, org_key, &id).await?.ok_or_else(|| Error::not_found("session", &id))?;
                Ok(updated)
            })
        })
        .await
    }
}
