//! Orgs and API keys.

use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use engram_core::time::{Timestamp, to_micros};
use engram_core::*;

use super::writer::orgs_lock;
use super::{SqlStore, convert, db_err};
use crate::entity::{api_keys, orgs};

pub(super) async fn create_org(store: &SqlStore, id: &str, name: &str, now: Timestamp) -> Result<Org> {
    let (id, name) = (id.to_owned(), name.to_owned());
    store
        .writer
        .write(orgs_lock(), move |txn| {
            Box::pin(async move {
                let taken = orgs::Entity::find()
                    .filter(orgs::Column::Name.eq(&name).or(orgs::Column::Id.eq(&id)))
                    .one(txn)
                    .await
                    .map_err(db_err)?;
                if let Some(existing) = taken {
                    return Err(Error::AlreadyExists { what: "org", existing_id: existing.id });
                }
                let row = orgs::ActiveModel { id: Set(id), name: Set(name), created_at: Set(to_micros(now)) };
                Ok(convert::org(row.insert(txn).await.map_err(db_err)?))
            })
        })
        .await
}

pub(super) async fn get_org(store: &SqlStore, id: &str) -> Result<Org> {
    let row = orgs::Entity::find_by_id(id.to_owned()).one(store.db()).await.map_err(db_err)?;
    row.map(convert::org).ok_or_else(|| Error::not_found("org", id))
}

pub(super) async fn list_orgs(store: &SqlStore) -> Result<Vec<Org>> {
    let rows = orgs::Entity::find().order_by_asc(orgs::Column::CreatedAt).all(store.db()).await.map_err(db_err)?;
    Ok(rows.into_iter().map(convert::org).collect())
}

pub(super) async fn create_api_key(store: &SqlStore, key: &ApiKey, digest: &[u8]) -> Result<()> {
    let row = api_keys::ActiveModel {
        id: Set(key.id.clone()),
        org_id: Set(key.org_id.clone()),
        name: Set(key.name.clone()),
        digest: Set(hex_encode(digest)),
        permissions: Set(key.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")),
        created_at: Set(to_micros(key.created_at)),
        expires_at: Set(key.expires_at.map(to_micros)),
        revoked_at: Set(key.revoked_at.map(to_micros)),
    };
    let org_id = key.org_id.clone();
    store
        .writer
        .write(None, move |txn| {
            Box::pin(async move {
                if orgs::Entity::find_by_id(org_id.clone()).one(txn).await.map_err(db_err)?.is_none() {
                    return Err(Error::not_found("org", org_id));
                }
                row.insert(txn).await.map_err(db_err)?;
                Ok(())
            })
        })
        .await
}

pub(super) async fn list_api_keys(store: &SqlStore, org: &str) -> Result<Vec<ApiKey>> {
    let rows = api_keys::Entity::find()
        .filter(api_keys::Column::OrgId.eq(org))
        .order_by_asc(api_keys::Column::CreatedAt)
        .all(store.db())
        .await
        .map_err(db_err)?;
    Ok(rows.iter().map(convert::api_key).collect())
}

pub(super) async fn find_api_key(store: &SqlStore, key_id: &str) -> Result<Option<(ApiKey, Vec<u8>)>> {
    let row = api_keys::Entity::find_by_id(key_id.to_owned()).one(store.db()).await.map_err(db_err)?;
    Ok(row.map(|row| (convert::api_key(&row), hex_decode(&row.digest))))
}

pub(super) async fn revoke_api_key(
    store: &SqlStore,
    org: Option<&str>,
    key_id: &str,
    now: Timestamp,
) -> Result<ApiKey> {
    let (org, key_id) = (org.map(str::to_owned), key_id.to_owned());
    store
        .writer
        .write(None, move |txn| {
            Box::pin(async move {
                let mut find = api_keys::Entity::find_by_id(key_id.clone());
                if let Some(org) = &org {
                    find = find.filter(api_keys::Column::OrgId.eq(org));
                }
                let row = find.one(txn).await.map_err(db_err)?.ok_or_else(|| Error::not_found("api key", &key_id))?;
                if row.revoked_at.is_some() {
                    return Ok(convert::api_key(&row));
                }
                let mut active: api_keys::ActiveModel = row.into();
                active.revoked_at = Set(Some(to_micros(now)));
                Ok(convert::api_key(&active.update(txn).await.map_err(db_err)?))
            })
        })
        .await
}

pub(super) async fn count_api_keys(store: &SqlStore) -> Result<u64> {
    api_keys::Entity::find().count(store.db()).await.map_err(db_err)
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len() / 2).filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}
