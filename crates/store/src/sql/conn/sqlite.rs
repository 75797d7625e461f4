//! SQLite on rusqlite: connections opened with the store's pragmas, and the statement helpers
//! behind [`super::Conn`]. The threads that own the connections are in `threads`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use engram_core::{Error, Result};

use super::param::Param;

/// How a connection is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Reader,
    Writer,
}

/// Where the database file is and how commits are made durable.
#[derive(Debug, Clone)]
pub(crate) struct SqliteConfig {
    pub path: PathBuf,
    /// `synchronous=FULL` (fsync on every commit) or NORMAL (survives a process crash only).
    pub sync_full: bool,
    /// Bytes of the file the reader connections map into memory (`mmap_size`; 0: none).
    pub mmap_bytes: u64,
    /// Bytes of the writer connection's page cache (`cache_size`).
    pub writer_cache_bytes: u64,
}

/// The file of a `sqlite://path?params` URL.
pub(crate) fn path_of_url(url: &str) -> Result<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Err(Error::invalid("database_url", "must name a SQLite file (sqlite://path/to/engram.db)"));
    }
    Ok(PathBuf::from(path))
}

/// Opens a connection with the store's pragmas. Readers keep 8 MiB of page cache; the writer
/// `writer_cache_bytes` (64 MiB by default: the index pages it updates stay in memory) and
/// checkpoints every 32 MiB of WAL.
pub(crate) fn open(config: &SqliteConfig, role: Role) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(&config.path, flags).map_err(|e| open_error(&config.path, e))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(error)?;
    // Plans must not depend on bound values: otherwise SQLite 3.51 re-prepares a statement each
    // time a `LIMIT $n` (or a ranged parameter) is bound again (measured: 7 % of recall's CPU in
    // the parser). The indexes are shaped so the planner needs no values (and no statistics).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(error)?;
    conn.set_prepared_statement_cache_capacity(64);
    let sync = if config.sync_full { "FULL" } else { "NORMAL" };
    let role_pragmas = match role {
        Role::Reader => {
            &format!("PRAGMA cache_size = -8192; PRAGMA query_only = ON; PRAGMA mmap_size = {};", config.mmap_bytes)
        }
        Role::Writer => &format!(
            "PRAGMA cache_size = -{}; PRAGMA wal_autocheckpoint = 8192;",
            (config.writer_cache_bytes >> 10).max(1)
        ),
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA temp_store = MEMORY; \
         PRAGMA foreign_keys = OFF; {role_pragmas}"
    ))
    .map_err(error)?;
    register_functions(&conn)?;
    Ok(conn)
}

/// `engram backup`: copies the SQLite database of `url` to the new file `dest` with SQLite's
/// online backup API, while other processes (a running server) read and write it: the copy is
/// made in one step, inside one read transaction, so it is the database as of one commit (in WAL
/// mode the writer is not blocked meanwhile). Written to `<dest>.partial`, checked with
/// `PRAGMA quick_check`, then renamed to `dest`. Returns the copy's size in bytes.
pub fn backup(url: &str, dest: &Path) -> Result<u64> {
    let source_path = path_of_url(url)?;
    if dest.exists() {
        return Err(Error::invalid("output", format!("{} exists; name a new file", dest.display())));
    }
    let partial = dest.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let source = Connection::open_with_flags(&source_path, flags).map_err(|e| open_error(&source_path, e))?;
    source.busy_timeout(Duration::from_secs(30)).map_err(error)?;
    let copied = (|| {
        let mut copy = Connection::open(&partial).map_err(|e| open_error(&partial, e))?;
        {
            let backup = rusqlite::backup::Backup::new(&source, &mut copy).map_err(error)?;
            // Every page in one step (-1): one read transaction, so one commit's database. A
            // writer holding a lock the step needs makes it BUSY: wait and try again.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                use rusqlite::backup::StepResult;
                match backup.step(-1).map_err(error)? {
                    StepResult::Done => break,
                    StepResult::More | StepResult::Busy | StepResult::Locked
                        if std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => return Err(Error::Unavailable("the database stayed locked for 60 s; try again".into())),
                }
            }
        }
        let check: String = copy.query_row("PRAGMA quick_check", [], |row| row.get(0)).map_err(error)?;
        if check != "ok" {
            return Err(Error::internal(format!("the copy fails its integrity check: {check}")));
        }
        copy.close().map_err(|(_, e)| error(e))?;
        std::fs::rename(&partial, dest)
            .map_err(|e| Error::Unavailable(format!("cannot rename {} to {}: {e}", partial.display(), dest.display())))
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    copied?;
    std::fs::metadata(dest).map(|m| m.len()).map_err(|e| Error::Unavailable(format!("{}: {e}", dest.display())))
}

fn open_error(path: &Path, err: rusqlite::Error) -> Error {
    Error::Unavailable(format!("cannot open the SQLite database {}: {err}", path.display()))
}

/// `engram_contains(text, needle)`: the `content_contains` filter ([`engram_core::Needle`]) on
/// the Unicode lowercase form of `text` and `needle` (already lowercased). SQLite's own `lower()`
/// folds ASCII only.
fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "engram_contains",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text = ctx.get_raw(0).as_str().map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
            let needle = ctx.get_raw(1).as_str().map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
            Ok(contains_lowercase(text, needle))
        },
    )
    .map_err(error)
}

/// Whether `text`, lowercased, matches `needle`; ASCII text contains a one-word needle is
/// tested without allocating.
fn contains_lowercase(text: &str, needle: &str) -> bool {
    if text.is_ascii() && !needle.contains(char::is_whitespace) {
        let (text, needle) = (text.as_bytes(), needle.as_bytes());
        return needle.is_empty()
            || text
                .windows(needle.len())
                .any(|window| window.iter().zip(needle).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    engram_core::needle_matches(&text.to_lowercase(), needle)
}

/// A driver error. Storage failures are internal errors; the message goes to the log.
pub(crate) fn error(err: rusqlite::Error) -> Error {
    Error::Internal(format!("SQLite: {err}"))
}

/// `$1` → `?1`: SQLite's numbered form, so numbers bind exactly as on PostgreSQL.
fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn bind(stmt: &mut rusqlite::CachedStatement<'_>, params: &[Param]) -> Result<()> {
    for (i, param) in params.iter().enumerate() {
        let index = i + 1;
        let bound = match param {
            Param::Int(v) => stmt.raw_bind_parameter(index, v),
            Param::Real(v) => stmt.raw_bind_parameter(index, v),
            Param::Text(v) => stmt.raw_bind_parameter(index, v),
            Param::Json(v) => stmt.raw_bind_parameter(index, v.to_string()),
            Param::Bytes(v) => stmt.raw_bind_parameter(index, v),
            Param::Ints(_) | Param::Texts(_) => return Err(Error::internal("SQLite has no array parameters")),
        };
        bound.map_err(error)?;
    }
    Ok(())
}

pub(super) fn execute(conn: &Connection, sql: &str, params: &[Param]) -> Result<u64> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql)).map_err(error)?;
    bind(&mut stmt, params)?;
    Ok(stmt.raw_execute().map_err(error)? as u64)
}

pub(super) fn query<T>(
    conn: &Connection,
    sql: &str,
    params: &[Param],
    mut map: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql)).map_err(error)?;
    bind(&mut stmt, params)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(error)? {
        out.push(map(row)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered() {
        assert_eq!(sqlite_sql("SELECT $1, $12 WHERE a = '$'"), "SELECT ?1, ?12 WHERE a = '$'");
        assert!(matches!(sqlite_sql("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn contains_folds_unicode_case() {
        assert!(contains_lowercase("Fixed AUTH.go", "auth.go"));
        assert!(contains_lowercase("École ouverte", "école"));
        assert!(!contains_lowercase("Fixed auth", "authx"));
        assert!(contains_lowercase("anything", ""));
    }

    #[test]
    fn urls_name_files() {
        assert_eq!(path_of_url("sqlite:///tmp/x/engram.db?mode=rwc").unwrap(), PathBuf::from("/tmp/x/engram.db"));
        assert_eq!(path_of_url("sqlite://data/engram.db").unwrap(), PathBuf::from("data/engram.db"));
        assert!(path_of_url("sqlite::memory:").is_err());
    }
}
