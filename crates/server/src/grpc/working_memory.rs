//! engram.v1.WorkingMemoryService adapter.

use tonic::{Request, Response, Status};

use engram_app::Engram;
use engram_core::working_memory::WorkingMemory;
use engram_proto::v1 as pb;
use engram_proto::v1::working_memory_service_server::WorkingMemoryService;

use super::{convert, principal, status};

pub struct WorkingMemoryApi {
    pub app: Engram,
}

fn working_memory(wm: WorkingMemory) -> pb::WorkingMemory {
    pb::WorkingMemory {
        session_id: wm.session_id,
        document: Some(convert::json_to_struct(&wm.document)),
        version: wm.version,
        updated_at: convert::opt_timestamp(wm.updated_at),
    }
}

#[tonic::async_trait]
impl WorkingMemoryService for WorkingMemoryApi {
    async fn get_working_memory(
        &self,
        request: Request<pb::GetWorkingMemoryRequest>,
    ) -> Result<Response<pb::WorkingMemory>, Status> {
        let p = principal(&request)?;
        let wm = self.app.get_working_memory(&p, &request.into_inner().session_id).await.map_err(status)?;
        Ok(Response::new(working_memory(wm)))
    }

    async fn set_working_memory(
        &self,
        request: Request<pb::SetWorkingMemoryRequest>,
    ) -> Result<Response<pb::WorkingMemory>, Status> {
        let p = principal(&request)?;
        let pb::SetWorkingMemoryRequest { session_id, document, version } = request.into_inner();
        let document = convert::struct_to_json("document", document).map_err(status)?;
        let wm = self.app.set_working_memory(&p, &session_id, document, version).await.map_err(status)?;
        Ok(Response::new(working_memory(wm)))
    }

    async fn patch_working_memory(
        &self,
        request: Request<pb::PatchWorkingMemoryRequest>,
    ) -> Result<Response<pb::WorkingMemory>, Status> {
        let p = principal(&request)?;
        let pb::PatchWorkingMemoryRequest { session_id, patch, version } = request.into_inner();
        let patch = convert::struct_to_json("patch", patch).map_err(status)?;
        let wm = self.app.patch_working_memory(&p, &session_id, patch, version).await.map_err(status)?;
        Ok(Response::new(working_memory(wm)))
    }

    async fn clear_working_memory(
        &self,
        request: Request<pb::ClearWorkingMemoryRequest>,
    ) -> Result<Response<pb::WorkingMemory>, Status> {
        let p = principal(&request)?;
        let pb::ClearWorkingMemoryRequest { session_id, version } = request.into_inner();
        let wm = self.app.clear_working_memory(&p, &session_id, version).await.map_err(status)?;
        Ok(Response::new(working_memory(wm)))
    }
}
