//! Ranked search: SearchMemories with a `query`. The full-text index finds and scores the
//! memories that the filters admit (filters apply before ranking); the store supplies them
//! (hydration), so a memory deleted since it was indexed never comes back, and the index forgets it.

use engram_core::time::{self, Timestamp};
use engram_core::validate::check_text;
use engram_core::*;
use engram_search::{Scored, TextQuery};

use crate::handle::{Engram, require};
use crate::memories::ListRequest;
use crate::relevance::Relevance;

/// Longest `query`, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;
/// Deepest `offset` of a ranked search.
pub const MAX_RANKED_OFFSET: u32 = 1000;

/// How ranked results are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Hybrid when the server has embeddings, keyword otherwise.
    #[default]
    Auto,
    Keyword,
    Semantic,
    Hybrid,
}

/// A ranked search as a client sent it.
#[derive(Debug, Clone, Default)]
pub struct RankedRequest {
    /// The filters (its `order` and `page_token` must be left unset: hits are ordered by score
    /// and page by offset).
    pub list: ListRequest,
    /// Whether the client named an order (an error with a query).
    pub order_given: bool,
    pub query: String,
    /// The client's embedding of the query (semantic and hybrid); empty: none.
    pub query_embedding: Vec<f32>,
    pub mode: SearchMode,
}

/// A memory found by a ranked search, with its score and the score's parts.
#[derive(Debug, Clone)]
pub struct Hit {
    pub memory: Memory,
    pub score: f64,
    /// BM25 of the query's terms in this memory (0 when the keyword ranking did not find it).
    pub keyword: f64,
    /// Cosine similarity to the query (0 without embeddings).
    pub semantic: f64,
    /// 1 for a memory of now, halving with each half-life of age.
    pub recency: f64,
    pub importance: f64,
}

#[derive(Debug, Clone)]
pub struct RankedPage {
    pub hits: Vec<Hit>,
    pub has_more: bool,
    pub mode: SearchMode,
}

/// Most candidates one ranked search reads before it gives up filling a page: when hits keep
/// failing `content_contains` or have been deleted, the window grows fourfold up to this.
const MAX_WINDOW: usize = 40_000;

impl Engram {
    /// SearchMemories with a query: the best memories first, paged by offset.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn ranked_search(&self, p: &Principal, request: RankedRequest) -> Result<RankedPage> {
        require(p, Permission::Read)?;
        let now = time::now();
        let RankedRequest { list, order_given, query, query_embedding: _, mode } = request;
        check_query(&query)?;
        if order_given {
            return Err(Error::invalid("order", "a search with a query is ordered by score; leave order unset"));
        }
        if !list.page_token.is_empty() {
            return Err(Error::invalid("page_token", "a search with a query pages by offset, not by token"));
        }
        if list.offset > MAX_RANKED_OFFSET {
            return Err(Error::invalid("offset", format!("is {}; at most {MAX_RANKED_OFFSET}", list.offset)));
        }
        let mode = match mode {
            SearchMode::Auto | SearchMode::Keyword => SearchMode::Keyword,
            SearchMode::Semantic | SearchMode::Hybrid => {
                return Err(Error::FailedPrecondition(
                    "mode: semantic and hybrid search need embeddings, and this server has none configured; \
                     use mode keyword (the default)"
                        .into(),
                ));
            }
        };
        let limit = self.limits.page_size("limit", list.limit)? as usize;
        let offset = list.offset as usize;
        let mut filter = list.filter;
        filter.since = time::parse_spec("filter.since", &list.since, now)?;
        filter.until = time::parse_spec("filter.until", &list.until, now)?;
        filter.content_contains = self.limits.needle("filter.content_contains", &list.content_contains)?;
        self.limits.check_filter("filter", &mut filter)?;
        let Some(relevance) = &self.relevance else {
            return Err(Error::FailedPrecondition("query: this server runs without a full-text index".into()));
        };
        // The index knows agents by id.
        if let Some(agent) = filter.agent.as_ref().filter(|a| matches!(a, AgentRef::Name(_))) {
            match self.store.get_agent(&p.org_id, agent).await {
                Ok(found) => filter.agent = Some(AgentRef::Id(found.id)),
                Err(Error::NotFound { .. }) => return Ok(RankedPage { hits: Vec::new(), has_more: false, mode }),
                Err(e) => return Err(e),
            }
        }
        let query = TextQuery::parse(&query);
        let wanted = offset + limit + 1;
        let mut window = wanted;
        loop {
            let scored = self.scored(relevance, &p.org_id, &query, &filter, now, window).await?;
            let exhausted = scored.len() < window;
            let hits = self.hydrate(relevance, &p.org_id, scored, filter.content_contains.as_ref(), now).await?;
            if hits.len() >= wanted || exhausted || window >= MAX_WINDOW {
                let has_more = hits.len() > offset + limit;
                let hits = hits.into_iter().skip(offset).take(limit).collect();
                return Ok(RankedPage { hits, has_more, mode });
            }
            window = (window * 4).min(MAX_WINDOW);
        }
    }

    async fn scored(
        &self,
        relevance: &Relevance,
        org: &str,
        query: &TextQuery,
        filter: &MemoryFilter,
        now: Timestamp,
        window: usize,
    ) -> Result<Vec<Scored>> {
        let (fulltext, ranking) = (relevance.fulltext.clone(), relevance.ranking);
        let (org, query, filter) = (org.to_owned(), query.clone(), filter.clone());
        tokio::task::spawn_blocking(move || fulltext.search(&org, &query, &filter, ranking, now, window))
            .await
            .map_err(|e| Error::internal(format!("search task: {e}")))?
    }

    /// The memories of `scored` that still exist (and contain the needle), in the same order.
    async fn hydrate(
        &self,
        relevance: &Relevance,
        org: &str,
        scored: Vec<Scored>,
        needle: Option<&Needle>,
        now: Timestamp,
    ) -> Result<Vec<Hit>> {
        let mut hits = Vec::with_capacity(scored.len());
        let mut gone = Vec::new();
        for chunk in scored.chunks(5_000) {
            let keys: Vec<i64> = chunk.iter().map(|s| s.key).collect();
            let mut found: std::collections::HashMap<i64, Memory> =
                self.store.memories_by_keys(org, &keys, now).await?.into_iter().collect();
            for s in chunk {
                let Some(memory) = found.remove(&s.key) else {
                    gone.push(s.key);
                    continue;
                };
                if needle.is_some_and(|n| !n.matches(&memory.content)) {
                    continue;
                }
                hits.push(Hit {
                    memory,
                    score: s.score,
                    keyword: s.keyword,
                    semantic: 0.0,
                    recency: s.recency,
                    importance: s.importance,
                });
            }
        }
        if !gone.is_empty() {
            // Deleted (or expired) since indexed: the index forgets them, off the request's path.
            let (fulltext, org) = (relevance.fulltext.clone(), org.to_owned());
            tokio::task::spawn_blocking(move || {
                if let Err(e) = fulltext.remove(&org, &gone) {
                    tracing::warn!(error = %e, "dropping deleted memories from the full-text index");
                }
            });
        }
        Ok(hits)
    }
}

fn check_query(query: &str) -> Result<()> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(Error::invalid("query", format!("is {} bytes; at most {MAX_QUERY_BYTES}", query.len())));
    }
    check_text("query", query)
}
