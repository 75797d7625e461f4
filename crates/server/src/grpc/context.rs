//! engram.v1.ContextService adapter.

use tonic::{Request, Response, Status};

use engram_proto::v1 as pb;
use engram_proto::v1::context_service_server::ContextService;

use super::{convert, principal, status};
use engram_app::Engram;

pub struct ContextApi {
    pub app: Engram,
}

#[tonic::async_trait]
impl ContextService for ContextApi {
    async fn build_context(
        &self,
        request: Request<pb::BuildContextRequest>,
    ) -> Result<Response<pb::ContextResult>, Status> {
        let p = principal(&request)?;
        let pb::BuildContextRequest { agent, session_id, options } = request.into_inner();
        let options = convert::context_options(options).map_err(status)?;
        let result = self.app.build_context(&p, &agent, &session_id, options).await.map_err(status)?;
        Ok(Response::new(convert::context_result(result)))
    }
}
