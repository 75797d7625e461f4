//! [`StatsStore`]: agent statistics without reading the agent's memory rows.
//!
//! - Totals per memory type: `memory_counts`, kept in every write transaction, minus the
//!   memories that have expired but are still stored (an index-only count over the partial index
//!   `memories_expiring`, empty unless memories carry `expires_at`).
//! - Sliding windows (`memories_24h`, `errors_24h`): index-only counts over
//!   `memories_by_agent_time` and the partial `memories_errors_by_agent_time`, whose entries carry
//!   `expires_at`; exact at any moment, and their cost is the window's size, not the agent's.

use std::collections::BTreeMap;

use engram_core::time::{Timestamp, from_micros, to_micros};
use engram_core::*;

use super::SqlStore;
use super::conn::params;
use super::shared::refs::agent_column;
use crate::StatsStore;
use crate::encode::memory_type_of_code;

#[async_trait::async_trait]
impl StatsStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, agent = agent.as_str()))]
    async fn agent_stats(&self, org: &str, agent: &AgentRef, now: Timestamp) -> Result<AgentStats> {
        let not_found = || Error::not_found("agent", agent.as_str());
        let Some(org_key) = self.org_key(org).await? else { return Err(not_found()) };
        let wanted = agent.clone();
        let now_us = to_micros(now);
        let day_ago = to_micros(now - chrono::Duration::hours(24));
        let stats = self
            .read(move |c| {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT key, id, last_active_at FROM agents WHERE org_key = $1 AND {} = $2",
                        agent_column(&wanted)
                    );
                    let Some((key, id, last_active_at)) = c
                        .query_one(&sql, params![org_key, wanted.as_str()], |r| Ok((r.i64(0)?, r.string(1)?, r.opt_i64(2)?)))
                        .await?
                    else {
                        return Ok(None);
                    };
                    let stored = c
                        .query("SELECT memory_type, count FROM memory_counts WHERE agent_key = $1", params![key], |r| {
                            Ok((r.i64(0)?, r.i64(1)?))
                        })
                        .await?;
                    let expired = c
                        .query(
                            "SELECT memory_type, count(*) FROM memories WHERE agent_key = $1 AND expires_at IS NOT NULL \
                             AND expires_at <= $2 GROUP BY memory_type",
                            params![key, now_us],
                            |r| Ok((r.i64(0)?, r.i64(1)?)),
                        )
                        .await?;
                    let mut by_type: BTreeMap<i64, i64> = stored.into_iter().collect();
                    for (code, n) in expired {
                        *by_type.entry(code).or_default() -= n;
                    }
                    let live = "(expires_at IS NULL OR expires_at > $3)";
                    let memories_24h = c
                        .query_i64(
                            &format!("SELECT count(*) FROM memories WHERE agent_key = $1 AND time >= $2 AND {live}"),
                            params![key, day_ago, now_us],
                        )
                        .await?;
                    let errors = ERROR_EVENT_TYPES.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
                    let errors_24h = c
                        .query_i64(
                            &format!(
                                "SELECT count(*) FROM memories WHERE agent_key = $1 AND time >= $2 AND {live} \
                                 AND event_type IN ({errors})"
                            ),
                            params![key, day_ago, now_us],
                        )
                        .await?;
                    let (sessions, active) = c
                        .query_one(
                            "SELECT count(*), count(CASE WHEN status = $2 THEN 1 END) FROM sessions WHERE agent_key = $1",
                            params![key, SessionStatus::Active.as_str()],
                            |r| Ok((r.i64(0)?, r.i64(1)?)),
                        )
                        .await?
                        .unwrap_or((0, 0));
                    // Warm and cold ones: an index-only count (`memories_by_tier`); hot: the rest.
                    let tiered = c
                        .query(
                            "SELECT tier, count(*) FROM memories WHERE agent_key = $1 AND tier > 0 \
                             AND (expires_at IS NULL OR expires_at > $2) GROUP BY tier",
                            params![key, now_us],
                            |r| Ok((r.i64(0)?, r.i64(1)?)),
                        )
                        .await?;
                    let mut memory_types = Vec::new();
                    for (code, n) in by_type {
                        if n > 0 {
                            memory_types.push((memory_type_of_code(code)?, u64::try_from(n).unwrap_or(0)));
                        }
                    }
                    memory_types.sort();
                    let count = |n: i64| u64::try_from(n).unwrap_or(0);
                    let memory_count: u64 = memory_types.iter().map(|(_, n)| n).sum();
                    let mut tiers = TierCounts::default();
                    for (tier, n) in tiered {
                        match engram_core::lifecycle::Tier::from_code(tier)? {
                            engram_core::lifecycle::Tier::Warm => tiers.warm = count(n),
                            engram_core::lifecycle::Tier::Cold => tiers.cold = count(n),
                            engram_core::lifecycle::Tier::Hot => {}
                        }
                    }
                    tiers.hot = memory_count.saturating_sub(tiers.warm + tiers.cold);
                    Ok(Some(AgentStats {
                        agent_id: id,
                        memory_count,
                        memories_24h: count(memories_24h),
                        errors_24h: count(errors_24h),
                        session_count: count(sessions),
                        active_sessions: count(active),
                        last_active_at: last_active_at.map(from_micros),
                        memory_types,
                        tiers,
                    }))
                })
            })
            .await?;
        stats.ok_or_else(not_found)
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org))]
    async fn memory_statistics(&self, org: &str, now: Timestamp) -> Result<MemoryStatistics> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(MemoryStatistics::default()) };
        let now_us = to_micros(now);
        self.read(move |c| {
            Box::pin(async move {
                let stored = c
                    .query(
                        "SELECT a.key, a.id, a.name, c.memory_type, c.count FROM agents a \
                         JOIN memory_counts c ON c.agent_key = a.key WHERE a.org_key = $1",
                        params![org_key],
                        |r| Ok((r.i64(0)?, r.string(1)?, r.string(2)?, r.i64(3)?, r.i64(4)?)),
                    )
                    .await?;
                let expired = c
                    .query(
                        "SELECT agent_key, memory_type, count(*) FROM memories WHERE org_key = $1 \
                         AND expires_at IS NOT NULL AND expires_at <= $2 GROUP BY agent_key, memory_type",
                        params![org_key, now_us],
                        |r| Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?)),
                    )
                    .await?;
                let steps = c
                    .query(
                        "SELECT a.key, (SELECT min(m.step) FROM memories m WHERE m.agent_key = a.key AND m.step IS NOT NULL), \
                         (SELECT max(m.step) FROM memories m WHERE m.agent_key = a.key AND m.step IS NOT NULL) \
                         FROM agents a WHERE a.org_key = $1",
                        params![org_key],
                        |r| Ok((r.i64(0)?, r.opt_i64(1)?, r.opt_i64(2)?)),
                    )
                    .await?;
                let mut agents: BTreeMap<i64, (String, String, BTreeMap<i64, i64>)> = BTreeMap::new();
                for (key, id, name, code, n) in stored {
                    *agents.entry(key).or_insert_with(|| (id, name, BTreeMap::new())).2.entry(code).or_default() += n;
                }
                for (key, code, n) in expired {
                    if let Some(agent) = agents.get_mut(&key) {
                        *agent.2.entry(code).or_default() -= n;
                    }
                }
                let steps: BTreeMap<i64, (Option<i64>, Option<i64>)> =
                    steps.into_iter().map(|(key, lo, hi)| (key, (lo, hi))).collect();
                let mut out = MemoryStatistics::default();
                let mut by_type: BTreeMap<MemoryType, u64> = BTreeMap::new();
                for (key, (agent_id, name, counts)) in agents {
                    let mut agent = AgentMemoryStatistics { agent_id, name, ..Default::default() };
                    for (code, n) in counts {
                        let n = u64::try_from(n).unwrap_or(0);
                        if n > 0 {
                            let memory_type = memory_type_of_code(code)?;
                            agent.by_type.push((memory_type, n));
                            *by_type.entry(memory_type).or_default() += n;
                            agent.total += n;
                        }
                    }
                    if agent.total == 0 {
                        continue;
                    }
                    (agent.oldest_step, agent.newest_step) = steps.get(&key).copied().unwrap_or_default();
                    out.total += agent.total;
                    out.oldest_step = match (out.oldest_step, agent.oldest_step) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    out.newest_step = match (out.newest_step, agent.newest_step) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    out.agents.push(agent);
                }
                out.agents.sort_by(|a, b| a.name.cmp(&b.name));
                out.by_type = by_type.into_iter().collect();
                Ok(out)
            })
        })
        .await
    }
}
