//! `/api/v1/sessions`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use engram_core::{Error, MemoryType, MetadataMode, SessionPatch, SessionStatus};

use super::http::{Body, Caller, Params, RestResult, RestState, all_pages};
use super::json::*;
use super::memories::{list_request, page_json};
use engram_app::{ContextOptions, ContextResult};

pub async fn create(
    State(state): State<RestState>,
    Caller(p): Caller,
    Body(body): Body<NewSessionJson>,
) -> RestResult<Response> {
    let session = state.app.create_session(&p, &body.agent_id, body.metadata.unwrap_or_default()).await?;
    Ok((StatusCode::CREATED, Json(SessionJson::from(session))).into_response())
}

pub async fn list(
    State(state): State<RestState>,
    Caller(p): Caller,
    params: Params,
) -> RestResult<Json<serde_json::Value>> {
    let agent = params.text("agent_id").unwrap_or_default().to_owned();
    let status = params.text("status").map(|s| SessionStatus::parse("status", s)).transpose()?;
    let sessions = all_pages(|page| state.app.list_sessions(&p, &agent, status, page)).await?;
    let sessions: Vec<SessionJson> = sessions.into_iter().map(SessionJson::from).collect();
    Ok(Json(serde_json::json!({"count": sessions.len(), "sessions": sessions})))
}

pub async fn get_one(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> RestResult<Json<SessionJson>> {
    Ok(Json(state.app.get_session(&p, &id).await?.into()))
}

pub async fn update(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(body): Body<UpdateSessionJson>,
) -> RestResult<Json<SessionJson>> {
    let status = body.status.as_deref().map(|s| SessionStatus::parse("status", s)).transpose()?;
    let mode = match body.metadata_mode.as_deref() {
        None | Some("replace") => MetadataMode::Replace,
        Some("merge") => MetadataMode::Merge,
        Some(other) => return Err(Error::invalid("metadata_mode", format!("{other:?} is not merge or replace")).into()),
    };
    let patch = SessionPatch { status, metadata: body.metadata.map(|m| (m, mode)) };
    Ok(Json(state.app.update_session(&p, &id, patch).await?.into()))
}

pub async fn memories(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    params: Params,
) -> RestResult<Json<MemoryListJson>> {
    state.app.get_session(&p, &id).await?;
    let request = list_request(&params, None, Some(&id), "")?;
    Ok(Json(page_json(state.app.list_memories(&p, request).await?)))
}

pub async fn context(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(body): Body<ContextJson>,
) -> RestResult<Json<ContextResultJson>> {
    let result = state.app.build_context(&p, "", &id, context_options(body)?).await?;
    Ok(Json(context_json(Some(id), None, result)))
}

/// The context options of a `ContextJson` body.
pub fn context_options(body: ContextJson) -> Result<ContextOptions, Error> {
    let max_tokens = match body.max_tokens {
        None => 0,
        Some(n) if n >= 1 => u32::try_from(n).map_err(|_| Error::invalid("max_tokens", format!("{n} is too large")))?,
        Some(n) => return Err(Error::invalid("max_tokens", format!("{n} must be at least 1"))),
    };
    let include_types = body
        .include_types
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, t)| MemoryType::parse(&format!("include_types[{i}]"), t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ContextOptions {
        since: body.since.unwrap_or_default(),
        until: body.until.unwrap_or_default(),
        include_types,
        max_tokens,
        tokenizer: body.tokenizer.unwrap_or_default(),
        query: body.query.unwrap_or_default(),
        scope: body.scope.unwrap_or_default(),
    })
}

pub fn context_json(session_id: Option<String>, agent_id: Option<String>, result: ContextResult) -> ContextResultJson {
    ContextResultJson {
        session_id,
        agent_id,
        memory_count: result.assembled.memory_ids.len(),
        token_count: result.assembled.token_count,
        omitted_count: result.assembled.omitted,
        memory_ids: result.assembled.memory_ids,
        context: result.assembled.text,
        tokenizer: result.tokenizer.name(),
    }
}
