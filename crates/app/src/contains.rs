//! `content_contains` through the trigram index: a listing with a needle reads only the memories
//! the index names as candidates (and those written since the index last caught up), instead of
//! walking the agent's or the org's memories in time order and testing each. The store still
//! applies the exact rule ([`engram_core::Needle`]) and every other filter.
//!
//! The candidates come with their times (a memory's time never changes), so they are read in the
//! listing's order, a growing prefix at a time: when the needle matches most candidates the
//! first prefix fills the page; when it matches few (three grams in a memory do not make the
//! substring), the next prefix is sized by the density of matches in the first (all of the
//! candidates when none matched). A page is final once its last memory lies before the prefix's
//! last candidate: no later candidate can come before it.
//!
//! When the index cannot narrow the needle (no word of three characters, more than
//! [`MAX_CANDIDATES`] candidates, the index far behind at start) the store walks as before: a
//! needle with that many candidates is common enough that a time-ordered walk finds a page soon.

use engram_core::time::Timestamp;
use engram_core::*;

use crate::handle::Engram;

/// Most candidates a listing takes from the index.
pub const MAX_CANDIDATES: usize = 20_000;

/// The first prefix of candidates read: this many times the rows the page needs, at least
/// [`FIRST_READ_MIN`].
const FIRST_READ: usize = 8;
const FIRST_READ_MIN: usize = 256;

impl Engram {
    /// The page of a listing with a needle, read through the index; None when the listing has no
    /// needle or the index cannot narrow it (the caller lets the store walk).
    pub(crate) async fn list_by_needle(
        &self,
        org: &str,
        query: &MemoryQuery,
        now: Timestamp,
    ) -> Result<Option<MemoryPage>> {
        let (Some(relevance), Some(needle)) = (&self.relevance, &query.filter.content_contains) else {
            return Ok(None);
        };
        if query.order.by_step() || query.order.by_distance() {
            return Ok(None); // the index's candidates come in time order: walk by step or distance
        }
        // The index knows agents by id; an unknown agent matches nothing either way.
        let mut filter = query.filter.clone();
        if let Some(agent) = filter.agent.as_ref().filter(|a| matches!(a, AgentRef::Name(_))) {
            match self.store.get_agent(org, agent).await {
                Ok(found) => filter.agent = Some(AgentRef::Id(found.id)),
                Err(Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let Some(candidates) = relevance.fulltext.contains_candidates(org, needle, &filter, now, MAX_CANDIDATES)?
        else {
            return Ok(None);
        };
        let mut found = candidates.found;
        let before = |a: (i64, i64), b: (i64, i64)| match query.order {
            Order::Desc | Order::StepDesc => a > b,
            Order::Asc | Order::StepAsc | Order::Nearest => a < b,
        };
        // The index gives them ascending.
        if query.order == Order::Desc {
            found.reverse();
        }
        if let Some(cursor) = &query.cursor {
            found.retain(|c| before((cursor.time_us, cursor.key), *c));
        }
        let needed = query.offset as usize + query.limit as usize + 1;
        let mut read = (needed * FIRST_READ).max(FIRST_READ_MIN);
        loop {
            let end = read.min(found.len());
            let within = Within { keys: found[..end].iter().map(|c| c.1).collect(), after_seq: candidates.through_seq };
            let narrowed = MemoryQuery { within: Some(within), ..query.clone() };
            let page = self.store.list_memories(org, &narrowed, now).await?;
            if end == found.len() {
                return Ok(Some(page));
            }
            let last_read = found[end - 1];
            if let Some(next) = &page.next_cursor
                && !before(last_read, (next.time_us, next.key))
            {
                return Ok(Some(page));
            }
            // The next prefix: long enough for the page at the density of matches seen so far,
            // twice over (all of them when none matched yet), and at least twice this one.
            // (An empty page past an offset says only that fewer than the offset matched.)
            let rows = match page.memories.len() {
                0 => 0,
                n => query.offset as usize + n + usize::from(page.has_more),
            };
            read = match rows {
                0 => found.len(),
                rows => (needed.saturating_mul(end) / rows).saturating_mul(2).max(end * 2),
            };
        }
    }
}
