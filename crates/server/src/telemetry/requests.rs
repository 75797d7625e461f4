//! The server span and the request metrics of every call on the port (gRPC, REST, MCP), an axum
//! middleware outside every other layer, so shed and refused calls are counted too.
//!
//! - The span `request` is named after the method (`engram.v1.MemoryService/AddMemory`, or
//!   `POST /api/v1/memories/{id}` with the route's template), continues the caller's trace from a
//!   W3C `traceparent` header (gRPC metadata is HTTP/2 headers), and records the org and agent its
//!   domain operation worked for (`fields`) and the status code when the response ends.
//! - `engram.request.duration{method, code}` is recorded when the response's body ends (a gRPC
//!   status usually comes in the trailers), so it covers streaming the answer; a call whose
//!   client went away before the end is recorded with code `CANCELLED` (gRPC) or `499` (HTTP).
//!
//! Method labels are bounded: gRPC methods not served here are `unknown`, REST paths without a
//! route `unmatched`, non-standard HTTP methods `_OTHER`.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use opentelemetry::KeyValue;
use opentelemetry::propagation::Extractor;
use prost::Message as _;
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::fields::{self, RequestFields};
use super::metrics::{Metrics, metrics};

/// The middleware's state: the gRPC methods served here, and whether metrics carry the org.
#[derive(Clone)]
pub struct Observer {
    methods: Arc<HashSet<String>>,
    org_label: bool,
}

impl Observer {
    /// `descriptor_sets`: the encoded file descriptor sets of the services on the port; `more`:
    /// other methods served (`package.Service/Method`).
    pub fn new(descriptor_sets: &[&[u8]], more: &[&str], org_label: bool) -> Self {
        let mut methods: HashSet<String> = more.iter().map(|m| (*m).to_owned()).collect();
        for bytes in descriptor_sets {
            let Ok(set) = prost_types::FileDescriptorSet::decode(*bytes) else { continue };
            for file in set.file {
                for service in &file.service {
                    for method in &service.method {
                        methods.insert(format!("{}.{}/{}", file.package(), service.name(), method.name()));
                    }
                }
            }
        }
        Self { methods: Arc::new(methods), org_label }
    }

    fn grpc_method(&self, path: &str) -> String {
        let method = path.trim_start_matches('/');
        if self.methods.contains(method) { method.to_owned() } else { "unknown".to_owned() }
    }
}

fn http_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "_OTHER",
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

pub async fn observe(State(observer): State<Observer>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let grpc = crate::grpc::framing::is_grpc(request.headers());
    let (method, span) = if grpc {
        let method = observer.grpc_method(request.uri().path());
        let span = tracing::info_span!(
            "request",
            otel.name = %method,
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.method = %method,
            rpc.grpc.status_code = Empty,
            org = Empty,
            agent = Empty,
        );
        (method, span)
    } else {
        let verb = http_method(request.method());
        let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
        let method = format!("{verb} {route}");
        let span = tracing::info_span!(
            "request",
            otel.name = %method,
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = verb,
            http.route = route,
            http.response.status_code = Empty,
            org = Empty,
            agent = Empty,
        );
        (method, span)
    };
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(request.headers())));
    let _ = span.set_parent(parent);
    let fields = Arc::new(RequestFields::default());
    fields::attach(&span, fields.clone());
    let metrics = metrics();
    metrics.active.add(1, &[]);
    let response = next.run(request).instrument(span.clone()).await;
    let mut finish = Finish { span, started, method, grpc, fields, observer, metrics, code: None };
    if grpc {
        // Trailers-only answers (errors, shed calls) carry the status in the headers.
        finish.code = response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).map(grpc_code);
    } else {
        finish.code = Some(response.status().as_u16().to_string());
    }
    response.map(|body| Body::new(Observed { inner: body, finish: Some(finish) }))
}

/// The canonical name of a gRPC status code (`grpc-status` value).
fn grpc_code(value: &str) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    value.trim().parse::<usize>().ok().and_then(|n| NAMES.get(n)).map_or("UNKNOWN", |name| name).to_owned()
}

/// Whether a code is the server's fault (the span's status is then an error), per the
/// OpenTelemetry conventions for gRPC and HTTP servers.
fn server_fault(grpc: bool, code: &str) -> bool {
    if grpc {
        matches!(code, "UNKNOWN" | "DEADLINE_EXCEEDED" | "UNIMPLEMENTED" | "INTERNAL" | "UNAVAILABLE" | "DATA_LOSS")
    } else {
        code.starts_with('5')
    }
}

/// Records the span's last fields and the metrics once, when the response's body ends or is
/// dropped.
struct Finish {
    span: tracing::Span,
    started: Instant,
    method: String,
    grpc: bool,
    fields: Arc<RequestFields>,
    observer: Observer,
    metrics: &'static Metrics,
    code: Option<String>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let code = self.code.take().unwrap_or_else(|| if self.grpc { "CANCELLED".into() } else { "499".into() });
        let status_field = if self.grpc { "rpc.grpc.status_code" } else { "http.response.status_code" };
        self.span.record(status_field, code.as_str());
        if server_fault(self.grpc, &code) {
            self.span.record("otel.status_code", "ERROR");
        }
        let org = self.fields.org.get();
        if let Some(org) = org {
            self.span.record("org", org.as_str());
        }
        if let Some(agent) = self.fields.agent.get() {
            self.span.record("agent", agent.as_str());
        }
        let mut labels = vec![KeyValue::new("method", self.method.clone()), KeyValue::new("code", code)];
        if self.observer.org_label {
            labels.push(KeyValue::new("org", org.cloned().unwrap_or_default()));
        }
        self.metrics.requests.record(self.started.elapsed().as_secs_f64(), &labels);
        self.metrics.active.add(-1, &[]);
    }
}

/// A response body that reports its end (and a gRPC status in its trailers) to [`Finish`].
struct Observed {
    inner: Body,
    finish: Option<Finish>,
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(trailers), Some(finish)) = (frame.trailers_ref(), self.finish.as_mut())
                    && finish.grpc
                    && let Some(status) = trailers.get("grpc-status").and_then(|v| v.to_str().ok())
                {
                    finish.code = Some(grpc_code(status));
                }
            }
            Poll::Ready(None) => self.finish = None,
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_have_their_canonical_names() {
        assert_eq!(grpc_code("0"), "OK");
        assert_eq!(grpc_code("3"), "INVALID_ARGUMENT");
        assert_eq!(grpc_code("16"), "UNAUTHENTICATED");
        assert_eq!(grpc_code("99"), "UNKNOWN");
        assert_eq!(grpc_code("x"), "UNKNOWN");
    }

    #[test]
    fn methods_come_from_the_descriptor_sets() {
        let observer = Observer::new(&[engram_proto::FILE_DESCRIPTOR_SET], &[], false);
        assert_eq!(observer.grpc_method("/engram.v1.MemoryService/AddMemory"), "engram.v1.MemoryService/AddMemory");
        assert_eq!(observer.grpc_method("/engram.v1.MemoryService/Nope"), "unknown");
        assert_eq!(observer.grpc_method("/attacker.chosen/Path"), "unknown");
    }
}
