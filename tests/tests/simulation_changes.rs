//! GetStateChanges: the attributes that changed between an agent's consecutive states over a step
//! range, paged without losing the comparison across pages.

use engram_tests::{Server, json_struct, pb};

fn state(step: i64, contents: serde_json::Value) -> pb::NewMemory {
    pb::NewMemory {
        agent: "agent-123".into(),
        memory_type: pb::MemoryType::State as i32,
        content: format!("state at {step}"),
        metadata: Some(json_struct(contents)),
        step: Some(step),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_between_consecutive_states_across_pages() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let memories = vec![
        state(1, serde_json::json!({"health": 100, "position": [0, 0]})),
        state(2, serde_json::json!({"health": 100, "position": [1, 0]})),
        state(3, serde_json::json!({"health": 90, "position": [1, 0], "carrying": "wood"})),
        state(4, serde_json::json!({"health": 90, "position": [1, 0]})),
        state(5, serde_json::json!({"health": 90, "position": [1, 0]})),
    ];
    c.memories.add_memories(pb::AddMemoriesRequest { memories }).await.unwrap();
    let request = |token: String| pb::GetStateChangesRequest {
        agent: "agent-123".into(),
        step_min: Some(1),
        step_max: Some(5),
        limit: 2,
        page_token: token,
    };
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = c.simulation.get_state_changes(request(token)).await.unwrap().into_inner();
        all.extend(page.changes);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let summary: Vec<(i64, i64, Vec<String>)> =
        all.iter().map(|c| (c.from_step, c.to_step, c.changes.iter().map(|a| a.key.clone()).collect())).collect();
    assert_eq!(
        summary,
        [
            (1, 2, vec!["position".to_owned()]),
            (2, 3, vec!["carrying".to_owned(), "health".to_owned()]),
            (3, 4, vec!["carrying".to_owned()]),
            (4, 5, vec![]),
        ]
    );
    let added = &all[1].changes[0];
    assert!(added.before.is_none() && added.after.is_some(), "carrying was added at step 3");
    let removed = &all[2].changes[0];
    assert!(removed.before.is_some() && removed.after.is_none(), "and dropped at step 4");
    let err = c
        .simulation
        .get_state_changes(pb::GetStateChangesRequest { agent: String::new(), ..request(String::new()) })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_similar_past_states_first() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let memories = vec![
        state(10, serde_json::json!({"position": [10, 20], "health": 80, "mood": "calm"})),
        state(11, serde_json::json!({"position": [50, 50], "health": 20, "mood": "angry"})),
        state(12, serde_json::json!({"position": [11, 20], "health": 75, "mood": "calm"})),
        state(13, serde_json::json!({"position": [90, 0], "health": 100, "mood": "calm"})),
    ];
    c.memories.add_memories(pb::AddMemoriesRequest { memories }).await.unwrap();
    let query = serde_json::json!({"position": [10, 20], "health": 79, "mood": "calm"});
    let request = pb::RetrieveSimilarStatesRequest {
        agent: "agent-123".into(),
        state: Some(json_struct(query)),
        k: 2,
        ..Default::default()
    };
    let found = c.simulation.retrieve_similar_states(request.clone()).await.unwrap().into_inner();
    let steps: Vec<i64> = found.states.iter().map(|s| s.memory.as_ref().unwrap().step.unwrap()).collect();
    assert_eq!(steps, [10, 12]);
    assert!(found.states[0].similarity > found.states[1].similarity && found.compared == 4);
    let ranged = pb::RetrieveSimilarStatesRequest { step_min: Some(11), ..request.clone() };
    let found = c.simulation.retrieve_similar_states(ranged).await.unwrap().into_inner();
    assert_eq!(found.states[0].memory.as_ref().unwrap().step, Some(12));
    let err = c
        .simulation
        .retrieve_similar_states(pb::RetrieveSimilarStatesRequest { state: None, ..request.clone() })
        .await
        .unwrap_err();
    assert!(err.message().starts_with("state"), "{}", err.message());

    // With client vectors: cosine over the states' vectors (another agent's never found).
    let with_vector = |agent: &str, step: i64, embedding: Vec<f32>| pb::NewMemory {
        agent: agent.into(),
        embedding,
        ..state(step, serde_json::json!({}))
    };
    let memories = vec![
        with_vector("vec-agent", 1, vec![1.0, 0.0, 0.0]),
        with_vector("vec-agent", 2, vec![0.0, 1.0, 0.0]),
        with_vector("other-agent", 3, vec![0.0, 0.0, 1.0]),
    ];
    c.memories.add_memories(pb::AddMemoriesRequest { memories }).await.unwrap();
    let by_vector = pb::RetrieveSimilarStatesRequest {
        agent: "vec-agent".into(),
        embedding: vec![0.1, 0.9, 0.05],
        k: 5,
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let found = c.simulation.retrieve_similar_states(by_vector.clone()).await.unwrap().into_inner();
        let steps: Vec<i64> = found.states.iter().map(|s| s.memory.as_ref().unwrap().step.unwrap()).collect();
        if steps == [2, 1] {
            assert!(found.states[0].similarity > 0.9, "{:?}", found.states[0].similarity);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "similar states by vector: {steps:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_statistics_over_grpc() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let memories = vec![state(7, serde_json::json!({})), state(9, serde_json::json!({"x": 1}))];
    c.memories.add_memories(pb::AddMemoriesRequest { memories }).await.unwrap();
    let stats = c.simulation.get_memory_statistics(pb::GetMemoryStatisticsRequest {}).await.unwrap().into_inner();
    assert_eq!((stats.total, stats.oldest_step, stats.newest_step), (2, Some(7), Some(9)));
    assert_eq!(stats.by_type, [pb::TypeCount { memory_type: pb::MemoryType::State as i32, count: 2 }]);
    assert_eq!(stats.agents.len(), 1);
    assert_eq!((stats.agents[0].name.as_str(), stats.agents[0].total), ("agent-123", 2));
}
