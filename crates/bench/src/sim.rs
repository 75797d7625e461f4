//! `engram-bench simulation`: the simulation workload of issue 11 against a running server.
//!
//! `load`: `--agents` agents × `--steps` steps; each step of each agent is a state (position,
//! health, inventory and a mood in its metadata, and its position), and every fourth step also an action
//! (`action_type` trade/move/gather, `outcome` success/failure), batched 500 memories a request.
//! Then, at concurrency 1 for `--duration` seconds each, with a random agent:
//! - `step-range`: ListMemories, a random window of 50 steps, ORDER_STEP_ASC, limit 50;
//! - `attribute`: ListMemories with `{"action_type": "trade", "outcome": "success"}`, limit 20;
//! - `radius`: ListMemories of states within 5 of a random point, limit 20;
//! - `similar`: RetrieveSimilarStates of a random state, k = 5;
//! - `get`: GetMemory of a random one of 1,000 ids (the 10 newest of
//!   each of the first 100 agents, listed first): with the hot cache, all served from it after
//!   their first read.
//!
//! One JSON line per phase on stdout.

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
pub struct SimArgs {
    #[arg(long, default_value_t = 1_000)]
    pub agents: u64,
    #[arg(long, default_value_t = 1_000)]
    pub steps: u64,
    /// Measured seconds of each query phase (after 2 s of warm-up).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    #[arg(long, value_delimiter = ',', default_value = "load,step-range,attribute,radius,similar,get")]
    pub phases: Vec<String>,
    #[arg(long, default_value_t = 4)]
    pub load_concurrency: usize,
    /// Appended to each line's scenario name (`simulation-similar+embedder`): what the server
    /// ran with, when a run repeats a phase on another server configuration.
    #[arg(long, default_value = "")]
    pub label: String,
}

const BATCH: u64 = 500;
const ACTIONS: [&str; 3] = ["trade", "move", "gather"];
/// A state's mood: its string feature (compared by embedding on a server with an embedder).
const MOODS: [&str; 8] = ["calm", "content", "cheerful", "anxious", "angry", "tired", "curious", "bored"];

fn agent(i: u64) -> String {
    format!("sim-{i:04}")
}

/// Position of an agent at a step: a walk that stays in a 100 × 100 world.
fn position(agent: u64, step: u64) -> (f64, f64) {
    let phase = (agent * 7919 + step) as f64 / 50.0;
    (50.0 + 45.0 * (phase + agent as f64).sin(), 50.0 + 45.0 * (phase * 0.7 + agent as f64 * 1.3).cos())
}

fn struct_of(value: serde_json::Value) -> prost_types::Struct {
    use prost_types::value::Kind;
    fn to_value(v: &serde_json::Value) -> prost_types::Value {
        let kind = match v {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(b) => Kind::BoolValue(*b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
            serde_json::Value::String(s) => Kind::StringValue(s.clone()),
            serde_json::Value::Array(a) => {
                Kind::ListValue(prost_types::ListValue { values: a.iter().map(to_value).collect() })
            }
            serde_json::Value::Object(o) => Kind::StructValue(prost_types::Struct {
                fields: o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
            }),
        };
        prost_types::Value { kind: Some(kind) }
    }
    match value {
        serde_json::Value::Object(o) => {
            prost_types::Struct { fields: o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect() }
        }
        _ => prost_types::Struct::default(),
    }
}

fn state_contents(agent: u64, step: u64) -> serde_json::Value {
    let (x, y) = position(agent, step);
    serde_json::json!({
        "position": [x.round(), y.round()],
        "health": 100 - (step * 7 + agent) % 60,
        "inventory": {"wood": (step / 10) % 20, "stone": (step / 25) % 9},
        "mood": MOODS[((step / 5 + agent) % 8) as usize],
    })
}

/// The memories of load request `seq` (500 consecutive (agent, step) states, plus actions).
fn load_batch(args: &SimArgs, seq: u64) -> Vec<pb::NewMemory> {
    let mut out = Vec::new();
    for i in seq * BATCH..((seq + 1) * BATCH).min(args.agents * args.steps) {
        let (a, step) = (i % args.agents, i / args.agents);
        let (x, y) = position(a, step);
        out.push(pb::NewMemory {
            agent: agent(a),
            memory_type: pb::MemoryType::State.into(),
            event_type: "state".into(),
            content: format!("{} at step {step}", agent(a)),
            metadata: Some(struct_of(state_contents(a, step))),
            step: Some(step as i64),
            position: Some(pb::Position { x, y, z: None }),
            ..Default::default()
        });
        if step % 4 == 0 {
            let action = ACTIONS[((a + step) % 3) as usize];
            // Independent of the action type: a third of each type fails.
            let outcome = if (a * 7 + step / 4 * 5) % 3 == 0 { "failure" } else { "success" };
            out.push(pb::NewMemory {
                agent: agent(a),
                memory_type: pb::MemoryType::Action.into(),
                event_type: "action".into(),
                content: format!("{action} at step {step}: {outcome}"),
                metadata: Some(struct_of(serde_json::json!({"action_type": action, "outcome": outcome}))),
                step: Some(step as i64),
                ..Default::default()
            });
        }
    }
    out
}

/// The ids the `get` phase reads: the 10 newest memories of each of the first 100 agents.
async fn get_ids(pool: &Pool, args: &SimArgs) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for a in 0..args.agents.min(100) {
        let filter = Some(pb::MemoryFilter { agent: agent(a), ..Default::default() });
        let request = pb::ListMemoriesRequest { filter, limit: 10, ..Default::default() };
        let page = pool.get().memories.list_memories(request).await?.into_inner();
        ids.extend(page.memories.into_iter().map(|m| m.id));
    }
    anyhow::ensure!(!ids.is_empty(), "get: no memories to read (run the load phase first)");
    Ok(ids)
}

async fn one(
    pool: &Pool,
    args: &SimArgs,
    ids: &[String],
    phase: &str,
    seq: u64,
    rng: &mut StdRng,
) -> anyhow::Result<u64> {
    let mut clients = pool.get();
    let a = rng.random_range(0..args.agents);
    let filter = |f: pb::MemoryFilter| Some(pb::MemoryFilter { agent: agent(a), ..f });
    let list = |filter: Option<pb::MemoryFilter>, limit: u32, order: pb::Order| pb::ListMemoriesRequest {
        filter,
        limit,
        order: order.into(),
        ..Default::default()
    };
    let found = match phase {
        "load" => {
            let memories = load_batch(args, seq);
            let n = memories.len() as u64;
            clients.memories.add_memories(pb::AddMemoriesRequest { memories }).await?;
            return Ok(n);
        }
        "step-range" => {
            let from = rng.random_range(0..args.steps.saturating_sub(50).max(1)) as i64;
            let f = filter(pb::MemoryFilter { step_min: Some(from), step_max: Some(from + 49), ..Default::default() });
            clients.memories.list_memories(list(f, 50, pb::Order::StepAsc)).await?.into_inner().memories.len()
        }
        "attribute" => {
            let attributes = struct_of(serde_json::json!({"action_type": "trade", "outcome": "success"}));
            let f = filter(pb::MemoryFilter { attributes: Some(attributes), ..Default::default() });
            clients.memories.list_memories(list(f, 20, pb::Order::Desc)).await?.into_inner().memories.len()
        }
        "radius" => {
            let (x, y) = position(a, rng.random_range(0..args.steps));
            let near = pb::Near { x, y, z: None, radius: 5.0 };
            let f = filter(pb::MemoryFilter { near: Some(near), ..Default::default() });
            clients.memories.list_memories(list(f, 20, pb::Order::Desc)).await?.into_inner().memories.len()
        }
        "get" => {
            let id = ids[rng.random_range(0..ids.len())].clone();
            clients.memories.get_memory(pb::GetMemoryRequest { id }).await?;
            1
        }
        "similar" => {
            let state = struct_of(state_contents(a, rng.random_range(0..args.steps)));
            let request =
                pb::RetrieveSimilarStatesRequest { agent: agent(a), state: Some(state), k: 5, ..Default::default() };
            clients.simulation.retrieve_similar_states(request).await?.into_inner().states.len()
        }
        other => anyhow::bail!("--phases: unknown phase {other:?}"),
    };
    Ok(found as u64)
}

pub async fn run(args: SimArgs, addr: &[String], api_key: Option<&str>) -> anyhow::Result<()> {
    let pool = Pool::connect(addr, api_key, 4, Duration::from_secs(120)).await.context("connecting")?;
    let args = Arc::new(args);
    let mut ids = Arc::new(Vec::new());
    for phase in args.phases.clone() {
        if phase == "get" && ids.is_empty() {
            ids = Arc::new(get_ids(&pool, &args).await?);
        }
        let load = phase == "load";
        let concurrency = if load { args.load_concurrency } else { 1 };
        let total = load.then(|| (args.agents * args.steps).div_ceil(BATCH));
        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut workers = Vec::new();
        for w in 0..concurrency {
            let (pool, args, next, phase, ids) = (pool.clone(), args.clone(), next.clone(), phase.clone(), ids.clone());
            workers.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(0x51_u64 + w as u64);
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
                let (mut ok, mut items, mut errors) = (0u64, 0u64, 0u64);
                let warm_until = Instant::now() + if load { Duration::ZERO } else { Duration::from_secs(2) };
                while Instant::now() < warm_until {
                    let _ = one(&pool, &args, &ids, &phase, 0, &mut rng).await;
                }
                let measured = Instant::now();
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    match total {
                        Some(total) if seq >= total => break,
                        None if measured.elapsed().as_secs_f64() >= args.duration => break,
                        _ => {}
                    }
                    let t = Instant::now();
                    match one(&pool, &args, &ids, &phase, seq, &mut rng).await {
                        Ok(n) => {
                            ok += 1;
                            items += n;
                            let _ = histogram.record(t.elapsed().as_micros().max(1) as u64);
                        }
                        Err(e) => {
                            if errors == 0 {
                                eprintln!("    {phase}: {e:#}");
                            }
                            errors += 1;
                        }
                    }
                }
                (histogram, ok, items, errors, measured.elapsed())
            }));
        }
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
        let (mut ok, mut items, mut errors, mut elapsed) = (0u64, 0u64, 0u64, Duration::ZERO);
        for worker in workers {
            let (h, o, i, e, t) = worker.await?;
            histogram.add(&h)?;
            ok += o;
            items += i;
            errors += e;
            elapsed = elapsed.max(t);
        }
        if load {
            elapsed = started.elapsed();
        }
        let secs = elapsed.as_secs_f64().max(1e-9);
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        eprintln!(
            "  simulation {phase:<11} {ok:>8} ok {errors:>4} err in {secs:>6.1}s  {:>8.0} req/s  {:>8.0} items/s  p50 {:.2} ms  p99 {:.2} ms",
            ok as f64 / secs,
            items as f64 / secs,
            ms(0.5),
            ms(0.99)
        );
        println!(
            "{}",
            serde_json::json!({
                "scenario": format!("simulation-{phase}{}", args.label),
                "agents": args.agents,
                "steps": args.steps,
                "concurrency": concurrency,
                "requests": ok,
                "errors": errors,
                "items_per_s": (items as f64 / secs).round(),
                "mean_items": if ok == 0 { 0.0 } else { items as f64 / ok as f64 },
                "p50_ms": ms(0.5),
                "p99_ms": ms(0.99),
                "max_ms": histogram.max() as f64 / 1000.0,
            })
        );
    }
    Ok(())
}
