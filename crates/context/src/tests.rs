use super::*;

use chrono::{DateTime, Duration, Utc};
use engram_core::time::Timestamp;
use proptest::prelude::*;

fn base_time() -> Timestamp {
    DateTime::parse_from_rfc3339("2026-02-07T20:15:00.123456Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

fn mem(id: &str, memory_type: MemoryType, event_type: &str, content: &str, importance: f64, secs: i64) -> Memory {
    let time = base_time() + Duration::seconds(secs);
    Memory {
        id: id.to_owned(),
        org_id: "org_default".to_owned(),
        agent_id: "agent_x".to_owned(),
        session_id: Some("sess_abc".to_owned()),
        memory_type,
        event_type: event_type.to_owned(),
        content: content.to_owned(),
        metadata: Default::default(),
        tags: Vec::new(),
        importance,
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
}

fn with_tags(mut m: Memory, tags: &[&str]) -> Memory {
    m.tags = tags.iter().map(|t| (*t).to_owned()).collect();
    m
}

fn with_reasoning(mut m: Memory, reasoning: &str) -> Memory {
    m.metadata.insert(engram_core::REASONING_KEY.to_owned(), serde_json::Value::String(reasoning.to_owned()));
    m
}

fn run(title: &str, memories: &[Memory], max_tokens: usize, tokenizer: Tokenizer) -> AssembledContext {
    let out = assemble(&ContextRequest {
        title: title.to_owned(),
        memories,
        relevance: None,
        max_tokens,
        tokenizer,
        task: &[],
    });
    check_invariants(memories, max_tokens, tokenizer, &out);
    out
}

fn check_invariants(memories: &[Memory], max_tokens: usize, tokenizer: Tokenizer, out: &AssembledContext) {
    assert_eq!(out.token_count, tokenizer.count(&out.text), "token_count is exact");
    assert!(out.token_count <= max_tokens, "{} tokens > budget {max_tokens}", out.token_count);
    assert_eq!(out.memory_ids.len() + out.omitted, memories.len());
    let unique: HashSet<&str> = out.memory_ids.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), out.memory_ids.len(), "ids are unique");
    assert!(out.memory_ids.iter().all(|id| memories.iter().any(|m| &m.id == id)), "ids come from the input");
}

/// The shown content of each item line (`- [time] {event}: {content}`), without marker.
fn shown_contents<'t>(text: &'t str, event_type: &str) -> Vec<(&'t str, bool)> {
    let sep = format!("] {event_type}: ");
    text.lines()
        .filter(|l| l.starts_with("- ["))
        .filter_map(|l| l.split_once(&sep).map(|(_, rest)| rest))
        .map(|rest| match rest.strip_suffix(TRUNCATION_MARKER) {
            Some(cut) => (cut, true),
            None => (rest, false),
        })
        .collect()
}

#[test]
fn sections_and_order() {
    let memories = vec![
        mem("m6", MemoryType::Semantic, "fact", "Customer prefers email", 0.5, 60),
        mem("m5", MemoryType::Episodic, "error", "Rate limited by target API (429)", 0.5, 50),
        mem("m4", MemoryType::Decision, "decision", "Skip pagination — only 2 pages deep", 0.5, 40),
        mem("m3", MemoryType::Action, "page_crawled", "Crawled page two", 0.5, 30),
        mem("m2", MemoryType::Episodic, "page_crawled", "Crawled https://example.com", 0.5, 20),
        mem("m1", MemoryType::State, "build", "Build failed", 0.5, 10),
        with_tags(mem("m0", MemoryType::Entity, "note", "Flaky login test", 0.5, 0), &["bug"]),
    ];
    let out = run("Session Context (sess_abc)", &memories, 4000, Tokenizer::Cl100kBase);
    let expected = "\
## Session Context (sess_abc)

### Recent Actions (2)
- [2026-02-07T20:15:30.123456Z] page_crawled: Crawled page two
- [2026-02-07T20:15:20.123456Z] page_crawled: Crawled https://example.com

### Decisions Made (1)
- [2026-02-07T20:15:40.123456Z] decision: Skip pagination — only 2 pages deep

### Errors and Failures (2)
- [2026-02-07T20:15:50.123456Z] error: Rate limited by target API (429)
- [2026-02-07T20:15:00.123456Z] note: Flaky login test [tags: bug]

### Other (2)
- [2026-02-07T20:16:00.123456Z] fact: Customer prefers email
- [2026-02-07T20:15:10.123456Z] build: Build failed
";
    // "Build failed" has event type "build" and no error tag: it is not an error.
    assert_eq!(out.text, expected);
    assert_eq!(out.memory_ids, ["m3", "m2", "m4", "m5", "m0", "m6", "m1"]);
    assert_eq!(out.omitted, 0);
}

#[test]
fn error_detection_rules() {
    let cases = [
        ("exception", &[][..], true),
        ("Test_Failure", &[], true),
        ("upload_error", &[], true),
        ("FAILOVER", &[], true),
        ("note", &["failure"][..], true),
        ("note", &["ERROR"], true),
        ("note", &["errors"], false),
        ("crash", &[], true),
        ("crashed", &[], false),
    ];
    for (event_type, tags, expected) in cases {
        let m = with_tags(mem("m", MemoryType::Semantic, event_type, "x", 0.5, 0), tags);
        assert_eq!(Section::of(&m) == Section::Errors, expected, "{event_type} {tags:?}");
    }
    // A decision stays a decision even with an error tag.
    let d = with_tags(mem("d", MemoryType::Decision, "error", "x", 0.5, 0), &["bug"]);
    assert_eq!(Section::of(&d), Section::Decisions);
}

#[test]
fn decision_reasoning_line() {
    let memories = [
        with_reasoning(
            mem("d1", MemoryType::Decision, "decision", "Skip pagination", 0.9, 0),
            "only 2 pages deep\nand slow",
        ),
        with_reasoning(mem("e1", MemoryType::Episodic, "note", "Not a decision", 0.5, -1), "ignored"),
    ];
    let out = run("Agent Context (agent_x)", &memories, 1000, Tokenizer::Cl100kBase);
    assert!(
        out.text.contains(
            "- [2026-02-07T20:15:00.123456Z] decision: Skip pagination\n  Reasoning: only 2 pages deep and slow\n"
        ),
        "{}",
        out.text
    );
    assert_eq!(out.text.matches("Reasoning:").count(), 1, "only decisions show reasoning");
}

#[test]
fn tags_and_newlines() {
    let memories = [with_tags(
        mem("m1", MemoryType::Episodic, "page_crawled", "line one\nline two\r\nline three", 0.5, 0),
        &["a", "b"],
    )];
    let out = run("Session Context (s)", &memories, 1000, Tokenizer::Cl100kBase);
    assert!(
        out.text.ends_with("- [2026-02-07T20:15:00.123456Z] page_crawled: line one line two line three [tags: a, b]\n"),
        "{}",
        out.text
    );
    let title = run("Evil\ntitle", &[], 100, Tokenizer::Cl100kBase);
    assert_eq!(title.text, "## Evil title\n");
}

#[test]
fn empty_input_and_tiny_budgets() {
    let out = run("Session Context (sess_abc)", &[], 1000, Tokenizer::Cl100kBase);
    assert_eq!(out.text, "## Session Context (sess_abc)\n");
    assert!(out.memory_ids.is_empty());
    assert_eq!(out.omitted, 0);

    let memories = [mem("m1", MemoryType::Decision, "decision", "Use Postgres", 0.9, 0)];
    for max in [0, 1, 2, 5, 9, 10, 12, 20] {
        let out = run("Session Context (sess_abc)", &memories, max, Tokenizer::Cl100kBase);
        if out.text.is_empty() {
            assert_eq!(out.token_count, 0);
            assert_eq!(out.omitted, 1);
        }
    }
    let zero = run("Session Context (sess_abc)", &memories, 0, Tokenizer::O200kBase);
    assert_eq!((zero.text.as_str(), zero.token_count, zero.omitted), ("", 0, 1));
    let header_only = Tokenizer::Cl100kBase.count("## Session Context (sess_abc)\n");
    let out = run("Session Context (sess_abc)", &memories, header_only, Tokenizer::Cl100kBase);
    assert_eq!(out.text, "## Session Context (sess_abc)\n");
}

#[test]
fn tight_budget_keeps_decision_and_error_over_routine() {
    // Forty routine, low-importance items, all newer than the decision and the error.
    let mut memories: Vec<Memory> = (0..40)
        .map(|i| {
            mem(&format!("r{i:02}"), MemoryType::Episodic, "page_crawled", &format!("Crawled page {i}"), 0.2, 100 + i)
        })
        .collect();
    memories.push(mem("d1", MemoryType::Decision, "decision", "Use the sitemap instead of crawling", 0.5, 1));
    memories.push(mem("e1", MemoryType::Episodic, "error", "Rate limited by target API (429)", 0.5, 0));
    memories.push(mem("i1", MemoryType::Semantic, "fact", "The API key expires Friday", 0.8, -1));
    memories.push(mem("n1", MemoryType::Semantic, "fact", "Routine but normal importance", 0.5, -2));
    memories.reverse(); // any input order
    let out = run("Session Context (sess_abc)", &memories, 200, Tokenizer::Cl100kBase);
    for id in ["d1", "e1", "i1", "n1"] {
        assert!(out.memory_ids.iter().any(|m| m == id), "{id} kept:\n{}", out.text);
    }
    assert!(out.omitted > 0 && out.omitted < 40, "{}", out.omitted);
    // The routine items that made it are the newest ones.
    let routine: Vec<&String> = out.memory_ids.iter().filter(|id| id.starts_with('r')).collect();
    assert!(routine.first().is_some_and(|id| *id == "r39"), "{routine:?}");
    // Sections keep their order even though the decision was chosen first.
    let actions = out.text.find("### Recent Actions").unwrap_or(usize::MAX);
    let decisions = out.text.find("### Decisions Made").unwrap_or(usize::MAX);
    assert!(actions < decisions);
}

#[test]
fn truncation_marker_and_item_cap() {
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(200);
    let memories = [
        mem("long", MemoryType::Semantic, "fact", &long, 0.9, 10),
        mem("short", MemoryType::Semantic, "fact", "A short fact", 0.5, 0),
    ];
    let max = 400;
    let out = run("Agent Context (agent_x)", &memories, max, Tokenizer::Cl100kBase);
    assert_eq!(out.memory_ids, ["long", "short"]);
    let line = out.text.lines().find(|l| l.contains(TRUNCATION_MARKER)).unwrap_or_default();
    assert!(line.ends_with(TRUNCATION_MARKER), "{line}");
    assert!(Tokenizer::Cl100kBase.count(&format!("{line}\n")) <= max / 4);
    let shown = shown_contents(&out.text, "fact");
    assert!(shown[0].1 && long.starts_with(shown[0].0) && shown[0].0.len() > 100);

    // The last item that does not fit fills the room left.
    let mut memories: Vec<Memory> =
        (0..10).map(|i| mem(&format!("a{i}"), MemoryType::Semantic, "fact", "A short fact", 0.9, 10 + i)).collect();
    memories.push(mem("b", MemoryType::Semantic, "fact", &long, 0.9, 0));
    let tok = Tokenizer::Cl100kBase;
    let header = tok.count("## Agent Context (agent_x)\n");
    let heading = tok.count("\n### Other (11)\n");
    let line = tok.count("- [2026-02-07T20:15:10.123456Z] fact: A short fact\n");
    let max = header + heading + 10 * line + 30;
    assert!(line <= MIN_ITEM_CAP.max(max / 4));
    let out = run("Agent Context (agent_x)", &memories, max, tok);
    assert_eq!(out.memory_ids.len(), 11, "{}", out.text);
    assert_eq!(out.memory_ids.last().map(String::as_str), Some("b"));
    assert_eq!(out.text.matches(TRUNCATION_MARKER).count(), 1);
    assert!(out.token_count > max - MIN_FILL_TOKENS, "{} of {max}", out.token_count);

    // A long reasoning is cut too.
    let d = with_reasoning(mem("d", MemoryType::Decision, "decision", "Short", 0.9, 0), &long);
    let out = run("Agent Context (agent_x)", &[d], 200, Tokenizer::O200kBase);
    assert!(out.text.contains("decision: Short\n  Reasoning: The quick"), "{}", out.text);
    assert!(out.text.ends_with(&format!("{TRUNCATION_MARKER}\n")));
}

#[test]
fn multibyte_content_is_never_split() {
    let contents = [
        "日本語のテキストは一文字ずつ三バイトで符号化されます。".repeat(40),
        "👩‍👩‍👧‍👦🏳️‍🌈👍🏽🇫🇷".repeat(60),
        "e\u{301}a\u{308}o\u{302}\u{323}n\u{303}".repeat(150),
        "Ünïcödé mixed with ASCII and 中文 and emoji 🎉 ".repeat(50),
        "\u{0915}\u{094D}\u{0937}\u{093F}".repeat(150),
    ];
    let memories: Vec<Memory> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| mem(&format!("m{i}"), MemoryType::Semantic, "note", c, 0.5, -(i as i64)))
        .collect();
    for tokenizer in Tokenizer::ALL {
        for max in [40, 60, 100, 200, 333, 500, 1000] {
            let out = run("Agent Context (agent_x)", &memories, max, tokenizer);
            for (id, (shown, truncated)) in out.memory_ids.iter().zip(shown_contents(&out.text, "note")) {
                let original = &memories.iter().find(|m| &m.id == id).map(|m| m.content.clone()).unwrap_or_default();
                if truncated {
                    assert!(original.starts_with(shown), "{id}: {shown:?}");
                    assert!(original.is_char_boundary(shown.len()));
                    let next = original[shown.len()..].chars().next();
                    assert!(!next.is_some_and(extends_previous), "{id} split before {next:?}");
                    assert!(!shown.ends_with('\u{200D}'), "{id} split after a ZWJ");
                } else {
                    assert_eq!(shown, original);
                }
            }
        }
    }
}

#[test]
fn cut_point_respects_characters() {
    let s = "ae\u{301}👍🏽x";
    let boundaries: Vec<usize> = (0..=s.len()).map(|i| cut_point(s, i)).collect();
    for b in &boundaries {
        assert!(s.is_char_boundary(*b));
    }
    assert_eq!(cut_point(s, 3), 1, "not between e and its accent");
    assert_eq!(cut_point(s, 4), 4);
    assert_eq!(cut_point(s, 5), 4);
    assert_eq!(cut_point(s, 8), 4, "not between the emoji and its skin tone");
    assert_eq!(cut_point(s, 12), 12);
    assert_eq!(cut_point(s, 100), s.len());
}

#[test]
fn tokenizers() {
    assert_eq!(Tokenizer::default(), Tokenizer::Cl100kBase);
    for t in Tokenizer::ALL {
        assert_eq!(Tokenizer::parse(t.name()), Some(t));
    }
    assert_eq!(Tokenizer::parse("o200k_base"), Some(Tokenizer::O200kBase));
    assert_eq!(Tokenizer::parse(""), None);
    assert_eq!(Tokenizer::parse("p50k_base"), None);
    assert_eq!(Tokenizer::Cl100kBase.count(""), 0);
    assert_eq!(Tokenizer::Cl100kBase.count("hello world"), 2);

    let text = "日本語のテキストと Ünïcödé — 🎉 context assembly";
    let (cl, o) = (Tokenizer::Cl100kBase.count(text), Tokenizer::O200kBase.count(text));
    assert_ne!(cl, o);

    let memories = [mem("m1", MemoryType::Semantic, "note", text, 0.5, 0)];
    let a = run("Agent Context (agent_x)", &memories, 1000, Tokenizer::Cl100kBase);
    let b = run("Agent Context (agent_x)", &memories, 1000, Tokenizer::O200kBase);
    assert_eq!(a.text, b.text);
    assert_eq!(b.token_count, Tokenizer::O200kBase.count(&b.text));
    assert_ne!(a.token_count, b.token_count);
}

#[test]
fn duplicate_ids_are_shown_once() {
    let m = mem("m1", MemoryType::Semantic, "note", "same", 0.5, 0);
    let memories = [m.clone(), m];
    let out = run("Agent Context (agent_x)", &memories, 1000, Tokenizer::Cl100kBase);
    assert_eq!(out.memory_ids, ["m1"]);
    assert_eq!(out.omitted, 1);
}

#[test]
fn huge_tags_do_not_block_other_items() {
    let tags = "t".repeat(20_000);
    let memories = [
        with_tags(mem("huge", MemoryType::Decision, "decision", "x", 0.9, 10), &[tags.as_str()]),
        mem("ok", MemoryType::Semantic, "fact", "fine", 0.5, 0),
    ];
    let out = run("Agent Context (agent_x)", &memories, 1000, Tokenizer::Cl100kBase);
    assert_eq!(out.memory_ids, ["ok"]);
}

/// Up to `max_chars` random chars mixing ASCII, accented and combining, CJK, emoji (with
/// modifiers and ZWJ), line breaks and arbitrary non-control scalars.
fn seeded_text(max_chars: usize) -> impl Strategy<Value = String> {
    (any::<u64>(), 0..=max_chars).prop_map(|(seed, len)| {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut text = String::new();
        for _ in 0..len {
            let r = next();
            let pick = |lo: u32, hi: u32| char::from_u32(lo + (r >> 8) as u32 % (hi - lo + 1)).unwrap_or('?');
            let c = match r % 16 {
                0..=5 => pick(0x20, 0x7E),
                6 => pick(0xC0, 0x17F),
                7 => pick(0x300, 0x36F),
                8 | 9 => pick(0x4E00, 0x9FFF),
                10 => pick(0x1F300, 0x1F64F),
                11 => pick(0x1F3FB, 0x1F3FF),
                12 => ['\n', '\r', '\u{2028}', '\u{200D}', '\u{FE0F}', '\t'][(r >> 8) as usize % 6],
                _ => char::from_u32((r >> 8) as u32 % 0x11_0000).filter(|c| !c.is_control()).unwrap_or(' '),
            };
            text.push(c);
        }
        text
    })
}

fn memory_strategy() -> impl Strategy<Value = Memory> {
    // Regex strategies generate slowly in debug builds (a few µs per char), so most long texts
    // come from a seeded generator; `\PC` strings cover the rest.
    let content = prop_oneof![
        3 => seeded_text(2000),
        1 => "\\PC{0,2000}",
        2 => "\\PC{0,300}",
        1 => "[ \n\t]{0,50}",
    ];
    let event_type = prop_oneof![
        prop::sample::select(vec!["general", "error", "test_failure", "decision", "page_crawled", "crash", "Failover"])
            .prop_map(str::to_owned),
        "\\PC{0,16}",
    ];
    let tag = prop_oneof![
        prop::sample::select(vec!["a", "bug", "error", "x y", "标签"]).prop_map(str::to_owned),
        "\\PC{0,12}",
    ];
    (
        prop::sample::select(MemoryType::ALL.to_vec()),
        event_type,
        content,
        0.0f64..=1.0,
        -10_000i64..10_000,
        prop::collection::vec(tag, 0..4),
        prop::option::of(seeded_text(400)),
    )
        .prop_map(|(memory_type, event_type, content, importance, secs, tags, reasoning)| {
            let mut m = Memory { tags, ..mem("", memory_type, &event_type, &content, importance, secs) };
            if let Some(r) = reasoning {
                m = with_reasoning(m, &r);
            }
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn never_exceeds_the_budget(
        mut memories in prop::collection::vec(memory_strategy(), 1..60),
        max_tokens in 0usize..3000,
        tokenizer in prop::sample::select(Tokenizer::ALL.to_vec()),
        title in "\\PC{0,40}",
    ) {
        for (i, m) in memories.iter_mut().enumerate() {
            m.id = format!("mem_{i:03}");
        }
        let out = assemble(&ContextRequest { title, memories: &memories, relevance: None, max_tokens, tokenizer, task: &[] });
        prop_assert_eq!(out.token_count, tokenizer.count(&out.text));
        prop_assert!(out.token_count <= max_tokens);
        prop_assert_eq!(out.memory_ids.len() + out.omitted, memories.len());
        let unique: HashSet<&str> = out.memory_ids.iter().map(String::as_str).collect();
        prop_assert_eq!(unique.len(), out.memory_ids.len());
        prop_assert!(out.memory_ids.iter().all(|id| memories.iter().any(|m| &m.id == id)));
        // One line per item, plus one per reasoning.
        let item_lines = out.text.lines().filter(|l| l.starts_with("- [")).count();
        prop_assert_eq!(item_lines, out.memory_ids.len());
    }
}

/// The "Current Task" block comes right after the header, in whole lines, within half the room.
#[test]
fn current_task_leads_within_half_the_budget() {
    let tokenizer = Tokenizer::default();
    let memories: Vec<Memory> = (0..20)
        .map(|i| mem(&format!("m{i}"), MemoryType::Episodic, "step", &format!("did thing {i}"), 0.5, i))
        .collect();
    let task: Vec<String> = vec![
        "Task: book a flight".into(),
        "Goal: cheapest fare".into(),
        "Scratchpad: ".to_owned() + &"long note ".repeat(200),
    ];
    let request = |max_tokens| ContextRequest {
        title: "Session Context (s)".into(),
        memories: &memories,
        relevance: None,
        max_tokens,
        tokenizer,
        task: &task,
    };
    let out = assemble(&request(400));
    check_invariants(&memories, 400, tokenizer, &out);
    assert!(
        out.text
            .starts_with("## Session Context (s)\n\n### Current Task\n- Task: book a flight\n- Goal: cheapest fare\n"),
        "{}",
        out.text
    );
    assert!(!out.text.contains("long note"), "the line over half the budget is left out");
    assert!(!out.memory_ids.is_empty(), "memories still get the rest");
    // A budget too small for the heading and a line: no task block at all.
    let out = assemble(&request(14));
    assert!(!out.text.contains("Current Task"), "{}", out.text);
    assert!(out.token_count <= 14);
}
