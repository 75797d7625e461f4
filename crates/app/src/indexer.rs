//! The indexer: keeps the full-text index of every org current with the store by following the
//! store's change feed (`engram_store::FeedStore`). One runs in every server process, so every
//! replica has its own index; it polls the feed's heads (one read of the orgs table) every
//! [`POLL`] and at once after a local write, so a memory is searchable well within a second of
//! its commit on any replica. It also tells the result cache (`result_cache`) what was written.

use std::sync::Arc;
use std::time::Duration;

use engram_core::*;
use engram_search::{FullText, Indexed};
use engram_store::DynStore;

use crate::handle::Engram;
use crate::result_cache::ResultCache;

/// How often the indexer looks for writes it was not told about (other replicas').
pub const POLL: Duration = Duration::from_millis(200);
/// Most memories indexed in one commit.
const BATCH: u32 = 5_000;

impl Engram {
    /// Follows the store's change feed into the full-text index until the process ends. Does
    /// nothing when the server runs without one.
    pub async fn run_indexer(&self) {
        let Some(relevance) = &self.relevance else { return };
        let (fulltext, wake) = (relevance.fulltext.clone(), relevance.wake.clone());
        loop {
            let behind = match catch_up(&self.store, &fulltext, &self.results).await {
                Ok(behind) => behind,
                Err(e) => {
                    tracing::warn!(error = %e, "full-text indexing failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if !behind {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
    }

    /// Indexes everything committed so far, then returns (tests and benchmarks: a search after
    /// this sees every earlier write). Nothing to do without a full-text index.
    pub async fn index_pending(&self) -> Result<()> {
        let Some(relevance) = &self.relevance else { return Ok(()) };
        while catch_up(&self.store, &relevance.fulltext, &self.results).await? {}
        Ok(())
    }

    /// Tells the indexer that this process wrote memories.
    pub(crate) fn written(&self) {
        if let Some(relevance) = &self.relevance {
            relevance.wake.notify_one();
        }
    }
}

/// One pass over every org: indexes up to [`BATCH`] changes each, and drops the cached results of
/// the agents written to (other replicas' writes reach this process's cache this way). Returns
/// whether some org is still behind.
async fn catch_up(store: &DynStore, fulltext: &Arc<FullText>, results: &ResultCache) -> Result<bool> {
    let mut behind = false;
    for head in store.feed_heads().await? {
        let org = head.org_id;
        let at = fulltext.indexed_seq(&org)?;
        fulltext.saw_head(&org, head.last_seq)?;
        if head.last_seq == at {
            continue;
        }
        if head.last_seq < at {
            // The store is older than the index (restored from a backup, or replaced): start over.
            tracing::warn!(org, indexed = at, store = head.last_seq, "full-text index ahead of the store; rebuilding");
            let (fulltext, org) = (fulltext.clone(), org.clone());
            blocking(move || fulltext.reset(&org)).await?;
            behind = true;
            continue;
        }
        let changes = store.feed_changes(&org, at, BATCH).await?;
        let Some(through) = changes.last().map(|c| c.seq) else { continue };
        let agents: Vec<String> = changes.iter().map(|c| c.memory.agent_id.clone()).collect();
        let written_org = org.clone();
        behind |= through < head.last_seq;
        let fulltext = fulltext.clone();
        let started = std::time::Instant::now();
        let n = changes.len();
        blocking(move || {
            let docs: Vec<Indexed<'_>> = changes
                .iter()
                .map(|c| Indexed { key: c.key, memory: &c.memory, vector: c.vector.as_deref() })
                .collect();
            fulltext.apply(&org, &docs, through)
        })
        .await?;
        // Once searchable: a result computed before it is not kept (the generation moves).
        results.written(&written_org, agents.iter().map(String::as_str));
        tracing::debug!(memories = n, took_ms = started.elapsed().as_millis() as u64, "indexed");
    }
    Ok(behind)
}

async fn blocking<R: Send + 'static>(work: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::internal(format!("indexing task: {e}")))?
}
