//! Tenant isolation: org B, holding every id of org A, can neither read, change nor delete any of
//! A's agents, sessions or memories, nor attach its own data to them; names are per org.

use std::fmt::Debug;

use engram_tests::{Clients, Server, json_struct, memory, org_with_key, pb};
use prost_types::FieldMask;
use tonic::{Code, Response, Status};

use pb::Permission::{Read, Write};
use pb::get_agent_request::Agent as AgentKey;

const SHARED_NAME: &str = "shared-agent";
const A_ONLY_NAME: &str = "a-private-agent";

fn add(m: pb::NewMemory) -> pb::AddMemoryRequest {
    pb::AddMemoryRequest { memory: Some(m) }
}

fn list_all() -> pb::ListMemoriesRequest {
    pb::ListMemoriesRequest { limit: 1000, ..Default::default() }
}

fn by_filter(filter: pb::MemoryFilter) -> pb::ListMemoriesRequest {
    pb::ListMemoriesRequest { filter: Some(filter), limit: 1000, ..Default::default() }
}

/// Everything of A that B must never see.
struct Secrets(Vec<String>);

impl Secrets {
    /// The secrets in `text` that the request did not contain itself (an error may echo the id
    /// it was asked about, nothing else).
    fn leaked(&self, text: &str, request: &str) -> Vec<&str> {
        self.0.iter().map(String::as_str).filter(|s| text.contains(s) && !request.contains(s)).collect()
    }

    /// `result` is NotFound, and its message leaks nothing.
    #[track_caller]
    fn not_found<T: Debug>(&self, what: &str, request: &impl Debug, result: Result<Response<T>, Status>) {
        let request = format!("{request:?}");
        match result {
            Ok(response) => panic!("{what}: expected NotFound, got OK: {:?}", response.into_inner()),
            Err(status) => {
                assert_eq!(status.code(), Code::NotFound, "{what}: expected NotFound, got {status:?}");
                let leaked = self.leaked(status.message(), &request);
                assert!(leaked.is_empty(), "{what}: the error leaks {leaked:?}: {status:?}");
            }
        }
    }

    /// `result` is NotFound or an OK response for which `empty` holds; either leaks nothing.
    #[track_caller]
    fn not_found_or_empty<T: Debug>(
        &self,
        what: &str,
        request: &impl Debug,
        result: Result<Response<T>, Status>,
        empty: impl Fn(&T) -> bool,
    ) {
        let request = format!("{request:?}");
        match result {
            Ok(response) => {
                let response = response.into_inner();
                assert!(empty(&response), "{what}: expected nothing, got {response:?}");
                let leaked = self.leaked(&format!("{response:?}"), &request);
                assert!(leaked.is_empty(), "{what}: the response leaks {leaked:?}: {response:?}");
            }
            Err(status) => {
                assert_eq!(status.code(), Code::NotFound, "{what}: expected NotFound or nothing, got {status:?}");
                let leaked = self.leaked(status.message(), &request);
                assert!(leaked.is_empty(), "{what}: the error leaks {leaked:?}: {status:?}");
            }
        }
    }

    /// An OK response that leaks nothing (also nothing the request named).
    #[track_caller]
    fn clean_ok<T: Debug>(&self, what: &str, result: Result<Response<T>, Status>) -> T {
        let response = result.unwrap_or_else(|s| panic!("{what}: expected OK, got {s:?}")).into_inner();
        let leaked = self.leaked(&format!("{response:?}"), "");
        assert!(leaked.is_empty(), "{what}: the response leaks {leaked:?}: {response:?}");
        response
    }
}

/// What org A holds, as A sees it.
#[derive(Debug, PartialEq)]
struct Snapshot {
    memories: Vec<pb::Memory>,
    agents: Vec<pb::Agent>,
    sessions: Vec<pb::Session>,
    stats: pb::AgentStats,
}

async fn snapshot(a: &mut Clients, agent_id: &str) -> Snapshot {
    let memories = a.memories.list_memories(list_all()).await.expect("A: list memories").into_inner().memories;
    let agents = a.agents.list_agents(pb::ListAgentsRequest::default()).await.expect("A: agents").into_inner().agents;
    let sessions =
        a.sessions.list_sessions(pb::ListSessionsRequest::default()).await.expect("A: sessions").into_inner().sessions;
    let stats = a
        .agents
        .get_agent_stats(pb::GetAgentStatsRequest { agent: agent_id.into() })
        .await
        .expect("A: stats")
        .into_inner();
    Snapshot { memories, agents, sessions, stats }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated() {
    let server = Server::start(&[]);
    let mut root = server.admin().await;
    let (org_a, key_a) = org_with_key(&mut root, "tenant-a", &[Read, Write]).await;
    let (org_b, key_b) = org_with_key(&mut root, "tenant-b", &[Read, Write]).await;
    assert_ne!(org_a, org_b);
    let mut a = server.clients(Some(&key_a)).await;
    let mut b = server.clients(Some(&key_b)).await;

    // ---- org A's data ---------------------------------------------------------------------
    let a_agent = a
        .agents
        .register_agent(pb::RegisterAgentRequest {
            name: SHARED_NAME.into(),
            description: "A's confidential description".into(),
            config: Some(json_struct(serde_json::json!({ "model": "a-secret-model" }))),
        })
        .await
        .expect("A: register")
        .into_inner();
    assert_eq!(a_agent.org_id, org_a);
    let a_private = a
        .agents
        .register_agent(pb::RegisterAgentRequest { name: A_ONLY_NAME.into(), ..Default::default() })
        .await
        .expect("A: register private")
        .into_inner();
    let a_session = a
        .sessions
        .create_session(pb::CreateSessionRequest {
            agent: a_agent.id.clone(),
            metadata: Some(json_struct(serde_json::json!({ "ticket": "a-session-secret" }))),
        })
        .await
        .expect("A: session")
        .into_inner();
    let mut a_memories = Vec::new();
    for i in 0..4 {
        let m = pb::NewMemory {
            session_id: (i % 2 == 0).then(|| a_session.id.clone()),
            tags: if i < 3 { vec!["alpha".into(), "a-secret-tag".into()] } else { vec![] },
            event_type: if i == 3 { "error".into() } else { String::new() },
            metadata: Some(json_struct(serde_json::json!({ "detail": format!("a-secret-detail-{i}") }))),
            ..memory(&a_agent.id, &format!("A secret content number {i}"))
        };
        a_memories.push(a.memories.add_memory(add(m)).await.expect("A: add").into_inner().memory.expect("memory"));
    }
    let decision = pb::NewMemory {
        memory_type: pb::MemoryType::Decision as i32,
        reasoning: "A secret reasoning".into(),
        parent_id: Some(a_memories[0].id.clone()),
        ..memory(A_ONLY_NAME, "A secret decision")
    };
    a_memories.push(a.memories.add_memory(add(decision)).await.expect("A: decision").into_inner().memory.expect("m"));
    let a_mem = a_memories[0].id.clone();
    let a_sid = a_session.id.clone();
    let a_aid = a_agent.id.clone();
    let a_page_token = a
        .memories
        .list_memories(pb::ListMemoriesRequest { limit: 1, ..Default::default() })
        .await
        .expect("A: first page")
        .into_inner()
        .next_page_token;
    assert!(!a_page_token.is_empty(), "A has more than one memory, so a next_page_token");
    let before = snapshot(&mut a, &a_aid).await;
    assert_eq!(before.memories.len(), 5);
    assert_eq!(before.stats.memory_count, 4);

    let mut secrets = vec![
        org_a.clone(),
        a_aid.clone(),
        a_private.id.clone(),
        a_sid.clone(),
        A_ONLY_NAME.to_owned(),
        "A's confidential description".into(),
        "a-secret-model".into(),
        "a-session-secret".into(),
        "a-secret-tag".into(),
        "A secret".into(),
        "a-secret-detail".into(),
        key_a.clone(),
    ];
    secrets.extend(a_memories.iter().map(|m| m.id.clone()));
    secrets.extend(a_memories.iter().map(|m| m.dedup_key.clone()));
    let s = Secrets(secrets);

    // ---- B, with A's ids and names --------------------------------------------------------
    let req = pb::GetMemoryRequest { id: a_mem.clone() };
    s.not_found("GetMemory", &req, b.memories.get_memory(req.clone()).await);
    for (what, key) in [
        ("GetAgent by id", AgentKey::Id(a_aid.clone())),
        ("GetAgent by name", AgentKey::Name(SHARED_NAME.into())),
        ("GetAgent by A-only name", AgentKey::Name(A_ONLY_NAME.into())),
    ] {
        let req = pb::GetAgentRequest { agent: Some(key) };
        s.not_found(what, &req, b.agents.get_agent(req.clone()).await);
    }
    for agent in [&a_aid, &a_private.id, &SHARED_NAME.to_owned()] {
        let req = pb::GetAgentStatsRequest { agent: agent.clone() };
        s.not_found("GetAgentStats", &req, b.agents.get_agent_stats(req.clone()).await);
    }
    let req = pb::GetSessionRequest { id: a_sid.clone() };
    s.not_found("GetSession", &req, b.sessions.get_session(req.clone()).await);

    let no_memories = |r: &pb::ListMemoriesResponse| r.memories.is_empty() && !r.has_more;
    let no_results = |r: &pb::SearchMemoriesResponse| r.results.is_empty() && !r.has_more;
    for (what, filter) in [
        ("ListMemories agent = A's id", pb::MemoryFilter { agent: a_aid.clone(), ..Default::default() }),
        ("ListMemories agent = A's name", pb::MemoryFilter { agent: SHARED_NAME.into(), ..Default::default() }),
        ("ListMemories session = A's", pb::MemoryFilter { session_id: a_sid.clone(), ..Default::default() }),
        ("ListMemories tag of A", pb::MemoryFilter { tags: vec!["a-secret-tag".into()], ..Default::default() }),
        (
            "ListMemories A's words",
            pb::MemoryFilter { content_contains: "secret content".into(), ..Default::default() },
        ),
    ] {
        let req = by_filter(filter.clone());
        s.not_found_or_empty(what, &req, b.memories.list_memories(req.clone()).await, no_memories);
        let req = pb::SearchMemoriesRequest { filter: Some(filter), limit: 1000, ..Default::default() };
        s.not_found_or_empty(
            &format!("Search: {what}"),
            &req,
            b.memories.search_memories(req.clone()).await,
            no_results,
        );
    }
    let all = s.clean_ok("B: ListMemories", b.memories.list_memories(list_all()).await);
    assert!(all.memories.is_empty(), "B sees memories: {all:?}");
    let req = pb::SearchMemoriesRequest { limit: 1000, ..Default::default() };
    let found = s.clean_ok("B: SearchMemories", b.memories.search_memories(req).await);
    assert!(found.results.is_empty(), "B finds memories: {found:?}");
    // A page token of A's listing does not open A's data either.
    let req = pb::ListMemoriesRequest { limit: 1000, page_token: a_page_token.clone(), ..Default::default() };
    match b.memories.list_memories(req).await {
        Ok(page) => {
            let page = page.into_inner();
            assert!(page.memories.is_empty() && !page.has_more, "A's page token shows B: {page:?}");
        }
        Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "A's page token in B: {status:?}"),
    }

    for (what, agent, session) in [
        ("BuildContext agent = A's id", a_aid.clone(), String::new()),
        ("BuildContext agent = A-only name", A_ONLY_NAME.to_owned(), String::new()),
        ("BuildContext session = A's", String::new(), a_sid.clone()),
    ] {
        let req = pb::BuildContextRequest {
            agent,
            session_id: session,
            options: Some(pb::ContextOptions { since: "1w".into(), ..Default::default() }),
        };
        s.not_found(what, &req, b.context.build_context(req.clone()).await);
    }
    let req = pb::GetSessionContextRequest { session_id: a_sid.clone(), options: None };
    s.not_found("GetSessionContext", &req, b.sessions.get_session_context(req.clone()).await);

    let req = pb::UpdateMemoryRequest {
        id: a_mem.clone(),
        update_mask: Some(FieldMask { paths: vec!["importance".into(), "tags".into()] }),
        importance: 0.01,
        tags: vec!["owned-by-b".into()],
        ..Default::default()
    };
    s.not_found("UpdateMemory", &req, b.memories.update_memory(req.clone()).await);
    let req = pb::UpdateSessionRequest {
        id: a_sid.clone(),
        status: pb::SessionStatus::Closed as i32,
        metadata: Some(json_struct(serde_json::json!({ "owned": "by b" }))),
        metadata_mode: pb::MetadataMode::Replace as i32,
    };
    s.not_found("UpdateSession", &req, b.sessions.update_session(req.clone()).await);
    let req = pb::CloseSessionRequest { id: a_sid.clone() };
    s.not_found("CloseSession", &req, b.sessions.close_session(req.clone()).await);
    let req = pb::DeleteMemoryRequest { id: a_mem.clone() };
    s.not_found("DeleteMemory", &req, b.memories.delete_memory(req.clone()).await);
    let nothing_deleted = |r: &pb::DeleteMemoriesResponse| r.deleted == 0;
    for (what, req) in [
        ("DeleteMemories agent = A's id", pb::DeleteMemoriesRequest { agent: a_aid.clone(), ..Default::default() }),
        (
            "DeleteMemories agent = A's name",
            pb::DeleteMemoriesRequest { agent: SHARED_NAME.into(), ..Default::default() },
        ),
        ("DeleteMemories session = A's", pb::DeleteMemoriesRequest { session_id: a_sid.clone(), ..Default::default() }),
        (
            "DeleteMemories agent + session of A",
            pb::DeleteMemoriesRequest { agent: a_aid.clone(), session_id: a_sid.clone(), ..Default::default() },
        ),
    ] {
        s.not_found_or_empty(what, &req, b.memories.delete_memories(req.clone()).await, nothing_deleted);
    }
    for agent in [a_aid.clone(), a_private.id.clone(), A_ONLY_NAME.to_owned()] {
        let req = pb::DeleteAgentRequest { agent, cascade: true };
        s.not_found("DeleteAgent", &req, b.agents.delete_agent(req.clone()).await);
    }
    let req = pb::CreateSessionRequest { agent: a_aid.clone(), metadata: None };
    s.not_found("CreateSession for A's agent id", &req, b.sessions.create_session(req.clone()).await);

    // B cannot attach its own data to A's agent, session or memories.
    let attempts = [
        ("AddMemory agent = A's id", memory(&a_aid, "B writes as A's agent")),
        (
            "AddMemory into A's session",
            pb::NewMemory { session_id: Some(a_sid.clone()), ..memory("b-agent", "B writes into A's session") },
        ),
        (
            "AddMemory with an A parent",
            pb::NewMemory { parent_id: Some(a_mem.clone()), ..memory("b-agent", "B replies to A") },
        ),
    ];
    for (what, m) in attempts {
        let req = add(m.clone());
        s.not_found(what, &req, b.memories.add_memory(req.clone()).await);
        let batch = pb::AddMemoriesRequest { memories: vec![memory("b-agent", &format!("valid first, {what}")), m] };
        s.not_found(&format!("AddMemories: {what}"), &batch, b.memories.add_memories(batch.clone()).await);
    }

    // After all of that, B holds nothing at all (no failed call left an agent or a memory behind).
    let agents = s.clean_ok("B: ListAgents", b.agents.list_agents(pb::ListAgentsRequest::default()).await);
    assert!(agents.agents.is_empty(), "B's agents after the failed calls: {agents:?}");
    let sessions = s.clean_ok("B: ListSessions", b.sessions.list_sessions(pb::ListSessionsRequest::default()).await);
    assert!(sessions.sessions.is_empty(), "B's sessions: {sessions:?}");
    let req = pb::ListSessionsRequest { agent: a_aid.clone(), ..Default::default() };
    s.not_found_or_empty("ListSessions agent = A's id", &req, b.sessions.list_sessions(req.clone()).await, |r| {
        r.sessions.is_empty()
    });
    let all = s.clean_ok("B: ListMemories", b.memories.list_memories(list_all()).await);
    assert!(all.memories.is_empty(), "B's memories after the failed calls: {all:?}");

    // ---- names are per org ----------------------------------------------------------------
    let b_agent = b
        .agents
        .register_agent(pb::RegisterAgentRequest { name: SHARED_NAME.into(), ..Default::default() })
        .await
        .expect("B registers the name A uses")
        .into_inner();
    assert_ne!(b_agent.id, a_aid, "B's agent got A's id");
    assert_eq!(b_agent.org_id, org_b);
    assert_eq!(b_agent.name, SHARED_NAME);
    let b_mem = s.clean_ok("B: AddMemory", b.memories.add_memory(add(memory(SHARED_NAME, "B's own memory"))).await);
    let b_mem = b_mem.memory.expect("memory");
    assert_eq!((b_mem.agent_id.as_str(), b_mem.org_id.as_str()), (b_agent.id.as_str(), org_b.as_str()));
    let b_session = s.clean_ok(
        "B: CreateSession by the shared name",
        b.sessions.create_session(pb::CreateSessionRequest { agent: SHARED_NAME.into(), metadata: None }).await,
    );
    assert_eq!(b_session.agent_id, b_agent.id);
    // By name, B now reaches its own agent only.
    let got = s.clean_ok(
        "B: GetAgent by the shared name",
        b.agents.get_agent(pb::GetAgentRequest { agent: Some(AgentKey::Name(SHARED_NAME.into())) }).await,
    );
    assert_eq!(got.id, b_agent.id);
    let listed = s.clean_ok(
        "B: ListMemories by the shared name",
        b.memories.list_memories(by_filter(pb::MemoryFilter { agent: SHARED_NAME.into(), ..Default::default() })).await,
    );
    assert_eq!(listed.memories, vec![b_mem.clone()]);
    let stats = s.clean_ok(
        "B: GetAgentStats by the shared name",
        b.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: SHARED_NAME.into() }).await,
    );
    assert_eq!((stats.agent_id.as_str(), stats.memory_count, stats.session_count), (b_agent.id.as_str(), 1, 1));
    let ctx = s.clean_ok(
        "B: BuildContext by the shared name",
        b.context.build_context(pb::BuildContextRequest { agent: SHARED_NAME.into(), ..Default::default() }).await,
    );
    assert_eq!(ctx.memory_ids, vec![b_mem.id.clone()]);
    // A's ids still mean nothing in B.
    let req = pb::GetAgentRequest { agent: Some(AgentKey::Id(a_aid.clone())) };
    s.not_found("GetAgent by A's id after B registered the name", &req, b.agents.get_agent(req.clone()).await);
    let deleted = s.clean_ok(
        "B: DeleteMemories by the shared name",
        b.memories.delete_memories(pb::DeleteMemoriesRequest { agent: SHARED_NAME.into(), ..Default::default() }).await,
    );
    assert_eq!(deleted.deleted, 1);
    let gone = s.clean_ok(
        "B: DeleteAgent by the shared name",
        b.agents.delete_agent(pb::DeleteAgentRequest { agent: SHARED_NAME.into(), cascade: true }).await,
    );
    assert_eq!((gone.deleted_sessions, gone.deleted_memories), (1, 0));

    // The operator's admin key reads org_default's data only: nothing of A there either.
    let req = pb::GetMemoryRequest { id: a_mem.clone() };
    s.not_found("org_default admin: GetMemory", &req, root.memories.get_memory(req.clone()).await);
    let root_all = s.clean_ok("org_default admin: ListMemories", root.memories.list_memories(list_all()).await);
    assert!(root_all.memories.is_empty(), "org_default sees {root_all:?}");

    // ---- A is intact ----------------------------------------------------------------------
    let after = snapshot(&mut a, &a_aid).await;
    assert_eq!(after, before, "org A's data changed");
    assert_eq!(after.memories.len(), 5);
    for m in &a_memories {
        let got = a.memories.get_memory(pb::GetMemoryRequest { id: m.id.clone() }).await.expect("A: get").into_inner();
        assert_eq!(&got, m);
    }
    let session = a.sessions.get_session(pb::GetSessionRequest { id: a_sid }).await.expect("A: session").into_inner();
    let session_before = before.sessions.iter().find(|x| x.id == a_session.id).expect("A's session listed");
    assert_eq!(&session, session_before, "A's session changed");
    assert_eq!(session.metadata, a_session.metadata);
    assert_eq!(session.status, pb::SessionStatus::Active as i32);
    let agent = a
        .agents
        .get_agent(pb::GetAgentRequest { agent: Some(AgentKey::Name(SHARED_NAME.into())) })
        .await
        .expect("A: agent by name")
        .into_inner();
    assert_eq!(agent.id, a_aid);
    let ctx = a
        .context
        .build_context(pb::BuildContextRequest { agent: a_aid.clone(), ..Default::default() })
        .await
        .expect("A: context")
        .into_inner();
    assert_eq!(ctx.memory_ids.len(), 4, "A's context: {ctx:?}");
}
