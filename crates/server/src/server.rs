//! Start-up and shutdown: open and migrate the store, bootstrap the first admin key, serve gRPC
//! (engram.v1 services, health, reflection) until SIGTERM/SIGINT, then drain.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;

use tonic::service::Routes;
use tonic_health::ServingStatus;

use engram_app::{Engram, Relevance};
use engram_core::{Limits, Permission, ids, time};
use engram_embed::Embedder;
use engram_proto::v1::{
    admin_service_server::AdminServiceServer, agent_service_server::AgentServiceServer,
    context_service_server::ContextServiceServer, conversation_service_server::ConversationServiceServer,
    erasure_service_server::ErasureServiceServer, lifecycle_service_server::LifecycleServiceServer,
    memory_service_server::MemoryServiceServer, session_service_server::SessionServiceServer,
    simulation_service_server::SimulationServiceServer, watch_service_server::WatchServiceServer,
    working_memory_service_server::WorkingMemoryServiceServer,
};
use engram_search::FullText;
use engram_store::{Backend, DynStore, SqlStore};

use crate::auth::{AuthLayer, Authenticator};
use crate::config::{ServeConfig, StoreConfig};
use crate::{grpc, rest};

/// Every engram.v1 service name, as health reports them.
const SERVICES: &[&str] = &[
    "engram.v1.AgentService",
    "engram.v1.SessionService",
    "engram.v1.MemoryService",
    "engram.v1.ContextService",
    "engram.v1.AdminService",
    "engram.v1.ConversationService",
    "engram.v1.WorkingMemoryService",
    "engram.v1.WatchService",
    "engram.v1.SimulationService",
    "engram.v1.LifecycleService",
    "engram.v1.ErasureService",
];

async fn connect(settings: &StoreConfig) -> anyhow::Result<SqlStore> {
    if Backend::of_url(&settings.database_url)? == Backend::Sqlite {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("cannot create the data directory {}", settings.data_dir.display()))?;
    }
    Ok(SqlStore::connect(&settings.database_url, &settings.options).await?)
}

/// Opens the store ready for use. The embedded SQLite store migrates itself; PostgreSQL must have
/// been migrated with `engram migrate` (replicas never race to change the schema). Either refuses
/// a schema newer than this build.
pub async fn open_store(settings: &StoreConfig) -> anyhow::Result<DynStore> {
    let store = connect(settings).await?;
    match store.backend() {
        Backend::Sqlite => {
            let applied = store.migrate().await?;
            if applied > 0 {
                tracing::info!(applied, "migrated the embedded store");
            }
        }
        Backend::Postgres => store.schema_status().await?.require_current()?,
    }
    Ok(Arc::new(store))
}

/// `engram migrate`: applies pending migrations, then bootstraps the first admin key (see
/// [`bootstrap`]); returns how many migrations ran.
pub async fn migrate(settings: &StoreConfig) -> anyhow::Result<usize> {
    let store = connect(settings).await?;
    let applied = store.migrate().await?;
    let store: DynStore = Arc::new(store);
    bootstrap(&store, settings).await?;
    Ok(applied)
}

/// On a store without any API key: creates org_default (if missing) and an admin key and prints
/// the secret once. The embedded store also writes it to `<data dir>/admin.key` (mode 0600); on
/// PostgreSQL it is only printed (by `engram migrate`: replicas never bootstrap, and their root
/// file system is read-only).
pub async fn bootstrap(store: &DynStore, settings: &StoreConfig) -> anyhow::Result<()> {
    if store.count_api_keys().await? > 0 {
        return Ok(());
    }
    if store.get_org(ids::DEFAULT_ORG_ID).await.is_err() {
        store.create_org(ids::DEFAULT_ORG_ID, "default", time::now()).await?;
    }
    let (key, secret) = engram_app::create_api_key(
        store,
        &Limits::default(),
        ids::DEFAULT_ORG_ID,
        "bootstrap admin",
        vec![Permission::Admin],
        None,
    )
    .await?;
    if Backend::of_url(&settings.database_url)? == Backend::Postgres {
        println!("engram: created admin API key {} (shown once): {secret}", key.id);
        return Ok(());
    }
    let path = settings.data_dir.join("admin.key");
    match write_secret(&path, &secret) {
        Ok(()) => println!("engram: created admin API key {} (also in {}): {secret}", key.id, path.display()),
        Err(err) => {
            println!("engram: created admin API key {} (could not write {}: {err}): {secret}", key.id, path.display())
        }
    }
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Serves until `shutdown` resolves, then stops accepting, finishes in-flight requests and returns.
pub async fn serve(
    args: &ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Plain TCP or TLS (tls.rs), TCP_NODELAY either way; a bad certificate or key stops here.
    let listener = crate::tls::Port::new(listener, args.tls.as_ref())?;
    let settings = args.store.clone();
    let limits = args.limits.clone();
    // Before the store connects: its instruments record into the process's meter provider.
    crate::telemetry::metrics::metrics();
    let store = open_store(&settings).await?;
    if Backend::of_url(&settings.database_url)? == Backend::Sqlite {
        bootstrap(&store, &settings).await?;
    }
    let fulltext = FullText::open(args.search.index_dir.as_deref())?;
    let mut relevance = Relevance::new(Arc::new(fulltext), args.search.ranking);
    if let Some(config) = &args.search.embedder {
        let embedder = Embedder::open(config).context("opening the embedder")?;
        tracing::info!(embedder = embedder.describe(), "server-side embeddings on");
        println!("engram: embedder {}", embedder.describe());
        relevance = relevance.with_embedder(embedder);
    }
    let app = Engram::new(store.clone(), limits.clone())
        .with_relevance(relevance)
        .with_conversations(args.conversations.window_cache_bytes, args.conversations.message_tokenizer)
        .with_lifecycle(args.lifecycle.policy.clone())
        .with_limit_defaults(args.limit_defaults)
        .with_hot_cache(match Backend::of_url(&settings.database_url)? {
            Backend::Sqlite => args.hot_cache_bytes,
            Backend::Postgres => 0,
        });
    let indexer = {
        let app = app.clone();
        tokio::spawn(async move { app.run_indexer().await })
    };
    let embedder = {
        let app = app.clone();
        tokio::spawn(async move { app.run_embedder().await })
    };
    let access_log = {
        let app = app.clone();
        tokio::spawn(async move { app.run_access_log().await })
    };
    let maintenance = args.lifecycle.maintenance_interval.map(|every| {
        let app = app.clone();
        tokio::spawn(async move { app.run_maintenance(every).await })
    });
    let gauges = crate::telemetry::metrics::watch_app(app.clone());
    let flusher = app.clone();

    let (health, health_service) = tonic_health::server::health_reporter();
    for name in std::iter::once("").chain(SERVICES.iter().copied()) {
        health.set_service_status(name, ServingStatus::NotServing).await;
    }
    let ready_flag = Arc::new(AtomicBool::new(false));
    let ready = {
        let (health, store, flag) = (health.clone(), store.clone(), ready_flag.clone());
        tokio::spawn(async move {
            // Readiness: SERVING (and /ready 200) once the store answers.
            while let Err(err) = store.ping().await {
                tracing::warn!(error = %err, "store not answering yet");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            for name in std::iter::once("").chain(SERVICES.iter().copied()) {
                health.set_service_status(name, ServingStatus::Serving).await;
            }
            flag.store(true, Ordering::Release);
        })
    };

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(engram_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(engram_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let max = limits.max_message_bytes;
    let authenticator = Authenticator::new(store.clone(), args.no_auth).with_admission(app.clone());
    let grpc = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            AgentServiceServer::new(grpc::agents::AgentApi { app: app.clone() }).max_decoding_message_size(max),
        )
        .add_service(
            SessionServiceServer::new(grpc::sessions::SessionApi { app: app.clone() }).max_decoding_message_size(max),
        )
        .add_service(
            MemoryServiceServer::new(grpc::memories::MemoryApi { app: app.clone() }).max_decoding_message_size(max),
        )
        .add_service(
            ContextServiceServer::new(grpc::context::ContextApi { app: app.clone() }).max_decoding_message_size(max),
        )
        .add_service(AdminServiceServer::new(grpc::admin::AdminApi { app: app.clone() }).max_decoding_message_size(max))
        .add_service(
            ConversationServiceServer::new(grpc::conversations::ConversationApi { app: app.clone() })
                .max_decoding_message_size(max),
        )
        .add_service(
            WorkingMemoryServiceServer::new(grpc::working_memory::WorkingMemoryApi { app: app.clone() })
                .max_decoding_message_size(max),
        )
        .add_service(WatchServiceServer::new(grpc::watch::WatchApi { app: app.clone() }).max_decoding_message_size(max))
        .add_service(
            SimulationServiceServer::new(grpc::simulation::SimulationApi { app: app.clone() })
                .max_decoding_message_size(max),
        )
        .add_service(
            LifecycleServiceServer::new(grpc::lifecycle::LifecycleApi { app: app.clone() })
                .max_decoding_message_size(max),
        )
        .add_service(
            ErasureServiceServer::new(grpc::erasure::ErasureApi { app: app.clone() }).max_decoding_message_size(max),
        )
        .into_axum_router()
        .layer(axum::middleware::from_fn(grpc::deadline::enforce))
        .layer(AuthLayer::new(authenticator.clone()))
        .layer(axum::middleware::map_response(grpc::framing::client_faults))
        .layer(axum::middleware::from_fn(grpc::framing::require_grpc_content_type));
    let rest = rest::router(
        rest::RestState { app, auth: Arc::new(authenticator.clone()), ready: ready_flag.clone() },
        limits.max_message_bytes,
    );
    let mcp = crate::mcp::router(rest.clone(), authenticator, args.mcp_allowed_hosts.clone());
    // One port: gRPC (HTTP/2), REST (HTTP/1.1 and 2) and MCP (`/mcp`) share it; the auth layer
    // wraps gRPC only (REST answers its own JSON errors; MCP checks the key, then calls REST).
    let mut router =
        grpc.merge(rest).merge(mcp).route("/metrics", axum::routing::get(crate::telemetry::metrics::endpoint));
    if args.max_concurrent_requests > 0 {
        let slots = crate::shed::Slots::new(args.max_concurrent_requests);
        router = router.layer(axum::middleware::from_fn_with_state(slots, crate::shed::shed));
    }
    // A stalled request body ends its request (408) instead of holding it.
    router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(args.body_timeout));
    // Outermost: every call gets its server span and request metrics, shed ones included.
    let observer = crate::telemetry::requests::Observer::new(
        &[engram_proto::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET],
        &[
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ],
        args.metrics_org_label,
    );
    router = router.layer(axum::middleware::from_fn_with_state(observer, crate::telemetry::requests::observe));

    let addr = listener.local_addr()?;
    if args.no_auth {
        tracing::warn!("authentication is disabled (--no-auth): every request acts as an admin of org_default");
    }
    tracing::info!(%addr, backend = ?Backend::of_url(&settings.database_url)?, "engram serving");
    println!("engram: listening on {addr}");

    let drain = {
        let health = health.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            ready_flag.store(false, Ordering::Release);
            for name in std::iter::once("").chain(SERVICES.iter().copied()) {
                health.set_service_status(name, ServingStatus::NotServing).await;
            }
        }
    };
    // In-flight requests get `shutdown_timeout` after the signal; then the server stops anyway, so
    // it exits before an orchestrator's kill (Kubernetes: terminationGracePeriodSeconds).
    let timeout = args.shutdown_timeout;
    let (signalled, mut draining) = tokio::sync::watch::channel(false);
    let drain = async move {
        drain.await;
        let _ = signalled.send(true);
    };
    let deadline = async move {
        let _ = draining.wait_for(|signalled| *signalled).await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        () = crate::connections::serve(listener, router, args.client_timeouts, drain) => {},
        () = deadline => tracing::warn!(
            timeout_s = timeout.as_secs_f64(),
            "shutdown timeout: stopping with requests still in flight"
        ),
    }
    ready.abort();
    gauges.abort();
    indexer.abort();
    embedder.abort();
    access_log.abort();
    if let Some(maintenance) = maintenance {
        maintenance.abort();
    }
    if let Err(err) = flusher.flush_accesses().await {
        tracing::warn!(error = %err, "recording the last memory accesses");
    }
    if let Err(err) = store.close().await {
        tracing::warn!(error = %err, "closing the store");
    }
    let windows = flusher.window_cache_stats();
    tracing::info!(
        entries = windows.entries,
        bytes = windows.bytes,
        max_bytes = windows.max_bytes,
        hits = windows.hits,
        misses = windows.misses,
        "window cache at shutdown"
    );
    if let Some(hot) = flusher.hot_cache_stats() {
        tracing::info!(
            entries = hot.entries,
            bytes = hot.bytes,
            hits = hot.hits,
            misses = hot.misses,
            "hot cache at shutdown"
        );
    }
    tracing::info!("stopped");
    Ok(())
}
