//! Dedup (single, batch, in-batch), pagination while writing, and the context token budget.

use std::collections::HashSet;

use engram_context::Tokenizer;
use engram_tests::{Server, filter, memory, pb};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_single_batch_and_in_batch() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let first = c
        .memories
        .add_memory(pb::AddMemoryRequest { memory: Some(memory("a", "disk is 91% full")) })
        .await
        .unwrap()
        .into_inner()
        .memory
        .unwrap();
    // Same agent, event type and content: a duplicate, reported with the existing id.
    let dup = c
        .memories
        .add_memory(pb::AddMemoryRequest { memory: Some(memory("a", "disk is 91% full")) })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    assert!(dup.message().contains(&first.id), "{}", dup.message());
    assert_eq!(dup.metadata().get("x-engram-existing-id").unwrap().to_str().unwrap(), first.id);
    // Another agent, or another event type: not a duplicate.
    c.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory("b", "disk is 91% full")) }).await.unwrap();
    c.memories
        .add_memory(pb::AddMemoryRequest {
            memory: Some(pb::NewMemory { event_type: "alert".into(), ..memory("a", "disk is 91% full") }),
        })
        .await
        .unwrap();
    // An explicit key wins over content.
    let keyed = |content: &str| pb::NewMemory { dedup_key: "job-42".into(), ..memory("a", content) };
    let k1 = c.memories.add_memory(pb::AddMemoryRequest { memory: Some(keyed("job 42 started")) }).await.unwrap();
    let k2 =
        c.memories.add_memory(pb::AddMemoryRequest { memory: Some(keyed("job 42 started again")) }).await.unwrap_err();
    assert_eq!(k2.code(), Code::AlreadyExists);
    assert!(k2.message().contains(&k1.into_inner().memory.unwrap().id));

    // A batch: stored duplicate, in-batch duplicate, new.
    let batch = c
        .memories
        .add_memories(pb::AddMemoriesRequest {
            memories: vec![
                memory("a", "disk is 91% full"),
                memory("a", "new one"),
                memory("a", "new one"),
                memory("a", "another"),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((batch.created, batch.duplicates), (2, 2));
    assert_eq!(batch.results[0].id, first.id);
    assert_eq!(batch.results[2].id, batch.results[1].id);
    assert_eq!(batch.results[2].status, pb::AddStatus::Duplicate as i32);
    assert!(batch.results[2].memory.is_none());

    // Concurrent identical writes: exactly one is created.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory("racer", "same thing")) }).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(status) => assert_eq!(status.code(), Code::AlreadyExists),
        }
    }
    assert_eq!(created, 1);
    let stored = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { agent: "racer".into(), ..filter() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.memories.len(), 1);
}

async fn page_all(c: &mut engram_tests::Clients, agent: &str, order: pb::Order, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .memories
            .list_memories(pb::ListMemoriesRequest {
                filter: Some(pb::MemoryFilter { agent: agent.into(), ..filter() }),
                limit,
                order: order as i32,
                page_token: token,
                offset: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.memories.len() <= limit as usize);
        ids.extend(page.memories.into_iter().map(|m| m.id));
        assert_eq!(page.has_more, !page.next_page_token.is_empty());
        if !page.has_more {
            return ids;
        }
        token = page.next_page_token;
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_while_writing_has_no_duplicates_and_no_gaps() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    // 300 memories, many sharing one timestamp (back-filled), so ties on time are exercised.
    let same_time = prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() - 60, nanos: 0 };
    let batch: Vec<_> = (0..300)
        .map(|i| pb::NewMemory { time: (i % 3 == 0).then_some(same_time), ..memory("pager", &format!("existing {i}")) })
        .collect();
    c.memories.add_memories(pb::AddMemoriesRequest { memories: batch }).await.unwrap();
    let before: HashSet<String> = page_all(&mut c, "pager", pb::Order::Desc, 1000).await.into_iter().collect();
    assert_eq!(before.len(), 300);

    // A writer adds new memories for the same agent while we page, in both orders.
    let mut writer = c.clone();
    let writing = tokio::spawn(async move {
        for i in 0..100 {
            writer
                .memories
                .add_memory(pb::AddMemoryRequest { memory: Some(memory("pager", &format!("new {i}"))) })
                .await
                .unwrap();
        }
    });
    for order in [pb::Order::Desc, pb::Order::Asc] {
        let seen = page_all(&mut c, "pager", order, 7).await.into_iter().collect::<Vec<_>>();
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{order:?}: a memory was returned twice");
        let missing = before.iter().filter(|id| !unique.contains(id)).count();
        assert_eq!(missing, 0, "{order:?}: {missing} memories that existed before paging were skipped");
    }
    writing.await.unwrap();

    // has_more is exact: a page that ends exactly at the last row says false.
    let all = page_all(&mut c, "pager", pb::Order::Desc, 1000).await;
    assert_eq!(all.len(), 400);
    let exact = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { agent: "pager".into(), ..filter() }),
            limit: 400,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exact.memories.len(), 400);
    assert!(!exact.has_more);
    // Offset (Memtrace style) skips rows.
    let offset = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { agent: "pager".into(), ..filter() }),
            limit: 10,
            offset: 395,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(offset.memories.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), all[395..]);
    assert!(!offset.has_more);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_never_exceeds_the_budget_and_keeps_what_matters() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let session = c
        .sessions
        .create_session(pb::CreateSessionRequest { agent: "busy".into(), metadata: None })
        .await
        .unwrap()
        .into_inner();
    let s = |m: pb::NewMemory| pb::NewMemory { session_id: Some(session.id.clone()), ..m };
    let mut items = vec![
        s(pb::NewMemory {
            memory_type: pb::MemoryType::Decision as i32,
            event_type: "decision".into(),
            reasoning: "the old API is deprecated".into(),
            time: Some(prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() - 3600, nanos: 0 }),
            ..memory("busy", "Migrate to the v2 API")
        }),
        s(pb::NewMemory {
            event_type: "error".into(),
            time: Some(prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() - 3000, nanos: 0 }),
            ..memory("busy", "Deploy failed: connection refused")
        }),
    ];
    // Lots of newer routine noise, some multi-byte and long.
    for i in 0..400 {
        let content = match i % 3 {
            0 => format!("heartbeat {i}: all systems nominal"),
            1 => format!("日志 {i}: 处理完成 ✅ — {}", "données ".repeat(40)),
            _ => format!("polled queue {i} {}", "x".repeat(3000)),
        };
        items.push(s(pb::NewMemory {
            importance: Some(0.1),
            event_type: "heartbeat".into(),
            ..memory("busy", &content)
        }));
    }
    c.memories.add_memories(pb::AddMemoriesRequest { memories: items }).await.unwrap();

    for (max_tokens, tokenizer) in
        [(120u32, Tokenizer::Cl100kBase), (300, Tokenizer::O200kBase), (4000, Tokenizer::Cl100kBase)]
    {
        let ctx = c
            .sessions
            .get_session_context(pb::GetSessionContextRequest {
                session_id: session.id.clone(),
                options: Some(pb::ContextOptions {
                    max_tokens,
                    tokenizer: tokenizer.name().into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        let counted = tokenizer.count(&ctx.context);
        assert_eq!(counted, ctx.token_count as usize, "reported token count is exact");
        assert!(counted <= max_tokens as usize, "{counted} > {max_tokens}");
        assert_eq!(ctx.memory_ids.len() + ctx.omitted_count as usize, 402);
        assert!(
            ctx.context.contains("Migrate to the v2 API"),
            "budget {max_tokens}: the decision was dropped:\n{}",
            ctx.context
        );
        assert!(ctx.context.contains("Deploy failed"), "budget {max_tokens}: the failure was dropped");
    }
}
