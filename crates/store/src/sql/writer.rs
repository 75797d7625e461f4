//! Group commit: every write runs on one task that takes whatever writes are queued, runs them in
//! one transaction, commits once and only then answers each caller. Durability costs one fsync per
//! group, not per request, and SQLite never sees two writers.
//!
//! Two kinds of jobs share a group. Memory ingest ([`AddJob`]) is coalesced: all queued requests of
//! an org are inserted in one pass (see `ingest`), and a request that fails its checks writes
//! nothing. Every other write is a closure run in its own savepoint, so one failing write does not
//! undo the others. A storage error anywhere rolls the whole group back and fails all its callers.

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use engram_core::time::Timestamp;
use engram_core::{AddOutcome, Error, NewMemory, Result};

use super::db_err;
use super::ingest::{self, AddJob};

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Closure = Box<dyn for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, (bool, Completion)> + Send>;

enum Job {
    Add(AddJob),
    Other(Closure),
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
    pub(crate) fn spawn(db: DatabaseConnection, max_group: usize) -> Self {
        let (jobs, rx) = mpsc::channel(4 * max_group.max(1));
        tokio::spawn(run(db, rx, max_group.max(1)));
        Self { jobs }
    }

    /// Runs `work` inside the next group transaction; returns once that transaction committed.
    pub(crate) async fn write<R, F>(&self, work: F) -> Result<R>
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
        self.jobs.send(Job::Other(job)).await.map_err(|_| stopped())?;
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

async fn run(db: DatabaseConnection, mut rx: mpsc::Receiver<Job>, max_group: usize) {
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
        if let Err(err) = run_group(&db, jobs).await {
            // The callers' reply channels were dropped with their jobs: they get Unavailable.
            tracing::error!(error = %err, "group commit failed");
        }
    }
}

async fn run_group(db: &DatabaseConnection, jobs: Vec<Job>) -> Result<()> {
    let mut adds = Vec::new();
    let mut others = Vec::new();
    for job in jobs {
        match job {
            Job::Add(job) => adds.push(job),
            Job::Other(job) => others.push(job),
        }
    }
    let single = adds.is_empty() && others.len() == 1;
    let txn = db.begin().await.map_err(db_err)?;
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
