//! Durability: concurrent clients ingest while the server is killed with SIGKILL at a random
//! moment; after a restart every acknowledged memory is there, and no batch is half-stored.
//! Run on the embedded SQLite store and on PostgreSQL.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engram_tests::{PgDatabase, Server, filter, memory, pb};
use rand::Rng;

async fn ingest_until_killed(server: &Server, round: usize) -> (HashSet<String>, Vec<Vec<String>>) {
    let acked_single = Arc::new(Mutex::new(HashSet::new()));
    let acked_batches = Arc::new(Mutex::new(Vec::new()));
    let base = server.admin().await;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (mut c, single, batches) = (base.clone(), acked_single.clone(), acked_batches.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                if worker % 2 == 0 {
                    let m = memory(&format!("agent-{worker}"), &format!("round {round} worker {worker} item {i}"));
                    match c.memories.add_memory(pb::AddMemoryRequest { memory: Some(m) }).await {
                        Ok(r) => {
                            single.lock().unwrap().insert(r.into_inner().memory.unwrap().id);
                        }
                        Err(_) => return,
                    }
                } else {
                    let batch = (0..50)
                        .map(|j| {
                            memory(
                                &format!("agent-{worker}"),
                                &format!("round {round} worker {worker} batch {i} item {j}"),
                            )
                        })
                        .collect();
                    match c.memories.add_memories(pb::AddMemoriesRequest { memories: batch }).await {
                        Ok(r) => {
                            let ids = r.into_inner().results.into_iter().map(|r| r.id).collect();
                            batches.lock().unwrap().push(ids);
                        }
                        Err(_) => return,
                    }
                }
            }
        }));
    }
    let pause = rand::rng().random_range(300..1500);
    tokio::time::sleep(Duration::from_millis(pause)).await;
    // Only what was acknowledged before the kill is recorded.
    let pid = server.child.id();
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    for task in tasks {
        let _ = task.await;
    }
    let single = acked_single.lock().unwrap().clone();
    let batches = acked_batches.lock().unwrap().clone();
    (single, batches)
}

/// Three rounds of: ingest, SIGKILL, restart (`start` starts a server on the same store), check.
async fn kill_dash_nine_rounds(start: impl Fn() -> Server) {
    for round in 0..3 {
        let mut server = start();
        let (single, batches) = ingest_until_killed(&server, round).await;
        server.kill9();
        assert!(!single.is_empty() && !batches.is_empty(), "round {round}: nothing was acknowledged before the kill");

        let server = start();
        let mut c = server.admin().await;
        let mut stored = HashSet::new();
        let mut token = String::new();
        loop {
            let page = c
                .memories
                .list_memories(pb::ListMemoriesRequest {
                    filter: Some(filter()),
                    limit: 1000,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            stored.extend(page.memories.into_iter().map(|m| m.id));
            if !page.has_more {
                break;
            }
            token = page.next_page_token;
        }
        let missing: Vec<_> = single.iter().filter(|id| !stored.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged memories lost, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        for batch in &batches {
            assert!(batch.iter().all(|id| stored.contains(id)), "round {round}: an acknowledged batch was lost");
        }
        // Batches are atomic: per agent of the batch workers, the count is a multiple of 50.
        for worker in [1, 3, 5, 7] {
            let stats = c
                .agents
                .get_agent_stats(pb::GetAgentStatsRequest { agent: format!("agent-{worker}") })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(stats.memory_count % 50, 0, "round {round}: agent-{worker} has a half-stored batch");
        }
        eprintln!("round {round}: {} single + {} batches acknowledged, all present", single.len(), batches.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_no_acknowledged_memory_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_dash_nine_rounds(|| Server::start_in(dir.path(), &[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_no_acknowledged_memory_postgres() {
    let mut db = PgDatabase::create().await;
    db.migrate();
    kill_dash_nine_rounds(|| Server::start_on(&db, &[])).await;
}
