//! gRPC adapters: one thin adapter per engram.v1 service. Each method takes the principal,
//! converts the request, calls [`engram_app::Engram`] and converts the result or the error.

use tonic::{Request, Status};

use engram_core::{Error, Principal};

pub mod admin;
pub mod agents;
pub mod context;
pub mod conversations;
pub mod convert;
pub mod deadline;
pub mod erasure;
pub mod framing;
pub mod lifecycle;
pub mod memories;
pub mod sessions;
pub mod simulation;
pub mod watch;
pub mod working_memory;

/// Metadata key carrying the id of the memory a duplicate duplicates.
pub const EXISTING_ID_KEY: &str = "x-engram-existing-id";
/// Metadata of a rate-limited call: whole seconds until a retry may succeed.
pub const RETRY_AFTER_KEY: &str = "retry-after";

/// The one mapping from domain errors to gRPC status codes.
pub fn status(err: Error) -> Status {
    match err {
        Error::InvalidArgument { .. } | Error::InvalidItem { .. } => Status::invalid_argument(err.to_string()),
        Error::NotFound { .. } => Status::not_found(err.to_string()),
        Error::AlreadyExists { ref existing_id, .. } => {
            let mut status = Status::already_exists(err.to_string());
            if let Ok(value) = existing_id.parse() {
                status.metadata_mut().insert(EXISTING_ID_KEY, value);
            }
            status
        }
        Error::FailedPrecondition(message) => Status::failed_precondition(message),
        Error::Aborted(message) => Status::aborted(message),
        Error::Unauthenticated(message) => Status::unauthenticated(message),
        Error::PermissionDenied(message) => Status::permission_denied(message),
        Error::ResourceExhausted(message) => Status::resource_exhausted(message),
        Error::RateLimited { ref retry_after, .. } => {
            // Whole seconds, as HTTP's Retry-After (at least 1).
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut status = Status::resource_exhausted(err.to_string());
            status.metadata_mut().insert(RETRY_AFTER_KEY, seconds.into());
            status
        }
        Error::Unavailable(message) => Status::unavailable(message),
        Error::Internal(cause) => {
            tracing::error!(%cause, "internal error");
            Status::internal("internal error; see the server log")
        }
    }
}

/// The caller, as the auth layer resolved it.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing API key: send it in x-api-key or authorization: Bearer"))
}
