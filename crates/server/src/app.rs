//! The domain operations behind every API surface. gRPC (and later REST) adapters call these;
//! they check the caller's permission, validate, apply defaults and call the store. No proto or
//! HTTP type appears here.

use std::sync::Arc;

use engram_context::{AssembledContext, ContextRequest, Tokenizer};
use engram_core::time::{self, Timestamp};
use engram_core::validate::check_importance;
use engram_core::*;
use engram_store::DynStore;

/// How far back a duplicate counts.
pub const DEDUP_WINDOW_HOURS: i64 = 24;
/// Most memories considered for one context: the newest that match. A 4,000-token budget holds
/// about 50 typical memories, so this leaves the assembler ample choice at a bounded cost.
pub const CONTEXT_CANDIDATES: u32 = 150;
/// Most important memories added to the candidates when older than the newest ones.
pub const CONTEXT_IMPORTANT_CANDIDATES: u32 = 50;

#[derive(Clone)]
pub struct Engram {
    store: DynStore,
    limits: Arc<Limits>,
}

/// A page request over agents or sessions.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub size: u32,
    pub token: String,
}

/// Options of context assembly, as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    pub since: String,
    pub until: String,
    pub include_types: Vec<MemoryType>,
    pub max_tokens: u32,
    pub tokenizer: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContextResult {
    pub assembled: AssembledContext,
    pub tokenizer: Tokenizer,
}

/// A list request as a client sent it (time specs still text).
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub filter: MemoryFilter,
    pub since: String,
    pub until: String,
    pub limit: u32,
    pub order: Order,
    pub page_token: String,
    pub offset: u32,
}

fn require(principal: &Principal, needed: Permission) -> Result<()> {
    if principal.allows(needed) {
        return Ok(());
    }
    Err(Error::PermissionDenied(format!("this API key lacks the {} permission", needed.as_str())))
}

fn cursor(field: &str, token: &str) -> Result<Option<Cursor>> {
    if token.is_empty() { Ok(None) } else { Cursor::decode(field, token).map(Some) }
}

impl Engram {
    pub fn new(store: DynStore, limits: Limits) -> Self {
        Self { store, limits: Arc::new(limits) }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    // ---- memories -------------------------------------------------------------------------

    /// Creates one memory; a duplicate is AlreadyExists with the existing id.
    pub async fn add_memory(&self, p: &Principal, mut memory: NewMemory) -> Result<Memory> {
        require(p, Permission::Write)?;
        let now = time::now();
        self.limits.check_new_memory("memory", &mut memory, now)?;
        let outcome =
            self.store.add_memories(&p.org_id, vec![memory], self.dedup_window(), now).await.map_err(|err| {
                // The store names batch items `memories[0].…`; this request has one `memory`.
                match err {
                    Error::InvalidArgument { field, rule } => Error::InvalidArgument {
                        field: field.strip_prefix("memories[0]").map_or(field.clone(), |rest| format!("memory{rest}")),
                        rule,
                    },
                    other => other,
                }
            })?;
        match outcome.into_iter().next() {
            Some(AddOutcome::Created(memory)) => Ok(memory),
            Some(AddOutcome::Duplicate { existing_id }) => Err(Error::AlreadyExists { what: "memory", existing_id }),
            None => Err(Error::internal("the store returned no outcome")),
        }
    }

    /// Creates up to `max_batch` memories atomically; invalid input rejects the whole batch.
    pub async fn add_memories(&self, p: &Principal, mut memories: Vec<NewMemory>) -> Result<Vec<AddOutcome>> {
        require(p, Permission::Write)?;
        self.limits.check_batch_size("memories", memories.len())?;
        let now = time::now();
        for (i, memory) in memories.iter_mut().enumerate() {
            self.limits.check_new_memory(&format!("memories[{i}]"), memory, now)?;
        }
        self.store.add_memories(&p.org_id, memories, self.dedup_window(), now).await
    }

    pub async fn get_memory(&self, p: &Principal, id: &str) -> Result<Memory> {
        require(p, Permission::Read)?;
        self.limits.check_id("id", id)?;
        self.store.get_memory(&p.org_id, id, time::now()).await
    }

    /// ListMemories and SearchMemories.
    pub async fn list_memories(&self, p: &Principal, request: ListRequest) -> Result<MemoryPage> {
        require(p, Permission::Read)?;
        let now = time::now();
        let query = self.memory_query(request, now)?;
        self.store.list_memories(&p.org_id, &query, now).await
    }

    fn memory_query(&self, request: ListRequest, now: Timestamp) -> Result<MemoryQuery> {
        let mut filter = request.filter;
        filter.since = time::parse_spec("filter.since", &request.since, now)?;
        filter.until = time::parse_spec("filter.until", &request.until, now)?;
        self.limits.check_filter("filter", &mut filter)?;
        Ok(MemoryQuery {
            filter,
            limit: self.limits.page_size("limit", request.limit)?,
            order: request.order,
            cursor: cursor("page_token", &request.page_token)?,
            offset: request.offset,
        })
    }

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
        self.store.update_memory(&p.org_id, id, patch, now).await
    }

    pub async fn delete_memory(&self, p: &Principal, id: &str) -> Result<()> {
        require(p, Permission::Write)?;
        self.limits.check_id("id", id)?;
        self.store.delete_memory(&p.org_id, id).await
    }

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
        self.store.delete_memories(&p.org_id, &filter).await
    }

    fn dedup_window(&self) -> chrono::Duration {
        chrono::Duration::hours(DEDUP_WINDOW_HOURS)
    }

    // ---- agents ---------------------------------------------------------------------------

    pub async fn register_agent(&self, p: &Principal, agent: NewAgent) -> Result<Agent> {
        require(p, Permission::Write)?;
        self.limits.check_name("name", &agent.name)?;
        if is_agent_id(&agent.name) {
            return Err(Error::invalid("name", "must not have the form of an agent id (agent_ + 24 hex)"));
        }
        self.limits.check_description("description", &agent.description)?;
        self.limits.check_metadata("config", &agent.config)?;
        self.store.register_agent(&p.org_id, agent, time::now()).await
    }

    pub async fn get_agent(&self, p: &Principal, field: &str, agent: &str) -> Result<Agent> {
        require(p, Permission::Read)?;
        self.limits.check_name(field, agent)?;
        self.store.get_agent(&p.org_id, &AgentRef::parse(agent)).await
    }

    pub async fn list_agents(&self, p: &Principal, page: PageRequest) -> Result<Page<Agent>> {
        require(p, Permission::Read)?;
        let size = self.limits.page_size("page_size", page.size)?;
        self.store.list_agents(&p.org_id, size, cursor("page_token", &page.token)?).await
    }

    pub async fn delete_agent(&self, p: &Principal, agent: &str, cascade: bool) -> Result<(u64, u64)> {
        require(p, Permission::Write)?;
        self.limits.check_name("agent", agent)?;
        self.store.delete_agent(&p.org_id, &AgentRef::parse(agent), cascade).await
    }

    pub async fn agent_stats(&self, p: &Principal, agent: &str) -> Result<AgentStats> {
        require(p, Permission::Read)?;
        self.limits.check_name("agent", agent)?;
        self.store.agent_stats(&p.org_id, &AgentRef::parse(agent), time::now()).await
    }

    // ---- sessions -------------------------------------------------------------------------

    pub async fn create_session(&self, p: &Principal, agent: &str, metadata: Metadata) -> Result<Session> {
        require(p, Permission::Write)?;
        self.limits.check_name("agent", agent)?;
        self.limits.check_metadata("metadata", &metadata)?;
        self.store.create_session(&p.org_id, &AgentRef::parse(agent), metadata, time::now()).await
    }

    pub async fn get_session(&self, p: &Principal, id: &str) -> Result<Session> {
        require(p, Permission::Read)?;
        self.limits.check_id("id", id)?;
        self.store.get_session(&p.org_id, id).await
    }

    pub async fn list_sessions(
        &self,
        p: &Principal,
        agent: &str,
        status: Option<SessionStatus>,
        page: PageRequest,
    ) -> Result<Page<Session>> {
        require(p, Permission::Read)?;
        let agent = if agent.is_empty() {
            None
        } else {
            self.limits.check_name("agent", agent)?;
            Some(AgentRef::parse(agent))
        };
        let size = self.limits.page_size("page_size", page.size)?;
        self.store.list_sessions(&p.org_id, agent.as_ref(), status, size, cursor("page_token", &page.token)?).await
    }

    pub async fn update_session(&self, p: &Principal, id: &str, patch: SessionPatch) -> Result<Session> {
        require(p, Permission::Write)?;
        self.limits.check_id("id", id)?;
        if let Some((metadata, _)) = &patch.metadata {
            self.limits.check_metadata("metadata", metadata)?;
        }
        self.store.update_session(&p.org_id, id, patch, time::now()).await
    }

    // ---- context --------------------------------------------------------------------------

    /// Markdown context of an agent's and/or a session's memories within a token budget.
    pub async fn build_context(
        &self,
        p: &Principal,
        agent: &str,
        session_id: &str,
        options: ContextOptions,
    ) -> Result<ContextResult> {
        require(p, Permission::Read)?;
        let now = time::now();
        let tokenizer = match options.tokenizer.as_str() {
            "" => Tokenizer::default(),
            name => Tokenizer::parse(name).ok_or_else(|| {
                Error::invalid("options.tokenizer", format!("{name:?} is not a tokenizer (cl100k_base, o200k_base)"))
            })?,
        };
        let max_tokens = self.limits.context_tokens("options.max_tokens", options.max_tokens)?;
        let since = if options.since.is_empty() { "24h" } else { options.since.as_str() };
        let mut filter = MemoryFilter {
            agent: (!agent.is_empty()).then(|| AgentRef::parse(agent)),
            session_id: (!session_id.is_empty()).then(|| session_id.to_owned()),
            memory_types: options.include_types,
            since: time::parse_spec("options.since", since, now)?,
            until: time::parse_spec("options.until", &options.until, now)?,
            ..Default::default()
        };
        if filter.agent.is_none() && filter.session_id.is_none() {
            return Err(Error::invalid("agent", "agent or session_id is required"));
        }
        self.limits.check_filter("", &mut filter)?;
        let title = async {
            match (&filter.session_id, agent) {
                // A session that does not exist is NotFound, not an empty context.
                (Some(session_id), _) => self
                    .store
                    .get_session(&p.org_id, session_id)
                    .await
                    .map(|_| format!("Session Context ({session_id})")),
                (None, agent) => self
                    .store
                    .get_agent(&p.org_id, &AgentRef::parse(agent))
                    .await
                    .map(|agent| format!("Agent Context ({})", agent.name)),
            }
        };
        // Candidates: the newest matching memories, plus the newest important ones (decisions,
        // failures, high importance) that routine items may have pushed out of the first set.
        // The four reads are independent: they run at once on the read pool.
        let newest = MemoryQuery {
            filter: filter.clone(),
            limit: CONTEXT_CANDIDATES,
            order: Order::Desc,
            cursor: None,
            offset: 0,
        };
        let important = MemoryQuery {
            filter: MemoryFilter { important_only: true, ..filter.clone() },
            limit: CONTEXT_IMPORTANT_CANDIDATES,
            ..newest.clone()
        };
        let (title, newest, important, total) = tokio::try_join!(
            title,
            self.store.list_memories(&p.org_id, &newest, now),
            self.store.list_memories(&p.org_id, &important, now),
            self.store.count_memories(&p.org_id, &filter, now),
        )?;
        let mut candidates = newest.memories;
        if newest.has_more {
            let seen: std::collections::HashSet<String> = candidates.iter().map(|m| m.id.clone()).collect();
            candidates.extend(important.memories.into_iter().filter(|m| !seen.contains(&m.id)));
            candidates.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
        }
        let request = ContextRequest { title, memories: &candidates, max_tokens: max_tokens as usize, tokenizer };
        // Tokenizing is CPU work: keep it off the async workers.
        let mut assembled = tokio::task::block_in_place(|| engram_context::assemble(&request));
        assembled.omitted = usize::try_from(total).unwrap_or(usize::MAX).saturating_sub(assembled.memory_ids.len());
        Ok(ContextResult { assembled, tokenizer })
    }

    // ---- administration -------------------------------------------------------------------

    fn require_admin_of(&self, p: &Principal, org: &str) -> Result<()> {
        require(p, Permission::Admin)?;
        if org != p.org_id && !p.is_operator() {
            return Err(Error::PermissionDenied("only an admin key of org_default may administer other orgs".into()));
        }
        Ok(())
    }

    pub async fn create_org(&self, p: &Principal, name: &str) -> Result<Org> {
        require(p, Permission::Admin)?;
        if !p.is_operator() {
            return Err(Error::PermissionDenied("only an admin key of org_default may create orgs".into()));
        }
        self.limits.check_name("name", name)?;
        self.store.create_org(&ids::org_id(), name, time::now()).await
    }

    pub async fn list_orgs(&self, p: &Principal) -> Result<Vec<Org>> {
        require(p, Permission::Admin)?;
        if p.is_operator() { self.store.list_orgs().await } else { Ok(vec![self.store.get_org(&p.org_id).await?]) }
    }

    /// Returns the key and its secret (shown once).
    pub async fn create_api_key(
        &self,
        p: &Principal,
        org: &str,
        name: &str,
        permissions: Vec<Permission>,
        expires_at: Option<Timestamp>,
    ) -> Result<(ApiKey, String)> {
        let org = if org.is_empty() { p.org_id.as_str() } else { org };
        self.require_admin_of(p, org)?;
        self.limits.check_id("org_id", org)?;
        create_api_key(&self.store, &self.limits, org, name, permissions, expires_at).await
    }

    pub async fn list_api_keys(&self, p: &Principal, org: &str) -> Result<Vec<ApiKey>> {
        let org = if org.is_empty() { p.org_id.as_str() } else { org };
        self.require_admin_of(p, org)?;
        self.store.get_org(org).await?; // an unknown org is NotFound, not an empty list
        self.store.list_api_keys(org).await
    }

    pub async fn revoke_api_key(&self, p: &Principal, key_id: &str) -> Result<ApiKey> {
        require(p, Permission::Admin)?;
        self.limits.check_id("id", key_id)?;
        let scope = if p.is_operator() { None } else { Some(p.org_id.as_str()) };
        self.store.revoke_api_key(scope, key_id, time::now()).await
    }
}

/// Creates a key in `org` (also used by the CLI, which has no principal).
pub async fn create_api_key(
    store: &DynStore,
    limits: &Limits,
    org: &str,
    name: &str,
    mut permissions: Vec<Permission>,
    expires_at: Option<Timestamp>,
) -> Result<(ApiKey, String)> {
    limits.check_name("name", name)?;
    if permissions.is_empty() {
        return Err(Error::invalid("permissions", "name at least one of read, write, admin"));
    }
    permissions.sort();
    permissions.dedup();
    let now = time::now();
    if expires_at.is_some_and(|t| t <= now) {
        return Err(Error::invalid("expires_at", "must be in the future"));
    }
    let (id, secret) = ids::api_key();
    let key = ApiKey {
        id,
        org_id: org.to_owned(),
        name: name.to_owned(),
        permissions,
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    store.create_api_key(&key, &ids::key_digest(&secret)).await?;
    Ok((key, secret))
}
