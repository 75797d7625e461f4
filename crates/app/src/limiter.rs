//! The state behind operators' limits (see `limits`): the server's defaults, the limits read from
//! the store per subject, and a token bucket per subject. A leaf.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use engram_core::quota::{SubjectLimits, TokenBucket};

/// The server's defaults, for subjects without limits of their own.
#[derive(Debug, Clone, Copy)]
pub struct LimitDefaults {
    pub key: SubjectLimits,
    pub org: SubjectLimits,
    /// How long limits read from the store are used before they are read again.
    pub refresh: Duration,
}

impl Default for LimitDefaults {
    fn default() -> Self {
        Self { key: SubjectLimits::default(), org: SubjectLimits::default(), refresh: Duration::from_secs(5) }
    }
}

#[derive(Default)]
pub(crate) struct Limiter {
    pub(crate) defaults: LimitDefaults,
    /// Limits stored per subject (empty when none), and when they were read.
    pub(crate) stored: Mutex<HashMap<String, (Instant, SubjectLimits)>>,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl Limiter {
    pub(crate) fn new(defaults: LimitDefaults) -> Self {
        Self { defaults, ..Self::default() }
    }

    /// Takes a token of `subject`'s bucket (made, or remade when its limits changed).
    pub(crate) fn take(&self, subject: &str, (rate, burst): (f64, u32), now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(subject.to_owned()).or_insert_with(|| TokenBucket::new(rate, burst, now));
        if bucket.rate != rate || bucket.burst != burst {
            *bucket = TokenBucket::new(rate, burst, now);
        }
        bucket.take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_gets_a_new_full_bucket_when_its_limits_change() {
        let limiter = Limiter::default();
        let now = Instant::now();
        assert!(limiter.take("key_a", (1.0, 1), now).is_ok());
        assert!(limiter.take("key_a", (1.0, 1), now).is_err());
        assert!(limiter.take("key_b", (1.0, 1), now).is_ok(), "buckets are per subject");
        assert!(limiter.take("key_a", (1.0, 2), now).is_ok(), "a new burst: a new, full bucket");
        assert!(limiter.take("key_a", (1.0, 2), now).is_ok());
        assert!(limiter.take("key_a", (1.0, 2), now).is_err());
    }
}
