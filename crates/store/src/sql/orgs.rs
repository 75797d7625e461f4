//! [`OrgStore`]: orgs are created once and never deleted.

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::SqlStore;
use super::conn::params;
use super::shared::rows::{self, ORG_COLUMNS};
use super::writer::orgs_lock;
use crate::OrgStore;

#[async_trait::async_trait]
impl OrgStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = id))]
    async fn create_org(&self, id: &str, name: &str, now: Timestamp) -> Result<Org> {
        let (id, name) = (id.to_owned(), name.to_owned());
        self.write(orgs_lock(), move |c| {
            Box::pin(async move {
                let taken = c
                    .query_one("SELECT id FROM orgs WHERE name = $1 OR id = $2", params![&name, &id], |r| r.string(0))
                    .await?;
                if let Some(existing_id) = taken {
                    return Err(Error::AlreadyExists { what: "org", existing_id });
                }
                let sql =
                    format!("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) RETURNING {ORG_COLUMNS}");
                let created = c.query_one(&sql, params![id, name, to_micros(now)], rows::org).await?;
                created.map(|(_, org)| org).ok_or_else(|| Error::internal("the new org was not returned"))
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = id))]
    async fn get_org(&self, id: &str) -> Result<Org> {
        let wanted = id.to_owned();
        let sql = format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1");
        let found =
            self.read(move |c| Box::pin(async move { c.query_one(&sql, params![wanted], rows::org).await })).await?;
        found.map(|(_, org)| org).ok_or_else(|| Error::not_found("org", id))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_orgs(&self) -> Result<Vec<Org>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY created_at, key");
        let found = self.read(move |c| Box::pin(async move { c.query(&sql, Vec::new(), rows::org).await })).await?;
        Ok(found.into_iter().map(|(_, org)| org).collect())
    }
}
