//! Rows to domain types and back.

use serde_json::Value;

use engram_core::time::{from_micros, to_micros};
use engram_core::*;

use crate::entity::{agents, api_keys, memories, orgs, sessions};

pub(crate) fn object(value: Value) -> Metadata {
    match value {
        Value::Object(map) => map,
        _ => Metadata::new(),
    }
}

pub(crate) fn memory(row: memories::Model) -> Result<Memory> {
    let memory_type = MemoryType::parse("memory_type", &row.memory_type).map_err(Error::internal)?;
    let tags = match row.tags {
        Value::Array(items) => items.into_iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let position = match (row.pos_x, row.pos_y) {
        (Some(x), Some(y)) => Some(Position { x, y, z: row.pos_z }),
        _ => None,
    };
    Ok(Memory {
        id: row.id,
        org_id: row.org_id,
        agent_id: row.agent_id,
        session_id: row.session_id,
        memory_type,
        event_type: row.event_type,
        content: row.content,
        metadata: object(row.metadata),
        tags,
        importance: row.importance,
        parent_id: row.parent_id,
        dedup_key: row.dedup_key,
        time: from_micros(row.time),
        created_at: from_micros(row.created_at),
        step: row.step,
        position,
        expires_at: row.expires_at.map(from_micros),
    })
}

pub(crate) fn memory_row(m: &Memory) -> memories::ActiveModel {
    use sea_orm::ActiveValue::Set;
    memories::ActiveModel {
        id: Set(m.id.clone()),
        org_id: Set(m.org_id.clone()),
        agent_id: Set(m.agent_id.clone()),
        session_id: Set(m.session_id.clone()),
        memory_type: Set(m.memory_type.as_str().to_owned()),
        event_type: Set(m.event_type.clone()),
        content: Set(m.content.clone()),
        content_lower: Set(m.content.to_lowercase()),
        metadata: Set(Value::Object(m.metadata.clone())),
        tags: Set(Value::Array(m.tags.iter().cloned().map(Value::String).collect())),
        importance: Set(m.importance),
        parent_id: Set(m.parent_id.clone()),
        dedup_key: Set(m.dedup_key.clone()),
        time: Set(to_micros(m.time)),
        created_at: Set(to_micros(m.created_at)),
        step: Set(m.step),
        pos_x: Set(m.position.map(|p| p.x)),
        pos_y: Set(m.position.map(|p| p.y)),
        pos_z: Set(m.position.and_then(|p| p.z)),
        expires_at: Set(m.expires_at.map(to_micros)),
    }
}

pub(crate) fn agent(row: agents::Model) -> Agent {
    Agent {
        id: row.id,
        org_id: row.org_id,
        name: row.name,
        description: row.description,
        config: object(row.config),
        created_at: from_micros(row.created_at),
        last_active_at: row.last_active_at.map(from_micros),
    }
}

pub(crate) fn session(row: sessions::Model) -> Result<Session> {
    Ok(Session {
        status: SessionStatus::parse("status", &row.status).map_err(Error::internal)?,
        id: row.id,
        org_id: row.org_id,
        agent_id: row.agent_id,
        metadata: object(row.metadata),
        created_at: from_micros(row.created_at),
        updated_at: from_micros(row.updated_at),
        closed_at: row.closed_at.map(from_micros),
    })
}

pub(crate) fn org(row: orgs::Model) -> Org {
    Org { id: row.id, name: row.name, created_at: from_micros(row.created_at) }
}

pub(crate) fn api_key(row: &api_keys::Model) -> ApiKey {
    ApiKey {
        id: row.id.clone(),
        org_id: row.org_id.clone(),
        name: row.name.clone(),
        permissions: row.permissions.split(',').filter_map(Permission::parse).collect(),
        created_at: from_micros(row.created_at),
        expires_at: row.expires_at.map(from_micros),
        revoked_at: row.revoked_at.map(from_micros),
    }
}
