//! Conformance: the change feed (`FeedStore`) that the full-text index follows.

use crate::support::*;

conformance_suite!(by_ref: [feed_follows_writes_in_order, memories_by_keys_skips_deleted_and_expired]);

pub async fn feed_follows_writes_in_order(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    let head = |heads: &[engram_store::FeedHead], org: &str| heads.iter().find(|h| h.org_id == org).unwrap().last_seq;

    let start = head(&store.feed_heads().await.unwrap(), &org);
    assert_eq!(start, 0, "a new org has written nothing");
    let first = add_all(store, &org, vec![mem("a", "note", "one"), mem("a", "note", "two")], now).await;
    let third = add_one(store, &org, mem("b", "note", "three"), now).await;
    add_one(store, &other, mem("a", "note", "elsewhere"), now).await;

    let heads = store.feed_heads().await.unwrap();
    assert_eq!(head(&heads, &org), 3, "one sequence number per memory written");
    assert_eq!(head(&heads, &other), 1, "each org has its own sequence");

    let changes = store.feed_changes(&org, 0, 100).await.unwrap();
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let ids: Vec<&str> = changes.iter().map(|c| c.memory.id.as_str()).collect();
    assert_eq!(ids, [first[0].id.as_str(), first[1].id.as_str(), third.id.as_str()]);
    assert_eq!(changes[0].memory, first[0], "the feed carries the memory as stored");
    assert!(changes.iter().all(|c| c.memory.org_id == org));
    assert_eq!(store.feed_changes(&org, 1, 1).await.unwrap().iter().map(|c| c.seq).collect::<Vec<_>>(), [2]);
    assert!(store.feed_changes(&org, 3, 100).await.unwrap().is_empty());

    // An update writes the memory again, at the next sequence number.
    let patch = MemoryPatch { importance: Some(0.9), ..Default::default() };
    store.update_memory(&org, &first[0].id, patch, now).await.unwrap();
    let changes = store.feed_changes(&org, 3, 100).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].seq, changes[0].memory.id.as_str(), changes[0].memory.importance),
        (4, first[0].id.as_str(), 0.9)
    );
    let all: Vec<i64> = store.feed_changes(&org, 0, 100).await.unwrap().iter().map(|c| c.seq).collect();
    assert_eq!(all, [2, 3, 4], "a row appears once, at its last write");
}

pub async fn memories_by_keys_skips_deleted_and_expired(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    let kept = add_one(store, &org, mem("a", "note", "kept"), now).await;
    let deleted = add_one(store, &org, mem("a", "note", "deleted"), now).await;
    let expiring =
        add_one(store, &org, NewMemory { expires_at: Some(secs(now, 60)), ..mem("a", "note", "expiring") }, now).await;
    add_one(store, &other, mem("a", "note", "other org"), now).await;
    let keys: Vec<i64> = store.feed_changes(&org, 0, 100).await.unwrap().iter().map(|c| c.key).collect();
    let other_keys: Vec<i64> = store.feed_changes(&other, 0, 100).await.unwrap().iter().map(|c| c.key).collect();
    store.delete_memory(&org, &deleted.id).await.unwrap();

    let mut all = keys.clone();
    all.extend(&other_keys);
    let mut found: Vec<String> =
        store.memories_by_keys(&org, &all, now).await.unwrap().into_iter().map(|(_, m)| m.id).collect();
    found.sort();
    let mut want = vec![kept.id.clone(), expiring.id.clone()];
    want.sort();
    assert_eq!(found, want, "deleted memories and other orgs' keys are not returned");
    let later: Vec<String> =
        store.memories_by_keys(&org, &keys, secs(now, 120)).await.unwrap().into_iter().map(|(_, m)| m.id).collect();
    assert_eq!(later, std::slice::from_ref(&kept.id), "expired memories are not returned");
    assert!(store.memories_by_keys(&org, &[], now).await.unwrap().is_empty());
}
