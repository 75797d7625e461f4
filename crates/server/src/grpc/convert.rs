//! Conversions between engram.v1 messages and domain types. Proto → domain conversions are
//! fallible and name the offending field.

use std::collections::BTreeMap;

use prost_types::{Struct, Timestamp as PbTimestamp, Value as PbValue, value::Kind};
use serde_json::{Number, Value};

use engram_app::{Hit, SearchMode};
use engram_core::lifecycle::Tier;
use engram_core::time::{Timestamp, from_micros, to_micros};
use engram_core::*;
use engram_proto::v1 as pb;

// ---- JSON <-> Struct --------------------------------------------------------------------

/// A `google.protobuf.Struct` as a JSON object. Integral numbers become JSON integers.
pub fn struct_to_json(field: &str, value: Option<Struct>) -> Result<Metadata> {
    let Some(value) = value else { return Ok(Metadata::new()) };
    value.fields.into_iter().map(|(k, v)| Ok((k.clone(), value_to_json(&format!("{field}.{k}"), v)?))).collect()
}

fn value_to_json(field: &str, value: PbValue) -> Result<Value> {
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::NumberValue(n)) => {
            if !n.is_finite() {
                return Err(Error::invalid(field, "numbers must be finite"));
            }
            if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                Value::Number(Number::from(n as i64))
            } else {
                Number::from_f64(n).map(Value::Number).ok_or_else(|| Error::invalid(field, "numbers must be finite"))?
            }
        }
        Some(Kind::StructValue(s)) => Value::Object(struct_to_json(field, Some(s))?),
        Some(Kind::ListValue(list)) => Value::Array(
            list.values
                .into_iter()
                .enumerate()
                .map(|(i, v)| value_to_json(&format!("{field}[{i}]"), v))
                .collect::<Result<_>>()?,
        ),
    })
}

pub fn json_to_struct(map: &Metadata) -> Struct {
    Struct { fields: map.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect::<BTreeMap<_, _>>() }
}

/// A JSON value as a `google.protobuf.Value`.
pub fn json_value(value: &Value) -> PbValue {
    json_to_value(value)
}

fn json_to_value(value: &Value) -> PbValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(json_to_value).collect() })
        }
        Value::Object(map) => Kind::StructValue(json_to_struct(map)),
    };
    PbValue { kind: Some(kind) }
}

// ---- time ---------------------------------------------------------------------------------

pub fn timestamp(t: Timestamp) -> PbTimestamp {
    let us = to_micros(t);
    PbTimestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1_000) as i32 }
}

pub fn opt_timestamp(t: Option<Timestamp>) -> Option<PbTimestamp> {
    t.map(timestamp)
}

/// A client timestamp, truncated to microseconds; years 1970..=9999.
pub fn from_timestamp(field: &str, t: Option<PbTimestamp>) -> Result<Option<Timestamp>> {
    let Some(t) = t else { return Ok(None) };
    const MAX_SECONDS: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    if !(0..=MAX_SECONDS).contains(&t.seconds) || !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Error::invalid(field, "must be a valid timestamp between 1970 and 9999"));
    }
    Ok(Some(from_micros(t.seconds * 1_000_000 + i64::from(t.nanos / 1_000))))
}

// ---- enums --------------------------------------------------------------------------------

pub fn memory_type_to_pb(t: MemoryType) -> pb::MemoryType {
    match t {
        MemoryType::Episodic => pb::MemoryType::Episodic,
        MemoryType::Decision => pb::MemoryType::Decision,
        MemoryType::Entity => pb::MemoryType::Entity,
        MemoryType::Session => pb::MemoryType::Session,
        MemoryType::Semantic => pb::MemoryType::Semantic,
        MemoryType::State => pb::MemoryType::State,
        MemoryType::Action => pb::MemoryType::Action,
        MemoryType::Interaction => pb::MemoryType::Interaction,
    }
}

/// `None` for UNSPECIFIED; an unknown number is InvalidArgument.
pub fn memory_type(field: &str, raw: i32) -> Result<Option<MemoryType>> {
    let t = pb::MemoryType::try_from(raw).map_err(|_| Error::invalid(field, format!("{raw} is not a memory type")))?;
    Ok(match t {
        pb::MemoryType::Unspecified => None,
        pb::MemoryType::Episodic => Some(MemoryType::Episodic),
        pb::MemoryType::Decision => Some(MemoryType::Decision),
        pb::MemoryType::Entity => Some(MemoryType::Entity),
        pb::MemoryType::Session => Some(MemoryType::Session),
        pb::MemoryType::Semantic => Some(MemoryType::Semantic),
        pb::MemoryType::State => Some(MemoryType::State),
        pb::MemoryType::Action => Some(MemoryType::Action),
        pb::MemoryType::Interaction => Some(MemoryType::Interaction),
    })
}

/// A list of memory types; UNSPECIFIED entries are an error.
pub fn memory_types(field: &str, raw: &[i32]) -> Result<Vec<MemoryType>> {
    raw.iter()
        .enumerate()
        .map(|(i, t)| {
            let field = format!("{field}[{i}]");
            memory_type(&field, *t)?.ok_or_else(|| Error::invalid(field, "must not be MEMORY_TYPE_UNSPECIFIED"))
        })
        .collect()
}

pub fn tier_to_pb(t: Tier) -> pb::Tier {
    match t {
        Tier::Hot => pb::Tier::Hot,
        Tier::Warm => pb::Tier::Warm,
        Tier::Cold => pb::Tier::Cold,
    }
}

pub fn tiers(field: &str, raw: &[i32]) -> Result<Vec<Tier>> {
    raw.iter()
        .enumerate()
        .map(|(i, t)| match pb::Tier::try_from(*t) {
            Ok(pb::Tier::Hot) => Ok(Tier::Hot),
            Ok(pb::Tier::Warm) => Ok(Tier::Warm),
            Ok(pb::Tier::Cold) => Ok(Tier::Cold),
            Ok(pb::Tier::Unspecified) => Err(Error::invalid(format!("{field}[{i}]"), "must not be TIER_UNSPECIFIED")),
            Err(_) => Err(Error::invalid(format!("{field}[{i}]"), format!("{t} is not a tier"))),
        })
        .collect()
}

pub fn tier_counts(c: TierCounts) -> pb::TierCounts {
    pb::TierCounts { hot: c.hot, warm: c.warm, cold: c.cold }
}

pub fn order(raw: i32) -> Result<Order> {
    match pb::Order::try_from(raw) {
        Ok(pb::Order::Unspecified | pb::Order::Desc) => Ok(Order::Desc),
        Ok(pb::Order::Asc) => Ok(Order::Asc),
        Ok(pb::Order::StepAsc) => Ok(Order::StepAsc),
        Ok(pb::Order::StepDesc) => Ok(Order::StepDesc),
        Ok(pb::Order::Nearest) => Ok(Order::Nearest),
        Err(_) => Err(Error::invalid("order", format!("{raw} is not an order"))),
    }
}

pub fn search_mode(raw: i32) -> Result<SearchMode> {
    match pb::SearchMode::try_from(raw) {
        Ok(pb::SearchMode::Unspecified) => Ok(SearchMode::Auto),
        Ok(pb::SearchMode::Keyword) => Ok(SearchMode::Keyword),
        Ok(pb::SearchMode::Semantic) => Ok(SearchMode::Semantic),
        Ok(pb::SearchMode::Hybrid) => Ok(SearchMode::Hybrid),
        Err(_) => Err(Error::invalid("mode", format!("{raw} is not a search mode"))),
    }
}

pub fn search_mode_pb(mode: SearchMode) -> pb::SearchMode {
    match mode {
        SearchMode::Auto => pb::SearchMode::Unspecified,
        SearchMode::Keyword => pb::SearchMode::Keyword,
        SearchMode::Semantic => pb::SearchMode::Semantic,
        SearchMode::Hybrid => pb::SearchMode::Hybrid,
    }
}

pub fn hit(hit: Hit) -> pb::SearchHit {
    pb::SearchHit {
        memory: Some(memory(hit.memory)),
        score: hit.score,
        keyword: hit.keyword,
        semantic: hit.semantic,
        recency: hit.recency,
        importance: hit.importance,
    }
}

pub fn session_status(field: &str, raw: i32) -> Result<Option<SessionStatus>> {
    match pb::SessionStatus::try_from(raw) {
        Ok(pb::SessionStatus::Unspecified) => Ok(None),
        Ok(pb::SessionStatus::Active) => Ok(Some(SessionStatus::Active)),
        Ok(pb::SessionStatus::Closed) => Ok(Some(SessionStatus::Closed)),
        Err(_) => Err(Error::invalid(field, format!("{raw} is not a session status"))),
    }
}

fn session_status_to_pb(s: SessionStatus) -> pb::SessionStatus {
    match s {
        SessionStatus::Active => pb::SessionStatus::Active,
        SessionStatus::Closed => pb::SessionStatus::Closed,
    }
}

pub fn permission(field: &str, raw: i32) -> Result<Permission> {
    match pb::Permission::try_from(raw) {
        Ok(pb::Permission::Read) => Ok(Permission::Read),
        Ok(pb::Permission::Write) => Ok(Permission::Write),
        Ok(pb::Permission::Admin) => Ok(Permission::Admin),
        _ => Err(Error::invalid(field, format!("{raw} is not a permission (READ, WRITE, ADMIN)"))),
    }
}

fn permission_to_pb(p: Permission) -> pb::Permission {
    match p {
        Permission::Read => pb::Permission::Read,
        Permission::Write => pb::Permission::Write,
        Permission::Admin => pb::Permission::Admin,
    }
}

// ---- messages -----------------------------------------------------------------------------

pub fn new_memory(prefix: &str, m: pb::NewMemory) -> Result<NewMemory> {
    let f = |name: &str| format!("{prefix}.{name}");
    let pb::NewMemory {
        agent,
        session_id,
        memory_type: raw_type,
        event_type,
        content,
        metadata,
        tags,
        importance,
        parent_id,
        dedup_key,
        time,
        step,
        position,
        expires_at,
        reasoning,
        embedding,
        scope,
    } = m;
    Ok(NewMemory {
        agent,
        session_id: session_id.filter(|s| !s.is_empty()),
        memory_type: memory_type(&f("memory_type"), raw_type)?,
        event_type,
        content,
        metadata: struct_to_json(&f("metadata"), metadata)?,
        tags,
        importance,
        parent_id: parent_id.filter(|s| !s.is_empty()),
        dedup_key: (!dedup_key.is_empty()).then_some(dedup_key),
        time: from_timestamp(&f("time"), time)?,
        step,
        position: position.map(|p| Position { x: p.x, y: p.y, z: p.z }),
        expires_at: from_timestamp(&f("expires_at"), expires_at)?,
        reasoning: (!reasoning.is_empty()).then_some(reasoning),
        embedding,
        scope: (!scope.is_empty()).then_some(scope),
    })
}

pub fn memory(m: Memory) -> pb::Memory {
    pb::Memory {
        reasoning: m.reasoning().unwrap_or_default().to_owned(),
        memory_type: memory_type_to_pb(m.memory_type).into(),
        metadata: Some(json_to_struct(&m.metadata)),
        time: Some(timestamp(m.time)),
        created_at: Some(timestamp(m.created_at)),
        expires_at: opt_timestamp(m.expires_at),
        position: m.position.map(|p| pb::Position { x: p.x, y: p.y, z: p.z }),
        id: m.id,
        org_id: m.org_id,
        agent_id: m.agent_id,
        session_id: m.session_id,
        event_type: m.event_type,
        content: m.content,
        tags: m.tags,
        importance: m.importance,
        parent_id: m.parent_id,
        dedup_key: m.dedup_key,
        step: m.step,
        access_count: m.access_count,
        last_accessed_at: opt_timestamp(m.last_accessed_at),
        scope: m.scope.unwrap_or_default(),
        tier: tier_to_pb(m.tier).into(),
    }
}

/// A filter as a list request (limit, order and paging left at their defaults).
pub fn filter(f: Option<pb::MemoryFilter>) -> Result<engram_app::ListRequest> {
    let pb::MemoryFilter {
        agent,
        session_id,
        memory_types: types,
        event_types,
        tags,
        any_tags,
        content_contains,
        min_importance,
        since,
        until,
        step_min,
        step_max,
        scope,
        attributes,
        near,
        tiers: tier_codes,
    } = f.unwrap_or_default();
    let filter = MemoryFilter {
        agent: (!agent.is_empty()).then(|| AgentRef::parse(&agent)),
        session_id: (!session_id.is_empty()).then_some(session_id),
        memory_types: memory_types("filter.memory_types", &types)?,
        exclude_types: Vec::new(),
        event_types,
        tags_all: tags,
        tags_any: any_tags,
        content_contains: None,
        min_importance,
        since: None,
        until: None,
        step_min,
        step_max,
        scope: (!scope.is_empty()).then_some(scope),
        attributes: struct_to_json("filter.attributes", attributes)?.into_iter().collect(),
        near: near.map(|n| Near { x: n.x, y: n.y, z: n.z, radius: n.radius }),
        tiers: tiers("filter.tiers", &tier_codes)?,
        important_only: false,
    };
    Ok(engram_app::ListRequest { filter, since, until, content_contains, ..Default::default() })
}

pub fn agent(a: Agent) -> pb::Agent {
    pb::Agent {
        config: Some(json_to_struct(&a.config)),
        created_at: Some(timestamp(a.created_at)),
        last_active_at: opt_timestamp(a.last_active_at),
        id: a.id,
        org_id: a.org_id,
        name: a.name,
        description: a.description,
    }
}

pub fn session(s: Session) -> pb::Session {
    pb::Session {
        status: session_status_to_pb(s.status).into(),
        metadata: Some(json_to_struct(&s.metadata)),
        created_at: Some(timestamp(s.created_at)),
        updated_at: Some(timestamp(s.updated_at)),
        closed_at: opt_timestamp(s.closed_at),
        id: s.id,
        org_id: s.org_id,
        agent_id: s.agent_id,
    }
}

pub fn context_options(o: Option<pb::ContextOptions>) -> Result<engram_app::ContextOptions> {
    let pb::ContextOptions { since, until, include_types, max_tokens, tokenizer, query, scope } = o.unwrap_or_default();
    Ok(engram_app::ContextOptions {
        since,
        until,
        include_types: memory_types("options.include_types", &include_types)?,
        max_tokens,
        tokenizer,
        query,
        scope,
    })
}

pub fn context_result(r: engram_app::ContextResult) -> pb::ContextResult {
    pb::ContextResult {
        token_count: u32::try_from(r.assembled.token_count).unwrap_or(u32::MAX),
        omitted_count: u32::try_from(r.assembled.omitted).unwrap_or(u32::MAX),
        memory_ids: r.assembled.memory_ids,
        context: r.assembled.text,
        tokenizer: r.tokenizer.name().to_owned(),
    }
}

pub fn org(o: Org) -> pb::Org {
    pb::Org { created_at: Some(timestamp(o.created_at)), id: o.id, name: o.name }
}

pub fn api_key(k: ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        permissions: k.permissions.iter().map(|p| permission_to_pb(*p).into()).collect(),
        created_at: Some(timestamp(k.created_at)),
        expires_at: opt_timestamp(k.expires_at),
        revoked_at: opt_timestamp(k.revoked_at),
        id: k.id,
        org_id: k.org_id,
        name: k.name,
    }
}

pub fn page_token(cursor: Option<Cursor>) -> String {
    cursor.map(|c| c.encode()).unwrap_or_default()
}

pub fn memory_page_token(cursor: Option<MemoryCursor>) -> String {
    cursor.map(|c| c.encode()).unwrap_or_default()
}
