//! `engram-bench soak`: mixed load for many minutes while the server is killed with SIGKILL every
//! few minutes and restarted on the same data (`make soak`, `scripts/soak.sh`; OPERATIONS.md
//! "Soak").
//!
//! For each backend in turn (`--backends`, the `--minutes` split evenly between them): SQLite, one
//! `engram serve` on a data directory; PostgreSQL, `--pg-replicas` servers on one freshly migrated
//! database. Each server keeps its port across restarts, so the clients' connections reconnect to
//! it. Clients (each its own task, all paced):
//!
//! - 3 memory writers: AddMemory and AddMemories (2..=40) over gRPC, and POST /api/v1/memories
//!   over REST, `--write-rate` memories/s in all;
//! - 3 readers, `--read-rate` requests/s in all, in turn: GetMemory of a random acknowledged
//!   memory (it must read back identical), ListMemories, SearchMemories with a query (ranked),
//!   BuildContext, GET /api/v1/memories/{id} (identical too), GET /api/v1/memories;
//! - 2 conversation clients: AppendMessages (1..=3 messages with client message ids, retried with
//!   the same ids until answered) then GetWindow of that conversation (its newest message must be
//!   the one just appended), `--message-rate` messages/s in all.
//! - 1 deleter: once more than `--keep-memories` acknowledged memories are stored, DeleteMemory of
//!   the oldest, paced at `--write-rate`, so that the stored data stops growing (0: never).
//!
//! Worker i prefers server i mod N; after a failure it goes to another for 2 s (fail-over).
//!
//! Every `--kill-every` seconds one server (PostgreSQL: the replicas in turn) gets SIGKILL and is
//! started again on the same store. Its restart window runs from the kill until the new process
//! answers `/ready` 200, plus `--grace` seconds. A failed request whose span overlaps a window of
//! the server it went to is expected (counted apart); any other failed request fails the run, and
//! it is a server error if it is a 5xx, INTERNAL, UNKNOWN or DATA_LOSS.
//!
//! The client logs every acknowledged write: memory id and a digest (SHA-256 of id, agent, event
//! type, content, tags, importance, time, created_at) and every conversation message (id, seq and
//! a digest of role, content and client id). After each restart (through the restarted server)
//! and at the end (through every server) every write acknowledged so far is read back: a missing
//! one is lost, a different one changed, a memory whose delete was acknowledged and that is
//! still listed resurrected; all fail the run. A write or delete whose answer never came is not
//! counted either way.
//!
//! RSS: the servers run with their hot, window and SQLite writer caches at `--cache-mb` (8 MiB),
//! so that these bounded caches fill within the warm-up; every `--rss-every` seconds VmRSS and RssAnon of each
//! server from /proc/<pid>/status;
//! per server lifetime, after `--rss-warmup` seconds, the least-squares slope in MiB/min. A
//! backend that ran `--rss-gate-minutes` or longer fails if a lifetime with at least
//! `--rss-min-span` seconds of samples after its warm-up has an RssAnon slope above
//! `--rss-max-slope` (VmRSS is reported, not gated: it counts the pages of the SQLite file and of
//! the index that the server maps, which grow with the data).
//!
//! Prints a summary table and writes a JSON summary (`--summary`); fails (non-zero exit) on any
//! finding.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hyper::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest as _, Sha256};

use engram_proto::v1 as pb;

use crate::data::{Generator, Times, agent_name};
use crate::failure::Failure;
use crate::rest::{self, RestPool};
use crate::server::{Pool, Spawned, StoreOf};

/// The agents the soak writes as (`agent-00`..).
const AGENTS: usize = 8;
/// Conversations per conversation client.
const CONVERSATIONS: usize = 10;
/// How long a worker avoids a server after a failed request to it.
const FAILOVER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// Minutes of load in all, split evenly between the backends.
    #[arg(long, env = "SOAK_MINUTES", default_value_t = 30.0)]
    pub minutes: f64,
    /// Seconds between two kill -9 (SQLite: of the server; PostgreSQL: of the replicas in turn).
    #[arg(long, env = "SOAK_KILL_EVERY", default_value_t = 300.0)]
    pub kill_every: f64,
    /// Backends, in this order (postgres needs --database-url: a fresh, empty database).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Backend::Sqlite, Backend::Postgres])]
    pub backends: Vec<Backend>,
    /// Servers on the PostgreSQL database.
    #[arg(long, default_value_t = 2)]
    pub pg_replicas: usize,
    /// Memories written per second, over the three memory writers.
    #[arg(long, default_value_t = 200.0)]
    pub write_rate: f64,
    /// Conversation messages appended per second, over the two conversation clients.
    #[arg(long, default_value_t = 40.0)]
    pub message_rate: f64,
    /// Memories kept stored: once more are acknowledged, a deleter deletes the oldest
    /// (DeleteMemory, paced at `--write-rate`), so the stored data stops growing and the RSS gate
    /// judges the server, not the data's growth. 0: keep every memory (the data grows all along).
    #[arg(long, default_value_t = 10_000)]
    pub keep_memories: usize,
    /// Read requests per second, over the three readers.
    #[arg(long, default_value_t = 150.0)]
    pub read_rate: f64,
    /// Seconds after the server answers /ready again during which failures still count as part of
    /// its restart window (connections being re-established).
    #[arg(long, default_value_t = 5.0)]
    pub grace: f64,
    /// MiB of the servers' hot cache, conversation-window cache and SQLite writer page cache
    /// (`--hot-cache-mb`, `--window-cache-mb`, `--sqlite-cache-mb`; the server's default is 64
    /// each): small, so that these bounded caches
    /// are full within the RSS warm-up and the slope after it shows growth without a bound.
    /// 0: the server's defaults.
    #[arg(long, default_value_t = 8)]
    pub cache_mb: u64,
    /// Seconds between two RSS samples of each server.
    #[arg(long, default_value_t = 5.0)]
    pub rss_every: f64,
    /// Seconds of each server lifetime left out of its RSS slope (start-up, caches filling, the
    /// stored memories reaching `--keep-memories`).
    #[arg(long, default_value_t = 120.0)]
    pub rss_warmup: f64,
    /// Pass threshold: most RssAnon growth in MiB per minute of a server lifetime.
    #[arg(long, default_value_t = 4.0)]
    pub rss_max_slope: f64,
    /// Seconds of samples after the warm-up a lifetime needs for its slope to be judged.
    #[arg(long, default_value_t = 150.0)]
    pub rss_min_span: f64,
    /// The RSS threshold applies to backends that ran at least this many minutes.
    #[arg(long, default_value_t = 10.0)]
    pub rss_gate_minutes: f64,
    /// Write the JSON summary to this file.
    #[arg(long)]
    pub summary: Option<PathBuf>,
}

/// What the soak needs from the global flags.
pub struct Options {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub server_args: Vec<String>,
    pub log_level: String,
    pub timeout: Duration,
    pub seed: u64,
}

/// How to (re)start one server.
#[derive(Clone)]
struct Launch {
    bin: PathBuf,
    dir: PathBuf,
    url: Option<String>,
    key: String,
    listen: String,
    extra: Vec<String>,
    log_level: String,
}

impl Launch {
    fn start(&self) -> anyhow::Result<Spawned> {
        let store = match &self.url {
            Some(url) => StoreOf::Postgres { url, admin_key: &self.key },
            None => StoreOf::Embedded,
        };
        Spawned::start_at(&self.bin, &self.dir, store, &self.listen, &self.extra, &self.log_level)
    }
}

struct Server {
    launch: Launch,
    spawned: Spawned,
}

/// One server as the clients see it.
struct Target {
    name: String,
    pool: Pool,
    rest: RestPool,
    down_until: Mutex<Option<Instant>>,
}

#[derive(Clone)]
struct AckedMemory {
    id: String,
    digest: [u8; 32],
}

#[derive(Clone)]
struct AckedMessage {
    agent: String,
    conversation: String,
    id: String,
    digest: [u8; 32],
}

#[derive(Default)]
struct Acked {
    /// Every acknowledged memory, in the order of the acknowledgements.
    memories: Vec<AckedMemory>,
    /// `memories[..delete_from]` have been taken by the deleter (deleted, being deleted, or
    /// deleted without an answer); the rest must be stored.
    delete_from: usize,
    /// Memories whose DeleteMemory was acknowledged: they must never be read back again.
    deleted: Vec<String>,
    messages: Vec<AckedMessage>,
    /// Acknowledged write requests by operation.
    requests: BTreeMap<&'static str, u64>,
    /// Write requests that got no success (no answer, or an error answer), by operation.
    unanswered: BTreeMap<&'static str, u64>,
    /// AddMemories items or AddMemory answers reported as duplicates (never expected: every
    /// content is new).
    duplicates: u64,
}

/// A failed request: its operation, the server it went to and its span.
#[derive(Debug, Clone)]
struct FailureAt {
    op: &'static str,
    target: usize,
    kind: String,
    message: String,
    start: Instant,
    end: Instant,
}

/// A restart window of one server: from the kill to `end` (ready + grace); `end` None while open.
#[derive(Debug, Clone, Copy)]
struct Window {
    target: usize,
    killed: Instant,
    ready: Option<Instant>,
    end: Option<Instant>,
}

struct Lifetime {
    target: usize,
    pid: u32,
    started: Instant,
    alive: bool,
    ended: &'static str,
    /// (seconds since the start, VmRSS MiB, RssAnon MiB)
    samples: Vec<(f64, f64, f64)>,
}

struct Shared {
    targets: Vec<Target>,
    generator: Generator,
    stop: AtomicBool,
    acked: Mutex<Acked>,
    failures: Mutex<Vec<FailureAt>>,
    /// Wrong answers: an acknowledged memory read back missing or different, a stale window.
    findings: Mutex<Vec<String>>,
    windows: Mutex<Vec<Window>>,
    lifetimes: Mutex<Vec<Lifetime>>,
    /// Successful requests by operation.
    ok: Mutex<BTreeMap<&'static str, u64>>,
    /// Memories generated so far (the unique number at the head of each content).
    written: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The worker's own server unless it failed in the last 2 s, else the first other one that did not.
    fn pick(&self, home: usize) -> usize {
        let now = Instant::now();
        let n = self.targets.len();
        let up = |i: usize| self.targets[i].down_until.lock().unwrap().is_none_or(|t| t <= now);
        let home = home % n;
        if up(home) {
            return home;
        }
        (1..n).map(|d| (home + d) % n).find(|&i| up(i)).unwrap_or(home)
    }

    fn succeeded(&self, op: &'static str) {
        *self.ok.lock().unwrap().entry(op).or_default() += 1;
    }

    fn failed(&self, op: &'static str, target: usize, failure: Failure, start: Instant) {
        let end = Instant::now();
        *self.targets[target].down_until.lock().unwrap() = Some(end + FAILOVER);
        self.failures.lock().unwrap().push(FailureAt {
            op,
            target,
            kind: failure.kind,
            message: failure.message.chars().take(300).collect(),
            start,
            end,
        });
    }

    fn finding(&self, text: String) {
        eprintln!("  FINDING: {text}");
        self.findings.lock().unwrap().push(text);
    }

    fn ack_memory(&self, op: &'static str, memory: AckedMemory) {
        let mut acked = self.acked.lock().unwrap();
        acked.memories.push(memory);
        *acked.requests.entry(op).or_default() += 1;
    }

    fn unanswered(&self, op: &'static str) {
        *self.acked.lock().unwrap().unanswered.entry(op).or_default() += 1;
    }

    /// A random acknowledged memory not taken by the deleter, with its place in `memories`.
    fn random_acked(&self, rng: &mut StdRng) -> Option<(usize, AckedMemory)> {
        let acked = self.acked.lock().unwrap();
        if acked.delete_from >= acked.memories.len() {
            return None;
        }
        let i = rng.random_range(acked.delete_from..acked.memories.len());
        Some((i, acked.memories[i].clone()))
    }

    /// Whether the deleter has taken `memories[i]` (then a NOT_FOUND for it is expected).
    fn taken_for_deletion(&self, i: usize) -> bool {
        i < self.acked.lock().unwrap().delete_from
    }
}

/// A gRPC failure; ` (transport)` marks one that never got a status from the server.
fn grpc_failure(status: tonic::Status) -> Failure {
    let transport = std::error::Error::source(&status).is_some();
    Failure {
        kind: format!("{:?}{}", status.code(), if transport { " (transport)" } else { "" }),
        message: status.message().to_owned(),
    }
}

/// 5xx, INTERNAL, UNKNOWN, DATA_LOSS: the server's fault.
fn is_server_error(kind: &str) -> bool {
    let code = kind.split(' ').next().unwrap_or("");
    matches!(code, "Internal" | "Unknown" | "DataLoss") || code.parse::<u16>().is_ok_and(|s| (500..600).contains(&s))
}

/// Whether the failure's span overlaps a restart window of the server it went to.
fn in_window(failure: &FailureAt, windows: &[Window]) -> bool {
    windows
        .iter()
        .any(|w| w.target == failure.target && failure.end >= w.killed && w.end.is_none_or(|end| failure.start <= end))
}

/// The digest of a memory's fields that never change (not its access count, last access or tier).
#[allow(clippy::too_many_arguments)]
fn memory_digest(
    id: &str,
    agent_id: &str,
    event_type: &str,
    content: &str,
    tags: &[&str],
    importance: f64,
    time: &str,
    created_at: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [id, agent_id, event_type, content] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for tag in tags {
        h.update(tag.as_bytes());
        h.update([0x1f]);
    }
    h.update(importance.to_bits().to_le_bytes());
    for part in [time, created_at] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

fn digest_pb(m: &pb::Memory) -> [u8; 32] {
    let t = |ts: &Option<prost_types::Timestamp>| ts.as_ref().map(rest::rfc3339).unwrap_or_default();
    let tags: Vec<&str> = m.tags.iter().map(String::as_str).collect();
    memory_digest(&m.id, &m.agent_id, &m.event_type, &m.content, &tags, m.importance, &t(&m.time), &t(&m.created_at))
}

/// The same digest of a REST memory (`time` and `created_at` are RFC 3339 with microseconds, as
/// [`rest::rfc3339`] writes a protobuf timestamp).
fn digest_json(m: &serde_json::Value) -> Option<(String, [u8; 32])> {
    let s = |k: &str| m.get(k).and_then(serde_json::Value::as_str);
    let tags: Vec<&str> = m.get("tags")?.as_array()?.iter().filter_map(serde_json::Value::as_str).collect();
    let id = s("id")?;
    let digest = memory_digest(
        id,
        s("agent_id")?,
        s("event_type")?,
        s("content")?,
        &tags,
        m.get("importance")?.as_f64()?,
        s("time")?,
        s("created_at")?,
    );
    Some((id.to_owned(), digest))
}

fn digest_message(m: &pb::Message) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(m.id.as_bytes());
    h.update([0]);
    h.update(m.seq.to_le_bytes());
    h.update(m.role.to_le_bytes());
    h.update(m.content.as_bytes());
    h.update([0]);
    h.update(m.message_id.as_bytes());
    h.finalize().into()
}

/// Least-squares slope of (seconds, MiB) in MiB per minute; None below 3 samples.
fn slope_per_minute(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 { None } else { Some(sxy / sxx * 60.0) }
}

/// Acknowledged writes missing from `stored` (lost) or different there (changed).
fn compare<'a>(
    acked: impl Iterator<Item = (&'a str, &'a [u8; 32])>,
    stored: &HashMap<String, [u8; 32]>,
) -> (u64, Vec<String>, Vec<String>) {
    let (mut checked, mut lost, mut changed) = (0, Vec::new(), Vec::new());
    for (id, digest) in acked {
        checked += 1;
        match stored.get(id) {
            None => lost.push(id.to_owned()),
            Some(d) if d != digest => changed.push(id.to_owned()),
            Some(_) => {}
        }
    }
    (checked, lost, changed)
}

/// Spaces requests so that `per_second` units pass per second (none: no pacing).
struct Pace {
    per_second: f64,
    next: tokio::time::Instant,
}

impl Pace {
    fn new(per_second: f64) -> Pace {
        Pace { per_second, next: tokio::time::Instant::now() }
    }

    async fn wait(&mut self, units: f64) {
        if self.per_second <= 0.0 {
            return;
        }
        let now = tokio::time::Instant::now();
        // No catching up on more than a second of lag (after a restart window).
        if self.next + Duration::from_secs(1) < now {
            self.next = now;
        }
        self.next += Duration::from_secs_f64(units / self.per_second);
        tokio::time::sleep_until(self.next).await;
    }
}

/// After a failed request: do not spin while a server restarts.
async fn back_off() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn memory_writer(shared: Arc<Shared>, w: usize, rest: bool, mut rng: StdRng, rate: f64) {
    let mut pace = Pace::new(rate);
    let mut turn = 0u64;
    while !shared.stopped() {
        turn += 1;
        let t = shared.pick(w);
        let target = &shared.targets[t];
        let agent = rng.random_range(0..AGENTS);
        let start = Instant::now();
        let sent;
        if rest {
            let op = "rest-add";
            let m = fresh(&shared, shared.generator.memory_of(&mut rng, agent, Times::Live));
            sent = 1.0;
            let body = serde_json::json!({
                "agent_id": m.agent,
                "memory_type": "episodic",
                "event_type": m.event_type,
                "content": m.content,
                "tags": m.tags,
                "importance": m.importance,
            });
            match target.rest.send(Method::POST, "/api/v1/memories", Some(body.to_string().into())).await {
                Ok((status, body)) if status.as_u16() == 201 => {
                    match serde_json::from_slice::<serde_json::Value>(&body).ok().as_ref().and_then(digest_json) {
                        Some((id, digest)) => {
                            shared.succeeded(op);
                            shared.ack_memory(op, AckedMemory { id, digest });
                        }
                        None => {
                            shared.unanswered(op);
                            let failure = Failure { kind: "bad json".into(), message: "a 201 without a memory".into() };
                            shared.failed(op, t, failure, start);
                        }
                    }
                }
                Ok((status, body)) => {
                    shared.unanswered(op);
                    shared.failed(op, t, rest::status_failure(status, &body), start);
                    back_off().await;
                }
                Err(failure) => {
                    shared.unanswered(op);
                    shared.failed(op, t, failure, start);
                    back_off().await;
                }
            }
        } else if turn.is_multiple_of(2) {
            let op = "add-memory";
            let m = fresh(&shared, shared.generator.memory_of(&mut rng, agent, Times::Live));
            sent = 1.0;
            let mut client = target.pool.get().memories;
            match client.add_memory(pb::AddMemoryRequest { memory: Some(m) }).await {
                Ok(r) => match r.into_inner().memory {
                    Some(memory) => {
                        shared.succeeded(op);
                        shared.ack_memory(op, AckedMemory { id: memory.id.clone(), digest: digest_pb(&memory) });
                    }
                    None => {
                        shared.unanswered(op);
                        let failure =
                            Failure { kind: "empty answer".into(), message: "AddMemory without a memory".into() };
                        shared.failed(op, t, failure, start);
                    }
                },
                Err(status) => {
                    if status.code() == tonic::Code::AlreadyExists {
                        shared.acked.lock().unwrap().duplicates += 1;
                    }
                    shared.unanswered(op);
                    shared.failed(op, t, grpc_failure(status), start);
                    back_off().await;
                }
            }
        } else {
            let op = "add-memories";
            let n = rng.random_range(2..=40);
            let memories: Vec<_> = (0..n)
                .map(|_| {
                    let agent = rng.random_range(0..AGENTS);
                    fresh(&shared, shared.generator.memory_of(&mut rng, agent, Times::Live))
                })
                .collect();
            sent = n as f64;
            let mut client = target.pool.get().memories;
            match client.add_memories(pb::AddMemoriesRequest { memories }).await {
                Ok(r) => {
                    shared.succeeded(op);
                    let r = r.into_inner();
                    let mut acked = shared.acked.lock().unwrap();
                    *acked.requests.entry(op).or_default() += 1;
                    for result in r.results {
                        match result.memory {
                            Some(memory) if result.status == pb::AddStatus::Created as i32 => {
                                acked.memories.push(AckedMemory { id: memory.id.clone(), digest: digest_pb(&memory) })
                            }
                            _ => acked.duplicates += 1,
                        }
                    }
                }
                Err(status) => {
                    shared.unanswered(op);
                    shared.failed(op, t, grpc_failure(status), start);
                    back_off().await;
                }
            }
        }
        pace.wait(sent).await;
    }
}

/// A generated memory whose content starts with a number no other soak write has: the generator
/// puts its unique reference at the end, and the server derives the dedup key from the agent, the
/// event type and the first 200 bytes of the content, so two long contents alike in those bytes
/// were (rightly) answered as duplicates.
fn fresh(shared: &Shared, mut memory: pb::NewMemory) -> pb::NewMemory {
    let n = shared.written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    memory.content = format!("#{n} {}", memory.content);
    memory
}

/// Two consecutive words of a generated content: a ranked search's query.
fn query_words(shared: &Shared, rng: &mut StdRng) -> String {
    let sample = shared.generator.memory_of(rng, 0, Times::Live);
    let words: Vec<&str> =
        sample.content.split_whitespace().filter(|w| w.len() >= 3 && w.chars().all(char::is_alphabetic)).collect();
    let start = rng.random_range(0..words.len().saturating_sub(1).max(1));
    words.iter().skip(start).take(2).copied().collect::<Vec<_>>().join(" ")
}

async fn reader(shared: Arc<Shared>, w: usize, mut rng: StdRng, rate: f64) {
    const OPS: [&str; 6] = ["get", "list", "search", "context", "rest-get", "rest-list"];
    let mut pace = Pace::new(rate);
    let mut turn = w * 2;
    while !shared.stopped() {
        let op = OPS[turn % OPS.len()];
        turn += 1;
        let t = shared.pick(w);
        let target = &shared.targets[t];
        let agent = agent_name(rng.random_range(0..AGENTS));
        let start = Instant::now();
        let result: Result<(), Failure> = match op {
            "get" => match shared.random_acked(&mut rng) {
                None => Ok(()),
                Some((i, acked)) => {
                    match target.pool.get().memories.get_memory(pb::GetMemoryRequest { id: acked.id.clone() }).await {
                        Ok(m) if digest_pb(m.get_ref()) == acked.digest => Ok(()),
                        Ok(_) => {
                            shared.finding(format!(
                                "GetMemory {} on {}: differs from the acknowledged write",
                                acked.id, target.name
                            ));
                            Ok(())
                        }
                        Err(status) if status.code() == tonic::Code::NotFound && shared.taken_for_deletion(i) => Ok(()),
                        Err(status) if status.code() == tonic::Code::NotFound => {
                            shared.finding(format!(
                                "GetMemory {} on {}: acknowledged but NOT_FOUND",
                                acked.id, target.name
                            ));
                            Ok(())
                        }
                        Err(status) => Err(grpc_failure(status)),
                    }
                }
            },
            "rest-get" => match shared.random_acked(&mut rng) {
                None => Ok(()),
                Some((i, acked)) => {
                    match target.rest.send(Method::GET, &format!("/api/v1/memories/{}", acked.id), None).await {
                        Ok((status, body)) if status.as_u16() == 200 => {
                            let read = serde_json::from_slice::<serde_json::Value>(&body).ok();
                            match read.as_ref().and_then(digest_json) {
                                Some((_, digest)) if digest == acked.digest => {}
                                _ => shared.finding(format!(
                                    "GET /api/v1/memories/{} on {}: differs from the acknowledged write",
                                    acked.id, target.name
                                )),
                            }
                            Ok(())
                        }
                        Ok((status, _)) if status.as_u16() == 404 && shared.taken_for_deletion(i) => Ok(()),
                        Ok((status, _)) if status.as_u16() == 404 => {
                            shared.finding(format!(
                                "GET /api/v1/memories/{} on {}: acknowledged but 404",
                                acked.id, target.name
                            ));
                            Ok(())
                        }
                        Ok((status, body)) => Err(rest::status_failure(status, &body)),
                        Err(failure) => Err(failure),
                    }
                }
            },
            "list" => {
                let request = pb::ListMemoriesRequest {
                    filter: Some(pb::MemoryFilter { agent, ..Default::default() }),
                    limit: 50,
                    ..Default::default()
                };
                target.pool.get().memories.list_memories(request).await.map(|_| ()).map_err(grpc_failure)
            }
            "search" => {
                let request = pb::SearchMemoriesRequest {
                    filter: Some(pb::MemoryFilter { agent, ..Default::default() }),
                    query: query_words(&shared, &mut rng),
                    limit: 10,
                    ..Default::default()
                };
                target.pool.get().memories.search_memories(request).await.map(|_| ()).map_err(grpc_failure)
            }
            "context" => {
                let request = pb::BuildContextRequest {
                    agent,
                    session_id: String::new(),
                    options: Some(pb::ContextOptions { max_tokens: 2000, ..Default::default() }),
                };
                target.pool.get().context.build_context(request).await.map(|_| ()).map_err(grpc_failure)
            }
            _ => {
                match target.rest.send(Method::GET, &format!("/api/v1/memories?agent_id={agent}&limit=50"), None).await
                {
                    Ok((status, _)) if status.as_u16() == 200 => Ok(()),
                    Ok((status, body)) => Err(rest::status_failure(status, &body)),
                    Err(failure) => Err(failure),
                }
            }
        };
        match result {
            Ok(()) => shared.succeeded(op),
            Err(failure) => {
                shared.failed(op, t, failure, start);
                back_off().await;
            }
        }
        pace.wait(1.0).await;
    }
}

/// Keeps the stored memories at `keep`: while more are acknowledged and not yet taken, deletes the
/// oldest (DeleteMemory), paced at `rate`. An acknowledged delete is logged (the memory must never
/// be read back); a delete without an answer leaves the memory's fate open (checked neither way);
/// NOT_FOUND for a memory acknowledged and not yet deleted is a lost write.
async fn deleter(shared: Arc<Shared>, w: usize, keep: usize, rate: f64) {
    let mut pace = Pace::new(rate);
    while !shared.stopped() {
        let next = {
            let mut acked = shared.acked.lock().unwrap();
            (acked.memories.len() - acked.delete_from > keep).then(|| {
                acked.delete_from += 1;
                acked.memories[acked.delete_from - 1].id.clone()
            })
        };
        let Some(id) = next else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            pace = Pace::new(rate);
            continue;
        };
        let op = "delete";
        let t = shared.pick(w);
        let target = &shared.targets[t];
        let start = Instant::now();
        match target.pool.get().memories.delete_memory(pb::DeleteMemoryRequest { id: id.clone() }).await {
            Ok(_) => {
                shared.succeeded(op);
                let mut acked = shared.acked.lock().unwrap();
                acked.deleted.push(id);
                *acked.requests.entry(op).or_default() += 1;
            }
            Err(status) if status.code() == tonic::Code::NotFound => {
                shared
                    .finding(format!("DeleteMemory {id} on {}: acknowledged, not deleted, but NOT_FOUND", target.name));
            }
            Err(status) => {
                shared.unanswered(op);
                shared.failed(op, t, grpc_failure(status), start);
                back_off().await;
            }
        }
        pace.wait(1.0).await;
    }
}

async fn conversation_client(shared: Arc<Shared>, w: usize, mut rng: StdRng, rate: f64) {
    let agent = agent_name(w % AGENTS);
    let mut pace = Pace::new(rate);
    let mut next_id = 0u64;
    // A batch that got no answer, appended again with the same message ids.
    let mut pending: Option<(usize, Vec<pb::NewMessage>)> = None;
    while !shared.stopped() {
        let (c, messages) = pending.take().unwrap_or_else(|| {
            let n = rng.random_range(1..=3);
            let messages = (0..n)
                .map(|_| {
                    next_id += 1;
                    let role = if next_id.is_multiple_of(2) { pb::Role::Assistant } else { pb::Role::User };
                    pb::NewMessage {
                        role: role.into(),
                        content: shared.generator.memory_of(&mut rng, 0, Times::Live).content,
                        message_id: format!("soak-w{w}-m{next_id}"),
                        ..Default::default()
                    }
                })
                .collect();
            (rng.random_range(0..CONVERSATIONS), messages)
        });
        let conversation = format!("soak-w{w}-c{c}");
        let sent = messages.len() as f64;
        let t = shared.pick(w);
        let target = &shared.targets[t];
        let mut client = target.pool.get().conversations;
        let start = Instant::now();
        let request = pb::AppendMessagesRequest {
            agent: agent.clone(),
            scope: String::new(),
            conversation: conversation.clone(),
            messages: messages.clone(),
            record_as_memories: None,
        };
        match client.append_messages(request).await {
            Ok(r) => {
                shared.succeeded("append");
                let r = r.into_inner();
                let newest = r.messages.last().map(|m| m.id.clone());
                {
                    let mut acked = shared.acked.lock().unwrap();
                    *acked.requests.entry("append").or_default() += 1;
                    for m in &r.messages {
                        acked.messages.push(AckedMessage {
                            agent: agent.clone(),
                            conversation: conversation.clone(),
                            id: m.id.clone(),
                            digest: digest_message(m),
                        });
                    }
                }
                let start = Instant::now();
                let request = pb::GetWindowRequest {
                    agent: agent.clone(),
                    scope: String::new(),
                    conversation: conversation.clone(),
                    max_messages: 0,
                    max_tokens: 0,
                };
                match client.get_window(request).await {
                    Ok(window) => {
                        shared.succeeded("window");
                        let last = window.into_inner().messages.last().map(|m| m.id.clone());
                        if last != newest {
                            shared.finding(format!(
                                "GetWindow {conversation} on {}: newest message {last:?}, just appended {newest:?}",
                                target.name
                            ));
                        }
                    }
                    Err(status) => {
                        shared.failed("window", t, grpc_failure(status), start);
                        back_off().await;
                    }
                }
            }
            Err(status) => {
                shared.unanswered("append");
                shared.failed("append", t, grpc_failure(status), start);
                pending = Some((c, messages));
                back_off().await;
            }
        }
        pace.wait(sent).await;
    }
}

async fn rss_sampler(shared: Arc<Shared>, every: Duration) {
    while !shared.stopped() {
        {
            let mut lifetimes = shared.lifetimes.lock().unwrap();
            for lifetime in lifetimes.iter_mut().filter(|l| l.alive) {
                if let Some((rss, anon)) = status_mib(lifetime.pid) {
                    lifetime.samples.push((lifetime.started.elapsed().as_secs_f64(), rss, anon));
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// VmRSS and RssAnon of a process in MiB.
fn status_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("RssAnon:")?))
}

/// A request of the verification, retried (10 times, 1 s apart) and recorded when it fails.
async fn with_retries<T, F, Fut>(shared: &Shared, target: usize, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut last = None;
    for _ in 0..10 {
        let start = Instant::now();
        match call().await {
            Ok(value) => return Ok(value),
            Err(status) => {
                shared.failed("verify", target, grpc_failure(status.clone()), start);
                last = Some(status);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    bail!("verification through {} gave up: {:?}", shared.targets[target].name, last)
}

/// Every write acknowledged so far, read back through `target`.
struct Verification {
    when: String,
    target: String,
    memories: u64,
    memories_lost: Vec<String>,
    memories_changed: Vec<String>,
    /// Memories whose delete was acknowledged before the verification began, read back.
    memories_resurrected: Vec<String>,
    messages: u64,
    messages_lost: Vec<String>,
    messages_changed: Vec<String>,
    seconds: f64,
    error: Option<String>,
}

impl Verification {
    fn json(&self) -> serde_json::Value {
        let few = |v: &Vec<String>| v.iter().take(20).cloned().collect::<Vec<_>>();
        serde_json::json!({
            "when": self.when,
            "through": self.target,
            "memories_checked": self.memories,
            "memories_lost": self.memories_lost.len(),
            "memories_changed": self.memories_changed.len(),
            "memories_resurrected": self.memories_resurrected.len(),
            "messages_checked": self.messages,
            "messages_lost": self.messages_lost.len(),
            "messages_changed": self.messages_changed.len(),
            "examples_lost": few(&self.memories_lost).into_iter().chain(few(&self.messages_lost)).collect::<Vec<_>>(),
            "examples_changed": few(&self.memories_changed).into_iter().chain(few(&self.messages_changed)).collect::<Vec<_>>(),
            "seconds": round(self.seconds),
            "error": self.error,
        })
    }

    /// "N memories and M messages through it in S s: L lost, C changed, R resurrected".
    fn outcome(&self) -> String {
        format!(
            "{} memories and {} messages in {:.1} s: {} lost, {} changed, {} resurrected{}",
            self.memories,
            self.messages,
            self.seconds,
            self.memories_lost.len() + self.messages_lost.len(),
            self.memories_changed.len() + self.messages_changed.len(),
            self.memories_resurrected.len(),
            self.error.as_deref().map(|e| format!(" (incomplete: {e})")).unwrap_or_default(),
        )
    }

    fn bad(&self) -> bool {
        self.error.is_some()
            || !self.memories_lost.is_empty()
            || !self.memories_changed.is_empty()
            || !self.memories_resurrected.is_empty()
            || !self.messages_lost.is_empty()
            || !self.messages_changed.is_empty()
    }
}

async fn verify(shared: &Shared, target: usize, when: String) -> Verification {
    let started = Instant::now();
    let (from, memories, deleted, messages) = {
        let acked = shared.acked.lock().unwrap();
        (acked.delete_from, acked.memories[acked.delete_from..].to_vec(), acked.deleted.clone(), acked.messages.clone())
    };
    let mut v = Verification {
        when,
        target: shared.targets[target].name.clone(),
        memories: 0,
        memories_lost: Vec::new(),
        memories_changed: Vec::new(),
        memories_resurrected: Vec::new(),
        messages: 0,
        messages_lost: Vec::new(),
        messages_changed: Vec::new(),
        seconds: 0.0,
        error: None,
    };
    if let Err(err) = verify_into(shared, target, (from, &memories), &deleted, &messages, &mut v).await {
        v.error = Some(format!("{err:#}"));
    }
    v.seconds = started.elapsed().as_secs_f64();
    v
}

/// `memories`: the acknowledged memories from `memories[from]` on (those the deleter had not
/// taken); `deleted`: those whose delete was acknowledged.
async fn verify_into(
    shared: &Shared,
    target: usize,
    (from, memories): (usize, &[AckedMemory]),
    deleted: &[String],
    messages: &[AckedMessage],
    v: &mut Verification,
) -> anyhow::Result<()> {
    let pool = &shared.targets[target].pool;
    // Every memory of the org, oldest first.
    let mut stored = HashMap::with_capacity(memories.len() + 1024);
    let mut token = String::new();
    loop {
        let request = pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter::default()),
            limit: 1000,
            order: pb::Order::Asc as i32,
            page_token: token.clone(),
            ..Default::default()
        };
        let page = with_retries(shared, target, || {
            let mut client = pool.get().memories;
            let request = request.clone();
            async move { client.list_memories(request).await }
        })
        .await?
        .into_inner();
        for m in &page.memories {
            stored.insert(m.id.clone(), digest_pb(m));
        }
        if !page.has_more {
            break;
        }
        token = page.next_page_token;
    }
    (v.memories, v.memories_lost, v.memories_changed) =
        compare(memories.iter().map(|m| (m.id.as_str(), &m.digest)), &stored);
    // Taken by the deleter while the listing ran: their absence is no loss.
    let taken_meanwhile: std::collections::HashSet<String> = {
        let acked = shared.acked.lock().unwrap();
        acked.memories[from..acked.delete_from].iter().map(|m| m.id.clone()).collect()
    };
    v.memories_lost.retain(|id| !taken_meanwhile.contains(id));
    v.memories_resurrected = deleted.iter().filter(|id| stored.contains_key(*id)).cloned().collect();

    let mut by_conversation: BTreeMap<(&str, &str), Vec<&AckedMessage>> = BTreeMap::new();
    for m in messages {
        by_conversation.entry((m.agent.as_str(), m.conversation.as_str())).or_default().push(m);
    }
    let mut stored = HashMap::with_capacity(messages.len() + 1024);
    for (agent, conversation) in by_conversation.keys() {
        let mut token = String::new();
        loop {
            let request = pb::ListMessagesRequest {
                agent: (*agent).to_owned(),
                conversation: (*conversation).to_owned(),
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            };
            let page = with_retries(shared, target, || {
                let mut client = pool.get().conversations;
                let request = request.clone();
                async move { client.list_messages(request).await }
            })
            .await?
            .into_inner();
            for m in &page.messages {
                stored.insert(m.id.clone(), digest_message(m));
            }
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
    }
    (v.messages, v.messages_lost, v.messages_changed) =
        compare(messages.iter().map(|m| (m.id.as_str(), &m.digest)), &stored);
    Ok(())
}

/// GET /ready until 200; the time it answered.
async fn wait_ready(target: &Target, limit: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok((status, _)) = target.rest.send(Method::GET, "/ready", None).await
            && status.as_u16() == 200
        {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{} did not answer /ready within {limit:?}", target.name);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn mb(bytes: u64) -> f64 {
    round(bytes as f64 / 1e6)
}

/// What one backend's part produced: its JSON and its failures (empty: passed).
struct Part {
    json: serde_json::Value,
    row: Vec<String>,
    failures: Vec<String>,
}

pub async fn run(args: SoakArgs, options: Options) -> anyhow::Result<()> {
    if !(args.minutes > 0.0 && args.kill_every > 0.0 && args.rss_every > 0.0 && args.grace >= 0.0) {
        bail!("--minutes, --kill-every and --rss-every must be positive, --grace not negative");
    }
    if args.backends.is_empty() {
        bail!("--backends: give at least one of sqlite, postgres");
    }
    if args.backends.contains(&Backend::Postgres) && options.database_url.is_none() {
        bail!("the postgres soak needs --database-url (a fresh, empty database)");
    }
    if args.pg_replicas == 0 {
        bail!("--pg-replicas must be at least 1");
    }
    let minutes = args.minutes / args.backends.len() as f64;
    let mut options = options;
    if args.cache_mb > 0 {
        let caches = [
            format!("--hot-cache-mb={}", args.cache_mb),
            format!("--window-cache-mb={}", args.cache_mb),
            format!("--sqlite-cache-mb={}", args.cache_mb),
        ];
        options.server_args.splice(0..0, caches);
    }
    let command: Vec<String> = std::env::args().collect();
    eprintln!(
        "soak: {} minute(s) in all, {minutes:.1} per backend ({}), kill -9 every {} s, seed {}",
        args.minutes,
        args.backends.iter().map(|b| b.name()).collect::<Vec<_>>().join(", "),
        args.kill_every,
        options.seed
    );
    let mut parts = Vec::new();
    for (i, backend) in args.backends.iter().enumerate() {
        let seed = options.seed.wrapping_add(i as u64);
        parts.push(run_backend(*backend, minutes, &args, &options, seed).await?);
    }

    println!();
    println!("soak summary ({} minute(s) in all; command: {})", args.minutes, command.join(" "));
    let header = [
        "backend",
        "min",
        "kills",
        "down s (max)",
        "memories acked",
        "messages acked",
        "lost",
        "changed/resurrected",
        "unanswered",
        "err in windows",
        "err outside",
        "5xx/INTERNAL outside",
        "RSS slope max",
        "RssAnon slope max",
        "data MB",
        "verdict",
    ];
    println!("| {} |", header.join(" | "));
    println!("|{}|", header.iter().map(|h| "-".repeat(h.len() + 2)).collect::<Vec<_>>().join("|"));
    for part in &parts {
        println!("| {} |", part.row.join(" | "));
    }
    let failures: Vec<String> = parts.iter().flat_map(|p| p.failures.iter().cloned()).collect();
    let summary = serde_json::json!({
        "command": command,
        "minutes": args.minutes,
        "minutes_per_backend": minutes,
        "kill_every_s": args.kill_every,
        "write_rate": args.write_rate,
        "message_rate": args.message_rate,
        "read_rate": args.read_rate,
        "grace_s": args.grace,
        "cache_mb": args.cache_mb,
        "server_args": options.server_args,
        "rss": {
            "every_s": args.rss_every,
            "warmup_s": args.rss_warmup,
            "max_anon_slope_mib_per_min": args.rss_max_slope,
            "min_span_s": args.rss_min_span,
            "gate_minutes": args.rss_gate_minutes,
        },
        "seed": options.seed,
        "backends": parts.iter().map(|p| p.json.clone()).collect::<Vec<_>>(),
        "pass": failures.is_empty(),
        "failures": failures,
    });
    if let Some(path) = &args.summary {
        std::fs::write(path, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("soak: summary written to {}", path.display());
    }
    if failures.is_empty() {
        println!("soak: PASS");
        Ok(())
    } else {
        for f in &failures {
            println!("soak: FAIL: {f}");
        }
        bail!("soak failed: {} finding(s)", failures.len())
    }
}

async fn run_backend(
    backend: Backend,
    minutes: f64,
    args: &SoakArgs,
    options: &Options,
    seed: u64,
) -> anyhow::Result<Part> {
    let dir = options.data_dir.join(backend.name());
    if dir.join("engram.db").exists() || dir.join("replica-0").exists() {
        bail!("{} holds a previous soak's store: give a fresh --data-dir", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (url, key, count) = match backend {
        Backend::Sqlite => (None, None, 1),
        Backend::Postgres => {
            let url = options.database_url.clone().context("--database-url")?;
            let key = crate::server::migrate(&options.bin, &url)?.with_context(|| {
                "engram migrate printed no admin key: the database is not fresh (give an empty one)".to_owned()
            })?;
            (Some(url), Some(key), args.pg_replicas)
        }
    };
    let mut servers = Vec::new();
    for i in 0..count {
        let mut launch = Launch {
            bin: options.bin.clone(),
            dir: if backend == Backend::Postgres { dir.join(format!("replica-{i}")) } else { dir.clone() },
            url: url.clone(),
            key: key.clone().unwrap_or_default(),
            listen: format!("127.0.0.1:{}", free_port()?),
            extra: options.server_args.clone(),
            log_level: options.log_level.clone(),
        };
        let spawned = launch.start()?;
        launch.key = spawned.admin_key.clone();
        eprintln!(
            "soak {}: started pid {} on {} ({})",
            backend.name(),
            spawned.pid(),
            spawned.addr,
            launch.dir.display()
        );
        servers.push(Server { launch, spawned });
    }
    let mut targets = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let url = format!("http://{}", s.spawned.addr);
        let key = Some(s.launch.key.as_str());
        targets.push(Target {
            name: if count == 1 { backend.name().to_owned() } else { format!("{}-{i}", backend.name()) },
            pool: Pool::connect(std::slice::from_ref(&url), key, 2, options.timeout).await?,
            rest: RestPool::new(std::slice::from_ref(&url), key, 2, options.timeout)?,
            down_until: Mutex::new(None),
        });
    }
    targets[0].pool.ensure_agents((0..AGENTS).map(agent_name)).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let shared = Arc::new(Shared {
        targets,
        generator: Generator::new(&mut rng),
        written: std::sync::atomic::AtomicU64::new(0),
        stop: AtomicBool::new(false),
        acked: Mutex::new(Acked::default()),
        failures: Mutex::new(Vec::new()),
        findings: Mutex::new(Vec::new()),
        windows: Mutex::new(Vec::new()),
        lifetimes: Mutex::new(
            servers
                .iter()
                .enumerate()
                .map(|(i, s)| Lifetime {
                    target: i,
                    pid: s.spawned.pid(),
                    started: Instant::now(),
                    alive: true,
                    ended: "",
                    samples: Vec::new(),
                })
                .collect(),
        ),
        ok: Mutex::new(BTreeMap::new()),
    });

    let started = Instant::now();
    let mut tasks = Vec::new();
    let worker_rng = |w: u64| StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(w));
    for w in 0..3 {
        tasks.push(tokio::spawn(memory_writer(shared.clone(), w, w == 2, worker_rng(w as u64), args.write_rate / 3.0)));
    }
    for w in 0..3 {
        tasks.push(tokio::spawn(reader(shared.clone(), w, worker_rng(10 + w as u64), args.read_rate / 3.0)));
    }
    if args.keep_memories > 0 {
        tasks.push(tokio::spawn(deleter(shared.clone(), 3, args.keep_memories, args.write_rate)));
    }
    for w in 0..2 {
        tasks.push(tokio::spawn(conversation_client(
            shared.clone(),
            w,
            worker_rng(20 + w as u64),
            args.message_rate / 2.0,
        )));
    }
    let sampler = tokio::spawn(rss_sampler(shared.clone(), Duration::from_secs_f64(args.rss_every)));

    let end = started + Duration::from_secs_f64(minutes * 60.0);
    let every = Duration::from_secs_f64(args.kill_every);
    let grace = Duration::from_secs_f64(args.grace);
    let mut next_kill = started + every;
    let mut next_status = started + Duration::from_secs(60);
    let mut victim = 0;
    let mut verifications = Vec::new();
    let mut downtimes = Vec::new();
    let mut setup_error = None;
    while next_kill < end {
        while next_status < next_kill {
            tokio::time::sleep_until(next_status.into()).await;
            status_line(&shared, backend, started);
            next_status += Duration::from_secs(60);
        }
        tokio::time::sleep_until(next_kill.into()).await;
        match kill_and_restart(&shared, &mut servers, victim, grace).await {
            Ok(down) => downtimes.push(down),
            Err(err) => {
                setup_error = Some(format!("{err:#}"));
                break;
            }
        }
        let when =
            format!("after kill -9 #{} (at {:.0} s)", downtimes.len(), next_kill.duration_since(started).as_secs_f64());
        let v = verify(&shared, victim, when).await;
        eprintln!(
            "soak {} {:>6.0} s: kill -9 #{} of {} (down {:.2} s, kill → ready); verified through it {}",
            backend.name(),
            started.elapsed().as_secs_f64(),
            downtimes.len(),
            shared.targets[victim].name,
            downtimes.last().copied().unwrap_or_default(),
            v.outcome(),
        );
        verifications.push(v);
        victim = (victim + 1) % servers.len();
        next_kill += every;
    }
    if setup_error.is_none() {
        while next_status < end {
            tokio::time::sleep_until(next_status.into()).await;
            status_line(&shared, backend, started);
            next_status += Duration::from_secs(60);
        }
        tokio::time::sleep_until(end.into()).await;
    }
    shared.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let _ = sampler.await;
    let load_seconds = started.elapsed().as_secs_f64();
    // The end: every acknowledged write through every server.
    for t in 0..shared.targets.len() {
        let v = verify(&shared, t, "at the end".into()).await;
        eprintln!("soak {} end: verified through {} {}", backend.name(), v.target, v.outcome());
        verifications.push(v);
    }
    let stored_memories = shared.targets[0].pool.memory_count().await.ok();

    // Graceful stop: each server must exit 0.
    let mut exits = Vec::new();
    {
        let mut lifetimes = shared.lifetimes.lock().unwrap();
        for l in lifetimes.iter_mut().filter(|l| l.alive) {
            l.alive = false;
            l.ended = "end (SIGTERM)";
        }
    }
    for s in servers {
        let mut spawned = s.spawned;
        let status = tokio::task::spawn_blocking(move || spawned.stop()).await.ok().flatten();
        exits.push(status.is_some_and(|st| st.success()));
    }
    let data_bytes = dir_bytes(&dir);
    let database_bytes = match &url {
        Some(url) => pg_database_size(url).await.ok(),
        None => Some(
            ["engram.db", "engram.db-wal"].iter().map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len())).sum(),
        ),
    };

    let gate = minutes >= args.rss_gate_minutes;
    Ok(report(
        backend,
        &shared,
        args,
        ReportInput {
            minutes,
            load_seconds,
            downtimes,
            verifications,
            exits,
            setup_error,
            stored_memories,
            data_bytes,
            database_bytes,
            gate,
        },
    ))
}

async fn pg_database_size(url: &str) -> anyhow::Result<u64> {
    use sea_orm::sqlx::{self, Connection as _, PgConnection};
    let mut conn = PgConnection::connect(url).await?;
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&mut conn).await?;
    Ok(size as u64)
}

fn status_line(shared: &Shared, backend: Backend, started: Instant) {
    let (memories, deleted, messages) = {
        let a = shared.acked.lock().unwrap();
        (a.memories.len(), a.deleted.len(), a.messages.len())
    };
    let failures = shared.failures.lock().unwrap().len();
    let rss: Vec<String> = shared
        .lifetimes
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.alive)
        .filter_map(|l| l.samples.last().map(|s| format!("{} {:.0}/{:.0} MiB", l.pid, s.1, s.2)))
        .collect();
    eprintln!(
        "soak {} {:>6.0} s: {memories} memories ({deleted} deleted since) and {messages} messages acknowledged, {failures} failed requests so far, RSS/anon {}",
        backend.name(),
        started.elapsed().as_secs_f64(),
        rss.join(", ")
    );
}

async fn kill_and_restart(shared: &Shared, servers: &mut [Server], i: usize, grace: Duration) -> anyhow::Result<f64> {
    {
        let mut lifetimes = shared.lifetimes.lock().unwrap();
        if let Some(l) = lifetimes.iter_mut().rev().find(|l| l.target == i && l.alive) {
            l.alive = false;
            l.ended = "kill -9";
        }
    }
    let killed = Instant::now();
    let index = {
        let mut windows = shared.windows.lock().unwrap();
        windows.push(Window { target: i, killed, ready: None, end: None });
        windows.len() - 1
    };
    servers[i].spawned.kill9();
    let launch = servers[i].launch.clone();
    let spawned = tokio::task::spawn_blocking(move || launch.start()).await??;
    let ready = wait_ready(&shared.targets[i], Duration::from_secs(120)).await?;
    {
        let mut windows = shared.windows.lock().unwrap();
        windows[index].ready = Some(ready);
        windows[index].end = Some(ready + grace);
    }
    shared.lifetimes.lock().unwrap().push(Lifetime {
        target: i,
        pid: spawned.pid(),
        started: Instant::now(),
        alive: true,
        ended: "",
        samples: Vec::new(),
    });
    servers[i].spawned = spawned;
    Ok(ready.duration_since(killed).as_secs_f64())
}

struct ReportInput {
    minutes: f64,
    load_seconds: f64,
    downtimes: Vec<f64>,
    verifications: Vec<Verification>,
    exits: Vec<bool>,
    setup_error: Option<String>,
    stored_memories: Option<u64>,
    data_bytes: u64,
    database_bytes: Option<u64>,
    gate: bool,
}

fn report(backend: Backend, shared: &Shared, args: &SoakArgs, input: ReportInput) -> Part {
    let name = backend.name();
    let mut failures = Vec::new();
    if let Some(err) = &input.setup_error {
        failures.push(format!("{name}: the soak stopped early: {err}"));
    }
    let windows = shared.windows.lock().unwrap().clone();
    let all = shared.failures.lock().unwrap().clone();
    let (inside, outside): (Vec<&FailureAt>, Vec<&FailureAt>) = all.iter().partition(|f| in_window(f, &windows));
    let by_kind = |list: &[&FailureAt]| {
        let mut kinds: BTreeMap<String, (u64, String)> = BTreeMap::new();
        for f in list {
            let entry = kinds.entry(format!("{} {}", f.op, f.kind)).or_insert((0, f.message.clone()));
            entry.0 += 1;
        }
        kinds
    };
    let inside_kinds = by_kind(&inside);
    let outside_kinds = by_kind(&outside);
    let server_outside = outside.iter().filter(|f| is_server_error(&f.kind)).count();
    if !outside.is_empty() {
        failures.push(format!(
            "{name}: {} failed request(s) outside the restart windows ({server_outside} server errors: 5xx/INTERNAL/UNKNOWN/DATA_LOSS): {}",
            outside.len(),
            outside_kinds.iter().map(|(k, (n, m))| format!("{n} x {k} ({m})")).collect::<Vec<_>>().join("; ")
        ));
    }
    for f in shared.findings.lock().unwrap().iter() {
        failures.push(format!("{name}: {f}"));
    }
    let (lost, changed) = input.verifications.iter().fold((0, 0), |(l, c), v| {
        (
            l.max(v.memories_lost.len() + v.messages_lost.len()),
            c.max(v.memories_changed.len() + v.messages_changed.len() + v.memories_resurrected.len()),
        )
    });
    for v in input.verifications.iter().filter(|v| v.bad()) {
        failures.push(format!(
            "{name}: verification {} through {}: {} memories lost, {} changed, {} resurrected (deleted, read back), {} messages lost, {} changed{} (e.g. {:?})",
            v.when,
            v.target,
            v.memories_lost.len(),
            v.memories_changed.len(),
            v.memories_resurrected.len(),
            v.messages_lost.len(),
            v.messages_changed.len(),
            v.error.as_deref().map(|e| format!("; incomplete: {e}")).unwrap_or_default(),
            v.memories_lost
                .iter()
                .chain(&v.messages_lost)
                .chain(&v.memories_changed)
                .chain(&v.messages_changed)
                .chain(&v.memories_resurrected)
                .next(),
        ));
    }
    for (i, ok) in input.exits.iter().enumerate() {
        if !ok {
            failures.push(format!("{name}: server {} did not exit 0 on SIGTERM at the end", shared.targets[i].name));
        }
    }

    // RSS slopes per lifetime.
    let lifetimes = shared.lifetimes.lock().unwrap();
    let mut rss_rows = Vec::new();
    let (mut max_rss, mut max_anon): (Option<f64>, Option<f64>) = (None, None);
    for (n, l) in lifetimes.iter().enumerate() {
        let after: Vec<_> = l.samples.iter().filter(|s| s.0 >= args.rss_warmup).collect();
        let span = match (after.first(), after.last()) {
            (Some(a), Some(b)) => b.0 - a.0,
            _ => 0.0,
        };
        let rss = slope_per_minute(&after.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>());
        let anon = slope_per_minute(&after.iter().map(|s| (s.0, s.2)).collect::<Vec<_>>());
        let judged = input.gate && span >= args.rss_min_span;
        if let Some(r) = rss {
            max_rss = Some(max_rss.map_or(r, |m: f64| m.max(r)));
        }
        if let Some(a) = anon {
            max_anon = Some(max_anon.map_or(a, |m: f64| m.max(a)));
        }
        if judged && anon.is_some_and(|a| a > args.rss_max_slope) {
            failures.push(format!(
                "{name}: server {} lifetime {n} (pid {}) grew RssAnon {:.2} MiB/min over {:.0} s (threshold {} MiB/min)",
                shared.targets[l.target].name,
                l.pid,
                anon.unwrap_or_default(),
                span,
                args.rss_max_slope
            ));
        }
        let first = l.samples.first().copied();
        let last = l.samples.last().copied();
        rss_rows.push(serde_json::json!({
            "server": shared.targets[l.target].name,
            "pid": l.pid,
            "ended": l.ended,
            "samples": l.samples.len(),
            "seconds": last.map(|s| round(s.0)),
            "first_rss_mib": first.map(|s| round(s.1)),
            "last_rss_mib": last.map(|s| round(s.1)),
            "first_anon_mib": first.map(|s| round(s.2)),
            "last_anon_mib": last.map(|s| round(s.2)),
            "max_rss_mib": l.samples.iter().map(|s| s.1).reduce(f64::max).map(round),
            "span_after_warmup_s": round(span),
            "rss_slope_mib_per_min": rss.map(round),
            "anon_slope_mib_per_min": anon.map(round),
            "judged": judged,
            // Every sample: [seconds since the lifetime's start, VmRSS MiB, RssAnon MiB].
            "samples_s_rss_anon": l.samples.iter().map(|s| [round(s.0), round(s.1), round(s.2)]).collect::<Vec<_>>(),
        }));
        eprintln!(
            "  RSS {} pid {} ({}): {} samples over {:.0} s, RSS {} → {} MiB, anon {} → {} MiB; slope after {:.0} s: RSS {} anon {} MiB/min{}",
            shared.targets[l.target].name,
            l.pid,
            l.ended,
            l.samples.len(),
            last.map_or(0.0, |s| s.0),
            first.map_or("-".into(), |s| format!("{:.0}", s.1)),
            last.map_or("-".into(), |s| format!("{:.0}", s.1)),
            first.map_or("-".into(), |s| format!("{:.0}", s.2)),
            last.map_or("-".into(), |s| format!("{:.0}", s.2)),
            args.rss_warmup,
            rss.map_or("-".into(), |r| format!("{r:+.2}")),
            anon.map_or("-".into(), |a| format!("{a:+.2}")),
            if judged { " (judged)" } else { "" },
        );
    }
    drop(lifetimes);

    let acked = shared.acked.lock().unwrap();
    let ok = shared.ok.lock().unwrap().clone();
    let unanswered: u64 = acked.unanswered.values().sum();
    if acked.duplicates > 0 {
        failures.push(format!("{name}: {} new memories were reported as duplicates", acked.duplicates));
    }
    if acked.memories.is_empty() || acked.messages.is_empty() {
        failures.push(format!(
            "{name}: nothing was acknowledged (memories {}, messages {})",
            acked.memories.len(),
            acked.messages.len()
        ));
    }
    let kinds_json = |kinds: &BTreeMap<String, (u64, String)>| {
        kinds
            .iter()
            .map(|(k, (n, m))| (k.clone(), serde_json::json!({"count": n, "first": m})))
            .collect::<serde_json::Map<_, _>>()
    };
    let windows_json: Vec<_> = windows
        .iter()
        .map(|w| {
            serde_json::json!({
                "server": shared.targets[w.target].name,
                "down_s": w.ready.map(|r| round(r.duration_since(w.killed).as_secs_f64())),
            })
        })
        .collect();
    let max_down = input.downtimes.iter().copied().reduce(f64::max);
    let json = serde_json::json!({
        "backend": name,
        "servers": shared.targets.len(),
        "minutes": round(input.minutes),
        "load_seconds": round(input.load_seconds),
        "kills": input.downtimes.len(),
        "restart_windows": windows_json,
        "max_down_s": max_down.map(round),
        "memories_acked": acked.memories.len(),
        "memories_deleted": acked.deleted.len(),
        "keep_memories": args.keep_memories,
        "messages_acked": acked.messages.len(),
        "write_requests_acked": acked.requests,
        "write_requests_unanswered": acked.unanswered,
        "duplicates": acked.duplicates,
        "requests_ok": ok,
        "memories_lost_max": lost,
        "changed_max": changed,
        "verifications": input.verifications.iter().map(Verification::json).collect::<Vec<_>>(),
        "errors_in_windows": inside.len(),
        "errors_in_windows_by_kind": kinds_json(&inside_kinds),
        "errors_outside_windows": outside.len(),
        "errors_outside_windows_by_kind": kinds_json(&outside_kinds),
        "server_errors_outside_windows": server_outside,
        "rss_gated": input.gate,
        "rss_lifetimes": rss_rows,
        "rss_slope_max_mib_per_min": max_rss.map(round),
        "anon_slope_max_mib_per_min": max_anon.map(round),
        "stored_memories": input.stored_memories,
        "data_dir_mb": mb(input.data_bytes),
        "database_mb": input.database_bytes.map(mb),
        "clean_exits": input.exits,
        "pass": failures.is_empty(),
        "failures": failures,
    });
    eprintln!(
        "soak {name}: requests ok {}; errors in windows: {} ({}); outside: {}",
        ok.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        inside.len(),
        inside_kinds.iter().map(|(k, (n, _))| format!("{n} x {k}")).collect::<Vec<_>>().join(", "),
        outside.len(),
    );
    let slope = |s: Option<f64>| s.map_or("-".into(), |s| format!("{s:+.2}"));
    let row = vec![
        name.to_owned(),
        format!("{:.1}", input.minutes),
        input.downtimes.len().to_string(),
        max_down.map_or("-".into(), |d| format!("{d:.2}")),
        acked.memories.len().to_string(),
        acked.messages.len().to_string(),
        lost.to_string(),
        changed.to_string(),
        unanswered.to_string(),
        inside.len().to_string(),
        outside.len().to_string(),
        server_outside.to_string(),
        slope(max_rss),
        format!("{}{}", slope(max_anon), if input.gate { "" } else { " (not gated)" }),
        format!(
            "{:.0}{}",
            mb(input.data_bytes),
            input.database_bytes.map(|b| format!(" (db {:.0})", mb(b))).unwrap_or_default()
        ),
        if failures.is_empty() { "PASS".into() } else { "FAIL".into() },
    ];
    Part { json, row, failures }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_noise() {
        // 2 MiB per minute = 1/30 MiB per second.
        let line: Vec<_> = (0..20).map(|i| (i as f64 * 5.0, 100.0 + i as f64 * 5.0 / 30.0)).collect();
        assert!((slope_per_minute(&line).unwrap() - 2.0).abs() < 1e-9);
        let flat: Vec<_> = (0..20).map(|i| (i as f64, if i % 2 == 0 { 10.0 } else { 11.0 })).collect();
        assert!(slope_per_minute(&flat).unwrap().abs() < 0.5);
        assert_eq!(slope_per_minute(&line[..2]), None);
    }

    #[test]
    fn a_missing_or_different_write_is_reported() {
        let stored: HashMap<String, [u8; 32]> = [("a".to_owned(), [1; 32]), ("b".to_owned(), [2; 32])].into();
        let acked = [("a", [1u8; 32]), ("b", [9u8; 32]), ("c", [3u8; 32])];
        let (checked, lost, changed) = compare(acked.iter().map(|(id, d)| (*id, d)), &stored);
        assert_eq!((checked, lost, changed), (3, vec!["c".to_owned()], vec!["b".to_owned()]));
    }

    #[test]
    fn failures_overlapping_a_window_of_their_server_are_expected() {
        let t0 = Instant::now();
        let s = |x: u64| t0 + Duration::from_secs(x);
        let windows = [Window { target: 0, killed: s(10), ready: Some(s(12)), end: Some(s(17)) }];
        let f = |target, start, end| FailureAt {
            op: "get",
            target,
            kind: "Unavailable".into(),
            message: String::new(),
            start: s(start),
            end: s(end),
        };
        assert!(in_window(&f(0, 9, 10), &windows), "sent before the kill, failed by it");
        assert!(in_window(&f(0, 17, 18), &windows), "sent within the grace");
        assert!(!in_window(&f(0, 18, 19), &windows), "after the grace");
        assert!(!in_window(&f(0, 1, 9), &windows), "before the kill");
        assert!(!in_window(&f(1, 11, 11), &windows), "another server's failure during this one's window");
        let open = [Window { target: 0, killed: s(10), ready: None, end: None }];
        assert!(in_window(&f(0, 100, 101), &open));
    }

    #[test]
    fn server_errors_are_5xx_internal_unknown_data_loss() {
        for kind in ["Internal", "Unknown (transport)", "DataLoss", "500", "503"] {
            assert!(is_server_error(kind), "{kind}");
        }
        for kind in ["Unavailable (transport)", "transport", "timeout", "404", "NotFound", "DeadlineExceeded"] {
            assert!(!is_server_error(kind), "{kind}");
        }
    }

    #[test]
    fn the_digest_of_a_grpc_and_a_rest_memory_agree() {
        let m = pb::Memory {
            id: "mem_1".into(),
            agent_id: "agent_1".into(),
            event_type: "fix".into(),
            content: "fixed it".into(),
            tags: vec!["a".into(), "b".into()],
            importance: 0.7,
            time: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 123_456_000 }),
            created_at: Some(prost_types::Timestamp { seconds: 1_700_000_001, nanos: 0 }),
            ..Default::default()
        };
        let json = serde_json::json!({
            "id": "mem_1", "agent_id": "agent_1", "event_type": "fix", "content": "fixed it",
            "tags": ["a", "b"], "importance": 0.7,
            "time": "2023-11-14T22:13:20.123456Z", "created_at": "2023-11-14T22:13:21.000000Z",
        });
        assert_eq!(digest_json(&json), Some(("mem_1".to_owned(), digest_pb(&m))));
        let changed = pb::Memory { content: "fixed it!".into(), ..m.clone() };
        assert_ne!(digest_pb(&changed), digest_pb(&m));
    }
}
