//! Live updates: the memories a filter admits, as they are committed, in commit order, each with a
//! resume token.
//!
//! A watch follows the store's change feed (`FeedStore::feed_changes`: every write of a memory takes
//! its org's next commit sequence number, and rows become visible in that order), so it sees the
//! writes of every replica, and a token (the sequence number of the last memory delivered, bound to
//! the filter) resumes exactly after it: nothing missed, nothing twice. The feed is polled every
//! [`POLL`] while there is nothing new; each poll is one indexed read past the last number.

use std::collections::VecDeque;
use std::time::Duration;

use engram_core::time::{self, Timestamp};
use engram_core::*;

use crate::handle::{Engram, require};
use crate::memories::ListRequest;

/// How long a watch waits before reading the feed again when it had nothing new.
pub const POLL: Duration = Duration::from_millis(20);

/// Changes read from the feed at a time.
const BATCH: u32 = 500;

/// A running watch: call [`Watch::next`] for each memory.
pub struct Watch {
    engram: Engram,
    org: String,
    filter: MemoryFilter,
    /// The agent by id once known (a name not registered yet is looked up again on new changes).
    agent_id: Option<String>,
    after_seq: i64,
    fingerprint: u64,
    pending: VecDeque<(i64, Memory)>,
}

/// Whether `m` (as of `now`) passes every field of `filter` (the agent by id, see `agent_id`).
fn admits(filter: &MemoryFilter, agent_id: Option<&str>, m: &Memory, now: Timestamp) -> bool {
    if filter.agent.is_some() && agent_id != Some(m.agent_id.as_str()) {
        return false;
    }
    if filter.session_id.as_ref().is_some_and(|s| m.session_id.as_ref() != Some(s)) {
        return false;
    }
    if !filter.memory_types.is_empty() && !filter.memory_types.contains(&m.memory_type) {
        return false;
    }
    if filter.exclude_types.contains(&m.memory_type) {
        return false;
    }
    if !filter.event_types.is_empty() && !filter.event_types.contains(&m.event_type) {
        return false;
    }
    if !filter.tags_all.iter().all(|t| m.tags.contains(t)) {
        return false;
    }
    if !filter.tags_any.is_empty() && !filter.tags_any.iter().any(|t| m.tags.contains(t)) {
        return false;
    }
    if filter.content_contains.as_ref().is_some_and(|n| !n.matches(&m.content)) {
        return false;
    }
    if filter.min_importance.is_some_and(|min| m.importance < min) {
        return false;
    }
    if filter.since.is_some_and(|t| m.time < t) || filter.until.is_some_and(|t| m.time >= t) {
        return false;
    }
    if filter.step_min.is_some_and(|s| m.step.is_none_or(|step| step < s))
        || filter.step_max.is_some_and(|s| m.step.is_none_or(|step| step > s))
    {
        return false;
    }
    if filter.scope.as_ref().is_some_and(|s| m.scope.as_ref() != Some(s)) {
        return false;
    }
    if !filter.attributes.iter().all(|(key, value)| attribute_matches(&m.metadata, key, value)) {
        return false;
    }
    if filter.near.is_some_and(|near| !near.admits(m.position.as_ref())) {
        return false;
    }
    if filter.important_only {
        let important = m.memory_type == MemoryType::Decision
            || ERROR_EVENT_TYPES.contains(&m.event_type.as_str())
            || m.importance >= HIGH_IMPORTANCE;
        if !important {
            return false;
        }
    }
    m.expires_at.is_none_or(|at| at > now)
}

impl Engram {
    /// Starts a watch of the memories `request.filter` admits (its time window and
    /// `content_contains` too; limit, order, paging are ignored), after `resume_token` or, without
    /// one, after the writes committed so far.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn watch_memories(&self, p: &Principal, request: ListRequest, resume_token: &str) -> Result<Watch> {
        require(p, Permission::Read)?;
        let now = time::now();
        let mut filter = request.filter;
        filter.since = time::parse_spec("filter.since", &request.since, now)?;
        filter.until = time::parse_spec("filter.until", &request.until, now)?;
        filter.content_contains = self.limits.needle("filter.content_contains", &request.content_contains)?;
        self.limits.check_filter("filter", &mut filter)?;
        let fingerprint = query_fingerprint(&format!("watch {filter:?}"));
        let after_seq = match resume_token {
            "" => {
                let heads = self.store.feed_heads().await?;
                heads.into_iter().find(|h| h.org_id == p.org_id).map_or(0, |h| h.last_seq)
            }
            token => Cursor::decode("resume_token", token, fingerprint)?.time_us,
        };
        let mut watch = Watch {
            engram: self.clone(),
            org: p.org_id.clone(),
            filter,
            agent_id: None,
            after_seq,
            fingerprint,
            pending: VecDeque::new(),
        };
        watch.resolve_agent().await?;
        Ok(watch)
    }
}

impl Watch {
    /// The filter's agent by id, if it exists yet.
    async fn resolve_agent(&mut self) -> Result<()> {
        let Some(agent) = &self.filter.agent else { return Ok(()) };
        if self.agent_id.is_some() {
            return Ok(());
        }
        self.agent_id = match agent {
            AgentRef::Id(id) => Some(id.clone()),
            AgentRef::Name(_) => match self.engram.store.get_agent(&self.org, agent).await {
                Ok(found) => Some(found.id),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
        };
        Ok(())
    }

    /// The token that resumes after the last memory delivered (or, before any, where it started).
    pub fn token(&self, seq: i64) -> String {
        Cursor { time_us: seq, id: "w".into(), query: self.fingerprint }.encode()
    }

    /// The next memory the filter admits and the token to resume after it; waits for one.
    pub async fn next(&mut self) -> Result<(Memory, String)> {
        loop {
            if let Some((seq, memory)) = self.pending.pop_front() {
                return Ok((memory, self.token(seq)));
            }
            let changes = self.engram.store.feed_changes(&self.org, self.after_seq, BATCH).await?;
            if changes.is_empty() {
                tokio::time::sleep(POLL).await;
                continue;
            }
            self.resolve_agent().await?;
            let now = time::now();
            for change in changes {
                self.after_seq = self.after_seq.max(change.seq);
                if admits(&self.filter, self.agent_id.as_deref(), &change.memory, now) {
                    self.pending.push_back((change.seq, change.memory));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Memory {
        let now = time::now();
        Memory {
            id: "mem_1".into(),
            org_id: "org".into(),
            agent_id: "agent_a".into(),
            session_id: Some("sess_1".into()),
            memory_type: MemoryType::Action,
            event_type: "trade".into(),
            content: "Restarted Redis on prod".into(),
            metadata: Metadata::new(),
            tags: vec!["ops".into(), "prod".into()],
            importance: 0.6,
            parent_id: None,
            dedup_key: String::new(),
            time: now,
            created_at: now,
            step: Some(5),
            position: None,
            expires_at: None,
            scope: Some("u1".into()),
            access_count: 0,
            last_accessed_at: None,
            tier: engram_core::lifecycle::Tier::Hot,
        }
    }

    #[test]
    fn every_filter_field_applies() {
        let m = memory();
        let now = time::now();
        let ok = |f: MemoryFilter, agent: Option<&str>| admits(&f, agent, &m, now);
        assert!(ok(MemoryFilter::default(), None));
        let agent = MemoryFilter { agent: Some(AgentRef::Name("a".into())), ..Default::default() };
        assert!(ok(agent.clone(), Some("agent_a")) && !ok(agent.clone(), Some("agent_b")) && !ok(agent, None));
        let cases: Vec<(MemoryFilter, bool)> = vec![
            (MemoryFilter { session_id: Some("sess_2".into()), ..Default::default() }, false),
            (MemoryFilter { memory_types: vec![MemoryType::Action], ..Default::default() }, true),
            (MemoryFilter { memory_types: vec![MemoryType::State], ..Default::default() }, false),
            (MemoryFilter { exclude_types: vec![MemoryType::Action], ..Default::default() }, false),
            (MemoryFilter { event_types: vec!["trade".into()], ..Default::default() }, true),
            (MemoryFilter { tags_all: vec!["ops".into(), "prod".into()], ..Default::default() }, true),
            (MemoryFilter { tags_all: vec!["ops".into(), "dev".into()], ..Default::default() }, false),
            (MemoryFilter { tags_any: vec!["dev".into(), "prod".into()], ..Default::default() }, true),
            (MemoryFilter { content_contains: Some(Needle::new("restart redis")), ..Default::default() }, true),
            (MemoryFilter { content_contains: Some(Needle::new("mysql")), ..Default::default() }, false),
            (MemoryFilter { min_importance: Some(0.7), ..Default::default() }, false),
            (MemoryFilter { step_min: Some(5), step_max: Some(5), ..Default::default() }, true),
            (MemoryFilter { step_min: Some(6), ..Default::default() }, false),
            (MemoryFilter { scope: Some("u1".into()), ..Default::default() }, true),
            (MemoryFilter { scope: Some("u2".into()), ..Default::default() }, false),
            (MemoryFilter { until: Some(m.time), ..Default::default() }, false),
            (MemoryFilter { important_only: true, ..Default::default() }, false),
            (MemoryFilter { attributes: vec![("k".into(), serde_json::json!(1))], ..Default::default() }, false),
            (MemoryFilter { near: Some(Near { x: 0.0, y: 0.0, z: None, radius: 1.0 }), ..Default::default() }, false),
        ];
        for (filter, want) in cases {
            assert_eq!(ok(filter.clone(), None), want, "{filter:?}");
        }
        let expired = Memory { expires_at: Some(now - chrono::Duration::seconds(1)), ..memory() };
        assert!(!admits(&MemoryFilter::default(), None, &expired, now));
    }
}
