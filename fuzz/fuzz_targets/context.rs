//! Context assembly (`engram_context::assemble`) with random memories, budgets, titles, tasks and
//! relevance. Checks what lib.rs documents: never a panic or a hang; the token count is exact and
//! within the budget; an empty text exactly when the header alone exceeds the budget; every
//! candidate is shown once or counted as omitted; the section counts `(N)` add up to the items
//! shown; without candidates or task the text is the header alone.
#![no_main]

use std::collections::HashSet;

use arbitrary::Arbitrary;
use engram_context::{AssembledContext, ContextRequest, Tokenizer, assemble};
use engram_core::lifecycle::Tier;
use engram_core::time::from_micros;
use engram_core::{Memory, MemoryType, REASONING_KEY};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Candidate {
    id: u8,
    memory_type: u8,
    event_type: String,
    content: String,
    tags: Vec<String>,
    importance: f64,
    seconds: u32,
    reasoning: Option<String>,
    /// Repeats the content this many times (long contents without long inputs).
    repeat: u8,
}

#[derive(Debug, Arbitrary)]
struct Input {
    title: String,
    memories: Vec<Candidate>,
    relevance: Option<Vec<f64>>,
    max_tokens: u16,
    /// Multiplies the budget by 1 + this (budgets up to about 200,000, the server's maximum).
    scale: u8,
    o200k: bool,
    task: Vec<String>,
}

fn memory(c: Candidate) -> Memory {
    let time = from_micros(1_770_000_000_000_000 + i64::from(c.seconds) * 1_000_000);
    let mut metadata = engram_core::Metadata::new();
    if let Some(r) = c.reasoning {
        metadata.insert(REASONING_KEY.to_owned(), serde_json::Value::String(r));
    }
    let repeat = usize::from(c.repeat % 64).max(1);
    Memory {
        id: format!("mem_{}", c.id % 32),
        org_id: "org_default".into(),
        agent_id: "agent_x".into(),
        session_id: None,
        memory_type: MemoryType::ALL[c.memory_type as usize % MemoryType::ALL.len()],
        event_type: c.event_type,
        content: c.content.repeat(repeat),
        metadata,
        tags: c.tags,
        importance: c.importance,
        parent_id: None,
        dedup_key: String::new(),
        time,
        created_at: time,
        step: None,
        position: None,
        expires_at: None,
        scope: None,
        access_count: 0,
        last_accessed_at: None,
        tier: Tier::Hot,
    }
}

fn check(req: &ContextRequest<'_>, out: &AssembledContext) {
    let tok = req.tokenizer;
    let max = req.max_tokens;
    assert_eq!(out.token_count, tok.count(&out.text), "token_count is not the text's count");
    assert!(out.token_count <= max, "{} tokens > budget {max}", out.token_count);
    assert_eq!(out.memory_ids.len() + out.omitted, req.memories.len(), "shown + omitted != candidates");
    let unique: HashSet<&str> = out.memory_ids.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), out.memory_ids.len(), "a memory shown twice");
    assert!(out.memory_ids.iter().all(|id| req.memories.iter().any(|m| &m.id == id)), "an id not in the input");
    let header = format!(
        "## {}\n",
        req.title.replace("\r\n", " ").replace(['\n', '\r', '\u{0B}', '\u{0C}', '\u{85}', '\u{2028}', '\u{2029}'], " ")
    );
    let header_fits = tok.count(&header) <= max;
    if out.text.is_empty() {
        assert!(!header_fits, "empty text although the header fits");
        assert!(out.memory_ids.is_empty() && out.token_count == 0);
        return;
    }
    assert!(out.text.starts_with("## "), "text does not start with the header");
    let mut counted = 0;
    for line in out.text.lines().filter(|l| l.starts_with("### ") && !l.starts_with("### Current Task")) {
        let n = line.rsplit_once('(').and_then(|(_, n)| n.strip_suffix(')')).and_then(|n| n.parse::<usize>().ok());
        counted += n.unwrap_or_else(|| panic!("a section heading without a count: {line:?}"));
    }
    assert_eq!(counted, out.memory_ids.len(), "section counts do not add up to the items shown");
    assert!(header_fits, "a text although the header does not fit");
    assert!(out.text.starts_with(&header), "text does not start with the header");
    if req.memories.is_empty() && req.task.is_empty() {
        assert_eq!(out.text, header, "no candidates: the header alone");
    }
}

fuzz_target!(|input: Input| {
    let memories: Vec<Memory> = input.memories.into_iter().take(64).map(memory).collect();
    let max_tokens = usize::from(input.max_tokens) * (1 + usize::from(input.scale % 4));
    let tokenizer = if input.o200k { Tokenizer::O200kBase } else { Tokenizer::Cl100kBase };
    let req = ContextRequest {
        title: input.title,
        memories: &memories,
        relevance: input.relevance.as_deref(),
        max_tokens,
        tokenizer,
        task: &input.task,
    };
    let out = assemble(&req);
    check(&req, &out);
});
