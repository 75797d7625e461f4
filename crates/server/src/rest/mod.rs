//! The Memtrace-compatible REST/JSON surface under `/api/v1` (plus `/health` and `/ready`), served
//! on the gRPC port. Handlers are thin adapters over [`engram_app::Engram`], like the gRPC ones:
//! parse, call the domain operation, render JSON. Errors are `{"error": "..."}` with the status the
//! Memtrace SDK maps to its exception classes.

use std::sync::atomic::Ordering;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

mod agents;
pub(crate) mod conversations;
pub(crate) mod http;
pub mod json;
pub(crate) mod memories;
pub(crate) mod sessions;
mod watch;

pub use http::{RestError, RestResult, RestState};

/// The OpenAPI 3 document of this surface (kept in the repo, served at /api/v1/openapi.json).
pub const OPENAPI: &str = include_str!("../../openapi.json");

pub fn router(state: RestState, max_body: usize) -> Router {
    let api = Router::new()
        .route("/memories", post(memories::create).get(memories::list))
        .route("/memories/{id}", get(memories::get_one))
        .route("/search", post(memories::search))
        .route("/agents", post(agents::register).get(agents::list))
        .route("/agents/{id}", get(agents::get_one).delete(agents::delete))
        .route("/agents/{id}/memories", get(agents::memories))
        .route("/agents/{id}/stats", get(agents::stats))
        .route("/agents/{id}/context", post(agents::context))
        .route("/sessions", post(sessions::create).get(sessions::list))
        .route("/sessions/{id}", get(sessions::get_one).put(sessions::update))
        .route("/sessions/{id}/memories", get(sessions::memories))
        .route("/sessions/{id}/context", post(sessions::context))
        .route(
            "/sessions/{id}/working-memory",
            get(conversations::get_working_memory)
                .put(conversations::set_working_memory)
                .patch(conversations::patch_working_memory)
                .delete(conversations::clear_working_memory),
        )
        .route("/watch", get(watch::watch))
        .route("/conversations", get(conversations::list))
        .route("/conversations/{agent}/{conversation}", axum::routing::delete(conversations::delete))
        .route(
            "/conversations/{agent}/{conversation}/messages",
            post(conversations::append).get(conversations::messages),
        )
        .route("/conversations/{agent}/{conversation}/window", get(conversations::window))
        .route("/conversations/{agent}/{conversation}/summary", put(conversations::summary))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .nest("/api/v1", api)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn health() -> Response {
    (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response()
}

async fn ready(axum::extract::State(state): axum::extract::State<RestState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "not ready"}))).into_response()
    }
}

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found(request: Request) -> RestError {
    RestError::new(StatusCode::NOT_FOUND, format!("no route for {} {}", request.method(), request.uri().path()))
}

async fn method_not_allowed(request: Request) -> RestError {
    RestError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {} is not allowed on {}", request.method(), request.uri().path()),
    )
}
