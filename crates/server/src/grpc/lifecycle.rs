//! engram.v1.LifecycleService adapter.

use tonic::{Request, Response, Status};

use engram_app::Engram;
use engram_app::maintenance::MaintenanceRequest;
use engram_core::lifecycle::LifecyclePolicy;
use engram_proto::v1 as pb;
use engram_proto::v1::lifecycle_service_server::LifecycleService;

use super::{convert, principal, status};

pub struct LifecycleApi {
    pub app: Engram,
}

/// A Struct given in `field` as a JSON object; None when absent or empty.
fn settings(field: &str, value: Option<prost_types::Struct>) -> Result<Option<serde_json::Value>, Status> {
    let map = convert::struct_to_json(field, value).map_err(status)?;
    Ok((!map.is_empty()).then_some(serde_json::Value::Object(map)))
}

fn policy(p: &LifecyclePolicy) -> pb::LifecyclePolicy {
    pb::LifecyclePolicy { policy: Some(convert::json_to_struct(&p.to_json())) }
}

#[tonic::async_trait]
impl LifecycleService for LifecycleApi {
    async fn force_maintenance(
        &self,
        request: Request<pb::ForceMaintenanceRequest>,
    ) -> Result<Response<pb::MaintenanceReport>, Status> {
        let p = principal(&request)?;
        let pb::ForceMaintenanceRequest { agent_id, dry_run, policy } = request.into_inner();
        let request = MaintenanceRequest {
            agent: (!agent_id.is_empty()).then_some(agent_id),
            dry_run,
            policy: settings("policy", policy)?,
        };
        let report = self.app.force_maintenance(&p, request).await.map_err(status)?;
        let c = report.counts;
        Ok(Response::new(pb::MaintenanceReport {
            scanned: c.scanned,
            expired: c.expired,
            retention: c.retention,
            consolidated: c.consolidated,
            decayed: c.decayed,
            to_hot: c.to_hot,
            to_warm: c.to_warm,
            to_cold: c.to_cold,
            cold_bytes_before: c.cold_bytes_before,
            cold_bytes_after: c.cold_bytes_after,
            agents: report.agents,
            dry_run: report.dry_run,
            duration: prost_types::Duration::try_from(report.duration).ok(),
        }))
    }

    async fn get_lifecycle_policy(
        &self,
        request: Request<pb::GetLifecyclePolicyRequest>,
    ) -> Result<Response<pb::LifecyclePolicy>, Status> {
        let p = principal(&request)?;
        let agent = request.into_inner().agent_id;
        let found = self.app.get_lifecycle_policy(&p, (!agent.is_empty()).then_some(agent.as_str())).await;
        Ok(Response::new(policy(&found.map_err(status)?)))
    }

    async fn set_lifecycle_policy(
        &self,
        request: Request<pb::SetLifecyclePolicyRequest>,
    ) -> Result<Response<pb::LifecyclePolicy>, Status> {
        let p = principal(&request)?;
        let pb::SetLifecyclePolicyRequest { agent_id, policy: own } = request.into_inner();
        let own = settings("policy", own)?;
        let effective = self.app.set_lifecycle_policy(&p, &agent_id, own).await.map_err(status)?;
        Ok(Response::new(policy(&effective)))
    }

    async fn clear_cache(
        &self,
        request: Request<pb::ClearCacheRequest>,
    ) -> Result<Response<pb::ClearCacheResponse>, Status> {
        let p = principal(&request)?;
        let cleared = self.app.clear_cache(&p).map_err(status)?;
        Ok(Response::new(pb::ClearCacheResponse { cleared }))
    }

    async fn set_cache_ttl(
        &self,
        request: Request<pb::SetCacheTtlRequest>,
    ) -> Result<Response<pb::SetCacheTtlResponse>, Status> {
        let p = principal(&request)?;
        let ttl_seconds = request.into_inner().ttl_seconds;
        self.app.set_cache_ttl(&p, ttl_seconds).map_err(status)?;
        Ok(Response::new(pb::SetCacheTtlResponse { ttl_seconds: self.app.cache_ttl(&p).map_err(status)? }))
    }
}
