//! Conformance: Agent statistics (`StatsStore`).

use crate::support::*;

conformance_suite!(by_ref: [agent_stats]);

pub async fn agent_stats(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let agent_ref = AgentRef::Name("stat".into());
    let hours = |h: i64| now - Duration::hours(h);

    // Sessions: 3, one closed.
    let s1 = store.create_session(&org, &agent_ref, Metadata::new(), hours(5)).await.unwrap();
    store.create_session(&org, &agent_ref, Metadata::new(), hours(5)).await.unwrap();
    store.create_session(&org, &agent_ref, Metadata::new(), hours(5)).await.unwrap();
    store
        .update_session(&org, &s1.id, SessionPatch { status: Some(SessionStatus::Closed), metadata: None }, hours(4))
        .await
        .unwrap();
    let agent = store.get_agent(&org, &agent_ref).await.unwrap();

    let spec: [(MemoryType, &str, Timestamp); 9] = [
        (MemoryType::Episodic, "error", hours(1)),
        (MemoryType::Episodic, "test_failure", hours(2)),
        (MemoryType::Decision, "failure", hours(3)),
        (MemoryType::State, "exception", hours(4)),
        (MemoryType::Episodic, "crash", hours(23)),
        (MemoryType::Decision, "note", now - Duration::minutes(30)),
        (MemoryType::Semantic, "warning", hours(1)),
        (MemoryType::Episodic, "error", hours(25)),
        (MemoryType::Action, "note", hours(48)),
    ];
    let add_now = hours(1);
    let mut items: Vec<NewMemory> = spec
        .iter()
        .enumerate()
        .map(|(i, (ty, event, t))| NewMemory {
            memory_type: Some(*ty),
            time: Some(*t),
            ..mem("stat", event, &format!("stat {i}"))
        })
        .collect();
    // Expired by `now`: counted nowhere.
    items.push(NewMemory {
        memory_type: Some(MemoryType::Interaction),
        time: Some(hours(1)),
        expires_at: Some(now - Duration::minutes(1)),
        ..mem("stat", "error", "expired error")
    });
    add_all(store, &org, items, add_now).await;
    // Another agent's memories: not counted.
    add_all(store, &org, vec![mem("bystander", "error", "not mine")], add_now).await;

    let expected = AgentStats {
        agent_id: agent.id.clone(),
        memory_count: 9,
        memories_24h: 7,
        errors_24h: 5,
        session_count: 3,
        active_sessions: 2,
        last_active_at: Some(add_now),
        memory_types: vec![
            (MemoryType::Episodic, 4),
            (MemoryType::Decision, 2),
            (MemoryType::Semantic, 1),
            (MemoryType::State, 1),
            (MemoryType::Action, 1),
        ],
    };
    assert!(ERROR_EVENT_TYPES.iter().all(|e| spec.iter().any(|(_, ev, _)| ev == e)), "every error type used");
    assert_eq!(store.agent_stats(&org, &agent_ref, now).await.unwrap(), expected);
    assert_eq!(store.agent_stats(&org, &AgentRef::Id(agent.id.clone()), now).await.unwrap(), expected);
    // memory_count agrees with count_memories.
    let of_agent = MemoryFilter { agent: Some(agent_ref.clone()), ..Default::default() };
    assert_eq!(count(store, &org, of_agent, now).await, expected.memory_count);

    // An idle agent: zeros.
    let idle = new_agent(store, &org, "idle", now).await;
    assert_eq!(
        store.agent_stats(&org, &AgentRef::Id(idle.id.clone()), now).await.unwrap(),
        AgentStats { agent_id: idle.id.clone(), ..Default::default() }
    );

    assert_err!(store.agent_stats(&org, &AgentRef::Name("nobody".into()), now).await, Error::NotFound { .. });
    assert_err!(store.agent_stats(&org, &AgentRef::Id(ids::agent_id()), now).await, Error::NotFound { .. });
}
