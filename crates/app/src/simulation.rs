//! Simulation agents: what changed between an agent's consecutive states.

use serde_json::Value;

use engram_core::*;

use crate::handle::{Engram, require};
use crate::memories::ListRequest;

/// One key's change between two states: `before` None (added), `after` None (removed).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeChange {
    pub key: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The changes from one state to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub from: Memory,
    pub to: Memory,
    pub changes: Vec<AttributeChange>,
}

/// The top-level keys of `to` that differ from `from`, by key.
pub fn diff(from: &Metadata, to: &Metadata) -> Vec<AttributeChange> {
    let mut keys: Vec<&String> = from.keys().chain(to.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (before, after) = (from.get(key), to.get(key));
            (before != after).then(|| AttributeChange {
                key: key.clone(),
                before: before.cloned(),
                after: after.cloned(),
            })
        })
        .collect()
}

impl Engram {
    /// The changes between consecutive states (memory type `state`) of `agent` in a step range,
    /// in step order: `limit` states at a time (each page's first state is compared with the last
    /// state of the previous page, which the token carries).
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    pub async fn state_changes(
        &self,
        p: &Principal,
        agent: &str,
        step_min: Option<i64>,
        step_max: Option<i64>,
        limit: u32,
        page_token: &str,
    ) -> Result<(Vec<StateChange>, Option<String>)> {
        require(p, Permission::Read)?;
        if agent.is_empty() {
            return Err(Error::invalid("agent", "is required (an agent id or name)"));
        }
        let filter = MemoryFilter {
            agent: Some(AgentRef::parse(agent)),
            memory_types: vec![MemoryType::State],
            step_min,
            step_max,
            ..Default::default()
        };
        // One state more than asked: the page's last state starts the next page's comparisons.
        let size = self.limits.page_size("limit", limit)?;
        let request = ListRequest {
            filter,
            limit: size.saturating_add(1).min(self.limits.max_page),
            order: Order::StepAsc,
            page_token: page_token.to_owned(),
            ..Default::default()
        };
        let page = self.list_memories(p, request).await?;
        let states = page.memories;
        let changes: Vec<StateChange> = states
            .windows(2)
            .map(|w| StateChange {
                changes: diff(&w[0].metadata, &w[1].metadata),
                from: w[0].clone(),
                to: w[1].clone(),
            })
            .collect();
        // The next page starts after this page's second-to-last state, so its first change is
        // from this page's last state.
        let next = match (page.next_cursor, states.len().checked_sub(2).map(|i| &states[i])) {
            (Some(mut cursor), Some(from)) => {
                let (_, key) = ids::memory_key_of(&from.id)
                    .ok_or_else(|| Error::internal("a state without a keyed id cannot be paged"))?;
                cursor.time_us = from.step.unwrap_or(0);
                cursor.key = key;
                Some(cursor.encode())
            }
            _ => None,
        };
        Ok((changes, next))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn diff_reports_added_removed_and_changed_keys_by_key() {
        let Value::Object(from) = json!({"health": 100, "position": [10, 20], "inventory": {"wood": 1}, "gone": true})
        else {
            unreachable!()
        };
        let Value::Object(to) = json!({"health": 95, "position": [10, 20], "inventory": {"wood": 2}, "new": "x"})
        else {
            unreachable!()
        };
        let changes = diff(&from, &to);
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["gone", "health", "inventory", "new"]);
        assert_eq!(changes[0].after, None);
        assert_eq!(changes[1].before, Some(json!(100)));
        assert_eq!(changes[3].before, None);
        assert!(diff(&from, &from).is_empty());
    }
}
