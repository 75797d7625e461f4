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
                    let mut memory_types = Vec::new();
                    for (code, n) in by_type {
                        if n > 0 {
                            memory_types.push((memory_type_of_code(code)?, u64::try_from(n).unwrap_or(0)));
                        }
                    }
                    memory_types.sort();
                    let count = |n: i64| u64::try_from(n).unwrap_or(0);
                    Ok(Some(AgentStats {
                        agent_id: id,
                        memory_count: memory_types.iter().map(|(_, n)| n).sum(),
                        memories_24h: count(memories_24h),
                        errors_24h: count(errors_24h),
                        session_count: count(sessions),
                        active_sessions: count(active),
                        last_active_at: last_active_at.map(from_micros),
                        memory_types,
                    }))
                })
            })
            .await?;
        stats.ok_or_else(not_found)
    }
}
