//! [`Relevance`]: what ranked search and the indexer share. A leaf: it uses no other module of
//! the crate.

use std::sync::Arc;

use engram_embed::Embedder;
use engram_search::{FullText, Ranking};

/// What ranked search runs on: the full-text index, the ranking's weights and the server's
/// embedder, if it has one.
pub struct Relevance {
    pub fulltext: Arc<FullText>,
    pub ranking: Ranking,
    pub embedder: Option<Arc<Embedder>>,
    /// Wakes the indexer after a local write (see `indexer`).
    pub(crate) wake: Arc<tokio::sync::Notify>,
    /// Wakes the embedder after a local write of memories to embed (see `embedder`).
    pub(crate) embed_wake: Arc<tokio::sync::Notify>,
}

impl Relevance {
    pub fn new(fulltext: Arc<FullText>, ranking: Ranking) -> Self {
        Self { fulltext, ranking, embedder: None, wake: Arc::default(), embed_wake: Arc::default() }
    }

    /// With a server-side embedder: memories without a client vector are queued for it, and a
    /// text query can be embedded (semantic and hybrid search by default).
    pub fn with_embedder(mut self, embedder: Embedder) -> Self {
        self.embedder = Some(Arc::new(embedder));
        self
    }
}
