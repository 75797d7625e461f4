//! Maintenance: the background pass of the memory lifecycle (tier moves, expiry, decay,
//! consolidation, retention), on an interval and on demand (ForceMaintenance). The rules are
//! `engram_core::lifecycle`'s; this module reads each agent's memories' facts in time order, batches what
//! the rules decide and has the store apply each batch in one transaction, so a pass stopped at
//! any point (kill -9) leaves every memory either as it was or as the policy wants it. One pass
//! runs per org at a time across replicas (the store's maintenance lease).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use engram_core::lifecycle::{Decision, LifecyclePolicy, MaintenanceCounts, decide};
use engram_core::time::Timestamp;
use engram_core::*;
use engram_store::{LifecycleAgent, LifecycleBatch};
use serde_json::Value;

use crate::Engram;
use crate::handle::require;

/// Memories read and applied per transaction: small enough that an org's writes wait little.
const BATCH: u32 = 2_000;

/// The agent config key that holds an agent's policy.
pub const POLICY_KEY: &str = "lifecycle";

/// What a pass is asked to do.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceRequest {
    /// Only this agent's memories (all of the org's when None).
    pub agent: Option<String>,
    /// Report what would be done, change nothing.
    pub dry_run: bool,
    /// Settings over the server's and each agent's policy for this pass (a JSON object).
    pub policy: Option<Value>,
}

/// What a pass did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaintenanceReport {
    pub counts: MaintenanceCounts,
    pub agents: u64,
    pub dry_run: bool,
    pub duration: Duration,
}

impl Engram {
    /// Runs a maintenance pass over the caller's org now. Aborted when another pass holds it.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, dry_run = request.dry_run))]
    pub async fn force_maintenance(&self, p: &Principal, request: MaintenanceRequest) -> Result<MaintenanceReport> {
        require(p, Permission::Write)?;
        if let Some(policy) = &request.policy {
            self.lifecycle.policy.overlay("policy", policy)?;
        }
        if let Some(agent) = &request.agent {
            self.limits.check_name("agent_id", agent)?;
        }
        self.maintain(&p.org_id, &request, engram_core::time::now()).await?.ok_or_else(|| {
            Error::Aborted("a maintenance pass is already running on this org; try again when it ends".into())
        })
    }

    /// The policy of `agent` (the server's, with the agent's own settings over it).
    pub fn lifecycle_policy(&self, agent_config: &Metadata) -> Result<LifecyclePolicy> {
        match agent_config.get(POLICY_KEY) {
            None | Some(Value::Null) => Ok(self.lifecycle.policy.clone()),
            Some(own) => self.lifecycle.policy.overlay(&format!("config.{POLICY_KEY}"), own),
        }
    }

    /// Sets (or, with None, removes) an agent's own lifecycle policy; returns the policy that
    /// applies to it now.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    pub async fn set_lifecycle_policy(
        &self,
        p: &Principal,
        agent: &str,
        policy: Option<Value>,
    ) -> Result<LifecyclePolicy> {
        require(p, Permission::Write)?;
        self.limits.check_name("agent_id", agent)?;
        let effective = match &policy {
            Some(own) => self.lifecycle.policy.overlay("policy", own)?,
            None => self.lifecycle.policy.clone(),
        };
        self.store.set_agent_policy(&p.org_id, &AgentRef::parse(agent), POLICY_KEY, policy).await?;
        Ok(effective)
    }

    /// The lifecycle policy that applies to `agent` (the server's when None).
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn get_lifecycle_policy(&self, p: &Principal, agent: Option<&str>) -> Result<LifecyclePolicy> {
        require(p, Permission::Read)?;
        let Some(agent) = agent else { return Ok(self.lifecycle.policy.clone()) };
        self.limits.check_name("agent_id", agent)?;
        let found = self.store.get_agent(&p.org_id, &AgentRef::parse(agent)).await?;
        self.lifecycle_policy(&found.config)
    }

    /// One pass over `org` at `now`; None when another pass holds the org.
    pub async fn maintain(
        &self,
        org: &str,
        request: &MaintenanceRequest,
        now: Timestamp,
    ) -> Result<Option<MaintenanceReport>> {
        let started = Instant::now();
        let Some(_lease) = self.store.try_maintenance_lease(org).await? else { return Ok(None) };
        let agent_ref = request.agent.as_deref().map(AgentRef::parse);
        let agents = self.store.lifecycle_agents(org, agent_ref.as_ref()).await?;
        if let (Some(agent), true) = (&request.agent, agents.is_empty()) {
            return Err(Error::not_found("agent", agent));
        }
        let policies = self.policies(&agents, request.policy.as_ref())?;
        let mut victims = HashSet::new();
        for (agent_key, policy) in &policies {
            if !policy.has_retention() {
                continue;
            }
            let older_than = policy.max_age.map(|age| now - age);
            let chosen =
                self.store.retention_victims(org, *agent_key, older_than, policy.max_count, policy.keep_top).await?;
            victims.extend(chosen);
        }
        let mut report =
            MaintenanceReport { agents: agents.len() as u64, dry_run: request.dry_run, ..Default::default() };
        // Agent by agent, each in time order: a batch moving to cold then holds runs of one
        // agent's memories, which is what the store compresses together (and what an agent's
        // erasure deletes whole). Batches gather several small agents' memories.
        let mut batch = LifecycleBatch::default();
        let mut pending = 0usize;
        for agent in &agents {
            let Some(policy) = policies.get(&agent.key) else { continue };
            let mut after = None;
            loop {
                // Memories written after the pass began are the next pass's: a pass ends even
                // while ingest goes on.
                let facts = self.store.memory_facts(org, Some(agent.key), after, now, BATCH).await?;
                let Some(last) = facts.last() else { break };
                after = Some((last.time, last.key));
                for m in &facts {
                    let d = decide(m, policy, now, victims.contains(&m.key));
                    report.counts.count(&d);
                    pending += usize::from(add(&mut batch, m.key, &d));
                }
                if pending >= BATCH as usize {
                    self.apply(org, std::mem::take(&mut batch), request.dry_run, &mut report).await?;
                    pending = 0;
                }
                if facts.len() < BATCH as usize {
                    break;
                }
            }
        }
        self.apply(org, batch, request.dry_run, &mut report).await?;
        report.duration = started.elapsed();
        tracing::info!(org, counts = ?report.counts, dry_run = request.dry_run, ms = report.duration.as_millis() as u64, "maintenance pass");
        Ok(Some(report))
    }

    /// Has the store apply `batch` (nothing in a dry run or when it is empty).
    async fn apply(
        &self,
        org: &str,
        batch: LifecycleBatch,
        dry_run: bool,
        report: &mut MaintenanceReport,
    ) -> Result<()> {
        if dry_run || batch == LifecycleBatch::default() {
            return Ok(());
        }
        let applied = self.store.apply_lifecycle(org, batch).await;
        self.forget_org(org);
        let applied = applied?;
        report.counts.cold_bytes_before += applied.cold_bytes_before;
        report.counts.cold_bytes_after += applied.cold_bytes_after;
        Ok(())
    }

    /// Each agent's policy: the server's, the agent's config, then the request's settings.
    fn policies(&self, agents: &[LifecycleAgent], request: Option<&Value>) -> Result<HashMap<i64, LifecyclePolicy>> {
        agents
            .iter()
            .map(|agent| {
                let policy = self.lifecycle_policy(&agent.config).map_err(|e| match e {
                    Error::InvalidArgument { field, rule } => {
                        Error::invalid(format!("agents[{}].{field}", agent.name), rule)
                    }
                    other => other,
                })?;
                let policy = match request {
                    Some(settings) => policy.overlay("policy", settings)?,
                    None => policy,
                };
                Ok((agent.key, policy))
            })
            .collect()
    }

    /// Runs a pass over every org every `interval`, until the process ends. An org another
    /// replica is maintaining is skipped until the next round.
    pub async fn run_maintenance(&self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let orgs = match self.store.list_orgs().await {
                Ok(orgs) => orgs,
                Err(e) => {
                    tracing::warn!(error = %e, "maintenance: cannot list orgs");
                    continue;
                }
            };
            for org in orgs {
                if let Err(e) = self.maintain(&org.id, &MaintenanceRequest::default(), engram_core::time::now()).await {
                    tracing::warn!(org = %org.id, error = %e, "maintenance pass failed");
                }
            }
        }
    }
}

/// Adds a decision to the batch; whether it changes anything.
fn add(batch: &mut LifecycleBatch, key: i64, d: &Decision) -> bool {
    if d.forget.is_some() {
        batch.delete.push(key);
        return true;
    }
    if let Some((importance, to)) = d.decay {
        batch.decay.push((key, importance, to));
    }
    if let Some(tier) = d.tier {
        batch.moves.push((key, tier));
    }
    d.decay.is_some() || d.tier.is_some()
}
