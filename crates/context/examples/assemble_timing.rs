//! Times `assemble` on 2,000 memories of ~200 bytes into 4,000 tokens, per tokenizer (the
//! in-process part of BuildContext; `make bench` measures the whole RPC).
//!
//! Run: `cargo run --release -p engram-context --example assemble_timing`

use engram_context::{ContextRequest, Tokenizer, assemble};
use engram_core::{Memory, MemoryType};

fn main() {
    let now = chrono::Utc::now();
    let kinds = [MemoryType::Episodic, MemoryType::Action, MemoryType::Decision, MemoryType::Semantic];
    let memories: Vec<Memory> = (0..2000usize)
        .map(|i| {
            let mut content = format!(
                "Crawled https://example.com/catalog/page/{i} — found {} product pages, {} with prices in EUR; ",
                i % 7,
                i % 5
            );
            while content.len() < 200 {
                content.push_str("next link followed, ");
            }
            let time = now - chrono::Duration::seconds(i as i64);
            Memory {
                id: format!("mem_{i:05}"),
                org_id: "org_default".to_owned(),
                agent_id: "agent_x".to_owned(),
                session_id: Some("sess_abc".to_owned()),
                memory_type: kinds[i % 4],
                event_type: if i % 37 == 0 { "error" } else { "page_crawled" }.to_owned(),
                content,
                metadata: Default::default(),
                tags: vec!["crawl".to_owned(), "catalog".to_owned()],
                importance: (i % 10) as f64 / 10.0,
                parent_id: None,
                dedup_key: String::new(),
                time,
                created_at: time,
                step: None,
                position: None,
                expires_at: None,
                access_count: 0,
                last_accessed_at: None,
                tier: engram_core::lifecycle::Tier::Hot,
                scope: None,
            }
        })
        .collect();
    for tokenizer in Tokenizer::ALL {
        let req = ContextRequest {
            title: "Session Context (sess_abc)".to_owned(),
            memories: &memories,
            relevance: None,
            max_tokens: 4000,
            tokenizer,
            task: &[],
        };
        let _ = assemble(&req); // loads the BPE tables
        let runs = 50u32;
        let start = std::time::Instant::now();
        let mut out = assemble(&req);
        for _ in 1..runs {
            out = assemble(&req);
        }
        let each = start.elapsed() / runs;
        println!(
            "{}: assemble(2000 memories, 4000 tokens) = {each:?} per call; {} included, {} omitted, {} tokens",
            tokenizer.name(),
            out.memory_ids.len(),
            out.omitted,
            out.token_count
        );
    }
}
