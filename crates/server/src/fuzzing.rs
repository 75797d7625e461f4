//! Entry points of the fuzz targets in `fuzz/` (not an API). Each one takes what a client sends
//! (a REST body or query string, a gRPC request message), runs the server's own decoding and
//! conversion of it (the handlers' and adapters' functions), then the domain checks the operation
//! in `engram-app` runs on it before reaching the store (`engram_core::Limits`, time specs, page
//! tokens, lifecycle policies, merge patches), and asserts what those checks promise of what
//! they accept. A refusal is returned as [`Refused`]; the fuzz targets assert it is a client
//! error (HTTP 400, gRPC INVALID_ARGUMENT) that names a field, never a panic or an INTERNAL.

use prost::Message;
use serde_json::Value;

use engram_app::{ContextOptions, ListRequest, RankedRequest};
use engram_core::conversation::{ConversationRef, NewMessage};
use engram_core::lifecycle::LifecyclePolicy;
use engram_core::time::{self, Timestamp};
use engram_core::validate::{MAX_JSON_DEPTH, MAX_OFFSET, check_embedding, check_importance};
use engram_core::working_memory::merge_patch;
use engram_core::*;
use engram_proto::v1 as pb;

use crate::grpc::convert;
use crate::rest::http::{Params, RestError, decode_json};
use crate::rest::json::{ContextJson, NewAgentJson, NewSessionJson, SearchJson, UpdateSessionJson};

/// A refused request: the HTTP status (REST) or the gRPC code (as a number), and the message.
#[derive(Debug)]
pub struct Refused {
    pub code: u16,
    pub message: String,
}

impl From<RestError> for Refused {
    fn from(e: RestError) -> Self {
        Refused { code: e.status().as_u16(), message: e.message().to_owned() }
    }
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        RestError::from(e).into()
    }
}

impl From<tonic::Status> for Refused {
    fn from(s: tonic::Status) -> Self {
        Refused { code: s.code() as u16, message: s.message().to_owned() }
    }
}

/// The "now" of every check (fixed, so a crash reproduces).
pub fn now() -> Timestamp {
    time::from_micros(1_780_000_000_000_000)
}

// ---- the domain checks the operations run --------------------------------------------------

/// `engram-app`'s checks of a listing (ListMemories, SearchMemories, WatchMemories, REST
/// listings), and what an accepted one promises.
pub fn check_list(limits: &Limits, request: ListRequest) -> Result<()> {
    let query = engram_app::memories::list_query(limits, request, now(), 0)?;
    assert_valid_filter(limits, &query.filter);
    assert!((1..=limits.max_page).contains(&query.limit), "page size {}", query.limit);
    assert!(query.offset <= MAX_OFFSET);
    Ok(())
}

/// What [`Limits::check_filter`] promises of a filter it accepts.
pub fn assert_valid_filter(limits: &Limits, filter: &MemoryFilter) {
    for tags in [&filter.tags_all, &filter.tags_any] {
        assert!(tags.len() <= limits.max_tags, "{} tags accepted", tags.len());
        assert!(tags.windows(2).all(|w| w[0] < w[1]), "tags not a sorted set: {tags:?}");
        for tag in tags.iter() {
            assert!(limits.check_tag("t", tag).is_ok(), "bad tag accepted: {tag:?}");
        }
    }
    assert!(filter.attributes.windows(2).all(|w| w[0].0 < w[1].0), "attributes not sorted by key, each once");
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        assert!(since <= until, "since after until accepted");
    }
    if let (Some(min), Some(max)) = (filter.step_min, filter.step_max) {
        assert!(min <= max, "step_min above step_max accepted");
    }
    if let Some(min) = filter.min_importance {
        assert!((0.0..=1.0).contains(&min), "min_importance {min} accepted");
    }
    if let Some(near) = &filter.near {
        assert!(near.radius.is_finite() && near.radius > 0.0 && near.x.is_finite() && near.y.is_finite());
    }
    // Checking an accepted filter again accepts it unchanged.
    let mut again = filter.clone();
    limits.check_filter("filter", &mut again).expect("an accepted filter is refused when checked again");
    assert_eq!(&again, filter, "checking an accepted filter changed it");
}

/// `engram-app`'s checks of a new memory, and what an accepted one promises.
pub fn check_memory(limits: &Limits, prefix: &str, memory: NewMemory) -> Result<()> {
    let v = limits.check_new_memory(prefix, memory, now())?;
    assert!(!v.content.trim().is_empty() && v.content.len() <= limits.max_content_bytes);
    assert!(!v.content.contains('\0'));
    assert!(v.tags.len() <= limits.max_tags && v.tags.windows(2).all(|w| w[0] < w[1]), "tags {:?}", v.tags);
    assert!((0.0..=1.0).contains(&v.importance), "importance {}", v.importance);
    assert!(limits.check_event_type("e", &v.event_type).is_ok(), "event type {:?}", v.event_type);
    assert!(v.dedup_key.as_ref().is_none_or(|k| !k.is_empty()));
    assert!(v.expires_at.is_none_or(|t| t > now()));
    assert!(limits.check_metadata("m", &v.metadata).is_ok(), "metadata accepted, then refused");
    if let Some(e) = &v.embedding {
        assert!(!e.is_empty() && e.iter().all(|x| x.is_finite()));
    }
    Ok(())
}

fn check_memories(limits: &Limits, memories: Vec<NewMemory>) -> Result<()> {
    limits.check_batch_size("memories", memories.len())?;
    for (i, m) in memories.into_iter().enumerate() {
        check_memory(limits, &format!("memories[{i}]"), m)?;
    }
    Ok(())
}

/// `engram-app::ranked_search`'s checks (before the index), and what an accepted one promises.
fn check_ranked(limits: &Limits, request: RankedRequest) -> Result<()> {
    let checked = engram_app::search::check_ranked(limits, request, now())?;
    assert_valid_filter(limits, &checked.filter);
    assert!((1..=limits.max_page as usize).contains(&checked.limit), "page size {}", checked.limit);
    assert!(checked.query.len() <= engram_app::search::MAX_QUERY_BYTES);
    if let Some(v) = &checked.vector {
        assert!(!v.is_empty() && v.iter().all(|x| x.is_finite()));
    }
    Ok(())
}

/// `engram-app::build_context`'s checks (before the store), and what an accepted one promises.
pub fn check_context(limits: &Limits, agent: &str, session_id: &str, options: ContextOptions) -> Result<()> {
    let checked = engram_app::context::check_context(limits, agent, session_id, &options, now())?;
    assert!(checked.max_tokens >= 1 && checked.max_tokens <= limits.max_context_tokens);
    assert!(checked.filter.agent.is_some() || checked.filter.session_id.is_some());
    assert_valid_filter(limits, &checked.filter);
    Ok(())
}

/// `engram-app`'s checks of a working-memory write: a whole document (`patch` None) or a merge
/// patch applied to `current`; returns the document written. An accepted patch applied again
/// changes nothing (RFC 7396 patches are idempotent), and a merged document is no deeper than
/// the deeper of the two.
pub fn check_working_memory(
    limits: &Limits,
    current: &Metadata,
    document: Option<Metadata>,
    patch: Option<Metadata>,
    version: i64,
) -> Result<Metadata> {
    limits.check_version("version", version)?;
    if let Some(document) = document {
        limits.check_working_memory("document", &document)?;
        return Ok(document);
    }
    let patch = patch.unwrap_or_default();
    limits.check_working_memory("patch", &patch)?;
    let patch = Value::Object(patch);
    let mut merged = Value::Object(current.clone());
    merge_patch(&mut merged, &patch);
    let Value::Object(merged) = merged else { panic!("a merge patch of an object gave a non-object") };
    let mut twice = Value::Object(merged.clone());
    merge_patch(&mut twice, &patch);
    assert_eq!(twice, Value::Object(merged.clone()), "a merge patch applied twice differs from once");
    assert!(json_depth(&merged) <= json_depth(current).max(json_depth_value(&patch)), "merge made it deeper");
    if json_depth(current) <= MAX_JSON_DEPTH {
        assert!(json_depth(&merged) <= MAX_JSON_DEPTH);
    }
    limits.check_working_memory("patch", &merged)?;
    Ok(merged)
}

/// Nesting depth as `validate` counts it (an object is 1; recursion is fine: parsed inputs are
/// at most 128 levels deep).
pub fn json_depth(map: &Metadata) -> usize {
    1 + map.values().map(json_depth_value).max().unwrap_or(0)
}

fn json_depth_value(v: &Value) -> usize {
    match v {
        Value::Object(m) => json_depth(m),
        Value::Array(items) => 1 + items.iter().map(json_depth_value).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_message(limits: &Limits, field: &str, m: NewMessage) -> Result<()> {
    let v = limits.check_new_message(field, m, now())?;
    assert!(v.tool_calls.is_empty() || v.role == engram_core::conversation::Role::Assistant);
    Ok(())
}

fn check_conversation(limits: &Limits, agent: &str, scope: &str, conversation: &str) -> Result<()> {
    if agent.is_empty() {
        return Err(Error::invalid("agent", "is required"));
    }
    limits.check_name("agent", agent)?;
    let c = ConversationRef {
        agent: AgentRef::parse(agent),
        scope: scope.to_owned(),
        conversation: conversation.to_owned(),
    };
    limits.check_conversation_ref("", &c)
}

fn check_policy(field: &str, policy: &Value) -> Result<()> {
    let p = LifecyclePolicy::default().overlay(field, policy)?;
    // The effective policy as JSON overlays to itself.
    let again = LifecyclePolicy::default().overlay(field, &Value::Object(p.to_json())).expect("own policy refused");
    assert_eq!(again, p, "a policy's JSON does not give it back");
    Ok(())
}

fn check_page_token(field: &str, token: &str) -> Result<()> {
    if !token.is_empty() {
        Cursor::decode(field, token, 0)?;
    }
    Ok(())
}

// ---- REST ----------------------------------------------------------------------------------

/// The REST routes with a JSON body, by number (`route % len`).
pub const REST_BODY_ROUTES: [&str; 10] = [
    "POST /memories",
    "POST /search",
    "POST /agents",
    "POST /sessions",
    "PUT /sessions/{id}",
    "POST /sessions/{id}/context",
    "POST /conversations/{agent}/{conversation}/messages",
    "PUT /conversations/{agent}/{conversation}/summary",
    "PUT /sessions/{id}/working-memory",
    "PATCH /sessions/{id}/working-memory",
];

/// Decodes `body` as the handler of `REST_BODY_ROUTES[route]` does and runs its conversion and
/// the operation's checks.
pub fn rest_body(route: u8, body: &[u8]) -> Result<(), Refused> {
    let limits = Limits::default();
    let route = route as usize % REST_BODY_ROUTES.len();
    // An empty body is the type's default (`Body`), anything else JSON.
    fn decode<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, RestError> {
        if body.iter().all(u8::is_ascii_whitespace) { Ok(T::default()) } else { decode_json(body) }
    }
    match route {
        0 => match crate::rest::memories::new_memories(decode::<Value>(body)?)? {
            crate::rest::memories::NewMemories::One(m) => check_memory(&limits, "memory", *m)?,
            crate::rest::memories::NewMemories::Many(ms) => check_memories(&limits, ms)?,
        },
        1 => match crate::rest::memories::search_request(decode::<SearchJson>(body)?)? {
            crate::rest::memories::SearchRequest::Ranked(r) => check_ranked(&limits, r)?,
            crate::rest::memories::SearchRequest::List(l) => check_list(&limits, l)?,
        },
        2 => {
            let a: NewAgentJson = decode(body)?;
            limits.check_name("name", &a.name)?;
            limits.check_description("description", &a.description.unwrap_or_default())?;
            limits.check_metadata("config", &a.config.unwrap_or_default())?;
        }
        3 => {
            let s: NewSessionJson = decode(body)?;
            limits.check_name("agent", &s.agent_id)?;
            limits.check_metadata("metadata", &s.metadata.unwrap_or_default())?;
        }
        4 => {
            let u: UpdateSessionJson = decode(body)?;
            if let Some(status) = &u.status {
                SessionStatus::parse("status", status)?;
            }
            match u.metadata_mode.as_deref() {
                None | Some("replace") | Some("merge") => {}
                Some(_) => return Err(Error::invalid("metadata_mode", "is not merge or replace").into()),
            }
            if let Some(m) = &u.metadata {
                limits.check_metadata("metadata", m)?;
            }
        }
        5 => {
            let options = crate::rest::sessions::context_options(decode::<ContextJson>(body)?)?;
            check_context(&limits, "", "sess_1", options)?;
        }
        6 => {
            let a: crate::rest::conversations::AppendJson = decode(body)?;
            limits.check_batch_size("messages", a.messages.len())?;
            for (i, m) in a.messages.into_iter().enumerate() {
                let m = crate::rest::conversations::new_message(i, m)?;
                check_message(&limits, &format!("messages[{i}]"), m)?;
            }
        }
        7 => {
            let s: crate::rest::conversations::SummaryBody = decode(body)?;
            if !s.text.is_empty() {
                limits.check_content("text", &s.text)?;
            }
        }
        _ => {
            let b: crate::rest::conversations::WorkingMemoryBody = decode(body)?;
            let version = crate::rest::conversations::version(&b)?;
            if route == 8 {
                let document = b.document.ok_or_else(|| Error::invalid("document", "is required"))?;
                check_working_memory(&limits, &Metadata::new(), Some(document), None, version)?;
            } else {
                let patch = b.patch.ok_or_else(|| Error::invalid("patch", "is required"))?;
                let current = serde_json::json!({"task": "t", "variables": {"a": 1, "b": [1, 2]}, "results": null});
                let Value::Object(current) = current else { unreachable!() };
                check_working_memory(&limits, &current, None, Some(patch), version)?;
            }
        }
    }
    Ok(())
}

/// The REST routes read from a query string, by number (`route % len`).
pub const REST_QUERY_ROUTES: [&str; 8] = [
    "GET /memories",
    "GET /agents/{id}/memories",
    "GET /sessions",
    "DELETE /agents/{id}",
    "GET /conversations/{agent}/{conversation}/window",
    "GET /conversations/{agent}/{conversation}/messages",
    "GET /conversations",
    "DELETE /sessions/{id}/working-memory",
];

/// Parses `query` as the handler of `REST_QUERY_ROUTES[route]` does and runs its conversion and
/// the operation's checks.
pub fn rest_query(route: u8, query: &str) -> Result<(), Refused> {
    let limits = Limits::default();
    let params = Params::parse(query)?;
    match route as usize % REST_QUERY_ROUTES.len() {
        0 => check_list(&limits, crate::rest::memories::list_request(&params, None, None, "")?)?,
        1 => check_list(&limits, crate::rest::memories::list_request(&params, Some("coder"), None, "24h")?)?,
        2 => {
            if let Some(agent) = params.text("agent_id") {
                limits.check_name("agent", agent)?;
            }
            params.text("status").map(|s| SessionStatus::parse("status", s)).transpose()?;
        }
        3 => match params.text("cascade") {
            None | Some("true" | "1" | "false" | "0") => {}
            Some(other) => return Err(Error::invalid("cascade", format!("{other:?} is not true or false")).into()),
        },
        4 => {
            let name = crate::rest::conversations::name("coder".into(), "c1".into(), &params);
            check_conversation(&limits, &name.agent, &name.scope, &name.conversation)?;
            let max_messages: u32 = params.number("max_messages")?.unwrap_or(0);
            let max_tokens: u32 = params.number("max_tokens")?.unwrap_or(0);
            limits.window_limit("max_messages", max_messages, conversation::MAX_WINDOW_MESSAGES)?;
            limits.window_limit("max_tokens", max_tokens, limits.max_context_tokens)?;
        }
        5 => {
            let name = crate::rest::conversations::name("coder".into(), "c1".into(), &params);
            check_conversation(&limits, &name.agent, &name.scope, &name.conversation)?;
            let size: u32 = params.number("limit")?.unwrap_or(0);
            match params.text("order") {
                None | Some("asc" | "desc") => {}
                Some(other) => return Err(Error::invalid("order", format!("{other:?} is not asc or desc")).into()),
            }
            limits.page_size("page_size", size)?;
            time::parse_spec("since", params.text("since").unwrap_or_default(), now())?;
            time::parse_spec("until", params.text("until").unwrap_or_default(), now())?;
            check_page_token("page_token", params.text("page_token").unwrap_or_default())?;
        }
        6 => {
            let agent = params.text("agent_id").or_else(|| params.text("agent")).unwrap_or_default();
            let size: u32 = params.number("limit")?.unwrap_or(0);
            if !agent.is_empty() {
                limits.check_name("agent", agent)?;
            }
            if let Some(scope) = params.0.get("scope").filter(|s| !s.is_empty()) {
                limits.check_id("scope", scope)?;
            }
            limits.page_size("page_size", size)?;
            check_page_token("page_token", params.text("page_token").unwrap_or_default())?;
        }
        _ => {
            let version: i64 = params.number("version")?.ok_or_else(|| Error::invalid("version", "is required"))?;
            limits.check_version("version", version)?;
        }
    }
    Ok(())
}

// ---- gRPC ----------------------------------------------------------------------------------

/// The engram.v1 request messages, by number (`kind % len`).
pub const GRPC_REQUESTS: [&str; 44] = [
    "CreateOrgRequest",
    "ListOrgsRequest",
    "CreateApiKeyRequest",
    "ListApiKeysRequest",
    "RevokeApiKeyRequest",
    "RegisterAgentRequest",
    "GetAgentRequest",
    "ListAgentsRequest",
    "DeleteAgentRequest",
    "GetAgentStatsRequest",
    "BuildContextRequest",
    "AppendMessagesRequest",
    "GetWindowRequest",
    "ListMessagesRequest",
    "ListConversationsRequest",
    "DeleteConversationRequest",
    "SetSummaryRequest",
    "ForceMaintenanceRequest",
    "GetLifecyclePolicyRequest",
    "SetLifecyclePolicyRequest",
    "ClearCacheRequest",
    "SetCacheTtlRequest",
    "AddMemoryRequest",
    "AddMemoriesRequest",
    "GetMemoryRequest",
    "ListMemoriesRequest",
    "SearchMemoriesRequest",
    "UpdateMemoryRequest",
    "DeleteMemoryRequest",
    "DeleteMemoriesRequest",
    "CreateSessionRequest",
    "GetSessionRequest",
    "ListSessionsRequest",
    "UpdateSessionRequest",
    "CloseSessionRequest",
    "GetSessionContextRequest",
    "GetMemoryStatisticsRequest",
    "RetrieveSimilarStatesRequest",
    "GetStateChangesRequest",
    "WatchMemoriesRequest",
    "GetWorkingMemoryRequest",
    "SetWorkingMemoryRequest",
    "PatchWorkingMemoryRequest",
    "ClearWorkingMemoryRequest",
];

/// Decodes `bytes` as `GRPC_REQUESTS[kind]` (as tonic does; a decode error is INVALID_ARGUMENT,
/// `grpc::framing`) and runs the adapter's conversion and the operation's checks.
pub fn grpc_request(kind: u8, bytes: &[u8]) -> Result<(), Refused> {
    grpc_checks(kind, bytes).map_err(|e| crate::grpc::status(e).into())
}

/// The adapter's list request; its Status as a domain error of the same class.
fn grpc_list_request(
    filter: Option<pb::MemoryFilter>,
    limit: u32,
    order: i32,
    page_token: String,
    offset: u32,
) -> Result<ListRequest> {
    crate::grpc::memories::list_request(filter, limit, order, page_token, offset).map_err(|s| match s.code() {
        tonic::Code::InvalidArgument => Error::invalid("request", s.message()),
        _ => Error::internal(s.message()),
    })
}

fn grpc_checks(kind: u8, bytes: &[u8]) -> Result<()> {
    let limits = Limits::default();
    let invalid = |e: prost::DecodeError| Error::invalid("request", e.to_string());
    macro_rules! decode {
        ($t:ident) => {
            pb::$t::decode(bytes).map_err(invalid)?
        };
    }
    match kind as usize % GRPC_REQUESTS.len() {
        0 => limits.check_name("name", &decode!(CreateOrgRequest).name),
        1 => {
            decode!(ListOrgsRequest);
            Ok(())
        }
        2 => {
            let pb::CreateApiKeyRequest { org_id, name, permissions, expires_at } = decode!(CreateApiKeyRequest);
            for (i, raw) in permissions.iter().enumerate() {
                convert::permission(&format!("permissions[{i}]"), *raw)?;
            }
            convert::from_timestamp("expires_at", expires_at)?;
            if !org_id.is_empty() {
                limits.check_id("org_id", &org_id)?;
            }
            limits.check_name("name", &name)
        }
        3 => {
            let org = decode!(ListApiKeysRequest).org_id;
            if org.is_empty() { Ok(()) } else { limits.check_id("org_id", &org) }
        }
        4 => limits.check_id("id", &decode!(RevokeApiKeyRequest).id),
        5 => {
            let pb::RegisterAgentRequest { name, description, config } = decode!(RegisterAgentRequest);
            let config = convert::struct_to_json("config", config)?;
            limits.check_name("name", &name)?;
            limits.check_description("description", &description)?;
            limits.check_metadata("config", &config)
        }
        6 => match decode!(GetAgentRequest).agent {
            Some(pb::get_agent_request::Agent::Id(id)) => limits.check_name("id", &id),
            Some(pb::get_agent_request::Agent::Name(name)) => limits.check_name("name", &name),
            None => Err(Error::invalid("agent", "set id or name")),
        },
        7 => limits.page_size("page_size", decode!(ListAgentsRequest).page_size).map(drop),
        8 => limits.check_name("agent", &decode!(DeleteAgentRequest).agent),
        9 => limits.check_name("agent", &decode!(GetAgentStatsRequest).agent),
        10 => {
            let pb::BuildContextRequest { agent, session_id, options } = decode!(BuildContextRequest);
            check_context(&limits, &agent, &session_id, convert::context_options(options)?)
        }
        11 => {
            let pb::AppendMessagesRequest { agent, scope, conversation, messages, .. } = decode!(AppendMessagesRequest);
            let messages = messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| crate::grpc::conversations::new_message(i, m))
                .collect::<Result<Vec<_>>>()?;
            check_conversation(&limits, &agent, &scope, &conversation)?;
            limits.check_batch_size("messages", messages.len())?;
            for (i, m) in messages.into_iter().enumerate() {
                check_message(&limits, &format!("messages[{i}]"), m)?;
            }
            Ok(())
        }
        12 => {
            let pb::GetWindowRequest { agent, scope, conversation, max_messages, max_tokens } =
                decode!(GetWindowRequest);
            check_conversation(&limits, &agent, &scope, &conversation)?;
            limits.window_limit("max_messages", max_messages, conversation::MAX_WINDOW_MESSAGES)?;
            limits.window_limit("max_tokens", max_tokens, limits.max_context_tokens).map(drop)
        }
        13 => {
            let r = decode!(ListMessagesRequest);
            check_conversation(&limits, &r.agent, &r.scope, &r.conversation)?;
            limits.page_size("page_size", r.page_size)?;
            time::parse_spec("since", &r.since, now())?;
            time::parse_spec("until", &r.until, now())?;
            check_page_token("page_token", &r.page_token)
        }
        14 => {
            let r = decode!(ListConversationsRequest);
            if !r.agent.is_empty() {
                limits.check_name("agent", &r.agent)?;
            }
            if let Some(scope) = r.scope.filter(|s| !s.is_empty()) {
                limits.check_id("scope", &scope)?;
            }
            limits.page_size("page_size", r.page_size)?;
            check_page_token("page_token", &r.page_token)
        }
        15 => {
            let r = decode!(DeleteConversationRequest);
            check_conversation(&limits, &r.agent, &r.scope, &r.conversation)
        }
        16 => {
            let r = decode!(SetSummaryRequest);
            check_conversation(&limits, &r.agent, &r.scope, &r.conversation)?;
            if r.text.is_empty() { Ok(()) } else { limits.check_content("text", &r.text) }
        }
        17 => {
            let pb::ForceMaintenanceRequest { agent_id, policy, .. } = decode!(ForceMaintenanceRequest);
            let policy = convert::struct_to_json("policy", policy)?;
            if !policy.is_empty() {
                check_policy("policy", &Value::Object(policy))?;
            }
            if agent_id.is_empty() { Ok(()) } else { limits.check_name("agent_id", &agent_id) }
        }
        18 => {
            let agent = decode!(GetLifecyclePolicyRequest).agent_id;
            if agent.is_empty() { Ok(()) } else { limits.check_name("agent_id", &agent) }
        }
        19 => {
            let pb::SetLifecyclePolicyRequest { agent_id, policy } = decode!(SetLifecyclePolicyRequest);
            let policy = convert::struct_to_json("policy", policy)?;
            limits.check_name("agent_id", &agent_id)?;
            if policy.is_empty() { Ok(()) } else { check_policy("policy", &Value::Object(policy)) }
        }
        20 => {
            decode!(ClearCacheRequest);
            Ok(())
        }
        21 => {
            decode!(SetCacheTtlRequest);
            Ok(())
        }
        22 => {
            let Some(memory) = decode!(AddMemoryRequest).memory else {
                return Err(Error::invalid("memory", "is required"));
            };
            check_memory(&limits, "memory", convert::new_memory("memory", memory)?)
        }
        23 => {
            let memories = decode!(AddMemoriesRequest)
                .memories
                .into_iter()
                .enumerate()
                .map(|(i, m)| convert::new_memory(&format!("memories[{i}]"), m))
                .collect::<Result<Vec<_>>>()?;
            check_memories(&limits, memories)
        }
        24 => limits.check_id("id", &decode!(GetMemoryRequest).id),
        25 => {
            let pb::ListMemoriesRequest { filter, limit, order, page_token, offset } = decode!(ListMemoriesRequest);
            let request = grpc_list_request(filter, limit, order, page_token, offset)?;
            check_list(&limits, request)
        }
        26 => {
            let pb::SearchMemoriesRequest { filter, limit, order, page_token, offset, query, mode, query_embedding } =
                decode!(SearchMemoriesRequest);
            if !query.is_empty() || !query_embedding.is_empty() {
                let request = RankedRequest {
                    order_given: order != 0,
                    list: grpc_list_request(filter, limit, 0, page_token, offset)?,
                    query,
                    query_embedding,
                    mode: convert::search_mode(mode)?,
                };
                check_ranked(&limits, request)
            } else if mode != 0 {
                Err(Error::invalid("mode", "applies to a search with a query; query is empty"))
            } else {
                check_list(&limits, grpc_list_request(filter, limit, order, page_token, offset)?)
            }
        }
        27 => {
            let pb::UpdateMemoryRequest { id, update_mask, importance, tags, metadata, expires_at } =
                decode!(UpdateMemoryRequest);
            limits.check_id("id", &id)?;
            for path in update_mask.map(|m| m.paths).unwrap_or_default() {
                match path.as_str() {
                    "importance" => check_importance("importance", importance)?,
                    "tags" => limits.normalize_tags("tags", &mut tags.clone())?,
                    "metadata" => {
                        limits.check_metadata("metadata", &convert::struct_to_json("metadata", metadata.clone())?)?
                    }
                    "expires_at" => {
                        convert::from_timestamp("expires_at", expires_at)?;
                    }
                    other => return Err(Error::invalid("update_mask", format!("{other:?} cannot be updated"))),
                }
            }
            Ok(())
        }
        28 => limits.check_id("id", &decode!(DeleteMemoryRequest).id),
        29 => {
            let pb::DeleteMemoriesRequest { agent, session_id, memory_types, since, until } =
                decode!(DeleteMemoriesRequest);
            convert::memory_types("memory_types", &memory_types)?;
            if !agent.is_empty() {
                limits.check_name("agent", &agent)?;
            }
            if !session_id.is_empty() {
                limits.check_id("session_id", &session_id)?;
            }
            time::parse_spec("since", &since, now())?;
            time::parse_spec("until", &until, now()).map(drop)
        }
        30 => {
            let pb::CreateSessionRequest { agent, metadata } = decode!(CreateSessionRequest);
            let metadata = convert::struct_to_json("metadata", metadata)?;
            limits.check_name("agent", &agent)?;
            limits.check_metadata("metadata", &metadata)
        }
        31 => limits.check_id("id", &decode!(GetSessionRequest).id),
        32 => {
            let pb::ListSessionsRequest { agent, status, page_size, .. } = decode!(ListSessionsRequest);
            convert::session_status("status", status)?;
            if !agent.is_empty() {
                limits.check_name("agent", &agent)?;
            }
            limits.page_size("page_size", page_size).map(drop)
        }
        33 => {
            let pb::UpdateSessionRequest { id, status, metadata, metadata_mode } = decode!(UpdateSessionRequest);
            convert::session_status("status", status)?;
            if let Some(metadata) = metadata {
                match pb::MetadataMode::try_from(metadata_mode) {
                    Ok(pb::MetadataMode::Merge | pb::MetadataMode::Replace) => {}
                    _ => return Err(Error::invalid("metadata_mode", "must be MERGE or REPLACE when metadata is set")),
                }
                limits.check_metadata("metadata", &convert::struct_to_json("metadata", Some(metadata))?)?;
            }
            limits.check_id("id", &id)
        }
        34 => limits.check_id("id", &decode!(CloseSessionRequest).id),
        35 => {
            let pb::GetSessionContextRequest { session_id, options } = decode!(GetSessionContextRequest);
            if session_id.is_empty() {
                return Err(Error::invalid("session_id", "is required"));
            }
            check_context(&limits, "", &session_id, convert::context_options(options)?)
        }
        36 => {
            decode!(GetMemoryStatisticsRequest);
            Ok(())
        }
        37 => {
            let pb::RetrieveSimilarStatesRequest { state, embedding, .. } = decode!(RetrieveSimilarStatesRequest);
            let state = state.map(|s| convert::struct_to_json("state", Some(s))).transpose()?;
            match (state, embedding.is_empty()) {
                (Some(_), false) => Err(Error::invalid("state", "give a state or an embedding, not both")),
                (None, true) => Err(Error::invalid("state", "is required (or an embedding)")),
                (None, false) => check_embedding("embedding", embedding).map(drop),
                (Some(state), true) => limits.check_metadata("state", &state),
            }
        }
        38 => {
            let r = decode!(GetStateChangesRequest);
            limits.page_size("limit", r.limit)?;
            check_page_token("page_token", &r.page_token)
        }
        39 => {
            let pb::WatchMemoriesRequest { filter, resume_token } = decode!(WatchMemoriesRequest);
            convert::filter(filter).and_then(|list| {
                check_page_token("resume_token", &resume_token)?;
                check_list(&limits, list)
            })
        }
        40 => limits.check_id("session_id", &decode!(GetWorkingMemoryRequest).session_id),
        41 => {
            let pb::SetWorkingMemoryRequest { session_id, document, version } = decode!(SetWorkingMemoryRequest);
            let document = convert::struct_to_json("document", document)?;
            limits.check_id("session_id", &session_id)?;
            check_working_memory(&limits, &Metadata::new(), Some(document), None, version).map(drop)
        }
        42 => {
            let pb::PatchWorkingMemoryRequest { session_id, patch, version } = decode!(PatchWorkingMemoryRequest);
            let patch = convert::struct_to_json("patch", patch)?;
            limits.check_id("session_id", &session_id)?;
            check_working_memory(&limits, &Metadata::new(), None, Some(patch), version).map(drop)
        }
        _ => {
            let pb::ClearWorkingMemoryRequest { session_id, version } = decode!(ClearWorkingMemoryRequest);
            limits.check_id("session_id", &session_id)?;
            limits.check_version("version", version)
        }
    }
}
