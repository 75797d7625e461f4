//! The hot tier's in-process cache on a real SQLite store: GetMemory of a hot memory is answered
//! from it, and it always reads as the store does: after updates, deletes (one, by filter, of an
//! agent), recorded accesses, expiry and maintenance moving memories out of the hot tier.

#![allow(clippy::unwrap_used)]

use engram_app::Engram;
use engram_core::lifecycle::Tier;
use engram_core::*;
use engram_store::testsuite::TestStore;

fn admin(org: &str) -> Principal {
    Principal { org_id: org.to_owned(), key_id: None, permissions: vec![Permission::Admin] }
}

fn note(agent: &str, content: &str) -> NewMemory {
    NewMemory { agent: agent.into(), content: content.into(), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hot_cache_reads_as_the_store_does() {
    let store = TestStore::sqlite().await;
    let org = ids::org_id();
    store.store.create_org(&org, "hot", time::now()).await.unwrap();
    let p = admin(&org);
    let app = Engram::new(store.store.clone(), Limits::default()).with_hot_cache(1 << 20);
    // What every read must equal: the store's row (read directly, recording no access).
    let stored = |id: String| {
        let (store, org) = (store.store.clone(), org.clone());
        async move { store.get_memory(&org, &id, time::now()).await.unwrap() }
    };

    let a = app.add_memory(&p, note("alice", "Restarted Redis")).await.unwrap();
    assert_eq!(a.tier, Tier::Hot);
    let read = app.get_memory(&p, &a.id).await.unwrap();
    assert_eq!(app.hot_cache_stats().unwrap().hits, 1, "a new memory is cached at write");
    assert_eq!(read, stored(a.id.clone()).await);

    // Accesses are recorded in the store and in the cache alike.
    for _ in 0..3 {
        app.get_memory(&p, &a.id).await.unwrap();
    }
    app.flush_accesses().await.unwrap();
    let cached = app.get_memory(&p, &a.id).await.unwrap();
    assert_eq!(cached.access_count, 4, "1 + 3 reads recorded (this one at the next flush): {cached:?}");
    assert_eq!(cached, stored(a.id.clone()).await);

    // Updates are what the next read sees.
    let patch = MemoryPatch { importance: Some(0.9), tags: Some(vec!["ops".into()]), ..Default::default() };
    app.update_memory(&p, &a.id, patch).await.unwrap();
    let updated = app.get_memory(&p, &a.id).await.unwrap();
    assert_eq!((updated.importance, updated.tags.clone()), (0.9, vec!["ops".to_owned()]));

    // Deletes: one, by filter, an agent.
    app.delete_memory(&p, &a.id).await.unwrap();
    assert!(matches!(app.get_memory(&p, &a.id).await, Err(Error::NotFound { .. })));
    let b = app.add_memory(&p, note("bob", "Pinned Redis 7.2")).await.unwrap();
    app.get_memory(&p, &b.id).await.unwrap();
    let filter = DeleteFilter { agent: Some(AgentRef::parse("bob")), ..Default::default() };
    assert_eq!(app.delete_memories(&p, filter, "", "").await.unwrap(), 1);
    assert!(matches!(app.get_memory(&p, &b.id).await, Err(Error::NotFound { .. })));
    let c = app.add_memory(&p, note("carol", "Drained node 3")).await.unwrap();
    app.delete_agent(&p, "carol", true).await.unwrap();
    assert!(matches!(app.get_memory(&p, &c.id).await, Err(Error::NotFound { .. })));

    // Expiry.
    let soon = time::from_micros(time::to_micros(time::now()) + 300_000);
    let e = app.add_memory(&p, NewMemory { expires_at: Some(soon), ..note("dave", "short-lived") }).await.unwrap();
    app.get_memory(&p, &e.id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(matches!(app.get_memory(&p, &e.id).await, Err(Error::NotFound { .. })));

    // Maintenance moving a memory out of hot: the cache no longer answers with the hot copy.
    let d = app.add_memory(&p, note("dave", "Rotated the TLS certificate")).await.unwrap();
    app.get_memory(&p, &d.id).await.unwrap();
    let policy = serde_json::json!({"hot_for": "0s", "hot_accesses": 1000, "cold_after": "0s"});
    let request = engram_app::maintenance::MaintenanceRequest { agent: None, dry_run: false, policy: Some(policy) };
    let report = app.force_maintenance(&p, request).await.unwrap();
    assert!(report.counts.to_cold >= 1, "{report:?}");
    let moved = app.get_memory(&p, &d.id).await.unwrap();
    assert_eq!(moved.content, "Rotated the TLS certificate");
    assert_eq!(moved, stored(d.id.clone()).await);
    assert_ne!(moved.tier, Tier::Hot);

    let stats = app.hot_cache_stats().unwrap();
    assert!(stats.hits >= 8 && stats.misses >= 4, "{stats:?}");
    assert!(Engram::new(store.store.clone(), Limits::default()).hot_cache_stats().is_none());
}
