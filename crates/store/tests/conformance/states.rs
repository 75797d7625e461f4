//! Conformance: the metadata listing of the state vectorizer (`StateStore`): the same memories,
//! in the same order, as a listing with the same filter, with their metadata; expired and other
//! agents' memories never; a content filter refused.

use crate::support::*;

conformance_suite!(by_ref: [metadata_listing_matches_the_listing]);

pub async fn metadata_listing_matches_the_listing(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let state = |agent: &str, step: i64, i: usize| NewMemory {
        memory_type: Some(MemoryType::State),
        step: Some(step),
        time: Some(secs(now, -(i as i64))),
        metadata: obj(json!({"step": step, "position": [step, -step], "mood": format!("m{}", step % 3)})),
        ..mem(agent, "state", &format!("{agent} at {step}"))
    };
    // Steps run against times (a state is identified by its step); another agent, an action and
    // an expiring state interleave.
    let steps = [4, 1, 6, 9, 2, 7, 5, 3];
    let mut items: Vec<NewMemory> = steps.iter().enumerate().map(|(i, s)| state("sim", *s, i)).collect();
    items.push(state("other", 5, 20));
    items.push(NewMemory { memory_type: Some(MemoryType::Action), step: Some(6), ..mem("sim", "trade", "traded") });
    items.push(NewMemory { expires_at: Some(secs(now, 1)), ..state("sim", 8, 21) });
    add_all(store, &org, items, now).await;
    let later = secs(now, 2);

    let filter = MemoryFilter {
        agent: Some(AgentRef::parse("sim")),
        memory_types: vec![MemoryType::State],
        step_min: Some(2),
        ..Default::default()
    };
    for (order, limit) in [(Order::StepDesc, 100), (Order::StepDesc, 3), (Order::StepAsc, 5), (Order::Desc, 100)] {
        let q = query(filter.clone(), limit, order);
        let listed = store.list_memories(&org, &q, later).await.unwrap().memories;
        let metadata = store.memory_metadata(&org, &q, later).await.unwrap();
        assert_eq!(metadata.len(), listed.len(), "{order:?} limit {limit}");
        for ((key, meta), memory) in metadata.iter().zip(&listed) {
            assert_eq!(ids::memory_key_of(&memory.id).map(|(_, k)| k), Some(*key), "{order:?}");
            assert_eq!(meta, &memory.metadata);
        }
        if limit == 100 {
            assert_eq!(listed.len(), 7, "steps >= 2 of sim's states, none expired: {order:?}");
        }
    }
    let steps_desc: Vec<i64> = store
        .memory_metadata(&org, &query(filter.clone(), 100, Order::StepDesc), later)
        .await
        .unwrap()
        .iter()
        .map(|(_, m)| m["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps_desc, [9, 7, 6, 5, 4, 3, 2]);

    let unknown = MemoryFilter { agent: Some(AgentRef::parse("nobody")), ..filter.clone() };
    assert!(store.memory_metadata(&org, &query(unknown, 10, Order::StepDesc), later).await.unwrap().is_empty());
    assert!(
        store.memory_metadata("org_none", &query(filter.clone(), 10, Order::StepDesc), later).await.unwrap().is_empty()
    );
    let contains = MemoryFilter { content_contains: Some(Needle::new("at")), ..filter };
    assert_err!(
        store.memory_metadata(&org, &query(contains, 10, Order::StepDesc), later).await,
        Error::InvalidArgument { .. }
    );
}
