//! Group commit: every write runs on one task that takes whatever writes are queued, runs them in
//! one transaction, commits once and only then answers each caller. Durability costs one fsync per
//! group, not per request, and SQLite never sees two writers.
//!
//! Two kinds of jobs share a group. Memory ingest ([`AddJob`]) is coalesced: all queued requests of
//! an org are inserted in one pass (see `ingest`), and a request that fails its checks writes
//! nothing. Every other write is a closure run in its own savepoint, so one failing write does not
//! undo the others. A storage error anywhere rolls the whole group back and fails all its callers.
//!
//! Replicas on PostgreSQL each have their own writer, so a group first takes a transaction-scoped
//! advisory lock per org it writes to (all of them at once, in one global order, so two groups
//! never wait on each other in a cycle). Writes of one org are therefore serialized across
//! replicas: dedup and the check-then-insert of agent names stay exact, and a read-modify-write
//! of a row never loses another replica's update. Writes of different orgs run in parallel.

use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use engram_core::time::Timestamp;
use engram_core::{AddOutcome, Error, NewMemory, Result};

use super::ingest::{self, AddJob};
use super::{Backend, db_err};

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Closure = Box<dyn for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, (bool, Completion)> + Send>;

enum Job {
    Add(AddJob),
    /// A closure and the lock it needs (see [`org_lock`]), if any.
    Other(Closure, Option<String>),
}

/// The advisory-lock key of the writes of `org`.
pub(crate) fn org_lock(org: &str) -> Option<String> {
    Some(format!("engram/org/{org}"))
}

/// The advisory-lock key of writes that create orgs.
pub(crate) fn orgs_lock() -> Option<String> {
    Some("engram/orgs".to_owned())
}

#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

fn stopped() -> Error {
    Error::Unavailable("the store writer has stopped".into())
}

impl Writer {
    /// Starts the writer task; it ends when every `Writer` clone is dropped.
    pub(crate) fn spawn(db: DatabaseConnection, max_group: usize, backend: Backend) -> Self {
        let (jobs, rx) = mpsc::channel(4 * max_group.max(1));
        tokio::spawn(run(db, rx, max_group.max(1), backend));
        Self { jobs }
    }

    /// Runs `work` inside the next group transaction, holding `lock` (on PostgreSQL); returns once
    /// that transaction committed.
    pub(crate) async fn write<R, F>(&self, lock: Option<String>, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, Result<R>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Closure = Box::new(move |txn| {
            Box::pin(async move {
                let result = work(txn).await;
                let ok = result.is_ok();
                let done: Completion = Box::new(move |commit: Result<()>| {
                    let _ = reply.send(commit.and(result));
                });
                (ok, done)
            })
        });
        self.jobs.send(Job::Other(job, lock)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| Error::Unavailable("the store writer failed; see the server log".into()))?
    }

    /// Stores validated memories with the next group; returns once committed.
    pub(crate) async fn add(
        &self,
        org: String,
        items: Vec<NewMemory>,
        window: chrono::Duration,
        now: Timestamp,
    ) -> Result<Vec<AddOutcome>> {
        let (reply, answer) = oneshot::channel();
        let job = AddJob { org, items, window, now, reply, result: None };
        self.jobs.send(Job::Add(job)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| Error::Unavailable("the store writer failed; see the server log".into()))?
    }
}

async fn run(db: DatabaseConnection, mut rx: mpsc::Receiver<Job>, max_group: usize, backend: Backend) {
    let mut group: Vec<Job> = Vec::with_capacity(max_group);
    while let Some(first) = rx.recv().await {
        group.push(first);
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let jobs = std::mem::take(&mut group);
        if let Err(err) = run_group(&db, jobs, backend).await {
            // The callers' reply channels were dropped with their jobs: they get Unavailable.
            tracing::error!(error = %err, "group commit failed");
        }
    }
}

async fn run_group(db: &DatabaseConnection, jobs: Vec<Job>, backend: Backend) -> Result<()> {
    let mut adds = Vec::new();
    let mut others = Vec::new();
    let mut locks = Vec::new();
    for job in jobs {
        match job {
            Job::Add(job) => {
                locks.extend(org_lock(&job.org));
                adds.push(job);
            }
            Job::Other(job, lock) => {
                locks.extend(lock);
                others.push(job);
            }
        }
    }
    let single = adds.is_empty() && others.len() == 1;
    let txn = db.begin().await.map_err(db_err)?;
    if backend == Backend::Postgres && !locks.is_empty() {
        lock_all(&txn, locks).await?;
    }
    let mut completions = Vec::with_capacity(others.len());
    for job in others {
        if single {
            // No savepoint needed: a failed job rolls back the whole (one-job) transaction.
            let (ok, done) = job(&txn).await;
            if !ok {
                txn.rollback().await.map_err(db_err)?;
                done(Ok(()));
                return Ok(());
            }
            completions.push(done);
            continue;
        }
        let savepoint = txn.begin().await.map_err(db_err)?;
        let (ok, done) = job(&savepoint).await;
        if ok {
            savepoint.commit().await.map_err(db_err)?;
        } else {
            savepoint.rollback().await.map_err(db_err)?;
        }
        completions.push(done);
    }

    // Coalesced ingest, one pass per org (in order of first appearance).
    let mut orgs: Vec<String> = Vec::new();
    for job in &adds {
        if !orgs.contains(&job.org) {
            orgs.push(job.org.clone());
        }
    }
    for org in &orgs {
        let mut of_org: Vec<&mut AddJob> = adds.iter_mut().filter(|j| &j.org == org).collect();
        ingest::insert_jobs(&txn, org, &mut of_org).await?;
    }

    let committed = txn.commit().await.map_err(db_err);
    if let Err(err) = &committed {
        tracing::error!(error = %err, "commit failed");
    }
    for done in completions {
        done(committed.clone());
    }
    for job in adds {
        let result = job.result.unwrap_or_else(|| Err(Error::internal("ingest left a job without a result")));
        let _ = job.reply.send(committed.clone().and(result));
    }
    Ok(())
}

/// Takes the advisory locks of `keys` until the transaction ends. The keys are hashed to lock ids
/// by PostgreSQL and taken in ascending id order, one statement for all of them.
async fn lock_all(txn: &DatabaseTransaction, mut keys: Vec<String>) -> Result<()> {
    keys.sort_unstable();
    keys.dedup();
    let sql = "SELECT count(pg_advisory_xact_lock(id)) FROM \
               (SELECT DISTINCT hashtextextended(key, 0) AS id FROM unnest(string_to_array($1, $2)) AS key ORDER BY id) ids";
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [keys.join(LOCK_KEY_SEPARATOR).into(), LOCK_KEY_SEPARATOR.into()],
    );
    txn.execute_raw(stmt).await.map_err(db_err)?;
    Ok(())
}

/// Separates the keys passed to [`lock_all`] in one parameter. A key containing it would be split
/// the same way by every replica, so the lock set of a key is still the same everywhere.
const LOCK_KEY_SEPARATOR: &str = "\u{1f}";
