//! Span structure and trace propagation, in process: `serve()` on 127.0.0.1:0 and a real SQLite
//! store, with an in-memory span exporter (opentelemetry_sdk's `testing`) behind the same layers
//! the binary installs.

use std::time::Duration;

use clap::Parser as _;
use opentelemetry::trace::{SpanKind, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

use engram_server::cli::{Cli, Command};
use engram_server::telemetry::{fields::RequestFieldsLayer, span_targets};

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

#[tokio::test]
async fn every_call_is_a_server_span_in_the_callers_trace_with_its_operation_below() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let subscriber = tracing_subscriber::registry()
        .with(RequestFieldsLayer)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")).with_filter(span_targets()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let cli = Cli::try_parse_from(["engram", "serve", "--data-dir", data_dir, "--index-dir", "memory"]).unwrap();
    let Command::Serve(args) = cli.command else { unreachable!("parsed serve") };
    let config = args.config().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        engram_server::server::serve(&config, listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if http.get(format!("{base}/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the server did not become ready");
    let key = std::fs::read_to_string(dir.path().join("admin.key")).unwrap().trim().to_owned();

    // A REST call in the caller's trace (W3C traceparent header).
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let parent_id = "b7ad6b7169203331";
    let created = http
        .post(format!("{base}/api/v1/memories"))
        .header("x-api-key", &key)
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .json(&serde_json::json!({"agent_id": "spanner", "content": "a traced memory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201, "{:?}", created.text().await);
    // A call without one starts its own trace; a refused one is still a span, with its status.
    let refused = http.get(format!("{base}/api/v1/agents")).header("x-api-key", "wrong").send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();

    let request = spans
        .iter()
        .find(|s| s.name == "POST /api/v1/memories")
        .unwrap_or_else(|| panic!("no server span of the REST call among {:?}", names(&spans)));
    assert_eq!(request.span_kind, SpanKind::Server);
    assert_eq!(request.span_context.trace_id(), TraceId::from_hex(trace_id).unwrap());
    assert_eq!(format!("{}", request.parent_span_id), parent_id);
    assert_eq!(attribute(request, "http.route").as_deref(), Some("/api/v1/memories"));
    assert_eq!(attribute(request, "http.response.status_code").as_deref(), Some("201"));
    assert_eq!(attribute(request, "org").as_deref(), Some("org_default"));
    assert_eq!(attribute(request, "agent").as_deref(), Some("spanner"));

    let operation = spans
        .iter()
        .find(|s| s.name == "add_memory")
        .unwrap_or_else(|| panic!("no domain operation span among {:?}", names(&spans)));
    assert_eq!(operation.parent_span_id, request.span_context.span_id(), "the operation is the request's child");
    assert_eq!(operation.span_context.trace_id(), request.span_context.trace_id());
    assert!(
        spans.iter().any(|s| s.name == "store.write" && s.parent_span_id == operation.span_context.span_id()),
        "the store write is the operation's child: {:?}",
        names(&spans)
    );

    let denied = spans
        .iter()
        .find(|s| s.name == "GET /api/v1/agents")
        .unwrap_or_else(|| panic!("no span of the refused call among {:?}", names(&spans)));
    assert_ne!(denied.span_context.trace_id(), request.span_context.trace_id(), "a new trace");
    assert_eq!(attribute(denied, "http.response.status_code").as_deref(), Some("401"));
    assert_eq!(attribute(denied, "org"), None, "no org before authentication");
}

fn names(spans: &[SpanData]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_ref()).collect()
}
