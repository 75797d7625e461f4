//! Agents: registration, lookup by id or name, stats, deletion.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;

use engram_core::time::{Timestamp, from_micros, to_micros};
use engram_core::*;

use super::writer::org_lock;
use super::{SqlStore, convert, db_err, memories};
use crate::entity::{agents, memories as mem, sessions};

/// The agent a reference names in `org`, if any.
pub(super) async fn find<C: ConnectionTrait>(conn: &C, org: &str, agent: &AgentRef) -> Result<Option<agents::Model>> {
    let column = match agent {
        AgentRef::Id(_) => agents::Column::Id,
        AgentRef::Name(_) => agents::Column::Name,
    };
    agents::Entity::find()
        .filter(agents::Column::OrgId.eq(org))
        .filter(column.eq(agent.as_str()))
        .one(conn)
        .await
        .map_err(db_err)
}

/// Resolves a reference for a write: a known agent, or a new one for an unknown name.
/// An unknown id is NotFound.
pub(super) async fn find_or_register<C: ConnectionTrait>(
    conn: &C,
    org: &str,
    agent: &AgentRef,
    now: Timestamp,
) -> Result<agents::Model> {
    if let Some(found) = find(conn, org, agent).await? {
        return Ok(found);
    }
    match agent {
        AgentRef::Id(id) => Err(Error::not_found("agent", id)),
        AgentRef::Name(name) => {
            insert(conn, org, NewAgent { name: name.clone(), description: String::new(), config: Metadata::new() }, now)
                .await
        }
    }
}

/// The agents that exist among `refs` (two queries, whatever their number): maps each found
/// reference's text to its agent id.
pub(super) async fn find_many<C: ConnectionTrait>(
    conn: &C,
    org: &str,
    refs: &[AgentRef],
) -> Result<std::collections::HashMap<String, String>> {
    let (ids, names): (Vec<&AgentRef>, Vec<&AgentRef>) = refs.iter().partition(|r| matches!(r, AgentRef::Id(_)));
    let mut found = std::collections::HashMap::with_capacity(refs.len());
    for (by_id, column, wanted) in [(true, agents::Column::Id, &ids), (false, agents::Column::Name, &names)] {
        for chunk in wanted.chunks(500) {
            let rows: Vec<(String, String)> = agents::Entity::find()
                .select_only()
                .column(agents::Column::Id)
                .column(agents::Column::Name)
                .filter(agents::Column::OrgId.eq(org))
                .filter(column.is_in(chunk.iter().map(|r| r.as_str())))
                .into_tuple()
                .all(conn)
                .await
                .map_err(db_err)?;
            for (id, name) in rows {
                let key = if by_id { id.clone() } else { name };
                found.insert(key, id);
            }
        }
    }
    Ok(found)
}

async fn insert<C: ConnectionTrait>(conn: &C, org: &str, agent: NewAgent, now: Timestamp) -> Result<agents::Model> {
    let row = agents::ActiveModel {
        id: Set(ids::agent_id()),
        org_id: Set(org.to_owned()),
        name: Set(agent.name),
        description: Set(agent.description),
        config: Set(Value::Object(agent.config)),
        created_at: Set(to_micros(now)),
        last_active_at: Set(None),
    };
    row.insert(conn).await.map_err(db_err)
}

/// Marks agents active now.
pub(super) async fn touch<C: ConnectionTrait>(
    conn: &C,
    org: &str,
    agent_ids: Vec<String>,
    now: Timestamp,
) -> Result<()> {
    agents::Entity::update_many()
        .col_expr(agents::Column::LastActiveAt, Expr::value(to_micros(now)))
        .filter(agents::Column::OrgId.eq(org))
        .filter(agents::Column::Id.is_in(agent_ids))
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(super) async fn register(store: &SqlStore, org: &str, agent: NewAgent, now: Timestamp) -> Result<Agent> {
    let org = org.to_owned();
    store
        .writer
        .write(org_lock(&org), move |txn| {
            Box::pin(async move {
                if let Some(existing) = find(txn, &org, &AgentRef::Name(agent.name.clone())).await? {
                    return Err(Error::AlreadyExists { what: "agent", existing_id: existing.id });
                }
                Ok(convert::agent(insert(txn, &org, agent, now).await?))
            })
        })
        .await
}

pub(super) async fn get(store: &SqlStore, org: &str, agent: &AgentRef) -> Result<Agent> {
    let row = find(store.db(), org, agent).await?;
    row.map(convert::agent).ok_or_else(|| Error::not_found("agent", agent.as_str()))
}

pub(super) async fn list(store: &SqlStore, org: &str, limit: u32, after: Option<Cursor>) -> Result<Page<Agent>> {
    let mut query = agents::Entity::find().filter(agents::Column::OrgId.eq(org));
    if let Some(after) = after {
        query = query.filter(Condition::any().add(agents::Column::CreatedAt.gt(after.time_us)).add(
            Condition::all().add(agents::Column::CreatedAt.eq(after.time_us)).add(agents::Column::Id.gt(after.id)),
        ));
    }
    let rows = query
        .order_by_asc(agents::Column::CreatedAt)
        .order_by_asc(agents::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(store.db())
        .await
        .map_err(db_err)?;
    let (rows, next_cursor) = super::finish_page(rows, limit, |r| Cursor { time_us: r.created_at, id: r.id.clone() });
    Ok(Page { items: rows.into_iter().map(convert::agent).collect(), next_cursor })
}

pub(super) async fn delete(store: &SqlStore, org: &str, agent: &AgentRef, cascade: bool) -> Result<(u64, u64)> {
    let (org, agent) = (org.to_owned(), agent.clone());
    store
        .writer
        .write(org_lock(&org), move |txn| {
            Box::pin(async move {
                let row = find(txn, &org, &agent).await?.ok_or_else(|| Error::not_found("agent", agent.as_str()))?;
                let memory_cond =
                    Condition::all().add(mem::Column::OrgId.eq(&org)).add(mem::Column::AgentId.eq(&row.id));
                let session_cond =
                    Condition::all().add(sessions::Column::OrgId.eq(&org)).add(sessions::Column::AgentId.eq(&row.id));
                if !cascade {
                    let memories = mem::Entity::find().filter(memory_cond).count(txn).await.map_err(db_err)?;
                    let sessions = sessions::Entity::find().filter(session_cond).count(txn).await.map_err(db_err)?;
                    if memories + sessions > 0 {
                        return Err(Error::FailedPrecondition(format!(
                            "agent {} has {memories} memories and {sessions} sessions; set cascade to delete them too",
                            row.id
                        )));
                    }
                    agents::Entity::delete_by_id(row.id).exec(txn).await.map_err(db_err)?;
                    return Ok((0, 0));
                }
                let deleted_memories = memories::delete_where(txn, memory_cond).await?;
                let deleted_sessions =
                    sessions::Entity::delete_many().filter(session_cond).exec(txn).await.map_err(db_err)?.rows_affected;
                agents::Entity::delete_by_id(row.id).exec(txn).await.map_err(db_err)?;
                Ok((deleted_sessions, deleted_memories))
            })
        })
        .await
}

pub(super) async fn stats(store: &SqlStore, org: &str, agent: &AgentRef, now: Timestamp) -> Result<AgentStats> {
    let db = store.db();
    let row = find(db, org, agent).await?.ok_or_else(|| Error::not_found("agent", agent.as_str()))?;
    let now_us = to_micros(now);
    let day_ago = to_micros(now - chrono::Duration::hours(24));
    let live = Condition::all()
        .add(mem::Column::OrgId.eq(org))
        .add(mem::Column::AgentId.eq(&row.id))
        .add(Condition::any().add(mem::Column::ExpiresAt.is_null()).add(mem::Column::ExpiresAt.gt(now_us)));

    let by_type: Vec<(String, i64)> = mem::Entity::find()
        .select_only()
        .column(mem::Column::MemoryType)
        .column_as(mem::Column::Id.count(), "n")
        .filter(live.clone())
        .group_by(mem::Column::MemoryType)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    let memories_24h = mem::Entity::find()
        .filter(live.clone())
        .filter(mem::Column::Time.gte(day_ago))
        .count(db)
        .await
        .map_err(db_err)?;
    let errors_24h = mem::Entity::find()
        .filter(live)
        .filter(mem::Column::Time.gte(day_ago))
        .filter(mem::Column::EventType.is_in(ERROR_EVENT_TYPES.iter().copied()))
        .count(db)
        .await
        .map_err(db_err)?;
    let session_filter =
        Condition::all().add(sessions::Column::OrgId.eq(org)).add(sessions::Column::AgentId.eq(&row.id));
    let session_count = sessions::Entity::find().filter(session_filter.clone()).count(db).await.map_err(db_err)?;
    let active_sessions = sessions::Entity::find()
        .filter(session_filter)
        .filter(sessions::Column::Status.eq(SessionStatus::Active.as_str()))
        .count(db)
        .await
        .map_err(db_err)?;

    let mut memory_types: Vec<(MemoryType, u64)> = by_type
        .into_iter()
        .filter_map(|(t, n)| Some((MemoryType::parse("memory_type", &t).ok()?, u64::try_from(n).unwrap_or(0))))
        .collect();
    memory_types.sort();
    Ok(AgentStats {
        memory_count: memory_types.iter().map(|(_, n)| n).sum(),
        agent_id: row.id,
        memories_24h,
        errors_24h,
        session_count,
        active_sessions,
        last_active_at: row.last_active_at.map(from_micros),
        memory_types,
    })
}
