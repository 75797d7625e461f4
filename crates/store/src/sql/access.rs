//! [`AccessStore`]: reads of memories (GetMemory, ranked hits, context assembly) counted in
//! `access_count` / `last_accessed_at`. An access is not a change of the memory: it takes no
//! commit sequence number, so the indexes that follow the feed are not disturbed. A cold memory
//! that is read moves to the hot tier with its content decompressed into its row.

use engram_core::lifecycle::Tier;
use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::SqlStore;
use super::shared::cold::restore;
use super::shared::filter::Sql;
use super::shared::refs::memory_id_test;
use super::writer::org_lock;
use crate::AccessStore;

#[async_trait::async_trait]
impl AccessStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, memories = accesses.len()))]
    async fn record_accesses(&self, org: &str, accesses: Vec<(String, u64)>, at: Timestamp) -> Result<()> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(()) };
        if accesses.is_empty() {
            return Ok(());
        }
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let mut cold = Vec::new();
                for (id, count) in accesses {
                    let mut sql = Sql::new("UPDATE memories SET access_count = access_count + ");
                    let n = sql.param(i64::try_from(count).unwrap_or(i64::MAX));
                    let at = sql.param(to_micros(at));
                    sql.push(&format!(
                        "{n}, last_accessed_at = CASE WHEN last_accessed_at IS NULL OR last_accessed_at < {at} \
                         THEN {at} ELSE last_accessed_at END WHERE key IN (SELECT m.key FROM memories m WHERE "
                    ));
                    let test = memory_id_test(&mut sql, org_key, &id);
                    sql.push(&format!("{test}) RETURNING key, block_key, block_slot"));
                    let read =
                        c.query(&sql.text, sql.params, |r| Ok((r.i64(0)?, r.opt_i64(1)?, r.opt_i64(2)?))).await?;
                    cold.extend(read.into_iter().filter_map(|(key, block, slot)| Some((key, block?, slot?))));
                }
                // A cold memory that is read moves back up, its content back in its row.
                restore(c, cold, Tier::Hot).await?;
                Ok(())
            })
        })
        .await
    }
}
