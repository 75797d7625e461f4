//! Load shedding: at most `max` requests are worked on at once on the port (gRPC, REST and MCP
//! together); one more is answered at once (gRPC UNAVAILABLE, which clients retry with backoff;
//! HTTP 503 with `Retry-After: 1`) instead of queueing without bound. Health, readiness and
//! `/metrics` are never shed, so an orchestrator does not restart a busy server. A streaming response (watch)
//! holds its slot until its stream starts, not while it streams.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

/// The port's request slots.
#[derive(Clone)]
pub struct Slots(Arc<Semaphore>);

impl Slots {
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max)))
    }
}

fn exempt(path: &str) -> bool {
    path == "/health" || path == "/ready" || path == "/metrics" || path.starts_with("/grpc.health.v1.Health/")
}

pub async fn shed(State(slots): State<Slots>, request: Request, next: Next) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(_permit) = slots.0.clone().try_acquire_owned() else {
        let grpc = crate::grpc::framing::is_grpc(request.headers());
        tracing::debug!(path = request.uri().path(), "shed: every request slot is taken");
        let message = "the server is at its limit of concurrent requests; retry shortly";
        if grpc {
            return tonic::Status::unavailable(message).into_http();
        }
        let mut response =
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"error": message}))).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use tower::ServiceExt as _;

    use super::*;

    fn router(max: usize) -> axum::Router {
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        };
        axum::Router::new()
            .route("/slow", axum::routing::post(slow))
            .route("/grpc.health.v1.Health/Check", axum::routing::post(slow))
            .layer(axum::middleware::from_fn_with_state(Slots::new(max), shed))
    }

    fn post(path: &str, grpc: bool) -> Request {
        let content_type = if grpc { "application/grpc" } else { "application/json" };
        Request::builder()
            .method("POST")
            .uri(path)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn one_request_over_the_limit_is_answered_at_once() {
        let app = router(1);
        let first = tokio::spawn(app.clone().oneshot(post("/slow", false)));
        tokio::time::sleep(Duration::from_millis(50)).await;

        let started = std::time::Instant::now();
        let rest = app.clone().oneshot(post("/slow", false)).await.unwrap();
        assert_eq!(rest.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rest.headers()[header::RETRY_AFTER], "1");
        let grpc = app.clone().oneshot(post("/slow", true)).await.unwrap();
        let status = tonic::Status::from_header_map(grpc.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(started.elapsed() < Duration::from_millis(200), "shed at once, not queued");
        // Health is never shed.
        assert_eq!(
            app.clone().oneshot(post("/grpc.health.v1.Health/Check", true)).await.unwrap().status(),
            StatusCode::OK
        );

        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        // The slot is free again.
        assert_eq!(app.oneshot(post("/slow", false)).await.unwrap().status(), StatusCode::OK);
    }
}
