//! engram.v1.AdminService adapter.

use tonic::{Request, Response, Status};

use engram_proto::v1 as pb;
use engram_proto::v1::admin_service_server::AdminService;

use super::{convert, principal, status};
use engram_app::Engram;

pub struct AdminApi {
    pub app: Engram,
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_org(&self, request: Request<pb::CreateOrgRequest>) -> Result<Response<pb::Org>, Status> {
        let p = principal(&request)?;
        let org = self.app.create_org(&p, &request.into_inner().name).await.map_err(status)?;
        Ok(Response::new(convert::org(org)))
    }

    async fn list_orgs(&self, request: Request<pb::ListOrgsRequest>) -> Result<Response<pb::ListOrgsResponse>, Status> {
        let p = principal(&request)?;
        let orgs = self.app.list_orgs(&p).await.map_err(status)?;
        Ok(Response::new(pb::ListOrgsResponse { orgs: orgs.into_iter().map(convert::org).collect() }))
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let p = principal(&request)?;
        let pb::CreateApiKeyRequest { org_id, name, permissions, expires_at } = request.into_inner();
        let permissions = permissions
            .iter()
            .enumerate()
            .map(|(i, raw)| convert::permission(&format!("permissions[{i}]"), *raw))
            .collect::<Result<Vec<_>, _>>()
            .map_err(status)?;
        let expires_at = convert::from_timestamp("expires_at", expires_at).map_err(status)?;
        let (key, secret) =
            self.app.create_api_key(&p, &org_id, &name, permissions, expires_at).await.map_err(status)?;
        Ok(Response::new(pb::CreateApiKeyResponse { key: Some(convert::api_key(key)), secret }))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let p = principal(&request)?;
        let keys = self.app.list_api_keys(&p, &request.into_inner().org_id).await.map_err(status)?;
        Ok(Response::new(pb::ListApiKeysResponse { keys: keys.into_iter().map(convert::api_key).collect() }))
    }

    async fn revoke_api_key(&self, request: Request<pb::RevokeApiKeyRequest>) -> Result<Response<pb::ApiKey>, Status> {
        let p = principal(&request)?;
        let key = self.app.revoke_api_key(&p, &request.into_inner().id).await.map_err(status)?;
        Ok(Response::new(convert::api_key(key)))
    }
}
