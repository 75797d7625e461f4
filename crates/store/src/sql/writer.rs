//! Group commit: every write runs on one task that takes whatever writes are queued, runs them in
//! one transaction (each inside its own savepoint, so one failing write does not undo the others),
//! commits once and only then answers each caller. Durability costs one fsync per group, not per
//! request, and SQLite never sees two writers.

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use engram_core::{Error, Result};

use super::db_err;

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, (bool, Completion)> + Send>;

#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
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
        let job: Job = Box::new(move |txn| {
            Box::pin(async move {
                let result = work(txn).await;
                let ok = result.is_ok();
                let done: Completion = Box::new(move |commit: Result<()>| {
                    let _ = reply.send(commit.and(result));
                });
                (ok, done)
            })
        });
        self.jobs.send(job).await.map_err(|_| Error::Unavailable("the store writer has stopped".into()))?;
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
    let txn = db.begin().await.map_err(db_err)?;
    let single = jobs.len() == 1;
    let mut completions = Vec::with_capacity(jobs.len());
    for job in jobs {
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
    let committed = txn.commit().await.map_err(db_err);
    if let Err(err) = &committed {
        tracing::error!(error = %err, "commit failed");
    }
    for done in completions {
        done(committed.clone());
    }
    Ok(())
}
