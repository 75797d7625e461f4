//! PostgreSQL bulk writes: one `COPY … FROM STDIN` per table whatever the number of rows, so a
//! group commit costs a handful of round trips. Keys are taken from the identity sequence first,
//! in one statement, so they follow the rows' (ULID) order. And the planner settings of ingest.

use sea_orm::sqlx::{self, PgConnection};

use engram_core::Result;
use engram_core::time::to_micros;

use super::row::NewRow;
use crate::sql::conn::postgres::error;

/// The planner settings of [`super::keyed_plans`].
/// (`jit`: without statistics the estimates of these lookups are huge, and compiling the plan
/// costs more than running it.)
const KEYED_PLANS: [(&str, &str); 6] = [
    ("enable_seqscan", "off"),
    ("enable_bitmapscan", "off"),
    ("enable_hashjoin", "off"),
    ("enable_mergejoin", "off"),
    ("plan_cache_mode", "force_custom_plan"),
    ("jit", "off"),
];

pub(super) async fn keyed_plans(conn: &mut PgConnection, on: bool) -> Result<()> {
    let names: Vec<&str> = KEYED_PLANS.iter().map(|(name, _)| *name).collect();
    let query = if on {
        let values: Vec<&str> = KEYED_PLANS.iter().map(|(_, value)| *value).collect();
        sqlx::query("SELECT count(set_config(n, v, true)) FROM unnest($1::text[], $2::text[]) AS s(n, v)")
            .bind(names)
            .bind(values)
    } else {
        sqlx::query("SELECT count(set_config(name, reset_val, true)) FROM pg_settings WHERE name = ANY($1::text[])")
            .bind(names)
    };
    query.execute(conn).await.map_err(error)?;
    Ok(())
}

pub(super) async fn allocate_keys(conn: &mut PgConnection, n: usize) -> Result<Vec<i64>> {
    let mut keys: Vec<i64> =
        // The sequence by its name (the migration gives it), a constant of the plan: looked up by
        // pg_get_serial_sequence it was resolved again for every row (6 ms for 1,000 keys, not 0.5).
        sqlx::query_scalar("SELECT nextval('memories_key_seq') FROM generate_series(1, $1)")
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_all(conn)
            .await
            .map_err(error)?;
    keys.sort_unstable();
    Ok(keys)
}

pub(super) async fn advance_memory_keys(conn: &mut PgConnection, key: i64) -> Result<()> {
    // `setval(.., true)`: the next value is one more. Values other connections cached are
    // already below `last_value`, so they never reach `key`.
    sqlx::query("SELECT setval('memories_key_seq', GREATEST($1, (SELECT last_value FROM memories_key_seq)), true)")
        .bind(key)
        .execute(conn)
        .await
        .map_err(error)?;
    Ok(())
}

pub(super) async fn insert_memories(conn: &mut PgConnection, rows: &[NewRow<'_>]) -> Result<()> {
    let mut data = CopyText::with_capacity(rows.len() * 512);
    for r in rows {
        let m = r.memory;
        data.int(r.key);
        data.int(r.org_key);
        data.int(r.agent_key);
        data.opt_int(r.session_key);
        data.int(r.memory_type);
        data.text(&m.event_type);
        data.text(&m.content);
        data.text(r.metadata);
        data.text(r.tags);
        data.real(m.importance);
        data.opt_text(m.parent_id.as_deref());
        data.opt_text(r.dedup_key);
        data.int(r.dedup_hash);
        data.int(to_micros(m.time));
        data.int(to_micros(m.created_at));
        data.opt_int(m.step);
        data.opt_real(m.position.map(|p| p.x));
        data.opt_real(m.position.map(|p| p.y));
        data.opt_real(m.position.and_then(|p| p.z));
        data.opt_int(m.expires_at.map(to_micros));
        data.int(r.seq);
        data.int(r.embedding_state);
        data.opt_text(m.scope.as_deref());
        data.end_row();
    }
    copy_in(
        conn,
        "COPY memories (key, org_key, agent_key, session_key, memory_type, event_type, content, metadata, tags, \
         importance, parent_id, dedup_key, dedup_hash, time, created_at, step, pos_x, pos_y, pos_z, expires_at, seq, \
         embedding_state, scope) FROM STDIN",
        data,
    )
    .await
}

pub(super) async fn insert_memory_tags(conn: &mut PgConnection, rows: &[(i64, i64, i64)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut data = CopyText::with_capacity(rows.len() * 40);
    for (tag_key, time, memory_key) in rows {
        data.int(*tag_key);
        data.int(*time);
        data.int(*memory_key);
        data.end_row();
    }
    copy_in(conn, "COPY memory_tags (tag_key, time, memory_key) FROM STDIN", data).await
}

pub(super) async fn insert_vectors(conn: &mut PgConnection, rows: &[(i64, Vec<u8>)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut data = CopyText::with_capacity(rows.iter().map(|(_, v)| v.len() * 2 + 32).sum());
    for (memory_key, vector) in rows {
        data.int(*memory_key);
        // bytea's hex input form, `\x…` (its backslash escaped for COPY by `text`).
        let mut hex = String::with_capacity(2 + vector.len() * 2);
        hex.push_str("\\x");
        for byte in vector {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        data.text(&hex);
        data.end_row();
    }
    copy_in(conn, "COPY memory_vectors (memory_key, vector) FROM STDIN", data).await
}

/// Rows of new memories only: (hash, new key) pairs never exist yet, so COPY needs no conflict
/// handling.
pub(super) async fn insert_dedup(conn: &mut PgConnection, rows: &[(i64, i64)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut data = CopyText::with_capacity(rows.len() * 32);
    for (hash, memory_key) in rows {
        data.int(*hash);
        data.int(*memory_key);
        data.end_row();
    }
    copy_in(conn, "COPY memory_dedup (hash, memory_key) FROM STDIN", data).await
}

/// Runs a `COPY … FROM STDIN` with `data` (one message; sqlx splits past 1 GiB). If sending fails,
/// the copy is dropped, which makes sqlx abort it; the group's transaction then fails as a whole.
async fn copy_in(conn: &mut PgConnection, statement: &str, data: CopyText) -> Result<()> {
    let mut copy = conn.copy_in_raw(statement).await.map_err(error)?;
    copy.send(data.buf).await.map_err(error)?;
    copy.finish().await.map_err(error)?;
    Ok(())
}

/// Rows in PostgreSQL's COPY text format: fields separated by tabs, rows ended by newlines, `\N`
/// for NULL, and backslash, tab, newline and carriage return escaped in text. It replaced an
/// `INSERT … SELECT FROM unnest(…)` of one array per column: no array encoding and decoding, no
/// per-row INSERT work in the executor (no-ANALYZE load 0 → 10^5: 14,826 → 16,568 mem/s).
struct CopyText {
    buf: Vec<u8>,
}

impl CopyText {
    fn with_capacity(bytes: usize) -> Self {
        Self { buf: Vec::with_capacity(bytes) }
    }

    fn int(&mut self, value: i64) {
        self.buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self.buf.push(b'\t');
    }

    fn opt_int(&mut self, value: Option<i64>) {
        match value {
            Some(value) => self.int(value),
            None => self.null(),
        }
    }

    fn real(&mut self, value: f64) {
        // Rust prints the shortest text that reads back as the same f64; PostgreSQL's float8
        // input reads it exactly (also `NaN` and `inf`).
        self.buf.extend_from_slice(value.to_string().as_bytes());
        self.buf.push(b'\t');
    }

    fn opt_real(&mut self, value: Option<f64>) {
        match value {
            Some(value) => self.real(value),
            None => self.null(),
        }
    }

    fn text(&mut self, value: &str) {
        for &byte in value.as_bytes() {
            match byte {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                other => self.buf.push(other),
            }
        }
        self.buf.push(b'\t');
    }

    fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    fn null(&mut self) {
        self.buf.extend_from_slice(b"\\N\t");
    }

    /// Ends a row: its last field's tab becomes the newline.
    fn end_row(&mut self) {
        if let Some(last) = self.buf.last_mut() {
            *last = b'\n';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CopyText;

    #[test]
    fn copy_text_escapes_and_nulls() {
        let mut data = CopyText::with_capacity(64);
        data.int(-42);
        data.opt_int(None);
        data.text("tab\there, newline\nthere, cr\r, backslash \\ and \\N");
        data.opt_text(None);
        data.real(0.875);
        data.end_row();
        data.int(1);
        data.end_row();
        assert_eq!(
            String::from_utf8(data.buf).unwrap(),
            "-42\t\\N\ttab\\there, newline\\nthere, cr\\r, backslash \\\\ and \\\\N\t\\N\t0.875\n1\n"
        );
    }
}
