//! Ranked search: SearchMemories with a `query` and/or a `query_embedding`. The index finds and
//! scores the memories that the filters admit (filters apply before ranking): by BM25 (keyword),
//! by cosine similarity of vectors (semantic), or both fused (hybrid); then each memory also by
//! its session (context scoring, in the index: its neighbours and its session's best). The
//! store supplies the memories (hydration), so a memory deleted since it was indexed never comes
//! back (and the index forgets it), and recency and importance weigh the score as stored.

use std::collections::HashMap;

use engram_core::time::{self, Timestamp};
use engram_core::validate::{check_embedding, check_text};
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
    /// The mode that ranked the hits (never `Auto`).
    pub mode: SearchMode,
    /// Semantic and hybrid: how many memories the filters admit that have no vector (they can
    /// be found by keyword only).
    pub unembedded: Option<u64>,
}

/// A ranked search after every check that needs neither index nor store.
#[derive(Debug, Clone)]
pub struct CheckedRanked {
    pub query: String,
    /// The client's embedding of the query, checked.
    pub vector: Option<Vec<f32>>,
    /// As asked (`Auto` is resolved against the server's index and embedder).
    pub mode: SearchMode,
    pub filter: MemoryFilter,
    pub limit: usize,
    pub offset: usize,
}

/// Every check of a ranked search that needs neither index nor store: the query, no order and
/// no page token (hits are ordered by score and paged by offset), the offset, the client's
/// embedding, the filter and the page size. Pure, so the fuzz targets run exactly this.
pub fn check_ranked(limits: &Limits, request: RankedRequest, now: Timestamp) -> Result<CheckedRanked> {
    let RankedRequest { mut list, order_given, query, query_embedding, mode } = request;
    check_query("query", &query)?;
    if order_given {
        return Err(Error::invalid("order", "a search with a query is ordered by score; leave order unset"));
    }
    if !list.page_token.is_empty() {
        return Err(Error::invalid("page_token", "a search with a query pages by offset, not by token"));
    }
    if list.offset > MAX_RANKED_OFFSET {
        return Err(Error::invalid("offset", format!("is {}; at most {MAX_RANKED_OFFSET}", list.offset)));
    }
    let vector = match query_embedding.is_empty() {
        true => None,
        false => Some(check_embedding("query_embedding", query_embedding)?),
    };
    let limit = limits.page_size("limit", list.limit)? as usize;
    let filter = crate::memories::request_filter(limits, &mut list, now)?;
    Ok(CheckedRanked { query, vector, mode, filter, limit, offset: list.offset as usize })
}

/// Most candidates one ranked search reads before it gives up filling a page: when hits keep
/// failing `content_contains` or have been deleted, the window grows fourfold up to this.
const MAX_WINDOW: usize = 40_000;

/// Hybrid search: the share of the keyword score in the fused score (the rest is semantic).
/// Measured on LoCoMo (bench/README.md): 0.7 beat 0.5 and reciprocal rank fusion.
pub const KEYWORD_SHARE: f64 = 0.7;
/// Fewest candidates each ranked list reads: context scoring and fusion need more than the
/// page's worth of best matches.
const CONTEXT_DEPTH: usize = 200;

/// A candidate before hydration: its key, its base score (the mode's score after context
/// scoring, see `candidates`) and its parts.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    key: i64,
    base: f64,
    keyword: f64,
    semantic: f64,
}

/// What a ranked search runs, once validated.
struct Plan {
    mode: SearchMode,
    text: TextQuery,
    vector: Option<Vec<f32>>,
    filter: MemoryFilter,
    now: Timestamp,
}

impl Engram {
    /// SearchMemories with a query: the best memories first, paged by offset.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn ranked_search(&self, p: &Principal, request: RankedRequest) -> Result<RankedPage> {
        let page = self.ranked(p, request).await?;
        self.accessed(&p.org_id, page.hits.iter().map(|h| h.memory.id.as_str()));
        Ok(page)
    }

    /// A ranked search that records no access (its caller records what it uses).
    pub(crate) async fn ranked(&self, p: &Principal, request: RankedRequest) -> Result<RankedPage> {
        require(p, Permission::Read)?;
        let now = time::now();
        let CheckedRanked { query, mut vector, mode, mut filter, limit, offset } =
            check_ranked(&self.limits, request, now)?;
        let Some(relevance) = &self.relevance else {
            return Err(Error::FailedPrecondition("query: this server runs without a full-text index".into()));
        };
        let text = !query.trim().is_empty();
        let embedder = relevance.embedder.clone().filter(|_| vector.is_none() && text);
        let mode = resolve_mode(mode, text, vector.is_some() || embedder.is_some())?;
        if let (SearchMode::Semantic | SearchMode::Hybrid, Some(embedder)) = (mode, embedder) {
            // The server's embedder embeds the query (its time is part of the search's).
            let embedded = embedder.embed(vec![query.clone()]).await?;
            vector = embedded.into_iter().next();
        }
        let empty = RankedPage { hits: Vec::new(), has_more: false, mode, unembedded: None };
        // The index knows agents by id.
        if let Some(agent) = filter.agent.as_ref().filter(|a| matches!(a, AgentRef::Name(_))) {
            match self.store.get_agent(&p.org_id, agent).await {
                Ok(found) => filter.agent = Some(AgentRef::Id(found.id)),
                Err(Error::NotFound { .. }) => return Ok(empty),
                Err(e) => return Err(e),
            }
        }
        let plan = Plan { mode, text: TextQuery::parse(&query), vector, filter, now };
        let wanted = offset + limit + 1;
        let mut window = wanted;
        loop {
            let (candidates, exhausted, unembedded) = self.candidates(relevance, &p.org_id, &plan, window).await?;
            let mut hits = self.hydrate(relevance, &p.org_id, candidates, &plan).await?;
            if hits.len() >= wanted || exhausted || window >= MAX_WINDOW {
                hits.sort_by(|a, b| b.score.total_cmp(&a.score));
                let has_more = hits.len() > offset + limit;
                let hits: Vec<Hit> = hits.into_iter().skip(offset).take(limit).collect();
                return Ok(RankedPage { hits, has_more, mode, unembedded });
            }
            window = (window * 4).min(MAX_WINDOW);
        }
    }

    /// The best `window` candidates of the plan's mode, best first; whether there are no more;
    /// and (semantic, hybrid) how many memories the filters admit that have no vector.
    ///
    /// Keyword: BM25. Semantic: cosine similarity, scaled to 0..1 between the worst and the best
    /// of the list. Hybrid: both lists fused linearly ([`KEYWORD_SHARE`] of BM25 over the
    /// list's best, the rest of the scaled cosine). Then every mode scores each memory by its
    /// session too (`Ranking::context`), which can bring in neighbours of the best.
    async fn candidates(
        &self,
        relevance: &Relevance,
        org: &str,
        plan: &Plan,
        window: usize,
    ) -> Result<(Vec<Candidate>, bool, Option<u64>)> {
        let fulltext = &relevance.fulltext;
        let keyword = |depth: usize| -> Result<Vec<(i64, f64)>> {
            let found = fulltext.search(org, &plan.text, &plan.filter, relevance.ranking, plan.now, depth)?;
            Ok(found.iter().map(|s: &Scored| (s.key, s.keyword)).collect())
        };
        let semantic = |depth: usize, vector: &[f32]| -> Result<(Vec<(i64, f64)>, u64)> {
            let found = fulltext.nearest(org, "query_embedding", vector, &plan.filter, plan.now, depth)?;
            Ok((found.found.into_iter().map(|(key, cosine)| (key, f64::from(cosine))).collect(), found.unembedded))
        };
        // Context scoring, then only the candidates that can still reach the page once recency
        // and importance weigh them (each weighs at most 1): hydration reads no more.
        let in_context = |scored: &[(i64, f64)]| -> Result<Vec<(i64, f64)>> {
            let mut ranked = fulltext.in_context(org, &plan.filter, plan.now, scored, &relevance.ranking.context)?;
            if let Some(&(_, last)) = ranked.get(window.saturating_sub(1)) {
                let most =
                    1.0 + relevance.ranking.recency_weight.max(0.0) + relevance.ranking.importance_weight.max(0.0);
                ranked.retain(|r| r.1 * most >= last);
            }
            Ok(ranked)
        };
        // The parts of the final candidates: BM25 from the keyword list, cosine from the index.
        let parts = |ranked: Vec<(i64, f64)>, bm25: &[(i64, f64)], vector: Option<&[f32]>| -> Result<Vec<Candidate>> {
            let bm25: HashMap<i64, f64> = bm25.iter().copied().collect();
            let keys: Vec<i64> = ranked.iter().map(|r| r.0).collect();
            let cosines = match vector {
                Some(vector) => fulltext.similarities(org, &keys, vector)?,
                None => vec![None; keys.len()],
            };
            Ok(ranked
                .into_iter()
                .zip(cosines)
                .map(|((key, base), cosine)| Candidate {
                    key,
                    base,
                    keyword: bm25.get(&key).copied().unwrap_or(0.0),
                    semantic: cosine.map_or(0.0, f64::from),
                })
                .collect())
        };
        let vector = plan.vector.as_deref();
        blocking(|| match (plan.mode, vector) {
            (SearchMode::Semantic, Some(vector)) => {
                let depth = window.max(CONTEXT_DEPTH);
                let (near, unembedded) = semantic(depth, vector)?;
                let exhausted = near.len() < depth;
                let ranked = in_context(&scaled(&near))?;
                Ok((parts(ranked, &[], Some(vector))?, exhausted, Some(unembedded)))
            }
            (SearchMode::Hybrid, Some(vector)) => {
                let depth = window.max(CONTEXT_DEPTH);
                let words = keyword(depth)?;
                let (near, unembedded) = semantic(depth, vector)?;
                let exhausted = words.len() < depth && near.len() < depth;
                let ranked = in_context(&fuse(&words, &near))?;
                Ok((parts(ranked, &words, Some(vector))?, exhausted, Some(unembedded)))
            }
            _ => {
                let depth = window.max(CONTEXT_DEPTH);
                let words = keyword(depth)?;
                let exhausted = words.len() < depth;
                let ranked = in_context(&words)?;
                Ok((parts(ranked, &words, None)?, exhausted, None))
            }
        })
    }

    /// The memories of `candidates` that still exist (and contain the needle, lie within the
    /// `near` radius and are in the filter's tiers: the index holds none of those), scored: base ×
    /// (1 + w_r × recency + w_i × importance), from the memory as stored.
    async fn hydrate(
        &self,
        relevance: &Relevance,
        org: &str,
        candidates: Vec<Candidate>,
        plan: &Plan,
    ) -> Result<Vec<Hit>> {
        let ranking = relevance.ranking;
        let now_us = time::to_micros(plan.now);
        let needle = plan.filter.content_contains.as_ref();
        let mut hits = Vec::with_capacity(candidates.len());
        let mut gone = Vec::new();
        for chunk in candidates.chunks(5_000) {
            let keys: Vec<i64> = chunk.iter().map(|c| c.key).collect();
            let mut found: HashMap<i64, Memory> =
                self.store.memories_by_keys(org, &keys, plan.now).await?.into_iter().collect();
            for c in chunk {
                let Some(memory) = found.remove(&c.key) else {
                    gone.push(c.key);
                    continue;
                };
                if needle.is_some_and(|n| !n.matches(&memory.content)) {
                    continue;
                }
                if plan.filter.near.is_some_and(|near| !near.admits(memory.position.as_ref())) {
                    continue;
                }
                if !plan.filter.tiers.is_empty() && !plan.filter.tiers.contains(&memory.tier) {
                    continue;
                }
                let recency = ranking.recency(time::to_micros(memory.time), now_us);
                let importance = memory.importance;
                hits.push(Hit {
                    score: ranking.combine(c.base, recency, importance),
                    memory,
                    keyword: c.keyword,
                    semantic: c.semantic,
                    recency,
                    importance,
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

/// Index work (CPU-bound, synchronous): the runtime moves this worker's other tasks elsewhere
/// while it runs (on a multi-threaded runtime; a single-threaded one simply runs it).
fn blocking<R>(work: impl FnOnce() -> Result<R>) -> Result<R> {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// The mode a request runs in. `vector`: the request carries a query vector, or the server can
/// embed its text. Auto: hybrid with both a text and a vector, semantic with a vector only,
/// keyword otherwise.
fn resolve_mode(mode: SearchMode, text: bool, vector: bool) -> Result<SearchMode> {
    let no_vector = || {
        Error::FailedPrecondition(
            "query_embedding: semantic and hybrid search need the query's embedding: send query_embedding, \
             or a query on a server with an embedder (this one has none), or use mode keyword"
                .into(),
        )
    };
    let no_text = |mode: &str| Error::invalid("query", format!("is required for mode {mode}"));
    match mode {
        SearchMode::Auto if text && vector => Ok(SearchMode::Hybrid),
        SearchMode::Auto if vector => Ok(SearchMode::Semantic),
        SearchMode::Auto | SearchMode::Keyword if text => Ok(SearchMode::Keyword),
        SearchMode::Auto | SearchMode::Keyword => Err(no_text("keyword")),
        SearchMode::Semantic if vector => Ok(SearchMode::Semantic),
        SearchMode::Hybrid if !vector => Err(no_vector()),
        SearchMode::Hybrid if !text => Err(no_text("hybrid")),
        SearchMode::Hybrid => Ok(SearchMode::Hybrid),
        SearchMode::Semantic => Err(no_vector()),
    }
}

/// Cosine similarities scaled to 0..1 between the list's worst (0) and best (1): raw cosines
/// of one model crowd into a narrow band, so their differences are what ranks.
fn scaled(near: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let (Some(best), Some(worst)) = (near.first().map(|n| n.1), near.last().map(|n| n.1)) else {
        return Vec::new();
    };
    let span = best - worst;
    near.iter().map(|&(key, cosine)| (key, if span > 0.0 { (cosine - worst) / span } else { 1.0 })).collect()
}

/// Linear fusion of a keyword list (BM25) and a semantic list (cosine), both best first:
/// `KEYWORD_SHARE × bm25 / best bm25 + (1 − KEYWORD_SHARE) × scaled cosine`; best first (ties:
/// newest first).
fn fuse(keyword: &[(i64, f64)], semantic: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let best = keyword.iter().map(|k| k.1).fold(0.0, f64::max);
    let mut fused: HashMap<i64, f64> = HashMap::new();
    if best > 0.0 {
        for &(key, bm25) in keyword {
            *fused.entry(key).or_default() += KEYWORD_SHARE * bm25 / best;
        }
    }
    for (key, scaled) in scaled(semantic) {
        *fused.entry(key).or_default() += (1.0 - KEYWORD_SHARE) * scaled;
    }
    let mut fused: Vec<(i64, f64)> = fused.into_iter().collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    fused
}

pub(crate) fn check_query(field: &str, query: &str) -> Result<()> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(Error::invalid(field, format!("is {} bytes; at most {MAX_QUERY_BYTES}", query.len())));
    }
    check_text(field, query)
}
