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
    memory_service_client::MemoryServiceClient,
};

/// An `engram serve` process started by the bench. SIGTERM then SIGKILL on drop.
pub struct Spawned {
    child: Child,
    pub addr: SocketAddr,
    pub admin_key: String,
    pub log: PathBuf,
}

impl Spawned {
    /// `BIN serve --listen 127.0.0.1:0 --data-dir DIR EXTRA...`; stderr goes to `DIR/server.log`.
    pub fn start(bin: &Path, data_dir: &Path, extra: &[String], log_level: &str) -> anyhow::Result<Spawned> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let log = data_dir.join("server.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut child = Command::new(bin)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("DATABASE_URL")
            .env("ENGRAM_LOG_LEVEL", log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
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
        let key_file = data_dir.join("admin.key");
        spawned.admin_key = std::fs::read_to_string(&key_file)
            .with_context(|| format!("cannot read {}", key_file.display()))?
            .trim()
            .to_owned();
        Ok(spawned)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
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
}

/// Several HTTP/2 connections; each request takes the next one (round robin). Every phase uses it.
#[derive(Clone)]
pub struct Pool {
    clients: Arc<Vec<Clients>>,
    next: Arc<AtomicUsize>,
}

impl Pool {
    pub async fn connect(url: &str, key: Option<&str>, connections: usize, timeout: Duration) -> anyhow::Result<Pool> {
        let key = KeyInterceptor(match key {
            Some(k) => Some(k.parse().context("the API key is not valid ASCII metadata")?),
            None => None,
        });
        let endpoint = Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("bad server address {url:?}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .tcp_nodelay(true);
        let mut clients = Vec::new();
        for _ in 0..connections.max(1) {
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
                context: ContextServiceClient::with_interceptor(channel, key.clone())
                    .max_decoding_message_size(64 << 20),
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
