//! Operators' limits: rate limits per API key and per org (a token bucket per subject, in this
//! process: with N replicas each enforces its own, so an org can reach N times its rate), and an
//! org's quotas of stored memories and of their content bytes, checked before each memory write
//! (writes already in flight may pass them by their size; a duplicate counts until the store
//! finds it one).
//!
//! Limits are the server's defaults (settings) overlaid by what an operator stored for a subject
//! (`engram key limits`, `engram org limits`), read from the store at most once per `refresh`
//! per subject, so a change reaches every replica within that time. A leaf.
//!
//! Why not the `governor` crate: its keyed limiter has one quota for all keys, and ours differ
//! per subject and change at run time; the bucket itself is ten lines (`engram_core::quota`).

use std::collections::HashMap;
use std::time::Instant;

use engram_core::quota::SubjectLimits;
use engram_core::{Error, Principal, Result, ValidMemory};

use crate::handle::Engram;
use crate::limiter::{LimitDefaults, Limiter};

impl Engram {
    /// With these default limits (none by default).
    pub fn with_limit_defaults(mut self, defaults: LimitDefaults) -> Self {
        self.limiter = std::sync::Arc::new(Limiter::new(defaults));
        self
    }

    /// The limits of these subjects as stored (empty when none), each read again after the
    /// refresh interval.
    async fn stored_limits(&self, subjects: &[&str]) -> Result<Vec<SubjectLimits>> {
        let now = Instant::now();
        let refresh = self.limiter.defaults.refresh;
        let missing: Vec<String> = {
            let stored = self.limiter.stored.lock().unwrap_or_else(|e| e.into_inner());
            subjects
                .iter()
                .filter(|s| stored.get(**s).is_none_or(|(read, _)| now.duration_since(*read) >= refresh))
                .map(|s| (*s).to_owned())
                .collect()
        };
        if !missing.is_empty() {
            let found: HashMap<String, SubjectLimits> = self.store.limits(&missing).await?.into_iter().collect();
            let mut stored = self.limiter.stored.lock().unwrap_or_else(|e| e.into_inner());
            for subject in missing {
                let limits = found.get(&subject).copied().unwrap_or_default();
                stored.insert(subject, (now, limits));
            }
        }
        let stored = self.limiter.stored.lock().unwrap_or_else(|e| e.into_inner());
        Ok(subjects.iter().map(|s| stored.get(*s).map(|(_, l)| *l).unwrap_or_default()).collect())
    }

    /// Admits one call of `p`: a token from its API key's bucket, then from its org's;
    /// RateLimited naming the subject, its rate and when to retry.
    pub async fn admit(&self, p: &Principal) -> Result<()> {
        let defaults = self.limiter.defaults;
        // (id, kind in messages, default): names are only formatted for a refusal.
        let mut subjects: Vec<(&str, &str, SubjectLimits)> = Vec::with_capacity(2);
        if let Some(key) = &p.key_id {
            subjects.push((key, "API key", defaults.key));
        }
        subjects.push((&p.org_id, "org", defaults.org));
        let ids: Vec<&str> = subjects.iter().map(|(id, ..)| *id).collect();
        let stored = self.stored_limits(&ids).await?;
        let now = Instant::now();
        for ((id, kind, default), own) in subjects.into_iter().zip(stored) {
            let Some(bucket) = own.over(default).bucket() else { continue };
            if let Err(retry_after) = self.limiter.take(id, bucket, now) {
                let subject = format!("{kind} {id}");
                return Err(Error::RateLimited { subject, rate: bucket.0, burst: bucket.1, retry_after });
            }
        }
        Ok(())
    }

    /// ResourceExhausted naming the quota when the org's quotas (memories, content bytes) cannot
    /// take these new memories.
    pub(crate) async fn check_quota(&self, org: &str, adding: &[ValidMemory]) -> Result<()> {
        let limits = self.stored_limits(&[org]).await?[0].over(self.limiter.defaults.org);
        if limits.max_memories.is_none() && limits.max_memory_bytes.is_none() {
            return Ok(());
        }
        let usage = self.store.org_usage(org).await?;
        let bytes: u64 = adding.iter().map(|m| m.content.len() as u64).sum();
        let refuse = |what: &str, field: &str, stored: u64, max: u64, more: u64| {
            Error::ResourceExhausted(format!(
                "quota: org {org} stores {stored} {what} and may store {max} ({field}); \
                 {more} more would pass it: delete memories or raise the quota (engram org limits)"
            ))
        };
        if let Some(max) = limits.max_memories
            && usage.memories.saturating_add(adding.len() as u64) > max
        {
            return Err(refuse("memories", "max_memories", usage.memories, max, adding.len() as u64));
        }
        if let Some(max) = limits.max_memory_bytes
            && usage.content_bytes.saturating_add(bytes) > max
        {
            return Err(refuse("bytes of memory content", "max_memory_bytes", usage.content_bytes, max, bytes));
        }
        Ok(())
    }
}
