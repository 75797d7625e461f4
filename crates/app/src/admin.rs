//! Administration: orgs and API keys.

use engram_core::time::{self, Timestamp};
use engram_core::*;
use engram_store::DynStore;

use crate::handle::{Engram, require};

impl Engram {
    fn require_admin_of(&self, p: &Principal, org: &str) -> Result<()> {
        require(p, Permission::Admin)?;
        if org != p.org_id && !p.is_operator() {
            return Err(Error::PermissionDenied("only an admin key of org_default may administer other orgs".into()));
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn create_org(&self, p: &Principal, name: &str) -> Result<Org> {
        require(p, Permission::Admin)?;
        if !p.is_operator() {
            return Err(Error::PermissionDenied("only an admin key of org_default may create orgs".into()));
        }
        self.limits.check_name("name", name)?;
        self.store.create_org(&ids::org_id(), name, time::now()).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn list_orgs(&self, p: &Principal) -> Result<Vec<Org>> {
        require(p, Permission::Admin)?;
        if p.is_operator() { self.store.list_orgs().await } else { Ok(vec![self.store.get_org(&p.org_id).await?]) }
    }

    /// Returns the key and its secret (shown once). `org` empty: the caller's org.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn create_api_key(
        &self,
        p: &Principal,
        org: &str,
        name: &str,
        permissions: Vec<Permission>,
        expires_at: Option<Timestamp>,
    ) -> Result<(ApiKey, String)> {
        let org = if org.is_empty() { p.org_id.as_str() } else { org };
        self.require_admin_of(p, org)?;
        self.limits.check_id("org_id", org)?;
        create_api_key(&self.store, &self.limits, org, name, permissions, expires_at).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id))]
    pub async fn list_api_keys(&self, p: &Principal, org: &str) -> Result<Vec<ApiKey>> {
        let org = if org.is_empty() { p.org_id.as_str() } else { org };
        self.require_admin_of(p, org)?;
        self.store.get_org(org).await?; // an unknown org is NotFound, not an empty list
        self.store.list_api_keys(org).await
    }

    #[tracing::instrument(skip_all, err(level = "debug"), fields(org = %p.org_id, key = key_id))]
    pub async fn revoke_api_key(&self, p: &Principal, key_id: &str) -> Result<ApiKey> {
        require(p, Permission::Admin)?;
        self.limits.check_id("id", key_id)?;
        let scope = if p.is_operator() { None } else { Some(p.org_id.as_str()) };
        self.store.revoke_api_key(scope, key_id, time::now()).await
    }
}

/// Creates a key in `org` (also used by the CLI, which has no principal).
pub async fn create_api_key(
    store: &DynStore,
    limits: &Limits,
    org: &str,
    name: &str,
    mut permissions: Vec<Permission>,
    expires_at: Option<Timestamp>,
) -> Result<(ApiKey, String)> {
    limits.check_name("name", name)?;
    if permissions.is_empty() {
        return Err(Error::invalid("permissions", "name at least one of read, write, admin"));
    }
    permissions.sort();
    permissions.dedup();
    let now = time::now();
    if expires_at.is_some_and(|t| t <= now) {
        return Err(Error::invalid("expires_at", "must be in the future"));
    }
    let (id, secret) = ids::api_key();
    let key = ApiKey {
        id,
        org_id: org.to_owned(),
        name: name.to_owned(),
        permissions,
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    store.create_api_key(&key, &ids::key_digest(&secret)).await?;
    Ok((key, secret))
}
