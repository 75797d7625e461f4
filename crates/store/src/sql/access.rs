//! [`AccessStore`]: reads of memories (GetMemory, ranked hits, context assembly) counted in
//! `access_count` / `last_accessed_at`. An access is not a change of the memory: it takes no
//! commit sequence number, so the indexes that follow the feed are not disturbed.

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::SqlStore;
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
                for (id, count) in accesses {
                    let mut sql = Sql::new("UPDATE memories SET access_count = access_count + ");
                    let n = sql.param(i64::try_from(count).unwrap_or(i64::MAX));
                    let at = sql.param(to_micros(at));
                    let org = sql.param(org_key);
                    sql.push(&format!(
                        "{n}, last_accessed_at = CASE WHEN last_accessed_at IS NULL OR last_accessed_at < {at} \
                         THEN {at} ELSE last_accessed_at END WHERE key IN (SELECT m.key FROM memories m WHERE \
                         m.org_key = {org} AND "
                    ));
                    let test = memory_id_test(&mut sql, &id);
                    sql.push(&format!("{test})"));
                    c.execute(&sql.text, sql.params).await?;
                }
                Ok(())
            })
        })
        .await
    }
}
