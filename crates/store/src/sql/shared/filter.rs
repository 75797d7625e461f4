//! SQL text built with its parameters, and the one translation of a [`MemoryFilter`] into SQL,
//! shared by listing, counting and both backends.
//!
//! Hand-written rather than sea-query: the statements have a fixed shape, both dialects share the
//! text (only `content_contains` differs, in `dialect`), and the values go to two drivers that
//! each bind our [`Param`] directly.

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::rows::MEMORY_COLUMNS;
use crate::encode::memory_type_code;
use crate::sql::conn::{Backend, Param};
use crate::sql::dialect;

/// SQL text and the parameters its `$n` placeholders name.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self { text: text.to_owned(), params: Vec::new() }
    }

    /// Adds a parameter; returns its placeholder.
    pub(crate) fn param(&mut self, value: impl Into<Param>) -> String {
        self.params.push(value.into());
        format!("${}", self.params.len())
    }

    /// Placeholders of an `IN (…)` list.
    pub(crate) fn list<T: Into<Param>>(&mut self, values: impl IntoIterator<Item = T>) -> String {
        values.into_iter().map(|v| self.param(v)).collect::<Vec<_>>().join(", ")
    }

    /// `column IN (…)` on SQLite, `column = ANY($n)` with one array on PostgreSQL (a plan that
    /// stays an index lookup without planner statistics). Empty lists match nothing.
    pub(crate) fn any_int(&mut self, backend: Backend, column: &str, values: Vec<i64>) -> String {
        match (backend, values.is_empty()) {
            (_, true) => "FALSE".to_owned(),
            (Backend::Sqlite, false) => format!("{column} IN ({})", self.list(values)),
            (Backend::Postgres, false) => format!("{column} = ANY({})", self.param(Param::Ints(values))),
        }
    }

    /// A one-column subquery (`k`) of `keys`: SQLite reads a JSON array parameter with
    /// `json_each`, PostgreSQL unnests one array parameter.
    pub(crate) fn key_rows(&mut self, backend: Backend, keys: &[i64]) -> String {
        match backend {
            Backend::Sqlite => {
                let json = format!("[{}]", keys.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
                format!("SELECT value AS k FROM json_each({})", self.param(json))
            }
            Backend::Postgres => {
                format!("SELECT unnest(CAST({} AS bigint[])) AS k", self.param(Param::Ints(keys.to_vec())))
            }
        }
    }

    /// [`Sql::any_int`] for text values.
    pub(crate) fn any_text(&mut self, backend: Backend, column: &str, values: Vec<String>) -> String {
        match (backend, values.is_empty()) {
            (_, true) => "FALSE".to_owned(),
            (Backend::Sqlite, false) => format!("{column} IN ({})", self.list(values)),
            (Backend::Postgres, false) => format!("{column} = ANY({})", self.param(Param::Texts(values))),
        }
    }

    pub(crate) fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }
}

/// What a memory query returns.
pub(crate) enum Select<'q> {
    /// A page of rows ([`MEMORY_COLUMNS`], or only `m.key, m.metadata` when `metadata_only`),
    /// `limit + 1` of them to tell whether more exist; only among `within` when given.
    Page {
        limit: u32,
        offset: u32,
        order: Order,
        cursor: Option<&'q MemoryCursor>,
        within: Option<&'q [i64]>,
        metadata_only: bool,
    },
    /// `count(*)`.
    Count,
}

/// The statement that lists or counts the memories of `org_key` matching `filter` at `now`.
///
/// With a tag filter it is driven from `memory_tags (tag_key, time, memory_key)` of the first
/// tag, in time order, and looks each memory up by key: a rare tag costs its matches, not a scan of
/// the window. Otherwise from the agent's, the session's or the org's time index. Other tags are
/// point lookups of `memory_tags` by (tag, time, key). A page `within` keys is driven from
/// those keys, each looked up by key, then sorted: it costs the keys, not the window. Agents,
/// sessions and tags are named by id or name inside the statement (one round trip); an unknown
/// one matches nothing.
pub(crate) fn memory_query(
    backend: Backend,
    org_key: i64,
    filter: &MemoryFilter,
    now: Timestamp,
    select: Select<'_>,
) -> Sql {
    let mut sql = Sql::new("SELECT ");
    let org = sql.param(org_key);
    let within = match &select {
        Select::Page { within, .. } => *within,
        Select::Count => None,
    };
    let by_step = matches!(select, Select::Page { order, .. } if order.by_step());
    let by_distance = matches!(select, Select::Page { order, .. } if order.by_distance());
    let by_tag = if within.is_some() || by_step || by_distance { None } else { filter.tags_all.first() };
    let (time, key) = if by_tag.is_some() { ("t.time", "t.memory_key") } else { ("m.time", "m.key") };
    // The sort column: the time, or the step for the step orders.
    let mut sorted = if by_step { "m.step".to_owned() } else { time.to_owned() };
    let driving = match within {
        // CROSS JOIN: SQLite keeps the left side as the outer loop.
        Some(keys) => format!("({}) w CROSS JOIN ", sql.key_rows(backend, keys)),
        None if by_tag.is_some() => "memory_tags t CROSS JOIN ".to_owned(),
        None => String::new(),
    };
    match select {
        Select::Page { metadata_only, .. } => {
            sql.push(if metadata_only { "m.key, m.metadata" } else { MEMORY_COLUMNS });
            sql.push(&format!(" FROM {driving}memories m WHERE "));
        }
        Select::Count => sql.push(&format!("count(*) FROM {driving}memories m WHERE ")),
    }
    if within.is_some() {
        sql.push("m.key = w.k AND ");
    }
    let now = sql.param(to_micros(now));
    // An agent, a session or a tag narrows the query to one org by itself: its key is looked up
    // in the statement with `org_key = $1`, and only the org's memories carry it. Then the org
    // is not tested again: the test would need each row (no index-only counts), and SQLite's
    // planner, which has no statistics, would walk the org's time index instead of the agent's.
    let narrowed = by_tag.is_some() || filter.agent.is_some() || filter.session_id.is_some();
    if !narrowed {
        sql.push(&format!("m.org_key = {org} AND "));
    }
    sql.push(&format!("(m.expires_at IS NULL OR m.expires_at > {now})"));
    if let Some(tag) = by_tag {
        let name = sql.param(tag.as_str());
        sql.push(&format!(
            " AND t.tag_key = (SELECT key FROM tags WHERE org_key = {org} AND name = {name}) AND m.key = t.memory_key"
        ));
    }
    if let Some(agent) = &filter.agent {
        let value = sql.param(agent.as_str());
        let column = super::refs::agent_column(agent);
        sql.push(&format!(" AND m.agent_key = (SELECT key FROM agents WHERE org_key = {org} AND {column} = {value})"));
    }
    if let Some(session_id) = &filter.session_id {
        let value = sql.param(session_id.as_str());
        sql.push(&format!(" AND m.session_key = (SELECT key FROM sessions WHERE org_key = {org} AND id = {value})"));
    }
    if !filter.memory_types.is_empty() {
        let codes = sql.list(filter.memory_types.iter().map(|t| memory_type_code(*t)));
        sql.push(&format!(" AND m.memory_type IN ({codes})"));
    }
    if !filter.exclude_types.is_empty() {
        let codes = sql.list(filter.exclude_types.iter().map(|t| memory_type_code(*t)));
        sql.push(&format!(" AND m.memory_type NOT IN ({codes})"));
    }
    if filter.important_only {
        let decision = sql.param(memory_type_code(MemoryType::Decision));
        let errors = sql.list(ERROR_EVENT_TYPES.iter().copied());
        let high = sql.param(HIGH_IMPORTANCE);
        sql.push(&format!(" AND (m.memory_type = {decision} OR m.event_type IN ({errors}) OR m.importance >= {high})"));
    }
    if !filter.event_types.is_empty() {
        let types = sql.list(filter.event_types.iter().map(String::as_str));
        sql.push(&format!(" AND m.event_type IN ({types})"));
    }
    for (i, tag) in filter.tags_all.iter().enumerate().skip(usize::from(by_tag.is_some())) {
        let name = sql.param(tag.as_str());
        sql.push(&format!(
            " AND EXISTS (SELECT 1 FROM memory_tags t{i} WHERE t{i}.tag_key = \
             (SELECT key FROM tags WHERE org_key = {org} AND name = {name}) AND t{i}.time = m.time AND t{i}.memory_key = m.key)"
        ));
    }
    if !filter.tags_any.is_empty() {
        let names = sql.list(filter.tags_any.iter().map(String::as_str));
        sql.push(&format!(
            " AND EXISTS (SELECT 1 FROM memory_tags ta WHERE ta.tag_key IN \
             (SELECT key FROM tags WHERE org_key = {org} AND name IN ({names})) AND ta.time = m.time AND ta.memory_key = m.key)"
        ));
    }
    if let Some(needle) = &filter.content_contains {
        let value = sql.param(needle.as_str());
        let words = match (backend, needle.words()) {
            (Backend::Postgres, Some(words)) => Some(sql.param(dialect::words_regex(&words))),
            _ => None,
        };
        // A cold memory's content is compressed (`cold`): a page takes it as a candidate and the
        // store tests it once decompressed (`list_memories`); a count leaves it to the
        // caller (`count_memories` lists the cold candidates).
        let test = dialect::content_contains(backend, "m.content", &value, words.as_deref());
        match select {
            Select::Page { .. } => sql.push(&format!(" AND (m.block_key IS NOT NULL OR {test})")),
            Select::Count => sql.push(&format!(" AND m.block_key IS NULL AND {test}")),
        }
    }
    if !filter.tiers.is_empty() {
        let codes = sql.list(filter.tiers.iter().map(|t| t.code()));
        sql.push(&format!(" AND m.tier IN ({codes})"));
    }
    if let Some(min) = filter.min_importance {
        let value = sql.param(min);
        sql.push(&format!(" AND m.importance >= {value}"));
    }
    if let Some(since) = filter.since {
        let value = sql.param(to_micros(since));
        sql.push(&format!(" AND {time} >= {value}"));
    }
    if let Some(until) = filter.until {
        let value = sql.param(to_micros(until));
        sql.push(&format!(" AND {time} < {value}"));
    }
    if let Some(scope) = &filter.scope {
        let value = sql.param(scope.as_str());
        sql.push(&format!(" AND m.scope = {value}"));
    }
    if let Some(near) = &filter.near {
        // A box first (the columns' own comparisons), then the exact distance.
        let (x, y, r) = (sql.param(near.x), sql.param(near.y), sql.param(near.radius));
        sql.push(&format!(" AND m.pos_x BETWEEN {x} - {r} AND {x} + {r} AND m.pos_y BETWEEN {y} - {r} AND {y} + {r}"));
        let dz = match near.z {
            Some(z) => {
                let z = sql.param(z);
                format!(" + (m.pos_z - {z}) * (m.pos_z - {z})")
            }
            None => String::new(),
        };
        if near.z.is_some() {
            sql.push(" AND m.pos_z IS NOT NULL");
        }
        let distance = format!("((m.pos_x - {x}) * (m.pos_x - {x}) + (m.pos_y - {y}) * (m.pos_y - {y}){dz})");
        sql.push(&format!(" AND {distance} <= {r} * {r}"));
        if by_distance {
            sorted = distance;
        }
    }
    for (key, value) in &filter.attributes {
        let text = match value {
            serde_json::Value::String(s) => sql.param(s.as_str()),
            serde_json::Value::Number(n) if backend == Backend::Sqlite => match n.as_i64() {
                Some(i) => sql.param(i),
                None => sql.param(n.as_f64().unwrap_or(f64::NAN)),
            },
            _ => String::new(),
        };
        let json = match backend {
            Backend::Postgres => {
                let mut object = serde_json::Map::new();
                object.insert(key.clone(), value.clone());
                sql.param(Param::Json(serde_json::Value::Object(object)))
            }
            Backend::Sqlite => String::new(),
        };
        sql.push(" AND ");
        sql.push(&dialect::attribute_equals(backend, "m.metadata", key, value, &text, &json));
    }
    if let Some(step_min) = filter.step_min {
        let value = sql.param(step_min);
        sql.push(&format!(" AND m.step >= {value}"));
    }
    if let Some(step_max) = filter.step_max {
        let value = sql.param(step_max);
        sql.push(&format!(" AND m.step <= {value}"));
    }
    if by_step {
        sql.push(" AND m.step IS NOT NULL");
    }
    if let Select::Page { limit, offset, order, cursor, .. } = select {
        let (direction, before) = if order.descending() { ("DESC", "<") } else { ("ASC", ">") };
        if let Some(cursor) = cursor {
            // Nearest first: the cursor carries the squared distance's bits (never negative, so
            // they order like the distances).
            let at =
                if by_distance { sql.param(f64::from_bits(cursor.time_us as u64)) } else { sql.param(cursor.time_us) };
            let last = sql.param(cursor.key);
            sql.push(&format!(" AND ({sorted} {before} {at} OR ({sorted} = {at} AND {key} {before} {last}))"));
        }
        let limit = sql.param(i64::from(limit) + 1);
        let offset = sql.param(i64::from(offset));
        sql.push(&format!(" ORDER BY {sorted} {direction}, {key} {direction} LIMIT {limit} OFFSET {offset}"));
    }
    sql
}
