//! The embedder worker: embeds the memories waiting in the store's queue
//! (`engram_store::EmbedQueueStore`) with the server's embedder and stores their vectors. Runs in
//! every server process; a write is acknowledged before its memory is embedded. When the embedder
//! fails (an endpoint down), the memories keep waiting and the worker retries with backoff.

use std::collections::BTreeMap;
use std::time::Duration;

use engram_core::*;

use crate::handle::Engram;

/// Memories embedded per call of the embedder.
const BATCH: u32 = 32;
/// How often the worker looks for work it was not told about (other replicas' writes).
const POLL: Duration = Duration::from_millis(250);
/// Longest wait between attempts while the embedder fails.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Engram {
    /// Embeds waiting memories until the process ends. Does nothing without an embedder.
    pub async fn run_embedder(&self) {
        let Some(relevance) = &self.relevance else { return };
        if relevance.embedder.is_none() {
            return;
        }
        let wake = relevance.embed_wake.clone();
        let mut backoff = Duration::from_millis(500);
        loop {
            match self.embed_pending(BATCH).await {
                Ok(0) => {
                    backoff = Duration::from_millis(500);
                    tokio::select! {
                        () = wake.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
                Ok(_) => backoff = Duration::from_millis(500),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_s = backoff.as_secs_f64(), "embedding failed; the memories keep waiting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Embeds up to `limit` waiting memories; returns how many left the queue (stored, or
    /// rejected for another dimension than their org's). Tests and benchmarks call it directly.
    pub async fn embed_pending(&self, limit: u32) -> Result<u64> {
        let Some(embedder) = self.relevance.as_ref().and_then(|r| r.embedder.clone()) else { return Ok(0) };
        let pending = self.store.pending_embeddings(limit).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let mut by_org: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
        for p in pending {
            by_org.entry(p.org_id).or_default().push((p.key, p.text));
        }
        let mut stored = 0;
        for (org, items) in by_org {
            let (keys, texts): (Vec<i64>, Vec<String>) = items.into_iter().unzip();
            let vectors = embedder.embed(texts).await?;
            let done = self.store.store_embeddings(&org, keys.into_iter().zip(vectors).collect()).await?;
            if done.rejected > 0 {
                tracing::warn!(org, rejected = done.rejected, "embeddings of another dimension than the org's vectors");
            }
            stored += done.stored + done.rejected;
        }
        self.written();
        Ok(stored)
    }

    /// Marks memories without a client vector for the server's embedder, if it has one.
    pub(crate) fn queue_for_embedding(&self, memories: &mut [ValidMemory]) {
        if self.relevance.as_ref().is_some_and(|r| r.embedder.is_some()) {
            for m in memories.iter_mut().filter(|m| m.embedding.is_none()) {
                m.embed = true;
            }
        }
    }

    /// Tells the embedder worker that this process queued memories.
    pub(crate) fn queued(&self) {
        if let Some(relevance) = &self.relevance {
            relevance.embed_wake.notify_one();
        }
    }
}
