//! Conformance: operators' limits (`LimitStore`).

use engram_core::quota::SubjectLimits;

use crate::support::*;

conformance_suite!(by_ref: [limits_are_set_replaced_and_cleared, org_memory_count_follows_writes_and_deletes]);

pub async fn limits_are_set_replaced_and_cleared(store: &dyn Store) {
    let now = time::now();
    let (key, org) = (format!("key_{}", ids::org_id()), new_org(store).await);
    let subjects = vec![key.clone(), org.clone(), "org_without_limits".to_owned()];
    assert!(store.limits(&subjects).await.unwrap().is_empty());
    assert!(store.limits(&[]).await.unwrap().is_empty());

    let key_limits = SubjectLimits { rate_per_sec: Some(2.5), burst: Some(10), max_memories: None };
    let org_limits = SubjectLimits { rate_per_sec: None, burst: None, max_memories: Some(1_000_000_000_000) };
    store.set_limits(&key, &key_limits, now).await.unwrap();
    store.set_limits(&org, &org_limits, now).await.unwrap();
    let mut found = store.limits(&subjects).await.unwrap();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![(key.clone(), key_limits), (org.clone(), org_limits)];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found, expected);

    // Replaced whole, not merged.
    let replaced = SubjectLimits { rate_per_sec: Some(100.0), burst: None, max_memories: None };
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

pub async fn org_memory_count_follows_writes_and_deletes(store: &dyn Store) {
    let now = time::now();
    let (org, other) = (new_org(store).await, new_org(store).await);
    assert_eq!(store.org_memory_count(&org).await.unwrap(), 0);
    assert_eq!(store.org_memory_count("org_unknown").await.unwrap(), 0);
    let mut decision = mem("b", "note", "a decision");
    decision.memory_type = Some(MemoryType::Decision);
    let made = add_all(store, &org, vec![mem("a", "note", "one"), mem("a", "note", "two"), decision], now).await;
    add_all(store, &other, vec![mem("a", "note", "elsewhere")], now).await;
    assert_eq!(store.org_memory_count(&org).await.unwrap(), 3, "two agents, two types");
    assert_eq!(store.org_memory_count(&other).await.unwrap(), 1);
    store.delete_memory(&org, &made[0].id).await.unwrap();
    assert_eq!(store.org_memory_count(&org).await.unwrap(), 2);
}
