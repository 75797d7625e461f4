//! Every engram.v1 RPC end to end through the real binary and the generated client, plus
//! health, reflection and graceful shutdown.

use engram_tests::{Server, filter, json_struct, memory, pb, struct_str};
use prost_types::FieldMask;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_rpcs() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;

    let agent = c
        .agents
        .register_agent(pb::RegisterAgentRequest {
            name: "coder".into(),
            description: "writes code".into(),
            config: Some(json_struct(serde_json::json!({"model": "x", "temperature": 0.2}))),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(agent.id.starts_with("agent_") && agent.id.len() == 30, "{}", agent.id);
    assert_eq!(agent.org_id, "org_default");
    assert_eq!(struct_str(&agent.config, "model"), Some("x"));

    let dup = c
        .agents
        .register_agent(pb::RegisterAgentRequest { name: "coder".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    assert!(dup.message().contains(&agent.id), "{}", dup.message());

    use pb::get_agent_request::Agent as Sel;
    let by_id = c.agents.get_agent(pb::GetAgentRequest { agent: Some(Sel::Id(agent.id.clone())) }).await.unwrap();
    let by_name = c.agents.get_agent(pb::GetAgentRequest { agent: Some(Sel::Name("coder".into())) }).await.unwrap();
    assert_eq!(by_id.into_inner(), by_name.into_inner());
    let missing =
        c.agents.get_agent(pb::GetAgentRequest { agent: Some(Sel::Name("nobody".into())) }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    for i in 0..4 {
        c.agents
            .register_agent(pb::RegisterAgentRequest { name: format!("helper-{i}"), ..Default::default() })
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .agents
            .list_agents(pb::ListAgentsRequest { page_size: 2, page_token: token.clone() })
            .await
            .unwrap()
            .into_inner();
        assert!(page.agents.len() <= 2);
        names.extend(page.agents.into_iter().map(|a| a.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(names, ["coder", "helper-0", "helper-1", "helper-2", "helper-3"]);

    // Stats.
    let session = c
        .sessions
        .create_session(pb::CreateSessionRequest { agent: "coder".into(), metadata: None })
        .await
        .unwrap()
        .into_inner();
    let mut items = vec![
        pb::NewMemory { event_type: "error".into(), ..memory("coder", "build failed") },
        pb::NewMemory { event_type: "test_failure".into(), ..memory("coder", "test_login failed") },
        pb::NewMemory { memory_type: pb::MemoryType::Decision as i32, ..memory("coder", "use argon2") },
        pb::NewMemory { session_id: Some(session.id.clone()), ..memory("coder", "step one") },
    ];
    items.push(pb::NewMemory {
        time: Some(prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() - 3 * 86_400, nanos: 0 }),
        ..memory("coder", "old news")
    });
    c.memories.add_memories(pb::AddMemoriesRequest { memories: items }).await.unwrap();
    let stats =
        c.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: "coder".into() }).await.unwrap().into_inner();
    assert_eq!(stats.agent_id, agent.id);
    assert_eq!(stats.memory_count, 5);
    assert_eq!(stats.memories_24h, 4);
    assert_eq!(stats.errors_24h, 2);
    assert_eq!(stats.session_count, 1);
    assert_eq!(stats.active_sessions, 1);
    assert!(stats.last_active_at.is_some());
    assert_eq!(stats.memory_types.get("episodic"), Some(&4));
    assert_eq!(stats.memory_types.get("decision"), Some(&1));

    // Delete: refused while memories exist, then cascade.
    let refused =
        c.agents.delete_agent(pb::DeleteAgentRequest { agent: "coder".into(), cascade: false }).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let deleted = c
        .agents
        .delete_agent(pb::DeleteAgentRequest { agent: agent.id.clone(), cascade: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((deleted.deleted_sessions, deleted.deleted_memories), (1, 5));
    let gone = c.sessions.get_session(pb::GetSessionRequest { id: session.id }).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let empty =
        c.agents.delete_agent(pb::DeleteAgentRequest { agent: "helper-0".into(), cascade: false }).await.unwrap();
    assert_eq!(empty.into_inner().deleted_memories, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_rpcs() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;

    // An unknown name registers the agent.
    let session = c
        .sessions
        .create_session(pb::CreateSessionRequest {
            agent: "planner".into(),
            metadata: Some(json_struct(serde_json::json!({"task": "auth", "attempt": 1}))),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(session.id.starts_with("sess_"));
    assert_eq!(session.status, pb::SessionStatus::Active as i32);
    let unknown_id = c
        .sessions
        .create_session(pb::CreateSessionRequest { agent: "agent_000000000000000000000000".into(), metadata: None })
        .await
        .unwrap_err();
    assert_eq!(unknown_id.code(), Code::NotFound);

    let got = c.sessions.get_session(pb::GetSessionRequest { id: session.id.clone() }).await.unwrap().into_inner();
    assert_eq!(got, session);

    let merged = c
        .sessions
        .update_session(pb::UpdateSessionRequest {
            id: session.id.clone(),
            status: 0,
            metadata: Some(json_struct(serde_json::json!({"attempt": 2, "note": "retry"}))),
            metadata_mode: pb::MetadataMode::Merge as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(struct_str(&merged.metadata, "task"), Some("auth"));
    assert_eq!(struct_str(&merged.metadata, "note"), Some("retry"));
    let replaced = c
        .sessions
        .update_session(pb::UpdateSessionRequest {
            id: session.id.clone(),
            status: 0,
            metadata: Some(json_struct(serde_json::json!({"only": "this"}))),
            metadata_mode: pb::MetadataMode::Replace as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replaced.metadata.as_ref().map(|m| m.fields.len()), Some(1));
    let micros =
        |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| t.seconds * 1_000_000 + i64::from(t.nanos / 1000));
    assert!(micros(&replaced.updated_at) >= micros(&session.updated_at));

    let other = c
        .sessions
        .create_session(pb::CreateSessionRequest { agent: "planner".into(), metadata: None })
        .await
        .unwrap()
        .into_inner();
    let closed =
        c.sessions.close_session(pb::CloseSessionRequest { id: session.id.clone() }).await.unwrap().into_inner();
    assert_eq!(closed.status, pb::SessionStatus::Closed as i32);
    assert!(closed.closed_at.is_some());

    let list = |status: pb::SessionStatus| pb::ListSessionsRequest {
        agent: "planner".into(),
        status: status as i32,
        page_size: 0,
        page_token: String::new(),
    };
    let active = c.sessions.list_sessions(list(pb::SessionStatus::Active)).await.unwrap().into_inner().sessions;
    assert_eq!(active.iter().map(|s| &s.id).collect::<Vec<_>>(), [&other.id]);
    let closed_list = c.sessions.list_sessions(list(pb::SessionStatus::Closed)).await.unwrap().into_inner().sessions;
    assert_eq!(closed_list.iter().map(|s| &s.id).collect::<Vec<_>>(), [&session.id]);
    let all = c.sessions.list_sessions(list(pb::SessionStatus::Unspecified)).await.unwrap().into_inner().sessions;
    assert_eq!(all.len(), 2);
    let page = c
        .sessions
        .list_sessions(pb::ListSessionsRequest { page_size: 1, ..list(pb::SessionStatus::Unspecified) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.sessions.len(), 1);
    let rest = c
        .sessions
        .list_sessions(pb::ListSessionsRequest {
            page_size: 1,
            page_token: page.next_page_token,
            ..list(pb::SessionStatus::Unspecified)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.sessions.len(), 1);
    assert_ne!(rest.sessions[0].id, page.sessions[0].id);
    assert!(rest.next_page_token.is_empty());

    // Session context is scoped to the session.
    c.memories
        .add_memory(pb::AddMemoryRequest {
            memory: Some(pb::NewMemory {
                session_id: Some(other.id.clone()),
                ..memory("planner", "inside the session")
            }),
        })
        .await
        .unwrap();
    c.memories
        .add_memory(pb::AddMemoryRequest { memory: Some(memory("planner", "outside any session")) })
        .await
        .unwrap();
    let ctx = c
        .sessions
        .get_session_context(pb::GetSessionContextRequest {
            session_id: other.id.clone(),
            options: Some(pb::ContextOptions { max_tokens: 500, ..Default::default() }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ctx.context.contains("inside the session"), "{}", ctx.context);
    assert!(!ctx.context.contains("outside any session"));
    assert!(ctx.context.starts_with(&format!("## Session Context ({})", other.id)));
    assert_eq!(ctx.memory_ids.len(), 1);
    assert!(ctx.token_count > 0 && ctx.token_count <= 500);
    let missing = c
        .sessions
        .get_session_context(pb::GetSessionContextRequest { session_id: "sess_nope".into(), options: None })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_rpcs() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;

    let session = c
        .sessions
        .create_session(pb::CreateSessionRequest { agent: "coder".into(), metadata: None })
        .await
        .unwrap()
        .into_inner();
    let backfill = prost_types::Timestamp { seconds: 1_770_552_000, nanos: 123_456_789 }; // 2026-02-08T12:00:00.123456789Z
    let created = c
        .memories
        .add_memory(pb::AddMemoryRequest {
            memory: Some(pb::NewMemory {
                agent: "coder".into(),
                session_id: Some(session.id.clone()),
                memory_type: pb::MemoryType::Decision as i32,
                event_type: "decision".into(),
                content: "Use argon2 for passwords".into(),
                metadata: Some(json_struct(serde_json::json!({"file": "auth.go", "lines": 42}))),
                tags: vec!["security".into(), "auth.go".into(), "security".into()],
                importance: Some(0.9),
                parent_id: None,
                dedup_key: "decide-hash".into(),
                time: Some(backfill),
                step: Some(7),
                position: Some(pb::Position { x: 1.5, y: -2.0, z: None }),
                expires_at: None,
                reasoning: "bcrypt is weaker against GPUs".into(),
                embedding: vec![0.5, 0.25],
                scope: "user-42".into(),
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .memory
        .unwrap();
    assert!(created.id.starts_with("mem_"));
    assert_eq!(created.session_id.as_deref(), Some(session.id.as_str()));
    assert_eq!(created.tags, ["auth.go", "security"], "tags are a sorted set");
    assert_eq!(created.reasoning, "bcrypt is weaker against GPUs");
    assert_eq!(struct_str(&created.metadata, "reasoning"), Some("bcrypt is weaker against GPUs"));
    assert_eq!(created.time, Some(prost_types::Timestamp { seconds: 1_770_552_000, nanos: 123_456_000 }));
    assert_eq!(created.dedup_key, "decide-hash");
    assert_eq!(created.step, Some(7));
    assert_eq!(created.position, Some(pb::Position { x: 1.5, y: -2.0, z: None }));
    assert_eq!(created.importance, 0.9);
    assert_eq!(created.scope, "user-42");

    let got = c.memories.get_memory(pb::GetMemoryRequest { id: created.id.clone() }).await.unwrap().into_inner();
    assert_eq!(got, created);

    // Batch: created, duplicate of a stored one, in-batch duplicate.
    let child = pb::NewMemory { parent_id: Some(created.id.clone()), ..memory("coder", "follow-up on argon2") };
    let batch = c
        .memories
        .add_memories(pb::AddMemoriesRequest {
            memories: vec![
                memory("coder", "wrote login handler"),
                pb::NewMemory { dedup_key: "decide-hash".into(), ..memory("coder", "same key") },
                memory("coder", "wrote login handler"),
                child,
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((batch.created, batch.duplicates), (2, 2));
    let statuses: Vec<i32> = batch.results.iter().map(|r| r.status).collect();
    let (created_s, dup_s) = (pb::AddStatus::Created as i32, pb::AddStatus::Duplicate as i32);
    assert_eq!(statuses, [created_s, dup_s, dup_s, created_s]);
    assert_eq!(batch.results[1].id, created.id);
    assert_eq!(batch.results[2].id, batch.results[0].id);
    assert_eq!(batch.results[3].memory.as_ref().and_then(|m| m.parent_id.clone()), Some(created.id.clone()));

    // List and search.
    let list = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { agent: "coder".into(), ..filter() }),
            order: pb::Order::Asc as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.memories.len(), 3);
    assert!(!list.has_more && list.next_page_token.is_empty());
    assert_eq!(list.memories[0].id, created.id, "the back-filled memory is the oldest");
    let search = c
        .memories
        .search_memories(pb::SearchMemoriesRequest {
            filter: Some(pb::MemoryFilter {
                memory_types: vec![pb::MemoryType::Decision as i32],
                tags: vec!["security".into()],
                content_contains: "ARGON2".into(),
                min_importance: Some(0.8),
                step_min: Some(5),
                step_max: Some(7),
                ..filter()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(search.results.iter().map(|m| &m.id).collect::<Vec<_>>(), [&created.id]);
    assert!(!search.has_more);

    // Update.
    let updated = c
        .memories
        .update_memory(pb::UpdateMemoryRequest {
            id: created.id.clone(),
            update_mask: Some(FieldMask { paths: vec!["importance".into(), "tags".into(), "metadata".into()] }),
            importance: 0.3,
            tags: vec!["reviewed".into()],
            metadata: Some(json_struct(serde_json::json!({"reviewer": "ana"}))),
            expires_at: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.importance, 0.3);
    assert_eq!(updated.tags, ["reviewed"]);
    assert_eq!(struct_str(&updated.metadata, "reviewer"), Some("ana"));
    assert_eq!(updated.content, created.content);
    let by_old_tag = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { tags: vec!["security".into()], ..filter() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(by_old_tag.memories.is_empty());

    // Expiry: an expired memory is never returned.
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    c.memories
        .update_memory(pb::UpdateMemoryRequest {
            id: created.id.clone(),
            update_mask: Some(FieldMask { paths: vec!["expires_at".into()] }),
            expires_at: Some(prost_types::Timestamp {
                seconds: soon.timestamp(),
                nanos: soon.timestamp_subsec_nanos() as i32,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let expired = c.memories.get_memory(pb::GetMemoryRequest { id: created.id.clone() }).await.unwrap_err();
    assert_eq!(expired.code(), Code::NotFound);
    let after = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { agent: "coder".into(), ..filter() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.memories.len(), 2);

    // Delete one, then by filter.
    let one = &batch.results[0].id;
    c.memories.delete_memory(pb::DeleteMemoryRequest { id: one.clone() }).await.unwrap();
    let again = c.memories.delete_memory(pb::DeleteMemoryRequest { id: one.clone() }).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    for i in 0..5 {
        c.memories
            .add_memory(pb::AddMemoryRequest { memory: Some(memory("cleaner", &format!("log {i}"))) })
            .await
            .unwrap();
    }
    let deleted = c
        .memories
        .delete_memories(pb::DeleteMemoriesRequest {
            agent: "cleaner".into(),
            since: "1h".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted, 5);
    let left = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { agent: "coder".into(), ..filter() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(left.memories.len(), 1, "other agents' memories are untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_and_admin_rpcs() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;

    c.memories
        .add_memories(pb::AddMemoriesRequest {
            memories: vec![
                pb::NewMemory { event_type: "page_crawled".into(), ..memory("crawler", "Crawled https://example.com") },
                pb::NewMemory {
                    memory_type: pb::MemoryType::Decision as i32,
                    event_type: "decision".into(),
                    reasoning: "only 2 pages deep".into(),
                    ..memory("crawler", "Skip pagination")
                },
                pb::NewMemory { event_type: "error".into(), ..memory("crawler", "Rate limited (429)") },
                pb::NewMemory {
                    memory_type: pb::MemoryType::Semantic as i32,
                    event_type: "fact".into(),
                    ..memory("crawler", "Customer prefers email")
                },
            ],
        })
        .await
        .unwrap();
    let ctx = c
        .context
        .build_context(pb::BuildContextRequest {
            agent: "crawler".into(),
            session_id: String::new(),
            options: Some(pb::ContextOptions {
                since: "1h".into(),
                max_tokens: 1000,
                tokenizer: "o200k_base".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ctx.tokenizer, "o200k_base");
    assert_eq!(ctx.memory_ids.len(), 4);
    assert_eq!(ctx.omitted_count, 0);
    for needle in [
        "## Agent Context (crawler)",
        "### Recent Actions (1)",
        "### Decisions Made (1)",
        "Reasoning: only 2 pages deep",
        "### Errors and Failures (1)",
        "### Other (1)",
    ] {
        assert!(ctx.context.contains(needle), "missing {needle:?} in\n{}", ctx.context);
    }
    let only_decisions = c
        .context
        .build_context(pb::BuildContextRequest {
            agent: "crawler".into(),
            session_id: String::new(),
            options: Some(pb::ContextOptions {
                include_types: vec![pb::MemoryType::Decision as i32],
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(only_decisions.memory_ids.len(), 1);
    assert_eq!(only_decisions.tokenizer, "cl100k_base");

    // Admin.
    let org = c.admin.create_org(pb::CreateOrgRequest { name: "acme".into() }).await.unwrap().into_inner();
    assert!(org.id.starts_with("org_"));
    let dup = c.admin.create_org(pb::CreateOrgRequest { name: "acme".into() }).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let orgs = c.admin.list_orgs(pb::ListOrgsRequest {}).await.unwrap().into_inner().orgs;
    assert_eq!(orgs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["org_default", org.id.as_str()]);
    let created = c
        .admin
        .create_api_key(pb::CreateApiKeyRequest {
            org_id: org.id.clone(),
            name: "ingest".into(),
            permissions: vec![pb::Permission::Write as i32, pb::Permission::Read as i32],
            expires_at: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(created.secret.starts_with("ek_"));
    let key = created.key.unwrap();
    assert_eq!(key.permissions, [pb::Permission::Read as i32, pb::Permission::Write as i32]);
    let keys =
        c.admin.list_api_keys(pb::ListApiKeysRequest { org_id: org.id.clone() }).await.unwrap().into_inner().keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].id, key.id);

    let mut acme = server.clients(Some(&created.secret)).await;
    acme.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory("bot", "hello from acme")) }).await.unwrap();
    let revoked = c.admin.revoke_api_key(pb::RevokeApiKeyRequest { id: key.id.clone() }).await.unwrap().into_inner();
    assert!(revoked.revoked_at.is_some());
    let rejected =
        acme.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory("bot", "again")) }).await.unwrap_err();
    assert_eq!(rejected.code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflection_and_graceful_shutdown() {
    let mut server = Server::start(&[]);
    let channel = server.channel().await;

    // Health needs no key and is SERVING once the store answers.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let mut serving = false;
    for _ in 0..50 {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest { service: "engram.v1.MemoryService".into() })
            .await
            .unwrap()
            .into_inner()
            .status;
        if status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
            serving = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(serving, "health never reported SERVING");

    // Reflection v1 and v1alpha list the engram services without a key.
    {
        use tonic_reflection::pb::v1::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new(channel.clone());
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = client.server_reflection_info(tokio_stream::iter(vec![request])).await.unwrap().into_inner();
        let response = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else { panic!("no list") };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for service in [
            "engram.v1.MemoryService",
            "engram.v1.AgentService",
            "engram.v1.SessionService",
            "engram.v1.ContextService",
            "engram.v1.AdminService",
        ] {
            assert!(names.iter().any(|n| n == service), "{service} missing from {names:?}");
        }
    }
    {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new(channel.clone());
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol("engram.v1.MemoryService".into())),
        };
        let mut stream = client.server_reflection_info(tokio_stream::iter(vec![request])).await.unwrap().into_inner();
        let response = stream.message().await.unwrap().unwrap();
        assert!(matches!(response.message_response, Some(MessageResponse::FileDescriptorResponse(_))));
    }

    // SIGTERM while requests are in flight: they finish, the process exits 0.
    let c = server.admin().await;
    let mut inflight = Vec::new();
    for i in 0..20 {
        let mut c = c.clone();
        inflight.push(tokio::spawn(async move {
            let batch = (0..200).map(|j| memory("drainer", &format!("batch {i} item {j}"))).collect();
            c.memories.add_memories(pb::AddMemoriesRequest { memories: batch }).await
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server)
    });
    let mut ok = 0;
    for task in inflight {
        match task.await.unwrap() {
            Ok(response) => {
                assert_eq!(response.into_inner().created, 200);
                ok += 1;
            }
            // Requests that arrive after the listener closed are refused, never half-done.
            Err(status) => {
                assert!(matches!(status.code(), Code::Unavailable | Code::Cancelled | Code::Unknown), "{status:?}")
            }
        }
    }
    let (exit, server) = status.await.unwrap();
    assert!(exit.success(), "engram exited with {exit:?} after SIGTERM");
    assert!(ok > 0, "no in-flight request finished");

    // Everything acknowledged is there after a restart.
    let server = Server::start_in(&server.data_dir.clone(), &[]);
    let mut c = server.admin().await;
    let stats =
        c.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: "drainer".into() }).await.unwrap().into_inner();
    assert!(stats.memory_count >= ok * 200, "{} < {}", stats.memory_count, ok * 200);
    assert_eq!(stats.memory_count % 200, 0, "a batch was half-stored");
}

/// A request that never finishes (its body never arrives) holds the drain only for
/// --shutdown-timeout: the process then exits 0 anyway, within an orchestrator's grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_bounds_the_drain() {
    use std::io::Write;
    let mut server = Server::start(&["--shutdown-timeout", "1.5"]);
    let mut stalled = std::net::TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "POST /api/v1/memories HTTP/1.1\r\nhost: engram\r\nx-api-key: {}\r\ncontent-type: application/json\r\n\
         content-length: 1000\r\n\r\n{{\"agent_id\": ",
        server.admin_key
    );
    stalled.write_all(head.as_bytes()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let started = std::time::Instant::now();
    let exit = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    let took = started.elapsed();
    assert!(exit.success(), "engram exited with {exit:?}");
    assert!(took >= std::time::Duration::from_millis(1400), "the drain did not wait for the request: {took:?}");
    assert!(took < std::time::Duration::from_secs(6), "the drain outlived --shutdown-timeout: {took:?}");
    drop(stalled);
}
