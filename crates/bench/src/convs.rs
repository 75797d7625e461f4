//! `engram-bench conversations`: the conversation workload of issue 10 against a running server.
//!
//! Phases, in order (`--phases`):
//! - `load`: N conversations × M messages (`--conversations`, `--messages`), appended in batches
//!   of `--batch` (alternating user and assistant turns) by `--load-concurrency` clients, round
//!   robin over the conversations;
//! - `window-hot`: GetWindow (default limits) of a random conversation among the first `--hot`,
//!   concurrency 1: after the warm-up they are all in the server's window cache;
//! - `window-cold`: GetWindow of a random conversation among all N, concurrency 1 (run it against a
//!   server started with `--window-cache-mb 0` for windows that are all read from the store);
//!   `window-all` is the same against a server with its cache on (it fills the cache to its bound);
//! - `append`: AppendMessages of one message to a random conversation, `--append-concurrency`
//!   clients (default 32).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use engram_proto::v1 as pb;

use crate::server::Pool;

#[derive(Debug, Clone, clap::Args)]
pub struct ConvArgs {
    #[arg(long, default_value_t = 10_000)]
    pub conversations: u64,
    /// Messages per conversation after the load.
    #[arg(long, default_value_t = 200)]
    pub messages: u64,
    /// Messages per AppendMessages request of the load.
    #[arg(long, default_value_t = 50)]
    pub batch: u64,
    #[arg(long, default_value_t = 8)]
    pub load_concurrency: usize,
    /// Conversations of the hot set.
    #[arg(long, default_value_t = 100)]
    pub hot: u64,
    #[arg(long, default_value_t = 32)]
    pub append_concurrency: usize,
    /// Measured seconds of each window and append phase (after 2 s of warm-up).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Phases to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "load,window-hot,window-cold,append")]
    pub phases: Vec<String>,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// The agent that owns the conversations.
    #[arg(long, default_value = "bench-chat")]
    pub agent: String,
}

const WORDS: &[&str] = &[
    "flight", "hotel", "price", "refund", "booking", "Paris", "Lisbon", "tomorrow", "morning", "window", "seat",
    "luggage", "upgrade", "cancel", "confirm", "receipt", "invoice", "dinner", "museum", "train", "taxi", "weather",
];

fn sentence(rng: &mut StdRng) -> String {
    let n = rng.random_range(8..24);
    (0..n).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect::<Vec<_>>().join(" ")
}

fn conversation(i: u64) -> String {
    format!("conv-{i:06}")
}

fn message(rng: &mut StdRng, seq: u64) -> pb::NewMessage {
    let role = if seq.is_multiple_of(2) { pb::Role::User } else { pb::Role::Assistant };
    pb::NewMessage { role: role.into(), content: sentence(rng), ..Default::default() }
}

struct Outcome {
    histogram: Histogram<u64>,
    ok: u64,
    errors: u64,
    messages: u64,
    elapsed: Duration,
}

impl Outcome {
    fn ms(&self, q: f64) -> f64 {
        if self.histogram.is_empty() { 0.0 } else { self.histogram.value_at_quantile(q) as f64 / 1000.0 }
    }
}

/// What one request of a phase does; returns the messages it appended.
#[derive(Clone, Copy)]
enum Phase {
    Load,
    WindowHot,
    WindowCold,
    Append,
}

async fn one(pool: &Pool, args: &ConvArgs, phase: Phase, seq: u64, rng: &mut StdRng) -> anyhow::Result<u64> {
    let mut client = pool.get().conversations;
    let request = |conversation: u64, messages: Vec<pb::NewMessage>| pb::AppendMessagesRequest {
        agent: args.agent.clone(),
        scope: String::new(),
        conversation: self::conversation(conversation),
        messages,
        record_as_memories: None,
    };
    match phase {
        Phase::Load => {
            let (conv, round) = (seq % args.conversations, seq / args.conversations);
            let first = round * args.batch;
            let n = args.batch.min(args.messages.saturating_sub(first));
            let messages = (first..first + n).map(|s| message(rng, s)).collect();
            client.append_messages(request(conv, messages)).await?;
            Ok(n)
        }
        Phase::Append => {
            let conv = rng.random_range(0..args.conversations);
            client.append_messages(request(conv, vec![message(rng, seq)])).await?;
            Ok(1)
        }
        Phase::WindowHot | Phase::WindowCold => {
            let range =
                if matches!(phase, Phase::WindowHot) { args.hot.min(args.conversations) } else { args.conversations };
            let conv = rng.random_range(0..range);
            let w = client
                .get_window(pb::GetWindowRequest {
                    agent: args.agent.clone(),
                    scope: String::new(),
                    conversation: conversation(conv),
                    max_messages: 0,
                    max_tokens: 0,
                })
                .await?
                .into_inner();
            anyhow::ensure!(!w.messages.is_empty(), "an empty window of {}", conversation(conv));
            Ok(0)
        }
    }
}

/// Runs a phase with `concurrency` workers: `total` requests, or requests for `duration` after
/// `warmup`.
async fn run_phase(
    pool: &Pool,
    args: &Arc<ConvArgs>,
    phase: Phase,
    concurrency: usize,
    total: Option<u64>,
    duration: Duration,
    warmup: Duration,
) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (pool, args, next) = (pool.clone(), args.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(0xC0_FFEE + w as u64);
            let mut out = Outcome {
                histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds"),
                ok: 0,
                errors: 0,
                messages: 0,
                elapsed: Duration::ZERO,
            };
            let warm_until = Instant::now() + warmup;
            while Instant::now() < warm_until {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                let _ = one(&pool, &args, phase, seq, &mut rng).await;
            }
            let measured = Instant::now();
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                match total {
                    Some(total) if seq >= total => break,
                    None if measured.elapsed() >= duration => break,
                    _ => {}
                }
                let t = Instant::now();
                match one(&pool, &args, phase, seq, &mut rng).await {
                    Ok(messages) => {
                        out.ok += 1;
                        out.messages += messages;
                        let _ = out.histogram.record(t.elapsed().as_micros().max(1) as u64);
                    }
                    Err(e) => {
                        if out.errors == 0 {
                            eprintln!("    error: {e:#}");
                        }
                        out.errors += 1;
                    }
                }
            }
            out.elapsed = measured.elapsed();
            out
        }));
    }
    let mut all = Outcome {
        histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds"),
        ok: 0,
        errors: 0,
        messages: 0,
        elapsed: Duration::ZERO,
    };
    for worker in workers {
        if let Ok(out) = worker.await {
            let _ = all.histogram.add(&out.histogram);
            all.ok += out.ok;
            all.errors += out.errors;
            all.messages += out.messages;
            all.elapsed = all.elapsed.max(out.elapsed);
        }
    }
    if total.is_some() {
        all.elapsed = started.elapsed();
    }
    all
}

/// Runs the phases against the server at `addr` (the global `--addr`, `--api-key`).
pub async fn run(args: ConvArgs, addr: &[String], api_key: Option<&str>) -> anyhow::Result<()> {
    let pool = Pool::connect(addr, api_key, args.connections, Duration::from_secs(60)).await.context("connecting")?;
    let args = Arc::new(args);
    let duration = Duration::from_secs_f64(args.duration);
    let warmup = Duration::from_secs(2);
    for name in &args.phases {
        let (phase, concurrency, total, warm) = match name.as_str() {
            "load" => {
                let requests = args.conversations * args.messages.div_ceil(args.batch);
                (Phase::Load, args.load_concurrency, Some(requests), Duration::ZERO)
            }
            "window-hot" => (Phase::WindowHot, 1, None, warmup),
            // The same requests; run against a server with its cache on, they fill it to its bound.
            "window-cold" | "window-all" => (Phase::WindowCold, 1, None, warmup),
            "append" => (Phase::Append, args.append_concurrency, None, warmup),
            other => {
                anyhow::bail!("--phases: unknown phase {other:?} (load, window-hot, window-cold, window-all, append)")
            }
        };
        let out = run_phase(&pool, &args, phase, concurrency, total, duration, warm).await;
        let secs = out.elapsed.as_secs_f64().max(1e-9);
        let line = serde_json::json!({
            "scenario": format!("conversations-{name}"),
            "conversations": args.conversations,
            "messages_per_conversation": args.messages,
            "concurrency": concurrency,
            "requests": out.ok,
            "errors": out.errors,
            "duration_s": (secs * 100.0).round() / 100.0,
            "requests_per_s": (out.ok as f64 / secs).round(),
            "messages_per_s": (out.messages as f64 / secs).round(),
            "p50_ms": out.ms(0.5),
            "p99_ms": out.ms(0.99),
            "max_ms": out.ms(1.0),
        });
        eprintln!(
            "  conversations {name:<12} c={concurrency:<3} {:>8} ok {:>5} err in {secs:>6.1}s  {:>9.0} req/s  {:>9.0} msg/s  p50 {:.2} ms  p99 {:.2} ms",
            out.ok,
            out.errors,
            out.ok as f64 / secs,
            out.messages as f64 / secs,
            out.ms(0.5),
            out.ms(0.99),
        );
        println!("{line}");
    }
    Ok(())
}
