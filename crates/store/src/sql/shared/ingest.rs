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
///
/// Its memory is taken once, when it is loaded: a flat map of hash → key sized for the whole
/// buffer (16 bytes and a control byte per slot: 2.2 MB for 100,000), never shrunk by a flush.
/// So a server's memory does not climb with every write until the flush and drop back after
/// (OPERATIONS.md "Soak"), and no write allocates. The rare hash that several buffered memories
/// share (the same content outside the dedup window) keeps its further keys in `more`.
#[derive(Debug, Default)]
pub(crate) struct DedupBuffer {
    /// Whether it was read from the database since start-up.
    pub loaded: bool,
    /// `memory_dedup` holds the hashes of every memory up to this key.
    pub flushed: i64,
    /// Newer hashes → a memory key.
    first: HashMap<i64, i64>,
    /// Hashes with more than one buffered memory → their other keys.
    more: HashMap<i64, Vec<i64>>,
    pub len: usize,
}

impl DedupBuffer {
    /// An empty buffer, loaded, with room for `capacity` hashes.
    pub(crate) fn with_capacity(flushed: i64, capacity: usize) -> Self {
        Self { loaded: true, flushed, first: HashMap::with_capacity(capacity), more: HashMap::new(), len: 0 }
    }

    pub(crate) fn add(&mut self, entries: &[(i64, i64)]) {
        for (hash, key) in entries {
            if *key > self.flushed {
                match self.first.entry(*hash) {
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(*key);
                    }
                    std::collections::hash_map::Entry::Occupied(_) => self.more.entry(*hash).or_default().push(*key),
                }
                self.len += 1;
            }
        }
    }

    /// The buffered memory keys of a hash.
    pub(crate) fn keys(&self, hash: i64) -> impl Iterator<Item = i64> + '_ {
        self.first.get(&hash).into_iter().chain(self.more.get(&hash).into_iter().flatten()).copied()
    }

    /// Takes out what [`DedupBuffer::add`] added (its transaction did not commit).
    pub(crate) fn remove(&mut self, entries: &[(i64, i64)]) {
        for (hash, key) in entries {
            let Some(first) = self.first.get_mut(hash) else { continue };
            let more = self.more.get_mut(hash);
            let removed = if *first == *key {
                // One of the hash's other keys takes its place, if it has one.
                match more.and_then(Vec::pop) {
                    Some(other) => *first = other,
                    None => {
                        self.first.remove(hash);
                    }
                }
                true
            } else {
                more.and_then(|keys| keys.iter().position(|k| k == key).map(|at| keys.swap_remove(at))).is_some()
            };
            if self.more.get(hash).is_some_and(Vec::is_empty) {
                self.more.remove(hash);
            }
            self.len -= usize::from(removed);
        }
    }

    /// Drops the entries of these memories (erased: their hashes must not reach the table).
    pub(crate) fn forget(&mut self, keys: &[i64]) {
        if keys.is_empty() {
            return;
        }
        let gone: std::collections::HashSet<i64> = keys.iter().copied().collect();
        self.retain(|_, key| !gone.contains(&key));
    }

    /// Everything buffered, sorted by hash (the order of `memory_dedup`).
    pub(crate) fn sorted(&self) -> Vec<(i64, i64)> {
        let mut all = Vec::with_capacity(self.len);
        all.extend(self.first.iter().map(|(hash, key)| (*hash, *key)));
        all.extend(self.more.iter().flat_map(|(hash, keys)| keys.iter().map(move |key| (*hash, *key))));
        all.sort_unstable();
        all
    }

    /// After a flush of every key up to `key` committed (later passes of its group may have
    /// added keys above it: they stay).
    pub(crate) fn flushed_to(&mut self, key: i64) {
        self.flushed = key;
        self.retain(|_, k| k > key);
    }

    /// Keeps the (hash, key) entries `keep` accepts. The map keeps its room.
    fn retain(&mut self, keep: impl Fn(i64, i64) -> bool) {
        let Self { first, more, .. } = self;
        more.retain(|hash, keys| {
            keys.retain(|key| keep(*hash, *key));
            !keys.is_empty()
        });
        first.retain(|hash, key| {
            if keep(*hash, *key) {
                return true;
            }
            // One of the hash's other keys takes its place.
            let Some(keys) = more.get_mut(hash) else { return false };
            match keys.pop() {
                Some(other) => {
                    *key = other;
                    if keys.is_empty() {
                        more.remove(hash);
                    }
                    true
                }
                None => false,
            }
        });
        self.len = self.first.len() + self.more.values().map(Vec::len).sum::<usize>();
    }
}

#[cfg(test)]
mod tests {
    use super::DedupBuffer;

    fn keys(buffer: &DedupBuffer, hash: i64) -> Vec<i64> {
        let mut keys: Vec<i64> = buffer.keys(hash).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn shared_hashes_keep_every_key_through_removals_and_flushes() {
        let mut buffer = DedupBuffer::with_capacity(10, 100);
        let room = buffer.first.capacity();
        // Key 5 is at or below the flushed key: already in the table, not buffered.
        buffer.add(&[(1, 11), (2, 12), (1, 13), (1, 14), (3, 5)]);
        assert_eq!(buffer.len, 4);
        assert_eq!((keys(&buffer, 1), keys(&buffer, 2), keys(&buffer, 3)), (vec![11, 13, 14], vec![12], vec![]));
        assert_eq!(buffer.sorted(), vec![(1, 11), (1, 13), (1, 14), (2, 12)]);

        // A pass that did not commit: its entries go, the others of the same hash stay.
        buffer.remove(&[(1, 11), (2, 12), (9, 99)]);
        assert_eq!(buffer.len, 2);
        assert_eq!((keys(&buffer, 1), keys(&buffer, 2)), (vec![13, 14], vec![]));

        // Erased memories.
        buffer.add(&[(4, 15), (4, 16)]);
        buffer.forget(&[14, 15]);
        assert_eq!((keys(&buffer, 1), keys(&buffer, 4)), (vec![13], vec![16]));
        assert_eq!(buffer.len, 2);

        // A flush up to 13 keeps what came after it.
        buffer.add(&[(5, 17), (5, 18)]);
        buffer.flushed_to(13);
        assert_eq!(buffer.sorted(), vec![(4, 16), (5, 17), (5, 18)]);
        assert_eq!(buffer.len, 3);
        buffer.add(&[(6, 12)]);
        assert_eq!(buffer.len, 3, "a key at or below the flushed one is not buffered");

        // Emptied, it keeps its room: the next fill allocates nothing.
        buffer.flushed_to(18);
        assert_eq!((buffer.len, buffer.sorted()), (0, vec![]));
        assert_eq!(buffer.first.capacity(), room);
        assert!(room >= 100);
    }
}
