//! The process's metrics: one OpenTelemetry meter provider, read by the Prometheus exporter
//! behind `/metrics` (always) and by a periodic OTLP exporter (when asked). Request metrics are
//! recorded by `requests`; the store records its own through the OpenTelemetry API; the app's
//! caches and queues are observed here when scraped, the slower store counts (memories per tier,
//! the embedding queue) refreshed by a task every [`REFRESH`].
//!
//! Labels never carry tenant data unless the operator asks (`--metrics-org-label`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter, MeterProvider as _, UpDownCounter};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder as _, TextEncoder};

use engram_app::Engram;

/// How often the store counts behind the gauges are read again.
pub const REFRESH: Duration = Duration::from_secs(15);

/// Request latency buckets (seconds): 250 µs to 30 s.
const REQUEST_BOUNDS: &[f64] =
    &[0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The service's resource: `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` as the SDK reads
/// them, `engram` when no name is set.
pub fn resource() -> opentelemetry_sdk::Resource {
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    let builder = opentelemetry_sdk::Resource::builder();
    if named { builder.build() } else { builder.with_service_name("engram").build() }
}

/// The instruments `requests` records into, and the registry `/metrics` renders.
pub struct Metrics {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
    pub(crate) requests: Histogram<f64>,
    pub(crate) active: UpDownCounter<i64>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics, installed on first use (the global meter provider included, so the
/// store's instruments, made when it connects, record into it).
pub fn metrics() -> &'static Metrics {
    METRICS.get_or_init(|| install(None))
}

/// Adds the OTLP exporter (`OTEL_EXPORTER_OTLP_*`); must run before anything uses [`metrics`].
pub fn export_otlp() -> anyhow::Result<()> {
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .build()
        .context("the OTLP metric exporter (OTEL_EXPORTER_OTLP_*)")?;
    METRICS.set(install(Some(exporter))).map_err(|_| anyhow::anyhow!("metrics were installed before their exporter"))
}

/// Flushes the OTLP exporter, if any.
pub fn shutdown() {
    if let Some(metrics) = METRICS.get()
        && let Err(err) = metrics.provider.shutdown()
    {
        tracing::debug!(error = %err, "stopping the meter provider");
    }
}

fn install(otlp: Option<opentelemetry_otlp::MetricExporter>) -> Metrics {
    let registry = prometheus::Registry::new();
    let mut builder = SdkMeterProvider::builder().with_resource(resource());
    // A fresh registry cannot hold a clashing collector, so this does not fail in practice; if it
    // did, metrics would still go to OTLP and /metrics would be empty.
    match opentelemetry_prometheus::exporter().with_registry(registry.clone()).without_target_info().build() {
        Ok(exporter) => builder = builder.with_reader(exporter),
        Err(err) => tracing::error!(error = %err, "the Prometheus exporter: /metrics stays empty"),
    }
    if let Some(exporter) = otlp {
        builder = builder.with_periodic_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_meter_provider(provider.clone());
    let meter = provider.meter("engram");
    observe_app(&meter);
    Metrics {
        registry,
        requests: meter
            .f64_histogram("engram.request.duration")
            .with_unit("s")
            .with_description("RPC and REST calls by method and code: from the request's arrival to its response's end")
            .with_boundaries(REQUEST_BOUNDS.to_vec())
            .build(),
        active: meter
            .i64_up_down_counter("engram.requests.active")
            .with_description("Calls being worked on (load shedding caps them at --max-concurrent-requests)")
            .build(),
        provider,
    }
}

impl Metrics {
    /// The Prometheus text of every instrument.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }
}

/// `GET /metrics`: unauthenticated, like `/health` (it carries no tenant data unless the operator
/// enabled the org label).
pub async fn endpoint() -> Response {
    match metrics().render() {
        Ok(text) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], text)
                .into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "rendering /metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render the metrics; see the server log").into_response()
        }
    }
}

/// What the app's gauges read: the serving app (its caches), and the store counts the refresh
/// task keeps.
#[derive(Default)]
struct Observed {
    app: Mutex<Option<Engram>>,
    pending_embeddings: AtomicU64,
    tiers: [AtomicU64; 3],
}

static OBSERVED: OnceLock<Arc<Observed>> = OnceLock::new();

fn observed() -> &'static Arc<Observed> {
    OBSERVED.get_or_init(Arc::default)
}

fn observe_app(meter: &Meter) {
    let hits = meter
        .u64_observable_counter("engram.cache.hits")
        .with_description(
            "Reads answered by an in-process cache (window: conversation windows; hot: hot-tier memories)",
        )
        .with_callback(|observer| {
            if let Some(app) = observed().app.lock().ok().and_then(|a| a.clone()) {
                observer.observe(app.window_cache_stats().hits, &[KeyValue::new("cache", "window")]);
                if let Some(hot) = app.hot_cache_stats() {
                    observer.observe(hot.hits, &[KeyValue::new("cache", "hot")]);
                }
            }
        })
        .build();
    let misses = meter
        .u64_observable_counter("engram.cache.misses")
        .with_description("Reads an in-process cache could not answer")
        .with_callback(|observer| {
            if let Some(app) = observed().app.lock().ok().and_then(|a| a.clone()) {
                observer.observe(app.window_cache_stats().misses, &[KeyValue::new("cache", "window")]);
                if let Some(hot) = app.hot_cache_stats() {
                    observer.observe(hot.misses, &[KeyValue::new("cache", "hot")]);
                }
            }
        })
        .build();
    let queue = meter
        .u64_observable_gauge("engram.embedding.queue")
        .with_description("Memories waiting for the server's embedder (every org; refreshed every 15 s)")
        .with_callback(|observer| observer.observe(observed().pending_embeddings.load(Ordering::Relaxed), &[]))
        .build();
    let tiers = meter
        .u64_observable_gauge("engram.memories")
        .with_description("Live memories per tier (every org; refreshed every 15 s)")
        .with_callback(|observer| {
            for (i, tier) in ["hot", "warm", "cold"].into_iter().enumerate() {
                observer.observe(observed().tiers[i].load(Ordering::Relaxed), &[KeyValue::new("tier", tier)]);
            }
        })
        .build();
    // The callbacks stay registered with the provider; the handles are not needed.
    let _ = (hits, misses, queue, tiers);
}

/// Serves the app's gauges until the returned task is aborted: caches at scrape time, store
/// counts every [`REFRESH`].
pub fn watch_app(app: Engram) -> tokio::task::JoinHandle<()> {
    let _ = metrics();
    if let Ok(mut current) = observed().app.lock() {
        *current = Some(app.clone());
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(REFRESH);
        loop {
            every.tick().await;
            if let Err(err) = refresh(&app).await {
                tracing::debug!(error = %err, "refreshing the store gauges");
            }
        }
    })
}

async fn refresh(app: &Engram) -> engram_core::Result<()> {
    let store = app.store();
    let pending = store.count_pending_embeddings().await?;
    observed().pending_embeddings.store(pending, Ordering::Relaxed);
    let mut tiers = [0u64; 3];
    for org in store.list_orgs().await? {
        let counts = store.tier_statistics(&org.id).await?.tiers;
        tiers[0] += counts.hot;
        tiers[1] += counts.warm;
        tiers[2] += counts.cold;
    }
    for (slot, count) in observed().tiers.iter().zip(tiers) {
        slot.store(count, Ordering::Relaxed);
    }
    Ok(())
}
