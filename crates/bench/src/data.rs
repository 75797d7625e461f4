//! Synthetic but realistic memories: coding, infrastructure and research agents writing log-like
//! lines of ~200 bytes, 3 tags each from a vocabulary of ~200, mostly episodic with some decisions
//! and entities, times spread over the last 7 days (or no time at all: see [`Times`]). Every content
//! carries a run nonce and a counter so that nothing is deduplicated, not even across runs on the
//! same store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engram_proto::v1 as pb;
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

pub const AGENTS: usize = 50;
/// Times of generated memories are spread over this window before now.
pub const SPREAD: Duration = Duration::from_secs(7 * 24 * 3600);

/// The times of generated memories (load and batch-ingest; `--times`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Times {
    /// Random times over the last 7 days ([`SPREAD`]), set by the client: back-filled history.
    #[default]
    Backfill,
    /// No time: the server stamps each memory with the time it receives it (live agents).
    Live,
}

impl Times {
    pub fn name(self) -> &'static str {
        match self {
            Times::Backfill => "backfill",
            Times::Live => "live",
        }
    }
}

impl std::fmt::Display for Times {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub fn agent_name(i: usize) -> String {
    format!("agent-{i:02}")
}

#[rustfmt::skip]
const FILES: &[&str] = &[
    "auth.go", "main.go", "server.go", "handler.go", "middleware.go", "config.go", "db.go", "cache.go",
    "main.rs", "lib.rs", "store.rs", "router.rs", "auth.rs", "retry.rs", "queue.rs", "metrics.rs",
    "app.py", "models.py", "views.py", "tasks.py", "settings.py", "utils.py", "train.py", "eval.py",
    "index.ts", "api.ts", "client.ts", "session.ts", "Dockerfile", "Makefile", "deploy.yaml", "values.yaml",
    "schema.sql", "migrations.sql", "README.md", "ci.yml",
];
#[rustfmt::skip]
const REPOS: &[&str] = &[
    "billing-api", "auth-service", "web-frontend", "mobile-app", "data-pipeline", "infra-terraform",
    "ml-platform", "search-indexer", "notification-svc", "payments-core", "admin-portal", "cli-tools",
    "sdk-python", "sdk-go", "docs-site", "monorepo",
];
#[rustfmt::skip]
const TICKETS: &[&str] = &[
    "ENG-1042", "ENG-1057", "ENG-1113", "ENG-1138", "ENG-1201", "ENG-1219", "ENG-1266", "ENG-1304",
    "ENG-1340", "ENG-1377", "OPS-212", "OPS-245", "OPS-301", "OPS-318", "SEC-77", "SEC-81", "BUG-5120",
    "BUG-5164", "BUG-5198", "BUG-5233",
];
#[rustfmt::skip]
const HOSTS: &[&str] = &[
    "prod-web-01", "prod-web-02", "prod-web-03", "prod-web-04", "prod-web-05", "prod-web-06", "prod-api-01",
    "prod-api-02", "prod-api-03", "prod-api-04", "prod-db-01", "prod-db-02", "prod-db-03", "prod-cache-01",
    "prod-cache-02", "prod-queue-01", "prod-queue-02", "prod-worker-01", "prod-worker-02", "prod-worker-03",
    "staging-web-01", "staging-web-02", "staging-api-01", "staging-db-01", "ci-runner-01", "ci-runner-02",
    "ci-runner-03", "ci-runner-04", "bastion-01", "monitor-01",
];
#[rustfmt::skip]
const SERVICES: &[&str] = &[
    "redis", "postgres", "nginx", "kafka", "rabbitmq", "elasticsearch", "api-gateway", "auth", "billing",
    "search", "worker", "scheduler", "notifier", "payments", "frontend", "grafana", "prometheus",
    "alertmanager", "vault", "consul", "etcd", "minio", "clickhouse", "envoy",
];
const ENVS: &[&str] = &["prod", "staging", "dev", "ci", "canary", "eu-prod"];
#[rustfmt::skip]
const TOPICS: &[&str] = &[
    "retrieval", "reranking", "long-context", "rag", "quantization", "distillation", "rlhf", "dpo",
    "tokenization", "embeddings", "vector-search", "agents", "tool-use", "planning", "memory",
    "evaluation", "hallucination", "safety", "moe", "speculative-decoding", "kv-cache", "lora",
    "scaling-laws", "data-curation",
];
#[rustfmt::skip]
const DATASETS: &[&str] = &[
    "squad-v2", "natural-questions", "hotpotqa", "triviaqa", "ms-marco", "beir", "mmlu", "gsm8k",
    "humaneval", "mbpp", "swe-bench", "hellaswag", "arc-challenge", "truthfulqa", "longbench", "ruler",
    "msmarco-passage", "fever", "wikitext-103", "c4-sample",
];
#[rustfmt::skip]
const MODELS: &[&str] = &[
    "llama-3-8b", "llama-3-70b", "mistral-7b", "mixtral-8x7b", "qwen2-7b", "qwen2-72b", "gemma-2-9b",
    "phi-3-mini", "bert-base", "roberta-large", "e5-large", "bge-m3", "colbert-v2", "t5-base", "gpt2-xl",
    "deberta-v3", "minilm-l6", "starcoder2-7b", "codellama-13b", "baseline-bm25",
];

#[rustfmt::skip]
const FUNCS: &[&str] = &[
    "refresh_token", "handle_request", "parse_config", "retry_with_backoff", "flush_batch", "load_user",
    "validate_input", "open_pool", "compute_invoice", "render_page", "enqueue_job", "apply_migration",
];
const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"];
const TEAMS: &[&str] = &["platform", "payments", "search", "growth", "ml-infra", "security", "sre"];

/// Every tag of the vocabulary (196): `file:`, `repo:`, `ticket:`, `host:`, `service:`, `env:`,
/// `topic:`, `dataset:`, `model:`.
pub fn vocabulary() -> Vec<String> {
    let families: [(&str, &[&str]); 9] = [
        ("file", FILES),
        ("repo", REPOS),
        ("ticket", TICKETS),
        ("host", HOSTS),
        ("service", SERVICES),
        ("env", ENVS),
        ("topic", TOPICS),
        ("dataset", DATASETS),
        ("model", MODELS),
    ];
    families.iter().flat_map(|(family, values)| values.iter().map(move |v| format!("{family}:{v}"))).collect()
}

/// Generates unique memories. Shared by all workers of a run.
pub struct Generator {
    nonce: String,
    counter: AtomicU64,
    /// The centres of the clusters of the random client vector each memory carries, of
    /// dimension `BENCH_VECTOR_DIM` (none when 0: no vectors) ([`Generator::vector`]).
    centres: Vec<Vec<f32>>,
}

/// Clusters of the generated vectors, and the noise around each centre (a vector's cosine to its
/// centre is then about 0.85, to a vector of its cluster about 0.73, to any other about 0):
/// real embeddings cluster by topic, and uniformly random ones are the worst case of any graph.
const CLUSTERS: u64 = 1_000;
const NOISE: f32 = 0.6;

impl Generator {
    pub fn new(rng: &mut StdRng) -> Self {
        let vector_dim = std::env::var("BENCH_VECTOR_DIM").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        // The same centres in every run and process (a fixed seed per centre).
        let centres = if vector_dim == 0 {
            Vec::new()
        } else {
            (0..CLUSTERS)
                .map(|c| {
                    let mut rng = StdRng::seed_from_u64(c);
                    (0..vector_dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
                })
                .collect()
        };
        Self { nonce: format!("{:06x}", rng.random_range(0..0x100_0000u32)), counter: AtomicU64::new(0), centres }
    }

    /// A random vector of that dimension (a query's, or a memory's): a random cluster's centre
    /// plus uniform noise.
    pub fn vector(&self, rng: &mut StdRng) -> Vec<f32> {
        let Some(centre) = self.centres.get(rng.random_range(0..self.centres.len().max(1))) else { return Vec::new() };
        centre.iter().map(|c| c + NOISE * rng.random_range(-1.0f32..1.0)).collect()
    }

    /// Memories generated so far.
    pub fn generated(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    /// A new memory of a random agent, with a time or not (`times`).
    pub fn memory(&self, rng: &mut StdRng, times: Times) -> pb::NewMemory {
        let agent = rng.random_range(0..AGENTS);
        self.memory_of(rng, agent, times)
    }

    /// A new episodic memory of a random agent, back-filled (the REST scenario rest-add).
    pub fn episodic(&self, rng: &mut StdRng) -> pb::NewMemory {
        let agent = rng.random_range(0..AGENTS);
        self.generate(rng, agent, Some(pb::MemoryType::Episodic), Times::Backfill)
    }

    /// A new memory of agent `agent-NN`. Agents are coding (NN % 3 == 0), infrastructure (1) or
    /// research (2) agents.
    pub fn memory_of(&self, rng: &mut StdRng, agent: usize, times: Times) -> pb::NewMemory {
        self.generate(rng, agent, None, times)
    }

    /// A new memory of agent `agent-NN`, of a random type (80 % episodic, 10 % decision, 10 %
    /// entity) unless `memory_type` is given. Back-filled: a random time in the last 7 days; live:
    /// no time. (The random time is drawn either way, so that both modes draw the same sequence.)
    fn generate(
        &self,
        rng: &mut StdRng,
        agent: usize,
        memory_type: Option<pb::MemoryType>,
        times: Times,
    ) -> pb::NewMemory {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let reference = format!("ref {}-{n:08}", self.nonce);
        let memory_type = memory_type.unwrap_or_else(|| match rng.random_range(0..100u32) {
            0..80 => pb::MemoryType::Episodic,
            80..90 => pb::MemoryType::Decision,
            _ => pb::MemoryType::Entity,
        });
        let (event_type, content, reasoning, tags) = match agent % 3 {
            0 => coding(rng, memory_type, &reference),
            1 => infra(rng, memory_type, &reference),
            _ => research(rng, memory_type, &reference),
        };
        let ago = rng.random_range(0..SPREAD.as_secs() * 1000);
        let time = SystemTime::now() - Duration::from_millis(ago);
        pb::NewMemory {
            agent: agent_name(agent),
            memory_type: memory_type.into(),
            event_type: event_type.into(),
            content,
            tags,
            importance: Some((rng.random_range(0..=100u32) as f64) / 100.0),
            time: match times {
                Times::Backfill => Some(timestamp(time)),
                Times::Live => None,
            },
            reasoning,
            embedding: self.vector(rng),
            ..Default::default()
        }
    }
}

pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }
}

fn pick<'a>(rng: &mut StdRng, values: &'a [&'a str]) -> &'a str {
    values.choose(rng).copied().unwrap_or_default()
}

type Parts = (&'static str, String, String, Vec<String>);

fn coding(rng: &mut StdRng, memory_type: pb::MemoryType, reference: &str) -> Parts {
    let (file, repo, ticket) = (pick(rng, FILES), pick(rng, REPOS), pick(rng, TICKETS));
    let func = pick(rng, FUNCS);
    let (a, b) = (rng.random_range(2..400u32), rng.random_range(1..60u32));
    let sha = format!("{:07x}", rng.random_range(0..0x1000_0000u32));
    let tags = vec![format!("file:{file}"), format!("repo:{repo}"), format!("ticket:{ticket}")];
    let (event, content, reasoning) = match memory_type {
        pb::MemoryType::Decision => (
            "decision",
            format!(
                "Decided to split {func} out of {file} in {repo} into its own module with a narrow interface \
                 instead of adding another flag; {ticket} tracks the follow-up."
            ),
            format!(
                "{file} has grown to {a} lines and {b} call sites depend on internal state; isolating {func} \
                 makes it testable and keeps the change reviewable."
            ),
        ),
        pb::MemoryType::Entity => (
            "entity",
            format!(
                "{file} in {repo} owns {func}: it is called from the request path and from the nightly job, \
                 has {b} unit tests and was last touched in commit {sha} for {ticket}."
            ),
            String::new(),
        ),
        _ => match rng.random_range(0..5u32) {
            0 => (
                "file_edit",
                format!(
                    "Edited {file} in {repo}: refactored {func} to return early on empty input and removed a \
                     redundant clone; ran the test suite, {a} passed, 0 failed. {ticket}, commit {sha}."
                ),
                String::new(),
            ),
            1 => (
                "test_failure",
                format!(
                    "Test failure in {repo}/{file}: assertion failed in {func} (expected 200, got 401) after \
                     the token refresh change; reproduced with seed {a}, flaky {b}% of runs. See {ticket}."
                ),
                String::new(),
            ),
            2 => (
                "file_read",
                format!(
                    "Read {file} in {repo} to understand how {func} handles retries: exponential backoff, max \
                     {} attempts, no jitter, errors are swallowed after the last one. Noted for {ticket}.",
                    b % 7 + 3
                ),
                String::new(),
            ),
            3 => (
                "lint",
                format!(
                    "Ran the linter on {repo}: {} warnings in {file} (unused import, shadowed variable in \
                     {func}, needless borrow); fixed them and pushed branch fix/{}.",
                    b % 9 + 1,
                    ticket.to_lowercase()
                ),
                String::new(),
            ),
            _ => (
                "code_review",
                format!(
                    "Code review of {ticket}: {file} adds a cache in front of {func} but never invalidates it on \
                     update; requested changes and suggested a TTL of {b}s plus a metric for the hit rate."
                ),
                String::new(),
            ),
        },
    };
    (event, format!("{content} ({reference})"), reasoning, tags)
}

fn infra(rng: &mut StdRng, memory_type: pb::MemoryType, reference: &str) -> Parts {
    let (host, service, env) = (pick(rng, HOSTS), pick(rng, SERVICES), pick(rng, ENVS));
    let (a, b) = (rng.random_range(50..99u32), rng.random_range(2..900u32));
    let tags = vec![format!("host:{host}"), format!("service:{service}"), format!("env:{env}")];
    let (event, content, reasoning) = match memory_type {
        pb::MemoryType::Decision => (
            "decision",
            format!(
                "Decided to move {service} in {env} off {host} to a dedicated node pool and to page only on \
                 sustained error rate, not on single failed health checks."
            ),
            format!(
                "{host} runs at {a}% CPU at peak and {service} was paged {} times last week for blips that \
                 recovered within {b}s without intervention.",
                b % 12 + 2
            ),
        ),
        pb::MemoryType::Entity => (
            "entity",
            format!(
                "{host} is a {}-core VM in {} running {service} for {env}; owned by the {} team, backups every \
                 {}h, last kernel patch {b} days ago.",
                [4, 8, 16, 32][b as usize % 4],
                pick(rng, REGIONS),
                pick(rng, TEAMS),
                a % 12 + 1
            ),
            String::new(),
        ),
        _ => match rng.random_range(0..5u32) {
            0 => (
                "deploy",
                format!(
                    "Deploy of {service} v2.{}.{} to {env} finished on {host}; health checks green after {b}s, \
                     p99 latency {}ms, error rate 0.0{}%. Rolled out to 3 of 3 replicas.",
                    a % 40,
                    b % 20,
                    b % 300 + 20,
                    a % 10
                ),
                String::new(),
            ),
            1 => (
                "alert",
                format!(
                    "Alert on {host}: {service} memory at {a}% of its limit, 2 restarts in the last hour; heap \
                     profile shows growth in the connection pool. Environment {env}, silenced for 30m."
                ),
                String::new(),
            ),
            2 => (
                "error",
                format!(
                    "{service} in {env} returned 503 for {b}s during failover of {host}; clients retried and \
                     succeeded, queue depth peaked at {} messages. Incident closed as minor.",
                    b * 17
                ),
                String::new(),
            ),
            3 => (
                "maintenance",
                format!(
                    "Disk usage on {host} reached {a}% (/var/lib/{service}); rotated logs and removed old \
                     snapshots, freed {} GB. No customer impact in {env}.",
                    b % 80 + 5
                ),
                String::new(),
            ),
            _ => (
                "scale",
                format!(
                    "Scaled {service} in {env} from 4 to 6 replicas ahead of the traffic peak; CPU on {host} \
                     dropped from {a}% to {}% and p95 latency from {b}ms to {}ms.",
                    a / 2,
                    b / 2 + 1
                ),
                String::new(),
            ),
        },
    };
    (event, format!("{content} ({reference})"), reasoning, tags)
}

fn research(rng: &mut StdRng, memory_type: pb::MemoryType, reference: &str) -> Parts {
    let (topic, dataset, model) = (pick(rng, TOPICS), pick(rng, DATASETS), pick(rng, MODELS));
    let (a, b) = (rng.random_range(1..30u32), rng.random_range(40..95u32));
    let tags = vec![format!("topic:{topic}"), format!("dataset:{dataset}"), format!("model:{model}")];
    let (event, content, reasoning) = match memory_type {
        pb::MemoryType::Decision => (
            "decision",
            format!(
                "Decided to use {model} as the baseline for the {topic} study and to report results on \
                 {dataset} with 3 seeds, instead of a single run with the best checkpoint."
            ),
            format!(
                "Variance across seeds was {a}% last time, larger than most reported gains on {dataset}; \
                 {model} is cheap enough to run 3 times."
            ),
        ),
        pb::MemoryType::Entity => (
            "entity",
            format!(
                "{dataset} is a benchmark used for {topic}: {}k examples, test split held out, license allows \
                 research use; {model} scores {b}.{a} on it in our last evaluation.",
                a * 13
            ),
            String::new(),
        ),
        _ => match rng.random_range(0..4u32) {
            0 => (
                "paper",
                format!(
                    "Read a paper on {topic}: proposes a learned reranker on top of {model}, reports +{a}% \
                     recall@10 on {dataset}. Ablations are thin; worth comparing against our baseline."
                ),
                String::new(),
            ),
            1 => (
                "experiment",
                format!(
                    "Experiment on {dataset}: {model} fine-tuned for {} epochs on {topic} data reached {b}.{a}% \
                     accuracy, {}.{} points above the previous run; lr 3e-4, batch 64.",
                    a % 5 + 1,
                    a % 4,
                    b % 10
                ),
                String::new(),
            ),
            2 => (
                "summary",
                format!(
                    "Summary of {topic} notes: gains on {dataset} mostly come from better data, not model size; \
                     {model} closes {b}% of the gap to larger models with {a}x less compute."
                ),
                String::new(),
            ),
            _ => (
                "data_issue",
                format!(
                    "{dataset} has {} duplicate rows and inconsistent labels in the validation split; filed an \
                     issue and am rerunning the {topic} eval for {model} without them.",
                    a * b
                ),
                String::new(),
            ),
        },
    };
    (event, format!("{content} ({reference})"), reasoning, tags)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn vocabulary_is_about_200_valid_unique_tags() {
        let vocab = vocabulary();
        assert!((190..=210).contains(&vocab.len()), "{}", vocab.len());
        let unique: std::collections::HashSet<_> = vocab.iter().collect();
        assert_eq!(unique.len(), vocab.len());
        for tag in &vocab {
            assert!(tag.len() <= 64 && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.:/=@+-".contains(c)));
        }
    }

    #[test]
    fn memories_are_unique_and_about_200_bytes() {
        let mut rng = StdRng::seed_from_u64(7);
        let generator = Generator::new(&mut rng);
        let vocab = vocabulary();
        let mut total = 0;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3000 {
            let m = generator.memory(&mut rng, Times::Backfill);
            total += m.content.len();
            assert!(m.content.len() < 400, "{}", m.content);
            assert_eq!(m.tags.len(), 3);
            assert!(m.tags.iter().all(|t| vocab.contains(t)), "{:?}", m.tags);
            assert!(seen.insert(m.content.clone()));
        }
        let mean = total / 3000;
        assert!((170..=250).contains(&mean), "mean content length {mean}");
    }

    #[test]
    fn live_memories_have_no_time_and_backfilled_ones_are_in_the_window() {
        let mut rng = StdRng::seed_from_u64(7);
        let generator = Generator::new(&mut rng);
        assert!(generator.memory(&mut rng, Times::Live).time.is_none());
        let time = generator.memory(&mut rng, Times::Backfill).time.expect("a time");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        assert!((now - SPREAD.as_secs() as i64 - 5..=now).contains(&time.seconds));
    }
}
