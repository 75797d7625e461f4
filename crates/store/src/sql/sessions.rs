//! Sessions.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::writer::org_lock;
use super::{SqlStore, agents, convert, db_err};
use crate::entity::sessions;

pub(super) async fn create(
    store: &SqlStore,
    org: &str,
    agent: &AgentRef,
    metadata: Metadata,
    now: Timestamp,
) -> Result<Session> {
    let (org, agent) = (org.to_owned(), agent.clone());
    store
        .writer
        .write(org_lock(&org), move |txn| {
            Box::pin(async move {
                let agent = agents::find_or_register(txn, &org, &agent, now).await?;
                let row = sessions::ActiveModel {
                    id: Set(ids::session_id()),
                    org_id: Set(org.clone()),
                    agent_id: Set(agent.id.clone()),
                    status: Set(SessionStatus::Active.as_str().to_owned()),
                    metadata: Set(Value::Object(metadata)),
                    created_at: Set(to_micros(now)),
                    updated_at: Set(to_micros(now)),
                    closed_at: Set(None),
                };
                let session = convert::session(row.insert(txn).await.map_err(db_err)?)?;
                agents::touch(txn, &org, vec![agent.id], now).await?;
                Ok(session)
            })
        })
        .await
}

pub(super) async fn get(store: &SqlStore, org: &str, id: &str) -> Result<Session> {
    let row = sessions::Entity::find_by_id(id.to_owned())
        .filter(sessions::Column::OrgId.eq(org))
        .one(store.db())
        .await
        .map_err(db_err)?;
    convert::session(row.ok_or_else(|| Error::not_found("session", id))?)
}

pub(super) async fn list(
    store: &SqlStore,
    org: &str,
    agent: Option<&AgentRef>,
    status: Option<SessionStatus>,
    limit: u32,
    after: Option<Cursor>,
) -> Result<Page<Session>> {
    let mut query = sessions::Entity::find().filter(sessions::Column::OrgId.eq(org));
    if let Some(agent) = agent {
        let Some(agent) = agents::find(store.db(), org, agent).await? else {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        };
        query = query.filter(sessions::Column::AgentId.eq(agent.id));
    }
    if let Some(status) = status {
        query = query.filter(sessions::Column::Status.eq(status.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(Condition::any().add(sessions::Column::CreatedAt.gt(after.time_us)).add(
            Condition::all().add(sessions::Column::CreatedAt.eq(after.time_us)).add(sessions::Column::Id.gt(after.id)),
        ));
    }
    let rows = query
        .order_by_asc(sessions::Column::CreatedAt)
        .order_by_asc(sessions::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(store.db())
        .await
        .map_err(db_err)?;
    let (rows, next_cursor) = super::finish_page(rows, limit, |r| Cursor { time_us: r.created_at, id: r.id.clone() });
    Ok(Page { items: rows.into_iter().map(convert::session).collect::<Result<_>>()?, next_cursor })
}

pub(super) async fn update(
    store: &SqlStore,
    org: &str,
    id: &str,
    patch: SessionPatch,
    now: Timestamp,
) -> Result<Session> {
    let (org, id) = (org.to_owned(), id.to_owned());
    store
        .writer
        .write(org_lock(&org), move |txn| {
            Box::pin(async move {
                let row = sessions::Entity::find_by_id(id.clone())
                    .filter(sessions::Column::OrgId.eq(&org))
                    .one(txn)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| Error::not_found("session", &id))?;
                let agent_id = row.agent_id.clone();
                let mut metadata = convert::object(row.metadata.clone());
                let closed_at = row.closed_at;
                let mut active: sessions::ActiveModel = row.into();
                if let Some(status) = patch.status {
                    active.status = Set(status.as_str().to_owned());
                    active.closed_at = Set(match status {
                        SessionStatus::Closed => closed_at.or(Some(to_micros(now))),
                        SessionStatus::Active => None,
                    });
                }
                if let Some((changes, mode)) = patch.metadata {
                    match mode {
                        MetadataMode::Replace => metadata = changes,
                        MetadataMode::Merge => metadata.extend(changes),
                    }
                    active.metadata = Set(Value::Object(metadata));
                }
                active.updated_at = Set(to_micros(now));
                let session = convert::session(active.update(txn).await.map_err(db_err)?)?;
                agents::touch(txn, &org, vec![agent_id], now).await?;
                Ok(session)
            })
        })
        .await
}
