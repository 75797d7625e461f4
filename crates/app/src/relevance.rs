//! [`Relevance`]: what ranked search and the indexer share. A leaf: it uses no other module of
//! the crate.

use std::sync::Arc;

use engram_search::{FullText, Ranking};

/// What ranked search runs on: the full-text index and the ranking's weights.
pub struct Relevance {
    pub fulltext: Arc<FullText>,
    pub ranking: Ranking,
    /// Wakes the indexer after a local write (see `indexer`).
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

impl Relevance {
    pub fn new(fulltext: Arc<FullText>, ranking: Ranking) -> Self {
        Self { fulltext, ranking, wake: Arc::default() }
    }
}
