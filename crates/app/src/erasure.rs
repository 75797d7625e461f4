//! Erasure of everything about one end user (a scope) or one agent, for an org's admin: the store
//! deletes it in one transaction (`engram_store::ErasureStore`), then this process drops the
//! erased memories from its full-text and vector index and forgets the org's cached results, hot
//! memories and conversation windows, so nothing erased is answered or kept in memory here.
//!
//! Other replicas (PostgreSQL) never answer an erased memory either (a ranked search reads its
//! memories back from the store), and their indexes drop the entries when a search meets them;
//! their caches hold no conversation content across a delete (a window is served only at the
//! conversation's stored newest `seq`). A leaf.

use engram_core::*;
pub use engram_store::Erased;

use crate::handle::{Engram, require};

impl Engram {
    /// Erases the scope's memories (every agent's) and conversations. Admin only.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn erase_scope(&self, p: &Principal, scope: &str) -> Result<Erased> {
        require(p, Permission::Admin)?;
        if scope.is_empty() {
            return Err(Error::invalid("scope", "is required (the end user to erase)"));
        }
        self.limits.check_id("scope", scope)?;
        let erased = self.store.erase_scope(&p.org_id, scope).await?;
        self.forget_erased(&p.org_id, &erased).await;
        Ok(erased)
    }

    /// Erases the agent (id or name) with its memories, sessions, working memory and
    /// conversations. Admin only.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    pub async fn erase_agent(&self, p: &Principal, agent: &str) -> Result<Erased> {
        require(p, Permission::Admin)?;
        self.limits.check_name("agent", agent)?;
        let erased = self.store.erase_agent(&p.org_id, &AgentRef::parse(agent)).await?;
        self.forget_erased(&p.org_id, &erased).await;
        Ok(erased)
    }

    /// Drops what this process holds of the erased: index entries and vectors (before the answer,
    /// so a search right after cannot meet them), cached results, hot memories and windows.
    async fn forget_erased(&self, org: &str, erased: &Erased) {
        self.forget_org(org);
        self.conversations.cache.clear_org(org);
        let Some(relevance) = &self.relevance else { return };
        if erased.memory_keys.is_empty() {
            return;
        }
        let (fulltext, org, keys) = (relevance.fulltext.clone(), org.to_owned(), erased.memory_keys.clone());
        match tokio::task::spawn_blocking(move || fulltext.remove(&org, &keys)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "dropping erased memories from the full-text index"),
            Err(e) => tracing::warn!(error = %e, "dropping erased memories from the full-text index"),
        }
    }
}
