//! Conformance: erasure of a scope or an agent (`ErasureStore`).

use engram_core::conversation::Role;
use engram_store::{Erased, MessageQuery};

use crate::conversations::{conv, msg};
use crate::support::*;

conformance_suite!(by_ref: [a_scope_and_then_an_agent_are_erased_with_everything_they_own]);

fn scoped(agent: &str, scope: &str, content: &str) -> NewMemory {
    NewMemory { scope: Some(scope.into()), ..mem(agent, "note", content) }
}

pub async fn a_scope_and_then_an_agent_are_erased_with_everything_they_own(store: &dyn Store) {
    let now = time::now();
    let (org, other) = (new_org(store).await, new_org(store).await);
    let mut vectored = scoped("henry", "alice", "alice's address is 12 Elm St");
    vectored.tags = strings(&["pii"]);
    vectored.embedding = vec![0.5, 0.5, 0.5, 0.5];
    let kept = add_all(
        store,
        &org,
        vec![
            vectored,
            scoped("sarah", "alice", "alice prefers email"),
            scoped("henry", "bob", "bob prefers phone"),
            mem("henry", "note", "no scope"),
        ],
        now,
    )
    .await;
    add_all(store, &other, vec![scoped("henry", "alice", "another org's alice")], now).await;
    for (agent, scope) in [("henry", "alice"), ("sarah", "alice"), ("henry", "bob")] {
        store
            .append_messages(
                &org,
                &conv(agent, scope, "c1"),
                vec![msg(Role::User, "hi", 1, now), msg(Role::Assistant, "hello", 1, now)],
                now,
            )
            .await
            .unwrap();
    }
    store
        .append_messages(&other, &conv("henry", "alice", "c1"), vec![msg(Role::User, "hi", 1, now)], now)
        .await
        .unwrap();

    let erased = store.erase_scope(&org, "alice").await.unwrap();
    assert_eq!((erased.memories, erased.conversations, erased.messages), (2, 2, 4));
    assert_eq!((erased.sessions, erased.agents, erased.working_memories), (0, 0, 0));
    assert_eq!(erased.memory_keys.len(), 2);
    for gone in &kept[..2] {
        assert_err!(store.get_memory(&org, &gone.id, now).await, Error::NotFound { .. });
    }
    let left = find(store, &org, MemoryFilter::default(), now).await;
    assert_eq!(left.len(), 2, "bob's and the unscoped memory stay");
    assert_eq!(store.org_usage(&org).await.unwrap().memories, 2, "counters follow");
    assert!(store.conversation_head(&org, &conv("henry", "alice", "c1")).await.unwrap().is_none());
    assert!(store.conversation_head(&org, &conv("sarah", "alice", "c1")).await.unwrap().is_none());
    assert!(store.conversation_head(&org, &conv("henry", "bob", "c1")).await.unwrap().is_some());
    // Another org's alice is untouched.
    assert_eq!(find(store, &other, MemoryFilter::default(), now).await.len(), 1);
    assert!(store.conversation_head(&other, &conv("henry", "alice", "c1")).await.unwrap().is_some());
    // Erasing again finds nothing; the same content can be stored again (no dedup entry left).
    assert_eq!(store.erase_scope(&org, "alice").await.unwrap(), Erased::default());
    assert_eq!(store.erase_scope("org_unknown", "alice").await.unwrap(), Erased::default());
    add_all(store, &org, vec![scoped("sarah", "alice", "alice prefers email")], now).await;

    // The agent: its memories, sessions with working memory, conversations, and itself.
    let session = store.create_session(&org, &AgentRef::Name("henry".into()), Metadata::new(), now).await.unwrap();
    store.put_working_memory(&org, &session.id, 0, Some(obj(json!({"task": "x"}))), now).await.unwrap();
    let erased = store.erase_agent(&org, &AgentRef::Name("henry".into())).await.unwrap();
    assert_eq!(
        (
            erased.memories,
            erased.conversations,
            erased.messages,
            erased.sessions,
            erased.working_memories,
            erased.agents
        ),
        (2, 1, 2, 1, 1, 1)
    );
    assert_err!(store.get_agent(&org, &AgentRef::Name("henry".into())).await, Error::NotFound { .. });
    assert_err!(store.get_working_memory(&org, &session.id).await, Error::NotFound { .. });
    assert_eq!(find(store, &org, MemoryFilter::default(), now).await.len(), 1, "sarah's new memory stays");
    assert_eq!(store.org_usage(&org).await.unwrap().memories, 1);
    assert_err!(store.erase_agent(&org, &AgentRef::Name("henry".into())).await, Error::NotFound { .. });
    assert!(
        store
            .list_messages(&other, &conv("henry", "alice", "c1"), &MessageQuery { limit: 10, ..Default::default() })
            .await
            .is_ok(),
        "another org's agent of the same name is untouched"
    );
}
