//! [`WindowCache`]: the newest messages of active conversations, in process, bounded in bytes. A
//! leaf.
//!
//! An entry holds a conversation's system messages and its newest others, with the `seq` of the
//! newest message it saw. A window read first looks the conversation up in the store (one indexed
//! read, which every replica's appends have committed to) and uses the entry only when its `seq`
//! is the conversation's: an entry can be old, never stale. Appends on this process extend their
//! entry; appends elsewhere make it miss once, and the read that follows refills it.

use std::sync::{Mutex, PoisonError};

use engram_core::conversation::{Message, Role};
use lru::LruCache;

/// Bytes counted per message beyond its text (ids, numbers, the allocation itself).
const MESSAGE_OVERHEAD: usize = 160;

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The `seq` of the conversation's newest message when this was read or last extended.
    pub last_seq: i64,
    /// System messages and the newest `depth` others (or all of them), in `seq` order.
    pub messages: Vec<Message>,
    /// How many non-system messages the entry holds at most; `complete`: it holds all of them.
    pub depth: usize,
    pub complete: bool,
    bytes: usize,
}

fn message_bytes(m: &Message) -> usize {
    MESSAGE_OVERHEAD
        + m.content.len()
        + m.tool_calls.iter().map(|c| c.id.len() + c.name.len() + c.arguments.len() + 48).sum::<usize>()
        + m.metadata.iter().map(|(k, v)| k.len() + v.to_string().len()).sum::<usize>()
}

impl Entry {
    /// An entry of messages read from the store: the system messages and the newest `depth`
    /// others; `complete` when the conversation has no more.
    pub(crate) fn new(messages: Vec<Message>, depth: usize, complete: bool) -> Self {
        let last_seq = messages.iter().map(|m| m.seq).max().unwrap_or(0);
        let bytes = messages.iter().map(message_bytes).sum();
        Self { last_seq, messages, depth, complete, bytes }
    }

    /// Whether it holds a window of `max_messages` messages as of `last_seq`.
    pub(crate) fn serves(&self, last_seq: i64, max_messages: usize) -> bool {
        self.last_seq == last_seq && (self.complete || self.depth >= max_messages)
    }

    /// Appends newly stored messages (those right after `last_seq`) and drops the oldest
    /// non-system ones past `depth`. False when they do not follow on: the entry must go.
    fn extend(&mut self, new: &[Message]) -> bool {
        let mut expected = self.last_seq + 1;
        for m in new {
            if m.seq != expected {
                return false;
            }
            expected += 1;
            self.bytes += message_bytes(m);
            self.messages.push(m.clone());
        }
        self.last_seq = expected - 1;
        let others = self.messages.iter().filter(|m| m.role != Role::System).count();
        if others > self.depth {
            let mut extra = others - self.depth;
            self.complete = false;
            let mut freed = 0;
            self.messages.retain(|m| {
                if extra > 0 && m.role != Role::System {
                    extra -= 1;
                    freed += message_bytes(m);
                    return false;
                }
                true
            });
            self.bytes -= freed;
        }
        true
    }
}

/// Conversation entries by (org, conversation key), least recently used first out.
pub(crate) struct WindowCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    entries: LruCache<(String, i64), Entry>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

/// What the cache holds and how it served (for the stats and the bench).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowCacheStats {
    pub entries: usize,
    pub bytes: usize,
    pub max_bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

impl WindowCache {
    /// A cache of at most `max_bytes` (0: nothing is cached).
    pub(crate) fn new(max_bytes: usize) -> Self {
        let inner = Inner { entries: LruCache::unbounded(), bytes: 0, hits: 0, misses: 0 };
        Self { max_bytes, inner: Mutex::new(inner) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry if it serves a window of `max_messages` as of `last_seq` (counted as a hit or
    /// a miss).
    pub(crate) fn get(&self, org: &str, key: i64, last_seq: i64, max_messages: usize) -> Option<Entry> {
        let mut inner = self.lock();
        let found = inner.entries.get(&(org.to_owned(), key)).filter(|e| e.serves(last_seq, max_messages)).cloned();
        match found {
            Some(_) => inner.hits += 1,
            None => inner.misses += 1,
        }
        found
    }

    /// Keeps an entry (replacing the conversation's), then evicts the least recently used past
    /// the bound.
    pub(crate) fn put(&self, org: &str, key: i64, entry: Entry) {
        if entry.bytes > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        inner.bytes += entry.bytes;
        if let Some(old) = inner.entries.put((org.to_owned(), key), entry) {
            inner.bytes -= old.bytes;
        }
        self.evict(&mut inner);
    }

    /// Extends the conversation's entry with messages just appended (dropping it when they do
    /// not follow on from what it holds).
    pub(crate) fn appended(&self, org: &str, key: i64, new: &[Message]) {
        let mut inner = self.lock();
        let id = (org.to_owned(), key);
        let Some(entry) = inner.entries.peek_mut(&id) else { return };
        let before = entry.bytes;
        let kept = entry.extend(new);
        let after = entry.bytes;
        if kept {
            inner.bytes = inner.bytes + after - before;
            self.evict(&mut inner);
        } else if let Some(old) = inner.entries.pop(&id) {
            inner.bytes -= old.bytes;
        }
    }

    pub(crate) fn remove(&self, org: &str, key: i64) {
        let mut inner = self.lock();
        if let Some(old) = inner.entries.pop(&(org.to_owned(), key)) {
            inner.bytes -= old.bytes;
        }
    }

    /// Drops every entry of the org (an erasure: no copy of its messages may outlive it).
    pub(crate) fn clear_org(&self, org: &str) {
        let mut inner = self.lock();
        let doomed: Vec<(String, i64)> =
            inner.entries.iter().filter(|(id, _)| id.0 == org).map(|(id, _)| id.clone()).collect();
        for id in doomed {
            if let Some(old) = inner.entries.pop(&id) {
                inner.bytes -= old.bytes;
            }
        }
    }

    fn evict(&self, inner: &mut Inner) {
        while inner.bytes > self.max_bytes {
            let Some((_, old)) = inner.entries.pop_lru() else { break };
            inner.bytes -= old.bytes;
        }
    }

    pub(crate) fn stats(&self) -> WindowCacheStats {
        let inner = self.lock();
        WindowCacheStats {
            entries: inner.entries.len(),
            bytes: inner.bytes,
            max_bytes: self.max_bytes,
            hits: inner.hits,
            misses: inner.misses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: i64, role: Role, content: &str) -> Message {
        let now = engram_core::time::now();
        Message {
            id: format!("msg_{seq}"),
            seq,
            role,
            content: content.into(),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            time: now,
            metadata: Default::default(),
            client_id: None,
            tokens: 1,
            created_at: now,
        }
    }

    #[test]
    fn entries_serve_their_seq_extend_in_order_and_stay_in_bounds() {
        let cache = WindowCache::new(10_000);
        let first = vec![message(1, Role::System, "rules"), message(2, Role::User, "a"), message(3, Role::User, "b")];
        cache.put("org", 7, Entry::new(first, 2, true));
        assert!(cache.get("org", 7, 3, 100).is_some(), "complete: serves any depth");
        assert!(cache.get("org", 7, 4, 2).is_none(), "another seq: a miss, never stale");
        assert!(cache.get("other", 7, 3, 2).is_none(), "another org's key is another entry");

        // Extended past its depth: the oldest non-system message goes, the system one stays.
        cache.appended("org", 7, &[message(4, Role::Assistant, "c")]);
        let entry = cache.get("org", 7, 4, 2).unwrap();
        assert_eq!(entry.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 3, 4]);
        assert!(!entry.complete);
        assert!(cache.get("org", 7, 4, 3).is_none(), "deeper than it holds");
        // A gap (another replica appended seq 5): the entry goes.
        cache.appended("org", 7, &[message(6, Role::User, "e")]);
        assert!(cache.get("org", 7, 4, 2).is_none());
        assert_eq!(cache.stats().entries, 0);

        // The byte bound evicts the least recently used.
        let big = |_: i64| Entry::new(vec![message(1, Role::User, &"x".repeat(3_000))], 100, true);
        for key in 0..5 {
            cache.put("org", key, big(key));
            assert!(cache.stats().bytes <= 10_000);
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 3);
        assert!(cache.get("org", 4, 1, 1).is_some() && cache.get("org", 0, 1, 1).is_none());
        cache.remove("org", 4);
        assert!(cache.get("org", 4, 1, 1).is_none());
        assert!(cache.stats().hits >= 3 && cache.stats().misses >= 5);
    }
}
