//! Simulation agents: what changed between an agent's consecutive states, and the past states most
//! similar to a query state.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use engram_core::*;

use crate::handle::{Engram, require};
use crate::memories::ListRequest;
use crate::result_cache::Cached;

/// One key's change between two states: `before` None (added), `after` None (removed).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeChange {
    pub key: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The changes from one state to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub from: Memory,
    pub to: Memory,
    pub changes: Vec<AttributeChange>,
}

/// States the vectorizer compares at most: the agent's newest in the step range.
pub const SIMILAR_CANDIDATES: u32 = 5_000;

/// Most states a similarity search returns.
pub const MAX_SIMILAR: u32 = 100;

/// The longest cache TTL SetCacheTtl takes: one day.
pub const MAX_CACHE_TTL_SECONDS: u64 = 86_400;

/// The result cache's key of an org's statistics.
const STATISTICS: &str = "statistics";

/// One step of a feature's path: an object key or an array index.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// A feature's value: numbers and booleans (0/1) are numeric, strings are text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Leaf<'a> {
    Number(f64),
    Text(&'a str),
}

fn leaf(value: &Value) -> Option<Leaf<'_>> {
    match value {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(Leaf::Number),
        Value::Bool(b) => Some(Leaf::Number(f64::from(u8::from(*b)))),
        Value::String(s) => Some(Leaf::Text(s)),
        _ => None,
    }
}

/// The query state's features: every leaf of its JSON with its path (`position.0` is
/// `[Key("position"), Index(0)]`, `inventory.wood` is `[Key("inventory"), Key("wood")]`).
fn query_features(state: &Metadata) -> Vec<(Vec<Step<'_>>, Leaf<'_>)> {
    fn walk<'a>(path: &mut Vec<Step<'a>>, value: &'a Value, out: &mut Vec<(Vec<Step<'a>>, Leaf<'a>)>) {
        match value {
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
                path.push(Step::Index(i));
                walk(path, v, out);
                path.pop();
            }),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                path.push(Step::Key(k));
                walk(path, v, out);
                path.pop();
            }),
            other => {
                if let Some(l) = leaf(other) {
                    out.push((path.clone(), l));
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut path = Vec::new();
    for (k, v) in state {
        path.push(Step::Key(k));
        walk(&mut path, v, &mut out);
        path.pop();
    }
    out
}

/// The leaf of `doc` at `path`, if there is one there (no allocation: candidates are read where
/// the query has features, never flattened).
fn at<'a>(doc: &'a Metadata, path: &[Step<'_>]) -> Option<Leaf<'a>> {
    let (first, rest) = path.split_first()?;
    let Step::Key(key) = first else { return None };
    let mut value = doc.get(*key)?;
    for step in rest {
        value = match (step, value) {
            (Step::Key(k), Value::Object(map)) => map.get(*k)?,
            (Step::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    leaf(value)
}

/// The candidates' values at the query's features: row `c` is candidate `c`.
fn candidate_leaves<'a>(q: &[(Vec<Step<'_>>, Leaf<'_>)], candidates: &[&'a Metadata]) -> Vec<Vec<Option<Leaf<'a>>>> {
    candidates.iter().map(|c| q.iter().map(|(path, _)| at(c, path)).collect()).collect()
}

/// Most distinct strings one similarity search embeds: the query's, then the candidates' at the
/// query's string keys, the most frequent first. Others compare as categories (equal or not).
pub const MAX_EMBEDDED_STRINGS: usize = 256;

/// The strings whose embeddings a query compares: the query's string values, then the candidates'
/// at the query's string features by descending frequency (then by text), at most
/// [`MAX_EMBEDDED_STRINGS`].
fn strings_to_embed(q: &[(Vec<Step<'_>>, Leaf<'_>)], rows: &[Vec<Option<Leaf<'_>>>]) -> Vec<String> {
    let mut own: Vec<&str> =
        q.iter().filter_map(|(_, l)| if let Leaf::Text(t) = l { Some(*t) } else { None }).collect();
    own.sort_unstable();
    own.dedup();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let (Leaf::Text(_), Some(Leaf::Text(t))) = (q[i].1, cell)
                && own.binary_search(t).is_err()
            {
                *counts.entry(t).or_default() += 1;
            }
        }
    }
    let mut others: Vec<(&str, usize)> = counts.into_iter().collect();
    others.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    own.into_iter().chain(others.into_iter().map(|(t, _)| t)).take(MAX_EMBEDDED_STRINGS).map(str::to_owned).collect()
}

/// Similarity of each candidate to the query state, by the deterministic state vectorizer: over
/// the query's features (every leaf of its JSON by path), a numeric difference is scaled by that
/// feature's range among the query and the candidates (so each feature weighs the same whatever
/// its unit) and capped at 1; a string feature differs by 0 when equal, else by `1 - cosine` of
/// the two strings' text embeddings (`vectors`: normalized, by string; the server's embedder)
/// capped to [0, 1], or by 1 when either has no embedding; a feature the candidate lacks (or has
/// of the other kind) differs by 1. The similarity is `1 / (1 + rms of the differences)`: 1 for a
/// state equal on every feature.
pub fn similarities(query: &Metadata, candidates: &[&Metadata], vectors: &HashMap<String, Arc<[f32]>>) -> Vec<f64> {
    let q = query_features(query);
    score(&q, &candidate_leaves(&q, candidates), vectors)
}

fn score(
    q: &[(Vec<Step<'_>>, Leaf<'_>)],
    rows: &[Vec<Option<Leaf<'_>>>],
    vectors: &HashMap<String, Arc<[f32]>>,
) -> Vec<f64> {
    if q.is_empty() {
        return vec![0.0; rows.len()];
    }
    // Each numeric feature's range among the query and the candidates.
    let range: Vec<f64> = q
        .iter()
        .enumerate()
        .map(|(i, (_, l))| match l {
            Leaf::Number(v) => {
                let (mut lo, mut hi) = (*v, *v);
                for row in rows {
                    if let Some(Leaf::Number(c)) = row[i] {
                        lo = lo.min(c);
                        hi = hi.max(c);
                    }
                }
                (hi - lo).max(f64::MIN_POSITIVE)
            }
            Leaf::Text(_) => 1.0,
        })
        .collect();
    let n = q.len() as f64;
    rows.iter()
        .map(|row| {
            let sum: f64 = q
                .iter()
                .zip(row)
                .zip(&range)
                .map(|(((_, query), cell), range)| {
                    let d = match (query, cell) {
                        (Leaf::Number(a), Some(Leaf::Number(b))) => ((b - a).abs() / range).min(1.0),
                        (Leaf::Text(a), Some(Leaf::Text(b))) if a == b => 0.0,
                        (Leaf::Text(a), Some(Leaf::Text(b))) => match (vectors.get(*a), vectors.get(*b)) {
                            (Some(va), Some(vb)) => (1.0 - f64::from(engram_core::vector::dot(va, vb))).clamp(0.0, 1.0),
                            _ => 1.0,
                        },
                        _ => 1.0,
                    };
                    d * d
                })
                .sum();
            1.0 / (1.0 + (sum / n).sqrt())
        })
        .collect()
}

/// The top-level keys of `to` that differ from `from`, by key.
pub fn diff(from: &Metadata, to: &Metadata) -> Vec<AttributeChange> {
    let mut keys: Vec<&String> = from.keys().chain(to.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (before, after) = (from.get(key), to.get(key));
            (before != after).then(|| AttributeChange {
                key: key.clone(),
                before: before.cloned(),
                after: after.cloned(),
            })
        })
        .collect()
}

/// The filter of an agent's states (memory type `state`) in a step range; `agent` is required.
fn states_of(agent: &str, step_min: Option<i64>, step_max: Option<i64>) -> Result<MemoryFilter> {
    if agent.is_empty() {
        return Err(Error::invalid("agent", "is required (an agent id or name)"));
    }
    Ok(MemoryFilter {
        agent: Some(AgentRef::parse(agent)),
        memory_types: vec![MemoryType::State],
        step_min,
        step_max,
        ..Default::default()
    })
}

impl Engram {
    /// The org's live memories per type and per agent, and the step range.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn memory_statistics(&self, p: &Principal) -> Result<MemoryStatistics> {
        require(p, Permission::Read)?;
        if let Some(Cached::Statistics(stats)) = self.results.get(&p.org_id, STATISTICS) {
            return Ok(stats);
        }
        let seen = self.results.generation(&p.org_id);
        let mut stats = self.store.memory_statistics(&p.org_id, engram_core::time::now()).await?;
        let tiers = self.store.tier_statistics(&p.org_id).await?;
        stats.tiers = tiers.tiers;
        stats.cold_bytes_before = tiers.cold_bytes_before;
        stats.cold_bytes_after = tiers.cold_bytes_after;
        let by_agent: std::collections::HashMap<String, TierCounts> = tiers.agents.into_iter().collect();
        for agent in &mut stats.agents {
            agent.tiers = by_agent.get(&agent.agent_id).copied().unwrap_or_default();
        }
        self.results.put(&p.org_id, STATISTICS.to_owned(), None, Cached::Statistics(stats.clone()), seen);
        Ok(stats)
    }

    /// Drops the org's cached results (ClearCache); returns how many there were.
    pub fn clear_cache(&self, p: &Principal) -> Result<u64> {
        require(p, Permission::Read)?;
        Ok(self.results.clear(&p.org_id) as u64)
    }

    /// Sets how long the org's results are cached (SetCacheTtl; 0: not at all), in this process.
    pub fn set_cache_ttl(&self, p: &Principal, seconds: u64) -> Result<()> {
        require(p, Permission::Write)?;
        if seconds > MAX_CACHE_TTL_SECONDS {
            return Err(Error::invalid(
                "ttl_seconds",
                format!("is {seconds}; at most {MAX_CACHE_TTL_SECONDS} (one day)"),
            ));
        }
        self.results.set_ttl(&p.org_id, std::time::Duration::from_secs(seconds));
        Ok(())
    }

    /// The org's cache TTL in seconds.
    pub fn cache_ttl(&self, p: &Principal) -> Result<u64> {
        require(p, Permission::Read)?;
        Ok(self.results.ttl(&p.org_id).as_secs())
    }

    /// The `k` past states (memory type `state`) of `agent` most similar to `state` (the
    /// vectorizer, over the newest [`SIMILAR_CANDIDATES`] in the step range) or to `embedding`
    /// (cosine over the states' vectors), most similar first; and how many were compared.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    #[allow(clippy::too_many_arguments)]
    pub async fn similar_states(
        &self,
        p: &Principal,
        agent: &str,
        state: Option<Metadata>,
        embedding: Vec<f32>,
        k: u32,
        step_min: Option<i64>,
        step_max: Option<i64>,
    ) -> Result<(Vec<(Memory, f64)>, u32)> {
        require(p, Permission::Read)?;
        let filter = states_of(agent, step_min, step_max)?;
        let k = match k {
            0 => 5,
            k if k > MAX_SIMILAR => return Err(Error::invalid("k", format!("is {k}; at most {MAX_SIMILAR}"))),
            k => k,
        };
        let request = format!(
            "similar\u{1f}{agent}\u{1f}{state:?}\u{1f}{embedding:?}\u{1f}{k}\u{1f}{step_min:?}\u{1f}{step_max:?}"
        );
        if let Some(Cached::Similar(found, compared)) = self.results.get(&p.org_id, &request) {
            return Ok((found, compared));
        }
        let seen = self.results.generation(&p.org_id);
        let found = self.compute_similar_states(p, filter, state, embedding, k).await?;
        // Kept under the agent's id (what writes name); an empty answer under the whole org.
        let agent_id = found.0.first().map(|(m, _)| m.agent_id.clone());
        self.results.put(&p.org_id, request, agent_id, Cached::Similar(found.0.clone(), found.1), seen);
        Ok(found)
    }

    async fn compute_similar_states(
        &self,
        p: &Principal,
        filter: MemoryFilter,
        state: Option<Metadata>,
        embedding: Vec<f32>,
        k: u32,
    ) -> Result<(Vec<(Memory, f64)>, u32)> {
        match (state, embedding.is_empty()) {
            (Some(_), false) => Err(Error::invalid("state", "give a state or an embedding, not both")),
            (None, true) => Err(Error::invalid("state", "is required (or an embedding)")),
            (None, false) => {
                let list = ListRequest { filter, limit: k, ..Default::default() };
                let request = crate::search::RankedRequest {
                    list,
                    query_embedding: embedding,
                    mode: crate::search::SearchMode::Semantic,
                    ..Default::default()
                };
                let page = self.ranked(p, request).await?;
                let compared = u32::try_from(page.hits.len()).unwrap_or(u32::MAX);
                Ok((page.hits.into_iter().map(|h| (h.memory, h.semantic)).collect(), compared))
            }
            (Some(state), true) => {
                self.limits.check_metadata("state", &state)?;
                let now = time::now();
                let query = MemoryQuery {
                    filter,
                    limit: SIMILAR_CANDIDATES,
                    order: Order::StepDesc,
                    cursor: None,
                    offset: 0,
                    within: None,
                };
                // Only keys and metadata are read for the comparison; the k best are read whole.
                let candidates = self.store.memory_metadata(&p.org_id, &query, now).await?;
                let compared = u32::try_from(candidates.len()).unwrap_or(u32::MAX);
                let q = query_features(&state);
                let docs: Vec<&Metadata> = candidates.iter().map(|(_, m)| m).collect();
                let rows = tokio::task::block_in_place(|| candidate_leaves(&q, &docs));
                let vectors = self.string_vectors(&strings_to_embed(&q, &rows)).await;
                let scores = tokio::task::block_in_place(|| score(&q, &rows, &vectors));
                let mut best: Vec<(i64, f64)> = candidates.iter().map(|(key, _)| *key).zip(scores).collect();
                // Most similar first; ties: the newer step first (the candidates come newest first).
                best.sort_by(|a, b| b.1.total_cmp(&a.1));
                best.truncate(k as usize);
                let keys: Vec<i64> = best.iter().map(|(key, _)| *key).collect();
                let mut whole: HashMap<i64, Memory> =
                    self.store.memories_by_keys(&p.org_id, &keys, now).await?.into_iter().collect();
                // A state deleted between the two reads is left out.
                let scored = best.into_iter().filter_map(|(key, s)| whole.remove(&key).map(|m| (m, s))).collect();
                Ok((scored, compared))
            }
        }
    }

    /// The server embedder's vectors of `strings`; none without an embedder or when it fails
    /// (the strings then compare as categories, and the failure is logged).
    async fn string_vectors(&self, strings: &[String]) -> HashMap<String, Arc<[f32]>> {
        let Some(relevance) = self.relevance.as_ref().filter(|_| !strings.is_empty()) else { return HashMap::new() };
        relevance.embed_texts(strings).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "embedding state strings failed; they compare as categories");
            HashMap::new()
        })
    }

    /// The changes between consecutive states (memory type `state`) of `agent` in a step range,
    /// in step order: `limit` states at a time (each page's first state is compared with the last
    /// state of the previous page, which the token carries).
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    pub async fn state_changes(
        &self,
        p: &Principal,
        agent: &str,
        step_min: Option<i64>,
        step_max: Option<i64>,
        limit: u32,
        page_token: &str,
    ) -> Result<(Vec<StateChange>, Option<String>)> {
        require(p, Permission::Read)?;
        let filter = states_of(agent, step_min, step_max)?;
        // One state more than asked: the page's last state starts the next page's comparisons.
        let size = self.limits.page_size("limit", limit)?;
        let request = ListRequest {
            filter,
            limit: size.saturating_add(1).min(self.limits.max_page),
            order: Order::StepAsc,
            page_token: page_token.to_owned(),
            ..Default::default()
        };
        let page = self.list_memories(p, request).await?;
        let states = page.memories;
        let changes: Vec<StateChange> = states
            .windows(2)
            .map(|w| StateChange {
                changes: diff(&w[0].metadata, &w[1].metadata),
                from: w[0].clone(),
                to: w[1].clone(),
            })
            .collect();
        // The next page starts after this page's second-to-last state, so its first change is
        // from this page's last state.
        let next = match (page.next_cursor, states.len().checked_sub(2).map(|i| &states[i])) {
            (Some(mut cursor), Some(from)) => {
                let (_, key) = ids::memory_key_of(&from.id)
                    .ok_or_else(|| Error::internal("a state without a keyed id cannot be paged"))?;
                cursor.time_us = from.step.unwrap_or(0);
                cursor.key = key;
                Some(cursor.encode())
            }
            _ => None,
        };
        Ok((changes, next))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_vectorizer_ranks_the_closest_state_first() {
        let doc = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let query = doc(json!({"position": [10, 20], "health": 80, "mood": "calm"}));
        let states = [
            doc(json!({"position": [10, 21], "health": 80, "mood": "calm"})),
            doc(json!({"position": [90, 90], "health": 10, "mood": "angry"})),
            doc(json!({"position": [10, 20], "health": 80, "mood": "calm", "extra": 1})),
            doc(json!({"health": 80})),
        ];
        let none = HashMap::new();
        let scores = similarities(&query, &states.iter().collect::<Vec<_>>(), &none);
        assert!((scores[2] - 1.0).abs() < 1e-12, "equal on every query feature: {scores:?}");
        assert!(scores[2] > scores[0] && scores[0] > scores[3] && scores[3] > scores[1], "{scores:?}");
        assert_eq!(similarities(&Metadata::new(), &[&states[0]], &none), [0.0]);
    }

    #[test]
    fn strings_compare_by_their_embeddings_when_they_have_them() {
        let doc = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let unit = |v: &[f32]| -> Arc<[f32]> { engram_core::vector::normalized(v).into() };
        let vectors: HashMap<String, Arc<[f32]>> = [
            ("happy".to_owned(), unit(&[1.0, 0.1, 0.0])),
            ("cheerful".to_owned(), unit(&[0.9, 0.2, 0.0])),
            ("furious".to_owned(), unit(&[0.0, 0.0, 1.0])),
        ]
        .into();
        let query = doc(json!({"health": 50, "mood": "happy"}));
        let states = [
            doc(json!({"health": 50, "mood": "furious"})),
            doc(json!({"health": 50, "mood": "cheerful"})),
            doc(json!({"health": 50, "mood": "unknown"})),
            doc(json!({"health": 50, "mood": "happy"})),
        ];
        let refs: Vec<&Metadata> = states.iter().collect();
        let scores = similarities(&query, &refs, &vectors);
        assert!((scores[3] - 1.0).abs() < 1e-12, "{scores:?}");
        assert!(scores[1] > 0.9 && scores[1] < 1.0, "a near synonym is close: {scores:?}");
        assert!((scores[0] - scores[2]).abs() < 1e-12, "orthogonal is as far as unknown: {scores:?}");
        assert!(scores[1] > scores[0], "{scores:?}");
        // Without embeddings, every other string is as far as any.
        let categorical = similarities(&query, &refs, &HashMap::new());
        assert_eq!(categorical[0], categorical[1]);

        let q = query_features(&query);
        assert_eq!(strings_to_embed(&q, &candidate_leaves(&q, &refs)), ["happy", "cheerful", "furious", "unknown"]);
    }

    #[test]
    fn diff_reports_added_removed_and_changed_keys_by_key() {
        let Value::Object(from) = json!({"health": 100, "position": [10, 20], "inventory": {"wood": 1}, "gone": true})
        else {
            unreachable!()
        };
        let Value::Object(to) = json!({"health": 95, "position": [10, 20], "inventory": {"wood": 2}, "new": "x"})
        else {
            unreachable!()
        };
        let changes = diff(&from, &to);
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["gone", "health", "inventory", "new"]);
        assert_eq!(changes[0].after, None);
        assert_eq!(changes[1].before, Some(json!(100)));
        assert_eq!(changes[3].before, None);
        assert!(diff(&from, &from).is_empty());
    }
}
