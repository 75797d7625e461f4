//! What differs between the backends, in one place: the `content_contains` test, and the bulk
//! writes of ingest (SQLite: prepared single-row inserts on the writer's connection; PostgreSQL:
//! one COPY per table, keys allocated from the identity sequence first), and the
//! planner settings of ingest on PostgreSQL ([`keyed_plans`]). The advisory locks of PostgreSQL
//! replicas are in `writer`.

use engram_core::Result;

use crate::sql::conn::{Backend, Conn};

mod postgres;
mod row;
mod sqlite;

pub(crate) use row::NewRow;

/// `column` matches the `content_contains` needle ([`engram_core::Needle`]): `param` is bound to
/// the lowercased needle, and `words` (PostgreSQL, a needle of several words) to
/// [`words_regex`]. SQLite: the store's `engram_contains` function. PostgreSQL: `lower()` and
/// the regular expression, whose classes follow the database's LC_CTYPE (use a UTF-8 locale for
/// non-ASCII text).
pub(crate) fn content_contains(backend: Backend, column: &str, param: &str, words: Option<&str>) -> String {
    match (backend, words) {
        (Backend::Sqlite, _) => format!("engram_contains({column}, {param})"),
        (Backend::Postgres, None) => format!("strpos(lower({column}), {param}) > 0"),
        (Backend::Postgres, Some(words)) => {
            format!("(strpos(lower({column}), {param}) > 0 OR lower({column}) ~ {words})")
        }
    }
}

/// The value of a top-level metadata key as SQL (SQLite: the value; PostgreSQL: its text), in
/// the exact form the attribute indexes use: `action_type`, `outcome`, `status` and `other_agent`
/// have one each (`memories_attr_<key>`, migration `m20261206_000001_conversations`), so equality
/// on them reads only the matching memories. `key` is checked (`[A-Za-z0-9_-]`, no quoting needed).
pub(crate) fn attribute_value(backend: Backend, column: &str, key: &str) -> String {
    match backend {
        Backend::Sqlite => format!("json_extract({column}, '$.\"{key}\"')"),
        Backend::Postgres => format!("({column}->>'{key}')"),
    }
}

/// Metadata key `key` equals `value` (a string, number or boolean) and has its JSON type. `text`
/// is bound to the value as SQL text or number (SQLite) / text (PostgreSQL), `json` to
/// `{key: value}` (PostgreSQL containment).
pub(crate) fn attribute_equals(
    backend: Backend,
    column: &str,
    key: &str,
    value: &serde_json::Value,
    text: &str,
    json: &str,
) -> String {
    let extracted = attribute_value(backend, column, key);
    match (backend, value) {
        (Backend::Sqlite, serde_json::Value::String(_)) => {
            format!("({extracted} = {text} AND json_type({column}, '$.\"{key}\"') = 'text')")
        }
        (Backend::Sqlite, serde_json::Value::Bool(b)) => {
            format!("({extracted} IS NOT NULL AND json_type({column}, '$.\"{key}\"') = '{b}')")
        }
        (Backend::Sqlite, _) => {
            format!("({extracted} = {text} AND json_type({column}, '$.\"{key}\"') IN ('integer', 'real'))")
        }
        (Backend::Postgres, serde_json::Value::String(_)) => format!("({extracted} = {text} AND {column} @> {json})"),
        (Backend::Postgres, _) => format!("({extracted} IS NOT NULL AND {column} @> {json})"),
    }
}

/// The PostgreSQL regular expression (ARE) of a needle's words: each at the start of a word, the
/// rest of that word, whitespace, the next.
pub(crate) fn words_regex(words: &[&str]) -> String {
    let escape = |w: &str| {
        w.chars().map(|c| if c.is_alphanumeric() { c.to_string() } else { format!("\\{c}") }).collect::<String>()
    };
    let body: Vec<String> = words.iter().map(|w| escape(w)).collect();
    format!("(^|[^[:alnum:]_]){}", body.join("[[:alnum:]_]*[[:space:]]+"))
}

/// Ingest's lookups (references, dedup hashes) are all by key; planned from statistics, they can
/// go bad: on a fresh PostgreSQL database with no ANALYZE (autovacuum off, or behind a bulk load)
/// the planner takes a growing table for a small one, and a generic plan made while the tables
/// were small stays in the writer connection's statement cache. `keyed_plans(c, true)` makes the
/// rest of the transaction use index scans and nested loops only, each statement planned for its
/// own parameters (`set_config(.., is_local)`); `keyed_plans(c, false)` puts the session's values
/// back for the jobs of the group that follow. The queries keep their join order with `LATERAL
/// (.. OFFSET 0)` where it matters. SQLite plans these lookups by their indexes whatever its
/// statistics (none are gathered): a no-op there.
pub(crate) async fn keyed_plans(conn: &mut Conn<'_>, on: bool) -> Result<()> {
    match conn {
        Conn::Sqlite(_) => Ok(()),
        Conn::Postgres(c) => postgres::keyed_plans(c, on).await,
    }
}

/// `n` new memory keys, increasing, never given before (SQLite: after the AUTOINCREMENT counter,
/// on the writer's connection, the only one that inserts memories; PostgreSQL: from the identity
/// sequence).
pub(crate) async fn allocate_keys(conn: &mut Conn<'_>, n: usize) -> Result<Vec<i64>> {
    match conn {
        Conn::Sqlite(c) => sqlite::allocate_keys(c, n),
        Conn::Postgres(c) => postgres::allocate_keys(c, n).await,
    }
}

/// Moves the memory key allocator past `key` (a memory imported with its own key), so
/// [`allocate_keys`] never gives it (SQLite: the AUTOINCREMENT counter in `sqlite_sequence`;
/// PostgreSQL: the identity sequence; neither goes back).
pub(crate) async fn advance_memory_keys(conn: &mut Conn<'_>, key: i64) -> Result<()> {
    match conn {
        Conn::Sqlite(c) => sqlite::advance_memory_keys(c, key),
        Conn::Postgres(c) => postgres::advance_memory_keys(c, key).await,
    }
}

/// Inserts memory rows (keys from [`allocate_keys`]).
pub(crate) async fn insert_memories(conn: &mut Conn<'_>, rows: &[NewRow<'_>]) -> Result<()> {
    match conn {
        Conn::Sqlite(c) => sqlite::insert_memories(c, rows),
        Conn::Postgres(c) => postgres::insert_memories(c, rows).await,
    }
}

/// Inserts `memory_tags` rows: (tag key, time, memory key).
pub(crate) async fn insert_memory_tags(conn: &mut Conn<'_>, rows: &[(i64, i64, i64)]) -> Result<()> {
    match conn {
        Conn::Sqlite(c) => sqlite::insert_memory_tags(c, rows),
        Conn::Postgres(c) => postgres::insert_memory_tags(c, rows).await,
    }
}

/// Inserts `memory_vectors` rows: (memory key, vector as stored).
pub(crate) async fn insert_vectors(conn: &mut Conn<'_>, rows: &[(i64, Vec<u8>)]) -> Result<()> {
    match conn {
        Conn::Sqlite(c) => sqlite::insert_vectors(c, rows),
        Conn::Postgres(c) => postgres::insert_vectors(c, rows).await,
    }
}

/// Inserts `memory_dedup` rows: (hash, memory key).
pub(crate) async fn insert_dedup(conn: &mut Conn<'_>, rows: &[(i64, i64)]) -> Result<()> {
    match conn {
        Conn::Sqlite(c) => sqlite::insert_dedup(c, rows),
        Conn::Postgres(c) => postgres::insert_dedup(c, rows).await,
    }
}
