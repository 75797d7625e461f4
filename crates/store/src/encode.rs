//! How domain values are stored where the column is not the value itself: memory type codes and
//! the dedup hash. Shared by the store and its migrations (so neither imports the other).

use engram_core::{Error, MemoryType, Result};

/// The stored code of a memory type (the numbers of `engram.v1.MemoryType`).
pub(crate) fn memory_type_code(memory_type: MemoryType) -> i64 {
    match memory_type {
        MemoryType::Episodic => 1,
        MemoryType::Decision => 2,
        MemoryType::Entity => 3,
        MemoryType::Session => 4,
        MemoryType::Semantic => 5,
        MemoryType::State => 6,
        MemoryType::Action => 7,
        MemoryType::Interaction => 8,
    }
}

pub(crate) fn memory_type_of_code(code: i64) -> Result<MemoryType> {
    MemoryType::ALL
        .into_iter()
        .find(|t| memory_type_code(*t) == code)
        .ok_or_else(|| Error::internal(format!("stored memory type code {code} is unknown")))
}

/// The key of a memory in the dedup index: the first 8 bytes of SHA-256(agent key, dedup key).
/// Equal (agent, dedup key) pairs have equal hashes; a match is confirmed against the stored row.
pub(crate) fn dedup_hash(agent_key: i64, dedup_key: &str) -> i64 {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(agent_key.to_le_bytes());
    hasher.update(dedup_key.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_type_codes_round_trip_and_are_distinct() {
        let mut codes: Vec<i64> = MemoryType::ALL.iter().map(|t| memory_type_code(*t)).collect();
        for t in MemoryType::ALL {
            assert_eq!(memory_type_of_code(memory_type_code(t)).unwrap(), t);
        }
        codes.dedup();
        assert_eq!(codes.len(), MemoryType::ALL.len());
        assert!(memory_type_of_code(0).is_err());
    }

    #[test]
    fn dedup_hash_depends_on_agent_and_key() {
        assert_eq!(dedup_hash(1, "k"), dedup_hash(1, "k"));
        assert_ne!(dedup_hash(1, "k"), dedup_hash(2, "k"));
        assert_ne!(dedup_hash(1, "k"), dedup_hash(1, "k2"));
    }
}
