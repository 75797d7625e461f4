//! Access recording: GetMemory, ranked search hits and context assembly count a read of each
//! memory they return (`access_count`, `last_accessed_at`); listings do not. Reads are collected
//! in memory and written in one batch per org about every second, so no read waits for a write.

use std::time::Duration;

use engram_core::time;
use engram_core::*;

use crate::handle::Engram;

/// How often collected accesses are written.
pub const ACCESS_FLUSH: Duration = Duration::from_secs(1);

impl Engram {
    /// Counts a read of each memory (recorded at the next flush).
    pub(crate) fn accessed<'a>(&self, org: &str, ids: impl IntoIterator<Item = &'a str>) {
        self.accesses.add(org, ids);
    }

    /// Writes the collected accesses now.
    pub async fn flush_accesses(&self) -> Result<()> {
        let now = time::now();
        for (org, counts) in self.accesses.take() {
            let counts: Vec<(String, u64)> = counts.into_iter().collect();
            if let Some(hot) = &self.hot {
                hot.accessed(&org, &counts, now);
            }
            self.store.record_accesses(&org, counts, now).await?;
        }
        Ok(())
    }

    /// Flushes accesses every [`ACCESS_FLUSH`] until the process ends.
    pub async fn run_access_log(&self) {
        loop {
            tokio::time::sleep(ACCESS_FLUSH).await;
            if let Err(e) = self.flush_accesses().await {
                tracing::warn!(error = %e, "recording memory accesses failed; those counts are lost");
            }
        }
    }
}
