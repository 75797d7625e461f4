//! [`EmbedQueueStore`]: the embedder's queue, kept in the store so it survives restarts. A memory
//! written while the server has an embedder (and without a client vector) waits with
//! `embedding_state` 1 (index `memories_embedding_pending`); its vector is stored at most once,
//! with the org's next commit sequence number, so every replica's index picks it up from the
//! change feed.

use engram_core::*;

use super::SqlStore;
use super::conn::params;
use super::writer::org_lock;
use crate::{EmbedQueueStore, EmbeddingsStored, PendingEmbedding};

/// `embedding_state` of a memory whose vector the embedder could not store (another dimension
/// than its org's vectors).
const FAILED: i64 = 3;

#[async_trait::async_trait]
impl EmbedQueueStore for SqlStore {
    async fn pending_embeddings(&self, limit: u32) -> Result<Vec<PendingEmbedding>> {
        let limit = i64::from(limit.clamp(1, 10_000));
        self.read(move |c| {
            Box::pin(async move {
                c.query(
                    "SELECT o.id, m.key, m.content FROM memories m JOIN orgs o ON o.key = m.org_key \
                     WHERE m.embedding_state = 1 ORDER BY m.key LIMIT $1",
                    params![limit],
                    |r| Ok(PendingEmbedding { org_id: r.string(0)?, key: r.i64(1)?, text: r.string(2)? }),
                )
                .await
            })
        })
        .await
    }

    async fn count_pending_embeddings(&self) -> Result<u64> {
        let n = self
            .read(|c| {
                Box::pin(async move {
                    c.query_i64("SELECT count(*) FROM memories WHERE embedding_state = 1", Vec::new()).await
                })
            })
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, vectors = vectors.len()))]
    async fn store_embeddings(&self, org: &str, vectors: Vec<(i64, Vec<f32>)>) -> Result<EmbeddingsStored> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(EmbeddingsStored::default()) };
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let mut done = EmbeddingsStored::default();
                let mut dim = c
                    .query_one("SELECT vector_dim FROM orgs WHERE key = $1", params![org_key], |r| r.opt_i64(0))
                    .await?
                    .flatten();
                for (key, vector) in vectors {
                    let n = i64::try_from(vector.len()).unwrap_or(i64::MAX);
                    if dim.is_some_and(|d| d != n) {
                        let failed = c
                            .execute(
                                "UPDATE memories SET embedding_state = $1 WHERE key = $2 AND org_key = $3 \
                                 AND embedding_state = 1",
                                params![FAILED, key, org_key],
                            )
                            .await?;
                        done.rejected += failed;
                        continue;
                    }
                    let claimed = c
                        .execute(
                            "UPDATE memories SET embedding_state = 2, \
                             seq = (SELECT last_seq + 1 FROM orgs WHERE key = $1) \
                             WHERE key = $2 AND org_key = $1 AND embedding_state = 1",
                            params![org_key, key],
                        )
                        .await?;
                    if claimed == 0 {
                        continue; // deleted, or embedded meanwhile (another replica)
                    }
                    c.execute(
                        "INSERT INTO memory_vectors (memory_key, vector) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        vec![key.into(), super::conn::Param::Bytes(vector::to_bytes(&vector))],
                    )
                    .await?;
                    c.execute("UPDATE orgs SET last_seq = last_seq + 1 WHERE key = $1", params![org_key]).await?;
                    if dim.is_none() {
                        c.execute("UPDATE orgs SET vector_dim = $1 WHERE key = $2", params![n, org_key]).await?;
                        dim = Some(n);
                    }
                    done.stored += 1;
                }
                Ok(done)
            })
        })
        .await
    }
}
