//! Conformance: Adding memories (`MemoryStore::add_memories`): defaults, round trip, dedup, batch failures.

use crate::support::*;

conformance_suite!(by_ref: [add_memories_defaults, add_memories_round_trip, add_memories_derived_dedup_key, add_memories_dedup, add_memories_batch_failures]);

pub async fn add_memories_defaults(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let m = add_one(store, &org, mem("def", "note", "hello world"), now).await;
    let agent = store.get_agent(&org, &AgentRef::Name("def".into())).await.unwrap();
    assert!(m.id.starts_with("mem_"), "memory id {:?}", m.id);
    assert_eq!(
        m,
        Memory {
            id: m.id.clone(),
            org_id: org.clone(),
            agent_id: agent.id.clone(),
            session_id: None,
            memory_type: MemoryType::Episodic,
            event_type: "note".into(),
            content: "hello world".into(),
            metadata: Metadata::new(),
            tags: vec![],
            importance: DEFAULT_IMPORTANCE,
            parent_id: None,
            dedup_key: derived_dedup_key(&agent.id, "note", "hello world"),
            time: now,
            created_at: now,
            step: None,
            position: None,
            expires_at: None,
            access_count: 0,
            last_accessed_at: None,
            tier: engram_core::lifecycle::Tier::Hot,
            scope: None,
        }
    );
    assert_eq!(m.importance, 0.5);
    assert_eq!(store.get_memory(&org, &m.id, now).await.unwrap(), m);
}

pub async fn add_memories_round_trip(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let agent = new_agent(store, &org, "rt", now).await;
    let session = store.create_session(&org, &AgentRef::Id(agent.id.clone()), Metadata::new(), now).await.unwrap();
    let parent = add_one(store, &org, mem("rt", "note", "the parent"), now).await;

    let metadata = obj(json!({
        "reasoning": "because it scales",
        "n": 1,
        "neg": -7,
        "f": 1.5,
        "nested": {"list": [1, "two", null, true, {"deep": []}]},
        "unicode": "héllo ✓",
        "escapes": "a \"quote\", a \\ backslash, a \\N, a tab\t and a newline\n"
    }));
    let full = NewMemory {
        agent: "rt".into(),
        session_id: Some(session.id.clone()),
        memory_type: Some(MemoryType::Decision),
        event_type: "decision_made".into(),
        content: "Use PostgreSQL ✓ — ünïcode\nsecond line\twith a tab, a \\N and a backslash \\ \r\n".into(),
        metadata: metadata.clone(),
        tags: strings(&["alpha", "beta", "gamma"]),
        importance: Some(0.875),
        parent_id: Some(parent.id.clone()),
        dedup_key: Some("custom-key-1".into()),
        time: Some(secs(now, -3 * 3600)),
        step: Some(42),
        position: Some(Position { x: 1.5, y: -2.25, z: Some(3.0) }),
        expires_at: Some(now + Duration::days(1)),
        reasoning: None,
        embedding: vec![0.25, -1.0, 3.5e-7, f32::MAX],
        scope: Some("user-7".into()),
    };
    let created = add_one(store, &org, full, now).await;
    let fed = store.feed_changes(&org, 0, 100).await.unwrap();
    let fed = fed.iter().find(|c| c.memory.id == created.id).unwrap();
    assert_eq!(fed.vector.as_deref(), Some(&[0.25, -1.0, 3.5e-7, f32::MAX][..]), "the vector round-trips bit for bit");
    let expected = Memory {
        id: created.id.clone(),
        org_id: org.clone(),
        agent_id: agent.id.clone(),
        session_id: Some(session.id.clone()),
        memory_type: MemoryType::Decision,
        event_type: "decision_made".into(),
        content: "Use PostgreSQL ✓ — ünïcode\nsecond line\twith a tab, a \\N and a backslash \\ \r\n".into(),
        metadata,
        tags: strings(&["alpha", "beta", "gamma"]),
        importance: 0.875,
        parent_id: Some(parent.id.clone()),
        dedup_key: "custom-key-1".into(),
        time: secs(now, -3 * 3600),
        created_at: now,
        step: Some(42),
        position: Some(Position { x: 1.5, y: -2.25, z: Some(3.0) }),
        expires_at: Some(now + Duration::days(1)),
        access_count: 0,
        last_accessed_at: None,
        tier: engram_core::lifecycle::Tier::Hot,
        scope: Some("user-7".into()),
    };
    assert_eq!(created, expected);
    assert_eq!(store.get_memory(&org, &created.id, now).await.unwrap(), expected);
    assert_eq!(store.get_memory(&org, &created.id, now).await.unwrap().reasoning(), Some("because it scales"));

    // Position without z, zero importance (not the default), negative step, future time,
    // agent given by id, microsecond-precise times.
    let t_future = now + Duration::microseconds(60_000_123);
    let flat = NewMemory {
        agent: agent.id.clone(),
        memory_type: Some(MemoryType::Interaction),
        tags: strings(&["solo"]),
        importance: Some(0.0),
        dedup_key: Some("custom-key-2".into()),
        time: Some(t_future),
        step: Some(-7),
        position: Some(Position { x: -0.5, y: 1e6, z: None }),
        ..mem("ignored", "observation", "flat one")
    };
    let created2 = add_one(store, &org, flat, now).await;
    let got2 = store.get_memory(&org, &created2.id, now).await.unwrap();
    assert_eq!(got2, created2);
    assert_eq!(got2.agent_id, agent.id);
    assert_eq!(got2.memory_type, MemoryType::Interaction);
    assert_eq!(got2.tags, strings(&["solo"]));
    assert_eq!(got2.importance, 0.0);
    assert_eq!(got2.dedup_key, "custom-key-2");
    assert_eq!(got2.time, t_future);
    assert_eq!(got2.step, Some(-7));
    assert_eq!(got2.position, Some(Position { x: -0.5, y: 1e6, z: None }));
    assert_eq!((got2.session_id.clone(), got2.parent_id.clone(), got2.expires_at), (None, None, None));

    // Every memory type round-trips.
    let items: Vec<NewMemory> = MemoryType::ALL
        .iter()
        .map(|t| NewMemory { memory_type: Some(*t), ..mem("rt", "typed", &format!("type {}", t.as_str())) })
        .collect();
    let typed = add_all(store, &org, items, now).await;
    for (m, t) in typed.iter().zip(MemoryType::ALL) {
        let got = store.get_memory(&org, &m.id, now).await.unwrap();
        assert_eq!(got.memory_type, t);
        assert_eq!(&got, m);
    }
}

pub async fn add_memories_derived_dedup_key(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let agent = new_agent(store, &org, "hasher", now).await;

    let m = add_one(store, &org, mem("hasher", "note", "some content"), now).await;
    assert_eq!(m.dedup_key, derived_dedup_key(&agent.id, "note", "some content"));

    // Only the first 200 bytes count: same head, same event type -> duplicate.
    let head = "x".repeat(200);
    let a = add_one(store, &org, mem("hasher", "note", &format!("{head}A")), now).await;
    assert_eq!(a.dedup_key, derived_dedup_key(&agent.id, "note", &format!("{head}A")));
    assert_eq!(
        add_outcome(store, &org, mem("hasher", "note", &format!("{head}B")), secs(now, 1)).await,
        AddOutcome::Duplicate { existing_id: a.id.clone() }
    );
    // Another event type is another key.
    let c = add_one(store, &org, mem("hasher", "other", "some content"), secs(now, 2)).await;
    assert_eq!(c.dedup_key, derived_dedup_key(&agent.id, "other", "some content"));
    assert_ne!(c.dedup_key, m.dedup_key);
}

pub async fn add_memories_dedup(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let a = new_agent(store, &org, "dedup-a", now).await;
    let b = new_agent(store, &org, "dedup-b", now).await;
    let keyed = |agent: &str, key: &str, content: &str| NewMemory {
        dedup_key: Some(key.into()),
        ..mem(agent, "note", content)
    };
    let of_a = MemoryFilter { agent: Some(AgentRef::Id(a.id.clone())), ..Default::default() };

    let m1 = add_one(store, &org, keyed(&a.id, "k1", "first"), now).await;
    // Same agent and key within the window: Duplicate, not stored.
    assert_eq!(
        add_outcome(store, &org, keyed(&a.id, "k1", "second"), secs(now, 60)).await,
        AddOutcome::Duplicate { existing_id: m1.id.clone() }
    );
    assert_eq!(count(store, &org, of_a.clone(), secs(now, 60)).await, 1);
    let second = MemoryFilter { content_contains: Some(Needle::new("second")), ..Default::default() };
    assert_eq!(find(store, &org, second, secs(now, 60)).await, Vec::<String>::new());

    // Same key for another agent: created.
    let mb = add_one(store, &org, keyed(&b.id, "k1", "first"), secs(now, 60)).await;
    assert_ne!(mb.id, m1.id);

    // Outside the window: created; later duplicates point at the new one.
    let t_late = now + Duration::hours(2);
    let m3 = add_one(store, &org, keyed(&a.id, "k1", "third"), t_late).await;
    assert_ne!(m3.id, m1.id);
    assert_eq!(
        add_outcome(store, &org, keyed(&a.id, "k1", "fourth"), secs(t_late, 60)).await,
        AddOutcome::Duplicate { existing_id: m3.id.clone() }
    );

    // In-batch duplicates point at the batch's first.
    let t_batch = now + Duration::hours(3);
    let outcomes = add_raw(
        store,
        &org,
        vec![
            keyed(&a.id, "k2", "batch one"),
            keyed(&a.id, "k2", "batch two"),
            keyed(&b.id, "k2", "batch three"),
            keyed(&a.id, "k3", "batch four"),
            keyed(&a.id, "k2", "batch five"),
        ],
        window(),
        t_batch,
    )
    .await
    .unwrap();
    assert_eq!(outcomes.len(), 5);
    let AddOutcome::Created(first) = &outcomes[0] else { panic!("first: {:?}", outcomes[0]) };
    assert_eq!(outcomes[1], AddOutcome::Duplicate { existing_id: first.id.clone() });
    assert!(matches!(&outcomes[2], AddOutcome::Created(m) if m.agent_id == b.id), "{:?}", outcomes[2]);
    assert!(matches!(&outcomes[3], AddOutcome::Created(m) if m.dedup_key == "k3"), "{:?}", outcomes[3]);
    assert_eq!(outcomes[4], AddOutcome::Duplicate { existing_id: first.id.clone() });
    let batch = MemoryFilter { content_contains: Some(Needle::new("batch")), ..Default::default() };
    assert_eq!(count(store, &org, batch, t_batch).await, 3);

    // Expired memories do not count for dedup.
    let t_exp = now + Duration::hours(4);
    let e1 = add_one(
        store,
        &org,
        NewMemory { expires_at: Some(secs(t_exp, 10)), ..keyed(&a.id, "k4", "short-lived") },
        t_exp,
    )
    .await;
    assert_eq!(
        add_outcome(store, &org, keyed(&a.id, "k4", "while alive"), secs(t_exp, 5)).await,
        AddOutcome::Duplicate { existing_id: e1.id.clone() }
    );
    let e2 = add_one(store, &org, keyed(&a.id, "k4", "after expiry"), secs(t_exp, 20)).await;
    assert_ne!(e2.id, e1.id);
    assert_eq!(e2.dedup_key, "k4");
}

pub async fn add_memories_batch_failures(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let owner = new_agent(store, &org, "owner", now).await;
    let other = new_agent(store, &org, "other", now).await;
    let s_owner = store.create_session(&org, &AgentRef::Id(owner.id.clone()), Metadata::new(), now).await.unwrap();
    let s_other = store.create_session(&org, &AgentRef::Id(other.id.clone()), Metadata::new(), now).await.unwrap();
    let owner_active = store.get_agent(&org, &AgentRef::Id(owner.id.clone())).await.unwrap().last_active_at;
    assert_eq!(owner_active, Some(now));

    let o = org.as_str();
    let nothing_stored = |t: Timestamp| async move {
        assert_eq!(count(store, o, MemoryFilter::default(), t).await, 0, "nothing stored");
    };

    // A missing session fails the whole batch, including earlier valid items and registrations.
    let t1 = secs(now, 1);
    assert_err!(
        add_raw(
            store,
            &org,
            vec![
                mem(&owner.id, "note", "valid one"),
                mem("fresh-agent", "note", "valid two"),
                NewMemory { session_id: Some(ids::session_id()), ..mem(&owner.id, "note", "bad") },
            ],
            window(),
            t1,
        )
        .await,
        Error::NotFound { .. }
    );
    nothing_stored(t1).await;
    assert_err!(store.get_agent(&org, &AgentRef::Name("fresh-agent".into())).await, Error::NotFound { .. });

    // A session of another agent: an item error naming the item and its field, nothing stored.
    let t2 = secs(now, 2);
    assert_err!(
        add_raw(store,
                &org,
                vec![
                    NewMemory { session_id: Some(s_owner.id.clone()), ..mem(&owner.id, "note", "valid") },
                    NewMemory { session_id: Some(s_other.id.clone()), ..mem(&owner.id, "note", "wrong") },
                ],
                window(),
                t2,
            )
            .await,
        Error::InvalidItem { index: 1, ref field, .. } if field == "session_id"
    );
    nothing_stored(t2).await;

    // A missing parent: NotFound, nothing stored.
    let t3 = secs(now, 3);
    assert_err!(
        add_raw(
            store,
            &org,
            vec![
                mem(&owner.id, "note", "valid"),
                NewMemory { parent_id: Some(ids::memory_id()), ..mem(&owner.id, "note", "orphan") },
            ],
            window(),
            t3,
        )
        .await,
        Error::NotFound { .. }
    );
    nothing_stored(t3).await;

    // A missing agent id: NotFound, nothing stored.
    let t4 = secs(now, 4);
    assert_err!(
        add_raw(
            store,
            &org,
            vec![mem(&owner.id, "note", "valid"), mem(&ids::agent_id(), "note", "nobody's")],
            window(),
            t4,
        )
        .await,
        Error::NotFound { .. }
    );
    nothing_stored(t4).await;

    // Failed batches did not touch the agent.
    let agent = store.get_agent(&org, &AgentRef::Id(owner.id.clone())).await.unwrap();
    assert_eq!(agent.last_active_at, Some(now), "failed batches leave last_active_at alone");

    // A successful write marks its agents active at `now`.
    let t5 = secs(now, 5);
    add_all(
        store,
        &org,
        vec![
            NewMemory { session_id: Some(s_owner.id.clone()), ..mem(&owner.id, "note", "ok") },
            mem("newcomer", "note", "hi"),
        ],
        t5,
    )
    .await;
    let agent = store.get_agent(&org, &AgentRef::Id(owner.id.clone())).await.unwrap();
    assert_eq!(agent.last_active_at, Some(t5));
    let newcomer = store.get_agent(&org, &AgentRef::Name("newcomer".into())).await.unwrap();
    assert_eq!((newcomer.created_at, newcomer.last_active_at), (t5, Some(t5)));
    assert_eq!(count(store, &org, MemoryFilter::default(), t5).await, 2);
}
