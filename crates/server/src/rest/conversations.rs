//! `/api/v1/conversations` and `/api/v1/sessions/{id}/working-memory`: the REST twins of
//! ConversationService and WorkingMemoryService, with their JSON shapes. A conversation is named
//! in the path by agent (id or name) and conversation id, and by the `scope` query parameter
//! (absent: the empty scope).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use engram_app::PageRequest;
use engram_app::conversations::{AppendResult, ConversationName, WindowResult};
use engram_core::conversation::{Conversation, Message, NewMessage, Role, Summary, ToolCall};
use engram_core::time::format_rfc3339;
use engram_core::working_memory::WorkingMemory;
use engram_core::{Error, Metadata};

use super::http::{Body, Caller, Params, RestResult, RestState};
use super::json::timestamp;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessageJson {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
    #[serde(default)]
    tool_call_id: String,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    message_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendJson {
    #[serde(default)]
    pub(crate) messages: Vec<NewMessageJson>,
    #[serde(default)]
    pub(crate) record_as_memories: Option<bool>,
}

#[derive(Debug, Serialize)]
struct MessageJson {
    id: String,
    seq: i64,
    role: &'static str,
    content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<String>,
    time: String,
    metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    tokens: u32,
    created_at: String,
}

impl From<Message> for MessageJson {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            seq: m.seq,
            role: m.role.as_str(),
            content: m.content,
            name: m.name,
            tool_calls: m.tool_calls,
            tool_call_id: m.tool_call_id,
            time: format_rfc3339(m.time),
            metadata: m.metadata,
            message_id: m.client_id,
            tokens: m.tokens,
            created_at: format_rfc3339(m.created_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SummaryJson {
    text: String,
    through_seq: i64,
    tokens: u32,
    updated_at: String,
}

impl From<Summary> for SummaryJson {
    fn from(s: Summary) -> Self {
        Self { text: s.text, through_seq: s.through_seq, tokens: s.tokens, updated_at: format_rfc3339(s.updated_at) }
    }
}

#[derive(Debug, Serialize)]
pub struct ConversationJson {
    agent_id: String,
    scope: String,
    conversation: String,
    message_count: u64,
    token_total: u64,
    last_seq: i64,
    created_at: String,
    last_activity_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<SummaryJson>,
}

impl From<Conversation> for ConversationJson {
    fn from(c: Conversation) -> Self {
        Self {
            agent_id: c.agent_id,
            scope: c.scope,
            conversation: c.conversation,
            message_count: c.message_count,
            token_total: c.token_total,
            last_seq: c.last_seq,
            created_at: format_rfc3339(c.created_at),
            last_activity_at: format_rfc3339(c.last_activity_at),
            summary: c.summary.map(SummaryJson::from),
        }
    }
}

/// Adds `next_page_token` when there is a next page (optional fields are omitted, never null).
fn with_token(mut body: serde_json::Value, next: Option<String>) -> serde_json::Value {
    if let Some(token) = next {
        body["next_page_token"] = token.into();
    }
    body
}

pub(crate) fn name(agent: String, conversation: String, params: &Params) -> ConversationName {
    ConversationName { agent, scope: params.text("scope").unwrap_or_default().to_owned(), conversation }
}

pub(crate) fn new_message(i: usize, m: NewMessageJson) -> Result<NewMessage, Error> {
    let role = match m.role.as_str() {
        "" => None,
        text => Some(Role::parse(text).ok_or_else(|| {
            Error::invalid(format!("messages[{i}].role"), format!("{text:?} is not system, user, assistant or tool"))
        })?),
    };
    Ok(NewMessage {
        role,
        content: m.content,
        name: m.name,
        tool_calls: m.tool_calls,
        tool_call_id: m.tool_call_id,
        time: timestamp(&format!("messages[{i}].time"), m.time.as_deref())?,
        metadata: m.metadata,
        client_id: m.message_id,
    })
}

pub async fn append(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path((agent, conversation)): Path<(String, String)>,
    params: Params,
    Body(body): Body<AppendJson>,
) -> RestResult<Response> {
    let messages =
        body.messages.into_iter().enumerate().map(|(i, m)| new_message(i, m)).collect::<Result<Vec<_>, _>>()?;
    let AppendResult { conversation: c, messages, duplicates, memory_ids } =
        state.app.append_messages(&p, &name(agent, conversation, &params), messages, body.record_as_memories).await?;
    let messages: Vec<MessageJson> = messages.into_iter().map(MessageJson::from).collect();
    let body = serde_json::json!({
        "conversation": ConversationJson::from(c),
        "messages": messages,
        "duplicates": duplicates,
        "memory_ids": memory_ids,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn window(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path((agent, conversation)): Path<(String, String)>,
    params: Params,
) -> RestResult<Json<serde_json::Value>> {
    let max_messages = params.number("max_messages")?.unwrap_or(0);
    let max_tokens = params.number("max_tokens")?.unwrap_or(0);
    let WindowResult { conversation: c, messages, tokens, omitted_messages, omitted_tokens, max_messages, max_tokens } =
        state.app.get_window(&p, &name(agent, conversation, &params), max_messages, max_tokens).await?;
    let summary = c.summary.clone().map(SummaryJson::from);
    let messages: Vec<MessageJson> = messages.into_iter().map(MessageJson::from).collect();
    let mut body = serde_json::json!({
        "conversation": ConversationJson::from(c),
        "messages": messages,
        "token_count": tokens,
        "omitted_messages": omitted_messages,
        "omitted_tokens": omitted_tokens,
        "max_messages": max_messages,
        "max_tokens": max_tokens,
    });
    if let Some(summary) = summary {
        body["summary"] = serde_json::to_value(summary).unwrap_or_default();
    }
    Ok(Json(body))
}

pub async fn messages(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path((agent, conversation)): Path<(String, String)>,
    params: Params,
) -> RestResult<Json<serde_json::Value>> {
    let page = PageRequest {
        size: params.number("limit")?.unwrap_or(0),
        token: params.text("page_token").unwrap_or_default().to_owned(),
    };
    let newest_first = match params.text("order") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(Error::invalid("order", format!("{other:?} is not asc or desc")).into()),
    };
    let (since, until) = (params.text("since").unwrap_or_default(), params.text("until").unwrap_or_default());
    let (messages, next) =
        state.app.list_messages(&p, &name(agent, conversation, &params), page, newest_first, since, until).await?;
    let messages: Vec<MessageJson> = messages.into_iter().map(MessageJson::from).collect();
    Ok(Json(with_token(serde_json::json!({"count": messages.len(), "messages": messages}), next)))
}

pub async fn list(
    State(state): State<RestState>,
    Caller(p): Caller,
    params: Params,
) -> RestResult<Json<serde_json::Value>> {
    let agent = params.text("agent_id").or_else(|| params.text("agent")).unwrap_or_default().to_owned();
    let scope = params.0.get("scope").map(String::as_str);
    let page = PageRequest {
        size: params.number("limit")?.unwrap_or(0),
        token: params.text("page_token").unwrap_or_default().to_owned(),
    };
    let (conversations, next) = state.app.list_conversations(&p, &agent, scope, page).await?;
    let conversations: Vec<ConversationJson> = conversations.into_iter().map(ConversationJson::from).collect();
    Ok(Json(with_token(serde_json::json!({"count": conversations.len(), "conversations": conversations}), next)))
}

pub async fn delete(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path((agent, conversation)): Path<(String, String)>,
    params: Params,
) -> RestResult<Json<serde_json::Value>> {
    let deleted = state.app.delete_conversation(&p, &name(agent, conversation, &params)).await?;
    Ok(Json(serde_json::json!({"deleted_messages": deleted})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryBody {
    #[serde(default)]
    pub(crate) text: String,
    #[serde(default)]
    pub(crate) through_seq: i64,
}

pub async fn summary(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path((agent, conversation)): Path<(String, String)>,
    params: Params,
    Body(body): Body<SummaryBody>,
) -> RestResult<Json<ConversationJson>> {
    let c = state.app.set_summary(&p, &name(agent, conversation, &params), &body.text, body.through_seq).await?;
    Ok(Json(c.into()))
}

// ---- working memory ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct WorkingMemoryJson {
    session_id: String,
    document: Metadata,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
}

impl From<WorkingMemory> for WorkingMemoryJson {
    fn from(wm: WorkingMemory) -> Self {
        Self {
            session_id: wm.session_id,
            document: wm.document,
            version: wm.version,
            updated_at: wm.updated_at.map(format_rfc3339),
        }
    }
}

/// `{"document": {...}, "version": N}` (PUT) or `{"patch": {...}, "version": N}` (PATCH).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingMemoryBody {
    #[serde(default)]
    pub(crate) document: Option<Metadata>,
    #[serde(default)]
    pub(crate) patch: Option<Metadata>,
    #[serde(default)]
    pub(crate) version: Option<i64>,
}

pub(crate) fn version(body: &WorkingMemoryBody) -> Result<i64, Error> {
    body.version.ok_or_else(|| Error::invalid("version", "is required: the version read (0: never written)"))
}

pub async fn get_working_memory(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(session): Path<String>,
) -> RestResult<Json<WorkingMemoryJson>> {
    Ok(Json(state.app.get_working_memory(&p, &session).await?.into()))
}

pub async fn set_working_memory(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(session): Path<String>,
    Body(body): Body<WorkingMemoryBody>,
) -> RestResult<Json<WorkingMemoryJson>> {
    let version = version(&body)?;
    let document = body.document.ok_or_else(|| Error::invalid("document", "is required (a JSON object)"))?;
    Ok(Json(state.app.set_working_memory(&p, &session, document, version).await?.into()))
}

pub async fn patch_working_memory(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(session): Path<String>,
    Body(body): Body<WorkingMemoryBody>,
) -> RestResult<Json<WorkingMemoryJson>> {
    let version = version(&body)?;
    let patch = body.patch.ok_or_else(|| Error::invalid("patch", "is required (a JSON merge patch object)"))?;
    Ok(Json(state.app.patch_working_memory(&p, &session, patch, version).await?.into()))
}

pub async fn clear_working_memory(
    State(state): State<RestState>,
    Caller(p): Caller,
    Path(session): Path<String>,
    params: Params,
) -> RestResult<Json<WorkingMemoryJson>> {
    let version =
        params.number("version")?.ok_or_else(|| Error::invalid("version", "is required: the version read"))?;
    Ok(Json(state.app.clear_working_memory(&p, &session, version).await?.into()))
}
