//! Conformance: Org isolation: nothing of one org is visible to or changed by another, on every store.

use crate::support::*;

conformance_suite!(by_ref: [org_isolation]);

pub async fn org_isolation(store: &dyn Store) {
    let now = time::now();
    let org_a = new_org(store).await;
    let org_b = new_org(store).await;
    let agent = new_agent(store, &org_a, "iso-agent", now).await;
    let agent_id = AgentRef::Id(agent.id.clone());
    let session = store.create_session(&org_a, &agent_id, Metadata::new(), now).await.unwrap();
    let memory = add_one(
        store,
        &org_a,
        NewMemory {
            session_id: Some(session.id.clone()),
            tags: strings(&["iso"]),
            dedup_key: Some("iso-key".into()),
            ..mem(&agent.id, "error", "isolated content")
        },
        now,
    )
    .await;
    let (key_id, secret) = ids::api_key();
    let key = ApiKey {
        id: key_id.clone(),
        org_id: org_a.clone(),
        name: "a-key".into(),
        permissions: vec![Permission::Read],
        created_at: now,
        expires_at: None,
        revoked_at: None,
    };
    store.create_api_key(&key, &ids::key_digest(&secret)).await.unwrap();
    let later = secs(now, 1);
    let b = org_b.as_str();

    // Agents.
    assert_err!(store.get_agent(b, &agent_id).await, Error::NotFound { .. });
    assert_err!(store.get_agent(b, &AgentRef::Name("iso-agent".into())).await, Error::NotFound { .. });
    assert_eq!(store.list_agents(b, 100, None).await.unwrap(), Page { items: vec![], next_cursor: None });
    assert_err!(store.agent_stats(b, &agent_id, later).await, Error::NotFound { .. });
    assert_err!(store.delete_agent(b, &agent_id, true).await, Error::NotFound { .. });
    assert_err!(store.delete_agent(b, &agent_id, false).await, Error::NotFound { .. });

    // Sessions.
    assert_err!(store.get_session(b, &session.id).await, Error::NotFound { .. });
    assert_err!(
        store
            .update_session(b, &session.id, SessionPatch { status: Some(SessionStatus::Closed), metadata: None }, later)
            .await,
        Error::NotFound { .. }
    );
    assert_err!(store.create_session(b, &agent_id, Metadata::new(), later).await, Error::NotFound { .. });
    assert_eq!(all_sessions(store, b, None, None, 10).await, Vec::<String>::new());
    assert_eq!(all_sessions(store, b, Some(&agent_id), None, 10).await, Vec::<String>::new());

    // Memories: read.
    assert_err!(store.get_memory(b, &memory.id, later).await, Error::NotFound { .. });
    let filters = [
        MemoryFilter::default(),
        MemoryFilter { agent: Some(agent_id.clone()), ..Default::default() },
        MemoryFilter { session_id: Some(session.id.clone()), ..Default::default() },
        MemoryFilter { tags_any: strings(&["iso"]), ..Default::default() },
        MemoryFilter { tags_all: strings(&["iso"]), ..Default::default() },
        MemoryFilter { content_contains: Some(Needle::new("isolated")), ..Default::default() },
    ];
    for filter in &filters {
        assert_eq!(find(store, b, filter.clone(), later).await, Vec::<String>::new(), "{filter:?}");
        assert_eq!(count(store, b, filter.clone(), later).await, 0, "{filter:?}");
    }

    // Memories: write.
    assert_err!(
        store.update_memory(b, &memory.id, MemoryPatch { importance: Some(0.1), ..Default::default() }, later).await,
        Error::NotFound { .. }
    );
    assert_err!(store.delete_memory(b, &memory.id).await, Error::NotFound { .. });
    assert_eq!(
        store
            .delete_memories(b, &DeleteFilter { session_id: Some(session.id.clone()), ..Default::default() })
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.delete_memories(b, &DeleteFilter { agent: Some(agent_id.clone()), ..Default::default() }).await.unwrap(),
        0
    );
    assert_eq!(store.delete_memories(b, &DeleteFilter::default()).await.unwrap(), 0);
    assert_err!(
        add_raw(store, b, vec![mem(&agent.id, "note", "by A's agent id")], window(), later).await,
        Error::NotFound { .. }
    );
    assert_err!(
        add_raw(
            store,
            b,
            vec![NewMemory { session_id: Some(session.id.clone()), ..mem("iso-agent", "note", "in A's session") }],
            window(),
            later,
        )
        .await,
        Error::NotFound { .. }
    );
    assert_err!(
        add_raw(
            store,
            b,
            vec![NewMemory { parent_id: Some(memory.id.clone()), ..mem("iso-agent", "note", "child of A's") }],
            window(),
            later,
        )
        .await,
        Error::NotFound { .. }
    );
    assert_err!(store.get_agent(b, &AgentRef::Name("iso-agent".into())).await, Error::NotFound { .. });

    // API keys.
    assert_eq!(store.list_api_keys(b).await.unwrap(), vec![]);
    assert_err!(store.revoke_api_key(Some(b), &key_id, later).await, Error::NotFound { .. });

    // Org A is intact.
    assert_eq!(store.get_memory(&org_a, &memory.id, later).await.unwrap(), memory);
    let a_session = store.get_session(&org_a, &session.id).await.unwrap();
    assert_eq!(a_session.status, SessionStatus::Active);
    assert_eq!(a_session.closed_at, None);
    assert_eq!(count(store, &org_a, MemoryFilter::default(), later).await, 1);
    assert_eq!(store.get_agent(&org_a, &agent_id).await.unwrap().id, agent.id);
    assert_eq!(store.list_api_keys(&org_a).await.unwrap(), vec![key]);

    // Same name in B is another agent, with its own dedup space.
    let in_b = add_one(
        store,
        b,
        NewMemory { dedup_key: Some("iso-key".into()), ..mem("iso-agent", "error", "isolated content") },
        later,
    )
    .await;
    assert_ne!(in_b.agent_id, agent.id);
    assert_eq!(in_b.org_id, org_b);
    assert_eq!(find(store, &org_a, MemoryFilter::default(), later).await, vec![memory.id.clone()]);
    let stats_a = store.agent_stats(&org_a, &agent_id, later).await.unwrap();
    assert_eq!((stats_a.memory_count, stats_a.session_count), (1, 1));
}
