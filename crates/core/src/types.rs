//! Domain types shared by every surface and every store backend.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::time::Timestamp;

/// A JSON object (metadata, agent config, session metadata).
pub type Metadata = serde_json::Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemoryType {
    Episodic,
    Decision,
    Entity,
    Session,
    Semantic,
    State,
    Action,
    Interaction,
}

impl MemoryType {
    pub const ALL: [MemoryType; 8] = [
        Self::Episodic,
        Self::Decision,
        Self::Entity,
        Self::Session,
        Self::Semantic,
        Self::State,
        Self::Action,
        Self::Interaction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Episodic => "episodic",
            Self::Decision => "decision",
            Self::Entity => "entity",
            Self::Session => "session",
            Self::Semantic => "semantic",
            Self::State => "state",
            Self::Action => "action",
            Self::Interaction => "interaction",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "{s:?} is not a memory type (episodic, decision, entity, session, semantic, state, action, interaction)"
                ),
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub x: f64,
    pub y: f64,
    pub z: Option<f64>,
}

/// A radius around a point: memories whose position lies within it (Euclidean distance, inclusive).
/// With `z`, only memories with a `z` match and the distance is 3-D; without, it is over x and y.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub x: f64,
    pub y: f64,
    pub z: Option<f64>,
    pub radius: f64,
}

impl Near {
    /// Whether a memory at `position` (if any) lies within the radius.
    pub fn admits(&self, position: Option<&Position>) -> bool {
        let Some(p) = position else { return false };
        let (dx, dy) = (p.x - self.x, p.y - self.y);
        let dz = match (self.z, p.z) {
            (Some(z), Some(pz)) => pz - z,
            (Some(_), None) => return false,
            (None, _) => 0.0,
        };
        dx * dx + dy * dy + dz * dz <= self.radius * self.radius
    }
}

/// Which agent a request means: its generated id, or its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AgentRef {
    Id(String),
    Name(String),
}

impl AgentRef {
    /// `agent_` + 24 lowercase hex is an id; anything else a name.
    pub fn parse(s: &str) -> Self {
        if is_agent_id(s) { Self::Id(s.to_owned()) } else { Self::Name(s.to_owned()) }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Id(s) | Self::Name(s) => s,
        }
    }
}

pub fn is_agent_id(s: &str) -> bool {
    s.strip_prefix("agent_")
        .is_some_and(|hex| hex.len() == 24 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    pub id: String,
    pub org_id: String,
    pub agent_id: String,
    pub session_id: Option<String>,
    pub memory_type: MemoryType,
    pub event_type: String,
    pub content: String,
    pub metadata: Metadata,
    pub tags: Vec<String>,
    pub importance: f64,
    pub parent_id: Option<String>,
    pub dedup_key: String,
    pub time: Timestamp,
    pub created_at: Timestamp,
    pub step: Option<i64>,
    pub position: Option<Position>,
    pub expires_at: Option<Timestamp>,
    /// The end user the memory is about (like mem0's `user_id`); None: no scope.
    pub scope: Option<String>,
    /// Reads by GetMemory, ranked hits and context assembly (recorded in batches).
    pub access_count: u64,
    pub last_accessed_at: Option<Timestamp>,
    /// Where it lives ([`crate::lifecycle`]); read the same way in every tier.
    pub tier: Tier,
}

impl Memory {
    /// A decision's reasoning, kept as `metadata.reasoning`.
    pub fn reasoning(&self) -> Option<&str> {
        self.metadata.get(REASONING_KEY).and_then(Value::as_str)
    }
}

/// Where decisions keep their reasoning (Memtrace's convention).
pub const REASONING_KEY: &str = "reasoning";

/// The event type a memory gets when none is given.
pub const DEFAULT_EVENT_TYPE: &str = "general";

/// The importance a memory gets when none is given.
pub const DEFAULT_IMPORTANCE: f64 = 0.5;

/// A memory to create, as a client sent it. [`crate::Limits::check_new_memory`] turns it into a
/// [`ValidMemory`], the only form the store accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewMemory {
    pub agent: String,
    pub session_id: Option<String>,
    pub memory_type: Option<MemoryType>,
    pub event_type: String,
    pub content: String,
    pub metadata: Metadata,
    pub tags: Vec<String>,
    pub importance: Option<f64>,
    pub parent_id: Option<String>,
    pub dedup_key: Option<String>,
    pub time: Option<Timestamp>,
    pub step: Option<i64>,
    pub position: Option<Position>,
    pub expires_at: Option<Timestamp>,
    /// The end user the memory is about (empty or None: no scope).
    pub scope: Option<String>,
    /// Stored as `metadata.reasoning`.
    pub reasoning: Option<String>,
    /// The client's own embedding of the memory (empty: none). All vectors of an org have the
    /// dimension of its first one.
    pub embedding: Vec<f32>,
}

/// A new memory that passed [`crate::Limits::check_new_memory`]: defaults applied (memory type,
/// event type, importance), tags a sorted set, the reasoning folded into `metadata`, `dedup_key`
/// absent or non-empty, `expires_at` in the future of the write's `now`. Only validation builds
/// one (`non_exhaustive` keeps struct literals out of other crates).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ValidMemory {
    pub agent: AgentRef,
    pub session_id: Option<String>,
    pub memory_type: MemoryType,
    pub event_type: String,
    pub content: String,
    pub metadata: Metadata,
    pub tags: Vec<String>,
    pub importance: f64,
    pub parent_id: Option<String>,
    /// A client's key; None means derived ([`derived_dedup_key`]).
    pub dedup_key: Option<String>,
    /// None means the time of the write.
    pub time: Option<Timestamp>,
    pub step: Option<i64>,
    pub position: Option<Position>,
    pub expires_at: Option<Timestamp>,
    /// The end user it is about; None: no scope (an empty one is none).
    pub scope: Option<String>,
    /// A client's vector: finite, not all zero, at most [`crate::validate::MAX_EMBEDDING_DIM`].
    pub embedding: Option<Vec<f32>>,
    /// Without a client vector: queue the memory for the server's embedder (set by the domain
    /// when the server has one; validation leaves it false).
    pub embed: bool,
}

/// Memtrace's automatic dedup key: hex(sha256(agent_id|event_type|first 200 bytes of content))[..32].
pub fn derived_dedup_key(agent_id: &str, event_type: &str, content: &str) -> String {
    use sha2::Digest;
    let head = &content.as_bytes()[..content.len().min(200)];
    let mut hasher = sha2::Sha256::new();
    hasher.update(agent_id.as_bytes());
    hasher.update(b"|");
    hasher.update(event_type.as_bytes());
    hasher.update(b"|");
    hasher.update(head);
    let digest = hasher.finalize();
    // The first 16 bytes as 32 lowercase hex digits (a table, not `hex`'s char iterator: this runs
    // for every memory read whose key is derived).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(32);
    for byte in &digest[..16] {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    key
}

/// What happened to one memory of a write.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per item and consumed at once
pub enum AddOutcome {
    Created(Memory),
    Duplicate { existing_id: String },
}

/// The order of a memory listing: by time (newest or oldest first), by step (only memories
/// with a step; a cursor then carries the step where it carries a time otherwise), or nearest
/// first to the filter's `near` point (a cursor carries the squared distance's f64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Desc,
    Asc,
    StepAsc,
    StepDesc,
    Nearest,
}

impl Order {
    pub fn by_step(self) -> bool {
        matches!(self, Order::StepAsc | Order::StepDesc)
    }

    pub fn by_distance(self) -> bool {
        self == Order::Nearest
    }

    /// Whether the listing runs from the largest value to the smallest.
    pub fn descending(self) -> bool {
        matches!(self, Order::Desc | Order::StepDesc)
    }
}

/// A memory filter. Strings are exact; the needle of `content_contains` is a [`Needle`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryFilter {
    pub agent: Option<AgentRef>,
    pub session_id: Option<String>,
    pub memory_types: Vec<MemoryType>,
    /// Types left out (the REST surface hides types Memtrace does not know unless asked).
    pub exclude_types: Vec<MemoryType>,
    pub event_types: Vec<String>,
    pub tags_all: Vec<String>,
    pub tags_any: Vec<String>,
    pub content_contains: Option<Needle>,
    pub min_importance: Option<f64>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub step_min: Option<i64>,
    pub step_max: Option<i64>,
    /// Only memories of this scope (the end user they are about).
    pub scope: Option<String>,
    /// Equality on top-level keys of the metadata (a simulation memory's structured contents),
    /// all at once: `[("action_type", "trade"), ("outcome", "success")]`. Values are strings,
    /// numbers or booleans; sorted by key after validation.
    pub attributes: Vec<(String, Value)>,
    /// Only memories whose position lies within a radius.
    pub near: Option<Near>,
    /// Only memories in these tiers (empty: every tier).
    pub tiers: Vec<Tier>,
    /// Only what context assembly keeps first: decisions, error event types ([`ERROR_EVENT_TYPES`])
    /// and importance ≥ [`HIGH_IMPORTANCE`].
    pub important_only: bool,
}

/// The canonical text of an attribute (a top-level metadata key and a string, number or boolean
/// value) as indexes store it: numbers by value (`5` and `5.0` are one), each type apart (`"5"` is
/// not `5`). None for other values (null, arrays, objects), which attribute filters never match.
pub fn attribute_term(key: &str, value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(format!("{key}\u{1f}s{s}")),
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(|f| format!("{key}\u{1f}n{f}")),
        Value::Bool(b) => Some(format!("{key}\u{1f}b{b}")),
        _ => None,
    }
}

/// Whether `metadata` has `key` equal to `value` (by [`attribute_term`]'s rule).
pub fn attribute_matches(metadata: &Metadata, key: &str, value: &Value) -> bool {
    metadata.get(key).is_some_and(|found| {
        attribute_term(key, found).is_some() && attribute_term(key, found) == attribute_term(key, value)
    })
}

/// The text of a `content_contains` filter, lowercased with Unicode rules. It matches content
/// whose lowercase form contains it, or, when it has several words (split on whitespace), content
/// where those words appear consecutively, each as the start of a word: "Restart Redis" matches
/// "Restarted Redis on prod-web-01" but not "Restart the Redistribution". A needle without
/// whitespace (a URL, a file name) is a plain substring. See [`needle_matches`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle(String);

impl Needle {
    pub fn new(text: &str) -> Self {
        Self(text.to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `content` matches, by the same rule as the store's filter.
    pub fn matches(&self, content: &str) -> bool {
        needle_matches(&content.to_lowercase(), &self.0)
    }

    /// The words of a needle of several words; None for a single word.
    pub fn words(&self) -> Option<Vec<&str>> {
        let words: Vec<&str> = self.0.split_whitespace().collect();
        (words.len() > 1).then_some(words)
    }
}

/// A word character of the `content_contains` rule: alphanumeric (Unicode) or `_`.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The `content_contains` rule on lowercase text and a lowercase needle (see [`Needle`]).
pub fn needle_matches(text: &str, needle: &str) -> bool {
    if text.contains(needle) {
        return true;
    }
    let words: Vec<&str> = needle.split_whitespace().collect();
    if words.len() < 2 {
        return false;
    }
    text.match_indices(words[0]).any(|(start, _)| {
        let starts_word = text[..start].chars().next_back().is_none_or(|c| !is_word_char(c));
        starts_word && words_follow(&text[start + words[0].len()..], &words[1..])
    })
}

/// Whether `rest` (just after a word's start) runs to the end of that word, then whitespace, then
/// `words[0]` at the start of the next word, and so on.
fn words_follow(rest: &str, words: &[&str]) -> bool {
    let Some((word, more)) = words.split_first() else { return true };
    let rest = rest.trim_start_matches(is_word_char);
    let after_space = rest.trim_start_matches(char::is_whitespace);
    if after_space.len() == rest.len() {
        return false;
    }
    after_space.strip_prefix(word).is_some_and(|next| words_follow(next, more))
}

/// Importance from which a memory counts as important (kept first in a tight context budget).
pub const HIGH_IMPORTANCE: f64 = 0.7;

/// A position in a time-ordered listing: the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub time_us: i64,
    pub id: String,
    /// The fingerprint of the listing that made it ([`query_fingerprint`]); 0 until the domain
    /// layer stamps it; the store ignores it.
    pub query: u64,
}

impl Cursor {
    const PREFIX: &'static str = "c2:";

    pub fn encode(&self) -> String {
        encode_token(Self::PREFIX, self.time_us, self.query, &self.id)
    }

    /// Decodes a token and checks it was made for the listing whose fingerprint is `query`.
    pub fn decode(field: &str, token: &str, query: u64) -> Result<Self> {
        let (time_us, id) = decode_token(field, token, Self::PREFIX, query)?;
        if id.is_empty() || id.len() > 128 {
            return Err(malformed_token(field));
        }
        Ok(Self { time_us, id, query })
    }
}

/// A position in a time-ordered listing of memories: the time and the store's key of the last row
/// of the previous page (memories of one time are ordered by key, which follows creation order),
/// and the fingerprint of the query that listed it ([`query_fingerprint`]): a token only continues
/// the query it was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryCursor {
    pub time_us: i64,
    pub key: i64,
    /// 0 until the domain layer stamps it; the store ignores it.
    pub query: u64,
}

impl MemoryCursor {
    const PREFIX: &'static str = "m2:";

    pub fn encode(&self) -> String {
        encode_token(Self::PREFIX, self.time_us, self.query, &self.key.to_string())
    }

    /// Decodes a token and checks it was made for the query whose fingerprint is `query`.
    pub fn decode(field: &str, token: &str, query: u64) -> Result<Self> {
        let (time_us, key) = decode_token(field, token, Self::PREFIX, query)?;
        Ok(Self { time_us, key: key.parse().map_err(|_| malformed_token(field))?, query })
    }
}

/// The fingerprint of a query as the client wrote it: its kind of listing, filter (time specs as
/// given, so a relative `since` pages on) and order. Equal queries have equal fingerprints within
/// one build; a token from another build may be refused (start over).
pub fn query_fingerprint(what: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(what.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

/// A page token: base64 of `<prefix><time>:<query fingerprint, hex>:<last row>`.
fn encode_token(prefix: &str, time_us: i64, query: u64, last: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{prefix}{time_us}:{query:x}:{last}"))
}

/// The time and last row of a token of `prefix`'s kind, made for the query `query`.
fn decode_token(field: &str, token: &str, prefix: &str, query: u64) -> Result<(i64, String)> {
    use base64::Engine;
    let bad = || malformed_token(field);
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = raw.strip_prefix(prefix).ok_or_else(bad)?.splitn(3, ':');
    let (Some(time), Some(made_for), Some(last)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let time_us = time.parse().map_err(|_| bad())?;
    if u64::from_str_radix(made_for, 16).map_err(|_| bad())? != query {
        return Err(Error::invalid(
            field,
            "was made for another query (another listing, filter or order): page with the same request, or start without a token",
        ));
    }
    Ok((time_us, last.to_owned()))
}

fn malformed_token(field: &str) -> Error {
    Error::invalid(field, "malformed page token: pass next_page_token back unchanged")
}

/// A page request over memories.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryQuery {
    pub filter: MemoryFilter,
    pub limit: u32,
    pub order: Order,
    pub cursor: Option<MemoryCursor>,
    pub offset: u32,
    /// Reads only these memories; the filter still applies in full.
    pub within: Option<Within>,
}

/// What an index outside the store (the trigram index of `content_contains`) narrows a listing
/// to: the memories with these store keys, and every memory written after the org's commit
/// sequence number `after_seq` (which that index has not seen yet). The store reads those rows
/// by key instead of walking its time indexes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Within {
    pub keys: Vec<i64>,
    pub after_seq: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemoryPage {
    pub memories: Vec<Memory>,
    /// Set when `has_more`.
    pub next_cursor: Option<MemoryCursor>,
    pub has_more: bool,
}

/// A change to a memory; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryPatch {
    pub importance: Option<f64>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Metadata>,
    /// `Some(None)` clears the expiry.
    pub expires_at: Option<Option<Timestamp>>,
}

/// Which memories DeleteMemories removes (all given fields apply).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteFilter {
    pub agent: Option<AgentRef>,
    pub session_id: Option<String>,
    pub memory_types: Vec<MemoryType>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub description: String,
    pub config: Metadata,
    pub created_at: Timestamp,
    pub last_active_at: Option<Timestamp>,
}

/// What deleting an agent removed with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentDeletion {
    pub sessions: u64,
    pub memories: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAgent {
    pub name: String,
    pub description: String,
    pub config: Metadata,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentStats {
    pub agent_id: String,
    pub memory_count: u64,
    pub memories_24h: u64,
    pub errors_24h: u64,
    pub session_count: u64,
    pub active_sessions: u64,
    pub last_active_at: Option<Timestamp>,
    pub memory_types: Vec<(MemoryType, u64)>,
    /// Live memories per tier.
    pub tiers: TierCounts,
}

/// Event types counted as errors (stats, and the "Errors and failures" context section).
pub const ERROR_EVENT_TYPES: &[&str] = &["error", "test_failure", "failure", "exception", "crash"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Active,
    Closed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Closed => "closed",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self> {
        match s {
            "active" => Ok(Self::Active),
            "closed" => Ok(Self::Closed),
            _ => Err(Error::invalid(field, format!("{s:?} is not a session status (active, closed)"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub org_id: String,
    pub agent_id: String,
    pub status: SessionStatus,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataMode {
    Merge,
    Replace,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionPatch {
    pub status: Option<SessionStatus>,
    pub metadata: Option<(Metadata, MetadataMode)>,
}

/// A page over agents or sessions, ordered by creation (id breaks ties).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

/// Memory statistics of an org (GetMemoryStatistics): live memories (expired ones not counted)
/// in total, per type and per agent, and the range of steps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoryStatistics {
    pub total: u64,
    pub by_type: Vec<(MemoryType, u64)>,
    /// Agents with at least one memory, by name.
    pub agents: Vec<AgentMemoryStatistics>,
    pub oldest_step: Option<i64>,
    pub newest_step: Option<i64>,
    pub tiers: TierCounts,
    /// Content bytes of the cold tier before and after compression.
    pub cold_bytes_before: u64,
    pub cold_bytes_after: u64,
}

/// Memories per tier ([`Tier`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TierCounts {
    pub hot: u64,
    pub warm: u64,
    pub cold: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentMemoryStatistics {
    pub agent_id: String,
    pub name: String,
    pub total: u64,
    pub by_type: Vec<(MemoryType, u64)>,
    pub oldest_step: Option<i64>,
    pub newest_step: Option<i64>,
    pub tiers: TierCounts,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Write,
    Admin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub permissions: Vec<Permission>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    /// ADMIN implies READ and WRITE; READ and WRITE are independent (an ingest-only key is WRITE).
    pub fn allows(&self, needed: Permission) -> bool {
        self.permissions.iter().any(|p| *p == needed || *p == Permission::Admin)
    }
}

/// Who is calling: resolved from an API key (or `--no-auth`).
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub org_id: String,
    pub key_id: Option<String>,
    pub permissions: Vec<Permission>,
}

impl Principal {
    pub fn allows(&self, needed: Permission) -> bool {
        self.permissions.iter().any(|p| *p == needed || *p == Permission::Admin)
    }

    /// Admin of the operator org: may administer every org.
    pub fn is_operator(&self) -> bool {
        self.org_id == crate::ids::DEFAULT_ORG_ID && self.allows(Permission::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_dedup_key_is_memtraces() {
        use sha2::Digest;
        let content = "é".repeat(150); // 300 bytes: only the first 200 count
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"agent_0123|note|");
        hasher.update(&content.as_bytes()[..200]);
        let expected = hex::encode(hasher.finalize())[..32].to_owned();
        assert_eq!(derived_dedup_key("agent_0123", "note", &content), expected);
        assert_eq!(derived_dedup_key("a", "b", "c").len(), 32);
    }
}

/// Where a memory lives. Every tier is read the same way (full detail); they differ in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Tier {
    /// Recent or often used: full detail (where every new memory starts).
    #[default]
    Hot,
    /// Full detail, not recently used.
    Warm,
    /// Old and routine: content stored compressed.
    Cold,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Hot, Tier::Warm, Tier::Cold];

    /// The stored code (`memories.tier`).
    pub fn code(self) -> i64 {
        match self {
            Tier::Hot => 0,
            Tier::Warm => 1,
            Tier::Cold => 2,
        }
    }

    pub fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(Tier::Hot),
            1 => Ok(Tier::Warm),
            2 => Ok(Tier::Cold),
            _ => Err(Error::internal(format!("unknown tier code {code}"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }

    /// `hot`/`warm`/`cold`, or the product docs' `stm`/`im`/`ltm`.
    pub fn parse(field: &str, s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hot" | "stm" => Ok(Tier::Hot),
            "warm" | "im" => Ok(Tier::Warm),
            "cold" | "ltm" => Ok(Tier::Cold),
            other => {
                Err(Error::invalid(field, format!("unknown tier {other:?}: use hot, warm or cold (stm, im, ltm)")))
            }
        }
    }
}
