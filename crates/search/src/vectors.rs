//! [`Vectors`]: an org's memory vectors in memory, normalized, for exact cosine search. A leaf.
//!
//! Exact search reads every vector once per query (a dot product each): measured in
//! bench/README.md; an approximate index (HNSW) is the next step past the sizes where that is too
//! slow.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap as HashMap;

use engram_core::vector::{dot, normalized};

#[derive(Default)]
pub(crate) struct Vectors {
    dim: usize,
    keys: Vec<i64>,
    /// `keys.len() × dim` values, each vector normalized.
    data: Vec<f32>,
    slots: HashMap<i64, usize>,
}

/// A (similarity, key) pair ordered by similarity, then key (for a min-heap of the best).
#[derive(PartialEq)]
struct Candidate(f32, i64);

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the heap's top is the worst kept candidate.
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

impl Vectors {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The dimension of the org's vectors (0: none yet).
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    pub(crate) fn contains(&self, key: i64) -> bool {
        self.slots.contains_key(&key)
    }

    /// Adds or replaces a memory's vector. A vector of another dimension than the others is
    /// ignored (the store rejects them; this guards an index against a replaced store).
    pub(crate) fn upsert(&mut self, key: i64, vector: &[f32]) {
        if self.keys.is_empty() {
            self.dim = vector.len();
        }
        if vector.len() != self.dim {
            return;
        }
        let unit = normalized(vector);
        match self.slots.get(&key) {
            Some(&slot) => self.data[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(&unit),
            None => {
                self.slots.insert(key, self.keys.len());
                self.keys.push(key);
                self.data.extend_from_slice(&unit);
            }
        }
    }

    pub(crate) fn remove(&mut self, key: i64) {
        let Some(slot) = self.slots.remove(&key) else { return };
        let last = self.keys.len() - 1;
        if slot != last {
            let moved = self.keys[last];
            self.keys[slot] = moved;
            self.slots.insert(moved, slot);
            let (head, tail) = self.data.split_at_mut(last * self.dim);
            head[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(&tail[..self.dim]);
        }
        self.keys.pop();
        self.data.truncate(last * self.dim);
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The cosine similarity of a memory's vector to `unit` (a normalized query), if it has one.
    pub(crate) fn similarity(&self, key: i64, unit: &[f32]) -> Option<f32> {
        let slot = *self.slots.get(&key)?;
        Some(dot(&self.data[slot * self.dim..(slot + 1) * self.dim], unit))
    }

    /// The `k` most similar vectors to `unit` among the keys `allowed` (all when None), best
    /// first.
    pub(crate) fn nearest(&self, unit: &[f32], k: usize, allowed: Option<&[i64]>) -> Vec<(i64, f32)> {
        if k == 0 || unit.len() != self.dim {
            return Vec::new();
        }
        let mut best: BinaryHeap<Candidate> = BinaryHeap::with_capacity(k + 1);
        let mut consider = |slot: usize| {
            let key = self.keys[slot];
            let similarity = dot(&self.data[slot * self.dim..(slot + 1) * self.dim], unit);
            if best.len() < k {
                best.push(Candidate(similarity, key));
            } else if best.peek().is_some_and(|worst| Candidate(similarity, key) < *worst) {
                best.pop();
                best.push(Candidate(similarity, key));
            }
        };
        match allowed {
            Some(keys) => keys.iter().filter_map(|key| self.slots.get(key)).for_each(|slot| consider(*slot)),
            None => (0..self.keys.len()).for_each(consider),
        }
        let mut out: Vec<(i64, f32)> = best.into_iter().map(|Candidate(s, key)| (key, s)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_first_with_filters_replacements_and_removals() {
        let mut v = Vectors::default();
        v.upsert(1, &[1.0, 0.0]);
        v.upsert(2, &[0.0, 1.0]);
        v.upsert(3, &[1.0, 1.0]);
        v.upsert(4, &[1.0, 2.0, 3.0]); // another dimension: ignored
        assert_eq!(v.len(), 3);
        let q = normalized(&[1.0, 0.1]);
        let keys = |found: Vec<(i64, f32)>| found.into_iter().map(|f| f.0).collect::<Vec<_>>();
        assert_eq!(keys(v.nearest(&q, 3, None)), [1, 3, 2]);
        assert_eq!(keys(v.nearest(&q, 1, None)), [1]);
        assert_eq!(keys(v.nearest(&q, 3, Some(&[2, 3, 42]))), [3, 2]);
        v.upsert(1, &[-1.0, 0.0]);
        assert_eq!(keys(v.nearest(&q, 3, None)), [3, 2, 1]);
        v.remove(3);
        v.remove(42);
        assert_eq!(keys(v.nearest(&q, 3, None)), [2, 1]);
        assert!((v.similarity(2, &normalized(&[0.0, 5.0])).unwrap() - 1.0).abs() < 1e-6);
        v.clear();
        assert_eq!(v.len(), 0);
    }
}
