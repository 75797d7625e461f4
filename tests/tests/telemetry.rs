//! Traces and metrics leave the real binary over OTLP: a stand-in collector (the OTLP trace and
//! metrics services of `opentelemetry-proto`, served by tonic on loopback) must receive the
//! server span of a real gRPC call, in the caller's trace, with its children, and the request
//! metric of that call.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use engram_tests::{Server, memory, pb};

#[derive(Clone, Default)]
struct Collector {
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

fn string(value: &Option<AnyValue>) -> Option<&str> {
    match value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| string(&kv.value))
}

impl Collector {
    /// Every span received, with its resource's service name.
    fn spans(&self) -> Vec<(String, Span)> {
        let mut spans = Vec::new();
        for request in self.traces.lock().unwrap().iter() {
            for resource in &request.resource_spans {
                let service = resource
                    .resource
                    .as_ref()
                    .and_then(|r| attribute(&r.attributes, "service.name"))
                    .unwrap_or_default()
                    .to_owned();
                for scope in &resource.scope_spans {
                    spans.extend(scope.spans.iter().map(|s| (service.clone(), s.clone())));
                }
            }
        }
        spans
    }

    /// The request-duration data points' `method` labels received so far.
    fn request_methods(&self) -> Vec<String> {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        let mut methods = Vec::new();
        for request in self.metrics.lock().unwrap().iter() {
            for resource in &request.resource_metrics {
                for scope in &resource.scope_metrics {
                    for metric in scope.metrics.iter().filter(|m| m.name == "engram.request.duration") {
                        if let Some(Data::Histogram(h)) = &metric.data {
                            for point in &h.data_points {
                                if let Some(m) = attribute(&point.attributes, "method") {
                                    methods.push(m.to_owned());
                                }
                            }
                        }
                    }
                }
            }
        }
        methods
    }
}

#[tokio::test]
async fn spans_and_metrics_of_a_real_call_reach_an_otlp_collector() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let serving = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(serving.clone()))
            .add_service(MetricsServiceServer::new(serving))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let server = Server::start_with_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "engram-e2e"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ],
    );
    let mut clients = server.admin().await;

    // The caller's trace: W3C trace context in the gRPC metadata.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let mut request = tonic::Request::new(pb::AddMemoryRequest { memory: Some(memory("tracer", "traced write")) });
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-{parent_id}-01").parse().unwrap());
    let created = clients.memories.add_memory(request).await.unwrap().into_inner().memory.unwrap();

    let method = "engram.v1.MemoryService/AddMemory";
    let mut server_span = None;
    for _ in 0..100 {
        server_span = collector.spans().into_iter().find(|(_, s)| s.name == method);
        if server_span.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (service, span) = server_span.expect("the collector received no span of AddMemory within 10 s");
    assert_eq!(service, "engram-e2e");
    assert_eq!(hex(&span.trace_id), trace_id, "the server span continues the caller's trace");
    assert_eq!(hex(&span.parent_span_id), parent_id, "the caller's span is its parent");
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(attribute(&span.attributes, "rpc.system"), Some("grpc"));
    assert_eq!(attribute(&span.attributes, "rpc.grpc.status_code"), Some("OK"));
    assert_eq!(attribute(&span.attributes, "org"), Some("org_default"));
    // The agent as the caller named it.
    assert_eq!(attribute(&span.attributes, "agent"), Some("tracer"));
    assert!(created.agent_id.starts_with("agent_"));

    // Its children: the domain operation, and under it the store's write.
    let mut spans = collector.spans();
    for _ in 0..50 {
        if spans.iter().any(|(_, s)| s.name == "store.write" && hex(&s.trace_id) == trace_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        spans = collector.spans();
    }
    let operation = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "add_memory" && s.parent_span_id == span.span_id)
        .expect("the domain operation is a child of the server span");
    assert_eq!(hex(&operation.trace_id), trace_id);
    let store = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "store.write" && s.parent_span_id == operation.span_id)
        .expect("the store write is a child of the domain operation");
    assert_eq!(attribute(&store.attributes, "db.system"), Some("sqlite"));

    // The request metric of the same call, labelled by method.
    let mut methods = Vec::new();
    for _ in 0..100 {
        methods = collector.request_methods();
        if methods.iter().any(|m| m == method) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(methods.iter().any(|m| m == method), "no engram.request.duration point for {method}: {methods:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
