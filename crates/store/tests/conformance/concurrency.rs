//! Conformance: Concurrency and group commit: many writers at once, one dedup key, a failing write in a group.

use crate::support::*;

conformance_suite!(shared: [concurrent_adds, concurrent_same_dedup_key, failing_write_in_group]);

pub async fn concurrent_adds(store: Arc<dyn Store>) {
    const TASKS: usize = 16;
    const PER_TASK: usize = 50;
    let now = time::now();
    let org = new_org(store.as_ref()).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, org, barrier) = (store.clone(), org.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            // Four agents shared by the tasks, registered on first use by whichever task wins.
            let items: Vec<NewMemory> = (0..PER_TASK)
                .map(|i| mem(&format!("worker-{}", t % 4), "note", &format!("task {t} memory {i}")))
                .collect();
            barrier.wait().await;
            add_raw(&*store, &org, items, window(), now).await
        }));
    }
    let mut created = std::collections::HashSet::new();
    for task in tasks {
        let outcomes = task.await.unwrap().unwrap();
        assert_eq!(outcomes.len(), PER_TASK);
        for outcome in outcomes {
            match outcome {
                AddOutcome::Created(m) => assert!(created.insert(m.id), "id returned twice"),
                other => panic!("expected Created, got {other:?}"),
            }
        }
    }
    assert_eq!(created.len(), TASKS * PER_TASK);

    // All 800 share one time: pagination goes by id alone.
    let (listed, _) = all_pages(store.as_ref(), &org, &MemoryFilter::default(), 100, Order::Asc, now).await;
    let listed_ids: HashSet<String> = listed.iter().map(|m| m.id.clone()).collect();
    assert_eq!(listed.len(), TASKS * PER_TASK, "exactly 800 listed");
    assert_eq!(listed_ids.len(), TASKS * PER_TASK, "no duplicates");
    assert_eq!(listed_ids, created);
    assert_eq!(count(store.as_ref(), &org, MemoryFilter::default(), now).await, (TASKS * PER_TASK) as u64);

    let agents = store.list_agents(&org, 100, None).await.unwrap();
    let mut names: Vec<String> = agents.items.iter().map(|a| a.name.clone()).collect();
    names.sort();
    assert_eq!(names, strings(&["worker-0", "worker-1", "worker-2", "worker-3"]), "each agent registered once");
    for a in &agents.items {
        let filter = MemoryFilter { agent: Some(AgentRef::Id(a.id.clone())), ..Default::default() };
        assert_eq!(count(store.as_ref(), &org, filter, now).await, 200);
    }
}

pub async fn concurrent_same_dedup_key(store: Arc<dyn Store>) {
    const TASKS: usize = 8;
    let now = time::now();
    let org = new_org(store.as_ref()).await;
    let agent = new_agent(store.as_ref(), &org, "racer", now).await;
    for round in 0..3 {
        let key = format!("same-key-{round}");
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (store, org, barrier) = (store.clone(), org.clone(), barrier.clone());
            let item = NewMemory {
                dedup_key: Some(key.clone()),
                ..mem(&agent.id, "note", &format!("round {round} attempt {t}"))
            };
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                add_raw(&*store, &org, vec![item], window(), now).await
            }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            let mut batch = task.await.unwrap().unwrap();
            assert_eq!(batch.len(), 1);
            outcomes.push(batch.pop().unwrap());
        }
        let created: Vec<&Memory> = outcomes
            .iter()
            .filter_map(|o| match o {
                AddOutcome::Created(m) => Some(m),
                AddOutcome::Duplicate { .. } => None,
            })
            .collect();
        assert_eq!(created.len(), 1, "round {round}: exactly one Created: {outcomes:?}");
        let winner = created[0].id.clone();
        for o in &outcomes {
            if let AddOutcome::Duplicate { existing_id } = o {
                assert_eq!(existing_id, &winner, "round {round}: duplicates point at the winner");
            }
        }
        assert_eq!(store.get_memory(&org, &winner, now).await.unwrap().dedup_key, key);
    }
    let of_agent = MemoryFilter { agent: Some(AgentRef::Id(agent.id.clone())), ..Default::default() };
    assert_eq!(count(store.as_ref(), &org, of_agent, now).await, 3);
}

pub async fn failing_write_in_group(store: Arc<dyn Store>) {
    const ROUNDS: usize = 5;
    const GOOD: usize = 6;
    const PER_GOOD: usize = 5;
    let now = time::now();
    let org = new_org(store.as_ref()).await;
    let good = new_agent(store.as_ref(), &org, "good", now).await;
    let other = new_agent(store.as_ref(), &org, "other", now).await;
    let s_other = store.create_session(&org, &AgentRef::Id(other.id.clone()), Metadata::new(), now).await.unwrap();

    let mut created = Vec::new();
    for round in 0..ROUNDS {
        let barrier = Arc::new(tokio::sync::Barrier::new(GOOD + 2));
        let spawn = |items: Vec<NewMemory>| {
            let (store, org, barrier) = (store.clone(), org.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                add_raw(&*store, &org, items, window(), now).await
            })
        };
        // Fails: missing session (after a valid item and a new agent).
        let missing = spawn(vec![
            mem(&format!("doomed-agent-{round}"), "note", &format!("doomed {round} a")),
            NewMemory { session_id: Some(ids::session_id()), ..mem(&good.id, "note", &format!("doomed {round} b")) },
        ]);
        // Fails: another agent's session.
        let foreign = spawn(vec![
            mem(&good.id, "note", &format!("doomed {round} c")),
            NewMemory { session_id: Some(s_other.id.clone()), ..mem(&good.id, "note", &format!("doomed {round} d")) },
        ]);
        let valid: Vec<_> = (0..GOOD)
            .map(|t| {
                spawn(
                    (0..PER_GOOD).map(|i| mem(&good.id, "note", &format!("round {round} task {t} item {i}"))).collect(),
                )
            })
            .collect();
        assert_err!(missing.await.unwrap(), Error::NotFound { .. });
        assert_err!(
            foreign.await.unwrap(),
            Error::InvalidItem { index: 1, ref field, .. } if field == "session_id"
        );
        for task in valid {
            let outcomes = task.await.unwrap().unwrap();
            assert_eq!(outcomes.len(), PER_GOOD);
            for o in outcomes {
                match o {
                    AddOutcome::Created(m) => created.push(m),
                    other => panic!("expected Created, got {other:?}"),
                }
            }
        }
    }
    assert_eq!(created.len(), ROUNDS * GOOD * PER_GOOD);
    for m in &created {
        assert_eq!(&store.get_memory(&org, &m.id, now).await.unwrap(), m);
    }
    let of_good = MemoryFilter { agent: Some(AgentRef::Id(good.id.clone())), ..Default::default() };
    assert_eq!(count(store.as_ref(), &org, of_good, now).await, (ROUNDS * GOOD * PER_GOOD) as u64);
    let doomed = MemoryFilter { content_contains: Some(Needle::new("doomed")), ..Default::default() };
    assert_eq!(count(store.as_ref(), &org, doomed, now).await, 0, "failed batches stored nothing");
    for round in 0..ROUNDS {
        assert_err!(
            store.get_agent(&org, &AgentRef::Name(format!("doomed-agent-{round}"))).await,
            Error::NotFound { .. }
        );
    }
}
