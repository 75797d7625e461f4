//! Conformance: Agents (`AgentStore`).

use crate::support::*;

conformance_suite!(by_ref: [agents_register_and_get, agents_list_pagination, agents_delete]);

pub async fn agents_register_and_get(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    let config = obj(json!({"model": "m-1", "temperature": 0.25, "tools": ["a", "b"]}));

    let a = store
        .register_agent(
            &org,
            NewAgent { name: "alpha".into(), description: "first agent".into(), config: config.clone() },
            now,
        )
        .await
        .unwrap();
    assert!(is_agent_id(&a.id), "generated id {:?} is an agent id", a.id);
    assert_eq!(
        a,
        Agent {
            id: a.id.clone(),
            org_id: org.clone(),
            name: "alpha".into(),
            description: "first agent".into(),
            config: config.clone(),
            created_at: now,
            last_active_at: None,
        }
    );

    // Duplicate name in the same org: AlreadyExists with the existing id; nothing changes.
    assert_err!(
        store
            .register_agent(
                &org,
                NewAgent { name: "alpha".into(), description: "second".into(), config: Metadata::new() },
                secs(now, 1)
            )
            .await,
        Error::AlreadyExists { existing_id, .. } if existing_id == a.id
    );
    assert_eq!(store.get_agent(&org, &AgentRef::Id(a.id.clone())).await.unwrap(), a);

    // Same name in another org is fine and is another agent.
    let b = new_agent(store, &other, "alpha", secs(now, 2)).await;
    assert_ne!(b.id, a.id);
    assert_eq!(b.org_id, other);

    assert_eq!(store.get_agent(&org, &AgentRef::Id(a.id.clone())).await.unwrap(), a);
    assert_eq!(store.get_agent(&org, &AgentRef::Name("alpha".into())).await.unwrap(), a);
    assert_eq!(store.get_agent(&other, &AgentRef::Name("alpha".into())).await.unwrap(), b);

    assert_err!(store.get_agent(&org, &AgentRef::Name("nobody".into())).await, Error::NotFound { .. });
    assert_err!(store.get_agent(&org, &AgentRef::Id(ids::agent_id())).await, Error::NotFound { .. });
}

pub async fn agents_list_pagination(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    let mut created = Vec::new();
    for i in 0..5 {
        let t = now + Duration::milliseconds(i);
        created.push(new_agent(store, &org, &format!("agent-{i}"), t).await.id);
    }
    new_agent(store, &other, "agent-x", now).await;

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 3, "too many pages");
        let page = store.list_agents(&org, 2, after.take()).await.unwrap();
        seen.extend(page.items.iter().map(|a| a.id.clone()));
        match page.next_cursor {
            Some(next) => {
                assert_eq!(page.items.len(), 2, "a page with a cursor is full");
                after = Some(next);
            }
            None => {
                assert_eq!(page.items.len(), 1, "last page holds the fifth agent");
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "all five, once each, in creation order");

    // A page exactly filled by the remaining agents has no cursor.
    let page = store.list_agents(&org, 5, None).await.unwrap();
    assert_eq!(page.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), created);
    assert_eq!(page.next_cursor, None);
    assert!(page.items.iter().all(|a| a.org_id == org));
}

pub async fn agents_delete(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let x = new_agent(store, &org, "doomed", now).await;
    let y = new_agent(store, &org, "survivor", now).await;
    let s1 = store.create_session(&org, &AgentRef::Name("doomed".into()), Metadata::new(), now).await.unwrap();
    let s2 = store.create_session(&org, &AgentRef::Id(x.id.clone()), Metadata::new(), now).await.unwrap();

    let x_mems = add_all(
        store,
        &org,
        vec![
            NewMemory { session_id: Some(s1.id.clone()), tags: strings(&["shared"]), ..mem(&x.id, "note", "x one") },
            mem(&x.id, "note", "x two"),
            NewMemory { session_id: Some(s2.id.clone()), ..mem(&x.id, "note", "x three") },
        ],
        now,
    )
    .await;
    let y_mems = add_all(
        store,
        &org,
        vec![NewMemory { tags: strings(&["shared"]), ..mem(&y.id, "note", "y one") }, mem(&y.id, "note", "y two")],
        now,
    )
    .await;

    // Without cascade while memories exist: FailedPrecondition, nothing removed.
    assert_err!(store.delete_agent(&org, &AgentRef::Name("doomed".into()), false).await, Error::FailedPrecondition(_));
    assert_eq!(store.get_agent(&org, &AgentRef::Id(x.id.clone())).await.unwrap().id, x.id);
    assert_eq!(count(store, &org, MemoryFilter::default(), now).await, 5);

    // With cascade: (sessions, memories), and everything of the agent is gone.
    assert_eq!(
        store.delete_agent(&org, &AgentRef::Id(x.id.clone()), true).await.unwrap(),
        AgentDeletion { sessions: 2, memories: 3 }
    );
    assert_err!(store.get_agent(&org, &AgentRef::Id(x.id.clone())).await, Error::NotFound { .. });
    assert_err!(store.get_agent(&org, &AgentRef::Name("doomed".into())).await, Error::NotFound { .. });
    for s in [&s1, &s2] {
        assert_err!(store.get_session(&org, &s.id).await, Error::NotFound { .. });
    }
    for m in &x_mems {
        assert_err!(store.get_memory(&org, &m.id, now).await, Error::NotFound { .. });
    }
    assert_eq!(all_sessions(store, &org, None, None, 10).await, Vec::<String>::new());

    // Other agents' memories are untouched.
    let mut expected_y = ids_of(&y_mems);
    let mut remaining = find(store, &org, MemoryFilter::default(), now).await;
    expected_y.sort();
    remaining.sort();
    assert_eq!(remaining, expected_y);
    let tagged = find(store, &org, MemoryFilter { tags_any: strings(&["shared"]), ..Default::default() }, now).await;
    assert_eq!(tagged, vec![y_mems[0].id.clone()]);
    for m in &y_mems {
        assert_eq!(&store.get_memory(&org, &m.id, now).await.unwrap(), m);
    }

    assert_err!(store.delete_agent(&org, &AgentRef::Id(x.id.clone()), true).await, Error::NotFound { .. });

    // A new agent with the old name starts empty.
    let x2 = new_agent(store, &org, "doomed", secs(now, 1)).await;
    assert_ne!(x2.id, x.id);
    let filter = MemoryFilter { agent: Some(AgentRef::Name("doomed".into())), ..Default::default() };
    assert_eq!(find(store, &org, filter, now).await, Vec::<String>::new());

    // An agent without memories or sessions deletes without cascade.
    assert_eq!(
        store.delete_agent(&org, &AgentRef::Name("doomed".into()), false).await.unwrap(),
        AgentDeletion::default()
    );
    assert_err!(store.get_agent(&org, &AgentRef::Id(x2.id.clone())).await, Error::NotFound { .. });
    assert_eq!(store.get_agent(&org, &AgentRef::Id(y.id.clone())).await.unwrap().id, y.id);
}
