//! The sea-orm implementation of [`Store`] for SQLite and PostgreSQL.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

use engram_core::{Error, Result};

use crate::migration::Migrator;

mod agents;
mod convert;
mod ingest;
mod keys;
mod memories;
mod sessions;
mod writer;

use writer::Writer;

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
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections for reads (and the writer's one).
    pub max_connections: u32,
    /// Most writes grouped into one transaction.
    pub max_group: usize,
    /// SQLite `synchronous=FULL` (fsync on every commit). NORMAL survives a process crash but can
    /// lose the last commits on power loss.
    pub sqlite_sync_full: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { max_connections: 8, max_group: 256, sqlite_sync_full: true }
    }
}

/// The schema of a database compared with this build's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Migrations of this build not applied yet.
    pub pending: Vec<String>,
    /// Migrations applied that this build does not know: the schema is newer than the binary.
    pub unknown: Vec<String>,
}

impl SchemaStatus {
    /// FailedPrecondition when the schema is newer than this build.
    pub fn refuse_newer(&self) -> Result<()> {
        if self.unknown.is_empty() {
            return Ok(());
        }
        Err(Error::FailedPrecondition(format!(
            "the database schema is newer than this engram build (applied migrations it does not know: {}); \
             run an engram release that includes them",
            self.unknown.join(", ")
        )))
    }

    /// FailedPrecondition unless the schema is exactly this build's.
    pub fn require_current(&self) -> Result<()> {
        self.refuse_newer()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        Err(Error::FailedPrecondition(format!(
            "the database schema is not migrated ({} pending: {}); run `engram migrate` first",
            self.pending.len(),
            self.pending.join(", ")
        )))
    }
}

/// The sea-orm store. Reads go to the pool; writes go through the group-commit [`Writer`].
#[derive(Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
    writer: Writer,
    backend: Backend,
}

impl SqlStore {
    /// Connects without migrating. SQLite gets a read pool and one dedicated writer connection
    /// with a larger page cache; PostgreSQL shares one pool.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        let backend = Backend::of_url(url)?;
        if backend == Backend::Postgres {
            probe_postgres(url).await?;
        }
        let open = |connections: u32, role: SqliteRole| {
            let mut connect = ConnectOptions::new(url.to_owned());
            connect
                .max_connections(connections)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(30))
                .sqlx_logging(false);
            match backend {
                Backend::Sqlite => {
                    let full = options.sqlite_sync_full;
                    connect.map_sqlx_sqlite_opts(move |opts| sqlite_options(opts, full, role));
                }
                Backend::Postgres => {
                    // Connections are recycled so a replica follows a database fail-over or a
                    // pooler's restart; the name shows them in pg_stat_activity.
                    connect
                        .idle_timeout(Duration::from_secs(600))
                        .max_lifetime(Duration::from_secs(1800))
                        .map_sqlx_postgres_opts(|opts| opts.application_name("engram"));
                }
            }
            async move {
                Database::connect(connect).await.map_err(|e| Error::Unavailable(format!("cannot open database: {e}")))
            }
        };
        let db = open(options.max_connections.max(2), SqliteRole::Reader).await?;
        let write_db = match backend {
            Backend::Sqlite => open(1, SqliteRole::Writer).await?,
            Backend::Postgres => db.clone(),
        };
        let writer = Writer::spawn(write_db, options.max_group, backend);
        Ok(Self { db, writer, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations; returns how many ran. Refuses a schema newer than this build
    /// (migrations applied that it does not know) instead of running on it.
    ///
    /// SQLite runs without planner statistics on purpose: the indexes are shaped so the planner's
    /// defaults pick them, and with STAT4 statistics every statement with a range on an indexed
    /// column is re-prepared for each new set of bound values (measured: a fifth of the CPU).
    pub async fn migrate(&self) -> Result<usize> {
        let status = self.schema_status().await?;
        status.refuse_newer()?;
        Migrator::up(&self.db, None).await.map_err(db_err)?;
        Ok(status.pending.len())
    }

    /// How the database's schema compares with this build's migrations. Reads only: it neither
    /// creates the migration table nor changes anything.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        use sea_orm::EntityTrait;
        use sea_orm_migration::{SchemaManager, seaql_migrations};
        let known: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
        let has_table = SchemaManager::new(&self.db)
            .has_table(Migrator::migration_table_name().to_string())
            .await
            .map_err(db_err)?;
        let applied: Vec<String> = if has_table {
            seaql_migrations::Entity::find()
                .all(&self.db)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(|m| m.version)
                .collect()
        } else {
            Vec::new()
        };
        Ok(SchemaStatus {
            pending: known.iter().filter(|m| !applied.contains(m)).cloned().collect(),
            unknown: applied.into_iter().filter(|m| !known.contains(m)).collect(),
        })
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) async fn ping_db(&self) -> Result<()> {
        self.db.execute_unprepared("SELECT 1").await.map_err(db_err)?;
        Ok(())
    }
}

/// One direct connection before the pool is built: the pool reports an unreachable server only
/// as "pool timed out" after its acquire timeout, while this names the cause (refused, unknown
/// host, authentication, missing database) within seconds.
async fn probe_postgres(url: &str) -> Result<()> {
    use sea_orm::sqlx::Connection;
    let unavailable = |cause: String| Error::Unavailable(format!("cannot connect to PostgreSQL: {cause}"));
    match tokio::time::timeout(Duration::from_secs(10), sea_orm::sqlx::PgConnection::connect(url)).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(err)) => Err(unavailable(err.to_string())),
        Err(_) => Err(unavailable("no answer within 10 s".into())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqliteRole {
    Reader,
    Writer,
}

fn sqlite_options(
    opts: sea_orm::sqlx::sqlite::SqliteConnectOptions,
    full: bool,
    role: SqliteRole,
) -> sea_orm::sqlx::sqlite::SqliteConnectOptions {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    let opts = opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if full { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
        .busy_timeout(Duration::from_secs(10))
        // A bounded number of prepared statements per connection keeps memory flat.
        .statement_cache_capacity(32)
        .pragma("temp_store", "memory");
    match role {
        // Readers: 8 MiB of page cache each.
        SqliteRole::Reader => opts.pragma("cache_size", "-8192"),
        // The one writer: 64 MiB keeps the index pages it updates in memory, and checkpoints every
        // 32 MiB of WAL instead of every 4 MiB (a hot index page is copied back once per interval).
        SqliteRole::Writer => opts.pragma("cache_size", "-65536").pragma("wal_autocheckpoint", "8192"),
    }
}

/// Trims rows fetched with `limit + 1` to `limit`; the cursor (the last row kept) is set only when
/// the extra row proved that more exist.
pub(crate) fn finish_page<T>(
    mut rows: Vec<T>,
    limit: u32,
    cursor_of: impl Fn(&T) -> engram_core::Cursor,
) -> (Vec<T>, Option<engram_core::Cursor>) {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if has_more { rows.last().map(cursor_of) } else { None };
    (rows, next)
}

/// Storage failures are internal errors; the message goes to the log, not to clients.
pub(crate) fn db_err(err: DbErr) -> Error {
    Error::Internal(err.to_string())
}

#[async_trait::async_trait]
impl crate::Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        self.ping_db().await
    }

    async fn create_org(&self, id: &str, name: &str, now: engram_core::time::Timestamp) -> Result<engram_core::Org> {
        keys::create_org(self, id, name, now).await
    }
    async fn get_org(&self, id: &str) -> Result<engram_core::Org> {
        keys::get_org(self, id).await
    }
    async fn list_orgs(&self) -> Result<Vec<engram_core::Org>> {
        keys::list_orgs(self).await
    }
    async fn create_api_key(&self, key: &engram_core::ApiKey, digest: &[u8]) -> Result<()> {
        keys::create_api_key(self, key, digest).await
    }
    async fn list_api_keys(&self, org: &str) -> Result<Vec<engram_core::ApiKey>> {
        keys::list_api_keys(self, org).await
    }
    async fn find_api_key(&self, key_id: &str) -> Result<Option<(engram_core::ApiKey, Vec<u8>)>> {
        keys::find_api_key(self, key_id).await
    }
    async fn revoke_api_key(
        &self,
        org: Option<&str>,
        key_id: &str,
        now: engram_core::time::Timestamp,
    ) -> Result<engram_core::ApiKey> {
        keys::revoke_api_key(self, org, key_id, now).await
    }
    async fn count_api_keys(&self) -> Result<u64> {
        keys::count_api_keys(self).await
    }

    async fn register_agent(
        &self,
        org: &str,
        agent: engram_core::NewAgent,
        now: engram_core::time::Timestamp,
    ) -> Result<engram_core::Agent> {
        agents::register(self, org, agent, now).await
    }
    async fn get_agent(&self, org: &str, agent: &engram_core::AgentRef) -> Result<engram_core::Agent> {
        agents::get(self, org, agent).await
    }
    async fn list_agents(
        &self,
        org: &str,
        limit: u32,
        after: Option<engram_core::Cursor>,
    ) -> Result<engram_core::Page<engram_core::Agent>> {
        agents::list(self, org, limit, after).await
    }
    async fn delete_agent(&self, org: &str, agent: &engram_core::AgentRef, cascade: bool) -> Result<(u64, u64)> {
        agents::delete(self, org, agent, cascade).await
    }
    async fn agent_stats(
        &self,
        org: &str,
        agent: &engram_core::AgentRef,
        now: engram_core::time::Timestamp,
    ) -> Result<engram_core::AgentStats> {
        agents::stats(self, org, agent, now).await
    }

    async fn create_session(
        &self,
        org: &str,
        agent: &engram_core::AgentRef,
        metadata: engram_core::Metadata,
        now: engram_core::time::Timestamp,
    ) -> Result<engram_core::Session> {
        sessions::create(self, org, agent, metadata, now).await
    }
    async fn get_session(&self, org: &str, id: &str) -> Result<engram_core::Session> {
        sessions::get(self, org, id).await
    }
    async fn list_sessions(
        &self,
        org: &str,
        agent: Option<&engram_core::AgentRef>,
        status: Option<engram_core::SessionStatus>,
        limit: u32,
        after: Option<engram_core::Cursor>,
    ) -> Result<engram_core::Page<engram_core::Session>> {
        sessions::list(self, org, agent, status, limit, after).await
    }
    async fn update_session(
        &self,
        org: &str,
        id: &str,
        patch: engram_core::SessionPatch,
        now: engram_core::time::Timestamp,
    ) -> Result<engram_core::Session> {
        sessions::update(self, org, id, patch, now).await
    }

    async fn add_memories(
        &self,
        org: &str,
        memories: Vec<engram_core::NewMemory>,
        dedup_window: chrono::Duration,
        now: engram_core::time::Timestamp,
    ) -> Result<Vec<engram_core::AddOutcome>> {
        memories::add(self, org, memories, dedup_window, now).await
    }
    async fn get_memory(&self, org: &str, id: &str, now: engram_core::time::Timestamp) -> Result<engram_core::Memory> {
        memories::get(self, org, id, now).await
    }
    async fn list_memories(
        &self,
        org: &str,
        query: &engram_core::MemoryQuery,
        now: engram_core::time::Timestamp,
    ) -> Result<engram_core::MemoryPage> {
        memories::list(self, org, query, now).await
    }
    async fn count_memories(
        &self,
        org: &str,
        filter: &engram_core::MemoryFilter,
        now: engram_core::time::Timestamp,
    ) -> Result<u64> {
        memories::count(self, org, filter, now).await
    }
    async fn update_memory(
        &self,
        org: &str,
        id: &str,
        patch: engram_core::MemoryPatch,
        now: engram_core::time::Timestamp,
    ) -> Result<engram_core::Memory> {
        memories::update(self, org, id, patch, now).await
    }
    async fn delete_memory(&self, org: &str, id: &str) -> Result<()> {
        memories::delete_one(self, org, id).await
    }
    async fn delete_memories(&self, org: &str, filter: &engram_core::DeleteFilter) -> Result<u64> {
        memories::delete_many(self, org, filter).await
    }
}
