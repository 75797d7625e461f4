//! engram.v1.SimulationService adapter.

use tonic::{Request, Response, Status};

use engram_app::Engram;
use engram_app::simulation::StateChange;
use engram_proto::v1 as pb;
use engram_proto::v1::simulation_service_server::SimulationService;

use super::{convert, principal, status};

pub struct SimulationApi {
    pub app: Engram,
}

fn change(c: StateChange) -> pb::StateChange {
    pb::StateChange {
        from_step: c.from.step.unwrap_or_default(),
        to_step: c.to.step.unwrap_or_default(),
        from_memory_id: c.from.id,
        to_memory_id: c.to.id,
        changes: c
            .changes
            .into_iter()
            .map(|a| pb::AttributeChange {
                key: a.key,
                before: a.before.as_ref().map(convert::json_value),
                after: a.after.as_ref().map(convert::json_value),
            })
            .collect(),
    }
}

fn type_counts(counts: Vec<(engram_core::MemoryType, u64)>) -> Vec<pb::TypeCount> {
    counts
        .into_iter()
        .map(|(t, count)| pb::TypeCount { memory_type: convert::memory_type_to_pb(t).into(), count })
        .collect()
}

#[tonic::async_trait]
impl SimulationService for SimulationApi {
    async fn get_memory_statistics(
        &self,
        request: Request<pb::GetMemoryStatisticsRequest>,
    ) -> Result<Response<pb::MemoryStatistics>, Status> {
        let p = principal(&request)?;
        let stats = self.app.memory_statistics(&p).await.map_err(status)?;
        Ok(Response::new(pb::MemoryStatistics {
            total: stats.total,
            by_type: type_counts(stats.by_type),
            agents: stats
                .agents
                .into_iter()
                .map(|a| pb::AgentMemoryStatistics {
                    agent_id: a.agent_id,
                    name: a.name,
                    total: a.total,
                    by_type: type_counts(a.by_type),
                    oldest_step: a.oldest_step,
                    newest_step: a.newest_step,
                    tiers: Some(convert::tier_counts(a.tiers)),
                })
                .collect(),
            oldest_step: stats.oldest_step,
            newest_step: stats.newest_step,
            tiers: Some(convert::tier_counts(stats.tiers)),
            cold_bytes_before: stats.cold_bytes_before,
            cold_bytes_after: stats.cold_bytes_after,
        }))
    }

    async fn retrieve_similar_states(
        &self,
        request: Request<pb::RetrieveSimilarStatesRequest>,
    ) -> Result<Response<pb::RetrieveSimilarStatesResponse>, Status> {
        let p = principal(&request)?;
        let pb::RetrieveSimilarStatesRequest { agent, state, embedding, k, step_min, step_max } = request.into_inner();
        let state = state.map(|s| convert::struct_to_json("state", Some(s))).transpose().map_err(status)?;
        let (states, compared) =
            self.app.similar_states(&p, &agent, state, embedding, k, step_min, step_max).await.map_err(status)?;
        Ok(Response::new(pb::RetrieveSimilarStatesResponse {
            states: states
                .into_iter()
                .map(|(memory, similarity)| pb::SimilarState { memory: Some(convert::memory(memory)), similarity })
                .collect(),
            compared,
        }))
    }

    async fn get_state_changes(
        &self,
        request: Request<pb::GetStateChangesRequest>,
    ) -> Result<Response<pb::GetStateChangesResponse>, Status> {
        let p = principal(&request)?;
        let pb::GetStateChangesRequest { agent, step_min, step_max, limit, page_token } = request.into_inner();
        let (changes, next) =
            self.app.state_changes(&p, &agent, step_min, step_max, limit, &page_token).await.map_err(status)?;
        Ok(Response::new(pb::GetStateChangesResponse {
            changes: changes.into_iter().map(change).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}
