//! What the server reports about itself: log lines, traces and metrics, through one
//! OpenTelemetry family (0.33; `tracing-opentelemetry` bridges the `tracing` spans).
//!
//! - Logs: `tracing` to stderr (`--log-level`, `--log-format`), as before.
//! - Traces: every RPC and REST call is a server span (`requests`), the domain operations of
//!   `engram-app` and the store's reads and writes are its children, and a caller's W3C
//!   `traceparent` (gRPC metadata or HTTP header) is its parent. Spans leave the process only when
//!   the standard variables ask for OTLP ([`Exporters::from_env`]).
//! - Metrics (`metrics`): always on `/metrics` in the Prometheus text format, and over OTLP when
//!   asked. The store records its own through the OpenTelemetry API.
//!
//! `fields` lifts a request's org and agent, known only inside the domain operation, onto its
//! server span.

pub mod fields;
pub mod metrics;
pub mod requests;

use anyhow::{Context as _, bail};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, Registry};

/// Where spans and metrics go besides the logs and `/metrics`, from the standard
/// `OTEL_*` variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exporters {
    /// Spans over OTLP/gRPC.
    pub traces: bool,
    /// Metrics over OTLP/gRPC (besides `/metrics`).
    pub metrics: bool,
}

impl Exporters {
    /// The OpenTelemetry SDK's variables: `OTEL_SDK_DISABLED=true` turns everything off;
    /// `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` are `otlp` or `none` (unset: `otlp` when
    /// an OTLP endpoint is set, else none); `OTEL_EXPORTER_OTLP_ENDPOINT` (or the per-signal
    /// `..._TRACES_ENDPOINT` / `..._METRICS_ENDPOINT`), headers and timeout are read by the
    /// exporter itself; `OTEL_EXPORTER_OTLP_PROTOCOL` must be `grpc` when set.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(Self::default());
        }
        for name in
            ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"]
        {
            if let Some(protocol) = set(name)
                && protocol.trim() != "grpc"
            {
                bail!("{name}={protocol} is not supported: Engram exports OTLP over gRPC only (set grpc or unset it)");
            }
        }
        let endpoint = set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
        let choose = |exporter: &str, signal_endpoint: &str, others: &[&str]| -> anyhow::Result<bool> {
            match set(exporter).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(endpoint || set(signal_endpoint).is_some()),
                Some(v) if v == "otlp" => Ok(true),
                Some(v) if v == "none" || others.contains(&v.as_str()) => Ok(false),
                Some(v) => bail!("{exporter}={v} is not supported: use otlp or none"),
            }
        };
        Ok(Self {
            traces: choose("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &[])?,
            // `prometheus`: only the pull endpoint, which is always on.
            metrics: choose("OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &["prometheus"])?,
        })
    }
}

/// Spans of Engram's own crates that traces carry: requests, domain operations, store calls.
pub fn span_targets() -> Targets {
    Targets::new()
        .with_target("engram_server", tracing::Level::INFO)
        .with_target("engram_app", tracing::Level::INFO)
        .with_target("engram_store", tracing::Level::INFO)
        .with_target("engram_search", tracing::Level::INFO)
}

/// What `init` installed; `shutdown` flushes what is still buffered.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered, then stops the exporters (metrics included).
    pub fn shutdown(self) {
        if let Some(tracer) = self.tracer
            && let Err(err) = tracer.shutdown()
        {
            eprintln!("engram: flushing traces at exit: {err}");
        }
        metrics::shutdown();
    }
}

/// Installs the process's subscriber: log lines to stderr at `level` (an `EnvFilter`
/// directive), JSON or pretty; the request-fields layer; and, when `exporters.traces`, the
/// OpenTelemetry layer sending spans over OTLP. Also sets the W3C trace-context propagator and,
/// when `exporters.metrics`, the OTLP metrics exporter. Must run inside the Tokio runtime (the
/// OTLP exporters' gRPC channel).
pub fn init(level: &str, json: bool, exporters: &Exporters) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // sqlx logs every statement at info; keep it (and sea-orm) quiet unless asked.
    let directives = format!("{level},sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,tower=warn");
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json { fmt.json().boxed() } else { fmt.boxed() };
    let tracer = if exporters.traces {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .context("the OTLP span exporter (OTEL_EXPORTER_OTLP_*)")?;
        Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(metrics::resource()).build())
    } else {
        None
    };
    let otel = tracer.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("engram")).with_filter(span_targets())
    });
    if exporters.metrics {
        metrics::export_otlp()?;
    }
    Registry::default()
        .with(fmt.with_filter(filter))
        .with(fields::RequestFieldsLayer)
        .with(otel)
        .try_init()
        .context("installing the log subscriber")?;
    Ok(Telemetry { tracer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn exporters_follow_the_standard_variables() {
        assert_eq!(Exporters::from_env(env(&[])).unwrap(), Exporters::default());
        let all = Exporters { traces: true, metrics: true };
        assert_eq!(Exporters::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")])).unwrap(), all);
        assert_eq!(
            Exporters::from_env(env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317")])).unwrap(),
            Exporters { traces: true, metrics: false }
        );
        assert_eq!(
            Exporters::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_METRICS_EXPORTER", "none")]))
                .unwrap(),
            Exporters { traces: true, metrics: false }
        );
        assert_eq!(
            Exporters::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_SDK_DISABLED", "true")]))
                .unwrap(),
            Exporters::default()
        );
        let err = Exporters::from_env(env(&[("OTEL_TRACES_EXPORTER", "zipkin")])).unwrap_err().to_string();
        assert!(err.contains("OTEL_TRACES_EXPORTER=zipkin"), "{err}");
        let err =
            Exporters::from_env(env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")])).unwrap_err().to_string();
        assert!(err.contains("gRPC only"), "{err}");
    }
}
