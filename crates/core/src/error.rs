//! The one error type of the domain. Each surface maps it to its own codes in one place.

/// A domain error. Messages are meant for API clients: they name the field and the rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Bad input: `field` names the offending field (e.g. `memories[3].tags[0]`).
    #[error("{field}: {rule}")]
    InvalidArgument { field: String, rule: String },
    /// Bad input in item `index` of a batch (e.g. `session_id` of the fourth memory). Surfaces
    /// name it in their own terms with [`Error::in_batch`] / [`Error::in_single`].
    #[error("item {index}: {field}: {rule}")]
    InvalidItem { index: usize, field: String, rule: String },
    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },
    /// A duplicate; `existing_id` is the id of what already exists.
    #[error("{what} already exists: {existing_id}")]
    AlreadyExists { what: &'static str, existing_id: String },
    #[error("{0}")]
    FailedPrecondition(String),
    /// A write based on a stale read (an optimistic-concurrency version that moved on): read
    /// again and retry. gRPC ABORTED, HTTP 409.
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// A quota is used up (e.g. an org's stored memories): not retryable as is.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A rate limit: `subject` (an API key or an org) spent its burst; a call may succeed after
    /// `retry_after`. gRPC RESOURCE_EXHAUSTED with `retry-after` metadata, HTTP 429 with
    /// `Retry-After`.
    #[error("rate limit of {subject} exceeded ({rate}/s, burst {burst}); retry after {:.2} s", retry_after.as_secs_f64())]
    RateLimited { subject: String, rate: f64, burst: u32, retry_after: std::time::Duration },
    /// Unavailable: the store does not answer (yet). Safe to retry.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or a storage failure. The message is logged, clients see a generic text.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), rule: rule.into() }
    }

    pub fn invalid_item(index: usize, field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::InvalidItem { index, field: field.into(), rule: rule.into() }
    }

    /// An item error as a field of the batch `name` (`memories[3].session_id`).
    pub fn in_batch(self, name: &str) -> Self {
        match self {
            Self::InvalidItem { index, field, rule } => {
                Self::InvalidArgument { field: format!("{name}[{index}].{field}"), rule }
            }
            other => other,
        }
    }

    /// An item error of a request that holds one item called `name` (`memory.session_id`).
    pub fn in_single(self, name: &str) -> Self {
        match self {
            Self::InvalidItem { field, rule, .. } => Self::InvalidArgument { field: format!("{name}.{field}"), rule },
            other => other,
        }
    }

    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { what, id: id.into() }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}
