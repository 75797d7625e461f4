//! Conformance: operators' limits (`LimitStore`).

use engram_core::lifecycle::Tier;
use engram_core::quota::{SubjectLimits, Usage};
use engram_store::LifecycleBatch;

use crate::support::*;

conformance_suite!(by_ref: [limits_are_set_replaced_and_cleared, org_usage_follows_writes_tiers_and_deletes]);

pub async fn limits_are_set_replaced_and_cleared(store: &dyn Store) {
    let now = time::now();
    let (key, org) = (format!("key_{}", ids::org_id()), new_org(store).await);
    let subjects = vec![key.clone(), org.clone(), "org_without_limits".to_owned()];
    assert!(store.limits(&subjects).await.unwrap().is_empty());
    assert!(store.limits(&[]).await.unwrap().is_empty());

    let key_limits = SubjectLimits { rate_per_sec: Some(2.5), burst: Some(10), ..Default::default() };
    let org_limits =
        SubjectLimits { max_memories: Some(1_000_000_000_000), max_memory_bytes: Some(1 << 40), ..Default::default() };
    store.set_limits(&key, &key_limits, now).await.unwrap();
    store.set_limits(&org, &org_limits, now).await.unwrap();
    let mut found = store.limits(&subjects).await.unwrap();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![(key.clone(), key_limits), (org.clone(), org_limits)];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found, expected);

    // Replaced whole, not merged.
    let replaced = SubjectLimits { rate_per_sec: Some(100.0), ..Default::default() };
    store.set_limits(&key, &replaced, secs(now, 1)).await.unwrap();
    assert_eq!(store.limits(std::slice::from_ref(&key)).await.unwrap(), vec![(key.clone(), replaced)]);

    // Bad limits are refused naming the field; what was stored stays.
    assert_err!(
        store.set_limits(&key, &SubjectLimits { rate_per_sec: Some(-1.0), ..Default::default() }, now).await,
        Error::InvalidArgument { field, .. } if field == "rate_per_sec"
    );
    assert_eq!(store.limits(std::slice::from_ref(&key)).await.unwrap(), vec![(key.clone(), replaced)]);

    // Empty limits clear the row.
    store.set_limits(&key, &SubjectLimits::default(), now).await.unwrap();
    assert_eq!(store.limits(&subjects).await.unwrap(), vec![(org, org_limits)]);
}

pub async fn org_usage_follows_writes_tiers_and_deletes(store: &dyn Store) {
    let now = time::now();
    let (org, other) = (new_org(store).await, new_org(store).await);
    let usage = |memories, content_bytes| Usage { memories, content_bytes };
    assert_eq!(store.org_usage(&org).await.unwrap(), usage(0, 0));
    assert_eq!(store.org_usage("org_unknown").await.unwrap(), usage(0, 0));
    // Bytes are UTF-8 bytes: "héllo ✓" is 10.
    let contents = ["héllo ✓", "two", "a decision", "fourth one"];
    let mut decision = mem("b", "note", contents[2]);
    decision.memory_type = Some(MemoryType::Decision);
    let items =
        vec![mem("a", "note", contents[0]), mem("a", "note", contents[1]), decision, mem("b", "note", contents[3])];
    let made = add_all(store, &org, items, now).await;
    add_all(store, &other, vec![mem("a", "note", "elsewhere")], now).await;
    assert_eq!(store.org_usage(&org).await.unwrap(), usage(4, 10 + 3 + 10 + 10), "two agents, two types");
    assert_eq!(store.org_usage(&other).await.unwrap(), usage(1, 9));
    store.delete_memory(&org, &made[1].id).await.unwrap();
    assert_eq!(store.org_usage(&org).await.unwrap(), usage(3, 30));

    // A move to the cold tier changes no count; a cold memory deleted takes its content's bytes.
    let facts = store.memory_facts(&org, None, None, secs(now, 60), 100).await.unwrap();
    let moves = facts.iter().map(|f| (f.key, Tier::Cold)).collect();
    store.apply_lifecycle(&org, LifecycleBatch { moves, ..Default::default() }).await.unwrap();
    assert_eq!(store.org_usage(&org).await.unwrap(), usage(3, 30));
    store.delete_memory(&org, &made[0].id).await.unwrap();
    assert_eq!(store.org_usage(&org).await.unwrap(), usage(2, 20));
    let filter = DeleteFilter { agent: Some(AgentRef::Name("b".into())), ..Default::default() };
    assert_eq!(store.delete_memories(&org, &filter).await.unwrap(), 2);
    assert_eq!(store.org_usage(&org).await.unwrap(), usage(0, 0));
    assert_eq!(store.org_usage(&other).await.unwrap(), usage(1, 9));
}
