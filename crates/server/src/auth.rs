//! API-key authentication as a tower layer in front of the gRPC services.
//!
//! Keys come in `x-api-key` or `authorization: Bearer`. A key is looked up by the id embedded in
//! it, then its SHA-256 digest is compared with the stored one in constant time. Every request
//! reads the key row, so a revocation is effective on the next request, also when it was made by
//! another process (the CLI). Health and reflection pass through unauthenticated. The resolved
//! [`Principal`] travels to the handlers in the request extensions.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use subtle::ConstantTimeEq;
use tonic::codegen::http::{self, HeaderMap};

use engram_core::{Error, Permission, Principal, ids, time};
use engram_store::DynStore;

#[derive(Clone)]
pub struct Authenticator {
    store: DynStore,
    disabled: bool,
    /// Rate limits of keys and orgs, applied once a caller is known.
    admission: Option<engram_app::Engram>,
}

impl Authenticator {
    pub fn new(store: DynStore, disabled: bool) -> Self {
        Self { store, disabled, admission: None }
    }

    /// With the app's rate limits applied to every authenticated call.
    pub fn with_admission(mut self, app: engram_app::Engram) -> Self {
        self.admission = Some(app);
        self
    }

    /// The principal of a request's headers, or Unauthenticated; RateLimited when its key or org
    /// spent its burst.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Error> {
        let principal = self.principal(headers).await?;
        if let Some(app) = &self.admission {
            app.admit(&principal).await?;
        }
        Ok(principal)
    }

    async fn principal(&self, headers: &HeaderMap) -> Result<Principal, Error> {
        if self.disabled {
            return Ok(Principal {
                org_id: ids::DEFAULT_ORG_ID.to_owned(),
                key_id: None,
                permissions: vec![Permission::Admin],
            });
        }
        let secret = presented_key(headers).ok_or_else(|| {
            Error::Unauthenticated("missing API key: send it in x-api-key or authorization: Bearer".into())
        })?;
        let invalid = || Error::Unauthenticated("invalid API key".into());
        let key_id = ids::key_id_of_secret(secret).ok_or_else(invalid)?;
        let (key, digest) = self.store.find_api_key(&key_id).await?.ok_or_else(invalid)?;
        if !bool::from(ids::key_digest(secret).ct_eq(&digest)) {
            return Err(invalid());
        }
        if key.revoked_at.is_some() {
            return Err(Error::Unauthenticated("API key has been revoked".into()));
        }
        if key.expires_at.is_some_and(|t| t <= time::now()) {
            return Err(Error::Unauthenticated("API key has expired".into()));
        }
        Ok(Principal { org_id: key.org_id, key_id: Some(key.id), permissions: key.permissions })
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("x-api-key") {
        return value.to_str().ok().map(str::trim).filter(|s| !s.is_empty());
    }
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|s| !s.is_empty())
}

/// Paths that need no key: health checks and server reflection.
fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

#[derive(Clone)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

impl AuthLayer {
    pub fn new(auth: Authenticator) -> Self {
        Self { auth: Arc::new(auth) }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, auth: self.auth.clone() }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The ready service is the one to call; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if is_public(request.uri().path()) {
            return Box::pin(inner.call(request));
        }
        let auth = self.auth.clone();
        Box::pin(async move {
            match auth.authenticate(request.headers()).await {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(err) => Ok(crate::grpc::status(err).into_http()),
            }
        })
    }
}
