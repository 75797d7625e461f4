//! Input limits and the checks that enforce them. Every violation is an
//! [`Error::InvalidArgument`] naming the field (with its index in a batch) and the rule.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::time::Timestamp;
use crate::types::*;

/// Input limits. The defaults are the documented ones; the server can change them (see README).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_content_bytes: usize,
    pub max_tags: usize,
    pub max_tag_chars: usize,
    pub max_metadata_bytes: usize,
    pub max_id_chars: usize,
    pub max_batch: usize,
    pub max_page: u32,
    pub max_name_chars: usize,
    pub max_description_bytes: usize,
    pub max_event_type_chars: usize,
    pub max_context_tokens: u32,
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_content_bytes: 64 * 1024,
            max_tags: 32,
            max_tag_chars: 64,
            max_metadata_bytes: 16 * 1024,
            max_id_chars: 128,
            max_batch: 1_000,
            max_page: 1_000,
            max_name_chars: 128,
            max_description_bytes: 4 * 1024,
            max_event_type_chars: 64,
            max_context_tokens: 200_000,
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Default page size of listings.
pub const DEFAULT_PAGE: u32 = 100;
/// Default token budget of context assembly.
pub const DEFAULT_CONTEXT_TOKENS: u32 = 4_000;

/// Largest `offset` of a memory listing (Memtrace compatibility): rows skipped are still read, so
/// deeper pages are reached with page tokens.
pub const MAX_OFFSET: u32 = 10_000;

/// Deepest nesting of a metadata or config JSON document: the object itself is level 1, and each
/// object or array inside it one more. The same on gRPC and REST. As a `google.protobuf.Struct`
/// each object level costs three message levels (Struct, map entry, Value) and each array level
/// two; standard decoders (prost, Python's protobuf) stop at 100 message levels, so 24 JSON levels
/// (at most ~75 message levels) still decode inside every response that carries the document.
pub const MAX_JSON_DEPTH: usize = 24;

/// The tag alphabet: ASCII letters, digits and `_ . : / = @ + -`.
pub fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.:/=@+-".contains(c)
}

/// The event type alphabet: ASCII letters, digits and `_ . : -`.
pub fn is_event_type_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.:-".contains(c)
}

fn at(prefix: &str, field: &str) -> String {
    if prefix.is_empty() { field.to_owned() } else { format!("{prefix}.{field}") }
}

impl Limits {
    /// Validates a new memory and applies its defaults: memory type, event type and importance,
    /// tags de-duplicated and sorted, reasoning moved into metadata, an empty dedup key meaning
    /// "derived". `prefix` locates it in the request (e.g. `memories[3]`).
    pub fn check_new_memory(&self, prefix: &str, m: NewMemory, now: Timestamp) -> Result<ValidMemory> {
        let f = |name: &str| at(prefix, name);
        let NewMemory {
            agent,
            session_id,
            memory_type,
            mut event_type,
            content,
            mut metadata,
            mut tags,
            importance,
            parent_id,
            dedup_key,
            time,
            step,
            position,
            expires_at,
            scope,
            reasoning,
            embedding,
        } = m;
        if agent.trim().is_empty() {
            return Err(Error::invalid(f("agent"), "is required (an agent id or name)"));
        }
        self.check_name(&f("agent"), &agent)?;
        if let Some(session_id) = &session_id {
            self.check_id(&f("session_id"), session_id)?;
        }
        if event_type.is_empty() {
            event_type = DEFAULT_EVENT_TYPE.to_owned();
        }
        self.check_event_type(&f("event_type"), &event_type)?;
        self.check_content(&f("content"), &content)?;
        if let Some(reasoning) = reasoning.filter(|r| !r.is_empty()) {
            check_text(&f("reasoning"), &reasoning)?;
            metadata.insert(REASONING_KEY.to_owned(), Value::String(reasoning));
        }
        self.check_metadata(&f("metadata"), &metadata)?;
        self.normalize_tags(&f("tags"), &mut tags)?;
        if let Some(importance) = importance {
            check_importance(&f("importance"), importance)?;
        }
        if let Some(parent_id) = &parent_id {
            self.check_id(&f("parent_id"), parent_id)?;
        }
        let dedup_key = dedup_key.filter(|key| !key.is_empty());
        if let Some(key) = &dedup_key {
            self.check_id(&f("dedup_key"), key)?;
        }
        // A memory of a step is identified by it, not by its content alone.
        let dedup_key = match (dedup_key, step) {
            (None, Some(step)) => {
                Some(step_dedup_key(memory_type.unwrap_or(MemoryType::Episodic), step, &event_type, &content))
            }
            (key, _) => key,
        };
        if let Some(position) = &position {
            let finite = position.x.is_finite() && position.y.is_finite() && position.z.is_none_or(f64::is_finite);
            if !finite {
                return Err(Error::invalid(f("position"), "coordinates must be finite numbers"));
            }
        }
        if let Some(expires_at) = expires_at
            && expires_at <= now
        {
            return Err(Error::invalid(f("expires_at"), "must be in the future"));
        }
        let embedding = match embedding.is_empty() {
            true => None,
            false => Some(check_embedding(&f("embedding"), embedding)?),
        };
        let scope = scope.filter(|s| !s.is_empty());
        if let Some(scope) = &scope {
            self.check_id(&f("scope"), scope)?;
        }
        Ok(ValidMemory {
            agent: AgentRef::parse(&agent),
            session_id,
            memory_type: memory_type.unwrap_or(MemoryType::Episodic),
            event_type,
            content,
            metadata,
            tags,
            importance: importance.unwrap_or(DEFAULT_IMPORTANCE),
            parent_id,
            dedup_key,
            time,
            step,
            position,
            expires_at,
            scope,
            embedding,
            embed: false,
        })
    }

    pub fn check_batch_size(&self, field: &str, len: usize) -> Result<()> {
        if len == 0 {
            return Err(Error::invalid(field, "must hold at least one item"));
        }
        if len > self.max_batch {
            return Err(Error::invalid(field, format!("holds {len} items; at most {} per batch", self.max_batch)));
        }
        Ok(())
    }

    pub fn check_content(&self, field: &str, content: &str) -> Result<()> {
        if content.trim().is_empty() {
            return Err(Error::invalid(field, "is required and must not be blank"));
        }
        if content.len() > self.max_content_bytes {
            return Err(Error::invalid(
                field,
                format!("is {} bytes; at most {} bytes", content.len(), self.max_content_bytes),
            ));
        }
        check_text(field, content)
    }

    /// An id given by a client (session, parent, memory, key, dedup key): 1..=max chars, printable.
    pub fn check_id(&self, field: &str, id: &str) -> Result<()> {
        if id.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        let chars = id.chars().count();
        if chars > self.max_id_chars {
            return Err(Error::invalid(field, format!("is {chars} characters; at most {}", self.max_id_chars)));
        }
        if id.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters"));
        }
        Ok(())
    }

    /// An agent or org name: 1..=max chars, no control characters, not blank.
    pub fn check_name(&self, field: &str, name: &str) -> Result<()> {
        if name.trim().is_empty() {
            return Err(Error::invalid(field, "is required and must not be blank"));
        }
        let chars = name.chars().count();
        if chars > self.max_name_chars {
            return Err(Error::invalid(field, format!("is {chars} characters; at most {}", self.max_name_chars)));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters"));
        }
        Ok(())
    }

    pub fn check_description(&self, field: &str, text: &str) -> Result<()> {
        if text.len() > self.max_description_bytes {
            return Err(Error::invalid(
                field,
                format!("is {} bytes; at most {}", text.len(), self.max_description_bytes),
            ));
        }
        check_text(field, text)
    }

    pub fn check_event_type(&self, field: &str, event_type: &str) -> Result<()> {
        if event_type.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        if event_type.len() > self.max_event_type_chars {
            return Err(Error::invalid(
                field,
                format!("is {} characters; at most {}", event_type.len(), self.max_event_type_chars),
            ));
        }
        if let Some(bad) = event_type.chars().find(|c| !is_event_type_char(*c)) {
            return Err(Error::invalid(
                field,
                format!("{bad:?} is not allowed; use ASCII letters, digits and _ . : -"),
            ));
        }
        Ok(())
    }

    /// Checks each tag; de-duplicates and sorts the list (tags are a set).
    pub fn normalize_tags(&self, field: &str, tags: &mut Vec<String>) -> Result<()> {
        for (i, tag) in tags.iter().enumerate() {
            self.check_tag(&format!("{field}[{i}]"), tag)?;
        }
        tags.sort_unstable();
        tags.dedup();
        if tags.len() > self.max_tags {
            return Err(Error::invalid(field, format!("has {} tags; at most {}", tags.len(), self.max_tags)));
        }
        Ok(())
    }

    pub fn check_tag(&self, field: &str, tag: &str) -> Result<()> {
        if tag.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        let chars = tag.chars().count();
        if chars > self.max_tag_chars {
            return Err(Error::invalid(field, format!("is {chars} characters; at most {}", self.max_tag_chars)));
        }
        if let Some(bad) = tag.chars().find(|c| !is_tag_char(*c)) {
            return Err(Error::invalid(
                field,
                format!("{bad:?} is not allowed in a tag; use ASCII letters, digits and _ . : / = @ + -"),
            ));
        }
        Ok(())
    }

    /// A JSON object nested at most [`MAX_JSON_DEPTH`] levels, of at most `max_metadata_bytes` when
    /// serialized, without NUL characters.
    pub fn check_metadata(&self, field: &str, metadata: &Metadata) -> Result<()> {
        let depth = json_depth(metadata);
        if depth > MAX_JSON_DEPTH {
            return Err(Error::invalid(
                field,
                format!("is nested {depth} levels deep (objects and arrays); at most {MAX_JSON_DEPTH}"),
            ));
        }
        let json = serde_json::to_string(metadata).map_err(|e| Error::invalid(field, e.to_string()))?;
        if json.len() > self.max_metadata_bytes {
            return Err(Error::invalid(
                field,
                format!("is {} bytes as JSON; at most {}", json.len(), self.max_metadata_bytes),
            ));
        }
        if json.contains("\\u0000") {
            return Err(Error::invalid(field, "must not contain NUL characters"));
        }
        Ok(())
    }

    /// A page size: 0 means the default; above the maximum is an error (not a silent clamp).
    pub fn page_size(&self, field: &str, requested: u32) -> Result<u32> {
        match requested {
            0 => Ok(DEFAULT_PAGE.min(self.max_page)),
            n if n > self.max_page => Err(Error::invalid(field, format!("is {n}; at most {}", self.max_page))),
            n => Ok(n),
        }
    }

    pub fn context_tokens(&self, field: &str, requested: u32) -> Result<u32> {
        match requested {
            0 => Ok(DEFAULT_CONTEXT_TOKENS),
            n if n > self.max_context_tokens => {
                Err(Error::invalid(field, format!("is {n}; at most {}", self.max_context_tokens)))
            }
            n => Ok(n),
        }
    }

    /// The needle of a `content_contains` filter; empty text means no filter.
    pub fn needle(&self, field: &str, text: &str) -> Result<Option<Needle>> {
        if text.is_empty() {
            return Ok(None);
        }
        if text.len() > 1024 {
            return Err(Error::invalid(field, "is longer than 1024 bytes"));
        }
        check_text(field, text)?;
        Ok(Some(Needle::new(text)))
    }

    /// Checks the filter's strings and normalizes its tag lists.
    pub fn check_filter(&self, prefix: &str, filter: &mut MemoryFilter) -> Result<()> {
        let f = |name: &str| at(prefix, name);
        if let Some(agent) = &filter.agent {
            self.check_name(&f("agent"), agent.as_str())?;
        }
        if let Some(session_id) = &filter.session_id {
            self.check_id(&f("session_id"), session_id)?;
        }
        if let Some(scope) = &filter.scope {
            self.check_id(&f("scope"), scope)?;
        }
        check_attributes(&f("attributes"), &mut filter.attributes)?;
        if let Some(near) = &filter.near {
            let finite = near.x.is_finite() && near.y.is_finite() && near.z.is_none_or(f64::is_finite);
            if !finite {
                return Err(Error::invalid(f("near"), "coordinates must be finite numbers"));
            }
            if !(near.radius.is_finite() && near.radius > 0.0) {
                return Err(Error::invalid(f("near.radius"), "must be a finite number above 0"));
            }
        }
        for (i, event_type) in filter.event_types.iter().enumerate() {
            self.check_event_type(&format!("{}[{i}]", f("event_types")), event_type)?;
        }
        self.normalize_tags(&f("tags"), &mut filter.tags_all)?;
        self.normalize_tags(&f("any_tags"), &mut filter.tags_any)?;
        if let Some(min) = filter.min_importance {
            check_importance(&f("min_importance"), min)?;
        }
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && since > until
        {
            return Err(Error::invalid(f("since"), "is after until"));
        }
        if let (Some(min), Some(max)) = (filter.step_min, filter.step_max)
            && min > max
        {
            return Err(Error::invalid(f("step_min"), "is greater than step_max"));
        }
        Ok(())
    }
}

/// The dedup key of a memory with a step and no key of its own. A state is identified by its
/// agent, step and type: `state@<step>` (two identical states at consecutive steps are two states;
/// the same step's state sent twice is one). Other types add their event type and content (two
/// different actions of one step are two): `<type>@<step>:<32 hex of sha256(event_type|content)>`.
pub fn step_dedup_key(memory_type: MemoryType, step: i64, event_type: &str, content: &str) -> String {
    if memory_type == MemoryType::State {
        return format!("state@{step}");
    }
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(event_type.as_bytes());
    hasher.update(b"|");
    hasher.update(content.as_bytes());
    format!("{}@{step}:{}", memory_type.as_str(), hex::encode(&hasher.finalize()[..16]))
}

/// Most attributes in one filter.
pub const MAX_ATTRIBUTES: usize = 16;

/// An attribute key: what a JSON path may name without quoting.
pub fn is_attribute_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Attribute filters: at most [`MAX_ATTRIBUTES`], keys of `[A-Za-z0-9_-]` (1..=64), values strings
/// (at most 1024 bytes), finite numbers or booleans; sorted by key, each key once.
pub fn check_attributes(field: &str, attributes: &mut [(String, Value)]) -> Result<()> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(Error::invalid(field, format!("holds {} keys; at most {MAX_ATTRIBUTES}", attributes.len())));
    }
    for (key, value) in attributes.iter() {
        if !is_attribute_key(key) {
            return Err(Error::invalid(field, format!("key {key:?}: 1 to 64 characters of A-Z a-z 0-9 _ -")));
        }
        let at = format!("{field}.{key}");
        match value {
            Value::String(s) if s.len() > 1024 => return Err(Error::invalid(at, "is longer than 1024 bytes")),
            Value::String(s) => check_text(&at, s)?,
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => {}
            Value::Bool(_) => {}
            _ => return Err(Error::invalid(at, "must be a string, a finite number or a boolean")),
        }
    }
    attributes.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = attributes.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::invalid(field, format!("key {:?} is given twice", w[0].0)));
    }
    Ok(())
}

pub fn check_importance(field: &str, importance: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&importance) {
        return Err(Error::invalid(field, format!("is {importance}; must be between 0 and 1")));
    }
    Ok(())
}

/// Text every backend can store: no NUL characters (PostgreSQL rejects them).
/// Most dimensions of a vector (an embedding, a query embedding).
pub const MAX_EMBEDDING_DIM: usize = 4096;

/// A vector: 1..=[`MAX_EMBEDDING_DIM`] finite values, not all zero (cosine needs a length).
pub fn check_embedding(field: &str, vector: Vec<f32>) -> Result<Vec<f32>> {
    if vector.is_empty() || vector.len() > MAX_EMBEDDING_DIM {
        return Err(Error::invalid(field, format!("has {} dimensions; 1 to {MAX_EMBEDDING_DIM}", vector.len())));
    }
    if let Some(i) = vector.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(format!("{field}[{i}]"), "must be a finite number"));
    }
    if vector.iter().all(|v| *v == 0.0) {
        return Err(Error::invalid(field, "must not be all zeros"));
    }
    Ok(vector)
}

pub fn check_text(field: &str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// The nesting depth of an object: 1 for `{}`, one more for each object or array inside
/// (iterative, so a hostile document cannot exhaust the stack).
fn json_depth(object: &Metadata) -> usize {
    let mut deepest = 1;
    let mut stack: Vec<(&serde_json::Value, usize)> = object.values().map(|v| (v, 2)).collect();
    while let Some((value, level)) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                deepest = deepest.max(level);
                stack.extend(map.values().map(|v| (v, level + 1)));
            }
            serde_json::Value::Array(items) => {
                deepest = deepest.max(level);
                stack.extend(items.iter().map(|v| (v, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::now;

    fn memory() -> NewMemory {
        NewMemory { agent: "coder".into(), content: "did a thing".into(), ..Default::default() }
    }

    /// `{"l": {"l": … {"l": 1}}}` with `depth` objects, the innermost holding `leaf`.
    fn nested(depth: usize, leaf: serde_json::Value) -> Metadata {
        let mut value = leaf;
        for _ in 1..depth {
            value = serde_json::json!({ "l": value });
        }
        match serde_json::json!({ "l": value }) {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn metadata_depth_is_limited_and_counted_over_objects_and_arrays() {
        let limits = Limits::default();
        assert_eq!(json_depth(&Metadata::new()), 1);
        assert_eq!(json_depth(&nested(1, serde_json::json!(1))), 1);
        assert_eq!(json_depth(&nested(3, serde_json::json!([[1]]))), 5);
        limits.check_metadata("metadata", &nested(MAX_JSON_DEPTH, serde_json::json!(1))).unwrap();
        limits.check_metadata("metadata", &nested(MAX_JSON_DEPTH - 1, serde_json::json!([1]))).unwrap();
        for too_deep in [
            nested(MAX_JSON_DEPTH + 1, serde_json::json!(1)),
            nested(MAX_JSON_DEPTH, serde_json::json!([])),
            nested(MAX_JSON_DEPTH, serde_json::json!({})),
        ] {
            let err = limits.check_metadata("metadata", &too_deep).unwrap_err();
            assert_eq!(field_of(err.clone()), "metadata");
            assert!(err.to_string().contains("at most 24"), "{err}");
        }
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::InvalidArgument { field, .. } => field,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_normalization() {
        let mut m = memory();
        m.tags = vec!["b".into(), "a".into(), "b".into()];
        m.reasoning = Some("because".into());
        let m = Limits::default().check_new_memory("", m, now()).unwrap();
        assert_eq!(m.event_type, "general");
        assert_eq!(m.memory_type, MemoryType::Episodic);
        assert_eq!(m.importance, DEFAULT_IMPORTANCE);
        assert_eq!(m.tags, vec!["a", "b"]);
        assert_eq!(m.metadata["reasoning"], "because");
    }

    #[test]
    fn violations_name_the_field() {
        let limits = Limits::default();
        type Mutation = Box<dyn Fn(&mut NewMemory)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|m| m.content = String::new()), "memories[2].content"),
            (Box::new(|m| m.content = "x".repeat(64 * 1024 + 1)), "memories[2].content"),
            (Box::new(|m| m.tags = vec!["ok".into(), "no space".into()]), "memories[2].tags[1]"),
            (Box::new(|m| m.importance = Some(1.5)), "memories[2].importance"),
            (Box::new(|m| m.importance = Some(f64::NAN)), "memories[2].importance"),
            (Box::new(|m| m.event_type = "has space".into()), "memories[2].event_type"),
            (Box::new(|m| m.agent = " ".into()), "memories[2].agent"),
        ];
        for (mutate, field) in cases {
            let mut m = memory();
            mutate(&mut m);
            assert_eq!(field_of(limits.check_new_memory("memories[2]", m, now()).unwrap_err()), field);
        }
    }

    #[test]
    fn page_size_rules() {
        let limits = Limits::default();
        assert_eq!(limits.page_size("limit", 0).unwrap(), 100);
        assert_eq!(limits.page_size("limit", 1000).unwrap(), 1000);
        assert_eq!(field_of(limits.page_size("limit", 1001).unwrap_err()), "limit");
    }

    #[test]
    fn content_contains_is_lowercased() {
        let needle = Limits::default().needle("filter.content_contains", "ÉCOLE Auth").unwrap();
        assert_eq!(needle.as_ref().map(Needle::as_str), Some("école auth"));
        assert_eq!(Limits::default().needle("filter.content_contains", "").unwrap(), None);
    }
}
