//! Context assembly: the Markdown slice of an agent's or a session's memories that fits a token
//! budget (the algorithm is in `engram-context`).

use engram_context::{AssembledContext, ContextRequest, Tokenizer};
use engram_core::time::{self, Timestamp};
use engram_core::*;

use crate::handle::{Engram, require};
use crate::memories::ListRequest;
use crate::search::RankedRequest;

/// Most memories considered for one context: the newest that match. A 4,000-token budget holds
/// about 50 typical memories, so this leaves the assembler ample choice at a bounded cost.
pub const CONTEXT_CANDIDATES: u32 = 150;
/// Most important memories added to the candidates when older than the newest ones.
pub const CONTEXT_IMPORTANT_CANDIDATES: u32 = 50;

/// Options of context assembly, as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    pub since: String,
    pub until: String,
    pub include_types: Vec<MemoryType>,
    pub max_tokens: u32,
    pub tokenizer: String,
    /// What the next prompt is about; empty: none.
    pub query: String,
    /// Only memories of this scope; empty: any.
    pub scope: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContextResult {
    pub assembled: AssembledContext,
    pub tokenizer: Tokenizer,
}

/// A context request after every check that needs no store.
#[derive(Debug, Clone)]
pub struct CheckedContext {
    pub tokenizer: Tokenizer,
    pub max_tokens: u32,
    /// The memories it draws from (by default of the last 24 hours).
    pub filter: MemoryFilter,
}

/// Every check of a context request that needs no store: tokenizer, budget, the time window
/// (`since` defaults to 24h), agent or session, types, scope and the query. Pure, so the fuzz
/// targets run exactly this.
pub fn check_context(
    limits: &Limits,
    agent: &str,
    session_id: &str,
    options: &ContextOptions,
    now: Timestamp,
) -> Result<CheckedContext> {
    let tokenizer = match options.tokenizer.as_str() {
        "" => Tokenizer::default(),
        name => Tokenizer::parse(name).ok_or_else(|| {
            Error::invalid("options.tokenizer", format!("{name:?} is not a tokenizer (cl100k_base, o200k_base)"))
        })?,
    };
    let max_tokens = limits.context_tokens("options.max_tokens", options.max_tokens)?;
    let since = if options.since.is_empty() { "24h" } else { options.since.as_str() };
    let mut filter = MemoryFilter {
        agent: (!agent.is_empty()).then(|| AgentRef::parse(agent)),
        session_id: (!session_id.is_empty()).then(|| session_id.to_owned()),
        memory_types: options.include_types.clone(),
        since: time::parse_spec("options.since", since, now)?,
        until: time::parse_spec("options.until", &options.until, now)?,
        scope: (!options.scope.is_empty()).then(|| options.scope.clone()),
        ..Default::default()
    };
    if filter.agent.is_none() && filter.session_id.is_none() {
        return Err(Error::invalid("agent", "agent or session_id is required"));
    }
    limits.check_filter("", &mut filter)?;
    crate::search::check_query("options.query", &options.query)?;
    Ok(CheckedContext { tokenizer, max_tokens, filter })
}

impl Engram {
    /// The memories of `filter` most relevant to `query` (the server's default ranking mode),
    /// with their scores, best first.
    async fn relevant(&self, p: &Principal, filter: &MemoryFilter, query: &str) -> Result<Vec<(Memory, f64)>> {
        if self.relevance.is_none() {
            return Ok(Vec::new());
        }
        let list = ListRequest {
            filter: MemoryFilter { since: None, until: None, ..filter.clone() },
            since: filter.since.map(|t| t.to_rfc3339()).unwrap_or_default(),
            until: filter.until.map(|t| t.to_rfc3339()).unwrap_or_default(),
            limit: CONTEXT_CANDIDATES,
            ..Default::default()
        };
        let request = RankedRequest { list, query: query.to_owned(), ..Default::default() };
        let page = self.ranked(p, request).await?;
        Ok(page.hits.into_iter().map(|h| (h.memory, h.score)).collect())
    }

    /// Markdown context of an agent's and/or a session's memories within a token budget.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent, session = session_id))]
    pub async fn build_context(
        &self,
        p: &Principal,
        agent: &str,
        session_id: &str,
        options: ContextOptions,
    ) -> Result<ContextResult> {
        require(p, Permission::Read)?;
        let now = time::now();
        let CheckedContext { tokenizer, max_tokens, filter } =
            check_context(&self.limits, agent, session_id, &options, now)?;
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
            within: None,
        };
        let important = MemoryQuery {
            filter: MemoryFilter { important_only: true, ..filter.clone() },
            limit: CONTEXT_IMPORTANT_CANDIDATES,
            ..newest.clone()
        };
        // A session's working memory leads as its "Current Task".
        let task = async {
            match &filter.session_id {
                Some(session_id) => self
                    .store
                    .get_working_memory(&p.org_id, session_id)
                    .await
                    .map(|wm| engram_context::task::task_lines(&wm.document)),
                None => Ok(Vec::new()),
            }
        };
        let (title, task, newest, important, total) = tokio::try_join!(
            title,
            task,
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
        // With a query, the most relevant memories (ranked search over the same filter) come
        // first, then the usual candidates.
        let mut relevance = Vec::new();
        if !options.query.trim().is_empty() {
            let ranked = self.relevant(p, &filter, &options.query).await?;
            let seen: std::collections::HashSet<String> = ranked.iter().map(|(m, _)| m.id.clone()).collect();
            candidates.retain(|m| !seen.contains(&m.id));
            relevance = ranked.iter().map(|(_, score)| *score).collect();
            let mut ranked: Vec<Memory> = ranked.into_iter().map(|(m, _)| m).collect();
            ranked.append(&mut candidates);
            candidates = ranked;
            relevance.resize(candidates.len(), 0.0);
        }
        let request = ContextRequest {
            title,
            memories: &candidates,
            relevance: (!relevance.is_empty()).then_some(relevance.as_slice()),
            max_tokens: max_tokens as usize,
            tokenizer,
            task: &task,
        };
        // Tokenizing is CPU work: keep it off the async workers.
        let mut assembled = tokio::task::block_in_place(|| engram_context::assemble(&request));
        assembled.omitted = usize::try_from(total).unwrap_or(usize::MAX).saturating_sub(assembled.memory_ids.len());
        self.accessed(&p.org_id, assembled.memory_ids.iter().map(String::as_str));
        Ok(ContextResult { assembled, tokenizer })
    }
}
