//! Conformance: memory vectors (client embeddings): stored with the memory, one dimension per
//! org, read back through the change feed, deleted with the memory.

use crate::support::*;

conformance_suite!(by_ref: [vectors_have_one_dimension_per_org, vectors_go_with_their_memory]);

fn with_vector(agent: &str, content: &str, vector: &[f32]) -> NewMemory {
    NewMemory { embedding: vector.to_vec(), ..mem(agent, "note", content) }
}

pub async fn vectors_have_one_dimension_per_org(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    add_one(store, &org, mem("a", "note", "no vector"), now).await;
    // The first vector fixes the org's dimension.
    add_one(store, &org, with_vector("a", "three", &[1.0, 0.0, 0.0]), now).await;
    let mismatch = add_raw(
        store,
        &org,
        vec![with_vector("a", "ok", &[0.0, 1.0, 0.0]), with_vector("a", "four", &[1.0, 2.0, 3.0, 4.0])],
        window(),
        now,
    )
    .await;
    assert_err!(
        mismatch,
        Error::InvalidItem { index: 1, ref field, ref rule } if field == "embedding" && rule.contains("3")
    );
    assert!(find(store, &org, MemoryFilter::default(), now).await.len() == 2, "a rejected batch writes nothing");
    // Another org has its own dimension; in a new org, a batch must agree with itself.
    add_one(store, &other, with_vector("a", "four", &[1.0, 2.0, 3.0, 4.0]), now).await;
    let third = new_org(store).await;
    let split = add_raw(
        store,
        &third,
        vec![with_vector("a", "two", &[1.0, 2.0]), with_vector("a", "one", &[1.0])],
        window(),
        now,
    )
    .await;
    assert_err!(split, Error::InvalidItem { index: 1, ref field, .. } if field == "embedding");
    add_one(store, &third, with_vector("a", "one", &[1.0]), now).await;
}

pub async fn vectors_go_with_their_memory(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let items = (0..5).map(|i| with_vector("a", &format!("memory {i}"), &[i as f32 + 1.0, -0.5])).collect();
    let created = add_all(store, &org, items, now).await;
    let plain = add_one(store, &org, mem("a", "note", "plain"), now).await;
    let fed = store.feed_changes(&org, 0, 100).await.unwrap();
    assert_eq!(fed.len(), 6);
    for (i, m) in created.iter().enumerate() {
        let change = fed.iter().find(|c| c.memory.id == m.id).unwrap();
        assert_eq!(change.vector.as_deref(), Some(&[i as f32 + 1.0, -0.5][..]));
    }
    assert_eq!(fed.iter().find(|c| c.memory.id == plain.id).unwrap().vector, None);
    // Updated: the feed carries the memory again, with its vector.
    let patch = MemoryPatch { importance: Some(0.1), ..Default::default() };
    store.update_memory(&org, &created[0].id, patch, now).await.unwrap();
    let last = store.feed_changes(&org, 6, 100).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].vector.as_deref(), Some(&[1.0, -0.5][..]));
    // Deleted memories take their vectors with them (no orphan rows).
    store.delete_memory(&org, &created[1].id).await.unwrap();
    let deleted = store
        .delete_memories(&org, &DeleteFilter { agent: Some(AgentRef::Name("a".into())), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(deleted, 5);
    assert!(store.feed_changes(&org, 0, 100).await.unwrap().is_empty());
}
