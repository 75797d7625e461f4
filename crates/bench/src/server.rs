//! Starting `engram serve` for a run, reading its memory use, and the client connection pool.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use engram_proto::v1 as pb;
use pb::{
    agent_service_client::AgentServiceClient, context_service_client::ContextServiceClient,
    conversation_service_client::ConversationServiceClient, lifecycle_service_client::LifecycleServiceClient,
    memory_service_client::MemoryServiceClient, simulation_service_client::SimulationServiceClient,
    watch_service_client::WatchServiceClient,
};

/// An `engram serve` process started by the bench. SIGTERM then SIGKILL on drop.
pub struct Spawned {
    child: Child,
    pub addr: SocketAddr,
    pub admin_key: String,
    pub log: PathBuf,
}

/// Where a started server keeps its memories.
#[derive(Debug, Clone, Copy)]
pub enum StoreOf<'a> {
    /// The embedded SQLite store in the data directory; the admin key is read from admin.key there.
    Embedded,
    /// A PostgreSQL database migrated with [`migrate`], and the admin key that printed.
    Postgres { url: &'a str, admin_key: &'a str },
}

/// `BIN migrate` on `database_url`; returns the admin key it printed, if it created one.
pub fn migrate(bin: &Path, database_url: &str) -> anyhow::Result<Option<String>> {
    let output = Command::new(bin)
        .arg("migrate")
        .env("DATABASE_URL", database_url)
        .env("ENGRAM_LOG_LEVEL", "warn")
        .output()
        .with_context(|| format!("cannot run {} migrate", bin.display()))?;
    if !output.status.success() {
        bail!("engram migrate failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout.lines().find_map(|l| l.split("(shown once): ").nth(1)).map(|k| k.trim().to_owned()))
}

impl Spawned {
    /// `BIN serve --listen 127.0.0.1:0 --data-dir DIR EXTRA...` on `store`; stderr goes to
    /// `DIR/server.log`.
    pub fn start(
        bin: &Path,
        data_dir: &Path,
        store: StoreOf<'_>,
        extra: &[String],
        log_level: &str,
    ) -> anyhow::Result<Spawned> {
        Spawned::start_at(bin, data_dir, store, "127.0.0.1:0", extra, log_level)
    }

    /// The same on the address `listen` (a fixed port: the soak restarts a server where its
    /// clients' connections reconnect).
    pub fn start_at(
        bin: &Path,
        data_dir: &Path,
        store: StoreOf<'_>,
        listen: &str,
        extra: &[String],
        log_level: &str,
    ) -> anyhow::Result<Spawned> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let log = data_dir.join("server.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("ENGRAM_LOG_LEVEL", log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        match store {
            StoreOf::Embedded => command.env_remove("DATABASE_URL"),
            StoreOf::Postgres { url, .. } => command.env("DATABASE_URL", url),
        };
        let mut child = command.spawn().with_context(|| format!("cannot start {}", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining stdout so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("engram: listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let mut spawned = Spawned { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), admin_key: String::new(), log };
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => addr,
            Err(_) => {
                let status = spawned.child.try_wait().ok().flatten();
                bail!(
                    "engram did not report its address within 120 s (exit status {status:?}); see {}",
                    spawned.log.display()
                );
            }
        };
        spawned.addr = addr.parse().with_context(|| format!("bad address {addr:?}"))?;
        spawned.admin_key = match store {
            StoreOf::Postgres { admin_key, .. } => admin_key.to_owned(),
            StoreOf::Embedded => {
                let key_file = data_dir.join("admin.key");
                std::fs::read_to_string(&key_file)
                    .with_context(|| format!("cannot read {}", key_file.display()))?
                    .trim()
                    .to_owned()
            }
        };
        Ok(spawned)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (`kill -9`): no shutdown at all; waits for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL if still running after 30 s. Returns the exit status if known.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// VmRSS and VmHWM of a process, in MB.
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    pub rss_mb: f64,
    pub hwm_mb: f64,
}

/// The summed RSS and HWM of `pids` (every server of the run); None if one cannot be read.
pub fn rss_sum(pids: &[u32]) -> Option<Rss> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold(Rss { rss_mb: 0.0, hwm_mb: 0.0 }, |sum, pid| {
        let one = rss(*pid)?;
        Some(Rss { rss_mb: sum.rss_mb + one.rss_mb, hwm_mb: sum.hwm_mb + one.hwm_mb })
    })
}

pub fn rss(pid: u32) -> Option<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb / 1024.0)
    };
    Some(Rss { rss_mb: field("VmRSS:")?, hwm_mb: field("VmHWM:")? })
}

/// Adds `x-api-key` to every request.
#[derive(Clone)]
pub struct KeyInterceptor(Option<MetadataValue<Ascii>>);

impl Interceptor for KeyInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(key) = &self.0 {
            request.metadata_mut().insert("x-api-key", key.clone());
        }
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, KeyInterceptor>;

/// The clients of one channel.
#[derive(Clone)]
pub struct Clients {
    pub agents: AgentServiceClient<Authed>,
    pub memories: MemoryServiceClient<Authed>,
    pub context: ContextServiceClient<Authed>,
    pub conversations: ConversationServiceClient<Authed>,
    pub watch: WatchServiceClient<Authed>,
    pub simulation: SimulationServiceClient<Authed>,
    pub lifecycle: LifecycleServiceClient<Authed>,
}

/// Several HTTP/2 connections, spread round robin over the servers (replicas); each request takes
/// the next connection (round robin). Every phase uses it.
#[derive(Clone)]
pub struct Pool {
    clients: Arc<Vec<Clients>>,
    next: Arc<AtomicUsize>,
}

impl Pool {
    pub async fn connect(
        urls: &[String],
        key: Option<&str>,
        connections: usize,
        timeout: Duration,
    ) -> anyhow::Result<Pool> {
        let key = KeyInterceptor(match key {
            Some(k) => Some(k.parse().context("the API key is not valid ASCII metadata")?),
            None => None,
        });
        anyhow::ensure!(!urls.is_empty(), "no server address");
        let mut clients = Vec::new();
        for i in 0..connections.max(urls.len()) {
            let url = &urls[i % urls.len()];
            let endpoint = Endpoint::from_shared(url.clone())
                .with_context(|| format!("bad server address {url:?}"))?
                .connect_timeout(Duration::from_secs(5))
                .timeout(timeout)
                .tcp_nodelay(true);
            let deadline = Instant::now() + Duration::from_secs(20);
            let channel = loop {
                match endpoint.connect().await {
                    Ok(channel) => break channel,
                    Err(err) if Instant::now() > deadline => bail!("cannot connect to {url}: {err}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            clients.push(Clients {
                agents: AgentServiceClient::with_interceptor(channel.clone(), key.clone()),
                memories: MemoryServiceClient::with_interceptor(channel.clone(), key.clone())
                    .max_decoding_message_size(64 << 20)
                    .max_encoding_message_size(64 << 20),
                context: ContextServiceClient::with_interceptor(channel.clone(), key.clone())
                    .max_decoding_message_size(64 << 20),
                conversations: ConversationServiceClient::with_interceptor(channel.clone(), key.clone())
                    .max_decoding_message_size(64 << 20),
                watch: WatchServiceClient::with_interceptor(channel.clone(), key.clone()),
                simulation: SimulationServiceClient::with_interceptor(channel.clone(), key.clone())
                    .max_decoding_message_size(64 << 20),
                lifecycle: LifecycleServiceClient::with_interceptor(channel, key.clone()),
            });
        }
        Ok(Pool { clients: Arc::new(clients), next: Arc::new(AtomicUsize::new(0)) })
    }

    pub fn size(&self) -> usize {
        self.clients.len()
    }

    /// The clients of the next connection.
    pub fn get(&self) -> Clients {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        self.clients[i].clone()
    }

    /// Registers the agents that do not exist yet (so that reads of an agent without memories are
    /// empty, not NotFound).
    pub async fn ensure_agents(&self, names: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
        let mut clients = self.get();
        for name in names {
            let request = pb::RegisterAgentRequest { name: name.clone(), ..Default::default() };
            match clients.agents.register_agent(request).await {
                Ok(_) => {}
                Err(status) if status.code() == tonic::Code::AlreadyExists => {}
                Err(status) => return Err(status).with_context(|| format!("RegisterAgent {name}")),
            }
        }
        Ok(())
    }

    /// Memories in the store: the sum of memory_count over every agent of the caller's org.
    pub async fn memory_count(&self) -> anyhow::Result<u64> {
        let mut clients = self.get();
        let mut total = 0;
        let mut page_token = String::new();
        loop {
            let page = clients
                .agents
                .list_agents(pb::ListAgentsRequest { page_size: 1000, page_token })
                .await
                .context("ListAgents")?
                .into_inner();
            for agent in page.agents {
                let stats = clients
                    .agents
                    .get_agent_stats(pb::GetAgentStatsRequest { agent: agent.id.clone() })
                    .await
                    .with_context(|| format!("GetAgentStats {}", agent.name))?
                    .into_inner();
                total += stats.memory_count;
            }
            if page.next_page_token.is_empty() {
                return Ok(total);
            }
            page_token = page.next_page_token;
        }
    }
}
