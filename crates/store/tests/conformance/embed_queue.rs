//! Conformance: the embedder's queue (`EmbedQueueStore`): memories written for the server's
//! embedder wait in key order; each vector is stored once, at a new commit sequence number.

use crate::support::*;

conformance_suite!(by_ref: [queue_stores_each_vector_once]);

/// Adds memories as a server with an embedder does (queued unless they carry a vector).
async fn add_queued(store: &dyn Store, org: &str, items: Vec<NewMemory>, now: Timestamp) -> Vec<Memory> {
    let limits = Limits::default();
    let valid = items
        .into_iter()
        .map(|m| {
            let mut valid = limits.check_new_memory("memory", m, now).unwrap();
            valid.embed = true;
            valid
        })
        .collect();
    created(store.add_memories(org, valid, window(), now).await.unwrap())
}

pub async fn queue_stores_each_vector_once(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    let before = store.count_pending_embeddings().await.unwrap();
    let queued = add_queued(store, &org, vec![mem("a", "note", "first"), mem("a", "note", "second")], now).await;
    let with_vector = NewMemory { embedding: vec![1.0, 0.0, 0.0], ..mem("a", "note", "client vector") };
    add_queued(store, &org, vec![with_vector], now).await;
    add_one(store, &org, mem("a", "note", "not queued"), now).await;
    let theirs = add_queued(store, &other, vec![mem("b", "note", "other org")], now).await;
    assert_eq!(store.count_pending_embeddings().await.unwrap(), before + 3);

    let pending: Vec<_> = store
        .pending_embeddings(10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.org_id == org || p.org_id == other)
        .collect();
    let texts: Vec<&str> = pending.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["first", "second", "other org"], "in key order, across orgs");
    let key = |i: usize| pending[i].key;

    let head = store.feed_changes(&org, 0, 100).await.unwrap().last().unwrap().seq;
    let stored = store.store_embeddings(&org, vec![(key(0), vec![0.0, 1.0, 0.0])]).await.unwrap();
    assert_eq!(stored, EmbeddingsStored { stored: 1, rejected: 0 });
    // Stored once: a second vector for the same memory (another replica's) is skipped.
    let again = store.store_embeddings(&org, vec![(key(0), vec![0.0, 0.0, 1.0])]).await.unwrap();
    assert_eq!(again, EmbeddingsStored::default());
    let fed = store.feed_changes(&org, head, 100).await.unwrap();
    assert_eq!(fed.len(), 1, "the embedded memory is written again, at the next sequence number");
    assert_eq!(
        (fed[0].memory.id.as_str(), fed[0].vector.as_deref()),
        (queued[0].id.as_str(), Some(&[0.0, 1.0, 0.0][..]))
    );

    // Another dimension than the org's (3): rejected, and no longer waiting.
    let rejected = store.store_embeddings(&org, vec![(key(1), vec![1.0, 2.0])]).await.unwrap();
    assert_eq!(rejected, EmbeddingsStored { stored: 0, rejected: 1 });
    // A deleted memory is skipped; the other org's has its own dimension.
    store.delete_memory(&other, &theirs[0].id).await.unwrap();
    assert_eq!(store.store_embeddings(&other, vec![(key(2), vec![1.0])]).await.unwrap(), EmbeddingsStored::default());
    assert_eq!(store.count_pending_embeddings().await.unwrap(), before);
    assert!(store.pending_embeddings(10_000).await.unwrap().iter().all(|p| p.org_id != org && p.org_id != other));
}
