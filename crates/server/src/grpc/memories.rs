//! engram.v1.MemoryService adapter.

use std::time::Instant;

use tonic::{Request, Response, Status};

use engram_core::{AddOutcome, AgentRef, DeleteFilter, MemoryPatch};
use engram_proto::v1 as pb;
use engram_proto::v1::memory_service_server::MemoryService;

use super::{convert, principal, status};
use engram_app::{Engram, ListRequest, RankedRequest};

pub struct MemoryApi {
    pub app: Engram,
}

pub(crate) fn list_request(
    filter: Option<pb::MemoryFilter>,
    limit: u32,
    order: i32,
    page_token: String,
    offset: u32,
) -> Result<ListRequest, Status> {
    let request = convert::filter(filter).map_err(status)?;
    Ok(ListRequest { limit, order: convert::order(order).map_err(status)?, page_token, offset, ..request })
}

#[tonic::async_trait]
impl MemoryService for MemoryApi {
    async fn add_memory(
        &self,
        request: Request<pb::AddMemoryRequest>,
    ) -> Result<Response<pb::AddMemoryResponse>, Status> {
        let p = principal(&request)?;
        let memory = request.into_inner().memory.ok_or_else(|| Status::invalid_argument("memory: is required"))?;
        let memory = convert::new_memory("memory", memory).map_err(status)?;
        let created = self.app.add_memory(&p, memory).await.map_err(status)?;
        Ok(Response::new(pb::AddMemoryResponse { memory: Some(convert::memory(created)) }))
    }

    async fn add_memories(
        &self,
        request: Request<pb::AddMemoriesRequest>,
    ) -> Result<Response<pb::AddMemoriesResponse>, Status> {
        let p = principal(&request)?;
        let memories = request
            .into_inner()
            .memories
            .into_iter()
            .enumerate()
            .map(|(i, m)| convert::new_memory(&format!("memories[{i}]"), m))
            .collect::<Result<Vec<_>, _>>()
            .map_err(status)?;
        let outcomes = self.app.add_memories(&p, memories).await.map_err(status)?;
        let mut response = pb::AddMemoriesResponse::default();
        for outcome in outcomes {
            response.results.push(match outcome {
                AddOutcome::Created(memory) => {
                    response.created += 1;
                    pb::AddMemoryResult {
                        status: pb::AddStatus::Created.into(),
                        id: memory.id.clone(),
                        memory: Some(convert::memory(memory)),
                    }
                }
                AddOutcome::Duplicate { existing_id } => {
                    response.duplicates += 1;
                    pb::AddMemoryResult { status: pb::AddStatus::Duplicate.into(), id: existing_id, memory: None }
                }
            });
        }
        Ok(Response::new(response))
    }

    async fn get_memory(&self, request: Request<pb::GetMemoryRequest>) -> Result<Response<pb::Memory>, Status> {
        let p = principal(&request)?;
        let memory = self.app.get_memory(&p, &request.into_inner().id).await.map_err(status)?;
        Ok(Response::new(convert::memory(memory)))
    }

    async fn list_memories(
        &self,
        request: Request<pb::ListMemoriesRequest>,
    ) -> Result<Response<pb::ListMemoriesResponse>, Status> {
        let p = principal(&request)?;
        let pb::ListMemoriesRequest { filter, limit, order, page_token, offset } = request.into_inner();
        let page = self
            .app
            .list_memories(&p, list_request(filter, limit, order, page_token, offset)?)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListMemoriesResponse {
            memories: page.memories.into_iter().map(convert::memory).collect(),
            next_page_token: convert::memory_page_token(page.next_cursor),
            has_more: page.has_more,
        }))
    }

    async fn search_memories(
        &self,
        request: Request<pb::SearchMemoriesRequest>,
    ) -> Result<Response<pb::SearchMemoriesResponse>, Status> {
        let started = Instant::now();
        let p = principal(&request)?;
        let pb::SearchMemoriesRequest { filter, limit, order, page_token, offset, query, mode, query_embedding } =
            request.into_inner();
        if !query.is_empty() || !query_embedding.is_empty() {
            let request = RankedRequest {
                order_given: order != 0,
                list: list_request(filter, limit, 0, page_token, offset)?,
                query,
                query_embedding,
                mode: convert::search_mode(mode).map_err(status)?,
            };
            let page = self.app.ranked_search(&p, request).await.map_err(status)?;
            return Ok(Response::new(pb::SearchMemoriesResponse {
                hits: page.hits.into_iter().map(convert::hit).collect(),
                has_more: page.has_more,
                mode: convert::search_mode_pb(page.mode).into(),
                unembedded: page.unembedded,
                query_time_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                ..Default::default()
            }));
        }
        if mode != 0 {
            return Err(Status::invalid_argument("mode: applies to a search with a query; query is empty"));
        }
        let page = self
            .app
            .list_memories(&p, list_request(filter, limit, order, page_token, offset)?)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SearchMemoriesResponse {
            results: page.memories.into_iter().map(convert::memory).collect(),
            next_page_token: convert::memory_page_token(page.next_cursor),
            has_more: page.has_more,
            query_time_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ..Default::default()
        }))
    }

    async fn update_memory(&self, request: Request<pb::UpdateMemoryRequest>) -> Result<Response<pb::Memory>, Status> {
        let p = principal(&request)?;
        let pb::UpdateMemoryRequest { id, update_mask, importance, tags, metadata, expires_at } = request.into_inner();
        let mut patch = MemoryPatch::default();
        let paths = update_mask.map(|m| m.paths).unwrap_or_default();
        for path in &paths {
            match path.as_str() {
                "importance" => patch.importance = Some(importance),
                "tags" => patch.tags = Some(tags.clone()),
                "metadata" => {
                    patch.metadata = Some(convert::struct_to_json("metadata", metadata.clone()).map_err(status)?)
                }
                "expires_at" => {
                    patch.expires_at = Some(convert::from_timestamp("expires_at", expires_at).map_err(status)?)
                }
                other => {
                    return Err(Status::invalid_argument(format!(
                        "update_mask: {other:?} cannot be updated (importance, tags, metadata, expires_at)"
                    )));
                }
            }
        }
        let memory = self.app.update_memory(&p, &id, patch).await.map_err(status)?;
        Ok(Response::new(convert::memory(memory)))
    }

    async fn delete_memory(
        &self,
        request: Request<pb::DeleteMemoryRequest>,
    ) -> Result<Response<pb::DeleteMemoryResponse>, Status> {
        let p = principal(&request)?;
        self.app.delete_memory(&p, &request.into_inner().id).await.map_err(status)?;
        Ok(Response::new(pb::DeleteMemoryResponse {}))
    }

    async fn delete_memories(
        &self,
        request: Request<pb::DeleteMemoriesRequest>,
    ) -> Result<Response<pb::DeleteMemoriesResponse>, Status> {
        let p = principal(&request)?;
        let pb::DeleteMemoriesRequest { agent, session_id, memory_types, since, until } = request.into_inner();
        let filter = DeleteFilter {
            agent: (!agent.is_empty()).then(|| AgentRef::parse(&agent)),
            session_id: (!session_id.is_empty()).then_some(session_id),
            memory_types: convert::memory_types("memory_types", &memory_types).map_err(status)?,
            since: None,
            until: None,
        };
        let deleted = self.app.delete_memories(&p, filter, &since, &until).await.map_err(status)?;
        Ok(Response::new(pb::DeleteMemoriesResponse { deleted }))
    }
}
