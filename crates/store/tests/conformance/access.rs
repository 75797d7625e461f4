//! Conformance: access recording (`AccessStore`).

use crate::support::*;

conformance_suite!(by_ref: [accesses_add_up_and_touch_nothing_else]);

pub async fn accesses_add_up_and_touch_nothing_else(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    let a = add_one(store, &org, mem("x", "note", "a"), now).await;
    let b = add_one(store, &org, mem("x", "note", "b"), now).await;
    let theirs = add_one(store, &other, mem("x", "note", "c"), now).await;
    assert_eq!((a.access_count, a.last_accessed_at), (0, None));
    let head = store.feed_heads().await.unwrap().into_iter().find(|h| h.org_id == org).unwrap().last_seq;

    let later = secs(now, 60);
    let accesses = vec![(a.id.clone(), 3), (b.id.clone(), 1), (theirs.id.clone(), 5), ("mem_unknown".into(), 2)];
    store.record_accesses(&org, accesses, later).await.unwrap();
    // An earlier time never moves last_accessed_at back.
    store.record_accesses(&org, vec![(a.id.clone(), 1)], now).await.unwrap();

    let a = store.get_memory(&org, &a.id, later).await.unwrap();
    assert_eq!((a.access_count, a.last_accessed_at), (4, Some(later)));
    let b = store.get_memory(&org, &b.id, later).await.unwrap();
    assert_eq!((b.access_count, b.last_accessed_at), (1, Some(later)));
    let theirs = store.get_memory(&other, &theirs.id, later).await.unwrap();
    assert_eq!(theirs.access_count, 0, "another org's memory is not counted");
    let listed = store.list_memories(&org, &query(MemoryFilter::default(), 10, Order::Asc), later).await.unwrap();
    assert_eq!(listed.memories.iter().map(|m| m.access_count).collect::<Vec<_>>(), [4, 1]);
    // An access is not a change: no commit sequence number, the indexes are not disturbed.
    let after = store.feed_heads().await.unwrap().into_iter().find(|h| h.org_id == org).unwrap().last_seq;
    assert_eq!(after, head);
}
