//! Memories: filtered time-ordered listing, updates, deletes (inserts are in `ingest`).

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::writer::org_lock;
use super::{SqlStore, agents, convert, db_err};
use crate::entity::{memories as mem, memory_tags as tags};

pub(super) fn not_expired(now: Timestamp) -> Condition {
    Condition::any().add(mem::Column::ExpiresAt.is_null()).add(mem::Column::ExpiresAt.gt(to_micros(now)))
}

pub(super) async fn add(
    store: &SqlStore,
    org: &str,
    items: Vec<NewMemory>,
    window: chrono::Duration,
    now: Timestamp,
) -> Result<Vec<AddOutcome>> {
    store.writer.add(org.to_owned(), items, window, now).await
}

pub(super) async fn get(store: &SqlStore, org: &str, id: &str, now: Timestamp) -> Result<Memory> {
    let row = mem::Entity::find_by_id(id.to_owned())
        .filter(mem::Column::OrgId.eq(org))
        .filter(not_expired(now))
        .one(store.db())
        .await
        .map_err(db_err)?;
    convert::memory(row.ok_or_else(|| Error::not_found("memory", id))?)
}

/// `EXISTS (SELECT 1 FROM memory_tags WHERE memory_id = memories.id AND <tag condition>)`.
fn has_tag(tag_condition: Condition) -> Condition {
    let subquery = Query::select()
        .expr(Expr::val(1))
        .from(tags::Entity)
        .and_where(Expr::col((tags::Entity, tags::Column::MemoryId)).equals((mem::Entity, mem::Column::Id)))
        .cond_where(tag_condition)
        .to_owned();
    Condition::all().add(Expr::exists(subquery))
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `\` as the escape character.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The WHERE clause of a filter for a resolved agent id (None: any agent). `driving_tag`: the
/// query is driven from `memory_tags` rows of `tags_all[0]`, so that tag needs no EXISTS of its
/// own (PostgreSQL would otherwise probe it once per memory of the time window).
fn filter_condition(
    org: &str,
    filter: &MemoryFilter,
    agent_id: Option<String>,
    now: Timestamp,
    driving_tag: bool,
) -> Condition {
    let mut cond = Condition::all().add(mem::Column::OrgId.eq(org)).add(not_expired(now));
    if let Some(agent_id) = agent_id {
        cond = cond.add(mem::Column::AgentId.eq(agent_id));
    }
    if let Some(session_id) = &filter.session_id {
        cond = cond.add(mem::Column::SessionId.eq(session_id.as_str()));
    }
    if !filter.memory_types.is_empty() {
        cond = cond.add(mem::Column::MemoryType.is_in(filter.memory_types.iter().map(|t| t.as_str())));
    }
    if filter.important_only {
        cond = cond.add(
            Condition::any()
                .add(mem::Column::MemoryType.eq(MemoryType::Decision.as_str()))
                .add(mem::Column::EventType.is_in(ERROR_EVENT_TYPES.iter().copied()))
                .add(mem::Column::Importance.gte(HIGH_IMPORTANCE)),
        );
    }
    if !filter.exclude_types.is_empty() {
        cond = cond.add(mem::Column::MemoryType.is_not_in(filter.exclude_types.iter().map(|t| t.as_str())));
    }
    if !filter.event_types.is_empty() {
        cond = cond.add(mem::Column::EventType.is_in(filter.event_types.iter().map(String::as_str)));
    }
    for tag in filter.tags_all.iter().skip(usize::from(driving_tag)) {
        cond = cond.add(has_tag(Condition::all().add(tags::Column::Tag.eq(tag.as_str()))));
    }
    if !filter.tags_any.is_empty() {
        cond = cond
            .add(has_tag(Condition::all().add(tags::Column::Tag.is_in(filter.tags_any.iter().map(String::as_str)))));
    }
    if let Some(needle) = &filter.content_contains {
        let pattern = format!("%{}%", like_escape(needle));
        cond = cond
            .add(Expr::col(mem::Column::ContentLower).like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')));
    }
    if let Some(min) = filter.min_importance {
        cond = cond.add(mem::Column::Importance.gte(min));
    }
    if let Some(since) = filter.since {
        cond = cond.add(mem::Column::Time.gte(to_micros(since)));
    }
    if let Some(until) = filter.until {
        cond = cond.add(mem::Column::Time.lt(to_micros(until)));
    }
    if let Some(min) = filter.step_min {
        cond = cond.add(mem::Column::Step.gte(min));
    }
    if let Some(max) = filter.step_max {
        cond = cond.add(mem::Column::Step.lte(max));
    }
    cond
}

pub(super) async fn list(store: &SqlStore, org: &str, query: &MemoryQuery, now: Timestamp) -> Result<MemoryPage> {
    let empty = MemoryPage { memories: Vec::new(), next_cursor: None, has_more: false };
    let agent_id = match &query.filter.agent {
        None => None,
        Some(agent) => match agents::find(store.db(), org, agent).await? {
            Some(found) => Some(found.id),
            None => return Ok(empty),
        },
    };
    // With a tag filter, walk the tag index (org, tag, time, memory) in time order and look each
    // memory up by id: a rare tag costs its matches, not a scan of every memory in the window.
    let by_tag = query.filter.tags_all.first();
    let mut cond = filter_condition(org, &query.filter, agent_id, now, by_tag.is_some());
    let (time, id) = match by_tag {
        Some(_) => (Expr::col((tags::Entity, tags::Column::Time)), Expr::col((tags::Entity, tags::Column::MemoryId))),
        None => (Expr::col((mem::Entity, mem::Column::Time)), Expr::col((mem::Entity, mem::Column::Id))),
    };
    if let Some(tag) = by_tag {
        cond = cond.add(tags::Column::OrgId.eq(org)).add(tags::Column::Tag.eq(tag.as_str()));
        if let Some(since) = query.filter.since {
            cond = cond.add(time.clone().gte(to_micros(since)));
        }
        if let Some(until) = query.filter.until {
            cond = cond.add(time.clone().lt(to_micros(until)));
        }
    }
    if let Some(cursor) = &query.cursor {
        cond = cond.add(match query.order {
            Order::Desc => Condition::any()
                .add(time.clone().lt(cursor.time_us))
                .add(Condition::all().add(time.clone().eq(cursor.time_us)).add(id.clone().lt(cursor.id.as_str()))),
            Order::Asc => Condition::any()
                .add(time.clone().gt(cursor.time_us))
                .add(Condition::all().add(time.clone().eq(cursor.time_us)).add(id.clone().gt(cursor.id.as_str()))),
        });
    }
    let direction = match query.order {
        Order::Desc => sea_orm::Order::Desc,
        Order::Asc => sea_orm::Order::Asc,
    };
    let rows = match by_tag {
        None => mem::Entity::find()
            .filter(cond)
            .order_by(time, direction.clone())
            .order_by(id, direction)
            .offset(u64::from(query.offset))
            .limit(u64::from(query.limit) + 1)
            .all(store.db())
            .await
            .map_err(db_err)?,
        Some(_) => {
            use sea_orm::{Iterable, RelationTrait};
            // FROM memory_tags, then each memory by id. SQLite's planner would rather walk a
            // memories index and sort everything (minutes at 10^6); CROSS JOIN fixes the order.
            let join = match store.backend() {
                super::Backend::Sqlite => sea_orm::JoinType::CrossJoin,
                super::Backend::Postgres => sea_orm::JoinType::InnerJoin,
            };
            let mut select = tags::Entity::find().select_only();
            for column in mem::Column::iter() {
                select = select.column(column);
            }
            // sea-query renders CROSS JOIN without its ON clause: the link goes in WHERE.
            let link = Expr::col((tags::Entity, tags::Column::MemoryId)).equals((mem::Entity, mem::Column::Id));
            select
                .join(join, tags::Relation::Memory.def())
                .filter(cond.add(link))
                .order_by(time, direction.clone())
                .order_by(id, direction)
                .offset(u64::from(query.offset))
                .limit(u64::from(query.limit) + 1)
                .into_model::<mem::Model>()
                .all(store.db())
                .await
                .map_err(db_err)?
        }
    };
    let (rows, next_cursor) = super::finish_page(rows, query.limit, |r| Cursor { time_us: r.time, id: r.id.clone() });
    let memories = rows.into_iter().map(convert::memory).collect::<Result<_>>()?;
    Ok(MemoryPage { memories, has_more: next_cursor.is_some(), next_cursor })
}

pub(super) async fn count(store: &SqlStore, org: &str, filter: &MemoryFilter, now: Timestamp) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    let agent_id = match &filter.agent {
        None => None,
        Some(agent) => match agents::find(store.db(), org, agent).await? {
            Some(found) => Some(found.id),
            None => return Ok(0),
        },
    };
    mem::Entity::find()
        .filter(filter_condition(org, filter, agent_id, now, false))
        .count(store.db())
        .await
        .map_err(db_err)
}

pub(super) async fn update(
    store: &SqlStore,
    org: &str,
    id: &str,
    patch: MemoryPatch,
    now: Timestamp,
) -> Result<Memory> {
    let (org, id) = (org.to_owned(), id.to_owned());
    store
        .writer
        .write(org_lock(&org), move |txn| {
            Box::pin(async move {
                let row = mem::Entity::find_by_id(id.clone())
                    .filter(mem::Column::OrgId.eq(&org))
                    .filter(not_expired(now))
                    .one(txn)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| Error::not_found("memory", &id))?;
                let (agent_id, time) = (row.agent_id.clone(), row.time);
                let mut active: mem::ActiveModel = row.into();
                if let Some(importance) = patch.importance {
                    active.importance = Set(importance);
                }
                if let Some(metadata) = patch.metadata {
                    active.metadata = Set(Value::Object(metadata));
                }
                if let Some(expires_at) = patch.expires_at {
                    active.expires_at = Set(expires_at.map(to_micros));
                }
                if let Some(new_tags) = &patch.tags {
                    active.tags = Set(Value::Array(new_tags.iter().cloned().map(Value::String).collect()));
                    tags::Entity::delete_many()
                        .filter(tags::Column::MemoryId.eq(&id))
                        .exec(txn)
                        .await
                        .map_err(db_err)?;
                    let rows: Vec<tags::ActiveModel> = new_tags
                        .iter()
                        .map(|tag| tags::ActiveModel {
                            memory_id: Set(id.clone()),
                            tag: Set(tag.clone()),
                            org_id: Set(org.clone()),
                            time: Set(time),
                        })
                        .collect();
                    if !rows.is_empty() {
                        tags::Entity::insert_many(rows).exec_without_returning(txn).await.map_err(db_err)?;
                    }
                }
                let memory = convert::memory(active.update(txn).await.map_err(db_err)?)?;
                agents::touch(txn, &org, vec![agent_id], now).await?;
                Ok(memory)
            })
        })
        .await
}

/// Deletes the memories matching `cond` and their tag rows; returns how many memories went.
pub(super) async fn delete_where<C: ConnectionTrait>(conn: &C, cond: Condition) -> Result<u64> {
    let ids = Query::select().column(mem::Column::Id).from(mem::Entity).cond_where(cond.clone()).to_owned();
    tags::Entity::delete_many()
        .filter(Expr::col(tags::Column::MemoryId).in_subquery(ids))
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(mem::Entity::delete_many().filter(cond).exec(conn).await.map_err(db_err)?.rows_affected)
}

pub(super) async fn delete_one(store: &SqlStore, org: &str, id: &str) -> Result<()> {
    let (org, id) = (org.to_owned(), id.to_owned());
    store
        .writer
        .write(org_lock(&org), move |txn| {
            Box::pin(async move {
                let cond = Condition::all().add(mem::Column::OrgId.eq(&org)).add(mem::Column::Id.eq(&id));
                match delete_where(txn, cond).await? {
                    0 => Err(Error::not_found("memory", &id)),
                    _ => Ok(()),
                }
            })
        })
        .await
}

pub(super) async fn delete_many(store: &SqlStore, org: &str, filter: &DeleteFilter) -> Result<u64> {
    let (org, filter) = (org.to_owned(), filter.clone());
    store
        .writer
        .write(org_lock(&org), move |txn| {
            Box::pin(async move {
                let mut cond = Condition::all().add(mem::Column::OrgId.eq(&org));
                if let Some(agent) = &filter.agent {
                    let Some(agent) = agents::find(txn, &org, agent).await? else { return Ok(0) };
                    cond = cond.add(mem::Column::AgentId.eq(agent.id));
                }
                if let Some(session_id) = &filter.session_id {
                    cond = cond.add(mem::Column::SessionId.eq(session_id.as_str()));
                }
                if !filter.memory_types.is_empty() {
                    cond = cond.add(mem::Column::MemoryType.is_in(filter.memory_types.iter().map(|t| t.as_str())));
                }
                if let Some(since) = filter.since {
                    cond = cond.add(mem::Column::Time.gte(to_micros(since)));
                }
                if let Some(until) = filter.until {
                    cond = cond.add(mem::Column::Time.lt(to_micros(until)));
                }
                delete_where(txn, cond).await
            })
        })
        .await
}
