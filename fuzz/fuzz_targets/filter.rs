//! Filter validation: a listing's filter as the domain takes it (MemoryFilter, time specs, needle,
//! order, offset, page token, limit) through the checks every listing runs. Refusals name the
//! field; an accepted filter keeps the documented promises (tags a sorted set within the limits,
//! attributes sorted with each key once, since <= until, step_min <= step_max, finite near with a
//! positive radius, a page size in 1..=max) and checking it again changes nothing.
#![no_main]

use arbitrary::Arbitrary;
use engram_app::ListRequest;
use engram_core::lifecycle::Tier;
use engram_core::{AgentRef, Limits, MemoryFilter, MemoryType, Near, Order};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

mod common;

#[derive(Debug, Arbitrary)]
enum Attr {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    List(Vec<i8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    agent: Option<String>,
    session_id: Option<String>,
    memory_types: Vec<u8>,
    exclude_types: Vec<u8>,
    event_types: Vec<String>,
    tags_all: Vec<String>,
    tags_any: Vec<String>,
    min_importance: Option<f64>,
    since: String,
    until: String,
    content_contains: String,
    step_min: Option<i64>,
    step_max: Option<i64>,
    scope: Option<String>,
    attributes: Vec<(String, Attr)>,
    near: Option<(f64, f64, Option<f64>, f64)>,
    tiers: Vec<u8>,
    important_only: bool,
    limit: u32,
    order: u8,
    page_token: String,
    offset: u16,
}

fn memory_type(b: u8) -> MemoryType {
    MemoryType::ALL[b as usize % MemoryType::ALL.len()]
}

fuzz_target!(|input: Input| {
    let filter = MemoryFilter {
        agent: input.agent.map(|a| AgentRef::parse(&a)),
        session_id: input.session_id,
        memory_types: input.memory_types.into_iter().map(memory_type).collect(),
        exclude_types: input.exclude_types.into_iter().map(memory_type).collect(),
        event_types: input.event_types,
        tags_all: input.tags_all,
        tags_any: input.tags_any,
        content_contains: None,
        min_importance: input.min_importance,
        since: None,
        until: None,
        step_min: input.step_min,
        step_max: input.step_max,
        scope: input.scope,
        attributes: input
            .attributes
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Attr::Text(s) => Value::String(s),
                    Attr::Int(i) => Value::from(i),
                    Attr::Float(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
                    Attr::Bool(b) => Value::Bool(b),
                    Attr::Null => Value::Null,
                    Attr::List(l) => Value::from(l),
                };
                (k, v)
            })
            .collect(),
        near: input.near.map(|(x, y, z, radius)| Near { x, y, z, radius }),
        tiers: input.tiers.into_iter().map(|t| [Tier::Hot, Tier::Warm, Tier::Cold][t as usize % 3]).collect(),
        important_only: input.important_only,
    };
    let order = [Order::Desc, Order::Asc, Order::StepAsc, Order::StepDesc, Order::Nearest][input.order as usize % 5];
    let request = ListRequest {
        filter,
        since: input.since,
        until: input.until,
        content_contains: input.content_contains,
        limit: input.limit,
        order,
        page_token: input.page_token,
        offset: u32::from(input.offset),
    };
    if let Err(e) = engram_server::fuzzing::check_list(&Limits::default(), request) {
        common::assert_invalid_argument(&e, "filter");
    }
});
