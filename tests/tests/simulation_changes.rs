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
