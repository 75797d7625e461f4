//! `/api/v1/memories` and `/api/v1/search`.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use engram_core::*;

use super::http::{Body, Caller, Params, RestResult, RestState, from_json};
use super::json::*;
use engram_app::{ListRequest, RankedRequest, SearchMode};

/// What a `POST /memories` body holds: one memory, or a batch (`{"memories": [...]}`).
pub(crate) enum NewMemories {
    One(Box<NewMemory>),
    Many(Vec<NewMemory>),
}

/// The memories of a `POST /memories` body (told apart by the `memories` key, so errors can name
/// the exact field).
pub(crate) fn new_memories(body: serde_json::Value) -> RestResult<NewMemories> {
    let batch = match body {
        serde_json::Value::Object(mut map) if map.contains_key("memories") => map.remove("memories"),
        serde_json::Value::Null => {
            return Err(Error::invalid("body", "a memory or {\"memories\": [...]} is required").into());
        }
        other => {
            let memory: NewMemoryJson = from_json("memory", other)?;
            return Ok(NewMemories::One(Box::new(memory.into_domain("memory")?)));
        }
    };
    let memories: Vec<NewMemoryJson> = from_json("memories", batch.unwrap_or_default())?;
    let memories = memories
        .into_iter()
        .enumerate()
        .map(|(i, m)| m.into_domain(&format!("memories[{i}]")))
        .collect::<Result<Vec<_>>>()?;
    Ok(NewMemories::Many(memories))
}

/// `POST /memories`: one memory, or `{"memories": [...]}`.
pub async fn create(
    State(state): State<RestState>,
    Caller(p): Caller,
    Body(body): Body<serde_json::Value>,
) -> RestResult<Response> {
    let memories = match new_memories(body)? {
        NewMemories::One(memory) => {
            let created = state.app.add_memory(&p, *memory).await?;
            return Ok((StatusCode::CREATED, Json(MemoryJson::from(created))).into_response());
        }
        NewMemories::Many(memories) => memories,
    };
    let outcomes = state.app.add_memories(&p, memories).await?;
    // Memtrace returns the created memories; Engram adds a per-item report.
    let mut created = Vec::new();
    let mut results = Vec::new();
    for outcome in outcomes {
        match outcome {
            AddOutcome::Created(memory) => {
                results.push(serde_json::json!({"status": "created", "id": memory.id}));
                created.push(MemoryJson::from(memory));
            }
            AddOutcome::Duplicate { existing_id } => {
                results.push(serde_json::json!({"status": "duplicate", "id": existing_id}));
            }
        }
    }
    let body = serde_json::json!({
        "count": created.len(),
        "duplicates": results.len() - created.len(),
        "memories": created,
        "results": results,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn get_one(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> RestResult<Json<MemoryJson>> {
    Ok(Json(state.app.get_memory(&p, &id).await?.into()))
}

/// Memtrace's four memory types: the REST listings return only these unless a filter names a type.
const MEMTRACE_TYPES: [MemoryType; 4] =
    [MemoryType::Episodic, MemoryType::Session, MemoryType::Decision, MemoryType::Entity];

/// (types asked for, types left out): without a type filter, the types Memtrace does not know are
/// left out, since the Memtrace SDK rejects them.
fn parse_types(field: &str, names: &[String]) -> Result<(Vec<MemoryType>, Vec<MemoryType>)> {
    let types = names
        .iter()
        .enumerate()
        .map(|(i, t)| MemoryType::parse(&format!("{field}[{i}]"), t.trim()))
        .collect::<Result<Vec<_>>>()?;
    if types.is_empty() {
        let hidden = MemoryType::ALL.into_iter().filter(|t| !MEMTRACE_TYPES.contains(t)).collect();
        return Ok((Vec::new(), hidden));
    }
    Ok((types, Vec::new()))
}

fn parse_order(value: Option<&str>) -> Result<Order> {
    match value {
        None | Some("") | Some("desc") => Ok(Order::Desc),
        Some("asc") => Ok(Order::Asc),
        Some("step_asc") => Ok(Order::StepAsc),
        Some("step_desc") => Ok(Order::StepDesc),
        Some("nearest") => Ok(Order::Nearest),
        Some(other) => {
            Err(Error::invalid("order", format!("{other:?} is not asc, desc, step_asc, step_desc or nearest")))
        }
    }
}

fn non_negative(field: &str, value: Option<i64>) -> Result<u32> {
    match value {
        None => Ok(0),
        Some(n) => {
            u32::try_from(n).map_err(|_| Error::invalid(field, format!("{n} must be between 0 and {}", u32::MAX)))
        }
    }
}

fn parse_tiers(field: &str, names: &[String]) -> Result<Vec<engram_core::lifecycle::Tier>> {
    names.iter().enumerate().map(|(i, n)| engram_core::lifecycle::Tier::parse(&format!("{field}[{i}]"), n)).collect()
}

fn comma_list(value: Option<&str>) -> Vec<String> {
    value
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A `GET .../memories` query (ListOptions), with `agent` or `session` possibly fixed by the path.
pub fn list_request(
    params: &Params,
    agent: Option<&str>,
    session: Option<&str>,
    default_since: &str,
) -> Result<ListRequest> {
    let text = |name: &str| params.text(name).map(str::to_owned);
    let agent = agent.map(str::to_owned).or_else(|| text("agent_id"));
    let session = session.map(str::to_owned).or_else(|| text("session_id"));
    let (memory_types, exclude_types) = parse_types("memory_type", &comma_list(params.text("memory_type")))?;
    let filter = MemoryFilter {
        agent: agent.map(|a| AgentRef::parse(&a)),
        session_id: session,
        memory_types,
        exclude_types,
        event_types: comma_list(params.text("event_type")),
        tags_all: comma_list(params.text("tags")),
        tags_any: comma_list(params.text("any_tags")),
        min_importance: params.number("min_importance")?,
        step_min: params.number("step_min")?,
        step_max: params.number("step_max")?,
        scope: text("scope"),
        attributes: match params.text("attributes") {
            None => Vec::new(),
            Some(json) => serde_json::from_str::<Metadata>(json)
                .map_err(|e| Error::invalid("attributes", format!("must be a JSON object: {e}")))?
                .into_iter()
                .collect(),
        },
        near: params.text("near").map(parse_near).transpose()?,
        tiers: parse_tiers("tiers", &comma_list(params.text("tiers")))?,
        ..Default::default()
    };
    Ok(ListRequest {
        filter,
        content_contains: text("content_contains").unwrap_or_default(),
        since: text("since").unwrap_or_else(|| default_since.to_owned()),
        until: text("until").unwrap_or_default(),
        limit: non_negative("limit", params.number("limit")?)?,
        order: parse_order(params.text("order"))?,
        page_token: text("page_token").unwrap_or_default(),
        offset: non_negative("offset", params.number("offset")?)?,
    })
}

pub fn page_json(page: MemoryPage) -> MemoryListJson {
    MemoryListJson {
        count: page.memories.len(),
        has_more: page.has_more,
        next_page_token: page.next_cursor.map(|c| c.encode()),
        memories: page.memories.into_iter().map(MemoryJson::from).collect(),
    }
}

pub async fn list(
    State(state): State<RestState>,
    Caller(p): Caller,
    params: Params,
) -> RestResult<Json<MemoryListJson>> {
    let request = list_request(&params, None, None, "")?;
    Ok(Json(page_json(state.app.list_memories(&p, request).await?)))
}

/// What a `POST /search` body asks for: a ranked search (with a `query` or `query_embedding`)
/// or a filtered listing.
pub(crate) enum SearchRequest {
    Ranked(RankedRequest),
    List(ListRequest),
}

pub(crate) fn search_request(q: SearchJson) -> Result<SearchRequest> {
    let (memory_types, exclude_types) = parse_types("memory_types", &q.memory_types.unwrap_or_default())?;
    let filter = MemoryFilter {
        agent: q.agent_id.filter(|a| !a.is_empty()).map(|a| AgentRef::parse(&a)),
        session_id: q.session_id.filter(|s| !s.is_empty()),
        memory_types,
        exclude_types,
        event_types: q.event_types.unwrap_or_default(),
        tags_all: q.tags.unwrap_or_default(),
        tags_any: q.any_tags.unwrap_or_default(),
        min_importance: q.min_importance,
        step_min: q.step_min,
        step_max: q.step_max,
        scope: q.scope.filter(|s| !s.is_empty()),
        attributes: q.attributes.unwrap_or_default().into_iter().collect(),
        near: q.near.map(Near::from),
        tiers: parse_tiers("tiers", &q.tiers.unwrap_or_default())?,
        ..Default::default()
    };
    let request = ListRequest {
        filter,
        content_contains: q.content_contains.unwrap_or_default(),
        since: q.since.unwrap_or_default(),
        until: q.until.unwrap_or_default(),
        limit: non_negative("limit", q.limit)?,
        order: parse_order(q.order.as_deref())?,
        page_token: q.page_token.unwrap_or_default(),
        offset: non_negative("offset", q.offset)?,
    };
    let query = q.query.unwrap_or_default();
    let query_embedding = q.query_embedding.unwrap_or_default();
    if !query.is_empty() || !query_embedding.is_empty() {
        return Ok(SearchRequest::Ranked(RankedRequest {
            order_given: q.order.as_deref().is_some_and(|o| !o.is_empty()),
            list: request,
            query,
            query_embedding,
            mode: parse_mode(q.mode.as_deref())?,
        }));
    }
    if q.mode.as_deref().is_some_and(|m| !m.is_empty()) {
        return Err(Error::invalid("mode", "applies to a search with a query; query is empty"));
    }
    Ok(SearchRequest::List(request))
}

pub async fn search(
    State(state): State<RestState>,
    Caller(p): Caller,
    Body(q): Body<SearchJson>,
) -> RestResult<Json<SearchResultJson>> {
    let started = Instant::now();
    let elapsed = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let request = match search_request(q)? {
        SearchRequest::Ranked(request) => {
            let page = state.app.ranked_search(&p, request).await?;
            let scores = page
                .hits
                .iter()
                .map(|h| ScoreJson {
                    id: h.memory.id.clone(),
                    score: h.score,
                    keyword: h.keyword,
                    semantic: h.semantic,
                    recency: h.recency,
                    importance: h.importance,
                })
                .collect();
            return Ok(Json(SearchResultJson {
                count: page.hits.len(),
                has_more: page.has_more,
                next_page_token: None,
                results: page.hits.into_iter().map(|h| MemoryJson::from(h.memory)).collect(),
                query_time_ms: elapsed(),
                scores: Some(scores),
                mode: Some(mode_name(page.mode)),
                unembedded: page.unembedded,
            }));
        }
        SearchRequest::List(request) => request,
    };
    let page = state.app.list_memories(&p, request).await?;
    Ok(Json(SearchResultJson {
        count: page.memories.len(),
        has_more: page.has_more,
        next_page_token: page.next_cursor.map(|c| c.encode()),
        results: page.memories.into_iter().map(MemoryJson::from).collect(),
        query_time_ms: elapsed(),
        scores: None,
        mode: None,
        unembedded: None,
    }))
}

fn parse_mode(mode: Option<&str>) -> Result<SearchMode> {
    match mode.unwrap_or("") {
        "" => Ok(SearchMode::Auto),
        "keyword" => Ok(SearchMode::Keyword),
        "semantic" => Ok(SearchMode::Semantic),
        "hybrid" => Ok(SearchMode::Hybrid),
        other => Err(Error::invalid("mode", format!("{other:?} is not keyword, semantic or hybrid"))),
    }
}

fn mode_name(mode: SearchMode) -> &'static str {
    match mode {
        SearchMode::Auto | SearchMode::Hybrid => "hybrid",
        SearchMode::Keyword => "keyword",
        SearchMode::Semantic => "semantic",
    }
}

/// `?near=x,y,radius` or `?near=x,y,z,radius`.
fn parse_near(text: &str) -> Result<Near> {
    let numbers: Vec<f64> = text
        .split(',')
        .map(|n| n.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::invalid("near", format!("{text:?}: x,y,radius or x,y,z,radius (numbers)")))?;
    match numbers[..] {
        [x, y, radius] => Ok(Near { x, y, z: None, radius }),
        [x, y, z, radius] => Ok(Near { x, y, z: Some(z), radius }),
        _ => Err(Error::invalid("near", format!("{text:?}: x,y,radius or x,y,z,radius (numbers)"))),
    }
}
