//! The store's metrics, recorded through the OpenTelemetry API only: the server installs the SDK
//! and its exporters (`/metrics`, OTLP); without one every instrument is a no-op. A leaf.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::global;
use opentelemetry::metrics::{Histogram, ObservableGauge};

/// Latency buckets (seconds) of the store's histograms: 100 µs to 10 s.
const LATENCY_BOUNDS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Jobs per group commit.
const GROUP_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The writer's queue: jobs submitted and not yet taken into a group.
#[derive(Clone, Default)]
pub(crate) struct Queued(Arc<AtomicI64>);

impl Queued {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn taken(&self, jobs: usize) {
        self.0.fetch_sub(jobs as i64, Ordering::Relaxed);
    }

    fn weak(&self) -> Weak<AtomicI64> {
        Arc::downgrade(&self.0)
    }
}

/// The instruments of one store.
#[derive(Clone)]
pub(crate) struct StoreMetrics {
    reads: Histogram<f64>,
    commits: Histogram<f64>,
    groups: Histogram<u64>,
    _queue: ObservableGauge<i64>,
}

impl StoreMetrics {
    pub(crate) fn new(queued: &Queued) -> Self {
        let meter = global::meter("engram-store");
        let weak = queued.weak();
        Self {
            reads: meter
                .f64_histogram("engram.store.read.duration")
                .with_unit("s")
                .with_description(
                    "Store read operations: from the call to the answer (waiting for a connection included)",
                )
                .with_boundaries(LATENCY_BOUNDS.to_vec())
                .build(),
            commits: meter
                .f64_histogram("engram.store.commit.duration")
                .with_unit("s")
                .with_description("Group commits: the write transaction of one group, from BEGIN to COMMIT")
                .with_boundaries(LATENCY_BOUNDS.to_vec())
                .build(),
            groups: meter
                .u64_histogram("engram.store.commit.jobs")
                .with_description("Write jobs per group commit (one fsync each)")
                .with_boundaries(GROUP_BOUNDS.to_vec())
                .build(),
            _queue: meter
                .i64_observable_gauge("engram.store.writer.queue")
                .with_description("Write jobs waiting for the group-commit writer")
                .with_callback(move |observer| {
                    if let Some(queued) = weak.upgrade() {
                        observer.observe(queued.load(Ordering::Relaxed), &[]);
                    }
                })
                .build(),
        }
    }

    pub(crate) fn read(&self, took: Duration) {
        self.reads.record(took.as_secs_f64(), &[]);
    }

    pub(crate) fn commit(&self, jobs: usize, took: Duration) {
        self.groups.record(jobs as u64, &[]);
        self.commits.record(took.as_secs_f64(), &[]);
    }
}
