//! The query-result cache of expensive reads (similar states, memory statistics): each result is
//! kept for the org's TTL (SetCacheTtl; [`DEFAULT_TTL`] until set), and dropped as soon as this
//! process learns of a write that could change it: a write through this process at once, a write
//! through another replica when the indexer reads it from the change feed. A result about one
//! agent is dropped by writes to that agent; an org-wide one (statistics) by any write to the org.
//! A leaf: it knows the domain types only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use engram_core::{Memory, MemoryStatistics};

/// How long a result is kept when the org set no TTL (the product docs' example sets 300 s).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Most results kept per org; past it the org's entries start over.
const MAX_ENTRIES: usize = 10_000;

/// A cached result.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    Statistics(MemoryStatistics),
    Similar(Vec<(Memory, f64)>, u32),
}

struct Entry {
    /// The agent it is about (by id), None: the whole org.
    agent_id: Option<String>,
    at: Instant,
    value: Cached,
}

#[derive(Default)]
struct OrgCache {
    ttl: Option<Duration>,
    entries: HashMap<String, Entry>,
    /// Counts the writes learnt of: a result computed across one is not kept.
    generation: u64,
}

/// Results by org and request; see the module docs.
#[derive(Default)]
pub(crate) struct ResultCache {
    orgs: Mutex<HashMap<String, OrgCache>>,
}

impl ResultCache {
    fn orgs(&self) -> std::sync::MutexGuard<'_, HashMap<String, OrgCache>> {
        self.orgs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The result of `request` in `org`, if kept and younger than the org's TTL.
    pub(crate) fn get(&self, org: &str, request: &str) -> Option<Cached> {
        let mut orgs = self.orgs();
        let cache = orgs.get_mut(org)?;
        let ttl = cache.ttl.unwrap_or(DEFAULT_TTL);
        let entry = cache.entries.get(request)?;
        if entry.at.elapsed() < ttl {
            return Some(entry.value.clone());
        }
        cache.entries.remove(request);
        None
    }

    /// The org's write generation: read it before computing a result, give it to [`Self::put`].
    pub(crate) fn generation(&self, org: &str) -> u64 {
        self.orgs().entry(org.to_owned()).or_default().generation
    }

    /// Keeps a result computed from generation `seen` on (dropped if a write came meanwhile).
    pub(crate) fn put(&self, org: &str, request: String, agent_id: Option<String>, value: Cached, seen: u64) {
        let mut orgs = self.orgs();
        let cache = orgs.entry(org.to_owned()).or_default();
        if cache.ttl == Some(Duration::ZERO) || cache.generation != seen {
            return;
        }
        if cache.entries.len() >= MAX_ENTRIES {
            cache.entries.clear();
        }
        cache.entries.insert(request, Entry { agent_id, at: Instant::now(), value });
    }

    /// `org`'s agents `agent_ids` were written to: their results and the org-wide ones go.
    pub(crate) fn written<'a>(&self, org: &str, agent_ids: impl IntoIterator<Item = &'a str>) {
        // An org that never computed a result has nothing to drop and nothing in flight (a
        // computation first reads the generation, which creates the org's cache).
        let mut orgs = self.orgs();
        let Some(cache) = orgs.get_mut(org) else { return };
        cache.generation += 1;
        if cache.entries.is_empty() {
            return;
        }
        let written: Vec<&str> = agent_ids.into_iter().collect();
        cache.entries.retain(|_, e| e.agent_id.as_deref().is_some_and(|id| !written.contains(&id)));
    }

    /// Drops every result of `org`; returns how many there were.
    pub(crate) fn clear(&self, org: &str) -> usize {
        let mut orgs = self.orgs();
        let Some(cache) = orgs.get_mut(org) else { return 0 };
        cache.generation += 1;
        std::mem::take(&mut cache.entries).len()
    }

    /// Sets `org`'s TTL (zero: cache nothing) and drops its results.
    pub(crate) fn set_ttl(&self, org: &str, ttl: Duration) {
        let mut orgs = self.orgs();
        let cache = orgs.entry(org.to_owned()).or_default();
        cache.ttl = Some(ttl);
        cache.entries.clear();
    }

    pub(crate) fn ttl(&self, org: &str) -> Duration {
        self.orgs().get(org).and_then(|c| c.ttl).unwrap_or(DEFAULT_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> Cached {
        Cached::Statistics(MemoryStatistics::default())
    }

    #[test]
    fn writes_drop_their_agents_results_and_the_org_wide_ones() {
        let cache = ResultCache::default();
        cache.put("o", "stats".into(), None, stats(), cache.generation("o"));
        cache.put("o", "similar a".into(), Some("agent_a".into()), stats(), 0);
        cache.put("o", "similar b".into(), Some("agent_b".into()), stats(), 0);
        cache.put("p", "stats".into(), None, stats(), 0);
        cache.written("o", ["agent_a"]);
        assert!(cache.get("o", "stats").is_none());
        assert!(cache.get("o", "similar a").is_none());
        assert!(cache.get("o", "similar b").is_some());
        assert!(cache.get("p", "stats").is_some(), "another org keeps its results");
        assert_eq!(cache.clear("o"), 1);
        assert!(cache.get("o", "similar b").is_none());
        // A result computed across a write is not kept.
        let seen = cache.generation("o");
        cache.written("o", ["agent_c"]);
        cache.put("o", "similar c".into(), Some("agent_c".into()), stats(), seen);
        assert!(cache.get("o", "similar c").is_none());
    }

    #[test]
    fn the_ttl_bounds_an_entry() {
        let cache = ResultCache::default();
        cache.set_ttl("o", Duration::ZERO);
        cache.put("o", "stats".into(), None, stats(), cache.generation("o"));
        assert!(cache.get("o", "stats").is_none());
        cache.set_ttl("o", Duration::from_millis(30));
        cache.put("o", "stats".into(), None, stats(), cache.generation("o"));
        assert!(cache.get("o", "stats").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("o", "stats").is_none());
        assert_eq!(cache.ttl("o"), Duration::from_millis(30));
    }
}
