//! engram.v1.AgentService adapter.

use tonic::{Request, Response, Status};

use engram_core::NewAgent;
use engram_proto::v1 as pb;
use engram_proto::v1::agent_service_server::AgentService;

use super::{convert, principal, status};
use engram_app::{Engram, PageRequest};

pub struct AgentApi {
    pub app: Engram,
}

#[tonic::async_trait]
impl AgentService for AgentApi {
    async fn register_agent(&self, request: Request<pb::RegisterAgentRequest>) -> Result<Response<pb::Agent>, Status> {
        let p = principal(&request)?;
        let pb::RegisterAgentRequest { name, description, config } = request.into_inner();
        let config = convert::struct_to_json("config", config).map_err(status)?;
        let agent = self.app.register_agent(&p, NewAgent { name, description, config }).await.map_err(status)?;
        Ok(Response::new(convert::agent(agent)))
    }

    async fn get_agent(&self, request: Request<pb::GetAgentRequest>) -> Result<Response<pb::Agent>, Status> {
        let p = principal(&request)?;
        let (field, agent) = match request.into_inner().agent {
            Some(pb::get_agent_request::Agent::Id(id)) => ("id", id),
            Some(pb::get_agent_request::Agent::Name(name)) => ("name", name),
            None => return Err(Status::invalid_argument("agent: set id or name")),
        };
        let agent = self.app.get_agent(&p, field, &agent).await.map_err(status)?;
        Ok(Response::new(convert::agent(agent)))
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let p = principal(&request)?;
        let pb::ListAgentsRequest { page_size, page_token } = request.into_inner();
        let page =
            self.app.list_agents(&p, PageRequest { size: page_size, token: page_token }).await.map_err(status)?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: page.items.into_iter().map(convert::agent).collect(),
            next_page_token: convert::page_token(page.next_cursor),
        }))
    }

    async fn delete_agent(
        &self,
        request: Request<pb::DeleteAgentRequest>,
    ) -> Result<Response<pb::DeleteAgentResponse>, Status> {
        let p = principal(&request)?;
        let pb::DeleteAgentRequest { agent, cascade } = request.into_inner();
        let deleted = self.app.delete_agent(&p, &agent, cascade).await.map_err(status)?;
        Ok(Response::new(pb::DeleteAgentResponse {
            deleted_sessions: deleted.sessions,
            deleted_memories: deleted.memories,
        }))
    }

    async fn get_agent_stats(
        &self,
        request: Request<pb::GetAgentStatsRequest>,
    ) -> Result<Response<pb::AgentStats>, Status> {
        let p = principal(&request)?;
        let stats = self.app.agent_stats(&p, &request.into_inner().agent).await.map_err(status)?;
        Ok(Response::new(pb::AgentStats {
            agent_id: stats.agent_id,
            memory_count: stats.memory_count,
            memories_24h: stats.memories_24h,
            errors_24h: stats.errors_24h,
            session_count: stats.session_count,
            active_sessions: stats.active_sessions,
            last_active_at: convert::opt_timestamp(stats.last_active_at),
            memory_types: stats.memory_types.into_iter().map(|(t, n)| (t.as_str().to_owned(), n)).collect(),
            tiers: Some(convert::tier_counts(stats.tiers)),
        }))
    }
}
