//! The hot tier's in-process cache (a leaf: it uses no other module of the crate): hot memories
//! by id, least recently used out, bounded in bytes. GetMemory answers from it; writes put new
//! and updated memories in; deletes, agent deletes and maintenance passes drop the org's entries;
//! recorded accesses are applied to the entries as they are to the store, so an entry always
//! reads as the store would.
//!
//! It is only correct when this process makes every change to the memories it caches, so the
//! server turns it on for the embedded SQLite store (one process) and off on PostgreSQL, where
//! another replica's delete leaves no trace this process could follow.

use std::sync::{Mutex, PoisonError};

use engram_core::lifecycle::Tier;
use engram_core::time::Timestamp;
use engram_core::*;
use lru::LruCache;

/// What an entry is counted as beyond its texts (ids, times, numbers, the map's own cost).
const ENTRY_OVERHEAD: usize = 512;

/// Hits and misses since the start, and what the cache holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HotCacheStats {
    pub entries: usize,
    pub bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

pub struct HotCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    entries: LruCache<(String, String), (Memory, usize)>,
    /// Per org: how many times its entries were dropped or its accesses applied. A memory read
    /// from the store is put only if its org's generation did not move meanwhile (else a delete
    /// or an access recorded during the read could be undone by the put).
    generations: std::collections::HashMap<String, u64>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

fn size_of(m: &Memory) -> usize {
    let metadata: usize = m.metadata.iter().map(|(k, v)| k.len() + v.to_string().len()).sum();
    ENTRY_OVERHEAD + m.content.len() + metadata + m.tags.iter().map(String::len).sum::<usize>() + m.event_type.len()
}

impl HotCache {
    pub fn new(max_bytes: usize) -> Self {
        let inner = Inner {
            entries: LruCache::unbounded(),
            generations: std::collections::HashMap::new(),
            bytes: 0,
            hits: 0,
            misses: 0,
        };
        Self { max_bytes, inner: Mutex::new(inner) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The org's memory `id`, if cached and not expired at `now`.
    pub fn get(&self, org: &str, id: &str, now: Timestamp) -> Option<Memory> {
        let mut inner = self.lock();
        let key = (org.to_owned(), id.to_owned());
        let found = match inner.entries.get(&key) {
            Some((m, _)) if m.expires_at.is_none_or(|at| at > now) => Some(m.clone()),
            Some(_) => {
                if let Some((_, size)) = inner.entries.pop(&key) {
                    inner.bytes -= size;
                }
                None
            }
            None => None,
        };
        match found {
            Some(_) => inner.hits += 1,
            None => inner.misses += 1,
        }
        found
    }

    /// The org's generation: take it before reading from the store, give it to [`Self::put`].
    pub fn generation(&self, org: &str) -> u64 {
        self.lock().generations.get(org).copied().unwrap_or(0)
    }

    /// Keeps `memory`, read from the store when the org's generation was `seen`, if it is hot
    /// and nothing of the org was dropped or counted since (replacing what was cached under its
    /// id); otherwise drops what was cached under its id.
    pub fn put(&self, org: &str, memory: &Memory, seen: u64) {
        let mut inner = self.lock();
        let key = (org.to_owned(), memory.id.clone());
        if inner.generations.get(org).copied().unwrap_or(0) != seen {
            if let Some((_, size)) = inner.entries.pop(&key) {
                inner.bytes -= size;
            }
            return;
        }
        if let Some((_, size)) = inner.entries.pop(&key) {
            inner.bytes -= size;
        }
        let size = size_of(memory);
        if memory.tier != Tier::Hot || size > self.max_bytes {
            return;
        }
        inner.entries.put(key, (memory.clone(), size));
        inner.bytes += size;
        while inner.bytes > self.max_bytes {
            let Some((_, (_, size))) = inner.entries.pop_lru() else { break };
            inner.bytes -= size;
        }
    }

    pub fn remove(&self, org: &str, id: &str) {
        let mut inner = self.lock();
        if let Some((_, size)) = inner.entries.pop(&(org.to_owned(), id.to_owned())) {
            inner.bytes -= size;
        }
    }

    /// Drops every entry of `org`.
    pub fn clear_org(&self, org: &str) {
        let mut inner = self.lock();
        *inner.generations.entry(org.to_owned()).or_default() += 1;
        let keys: Vec<(String, String)> =
            inner.entries.iter().filter(|((o, _), _)| o == org).map(|(k, _)| k.clone()).collect();
        for key in keys {
            if let Some((_, size)) = inner.entries.pop(&key) {
                inner.bytes -= size;
            }
        }
    }

    /// What `AccessStore::record_accesses` does to the same memories: counts added,
    /// `last_accessed_at` moved up to `at`.
    pub fn accessed(&self, org: &str, counts: &[(String, u64)], at: Timestamp) {
        let mut inner = self.lock();
        *inner.generations.entry(org.to_owned()).or_default() += 1;
        for (id, n) in counts {
            if let Some((m, _)) = inner.entries.peek_mut(&(org.to_owned(), id.clone())) {
                m.access_count += n;
                m.last_accessed_at = Some(m.last_accessed_at.map_or(at, |t| t.max(at)));
            }
        }
    }

    pub fn stats(&self) -> HotCacheStats {
        let inner = self.lock();
        HotCacheStats { entries: inner.entries.len(), bytes: inner.bytes, hits: inner.hits, misses: inner.misses }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(id: &str, tier: Tier, content: &str) -> Memory {
        let now = time::now();
        Memory {
            id: id.into(),
            org_id: "o".into(),
            agent_id: "agent_1".into(),
            session_id: None,
            memory_type: MemoryType::Episodic,
            event_type: String::new(),
            content: content.into(),
            metadata: Metadata::new(),
            tags: Vec::new(),
            importance: 0.5,
            parent_id: None,
            dedup_key: String::new(),
            time: now,
            created_at: now,
            step: None,
            position: None,
            expires_at: None,
            scope: None,
            access_count: 0,
            last_accessed_at: None,
            tier,
        }
    }

    #[test]
    fn keeps_hot_memories_within_its_bound() {
        let now = time::now();
        let cache = HotCache::new(3 * (ENTRY_OVERHEAD + 10));
        cache.put("o", &memory("a", Tier::Hot, "0123456789"), cache.generation("o"));
        cache.put("o", &memory("w", Tier::Warm, "warm"), cache.generation("o"));
        assert!(cache.get("o", "w", now).is_none(), "only hot memories are kept");
        assert!(cache.get("x", "a", now).is_none(), "per org");
        cache.put("o", &memory("b", Tier::Hot, "0123456789"), cache.generation("o"));
        cache.put("o", &memory("c", Tier::Hot, "0123456789"), cache.generation("o"));
        assert!(cache.get("o", "a", now).is_some());
        cache.put("o", &memory("d", Tier::Hot, "0123456789"), cache.generation("o"));
        assert!(cache.get("o", "b", now).is_none(), "the least recently used goes");
        assert!(cache.stats().bytes <= 3 * (ENTRY_OVERHEAD + 10));
        cache.put("o", &memory("a", Tier::Warm, "moved"), cache.generation("o"));
        assert!(cache.get("o", "a", now).is_none(), "a memory no longer hot is dropped");
        cache.accessed("o", &[("c".into(), 2)], now);
        assert_eq!(cache.get("o", "c", now).map(|m| m.access_count), Some(2));
        cache.clear_org("o");
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().bytes, 0);
        // A read that a clear (a delete) overtook is not put.
        let seen = cache.generation("o");
        cache.clear_org("o");
        cache.put("o", &memory("late", Tier::Hot, ""), seen);
        assert!(cache.get("o", "late", now).is_none(), "put after a concurrent delete");
        let expired = Memory { expires_at: Some(now), ..memory("e", Tier::Hot, "") };
        cache.put("o", &expired, cache.generation("o"));
        assert!(cache.get("o", "e", now).is_none(), "expired at now");
    }
}
