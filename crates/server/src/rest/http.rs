//! What the REST handlers share: their state, the extractors (caller, JSON body, query
//! parameters) and the error response. A leaf of `rest`: the handlers and the router use it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use engram_core::{Error, Principal};

use crate::auth::Authenticator;
use engram_app::{Engram, PageRequest};

/// Shared state of the REST handlers.
#[derive(Clone)]
pub struct RestState {
    pub app: Engram,
    pub auth: Arc<Authenticator>,
    /// Set once the store answers (the same signal as gRPC health).
    pub ready: Arc<AtomicBool>,
}

/// An error response: `{"error": "..."}` (plus `existing_id` for duplicates).
#[derive(Debug)]
pub struct RestError {
    status: StatusCode,
    message: String,
    existing_id: Option<String>,
    /// Seconds, for `Retry-After` (rate limits).
    retry_after: Option<u64>,
}

impl RestError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), existing_id: None, retry_after: None }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<Error> for RestError {
    fn from(err: Error) -> Self {
        let status = match &err {
            Error::InvalidArgument { .. } | Error::InvalidItem { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::AlreadyExists { .. } | Error::FailedPrecondition(_) | Error::Aborted(_) => StatusCode::CONFLICT,
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
            Error::ResourceExhausted(_) | Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                return Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log");
            }
        };
        let existing_id = match &err {
            Error::AlreadyExists { existing_id, .. } => Some(existing_id.clone()),
            _ => None,
        };
        let message = match &err {
            // Memtrace's text, which clients may match on.
            Error::AlreadyExists { what: "memory", existing_id } => format!("duplicate memory: {existing_id}"),
            _ => err.to_string(),
        };
        let retry_after = match &err {
            Error::RateLimited { retry_after, .. } => Some(retry_after.as_secs_f64().ceil().max(1.0) as u64),
            _ => None,
        };
        Self { status, message, existing_id, retry_after }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(id) = self.existing_id {
            body["existing_id"] = serde_json::Value::String(id);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

pub type RestResult<T> = Result<T, RestError>;

/// Every item of a paged listing, fetching pages of 1,000 until the last: the Memtrace list
/// routes of agents and sessions return whole collections.
pub(crate) async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, Error>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<engram_core::Page<T>, Error>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let page = fetch(PageRequest { size: 1000, token }).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => token = cursor.encode(),
            None => return Ok(items),
        }
    }
}

/// The caller, from `x-api-key` or `authorization: Bearer`.
pub struct Caller(pub Principal);

impl FromRequestParts<RestState> for Caller {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &RestState) -> Result<Self, Self::Rejection> {
        // Set only by the server itself (an MCP tool call, authenticated at `/mcp`); a client
        // cannot put it there.
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Caller(principal.clone()));
        }
        Ok(Caller(state.auth.authenticate(&parts.headers).await?))
    }
}

/// Whether a body could not be read because it stalled past the body timeout.
fn stalled(rejection: &axum::extract::rejection::BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// A JSON body whose errors are `{"error": ...}`: 400 naming the field for bad JSON, 413 when too
/// large, 415 without a JSON content type. An empty body is the type's default.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<RestState> for Body<T> {
    type Rejection = RestError;

    async fn from_request(request: Request, state: &RestState) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .map(|mime| mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")));
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                RestError::new(status, "request body is larger than the 4 MiB limit")
            } else if stalled(&rejection) {
                RestError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body stalled (see --body-timeout); send it again",
                )
            } else {
                RestError::new(StatusCode::BAD_REQUEST, rejection.body_text())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(T::default()));
        }
        // A body is JSON only when it says so: `text/plain` or no content type is refused rather
        // than guessed (an empty body needs none).
        if json != Some(true) {
            return Err(RestError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type: a request body must be sent as application/json",
            ));
        }
        decode_json(&bytes).map(Body)
    }
}

/// A JSON body as `T`: 400 naming the field for bad JSON.
pub(crate) fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RestError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let field = if path == "." || path.is_empty() { "body".to_owned() } else { path };
        RestError::new(StatusCode::BAD_REQUEST, format!("{field}: {inner}"))
    })
}

/// Deserializes a JSON value; the error names the field under `prefix` (e.g. `memories[2].tags`).
pub fn from_json<T: DeserializeOwned>(prefix: &str, value: serde_json::Value) -> Result<T, RestError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let field = match path.as_str() {
            "." | "" => prefix.to_owned(),
            p if p.starts_with('[') => format!("{prefix}{p}"),
            p => format!("{prefix}.{p}"),
        };
        RestError::new(StatusCode::BAD_REQUEST, format!("{field}: {inner}"))
    })
}

/// Query parameters; every value is text, parsed by the handler so errors name the parameter.
pub struct Params(pub std::collections::HashMap<String, String>);

impl FromRequestParts<RestState> for Params {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, _: &RestState) -> Result<Self, Self::Rejection> {
        Params::parse(parts.uri.query().unwrap_or_default())
    }
}

impl Params {
    /// The parameters of a query string (without the `?`).
    pub fn parse(query: &str) -> Result<Self, RestError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| RestError::new(StatusCode::BAD_REQUEST, format!("query: {e}")))?;
        Ok(Params(pairs.into_iter().collect()))
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|s| !s.is_empty())
    }

    pub fn number<N: std::str::FromStr>(&self, name: &str) -> Result<Option<N>, Error> {
        self.text(name)
            .map(|v| v.trim().parse().map_err(|_| Error::invalid(name, format!("{v:?} is not a valid number"))))
            .transpose()
    }
}
