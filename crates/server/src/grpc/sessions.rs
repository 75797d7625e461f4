//! engram.v1.SessionService adapter.

use tonic::{Request, Response, Status};

use engram_core::{MetadataMode, SessionPatch, SessionStatus};
use engram_proto::v1 as pb;
use engram_proto::v1::session_service_server::SessionService;

use super::{convert, principal, status};
use engram_app::{Engram, PageRequest};

pub struct SessionApi {
    pub app: Engram,
}

#[tonic::async_trait]
impl SessionService for SessionApi {
    async fn create_session(
        &self,
        request: Request<pb::CreateSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let p = principal(&request)?;
        let pb::CreateSessionRequest { agent, metadata } = request.into_inner();
        let metadata = convert::struct_to_json("metadata", metadata).map_err(status)?;
        let session = self.app.create_session(&p, &agent, metadata).await.map_err(status)?;
        Ok(Response::new(convert::session(session)))
    }

    async fn get_session(&self, request: Request<pb::GetSessionRequest>) -> Result<Response<pb::Session>, Status> {
        let p = principal(&request)?;
        let session = self.app.get_session(&p, &request.into_inner().id).await.map_err(status)?;
        Ok(Response::new(convert::session(session)))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let p = principal(&request)?;
        let pb::ListSessionsRequest { agent, status: raw_status, page_size, page_token } = request.into_inner();
        let wanted = convert::session_status("status", raw_status).map_err(status)?;
        let page = self
            .app
            .list_sessions(&p, &agent, wanted, PageRequest { size: page_size, token: page_token })
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: page.items.into_iter().map(convert::session).collect(),
            next_page_token: convert::page_token(page.next_cursor),
        }))
    }

    async fn update_session(
        &self,
        request: Request<pb::UpdateSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let p = principal(&request)?;
        let pb::UpdateSessionRequest { id, status: raw_status, metadata, metadata_mode } = request.into_inner();
        let mut patch =
            SessionPatch { status: convert::session_status("status", raw_status).map_err(status)?, metadata: None };
        if let Some(metadata) = metadata {
            let mode = match pb::MetadataMode::try_from(metadata_mode) {
                Ok(pb::MetadataMode::Merge) => MetadataMode::Merge,
                Ok(pb::MetadataMode::Replace) => MetadataMode::Replace,
                _ => {
                    return Err(Status::invalid_argument(
                        "metadata_mode: must be METADATA_MODE_MERGE or METADATA_MODE_REPLACE when metadata is set",
                    ));
                }
            };
            patch.metadata = Some((convert::struct_to_json("metadata", Some(metadata)).map_err(status)?, mode));
        }
        let session = self.app.update_session(&p, &id, patch).await.map_err(status)?;
        Ok(Response::new(convert::session(session)))
    }

    async fn close_session(&self, request: Request<pb::CloseSessionRequest>) -> Result<Response<pb::Session>, Status> {
        let p = principal(&request)?;
        let patch = SessionPatch { status: Some(SessionStatus::Closed), metadata: None };
        let session = self.app.update_session(&p, &request.into_inner().id, patch).await.map_err(status)?;
        Ok(Response::new(convert::session(session)))
    }

    async fn get_session_context(
        &self,
        request: Request<pb::GetSessionContextRequest>,
    ) -> Result<Response<pb::ContextResult>, Status> {
        let p = principal(&request)?;
        let pb::GetSessionContextRequest { session_id, options } = request.into_inner();
        if session_id.is_empty() {
            return Err(Status::invalid_argument("session_id: is required"));
        }
        let options = convert::context_options(options).map_err(status)?;
        let result = self.app.build_context(&p, "", &session_id, options).await.map_err(status)?;
        Ok(Response::new(convert::context_result(result)))
    }
}
