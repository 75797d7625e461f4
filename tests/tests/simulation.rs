//! The product docs' simulation scenario: agent-123 stores states, an interaction with agent-456
//! and a trade action over steps 1234–1236; a step range, attribute and radius filters
//! (ListMemories, ranked search) return what the docs promise, before and after a forced
//! maintenance pass moves them to cold; statistics count them per tier.

use engram_tests::{Server, json_struct, pb};

fn sim(memory_type: pb::MemoryType, step: i64, content: &str, contents: serde_json::Value) -> pb::NewMemory {
    pb::NewMemory {
        agent: "agent-123".into(),
        memory_type: memory_type as i32,
        event_type: "simulation".into(),
        content: content.into(),
        metadata: Some(json_struct(contents)),
        step: Some(step),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_and_attributes_of_the_docs_scenario() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let memories = vec![
        sim(pb::MemoryType::State, 1234, "state at 1234", serde_json::json!({"position": [10, 20], "health": 100})),
        sim(
            pb::MemoryType::Interaction,
            1235,
            "met agent-456",
            serde_json::json!({"other_agent": "agent-456", "kind": "greeting"}),
        ),
        sim(
            pb::MemoryType::Action,
            1236,
            "traded wood for stone",
            serde_json::json!({"action_type": "trade", "outcome": "success", "price": 5}),
        ),
        sim(
            pb::MemoryType::Action,
            1236,
            "trade refused",
            serde_json::json!({"action_type": "trade", "outcome": "failure"}),
        ),
        sim(pb::MemoryType::State, 1236, "state at 1236", serde_json::json!({"position": [11, 20], "health": 95})),
    ];
    c.memories.add_memories(pb::AddMemoriesRequest { memories }).await.unwrap();
    let list =
        |filter: pb::MemoryFilter| pb::ListMemoriesRequest { filter: Some(filter), limit: 100, ..Default::default() };
    let agent = || pb::MemoryFilter { agent: "agent-123".into(), ..Default::default() };
    let contents = |r: pb::ListMemoriesResponse| {
        let mut out: Vec<String> = r.memories.into_iter().map(|m| m.content).collect();
        out.sort();
        out
    };

    // Ordered by step (retrieve_by_time_range), paged with its own token.
    let by_step = |token: String| pb::ListMemoriesRequest {
        filter: Some(pb::MemoryFilter { step_min: Some(1234), step_max: Some(1236), ..agent() }),
        limit: 3,
        order: pb::Order::StepAsc as i32,
        page_token: token,
        ..Default::default()
    };
    let first = c.memories.list_memories(by_step(String::new())).await.unwrap().into_inner();
    let steps: Vec<i64> = first.memories.iter().map(|m| m.step.unwrap()).collect();
    assert_eq!(steps, [1234, 1235, 1236]);
    let rest = c.memories.list_memories(by_step(first.next_page_token)).await.unwrap().into_inner();
    assert_eq!(rest.memories.iter().map(|m| m.step.unwrap()).collect::<Vec<_>>(), [1236, 1236]);
    assert!(!rest.has_more);

    // What happened between steps 1235 and 1236.
    let steps = pb::MemoryFilter { step_min: Some(1235), step_max: Some(1236), ..agent() };
    let got = contents(c.memories.list_memories(list(steps)).await.unwrap().into_inner());
    assert_eq!(got, ["met agent-456", "state at 1236", "trade refused", "traded wood for stone"]);

    // When did I trade successfully.
    let attributes = json_struct(serde_json::json!({"action_type": "trade", "outcome": "success"}));
    let traded = pb::MemoryFilter { attributes: Some(attributes), ..agent() };
    let got = contents(c.memories.list_memories(list(traded.clone())).await.unwrap().into_inner());
    assert_eq!(got, ["traded wood for stone"]);
    // The same filter on a ranked search (the index applies it too).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let request = pb::SearchMemoriesRequest {
            query: "trade".into(),
            filter: Some(traded.clone()),
            limit: 10,
            ..Default::default()
        };
        let hits = c.memories.search_memories(request).await.unwrap().into_inner().hits;
        let texts: Vec<String> = hits.into_iter().map(|h| h.memory.unwrap().content).collect();
        if texts == ["traded wood for stone"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "ranked search with attributes: {texts:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Who did I meet (a non-indexed key works the same).
    let met = pb::MemoryFilter { attributes: Some(json_struct(serde_json::json!({"kind": "greeting"}))), ..agent() };
    assert_eq!(contents(c.memories.list_memories(list(met)).await.unwrap().into_inner()), ["met agent-456"]);

    // A state is identified by (agent, step, type), not by its content: the same state at two steps
    // is two states, the same step's state sent again is one; two different actions of one step are
    // two.
    let same = || serde_json::json!({"position": [1, 1], "health": 50});
    let states = vec![
        sim(pb::MemoryType::State, 2000, "idle", same()),
        sim(pb::MemoryType::State, 2001, "idle", same()),
        sim(pb::MemoryType::State, 2001, "idle", same()),
        sim(pb::MemoryType::Action, 2001, "gathered wood", serde_json::json!({})),
        sim(pb::MemoryType::Action, 2001, "gathered stone", serde_json::json!({})),
    ];
    let added = c.memories.add_memories(pb::AddMemoriesRequest { memories: states }).await.unwrap().into_inner();
    assert_eq!((added.created, added.duplicates), (4, 1));
    let idle = c
        .memories
        .list_memories(list(pb::MemoryFilter { step_min: Some(2000), step_max: Some(2001), ..agent() }))
        .await
        .unwrap()
        .into_inner();
    let mut keys: Vec<String> = idle.memories.iter().map(|m| m.dedup_key.clone()).collect();
    keys.sort();
    assert_eq!(&keys[2..], ["state@2000", "state@2001"]);
    assert!(keys[..2].iter().all(|k| k.starts_with("action@2001:")), "{keys:?}");

    // What did I see near (10, 20): within the radius.
    let scouting = vec![
        pb::NewMemory {
            position: Some(pb::Position { x: 10.5, y: 20.5, z: None }),
            ..sim(pb::MemoryType::State, 1237, "saw a river", serde_json::json!({}))
        },
        pb::NewMemory {
            position: Some(pb::Position { x: 40.0, y: 20.0, z: None }),
            ..sim(pb::MemoryType::State, 1238, "saw a mountain", serde_json::json!({}))
        },
    ];
    c.memories.add_memories(pb::AddMemoriesRequest { memories: scouting }).await.unwrap();
    let near = pb::MemoryFilter { near: Some(pb::Near { x: 10.0, y: 20.0, z: None, radius: 2.0 }), ..agent() };
    assert_eq!(contents(c.memories.list_memories(list(near.clone())).await.unwrap().into_inner()), ["saw a river"]);
    // A ranked search applies it too (the memories it reads back are tested).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let request = pb::SearchMemoriesRequest {
            query: "saw".into(),
            filter: Some(near.clone()),
            limit: 10,
            ..Default::default()
        };
        let hits = c.memories.search_memories(request).await.unwrap().into_inner().hits;
        let texts: Vec<String> = hits.into_iter().map(|h| h.memory.unwrap().content).collect();
        if texts == ["saw a river"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "ranked search with near: {texts:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let bad = pb::MemoryFilter { near: Some(pb::Near { x: 10.0, y: 20.0, z: None, radius: 0.0 }), ..agent() };
    let err = c.memories.list_memories(list(bad)).await.unwrap_err();
    assert!(err.message().starts_with("filter.near.radius"), "{}", err.message());

    // Bad attribute filters name the field.
    for (bad, field) in [
        (serde_json::json!({"action_type": ["trade"]}), "filter.attributes.action_type"),
        (serde_json::json!({"bad key": "x"}), "filter.attributes"),
        (serde_json::json!({"outcome": null}), "filter.attributes.outcome"),
    ] {
        let filter = pb::MemoryFilter { attributes: Some(json_struct(bad)), ..agent() };
        let err = c.memories.list_memories(list(filter)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().starts_with(field), "{field}: {}", err.message());
    }

    // force_memory_maintenance(agent_id="agent-123"): everything moves to cold under a policy
    // that says so, and the step-range and attribute queries answer the same, in full detail.
    let all_cold = json_struct(serde_json::json!({"hot_for": "0s", "cold_after": "0s", "keep_importance": 1.0}));
    let report = c
        .lifecycle
        .force_maintenance(pb::ForceMaintenanceRequest {
            agent_id: "agent-123".into(),
            policy: Some(all_cold),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((report.scanned, report.to_cold), (11, 11));
    let steps = pb::MemoryFilter { step_min: Some(1235), step_max: Some(1236), ..agent() };
    let cold = c.memories.list_memories(list(steps)).await.unwrap().into_inner();
    assert!(cold.memories.iter().all(|m| m.tier == pb::Tier::Cold as i32));
    assert_eq!(contents(cold), ["met agent-456", "state at 1236", "trade refused", "traded wood for stone"]);
    let got = contents(c.memories.list_memories(list(traded)).await.unwrap().into_inner());
    assert_eq!(got, ["traded wood for stone"]);
    // get_memory_statistics(agent_id="agent-123"): totals, per type and per tier.
    let stats = c.simulation.get_memory_statistics(pb::GetMemoryStatisticsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.total, 11);
    assert_eq!(stats.tiers, Some(pb::TierCounts { hot: 0, warm: 0, cold: 11 }));
    assert!(stats.cold_bytes_after > 0 && stats.cold_bytes_before > 0);
    let agent_stats =
        c.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: "agent-123".into() }).await.unwrap().into_inner();
    assert_eq!(agent_stats.tiers, Some(pb::TierCounts { hot: 0, warm: 0, cold: 11 }));
}
