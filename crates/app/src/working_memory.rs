//! Working memory: a session's JSON document (task, goal, subgoals, scratchpad, variables,
//! results), read, replaced, merge-patched or cleared with optimistic concurrency.

use serde_json::Value;

use engram_core::time;
use engram_core::working_memory::{WorkingMemory, merge_patch};
use engram_core::*;

use crate::handle::{Engram, require};

impl Engram {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, session = session))]
    pub async fn get_working_memory(&self, p: &Principal, session: &str) -> Result<WorkingMemory> {
        require(p, Permission::Read)?;
        self.limits.check_id("session_id", session)?;
        self.store.get_working_memory(&p.org_id, session).await
    }

    /// Replaces the document; `version` is the one the caller read (0: never written). A stale
    /// version is Aborted and writes nothing.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, session = session))]
    pub async fn set_working_memory(
        &self,
        p: &Principal,
        session: &str,
        document: Metadata,
        version: i64,
    ) -> Result<WorkingMemory> {
        require(p, Permission::Write)?;
        self.limits.check_id("session_id", session)?;
        self.limits.check_version("version", version)?;
        self.limits.check_working_memory("document", &document)?;
        self.store.put_working_memory(&p.org_id, session, version, Some(document), time::now()).await
    }

    /// Applies an RFC 7396 merge patch (an object: `null` removes a key) to the document as of
    /// `version`. The result is checked like a replaced document.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, session = session))]
    pub async fn patch_working_memory(
        &self,
        p: &Principal,
        session: &str,
        patch: Metadata,
        version: i64,
    ) -> Result<WorkingMemory> {
        require(p, Permission::Write)?;
        self.limits.check_id("session_id", session)?;
        self.limits.check_version("version", version)?;
        self.limits.check_working_memory("patch", &patch)?;
        let current = self.store.get_working_memory(&p.org_id, session).await?;
        if current.version != version {
            return Err(Error::Aborted(format!(
                "working memory of session {session} is at version {}, not {version}: read it again and retry",
                current.version
            )));
        }
        let mut document = Value::Object(current.document);
        merge_patch(&mut document, &Value::Object(patch));
        let Value::Object(document) = document else {
            return Err(Error::internal("a merge patch of an object gave a non-object"));
        };
        self.limits.check_working_memory("patch", &document)?;
        // The store checks the version again: a write between the read and this one wins.
        self.store.put_working_memory(&p.org_id, session, version, Some(document), time::now()).await
    }

    /// Empties the document (the version still grows, so a stale writer cannot bring it back).
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, session = session))]
    pub async fn clear_working_memory(&self, p: &Principal, session: &str, version: i64) -> Result<WorkingMemory> {
        require(p, Permission::Write)?;
        self.limits.check_id("session_id", session)?;
        self.limits.check_version("version", version)?;
        self.store.put_working_memory(&p.org_id, session, version, None, time::now()).await
    }
}
