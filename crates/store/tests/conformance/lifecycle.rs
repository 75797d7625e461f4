//! Conformance: the memory lifecycle (`LifecycleStore`): facts, tier moves with compression,
//! reads across tiers, deletes, decay, retention, the maintenance lease.

use engram_core::lifecycle::Tier;
use engram_store::LifecycleBatch;

use crate::support::*;

conformance_suite!(
    by_ref: [
        cold_memories_read_back_byte_for_byte,
        reading_a_cold_memory_moves_it_up,
        cold_vectors_are_quantized,
        deletes_decay_and_blocks,
        retention_picks_the_oldest_outside_the_top,
        facts_page_in_time_order,
    ],
    shared: [one_lease_per_org]
);

/// `n` memories of two agents, one second apart, with varied text; returned in time order.
async fn history(store: &dyn Store, org: &str, n: usize, now: Timestamp) -> Vec<Memory> {
    let items = (0..n)
        .map(|i| {
            let agent = if i % 3 == 0 { "bob" } else { "alice" };
            let content = match i % 4 {
                0 => format!("Restarted Redis on prod-web-{i:02} after the OOM alert"),
                1 => format!("Déployé la version {i} — ✓ tests verts; 日本語 {}", "x".repeat(i % 50)),
                2 => format!("ok {i}"),
                _ => format!("User asked about invoice #{i}\nwith a second line\tand a tab"),
            };
            NewMemory {
                time: Some(secs(now, i as i64 - n as i64)),
                tags: strings(&["t1", if i % 2 == 0 { "even" } else { "odd" }]),
                ..mem(agent, "note", &content)
            }
        })
        .collect();
    add_all(store, org, items, now).await
}

/// A bound past every memory of the checks.
fn far() -> Timestamp {
    secs(time::now(), 86_400)
}

async fn keys(store: &dyn Store, org: &str) -> Vec<i64> {
    store.memory_facts(org, None, None, far(), 10_000).await.unwrap().into_iter().map(|f| f.key).collect()
}

async fn move_all(store: &dyn Store, org: &str, tier: Tier) -> engram_store::LifecycleApplied {
    let moves = keys(store, org).await.into_iter().map(|k| (k, tier)).collect();
    store.apply_lifecycle(org, LifecycleBatch { moves, ..Default::default() }).await.unwrap()
}

pub async fn cold_memories_read_back_byte_for_byte(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let written = history(store, &org, 150, now).await;
    let head = store.feed_heads().await.unwrap().into_iter().find(|h| h.org_id == org).unwrap().last_seq;

    let applied = move_all(store, &org, Tier::Cold).await;
    assert_eq!(applied.moved, 150);
    assert!(applied.cold_bytes_after < applied.cold_bytes_before, "{applied:?}");
    let stats = store.tier_statistics(&org).await.unwrap();
    assert_eq!((stats.tiers.hot, stats.tiers.warm, stats.tiers.cold), (0, 0, 150));
    assert_eq!(
        (stats.cold_bytes_before, stats.cold_bytes_after),
        (applied.cold_bytes_before, applied.cold_bytes_after)
    );
    // A tier move is not a change of the memory.
    let after = store.feed_heads().await.unwrap().into_iter().find(|h| h.org_id == org).unwrap().last_seq;
    assert_eq!(after, head);

    // Every read path returns the memory as written, with its tier.
    for m in &written {
        let read = store.get_memory(&org, &m.id, now).await.unwrap();
        assert_eq!(read, Memory { tier: Tier::Cold, ..m.clone() });
    }
    let (listed, _) = all_pages(store, &org, &MemoryFilter::default(), 7, Order::Asc, now).await;
    assert_eq!(
        listed.iter().map(|m| m.content.clone()).collect::<Vec<_>>(),
        written.iter().map(|m| m.content.clone()).collect::<Vec<_>>()
    );
    let fed = store.feed_changes(&org, 0, 1000).await.unwrap();
    let mut fed: Vec<_> = fed.into_iter().map(|c| c.memory.content).collect();
    let mut want: Vec<_> = written.iter().map(|m| m.content.clone()).collect();
    fed.sort();
    want.sort();
    assert_eq!(fed, want);

    // content_contains sees cold content (listing and count), by the exact rule.
    let filter = MemoryFilter { content_contains: Some(Needle::new("restart redis")), ..Default::default() };
    let expected: Vec<String> =
        written.iter().filter(|m| m.content.starts_with("Restarted Redis")).map(|m| m.id.clone()).collect();
    let (found, _) = all_pages(store, &org, &filter, 10, Order::Asc, now).await;
    assert_eq!(ids_of(&found), expected);
    assert_eq!(count(store, &org, filter.clone(), now).await, expected.len() as u64);
    let only_warm = MemoryFilter { tiers: vec![Tier::Warm, Tier::Hot], ..filter.clone() };
    assert_eq!(count(store, &org, only_warm.clone(), now).await, 0);
    assert!(find(store, &org, only_warm, now).await.is_empty());
    let cold = MemoryFilter { tiers: vec![Tier::Cold], ..Default::default() };
    assert_eq!(count(store, &org, cold, now).await, 150);

    // A duplicate of a cold memory is still a duplicate.
    let again = add_outcome(store, &org, mem("alice", "note", &written[1].content), now).await;
    assert!(matches!(again, AddOutcome::Duplicate { ref existing_id } if *existing_id == written[1].id), "{again:?}");

    // Back up: content in the row again, blocks gone.
    let applied = move_all(store, &org, Tier::Warm).await;
    assert_eq!(applied.moved, 150);
    let stats = store.tier_statistics(&org).await.unwrap();
    assert_eq!((stats.tiers.warm, stats.tiers.cold, stats.cold_bytes_before), (150, 0, 0));
    for m in &written {
        assert_eq!(store.get_memory(&org, &m.id, now).await.unwrap(), Memory { tier: Tier::Warm, ..m.clone() });
    }
}

pub async fn cold_vectors_are_quantized(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let vector = |i: usize| -> Vec<f32> { (0..8).map(|j| ((i * 7 + j * 3) % 11) as f32 - 5.0).collect() };
    let items =
        (0..5).map(|i| NewMemory { embedding: vector(i), ..mem("v", "note", &format!("vector {i}")) }).collect();
    add_all(store, &org, items, now).await;
    move_all(store, &org, Tier::Cold).await;
    let fed = store.feed_changes(&org, 0, 100).await.unwrap();
    assert_eq!(fed.len(), 5);
    for change in fed {
        let i: usize = change.memory.content["vector ".len()..].parse().unwrap();
        let (want, got) = (vector(i), change.vector.expect("a cold memory keeps its vector"));
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(want.iter().zip(&got).all(|(a, b)| (a - b).abs() <= scale / 254.0 + 1e-6), "{want:?} {got:?}");
    }
    // Moving back up keeps the content whole; the vector stays as quantized.
    move_all(store, &org, Tier::Warm).await;
    assert_eq!(store.feed_changes(&org, 0, 100).await.unwrap().iter().filter(|c| c.vector.is_some()).count(), 5);
}

pub async fn reading_a_cold_memory_moves_it_up(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let written = history(store, &org, 10, now).await;
    move_all(store, &org, Tier::Cold).await;
    store.record_accesses(&org, vec![(written[3].id.clone(), 1)], now).await.unwrap();
    let read = store.get_memory(&org, &written[3].id, now).await.unwrap();
    assert_eq!((read.tier, read.access_count, read.content.as_str()), (Tier::Hot, 1, written[3].content.as_str()));
    let stats = store.tier_statistics(&org).await.unwrap();
    assert_eq!((stats.tiers.hot, stats.tiers.cold), (1, 9));
    // Its neighbours in the block still read back.
    for m in &written {
        assert_eq!(store.get_memory(&org, &m.id, now).await.unwrap().content, m.content);
    }
}

pub async fn deletes_decay_and_blocks(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let written = history(store, &org, 20, now).await;
    move_all(store, &org, Tier::Cold).await;
    let all = keys(store, &org).await;
    let before = store.agent_stats(&org, &AgentRef::Name("alice".into()), now).await.unwrap();
    let later = secs(now, 3600);
    let applied = store
        .apply_lifecycle(
            &org,
            LifecycleBatch { delete: all[..5].to_vec(), decay: vec![(all[5], 0.25, later)], ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!((applied.deleted, applied.decayed), (5, 1));
    for m in &written[..5] {
        assert_err!(store.get_memory(&org, &m.id, now).await, Error::NotFound { .. });
    }
    assert_eq!(store.get_memory(&org, &written[5].id, now).await.unwrap().importance, 0.25);
    let facts = store.memory_facts(&org, None, None, far(), 100).await.unwrap();
    assert_eq!(facts.iter().find(|f| f.key == all[5]).unwrap().decayed_to, Some(later));
    let after = store.agent_stats(&org, &AgentRef::Name("alice".into()), now).await.unwrap();
    let alice_deleted = written[..5].iter().filter(|m| m.agent_id == before.agent_id).count() as u64;
    assert_eq!(after.memory_count, before.memory_count - alice_deleted);
    let tagged = MemoryFilter { tags_all: strings(&["t1"]), ..Default::default() };
    assert_eq!(count(store, &org, tagged, now).await, 15);
    // Deleting every memory of the org drops its blocks.
    let rest = keys(store, &org).await;
    store.apply_lifecycle(&org, LifecycleBatch { delete: rest, ..Default::default() }).await.unwrap();
    let stats = store.tier_statistics(&org).await.unwrap();
    assert_eq!((stats.tiers.cold, stats.cold_bytes_before, stats.cold_bytes_after), (0, 0, 0));
}

pub async fn retention_picks_the_oldest_outside_the_top(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let items = (0..10)
        .map(|i| NewMemory {
            time: Some(secs(now, i - 10)),
            importance: Some(if i == 1 { 0.9 } else { 0.1 }),
            ..mem("ann", "note", &format!("m{i}"))
        })
        .collect();
    add_all(store, &org, items, now).await;
    add_all(store, &org, vec![mem("other", "note", "not ann's")], now).await;
    let agent = store.lifecycle_agents(&org, Some(&AgentRef::Name("ann".into()))).await.unwrap().remove(0);
    let facts = store.memory_facts(&org, Some(agent.key), None, far(), 100).await.unwrap();
    let keys: Vec<i64> = facts.iter().map(|f| f.key).collect();
    assert_eq!(keys.len(), 10);
    // Keep the newest 6: the 4 oldest go, except the most important (index 1).
    let victims = store.retention_victims(&org, agent.key, None, Some(6), 1).await.unwrap();
    assert_eq!(victims, vec![keys[0], keys[2], keys[3]]);
    // Older than 5 s ago (times -10..-1 s): indexes 0..=4.
    let victims = store.retention_victims(&org, agent.key, Some(secs(now, -5)), None, 0).await.unwrap();
    assert_eq!(victims, keys[..5].to_vec());
}

pub async fn facts_page_in_time_order(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let same_time: Vec<NewMemory> =
        (0..5).map(|i| NewMemory { time: Some(now), ..mem("a", "n", &format!("{i}")) }).collect();
    add_all(store, &org, same_time, now).await;
    history(store, &org, 12, now).await;
    let all = store.memory_facts(&org, None, None, far(), 100).await.unwrap();
    assert_eq!(all.len(), 17);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.memory_facts(&org, None, after, far(), 4).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.time, last.key));
        paged.extend(page);
    }
    assert_eq!(paged, all);
    // `until` bounds the time (inclusive): the five memories at `now` and those before.
    assert_eq!(store.memory_facts(&org, None, None, now, 100).await.unwrap().len(), 17);
    assert_eq!(store.memory_facts(&org, None, None, secs(now, -1), 100).await.unwrap().len(), 12);
    assert!(all.windows(2).all(|w| (w[0].time, w[0].key) < (w[1].time, w[1].key)));
    assert!(all.iter().all(|f| f.tier == Tier::Hot && f.decayed_to.is_none()));
}

pub async fn one_lease_per_org(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let other = new_org(store.as_ref()).await;
    let lease = store.try_maintenance_lease(&org).await.unwrap();
    assert!(lease.is_some());
    assert!(store.try_maintenance_lease(&org).await.unwrap().is_none(), "a second pass waits");
    let theirs = store.try_maintenance_lease(&other).await.unwrap();
    assert!(theirs.is_some(), "another org is not held");
    drop(lease);
    // PostgreSQL releases the lock when the lease's connection closes.
    let mut again = None;
    for _ in 0..50 {
        again = store.try_maintenance_lease(&org).await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a dropped lease frees the org");
}
