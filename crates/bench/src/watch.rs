//! `engram-bench watch`: how soon a committed memory reaches a watch. One client watches an agent
//! (WatchMemories); another writes one memory at a time to it, `--rate` per second; each delivery's
//! latency is measured from the write's acknowledgement to the event's arrival (the same process
//! clocks both). Prints one JSON line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use hdrhistogram::Histogram;

use engram_proto::v1 as pb;

use crate::server::Pool;

#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Memories written (and delivered).
    #[arg(long, default_value_t = 1_000)]
    pub memories: u64,
    /// Writes per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Also write this many memories per second of another agent (not delivered), as background.
    #[arg(long, default_value_t = 0)]
    pub noise: u64,
}

pub async fn run(args: WatchArgs, addr: &[String], api_key: Option<&str>) -> anyhow::Result<()> {
    let pool = Pool::connect(addr, api_key, 2, Duration::from_secs(60)).await.context("connecting")?;
    let agent = format!("watch-bench-{}", std::process::id());
    let filter = pb::MemoryFilter { agent: agent.clone(), ..Default::default() };
    let mut stream = pool
        .get()
        .watch
        .watch_memories(pb::WatchMemoriesRequest { filter: Some(filter), resume_token: String::new() })
        .await?
        .into_inner();
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let writer = {
        let (pool, acked, agent, args) = (pool.clone(), acked.clone(), agent.clone(), args.clone());
        tokio::spawn(async move {
            let period = Duration::from_secs_f64(1.0 / args.rate);
            let mut tick = tokio::time::interval(period);
            for i in 0..args.memories {
                tick.tick().await;
                let content = format!("watched memory {i}");
                let mut memories =
                    vec![pb::NewMemory { agent: agent.clone(), content: content.clone(), ..Default::default() }];
                memories.extend((0..args.noise / args.rate.max(1.0) as u64).map(|j| pb::NewMemory {
                    agent: "watch-bench-noise".into(),
                    content: format!("noise {i} {j}"),
                    ..Default::default()
                }));
                pool.get().memories.add_memories(pb::AddMemoriesRequest { memories }).await?;
                acked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(content, Instant::now());
            }
            anyhow::Ok(())
        })
    };
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut received = 0;
    while received < args.memories {
        let event = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .context("no event within 30 s")?
            .context("the stream ended")??;
        let arrived = Instant::now();
        let content = event.memory.map(|m| m.content).unwrap_or_default();
        // The acknowledgement may be processed after the event arrives: then the latency is 0.
        let acked_at = acked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&content);
        let micros = acked_at.map_or(1, |t| arrived.saturating_duration_since(t).as_micros().max(1) as u64);
        histogram.record(micros)?;
        received += 1;
    }
    writer.await??;
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "scenario": "watch-latency",
            "memories": args.memories,
            "rate_per_s": args.rate,
            "noise_per_s": args.noise,
            "p50_ms": ms(0.5),
            "p90_ms": ms(0.9),
            "p99_ms": ms(0.99),
            "max_ms": histogram.max() as f64 / 1000.0,
        })
    );
    eprintln!(
        "  watch latency: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
    Ok(())
}
