//! PostgreSQL on sqlx: the pool, the start-up probe, and the statement helpers behind
//! [`super::Conn`].

use std::time::Duration;

use sea_orm::sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sea_orm::sqlx::{self, Arguments, AssertSqlSafe, Column, Executor, PgConnection, PgPool, Row as _, TypeInfo};

use engram_core::{Error, Result};

use super::param::Param;

/// A driver error. Storage failures are internal errors; the message goes to the log.
pub(crate) fn error(err: sqlx::Error) -> Error {
    Error::Internal(format!("PostgreSQL: {err}"))
}

/// One direct connection before the pool is built: the pool reports an unreachable server only
/// as "pool timed out" after its acquire timeout, while this names the cause (refused, unknown
/// host, authentication, missing database) within seconds.
pub(crate) async fn probe(url: &str) -> Result<()> {
    use sqlx::Connection;
    let unavailable = |cause: String| Error::Unavailable(format!("cannot connect to PostgreSQL: {cause}"));
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(url)).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(err)) => Err(unavailable(err.to_string())),
        Err(_) => Err(unavailable("no answer within 10 s".into())),
    }
}

/// The pool. Connections are recycled so a replica follows a database fail-over or a pooler's
/// restart; the application name shows them in pg_stat_activity.
pub(crate) async fn pool(url: &str, max_connections: u32) -> Result<PgPool> {
    let options: PgConnectOptions =
        url.parse().map_err(|e| Error::invalid("database_url", format!("not a PostgreSQL URL: {e}")))?;
    PgPoolOptions::new()
        .max_connections(max_connections.max(2))
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .idle_timeout(Duration::from_secs(600))
        .max_lifetime(Duration::from_secs(1800))
        .connect_with(options.application_name("engram"))
        .await
        .map_err(|e| Error::Unavailable(format!("cannot open database: {e}")))
}

// SQL text handed to sqlx is `AssertSqlSafe`: the store builds it from constants and `$n`
// placeholders only; every value is a bound parameter.

fn arguments(params: Vec<Param>) -> Result<PgArguments> {
    let mut args = PgArguments::default();
    for param in params {
        let added = match param {
            Param::Int(v) => args.add(v),
            Param::Real(v) => args.add(v),
            Param::Text(v) => args.add(v),
            Param::Json(v) => args.add(v),
            Param::Ints(v) => args.add(v),
            Param::Texts(v) => args.add(v),
            Param::Bytes(v) => args.add(v),
        };
        added.map_err(|e| Error::internal(format!("binding a parameter: {e}")))?;
    }
    Ok(args)
}

pub(super) async fn execute(conn: &mut PgConnection, sql: &str, params: Vec<Param>) -> Result<u64> {
    let done = sqlx::query_with(AssertSqlSafe(sql), arguments(params)?).execute(conn).await.map_err(error)?;
    Ok(done.rows_affected())
}

pub(super) async fn query<T>(
    conn: &mut PgConnection,
    sql: &str,
    params: Vec<Param>,
    map: impl FnMut(&PgRow) -> Result<T>,
) -> Result<Vec<T>> {
    let rows = sqlx::query_with(AssertSqlSafe(sql), arguments(params)?).fetch_all(conn).await.map_err(error)?;
    rows.iter().map(map).collect()
}

/// Statements without parameters, sent as one simple query.
pub(super) async fn batch(conn: &mut PgConnection, sql: &str) -> Result<()> {
    conn.execute(sqlx::raw_sql(AssertSqlSafe(sql))).await.map_err(error)?;
    Ok(())
}

pub(super) fn get<'r, T>(row: &'r PgRow, i: usize) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(i).map_err(error)
}

/// An integer column of any width (SMALLINT codes, INTEGER, BIGINT keys and counts).
pub(super) fn opt_i64(row: &PgRow, i: usize) -> Result<Option<i64>> {
    match row.try_column(i).map_err(error)?.type_info().name() {
        "INT2" => Ok(get::<Option<i16>>(row, i)?.map(i64::from)),
        "INT4" => Ok(get::<Option<i32>>(row, i)?.map(i64::from)),
        _ => get::<Option<i64>>(row, i),
    }
}

/// A JSONB column read straight into `T`.
pub(super) fn json_as<T: serde::de::DeserializeOwned>(row: &PgRow, i: usize) -> Result<T> {
    get::<sqlx::types::Json<T>>(row, i).map(|json| json.0)
}
