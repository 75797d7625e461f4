//! [`AccessLog`]: reads of memories not yet recorded in the store (see `access`). A leaf.

use std::collections::HashMap;
use std::sync::Mutex;

/// Pending access counts: org → memory id → reads since the last flush.
#[derive(Default)]
pub(crate) struct AccessLog {
    pending: Mutex<HashMap<String, HashMap<String, u64>>>,
}

impl AccessLog {
    pub(crate) fn add<'a>(&self, org: &str, ids: impl IntoIterator<Item = &'a str>) {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let org = pending.entry(org.to_owned()).or_default();
        for id in ids {
            *org.entry(id.to_owned()).or_default() += 1;
        }
    }

    /// Everything pending, emptied.
    pub(crate) fn take(&self) -> HashMap<String, HashMap<String, u64>> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}
