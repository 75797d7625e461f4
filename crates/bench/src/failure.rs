//! A failed request, as the gRPC and REST scenarios report it.

/// Why a request failed: `kind` keys the error counts (the gRPC code, the HTTP status, `transport`,
/// `timeout`...), `message` is kept for the first one of each kind.
#[derive(Debug)]
pub struct Failure {
    pub kind: String,
    pub message: String,
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Failure { kind: format!("{:?}", status.code()), message: status.message().to_owned() }
    }
}
