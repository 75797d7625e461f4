//! Per-subject limits, set by operators: a token bucket's rate and burst for an API key or an
//! org (calls per second), and an org's quotas of stored memories and of their content bytes.
//! The bucket is the pure rule; `engram-app` keeps one per subject.

use std::time::{Duration, Instant};

use crate::{Error, Result};

/// The limits of one subject (an API key id `key_…` or an org id `org_…`); `None` leaves the
/// default of the server's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SubjectLimits {
    /// Calls per second, refilled continuously.
    pub rate_per_sec: Option<f64>,
    /// Calls that may come at once (the bucket's size); default: one second's worth, at least 1.
    pub burst: Option<u32>,
    /// Orgs only: live memories it may store.
    pub max_memories: Option<u64>,
    /// Orgs only: bytes of memory content (UTF-8, as written) its live memories may hold.
    pub max_memory_bytes: Option<u64>,
}

/// What an org stores, by its counters: memories (expired ones not yet deleted included) and
/// the UTF-8 bytes of their content. Metadata, tags, vectors and indexes are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub memories: u64,
    pub content_bytes: u64,
}

/// The largest rate and burst accepted (a bigger one is no limit: leave it unset).
pub const MAX_RATE: f64 = 1_000_000.0;

impl SubjectLimits {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// InvalidArgument naming the field: a rate is finite, > 0 and ≤ 10^6; a burst 1..=10^6
    /// and only with a rate; a memory or byte quota ≥ 1.
    pub fn validate(&self) -> Result<()> {
        if let Some(rate) = self.rate_per_sec
            && !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE)
        {
            return Err(Error::invalid("rate_per_sec", "must be a number of calls per second > 0 and <= 1000000"));
        }
        if let Some(burst) = self.burst {
            if !(1..=MAX_RATE as u32).contains(&burst) {
                return Err(Error::invalid("burst", "must be between 1 and 1000000"));
            }
            if self.rate_per_sec.is_none() {
                return Err(Error::invalid("burst", "needs a rate_per_sec"));
            }
        }
        if self.max_memories == Some(0) {
            return Err(Error::invalid("max_memories", "must be at least 1 (unset it for no quota)"));
        }
        if self.max_memory_bytes == Some(0) {
            return Err(Error::invalid("max_memory_bytes", "must be at least 1 (unset it for no quota)"));
        }
        Ok(())
    }

    /// These limits over `defaults`, field by field.
    pub fn over(self, defaults: SubjectLimits) -> SubjectLimits {
        SubjectLimits {
            rate_per_sec: self.rate_per_sec.or(defaults.rate_per_sec),
            burst: if self.rate_per_sec.is_some() { self.burst } else { self.burst.or(defaults.burst) },
            max_memories: self.max_memories.or(defaults.max_memories),
            max_memory_bytes: self.max_memory_bytes.or(defaults.max_memory_bytes),
        }
    }

    /// The bucket's (rate, burst), when a rate is set.
    pub fn bucket(&self) -> Option<(f64, u32)> {
        let rate = self.rate_per_sec?;
        Some((rate, self.burst.unwrap_or_else(|| (rate.ceil() as u32).max(1))))
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` per second; a call takes one.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    pub rate: f64,
    pub burst: u32,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        Self { rate, burst, tokens: f64::from(burst), last: now }
    }

    /// Takes a token at `now`, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(f64::from(self.burst));
        self.last = now.max(self.last);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 3, start);
        for _ in 0..3 {
            bucket.take(start).unwrap();
        }
        let wait = bucket.take(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        // Half a second later one token is back, and only one.
        let later = start + Duration::from_millis(500);
        bucket.take(later).unwrap();
        assert!(bucket.take(later).is_err());
        // A long pause refills to the burst, not beyond.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..3 {
            bucket.take(much_later).unwrap();
        }
        assert!(bucket.take(much_later).is_err());
    }

    #[test]
    fn limits_are_checked_and_layered_over_defaults() {
        let bad = |l: SubjectLimits| l.validate().unwrap_err().to_string();
        assert!(bad(SubjectLimits { rate_per_sec: Some(0.0), ..Default::default() }).starts_with("rate_per_sec:"));
        assert!(bad(SubjectLimits { rate_per_sec: Some(f64::NAN), ..Default::default() }).starts_with("rate_per_sec:"));
        assert!(bad(SubjectLimits { burst: Some(5), ..Default::default() }).contains("needs a rate_per_sec"));
        assert!(bad(SubjectLimits { max_memories: Some(0), ..Default::default() }).starts_with("max_memories:"));
        assert!(
            bad(SubjectLimits { max_memory_bytes: Some(0), ..Default::default() }).starts_with("max_memory_bytes:")
        );
        let defaults = SubjectLimits {
            rate_per_sec: Some(100.0),
            burst: Some(200),
            max_memories: Some(10),
            max_memory_bytes: Some(4096),
        };
        let own = SubjectLimits { rate_per_sec: Some(5.0), ..Default::default() };
        let merged = own.over(defaults);
        assert_eq!(merged.bucket(), Some((5.0, 5)), "an own rate without a burst gets one second's worth");
        assert_eq!((merged.max_memories, merged.max_memory_bytes), (Some(10), Some(4096)));
        let own_bytes = SubjectLimits { max_memory_bytes: Some(1), ..Default::default() }.over(defaults);
        assert_eq!((own_bytes.max_memories, own_bytes.max_memory_bytes), (Some(10), Some(1)));
        assert_eq!(SubjectLimits::default().over(defaults).bucket(), Some((100.0, 200)));
        assert_eq!(SubjectLimits { rate_per_sec: Some(0.2), ..Default::default() }.bucket(), Some((0.2, 1)));
    }
}
