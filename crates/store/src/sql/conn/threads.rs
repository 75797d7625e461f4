//! The SQLite threads: each reader thread owns one connection and takes jobs from a shared queue;
//! the writer thread (see `writer`) owns one more. WAL mode lets readers run while the writer
//! commits. An operation is an `async fn` over [`Conn`], polled to its end on the thread.

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use futures::future::BoxFuture;
use rusqlite::Connection;
use tokio::sync::oneshot;

use engram_core::{Error, Result};

use super::Conn;
use super::sqlite::{Role, SqliteConfig, open};

/// An operation as the store threads run it: an async function over a [`Conn`].
pub(crate) type Op<R> = Box<dyn for<'c, 'x> FnOnce(&'c mut Conn<'x>) -> BoxFuture<'c, Result<R>> + Send>;

/// Polls an operation on a SQLite connection to its end. SQLite operations never wait (every
/// await of [`Conn`] is ready), so a pending one is a bug, reported as an internal error; so is a
/// panic, which leaves the thread and its connection usable.
pub(crate) fn run_to_end<R>(conn: &mut Connection, op: Op<R>) -> Result<R> {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut conn = Conn::Sqlite(conn);
        op(&mut conn).now_or_never()
    }));
    match outcome {
        Ok(Some(result)) => result,
        Ok(None) => Err(Error::internal("a SQLite operation waited on something other than SQLite")),
        Err(_) => Err(Error::internal("a SQLite operation panicked")),
    }
}

type ReadJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// The reader threads: each owns a connection and runs one operation at a time from a shared
/// queue. They stop when the pool is dropped.
#[derive(Clone)]
pub(crate) struct Readers {
    jobs: crossbeam_channel::Sender<ReadJob>,
}

impl Readers {
    pub(crate) fn spawn(config: &SqliteConfig, threads: usize) -> Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<ReadJob>();
        for i in 0..threads.max(1) {
            let mut conn = open(config, Role::Reader)?;
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("engram-sqlite-read-{i}"))
                .spawn(move || {
                    while let Ok(job) = queue.recv() {
                        job(&mut conn);
                    }
                })
                .map_err(|e| Error::internal(format!("cannot start a SQLite reader thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `op` on the next free reader.
    pub(crate) async fn run<R: Send + 'static>(&self, op: Op<R>) -> Result<R> {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = reply.send(run_to_end(conn, op));
        });
        self.jobs.send(job).map_err(|_| Error::Unavailable("the SQLite readers have stopped".into()))?;
        answer.await.map_err(|_| Error::Unavailable("a SQLite reader failed; see the server log".into()))?
    }
}
