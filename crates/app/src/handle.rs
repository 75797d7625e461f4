//! The [`Engram`] handle and what every resource's operations share: permission checks, page
//! tokens. A leaf of the crate: the resource modules use it, it uses none of them.

use std::sync::Arc;

use engram_core::*;
use engram_store::DynStore;

/// The domain operations over one store, with the server's input limits.
#[derive(Clone)]
pub struct Engram {
    pub(crate) store: DynStore,
    pub(crate) limits: Arc<Limits>,
    /// Ranked search; None on a server without a full-text index.
    pub(crate) relevance: Option<Arc<crate::relevance::Relevance>>,
    /// Reads of memories not yet recorded (see `access`).
    pub(crate) accesses: Arc<crate::access_log::AccessLog>,
    /// The hot-window cache and the tokenizer that counts messages (see `conversations`).
    pub(crate) conversations: Arc<ConversationSettings>,
    /// The default lifecycle policy (see `maintenance`).
    pub(crate) lifecycle: Arc<LifecycleSettings>,
    /// Results of expensive reads (see `result_cache`).
    pub(crate) results: Arc<crate::result_cache::ResultCache>,
    /// The hot tier's in-process cache (only where this process makes every change: see
    /// `hot_cache`).
    pub(crate) hot: Option<Arc<crate::hot_cache::HotCache>>,
    /// Rate limits and quotas (see `limits`).
    pub(crate) limiter: Arc<crate::limiter::Limiter>,
}

/// How conversations are served: the hot-window cache and the message tokenizer.
pub(crate) struct ConversationSettings {
    pub(crate) cache: crate::windows::WindowCache,
    pub(crate) tokenizer: engram_context::Tokenizer,
}

/// The lifecycle settings of a server: the policy of agents that set none (see `maintenance`).
#[derive(Debug, Clone, Default)]
pub(crate) struct LifecycleSettings {
    pub(crate) policy: engram_core::lifecycle::LifecyclePolicy,
}

/// The default bound of the hot-window cache.
pub const DEFAULT_WINDOW_CACHE_BYTES: usize = 64 << 20;

/// A page request over agents or sessions, as a client sent it.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub size: u32,
    pub token: String,
}

impl Engram {
    pub fn new(store: DynStore, limits: Limits) -> Self {
        let conversations = ConversationSettings {
            cache: crate::windows::WindowCache::new(DEFAULT_WINDOW_CACHE_BYTES),
            tokenizer: engram_context::Tokenizer::default(),
        };
        Self {
            store,
            limits: Arc::new(limits),
            relevance: None,
            accesses: Arc::default(),
            conversations: Arc::new(conversations),
            lifecycle: Arc::default(),
            results: Arc::default(),
            hot: None,
            limiter: Arc::default(),
        }
    }

    /// With `policy` as the lifecycle policy of agents that set none.
    /// With the hot tier's in-process cache of `max_bytes` (0: none). Only for a store no other
    /// process changes (the embedded SQLite store).
    pub fn with_hot_cache(mut self, max_bytes: usize) -> Self {
        self.hot = (max_bytes > 0).then(|| Arc::new(crate::hot_cache::HotCache::new(max_bytes)));
        self
    }

    /// The hot cache's counters (None without one).
    pub fn hot_cache_stats(&self) -> Option<crate::hot_cache::HotCacheStats> {
        self.hot.as_ref().map(|h| h.stats())
    }

    pub fn with_lifecycle(mut self, policy: engram_core::lifecycle::LifecyclePolicy) -> Self {
        self.lifecycle = Arc::new(LifecycleSettings { policy });
        self
    }

    /// With a hot-window cache of at most `cache_bytes` (0: none) and messages counted with
    /// `tokenizer`.
    pub fn with_conversations(mut self, cache_bytes: usize, tokenizer: engram_context::Tokenizer) -> Self {
        let cache = crate::windows::WindowCache::new(cache_bytes);
        self.conversations = Arc::new(ConversationSettings { cache, tokenizer });
        self
    }

    /// With ranked search over `relevance` (run [`Engram::run_indexer`] to keep it current).
    pub fn with_relevance(mut self, relevance: crate::relevance::Relevance) -> Self {
        self.relevance = Some(Arc::new(relevance));
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }
}

/// PermissionDenied unless the caller's key has `needed`.
pub(crate) fn require(principal: &Principal, needed: Permission) -> Result<()> {
    if principal.allows(needed) {
        return Ok(());
    }
    Err(Error::PermissionDenied(format!("this API key lacks the {} permission", needed.as_str())))
}

/// A page token of agents or sessions, made for the listing whose fingerprint is `query`; empty
/// means the first page.
pub(crate) fn cursor(field: &str, token: &str, query: u64) -> Result<Option<Cursor>> {
    if token.is_empty() { Ok(None) } else { Cursor::decode(field, token, query).map(Some) }
}

/// Stamps a page's next cursor with its listing's fingerprint.
pub(crate) fn stamped<T>(mut page: Page<T>, query: u64) -> Page<T> {
    if let Some(cursor) = page.next_cursor.as_mut() {
        cursor.query = query;
    }
    page
}
