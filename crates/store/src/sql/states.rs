//! [`StateStore`]: the keys and metadata of a listing, for the state vectorizer (1,000s of states
//! per query: no content, tags or ids are read or decoded).

use engram_core::time::Timestamp;
use engram_core::*;

use super::SqlStore;
use super::shared::filter::{Select, memory_query};
use crate::StateStore;

#[async_trait::async_trait]
impl StateStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, limit = query.limit))]
    async fn memory_metadata(&self, org: &str, query: &MemoryQuery, now: Timestamp) -> Result<Vec<(i64, Metadata)>> {
        if query.filter.content_contains.is_some() {
            return Err(Error::invalid("filter.content_contains", "is not supported by a metadata listing"));
        }
        if query.cursor.is_some() || query.offset > 0 || query.within.is_some() {
            return Err(Error::internal("a metadata listing starts from the first row"));
        }
        let Some(org_key) = self.org_key(org).await? else { return Ok(Vec::new()) };
        let (backend, owned) = (self.backend(), query.clone());
        self.read(move |c| {
            Box::pin(async move {
                let select = Select::Page {
                    // `Page` reads one row more than `limit` (to tell whether more exist).
                    limit: owned.limit.saturating_sub(1),
                    offset: 0,
                    order: owned.order,
                    cursor: None,
                    within: None,
                    metadata_only: true,
                };
                let sql = memory_query(backend, org_key, &owned.filter, now, select);
                c.query(&sql.text, sql.params, |row| Ok((row.i64(0)?, row.object(1)?))).await
            })
        })
        .await
    }
}
