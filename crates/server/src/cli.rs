//! Command line: `engram serve | migrate | org create|list | key create|list|revoke | export |
//! import | backup`.
//! Every setting is a flag with an `ENGRAM_*` (or `DATABASE_URL`) environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use engram_core::{Limits, Permission, ids, time};
use engram_embed::EmbedderConfig;
use engram_search::{Neighbourhood, Ranking};
use engram_store::{DynStore, StoreOptions};

use crate::config::{ConversationConfig, LifecycleConfig, SearchConfig, ServeConfig, StoreConfig, TlsConfig};
use crate::server;

#[derive(Debug, Parser)]
#[command(name = "engram", version, about = "Engram: a memory service for AI agents")]
pub struct Cli {
    /// Log level or tracing filter (e.g. `debug`, `info,engram_store=debug`).
    #[arg(long, env = "ENGRAM_LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,
    /// Log format.
    #[arg(long, env = "ENGRAM_LOG_FORMAT", default_value = "pretty", global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (migrates an embedded SQLite store first).
    Serve(Box<ServeArgs>),
    /// Apply pending schema migrations, create the first admin API key if there is none, and exit.
    Migrate(StoreArgs),
    /// Manage orgs (tenants) directly in the store.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage API keys directly in the store.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Write the store's rows (every org's, or one org's) as NDJSON, a format version line first
    /// and a cursor on every record (OPERATIONS.md "Backup and restore").
    Export(ExportArgs),
    /// Read an export into the store: rows that exist already are skipped, so importing twice
    /// creates nothing twice.
    Import(ImportArgs),
    /// Copy the embedded SQLite store to a new file while a server may be running on it (SQLite's
    /// online backup); the copy is served as `<dir>/engram.db` by `engram serve --data-dir <dir>`.
    Backup(BackupArgs),
    /// Serve Engram's memory as MCP tools on stdin/stdout, for an MCP client that starts it
    /// (each tool calls the Engram at --addr with the key in ENGRAM_API_KEY).
    Mcp(McpArgs),
}

#[derive(Debug, Clone, Args)]
pub struct McpArgs {
    /// The running Engram: `http://host:port` (a bare `host:port` means http).
    #[arg(long, env = "ENGRAM_ADDR", default_value = "http://127.0.0.1:9100")]
    pub addr: String,
    /// The API key its tools act with.
    #[arg(long, env = "ENGRAM_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// An https address: PEM file of the CA certificate(s) to trust besides the system's.
    #[arg(long, env = "ENGRAM_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Mutual TLS: PEM file of this client's certificate (chain), with --client-key.
    #[arg(long, env = "ENGRAM_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Mutual TLS: PEM file of this client's private key, with --client-cert.
    #[arg(long, env = "ENGRAM_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Only this org (default: every org).
    #[arg(long)]
    pub org: Option<String>,
    /// Write to this file (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Continue after this record: the `cursor` of the last complete line of an interrupted export.
    #[arg(long)]
    pub after: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Read this file (default: standard input).
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The copy: a new file (name it engram.db in a directory of its own to serve it).
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite file and of admin.key.
    #[arg(long, env = "ENGRAM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://path?mode=rwc` or `postgres://...`. Default: `<data dir>/engram.db`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Database connections in the read pool (SQLite adds one writer connection).
    #[arg(long, env = "ENGRAM_DB_MAX_CONNECTIONS", default_value_t = 4)]
    pub db_max_connections: u32,
    /// SQLite synchronous mode: `full` fsyncs every commit (durable on power loss); `normal`
    /// survives a process crash only.
    #[arg(long, env = "ENGRAM_SQLITE_SYNC", default_value = "full")]
    pub sqlite_sync: SqliteSync,
    /// SQLite: MiB of the database file each reader maps into memory (0: read with pread). Rows
    /// read by key cost no system call; the mapped pages count in the RSS once touched.
    #[arg(long, env = "ENGRAM_SQLITE_MMAP_MB", default_value_t = engram_store::SQLITE_MMAP_MAX_MB,
          value_parser = clap::value_parser!(u64).range(0..=engram_store::SQLITE_MMAP_MAX_MB))]
    pub sqlite_mmap_mb: u64,
    /// SQLite: MiB of page cache of the writer's connection (the index pages its commits update
    /// stay in memory); the process's memory grows by up to this as the database grows past it.
    #[arg(long, env = "ENGRAM_SQLITE_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub sqlite_cache_mb: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SqliteSync {
    Full,
    Normal,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (gRPC). Port 0 picks a free port; the chosen address is printed.
    #[arg(long, env = "ENGRAM_LISTEN", default_value = "0.0.0.0:9100")]
    pub listen: SocketAddr,
    /// TLS: the server's certificate chain (PEM, its own certificate first). With --tls-key, the
    /// port speaks only TLS (ALPN h2 and http/1.1: gRPC, REST and MCP). Reloaded when it changes.
    #[arg(long, env = "ENGRAM_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: the certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1). Reloaded when it changes.
    #[arg(long, env = "ENGRAM_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// TLS: CA certificates (PEM); every client must present a certificate signed by one of them
    /// (mutual TLS). Without it no client certificate is asked for.
    #[arg(long, env = "ENGRAM_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// TLS: seconds a client gets to finish its handshake before the connection is closed.
    #[arg(long, env = "ENGRAM_TLS_HANDSHAKE_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub tls_handshake_timeout: std::time::Duration,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Development only: no API keys; every request acts as an admin of org_default.
    #[arg(long, env = "ENGRAM_NO_AUTH")]
    pub no_auth: bool,
    /// Largest memory content in bytes.
    #[arg(long, env = "ENGRAM_MAX_CONTENT_BYTES", default_value_t = Limits::default().max_content_bytes)]
    pub max_content_bytes: usize,
    /// Most tags on one memory.
    #[arg(long, env = "ENGRAM_MAX_TAGS", default_value_t = Limits::default().max_tags)]
    pub max_tags: usize,
    /// Largest metadata object, in bytes of JSON.
    #[arg(long, env = "ENGRAM_MAX_METADATA_BYTES", default_value_t = Limits::default().max_metadata_bytes)]
    pub max_metadata_bytes: usize,
    /// Most memories in one AddMemories batch.
    #[arg(long, env = "ENGRAM_MAX_BATCH", default_value_t = Limits::default().max_batch)]
    pub max_batch: usize,
    /// Largest gRPC request message in bytes.
    #[arg(long, env = "ENGRAM_MAX_MESSAGE_BYTES", default_value_t = Limits::default().max_message_bytes)]
    pub max_message_bytes: usize,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT before the server stops
    /// anyway (keep it below Kubernetes' terminationGracePeriodSeconds).
    #[arg(long, env = "ENGRAM_SHUTDOWN_TIMEOUT", default_value = "20", value_parser = parse_seconds)]
    pub shutdown_timeout: std::time::Duration,
    /// Requests worked on at once (gRPC, REST and MCP together); one more is answered at once with
    /// UNAVAILABLE / HTTP 503 instead of queueing (0: no limit). Health checks are never shed.
    #[arg(long, env = "ENGRAM_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    pub max_concurrent_requests: usize,
    /// Directory of the full-text index (derived from the store, rebuilt when missing; each
    /// replica keeps its own). Default: `<data dir>/index`. `memory`: in memory, rebuilt at start.
    #[arg(long, env = "ENGRAM_INDEX_DIR")]
    pub index_dir: Option<PathBuf>,
    /// Ranked search: days after which recency counts half.
    #[arg(long, env = "ENGRAM_RECENCY_HALF_LIFE_DAYS", default_value_t = Ranking::default().half_life_secs / 86_400.0)]
    pub recency_half_life_days: f64,
    /// Ranked search: weight of recency (0..1) in `bm25 × (1 + w_r × recency + w_i × importance)`.
    #[arg(long, env = "ENGRAM_RECENCY_WEIGHT", default_value_t = Ranking::default().recency_weight)]
    pub recency_weight: f64,
    /// Ranked search: weight of importance (0..1), as above.
    #[arg(long, env = "ENGRAM_IMPORTANCE_WEIGHT", default_value_t = Ranking::default().importance_weight)]
    pub importance_weight: f64,
    /// Ranked search: weight of a memory's best neighbour in its session (up to two places away,
    /// the second counting half), relative to the best match's score; 0: off.
    #[arg(long, env = "ENGRAM_NEIGHBOUR_WEIGHT", default_value_t = Neighbourhood::default().neighbour_weight)]
    pub neighbour_weight: f64,
    /// Ranked search: weight of the best match in a memory's session, as above; 0: off.
    #[arg(long, env = "ENGRAM_SESSION_WEIGHT", default_value_t = Neighbourhood::default().session_weight)]
    pub session_weight: f64,
    /// Server-side embeddings: `none` (clients may still send vectors), `local` (a model
    /// directory, see --embedding-model-dir) or `http` (an OpenAI-compatible endpoint).
    #[arg(long, env = "ENGRAM_EMBEDDER", default_value = "none")]
    pub embedder: EmbedderKind,
    /// `local`: a sentence-transformers model directory (config.json, model.safetensors,
    /// tokenizer.json), e.g. all-MiniLM-L6-v2 or bge-small-en-v1.5. Nothing is downloaded.
    #[arg(long, env = "ENGRAM_EMBEDDING_MODEL_DIR")]
    pub embedding_model_dir: Option<PathBuf>,
    /// `http`: the API's base URL; Engram calls POST <url>/embeddings (OpenAI, Ollama
    /// `http://localhost:11434/v1`, TEI, vLLM).
    #[arg(long, env = "ENGRAM_EMBEDDING_URL")]
    pub embedding_url: Option<String>,
    /// `http`: the model name sent with each request.
    #[arg(long, env = "ENGRAM_EMBEDDING_MODEL", default_value = "text-embedding-3-small")]
    pub embedding_model: String,
    /// `http`: the bearer token (environment only is best).
    #[arg(long, env = "ENGRAM_EMBEDDING_API_KEY", hide_env_values = true)]
    pub embedding_api_key: Option<String>,
    /// `http`: seconds one call may take before it is retried (3 attempts).
    #[arg(long, env = "ENGRAM_EMBEDDING_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub embedding_timeout: std::time::Duration,
    /// MiB of conversation messages the hot-window cache of this process may hold (0: none).
    #[arg(long, env = "ENGRAM_WINDOW_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub window_cache_mb: u64,
    /// The tokenizer that counts conversation messages at write time (`cl100k_base`, `o200k_base`).
    #[arg(long, env = "ENGRAM_MESSAGE_TOKENIZER", default_value = "cl100k_base", value_parser = parse_tokenizer)]
    pub message_tokenizer: engram_context::Tokenizer,
    /// The lifecycle policy of agents that set none, as JSON over the defaults, e.g.
    /// '{"cold_after": "14d", "decay_factor": 0.95}' (README "Memory lifecycle").
    #[arg(long, env = "ENGRAM_LIFECYCLE", default_value = "{}")]
    pub lifecycle: String,
    /// Seconds between maintenance passes over every org (0: only ForceMaintenance).
    #[arg(long, env = "ENGRAM_MAINTENANCE_INTERVAL", default_value = "3600", value_parser = parse_seconds)]
    pub maintenance_interval: std::time::Duration,
    /// MiB of hot memories the hot tier's in-process cache holds (0: none). Embedded SQLite only:
    /// on PostgreSQL it is off (another replica's delete could not reach it).
    #[arg(long, env = "ENGRAM_HOT_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub hot_cache_mb: u64,
    /// `/mcp` (MCP over streamable HTTP): the `Host` values it accepts, comma-separated
    /// (`example.com`, `example.com:8443`), against DNS rebinding. Default: any with API keys
    /// (every request needs one), loopback only with --no-auth.
    #[arg(long, env = "ENGRAM_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,
    /// Default rate limit of every API key, in calls per second (0: none). `engram key limits`
    /// sets a key's own. Each server process keeps its own buckets.
    #[arg(long, env = "ENGRAM_KEY_RATE_LIMIT", default_value_t = 0.0)]
    pub key_rate_limit: f64,
    /// Default burst of a key's rate limit (0: one second's worth).
    #[arg(long, env = "ENGRAM_KEY_RATE_BURST", default_value_t = 0)]
    pub key_rate_burst: u32,
    /// Default rate limit of every org (all its keys together), in calls per second (0: none).
    #[arg(long, env = "ENGRAM_ORG_RATE_LIMIT", default_value_t = 0.0)]
    pub org_rate_limit: f64,
    /// Default burst of an org's rate limit (0: one second's worth).
    #[arg(long, env = "ENGRAM_ORG_RATE_BURST", default_value_t = 0)]
    pub org_rate_burst: u32,
    /// Default quota of live memories per org (0: none). `engram org limits` sets an org's own.
    #[arg(long, env = "ENGRAM_ORG_MAX_MEMORIES", default_value_t = 0)]
    pub org_max_memories: u64,
    /// Default quota of memory content bytes per org (UTF-8 bytes of the live memories' content;
    /// a number, or with KiB, MiB, GiB or TiB; 0: none). `engram org limits` sets an org's own.
    #[arg(long, env = "ENGRAM_ORG_MAX_MEMORY_BYTES", default_value = "0", value_parser = parse_bytes)]
    pub org_max_memory_bytes: u64,
    /// Seconds a subject's stored limits are used before they are read again (a change made with
    /// `engram key|org limits` takes effect within this).
    #[arg(long, env = "ENGRAM_LIMITS_REFRESH", default_value = "5", value_parser = parse_seconds)]
    pub limits_refresh: std::time::Duration,
    /// Seconds a client has to send a request's headers (HTTP/1.1), or a new connection its first
    /// byte; then the connection is closed.
    #[arg(long, env = "ENGRAM_HEADER_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub header_timeout: std::time::Duration,
    /// Seconds a request body may stall (no data) before the request ends with 408.
    #[arg(long, env = "ENGRAM_BODY_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub body_timeout: std::time::Duration,
    /// Seconds between HTTP/2 pings on an idle connection; a ping unanswered in half this time
    /// closes it.
    #[arg(long, env = "ENGRAM_KEEP_ALIVE", default_value = "60", value_parser = parse_seconds)]
    pub keep_alive: std::time::Duration,
    /// Label the request metrics of `/metrics` and OTLP with the caller's org too (one series per
    /// org and method: enable only with a bounded number of orgs).
    #[arg(long, env = "ENGRAM_METRICS_ORG_LABEL")]
    pub metrics_org_label: bool,
    /// Seconds between returns of glibc malloc's free memory to the system (`malloc_trim`; 0:
    /// never). Without them the resident memory grows with the free memory glibc keeps.
    #[arg(long, env = "ENGRAM_MALLOC_TRIM_INTERVAL", default_value = "60", value_parser = parse_seconds)]
    pub malloc_trim_interval: std::time::Duration,
}

fn parse_tokenizer(name: &str) -> Result<engram_context::Tokenizer, String> {
    engram_context::Tokenizer::parse(name)
        .ok_or_else(|| format!("{name:?} is not a tokenizer (cl100k_base, o200k_base)"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmbedderKind {
    None,
    Local,
    Http,
}

impl ServeArgs {
    pub fn config(&self) -> anyhow::Result<ServeConfig> {
        for (flag, value) in [
            ("--recency-half-life-days", self.recency_half_life_days),
            ("--recency-weight", self.recency_weight),
            ("--importance-weight", self.importance_weight),
            ("--neighbour-weight", self.neighbour_weight),
            ("--session-weight", self.session_weight),
        ] {
            anyhow::ensure!(value.is_finite() && value >= 0.0, "{flag}: is {value}; must be a number >= 0");
        }
        Ok(ServeConfig {
            listen: self.listen,
            tls: self.tls_config()?,
            store: self.store.config(),
            no_auth: self.no_auth,
            limits: Limits {
                max_content_bytes: self.max_content_bytes,
                max_tags: self.max_tags,
                max_metadata_bytes: self.max_metadata_bytes,
                max_batch: self.max_batch,
                max_message_bytes: self.max_message_bytes,
                ..Limits::default()
            },
            shutdown_timeout: self.shutdown_timeout,
            max_concurrent_requests: self.max_concurrent_requests,
            search: SearchConfig {
                index_dir: match &self.index_dir {
                    Some(dir) if dir.as_os_str() == "memory" => None,
                    Some(dir) => Some(dir.clone()),
                    None => Some(self.store.data_dir.join("index")),
                },
                ranking: Ranking {
                    half_life_secs: self.recency_half_life_days * 86_400.0,
                    recency_weight: self.recency_weight,
                    importance_weight: self.importance_weight,
                    context: Neighbourhood {
                        neighbour_weight: self.neighbour_weight,
                        session_weight: self.session_weight,
                        ..Neighbourhood::default()
                    },
                },
                embedder: self.embedder_config()?,
            },
            conversations: ConversationConfig {
                window_cache_bytes: usize::try_from(self.window_cache_mb << 20).unwrap_or(usize::MAX),
                message_tokenizer: self.message_tokenizer,
            },
            hot_cache_bytes: usize::try_from(self.hot_cache_mb << 20).unwrap_or(usize::MAX),
            metrics_org_label: self.metrics_org_label,
            limit_defaults: self.limit_defaults()?,
            client_timeouts: crate::connections::ClientTimeouts {
                header_timeout: positive("header-timeout", self.header_timeout)?,
                keep_alive: positive("keep-alive", self.keep_alive)?,
            },
            body_timeout: positive("body-timeout", self.body_timeout)?,
            mcp_allowed_hosts: match (&self.mcp_allowed_hosts[..], self.no_auth) {
                ([], true) => ["localhost", "127.0.0.1", "::1"].map(str::to_owned).to_vec(),
                (hosts, _) => hosts.iter().map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect(),
            },
            lifecycle: LifecycleConfig {
                policy: {
                    let json: serde_json::Value = serde_json::from_str(&self.lifecycle)
                        .with_context(|| format!("--lifecycle: {:?} is not JSON", self.lifecycle))?;
                    engram_core::lifecycle::LifecyclePolicy::default()
                        .overlay("--lifecycle", &json)
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                },
                maintenance_interval: (!self.maintenance_interval.is_zero()).then_some(self.maintenance_interval),
            },
        })
    }

    fn tls_config(&self) -> anyhow::Result<Option<TlsConfig>> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone()),
            (None, None) => {
                anyhow::ensure!(
                    self.tls_client_ca.is_none(),
                    "--tls-client-ca needs TLS: set --tls-cert and --tls-key (ENGRAM_TLS_CERT, ENGRAM_TLS_KEY) too"
                );
                return Ok(None);
            }
            (Some(_), None) => {
                anyhow::bail!("--tls-cert needs --tls-key (ENGRAM_TLS_KEY): the certificate's private key")
            }
            (None, Some(_)) => anyhow::bail!("--tls-key needs --tls-cert (ENGRAM_TLS_CERT): the key's certificate"),
        };
        anyhow::ensure!(
            !self.tls_handshake_timeout.is_zero(),
            "--tls-handshake-timeout: is 0; must be more than 0 seconds"
        );
        Ok(Some(TlsConfig {
            cert,
            key,
            client_ca: self.tls_client_ca.clone(),
            handshake_timeout: self.tls_handshake_timeout,
        }))
    }

    fn embedder_config(&self) -> anyhow::Result<Option<EmbedderConfig>> {
        Ok(match self.embedder {
            EmbedderKind::None => None,
            EmbedderKind::Local => Some(EmbedderConfig::Local {
                model_dir: self.embedding_model_dir.clone().context(
                    "--embedder local needs --embedding-model-dir (ENGRAM_EMBEDDING_MODEL_DIR): a sentence-transformers \
                     model directory",
                )?,
            }),
            EmbedderKind::Http => Some(EmbedderConfig::Http {
                base: self.embedding_url.clone().context(
                    "--embedder http needs --embedding-url (ENGRAM_EMBEDDING_URL), e.g. http://localhost:11434/v1",
                )?,
                model: self.embedding_model.clone(),
                api_key: self.embedding_api_key.clone(),
                timeout: self.embedding_timeout,
            }),
        })
    }
}

impl ServeArgs {
    fn limit_defaults(&self) -> anyhow::Result<engram_app::LimitDefaults> {
        use engram_core::quota::SubjectLimits;
        let rate = |flag: &str, rate: f64, burst: u32| -> anyhow::Result<SubjectLimits> {
            let limits = SubjectLimits {
                rate_per_sec: (rate != 0.0).then_some(rate),
                burst: (burst != 0 && rate != 0.0).then_some(burst),
                ..Default::default()
            };
            limits.validate().with_context(|| format!("--{flag}"))?;
            Ok(limits)
        };
        let mut org = rate("org-rate-limit", self.org_rate_limit, self.org_rate_burst)?;
        org.max_memories = (self.org_max_memories != 0).then_some(self.org_max_memories);
        org.max_memory_bytes = (self.org_max_memory_bytes != 0).then_some(self.org_max_memory_bytes);
        Ok(engram_app::LimitDefaults {
            key: rate("key-rate-limit", self.key_rate_limit, self.key_rate_burst)?,
            org,
            refresh: self.limits_refresh,
        })
    }
}

fn positive(flag: &str, seconds: std::time::Duration) -> anyhow::Result<std::time::Duration> {
    anyhow::ensure!(!seconds.is_zero(), "--{flag}: must be more than 0 seconds");
    Ok(seconds)
}

/// A number of bytes: digits, optionally followed by KiB, MiB, GiB or TiB (powers of 1024).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        "TiB" => 40,
        other => return Err(format!("{other:?} is not a unit: use a number of bytes, or KiB, MiB, GiB or TiB")),
    };
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a number of bytes"))?;
    number.checked_mul(1u64 << shift).ok_or_else(|| format!("{text:?} is more than 2^64 bytes"))
}

/// A non-negative number of seconds (fractions allowed).
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?}: must be between 0 and 2^64 seconds"))
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an org; prints its id.
    Create {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List orgs.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show or set an org's own limits: its rate limit (every key of the org together, per
    /// server process) and its quota of stored memories. Flags given replace those fields; the
    /// others stay. Servers pick a change up within --limits-refresh.
    Limits {
        /// Org id.
        org: String,
        #[command(flatten)]
        rate: RateArgs,
        /// Live memories the org may store; a write that would pass it is refused.
        #[arg(long)]
        max_memories: Option<u64>,
        /// Bytes of memory content (UTF-8) the org's live memories may hold: a number, or with
        /// KiB, MiB, GiB or TiB; a write that would pass it is refused.
        #[arg(long, value_parser = parse_bytes)]
        max_memory_bytes: Option<u64>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// A subject's rate limit flags (`engram key limits`, `engram org limits`).
#[derive(Debug, Clone, Args)]
pub struct RateArgs {
    /// Calls per second (a token bucket, refilled continuously).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Calls that may come at once (default: one second's worth).
    #[arg(long)]
    pub burst: Option<u32>,
    /// Remove every limit of its own (the server's defaults apply again).
    #[arg(long, conflicts_with_all = ["rate", "burst"])]
    pub clear: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints the secret once.
    Create {
        /// Org id (default org_default).
        #[arg(long, default_value = ids::DEFAULT_ORG_ID)]
        org: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: read, write, admin.
        #[arg(long, value_delimiter = ',', default_value = "read,write")]
        permissions: Vec<String>,
        /// Expiry as a duration from now (`30d`, `12h`) or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the keys of an org (never their secrets).
    List {
        #[arg(long, default_value = ids::DEFAULT_ORG_ID)]
        org: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show or set a key's own rate limit (flags given replace those fields; the others stay).
    /// Servers pick a change up within --limits-refresh.
    Limits {
        /// Key id (`key_...`).
        id: String,
        #[command(flatten)]
        rate: RateArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id (`key_...`); effective on the next request.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

impl StoreArgs {
    pub fn config(&self) -> StoreConfig {
        let options = StoreOptions {
            max_connections: self.db_max_connections,
            sqlite_sync_full: matches!(self.sqlite_sync, SqliteSync::Full),
            sqlite_mmap_bytes: self.sqlite_mmap_mb << 20,
            sqlite_cache_bytes: self.sqlite_cache_mb << 20,
            ..StoreOptions::default()
        };
        let mut config = StoreConfig::embedded(self.data_dir.clone(), options);
        if let Some(url) = self.database_url.clone().filter(|u| !u.is_empty()) {
            config.database_url = url;
        }
        config
    }
}

/// Logs for every command; traces and metrics over OTLP for `serve` when the standard
/// `OTEL_*` variables ask (see `telemetry`). Runs inside the Tokio runtime.
pub fn init_telemetry(cli: &Cli) -> anyhow::Result<crate::telemetry::Telemetry> {
    let exporters = match cli.command {
        Command::Serve(_) => crate::telemetry::Exporters::from_env(|name| std::env::var(name).ok())?,
        _ => crate::telemetry::Exporters::default(),
    };
    crate::telemetry::init(&cli.log_level, matches!(cli.log_format, LogFormat::Json), &exporters)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            engram_malloc::spawn_trimmer(args.malloc_trim_interval, |trim| {
                let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
                let (in_use, free, mmapped) =
                    trim.heap.map_or((0.0, 0.0, 0.0), |h| (mib(h.in_use), mib(h.free), mib(h.mmapped)));
                tracing::debug!(
                    released = trim.released,
                    took_ms = trim.took.as_secs_f64() * 1e3,
                    heap_in_use_mib = in_use,
                    heap_free_mib = free,
                    heap_mmapped_mib = mmapped,
                    "malloc_trim"
                );
            })
            .context("cannot start the malloc trimmer thread")?;
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            server::serve(&args.config()?, listener, server::shutdown_signal()).await
        }
        Command::Migrate(store) => {
            let applied = server::migrate(&store.config()).await?;
            println!("applied {applied} migration(s)");
            Ok(())
        }
        Command::Org { command } => org(command).await,
        Command::Key { command } => key(command).await,
        Command::Mcp(args) => crate::mcp::stdio(args).await,
        Command::Export(args) => export(args).await,
        Command::Import(args) => import(args).await,
        Command::Backup(args) => {
            let size = crate::export::backup(&args.store.config().database_url, &args.output).await?;
            eprintln!("backed up to {} ({size} bytes)", args.output.display());
            Ok(())
        }
    }
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let store = open(&args.store).await?;
    let summary = match &args.output {
        Some(path) => {
            let file =
                std::fs::File::create(path).with_context(|| format!("--output: cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            let summary = crate::export::export(&store, args.org.as_deref(), args.after.as_deref(), &mut out).await?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            summary
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            crate::export::export(&store, args.org.as_deref(), args.after.as_deref(), &mut out).await?
        }
    };
    eprintln!("exported {}; last cursor {}", summary.describe(), summary.last_cursor.as_deref().unwrap_or("none"));
    Ok(())
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let store = open(&args.store).await?;
    let summary = match &args.input {
        Some(path) => {
            let file = std::fs::File::open(path).with_context(|| format!("--input: cannot open {}", path.display()))?;
            crate::export::import(&store, std::io::BufReader::new(file)).await
        }
        None => crate::export::import(&store, std::io::stdin().lock()).await,
    };
    let closed = store.close().await;
    let summary = summary?;
    closed?;
    eprintln!("imported {}", summary.describe());
    Ok(())
}

async fn open(store: &StoreArgs) -> anyhow::Result<DynStore> {
    server::open_store(&store.config()).await
}

async fn org(command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create { name, store } => {
            let store = open(&store).await?;
            Limits::default().check_name("name", &name)?;
            let org = store.create_org(&ids::org_id(), &name, time::now()).await?;
            println!("{}\t{}", org.id, org.name);
        }
        OrgCommand::List { store } => {
            for org in open(&store).await?.list_orgs().await? {
                println!("{}\t{}\t{}", org.id, org.name, time::format_rfc3339(org.created_at));
            }
        }
        OrgCommand::Limits { org, rate, max_memories, max_memory_bytes, store } => {
            let store = open(&store).await?;
            store.get_org(&org).await?;
            let quotas = engram_core::quota::SubjectLimits { max_memories, max_memory_bytes, ..Default::default() };
            set_limits(&store, &org, &rate, quotas).await?;
        }
    }
    Ok(())
}

/// Applies the flags given (`rate`, and the quotas set in `quotas`) over `subject`'s stored
/// limits and prints the result.
async fn set_limits(
    store: &DynStore,
    subject: &str,
    rate: &RateArgs,
    quotas: engram_core::quota::SubjectLimits,
) -> anyhow::Result<()> {
    let stored = store.limits(&[subject.to_owned()]).await?.into_iter().next().map(|(_, l)| l).unwrap_or_default();
    let changed = rate.clear
        || rate.rate.is_some()
        || rate.burst.is_some()
        || quotas.max_memories.is_some()
        || quotas.max_memory_bytes.is_some();
    let limits = if rate.clear {
        quotas
    } else {
        engram_core::quota::SubjectLimits {
            rate_per_sec: rate.rate.or(stored.rate_per_sec),
            burst: rate.burst.or(if rate.rate.is_some() { None } else { stored.burst }),
            max_memories: quotas.max_memories.or(stored.max_memories),
            max_memory_bytes: quotas.max_memory_bytes.or(stored.max_memory_bytes),
        }
    };
    if changed {
        store.set_limits(subject, &limits, time::now()).await?;
    }
    let show = |v: Option<String>| v.unwrap_or_else(|| "default".into());
    println!(
        "{subject}\trate_per_sec={}\tburst={}\tmax_memories={}\tmax_memory_bytes={}",
        show(limits.rate_per_sec.map(|r| r.to_string())),
        show(limits.bucket().map(|(_, b)| b.to_string())),
        show(limits.max_memories.map(|m| m.to_string())),
        show(limits.max_memory_bytes.map(|m| m.to_string()))
    );
    Ok(())
}

async fn key(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create { org, name, permissions, expires, store } => {
            let store = open(&store).await?;
            let permissions = permissions
                .iter()
                .map(|p| {
                    Permission::parse(p.trim())
                        .with_context(|| format!("permissions: {p:?} is not read, write or admin"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let expires_at = match expires {
                None => None,
                Some(spec) => {
                    let now = time::now();
                    let parsed = time::parse_spec("expires", &spec, now)?.context("expires: empty")?;
                    // A relative spec means "from now" here, not "ago".
                    Some(if parsed < now { now + (now - parsed) } else { parsed })
                }
            };
            let (key, secret) =
                engram_app::create_api_key(&store, &Limits::default(), &org, &name, permissions, expires_at).await?;
            eprintln!("created {} in {} (the secret is shown once):", key.id, key.org_id);
            println!("{secret}");
        }
        KeyCommand::List { org, store } => {
            for key in open(&store).await?.list_api_keys(&org).await? {
                let permissions: Vec<&str> = key.permissions.iter().map(|p| p.as_str()).collect();
                let state = match (key.revoked_at, key.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, Some(t)) if t <= time::now() => "expired",
                    _ => "active",
                };
                println!("{}\t{}\t{}\t{}", key.id, key.name, permissions.join(","), state);
            }
        }
        KeyCommand::Limits { id, rate, store } => {
            let store = open(&store).await?;
            if store.find_api_key(&id).await?.is_none() {
                anyhow::bail!("API key not found: {id}");
            }
            set_limits(&store, &id, &rate, Default::default()).await?;
        }
        KeyCommand::Revoke { id, store } => {
            let key = open(&store).await?.revoke_api_key(None, &id, time::now()).await?;
            println!("revoked {}", key.id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let argv = ["engram", "serve"].iter().chain(args).copied();
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Serve(serve) => *serve,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ranking_weights_must_be_numbers_of_zero_or_more() {
        let ranking = serve(&["--neighbour-weight", "0", "--session-weight", "0.25"]).config().unwrap().search.ranking;
        assert!(ranking.context.neighbour_weight == 0.0 && ranking.context.session_weight == 0.25);
        for (flag, value) in [("--session-weight", "-1"), ("--neighbour-weight", "NaN"), ("--recency-weight", "inf")] {
            let err = serve(&[&format!("{flag}={value}")]).config().unwrap_err().to_string();
            assert!(err.starts_with(flag) && err.contains(">= 0"), "{err}");
        }
    }

    #[test]
    fn sqlite_mmap_defaults_to_the_most_sqlite_allows_and_names_the_flag_past_it() {
        assert_eq!(serve(&[]).store.config().options.sqlite_mmap_bytes, 2047 << 20);
        assert_eq!(serve(&["--sqlite-mmap-mb", "0"]).store.config().options.sqlite_mmap_bytes, 0);
        assert_eq!(serve(&[]).store.config().options.sqlite_cache_bytes, 64 << 20);
        assert_eq!(serve(&["--sqlite-cache-mb", "8"]).store.config().options.sqlite_cache_bytes, 8 << 20);
        let argv = ["engram", "serve", "--sqlite-mmap-mb", "4096"];
        let err = Cli::try_parse_from(argv).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("--sqlite-mmap-mb") && err.contains("0..=2047"), "{err}");
    }
}
