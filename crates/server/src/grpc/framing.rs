//! Requests that never reach a service: the one place where a gRPC request that is not a
//! decodable message of its method is answered, for every service on the port (engram.v1, health,
//! reflection, and any added later), as the client's fault.
//!
//! - A request whose `content-type` is not `application/grpc…` (a JSON body, an HTTP/1.1 GET on
//!   a gRPC path) gets HTTP 415, as the gRPC-over-HTTP/2 spec asks.
//! - tonic answers INTERNAL when a request does not decode (truncated protobuf, a bad wire type,
//!   invalid UTF-8 in a string, a `google.protobuf.Struct` nested past the decoder's limit), has no
//!   message, ends inside a message, or carries an invalid compressed-flag; and OUT_OF_RANGE for a
//!   message over the size limit. These become INVALID_ARGUMENT with a short message, and
//!   RESOURCE_EXHAUSTED for the size. gRPC's status table lists INTERNAL for "error parsing
//!   request proto": Engram deviates on purpose, because the fault is the client's, and INTERNAL
//!   stays for faults of the server itself (README, "Validation").
//!
//! tonic's texts are matched by prefix; `tests/tests/validation.rs` sends each kind of bad frame
//! to the real binary, so a tonic upgrade that changes one fails there.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tonic::{Code, Status};

/// Whether a request's content type is gRPC's (`application/grpc…`).
pub fn is_grpc(headers: &axum::http::HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/grpc"))
}

/// HTTP 415 for a request on a gRPC route whose content type is not gRPC's.
pub async fn require_grpc_content_type(request: Request, next: Next) -> Response {
    if is_grpc(request.headers()) {
        return next.run(request).await;
    }
    let mut response = (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "this is a gRPC method: send content-type application/grpc over HTTP/2 (the REST API is under /api/v1)\n",
    )
        .into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Rewrites tonic's answers to undecodable requests (see the module documentation).
pub async fn client_faults(mut response: Response) -> Response {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let Some(mapped) = client_fault(&status) else {
        return response;
    };
    let headers = response.headers_mut();
    headers.remove("grpc-status");
    headers.remove("grpc-message");
    headers.remove("grpc-status-details-bin");
    if let Err(err) = mapped.add_header(headers) {
        tracing::warn!(error = %err, "cannot rewrite a gRPC status");
    }
    response
}

/// The status a client's framing or decoding fault should get, if `status` is one of tonic's.
fn client_fault(status: &Status) -> Option<Status> {
    let message = status.message();
    match status.code() {
        Code::Internal if message.starts_with("failed to decode Protobuf message") => {
            Some(Status::invalid_argument(format!("the request message does not decode: {}", detail(message))))
        }
        Code::Internal if message.starts_with("Missing request message") => {
            Some(Status::invalid_argument("the request carries no message"))
        }
        Code::Internal if message.starts_with("Unexpected EOF decoding stream") => Some(Status::invalid_argument(
            "the request ends inside a message: its length prefix promises more bytes than were sent",
        )),
        Code::Internal if message.starts_with("protocol error:") || message.starts_with("Error decompressing") => {
            Some(Status::invalid_argument(format!("malformed gRPC frame: {message}")))
        }
        Code::OutOfRange if message.starts_with("Error, decoded message length too large") => {
            Some(Status::resource_exhausted(format!("the request message is too large: {}", detail(message))))
        }
        _ => None,
    }
}

/// The part of tonic's message after its first `: `, or all of it.
fn detail(message: &str) -> &str {
    message.split_once(": ").map_or(message, |(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_decode_and_framing_errors_are_the_clients_fault() {
        let cases = [
            (Status::internal("failed to decode Protobuf message: invalid wire type value: 7"), Code::InvalidArgument),
            (Status::internal("Missing request message."), Code::InvalidArgument),
            (Status::internal("Unexpected EOF decoding stream."), Code::InvalidArgument),
            (
                Status::internal(
                    "protocol error: received message with invalid compression flag: 123 (valid flags are 0 and 1), while sending request",
                ),
                Code::InvalidArgument,
            ),
            (
                Status::out_of_range(
                    "Error, decoded message length too large: found 5242895 bytes, the limit is: 4194304 bytes",
                ),
                Code::ResourceExhausted,
            ),
        ];
        for (status, code) in cases {
            assert_eq!(client_fault(&status).map(|s| s.code()), Some(code), "{status:?}");
        }
        assert!(client_fault(&Status::internal("internal error; see the server log")).is_none());
        assert!(client_fault(&Status::out_of_range("offset: past the end")).is_none());
    }
}
