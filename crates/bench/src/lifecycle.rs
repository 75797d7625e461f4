//! `engram-bench lifecycle`: the memory lifecycle of issue 11 against a running server.
//!
//! - `pass`: batch ingest alone for `--ingest-seconds` (the baseline: `--ingest-rate` memories/s,
//!   in requests of 500), then a ForceMaintenance pass over the whole org that moves every memory
//!   to cold (`hot_for` and `cold_after` 0s: the heaviest pass, every row compressed) while the
//!   same ingest goes on; reports the pass's duration and counts, and ingest throughput and
//!   request latency before and during it.
//! - `cold-text --locomo FILE`: the turns of LoCoMo's conversations (`locomo10.json`), one agent
//!   per conversation, moved to cold; reports content bytes before and after compression (the
//!   report's and the statistics'), then checks that ranked search (three words of a turn) and
//!   `content_contains` (a 24-byte slice) still find `--probes` sampled cold turns.
//!
//! One JSON line per phase on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use engram_proto::v1 as pb;

use crate::server::Pool;

#[derive(Debug, Clone, clap::Args)]
pub struct LifecycleArgs {
    #[arg(long, value_delimiter = ',', default_value = "pass")]
    pub phases: Vec<String>,
    /// Seconds of ingest alone before the pass (the baseline).
    #[arg(long, default_value_t = 10.0)]
    pub ingest_seconds: f64,
    /// Concurrent AddMemories streams (500 memories a request) before and during the pass.
    #[arg(long, default_value_t = 2)]
    pub ingest_concurrency: usize,
    /// Memories per second the streams send together (0: as fast as they can).
    #[arg(long, default_value_t = 5_000)]
    pub ingest_rate: u64,
    /// LoCoMo's `locomo10.json` (cold-text).
    #[arg(long)]
    pub locomo: Option<std::path::PathBuf>,
    /// Cold turns looked up by search and content_contains (cold-text).
    #[arg(long, default_value_t = 100)]
    pub probes: usize,
}

fn all_cold() -> prost_types::Struct {
    let s = |v: &str| prost_types::Value { kind: Some(prost_types::value::Kind::StringValue(v.into())) };
    let n = |v: f64| prost_types::Value { kind: Some(prost_types::value::Kind::NumberValue(v)) };
    prost_types::Struct {
        fields: [
            ("hot_for".to_owned(), s("0s")),
            ("cold_after".to_owned(), s("0s")),
            ("keep_importance".to_owned(), n(1.0)),
        ]
        .into_iter()
        .collect(),
    }
}

/// What the ingest streams measured: memories stored and each request's latency.
struct Ingested {
    memories: AtomicU64,
    latencies: std::sync::Mutex<Histogram<u64>>,
}

impl Ingested {
    fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        Self { memories: AtomicU64::new(0), latencies: std::sync::Mutex::new(histogram) }
    }

    /// Memories and the request latency p50/p99 (ms) since the last call; starts over.
    fn take(&self) -> (u64, f64, f64) {
        let mut h = self.latencies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let out = (self.memories.swap(0, Ordering::Relaxed), ms(0.5), ms(0.99));
        h.reset();
        out
    }
}

/// Ingest until `stop`, a request every `interval` (zero: back to back).
async fn ingest(
    pool: Pool,
    stream: usize,
    interval: Duration,
    stop: Arc<AtomicBool>,
    counter: Arc<Ingested>,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(0x11fe + stream as u64);
    let mut n = 0u64;
    let mut ticker = (!interval.is_zero()).then(|| {
        let mut t = tokio::time::interval(interval);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    while !stop.load(Ordering::Relaxed) {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        let memories = (0..500)
            .map(|_| {
                n += 1;
                pb::NewMemory {
                    agent: format!("ingest-{stream}-{}", rng.random_range(0..20)),
                    content: format!(
                        "ingest {stream} {n}: checked queue depth {} and lag {} ms",
                        rng.random_range(0..1000),
                        rng.random_range(0..500)
                    ),
                    event_type: "metric".into(),
                    ..Default::default()
                }
            })
            .collect();
        let started = Instant::now();
        pool.get().memories.add_memories(pb::AddMemoriesRequest { memories }).await.context("AddMemories")?;
        counter.memories.fetch_add(500, Ordering::Relaxed);
        let mut h = counter.latencies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = h.record(started.elapsed().as_micros().max(1) as u64);
    }
    Ok(())
}

type Streams = Vec<tokio::task::JoinHandle<anyhow::Result<()>>>;

/// `streams` ingest streams sending `rate` memories/s together (0: as fast as they can).
fn start_ingest(pool: &Pool, streams: usize, rate: u64) -> (Arc<AtomicBool>, Arc<Ingested>, Streams) {
    let (stop, counter) = (Arc::new(AtomicBool::new(false)), Arc::new(Ingested::new()));
    let interval =
        if rate == 0 { Duration::ZERO } else { Duration::from_secs_f64(500.0 * streams as f64 / rate as f64) };
    let tasks =
        (0..streams).map(|i| tokio::spawn(ingest(pool.clone(), i, interval, stop.clone(), counter.clone()))).collect();
    (stop, counter, tasks)
}

async fn stop_ingest(stop: Arc<AtomicBool>, tasks: Streams) -> anyhow::Result<()> {
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn pass(pool: &Pool, args: &LifecycleArgs) -> anyhow::Result<serde_json::Value> {
    let before = pool.get().simulation.get_memory_statistics(pb::GetMemoryStatisticsRequest {}).await?.into_inner();
    let (stop, counter, tasks) = start_ingest(pool, args.ingest_concurrency, args.ingest_rate);
    tokio::time::sleep(Duration::from_secs_f64(args.ingest_seconds)).await;
    let (n, before_p50, before_p99) = counter.take();
    let baseline = n as f64 / args.ingest_seconds;
    let started = Instant::now();
    let request = pb::ForceMaintenanceRequest { policy: Some(all_cold()), ..Default::default() };
    let mut c = pool.get();
    let report = c.lifecycle.force_maintenance(request).await.context("ForceMaintenance")?.into_inner();
    let took = started.elapsed().as_secs_f64();
    let (n, during_p50, during_p99) = counter.take();
    let during = n as f64 / took;
    stop_ingest(stop, tasks).await?;
    let after = pool.get().simulation.get_memory_statistics(pb::GetMemoryStatisticsRequest {}).await?.into_inner();
    eprintln!(
        "  lifecycle pass: {} memories scanned, {} to cold in {took:.1} s; ingest {baseline:.0}/s (p99 {before_p99:.1} ms) \
         before, {during:.0}/s (p99 {during_p99:.1} ms) during; content {} → {} bytes",
        report.scanned, report.to_cold, report.cold_bytes_before, report.cold_bytes_after
    );
    Ok(serde_json::json!({
        "scenario": "lifecycle-pass",
        "memories_before": before.total,
        "scanned": report.scanned,
        "to_cold": report.to_cold,
        "pass_s": took,
        "ingest_before_per_s": baseline.round(),
        "ingest_during_per_s": during.round(),
        "ingest_rate_asked": args.ingest_rate,
        "ingest_p50_ms_before": before_p50,
        "ingest_p99_ms_before": before_p99,
        "ingest_p50_ms_during": during_p50,
        "ingest_p99_ms_during": during_p99,
        "cold_bytes_before": report.cold_bytes_before,
        "cold_bytes_after": report.cold_bytes_after,
        "tiers_after": after.tiers.map(|t| serde_json::json!({"hot": t.hot, "warm": t.warm, "cold": t.cold})),
    }))
}

/// LoCoMo's turns: per conversation, the text of every turn in order.
fn locomo_turns(path: &std::path::Path) -> anyhow::Result<Vec<Vec<String>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let data: serde_json::Value = serde_json::from_str(&text)?;
    let mut out = Vec::new();
    for sample in data.as_array().context("locomo: not an array")? {
        let conversation = sample["conversation"].as_object().context("locomo: no conversation")?;
        let mut sessions: Vec<(u64, &Vec<serde_json::Value>)> = conversation
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("session_")?.parse().ok()?;
                Some((n, v.as_array()?))
            })
            .collect();
        sessions.sort_by_key(|(n, _)| *n);
        let turns = sessions
            .into_iter()
            .flat_map(|(_, turns)| turns.iter().filter_map(|t| t["text"].as_str().map(str::to_owned)))
            .collect();
        out.push(turns);
    }
    Ok(out)
}

/// Whether a search for three words (of more than 5 letters) of `content` has `id` in its top 10.
async fn search_finds(pool: &Pool, id: &str, content: &str) -> anyhow::Result<bool> {
    let words: Vec<&str> = content.split(|ch: char| !ch.is_alphanumeric()).filter(|w| w.len() > 5).take(3).collect();
    let request = pb::SearchMemoriesRequest { query: words.join(" "), limit: 10, ..Default::default() };
    let hits = pool.get().memories.search_memories(request).await?.into_inner().hits;
    Ok(hits.iter().any(|h| h.memory.as_ref().is_some_and(|m| m.id == id)))
}

async fn cold_text(pool: &Pool, args: &LifecycleArgs) -> anyhow::Result<serde_json::Value> {
    let path = args.locomo.as_ref().context("cold-text needs --locomo <locomo10.json>")?;
    let conversations = locomo_turns(path)?;
    let mut written: Vec<(String, String)> = Vec::new();
    let mut raw = 0usize;
    for (i, turns) in conversations.iter().enumerate() {
        for chunk in turns.chunks(500) {
            let memories = chunk
                .iter()
                .map(|t| pb::NewMemory {
                    agent: format!("locomo-{i}"),
                    content: t.clone(),
                    event_type: "turn".into(),
                    ..Default::default()
                })
                .collect();
            let results =
                pool.get().memories.add_memories(pb::AddMemoriesRequest { memories }).await?.into_inner().results;
            for r in results {
                if let Some(m) = r.memory {
                    raw += m.content.len();
                    written.push((m.id, m.content));
                }
            }
        }
    }
    // Probes: turns with three words of more than 5 letters.
    let mut rng = StdRng::seed_from_u64(7);
    let mut probes: Vec<&(String, String)> = written
        .iter()
        .filter(|(_, c)| c.split_whitespace().filter(|w| w.len() > 5).count() >= 3 && c.len() >= 40)
        .collect();
    probes.shuffle(&mut rng);
    probes.truncate(args.probes);
    // The same searches while the turns are hot (once the index has them), then cold.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut hot_found = 0;
    for (id, content) in &probes {
        if search_finds(pool, id, content).await? {
            hot_found += 1;
        }
    }
    // Their hits are reads, recorded within a second: let them land before the move (a read
    // recorded after it would move the memory back up).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut before, mut after, mut moved) = (0, 0, 0);
    for i in 0..conversations.len() {
        let request = pb::ForceMaintenanceRequest {
            agent_id: format!("locomo-{i}"),
            policy: Some(all_cold()),
            ..Default::default()
        };
        let report = pool.get().lifecycle.force_maintenance(request).await?.into_inner();
        before += report.cold_bytes_before;
        after += report.cold_bytes_after;
        moved += report.to_cold;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mut by_search, mut by_contains, mut cold_read) = (0, 0, 0);
    for (id, content) in &probes {
        let mut c = pool.get();
        let read = c.memories.get_memory(pb::GetMemoryRequest { id: id.clone() }).await?.into_inner();
        if read.tier == pb::Tier::Cold as i32 && read.content == *content {
            cold_read += 1;
        }
        if search_finds(pool, id, content).await? {
            by_search += 1;
        }
        let start = rng.random_range(0..content.len().saturating_sub(24).max(1));
        let slice: String = content.chars().skip(content[..start].chars().count()).take(24).collect();
        let listed = c
            .memories
            .list_memories(pb::ListMemoriesRequest {
                filter: Some(pb::MemoryFilter { content_contains: slice, ..Default::default() }),
                limit: 100,
                ..Default::default()
            })
            .await?
            .into_inner()
            .memories;
        if listed.iter().any(|m| m.id == *id) {
            by_contains += 1;
        }
    }
    let stats = pool.get().simulation.get_memory_statistics(pb::GetMemoryStatisticsRequest {}).await?.into_inner();
    let ratio = before as f64 / after.max(1) as f64;
    eprintln!(
        "  lifecycle cold-text: {} turns ({raw} bytes), {moved} to cold: {before} → {after} bytes ({ratio:.2}×); \
         of {} cold probes: read back {cold_read}, found by search {by_search} (hot: {hot_found}), by content_contains {by_contains}",
        written.len(),
        probes.len()
    );
    Ok(serde_json::json!({
        "scenario": "lifecycle-cold-text",
        "turns": written.len(),
        "content_bytes": raw,
        "to_cold": moved,
        "cold_bytes_before": before,
        "cold_bytes_after": after,
        "ratio": ratio,
        "stats_cold_bytes_before": stats.cold_bytes_before,
        "stats_cold_bytes_after": stats.cold_bytes_after,
        "probes": probes.len(),
        "read_back_cold": cold_read,
        "found_by_search": by_search,
        "found_by_search_while_hot": hot_found,
        "found_by_contains": by_contains,
    }))
}

pub async fn run(args: LifecycleArgs, addr: &[String], api_key: Option<&str>) -> anyhow::Result<()> {
    let pool = Pool::connect(addr, api_key, 4, Duration::from_secs(600)).await.context("connecting")?;
    for phase in &args.phases {
        let line = match phase.as_str() {
            "pass" => pass(&pool, &args).await?,
            "cold-text" => cold_text(&pool, &args).await?,
            other => anyhow::bail!("unknown lifecycle phase {other:?} (pass, cold-text)"),
        };
        println!("{line}");
    }
    Ok(())
}
