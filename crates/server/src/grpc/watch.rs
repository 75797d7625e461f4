//! engram.v1.WatchService adapter: a server stream over [`engram_app::watch::Watch`].

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use engram_app::Engram;
use engram_proto::v1 as pb;
use engram_proto::v1::watch_service_server::WatchService;

use super::{convert, principal, status};

pub struct WatchApi {
    pub app: Engram,
}

type Events = Pin<Box<dyn Stream<Item = Result<pb::MemoryEvent, Status>> + Send>>;

#[tonic::async_trait]
impl WatchService for WatchApi {
    type WatchMemoriesStream = Events;

    async fn watch_memories(
        &self,
        request: Request<pb::WatchMemoriesRequest>,
    ) -> Result<Response<Self::WatchMemoriesStream>, Status> {
        let p = principal(&request)?;
        let pb::WatchMemoriesRequest { filter, resume_token } = request.into_inner();
        let list = convert::filter(filter).map_err(status)?;
        let watch = self.app.watch_memories(&p, list, &resume_token).await.map_err(status)?;
        // Ends when the client goes away (the stream is dropped) or the store fails.
        let events = futures::stream::unfold(Some(watch), |watch| async move {
            let mut watch = watch?;
            match watch.next().await {
                Ok((memory, resume_token)) => {
                    Some((Ok(pb::MemoryEvent { memory: Some(convert::memory(memory)), resume_token }), Some(watch)))
                }
                Err(e) => Some((Err(status(e)), None)),
            }
        });
        Ok(Response::new(Box::pin(events)))
    }
}
