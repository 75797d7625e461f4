//! Sessions: create, get, list, update.

use engram_core::time;
use engram_core::*;

use crate::handle::{Engram, PageRequest, cursor, require, stamped};

impl Engram {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    pub async fn create_session(&self, p: &Principal, agent: &str, metadata: Metadata) -> Result<Session> {
        require(p, Permission::Write)?;
        self.limits.check_name("agent", agent)?;
        self.limits.check_metadata("metadata", &metadata)?;
        self.store.create_session(&p.org_id, &AgentRef::parse(agent), metadata, time::now()).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, session = id))]
    pub async fn get_session(&self, p: &Principal, id: &str) -> Result<Session> {
        require(p, Permission::Read)?;
        self.limits.check_id("id", id)?;
        self.store.get_session(&p.org_id, id).await
    }

    /// `agent` empty: every agent's sessions.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, agent = agent))]
    pub async fn list_sessions(
        &self,
        p: &Principal,
        agent: &str,
        status: Option<SessionStatus>,
        page: PageRequest,
    ) -> Result<Page<Session>> {
        require(p, Permission::Read)?;
        let agent = if agent.is_empty() {
            None
        } else {
            self.limits.check_name("agent", agent)?;
            Some(AgentRef::parse(agent))
        };
        let size = self.limits.page_size("page_size", page.size)?;
        let query = query_fingerprint(&format!("sessions {agent:?} {status:?}"));
        let token = cursor("page_token", &page.token, query)?;
        Ok(stamped(self.store.list_sessions(&p.org_id, agent.as_ref(), status, size, token).await?, query))
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, session = id))]
    pub async fn update_session(&self, p: &Principal, id: &str, patch: SessionPatch) -> Result<Session> {
        require(p, Permission::Write)?;
        self.limits.check_id("id", id)?;
        if let Some((metadata, _)) = &patch.metadata {
            self.limits.check_metadata("metadata", metadata)?;
        }
        self.store.update_session(&p.org_id, id, patch, time::now()).await
    }
}
