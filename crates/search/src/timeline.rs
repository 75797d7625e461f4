//! [`Timeline`]: each session's memories in order (time, then key), in memory, so a search can
//! score a memory by its neighbours in its session. A leaf.
//!
//! Loaded from the index's `session` and `time` columns when an org's index opens, and kept
//! current by the same calls that keep the index current (apply, remove, reset). Memories
//! without a session have no neighbours.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap as HashMap;

#[derive(Default)]
pub(crate) struct Timeline {
    /// Session id → its number (an index into `sessions`).
    ids: HashMap<String, u32>,
    /// Each session's memories as (time µs, key), in order.
    sessions: Vec<BTreeSet<(i64, i64)>>,
    /// Key → (session number, time µs).
    entries: HashMap<i64, (u32, i64)>,
}

impl Timeline {
    /// Adds or moves a memory (None: it has no session, or no longer has one).
    pub(crate) fn upsert(&mut self, key: i64, session: Option<&str>, time: i64) {
        self.remove(key);
        let Some(session) = session else { return };
        let number = match self.ids.get(session) {
            Some(&n) => n,
            None => {
                let n = u32::try_from(self.sessions.len()).unwrap_or(u32::MAX);
                self.ids.insert(session.to_owned(), n);
                self.sessions.push(BTreeSet::new());
                n
            }
        };
        if let Some(set) = self.sessions.get_mut(number as usize) {
            set.insert((time, key));
            self.entries.insert(key, (number, time));
        }
    }

    pub(crate) fn remove(&mut self, key: i64) {
        if let Some((number, time)) = self.entries.remove(&key) {
            self.sessions[number as usize].remove(&(time, key));
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The memory's session number, if it has a session.
    pub(crate) fn session(&self, key: i64) -> Option<u32> {
        self.entries.get(&key).map(|e| e.0)
    }

    /// The memories up to `reach` places before and after `key` in its session, each with its
    /// distance (1: adjacent), nearest first.
    pub(crate) fn neighbours(&self, key: i64, reach: usize) -> Vec<(i64, usize)> {
        let Some(&(number, time)) = self.entries.get(&key) else { return Vec::new() };
        let set = &self.sessions[number as usize];
        let before = set.range(..(time, key)).rev().take(reach).map(|e| e.1);
        let after = set.range((time, key)..).skip(1).take(reach).map(|e| e.1);
        let mut found: Vec<(i64, usize)> =
            before.enumerate().chain(after.enumerate()).map(|(i, key)| (key, i + 1)).collect();
        found.sort_by_key(|e| e.1);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_in_session_order_moves_and_removals() {
        let mut t = Timeline::default();
        for (key, time) in [(1, 10), (2, 20), (3, 30), (4, 40)] {
            t.upsert(key, Some("s"), time);
        }
        t.upsert(5, Some("other"), 25);
        t.upsert(6, None, 25);
        assert_eq!(t.neighbours(2, 1), [(1, 1), (3, 1)]);
        assert_eq!(t.neighbours(1, 2), [(2, 1), (3, 2)]);
        assert_eq!(t.neighbours(6, 2), []);
        assert_eq!(t.neighbours(5, 2), []);
        assert_ne!(t.session(5), t.session(1));
        // Equal times keep key order.
        t.upsert(7, Some("s"), 20);
        assert_eq!(t.neighbours(2, 1), [(1, 1), (7, 1)]);
        // A memory moved to another session leaves its old one.
        t.upsert(7, Some("other"), 20);
        assert_eq!(t.neighbours(2, 1), [(1, 1), (3, 1)]);
        assert_eq!(t.neighbours(5, 1), [(7, 1)]);
        t.remove(3);
        assert_eq!(t.neighbours(2, 1), [(1, 1), (4, 1)]);
        t.clear();
        assert_eq!(t.neighbours(2, 1), []);
    }
}
