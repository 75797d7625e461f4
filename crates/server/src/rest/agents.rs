//! `/api/v1/agents`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use engram_core::NewAgent;

use super::http::{Body, Caller, Params, RestResult, RestState, all_pages};
use super::json::*;
use super::memories::{list_request, page_json};
use super::sessions::{context_json, context_options};

pub async fn register(
    State(state): State<RestState>,
    Caller(p): Caller,
    Body(body): Body<NewAgentJson>,
) -> RestResult<Response> {
    let agent = NewAgent {
        name: body.name,
        description: body.description.unwrap_or_default(),
        config: body.config.unwrap_or_default(),
    };
    let agent = state.app.register_agent(&p, agent).await?;
    Ok((StatusCode::CREATED, Json(AgentJson::from(agent))).into_response())
}

/// Every agent of the org (Memtrace's route has no paging; Engram pages internally).
pub async fn list(State(state): State<RestState>, Caller(p): Caller) -> RestResult<Json<serde_json::Value>> {
    let agents = all_pages(|page| state.app.list_agents(&p, page)).await?;
    let agents: Vec<AgentJson> = agents.into_iter().map(AgentJson::from).collect();
    Ok(Json(serde_json::json!({"count": agents.len(), "agents": agents})))
}

pub async fn get_one(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> RestResult<Json<AgentJson>> {
    Ok(Json(state.app.get_agent(&p, "agent", &id).await?.into()))
}

/// Recent memories of the agent: `since` defaults to 24h, as in Memtrace.
pub async fn memories(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    params: Params,
) -> RestResult<Json<MemoryListJson>> {
    // An unknown agent is 404 here, not an empty list.
    state.app.get_agent(&p, "agent", &id).await?;
    let request = list_request(&params, Some(&id), None, "24h")?;
    Ok(Json(page_json(state.app.list_memories(&p, request).await?)))
}

/// `POST /agents/{id}/context` (Engram extension): the agent's context across its sessions, as
/// `POST /sessions/{id}/context` builds a session's.
pub async fn context(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Body(body): Body<ContextJson>,
) -> RestResult<Json<ContextResultJson>> {
    let result = state.app.build_context(&p, &id, "", context_options(body)?).await?;
    Ok(Json(context_json(None, Some(id), result)))
}

pub async fn stats(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> RestResult<Json<AgentStatsJson>> {
    Ok(Json(state.app.agent_stats(&p, &id).await?.into()))
}

/// Deletes the agent with its sessions and memories (`?cascade=false` refuses while any exist).
pub async fn delete(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    params: Params,
) -> RestResult<StatusCode> {
    let cascade = match params.text("cascade") {
        None | Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(other) => {
            return Err(engram_core::Error::invalid("cascade", format!("{other:?} is not true or false")).into());
        }
    };
    state.app.delete_agent(&p, &id, cascade).await?;
    Ok(StatusCode::NO_CONTENT)
}
