//! Test helpers shared by the store's own tests and the end-to-end tests (feature `testsuite`):
//! a fresh PostgreSQL database per test, and fresh stores on either backend.

use std::sync::Arc;

use sea_orm::ConnectionTrait;

use crate::{SqlStore, Store, StoreOptions};

/// The PostgreSQL server of the tests: `ENGRAM_TEST_DATABASE_URL` (a URL whose database the tests
/// may connect to and create databases from), else the local server that `scripts/test.sh` makes
/// sure is running.
pub fn postgres_admin_url() -> String {
    std::env::var("ENGRAM_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (head, query) = url.split_once('?').map_or((url, None), |(h, q)| (h, Some(q)));
    let base = match head.rfind('/') {
        Some(i) if i > "postgres://".len() => &head[..i],
        _ => head,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// A database created for one test on the tests' PostgreSQL server, dropped (with its
/// connections) when this is dropped.
pub struct PgTestDatabase {
    /// Its URL.
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgTestDatabase {
    /// A new empty database. Panics with a clear message when no PostgreSQL answers: a test that
    /// needs PostgreSQL fails loudly rather than being skipped.
    pub async fn create() -> Self {
        let admin_url = postgres_admin_url();
        let admin = sea_orm::Database::connect(admin_url.as_str()).await.unwrap_or_else(|err| {
            panic!(
                "PostgreSQL at {admin_url} does not answer ({err}); start it (scripts/test.sh does) or set \
                 ENGRAM_TEST_DATABASE_URL"
            )
        });
        let name = format!("engram_test_{}_{}", std::process::id(), rand::random::<u64>());
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create the test database");
        let _ = admin.close().await;
        Self { url: with_database(&admin_url, &name), admin_url, name }
    }

    /// The first column of the first row of `sql`, as text (`None`: no row, or NULL).
    pub async fn query_text(&self, sql: &str) -> Option<String> {
        let db = sea_orm::Database::connect(self.url.as_str()).await.expect("connect to the test database");
        let statement = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, format!("SELECT ({sql})::text"));
        let row = db.query_one_raw(statement).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
        db.close().await.expect("close");
        row.and_then(|r| r.try_get_by_index::<Option<String>>(0).expect("a text column"))
    }

    /// Runs SQL (one or more statements) on it.
    pub async fn execute(&self, sql: &str) {
        let db = sea_orm::Database::connect(self.url.as_str()).await.expect("connect to the test database");
        db.execute_unprepared(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
        db.close().await.expect("close");
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a test's runtime: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let admin = sea_orm::Database::connect(url.as_str()).await.ok()?;
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()
            })
        });
        let _ = dropped.join();
    }
}

/// A fresh, migrated, empty store and whatever keeps its database alive (dropped after it).
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub sql: SqlStore,
    _guard: Box<dyn std::any::Any + Send + Sync>,
}

impl TestStore {
    /// SQLite in a temporary directory that lives as long as the store.
    pub async fn sqlite() -> Self {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let sql = SqlStore::connect(&url, &StoreOptions::default()).await.expect("connect to SQLite");
        sql.migrate().await.expect("migrate SQLite");
        Self { store: Arc::new(sql.clone()), sql, _guard: Box::new(dir) }
    }

    /// A fresh database on the tests' PostgreSQL server, migrated, dropped after the test.
    pub async fn postgres() -> Self {
        let db = PgTestDatabase::create().await;
        let sql = SqlStore::connect(&db.url, &StoreOptions::default()).await.expect("connect to the test database");
        sql.migrate().await.expect("migrate PostgreSQL");
        Self { store: Arc::new(sql.clone()), sql, _guard: Box::new(db) }
    }
}
