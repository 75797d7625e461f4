//! Times the store's recall read (an agent's newest 100 memories since 24h) on an existing store,
//! without any server in front: `cargo run --release -p engram-store --example read_timing --
//! <database url> <org id> <agent name> [iterations] [concurrency]`.

use std::time::Instant;

use engram_core::*;
use engram_store::{MemoryStore, SqlStore, StoreOptions};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (url, org, agent) = (&args[1], &args[2], &args[3]);
    let iterations: usize = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let concurrency: usize = args.get(5).and_then(|n| n.parse().ok()).unwrap_or(1);
    let store = std::sync::Arc::new(SqlStore::connect(url, &StoreOptions::default()).await?);
    let now = time::now();
    let filter = MemoryFilter {
        agent: Some(AgentRef::parse(agent)),
        since: Some(now - chrono::Duration::hours(24)),
        ..Default::default()
    };
    let query = MemoryQuery { filter, limit: 100, order: Order::Desc, cursor: None, offset: 0, within: None };
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (store, org, query) = (store.clone(), org.clone(), query.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(iterations / concurrency);
                for _ in 0..iterations / concurrency {
                    let t = Instant::now();
                    let page = store.list_memories(&org, &query, now).await?;
                    assert_eq!(page.memories.len(), 100);
                    latencies.push(t.elapsed().as_secs_f64() * 1e3);
                }
                Ok::<_, Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(iterations);
    for task in tasks {
        latencies.extend(task.await.map_err(Error::internal)??);
    }
    let iterations = latencies.len();
    latencies.sort_by(f64::total_cmp);
    println!(
        "{iterations} reads at concurrency {concurrency} in {:.2}s ({:.0}/s): p50 {:.3} ms, p99 {:.3} ms",
        started.elapsed().as_secs_f64(),
        iterations as f64 / started.elapsed().as_secs_f64(),
        latencies[iterations / 2],
        latencies[iterations * 99 / 100]
    );
    Ok(())
}
