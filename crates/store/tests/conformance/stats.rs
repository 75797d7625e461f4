//! Conformance: Agent statistics (`StatsStore`).

use crate::support::*;

conformance_suite!(by_ref: [agent_stats, memory_statistics_per_type_agent_and_step]);

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
        tiers: TierCounts { hot: 9, warm: 0, cold: 0 },
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

/// GetMemoryStatistics: live memories per type and per agent (expired ones out), step ranges,
/// other orgs apart.
pub async fn memory_statistics_per_type_agent_and_step(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    let state = |agent: &str, step: i64| NewMemory {
        memory_type: Some(MemoryType::State),
        step: Some(step),
        ..mem(agent, "state", &format!("{agent} at {step}"))
    };
    let items = vec![
        state("a", 5),
        state("a", 9),
        state("b", 2),
        NewMemory { memory_type: Some(MemoryType::Action), ..mem("b", "act", "moved") },
        NewMemory { expires_at: Some(now + Duration::seconds(1)), ..mem("b", "note", "soon gone") },
    ];
    add_all(store, &org, items, now).await;
    add_all(store, &other, vec![state("a", 1_000)], now).await;
    let later = secs(now, 2);
    let stats = store.memory_statistics(&org, later).await.unwrap();
    assert_eq!(stats.total, 4);
    assert_eq!(
        stats.by_type,
        [(MemoryType::Episodic, 0), (MemoryType::State, 3), (MemoryType::Action, 1)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect::<Vec<_>>()
    );
    assert_eq!((stats.oldest_step, stats.newest_step), (Some(2), Some(9)));
    let names: Vec<(&str, u64, Option<i64>, Option<i64>)> =
        stats.agents.iter().map(|a| (a.name.as_str(), a.total, a.oldest_step, a.newest_step)).collect();
    assert_eq!(names, [("a", 2, Some(5), Some(9)), ("b", 2, Some(2), Some(2))]);
    assert_eq!(store.memory_statistics(&other, later).await.unwrap().total, 1);
}
