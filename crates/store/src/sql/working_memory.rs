//! [`WorkingMemoryStore`]: one JSON document per session, versioned.

use serde_json::Value;

use engram_core::time::{Timestamp, from_micros, to_micros};
use engram_core::working_memory::WorkingMemory;
use engram_core::*;

use super::SqlStore;
use super::conn::{Conn, Param, params};
use super::writer::org_lock;
use crate::WorkingMemoryStore;

async fn session_key(c: &mut Conn<'_>, org_key: i64, session: &str) -> Result<i64> {
    let found = c
        .query_one("SELECT key FROM sessions WHERE org_key = $1 AND id = $2", params![org_key, session], |r| r.i64(0))
        .await?;
    found.ok_or_else(|| Error::not_found("session", session))
}

async fn read(c: &mut Conn<'_>, session_key: i64, session: &str) -> Result<WorkingMemory> {
    let sql = "SELECT document, version, updated_at FROM working_memory WHERE session_key = $1";
    let found = c.query_one(sql, params![session_key], |r| Ok((r.object(0)?, r.i64(1)?, r.i64(2)?))).await?;
    Ok(match found {
        Some((document, version, at)) => {
            WorkingMemory { session_id: session.to_owned(), document, version, updated_at: Some(from_micros(at)) }
        }
        None => {
            WorkingMemory { session_id: session.to_owned(), document: Metadata::new(), version: 0, updated_at: None }
        }
    })
}

#[async_trait::async_trait]
impl WorkingMemoryStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, session = session))]
    async fn get_working_memory(&self, org: &str, session: &str) -> Result<WorkingMemory> {
        let Some(org_key) = self.org_key(org).await? else { return Err(Error::not_found("session", session)) };
        let session = session.to_owned();
        self.read(move |c| {
            Box::pin(async move {
                let key = session_key(c, org_key, &session).await?;
                read(c, key, &session).await
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org, session = session))]
    async fn put_working_memory(
        &self,
        org: &str,
        session: &str,
        expected_version: i64,
        document: Option<Metadata>,
        now: Timestamp,
    ) -> Result<WorkingMemory> {
        let Some(org_key) = self.org_key(org).await? else { return Err(Error::not_found("session", session)) };
        let session = session.to_owned();
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let key = session_key(c, org_key, &session).await?;
                let current = read(c, key, &session).await?;
                if current.version != expected_version {
                    return Err(Error::Aborted(format!(
                        "working memory of session {session} is at version {}, not {expected_version}: read it again \
                         and retry",
                        current.version
                    )));
                }
                let document = document.unwrap_or_default();
                let version = expected_version + 1;
                let values = vec![
                    Param::Json(Value::Object(document.clone())),
                    version.into(),
                    to_micros(now).into(),
                    key.into(),
                    org_key.into(),
                ];
                let sql = if current.updated_at.is_some() {
                    "UPDATE working_memory SET document = $1, version = $2, updated_at = $3 \
                     WHERE session_key = $4 AND org_key = $5"
                } else {
                    "INSERT INTO working_memory (document, version, updated_at, session_key, org_key) \
                     VALUES ($1, $2, $3, $4, $5)"
                };
                c.execute(sql, values).await?;
                Ok(WorkingMemory { session_id: session, document, version, updated_at: Some(now) })
            })
        })
        .await
    }
}
