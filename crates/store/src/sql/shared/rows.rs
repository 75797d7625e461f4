//! Rows to domain types: the column lists of the read queries and their decoders.

use engram_core::time::from_micros;
use engram_core::*;

use crate::encode::memory_type_of_code;
use crate::sql::conn::Row;

/// The columns of a memory read from `memories m`; decoded by [`memory_row`]. The agent's and the
/// session's public ids come from their keys through [`super::refs::PublicIds`] (no join: two
/// b-tree lookups per row less).
pub(crate) const MEMORY_COLUMNS: &str = "m.key, m.legacy_id, m.agent_key, m.session_key, m.memory_type, m.event_type, \
     m.content, m.metadata, m.tags, m.importance, m.parent_id, m.dedup_key, m.time, m.created_at, m.step, m.pos_x, \
     m.pos_y, m.pos_z, m.expires_at, m.access_count, m.last_accessed_at, m.scope, m.tier, m.block_key, m.block_slot";

/// How many columns [`MEMORY_COLUMNS`] has: a query that selects more reads them from this index.
pub(crate) const MEMORY_COLUMN_COUNT: usize = 25;

/// A memory as stored: its key, and its agent and session by key.
pub(crate) struct MemoryRow {
    pub key: i64,
    pub agent_key: i64,
    pub session_key: Option<i64>,
    /// Every field but `org_id`, `agent_id`, `session_id` and a derived `dedup_key`.
    pub memory: Memory,
    /// None: derived from agent id, event type and content.
    pub dedup_key: Option<String>,
    /// A cold memory's content: (block key, slot) in `cold_blocks` (`memory.content` is empty
    /// until [`super::refs::memories`] fills it in).
    pub block: Option<(i64, i64)>,
}

impl MemoryRow {
    /// The memory, given its org's, agent's and session's public ids.
    pub(crate) fn into_memory(self, org_id: &str, agent_id: &str, session_id: Option<String>) -> (i64, Memory) {
        let mut memory = self.memory;
        memory.dedup_key = match self.dedup_key {
            Some(key) => key,
            None => derived_dedup_key(agent_id, &memory.event_type, &memory.content),
        };
        memory.org_id = org_id.to_owned();
        memory.agent_id = agent_id.to_owned();
        memory.session_id = session_id;
        (self.key, memory)
    }
}

/// A memory row (see [`MEMORY_COLUMNS`]).
pub(crate) fn memory_row(row: &Row<'_>) -> Result<MemoryRow> {
    let position = match (row.opt_f64(15)?, row.opt_f64(16)?) {
        (Some(x), Some(y)) => Some(Position { x, y, z: row.opt_f64(17)? }),
        _ => None,
    };
    let key = row.i64(0)?;
    let created_at = row.i64(13)?;
    let memory = Memory {
        id: row.opt_string(1)?.unwrap_or_else(|| ids::memory_id_of(created_at.div_euclid(1000), key)),
        org_id: String::new(),
        agent_id: String::new(),
        session_id: None,
        memory_type: memory_type_of_code(row.i64(4)?)?,
        event_type: row.string(5)?,
        content: row.string(6)?,
        metadata: row.object(7)?,
        tags: row.strings(8)?,
        importance: row.f64(9)?,
        parent_id: row.opt_string(10)?,
        dedup_key: String::new(),
        time: from_micros(row.i64(12)?),
        created_at: from_micros(created_at),
        step: row.opt_i64(14)?,
        position,
        expires_at: row.opt_i64(18)?.map(from_micros),
        access_count: u64::try_from(row.i64(19)?).unwrap_or(0),
        last_accessed_at: row.opt_i64(20)?.map(from_micros),
        scope: row.opt_string(21)?,
        tier: engram_core::lifecycle::Tier::from_code(row.i64(22)?)?,
    };
    let block = match (row.opt_i64(23)?, row.opt_i64(24)?) {
        (Some(block), Some(slot)) => Some((block, slot)),
        _ => None,
    };
    Ok(MemoryRow {
        key,
        agent_key: row.i64(2)?,
        session_key: row.opt_i64(3)?,
        memory,
        dedup_key: row.opt_string(11)?,
        block,
    })
}

/// The columns of an agent read from `agents a JOIN orgs o`; decoded by [`agent`].
pub(crate) const AGENT_COLUMNS: &str =
    "a.key, a.id, o.id, a.name, a.description, a.config, a.created_at, a.last_active_at";

/// An agent row (see [`AGENT_COLUMNS`]) and its key.
pub(crate) fn agent(row: &Row<'_>) -> Result<(i64, Agent)> {
    Ok((
        row.i64(0)?,
        Agent {
            id: row.string(1)?,
            org_id: row.string(2)?,
            name: row.string(3)?,
            description: row.string(4)?,
            config: row.object(5)?,
            created_at: from_micros(row.i64(6)?),
            last_active_at: row.opt_i64(7)?.map(from_micros),
        },
    ))
}

/// The columns of a session read from `sessions s JOIN agents a ON a.key = s.agent_key JOIN orgs o
/// ON o.key = s.org_key`; decoded by [`session`].
pub(crate) const SESSION_COLUMNS: &str =
    "s.key, s.id, o.id, a.id, s.status, s.metadata, s.created_at, s.updated_at, s.closed_at";

pub(crate) const SESSION_FROM: &str =
    "sessions s JOIN agents a ON a.key = s.agent_key JOIN orgs o ON o.key = s.org_key";

/// A session row (see [`SESSION_COLUMNS`]) and its key.
pub(crate) fn session(row: &Row<'_>) -> Result<(i64, Session)> {
    Ok((
        row.i64(0)?,
        Session {
            id: row.string(1)?,
            org_id: row.string(2)?,
            agent_id: row.string(3)?,
            status: SessionStatus::parse("status", row.str(4)?).map_err(Error::internal)?,
            metadata: row.object(5)?,
            created_at: from_micros(row.i64(6)?),
            updated_at: from_micros(row.i64(7)?),
            closed_at: row.opt_i64(8)?.map(from_micros),
        },
    ))
}

/// The columns of an API key read from `api_keys k JOIN orgs o ON o.key = k.org_key`; decoded by
/// [`api_key`] with its digest.
pub(crate) const KEY_COLUMNS: &str =
    "k.id, o.id, k.name, k.digest, k.permissions, k.created_at, k.expires_at, k.revoked_at";

pub(crate) const KEY_FROM: &str = "api_keys k JOIN orgs o ON o.key = k.org_key";

pub(crate) fn api_key(row: &Row<'_>) -> Result<(ApiKey, Vec<u8>)> {
    let key = ApiKey {
        id: row.string(0)?,
        org_id: row.string(1)?,
        name: row.string(2)?,
        permissions: row.str(4)?.split(',').filter_map(Permission::parse).collect(),
        created_at: from_micros(row.i64(5)?),
        expires_at: row.opt_i64(6)?.map(from_micros),
        revoked_at: row.opt_i64(7)?.map(from_micros),
    };
    Ok((key, hex_decode(row.str(3)?)))
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len() / 2).filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// The columns of an org read from `orgs`.
pub(crate) const ORG_COLUMNS: &str = "key, id, name, created_at";

pub(crate) fn org(row: &Row<'_>) -> Result<(i64, Org)> {
    Ok((row.i64(0)?, Org { id: row.string(1)?, name: row.string(2)?, created_at: from_micros(row.i64(3)?) }))
}
