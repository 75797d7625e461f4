//! [`Vectors`]: an org's memory vectors in memory, normalized, for cosine search. A leaf.
//!
//! Search scans every admitted vector once per query in its int8 form (a quarter of the bytes of
//! f32: each value over its vector's largest, times 127), keeps the best [`RESCORED`] times as
//! many as asked, and rescores those exactly with the f32 vectors: the scan's memory traffic is
//! what bounds it (bench/README.md), and int8 dot products keep the order of f32 ones closely
//! enough that the exact top k is almost always among the rescored (measured in the tests below
//! on random vectors, the hardest case: their similarities all lie near 0). A filtered search's
//! vectors lie scattered in memory: it touches a batch of them before scoring it, so their
//! cache misses overlap (measured: semantic at 10^6, p50 7.3 → 4.7 ms).
//!
//! An org of at least [`GRAPH_FROM`] vectors gets an HNSW [`Graph`] of the codes the first time a
//! search admits more than [`EXACT_MAX`] of them; a builder thread extends it
//! ([`Vectors::extend_graph`]). Such searches ask the graph and scan exactly only the slots it has
//! not reached, then rescore both's candidates exactly.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use engram_core::vector::{dot, normalized};

use crate::graph::{Graph, KeySet};
use crate::slots::KeySlots;

/// An org gets a graph once it holds this many vectors.
pub(crate) const GRAPH_FROM: usize = 50_000;

/// A search admitting more vectors than this asks the graph (when there is one) instead of
/// scanning them all: the exact scan reads 50,000 codes in about 5 ms at 10^6 (bench/README.md).
pub(crate) const EXACT_MAX: usize = 50_000;

/// What [`Vectors::extend_graph`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GraphStep {
    /// Added this many slots.
    Added(usize),
    /// Every slot is in the graph.
    Done,
    /// The graph needs room first ([`Vectors::grow_graph`], under the write lock).
    Grow,
    /// No graph (cleared, or usearch failed): the builder stops.
    Gone,
}

/// The scan keeps this many times `k` candidates (at least `k` + [`RESCORED_MIN`]) for exact
/// rescoring.
const RESCORED: usize = 2;
const RESCORED_MIN: usize = 64;

/// Vectors whose codes a filtered scan touches together before it scores them ([`Vectors::touch`]).
const TOUCHED: usize = 16;

/// A normalized vector as int8 codes and the scale that maps them back (value ≈ code × scale).
fn quantized(unit: &[f32]) -> (Vec<i8>, f32) {
    let largest = unit.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return (vec![0; unit.len()], 0.0);
    }
    let scale = largest / 127.0;
    // |v / scale| ≤ 127: the cast cannot saturate.
    let codes = unit.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8).collect();
    (codes, scale)
}

/// The dot product of two int8 vectors, in i32 (384 values of at most 127² each cannot
/// overflow). Sixteen running sums, so the compiler vectorizes it.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    const LANES: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut sums = [0i32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| i32::from(*x) * i32::from(*y)).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            sums[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    sums.iter().sum::<i32>() + tail
}

pub(crate) struct Vectors {
    dim: usize,
    keys: Vec<i64>,
    /// `keys.len() × dim` values, each vector normalized.
    data: Vec<f32>,
    /// The same vectors as int8 codes (`keys.len() × dim`) and one scale each ([`quantized`]).
    codes: Vec<i8>,
    scales: Vec<f32>,
    slots: KeySlots,
    graph: Option<Graph>,
    /// usearch failed once: no graph until the next start.
    graph_failed: bool,
    /// [`GRAPH_FROM`] and [`EXACT_MAX`] (smaller in tests).
    graph_from: usize,
    exact_max: usize,
}

impl Default for Vectors {
    fn default() -> Self {
        Self {
            dim: 0,
            keys: Vec::new(),
            data: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            slots: KeySlots::default(),
            graph: None,
            graph_failed: false,
            graph_from: GRAPH_FROM,
            exact_max: EXACT_MAX,
        }
    }
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
        let (codes, scale) = quantized(&unit);
        let dim = self.dim;
        match self.slots.get(key) {
            Some(slot) => {
                self.data[slot * dim..(slot + 1) * dim].copy_from_slice(&unit);
                self.codes[slot * dim..(slot + 1) * dim].copy_from_slice(&codes);
                self.scales[slot] = scale;
                if let Some(graph) = self.graph.as_ref().filter(|g| slot < g.graphed()) {
                    graph.remove(key);
                    self.regraph(slot);
                }
            }
            None => {
                self.slots.insert(key, self.keys.len());
                self.keys.push(key);
                self.data.extend_from_slice(&unit);
                self.codes.extend_from_slice(&codes);
                self.scales.push(scale);
            }
        }
    }

    pub(crate) fn remove(&mut self, key: i64) {
        let Some(slot) = self.slots.remove(key) else { return };
        let (last, dim) = (self.keys.len() - 1, self.dim);
        let graphed = self.graph.as_ref().map_or(0, Graph::graphed);
        if slot < graphed
            && let Some(graph) = &self.graph
        {
            graph.remove(key);
        }
        if slot != last {
            let moved = self.keys[last];
            self.keys[slot] = moved;
            self.slots.insert(moved, slot);
            self.data.copy_within(last * dim..(last + 1) * dim, slot * dim);
            self.codes.copy_within(last * dim..(last + 1) * dim, slot * dim);
            self.scales[slot] = self.scales[last];
        }
        self.keys.pop();
        self.data.truncate(last * dim);
        self.codes.truncate(last * dim);
        self.scales.truncate(last);
        if slot < graphed && last >= graphed {
            // The last vector, not in the graph yet, moved into a slot the graph covers.
            self.regraph(slot);
        }
        if let Some(graph) = &self.graph {
            graph.set_graphed(graphed.min(last));
        }
    }

    /// Adds the vector in `slot` to the graph again (after a replacement or a move); on failure
    /// the graph is dropped (searches scan).
    fn regraph(&mut self, slot: usize) {
        let Some(graph) = &self.graph else { return };
        let added = (!graph.needs_room(1) || graph.grow(1))
            && graph.add(self.keys[slot], &self.codes[slot * self.dim..(slot + 1) * self.dim]);
        if !added {
            self.drop_graph();
        }
    }

    /// Whether the org should get a graph now (creating it: [`Vectors::start_graph`]).
    pub(crate) fn wants_graph(&self) -> bool {
        self.graph.is_none() && !self.graph_failed && self.keys.len() >= self.graph_from
    }

    /// Creates the (empty) graph; the builder fills it.
    pub(crate) fn start_graph(&mut self) {
        self.graph = Graph::new(self.dim);
        self.graph_failed = self.graph.is_none();
    }

    pub(crate) fn drop_graph(&mut self) {
        self.graph = None;
        self.graph_failed = true;
        tracing::warn!("vector graph dropped after an error; searches scan every vector");
    }

    /// Adds up to `step` more slots to the graph (under the read lock: searches go on).
    pub(crate) fn extend_graph(&self, step: usize) -> GraphStep {
        let Some(graph) = &self.graph else { return GraphStep::Gone };
        let from = graph.graphed();
        let to = (from + step).min(self.keys.len());
        if from >= to {
            return GraphStep::Done;
        }
        if graph.needs_room(to - from) {
            return GraphStep::Grow;
        }
        let dim = self.dim;
        for slot in from..to {
            if !graph.add(self.keys[slot], &self.codes[slot * dim..(slot + 1) * dim]) {
                return GraphStep::Gone;
            }
        }
        graph.set_graphed(to);
        GraphStep::Added(to - from)
    }

    /// Makes room in the graph for `step` more slots; on failure drops it.
    pub(crate) fn grow_graph(&mut self, step: usize) {
        if self.graph.as_ref().is_some_and(|g| !g.grow(step)) {
            self.drop_graph();
        }
    }

    pub(crate) fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// Bytes the graph holds (0: none).
    pub(crate) fn graph_bytes(&self) -> usize {
        self.graph.as_ref().map_or(0, Graph::memory_bytes)
    }

    /// Reads one byte of every cache line of these slots' codes (into `black_box`, so the reads
    /// stay): the loads are independent, so their misses are in flight together.
    fn touch(&self, slots: &[usize]) {
        let mut sum = 0u8;
        for slot in slots {
            let codes = &self.codes[slot * self.dim..(slot + 1) * self.dim];
            for line in codes.iter().step_by(64) {
                sum = sum.wrapping_add(*line as u8);
            }
        }
        std::hint::black_box(sum);
    }

    /// [`Vectors::touch`] for the f32 vectors (the rescoring reads).
    fn touch_exact(&self, slots: &[usize]) {
        let mut sum = 0.0f32;
        for slot in slots {
            let values = &self.data[slot * self.dim..(slot + 1) * self.dim];
            for line in values.iter().step_by(16) {
                sum += *line;
            }
        }
        std::hint::black_box(sum);
    }

    /// After many vectors came in no key order (a start): see [`KeySlots::compact`].
    pub(crate) fn compact(&mut self) {
        self.slots.compact();
    }

    pub(crate) fn clear(&mut self) {
        let (graph_from, exact_max) = (self.graph_from, self.exact_max);
        *self = Self { graph_from, exact_max, ..Self::default() };
    }

    /// The cosine similarity of a memory's vector to `unit` (a normalized query), if it has one.
    pub(crate) fn similarity(&self, key: i64, unit: &[f32]) -> Option<f32> {
        let slot = self.slots.get(key)?;
        Some(dot(&self.data[slot * self.dim..(slot + 1) * self.dim], unit))
    }

    /// The `k` most similar vectors to `unit` among the keys `allowed` (all when None), best
    /// first (exact similarities of the int8 scan's or the graph's best, see the module's
    /// comment); and how many of `allowed` have no vector.
    pub(crate) fn nearest(&self, unit: &[f32], k: usize, allowed: Option<&[i64]>) -> (Vec<(i64, f32)>, usize) {
        let missing = |keys: &[i64]| keys.iter().filter(|key| !self.slots.contains(**key)).count();
        if k == 0 || unit.len() != self.dim {
            return (Vec::new(), allowed.map_or(0, missing));
        }
        let (query, _) = quantized(unit);
        let pool = (k * RESCORED).max(k + RESCORED_MIN);
        let admitted = allowed.map_or(self.keys.len(), <[i64]>::len);
        if admitted > self.exact_max
            && let Some(graph) = self.graph.as_ref().filter(|g| g.graphed() > 0)
        {
            let set = allowed.map(KeySet::new);
            if let Some(found) = graph.search(&query, pool, set.as_ref()) {
                // The graph's candidates, and the exact scan of the slots it has not reached.
                let mut best = Best::new(pool);
                for slot in graph.graphed().min(self.keys.len())..self.keys.len() {
                    if set.as_ref().is_none_or(|set| set.contains(self.keys[slot])) {
                        best.consider(self.approx(&query, slot), slot);
                    }
                }
                let mut slots = best.slots();
                slots.extend(found.into_iter().filter_map(|key| self.slots.get(key)));
                slots.sort_unstable();
                slots.dedup();
                return (self.rescored(&slots, unit, k), allowed.map_or(0, missing));
            }
        }
        let mut best = Best::new(pool);
        let mut without = 0;
        match allowed {
            Some(keys) => {
                // The admitted vectors lie scattered over the org's: each is a few cache misses.
                // A batch's first touches go out together (independent loads), so the misses
                // overlap instead of following one another.
                let mut batch = [0usize; TOUCHED];
                for chunk in keys.chunks(TOUCHED) {
                    let mut n = 0;
                    for key in chunk {
                        match self.slots.get(*key) {
                            Some(slot) => {
                                batch[n] = slot;
                                n += 1;
                            }
                            None => without += 1,
                        }
                    }
                    self.touch(&batch[..n]);
                    batch[..n].iter().for_each(|slot| best.consider(self.approx(&query, *slot), *slot));
                }
            }
            None => (0..self.keys.len()).for_each(|slot| best.consider(self.approx(&query, slot), slot)),
        }
        (self.rescored(&best.slots(), unit, k), without)
    }

    /// The int8 estimate of a slot's similarity to the query's codes.
    fn approx(&self, query: &[i8], slot: usize) -> f32 {
        dot_i8(&self.codes[slot * self.dim..(slot + 1) * self.dim], query) as f32 * self.scales[slot]
    }

    /// The best `k` of these slots by their exact similarity to `unit`, as (key, similarity).
    fn rescored(&self, slots: &[usize], unit: &[f32], k: usize) -> Vec<(i64, f32)> {
        let dim = self.dim;
        let mut out: Vec<(i64, f32)> = Vec::with_capacity(slots.len());
        for chunk in slots.chunks(TOUCHED) {
            self.touch_exact(chunk);
            out.extend(
                chunk.iter().map(|slot| (self.keys[*slot], dot(&self.data[slot * dim..(slot + 1) * dim], unit))),
            );
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        out.truncate(k);
        out
    }
}

/// The best `pool` slots by estimated similarity: a min-heap whose top is the worst kept.
struct Best {
    pool: usize,
    heap: BinaryHeap<Candidate>,
}

impl Best {
    fn new(pool: usize) -> Self {
        Self { pool, heap: BinaryHeap::with_capacity(pool + 1) }
    }

    fn consider(&mut self, approx: f32, slot: usize) {
        let candidate = Candidate(approx, slot as i64);
        if self.heap.len() < self.pool {
            self.heap.push(candidate);
        } else if self.heap.peek().is_some_and(|worst| candidate < *worst) {
            self.heap.pop();
            self.heap.push(candidate);
        }
    }

    fn slots(self) -> Vec<usize> {
        self.heap.into_iter().map(|Candidate(_, slot)| slot as usize).collect()
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
        let keys = |found: (Vec<(i64, f32)>, usize)| found.0.into_iter().map(|f| f.0).collect::<Vec<_>>();
        assert_eq!(keys(v.nearest(&q, 3, None)), [1, 3, 2]);
        assert_eq!(keys(v.nearest(&q, 1, None)), [1]);
        assert_eq!(keys(v.nearest(&q, 3, Some(&[2, 3, 42]))), [3, 2]);
        assert_eq!(v.nearest(&q, 3, Some(&[2, 3, 42, 43])).1, 2, "two allowed keys have no vector");
        v.upsert(1, &[-1.0, 0.0]);
        assert_eq!(keys(v.nearest(&q, 3, None)), [3, 2, 1]);
        v.remove(3);
        v.remove(42);
        assert_eq!(keys(v.nearest(&q, 3, None)), [2, 1]);
        assert!((v.similarity(2, &normalized(&[0.0, 5.0])).unwrap() - 1.0).abs() < 1e-6);
        v.clear();
        assert_eq!(v.len(), 0);
    }

    /// A deterministic pseudo-random vector (xorshift), values in -1..1.
    fn random(seed: u64, dim: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..dim)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// The int8 scan with exact rescoring finds the exact top 10 (recall@10 against a full
    /// f32 scan) on 20,000 random 384-dimension vectors, and the similarities it returns are exact.
    #[test]
    fn int8_scan_keeps_the_exact_top_k() {
        let mut v = Vectors::default();
        let n = 20_000;
        for key in 0..n {
            v.upsert(key, &random(key as u64, 384));
        }
        let (mut found, mut total) = (0, 0);
        for q in 0..50 {
            let unit = normalized(&random(1_000_000 + q, 384));
            let mut exact: Vec<(i64, f32)> = (0..n).map(|key| (key, v.similarity(key, &unit).unwrap())).collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1));
            let want: Vec<i64> = exact.iter().take(10).map(|e| e.0).collect();
            let (got, _) = v.nearest(&unit, 10, None);
            for (key, similarity) in &got {
                assert!((similarity - v.similarity(*key, &unit).unwrap()).abs() < 1e-6);
            }
            found += got.iter().filter(|g| want.contains(&g.0)).count();
            total += want.len();
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.99, "recall@10 of the int8 scan: {recall}");
    }

    /// Clustered vectors (a random centre among 50, plus noise): real embeddings cluster, while
    /// random ones are the worst case for any graph.
    fn clustered(seed: u64, dim: usize) -> Vec<f32> {
        let centre = random(1_000_000_000 + seed % 50, dim);
        centre.iter().zip(random(seed, dim)).map(|(c, e)| c + 0.6 * e).collect()
    }

    fn exact_top(v: &Vectors, unit: &[f32], k: usize, admit: impl Fn(i64) -> bool) -> Vec<i64> {
        let mut exact: Vec<(i64, f32)> =
            v.keys.iter().filter(|key| admit(**key)).map(|key| (*key, v.similarity(*key, unit).unwrap())).collect();
        exact.sort_by(|a, b| b.1.total_cmp(&a.1));
        exact.into_iter().take(k).map(|e| e.0).collect()
    }

    fn recall(v: &Vectors, allowed: Option<&[i64]>, admit: impl Fn(i64) -> bool + Copy) -> f64 {
        let (mut found, mut total) = (0, 0);
        for q in 0..30 {
            let unit = normalized(&clustered(7_000_000 + q, 64));
            let want = exact_top(v, &unit, 10, admit);
            let (got, _) = v.nearest(&unit, 10, allowed);
            assert!(got.iter().all(|(key, _)| admit(*key)), "only admitted keys");
            found += got.iter().filter(|g| want.contains(&g.0)).count();
            total += want.len();
        }
        found as f64 / total as f64
    }

    /// The graph path: searches past the exact limit ask the graph, scan the slots it has not
    /// reached, and follow replacements and removals.
    #[test]
    fn graph_search_with_an_unreached_tail_replacements_and_removals() {
        let mut v = Vectors { graph_from: 1_000, exact_max: 500, ..Vectors::default() };
        for key in 0..3_000 {
            v.upsert(key, &clustered(key as u64, 64));
        }
        assert!(v.wants_graph());
        v.start_graph();
        assert!(!v.wants_graph());
        // Build two thirds of it: the rest is the unreached tail.
        loop {
            match v.extend_graph(250) {
                GraphStep::Grow => v.grow_graph(250),
                GraphStep::Added(_) if v.graph.as_ref().unwrap().graphed() < 2_000 => {}
                step => {
                    assert!(matches!(step, GraphStep::Added(_)), "{step:?}");
                    break;
                }
            }
        }
        assert_eq!(v.graph.as_ref().unwrap().graphed(), 2_000);
        assert!(v.graph_bytes() > 0);
        let all = |_: i64| true;
        assert!(recall(&v, None, all) >= 0.95, "unfiltered");
        let even: Vec<i64> = (0..3_000).filter(|k| k % 2 == 0).collect();
        assert!(recall(&v, Some(&even), |k| k % 2 == 0) >= 0.95, "filtered");

        // A replaced vector is found by its new value, in the graph and in the tail.
        for key in [10, 2_500] {
            let target = random(99 + key as u64, 64);
            v.upsert(key, &target);
            let (got, _) = v.nearest(&normalized(&target), 1, None);
            assert_eq!(got[0].0, key);
        }
        // Removed vectors are never found; the one moved into a graphed slot still is.
        for key in [10, 20, 30] {
            let target = v.data[v.slots.get(key).unwrap() * 64..][..64].to_vec();
            v.remove(key);
            let (got, _) = v.nearest(&target, 5, None);
            assert!(got.iter().all(|(k, _)| *k != key));
        }
        let last = *v.keys.last().unwrap();
        let target = v.data[v.slots.get(last).unwrap() * 64..][..64].to_vec();
        v.remove(0);
        assert_eq!(v.slots.get(last), Some(0), "moved into a graphed slot");
        assert_eq!(v.nearest(&target, 1, None).0[0].0, last);
        assert!(recall(&v, None, all) >= 0.95, "after the changes");

        // The builder finishes; a cleared org has no graph.
        while v.extend_graph(500) != GraphStep::Done {
            v.grow_graph(500);
        }
        assert_eq!(v.graph.as_ref().unwrap().graphed(), v.len());
        assert!(recall(&v, None, all) >= 0.95, "built");
        v.clear();
        assert_eq!(v.extend_graph(10), GraphStep::Gone);
        assert_eq!((v.graph_from, v.exact_max), (1_000, 500));
    }
}
