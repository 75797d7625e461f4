//! [`KeySlots`]: memory key → slot of an org's vectors. A leaf.
//!
//! A filtered vector search looks up every admitted key (20,000 for an agent at 10^6): through a
//! hash map each lookup is a cache miss (a third of the search's time, measured with `perf`).
//! The store gives keys in increasing order, so an org's keys are usually dense: then the slot is
//! read from an array indexed by `key − base`, and the admitted keys, which come in index order
//! (about key order), walk it nearly sequentially. When the keys are too sparse for that (many
//! orgs writing at once interleave their keys), a hash map.

use rustc_hash::FxHashMap as HashMap;

/// No slot, in the array.
const EMPTY: u32 = u32::MAX;

/// The array may span this many keys per key it holds (plus [`SLACK`]) before it turns into a
/// hash map: at most 4 × 4 bytes per key, less than the map's.
const SPREAD: usize = 4;
const SLACK: usize = 4_096;

pub(crate) enum KeySlots {
    Dense { base: i64, slots: Vec<u32>, live: usize },
    Sparse(HashMap<i64, usize>),
}

impl Default for KeySlots {
    fn default() -> Self {
        Self::Dense { base: 0, slots: Vec::new(), live: 0 }
    }
}

impl KeySlots {
    pub(crate) fn get(&self, key: i64) -> Option<usize> {
        match self {
            Self::Dense { base, slots, .. } => {
                let at = usize::try_from(key.checked_sub(*base)?).ok()?;
                slots.get(at).copied().filter(|s| *s != EMPTY).map(|s| s as usize)
            }
            Self::Sparse(map) => map.get(&key).copied(),
        }
    }

    pub(crate) fn contains(&self, key: i64) -> bool {
        self.get(key).is_some()
    }

    /// Sets the key's slot (adding the key or moving it).
    pub(crate) fn insert(&mut self, key: i64, slot: usize) {
        if let Self::Dense { base, slots, live } = self {
            match u32::try_from(slot) {
                Ok(value) if value != EMPTY && key >= 0 && Self::fits(*base, slots.len(), *live, key) => {
                    if slots.is_empty() {
                        *base = key;
                    }
                    if key < *base {
                        // Grow downwards by at least the current span (amortized), not below 0.
                        let new_base = key.min(base.saturating_sub(slots.len() as i64)).max(0);
                        let shift = (*base - new_base) as usize;
                        slots.splice(0..0, std::iter::repeat_n(EMPTY, shift));
                        *base = new_base;
                    }
                    let at = (key - *base) as usize;
                    if at >= slots.len() {
                        slots.resize(at + 1, EMPTY);
                    }
                    if slots[at] == EMPTY {
                        *live += 1;
                    }
                    slots[at] = value;
                    return;
                }
                _ => {}
            }
            self.make_sparse();
        }
        if let Self::Sparse(map) = self {
            map.insert(key, slot);
            if map.len().is_power_of_two() {
                self.compact();
            }
        }
    }

    /// Back to the array if the keys are dense enough (after keys came in no order: a start
    /// loads the index segment by segment).
    pub(crate) fn compact(&mut self) {
        let Self::Sparse(map) = self else { return };
        let (Some(low), Some(high)) = (map.keys().min().copied(), map.keys().max().copied()) else { return };
        let fits = low >= 0
            && usize::try_from(high - low + 1).is_ok_and(|span| span <= SPREAD * map.len() + SLACK)
            && map.values().all(|slot| u32::try_from(*slot).is_ok_and(|s| s != EMPTY));
        if !fits {
            return;
        }
        let mut slots = vec![EMPTY; (high - low + 1) as usize];
        for (key, slot) in map.iter() {
            slots[(key - low) as usize] = *slot as u32;
        }
        *self = Self::Dense { base: low, slots, live: map.len() };
    }

    pub(crate) fn remove(&mut self, key: i64) -> Option<usize> {
        match self {
            Self::Dense { base, slots, live } => {
                let at = usize::try_from(key.checked_sub(*base)?).ok()?;
                let slot = slots.get_mut(at).filter(|s| **s != EMPTY)?;
                let found = *slot as usize;
                *slot = EMPTY;
                *live -= 1;
                Some(found)
            }
            Self::Sparse(map) => map.remove(&key),
        }
    }

    /// Whether the array, spanning `len` keys from `base` with `live` of them, may take `key`.
    fn fits(base: i64, len: usize, live: usize, key: i64) -> bool {
        if len == 0 {
            return true;
        }
        let (low, high) = (base.min(key), (base + len as i64 - 1).max(key));
        usize::try_from(high - low + 1).is_ok_and(|span| span <= SPREAD * (live + 1) + SLACK)
    }

    fn make_sparse(&mut self) {
        if let Self::Dense { base, slots, .. } = self {
            let map = slots
                .iter()
                .enumerate()
                .filter(|(_, s)| **s != EMPTY)
                .map(|(at, s)| (*base + at as i64, *s as usize))
                .collect();
            *self = Self::Sparse(map);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_keys_in_any_order_then_sparse_ones() {
        let mut s = KeySlots::default();
        for (slot, key) in [50i64, 10, 30, 51, 0, 49].into_iter().enumerate() {
            s.insert(key, slot);
        }
        assert!(matches!(s, KeySlots::Dense { .. }));
        assert_eq!([50, 10, 30, 51, 0, 49].map(|k| s.get(k)), [0, 1, 2, 3, 4, 5].map(Some));
        assert_eq!((s.get(11), s.get(-1), s.get(1_000)), (None, None, None));
        s.insert(30, 9);
        assert_eq!(s.get(30), Some(9));
        assert_eq!(s.remove(30), Some(9));
        assert_eq!((s.remove(30), s.get(30)), (None, None));
        // Keys far apart: a hash map, with every slot kept.
        s.insert(10_000_000, 7);
        assert!(matches!(s, KeySlots::Sparse(_)));
        assert_eq!([50, 10, 51, 0, 49, 10_000_000].map(|k| s.get(k)), [0, 1, 3, 4, 5, 7].map(Some));
        assert_eq!(s.remove(10), Some(1));
        assert!(!s.contains(10) && s.contains(49));
        // Dense again once the keys between come (as when a start loads segments in any order).
        let mut s = KeySlots::default();
        for (slot, key) in (0..20_000i64).rev().step_by(2).chain((0..20_000).step_by(2)).enumerate() {
            s.insert(key + 1_000_000, slot);
        }
        s.insert(0, 10_000_000);
        s.remove(0);
        s.compact();
        assert!(matches!(s, KeySlots::Dense { .. }));
        assert!((0..20_000i64).all(|k| s.contains(k + 1_000_000)));
    }
}
