//! Prompt-context assembly: turns candidate memories into one Markdown block that fits a token
//! budget, counted with a real BPE tokenizer (tiktoken `cl100k_base` or `o200k_base`).
//!
//! This crate does no I/O and knows nothing of gRPC or SQL: the caller fetches and filters the
//! candidates, [`assemble`] only chooses, orders, truncates and renders them.
//!
//! # Output
//!
//! ```text
//! ## Session Context (sess_abc)
//!
//! ### Recent Actions (1)
//! - [2026-02-07T20:15:00.123456Z] page_crawled: Crawled https://example.com [tags: a, b]
//!
//! ### Decisions Made (1)
//! - [2026-02-07T20:16:00.000000Z] decision: Skip pagination — only 2 pages deep
//!   Reasoning: the site is small
//!
//! ### Errors and Failures (1)
//! - [2026-02-07T20:17:00.000000Z] error: Rate limited by target API (429)
//!
//! ### Other (1)
//! - [2026-02-07T20:18:00.000000Z] fact: Customer prefers email
//! ```
//!
//! Each memory goes to exactly one section, the first that matches:
//! *Decisions Made* (memory type `decision`), *Errors and Failures* (an event type in
//! [`ERROR_EVENT_TYPES`], an event type containing `error` or `fail`, or a tag among `error`,
//! `failure`, `test_failure`, `bug`; all ASCII case-insensitive), *Recent Actions* (memory type
//! `episodic` or `action`) and *Other*. Sections come in the order Recent Actions, Decisions,
//! Errors, Other; empty ones are left out; `(N)` is the number of items shown. Inside a section
//! items are newest first (by `time`, then id, descending). Line breaks inside a title, event
//! type, tag, content or reasoning become a space, so one item is one line (two with its
//! `  Reasoning:` line).
//!
//! # Algorithm
//!
//! 1. **Header.** `## {title}` is counted first; if it alone exceeds `max_tokens` the result is
//!    empty (0 tokens). An input without memories yields the header alone.
//! 2. **Priority.** Candidates are sorted (no tokenizing yet) by relevance to the prompt's query
//!    when the caller gives one (higher first), then by tier, then newest first, then higher
//!    importance, then id: tier 0 holds decisions, errors/failures and anything with
//!    importance ≥ 0.7; tier 2 the low-importance routine items (importance < 0.3); tier 1 the
//!    rest. Tier 2 is therefore what a tight budget drops first.
//! 3. **Greedy fill.** Candidates are taken in priority order. Each one considered is rendered
//!    and its lines counted (only considered candidates are ever tokenized). An item whose lines
//!    exceed the per-item cap `max(max_tokens / 4, 32)` is cut to the cap (see below); an item
//!    whose fixed parts alone exceed the cap may use the remaining room instead, and one that
//!    cannot fit even that (e.g. enormous tags) is skipped. A new section also costs its
//!    heading. An item that fits is kept. The first item that does not fit is cut to fill the
//!    remaining room when at least 16 tokens remain, and the scan stops there: everything of
//!    lower priority is omitted without being tokenized, which keeps the cost proportional to
//!    the budget rather than to the number of candidates.
//! 4. **Exact check.** The tokens of a concatenation are not exactly the sum of its parts'
//!    tokens, so the kept items are rendered once and the whole text is counted exactly. While
//!    it exceeds `max_tokens`, the lowest-priority kept items are dropped (enough of them for
//!    their per-line counts to cover the excess) and the text is rendered and counted again. In
//!    practice this loop runs once or twice. The returned `token_count` is the exact count of the
//!    returned text and never exceeds `max_tokens`.
//!
//! # Truncation
//!
//! A long content (or reasoning) keeps its longest prefix that fits, followed by
//! [`TRUNCATION_MARKER`]. The cut point comes from the content's own BPE tokens (the first *k*
//! tokens' bytes), is moved back to a char boundary (and off combining marks, variation
//! selectors and zero-width joiners, so an accented letter or an emoji sequence is not split),
//! then checked by counting the rendered line; it moves back until the line fits. When an item
//! has a reasoning line, the longer of its two lines is cut first. Text far longer than the cap
//! could ever show (more than 32 bytes per allowed token) is pre-cut before being tokenized at
//! all, so a huge memory costs no more than a cap-sized one.

pub mod task;
mod tokenizer;
pub mod window;

use std::borrow::Cow;
use std::cmp::{Ordering, Reverse};
use std::collections::HashSet;

use engram_core::time::format_rfc3339;
use engram_core::{ERROR_EVENT_TYPES, Memory, MemoryType};

pub use tokenizer::Tokenizer;

/// Appended to a content or reasoning that was cut.
pub const TRUNCATION_MARKER: &str = " …[truncated]";

/// The smallest per-item cap, in tokens (the cap is `max(max_tokens / 4, MIN_ITEM_CAP)`).
pub const MIN_ITEM_CAP: usize = 32;

/// The last item that does not fit is cut to fill the room left when at least this many tokens
/// remain.
pub const MIN_FILL_TOKENS: usize = 16;

/// Items at or above this importance are kept before routine items.
pub const HIGH_IMPORTANCE: f64 = engram_core::HIGH_IMPORTANCE;

/// Routine items below this importance are dropped first.
pub const LOW_IMPORTANCE: f64 = 0.3;

/// Tags that put a memory under "Errors and Failures".
pub const ERROR_TAGS: &[&str] = &["error", "failure", "test_failure", "bug"];

/// Text longer than this many bytes per token of the cap is pre-cut before tokenizing.
const PRECUT_BYTES_PER_TOKEN: usize = 32;

/// No item line can cost fewer tokens than this (`- [` + an RFC 3339 time + `] : ` + `\n`), so
/// the scan stops when less room remains.
const MIN_LINE_TOKENS: usize = 8;

const REASONING_PREFIX: &str = "  Reasoning: ";

/// The heading of the working-memory section ([`ContextRequest::task`]).
const TASK_HEADING: &str = "\n### Current Task\n";

/// What to assemble.
#[derive(Debug, Clone)]
pub struct ContextRequest<'a> {
    /// Header text, e.g. `Session Context (sess_abc)` or `Agent Context (agent_x)`.
    pub title: String,
    /// Candidates, newest first, already filtered by the caller.
    pub memories: &'a [Memory],
    /// Relevance of each candidate to the prompt's query (same order as `memories`, higher is
    /// more relevant): when given, it decides the priority before the tiers.
    pub relevance: Option<&'a [f64]>,
    /// The budget: the result's exact token count never exceeds it.
    pub max_tokens: usize,
    pub tokenizer: Tokenizer,
    /// Lines of a "Current Task" section right after the header ([`task::task_lines`]); empty:
    /// none. It takes at most half the budget left after the header, whole lines in order.
    pub task: &'a [String],
}

/// The assembled context.
#[derive(Debug, Clone, PartialEq)]
pub struct AssembledContext {
    /// Markdown.
    pub text: String,
    /// Exactly `tokenizer.count(&text)`, always `<= max_tokens`.
    pub token_count: usize,
    /// Ids of the memories included, in output order.
    pub memory_ids: Vec<String>,
    /// Candidates left out (`memories.len() - memory_ids.len()`).
    pub omitted: usize,
}

/// Assembles the context for `req`; see the crate documentation for the algorithm.
pub fn assemble(req: &ContextRequest<'_>) -> AssembledContext {
    let tok = req.tokenizer;
    let max = req.max_tokens;
    let candidates = req.memories;

    let mut header = format!("## {}\n", one_line(&req.title));
    let mut header_cost = tok.count(&header);
    if header_cost > max {
        return AssembledContext {
            text: String::new(),
            token_count: 0,
            memory_ids: Vec::new(),
            omitted: candidates.len(),
        };
    }
    if !req.task.is_empty() {
        // Line costs add up exactly: each line ends in a line break (see `tokenizer`).
        let budget = (max - header_cost) / 2;
        let mut block = String::from(TASK_HEADING);
        let mut cost = tok.count(TASK_HEADING);
        let mut lines = 0;
        for line in req.task {
            let line = format!("- {}\n", one_line(line));
            let line_cost = tok.count(&line);
            if cost + line_cost > budget {
                break;
            }
            block.push_str(&line);
            cost += line_cost;
            lines += 1;
        }
        if lines > 0 {
            header.push_str(&block);
            header_cost = tok.count(&header);
        }
    }

    // Priority order, without tokenizing anything.
    let mut order: Vec<(usize, Section, u8)> = candidates
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let section = Section::of(m);
            (i, section, tier(m, section))
        })
        .collect();
    let relevance = |i: usize| req.relevance.and_then(|r| r.get(i)).copied().unwrap_or(0.0);
    order.sort_unstable_by(|a, b| {
        let (ma, mb) = (&candidates[a.0], &candidates[b.0]);
        relevance(b.0)
            .total_cmp(&relevance(a.0))
            .then_with(|| a.2.cmp(&b.2))
            .then_with(|| newest_first(ma, mb))
            .then_with(|| mb.importance.total_cmp(&ma.importance))
            .then_with(|| a.0.cmp(&b.0))
    });

    // Greedy fill in priority order; `items` stays in priority order.
    let cap = (max / 4).max(MIN_ITEM_CAP);
    let precut = cap.saturating_mul(PRECUT_BYTES_PER_TOKEN);
    let mut used = header_cost;
    let mut opened = [false; Section::ALL.len()];
    let mut items: Vec<Item<'_>> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for &(i, section, _) in &order {
        let memory = &candidates[i];
        let heading_cost = if opened[section as usize] { 0 } else { tok.count(&section.heading(10)) };
        let room = max.saturating_sub(used + heading_cost);
        if room < MIN_LINE_TOKENS {
            break;
        }
        if !seen.insert(memory.id.as_str()) {
            continue; // the same memory twice: show it once
        }
        let mut item = Item::new(memory, section, precut, tok);
        if item.cost() > cap && !item.fit(tok, cap) {
            // Its fixed parts (time, event type, tags, a reasoning line) alone exceed the cap: a
            // decision or failure must not be lost to the cap, so let it use what room is left.
            item = Item::new(memory, section, precut, tok);
            if item.cost() > room && !item.fit(tok, room) {
                continue; // cannot be shown at all (e.g. enormous tags)
            }
        }
        if item.cost() <= room {
            used += heading_cost + item.cost();
            opened[section as usize] = true;
            items.push(item);
        } else {
            if room >= MIN_FILL_TOKENS && item.fit(tok, room) {
                items.push(item);
            }
            break;
        }
    }

    // Output order: by section, newest first inside one.
    let mut out_order: Vec<usize> = (0..items.len()).collect();
    out_order.sort_by(|&a, &b| {
        let (ia, ib) = (&items[a], &items[b]);
        ia.section.cmp(&ib.section).then_with(|| newest_first(ia.memory, ib.memory)).then_with(|| a.cmp(&b))
    });

    // Exact check: drop the lowest-priority items until the real count fits.
    let mut keep = items.len();
    loop {
        let (text, memory_ids) = render(&header, &items, &out_order, keep);
        let token_count = tok.count(&text);
        if token_count <= max {
            let omitted = candidates.len() - memory_ids.len();
            return AssembledContext { text, token_count, memory_ids, omitted };
        }
        // With nothing kept the text is the header, which fits, so `keep > 0` here.
        let excess = token_count - max;
        let mut freed = 0;
        while keep > 0 && freed < excess {
            keep -= 1;
            freed += items[keep].cost();
        }
    }
}

/// Renders the header and `items[..keep]` in `out_order`.
fn render(header: &str, items: &[Item<'_>], out_order: &[usize], keep: usize) -> (String, Vec<String>) {
    let mut counts = [0usize; Section::ALL.len()];
    let mut len = header.len();
    for item in &items[..keep] {
        counts[item.section as usize] += 1;
        len += item.len_hint();
    }
    let mut text = String::with_capacity(len + 128);
    text.push_str(header);
    let mut ids = Vec::with_capacity(keep);
    let mut current: Option<Section> = None;
    for &i in out_order.iter().filter(|&&i| i < keep) {
        let item = &items[i];
        if current != Some(item.section) {
            current = Some(item.section);
            text.push_str(&item.section.heading(counts[item.section as usize]));
        }
        item.push_to(&mut text);
        ids.push(item.memory.id.clone());
    }
    (text, ids)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    RecentActions,
    Decisions,
    Errors,
    Other,
}

impl Section {
    const ALL: [Section; 4] = [Self::RecentActions, Self::Decisions, Self::Errors, Self::Other];

    fn title(self) -> &'static str {
        match self {
            Self::RecentActions => "Recent Actions",
            Self::Decisions => "Decisions Made",
            Self::Errors => "Errors and Failures",
            Self::Other => "Other",
        }
    }

    /// The heading block: a blank line, then `### Title (n)`.
    fn heading(self, n: usize) -> String {
        format!("\n### {} ({n})\n", self.title())
    }

    fn of(m: &Memory) -> Self {
        if m.memory_type == MemoryType::Decision {
            Self::Decisions
        } else if is_error(m) {
            Self::Errors
        } else if matches!(m.memory_type, MemoryType::Episodic | MemoryType::Action) {
            Self::RecentActions
        } else {
            Self::Other
        }
    }
}

fn is_error(m: &Memory) -> bool {
    let ev = m.event_type.as_str();
    ERROR_EVENT_TYPES.iter().any(|e| ev.eq_ignore_ascii_case(e))
        || contains_ignore_ascii_case(ev, "error")
        || contains_ignore_ascii_case(ev, "fail")
        || m.tags.iter().any(|t| ERROR_TAGS.iter().any(|e| t.eq_ignore_ascii_case(e)))
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// 0: decisions, errors, important items; 1: routine; 2: low-importance routine.
fn tier(m: &Memory, section: Section) -> u8 {
    if matches!(section, Section::Decisions | Section::Errors) || m.importance >= HIGH_IMPORTANCE {
        0
    } else if m.importance < LOW_IMPORTANCE {
        2
    } else {
        1
    }
}

fn newest_first(a: &Memory, b: &Memory) -> Ordering {
    (Reverse(a.time), Reverse(&a.id)).cmp(&(Reverse(b.time), Reverse(&b.id)))
}

/// One memory, rendered: `{head}{content}{tail}` and, for a reasoning,
/// `  Reasoning: {reasoning}\n`.
struct Item<'m> {
    memory: &'m Memory,
    section: Section,
    /// `- [time] event_type: `
    head: String,
    content: Part,
    /// ` [tags: a, b]\n` or `\n`.
    tail: String,
    reasoning: Option<Part>,
    /// Tokens of the first line and of the reasoning line.
    costs: (usize, usize),
}

impl<'m> Item<'m> {
    fn new(memory: &'m Memory, section: Section, precut: usize, tok: Tokenizer) -> Self {
        let head = format!("- [{}] {}: ", format_rfc3339(memory.time), one_line(&memory.event_type));
        let mut tail = String::new();
        if !memory.tags.is_empty() {
            tail.push_str(" [tags: ");
            for (i, tag) in memory.tags.iter().enumerate() {
                if i > 0 {
                    tail.push_str(", ");
                }
                tail.push_str(&one_line(tag));
            }
            tail.push(']');
        }
        tail.push('\n');
        let reasoning = match (section, memory.reasoning()) {
            (Section::Decisions, Some(r)) if !r.trim().is_empty() => Some(Part::new(r, precut)),
            _ => None,
        };
        let mut item =
            Item { memory, section, head, content: Part::new(&memory.content, precut), tail, reasoning, costs: (0, 0) };
        let mut buf = String::new();
        item.costs.0 = tok.count(item.line1(&mut buf));
        if let Some(line2) = item.line2(&mut buf) {
            item.costs.1 = tok.count(line2);
        }
        item
    }

    fn cost(&self) -> usize {
        self.costs.0 + self.costs.1
    }

    fn len_hint(&self) -> usize {
        let reasoning = self.reasoning.as_ref().map_or(0, |r| REASONING_PREFIX.len() + r.len_hint() + 1);
        self.head.len() + self.content.len_hint() + self.tail.len() + reasoning
    }

    fn line1<'b>(&self, buf: &'b mut String) -> &'b str {
        buf.clear();
        buf.push_str(&self.head);
        self.content.push_to(buf);
        buf.push_str(&self.tail);
        buf
    }

    fn line2<'b>(&self, buf: &'b mut String) -> Option<&'b str> {
        let reasoning = self.reasoning.as_ref()?;
        buf.clear();
        buf.push_str(REASONING_PREFIX);
        reasoning.push_to(buf);
        buf.push('\n');
        Some(buf)
    }

    fn push_to(&self, out: &mut String) {
        out.push_str(&self.head);
        self.content.push_to(out);
        out.push_str(&self.tail);
        if let Some(reasoning) = &self.reasoning {
            out.push_str(REASONING_PREFIX);
            reasoning.push_to(out);
            out.push('\n');
        }
    }

    /// Cuts the content (and reasoning) so the item costs at most `budget` tokens. `false` when
    /// it cannot (the fixed parts alone are too long); the item is then unusable.
    fn fit(&mut self, tok: Tokenizer, budget: usize) -> bool {
        if self.cost() <= budget {
            return true;
        }
        let (c1, c2) = self.costs;
        let (t1, t2) = if self.reasoning.is_none() {
            (Some(budget), None)
        } else if c2 <= budget / 2 {
            (Some(budget - c2), None)
        } else if c1 <= budget / 2 {
            (None, Some(budget - c1))
        } else {
            (Some(budget - budget / 2), Some(budget / 2))
        };
        if let Some(t1) = t1 {
            match self.content.cut_to(tok, &self.head, &self.tail, t1) {
                Some(cost) => self.costs.0 = cost,
                None => return false,
            }
        }
        if let (Some(t2), Some(reasoning)) = (t2, self.reasoning.as_mut()) {
            match reasoning.cut_to(tok, REASONING_PREFIX, "\n", t2) {
                Some(cost) => self.costs.1 = cost,
                None => return false,
            }
        }
        self.cost() <= budget
    }
}

/// A cuttable text: one line, possibly pre-cut, shown up to `cut` followed by the marker.
struct Part {
    text: String,
    /// `Some(b)`: shown as `text[..b]` + [`TRUNCATION_MARKER`].
    cut: Option<usize>,
}

impl Part {
    fn new(raw: &str, precut: usize) -> Self {
        if raw.len() > precut {
            let text = one_line(&raw[..cut_point(raw, precut)]).into_owned();
            let cut = Some(text.len());
            Part { text, cut }
        } else {
            Part { text: one_line(raw).into_owned(), cut: None }
        }
    }

    fn shown(&self) -> &str {
        &self.text[..self.cut.unwrap_or(self.text.len())]
    }

    fn len_hint(&self) -> usize {
        self.shown().len() + if self.cut.is_some() { TRUNCATION_MARKER.len() } else { 0 }
    }

    fn push_to(&self, out: &mut String) {
        out.push_str(self.shown());
        if self.cut.is_some() {
            out.push_str(TRUNCATION_MARKER);
        }
    }

    /// Cuts so that `{before}{shown}{marker}{after}` costs at most `budget` tokens; returns that
    /// cost, or `None` when even an empty prefix does not fit.
    fn cut_to(&mut self, tok: Tokenizer, before: &str, after: &str, budget: usize) -> Option<usize> {
        let mut buf = String::with_capacity(before.len() + TRUNCATION_MARKER.len() + after.len());
        let mut line = |shown: &str| {
            buf.clear();
            buf.push_str(before);
            buf.push_str(shown);
            buf.push_str(TRUNCATION_MARKER);
            buf.push_str(after);
            tok.count(&buf)
        };
        let fixed = line("");
        if fixed > budget {
            return None;
        }
        let source = self.shown();
        let bpe = tok.bpe();
        let tokens = bpe.encode_ordinary(source);
        let mut k = tokens.len().min(budget - fixed);
        loop {
            let bytes =
                if k == tokens.len() { source.len() } else { bpe.decode_bytes(&tokens[..k]).map_or(0, |b| b.len()) };
            let cut = cut_point(source, bytes);
            let cost = if cut == 0 { fixed } else { line(&source[..cut]) };
            if cost <= budget {
                self.cut = Some(cut);
                return Some(cost);
            }
            // `cost > budget >= fixed` implies `cut > 0`, hence `k > 0`.
            k -= k.min((cost - budget).max(1));
        }
    }
}

/// The largest char boundary `<= at` that does not separate a character from the combining
/// marks, variation selectors or zero-width joiners that follow it.
fn cut_point(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    let mut cut = (0..=at).rev().find(|&b| s.is_char_boundary(b)).unwrap_or(0);
    while cut > 0 {
        let next_extends = s[cut..].chars().next().is_some_and(extends_previous);
        let prev_joins = s[..cut].ends_with('\u{200D}');
        if !(next_extends || prev_joins) {
            break;
        }
        cut = s[..cut].char_indices().next_back().map_or(0, |(b, _)| b);
    }
    cut
}

/// Characters that belong to the character before them (a light approximation of Unicode's
/// grapheme `Extend`: combining marks, variation selectors, ZWJ, emoji skin-tone modifiers).
fn extends_previous(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{0483}'..='\u{0489}'
        | '\u{0591}'..='\u{05BD}'
        | '\u{0610}'..='\u{061A}'
        | '\u{064B}'..='\u{065F}'
        | '\u{0900}'..='\u{0903}'
        | '\u{093A}'..='\u{094F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{200C}'..='\u{200D}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{302A}'..='\u{302F}'
        | '\u{3099}'..='\u{309A}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0020}'..='\u{E007F}'
        | '\u{E0100}'..='\u{E01EF}')
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `s` with every line break (`\r\n` counting as one) replaced by a space.
fn one_line(s: &str) -> Cow<'_, str> {
    if !s.contains(is_line_break) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            chars.next();
        }
        out.push(if is_line_break(c) { ' ' } else { c });
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests;
