//! Client deadlines on every gRPC method: a request's `grpc-timeout` header (what a client's
//! deadline becomes on the wire) bounds how long the server works on it. When it passes, the
//! handler's future is dropped, so its domain operation stops at its next await (a store
//! statement already running on a store thread finishes, and its result is discarded), and the
//! client gets DEADLINE_EXCEEDED. A streaming method's deadline bounds the wait for its response
//! to start; the stream itself ends when the client cancels it.

use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tonic::Status;

/// The `grpc-timeout` value (`<at most 8 digits><unit>`, units H M S m u n); None when absent
/// or malformed (a malformed header is ignored, as gRPC implementations do).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Runs the request within its `grpc-timeout`, if it has one.
pub async fn enforce(request: Request, next: Next) -> Response {
    let timeout = request.headers().get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(parse_grpc_timeout);
    let Some(timeout) = timeout else { return next.run(request).await };
    let method = request.uri().path().to_owned();
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::debug!(method, timeout_ms = timeout.as_millis() as u64, "deadline exceeded");
            Status::deadline_exceeded(format!("the client's deadline ({timeout:?}) passed before {method} finished"))
                .into_http()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt as _;

    use super::*;

    /// A route that takes `work` before it answers, behind [`enforce`].
    fn slow(work: Duration) -> axum::Router {
        let handler = move || async move {
            tokio::time::sleep(work).await;
            "done"
        };
        axum::Router::new()
            .route("/engram.v1.Slow/Call", axum::routing::post(handler))
            .layer(axum::middleware::from_fn(enforce))
    }

    fn call(timeout: Option<&str>) -> Request {
        let mut request = Request::builder().method("POST").uri("/engram.v1.Slow/Call");
        if let Some(t) = timeout {
            request = request.header("grpc-timeout", t);
        }
        request.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn work_stops_when_the_deadline_passes() {
        let started = std::time::Instant::now();
        let response = slow(Duration::from_secs(5)).oneshot(call(Some("50m"))).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "answered at the deadline, not after the work");
        let status = Status::from_header_map(response.headers()).expect("a gRPC status in the headers");
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(status.message().contains("/engram.v1.Slow/Call"), "{}", status.message());

        // Within the deadline, or without one, or with a malformed one: the answer.
        for timeout in [Some("10S"), None, Some("soon")] {
            let response = slow(Duration::from_millis(20)).oneshot(call(timeout)).await.unwrap();
            assert!(Status::from_header_map(response.headers()).is_none(), "{timeout:?}");
            let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
            assert_eq!(&body[..], b"done");
        }
    }

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "S", "3", "3s", "123456789S", "-1S", "1.5S", " 3S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
