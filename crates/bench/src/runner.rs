//! Closed-loop load: C workers, each sending its next request as soon as the previous one answers,
//! for a duration or a total request count. Latencies of successful requests go to an hdrhistogram
//! in microseconds. The `rest-*` scenarios are the REST/JSON twins (HTTP/1.1) of gRPC ones.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hyper::Method;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use engram_proto::v1 as pb;

use crate::data::{AGENTS, Generator, Times, agent_name};
use crate::failure::Failure;
use crate::rest::{self, RestPool};
use crate::server::Pool;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    /// AddMemories with batches of new memories (default concurrency 4).
    BatchIngest,
    /// AddMemory, one new memory per request (default concurrency 32).
    UnaryAdd,
    /// ListMemories of a random agent, since 24h, limit 100 (default concurrency 8).
    Recall,
    /// SearchMemories: one random tag, EPISODIC, since 7d, limit 100 (default concurrency 8).
    Search,
    /// BuildContext of a random agent, since 7d, max_tokens 4000 (default concurrency 8).
    Context,
    /// GetAgentStats of a random agent of the generator's 50 (default concurrency 1).
    Stats,
    /// REST twin of unary-add: POST /api/v1/memories, one new episodic memory (default concurrency 32).
    RestAdd,
    /// REST twin of recall: GET /api/v1/memories?agent_id=..&since=24h&limit=100&order=desc (default
    /// concurrency 8).
    RestRecall,
    /// REST twin of search: POST /api/v1/search, one random tag, episodic, since 7d, limit 100
    /// (default concurrency 8).
    RestSearch,
    /// SearchMemories with a query (BM25, ranked) of two words of a generated memory's content,
    /// one random agent, limit 10 (default concurrency 8).
    Keyword,
    /// SearchMemories with content_contains of two consecutive words of a generated memory's
    /// content (the word-prefix rule), one random agent, limit 10 (default concurrency 8).
    Contains,
    /// SearchMemories with a random query_embedding (exact cosine over the org's vectors), one
    /// random agent, limit 10; needs BENCH_VECTOR_DIM (default concurrency 8).
    Semantic,
    /// The same over the whole org (no agent filter: the vector graph at 10^6), limit 10.
    SemanticOrg,
    /// SearchMemories with the keyword scenario's words and a random query_embedding, fused,
    /// one random agent, limit 10; needs BENCH_VECTOR_DIM (default concurrency 8).
    Hybrid,
}

impl Scenario {
    /// The default order: reads first, on the store exactly as loaded, then the writes (which grow it).
    pub const ALL: [Scenario; 14] = [
        Scenario::Recall,
        Scenario::Search,
        Scenario::Keyword,
        Scenario::Contains,
        Scenario::Semantic,
        Scenario::SemanticOrg,
        Scenario::Hybrid,
        Scenario::Context,
        Scenario::Stats,
        Scenario::RestRecall,
        Scenario::RestSearch,
        Scenario::BatchIngest,
        Scenario::UnaryAdd,
        Scenario::RestAdd,
    ];

    /// (REST scenario, its gRPC twin), for the REST overhead report.
    pub const REST_TWINS: [(Scenario, Scenario); 3] = [
        (Scenario::RestAdd, Scenario::UnaryAdd),
        (Scenario::RestRecall, Scenario::Recall),
        (Scenario::RestSearch, Scenario::Search),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::BatchIngest => "batch-ingest",
            Scenario::UnaryAdd => "unary-add",
            Scenario::Recall => "recall",
            Scenario::Search => "search",
            Scenario::Context => "context",
            Scenario::Stats => "stats",
            Scenario::RestAdd => "rest-add",
            Scenario::RestRecall => "rest-recall",
            Scenario::RestSearch => "rest-search",
            Scenario::Keyword => "keyword",
            Scenario::Contains => "contains",
            Scenario::Semantic => "semantic",
            Scenario::SemanticOrg => "semantic-org",
            Scenario::Hybrid => "hybrid",
        }
    }

    /// Scenarios that write one memory per request (reported in memories/s too).
    pub fn adds_one(self) -> bool {
        matches!(self, Scenario::UnaryAdd | Scenario::RestAdd)
    }

    pub fn is_rest(self) -> bool {
        matches!(self, Scenario::RestAdd | Scenario::RestRecall | Scenario::RestSearch)
    }

    pub fn default_concurrency(self) -> usize {
        match self {
            Scenario::BatchIngest => 4,
            Scenario::UnaryAdd | Scenario::RestAdd => 32,
            Scenario::Recall
            | Scenario::Search
            | Scenario::Keyword
            | Scenario::Contains
            | Scenario::Semantic
            | Scenario::SemanticOrg
            | Scenario::Hybrid
            | Scenario::Context
            | Scenario::RestRecall
            | Scenario::RestSearch => 8,
            Scenario::Stats => 1,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one request does.
#[derive(Debug, Clone, Copy)]
pub enum Work {
    /// AddMemories batches until `total` memories were sent (request i carries the i-th batch).
    Load {
        total: u64,
        batch: usize,
    },
    Scenario(Scenario, usize),
}

/// When a phase ends.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    After(Duration),
    Requests(u64),
}

/// Shared state of the workers.
pub struct Ctx {
    pub pool: Pool,
    pub rest: RestPool,
    pub generator: Generator,
    pub vocabulary: Vec<String>,
    /// Times of the memories of the load and of batch-ingest (the other writes are back-filled).
    pub times: Times,
}

/// What a successful request produced.
#[derive(Default)]
struct Outcome {
    /// Memories created.
    created: u64,
    /// Memories sent but reported as duplicates.
    duplicates: u64,
    /// Memories returned (list/search), included (context) or counted (stats: memory_count).
    results: u64,
}

async fn execute(ctx: &Ctx, work: Work, seq: u64, rng: &mut StdRng) -> Result<Outcome, Failure> {
    let batch = |rng: &mut StdRng, n: usize| pb::AddMemoriesRequest {
        memories: (0..n).map(|_| ctx.generator.memory(rng, ctx.times)).collect(),
    };
    match work {
        Work::Load { total, batch: size } => {
            let n = (total - seq * size as u64).min(size as u64) as usize;
            let r = ctx.pool.get().memories.add_memories(batch(rng, n)).await?.into_inner();
            Ok(Outcome { created: r.created.into(), duplicates: r.duplicates.into(), results: 0 })
        }
        Work::Scenario(Scenario::BatchIngest, size) => {
            let r = ctx.pool.get().memories.add_memories(batch(rng, size)).await?.into_inner();
            Ok(Outcome { created: r.created.into(), duplicates: r.duplicates.into(), results: 0 })
        }
        Work::Scenario(Scenario::UnaryAdd, _) => {
            let memory = ctx.generator.memory(rng, Times::Backfill);
            match ctx.pool.get().memories.add_memory(pb::AddMemoryRequest { memory: Some(memory) }).await {
                Ok(_) => Ok(Outcome { created: 1, ..Outcome::default() }),
                // A duplicate is an answer, counted apart (like AddMemories' duplicates).
                Err(status) if status.code() == tonic::Code::AlreadyExists => {
                    Ok(Outcome { duplicates: 1, ..Outcome::default() })
                }
                Err(status) => Err(status.into()),
            }
        }
        Work::Scenario(Scenario::Recall, _) => {
            let request = pb::ListMemoriesRequest {
                filter: Some(pb::MemoryFilter {
                    agent: agent_name(rng.random_range(0..AGENTS)),
                    since: "24h".into(),
                    ..Default::default()
                }),
                limit: 100,
                ..Default::default()
            };
            let r = ctx.pool.get().memories.list_memories(request).await?.into_inner();
            Ok(Outcome { results: r.memories.len() as u64, ..Outcome::default() })
        }
        Work::Scenario(Scenario::Search, _) => {
            let tag = ctx.vocabulary.choose(rng).cloned().unwrap_or_default();
            let request = pb::SearchMemoriesRequest {
                filter: Some(pb::MemoryFilter {
                    tags: vec![tag],
                    memory_types: vec![pb::MemoryType::Episodic.into()],
                    since: "7d".into(),
                    ..Default::default()
                }),
                limit: 100,
                ..Default::default()
            };
            let r = ctx.pool.get().memories.search_memories(request).await?.into_inner();
            Ok(Outcome { results: r.results.len() as u64, ..Outcome::default() })
        }
        Work::Scenario(
            scenario @ (Scenario::Keyword
            | Scenario::Contains
            | Scenario::Semantic
            | Scenario::SemanticOrg
            | Scenario::Hybrid),
            _,
        ) => {
            // Two consecutive words (of 3+ letters) of what the generator writes.
            let sample = ctx.generator.memory(rng, Times::Backfill);
            let words: Vec<&str> = sample
                .content
                .split_whitespace()
                .filter(|w| w.len() >= 3 && w.chars().all(char::is_alphabetic))
                .collect();
            let start = rng.random_range(0..words.len().saturating_sub(1).max(1));
            let text = words.iter().skip(start).take(2).copied().collect::<Vec<_>>().join(" ");
            let mut filter = pb::MemoryFilter { agent: agent_name(rng.random_range(0..AGENTS)), ..Default::default() };
            let mut request = pb::SearchMemoriesRequest { limit: 10, ..Default::default() };
            match scenario {
                Scenario::Keyword => request.query = text,
                Scenario::Contains => filter.content_contains = text,
                Scenario::Semantic => request.query_embedding = ctx.generator.vector(rng),
                Scenario::SemanticOrg => {
                    filter.agent = String::new();
                    request.query_embedding = ctx.generator.vector(rng);
                }
                _ => {
                    request.query = text;
                    request.query_embedding = ctx.generator.vector(rng);
                }
            }
            request.filter = Some(filter);
            let r = ctx.pool.get().memories.search_memories(request).await?.into_inner();
            Ok(Outcome { results: (r.results.len() + r.hits.len()) as u64, ..Outcome::default() })
        }
        Work::Scenario(Scenario::Context, _) => {
            let request = pb::BuildContextRequest {
                agent: agent_name(rng.random_range(0..AGENTS)),
                session_id: String::new(),
                options: Some(pb::ContextOptions { since: "7d".into(), max_tokens: 4000, ..Default::default() }),
            };
            let r = ctx.pool.get().context.build_context(request).await?.into_inner();
            Ok(Outcome { results: r.memory_ids.len() as u64, ..Outcome::default() })
        }
        Work::Scenario(Scenario::Stats, _) => {
            let request = pb::GetAgentStatsRequest { agent: agent_name(rng.random_range(0..AGENTS)) };
            let r = ctx.pool.get().agents.get_agent_stats(request).await?.into_inner();
            Ok(Outcome { results: r.memory_count, ..Outcome::default() })
        }
        Work::Scenario(Scenario::RestAdd, _) => {
            let m = ctx.generator.episodic(rng);
            let mut body = serde_json::json!({
                "agent_id": m.agent,
                "memory_type": "episodic",
                "event_type": m.event_type,
                "content": m.content,
                "tags": m.tags,
                "importance": m.importance,
            });
            // Engram's `time` extension: spread over the last 7 days like unary-add's memories.
            if let Some(time) = &m.time {
                body["time"] = rest::rfc3339(time).into();
            }
            let (status, body) = ctx.rest.send(Method::POST, "/api/v1/memories", Some(body.to_string().into())).await?;
            match status.as_u16() {
                201 => Ok(Outcome { created: 1, ..Outcome::default() }),
                409 if is_duplicate(&body) => Ok(Outcome { duplicates: 1, ..Outcome::default() }),
                _ => Err(rest::status_failure(status, &body)),
            }
        }
        Work::Scenario(Scenario::RestRecall, _) => {
            let path = format!(
                "/api/v1/memories?agent_id={}&since=24h&limit=100&order=desc",
                agent_name(rng.random_range(0..AGENTS))
            );
            let (status, body) = ctx.rest.send(Method::GET, &path, None).await?;
            if status.as_u16() != 200 {
                return Err(rest::status_failure(status, &body));
            }
            Ok(Outcome { results: json_count(&body, "memories")?, ..Outcome::default() })
        }
        Work::Scenario(Scenario::RestSearch, _) => {
            let tag = ctx.vocabulary.choose(rng).cloned().unwrap_or_default();
            let query = serde_json::json!({
                "tags": [tag],
                "memory_types": ["episodic"],
                "since": "7d",
                "limit": 100,
            });
            let (status, body) = ctx.rest.send(Method::POST, "/api/v1/search", Some(query.to_string().into())).await?;
            if status.as_u16() != 200 {
                return Err(rest::status_failure(status, &body));
            }
            Ok(Outcome { results: json_count(&body, "results")?, ..Outcome::default() })
        }
    }
}

/// A 409 body of a duplicate memory: `{"error": "duplicate memory: ..", "existing_id": ".."}`.
fn is_duplicate(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.get("existing_id").is_some())
}

/// Parses a 200 body (as a client would) and returns the length of its array `field`.
fn json_count(body: &[u8], field: &str) -> Result<u64, Failure> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| Failure { kind: "bad json".into(), message: format!("{err} in a 200 answer") })?;
    match value.get(field).and_then(serde_json::Value::as_array) {
        Some(items) => Ok(items.len() as u64),
        None => Err(Failure { kind: "bad json".into(), message: format!("no {field:?} array in a 200 answer") }),
    }
}

/// The measurements of one phase.
pub struct Stats {
    pub histogram: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    /// Failure kind (gRPC code, HTTP status...) -> (count, first message).
    pub error_kinds: BTreeMap<String, (u64, String)>,
    pub created: u64,
    pub duplicates: u64,
    pub results: u64,
    pub elapsed: Duration,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            // 1 µs .. 1 h, 3 significant digits.
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds"),
            ok: 0,
            errors: 0,
            error_kinds: BTreeMap::new(),
            created: 0,
            duplicates: 0,
            results: 0,
            elapsed: Duration::ZERO,
        }
    }

    fn merge(&mut self, other: Stats) {
        let _ = self.histogram.add(&other.histogram);
        self.ok += other.ok;
        self.errors += other.errors;
        for (code, (count, message)) in other.error_kinds {
            let entry = self.error_kinds.entry(code).or_insert((0, message));
            entry.0 += count;
        }
        self.created += other.created;
        self.duplicates += other.duplicates;
        self.results += other.results;
    }

    pub fn requests_per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn memories_per_s(&self) -> f64 {
        (self.created + self.duplicates) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at quantile `q` in milliseconds (0 without samples).
    pub fn ms(&self, q: f64) -> f64 {
        if self.histogram.is_empty() { 0.0 } else { self.histogram.value_at_quantile(q) as f64 / 1000.0 }
    }

    pub fn max_ms(&self) -> f64 {
        if self.histogram.is_empty() { 0.0 } else { self.histogram.max() as f64 / 1000.0 }
    }

    pub fn mean_results(&self) -> f64 {
        if self.ok == 0 { 0.0 } else { self.results as f64 / self.ok as f64 }
    }
}

/// Runs `work` with `concurrency` workers. A warm-up, if any, runs first and is not measured: every
/// worker finishes its warm-up requests, then all start measuring together (a barrier), so that no
/// unmeasured request overlaps the measured window. With `Stop::After(d)`, workers start requests
/// for `d`; the window ends when the last of them answered.
pub async fn run(ctx: Arc<Ctx>, work: Work, concurrency: usize, stop: Stop, warmup: Duration, seed: u64) -> Stats {
    let concurrency = concurrency.max(1);
    let issued = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(concurrency));
    let warmup_until = Instant::now() + warmup;
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (ctx, issued, barrier) = (ctx.clone(), issued.clone(), barrier.clone());
        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(w as u64));
        workers.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            if let Work::Scenario(..) = work {
                while Instant::now() < warmup_until {
                    let _ = execute(&ctx, work, 0, &mut rng).await;
                }
            }
            barrier.wait().await;
            let started = Instant::now();
            let deadline = match stop {
                Stop::After(d) => Some(started + d),
                Stop::Requests(_) => None,
            };
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let seq = issued.fetch_add(1, Ordering::Relaxed);
                if let Stop::Requests(n) = stop
                    && seq >= n
                {
                    break;
                }
                let t = Instant::now();
                match execute(&ctx, work, seq, &mut rng).await {
                    Ok(outcome) => {
                        stats.histogram.saturating_record((t.elapsed().as_micros() as u64).max(1));
                        stats.ok += 1;
                        stats.created += outcome.created;
                        stats.duplicates += outcome.duplicates;
                        stats.results += outcome.results;
                    }
                    Err(failure) => {
                        stats.errors += 1;
                        let entry = stats
                            .error_kinds
                            .entry(failure.kind)
                            .or_insert_with(|| (0, failure.message.chars().take(200).collect()));
                        entry.0 += 1;
                    }
                }
            }
            (stats, started, Instant::now())
        }));
    }
    let mut total = Stats::new();
    let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
    for worker in workers {
        match worker.await {
            Ok((stats, started, finished)) => {
                total.merge(stats);
                first = Some(first.map_or(started, |f| f.min(started)));
                last = Some(last.map_or(finished, |l| l.max(finished)));
            }
            Err(err) => {
                total.errors += 1;
                total.error_kinds.entry("worker panicked".into()).or_insert((0, err.to_string())).0 += 1;
            }
        }
    }
    if let (Some(first), Some(last)) = (first, last) {
        total.elapsed = last.saturating_duration_since(first);
    }
    total
}
