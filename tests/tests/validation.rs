//! Input validation end to end: every bad input is InvalidArgument naming the offending field,
//! nothing of a rejected request is stored, and the server survives all of it (also a request
//! above the 4 MiB message limit).

use std::future::Future;
use std::pin::Pin;

use engram_tests::{Clients, Server, filter, json_struct, memory, pb};
use prost_types::{FieldMask, Struct, Timestamp, Value, value::Kind};
use tonic::{Code, Status};

type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// One bad input: what it is, the call that sends it, and the field its error must name.
struct Case {
    name: &'static str,
    field: String,
    call: Call,
}

/// Adds a row to `$rows`: `$c` is a fresh clone of `$clients` inside `$call`.
macro_rules! row {
    ($rows:ident, $clients:ident, $name:expr, $field:expr, |$c:ident| $call:expr) => {{
        #[allow(unused_mut)]
        let mut $c = $clients.clone();
        $rows.push(Case {
            name: $name,
            field: String::from($field),
            call: Box::pin(async move { $call.await.map(|_| ()) }),
        });
    }};
}

const AGENT: &str = "val-agent";

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos })
}

fn good() -> pb::NewMemory {
    memory(AGENT, "a perfectly valid memory")
}

fn add(m: pb::NewMemory) -> pb::AddMemoryRequest {
    pb::AddMemoryRequest { memory: Some(m) }
}

fn list(f: pb::MemoryFilter) -> pb::ListMemoriesRequest {
    pb::ListMemoriesRequest { filter: Some(f), ..Default::default() }
}

fn search(f: pb::MemoryFilter) -> pb::SearchMemoriesRequest {
    pb::SearchMemoriesRequest { filter: Some(f), ..Default::default() }
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() })
}

/// A Struct with one number field (JSON cannot express NaN or infinities).
fn number_struct(key: &str, n: f64) -> Option<Struct> {
    let value = Value { kind: Some(Kind::NumberValue(n)) };
    Some(Struct { fields: [(key.to_owned(), value)].into_iter().collect() })
}

/// `{"nested": {"vals": [1, <n>]}}`.
fn nested_number_struct(n: f64) -> Option<Struct> {
    let list = prost_types::ListValue {
        values: vec![Value { kind: Some(Kind::NumberValue(1.0)) }, Value { kind: Some(Kind::NumberValue(n)) }],
    };
    let vals =
        Struct { fields: [("vals".to_owned(), Value { kind: Some(Kind::ListValue(list)) })].into_iter().collect() };
    Some(Struct {
        fields: [("nested".to_owned(), Value { kind: Some(Kind::StructValue(vals)) })].into_iter().collect(),
    })
}

/// `{"blob":"<n chars>"}` is n + 11 bytes of JSON: this n makes exactly 16 KiB.
const METADATA_BLOB_MAX: usize = 16 * 1024 - 11;

fn big_struct(bytes: usize) -> Option<Struct> {
    Some(json_struct(serde_json::json!({ "blob": "m".repeat(bytes) })))
}

fn context(max_tokens: u32, tokenizer: &str) -> Option<pb::ContextOptions> {
    Some(pb::ContextOptions { max_tokens, tokenizer: tokenizer.into(), ..Default::default() })
}

/// True if `message` names `field` as a whole path: not as part of a longer name or path
/// (so `memory.tags` does not match `memory.tags[0]`, `limit` does not match `page_limit`).
fn names_field(message: &str, field: &str) -> bool {
    let continues = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '[';
    let precedes = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    message.match_indices(field).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + field.len()..].chars().next();
        !before.is_some_and(precedes) && !after.is_some_and(continues)
    })
}

async fn all_memories(c: &mut Clients) -> Vec<pb::Memory> {
    c.memories
        .list_memories(pb::ListMemoriesRequest { limit: 1000, ..Default::default() })
        .await
        .expect("list memories")
        .into_inner()
        .memories
}

fn assert_alive(server: &mut Server) {
    let exited = server.child.try_wait().expect("try_wait");
    assert!(exited.is_none(), "the engram process exited: {exited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_invalid_argument_and_change_nothing() {
    let mut server = Server::start(&[]);
    let mut admin = server.admin().await;

    // What exists before the bad inputs: one agent, one session, one memory.
    let agent = admin
        .agents
        .register_agent(pb::RegisterAgentRequest { name: AGENT.into(), ..Default::default() })
        .await
        .expect("register agent")
        .into_inner();
    let session = admin
        .sessions
        .create_session(pb::CreateSessionRequest { agent: agent.id.clone(), metadata: None })
        .await
        .expect("create session")
        .into_inner();
    let keeper = admin
        .memories
        .add_memory(add(pb::NewMemory {
            session_id: Some(session.id.clone()),
            tags: vec!["keep".into(), "alpha".into()],
            importance: Some(0.7),
            metadata: Some(json_struct(serde_json::json!({ "k": "v", "n": 3 }))),
            ..memory(AGENT, "the memory that must survive")
        }))
        .await
        .expect("add keeper")
        .into_inner()
        .memory
        .expect("memory in response");
    let agents_before = admin.agents.list_agents(pb::ListAgentsRequest::default()).await.expect("agents").into_inner();
    let session_before = admin
        .sessions
        .get_session(pb::GetSessionRequest { id: session.id.clone() })
        .await
        .expect("get session")
        .into_inner();

    let now = now_secs();
    let sid = session.id.clone();
    let mid = keeper.id.clone();
    let c = admin.clone();
    let mut rows: Vec<Case> = Vec::new();

    // ---- AddMemory ----------------------------------------------------------------------
    row!(rows, c, "AddMemory: no memory", "memory", |c| c.memories.add_memory(pb::AddMemoryRequest { memory: None }));
    row!(rows, c, "AddMemory: empty content", "memory.content", |c| c
        .memories
        .add_memory(add(pb::NewMemory { content: String::new(), ..good() })));
    row!(rows, c, "AddMemory: blank content", "memory.content", |c| c
        .memories
        .add_memory(add(pb::NewMemory { content: " \n\t  ".into(), ..good() })));
    row!(rows, c, "AddMemory: content 64 KiB + 1", "memory.content", |c| c
        .memories
        .add_memory(add(pb::NewMemory { content: "x".repeat(64 * 1024 + 1), ..good() })));
    row!(rows, c, "AddMemory: NUL in content", "memory.content", |c| c
        .memories
        .add_memory(add(pb::NewMemory { content: "before\0after".into(), ..good() })));
    row!(rows, c, "AddMemory: 33 tags", "memory.tags", |c| c
        .memories
        .add_memory(add(pb::NewMemory { tags: (0..33).map(|i| format!("t{i}")).collect(), ..good() })));
    row!(rows, c, "AddMemory: tag of 65 chars", "memory.tags[0]", |c| c
        .memories
        .add_memory(add(pb::NewMemory { tags: vec!["t".repeat(65)], ..good() })));
    row!(rows, c, "AddMemory: tag with a space", "memory.tags[1]", |c| c
        .memories
        .add_memory(add(pb::NewMemory { tags: vec!["ok".into(), "has space".into()], ..good() })));
    row!(rows, c, "AddMemory: tag with '#'", "memory.tags[0]", |c| c
        .memories
        .add_memory(add(pb::NewMemory { tags: vec!["bad#tag".into()], ..good() })));
    row!(rows, c, "AddMemory: empty tag", "memory.tags[2]", |c| c
        .memories
        .add_memory(add(pb::NewMemory { tags: vec!["a".into(), "b".into(), String::new()], ..good() })));
    row!(rows, c, "AddMemory: importance -0.1", "memory.importance", |c| c
        .memories
        .add_memory(add(pb::NewMemory { importance: Some(-0.1), ..good() })));
    row!(rows, c, "AddMemory: importance 1.5", "memory.importance", |c| c
        .memories
        .add_memory(add(pb::NewMemory { importance: Some(1.5), ..good() })));
    row!(rows, c, "AddMemory: importance NaN", "memory.importance", |c| c
        .memories
        .add_memory(add(pb::NewMemory { importance: Some(f64::NAN), ..good() })));
    row!(rows, c, "AddMemory: event_type with a space", "memory.event_type", |c| c
        .memories
        .add_memory(add(pb::NewMemory { event_type: "tool call".into(), ..good() })));
    row!(rows, c, "AddMemory: event_type of 65 chars", "memory.event_type", |c| c
        .memories
        .add_memory(add(pb::NewMemory { event_type: "e".repeat(65), ..good() })));
    row!(rows, c, "AddMemory: metadata of 16 KiB + 1 as JSON", "memory.metadata", |c| c
        .memories
        .add_memory(add(pb::NewMemory { metadata: big_struct(METADATA_BLOB_MAX + 1), ..good() })));
    row!(rows, c, "AddMemory: NaN in metadata", "memory.metadata.score", |c| c
        .memories
        .add_memory(add(pb::NewMemory { metadata: number_struct("score", f64::NAN), ..good() })));
    row!(rows, c, "AddMemory: Infinity nested in metadata", "memory.metadata.nested.vals[1]", |c| c
        .memories
        .add_memory(add(pb::NewMemory { metadata: nested_number_struct(f64::INFINITY), ..good() })));
    row!(rows, c, "AddMemory: memory_type 99", "memory.memory_type", |c| c
        .memories
        .add_memory(add(pb::NewMemory { memory_type: 99, ..good() })));
    row!(rows, c, "AddMemory: expires_at in the past", "memory.expires_at", |c| c
        .memories
        .add_memory(add(pb::NewMemory { expires_at: ts(now - 3600, 0), ..good() })));
    row!(rows, c, "AddMemory: time nanos 1e9", "memory.time", |c| c
        .memories
        .add_memory(add(pb::NewMemory { time: ts(now, 1_000_000_000), ..good() })));
    row!(rows, c, "AddMemory: time nanos -1", "memory.time", |c| c
        .memories
        .add_memory(add(pb::NewMemory { time: ts(now, -1), ..good() })));
    row!(rows, c, "AddMemory: empty agent", "memory.agent", |c| c
        .memories
        .add_memory(add(pb::NewMemory { agent: String::new(), ..good() })));
    row!(rows, c, "AddMemory: agent name of 129 chars", "memory.agent", |c| c
        .memories
        .add_memory(add(pb::NewMemory { agent: "a".repeat(129), ..good() })));
    row!(rows, c, "AddMemory: NaN position", "memory.position", |c| c
        .memories
        .add_memory(add(pb::NewMemory { position: Some(pb::Position { x: f64::NAN, y: 1.0, z: None }), ..good() })));
    row!(rows, c, "AddMemory: session_id of 129 chars", "memory.session_id", |c| c
        .memories
        .add_memory(add(pb::NewMemory { session_id: Some("s".repeat(129)), ..good() })));
    // The proto allows [A-Za-z0-9_.:-] only.
    row!(rows, c, "AddMemory: event_type with a slash", "memory.event_type", |c| c
        .memories
        .add_memory(add(pb::NewMemory { event_type: "tool/call".into(), ..good() })));
    row!(rows, c, "AddMemory: dedup_key of 129 chars", "memory.dedup_key", |c| c
        .memories
        .add_memory(add(pb::NewMemory { dedup_key: "k".repeat(129), ..good() })));
    row!(rows, c, "AddMemory: parent_id of 129 chars", "memory.parent_id", |c| c
        .memories
        .add_memory(add(pb::NewMemory { parent_id: Some("p".repeat(129)), ..good() })));
    row!(rows, c, "AddMemory: NUL in reasoning", "memory.reasoning", |c| c
        .memories
        .add_memory(add(pb::NewMemory { reasoning: "because\0".into(), ..good() })));
    row!(rows, c, "AddMemory: time before 1970", "memory.time", |c| c
        .memories
        .add_memory(add(pb::NewMemory { time: ts(-86_400, 0), ..good() })));
    row!(rows, c, "AddMemory: time after the year 9999", "memory.time", |c| c
        .memories
        .add_memory(add(pb::NewMemory { time: ts(253_402_300_800, 0), ..good() })));
    row!(rows, c, "AddMemory: infinite z", "memory.position", |c| c.memories.add_memory(add(pb::NewMemory {
        position: Some(pb::Position { x: 1.0, y: 1.0, z: Some(f64::INFINITY) }),
        ..good()
    })));

    // ---- AddMemories --------------------------------------------------------------------
    row!(rows, c, "AddMemories: empty batch", "memories", |c| c
        .memories
        .add_memories(pb::AddMemoriesRequest { memories: vec![] }));
    row!(rows, c, "AddMemories: 1001 items", "memories", |c| c.memories.add_memories(pb::AddMemoriesRequest {
        memories: (0..1001).map(|i| memory(AGENT, &format!("batch item {i}"))).collect()
    }));
    row!(rows, c, "AddMemories: bad tag in item 2", "memories[2].tags[0]", |c| c.memories.add_memories(
        pb::AddMemoriesRequest {
            memories: (0..5)
                .map(|i| pb::NewMemory {
                    tags: if i == 2 { vec!["no space allowed".into()] } else { vec![] },
                    ..memory(AGENT, &format!("item {i}"))
                })
                .collect()
        }
    ));

    // ---- ListMemories -------------------------------------------------------------------
    for (name, spec) in [
        ("ListMemories: since \"yesterday\"", "yesterday"),
        ("ListMemories: since \"5y\"", "5y"),
        ("ListMemories: since \"-3h\"", "-3h"),
        ("ListMemories: since \"2026-13-45\"", "2026-13-45"),
    ] {
        row!(rows, c, name, "filter.since", |c| c
            .memories
            .list_memories(list(pb::MemoryFilter { since: spec.into(), ..filter() })));
    }
    row!(rows, c, "ListMemories: until \"2026-13-45\"", "filter.until", |c| c
        .memories
        .list_memories(list(pb::MemoryFilter { until: "2026-13-45".into(), ..filter() })));
    row!(rows, c, "ListMemories: since after until", "filter.since", |c| c.memories.list_memories(list(
        pb::MemoryFilter { since: "2026-02-02T00:00:00Z".into(), until: "2026-02-01T00:00:00Z".into(), ..filter() }
    )));
    row!(rows, c, "ListMemories: since overflowing", "filter.since", |c| c
        .memories
        .list_memories(list(pb::MemoryFilter { since: "99999999999999999999d".into(), ..filter() })));
    row!(rows, c, "ListMemories: since 2h after until 3h", "filter.since", |c| c
        .memories
        .list_memories(list(pb::MemoryFilter { since: "2h".into(), until: "3h".into(), ..filter() })));
    row!(rows, c, "ListMemories: step_min > step_max", "filter.step_min", |c| c
        .memories
        .list_memories(list(pb::MemoryFilter { step_min: Some(10), step_max: Some(5), ..filter() })));
    row!(rows, c, "ListMemories: limit 1001", "limit", |c| c
        .memories
        .list_memories(pb::ListMemoriesRequest { limit: 1001, ..Default::default() }));
    row!(rows, c, "ListMemories: malformed page_token", "page_token", |c| c
        .memories
        .list_memories(pb::ListMemoriesRequest { page_token: "%%%not-a-token%%%".into(), ..Default::default() }));
    row!(rows, c, "ListMemories: base64 page_token without a cursor", "page_token", |c| c
        .memories
        .list_memories(pb::ListMemoriesRequest { page_token: "aGVsbG8".into(), ..Default::default() }));
    row!(rows, c, "ListMemories: order 7", "order", |c| c
        .memories
        .list_memories(pb::ListMemoriesRequest { order: 7, ..Default::default() }));
    row!(rows, c, "ListMemories: memory_types [1, 99]", "filter.memory_types[1]", |c| c
        .memories
        .list_memories(list(pb::MemoryFilter { memory_types: vec![1, 99], ..filter() })));
    row!(rows, c, "ListMemories: bad filter tag", "filter.tags[0]", |c| c
        .memories
        .list_memories(list(pb::MemoryFilter { tags: vec!["a b".into()], ..filter() })));
    row!(rows, c, "ListMemories: min_importance 2", "filter.min_importance", |c| c
        .memories
        .list_memories(list(pb::MemoryFilter { min_importance: Some(2.0), ..filter() })));
    row!(rows, c, "ListMemories: bad event_types entry", "filter.event_types[1]", |c| c
        .memories
        .list_memories(list(pb::MemoryFilter { event_types: vec!["ok".into(), "not ok".into()], ..filter() })));
    row!(rows, c, "ListMemories: agent of 129 chars", "filter.agent", |c| c
        .memories
        .list_memories(list(pb::MemoryFilter { agent: "a".repeat(129), ..filter() })));

    // ---- SearchMemories -----------------------------------------------------------------
    row!(rows, c, "SearchMemories: limit 1001", "limit", |c| c
        .memories
        .search_memories(pb::SearchMemoriesRequest { limit: 1001, ..Default::default() }));
    row!(rows, c, "SearchMemories: malformed page_token", "page_token", |c| c
        .memories
        .search_memories(pb::SearchMemoriesRequest { page_token: "!!".into(), ..Default::default() }));
    row!(rows, c, "SearchMemories: until \"tomorrow\"", "filter.until", |c| c
        .memories
        .search_memories(search(pb::MemoryFilter { until: "tomorrow".into(), ..filter() })));
    row!(rows, c, "SearchMemories: bad any_tags entry", "filter.any_tags[0]", |c| c
        .memories
        .search_memories(search(pb::MemoryFilter { any_tags: vec!["x".repeat(65)], ..filter() })));
    row!(rows, c, "SearchMemories: NUL in content_contains", "filter.content_contains", |c| c
        .memories
        .search_memories(search(pb::MemoryFilter { content_contains: "a\0b".into(), ..filter() })));
    row!(rows, c, "SearchMemories: order 7", "order", |c| c
        .memories
        .search_memories(pb::SearchMemoriesRequest { order: 7, ..Default::default() }));

    // ---- UpdateMemory (on the stored memory: a wrong success would change it) -------------
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: no update_mask", "update_mask", |c| c
        .memories
        .update_memory(pb::UpdateMemoryRequest { id: m, update_mask: None, importance: 0.1, ..Default::default() }));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: empty update_mask", "update_mask", |c| c.memories.update_memory(
        pb::UpdateMemoryRequest { id: m, update_mask: mask(&[]), importance: 0.1, ..Default::default() }
    ));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: unknown mask path", "update_mask", |c| c
        .memories
        .update_memory(pb::UpdateMemoryRequest { id: m, update_mask: mask(&["content"]), ..Default::default() }));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: importance 1.5", "importance", |c| c.memories.update_memory(
        pb::UpdateMemoryRequest { id: m, update_mask: mask(&["importance"]), importance: 1.5, ..Default::default() }
    ));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: importance NaN", "importance", |c| c.memories.update_memory(
        pb::UpdateMemoryRequest {
            id: m,
            update_mask: mask(&["importance"]),
            importance: f64::NAN,
            ..Default::default()
        }
    ));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: bad tag", "tags[1]", |c| c.memories.update_memory(pb::UpdateMemoryRequest {
        id: m,
        update_mask: mask(&["tags"]),
        tags: vec!["fine".into(), "not fine".into()],
        ..Default::default()
    }));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: 33 tags", "tags", |c| c.memories.update_memory(pb::UpdateMemoryRequest {
        id: m,
        update_mask: mask(&["tags"]),
        tags: (0..33).map(|i| format!("t{i}")).collect(),
        ..Default::default()
    }));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: expires_at in the past", "expires_at", |c| c.memories.update_memory(
        pb::UpdateMemoryRequest {
            id: m,
            update_mask: mask(&["expires_at"]),
            expires_at: ts(now - 60, 0),
            ..Default::default()
        }
    ));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: metadata above 16 KiB", "metadata", |c| c.memories.update_memory(
        pb::UpdateMemoryRequest {
            id: m,
            update_mask: mask(&["metadata"]),
            metadata: big_struct(17 * 1024),
            ..Default::default()
        }
    ));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: Infinity in metadata", "metadata.x", |c| c.memories.update_memory(
        pb::UpdateMemoryRequest {
            id: m,
            update_mask: mask(&["metadata"]),
            metadata: number_struct("x", f64::NEG_INFINITY),
            ..Default::default()
        }
    ));
    let m = mid.clone();
    row!(rows, c, "UpdateMemory: expires_at nanos 1e9", "expires_at", |c| c.memories.update_memory(
        pb::UpdateMemoryRequest {
            id: m,
            update_mask: mask(&["expires_at"]),
            expires_at: ts(now + 3600, 1_000_000_000),
            ..Default::default()
        }
    ));
    row!(rows, c, "UpdateMemory: empty id", "id", |c| c.memories.update_memory(pb::UpdateMemoryRequest {
        id: String::new(),
        update_mask: mask(&["importance"]),
        importance: 0.2,
        ..Default::default()
    }));

    // ---- GetMemory / DeleteMemory / DeleteMemories --------------------------------------
    row!(rows, c, "GetMemory: empty id", "id", |c| c.memories.get_memory(pb::GetMemoryRequest { id: String::new() }));
    row!(rows, c, "GetMemory: id of 129 chars", "id", |c| c
        .memories
        .get_memory(pb::GetMemoryRequest { id: "m".repeat(129) }));
    row!(rows, c, "DeleteMemory: empty id", "id", |c| c
        .memories
        .delete_memory(pb::DeleteMemoryRequest { id: String::new() }));
    row!(rows, c, "DeleteMemories: neither agent nor session", "agent", |c| c
        .memories
        .delete_memories(pb::DeleteMemoriesRequest { memory_types: vec![1], ..Default::default() }));
    row!(rows, c, "DeleteMemories: since \"bogus\"", "since", |c| c.memories.delete_memories(
        pb::DeleteMemoriesRequest { agent: AGENT.into(), since: "bogus".into(), ..Default::default() }
    ));
    row!(rows, c, "DeleteMemories: until \"3x\"", "until", |c| c.memories.delete_memories(pb::DeleteMemoriesRequest {
        agent: AGENT.into(),
        until: "3x".into(),
        ..Default::default()
    }));
    row!(rows, c, "DeleteMemories: memory_types [99]", "memory_types[0]", |c| c.memories.delete_memories(
        pb::DeleteMemoriesRequest { agent: AGENT.into(), memory_types: vec![99], ..Default::default() }
    ));

    // ---- agents -------------------------------------------------------------------------
    row!(rows, c, "RegisterAgent: empty name", "name", |c| c
        .agents
        .register_agent(pb::RegisterAgentRequest { name: String::new(), ..Default::default() }));
    row!(rows, c, "RegisterAgent: blank name", "name", |c| c
        .agents
        .register_agent(pb::RegisterAgentRequest { name: "   ".into(), ..Default::default() }));
    row!(rows, c, "RegisterAgent: name of 129 chars", "name", |c| c
        .agents
        .register_agent(pb::RegisterAgentRequest { name: "n".repeat(129), ..Default::default() }));
    row!(rows, c, "RegisterAgent: name in agent id form", "name", |c| c.agents.register_agent(
        pb::RegisterAgentRequest { name: "agent_0123456789abcdef01234567".into(), ..Default::default() }
    ));
    row!(rows, c, "RegisterAgent: control character in name", "name", |c| c
        .agents
        .register_agent(pb::RegisterAgentRequest { name: "two\nlines".into(), ..Default::default() }));
    row!(rows, c, "RegisterAgent: description above 4 KiB", "description", |c| c.agents.register_agent(
        pb::RegisterAgentRequest { name: "desc-agent".into(), description: "d".repeat(4 * 1024 + 1), config: None }
    ));
    row!(rows, c, "RegisterAgent: NUL in description", "description", |c| c.agents.register_agent(
        pb::RegisterAgentRequest { name: "nul-agent".into(), description: "a\0b".into(), config: None }
    ));
    row!(rows, c, "RegisterAgent: NaN in config", "config.temperature", |c| c.agents.register_agent(
        pb::RegisterAgentRequest {
            name: "cfg-agent".into(),
            description: String::new(),
            config: number_struct("temperature", f64::NAN)
        }
    ));
    row!(rows, c, "GetAgent: neither id nor name", "agent", |c| c
        .agents
        .get_agent(pb::GetAgentRequest { agent: None }));
    row!(rows, c, "GetAgent: empty name", "name", |c| c
        .agents
        .get_agent(pb::GetAgentRequest { agent: Some(pb::get_agent_request::Agent::Name(String::new())) }));
    row!(rows, c, "ListAgents: page_size 1001", "page_size", |c| c
        .agents
        .list_agents(pb::ListAgentsRequest { page_size: 1001, page_token: String::new() }));
    row!(rows, c, "ListAgents: malformed page_token", "page_token", |c| c
        .agents
        .list_agents(pb::ListAgentsRequest { page_size: 0, page_token: "***".into() }));
    row!(rows, c, "GetAgentStats: empty agent", "agent", |c| c
        .agents
        .get_agent_stats(pb::GetAgentStatsRequest { agent: String::new() }));
    row!(rows, c, "DeleteAgent: empty agent", "agent", |c| c
        .agents
        .delete_agent(pb::DeleteAgentRequest { agent: String::new(), cascade: true }));

    // ---- sessions -----------------------------------------------------------------------
    row!(rows, c, "CreateSession: empty agent", "agent", |c| c
        .sessions
        .create_session(pb::CreateSessionRequest { agent: String::new(), metadata: None }));
    row!(rows, c, "CreateSession: metadata above 16 KiB", "metadata", |c| c
        .sessions
        .create_session(pb::CreateSessionRequest { agent: AGENT.into(), metadata: big_struct(17 * 1024) }));
    row!(rows, c, "CreateSession: NaN in metadata", "metadata.n", |c| c
        .sessions
        .create_session(pb::CreateSessionRequest { agent: AGENT.into(), metadata: number_struct("n", f64::NAN) }));
    let s = sid.clone();
    row!(rows, c, "UpdateSession: metadata without metadata_mode", "metadata_mode", |c| c.sessions.update_session(
        pb::UpdateSessionRequest {
            id: s,
            status: 0,
            metadata: Some(json_struct(serde_json::json!({ "x": 1 }))),
            metadata_mode: 0,
        }
    ));
    let s = sid.clone();
    row!(rows, c, "UpdateSession: metadata_mode 9", "metadata_mode", |c| c.sessions.update_session(
        pb::UpdateSessionRequest {
            id: s,
            status: 0,
            metadata: Some(json_struct(serde_json::json!({ "x": 1 }))),
            metadata_mode: 9,
        }
    ));
    let s = sid.clone();
    row!(rows, c, "UpdateSession: status 9", "status", |c| c.sessions.update_session(pb::UpdateSessionRequest {
        id: s,
        status: 9,
        metadata: None,
        metadata_mode: 0
    }));
    let s = sid.clone();
    row!(rows, c, "UpdateSession: metadata above 16 KiB", "metadata", |c| c.sessions.update_session(
        pb::UpdateSessionRequest { id: s, status: 0, metadata: big_struct(17 * 1024), metadata_mode: 1 }
    ));
    row!(rows, c, "GetSession: empty id", "id", |c| c
        .sessions
        .get_session(pb::GetSessionRequest { id: String::new() }));
    row!(rows, c, "CloseSession: empty id", "id", |c| c
        .sessions
        .close_session(pb::CloseSessionRequest { id: String::new() }));
    row!(rows, c, "ListSessions: page_size 1001", "page_size", |c| c
        .sessions
        .list_sessions(pb::ListSessionsRequest { page_size: 1001, ..Default::default() }));
    row!(rows, c, "ListSessions: agent of 129 chars", "agent", |c| c
        .sessions
        .list_sessions(pb::ListSessionsRequest { agent: "a".repeat(129), ..Default::default() }));
    row!(rows, c, "ListSessions: status 5", "status", |c| c
        .sessions
        .list_sessions(pb::ListSessionsRequest { status: 5, ..Default::default() }));
    row!(rows, c, "ListSessions: malformed page_token", "page_token", |c| c
        .sessions
        .list_sessions(pb::ListSessionsRequest { page_token: "not base64 at all".into(), ..Default::default() }));
    row!(rows, c, "GetSessionContext: empty session_id", "session_id", |c| c
        .sessions
        .get_session_context(pb::GetSessionContextRequest { session_id: String::new(), options: None }));
    let s = sid.clone();
    row!(rows, c, "GetSessionContext: max_tokens 200001", "options.max_tokens", |c| c
        .sessions
        .get_session_context(pb::GetSessionContextRequest { session_id: s, options: context(200_001, "") }));
    let s = sid.clone();
    row!(rows, c, "GetSessionContext: unknown tokenizer", "options.tokenizer", |c| c
        .sessions
        .get_session_context(pb::GetSessionContextRequest { session_id: s, options: context(0, "gpt2") }));
    let s = sid.clone();
    row!(rows, c, "GetSessionContext: since \"last week\"", "options.since", |c| c.sessions.get_session_context(
        pb::GetSessionContextRequest {
            session_id: s,
            options: Some(pb::ContextOptions { since: "last week".into(), ..Default::default() }),
        }
    ));

    // ---- BuildContext -------------------------------------------------------------------
    row!(rows, c, "BuildContext: neither agent nor session", "agent", |c| c
        .context
        .build_context(pb::BuildContextRequest { agent: String::new(), session_id: String::new(), options: None }));
    row!(rows, c, "BuildContext: session_id of 129 chars", "session_id", |c| c
        .context
        .build_context(pb::BuildContextRequest { agent: String::new(), session_id: "s".repeat(129), options: None }));
    row!(rows, c, "BuildContext: max_tokens 200001", "options.max_tokens", |c| c.context.build_context(
        pb::BuildContextRequest { agent: AGENT.into(), session_id: String::new(), options: context(200_001, "") }
    ));
    row!(rows, c, "BuildContext: unknown tokenizer", "options.tokenizer", |c| c.context.build_context(
        pb::BuildContextRequest { agent: AGENT.into(), session_id: String::new(), options: context(0, "p50k") }
    ));
    row!(rows, c, "BuildContext: include_types [UNSPECIFIED]", "options.include_types[0]", |c| c
        .context
        .build_context(pb::BuildContextRequest {
            agent: AGENT.into(),
            session_id: String::new(),
            options: Some(pb::ContextOptions { include_types: vec![0], ..Default::default() }),
        }));
    row!(rows, c, "BuildContext: until \"nope\"", "options.until", |c| c.context.build_context(
        pb::BuildContextRequest {
            agent: AGENT.into(),
            session_id: String::new(),
            options: Some(pb::ContextOptions { until: "nope".into(), ..Default::default() }),
        }
    ));

    // ---- AdminService -------------------------------------------------------------------
    row!(rows, c, "CreateApiKey: no permissions", "permissions", |c| c.admin.create_api_key(pb::CreateApiKeyRequest {
        org_id: String::new(),
        name: "k".into(),
        permissions: vec![],
        expires_at: None
    }));
    row!(rows, c, "CreateApiKey: PERMISSION_UNSPECIFIED", "permissions[1]", |c| c.admin.create_api_key(
        pb::CreateApiKeyRequest { org_id: String::new(), name: "k".into(), permissions: vec![1, 0], expires_at: None }
    ));
    row!(rows, c, "CreateApiKey: permission 42", "permissions[0]", |c| c.admin.create_api_key(
        pb::CreateApiKeyRequest { org_id: String::new(), name: "k".into(), permissions: vec![42], expires_at: None }
    ));
    row!(rows, c, "CreateApiKey: expires_at in the past", "expires_at", |c| c.admin.create_api_key(
        pb::CreateApiKeyRequest {
            org_id: String::new(),
            name: "k".into(),
            permissions: vec![1],
            expires_at: ts(now - 10, 0)
        }
    ));
    row!(rows, c, "CreateApiKey: empty name", "name", |c| c.admin.create_api_key(pb::CreateApiKeyRequest {
        org_id: String::new(),
        name: String::new(),
        permissions: vec![1],
        expires_at: None
    }));
    row!(rows, c, "CreateApiKey: name of 129 chars", "name", |c| c.admin.create_api_key(pb::CreateApiKeyRequest {
        org_id: String::new(),
        name: "n".repeat(129),
        permissions: vec![1],
        expires_at: None
    }));
    row!(rows, c, "CreateApiKey: org_id of 129 chars", "org_id", |c| c.admin.create_api_key(pb::CreateApiKeyRequest {
        org_id: "o".repeat(129),
        name: "k".into(),
        permissions: vec![1],
        expires_at: None
    }));
    row!(rows, c, "CreateOrg: empty name", "name", |c| c
        .admin
        .create_org(pb::CreateOrgRequest { name: String::new() }));
    row!(rows, c, "CreateOrg: name of 129 chars", "name", |c| c
        .admin
        .create_org(pb::CreateOrgRequest { name: "o".repeat(129) }));
    row!(rows, c, "RevokeApiKey: empty id", "id", |c| c
        .admin
        .revoke_api_key(pb::RevokeApiKeyRequest { id: String::new() }));

    let names: std::collections::HashSet<_> = rows.iter().map(|r| r.name).collect();
    assert_eq!(names.len(), rows.len(), "row names must be distinct");
    assert!(rows.len() >= 45, "only {} rows", rows.len());

    let mut failures = Vec::new();
    let total = rows.len();
    for Case { name, field, call } in rows {
        match call.await {
            Ok(()) => failures.push(format!("{name}: expected InvalidArgument naming {field:?}, got OK")),
            Err(status) => {
                if status.code() != Code::InvalidArgument {
                    failures.push(format!(
                        "{name}: expected InvalidArgument naming {field:?}, got {:?}: {}",
                        status.code(),
                        status.message()
                    ));
                } else if !names_field(status.message(), &field) {
                    failures.push(format!("{name}: message {:?} does not name the field {field:?}", status.message()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {total} bad inputs misbehaved:\n  {}", failures.len(), failures.join("\n  "));

    // Nothing was stored, changed or lost.
    assert_alive(&mut server);
    let stored = admin
        .memories
        .get_memory(pb::GetMemoryRequest { id: keeper.id.clone() })
        .await
        .expect("the stored memory is still there")
        .into_inner();
    assert_eq!(stored, keeper, "the stored memory changed");
    let memories = all_memories(&mut admin).await;
    assert_eq!(memories, vec![keeper.clone()], "bad inputs stored or removed memories");
    let agents_after = admin.agents.list_agents(pb::ListAgentsRequest::default()).await.expect("agents").into_inner();
    assert_eq!(agents_after.agents.len(), 1, "bad inputs registered agents: {:?}", agents_after.agents);
    assert_eq!(agents_after.agents[0].id, agents_before.agents[0].id);
    assert_eq!(agents_after.agents[0].name, agents_before.agents[0].name);
    let sessions =
        admin.sessions.list_sessions(pb::ListSessionsRequest::default()).await.expect("sessions").into_inner();
    assert_eq!(sessions.sessions, vec![session_before], "bad inputs created or changed sessions");
    let orgs = admin.admin.list_orgs(pb::ListOrgsRequest {}).await.expect("orgs").into_inner().orgs;
    assert_eq!(orgs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec!["org_default"], "bad inputs created orgs");
    let keys = admin.admin.list_api_keys(pb::ListApiKeysRequest::default()).await.expect("keys").into_inner().keys;
    assert_eq!(keys.len(), 1, "bad inputs created or changed API keys: {keys:?}");
    assert!(keys[0].revoked_at.is_none(), "the bootstrap key was revoked");

    // And it still serves writes.
    let after = admin.memories.add_memory(add(memory(AGENT, "written after the bad inputs"))).await;
    assert!(after.is_ok(), "AddMemory after the bad inputs failed: {after:?}");
    assert_eq!(all_memories(&mut admin).await.len(), 2);
    assert_alive(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_batch_item_rejects_the_whole_batch() {
    let mut server = Server::start(&[]);
    let mut admin = server.admin().await;
    let batch = |bad: &dyn Fn(&mut pb::NewMemory)| -> pb::AddMemoriesRequest {
        let mut memories: Vec<pb::NewMemory> = (0..6)
            .map(|i| pb::NewMemory { tags: vec![format!("item-{i}")], ..memory("batcher", &format!("batch item {i}")) })
            .collect();
        bad(&mut memories[3]);
        pb::AddMemoriesRequest { memories }
    };

    // Invalid at the domain level (tag), at the conversion level (enum, timestamp) and in content.
    type Spoil = Box<dyn Fn(&mut pb::NewMemory)>;
    let cases: Vec<(&str, Spoil, &str)> = vec![
        ("bad tag", Box::new(|m| m.tags = vec!["ok".into(), "bad tag".into()]), "memories[3].tags[1]"),
        ("memory_type 99", Box::new(|m| m.memory_type = 99), "memories[3].memory_type"),
        ("empty content", Box::new(|m| m.content = String::new()), "memories[3].content"),
        ("importance NaN", Box::new(|m| m.importance = Some(f64::NAN)), "memories[3].importance"),
        ("expires_at in the past", Box::new(|m| m.expires_at = ts(now_secs() - 5, 0)), "memories[3].expires_at"),
    ];
    for (name, bad, field) in &cases {
        let err = admin.memories.add_memories(batch(bad.as_ref())).await.expect_err(name);
        assert_eq!(err.code(), Code::InvalidArgument, "{name}: {err:?}");
        assert!(names_field(err.message(), field), "{name}: message {:?} does not name {field:?}", err.message());
        // Nothing of the batch was stored, not even the items before the bad one.
        let stored = all_memories(&mut admin).await;
        assert!(stored.is_empty(), "{name}: the rejected batch stored {} memories: {stored:?}", stored.len());
    }
    let agents = admin.agents.list_agents(pb::ListAgentsRequest::default()).await.expect("agents").into_inner().agents;
    assert!(agents.is_empty(), "a rejected batch registered its agent: {agents:?}");

    // The same batch, corrected, is stored whole: nothing of it was half-stored before (no duplicates).
    let ok = admin.memories.add_memories(batch(&|_| {})).await.expect("valid batch").into_inner();
    assert_eq!((ok.created, ok.duplicates), (6, 0), "{ok:?}");
    assert_eq!(all_memories(&mut admin).await.len(), 6);
    assert_alive(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_above_4_mib_is_rejected_and_the_server_stays_up() {
    let mut server = Server::start(&[]);
    let mut admin = server.admin().await;
    admin.memories.add_memory(add(memory("big", "small and fine"))).await.expect("add");

    // One memory with 5 MiB of content.
    let huge = admin.memories.add_memory(add(memory("big", &"z".repeat(5 << 20)))).await;
    let err = huge.expect_err("a 5 MiB request must be rejected");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_alive(&mut server);

    // A batch of valid items (60 KiB each) adding up to ~4.7 MiB: rejected as a whole too.
    let memories = (0..80).map(|i| memory("big", &format!("{i} {}", "y".repeat(60 * 1024)))).collect();
    let err = admin
        .memories
        .add_memories(pb::AddMemoriesRequest { memories })
        .await
        .expect_err("a 4.7 MiB batch must be rejected");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_alive(&mut server);

    // Still serving, on the same and on a new connection, and nothing of the above was stored.
    let stored = all_memories(&mut admin).await;
    assert_eq!(stored.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), vec!["small and fine"]);
    let mut fresh = server.admin().await;
    assert_eq!(all_memories(&mut fresh).await.len(), 1);
    // Just below the limit is fine: 60 memories of 60 KiB (~3.5 MiB).
    let memories = (0..60).map(|i| memory("big", &format!("{i} {}", "w".repeat(60 * 1024)))).collect();
    let ok = fresh.memories.add_memories(pb::AddMemoriesRequest { memories }).await.expect("3.5 MiB batch");
    assert_eq!(ok.into_inner().created, 60);
    assert_alive(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_inclusive() {
    let mut server = Server::start(&[]);
    let mut admin = server.admin().await;
    let name = "n".repeat(128);
    let at_limits = pb::NewMemory {
        content: "c".repeat(64 * 1024),
        tags: (0..32).map(|i| format!("{i:02}{}", "t".repeat(62))).collect(),
        event_type: "e".repeat(64),
        importance: Some(1.0),
        metadata: big_struct(METADATA_BLOB_MAX),
        expires_at: ts(now_secs() + 3600, 999_999_999),
        time: ts(0, 0),
        ..memory(&name, "x")
    };
    let stored = admin.memories.add_memory(add(at_limits.clone())).await.expect("a memory exactly at every limit");
    let stored = stored.into_inner().memory.expect("memory");
    assert_eq!(stored.content.len(), 64 * 1024);
    assert_eq!(stored.tags.len(), 32);
    assert_eq!(stored.importance, 1.0);
    let zero = pb::NewMemory { importance: Some(0.0), ..memory(&name, "importance zero") };
    let zero = admin.memories.add_memory(add(zero)).await.expect("importance 0").into_inner().memory.expect("memory");
    assert_eq!(zero.importance, 0.0);

    let page = admin
        .memories
        .list_memories(pb::ListMemoriesRequest {
            limit: 1000,
            filter: Some(pb::MemoryFilter {
                step_min: Some(0),
                step_max: Some(0),
                since: "2026-01-01T00:00:00Z".into(),
                until: "2026-01-01T00:00:00Z".into(),
                ..filter()
            }),
            ..Default::default()
        })
        .await;
    assert!(page.is_ok(), "limit 1000, step_min == step_max, since == until: {page:?}");
    let listed = all_memories(&mut admin).await;
    assert_eq!(listed.len(), 2);
    for (tokens, tokenizer) in [(200_000, "o200k_base"), (1, "cl100k_base")] {
        let ctx = admin
            .context
            .build_context(pb::BuildContextRequest {
                agent: name.clone(),
                session_id: String::new(),
                options: Some(pb::ContextOptions {
                    since: "1w".into(),
                    ..context(tokens, tokenizer).expect("options")
                }),
            })
            .await;
        let ctx = ctx.unwrap_or_else(|e| panic!("max_tokens {tokens} with {tokenizer}: {e:?}")).into_inner();
        assert!(ctx.token_count <= tokens, "{} tokens above the budget {tokens}", ctx.token_count);
        assert_eq!(ctx.tokenizer, tokenizer);
    }
    let agents = admin
        .agents
        .list_agents(pb::ListAgentsRequest { page_size: 1000, page_token: String::new() })
        .await
        .expect("page_size 1000")
        .into_inner();
    assert_eq!(agents.agents.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), vec![name.as_str()]);
    assert_alive(&mut server);
}

/// A minimal HTTP/1.1 exchange with the REST surface (one request, `Connection: close`): the
/// status code and the body.
async fn rest(server: &Server, method: &str, path: &str, body: Option<&serde_json::Value>) -> (u16, String) {
    rest_text(server, method, path, &body.map(|b| b.to_string()).unwrap_or_default()).await
}

/// [`rest`] with the body's text as given (numbers exactly as written, not as this test's
/// serde_json would write them).
async fn rest_text(server: &Server, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nx-api-key: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.admin_key,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// `{"l": {"l": … {"l": "leaf"}}}`: `depth` objects.
fn nested_json(depth: usize) -> serde_json::Value {
    let mut value = serde_json::json!("leaf");
    for _ in 0..depth {
        value = serde_json::json!({ "l": value });
    }
    value
}

/// Objects from the top of a Struct down to its deepest object.
fn struct_depth(s: &Struct) -> usize {
    1 + s
        .fields
        .values()
        .map(|v| match &v.kind {
            Some(Kind::StructValue(inner)) => struct_depth(inner),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// One nesting limit (24 levels) on both surfaces: the deepest allowed metadata written over REST
/// reads back over gRPC (prost decodes it inside ListMemoriesResponse and SearchMemoriesResponse),
/// the deepest written over gRPC reads back over REST, one level more is InvalidArgument / 400
/// naming `metadata` on both, and the server stays up with its data intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_nesting_limit_is_the_same_on_grpc_and_rest() {
    let mut server = Server::start(&[]);
    let mut admin = server.admin().await;
    const DEEPEST: usize = 24;

    let (status, body) = rest(
        &server,
        "POST",
        "/api/v1/memories",
        Some(&serde_json::json!({"agent_id": "deep-rest", "content": "deep over REST", "metadata": nested_json(DEEPEST)})),
    )
    .await;
    assert!(status == 200 || status == 201, "REST write of depth {DEEPEST}: {status} {body}");
    let by_rest = admin
        .memories
        .list_memories(list(pb::MemoryFilter { agent: "deep-rest".into(), ..filter() }))
        .await
        .expect("gRPC list of a REST-written memory of the deepest metadata")
        .into_inner()
        .memories;
    assert_eq!(by_rest.len(), 1);
    assert_eq!(struct_depth(by_rest[0].metadata.as_ref().expect("metadata")), DEEPEST);
    admin
        .memories
        .search_memories(search(pb::MemoryFilter { agent: "deep-rest".into(), ..filter() }))
        .await
        .expect("gRPC search of the deepest metadata");

    // Written over gRPC with AddMemories, whose answer is the deepest that carries metadata
    // (AddMemoriesResponse > AddMemoryResult > Memory > Struct): prost decodes it.
    let deep_grpc = pb::NewMemory { metadata: Some(json_struct(nested_json(DEEPEST))), ..memory("deep-grpc", "deep") };
    let written = admin
        .memories
        .add_memories(pb::AddMemoriesRequest { memories: vec![deep_grpc] })
        .await
        .expect("gRPC write of the deepest metadata, and its answer decoded")
        .into_inner();
    let echoed =
        written.results[0].memory.as_ref().and_then(|m| m.metadata.as_ref()).expect("the memory in the answer");
    assert_eq!(struct_depth(echoed), DEEPEST);
    let (status, body) = rest(&server, "GET", "/api/v1/memories?agent_id=deep-grpc&limit=10", None).await;
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).expect("REST list JSON");
    assert_eq!(listed["memories"][0]["metadata"], nested_json(DEEPEST), "{body}");

    let too_deep =
        pb::NewMemory { metadata: Some(json_struct(nested_json(DEEPEST + 1))), ..memory("deep-grpc", "deeper") };
    let err = admin.memories.add_memory(add(too_deep)).await.expect_err("one level too deep over gRPC");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(names_field(err.message(), "memory.metadata") && err.message().contains("at most 24"), "{err:?}");
    let (status, body) = rest(
        &server,
        "POST",
        "/api/v1/memories",
        Some(&serde_json::json!({"agent_id": "deep-rest", "content": "deeper", "metadata": nested_json(DEEPEST + 1)})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("metadata") && body.contains("at most 24"), "{body}");
    let (status, body) = rest(
        &server,
        "POST",
        "/api/v1/agents",
        Some(&serde_json::json!({"name": "deep-config", "config": nested_json(DEEPEST + 1)})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("config"), "{body}");

    assert_alive(&mut server);
    assert_eq!(all_memories(&mut admin).await.len(), 2, "exactly the two allowed memories are stored");
}

/// Numbers in metadata and working memory read back as the nearest f64 to what was written, on
/// the write's answer, on REST and gRPC reads, and after a restart. fuzz/merge_patch found that a
/// 62-digit integer (1e61) was parsed one ulp off (serde_json without `float_roundtrip`) and
/// stored as 1.0000000000000001e61, which reads back as 1e61: a stored value that changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_read_back_exactly_as_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start_in(dir.path(), &[]);
    let long = format!("1{}", "0".repeat(61));
    let numbers = [long.as_str(), "0.1", "3.141592653589793", "5e-324", "1.7976931348623157e308", "2.5e-8"];
    let want: Vec<f64> = numbers.iter().map(|n| n.parse().expect("a float")).collect();
    let fields = numbers.iter().enumerate().map(|(i, n)| format!("\"n{i}\": {n}")).collect::<Vec<_>>().join(", ");
    let exact = |doc: &serde_json::Value, what: &str| {
        for (i, want) in want.iter().enumerate() {
            let got = doc[format!("n{i}")].as_f64();
            assert_eq!(
                got.map(f64::to_bits),
                Some(want.to_bits()),
                "{what}: n{i} = {} read back as {got:?}",
                numbers[i]
            );
        }
    };

    let (status, body) = rest_text(
        &server,
        "POST",
        "/api/v1/memories",
        &format!("{{\"agent_id\": \"numbers\", \"content\": \"long numbers\", \"metadata\": {{{fields}}}}}"),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let written: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
    exact(&written["metadata"], "the write's answer");
    let id = written["id"].as_str().expect("an id").to_owned();

    let (status, body) = rest_text(&server, "POST", "/api/v1/sessions", r#"{"agent_id": "numbers"}"#).await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let session: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
    let session = session["id"].as_str().expect("a session id").to_owned();
    let working = format!("/api/v1/sessions/{session}/working-memory");
    let (status, body) =
        rest_text(&server, "PATCH", &working, &format!("{{\"patch\": {{{fields}}}, \"version\": 0}}")).await;
    assert_eq!(status, 200, "{body}");
    let patched: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
    exact(&patched["document"], "the patch's answer");

    for round in ["before a restart", "after a restart"] {
        let (status, body) = rest_text(&server, "GET", &format!("/api/v1/memories/{id}"), "").await;
        assert_eq!(status, 200, "{body}");
        exact(&serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["metadata"], round);
        let (status, body) = rest_text(&server, "GET", &working, "").await;
        assert_eq!(status, 200, "{body}");
        exact(&serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["document"], round);
        // gRPC carries numbers as doubles in a Struct: the same f64s.
        let mut admin = server.admin().await;
        let got =
            admin.memories.get_memory(pb::GetMemoryRequest { id: id.clone() }).await.expect("GetMemory").into_inner();
        let metadata = got.metadata.expect("metadata");
        for (i, want) in want.iter().enumerate() {
            let got = match metadata.fields.get(&format!("n{i}")).and_then(|v| v.kind.as_ref()) {
                Some(Kind::NumberValue(x)) => Some(x.to_bits()),
                _ => None,
            };
            assert_eq!(got, Some(want.to_bits()), "gRPC {round}: n{i} = {}", numbers[i]);
        }
        if round == "before a restart" {
            server.kill9();
            server = Server::start_in(dir.path(), &[]);
        }
    }
}

/// One gRPC call with a hand-made body over HTTP/2: the HTTP status, and the grpc-status and
/// grpc-message (from the headers of a trailers-only answer, else from the trailers).
async fn raw_grpc(server: &Server, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Option<Status>) {
    use http_body_util::BodyExt;
    use tonic::codegen::{Bytes, Service, http};
    let mut channel = server.channel().await;
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{}{path}", server.url()))
        .header("content-type", content_type)
        .header("te", "trailers")
        .header("x-api-key", server.admin_key.as_str())
        .body(tonic::body::Body::new(http_body_util::Full::new(Bytes::from(body))))
        .expect("request");
    std::future::poll_fn(|cx| channel.poll_ready(cx)).await.expect("channel ready");
    let response = channel.call(request).await.expect("an HTTP answer");
    let code = response.status().as_u16();
    if let Some(status) = Status::from_header_map(response.headers()) {
        return (code, Some(status));
    }
    let collected = response.into_body().collect().await.expect("body");
    (code, collected.trailers().and_then(Status::from_header_map))
}

/// A gRPC frame: the compressed-flag byte, the big-endian length, the message.
fn frame(flag: u8, length: u32, message: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Requests that are not a decodable message of their method, sent as a hostile client would:
/// every one is the client's fault (INVALID_ARGUMENT, RESOURCE_EXHAUSTED for the size, HTTP 415 for
/// a request that is not gRPC), never INTERNAL; the process stays up and nothing stored changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_requests_are_the_clients_fault() {
    use prost::Message;
    let mut server = Server::start(&[]);
    let mut admin = server.admin().await;
    admin.memories.add_memory(add(memory("raw", "stored before the bad frames"))).await.expect("add");
    let before = all_memories(&mut admin).await;

    let add_path = "/engram.v1.MemoryService/AddMemory";
    let valid = add(memory("raw", "a valid memory")).encode_to_vec();
    let truncated = &valid[..valid.len() - 3];
    // AddMemoryRequest { memory: NewMemory { agent: "\xff" } }: invalid UTF-8 in a string field.
    let bad_utf8 = [0x0a, 0x03, 0x0a, 0x01, 0xff];
    let too_deep = add(pb::NewMemory { metadata: Some(json_struct(nested_json(60))), ..memory("raw", "deep") });
    let too_deep = too_deep.encode_to_vec();
    let cases: Vec<(&str, Vec<u8>, Code, &str)> = vec![
        ("truncated protobuf", frame(0, truncated.len() as u32, truncated), Code::InvalidArgument, "does not decode"),
        ("bad wire type", frame(0, 3, &[0x0f, 0xff, 0xff]), Code::InvalidArgument, "does not decode"),
        ("invalid UTF-8 in a string", frame(0, 5, &bad_utf8), Code::InvalidArgument, "does not decode"),
        ("Struct nested 60 deep", frame(0, too_deep.len() as u32, &too_deep), Code::InvalidArgument, "does not decode"),
        ("length prefix past the end", frame(0, 100, &valid[..10]), Code::InvalidArgument, "length prefix"),
        ("empty body", Vec::new(), Code::InvalidArgument, "no message"),
        ("compressed-flag 5", frame(5, valid.len() as u32, &valid), Code::InvalidArgument, "malformed gRPC frame"),
        (
            "compressed-flag without grpc-encoding",
            frame(1, valid.len() as u32, &valid),
            Code::InvalidArgument,
            "malformed gRPC frame",
        ),
        ("length over the limit", frame(0, 5 << 20, &valid), Code::ResourceExhausted, "too large"),
    ];
    for (name, body, code, words) in cases {
        let (http, status) = raw_grpc(&server, add_path, "application/grpc", body).await;
        let status = status.unwrap_or_else(|| panic!("{name}: no grpc-status (HTTP {http})"));
        assert_eq!(status.code(), code, "{name}: {status:?}");
        assert!(status.message().contains(words), "{name}: {status:?}");
        assert_alive(&mut server);
    }

    // Not gRPC at all: HTTP 415, over HTTP/2 (a JSON body) and over HTTP/1.1 (a GET).
    let (http, _) = raw_grpc(&server, add_path, "application/json", b"{\"memory\": {}}".to_vec()).await;
    assert_eq!(http, 415, "a JSON body on a gRPC path");
    let (http, body) = rest(&server, "GET", add_path, None).await;
    assert_eq!(http, 415, "an HTTP/1.1 GET on a gRPC path: {body}");
    assert!(body.contains("application/grpc"), "{body}");

    assert_alive(&mut server);
    assert_eq!(all_memories(&mut admin).await, before, "nothing stored changed");
}

/// The lenient spots, decided: a page token continues only the query it was made for; `offset`
/// has a ceiling; empty optional ids mean unset on both surfaces; a REST body must say it is JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_tokens_offsets_empty_ids_and_content_types() {
    let mut server = Server::start(&[]);
    let mut admin = server.admin().await;
    for i in 0..3 {
        admin.memories.add_memory(add(memory("pager", &format!("memory {i}")))).await.expect("add");
    }
    let of_pager = || pb::MemoryFilter { agent: "pager".into(), ..filter() };
    let first = admin
        .memories
        .list_memories(pb::ListMemoriesRequest { limit: 1, ..list(of_pager()) })
        .await
        .expect("first page")
        .into_inner();
    let token = first.next_page_token.clone();
    assert!(!token.is_empty());
    // The same query continues (ListMemories and SearchMemories are one query); another filter or
    // another order refuses the token.
    let second = admin
        .memories
        .list_memories(pb::ListMemoriesRequest { limit: 1, page_token: token.clone(), ..list(of_pager()) })
        .await
        .expect("second page with the same query")
        .into_inner();
    assert_ne!(second.memories[0].id, first.memories[0].id);
    let other_filter = pb::MemoryFilter { event_types: vec!["note".into()], ..of_pager() };
    let other_order = pb::ListMemoriesRequest { page_token: token.clone(), order: 2, ..list(of_pager()) };
    let refused: Vec<Result<(), Status>> = vec![
        admin
            .memories
            .list_memories(pb::ListMemoriesRequest { page_token: token.clone(), ..list(other_filter) })
            .await
            .map(|_| ()),
        admin.memories.list_memories(other_order).await.map(|_| ()),
    ];
    for result in refused {
        let err = result.expect_err("a token of another query");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(names_field(err.message(), "page_token") && err.message().contains("another query"), "{err:?}");
    }

    // offset: up to 10,000.
    admin
        .memories
        .list_memories(pb::ListMemoriesRequest { offset: 10_000, ..list(of_pager()) })
        .await
        .expect("offset 10,000");
    let err = admin
        .memories
        .list_memories(pb::ListMemoriesRequest { offset: 10_001, ..list(of_pager()) })
        .await
        .expect_err("offset 10,001");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(names_field(err.message(), "offset"), "{err:?}");
    let (status, body) = rest(&server, "GET", "/api/v1/memories?agent_id=pager&offset=4000000000", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("offset"), "{body}");

    // Empty optional ids are unset: no session, no parent, a derived dedup key; on both surfaces.
    let blank = pb::NewMemory {
        session_id: Some(String::new()),
        parent_id: Some(String::new()),
        ..memory("blank-ids", "empty ids over gRPC")
    };
    let created =
        admin.memories.add_memory(add(blank)).await.expect("empty optional ids").into_inner().memory.expect("memory");
    assert_eq!(created.session_id, None);
    assert_eq!(created.parent_id, None);
    let (status, body) = rest(
        &server,
        "POST",
        "/api/v1/memories",
        Some(&serde_json::json!({"agent_id": "blank-ids", "content": "empty ids over REST", "session_id": "", "parent_id": ""})),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let stored: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(stored["session_id"].is_null() && stored["parent_id"].is_null(), "{body}");

    // A REST body must be sent as JSON.
    for content_type in ["text/plain", ""] {
        let addr = server.url().trim_start_matches("http://").to_owned();
        let body = r#"{"agent_id": "typed", "content": "not declared as JSON"}"#;
        let header = if content_type.is_empty() { String::new() } else { format!("Content-Type: {content_type}\r\n") };
        let request = format!(
            "POST /api/v1/memories HTTP/1.1\r\nHost: {addr}\r\nx-api-key: {}\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            server.admin_key,
            body.len()
        );
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        assert!(response.starts_with("HTTP/1.1 415"), "content type {content_type:?}: {response}");
        assert!(response.contains("content-type"), "{response}");
    }
    assert_alive(&mut server);
    let typed = admin
        .memories
        .list_memories(list(pb::MemoryFilter { agent: "typed".into(), ..filter() }))
        .await
        .expect("list")
        .into_inner();
    assert!(typed.memories.is_empty(), "nothing was stored from the refused bodies");

    // Tokens of agents and sessions are bound to their listing and filter too.
    let agents = admin
        .agents
        .list_agents(pb::ListAgentsRequest { page_size: 1, page_token: String::new() })
        .await
        .expect("agents page")
        .into_inner();
    assert!(!agents.next_page_token.is_empty());
    admin
        .agents
        .list_agents(pb::ListAgentsRequest { page_size: 1, page_token: agents.next_page_token.clone() })
        .await
        .expect("the next agents page");
    for agent in ["", "pager"] {
        let err = admin
            .sessions
            .list_sessions(pb::ListSessionsRequest {
                agent: agent.into(),
                page_token: agents.next_page_token.clone(),
                ..Default::default()
            })
            .await
            .expect_err("an agents token on sessions");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(names_field(err.message(), "page_token"), "{err:?}");
    }
}
