//! Ranked search through the real binary: SearchMemories with a query over gRPC, how soon a write
//! is searchable (on the same server and on another replica of the same PostgreSQL database), and
//! the on-disk full-text index across restarts (resumed, or rebuilt when lost).

use std::time::{Duration, Instant};

use engram_tests::{Clients, PgDatabase, Server, memory, pb};
use tonic::Code;

fn ranked(agent: &str, query: &str) -> pb::SearchMemoriesRequest {
    pb::SearchMemoriesRequest {
        filter: Some(pb::MemoryFilter { agent: agent.into(), ..Default::default() }),
        query: query.into(),
        limit: 10,
        ..Default::default()
    }
}

async fn contents(c: &mut Clients, request: pb::SearchMemoriesRequest) -> Vec<String> {
    let response = c.memories.search_memories(request).await.unwrap().into_inner();
    assert!(response.results.is_empty(), "a ranked search answers in hits");
    response.hits.into_iter().map(|h| h.memory.unwrap().content).collect()
}

/// Polls until `query` finds `content`; returns how long that took (panics after `limit`).
async fn searchable_after(c: &mut Clients, agent: &str, query: &str, content: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if contents(c, ranked(agent, query)).await.iter().any(|found| found == content) {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{content:?} not searchable after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn add(c: &mut Clients, agent: &str, content: &str) {
    c.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory(agent, content)) }).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranked_search_over_grpc_and_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let mut c = server.admin().await;
    add(&mut c, "ops", "Found memory leak in Redis connection pool on prod-web-01").await;
    add(&mut c, "ops", "Disk almost full on db-02").await;
    add(&mut c, "ops", "Redis upgraded").await;
    let lag = searchable_after(&mut c, "ops", "redis leak", "Redis upgraded", Duration::from_secs(1)).await;
    println!("searchable {lag:?} after the write was acknowledged");

    let response = c.memories.search_memories(ranked("ops", "redis leaks")).await.unwrap().into_inner();
    assert_eq!(response.mode, pb::SearchMode::Keyword as i32);
    let hits = response.hits;
    assert_eq!(hits.len(), 2);
    assert!(hits[0].memory.as_ref().unwrap().content.starts_with("Found memory leak"));
    assert!(hits[0].score >= hits[1].score && hits[0].keyword > 0.0 && hits[0].recency > 0.99);
    assert_eq!(hits[0].importance, 0.5);

    // Errors name the field.
    let status = c.memories.search_memories(ranked("ops", &"x".repeat(1025))).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("query:"), "{}", status.message());
    let status = c
        .memories
        .search_memories(pb::SearchMemoriesRequest { order: pb::Order::Asc as i32, ..ranked("ops", "redis") })
        .await
        .unwrap_err();
    assert!(status.code() == Code::InvalidArgument && status.message().starts_with("order:"), "{status:?}");
    let status = c
        .memories
        .search_memories(pb::SearchMemoriesRequest { mode: pb::SearchMode::Hybrid as i32, ..ranked("ops", "redis") })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let status = c
        .memories
        .search_memories(pb::SearchMemoriesRequest { mode: pb::SearchMode::Keyword as i32, ..ranked("ops", "") })
        .await
        .unwrap_err();
    assert!(status.code() == Code::InvalidArgument && status.message().starts_with("mode:"), "{status:?}");

    // A restart resumes the on-disk index: found at once, nothing indexed twice.
    server.terminate();
    let mut server = Server::start_in(dir.path(), &[]);
    let mut c = server.admin().await;
    assert_eq!(contents(&mut c, ranked("ops", "redis")).await.len(), 2);

    // A lost index is rebuilt from the store.
    server.terminate();
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let server = Server::start_in(dir.path(), &[]);
    let mut c = server.admin().await;
    let rebuilt = searchable_after(&mut c, "ops", "disk", "Disk almost full on db-02", Duration::from_secs(5)).await;
    println!("rebuilt within {rebuilt:?}");
    assert_eq!(contents(&mut c, ranked("ops", "redis")).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_is_searchable_on_the_other() {
    let mut db = PgDatabase::create().await;
    db.migrate();
    let a = Server::start_on(&db, &[]);
    let b = Server::start_on(&db, &[]);
    let (mut ca, mut cb) = (a.admin().await, b.admin().await);
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let content = format!("Replica note number{i} about kafka lag");
        add(&mut ca, "ops", &content).await;
        let lag = searchable_after(&mut cb, "ops", &format!("kafka number{i}"), &content, Duration::from_secs(2)).await;
        worst = worst.max(lag);
    }
    println!("searchable on the other replica within {worst:?}");
    assert!(worst < Duration::from_secs(1), "{worst:?}");

    // Semantic search on B finds a vector written on A within 2 s.
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let direction: Vec<f32> = (0..8).map(|d| if d == i { 1.0 } else { 0.01 }).collect();
        let content = format!("vector note {i}");
        let memory = pb::NewMemory { embedding: direction.clone(), ..memory("ops", &content) };
        ca.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory) }).await.unwrap();
        let started = Instant::now();
        loop {
            let request =
                pb::SearchMemoriesRequest { query_embedding: direction.clone(), limit: 1, ..Default::default() };
            let response = cb.memories.search_memories(request).await.unwrap().into_inner();
            assert_eq!(response.mode, pb::SearchMode::Semantic as i32);
            if response.hits.first().and_then(|h| h.memory.as_ref()).is_some_and(|m| m.content == content) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(2), "{content:?} not found by vector on the other replica");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        worst = worst.max(started.elapsed());
    }
    println!("semantically searchable on the other replica within {worst:?}");
}
