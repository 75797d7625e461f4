//! The row ingest writes, shared by both backends' inserts (a leaf).

use engram_core::Memory;

/// A memory row to insert: the memory (its id derived from `key`) and what the store adds.
#[derive(Debug, Clone)]
pub(crate) struct NewRow<'m> {
    pub key: i64,
    pub memory: &'m Memory,
    pub org_key: i64,
    pub agent_key: i64,
    pub session_key: Option<i64>,
    pub memory_type: i64,
    /// `metadata` as JSON text.
    pub metadata: &'m str,
    /// `tags` as a JSON array.
    pub tags: &'m str,
    /// None: derived (see `encode`).
    pub dedup_key: Option<&'m str>,
    pub dedup_hash: i64,
    pub seq: i64,
    /// 0: no vector wanted, 1: waiting for the embedder, 2: has its vector.
    pub embedding_state: i64,
}
