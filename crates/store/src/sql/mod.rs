//! The SQL implementation of [`crate::Store`] for SQLite and PostgreSQL.
//!
//! Layers, each using only the ones above it in this list:
//! - `conn`: the two drivers behind one [`conn::Conn`] (and SQLite's threads);
//! - `dialect`: what differs between the backends (the `content_contains` test, bulk inserts);
//! - `shared`: helpers of the operations (row decoding, references, the memory filter, purging);
//! - `writer`: group commit (generic: it runs jobs, it knows no operation);
//! - this module: [`SqlStore`] itself (connections, caches, migrations);
//! - the operations, one module per store trait: `orgs`, `keys`, `agents`, `sessions`,
//!   `memories` (reads, updates, deletes), `ingest` (adds), `stats`, `export` (export and
//!   import of every row).

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use sea_orm::sqlx::PgPool;
use sea_orm::{DatabaseConnection, SqlxPostgresConnector};
use sea_orm_migration::MigratorTrait;
use tracing::Instrument as _;

use engram_core::{Error, Result};

use crate::migration::Migrator;

mod conn;
mod dialect;
mod metrics;
pub(crate) mod shared;
mod writer;

mod access;
mod agents;
mod conversations;
mod embed_queue;
mod erasure;
mod export;
mod feed;
mod ingest;
mod keys;
mod lifecycle;
mod limits;
mod memories;
mod orgs;
mod sessions;
mod states;
mod stats;
mod working_memory;

pub use conn::Backend;
use conn::Conn;
use conn::sqlite::SqliteConfig;
pub use conn::sqlite::backup as backup_sqlite;
use conn::threads::Readers;
use shared::refs::{OrgKeys, PublicIds, TagKeys};
use writer::Writer;

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections for reads: SQLite reader threads, or the PostgreSQL pool (which the writer
    /// shares).
    pub max_connections: u32,
    /// Most writes grouped into one transaction.
    pub max_group: usize,
    /// SQLite `synchronous=FULL` (fsync on every commit). NORMAL survives a process crash but can
    /// lose the last commits on power loss.
    pub sqlite_sync_full: bool,
    /// SQLite: dedup hashes buffered in memory before the writer adds them to `memory_dedup` in
    /// one sorted pass (see `shared::ingest::DedupBuffer`).
    pub sqlite_dedup_buffer: usize,
    /// SQLite: bytes of the database file each reader connection maps into memory (`PRAGMA
    /// mmap_size`; 0 reads with pread): a row read by key then costs no system call and no copy
    /// (measured: `content_contains` at 10^6, p99 26 → 13.5 ms; bench/README.md). The mapped
    /// pages are the OS page cache's, counted in the process's RSS once touched.
    pub sqlite_mmap_bytes: u64,
    /// SQLite: bytes of page cache of the writer's connection (`PRAGMA cache_size`): the index
    /// pages its commits update stay in memory. Allocated as pages are touched, so the process's
    /// anonymous memory grows by up to this much as the database grows past it.
    pub sqlite_cache_bytes: u64,
}

/// The default of [`StoreOptions::sqlite_mmap_bytes`]: the most SQLite's build allows
/// (`SQLITE_MAX_MMAP_SIZE`, 0x7fff0000), rounded down to MiB.
pub const SQLITE_MMAP_MAX_MB: u64 = 2047;

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 4,
            max_group: 256,
            sqlite_sync_full: true,
            sqlite_dedup_buffer: 100_000,
            sqlite_mmap_bytes: SQLITE_MMAP_MAX_MB << 20,
            sqlite_cache_bytes: 64 << 20,
        }
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

/// Where reads run.
enum Db {
    Sqlite(Readers, SqliteConfig),
    Postgres(PgPool),
}

/// The store. Cheap to clone (one shared state). Reads go to the SQLite reader threads or the
/// PostgreSQL pool; writes go through the group-commit [`Writer`].
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    url: String,
    db: Db,
    writer: Writer,
    orgs: OrgKeys,
    tags: TagKeys,
    ids: PublicIds,
    leases: lifecycle::LocalLeases,
    /// Memory ingest waiting for the writer, per org (see `ingest`).
    pending: shared::ingest::Pending,
    /// SQLite only: the dedup hashes not yet in `memory_dedup` (see `ingest`).
    dedup: Mutex<shared::ingest::DedupBuffer>,
    /// How many hashes that buffer holds before they are written to the table.
    dedup_buffer: usize,
}

impl SqlStore {
    /// Connects without migrating. SQLite: N reader threads and one writer thread, each with its
    /// own connection. PostgreSQL: one pool for reads and the writer.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        let backend = Backend::of_url(url)?;
        let (db, writer) = match backend {
            Backend::Sqlite => {
                let config = SqliteConfig {
                    path: conn::sqlite::path_of_url(url)?,
                    sync_full: options.sqlite_sync_full,
                    mmap_bytes: options.sqlite_mmap_bytes,
                    writer_cache_bytes: options.sqlite_cache_bytes,
                };
                if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::Unavailable(format!("cannot create the directory {}: {e}", dir.display()))
                    })?;
                }
                // The writer first: it creates the file and turns on WAL before the readers open it.
                let writer = Writer::spawn_sqlite(&config, options.max_group)?;
                (Db::Sqlite(Readers::spawn(&config, options.max_connections as usize)?, config), writer)
            }
            Backend::Postgres => {
                conn::postgres::probe(url).await?;
                let pool = conn::postgres::pool(url, options.max_connections).await?;
                (Db::Postgres(pool.clone()), Writer::spawn_postgres(pool, options.max_group))
            }
        };
        let inner = Inner {
            backend,
            url: url.to_owned(),
            db,
            writer,
            orgs: OrgKeys::default(),
            tags: TagKeys::default(),
            ids: PublicIds::default(),
            leases: lifecycle::LocalLeases::default(),
            pending: shared::ingest::Pending::default(),
            dedup: Mutex::new(shared::ingest::DedupBuffer::default()),
            dedup_buffer: options.sqlite_dedup_buffer.max(1),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// A sea-orm connection for the migrations.
    async fn migrator_db(&self) -> Result<DatabaseConnection> {
        match &self.inner.db {
            Db::Postgres(pool) => Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone())),
            Db::Sqlite(..) => {
                let mut options = sea_orm::ConnectOptions::new(self.inner.url.clone());
                options.max_connections(1).sqlx_logging(false);
                sea_orm::Database::connect(options)
                    .await
                    .map_err(|e| Error::Unavailable(format!("cannot open database: {e}")))
            }
        }
    }

    /// Applies pending migrations; returns how many ran. Refuses a schema newer than this build
    /// (migrations applied that it does not know) instead of running on it.
    pub async fn migrate(&self) -> Result<usize> {
        let status = self.schema_status().await?;
        status.refuse_newer()?;
        let db = self.migrator_db().await?;
        Migrator::up(&db, None).await.map_err(|e| Error::Internal(format!("migration failed: {e}")))?;
        if self.inner.backend == Backend::Sqlite {
            let _ = db.close().await;
        }
        Ok(status.pending.len())
    }

    /// How the database's schema compares with this build's migrations. Reads only: it neither
    /// creates the migration table nor changes anything.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        use sea_orm::EntityTrait;
        use sea_orm_migration::{SchemaManager, seaql_migrations};
        let db = self.migrator_db().await?;
        let db_err = |e: sea_orm::DbErr| Error::Internal(format!("reading the schema: {e}"));
        let known: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
        let has_table =
            SchemaManager::new(&db).has_table(Migrator::migration_table_name().to_string()).await.map_err(db_err)?;
        let applied: Vec<String> = if has_table {
            seaql_migrations::Entity::find().all(&db).await.map_err(db_err)?.into_iter().map(|m| m.version).collect()
        } else {
            Vec::new()
        };
        if self.inner.backend == Backend::Sqlite {
            let _ = db.close().await;
        }
        Ok(SchemaStatus {
            pending: known.iter().filter(|m| !applied.contains(m)).cloned().collect(),
            unknown: applied.into_iter().filter(|m| !known.contains(m)).collect(),
        })
    }

    /// Runs a read-only operation: on a SQLite reader thread, or on a pooled PostgreSQL connection.
    pub(crate) async fn read<R, F>(&self, op: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c, 'x> FnOnce(&'c mut Conn<'x>) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let span = tracing::info_span!("store.read", otel.kind = "client", db.system = self.inner.backend.system());
        let result = async {
            match &self.inner.db {
                Db::Sqlite(readers, _) => readers.run(Box::new(op)).await,
                Db::Postgres(pool) => {
                    let mut connection = pool
                        .acquire()
                        .await
                        .map_err(|e| Error::Unavailable(format!("no PostgreSQL connection: {e}")))?;
                    op(&mut Conn::Postgres(&mut connection)).await
                }
            }
        }
        .instrument(span)
        .await;
        self.inner.writer.metrics().read(started.elapsed());
        result
    }

    /// Runs a write in the next group commit, holding `lock` on PostgreSQL; returns once committed.
    pub(crate) async fn write<R, F>(&self, lock: Option<String>, op: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c, 'x> FnOnce(&'c mut Conn<'x>) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        let span = tracing::info_span!("store.write", otel.kind = "client", db.system = self.inner.backend.system());
        self.inner.writer.write(lock, op).instrument(span).await
    }

    /// The PostgreSQL pool (None on SQLite).
    pub(crate) fn pg_pool(&self) -> Option<&PgPool> {
        match &self.inner.db {
            Db::Postgres(pool) => Some(pool),
            Db::Sqlite(..) => None,
        }
    }

    /// The key of an org id, if the org exists (cached: org keys never change).
    pub(crate) async fn org_key(&self, org: &str) -> Result<Option<i64>> {
        if let Some(key) = self.inner.orgs.cached(org) {
            return Ok(Some(key));
        }
        let id = org.to_owned();
        let key = self.read(move |c| Box::pin(async move { shared::refs::org_key(c, &id).await })).await?;
        if let Some(key) = key {
            self.inner.orgs.remember(org, key);
        }
        Ok(key)
    }

    /// The key of the org a write goes to; NotFound when it does not exist.
    pub(crate) async fn org_key_for_write(&self, org: &str) -> Result<i64> {
        self.org_key(org).await?.ok_or_else(|| Error::not_found("org", org))
    }
}

#[async_trait::async_trait]
impl crate::Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        self.read(|c| Box::pin(async move { c.query_i64("SELECT 1", Vec::new()).await.map(drop) })).await
    }

    /// SQLite: copies the WAL into the database file and empties it, so a stopped store is one
    /// file (a later start would replay the WAL otherwise). PostgreSQL: nothing to do.
    async fn close(&self) -> Result<()> {
        let Db::Sqlite(_, config) = &self.inner.db else { return Ok(()) };
        let config = config.clone();
        let checkpoint = tokio::task::spawn_blocking(move || {
            let conn = conn::sqlite::open(&config, conn::sqlite::Role::Writer)?;
            // Writes still in flight (a shutdown that timed out) win: wait for them 1 s at most.
            conn.busy_timeout(std::time::Duration::from_secs(1)).map_err(conn::sqlite::error)?;
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").map_err(conn::sqlite::error)
        });
        checkpoint.await.map_err(|e| Error::internal(format!("checkpoint: {e}")))?
    }
}
