//! Conformance: a listing narrowed to keys an outside index named (`MemoryQuery::within`): only
//! those memories and the ones written after the index's sequence number, with every filter,
//! order and page rule of an ordinary listing.

use crate::support::*;

conformance_suite!(by_ref: [within_reads_the_keys_and_the_unindexed_tail, within_keeps_filters_pages_and_orgs]);

/// Six memories of agent "a", a minute apart (oldest first), the second tagged "x" and the
/// fifth too; their keys and sequence numbers from the feed.
async fn six(store: &dyn Store, org: &str, now: Timestamp) -> (Vec<Memory>, Vec<(i64, i64)>) {
    let items = (0..6)
        .map(|i| NewMemory {
            time: Some(secs(now, -600 + 60 * i)),
            tags: if i == 1 || i == 4 { vec!["x".to_owned()] } else { Vec::new() },
            ..mem("a", "note", &format!("memory {i} about redis"))
        })
        .collect();
    let memories = add_all(store, org, items, now).await;
    let feed = store.feed_changes(org, 0, 100).await.unwrap();
    let keys =
        memories.iter().map(|m| feed.iter().find(|c| c.memory.id == m.id).map(|c| (c.key, c.seq)).unwrap()).collect();
    (memories, keys)
}

fn within(keys: &[i64], after_seq: i64) -> Option<Within> {
    Some(Within { keys: keys.to_vec(), after_seq })
}

async fn listed(store: &dyn Store, org: &str, q: MemoryQuery, now: Timestamp) -> Vec<String> {
    let page = store.list_memories(org, &q, now).await.unwrap();
    assert!(!page.has_more);
    page.memories.into_iter().map(|m| m.id).collect()
}

pub async fn within_reads_the_keys_and_the_unindexed_tail(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let (m, k) = six(store, &org, now).await;
    let ids = |i: &[usize]| i.iter().map(|i| m[*i].id.clone()).collect::<Vec<_>>();

    // Keys 0 and 2, and everything written after memory 3 (4 and 5): newest first.
    let q =
        MemoryQuery { within: within(&[k[0].0, k[2].0], k[3].1), ..query(MemoryFilter::default(), 100, Order::Desc) };
    assert_eq!(listed(store, &org, q.clone(), now).await, ids(&[5, 4, 2, 0]));
    let asc = MemoryQuery { order: Order::Asc, ..q.clone() };
    assert_eq!(listed(store, &org, asc, now).await, ids(&[0, 2, 4, 5]));
    // A key also in the tail is listed once.
    let q2 = MemoryQuery { within: within(&[k[4].0, k[0].0], k[3].1), ..q.clone() };
    assert_eq!(listed(store, &org, q2, now).await, ids(&[5, 4, 0]));
    // No keys: the tail alone; nothing after the head: the keys alone.
    let tail = MemoryQuery { within: within(&[], k[4].1), ..q.clone() };
    assert_eq!(listed(store, &org, tail, now).await, ids(&[5]));
    let none = MemoryQuery { within: within(&[], k[5].1), ..q.clone() };
    assert!(listed(store, &org, none, now).await.is_empty());

    // An update writes memory 1 again, after the index's number: it is in the tail.
    let patch = MemoryPatch { importance: Some(0.9), ..Default::default() };
    store.update_memory(&org, &m[1].id, patch, now).await.unwrap();
    assert_eq!(listed(store, &org, q.clone(), now).await, ids(&[5, 4, 2, 1, 0]));
    // A deleted memory is gone even when named.
    store.delete_memory(&org, &m[2].id).await.unwrap();
    assert_eq!(listed(store, &org, q, now).await, ids(&[5, 4, 1, 0]));
}

pub async fn within_keeps_filters_pages_and_orgs(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    let (m, k) = six(store, &org, now).await;
    let (_, theirs) = six(store, &other, now).await;
    let ids = |i: &[usize]| i.iter().map(|i| m[*i].id.clone()).collect::<Vec<_>>();
    let all: Vec<i64> = k.iter().map(|(key, _)| *key).chain(theirs.iter().map(|(key, _)| *key)).collect();
    let head = k[5].1;

    // Another org's keys never list, with or without an agent.
    let q = MemoryQuery { within: within(&all, head), ..query(MemoryFilter::default(), 100, Order::Desc) };
    assert_eq!(listed(store, &org, q.clone(), now).await, ids(&[5, 4, 3, 2, 1, 0]));
    let by_agent = MemoryFilter { agent: Some(AgentRef::Name("a".into())), ..Default::default() };
    let q_agent = MemoryQuery { filter: by_agent, ..q.clone() };
    assert_eq!(listed(store, &org, q_agent, now).await, ids(&[5, 4, 3, 2, 1, 0]));

    // Tags, the needle, times: applied to what the keys name.
    let tagged = MemoryFilter { tags_all: vec!["x".into()], ..Default::default() };
    let q_tag = MemoryQuery { filter: tagged, ..q.clone() };
    assert_eq!(listed(store, &org, q_tag, now).await, ids(&[4, 1]));
    let needle = MemoryFilter { content_contains: Some(Needle::new("Memory 3 About")), ..Default::default() };
    let q_needle = MemoryQuery { filter: needle, ..q.clone() };
    assert_eq!(listed(store, &org, q_needle, now).await, ids(&[3]));
    let recent = MemoryFilter { since: Some(secs(now, -420)), ..Default::default() };
    let q_recent = MemoryQuery { filter: recent, ..q.clone() };
    assert_eq!(listed(store, &org, q_recent, now).await, ids(&[5, 4, 3]));

    // Pages: cursor and offset as in any listing.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page_query = MemoryQuery { limit: 4, cursor: cursor.take(), ..q.clone() };
        let page = store.list_memories(&org, &page_query, now).await.unwrap();
        seen.extend(page.memories.into_iter().map(|m| m.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ids(&[5, 4, 3, 2, 1, 0]));
    let offset = MemoryQuery { limit: 2, offset: 3, ..q };
    let page = store.list_memories(&org, &offset, now).await.unwrap();
    assert!(page.has_more);
    assert_eq!(page.memories.into_iter().map(|m| m.id).collect::<Vec<_>>(), ids(&[2, 1]));
}
