//! `memory_counts`: per (agent, memory type), how many memories are stored and the UTF-8 bytes
//! of their content. Changed in the same transaction as every write and delete of memories, so
//! statistics and the org quotas read a few counter rows instead of the memories.

use std::collections::HashMap;

use engram_core::Result;

use crate::sql::conn::{Conn, Param, params};

/// Memories and content bytes of one (agent, memory type).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub memories: i64,
    pub bytes: i64,
}

/// Tallies by (agent key, memory type code), summed over a write.
#[derive(Debug, Default)]
pub(crate) struct Tallies(HashMap<(i64, i64), Tally>);

impl Tallies {
    /// Counts one memory of `bytes` content bytes.
    pub fn count(&mut self, agent_key: i64, memory_type: i64, bytes: usize) {
        let tally = self.0.entry((agent_key, memory_type)).or_default();
        tally.memories += 1;
        tally.bytes += bytes as i64;
    }

    /// Adds them to the counters (one statement per 200 (agent, type) pairs).
    pub async fn add(self, c: &mut Conn<'_>, org_key: i64) -> Result<()> {
        let tallies: Vec<((i64, i64), Tally)> = self.0.into_iter().collect();
        for chunk in tallies.chunks(200) {
            let mut values = Vec::with_capacity(chunk.len() * 5);
            let tuples: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, ((agent_key, memory_type), tally))| {
                    values.extend([
                        Param::from(*agent_key),
                        Param::from(*memory_type),
                        Param::from(org_key),
                        Param::from(tally.memories),
                        Param::from(tally.bytes),
                    ]);
                    let at = 5 * i;
                    format!("(${}, ${}, ${}, ${}, ${})", at + 1, at + 2, at + 3, at + 4, at + 5)
                })
                .collect();
            let sql = format!(
                "INSERT INTO memory_counts (agent_key, memory_type, org_key, count, bytes) VALUES {} \
                 ON CONFLICT (agent_key, memory_type) DO UPDATE SET \
                 count = memory_counts.count + excluded.count, bytes = memory_counts.bytes + excluded.bytes",
                tuples.join(", ")
            );
            c.execute(&sql, values).await?;
        }
        Ok(())
    }

    /// Takes them from the counters (of memories that were counted when written).
    pub async fn subtract(self, c: &mut Conn<'_>) -> Result<()> {
        for ((agent_key, memory_type), tally) in self.0 {
            c.execute(
                "UPDATE memory_counts SET count = count - $1, bytes = bytes - $2 \
                 WHERE agent_key = $3 AND memory_type = $4",
                params![tally.memories, tally.bytes, agent_key, memory_type],
            )
            .await?;
        }
        Ok(())
    }
}
