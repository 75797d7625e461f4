//! [`FeedStore`]: the org's commit sequence as a change feed, for indexes kept outside the store
//! (the full-text index), and memories by key for what such an index finds.
//!
//! Every write of a memory gives it the org's next `seq` under the org's row lock, held until
//! commit, so on both backends an org's rows become visible in `seq` order: a reader that asks
//! for `seq > n` never skips a row that commits later with a smaller value.

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::SqlStore;
use super::conn::params;
use super::shared::rows::{self, MEMORY_COLUMN_COUNT, MEMORY_COLUMNS};
use crate::{FeedChange, FeedHead, FeedStore};

/// Most rows one call of [`FeedStore::feed_changes`] or [`FeedStore::memories_by_keys`] reads.
const MAX_ROWS: u32 = 10_000;

#[async_trait::async_trait]
impl FeedStore for SqlStore {
    async fn feed_heads(&self) -> Result<Vec<FeedHead>> {
        self.read(|c| {
            Box::pin(async move {
                c.query("SELECT id, last_seq FROM orgs ORDER BY key", Vec::new(), |r| {
                    Ok(FeedHead { org_id: r.string(0)?, last_seq: r.i64(1)? })
                })
                .await
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, after = after_seq))]
    async fn feed_changes(&self, org: &str, after_seq: i64, limit: u32) -> Result<Vec<FeedChange>> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(Vec::new()) };
        let (org_id, store) = (org.to_owned(), self.clone());
        let limit = i64::from(limit.clamp(1, MAX_ROWS));
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {MEMORY_COLUMNS}, m.seq, v.vector, v.codec FROM memories m \
                     LEFT JOIN memory_vectors v ON v.memory_key = m.key WHERE m.org_key = $1 AND m.seq > $2 \
                     ORDER BY m.seq LIMIT $3"
                );
                let mut extra = Vec::new();
                let found = c
                    .query(&sql, params![org_key, after_seq, limit], |r| {
                        let row = rows::memory_row(r)?;
                        let vector = r.opt_bytes(MEMORY_COLUMN_COUNT + 1)?.map(|bytes| {
                            match r.opt_i64(MEMORY_COLUMN_COUNT + 2).ok().flatten() {
                                Some(1) => vector::dequantize(&bytes),
                                _ => vector::from_bytes(&bytes),
                            }
                        });
                        Ok((row, r.i64(MEMORY_COLUMN_COUNT)?, vector))
                    })
                    .await?;
                let found = found
                    .into_iter()
                    .map(|(row, seq, vector)| {
                        extra.push((seq, vector));
                        row
                    })
                    .collect();
                let memories = super::shared::refs::memories(c, &store.inner.ids, &org_id, found).await?;
                Ok(memories
                    .into_iter()
                    .zip(extra)
                    .map(|((key, memory), (seq, vector))| FeedChange { seq, key, memory, vector })
                    .collect())
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, keys = keys.len()))]
    async fn memories_by_keys(&self, org: &str, keys: &[i64], now: Timestamp) -> Result<Vec<(i64, Memory)>> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(Vec::new()) };
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if keys.len() > MAX_ROWS as usize {
            return Err(Error::internal(format!("memories_by_keys: {} keys; at most {MAX_ROWS}", keys.len())));
        }
        // Integers only: written into the text, so one statement serves any number of keys. The
        // rows are found by key (`+org_key` keeps SQLite from scanning the org's index instead:
        // measured 50 ms at 10^6 memories, against key lookups in microseconds).
        let list = keys.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let (org_id, store) = (org.to_owned(), self.clone());
        let now = to_micros(now);
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.key IN ({list}) AND +m.org_key = $1 \
                     AND (m.expires_at IS NULL OR m.expires_at > $2)"
                );
                let found = c.query(&sql, params![org_key, now], rows::memory_row).await?;
                super::shared::refs::memories(c, &store.inner.ids, &org_id, found).await
            })
        })
        .await
    }
}
