//! Context scoring: a memory is also scored by its neighbours in its session and by its
//! session's best match. In a conversation the answer to a question often sits next to the turn
//! that names its subject ("Did you go?" / "Yes, to Paris"), and a session about the subject is
//! more likely to hold it; plain BM25 or cosine scores each memory alone.
//!
//! For a ranked list of (key, score), scores are first divided by the list's best (so the
//! weights do not depend on the scale of BM25 or cosine); then
//! `score' = own + neighbour_weight × best(neighbour × decay^(distance-1)) + session_weight × best in session`.
//! Neighbours of the best `spread` memories join the list even when they scored nothing
//! themselves (if the filters admit them).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::timeline::Timeline;

/// The weights of context scoring (see the module's documentation). All 0: off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbourhood {
    pub neighbour_weight: f64,
    pub session_weight: f64,
    /// How many places before and after a memory count as its neighbours.
    pub reach: usize,
    /// Each further place weighs this much less.
    pub decay: f64,
    /// The neighbours of this many of the best memories join the list.
    pub spread: usize,
}

impl Default for Neighbourhood {
    fn default() -> Self {
        Self { neighbour_weight: 0.5, session_weight: 0.5, reach: 2, decay: 0.5, spread: 50 }
    }
}

impl Neighbourhood {
    pub fn is_off(&self) -> bool {
        self.neighbour_weight == 0.0 && self.session_weight == 0.0
    }

    /// Neighbours of the best `spread` entries of `scored` (best first) that it does not hold.
    pub(crate) fn newcomers(&self, timeline: &Timeline, scored: &[(i64, f64)]) -> Vec<i64> {
        if self.neighbour_weight == 0.0 {
            return Vec::new();
        }
        let held: HashSet<i64> = scored.iter().map(|s| s.0).collect();
        let mut found = Vec::new();
        for (key, _) in scored.iter().take(self.spread) {
            for (neighbour, _) in timeline.neighbours(*key, self.reach) {
                if !held.contains(&neighbour) && !found.contains(&neighbour) {
                    found.push(neighbour);
                }
            }
        }
        found
    }

    /// `scored` (and the admitted `newcomers`, at 0) rescored, best first (ties: newest key).
    pub(crate) fn rescore(&self, timeline: &Timeline, scored: &[(i64, f64)], newcomers: &[i64]) -> Vec<(i64, f64)> {
        let best = scored.iter().map(|s| s.1).fold(0.0, f64::max);
        if best <= 0.0 || self.is_off() {
            return scored.to_vec();
        }
        let own: HashMap<i64, f64> = scored.iter().map(|&(key, score)| (key, score / best)).collect();
        let mut session_best: HashMap<u32, f64> = HashMap::default();
        for (&key, &score) in &own {
            if let Some(session) = timeline.session(key) {
                let entry = session_best.entry(session).or_insert(0.0);
                *entry = entry.max(score);
            }
        }
        let mut out: Vec<(i64, f64)> = scored
            .iter()
            .map(|s| s.0)
            .chain(newcomers.iter().copied())
            .map(|key| {
                let mut score = own.get(&key).copied().unwrap_or(0.0);
                if self.neighbour_weight != 0.0 {
                    let near = timeline
                        .neighbours(key, self.reach)
                        .into_iter()
                        .map(|(n, d)| own.get(&n).copied().unwrap_or(0.0) * self.decay.powi(d as i32 - 1))
                        .fold(0.0, f64::max);
                    score += self.neighbour_weight * near;
                }
                if let Some(session) = timeline.session(key) {
                    score += self.session_weight * session_best.get(&session).copied().unwrap_or(0.0);
                }
                (key, score)
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_neighbour_of_a_match_outranks_an_unrelated_memory() {
        let mut t = Timeline::default();
        for key in 1..=5 {
            t.upsert(key, Some("a"), key * 10);
        }
        t.upsert(10, Some("b"), 10);
        t.upsert(11, Some("b"), 20);
        let n = Neighbourhood { neighbour_weight: 0.5, session_weight: 0.1, reach: 1, decay: 0.5, spread: 10 };
        // 3 matched strongly, 11 weakly; 2 and 4 are 3's neighbours.
        let scored = [(3, 10.0), (11, 4.0)];
        let newcomers = n.newcomers(&t, &scored);
        assert_eq!(newcomers, [2, 4, 10]);
        let out = n.rescore(&t, &scored, &newcomers);
        let keys: Vec<i64> = out.iter().map(|o| o.0).collect();
        assert_eq!(keys, [3, 4, 2, 11, 10]);
        // 3: 1 + 0.1 × 1; 4 and 2: 0.5 × 1 + 0.1 (tie: newest key first); 11: 0.4 + 0.1 × 0.4;
        // 10: 0.5 × 0.4 + 0.1 × 0.4.
        let expected = [1.1, 0.6, 0.6, 0.44, 0.24];
        assert!(out.iter().zip(expected).all(|(o, e)| (o.1 - e).abs() < 1e-9), "{out:?}");
        // Off: the list as it was.
        let off = Neighbourhood { neighbour_weight: 0.0, session_weight: 0.0, ..n };
        assert!(off.newcomers(&t, &scored).is_empty());
        assert_eq!(off.rescore(&t, &scored, &[]), scored.to_vec());
    }
}
