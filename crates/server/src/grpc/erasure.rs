//! engram.v1.ErasureService adapter.

use tonic::{Request, Response, Status};

use engram_app::Engram;
use engram_app::erasure::Erased;
use engram_proto::v1 as pb;
use engram_proto::v1::erasure_service_server::ErasureService;

use super::{principal, status};

pub struct ErasureApi {
    pub app: Engram,
}

fn report(erased: Erased) -> pb::ErasureReport {
    pb::ErasureReport {
        memories: erased.memories,
        conversations: erased.conversations,
        messages: erased.messages,
        sessions: erased.sessions,
        working_memories: erased.working_memories,
        agents: erased.agents,
    }
}

#[tonic::async_trait]
impl ErasureService for ErasureApi {
    async fn erase_scope(
        &self,
        request: Request<pb::EraseScopeRequest>,
    ) -> Result<Response<pb::ErasureReport>, Status> {
        let p = principal(&request)?;
        let erased = self.app.erase_scope(&p, &request.into_inner().scope).await.map_err(status)?;
        Ok(Response::new(report(erased)))
    }

    async fn erase_agent(
        &self,
        request: Request<pb::EraseAgentRequest>,
    ) -> Result<Response<pb::ErasureReport>, Status> {
        let p = principal(&request)?;
        let erased = self.app.erase_agent(&p, &request.into_inner().agent).await.map_err(status)?;
        Ok(Response::new(report(erased)))
    }
}
