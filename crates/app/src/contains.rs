//! `content_contains` through the trigram index: a listing with a needle reads only the memories
//! the index names as candidates (and those written since the index last caught up), instead of
//! walking the agent's or the org's memories in time order and testing each. The store still
//! applies the exact rule ([`engram_core::Needle`]) and every other filter.
//!
//! When the index cannot narrow the needle (no word of three characters, more than
//! [`MAX_CANDIDATES`] candidates, the index far behind at start) the store walks as before: a
//! needle with that many candidates is common enough that a time-ordered walk finds a page soon.

use engram_core::time::Timestamp;
use engram_core::*;

use crate::handle::Engram;

/// Most candidates a listing reads by key.
pub const MAX_CANDIDATES: usize = 10_000;

impl Engram {
    /// Narrows `query` to the candidates of its needle, if it has one and the index helps.
    pub(crate) async fn narrow_by_needle(&self, org: &str, query: &mut MemoryQuery, now: Timestamp) -> Result<()> {
        let (Some(relevance), Some(needle)) = (&self.relevance, &query.filter.content_contains) else { return Ok(()) };
        // The index knows agents by id; an unknown agent matches nothing either way.
        let mut filter = query.filter.clone();
        if let Some(agent) = filter.agent.as_ref().filter(|a| matches!(a, AgentRef::Name(_))) {
            match self.store.get_agent(org, agent).await {
                Ok(found) => filter.agent = Some(AgentRef::Id(found.id)),
                Err(Error::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        let found = relevance.fulltext.contains_candidates(org, needle, &filter, now, MAX_CANDIDATES)?;
        query.within = found.map(|c| Within { keys: c.keys, after_seq: c.through_seq });
        Ok(())
    }
}
