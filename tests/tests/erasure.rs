//! Erasure through the real binary: EraseScope and EraseAgent delete everything about an end user
//! or an agent, and no surface finds any of it afterwards: listings, keyword, semantic and
//! `content_contains` search (so the full-text index and the vectors), conversations, windows,
//! and an `engram export` of the whole store (every row a restore would bring back).

use std::time::Duration;

use engram_tests::{Server, engram_bin, filter, memory, pb};
use tonic::Code;

fn scoped(agent: &str, scope: &str, content: &str, embedding: Vec<f32>) -> pb::NewMemory {
    pb::NewMemory { scope: scope.into(), embedding, ..memory(agent, content) }
}

/// Everything `engram export` writes of the server's store (taken while it runs).
fn exported(server: &Server) -> String {
    let out = std::process::Command::new(engram_bin())
        .args(["export", "--data-dir"])
        .arg(&server.data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "engram export: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn ranked(clients: &mut engram_tests::Clients, query: &str, embedding: Vec<f32>) -> Vec<String> {
    let mode = if embedding.is_empty() { pb::SearchMode::Keyword } else { pb::SearchMode::Semantic };
    let found = clients
        .memories
        .search_memories(pb::SearchMemoriesRequest {
            filter: Some(filter()),
            limit: 10,
            query: query.into(),
            query_embedding: embedding,
            mode: mode as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    found.hits.into_iter().filter_map(|h| h.memory).map(|m| m.content).collect()
}

#[tokio::test]
async fn an_erased_scope_and_agent_are_found_by_no_surface() {
    let server = Server::start(&[]);
    let mut clients = server.admin().await;
    let memories = vec![
        scoped("henry", "alice", "alice lives at 12 Elm Street", vec![1.0, 0.0, 0.0]),
        scoped("sarah", "alice", "alice prefers email over phone", vec![0.9, 0.1, 0.0]),
        scoped("henry", "bob", "bob lives at 9 Oak Street", vec![0.0, 1.0, 0.0]),
        scoped("sarah", "", "a note about nobody", vec![0.0, 0.0, 1.0]),
    ];
    clients.memories.add_memories(pb::AddMemoriesRequest { memories }).await.unwrap();
    for (agent, scope) in [("henry", "alice"), ("henry", "bob")] {
        clients
            .conversations
            .append_messages(pb::AppendMessagesRequest {
                agent: agent.into(),
                scope: scope.into(),
                conversation: "intake".into(),
                messages: vec![pb::NewMessage {
                    role: pb::Role::User as i32,
                    content: format!("{scope} says: my street is Elm"),
                    ..Default::default()
                }],
                record_as_memories: Some(true),
            })
            .await
            .unwrap();
    }
    // Indexed before the erasure, so the index has entries to drop.
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = ranked(&mut clients, "street", Vec::new()).await;
        if seen.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen.len(), 4, "2 memories and 2 recorded messages mention a street: {seen:?}");
    let before = exported(&server);
    assert!(before.contains("alice lives at") && before.contains(r#""scope":"alice""#), "{before}");

    let mut erasure = clients.erasure.clone();
    let report = erasure.erase_scope(pb::EraseScopeRequest { scope: "alice".into() }).await.unwrap().into_inner();
    assert_eq!(
        (report.memories, report.conversations, report.messages, report.sessions, report.agents),
        (3, 1, 1, 0, 0),
        "2 memories + the recorded message; one conversation of one message"
    );

    // No surface finds alice.
    assert!(ranked(&mut clients, "alice", Vec::new()).await.is_empty());
    assert!(ranked(&mut clients, "street", Vec::new()).await.iter().all(|c| !c.contains("alice")));
    let semantic = ranked(&mut clients, "", vec![1.0, 0.0, 0.0]).await;
    assert!(semantic.iter().all(|c| !c.contains("alice")), "{semantic:?}");
    let contains = clients
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { content_contains: "alice".into(), ..filter() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(contains.memories.is_empty());
    let scoped = clients
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter { scope: "alice".into(), ..filter() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(scoped.memories.is_empty());
    let window = clients
        .conversations
        .get_window(pb::GetWindowRequest {
            agent: "henry".into(),
            scope: "alice".into(),
            conversation: "intake".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(window.unwrap_err().code(), Code::NotFound);
    // Bob's are all there.
    let all = clients
        .memories
        .list_memories(pb::ListMemoriesRequest { filter: Some(filter()), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .memories;
    assert_eq!(all.len(), 3, "{:?}", all.iter().map(|m| &m.content).collect::<Vec<_>>());
    // An export of the whole store has no trace of alice: no memory, message, conversation.
    let after = exported(&server);
    assert!(!after.contains("alice"), "{after}");
    assert!(after.contains("bob lives at") && after.contains("a note about nobody"), "{after}");

    // The agent: henry with bob's memory, the recorded message and the conversation.
    let report = erasure.erase_agent(pb::EraseAgentRequest { agent: "henry".into() }).await.unwrap().into_inner();
    assert_eq!((report.memories, report.conversations, report.messages, report.agents), (2, 1, 1, 1));
    assert!(ranked(&mut clients, "bob", Vec::new()).await.is_empty());
    let left: Vec<String> = clients
        .memories
        .list_memories(pb::ListMemoriesRequest { filter: Some(filter()), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .memories
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(left, ["a note about nobody"]);
    let after = exported(&server);
    assert!(!after.contains("henry") && !after.contains("bob"), "nothing of henry's: {after}");
    assert!(after.contains("a note about nobody") && after.contains(r#""name":"sarah""#), "{after}");
    assert_eq!(
        erasure.erase_agent(pb::EraseAgentRequest { agent: "henry".into() }).await.unwrap_err().code(),
        Code::NotFound
    );

    // Bad input and permissions.
    let err = erasure.erase_scope(pb::EraseScopeRequest { scope: String::new() }).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("scope:"), "{}", err.message());
    let writer = engram_tests::api_key(&mut clients, "", &[pb::Permission::Read, pb::Permission::Write]).await;
    let mut not_admin = server.clients(Some(&writer)).await.erasure;
    let err = not_admin.erase_scope(pb::EraseScopeRequest { scope: "bob".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}
