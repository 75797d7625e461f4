//! A search as a tantivy query: the text part (scored) and the filters (unscored, applied before
//! ranking), and the ranking's weights.

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use crate::analyzer::{TextQuery, terms};
use crate::neighbourhood::Neighbourhood;
use crate::schema::Fields;

/// How a keyword score is weighed by recency and importance:
/// `score = bm25 × (1 + recency_weight × recency + importance_weight × importance)`, where
/// `recency = 0.5^(age / half_life)` (1 for a memory of now, ½ one half-life ago) and
/// `importance` is the memory's (0..1). Weights of 0 rank by BM25 alone. Before that, `context`
/// scores each memory also by its session ([`Neighbourhood`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranking {
    pub half_life_secs: f64,
    pub recency_weight: f64,
    pub importance_weight: f64,
    pub context: Neighbourhood,
}

impl Default for Ranking {
    fn default() -> Self {
        Self {
            half_life_secs: 14.0 * 86_400.0,
            recency_weight: 0.15,
            importance_weight: 0.15,
            context: Neighbourhood::default(),
        }
    }
}

impl Ranking {
    pub fn recency(&self, time_us: i64, now_us: i64) -> f64 {
        let age = (now_us - time_us).max(0) as f64 / 1e6;
        if self.half_life_secs <= 0.0 { 0.0 } else { 0.5f64.powf(age / self.half_life_secs) }
    }

    pub fn combine(&self, keyword: f64, recency: f64, importance: f64) -> f64 {
        keyword * (1.0 + self.recency_weight * recency + self.importance_weight * importance)
    }
}

/// The scored part of a query; None when it has no indexable term (only stop words or symbols).
pub(crate) fn text_query(f: &Fields, analyzer: &mut TextAnalyzer, query: &TextQuery) -> Option<Box<dyn Query>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for word in &query.words {
        for (_, term) in terms(analyzer, word) {
            if seen.insert(term.clone()) {
                let term = Term::from_field_text(f.text, &term);
                clauses.push((Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))));
            }
        }
    }
    for phrase in &query.phrases {
        let mut found = terms(analyzer, phrase);
        match found.len() {
            0 => {}
            1 => {
                let term = Term::from_field_text(f.text, &found.remove(0).1);
                clauses.push((Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))));
            }
            _ => {
                let first = found[0].0;
                let terms =
                    found.into_iter().map(|(pos, t)| (pos - first, Term::from_field_text(f.text, &t))).collect();
                clauses.push((Occur::Must, Box::new(PhraseQuery::new_with_offset(terms))));
            }
        }
    }
    if clauses.is_empty() { None } else { Some(Box::new(BooleanQuery::new(clauses))) }
}

fn unscored(query: impl Query) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(Box::new(query), 0.0))
}

fn raw(field: Field, value: &str) -> Box<dyn Query> {
    unscored(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}

fn any_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    Box::new(BooleanQuery::union(queries))
}

fn range(lower: Bound<Term>, upper: Bound<Term>) -> Box<dyn Query> {
    unscored(RangeQuery::new(lower, upper))
}

/// The filters as required, unscored clauses. Every field of [`MemoryFilter`] but
/// `content_contains` (a substring test the caller applies to what it reads); the agent must be
/// given by id. Expired memories may match: the caller reads hits back from the store, which
/// never returns one.
pub(crate) fn filter_clauses(f: &Fields, filter: &MemoryFilter, now: Timestamp) -> Vec<(Occur, Box<dyn Query>)> {
    let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut add = |q: Box<dyn Query>| must.push((Occur::Must, q));
    if let Some(agent) = &filter.agent {
        add(raw(f.agent, agent.as_str()));
    }
    if let Some(session) = &filter.session_id {
        add(raw(f.session, session));
    }
    if let Some(scope) = &filter.scope {
        add(raw(f.scope, scope));
    }
    for (key, value) in &filter.attributes {
        match attribute_term(key, value) {
            Some(term) => add(raw(f.attrs, &term)),
            None => add(Box::new(tantivy::query::EmptyQuery)),
        }
    }
    if !filter.memory_types.is_empty() {
        add(any_of(filter.memory_types.iter().map(|t| raw(f.memory_type, t.as_str())).collect()));
    }
    if !filter.event_types.is_empty() {
        add(any_of(filter.event_types.iter().map(|t| raw(f.event_type, t)).collect()));
    }
    for tag in &filter.tags_all {
        add(raw(f.tags, tag));
    }
    if !filter.tags_any.is_empty() {
        add(any_of(filter.tags_any.iter().map(|t| raw(f.tags, t)).collect()));
    }
    if let Some(min) = filter.min_importance {
        add(range(Bound::Included(Term::from_field_f64(f.importance, min)), Bound::Unbounded));
    }
    if filter.since.is_some() || filter.until.is_some() {
        let lower =
            filter.since.map_or(Bound::Unbounded, |t| Bound::Included(Term::from_field_i64(f.time, to_micros(t))));
        let upper =
            filter.until.map_or(Bound::Unbounded, |t| Bound::Excluded(Term::from_field_i64(f.time, to_micros(t))));
        add(range(lower, upper));
    }
    if filter.step_min.is_some() || filter.step_max.is_some() {
        let lower = filter.step_min.map_or(Bound::Unbounded, |s| Bound::Included(Term::from_field_i64(f.step, s)));
        let upper = filter.step_max.map_or(Bound::Unbounded, |s| Bound::Included(Term::from_field_i64(f.step, s)));
        add(range(lower, upper));
    }
    if filter.important_only {
        let mut any = vec![raw(f.memory_type, MemoryType::Decision.as_str())];
        any.extend(ERROR_EVENT_TYPES.iter().map(|t| raw(f.event_type, t)));
        any.push(range(Bound::Included(Term::from_field_f64(f.importance, HIGH_IMPORTANCE)), Bound::Unbounded));
        add(any_of(any));
    }
    // Expiry is not tested here: a range over every document costs a scan of the column per
    // query, and expired memories are rare; the store drops them when it hydrates the hits.
    let _ = now;
    for t in &filter.exclude_types {
        must.push((Occur::MustNot, raw(f.memory_type, t.as_str())));
    }
    must
}
