//! Agents: register, get, list, delete, stats.

use engram_core::time;
use engram_core::*;

use crate::handle::{Engram, PageRequest, cursor, require, stamped};

impl Engram {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent.name))]
    pub async fn register_agent(&self, p: &Principal, agent: NewAgent) -> Result<Agent> {
        require(p, Permission::Write)?;
        self.limits.check_name("name", &agent.name)?;
        if is_agent_id(&agent.name) {
            return Err(Error::invalid("name", "must not have the form of an agent id (agent_ + 24 hex)"));
        }
        self.limits.check_description("description", &agent.description)?;
        self.limits.check_metadata("config", &agent.config)?;
        self.lifecycle_policy(&agent.config)?;
        self.store.register_agent(&p.org_id, agent, time::now()).await
    }

    /// `field` names the request field that carries the agent (for errors).
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    pub async fn get_agent(&self, p: &Principal, field: &str, agent: &str) -> Result<Agent> {
        require(p, Permission::Read)?;
        self.limits.check_name(field, agent)?;
        self.store.get_agent(&p.org_id, &AgentRef::parse(agent)).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn list_agents(&self, p: &Principal, page: PageRequest) -> Result<Page<Agent>> {
        require(p, Permission::Read)?;
        let size = self.limits.page_size("page_size", page.size)?;
        let query = query_fingerprint("agents");
        let listed = self.store.list_agents(&p.org_id, size, cursor("page_token", &page.token, query)?).await?;
        Ok(stamped(listed, query))
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent, cascade = cascade))]
    pub async fn delete_agent(&self, p: &Principal, agent: &str, cascade: bool) -> Result<AgentDeletion> {
        require(p, Permission::Write)?;
        self.limits.check_name("agent", agent)?;
        let deleted = self.store.delete_agent(&p.org_id, &AgentRef::parse(agent), cascade).await;
        self.forget_org(&p.org_id);
        deleted
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    pub async fn agent_stats(&self, p: &Principal, agent: &str) -> Result<AgentStats> {
        require(p, Permission::Read)?;
        self.limits.check_name("agent", agent)?;
        self.store.agent_stats(&p.org_id, &AgentRef::parse(agent), time::now()).await
    }
}
