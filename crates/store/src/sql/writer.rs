//! Group commit: every write is a job run by one writer, which takes whatever jobs are queued,
//! runs them in one transaction, commits once and only then answers each caller. Durability
//! costs one fsync per group, not per request, and SQLite never sees two writers.
//!
//! A job is an async function over the group's [`Conn`]; it returns whether it succeeded and what
//! to do once the commit's outcome is known ([`Done`]). A job that may fail after it wrote runs
//! in its own savepoint (in a group of several), so its failure does not undo the others
//! ([`Isolation::Savepoint`]). A job that checks everything before its first write and fails only
//! on a storage error runs without one ([`Isolation::None`]: a savepoint makes SQLite copy every
//! page the job changes into a statement journal, measured at ~8 % of ingest); if it fails, the
//! whole group fails. A storage error of the commit fails every job. Callers that want their
//! writes coalesced (memory ingest) queue the work themselves and submit a job that drains the
//! queue: the writer knows no operation.
//!
//! Replicas on PostgreSQL each have their own writer, so a group first takes a transaction-scoped
//! advisory lock per org it writes to (all of them at once, in one global order, so two groups
//! never wait on each other in a cycle). Writes of one org are therefore serialized across
//! replicas: dedup and the check-then-insert of agent names stay exact, and a read-modify-write
//! of a row never loses another replica's update. Writes of different orgs run in parallel.
//!
//! SQLite: the writer is a thread with its own connection. PostgreSQL: a task that takes a pooled
//! connection per group.

use futures::future::BoxFuture;
use sea_orm::sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use engram_core::{Error, Result};

use super::conn::sqlite::{self, SqliteConfig};
use super::conn::threads;
use super::conn::{Conn, params};
use super::metrics::{Queued, StoreMetrics};

/// What a job does once the group's commit succeeded (`Ok`) or failed.
pub(crate) type Done = Box<dyn FnOnce(Result<()>) + Send>;
/// A job: runs inside the group's transaction; says whether it succeeded.
pub(crate) type Work = Box<dyn for<'c, 'x> FnOnce(&'c mut Conn<'x>) -> BoxFuture<'c, (bool, Done)> + Send>;

/// The advisory-lock key of the writes of an org (by its key).
pub(crate) fn org_lock(org_key: i64) -> Option<String> {
    Some(format!("engram/org/{org_key}"))
}

/// The advisory-lock key of writes that create orgs.
pub(crate) fn orgs_lock() -> Option<String> {
    Some("engram/orgs".to_owned())
}

/// Whether a job runs in a savepoint of its own (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    Savepoint,
    /// The job fails only on storage errors, which fail the whole group.
    None,
}

struct Job {
    lock: Option<String>,
    isolation: Isolation,
    work: Work,
}

#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    queued: Queued,
    metrics: StoreMetrics,
}

fn stopped() -> Error {
    Error::Unavailable("the store writer has stopped".into())
}

impl Writer {
    /// Starts the SQLite writer thread on its own connection; it ends when every `Writer` clone is
    /// dropped.
    pub(crate) fn spawn_sqlite(config: &SqliteConfig, max_group: usize) -> Result<Self> {
        let (jobs, mut rx) = mpsc::channel::<Job>(4 * max_group.max(1));
        let mut conn = sqlite::open(config, sqlite::Role::Writer)?;
        let max_group = max_group.max(1);
        let queued = Queued::default();
        let metrics = StoreMetrics::new(&queued);
        let (taken, recorder) = (queued.clone(), metrics.clone());
        std::thread::Builder::new()
            .name("engram-sqlite-write".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let group = gather(first, &mut rx, max_group);
                    let (jobs, started) = (group.len(), std::time::Instant::now());
                    taken.taken(jobs);
                    run_sqlite_group(&mut conn, group);
                    recorder.commit(jobs, started.elapsed());
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(Self { jobs, queued, metrics })
    }

    /// Starts the PostgreSQL writer task; it ends when every `Writer` clone is dropped.
    pub(crate) fn spawn_postgres(pool: PgPool, max_group: usize) -> Self {
        let (jobs, mut rx) = mpsc::channel::<Job>(4 * max_group.max(1));
        let max_group = max_group.max(1);
        let queued = Queued::default();
        let metrics = StoreMetrics::new(&queued);
        let (taken, recorder) = (queued.clone(), metrics.clone());
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let group = gather(first, &mut rx, max_group);
                let (jobs, started) = (group.len(), std::time::Instant::now());
                taken.taken(jobs);
                if let Err(err) = run_postgres_group(&pool, group).await {
                    // The callers' reply channels were dropped with their jobs: they get Unavailable.
                    tracing::error!(error = %err, "group commit failed");
                }
                recorder.commit(jobs, started.elapsed());
            }
        });
        Self { jobs, queued, metrics }
    }

    /// The store's instruments (reads record theirs here too).
    pub(crate) fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Queues a job holding `lock` (on PostgreSQL).
    pub(crate) async fn submit(&self, lock: Option<String>, isolation: Isolation, work: Work) -> Result<()> {
        self.queued.add();
        let sent = self.jobs.send(Job { lock, isolation, work }).await.map_err(|_| stopped());
        if sent.is_err() {
            self.queued.taken(1);
        }
        sent
    }

    /// Runs `work` inside the next group transaction, holding `lock` (on PostgreSQL); returns once
    /// that transaction committed.
    pub(crate) async fn write<R, F>(&self, lock: Option<String>, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c, 'x> FnOnce(&'c mut Conn<'x>) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Work = Box::new(move |conn| {
            Box::pin(async move {
                let result = work(conn).await;
                let ok = result.is_ok();
                let done: Done = Box::new(move |commit: Result<()>| {
                    let _ = reply.send(commit.and(result));
                });
                (ok, done)
            })
        });
        self.submit(lock, Isolation::Savepoint, job).await?;
        answer.await.map_err(|_| Error::Unavailable("the store writer failed; see the server log".into()))?
    }
}

fn gather(first: Job, rx: &mut mpsc::Receiver<Job>, max_group: usize) -> Vec<Job> {
    let mut group = vec![first];
    while group.len() < max_group {
        match rx.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    group
}

/// How a group's jobs ended, inside its still open transaction.
enum Ran {
    /// Commit; then tell every job the commit's outcome.
    Commit(Vec<Done>),
    /// Roll back; then tell every job `outcome` (a lone job that failed learns its own error
    /// through its Done, so `Ok`; a failed job without a savepoint fails the group).
    RollBack(Vec<Done>, Result<()>),
}

/// Runs the jobs of a group inside an open transaction.
async fn run_jobs(conn: &mut Conn<'_>, jobs: Vec<(Isolation, Work)>) -> Result<Ran> {
    let single = jobs.len() == 1;
    let mut dones = Vec::with_capacity(jobs.len());
    for (isolation, work) in jobs {
        if single || isolation == Isolation::None {
            let (ok, done) = work(conn).await;
            dones.push(done);
            if !ok {
                let outcome = if single {
                    Ok(())
                } else {
                    Err(Error::Unavailable("a write of the same group failed; retry".into()))
                };
                return Ok(Ran::RollBack(dones, outcome));
            }
            continue;
        }
        conn.batch("SAVEPOINT job").await?;
        let (ok, done) = work(conn).await;
        let end = if ok { "RELEASE SAVEPOINT job" } else { "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job" };
        conn.batch(end).await?;
        dones.push(done);
    }
    Ok(Ran::Commit(dones))
}

fn finish(dones: Vec<Done>, outcome: Result<()>) {
    if let Err(err) = &outcome {
        tracing::error!(error = %err, "commit failed");
    }
    for done in dones {
        done(outcome.clone());
    }
}

fn run_sqlite_group(conn: &mut rusqlite::Connection, group: Vec<Job>) {
    // A transaction left open by a failed group must not swallow the next one.
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %err, "cannot begin a write transaction");
        return;
    }
    let works = group.into_iter().map(|job| (job.isolation, job.work)).collect();
    let ran = threads::run_to_end(conn, Box::new(move |conn| Box::pin(run_jobs(conn, works))));
    match ran {
        Ok(Ran::Commit(dones)) => {
            let committed = conn.execute_batch("COMMIT").map_err(sqlite::error);
            if committed.is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            finish(dones, committed);
        }
        Ok(Ran::RollBack(dones, outcome)) => {
            let _ = conn.execute_batch("ROLLBACK");
            finish(dones, outcome);
        }
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(error = %err, "group failed");
        }
    }
}

async fn run_postgres_group(pool: &PgPool, group: Vec<Job>) -> Result<()> {
    use super::conn::postgres::error;
    let mut locks: Vec<String> = group.iter().filter_map(|job| job.lock.clone()).collect();
    let works: Vec<(Isolation, Work)> = group.into_iter().map(|job| (job.isolation, job.work)).collect();
    let mut txn = pool.begin().await.map_err(error)?;
    let ran = {
        let mut conn = Conn::Postgres(&mut txn);
        if !locks.is_empty() {
            lock_all(&mut conn, &mut locks).await?;
        }
        run_jobs(&mut conn, works).await?
    };
    match ran {
        Ran::Commit(dones) => {
            let committed = txn.commit().await.map_err(error);
            finish(dones, committed);
        }
        Ran::RollBack(dones, outcome) => {
            txn.rollback().await.map_err(error)?;
            finish(dones, outcome);
        }
    }
    Ok(())
}

/// Takes the advisory locks of `keys` until the transaction ends. The keys are hashed to lock ids
/// by PostgreSQL and taken in ascending id order, one statement for all of them.
async fn lock_all(conn: &mut Conn<'_>, keys: &mut Vec<String>) -> Result<()> {
    keys.sort_unstable();
    keys.dedup();
    let sql = "SELECT count(pg_advisory_xact_lock(id)) FROM \
               (SELECT DISTINCT hashtextextended(key, 0) AS id FROM unnest(string_to_array($1, $2)) AS key ORDER BY id) ids";
    conn.query_i64(sql, params![keys.join(LOCK_KEY_SEPARATOR), LOCK_KEY_SEPARATOR]).await?;
    Ok(())
}

/// Separates the keys passed to [`lock_all`] in one parameter. A key containing it would be split
/// the same way by every replica, so the lock set of a key is still the same everywhere.
const LOCK_KEY_SEPARATOR: &str = "\u{1f}";
