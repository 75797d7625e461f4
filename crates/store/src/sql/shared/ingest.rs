//! The state memory ingest keeps between group commits (the pass itself is the `ingest`
//! operation): requests waiting for the writer, and SQLite's buffer of recent dedup hashes.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use engram_core::time::Timestamp;
use engram_core::*;

/// A memory to add, with what can be computed before the writer takes it (off its thread).
pub(crate) struct Prepared {
    pub item: ValidMemory,
    /// `metadata` as JSON text.
    pub metadata: String,
    /// `tags` as a JSON array.
    pub tags: String,
}

impl Prepared {
    pub(crate) fn new(item: ValidMemory) -> Self {
        let metadata = if item.metadata.is_empty() {
            "{}".to_owned()
        } else {
            serde_json::Value::Object(item.metadata.clone()).to_string()
        };
        let tags = serde_json::to_string(&item.tags).unwrap_or_else(|_| "[]".to_owned());
        Self { item, metadata, tags }
    }
}

/// One AddMemories request waiting for the writer.
pub(crate) struct AddJob {
    pub items: Vec<Prepared>,
    pub window: chrono::Duration,
    pub now: Timestamp,
    pub reply: oneshot::Sender<Result<Vec<AddOutcome>>>,
}

/// Requests waiting for the writer, per org key. Each request also submits a writer job that
/// drains its org's queue: the first of those jobs to run takes every request queued by then,
/// so requests that arrive together are inserted in one pass; the later jobs find nothing.
#[derive(Default)]
pub(crate) struct Pending(Mutex<HashMap<i64, Vec<AddJob>>>);

impl Pending {
    pub(crate) fn push(&self, org_key: i64, job: AddJob) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(org_key).or_default().push(job);
    }

    pub(crate) fn take(&self, org_key: i64) -> Vec<AddJob> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&org_key).unwrap_or_default()
    }
}

/// SQLite: dedup hashes of the newest memories, not yet in `memory_dedup`.
///
/// A random-key index costs a page write per insert at scale (each commit rewrites ~one page per
/// new memory into the WAL; measured in bench/README.md, "store log"). So the writer adds hashes to
/// `memory_dedup` in sorted bulk passes (`StoreOptions::sqlite_dedup_buffer`, 100,000 by default),
/// and keeps the newer ones here; a
/// lookup reads both. `store_state.dedup_flushed_key` says which memory keys the table covers, so
/// the buffer is rebuilt exactly after a restart (the memories above it, by key range).
/// Only the writer thread uses it. A pass adds its hashes at once, so later passes of the same
/// group transaction see them (they see its rows too); if the transaction does not commit, the
/// pass's completion takes them out again ([`DedupBuffer::remove`]).
#[derive(Debug, Default)]
pub(crate) struct DedupBuffer {
    /// Whether it was read from the database since start-up.
    pub loaded: bool,
    /// `memory_dedup` holds the hashes of every memory up to this key.
    pub flushed: i64,
    /// Newer hashes → memory keys.
    pub recent: HashMap<i64, Vec<i64>>,
    pub len: usize,
}

impl DedupBuffer {
    pub(crate) fn add(&mut self, entries: &[(i64, i64)]) {
        for (hash, key) in entries {
            if *key > self.flushed {
                self.recent.entry(*hash).or_default().push(*key);
                self.len += 1;
            }
        }
    }

    /// Takes out what [`DedupBuffer::add`] added (its transaction did not commit).
    pub(crate) fn remove(&mut self, entries: &[(i64, i64)]) {
        for (hash, key) in entries {
            if let Some(keys) = self.recent.get_mut(hash)
                && let Some(at) = keys.iter().position(|k| k == key)
            {
                keys.swap_remove(at);
                self.len -= 1;
                if keys.is_empty() {
                    self.recent.remove(hash);
                }
            }
        }
    }

    /// Drops the entries of these memories (erased: their hashes must not reach the table).
    pub(crate) fn forget(&mut self, keys: &[i64]) {
        if keys.is_empty() {
            return;
        }
        let gone: std::collections::HashSet<i64> = keys.iter().copied().collect();
        let mut dropped = 0;
        self.recent.retain(|_, memories| {
            let before = memories.len();
            memories.retain(|k| !gone.contains(k));
            dropped += before - memories.len();
            !memories.is_empty()
        });
        self.len -= dropped;
    }

    /// Everything buffered, sorted by hash (the order of `memory_dedup`).
    pub(crate) fn sorted(&self) -> Vec<(i64, i64)> {
        let mut all: Vec<(i64, i64)> =
            self.recent.iter().flat_map(|(hash, keys)| keys.iter().map(move |key| (*hash, *key))).collect();
        all.sort_unstable();
        all
    }

    /// After a flush of every key up to `key` committed (later passes of its group may have
    /// added keys above it: they stay).
    pub(crate) fn flushed_to(&mut self, key: i64) {
        self.flushed = key;
        self.recent.retain(|_, keys| {
            keys.retain(|k| *k > key);
            !keys.is_empty()
        });
        self.len = self.recent.values().map(Vec::len).sum();
    }
}
