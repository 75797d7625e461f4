//! `engram-bench`: load generator for the engram gRPC API (and its REST/JSON twin).
//!
//! Drives a running server (`--addr` + `--api-key`) or starts one (`--server-bin` + `--data-dir`:
//! `engram serve --listen 127.0.0.1:0` on that data dir, stopped at the end). Subcommands:
//!
//! * `load --memories N`: fill the store up to N memories with AddMemories batches.
//! * `run`: the scenarios (recall, search, context, stats, rest-recall, rest-search, batch-ingest,
//!   unary-add, rest-add) for a duration or a request count each. The `rest-*` ones are the twins of
//!   recall, search and unary-add over the REST/JSON API (HTTP/1.1 keep-alive, same port).
//! * `all --memories N`: `load`, then `run`.
//! * `limit --memories N (--sqlite FILE | --database-url URL)`: no server; the physical limit of
//!   batch ingest: the same generated memories, as rows of the store's schema, inserted by a minimal
//!   program straight into SQLite or PostgreSQL (see `limit.rs`).
//!
//! * `soak --minutes M --kill-every S`: mixed load over gRPC and REST on SQLite and on PostgreSQL
//!   (two replicas) while the server is killed with SIGKILL every S seconds and restarted on the
//!   same data; checks that no acknowledged write is lost, that nothing fails outside the restart
//!   windows, and the slope of the server's RSS (see `soak.rs`).
//!
//! `--times backfill|live` sets the times of the memories of the load and of batch-ingest (and of
//! `limit`): random over the last 7 days, set by the client (default), or none (the server stamps
//! them). Prints a table and the REST overhead versus gRPC of the twins that ran; `--json FILE`
//! appends one JSON object per phase (line) to FILE, and one `rest-overhead` object.

mod convs;
mod data;
mod failure;
mod lifecycle;
mod limit;
mod rest;
mod runner;
mod server;
mod sim;
mod soak;
mod watch;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use data::Times;
use rest::RestPool;
use runner::{Ctx, Scenario, Stats, Stop, Work};
use server::{Pool, Rss, Spawned};

#[derive(Debug, Parser)]
#[command(name = "engram-bench", version, about = "Load generator for the engram gRPC API")]
struct Cli {
    /// Server(s) to drive, e.g. `http://127.0.0.1:9100` (instead of starting them with
    /// --server-bin); several (comma-separated) replicas share the connections round robin.
    #[arg(long, env = "ENGRAM_BENCH_ADDR", global = true, conflicts_with = "server_bin", value_delimiter = ',')]
    addr: Vec<String>,
    /// API key (read+write) for --addr. A started server uses its bootstrap admin key.
    #[arg(long, env = "ENGRAM_API_KEY", global = true, hide_env_values = true)]
    api_key: Option<String>,
    /// Pid(s) of the --addr server(s), to report their memory use (RSS, summed) like for started ones.
    #[arg(long, global = true, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Start this `engram` binary for the run (needs --data-dir) and stop it at the end.
    #[arg(long, global = true, requires = "data_dir")]
    server_bin: Option<PathBuf>,
    /// Data directory of the started server (created if missing; its stderr goes to server.log there).
    /// With --replicas, replica i uses `<dir>/replica-<i>`.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Start the server(s) on this PostgreSQL database (migrated first with `engram migrate`)
    /// instead of the embedded SQLite store (needs --server-bin); `limit`: the (empty) database to
    /// create the schema in and insert into.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Servers to start on --database-url; the connections are spread over them round robin.
    #[arg(long, global = true, default_value_t = 1, requires = "database_url")]
    replicas: usize,
    /// Extra argument for `engram serve` (repeatable), e.g. `--server-arg=--sqlite-sync=normal`.
    #[arg(long = "server-arg", global = true, allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// ENGRAM_LOG_LEVEL of the started server.
    #[arg(long, global = true, default_value = "warn")]
    server_log_level: String,
    /// HTTP/2 connections (tonic Channels) shared round robin by every request of every phase; also
    /// the number of HTTP/1.1 clients of the rest-* scenarios (each keeps one keep-alive connection
    /// per request in flight).
    #[arg(long, global = true, default_value_t = 4)]
    connections: usize,
    /// Per-request timeout in seconds.
    #[arg(long, global = true, default_value_t = 120)]
    timeout: u64,
    /// Append one JSON object per phase (a line each) to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Scale label of the results (default: --memories of load/all, else the memories in the store).
    #[arg(long, global = true)]
    scale: Option<u64>,
    /// Random seed (default: random).
    #[arg(long, global = true)]
    seed: Option<u64>,
    /// Times of the memories of the load and of batch-ingest (and of `limit`): `backfill`, random
    /// over the last 7 days, set by the client; `live`, none set, the server stamps them with now.
    /// unary-add and rest-add are back-filled either way.
    #[arg(long, global = true, value_enum, default_value_t = Times::Backfill)]
    times: Times,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill the store up to --memories memories with AddMemories batches.
    Load(LoadArgs),
    /// Run the scenarios against the store as it is.
    Run(RunArgs),
    /// `load`, then `run`.
    All {
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// The physical limit of batch ingest (no server): the load's memories as rows of the store's
    /// schema, inserted straight into a new SQLite file (--sqlite) or an empty PostgreSQL database
    /// (--database-url), one transaction per --batch memories.
    Limit(limit::LimitArgs),
    /// The conversation workload against --addr: load N conversations, windows of a hot set and
    /// of all (cold against a server with --window-cache-mb 0), appends; one JSON line per phase
    /// on stdout.
    Conversations(convs::ConvArgs),
    /// How soon a committed memory reaches a watch (WatchMemories) on --addr.
    Watch(watch::WatchArgs),
    /// The simulation workload against --addr: states of many agents by step, then step-range,
    /// attribute, radius and similar-state queries.
    Simulation(sim::SimArgs),
    /// The memory lifecycle against --addr: a maintenance pass moving the whole org to cold with
    /// ingest during it, and the cold tier's compression of real text (LoCoMo turns).
    Lifecycle(lifecycle::LifecycleArgs),
    /// The soak (`make soak`): mixed load for --minutes while --server-bin is killed with SIGKILL
    /// every --kill-every seconds and restarted on the same data, on SQLite (in --data-dir) and on
    /// PostgreSQL (--database-url, a fresh database, two replicas); no acknowledged write may be
    /// lost, nothing may fail outside the restart windows, RSS must not keep growing.
    Soak(soak::SoakArgs),
}

#[derive(Debug, Clone, Args)]
struct LoadArgs {
    /// Target number of memories in the store (of the key's org); only the missing ones are added.
    #[arg(long)]
    memories: u64,
    /// Memories per AddMemories request (load and batch-ingest).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Concurrent clients of the load.
    #[arg(long, default_value_t = 4)]
    load_concurrency: usize,
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Scenarios to run in this order, comma-separated (default: all; reads first, on the store as
    /// loaded, then the writes, which grow it).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Scenario::ALL)]
    scenarios: Vec<Scenario>,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Requests per scenario instead of a duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Unmeasured warm-up seconds before each scenario.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Concurrency: `N` for every scenario, or `SCENARIO=N` (repeatable or comma-separated).
    /// Defaults: batch-ingest 4, unary-add 32, rest-add 32, recall 8, search 8, context 8, stats 1,
    /// rest-recall 8, rest-search 8.
    #[arg(long, value_delimiter = ',')]
    concurrency: Vec<String>,
    /// Memories per batch-ingest request.
    #[arg(long = "ingest-batch-size", default_value_t = 500)]
    ingest_batch_size: usize,
}

impl RunArgs {
    fn concurrency_of(&self, scenario: Scenario) -> anyhow::Result<usize> {
        let mut result = scenario.default_concurrency();
        for spec in &self.concurrency {
            let (name, value) = match spec.split_once('=') {
                Some((name, value)) => (Some(name.trim()), value),
                None => (None, spec.as_str()),
            };
            if let Some(name) = name
                && !Scenario::ALL.iter().any(|s| s.name() == name)
            {
                bail!("--concurrency {spec:?}: unknown scenario {name:?}");
            }
            let n: usize = value.trim().parse().with_context(|| format!("--concurrency {spec:?}: not a number"))?;
            if n == 0 {
                bail!("--concurrency {spec:?}: must be at least 1");
            }
            if name.is_none_or(|name| name == scenario.name()) {
                result = n;
            }
        }
        Ok(result)
    }
}

/// Writes one memory per request (shown in memories/s too).
fn adds_one(scenario: &str) -> bool {
    Scenario::ALL.iter().any(|s| s.adds_one() && s.name() == scenario)
}

/// One row of the report.
struct Row {
    scenario: String,
    /// Memories in the store when the phase started.
    store_memories: u64,
    concurrency: usize,
    stats: Stats,
    /// Memories per request (batch phases) or None (one request, one operation).
    batch: Option<usize>,
    /// Times of the memories written (load, batch-ingest), None for the other phases.
    times: Option<Times>,
    rss: Option<Rss>,
}

struct Bench {
    cli_scale: Option<u64>,
    ctx: Arc<Ctx>,
    /// Every server of the run (RSS is their sum).
    pids: Vec<u32>,
    /// "sqlite" or "postgres" for started servers (None for --addr), and how many.
    backend: Option<&'static str>,
    replicas: usize,
    json: Option<PathBuf>,
    seed: u64,
    phase: u64,
    rows: Vec<Row>,
}

impl Bench {
    fn rss(&self) -> Option<Rss> {
        server::rss_sum(&self.pids)
    }

    async fn phase(&mut self, work: Work, concurrency: usize, stop: Stop, warmup: Duration) -> Stats {
        self.phase += 1;
        runner::run(self.ctx.clone(), work, concurrency, stop, warmup, self.seed.wrapping_add(self.phase << 32)).await
    }

    fn record(&mut self, scale: u64, row: Row) -> anyhow::Result<()> {
        let s = &row.stats;
        eprintln!(
            "  {:<13}{} c={:<3} {:>8} ok {:>5} err in {:>6.1}s  {:>9.1} req/s{}  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms{}",
            row.scenario,
            row.times.map(|t| format!(" ({t})")).unwrap_or_default(),
            row.concurrency,
            s.ok,
            s.errors,
            s.elapsed.as_secs_f64(),
            s.requests_per_s(),
            if row.batch.is_some() { format!(" {:>9.0} mem/s", s.memories_per_s()) } else { String::new() },
            s.ms(0.5),
            s.ms(0.99),
            s.max_ms(),
            row.rss.map(|r| format!("  rss {:.0} MB (hwm {:.0})", r.rss_mb, r.hwm_mb)).unwrap_or_default(),
        );
        for (code, (count, message)) in &s.error_kinds {
            eprintln!("    {count} x {code}: {message}");
        }
        if s.duplicates > 0 {
            eprintln!("    {} memories were reported as duplicates", s.duplicates);
        }
        if self.json.is_some() {
            let line = serde_json::json!({
                "scale": scale,
                "store_memories": row.store_memories,
                "scenario": row.scenario,
                "times": row.times.map(Times::name),
                "backend": self.backend,
                "replicas": self.backend.map(|_| self.replicas),
                "concurrency": row.concurrency,
                "connections": self.ctx.pool_size(),
                "requests": s.ok,
                "errors": s.errors,
                "error_kinds": s.error_kinds.iter().map(|(k, (n, m))| (k.clone(), serde_json::json!({"count": n, "first": m}))).collect::<serde_json::Map<_, _>>(),
                "duration_s": round(s.elapsed.as_secs_f64()),
                "batch_size": row.batch,
                // requests/s, or memories/s for the batch phases
                "throughput": round(if row.batch.is_some() { s.memories_per_s() } else { s.requests_per_s() }),
                "throughput_unit": if row.batch.is_some() { "memories/s" } else { "requests/s" },
                "requests_per_s": round(s.requests_per_s()),
                "memories_per_s": if row.batch.is_some() || adds_one(&row.scenario) { Some(round(s.memories_per_s())) } else { None },
                "created": s.created,
                "duplicates": s.duplicates,
                "mean_results": round(s.mean_results()),
                "p50_ms": s.ms(0.5),
                "p90_ms": s.ms(0.9),
                "p99_ms": s.ms(0.99),
                "max_ms": s.max_ms(),
                "rss_mb": row.rss.map(|r| round(r.rss_mb)),
                "hwm_mb": row.rss.map(|r| round(r.hwm_mb)),
                "unix_time": unix_time(),
            });
            self.append_json(&line)?;
        }
        self.rows.push(row);
        Ok(())
    }

    /// How long after the load the full-text index (which trails the commits) had indexed all of
    /// it: a probe memory written last becomes searchable. Reports the indexing rate over the load
    /// and the catch-up.
    async fn index_catchup(&mut self, loaded: u64, load_time: Duration) -> anyhow::Result<()> {
        let token = format!("zprobe{}", unix_time());
        let probe = engram_proto::v1::NewMemory {
            agent: data::agent_name(0),
            content: format!("index probe {token}"),
            ..Default::default()
        };
        let mut client = self.ctx.pool.get();
        client.memories.add_memory(engram_proto::v1::AddMemoryRequest { memory: Some(probe) }).await?;
        let started = std::time::Instant::now();
        loop {
            let request =
                engram_proto::v1::SearchMemoriesRequest { query: token.clone(), limit: 1, ..Default::default() };
            if !client.memories.search_memories(request).await?.into_inner().hits.is_empty() {
                break;
            }
            if started.elapsed() > Duration::from_secs(3600) {
                bail!("the full-text index did not catch up within an hour");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let catchup = started.elapsed().as_secs_f64();
        let rate = loaded as f64 / (load_time.as_secs_f64() + catchup);
        eprintln!("index: caught up {catchup:.2} s after the load; {rate:.0} memories/s indexed over load + catch-up");
        self.append_json(&serde_json::json!({
            "scenario": "index-catchup",
            "memories": loaded,
            "catchup_s": round(catchup),
            "indexed_per_s": rate.round(),
            "unix_time": unix_time(),
        }))
    }

    /// Appends one line to --json, if given.
    fn append_json(&self, line: &serde_json::Value) -> anyhow::Result<()> {
        match &self.json {
            Some(path) => append_json_line(path, line),
            None => Ok(()),
        }
    }

    async fn load(&mut self, args: &LoadArgs) -> anyhow::Result<u64> {
        if args.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        let existing = self.ctx.pool.memory_count().await?;
        let scale = self.cli_scale.unwrap_or(args.memories);
        if existing >= args.memories {
            eprintln!("load: the store already holds {existing} memories (target {})", args.memories);
            return Ok(scale);
        }
        let total = args.memories - existing;
        let batches = total.div_ceil(args.batch_size as u64);
        eprintln!(
            "load: {existing} memories in the store, adding {total} in {batches} batches of {} with {} clients",
            args.batch_size, args.load_concurrency
        );
        let work = Work::Load { total, batch: args.batch_size };
        let progress = {
            let ctx = self.ctx.clone();
            let (base, started) = (ctx.generator.generated(), std::time::Instant::now());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(15));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let sent = ctx.generator.generated() - base;
                    let rate = sent as f64 / started.elapsed().as_secs_f64();
                    eprintln!("load: {sent}/{total} memories generated ({rate:.0}/s so far)");
                }
            })
        };
        let stats = self.phase(work, args.load_concurrency, Stop::Requests(batches), Duration::ZERO).await;
        progress.abort();
        self.index_catchup(total, stats.elapsed).await?;
        let row = Row {
            scenario: "load".into(),
            store_memories: existing,
            concurrency: args.load_concurrency,
            stats,
            batch: Some(args.batch_size),
            times: Some(self.ctx.times),
            rss: self.rss(),
        };
        self.record(scale, row)?;
        Ok(scale)
    }

    async fn run(&mut self, args: &RunArgs, scale: u64) -> anyhow::Result<()> {
        let stop = match args.requests {
            Some(n) => Stop::Requests(n),
            None => Stop::After(Duration::from_secs_f64(args.duration)),
        };
        let warmup = Duration::from_secs_f64(args.warmup);
        for &scenario in &args.scenarios {
            let concurrency = args.concurrency_of(scenario)?;
            let (work, batch, times) = match scenario {
                Scenario::BatchIngest => (
                    Work::Scenario(scenario, args.ingest_batch_size),
                    Some(args.ingest_batch_size),
                    Some(self.ctx.times),
                ),
                _ => (Work::Scenario(scenario, 1), None, None),
            };
            // The count sums GetAgentStats over every agent, which reads each memory row:
            // BENCH_NO_STORE_COUNT=1 reports the scale instead (seconds saved per phase at 10^6).
            let store_memories = if std::env::var_os("BENCH_NO_STORE_COUNT").is_some() {
                scale
            } else {
                self.ctx.pool.memory_count().await?
            };
            let stats = self.phase(work, concurrency, stop, warmup).await;
            let row = Row {
                scenario: scenario.name().into(),
                store_memories,
                concurrency,
                stats,
                batch,
                times,
                rss: self.rss(),
            };
            self.record(scale, row)?;
        }
        Ok(())
    }

    fn print_table(&self, scale: u64) {
        println!();
        println!(
            "engram-bench: scale {scale} memories, {} connections (store: memories when the phase started)",
            self.ctx.pool_size()
        );
        println!(
            "| {:<12} | {:<8} | {:>9} | {:>4} | {:>8} | {:>6} | {:>9} | {:>9} | {:>8} | {:>8} | {:>8} | {:>9} | {:>6} | {:>6} |",
            "scenario",
            "times",
            "store",
            "conc",
            "requests",
            "errors",
            "req/s",
            "mem/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "RSS MB",
            "HWM MB"
        );
        println!(
            "|{:-<14}|{:-<10}|{:->11}|{:->6}|{:->10}|{:->8}|{:->11}|{:->11}|{:->10}|{:->10}|{:->10}|{:->11}|{:->8}|{:->8}|",
            "", "", "", "", "", "", "", "", "", "", "", "", "", ""
        );
        for row in &self.rows {
            let s = &row.stats;
            let writes = row.batch.is_some() || adds_one(&row.scenario);
            let mb = |x: Option<f64>| x.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into());
            println!(
                "| {:<12} | {:<8} | {:>9} | {:>4} | {:>8} | {:>6} | {:>9.1} | {:>9} | {:>8.2} | {:>8.2} | {:>8.2} | {:>9.2} | {:>6} | {:>6} |",
                row.scenario,
                row.times.map(Times::name).unwrap_or("-"),
                row.store_memories,
                row.concurrency,
                s.ok,
                s.errors,
                s.requests_per_s(),
                if writes { format!("{:.0}", s.memories_per_s()) } else { "-".into() },
                s.ms(0.5),
                s.ms(0.9),
                s.ms(0.99),
                s.max_ms(),
                mb(row.rss.map(|r| r.rss_mb)),
                mb(row.rss.map(|r| r.hwm_mb)),
            );
        }
        let reads: Vec<_> = self
            .rows
            .iter()
            .filter(|r| matches!(r.scenario.as_str(), "recall" | "search" | "context" | "rest-recall" | "rest-search"))
            .collect();
        if !reads.is_empty() {
            let means: Vec<String> =
                reads.iter().map(|r| format!("{} {:.1}", r.scenario, r.stats.mean_results())).collect();
            println!("mean memories returned per request: {}", means.join(", "));
        }
        let stats: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.scenario == Scenario::Stats.name())
            .map(|r| format!("{:.0} (c={})", r.stats.mean_results(), r.concurrency))
            .collect();
        if !stats.is_empty() {
            println!("stats: mean memory_count of the agent asked for: {}", stats.join(", "));
        }
    }

    /// The REST overhead versus gRPC of each twin pair that ran (the last row of each, with
    /// successes): printed after the table and appended to --json as scenario `rest-overhead`.
    fn rest_overhead(&self, scale: u64) -> anyhow::Result<()> {
        let last = |s: Scenario| self.rows.iter().rev().find(|r| r.scenario == s.name() && r.stats.ok > 0);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let mut pairs = Vec::new();
        let mut lines = Vec::new();
        for (rest, grpc) in Scenario::REST_TWINS {
            let (Some(r), Some(g)) = (last(rest), last(grpc)) else { continue };
            let (rest_rps, grpc_rps) = (r.stats.requests_per_s(), g.stats.requests_per_s());
            let overhead = (grpc_rps / rest_rps - 1.0) * 100.0;
            let p50 = ratio(r.stats.ms(0.5), g.stats.ms(0.5));
            let p99 = ratio(r.stats.ms(0.99), g.stats.ms(0.99));
            lines.push(format!(
                "  {:<11} vs {:<9}  overhead {:>+7.1} %  ({:.1} vs {:.1} req/s)  p50 x{:.2} ({:.2} vs {:.2} ms)  \
                 p99 x{:.2}  c={}/{}{}",
                rest.name(),
                grpc.name(),
                overhead,
                rest_rps,
                grpc_rps,
                p50,
                r.stats.ms(0.5),
                g.stats.ms(0.5),
                p99,
                r.concurrency,
                g.concurrency,
                if r.concurrency == g.concurrency { "" } else { "  (different concurrency!)" },
            ));
            pairs.push(serde_json::json!({
                "rest": rest.name(),
                "grpc": grpc.name(),
                "rest_concurrency": r.concurrency,
                "grpc_concurrency": g.concurrency,
                "rest_req_per_s": round(rest_rps),
                "grpc_req_per_s": round(grpc_rps),
                "overhead_pct": round(overhead),
                "rest_p50_ms": r.stats.ms(0.5),
                "grpc_p50_ms": g.stats.ms(0.5),
                "p50_ratio": round(p50),
                "rest_p99_ms": r.stats.ms(0.99),
                "grpc_p99_ms": g.stats.ms(0.99),
                "p99_ratio": round(p99),
                "rest_errors": r.stats.errors,
                "grpc_errors": g.stats.errors,
            }));
        }
        if pairs.is_empty() {
            return Ok(());
        }
        println!(
            "REST overhead vs gRPC: (gRPC req/s / REST req/s - 1) x 100 %; p50/p99 x = REST / gRPC latency; \
             figures REST vs gRPC; c=REST/gRPC concurrency"
        );
        for line in lines {
            println!("{line}");
        }
        self.append_json(&serde_json::json!({
            "scale": scale,
            "scenario": "rest-overhead",
            "connections": self.ctx.pool_size(),
            "pairs": pairs,
            "unix_time": unix_time(),
        }))
    }
}

/// Appends `line` and a newline to the file at `path` (created if missing).
fn append_json_line(path: &std::path::Path, line: &serde_json::Value) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("cannot write {}", path.display()))
}

/// Rounds to 3 decimals for the JSON output.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn unix_time() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl Ctx {
    fn pool_size(&self) -> usize {
        self.pool.size()
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async_main(cli))
}

async fn async_main(cli: Cli) -> anyhow::Result<()> {
    if let Command::Limit(args) = &cli.command {
        if cli.server_bin.is_some() || !cli.addr.is_empty() {
            bail!("limit talks to no server: give --sqlite FILE or --database-url URL, not --server-bin or --addr");
        }
        let target = match (&args.sqlite, &cli.database_url) {
            (Some(path), None) => limit::Target::Sqlite(path.clone()),
            (None, Some(url)) => limit::Target::Postgres(url.clone()),
            _ => bail!("limit needs one of --sqlite FILE and --database-url URL"),
        };
        let seed = cli.seed.unwrap_or_else(|| rand::rng().random());
        let options = limit::Options { target, times: cli.times, seed, scale: cli.scale, json: cli.json.clone() };
        return limit::run(args, options).await;
    }
    if let Command::Conversations(args) = &cli.command {
        if cli.addr.is_empty() {
            bail!("conversations needs --addr (a running server)");
        }
        return convs::run(args.clone(), &cli.addr, cli.api_key.as_deref()).await;
    }
    if let Command::Simulation(args) = &cli.command {
        if cli.addr.is_empty() {
            bail!("simulation needs --addr (a running server)");
        }
        return sim::run(args.clone(), &cli.addr, cli.api_key.as_deref()).await;
    }
    if let Command::Lifecycle(args) = &cli.command {
        if cli.addr.is_empty() {
            bail!("lifecycle needs --addr (a running server)");
        }
        return lifecycle::run(args.clone(), &cli.addr, cli.api_key.as_deref()).await;
    }
    if let Command::Watch(args) = &cli.command {
        if cli.addr.is_empty() {
            bail!("watch needs --addr (a running server)");
        }
        return watch::run(args.clone(), &cli.addr, cli.api_key.as_deref()).await;
    }
    if let Command::Soak(args) = &cli.command {
        let bin = cli.server_bin.clone().context("soak needs --server-bin (the engram binary it starts and kills)")?;
        let data_dir = cli.data_dir.clone().context("soak needs --data-dir")?;
        let options = soak::Options {
            bin,
            data_dir,
            database_url: cli.database_url.clone(),
            server_args: cli.server_args.clone(),
            log_level: cli.server_log_level.clone(),
            timeout: Duration::from_secs(cli.timeout),
            seed: cli.seed.unwrap_or_else(|| rand::rng().random()),
        };
        return soak::run(args.clone(), options).await;
    }
    if cli.database_url.is_some() && cli.server_bin.is_none() {
        bail!("--database-url needs --server-bin (the servers to start on it), except with limit");
    }
    // Bad flags fail before a server is started.
    if let Command::Run(run) | Command::All { run, .. } = &cli.command {
        for scenario in Scenario::ALL {
            run.concurrency_of(scenario)?;
        }
        if !(run.duration > 0.0 && run.warmup >= 0.0 && run.ingest_batch_size > 0) {
            bail!("--duration must be positive, --warmup not negative, --ingest-batch-size at least 1");
        }
    }
    let mut spawned = Vec::new();
    match (&cli.server_bin, cli.addr.is_empty()) {
        (Some(bin), _) => {
            let dir = cli.data_dir.as_ref().context("--server-bin needs --data-dir")?;
            // PostgreSQL: the key `engram migrate` prints on a fresh database is kept in
            // <data dir>/admin.key, so later runs on the same database (the latency pass) find it.
            let admin_key = match &cli.database_url {
                Some(url) => {
                    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                    let key_file = dir.join("admin.key");
                    Some(match server::migrate(bin, url)? {
                        Some(key) => {
                            std::fs::write(&key_file, &key)
                                .with_context(|| format!("cannot write {}", key_file.display()))?;
                            key
                        }
                        None => std::fs::read_to_string(&key_file)
                            .with_context(|| {
                                format!("the database has API keys already and {} is missing", key_file.display())
                            })?
                            .trim()
                            .to_owned(),
                    })
                }
                None => None,
            };
            for replica in 0..cli.replicas.max(1) {
                let (store, dir) = match (&cli.database_url, &admin_key) {
                    (Some(url), Some(key)) => (
                        server::StoreOf::Postgres { url, admin_key: key },
                        if cli.replicas > 1 { dir.join(format!("replica-{replica}")) } else { dir.clone() },
                    ),
                    _ => (server::StoreOf::Embedded, dir.clone()),
                };
                let s = Spawned::start(bin, &dir, store, &cli.server_args, &cli.server_log_level)?;
                eprintln!("started {} (pid {}) on {} with data dir {}", bin.display(), s.pid(), s.addr, dir.display());
                spawned.push(s);
            }
        }
        (None, false) => {}
        (None, true) => bail!("give --addr (and --api-key) of a running server, or --server-bin and --data-dir"),
    }
    let result = bench(&cli, &spawned).await;
    for s in &mut spawned {
        let status = s.stop();
        match status {
            Some(st) if st.success() => {}
            other => eprintln!("warning: engram exited with {other:?}"),
        }
        report_server_log(&s.log);
    }
    result
}

async fn bench(cli: &Cli, spawned: &[Spawned]) -> anyhow::Result<()> {
    let (urls, key, pids): (Vec<String>, _, Vec<u32>) = match spawned.first() {
        Some(first) => (
            spawned.iter().map(|s| format!("http://{}", s.addr)).collect(),
            Some(first.admin_key.clone()),
            spawned.iter().map(Spawned::pid).collect(),
        ),
        None => (
            cli.addr.iter().map(|a| if a.contains("://") { a.clone() } else { format!("http://{a}") }).collect(),
            cli.api_key.clone(),
            cli.server_pid.clone(),
        ),
    };
    let pool = Pool::connect(&urls, key.as_deref(), cli.connections, Duration::from_secs(cli.timeout)).await?;
    let rest = RestPool::new(&urls, key.as_deref(), cli.connections, Duration::from_secs(cli.timeout))?;
    if let Command::Run(run) | Command::All { run, .. } = &cli.command
        && run.scenarios.iter().any(|s| s.is_rest())
    {
        rest.check_url()?;
    }
    let seed = cli.seed.unwrap_or_else(|| rand::rng().random());
    let mut rng = StdRng::seed_from_u64(seed);
    let ctx = Arc::new(Ctx {
        pool,
        rest,
        generator: data::Generator::new(&mut rng),
        vocabulary: data::vocabulary(),
        times: cli.times,
    });
    let backend = match (spawned.is_empty(), &cli.database_url) {
        (true, _) => None,
        (false, Some(_)) => Some("postgres"),
        (false, None) => Some("sqlite"),
    };
    let mut bench = Bench {
        cli_scale: cli.scale,
        ctx,
        pids,
        backend,
        replicas: spawned.len(),
        json: cli.json.clone(),
        seed,
        phase: 0,
        rows: Vec::new(),
    };
    bench.ctx.pool.ensure_agents((0..data::AGENTS).map(data::agent_name)).await?;
    if let Some(rss) = bench.rss() {
        eprintln!("server memory before the run: rss {:.0} MB, hwm {:.0} MB", rss.rss_mb, rss.hwm_mb);
    }
    let scale = match &cli.command {
        Command::Load(load) => bench.load(load).await?,
        Command::Run(run) => {
            let scale = match cli.scale {
                Some(s) => s,
                None => bench.ctx.pool.memory_count().await?,
            };
            eprintln!("run: {scale} memories in the store, seed {seed}");
            bench.run(run, scale).await?;
            scale
        }
        Command::All { load, run } => {
            let scale = bench.load(load).await?;
            eprintln!("run: seed {seed}");
            bench.run(run, scale).await?;
            scale
        }
        // Handled by async_main before any server is started.
        Command::Limit(_) => bail!("limit starts no server"),
        Command::Conversations(_) => bail!("conversations starts no server"),
        Command::Watch(_) => bail!("watch starts no server"),
        Command::Simulation(_) => bail!("simulation starts no server"),
        Command::Lifecycle(_) => bail!("lifecycle starts no server"),
        Command::Soak(_) => bail!("soak is handled by async_main"),
    };
    bench.print_table(scale);
    bench.rest_overhead(scale)
}

/// Warns about the lines the started server logged (at --server-log-level, warn by default).
fn report_server_log(path: &std::path::Path) {
    let Ok(text) = std::fs::read_to_string(path) else { return };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return;
    }
    eprintln!("server log {} has {} line(s); the last ones:", path.display(), lines.len());
    for line in lines.iter().skip(lines.len().saturating_sub(10)) {
        eprintln!("  {line}");
    }
}
