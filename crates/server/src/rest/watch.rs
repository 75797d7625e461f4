//! `GET /api/v1/watch`: WatchMemories as Server-Sent Events. The filter is the query string of
//! `GET /api/v1/memories`; each event is `event: memory`, `id: <resume token>`, `data: <memory>`.
//! A client resumes with `?resume_token=` or the standard `Last-Event-ID` header.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use super::http::{Caller, Params, RestResult, RestState};
use super::json::MemoryJson;
use super::memories::list_request;

pub async fn watch(
    State(state): State<RestState>,
    Caller(p): Caller,
    headers: HeaderMap,
    params: Params,
) -> RestResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let request = list_request(&params, None, None, "")?;
    let token = params
        .text("resume_token")
        .map(str::to_owned)
        .or_else(|| headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned))
        .unwrap_or_default();
    let watch = state.app.watch_memories(&p, request, &token).await?;
    let events = futures::stream::unfold(Some(watch), |watch| async move {
        let mut watch = watch?;
        match watch.next().await {
            Ok((memory, token)) => {
                let data = serde_json::to_string(&MemoryJson::from(memory)).unwrap_or_default();
                Some((Ok(Event::default().event("memory").id(token).data(data)), Some(watch)))
            }
            Err(e) => {
                tracing::warn!(error = %e, "watch stream ended");
                Some((Ok(Event::default().event("error").data(e.to_string())), None))
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
