//! The memory lifecycle as pure rules: tiers (the product docs' STM/IM/LTM as hot/warm/cold), the
//! policy that moves memories between them, importance decay, consolidation and retention. The
//! maintenance pass (`engram-app::maintenance`) reads each memory's [`MemoryFacts`], asks
//! [`decide`], and has the store apply the result; nothing here does I/O.
//!
//! A policy is a JSON object (server default `--lifecycle`, an agent's config key `lifecycle`, a
//! ForceMaintenance request), each layer overriding the keys it names ([`LifecyclePolicy::overlay`]).
//! Durations are written like time specs: `45s`, `90m`, `2h`, `7d`, `2w`.

use chrono::Duration;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::time::{Timestamp, parse_duration};
use crate::types::MemoryType;

pub use crate::types::Tier;

/// How a maintenance pass treats memories. The defaults only move memories between tiers and
/// delete expired ones: decay, consolidation and retention delete or change data, so they run
/// only when a policy turns them on.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecyclePolicy {
    /// Used (written or read) within this: hot.
    pub hot_for: Duration,
    /// Read at least this many times and used within `cold_after`: hot as well.
    pub hot_accesses: u64,
    /// Unused for this long: cold (unless important).
    pub cold_after: Duration,
    /// Importance at or above this never goes cold.
    pub keep_importance: f64,
    /// Importance is multiplied by this once per `decay_every` since it was written (None: no decay;
    /// the product docs use 0.95).
    pub decay_factor: Option<f64>,
    pub decay_every: Duration,
    /// Consolidation: delete memories older than `consolidate_after` with importance below
    /// `consolidate_importance` and fewer than `consolidate_accesses` reads (the docs' rule:
    /// 0.3 and 2). Decisions only with `consolidate_decisions`.
    pub consolidate: bool,
    pub consolidate_importance: f64,
    pub consolidate_accesses: u64,
    pub consolidate_after: Duration,
    pub consolidate_decisions: bool,
    /// Retention, per agent: delete memories older than this.
    pub max_age: Option<Duration>,
    /// Retention, per agent: keep only the newest this many.
    pub max_count: Option<u64>,
    /// Retention never deletes an agent's `keep_top` most important memories.
    pub keep_top: u64,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        Self {
            hot_for: Duration::days(1),
            hot_accesses: 5,
            cold_after: Duration::days(30),
            keep_importance: 0.7,
            decay_factor: None,
            decay_every: Duration::days(1),
            consolidate: false,
            consolidate_importance: 0.3,
            consolidate_accesses: 2,
            consolidate_after: Duration::days(7),
            consolidate_decisions: false,
            max_age: None,
            max_count: None,
            keep_top: 0,
        }
    }
}

impl LifecyclePolicy {
    /// This policy with the keys of `json` (an object) replacing its own; errors name
    /// `field.key`. `null` turns an optional setting off.
    pub fn overlay(&self, field: &str, json: &Value) -> Result<Self> {
        let Value::Object(map) = json else {
            return Err(Error::invalid(field, "must be a JSON object"));
        };
        let mut p = self.clone();
        for (key, value) in map {
            let name = format!("{field}.{key}");
            match key.as_str() {
                "hot_for" => p.hot_for = duration(&name, value)?,
                "hot_accesses" => p.hot_accesses = count(&name, value)?,
                "cold_after" => p.cold_after = duration(&name, value)?,
                "keep_importance" => p.keep_importance = unit(&name, value)?,
                "decay_factor" => {
                    p.decay_factor = match value {
                        Value::Null => None,
                        v => {
                            let f = unit(&name, v)?;
                            if f <= 0.0 {
                                return Err(Error::invalid(name, "must be above 0 and at most 1"));
                            }
                            Some(f)
                        }
                    }
                }
                "decay_every" => {
                    p.decay_every = duration(&name, value)?;
                    if p.decay_every <= Duration::zero() {
                        return Err(Error::invalid(name, "must be longer than 0s"));
                    }
                }
                "consolidate" => p.consolidate = flag(&name, value)?,
                "consolidate_importance" => p.consolidate_importance = unit(&name, value)?,
                "consolidate_accesses" => p.consolidate_accesses = count(&name, value)?,
                "consolidate_after" => p.consolidate_after = duration(&name, value)?,
                "consolidate_decisions" => p.consolidate_decisions = flag(&name, value)?,
                "max_age" => p.max_age = if value.is_null() { None } else { Some(duration(&name, value)?) },
                "max_count" => p.max_count = if value.is_null() { None } else { Some(count(&name, value)?) },
                "keep_top" => p.keep_top = count(&name, value)?,
                _ => {
                    return Err(Error::invalid(
                        name,
                        "unknown lifecycle setting: use hot_for, hot_accesses, cold_after, keep_importance, \
                         decay_factor, decay_every, consolidate, consolidate_importance, consolidate_accesses, \
                         consolidate_after, consolidate_decisions, max_age, max_count, keep_top",
                    ));
                }
            }
        }
        Ok(p)
    }

    /// Whether retention can delete anything.
    pub fn has_retention(&self) -> bool {
        self.max_age.is_some() || self.max_count.is_some()
    }

    /// The policy as a JSON object ([`LifecyclePolicy::overlay`] reads it back).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let d = |d: Duration| Value::String(format!("{}s", d.num_seconds()));
        m.insert("hot_for".into(), d(self.hot_for));
        m.insert("hot_accesses".into(), self.hot_accesses.into());
        m.insert("cold_after".into(), d(self.cold_after));
        m.insert("keep_importance".into(), self.keep_importance.into());
        m.insert("decay_factor".into(), self.decay_factor.map_or(Value::Null, Value::from));
        m.insert("decay_every".into(), d(self.decay_every));
        m.insert("consolidate".into(), self.consolidate.into());
        m.insert("consolidate_importance".into(), self.consolidate_importance.into());
        m.insert("consolidate_accesses".into(), self.consolidate_accesses.into());
        m.insert("consolidate_after".into(), d(self.consolidate_after));
        m.insert("consolidate_decisions".into(), self.consolidate_decisions.into());
        m.insert("max_age".into(), self.max_age.map_or(Value::Null, d));
        m.insert("max_count".into(), self.max_count.map_or(Value::Null, Value::from));
        m.insert("keep_top".into(), self.keep_top.into());
        m
    }
}

fn duration(field: &str, v: &Value) -> Result<Duration> {
    match v {
        Value::String(s) => {
            let d = parse_duration(field, s)?;
            Ok(d)
        }
        _ => Err(Error::invalid(field, "must be a duration string like 45s, 90m, 2h, 7d or 2w")),
    }
}

fn count(field: &str, v: &Value) -> Result<u64> {
    v.as_u64().ok_or_else(|| Error::invalid(field, "must be a whole number ≥ 0"))
}

fn unit(field: &str, v: &Value) -> Result<f64> {
    v.as_f64().filter(|f| (0.0..=1.0).contains(f)).ok_or_else(|| Error::invalid(field, "must be a number from 0 to 1"))
}

fn flag(field: &str, v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| Error::invalid(field, "must be true or false"))
}

/// What maintenance knows of a memory: its row, without content.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryFacts {
    pub key: i64,
    pub agent_key: i64,
    pub memory_type: MemoryType,
    pub time: Timestamp,
    pub importance: f64,
    pub access_count: u64,
    pub last_accessed_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub tier: Tier,
    /// Until when decay has been applied (None: never; decay counts from `time`).
    pub decayed_to: Option<Timestamp>,
}

/// Why a memory is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forget {
    Expired,
    Retention,
    Consolidated,
}

/// What maintenance does to one memory. A deleted memory gets nothing else.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub forget: Option<Forget>,
    /// The tier to move to (None: stays).
    pub tier: Option<Tier>,
    /// The decayed importance and the time decay now counts from.
    pub decay: Option<(f64, Timestamp)>,
}

/// What the policy does to `m` at `now`. `retention_victim`: retention chose it (the store picks an
/// agent's oldest beyond `max_count` or older than `max_age`, outside its top `keep_top`).
pub fn decide(m: &MemoryFacts, policy: &LifecyclePolicy, now: Timestamp, retention_victim: bool) -> Decision {
    if m.expires_at.is_some_and(|at| at <= now) {
        return Decision { forget: Some(Forget::Expired), ..Decision::default() };
    }
    if retention_victim {
        return Decision { forget: Some(Forget::Retention), ..Decision::default() };
    }
    let mut importance = m.importance;
    let mut decay = None;
    if let Some(factor) = policy.decay_factor {
        let from = m.decayed_to.unwrap_or(m.time);
        let every = policy.decay_every.num_microseconds().unwrap_or(i64::MAX).max(1);
        let elapsed = (now - from).num_microseconds().unwrap_or(i64::MAX);
        let periods = elapsed / every;
        if periods >= 1 && factor < 1.0 {
            importance = (importance * factor.powi(i32::try_from(periods).unwrap_or(i32::MAX))).max(0.0);
            let to = from + Duration::microseconds(periods.saturating_mul(every));
            decay = Some((importance, to));
        }
    }
    let age = now - m.time;
    if policy.consolidate
        && age >= policy.consolidate_after
        && importance < policy.consolidate_importance
        && m.access_count < policy.consolidate_accesses
        && (m.memory_type != MemoryType::Decision || policy.consolidate_decisions)
    {
        return Decision { forget: Some(Forget::Consolidated), ..Decision::default() };
    }
    let last_use = m.last_accessed_at.map_or(m.time, |at| at.max(m.time));
    let idle = now - last_use;
    let target = if idle < policy.hot_for || (m.access_count >= policy.hot_accesses && idle < policy.cold_after) {
        Tier::Hot
    } else if idle >= policy.cold_after && importance < policy.keep_importance {
        Tier::Cold
    } else {
        Tier::Warm
    };
    Decision { forget: None, tier: (target != m.tier).then_some(target), decay }
}

/// What a maintenance pass did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MaintenanceCounts {
    pub scanned: u64,
    pub expired: u64,
    pub retention: u64,
    pub consolidated: u64,
    pub decayed: u64,
    pub to_hot: u64,
    pub to_warm: u64,
    pub to_cold: u64,
    /// Content bytes of the memories moved to cold, before and after compression.
    pub cold_bytes_before: u64,
    pub cold_bytes_after: u64,
}

impl MaintenanceCounts {
    /// Counts `d` (the compression bytes are the store's to add).
    pub fn count(&mut self, d: &Decision) {
        self.scanned += 1;
        match d.forget {
            Some(Forget::Expired) => self.expired += 1,
            Some(Forget::Retention) => self.retention += 1,
            Some(Forget::Consolidated) => self.consolidated += 1,
            None => {}
        }
        if d.decay.is_some() {
            self.decayed += 1;
        }
        match d.tier {
            Some(Tier::Hot) => self.to_hot += 1,
            Some(Tier::Warm) => self.to_warm += 1,
            Some(Tier::Cold) => self.to_cold += 1,
            None => {}
        }
    }

    pub fn deleted(&self) -> u64 {
        self.expired + self.retention + self.consolidated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn facts(age_s: i64, importance: f64, accesses: u64) -> MemoryFacts {
        MemoryFacts {
            key: 1,
            agent_key: 1,
            memory_type: MemoryType::Episodic,
            time: at(-age_s),
            importance,
            access_count: accesses,
            last_accessed_at: None,
            expires_at: None,
            tier: Tier::Hot,
            decayed_to: None,
        }
    }

    #[test]
    fn default_policy_only_moves_tiers() {
        let p = LifecyclePolicy::default();
        let day = 86_400;
        assert_eq!(decide(&facts(10, 0.1, 0), &p, at(0), false), Decision::default());
        assert_eq!(decide(&facts(2 * day, 0.1, 0), &p, at(0), false).tier, Some(Tier::Warm));
        assert_eq!(decide(&facts(40 * day, 0.1, 0), &p, at(0), false).tier, Some(Tier::Cold));
        // Important memories never go cold; often read ones stay hot.
        assert_eq!(decide(&facts(40 * day, 0.9, 0), &p, at(0), false).tier, Some(Tier::Warm));
        let mut read = facts(40 * day, 0.1, 9);
        read.last_accessed_at = Some(at(-3 * day));
        assert_eq!(decide(&read, &p, at(0), false).tier, None);
        // A recent read brings a cold memory back to hot.
        let mut cold = facts(90 * day, 0.1, 1);
        cold.tier = Tier::Cold;
        cold.last_accessed_at = Some(at(-60));
        assert_eq!(decide(&cold, &p, at(0), false).tier, Some(Tier::Hot));
    }

    #[test]
    fn expiry_and_retention_come_first() {
        let p = LifecyclePolicy::default();
        let mut m = facts(10, 0.9, 0);
        m.expires_at = Some(at(0));
        assert_eq!(decide(&m, &p, at(0), false).forget, Some(Forget::Expired));
        assert_eq!(decide(&facts(10, 0.9, 0), &p, at(0), true).forget, Some(Forget::Retention));
    }

    #[test]
    fn overlay_names_the_field_and_the_rule() {
        let p = LifecyclePolicy::default();
        let e = p.overlay("lifecycle", &serde_json::json!({"decay_factor": 1.5})).unwrap_err();
        assert!(e.to_string().contains("lifecycle.decay_factor"), "{e}");
        let e = p.overlay("lifecycle", &serde_json::json!({"cold_after": "soon"})).unwrap_err();
        assert!(e.to_string().contains("lifecycle.cold_after"), "{e}");
        let e = p.overlay("lifecycle", &serde_json::json!({"colder": true})).unwrap_err();
        assert!(e.to_string().contains("lifecycle.colder"), "{e}");
        let q =
            p.overlay("x", &serde_json::json!({"decay_factor": 0.95, "max_count": 10, "cold_after": "2w"})).unwrap();
        assert_eq!(q.decay_factor, Some(0.95));
        assert_eq!(q.max_count, Some(10));
        assert_eq!(q.cold_after, Duration::weeks(2));
        assert_eq!(p.overlay("x", &Value::Object(q.to_json())).unwrap(), q);
    }

    proptest! {
        /// Decay applied by many passes equals decay applied by one pass at the end: the
        /// importance is `factor^periods` of the original, whatever the pass times.
        #[test]
        fn decay_is_the_same_whatever_the_pass_times(passes in proptest::collection::vec(0i64..10 * 86_400, 1..8),
                                                     importance in 0.0f64..1.0) {
            let p = LifecyclePolicy { decay_factor: Some(0.95), ..LifecyclePolicy::default() };
            let mut m = facts(0, importance, 0);
            m.time = at(0);
            let mut t = 0;
            for step in passes {
                t += step;
                if let Some((imp, to)) = decide(&m, &p, at(t), false).decay {
                    m.importance = imp;
                    m.decayed_to = Some(to);
                }
            }
            let once = decide(&facts(0, importance, 0), &p, at(0), false);
            prop_assert!(once.decay.is_none());
            let periods = t / 86_400;
            let expected = importance * 0.95f64.powi(periods as i32);
            prop_assert!((m.importance - expected).abs() < 1e-9, "{} vs {}", m.importance, expected);
        }

        /// Consolidation deletes exactly what the rule names, never a decision unless asked, and a
        /// memory the policy keeps is never deleted.
        #[test]
        fn consolidation_is_the_rule(age in 0i64..30 * 86_400, importance in 0.0f64..1.0, accesses in 0u64..5,
                                     decision in any::<bool>(), decisions in any::<bool>()) {
            let p = LifecyclePolicy { consolidate: true, consolidate_decisions: decisions, ..LifecyclePolicy::default() };
            let mut m = facts(age, importance, accesses);
            if decision { m.memory_type = MemoryType::Decision; }
            let d = decide(&m, &p, at(0), false);
            let rule = age >= 7 * 86_400 && importance < 0.3 && accesses < 2 && (!decision || decisions);
            prop_assert_eq!(d.forget == Some(Forget::Consolidated), rule);
            prop_assert!(d.forget.is_none() || d.tier.is_none());
        }

        /// The tier a memory gets depends on its use, and a second pass at the same time moves nothing.
        #[test]
        fn tier_moves_are_stable(age in 0i64..100 * 86_400, importance in 0.0f64..1.0, accesses in 0u64..10,
                                 read_ago in proptest::option::of(0i64..100 * 86_400)) {
            let p = LifecyclePolicy::default();
            let mut m = facts(age, importance, accesses);
            m.last_accessed_at = read_ago.map(|r| at(-r));
            let d = decide(&m, &p, at(0), false);
            if let Some(t) = d.tier { m.tier = t; }
            prop_assert_eq!(decide(&m, &p, at(0), false).tier, None);
            if m.tier == Tier::Cold { prop_assert!(importance < 0.7); }
        }
    }
}
