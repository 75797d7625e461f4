//! The product's three agent workflows (DESIGN.md "Who uses it"), end to end through the real
//! server: a coding agent, an infrastructure agent and a research agent.

use engram_tests::{Server, filter, json_struct, memory, pb, struct_str};
use tonic::Code;

fn ts_ago(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() - seconds, nanos: 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coding_agent_logs_progress_and_resumes_after_a_crash() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;

    let agent = c
        .agents
        .register_agent(pb::RegisterAgentRequest {
            name: "coder-1".into(),
            description: "implements the auth feature".into(),
            config: None,
        })
        .await
        .unwrap()
        .into_inner();
    let session = c
        .sessions
        .create_session(pb::CreateSessionRequest {
            agent: agent.id.clone(),
            metadata: Some(json_struct(serde_json::json!({"task": "add login"}))),
        })
        .await
        .unwrap()
        .into_inner();
    let in_session = |m: pb::NewMemory| pb::NewMemory { session_id: Some(session.id.clone()), ..m };

    let steps = vec![
        in_session(pb::NewMemory {
            event_type: "file_written".into(),
            tags: vec!["file:auth.go".into(), "status:done".into()],
            importance: Some(0.6),
            ..memory(&agent.id, "Implemented password hashing in auth.go")
        }),
        in_session(pb::NewMemory {
            event_type: "file_written".into(),
            tags: vec!["file:session.go".into(), "status:in_progress".into()],
            importance: Some(0.4),
            ..memory(&agent.id, "Started session handling in session.go")
        }),
        in_session(pb::NewMemory {
            event_type: "test_failure".into(),
            tags: vec!["file:auth_test.go".into(), "test".into()],
            importance: Some(0.8),
            ..memory(&agent.id, "TestLogin failed: expected 200, got 401")
        }),
        in_session(pb::NewMemory {
            event_type: "fix".into(),
            tags: vec!["file:auth.go".into(), "test".into()],
            importance: Some(0.7),
            ..memory(&agent.id, "Fixed TestLogin: the hash comparison used the wrong salt")
        }),
        in_session(pb::NewMemory {
            memory_type: pb::MemoryType::Decision as i32,
            event_type: "decision".into(),
            reasoning: "argon2id is memory-hard; bcrypt truncates at 72 bytes".into(),
            importance: Some(0.9),
            ..memory(&agent.id, "Use argon2id instead of bcrypt")
        }),
    ];
    for step in steps {
        c.memories.add_memory(pb::AddMemoryRequest { memory: Some(step) }).await.unwrap();
    }

    // The agent "crashes" and resumes: it loads its session context of the last 24h.
    let ctx = c
        .sessions
        .get_session_context(pb::GetSessionContextRequest {
            session_id: session.id.clone(),
            options: Some(pb::ContextOptions { since: "24h".into(), max_tokens: 2000, ..Default::default() }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ctx.memory_ids.len(), 5);
    assert!(ctx.token_count <= 2000);
    for needle in [
        "### Decisions Made (1)",
        "Use argon2id instead of bcrypt",
        "Reasoning: argon2id is memory-hard",
        "### Errors and Failures (1)",
        "TestLogin failed",
        "Fixed TestLogin",
    ] {
        assert!(ctx.context.contains(needle), "missing {needle:?} in\n{}", ctx.context);
    }

    // "Is auth.go already done?" — exact tags plus a case-insensitive content match.
    let done = c
        .memories
        .search_memories(pb::SearchMemoriesRequest {
            filter: Some(pb::MemoryFilter {
                agent: "coder-1".into(),
                tags: vec!["file:auth.go".into(), "status:done".into()],
                content_contains: "AUTH.GO".into(),
                ..filter()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.results.len(), 1);
    assert_eq!(done.results[0].content, "Implemented password hashing in auth.go");
    // session.go is not done.
    let session_go = c
        .memories
        .search_memories(pb::SearchMemoriesRequest {
            filter: Some(pb::MemoryFilter {
                agent: "coder-1".into(),
                tags: vec!["file:session.go".into(), "status:done".into()],
                ..filter()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(session_go.results.is_empty());
    // The decision keeps its reasoning.
    let decisions = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter {
                agent: "coder-1".into(),
                memory_types: vec![pb::MemoryType::Decision as i32],
                ..filter()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decisions.memories.len(), 1);
    assert_eq!(decisions.memories[0].reasoning, "argon2id is memory-hard; bcrypt truncates at 72 bytes");

    c.sessions.close_session(pb::CloseSessionRequest { id: session.id.clone() }).await.unwrap();
    let stats = c.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: agent.id }).await.unwrap().into_inner();
    assert_eq!((stats.memory_count, stats.errors_24h, stats.session_count, stats.active_sessions), (5, 1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infrastructure_agent_checks_a_recent_restart() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let restart = |host: &str, ago: i64| pb::NewMemory {
        event_type: "service_restarted".into(),
        tags: vec![format!("host:{host}"), "service:redis".into(), "env:prod".into()],
        time: Some(ts_ago(ago)),
        ..memory("infra-bot", &format!("Restarted redis on {host} (ago {ago}s)"))
    };
    c.memories
        .add_memories(pb::AddMemoriesRequest {
            memories: vec![
                restart("prod-web-01", 3 * 3600), // too long ago
                restart("prod-web-02", 600),      // another host
                pb::NewMemory {
                    event_type: "service_restarted".into(),
                    tags: vec!["host:prod-web-01".into(), "service:nginx".into()],
                    ..memory("infra-bot", "Restarted nginx on prod-web-01")
                },
            ],
        })
        .await
        .unwrap();

    let did_restart = |c: &mut engram_tests::Clients| {
        let mut c = c.clone();
        async move {
            let page = c
                .memories
                .search_memories(pb::SearchMemoriesRequest {
                    filter: Some(pb::MemoryFilter {
                        agent: "infra-bot".into(),
                        event_types: vec!["service_restarted".into()],
                        tags: vec!["host:prod-web-01".into(), "service:redis".into()],
                        since: "2h".into(),
                        ..filter()
                    }),
                    limit: 1,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            page.results.into_iter().next()
        }
    };
    assert!(did_restart(&mut c).await.is_none(), "the 3h-old restart and other hosts/services must not count");

    // Restart it now, and ask again.
    c.memories.add_memory(pb::AddMemoryRequest { memory: Some(restart("prod-web-01", 60)) }).await.unwrap();
    let found = did_restart(&mut c).await.expect("the restart 1 minute ago");
    assert!(found.content.starts_with("Restarted redis on prod-web-01"));
    // A substring tag does not match: "host:prod-web-0" is not "host:prod-web-01".
    let substring = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { tags: vec!["host:prod-web-0".into()], ..filter() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(substring.memories.is_empty());
    // Either of two hosts (any-of).
    let any = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter {
                any_tags: vec!["host:prod-web-01".into(), "host:prod-web-02".into()],
                since: "2h".into(),
                ..filter()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(any.memories.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn research_agent_skips_already_crawled_urls() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let frontier = [
        "https://example.com/",
        "https://example.com/products",
        "https://example.com/",
        "https://example.com/about",
        "https://example.com/products",
    ];
    let mut crawled = Vec::new();
    for url in frontier {
        // The URL is the dedup key: storing it again within 24h is AlreadyExists.
        let result = c
            .memories
            .add_memory(pb::AddMemoryRequest {
                memory: Some(pb::NewMemory {
                    event_type: "page_crawled".into(),
                    dedup_key: url.into(),
                    metadata: Some(json_struct(serde_json::json!({"url": url, "status": 200}))),
                    tags: vec!["site:example.com".into()],
                    ..memory("researcher", &format!("Crawled {url}"))
                }),
            })
            .await;
        match result {
            Ok(_) => crawled.push(url),
            Err(status) => {
                assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
                let existing = status.metadata().get("x-engram-existing-id").unwrap().to_str().unwrap().to_owned();
                let first = c.memories.get_memory(pb::GetMemoryRequest { id: existing }).await.unwrap().into_inner();
                assert_eq!(struct_str(&first.metadata, "url"), Some(url));
            }
        }
    }
    assert_eq!(crawled, ["https://example.com/", "https://example.com/products", "https://example.com/about"]);

    // Resuming later, the agent reads back what it crawled (URLs in metadata).
    let pages = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter {
                agent: "researcher".into(),
                event_types: vec!["page_crawled".into()],
                since: "24h".into(),
                ..filter()
            }),
            order: pb::Order::Asc as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let urls: Vec<&str> = pages.memories.iter().filter_map(|m| struct_str(&m.metadata, "url")).collect();
    assert_eq!(urls, crawled);
    // A batch from the frontier reports per item: both duplicates and a new page.
    let batch = c
        .memories
        .add_memories(pb::AddMemoriesRequest {
            memories: ["https://example.com/about", "https://example.com/contact", "https://example.com/contact"]
                .iter()
                .map(|url| pb::NewMemory {
                    event_type: "page_crawled".into(),
                    dedup_key: (*url).into(),
                    metadata: Some(json_struct(serde_json::json!({"url": url}))),
                    ..memory("researcher", &format!("Crawled {url}"))
                })
                .collect(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((batch.created, batch.duplicates), (1, 2));
}
