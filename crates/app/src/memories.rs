//! Memories: add (one or a batch), get, list and search, update, delete.

use engram_core::time::{self, Timestamp};
use engram_core::validate::{MAX_OFFSET, check_importance};
use engram_core::*;

use crate::handle::{Engram, require};

/// How far back a duplicate counts.
pub const DEDUP_WINDOW_HOURS: i64 = 24;

/// A list request as a client sent it (time specs, the needle and the page token still text).
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Every filter but the time window and `content_contains` (see the fields below).
    pub filter: MemoryFilter,
    pub since: String,
    pub until: String,
    /// Case-insensitive substring; empty means none.
    pub content_contains: String,
    pub limit: u32,
    pub order: Order,
    pub page_token: String,
    pub offset: u32,
}

/// The agent of a created memory (what the result cache drops).
fn created_agent(outcome: &AddOutcome) -> Option<&str> {
    match outcome {
        AddOutcome::Created(m) => Some(m.agent_id.as_str()),
        AddOutcome::Duplicate { .. } => None,
    }
}

fn dedup_window() -> chrono::Duration {
    chrono::Duration::hours(DEDUP_WINDOW_HOURS)
}

impl Engram {
    /// Creates one memory; a duplicate is AlreadyExists with the existing id.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = memory.agent.as_str()))]
    pub async fn add_memory(&self, p: &Principal, memory: NewMemory) -> Result<Memory> {
        require(p, Permission::Write)?;
        let now = time::now();
        let mut memories = vec![self.limits.check_new_memory("memory", memory, now)?];
        self.check_quota(&p.org_id, &memories).await?;
        self.queue_for_embedding(&mut memories);
        let seen = self.hot_generation(&p.org_id);
        let outcome = self
            .store
            .add_memories(&p.org_id, memories, dedup_window(), now)
            .await
            .map_err(|err| err.in_single("memory"))?;
        self.written();
        self.queued();
        self.results.written(&p.org_id, outcome.iter().filter_map(created_agent));
        self.cache_created(&p.org_id, &outcome, seen);
        match outcome.into_iter().next() {
            Some(AddOutcome::Created(memory)) => Ok(memory),
            Some(AddOutcome::Duplicate { existing_id }) => Err(Error::AlreadyExists { what: "memory", existing_id }),
            None => Err(Error::internal("the store returned no outcome")),
        }
    }

    /// Creates up to `max_batch` memories atomically; invalid input rejects the whole batch.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, items = memories.len()))]
    pub async fn add_memories(&self, p: &Principal, memories: Vec<NewMemory>) -> Result<Vec<AddOutcome>> {
        require(p, Permission::Write)?;
        self.limits.check_batch_size("memories", memories.len())?;
        let now = time::now();
        let mut valid = memories
            .into_iter()
            .enumerate()
            .map(|(i, memory)| self.limits.check_new_memory(&format!("memories[{i}]"), memory, now))
            .collect::<Result<Vec<_>>>()?;
        self.check_quota(&p.org_id, &valid).await?;
        self.queue_for_embedding(&mut valid);
        let seen = self.hot_generation(&p.org_id);
        let outcomes = self
            .store
            .add_memories(&p.org_id, valid, dedup_window(), now)
            .await
            .map_err(|err| err.in_batch("memories"))?;
        self.written();
        self.queued();
        self.results.written(&p.org_id, outcomes.iter().filter_map(created_agent));
        self.cache_created(&p.org_id, &outcomes, seen);
        Ok(outcomes)
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, memory = id))]
    pub async fn get_memory(&self, p: &Principal, id: &str) -> Result<Memory> {
        require(p, Permission::Read)?;
        self.limits.check_id("id", id)?;
        let now = time::now();
        if let Some(memory) = self.hot.as_ref().and_then(|h| h.get(&p.org_id, id, now)) {
            self.accessed(&p.org_id, [memory.id.as_str()]);
            return Ok(memory);
        }
        let seen = self.hot_generation(&p.org_id);
        let memory = self.store.get_memory(&p.org_id, id, now).await?;
        self.accessed(&p.org_id, [memory.id.as_str()]);
        if let Some(hot) = &self.hot
            && memory.id == id
        {
            hot.put(&p.org_id, &memory, seen);
        }
        Ok(memory)
    }

    /// ListMemories and SearchMemories.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn list_memories(&self, p: &Principal, request: ListRequest) -> Result<MemoryPage> {
        require(p, Permission::Read)?;
        let now = time::now();
        let fingerprint = query_fingerprint(&format!(
            "list {:?} {:?} {:?} {:?} {:?}",
            request.filter, request.since, request.until, request.content_contains, request.order
        ));
        let query = list_query(&self.limits, request, now, fingerprint)?;
        let mut page = match self.list_by_needle(&p.org_id, &query, now).await? {
            Some(page) => page,
            None => self.store.list_memories(&p.org_id, &query, now).await?,
        };
        if let Some(cursor) = page.next_cursor.as_mut() {
            cursor.query = fingerprint;
        }
        Ok(page)
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, memory = id))]
    pub async fn update_memory(&self, p: &Principal, id: &str, mut patch: MemoryPatch) -> Result<Memory> {
        require(p, Permission::Write)?;
        self.limits.check_id("id", id)?;
        let now = time::now();
        if patch == MemoryPatch::default() {
            return Err(Error::invalid(
                "update_mask",
                "must name at least one of importance, tags, metadata, expires_at",
            ));
        }
        if let Some(importance) = patch.importance {
            check_importance("importance", importance)?;
        }
        if let Some(tags) = &mut patch.tags {
            self.limits.normalize_tags("tags", tags)?;
        }
        if let Some(metadata) = &patch.metadata {
            self.limits.check_metadata("metadata", metadata)?;
        }
        if let Some(Some(expires_at)) = patch.expires_at
            && expires_at <= now
        {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        let seen = self.hot_generation(&p.org_id);
        let updated = self.store.update_memory(&p.org_id, id, patch, now).await;
        if let Some(hot) = &self.hot {
            // Dropped whatever the outcome: a failed update may still have found it gone.
            hot.remove(&p.org_id, id);
        }
        let updated = updated?;
        if let Some(hot) = &self.hot {
            hot.put(&p.org_id, &updated, seen);
        }
        self.written();
        self.results.written(&p.org_id, [updated.agent_id.as_str()]);
        Ok(updated)
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, memory = id))]
    pub async fn delete_memory(&self, p: &Principal, id: &str) -> Result<()> {
        require(p, Permission::Write)?;
        self.limits.check_id("id", id)?;
        let deleted = self.store.delete_memory(&p.org_id, id).await;
        // The org's entries, not the id's: `id` may be another name of the memory (a legacy id).
        self.forget_org(&p.org_id);
        deleted?;
        Ok(())
    }

    /// Returns how many memories were deleted.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn delete_memories(
        &self,
        p: &Principal,
        mut filter: DeleteFilter,
        since: &str,
        until: &str,
    ) -> Result<u64> {
        require(p, Permission::Write)?;
        let now = time::now();
        if filter.agent.is_none() && filter.session_id.is_none() {
            return Err(Error::invalid("agent", "agent or session_id is required to delete memories"));
        }
        if let Some(agent) = &filter.agent {
            self.limits.check_name("agent", agent.as_str())?;
        }
        if let Some(session_id) = &filter.session_id {
            self.limits.check_id("session_id", session_id)?;
        }
        filter.since = time::parse_spec("since", since, now)?;
        filter.until = time::parse_spec("until", until, now)?;
        let deleted = self.store.delete_memories(&p.org_id, &filter).await;
        self.forget_org(&p.org_id);
        let deleted = deleted?;
        Ok(deleted)
    }

    /// New memories are hot: into the hot cache.
    fn cache_created(&self, org: &str, outcomes: &[AddOutcome], seen: u64) {
        if let Some(hot) = &self.hot {
            for outcome in outcomes {
                if let AddOutcome::Created(memory) = outcome {
                    hot.put(org, memory, seen);
                }
            }
        }
    }

    /// The org's hot-cache generation before a store read or write whose result will be cached.
    fn hot_generation(&self, org: &str) -> u64 {
        self.hot.as_ref().map_or(0, |h| h.generation(org))
    }

    /// After memories of `org` were deleted or changed in bulk: its cached results and hot
    /// memories go.
    pub(crate) fn forget_org(&self, org: &str) {
        self.results.clear(org);
        if let Some(hot) = &self.hot {
            hot.clear_org(org);
        }
    }
}

/// The filter of a listing or a search, taken out of `request`: its time specs (`since`,
/// `until`) and text needle parsed at `now`, then the whole filter checked and normalized. Pure,
/// so the fuzz targets run exactly this.
pub fn request_filter(limits: &Limits, request: &mut ListRequest, now: Timestamp) -> Result<MemoryFilter> {
    let mut filter = std::mem::take(&mut request.filter);
    filter.since = time::parse_spec("filter.since", &request.since, now)?;
    filter.until = time::parse_spec("filter.until", &request.until, now)?;
    filter.content_contains = limits.needle("filter.content_contains", &request.content_contains)?;
    limits.check_filter("filter", &mut filter)?;
    Ok(filter)
}

/// The store query of a ListMemories-style request: every check of its filter, order, offset,
/// page token (of the query with this fingerprint) and page size. Pure.
pub fn list_query(limits: &Limits, mut request: ListRequest, now: Timestamp, fingerprint: u64) -> Result<MemoryQuery> {
    let filter = request_filter(limits, &mut request, now)?;
    if request.order.by_distance() && filter.near.is_none() {
        return Err(Error::invalid("order", "nearest first needs filter.near (a point and a radius)"));
    }
    if request.offset > MAX_OFFSET {
        return Err(Error::invalid(
            "offset",
            format!("is {}; at most {MAX_OFFSET} (page further with next_page_token)", request.offset),
        ));
    }
    let cursor = match request.page_token.as_str() {
        "" => None,
        token => Some(MemoryCursor::decode("page_token", token, fingerprint)?),
    };
    Ok(MemoryQuery {
        filter,
        limit: limits.page_size("limit", request.limit)?,
        order: request.order,
        cursor,
        offset: request.offset,
        within: None,
    })
}
