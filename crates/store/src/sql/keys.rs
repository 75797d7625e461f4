//! [`KeyStore`]: API keys, stored as a hex SHA-256 digest of their secret.

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::SqlStore;
use super::conn::{Param, params};
use super::shared::rows::{self, KEY_COLUMNS, KEY_FROM, hex_encode};
use super::writer::org_lock;
use crate::KeyStore;

#[async_trait::async_trait]
impl KeyStore for SqlStore {
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = key.org_id, key = key.id))]
    async fn create_api_key(&self, key: &ApiKey, digest: &[u8]) -> Result<()> {
        let org_key = self.org_key_for_write(&key.org_id).await?;
        let values = vec![
            Param::from(&key.id),
            org_key.into(),
            Param::from(&key.name),
            hex_encode(digest).into(),
            key.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",").into(),
            to_micros(key.created_at).into(),
            key.expires_at.map(to_micros).into(),
            key.revoked_at.map(to_micros).into(),
        ];
        self.write(org_lock(org_key), move |c| {
            Box::pin(async move {
                let sql = "INSERT INTO api_keys (id, org_key, name, digest, permissions, created_at, expires_at, revoked_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
                c.execute(sql, values).await.map(drop)
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = org))]
    async fn list_api_keys(&self, org: &str) -> Result<Vec<ApiKey>> {
        let Some(org_key) = self.org_key(org).await? else { return Ok(Vec::new()) };
        let sql = format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.org_key = $1 ORDER BY k.created_at, k.id");
        let found =
            self.read(move |c| Box::pin(async move { c.query(&sql, params![org_key], rows::api_key).await })).await?;
        Ok(found.into_iter().map(|(key, _)| key).collect())
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(key = key_id))]
    async fn find_api_key(&self, key_id: &str) -> Result<Option<(ApiKey, Vec<u8>)>> {
        let id = key_id.to_owned();
        let sql = format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.id = $1");
        self.read(move |c| Box::pin(async move { c.query_one(&sql, params![id], rows::api_key).await })).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(key = key_id))]
    async fn revoke_api_key(&self, org: Option<&str>, key_id: &str, now: Timestamp) -> Result<ApiKey> {
        let org_key = match org {
            Some(org) => Some(self.org_key(org).await?.ok_or_else(|| Error::not_found("api key", key_id))?),
            None => None,
        };
        let id = key_id.to_owned();
        let select = format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.id = $1 AND ($2 IS NULL OR k.org_key = $2)");
        self.write(None, move |c| {
            Box::pin(async move {
                let found = c.query_one(&select, params![&id, org_key], rows::api_key).await?;
                let (key, _) = found.ok_or_else(|| Error::not_found("api key", &id))?;
                if key.revoked_at.is_some() {
                    return Ok(key);
                }
                c.execute("UPDATE api_keys SET revoked_at = $1 WHERE id = $2", params![to_micros(now), &id]).await?;
                let revoked = c.query_one(&select, params![&id, org_key], rows::api_key).await?;
                revoked.map(|(key, _)| key).ok_or_else(|| Error::not_found("api key", &id))
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn count_api_keys(&self) -> Result<u64> {
        let n = self
            .read(|c| Box::pin(async move { c.query_i64("SELECT count(*) FROM api_keys", Vec::new()).await }))
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
