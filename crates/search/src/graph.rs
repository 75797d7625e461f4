//! [`Graph`]: an HNSW graph ([usearch]) over an org's int8 codes, for searches that admit more
//! vectors than an exact scan reads in time. A leaf.
//!
//! The graph holds the codes of the org's vector slots `0..graphed` (by memory key): a builder
//! thread extends it in small steps while searches go on, and [`crate::vectors::Vectors`] keeps it
//! in step with replacements and removals. The slots past `graphed` (the newest vectors, or all
//! but the first while the graph is being built at start-up) are scanned exactly, so a search
//! never misses a vector because the graph has not reached it yet.
//!
//! The codes are each vector over its largest value, times 127 ([`crate::vectors`]): usearch's
//! own float-to-int8 cast assumes values near ±1 and loses a unit vector's (about ±0.05) to
//! rounding, while the cosine of our codes is the cosine of the vectors up to rounding. The
//! graph's candidates are rescored exactly from the f32 vectors, as the scan's are.

use std::sync::atomic::{AtomicUsize, Ordering};

use rustc_hash::FxHashSet;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// The graph's links per node (usearch's `connectivity`) and the breadth of its searches while
/// adding and searching. Measured on clustered 384-dim vectors with exact rescoring of 84
/// candidates: at 10^5 recall@10 1.0, 0.6 ms a search; at 10^6 recall@10 0.90 with a search
/// breadth of 128, 0.94 with 256 (0.9 ms), ~3,800 adds/s on one thread (bench/README.md).
const CONNECTIVITY: usize = 16;
const EXPANSION_ADD: usize = 64;
const EXPANSION_SEARCH: usize = 256;

/// Searches and adds that may run at once (usearch keeps a context per thread; past this many a
/// call fails and the search scans exactly instead).
const THREADS: usize = 64;

/// Room for this many more nodes at first and at each growth (at least doubling).
const GROWTH: usize = 65_536;

/// The memory keys a filtered search admits: a bitmap over their range when they are dense (they
/// usually are: the store numbers memories in order), a hash set otherwise.
pub(crate) enum KeySet {
    Bits { base: i64, words: Vec<u64> },
    Hashed(FxHashSet<i64>),
}

impl KeySet {
    pub(crate) fn new(keys: &[i64]) -> Self {
        let (Some(min), Some(max)) = (keys.iter().min(), keys.iter().max()) else {
            return Self::Hashed(FxHashSet::default());
        };
        let span = usize::try_from(max.saturating_sub(*min)).unwrap_or(usize::MAX);
        // A bit per key of the range costs less than the set's ~16 bytes per key up to 128×.
        if span / 128 > keys.len() {
            return Self::Hashed(keys.iter().copied().collect());
        }
        let mut words = vec![0u64; span / 64 + 1];
        for key in keys {
            let at = (key - min) as usize;
            words[at / 64] |= 1 << (at % 64);
        }
        Self::Bits { base: *min, words }
    }

    pub(crate) fn contains(&self, key: i64) -> bool {
        match self {
            Self::Bits { base, words } => key
                .checked_sub(*base)
                .and_then(|at| usize::try_from(at).ok())
                .is_some_and(|at| words.get(at / 64).is_some_and(|w| w & (1 << (at % 64)) != 0)),
            Self::Hashed(set) => set.contains(&key),
        }
    }
}

pub(crate) struct Graph {
    index: Index,
    /// Slots `0..graphed` of the org's vectors are in the graph.
    graphed: AtomicUsize,
    /// Nodes ever added (removed ones included: usearch may not reuse them), against capacity.
    added: AtomicUsize,
}

impl Graph {
    /// An empty graph for codes of `dim` values; None (logged) when usearch refuses.
    pub(crate) fn new(dim: usize) -> Option<Self> {
        let options = IndexOptions {
            dimensions: dim,
            metric: MetricKind::Cos,
            quantization: ScalarKind::I8,
            connectivity: CONNECTIVITY,
            expansion_add: EXPANSION_ADD,
            expansion_search: EXPANSION_SEARCH,
            multi: false,
        };
        let index = Index::new(&options)
            .and_then(|index| index.reserve_capacity_and_threads(GROWTH, THREADS).map(|()| index))
            .inspect_err(|e| tracing::warn!(error = %e, "vector graph unavailable; searches scan every vector"))
            .ok()?;
        Some(Self { index, graphed: AtomicUsize::new(0), added: AtomicUsize::new(0) })
    }

    pub(crate) fn graphed(&self) -> usize {
        self.graphed.load(Ordering::Acquire)
    }

    /// Records that slots `0..n` are in the graph (the builder, or a removal that shrank them).
    pub(crate) fn set_graphed(&self, n: usize) {
        self.graphed.store(n, Ordering::Release);
    }

    /// Whether `more` adds need [`Graph::grow`] first.
    pub(crate) fn needs_room(&self, more: usize) -> bool {
        self.added.load(Ordering::Acquire) + more > self.index.capacity()
    }

    /// Makes room for at least `more` adds. Not concurrent with any other call (usearch
    /// reallocates): callers hold the vectors' write lock.
    pub(crate) fn grow(&self, more: usize) -> bool {
        let capacity = self.index.capacity();
        let wanted = (self.added.load(Ordering::Acquire) + more).max(capacity * 2).max(capacity + GROWTH);
        self.index
            .reserve_capacity_and_threads(wanted, THREADS)
            .inspect_err(|e| tracing::warn!(error = %e, wanted, "vector graph: reserving"))
            .is_ok()
    }

    /// Adds a key's codes (the caller checked [`Graph::needs_room`]); false when usearch refused.
    pub(crate) fn add(&self, key: i64, codes: &[i8]) -> bool {
        let Ok(key) = u64::try_from(key) else { return false };
        self.added.fetch_add(1, Ordering::AcqRel);
        self.index.add(key, codes).inspect_err(|e| tracing::debug!(error = %e, "vector graph: adding")).is_ok()
    }

    pub(crate) fn remove(&self, key: i64) {
        if let Ok(key) = u64::try_from(key) {
            let _ = self.index.remove(key);
        }
    }

    /// Up to `count` keys near `query` (codes) among those `admitted` admits (all when None),
    /// nearest first; None when usearch failed (no free thread context): scan instead.
    pub(crate) fn search(&self, query: &[i8], count: usize, admitted: Option<&KeySet>) -> Option<Vec<i64>> {
        let found = match admitted {
            None => self.index.search(query, count),
            Some(set) => self.index.filtered_search(query, count, |key| set.contains(key as i64)),
        };
        let found = found.inspect_err(|e| tracing::debug!(error = %e, "vector graph: searching")).ok()?;
        Some(found.keys.into_iter().filter_map(|key| i64::try_from(key).ok()).collect())
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sets_dense_and_sparse() {
        let dense = KeySet::new(&[10, 12, 75, 11]);
        assert!(matches!(dense, KeySet::Bits { .. }));
        let sparse = KeySet::new(&[1, 1_000_000]);
        assert!(matches!(sparse, KeySet::Hashed(_)));
        for set in [&dense, &sparse] {
            assert!(!set.contains(0) && !set.contains(13) && !set.contains(i64::MIN) && !set.contains(i64::MAX));
        }
        assert!([10, 11, 12, 75].iter().all(|k| dense.contains(*k)));
        assert!(sparse.contains(1) && sparse.contains(1_000_000));
        assert!(!KeySet::new(&[]).contains(0));
    }
}
