//! The bottom layer: one connection type over the two drivers, so every operation is written once.
//!
//! - SQLite runs on rusqlite, on the store's own threads (one writer, N readers). An operation is
//!   an `async fn` over [`Conn`] whose awaits complete at once on SQLite: the thread polls it to
//!   the end in one go (`now_or_never`), so a request crosses threads once, not once per statement
//!   and row as with sqlx-sqlite (measured: bench/README.md, "store log").
//! - PostgreSQL runs on sqlx, on the async runtime, awaiting the server.
//!
//! SQL text is shared: placeholders are written `$1`, `$2`… (PostgreSQL's form) and rewritten to
//! SQLite's `?1`, `?2`… (same numbers) when prepared. Statements are prepared once per connection
//! and cached by both drivers.

use engram_core::{Error, Result};

pub(crate) mod param;
pub(crate) mod postgres;
pub(crate) mod sqlite;
pub(crate) mod threads;

pub(crate) use param::{Param, params};

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(Error::invalid("database_url", "must start with sqlite: or postgres://"))
        }
    }

    /// The backend's name in traces (OpenTelemetry's `db.system`).
    pub fn system(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgresql",
        }
    }
}

/// A connection of either backend, lent to an operation for its duration.
pub(crate) enum Conn<'c> {
    Sqlite(&'c mut rusqlite::Connection),
    Postgres(&'c mut sea_orm::sqlx::PgConnection),
}

/// One row of a result, read by column index.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r sea_orm::sqlx::postgres::PgRow),
}

impl Row<'_> {
    pub(crate) fn i64(&self, i: usize) -> Result<i64> {
        self.opt_i64(i)?.ok_or_else(|| Error::internal(format!("column {i} is NULL")))
    }

    pub(crate) fn opt_i64(&self, i: usize) -> Result<Option<i64>> {
        match self {
            Row::Sqlite(row) => row.get(i).map_err(sqlite::error),
            Row::Postgres(row) => postgres::opt_i64(row, i),
        }
    }

    pub(crate) fn f64(&self, i: usize) -> Result<f64> {
        self.opt_f64(i)?.ok_or_else(|| Error::internal(format!("column {i} is NULL")))
    }

    pub(crate) fn opt_f64(&self, i: usize) -> Result<Option<f64>> {
        match self {
            Row::Sqlite(row) => row.get(i).map_err(sqlite::error),
            Row::Postgres(row) => postgres::get(row, i),
        }
    }

    pub(crate) fn str(&self, i: usize) -> Result<&str> {
        self.opt_str(i)?.ok_or_else(|| Error::internal(format!("column {i} is NULL")))
    }

    pub(crate) fn opt_str(&self, i: usize) -> Result<Option<&str>> {
        match self {
            Row::Sqlite(row) => row.get_ref(i).and_then(|v| Ok(v.as_str_or_null()?)).map_err(sqlite::error),
            Row::Postgres(row) => postgres::get(row, i),
        }
    }

    /// A BLOB (SQLite) or BYTEA (PostgreSQL) column.
    pub(crate) fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        match self {
            Row::Sqlite(row) => row.get(i).map_err(sqlite::error),
            Row::Postgres(row) => postgres::get(row, i),
        }
    }

    pub(crate) fn string(&self, i: usize) -> Result<String> {
        self.str(i).map(str::to_owned)
    }

    pub(crate) fn opt_string(&self, i: usize) -> Result<Option<String>> {
        self.opt_str(i).map(|s| s.map(str::to_owned))
    }

    /// A JSON object column (metadata, config); `{}` is read without parsing.
    pub(crate) fn object(&self, i: usize) -> Result<serde_json::Map<String, serde_json::Value>> {
        match self {
            Row::Sqlite(row) => {
                let text = row.get_ref(i).and_then(|v| Ok(v.as_str()?)).map_err(sqlite::error)?;
                if text == "{}" {
                    return Ok(serde_json::Map::new());
                }
                serde_json::from_str(text).map_err(|e| Error::internal(format!("stored JSON in column {i}: {e}")))
            }
            Row::Postgres(row) => postgres::json_as(row, i),
        }
    }

    /// A JSON array of strings column (tags); `[]` is read without parsing.
    pub(crate) fn strings(&self, i: usize) -> Result<Vec<String>> {
        match self {
            Row::Sqlite(row) => {
                let text = row.get_ref(i).and_then(|v| Ok(v.as_str()?)).map_err(sqlite::error)?;
                if let Some(strings) = plain_strings(text) {
                    return Ok(strings);
                }
                serde_json::from_str(text).map_err(|e| Error::internal(format!("stored JSON in column {i}: {e}")))
            }
            Row::Postgres(row) => postgres::json_as(row, i),
        }
    }
}

impl Conn<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs a statement; returns the rows it changed.
    pub(crate) async fn execute(&mut self, sql: &str, params: Vec<Param>) -> Result<u64> {
        match self {
            Conn::Sqlite(conn) => sqlite::execute(conn, sql, &params),
            Conn::Postgres(conn) => postgres::execute(conn, sql, params).await,
        }
    }

    /// Runs a query and maps every row.
    pub(crate) async fn query<T: Send>(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        mut map: impl FnMut(&Row<'_>) -> Result<T> + Send,
    ) -> Result<Vec<T>> {
        match self {
            Conn::Sqlite(conn) => sqlite::query(conn, sql, &params, |row| map(&Row::Sqlite(row))),
            Conn::Postgres(conn) => postgres::query(conn, sql, params, |row| map(&Row::Postgres(row))).await,
        }
    }

    /// The first row, if any.
    pub(crate) async fn query_one<T: Send>(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        map: impl FnMut(&Row<'_>) -> Result<T> + Send,
    ) -> Result<Option<T>> {
        Ok(self.query(sql, params, map).await?.into_iter().next())
    }

    /// A query of one integer (a count, a key); 0 when it returns no row.
    pub(crate) async fn query_i64(&mut self, sql: &str, params: Vec<Param>) -> Result<i64> {
        Ok(self.query_one(sql, params, |r| r.opt_i64(0)).await?.flatten().unwrap_or(0))
    }

    /// Runs statements without parameters (transaction control, savepoints).
    pub(crate) async fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(conn) => conn.execute_batch(sql).map_err(sqlite::error),
            Conn::Postgres(conn) => postgres::batch(conn, sql).await,
        }
    }
}

/// A JSON array of strings without escapes (tags always are: their alphabet has no `"` or `\\`),
/// split without a JSON parser; None for anything else.
fn plain_strings(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    if inner.is_empty() {
        return Some(Vec::new());
    }
    if inner.contains('\\') {
        return None;
    }
    let inner = inner.strip_prefix('"')?.strip_suffix('"')?;
    let mut strings = Vec::with_capacity(inner.matches("\",\"").count() + 1);
    for item in inner.split("\",\"") {
        if item.contains('"') {
            return None;
        }
        strings.push(item.to_owned());
    }
    Some(strings)
}

/// `$1, $2, …` from `first`: the placeholders of an `IN (…)` list of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::plain_strings;

    #[test]
    fn plain_string_arrays_split_like_json() {
        for text in [r#"[]"#, r#"["a"]"#, r#"["file:auth.go","repo:x","env:prod"]"#, r#"["a,b","c"]"#] {
            let parsed: Vec<String> = serde_json::from_str(text).unwrap();
            assert_eq!(plain_strings(text), Some(parsed), "{text}");
        }
        for text in [r#"["a\"b"]"#, r#"["a", "b"]"#, r#"[1]"#, "", r#"["a"]x"#] {
            assert_eq!(plain_strings(text), None, "{text}");
        }
    }
}
