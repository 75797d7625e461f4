//! [`LimitStore`]: one `limits` row per subject (an API key id or an org id) with limits of its
//! own; an org's usage (memories, content bytes) from `memory_counts`.

use engram_core::quota::{SubjectLimits, Usage};
use engram_core::time::{Timestamp, to_micros};
use engram_core::{Error, Result};

use super::SqlStore;
use super::conn::{Param, params};
use crate::LimitStore;

fn to_i64(value: u64, field: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::invalid(field, "is too large"))
}

#[async_trait::async_trait]
impl LimitStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(subject = subject))]
    async fn set_limits(&self, subject: &str, limits: &SubjectLimits, now: Timestamp) -> Result<()> {
        limits.validate()?;
        let subject = subject.to_owned();
        let limits = *limits;
        let max_memories = limits.max_memories.map(|m| to_i64(m, "max_memories")).transpose()?;
        let max_bytes = limits.max_memory_bytes.map(|m| to_i64(m, "max_memory_bytes")).transpose()?;
        self.write(None, move |c| {
            Box::pin(async move {
                if limits.is_empty() {
                    c.execute("DELETE FROM limits WHERE subject = $1", params![subject]).await?;
                    return Ok(());
                }
                c.execute(
                    "INSERT INTO limits (subject, rate_per_sec, burst, max_memories, max_memory_bytes, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject) DO UPDATE SET \
                     rate_per_sec = excluded.rate_per_sec, burst = excluded.burst, \
                     max_memories = excluded.max_memories, max_memory_bytes = excluded.max_memory_bytes, \
                     updated_at = excluded.updated_at",
                    params![
                        subject,
                        limits.rate_per_sec,
                        limits.burst.map(i64::from),
                        max_memories,
                        max_bytes,
                        to_micros(now)
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn limits(&self, subjects: &[String]) -> Result<Vec<(String, SubjectLimits)>> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=subjects.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT subject, rate_per_sec, burst, max_memories, max_memory_bytes FROM limits WHERE subject IN ({})",
            placeholders.join(", ")
        );
        let values: Vec<Param> = subjects.iter().map(Param::from).collect();
        self.read(move |c| {
            Box::pin(async move {
                c.query(&sql, values, |r| {
                    Ok((
                        r.string(0)?,
                        SubjectLimits {
                            rate_per_sec: r.opt_f64(1)?,
                            burst: r.opt_i64(2)?.and_then(|b| u32::try_from(b).ok()),
                            max_memories: r.opt_i64(3)?.and_then(|m| u64::try_from(m).ok()),
                            max_memory_bytes: r.opt_i64(4)?.and_then(|m| u64::try_from(m).ok()),
                        },
                    ))
                })
                .await
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org))]
    async fn org_usage(&self, org: &str) -> Result<Usage> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(Usage::default()) };
        let usage = self
            .read(move |c| {
                Box::pin(async move {
                    c.query_one(
                        "SELECT CAST(coalesce(sum(count), 0) AS BIGINT), CAST(coalesce(sum(bytes), 0) AS BIGINT) \
                         FROM memory_counts WHERE org_key = $1",
                        params![org_key],
                        |r| Ok((r.i64(0)?, r.i64(1)?)),
                    )
                    .await
                })
            })
            .await?
            .unwrap_or_default();
        Ok(Usage { memories: usage.0.max(0) as u64, content_bytes: usage.1.max(0) as u64 })
    }
}
