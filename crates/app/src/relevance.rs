//! [`Relevance`]: what ranked search and the indexer share. A leaf: it uses no other module of
//! the crate.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use engram_core::Result;
use engram_embed::Embedder;
use engram_search::{FullText, Ranking};
use lru::LruCache;

/// Short texts whose vectors [`Relevance::embed_texts`] keeps (state values like "trade" or
/// "calm" recur in every query).
const TEXT_VECTORS: usize = 4_096;

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
    /// The embedder's normalized vectors of recently embedded short texts, by text.
    text_vectors: Mutex<LruCache<String, Arc<[f32]>>>,
}

impl Relevance {
    pub fn new(fulltext: Arc<FullText>, ranking: Ranking) -> Self {
        Self {
            fulltext,
            ranking,
            embedder: None,
            wake: Arc::default(),
            embed_wake: Arc::default(),
            text_vectors: Mutex::new(LruCache::new(NonZeroUsize::new(TEXT_VECTORS).unwrap_or(NonZeroUsize::MIN))),
        }
    }

    /// With a server-side embedder: memories without a client vector are queued for it, and a
    /// text query can be embedded (semantic and hybrid search by default).
    pub fn with_embedder(mut self, embedder: Embedder) -> Self {
        self.embedder = Some(Arc::new(embedder));
        self
    }

    /// The normalized vector of each text by the server's embedder, from a bounded cache where it
    /// has one; empty without an embedder.
    pub async fn embed_texts(&self, texts: &[String]) -> Result<HashMap<String, Arc<[f32]>>> {
        let Some(embedder) = &self.embedder else { return Ok(HashMap::new()) };
        let mut found = HashMap::with_capacity(texts.len());
        let mut missing = Vec::new();
        {
            let mut cache = self.text_vectors.lock().unwrap_or_else(PoisonError::into_inner);
            for text in texts {
                match cache.get(text) {
                    Some(v) => {
                        found.insert(text.clone(), v.clone());
                    }
                    None => missing.push(text.clone()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let vectors = embedder.embed(missing.clone()).await?;
        let mut cache = self.text_vectors.lock().unwrap_or_else(PoisonError::into_inner);
        for (text, vector) in missing.into_iter().zip(vectors) {
            let unit: Arc<[f32]> = engram_core::vector::normalized(&vector).into();
            cache.put(text.clone(), unit.clone());
            found.insert(text, unit);
        }
        Ok(found)
    }
}
