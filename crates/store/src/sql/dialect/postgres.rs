//! PostgreSQL bulk writes: one round trip per table whatever the number of rows (`unnest` of one
//! array per column), so a group commit costs a handful of round trips. Keys are taken from the
//! identity sequence first, in one statement, so they follow the rows' (ULID) order.

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

pub(super) async fn insert_memories(conn: &mut PgConnection, rows: &[NewRow<'_>]) -> Result<()> {
    let int = |f: &dyn Fn(&NewRow<'_>) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let opt_int = |f: &dyn Fn(&NewRow<'_>) -> Option<i64>| rows.iter().map(f).collect::<Vec<Option<i64>>>();
    let real = |f: &dyn Fn(&NewRow<'_>) -> Option<f64>| rows.iter().map(f).collect::<Vec<Option<f64>>>();
    let text = |f: &dyn for<'a> Fn(&'a NewRow<'a>) -> Option<&'a str>| {
        rows.iter().map(|r| f(r).map(str::to_owned)).collect::<Vec<Option<String>>>()
    };
    sqlx::query(
        "INSERT INTO memories (key, org_key, agent_key, session_key, memory_type, event_type, content, metadata, \
         tags, importance, parent_id, dedup_key, dedup_hash, time, created_at, step, pos_x, pos_y, pos_z, expires_at, seq) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::smallint[], \
         $6::text[], $7::text[], $8::text[]::jsonb[], $9::text[]::jsonb[], $10::float8[], $11::text[], $12::text[], \
         $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::float8[], $18::float8[], $19::float8[], \
         $20::bigint[], $21::bigint[])",
    )
    .bind(int(&|r| r.key))
    .bind(int(&|r| r.org_key))
    .bind(int(&|r| r.agent_key))
    .bind(opt_int(&|r| r.session_key))
    .bind(rows.iter().map(|r| i16::try_from(r.memory_type).unwrap_or(0)).collect::<Vec<i16>>())
    .bind(text(&|r| Some(&r.memory.event_type)))
    .bind(text(&|r| Some(&r.memory.content)))
    .bind(text(&|r| Some(r.metadata)))
    .bind(text(&|r| Some(r.tags)))
    .bind(rows.iter().map(|r| r.memory.importance).collect::<Vec<f64>>())
    .bind(text(&|r| r.memory.parent_id.as_deref()))
    .bind(text(&|r| r.dedup_key))
    .bind(int(&|r| r.dedup_hash))
    .bind(int(&|r| to_micros(r.memory.time)))
    .bind(int(&|r| to_micros(r.memory.created_at)))
    .bind(opt_int(&|r| r.memory.step))
    .bind(real(&|r| r.memory.position.map(|p| p.x)))
    .bind(real(&|r| r.memory.position.map(|p| p.y)))
    .bind(real(&|r| r.memory.position.and_then(|p| p.z)))
    .bind(opt_int(&|r| r.memory.expires_at.map(to_micros)))
    .bind(int(&|r| r.seq))
    .execute(&mut *conn)
    .await
    .map_err(error)?;
    Ok(())
}

pub(super) async fn insert_memory_tags(conn: &mut PgConnection, rows: &[(i64, i64, i64)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO memory_tags (tag_key, time, memory_key) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<i64>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<i64>>())
    .bind(rows.iter().map(|r| r.2).collect::<Vec<i64>>())
    .execute(conn)
    .await
    .map_err(error)?;
    Ok(())
}

pub(super) async fn insert_dedup(conn: &mut PgConnection, rows: &[(i64, i64)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO memory_dedup (hash, memory_key) SELECT * FROM unnest($1::bigint[], $2::bigint[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<i64>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<i64>>())
    .execute(conn)
    .await
    .map_err(error)?;
    Ok(())
}
