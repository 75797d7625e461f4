//! The server's configuration, independent of where it came from: the CLI (`cli`) builds it from
//! flags and `ENGRAM_*` variables; `server` runs on it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use engram_core::Limits;
use engram_embed::EmbedderConfig;
use engram_search::Ranking;
use engram_store::{Backend, StoreOptions};

/// Where the store lives and how it is opened.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The embedded store's directory (its SQLite file and `admin.key`).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    pub options: StoreOptions,
}

impl StoreConfig {
    /// The embedded default: `<data dir>/engram.db`.
    pub fn embedded(data_dir: PathBuf, options: StoreOptions) -> Self {
        let database_url = format!("sqlite://{}?mode=rwc", data_dir.join("engram.db").display());
        Self { data_dir, database_url, options }
    }

    pub fn backend(&self) -> engram_core::Result<Backend> {
        Backend::of_url(&self.database_url)
    }
}

/// Everything `engram serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// gRPC and REST address; port 0 picks a free one.
    pub listen: SocketAddr,
    /// TLS on that port (None: plain TCP).
    pub tls: Option<TlsConfig>,
    pub store: StoreConfig,
    /// Development only: every request acts as an admin of `org_default`.
    pub no_auth: bool,
    /// Input limits.
    pub limits: Limits,
    /// How long in-flight requests get after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Requests worked on at once on the port; one more is shed (0: no limit).
    pub max_concurrent_requests: usize,
    pub search: SearchConfig,
    pub conversations: ConversationConfig,
    pub lifecycle: LifecycleConfig,
    /// Bytes of the hot tier's in-process cache of memories (0: none; only on the embedded
    /// SQLite store, where this process makes every change).
    pub hot_cache_bytes: usize,
    /// `/mcp`: the `Host` header values it accepts (DNS rebinding protection); empty: any.
    pub mcp_allowed_hosts: Vec<String>,
    /// Request metrics labelled by org too (off: no tenant data in labels).
    pub metrics_org_label: bool,
    /// Bounds on slow or stalled clients' connections (see `connections`).
    pub client_timeouts: crate::connections::ClientTimeouts,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: Duration,
    /// Rate limits and quotas of subjects without their own.
    pub limit_defaults: engram_app::LimitDefaults,
}

/// TLS on the port: PEM files, reloaded when they change (`tls.rs`).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The server's certificate chain, its own certificate first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates a client's certificate must be signed by (mutual TLS); None: none asked.
    pub client_ca: Option<PathBuf>,
    /// How long a client gets to finish its handshake.
    pub handshake_timeout: Duration,
}

/// The memory lifecycle: the default policy and how often maintenance runs.
#[derive(Debug, Clone)]
pub struct LifecycleConfig {
    pub policy: engram_core::lifecycle::LifecyclePolicy,
    /// None: only on demand (ForceMaintenance).
    pub maintenance_interval: Option<Duration>,
}

/// Conversations: the hot-window cache's bound and the message tokenizer.
#[derive(Debug, Clone, Copy)]
pub struct ConversationConfig {
    pub window_cache_bytes: usize,
    pub message_tokenizer: engram_context::Tokenizer,
}

/// Ranked search.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Where the full-text index lives; None: in memory.
    pub index_dir: Option<PathBuf>,
    pub ranking: Ranking,
    /// Server-side embeddings; None: only clients' vectors.
    pub embedder: Option<EmbedderConfig>,
}
