//! The memory lifecycle through the real binary: tier moves by ForceMaintenance (dry run first),
//! reads across tiers in full detail, a read cold memory moving back up, ranked search and
//! `content_contains` finding cold memories, searches naming tiers; forgetting (expiry, decay,
//! consolidation, retention with keep_top) with exact counts; kill -9 during a pass; two
//! replicas running passes at once; the result cache and its TTL.

use std::collections::HashMap;
use std::time::Duration;

use engram_tests::{Clients, PgDatabase, Server, json_struct, pb};
use tonic::Code;

fn policy(value: serde_json::Value) -> Option<prost_types::Struct> {
    Some(json_struct(value))
}

/// Everything goes cold at once (for tests and benchmarks).
fn all_cold() -> Option<prost_types::Struct> {
    policy(serde_json::json!({"hot_for": "0s", "cold_after": "0s", "keep_importance": 1.0}))
}

async fn force(c: &mut Clients, agent: &str, dry_run: bool, p: Option<prost_types::Struct>) -> pb::MaintenanceReport {
    c.lifecycle
        .force_maintenance(pb::ForceMaintenanceRequest { agent_id: agent.into(), dry_run, policy: p })
        .await
        .unwrap()
        .into_inner()
}

async fn stats(c: &mut Clients) -> pb::MemoryStatistics {
    c.simulation.get_memory_statistics(pb::GetMemoryStatisticsRequest {}).await.unwrap().into_inner()
}

fn tiers(s: &pb::MemoryStatistics) -> (u64, u64, u64) {
    let t = s.tiers.unwrap_or_default();
    (t.hot, t.warm, t.cold)
}

/// Real text of different lengths (LoCoMo-like turns), `n` of them for `agent`.
fn turns(agent: &str, n: usize) -> Vec<pb::NewMemory> {
    let lines = [
        "Hey Mel! Good to see you! How have you been? I went to a LGBTQ support group yesterday and it was so powerful.",
        "Restarted Redis on prod-web-01 after the OOM alert; memory back to normal.",
        "The transgender stories were so inspiring! I was so happy and thankful for all the support.",
        "Decided to roll back the deploy because the error rate doubled within five minutes.",
        "Caroline said she is thinking about counseling or working in mental health.",
    ];
    (0..n)
        .map(|i| pb::NewMemory {
            agent: agent.into(),
            content: format!("{} (turn {i})", lines[i % lines.len()]),
            event_type: "turn".into(),
            ..Default::default()
        })
        .collect()
}

async fn add(c: &mut Clients, memories: Vec<pb::NewMemory>) -> Vec<pb::Memory> {
    let mut out = Vec::new();
    for chunk in memories.chunks(1000) {
        let outcomes = c
            .memories
            .add_memories(pb::AddMemoriesRequest { memories: chunk.to_vec() })
            .await
            .unwrap()
            .into_inner()
            .results;
        out.extend(outcomes.into_iter().map(|o| match o.memory {
            Some(m) => m,
            None => panic!("not created: {o:?}"),
        }));
    }
    out
}

async fn all_memories(c: &mut Clients, filter: pb::MemoryFilter) -> Vec<pb::Memory> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .memories
            .list_memories(pb::ListMemoriesRequest {
                filter: Some(filter.clone()),
                limit: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.memories);
        if !page.has_more {
            return out;
        }
        token = page.next_page_token;
    }
}

fn by_id(memories: Vec<pb::Memory>) -> HashMap<String, pb::Memory> {
    memories.into_iter().map(|m| (m.id.clone(), m)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_move_and_every_read_stays_whole() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let written = add(&mut c, turns("mel", 300)).await;
    let important = c
        .memories
        .add_memory(pb::AddMemoryRequest {
            memory: Some(pb::NewMemory { importance: Some(0.9), ..turns("mel", 1).remove(0) }),
        })
        .await
        .unwrap_err();
    assert_eq!(important.code(), Code::AlreadyExists, "same content, same agent: a duplicate");

    // Bad policies name the field and the rule.
    let bad = c
        .lifecycle
        .force_maintenance(pb::ForceMaintenanceRequest {
            policy: policy(serde_json::json!({"cold_after": "soon"})),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("policy.cold_after"), "{}", bad.message());

    // The index follows the store's feed: wait until it has the memories.
    let caroline = || pb::SearchMemoriesRequest {
        query: "counseling mental health".into(),
        filter: Some(pb::MemoryFilter { agent: "mel".into(), ..Default::default() }),
        limit: 5,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    while c.memories.search_memories(caroline()).await.unwrap().into_inner().hits.len() < 5 {
        assert!(started.elapsed() < Duration::from_secs(20), "not indexed after 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The default policy: everything is new, nothing moves.
    let report = force(&mut c, "", false, None).await;
    assert_eq!((report.scanned, report.to_warm, report.to_cold), (300, 0, 0));

    // A dry run reports and changes nothing.
    let dry = force(&mut c, "", true, all_cold()).await;
    assert!(dry.dry_run);
    assert_eq!((dry.scanned, dry.to_cold), (300, 300));
    assert_eq!(tiers(&stats(&mut c).await), (300, 0, 0));

    let report = force(&mut c, "mel", false, all_cold()).await;
    assert_eq!((report.to_cold, report.agents), (300, 1));
    assert!(report.cold_bytes_after * 2 <= report.cold_bytes_before, "{report:?}");
    let s = stats(&mut c).await;
    assert_eq!(tiers(&s), (0, 0, 300));
    assert_eq!((s.cold_bytes_before, s.cold_bytes_after), (report.cold_bytes_before, report.cold_bytes_after));
    assert_eq!(s.agents[0].tiers.unwrap_or_default().cold, 300);

    // Listings return every memory as written, marked cold.
    let listed = by_id(all_memories(&mut c, pb::MemoryFilter { agent: "mel".into(), ..Default::default() }).await);
    for m in &written {
        let read = &listed[&m.id];
        assert_eq!((read.content.as_str(), read.tier), (m.content.as_str(), pb::Tier::Cold as i32));
    }
    // content_contains and ranked search find cold memories.
    let redis =
        all_memories(&mut c, pb::MemoryFilter { content_contains: "restart redis".into(), ..Default::default() }).await;
    assert_eq!(redis.len(), 60);
    let hits = c.memories.search_memories(caroline()).await.unwrap().into_inner().hits;
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|h| h.memory.as_ref().unwrap().content.starts_with("Caroline said")), "{hits:?}");
    // A search naming the hot tier skips them.
    let hot_only = c
        .memories
        .search_memories(pb::SearchMemoriesRequest {
            query: "counseling".into(),
            filter: Some(pb::MemoryFilter { tiers: vec![pb::Tier::Hot as i32], ..Default::default() }),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    // Only memories the search above just read can be hot again (a read brings a cold memory
    // back up once the access log is flushed, about a second later: on a loaded machine that can
    // come first); no cold one is returned.
    let read_by_search: Vec<&str> = hits.iter().map(|h| h.memory.as_ref().unwrap().id.as_str()).collect();
    assert!(
        hot_only.iter().all(|h| {
            let m = h.memory.as_ref().unwrap();
            m.tier == pb::Tier::Hot as i32 && read_by_search.contains(&m.id.as_str())
        }),
        "{hot_only:?}"
    );

    // A cold memory that is read comes back up (the read is recorded within about a second).
    let read = c.memories.get_memory(pb::GetMemoryRequest { id: written[7].id.clone() }).await.unwrap().into_inner();
    assert_eq!((read.content.as_str(), read.tier), (written[7].content.as_str(), pb::Tier::Cold as i32));
    let mut moved = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again =
            c.memories.get_memory(pb::GetMemoryRequest { id: written[7].id.clone() }).await.unwrap().into_inner();
        if again.tier == pb::Tier::Hot as i32 {
            assert_eq!(again.content, written[7].content);
            moved = true;
            break;
        }
    }
    assert!(moved, "a read cold memory did not move up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_counts_are_exact() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let day = chrono::Duration::days(1);
    let now = chrono::Utc::now();
    let at = |ago: chrono::Duration| {
        let t = now - ago;
        Some(prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 })
    };
    // 40 memories 10 days old: importance 0.1 (20), 0.5 (10), decisions at 0.1 (10).
    let mut items = Vec::new();
    for i in 0..40 {
        let (importance, memory_type) = match i {
            0..20 => (0.1, pb::MemoryType::Episodic),
            20..30 => (0.5, pb::MemoryType::Episodic),
            _ => (0.1, pb::MemoryType::Decision),
        };
        items.push(pb::NewMemory {
            agent: "ops".into(),
            content: format!("routine check {i}"),
            importance: Some(importance),
            memory_type: memory_type as i32,
            time: at(day * 10),
            ..Default::default()
        });
    }
    // 5 that expire in a moment.
    for i in 0..5 {
        let expires = now + chrono::Duration::seconds(1);
        items.push(pb::NewMemory {
            agent: "ops".into(),
            content: format!("short-lived {i}"),
            expires_at: Some(prost_types::Timestamp { seconds: expires.timestamp(), nanos: 0 }),
            ..Default::default()
        });
    }
    add(&mut c, items).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let consolidate = policy(serde_json::json!({"consolidate": true}));
    let dry = force(&mut c, "ops", true, consolidate.clone()).await;
    assert_eq!((dry.expired, dry.consolidated, dry.retention), (5, 20, 0), "{dry:?}");
    assert_eq!(stats(&mut c).await.total, 40);
    // Decisions too when asked.
    let with_decisions = policy(serde_json::json!({"consolidate": true, "consolidate_decisions": true}));
    assert_eq!(force(&mut c, "ops", true, with_decisions).await.consolidated, 30);

    let done = force(&mut c, "ops", false, consolidate).await;
    assert_eq!((done.expired, done.consolidated), (5, 20));
    let left = all_memories(&mut c, pb::MemoryFilter { agent: "ops".into(), ..Default::default() }).await;
    assert_eq!(left.len(), 20);
    assert!(left.iter().all(|m| m.importance >= 0.3 || m.memory_type == pb::MemoryType::Decision as i32));

    // Decay: 0.5 per day over 10 days since written, applied once however often passes run.
    let decay = policy(serde_json::json!({"decay_factor": 0.5, "decay_every": "1d"}));
    let report = force(&mut c, "ops", false, decay.clone()).await;
    assert_eq!(report.decayed, 20);
    assert_eq!(force(&mut c, "ops", false, decay).await.decayed, 0, "decay is not applied twice");
    let left = all_memories(&mut c, pb::MemoryFilter { agent: "ops".into(), ..Default::default() }).await;
    for m in &left {
        let original = if m.memory_type == pb::MemoryType::Decision as i32 { 0.1 } else { 0.5 };
        assert!((m.importance - original * 0.5f64.powi(10)).abs() < 1e-9, "{} {}", m.importance, original);
    }

    // Retention through the agent's own policy: the newest 5, and the 2 most important kept.
    let set = c
        .lifecycle
        .set_lifecycle_policy(pb::SetLifecyclePolicyRequest {
            agent_id: "ops".into(),
            policy: policy(serde_json::json!({"max_count": 5, "keep_top": 2})),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        set.policy.as_ref().and_then(|p| p.fields.get("max_count")).and_then(|v| v.kind.clone()),
        Some(prost_types::value::Kind::NumberValue(5.0))
    );
    let got = c
        .lifecycle
        .get_lifecycle_policy(pb::GetLifecyclePolicyRequest { agent_id: "ops".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, set);
    let report = force(&mut c, "", false, None).await;
    assert_eq!(report.retention, 13, "{report:?}");
    assert_eq!(stats(&mut c).await.total, 7);
    let bad = c
        .lifecycle
        .set_lifecycle_policy(pb::SetLifecyclePolicyRequest {
            agent_id: "ops".into(),
            policy: policy(serde_json::json!({"max_count": -1})),
        })
        .await
        .unwrap_err();
    assert!(bad.message().contains("policy.max_count"), "{}", bad.message());
    let unknown = c
        .lifecycle
        .force_maintenance(pb::ForceMaintenanceRequest { agent_id: "nobody".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_during_a_pass_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--maintenance-interval", "0"]);
    let mut c = server.admin().await;
    let written = add(&mut c, turns("big", 30_000)).await;
    let mut server = server;
    let mut pass = server.admin().await;
    let task = tokio::spawn(async move {
        pass.lifecycle.force_maintenance(pb::ForceMaintenanceRequest { policy: all_cold(), ..Default::default() }).await
    });
    // Kill as soon as the first batches are committed.
    let started = std::time::Instant::now();
    while tiers(&stats(&mut c).await).2 == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the pass committed nothing in 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill9();
    let _ = task.await;

    let server = Server::start_in(dir.path(), &["--maintenance-interval", "0"]);
    let mut c = server.admin().await;
    let (hot, _, cold) = tiers(&stats(&mut c).await);
    assert_eq!(hot + cold, 30_000);
    assert!(cold > 0 && hot > 0, "the pass was not stopped halfway (hot {hot}, cold {cold}): kill earlier");
    let check = |listed: HashMap<String, pb::Memory>| {
        assert_eq!(listed.len(), written.len());
        for m in &written {
            assert_eq!(listed[&m.id].content, m.content);
        }
    };
    check(by_id(all_memories(&mut c, pb::MemoryFilter { agent: "big".into(), ..Default::default() }).await));
    // The next pass finishes the work.
    let report = force(&mut c, "", false, all_cold()).await;
    assert_eq!(report.to_cold, hot);
    assert_eq!(tiers(&stats(&mut c).await), (0, 0, 30_000));
    check(by_id(all_memories(&mut c, pb::MemoryFilter { agent: "big".into(), ..Default::default() }).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_run_one_pass_at_a_time() {
    let mut db = PgDatabase::create().await;
    db.migrate();
    let a = Server::start_on(&db, &["--maintenance-interval", "0"]);
    let b = Server::start_on(&db, &["--maintenance-interval", "0"]);
    let mut ca = a.admin().await;
    let mut cb = b.admin().await;
    let written = add(&mut ca, turns("shared", 8_000)).await;
    let request = || pb::ForceMaintenanceRequest { policy: all_cold(), ..Default::default() };
    let (ra, rb) = tokio::join!(ca.lifecycle.force_maintenance(request()), cb.lifecycle.force_maintenance(request()));
    let mut moved = 0;
    let mut aborted = 0;
    for r in [ra, rb] {
        match r {
            Ok(report) => moved += report.into_inner().to_cold,
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "{status:?}");
                assert!(status.message().contains("already running"), "{}", status.message());
                aborted += 1;
            }
        }
    }
    assert_eq!(moved, 8_000, "every memory moved exactly once (aborted: {aborted})");
    assert_eq!(tiers(&stats(&mut cb).await), (0, 0, 8_000));
    let listed = by_id(all_memories(&mut cb, pb::MemoryFilter { agent: "shared".into(), ..Default::default() }).await);
    for m in &written {
        assert_eq!(listed[&m.id].content, m.content);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_cached_until_a_write_or_the_ttl() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let state = |step: i64, health: f64| pb::NewMemory {
        agent: "agent-123".into(),
        memory_type: pb::MemoryType::State as i32,
        content: format!("state {step}"),
        metadata: Some(json_struct(serde_json::json!({"health": health}))),
        step: Some(step),
        ..Default::default()
    };
    add(&mut c, vec![state(1, 0.2), state(2, 0.5)]).await;
    let similar = |c: &mut Clients| {
        let mut s = c.simulation.clone();
        async move {
            s.retrieve_similar_states(pb::RetrieveSimilarStatesRequest {
                agent: "agent-123".into(),
                state: Some(json_struct(serde_json::json!({"health": 0.9}))),
                k: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .states[0]
                .memory
                .clone()
                .unwrap()
                .step
        }
    };
    assert_eq!(similar(&mut c).await, Some(2));
    assert_eq!(stats(&mut c).await.total, 2);
    // A write to the agent drops its results at once.
    add(&mut c, vec![state(3, 0.9)]).await;
    assert_eq!(similar(&mut c).await, Some(3));
    assert_eq!(stats(&mut c).await.total, 3);
    let cleared = c.lifecycle.clear_cache(pb::ClearCacheRequest {}).await.unwrap().into_inner().cleared;
    assert_eq!(cleared, 2);
    let ttl = c.lifecycle.set_cache_ttl(pb::SetCacheTtlRequest { ttl_seconds: 0 }).await.unwrap().into_inner();
    assert_eq!(ttl.ttl_seconds, 0);
    similar(&mut c).await;
    assert_eq!(c.lifecycle.clear_cache(pb::ClearCacheRequest {}).await.unwrap().into_inner().cleared, 0);
    let bad = c.lifecycle.set_cache_ttl(pb::SetCacheTtlRequest { ttl_seconds: 100_000 }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("ttl_seconds"), "{}", bad.message());
}
