//! Helpers for the end-to-end tests: start the real `engram` binary on a free port with its own
//! data directory, and talk to it with the generated engram.v1 clients.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub use engram_proto::v1 as pb;
use pb::{
    admin_service_client::AdminServiceClient, agent_service_client::AgentServiceClient,
    context_service_client::ContextServiceClient, conversation_service_client::ConversationServiceClient,
    erasure_service_client::ErasureServiceClient, lifecycle_service_client::LifecycleServiceClient,
    memory_service_client::MemoryServiceClient, session_service_client::SessionServiceClient,
    simulation_service_client::SimulationServiceClient, watch_service_client::WatchServiceClient,
    working_memory_service_client::WorkingMemoryServiceClient,
};

/// The `engram` binary: `$ENGRAM_BIN`, else `target/debug/engram` (the Makefile builds it first).
pub fn engram_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("ENGRAM_BIN") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let path = target.join("debug").join("engram");
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build -p engram-server` first (make test does), or set ENGRAM_BIN",
        path.display()
    );
    path
}

/// A running `engram serve` process. Killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The bootstrap admin key of org_default.
    pub admin_key: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on a fresh temporary data directory.
    pub fn start(extra_args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in(tmp.path(), extra_args);
        server._tmp = Some(tmp);
        server
    }

    /// A server on `data_dir` (kept after the server stops), on its embedded SQLite store.
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> Server {
        let mut server = Self::launch(data_dir, None, extra_args);
        server.admin_key = std::fs::read_to_string(data_dir.join("admin.key")).expect("admin.key").trim().to_owned();
        server
    }

    /// A server on the PostgreSQL database `db` (migrated with [`PgDatabase::migrate`]), with a
    /// data directory of its own; `admin_key` is the key `engram migrate` printed.
    pub fn start_on(db: &PgDatabase, extra_args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::launch(tmp.path(), Some(&db.url), extra_args);
        server.admin_key = db.admin_key.clone().expect("the database was not migrated with PgDatabase::migrate");
        server._tmp = Some(tmp);
        server
    }

    /// A server on a fresh temporary data directory, with extra environment variables.
    pub fn start_with_env(extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::launch_with(tmp.path(), None, extra_args, env);
        server.admin_key = std::fs::read_to_string(tmp.path().join("admin.key")).expect("admin.key").trim().to_owned();
        server._tmp = Some(tmp);
        server
    }

    /// Spawns `engram serve` and waits for the address it prints.
    fn launch(data_dir: &Path, database_url: Option<&str>, extra_args: &[&str]) -> Server {
        Self::launch_with(data_dir, database_url, extra_args, &[])
    }

    fn launch_with(data_dir: &Path, database_url: Option<&str>, extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(engram_bin());
        command.envs(env.iter().copied());
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .env("ENGRAM_LOG_LEVEL", std::env::var("ENGRAM_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        match database_url {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        let mut child = command.spawn().expect("spawn engram");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("engram: listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("engram did not report its address within 60 s"));
        Server {
            child,
            addr: addr.parse().expect("address"),
            admin_key: String::new(),
            data_dir: data_dir.to_owned(),
            _tmp: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        let endpoint = Endpoint::from_shared(self.url()).expect("endpoint").connect_timeout(Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match endpoint.connect().await {
                Ok(channel) => return channel,
                Err(err) if Instant::now() > deadline => panic!("cannot connect to {}: {err}", self.url()),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Clients authenticated with `key` (None: no key at all).
    pub async fn clients(&self, key: Option<&str>) -> Clients {
        Clients::new(self.channel().await, key)
    }

    /// Clients with the bootstrap admin key.
    pub async fn admin(&self) -> Clients {
        self.clients(Some(&self.admin_key.clone())).await
    }

    /// SIGKILL, no cleanup.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

use engram_store::testsuite::PgTestDatabase;
pub use engram_store::testsuite::postgres_admin_url;

/// A database created for one test on the tests' PostgreSQL server (engram-store's
/// [`PgTestDatabase`]), dropped with its connections when this is dropped; plus what running
/// `engram migrate` on it printed.
pub struct PgDatabase {
    /// The URL `engram` gets as DATABASE_URL.
    pub url: String,
    /// The admin key `engram migrate` printed, once [`PgDatabase::migrate`] ran.
    pub admin_key: Option<String>,
    db: PgTestDatabase,
}

impl PgDatabase {
    /// A new empty database. Panics with a clear message when no PostgreSQL answers.
    pub async fn create() -> PgDatabase {
        let db = PgTestDatabase::create().await;
        PgDatabase { url: db.url.clone(), admin_key: None, db }
    }

    /// Runs `engram migrate` on it and keeps the admin key it prints; returns its whole output.
    pub fn migrate(&mut self) -> std::process::Output {
        let output = self.engram(&["migrate"]);
        assert!(output.status.success(), "engram migrate failed: {}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        if let Some(key) = stdout.lines().find_map(|l| l.split("(shown once): ").nth(1)) {
            self.admin_key = Some(key.trim().to_owned());
        }
        output
    }

    /// Runs `engram <args>` with DATABASE_URL set to this database and waits for it.
    pub fn engram(&self, args: &[&str]) -> std::process::Output {
        Command::new(engram_bin())
            .args(args)
            .env("DATABASE_URL", &self.url)
            .env("ENGRAM_LOG_LEVEL", "warn")
            .output()
            .expect("run engram")
    }

    /// Runs SQL on it.
    pub async fn execute(&self, sql: &str) {
        self.db.execute(sql).await;
    }

    /// The first column of the first row of `sql`, as text (`None`: no row, or NULL).
    pub async fn query_text(&self, sql: &str) -> Option<String> {
        self.db.query_text(sql).await
    }
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

pub type Authed = InterceptedService<Channel, KeyInterceptor>;

/// One client per engram.v1 service, sharing a channel and a key.
#[derive(Clone)]
pub struct Clients {
    pub agents: AgentServiceClient<Authed>,
    pub sessions: SessionServiceClient<Authed>,
    pub memories: MemoryServiceClient<Authed>,
    pub context: ContextServiceClient<Authed>,
    pub admin: AdminServiceClient<Authed>,
    pub conversations: ConversationServiceClient<Authed>,
    pub working_memory: WorkingMemoryServiceClient<Authed>,
    pub watch: WatchServiceClient<Authed>,
    pub simulation: SimulationServiceClient<Authed>,
    pub lifecycle: LifecycleServiceClient<Authed>,
    pub erasure: ErasureServiceClient<Authed>,
}

impl Clients {
    pub fn new(channel: Channel, key: Option<&str>) -> Self {
        let key = KeyInterceptor(key.map(|k| k.parse().expect("ascii key")));
        Self {
            agents: AgentServiceClient::with_interceptor(channel.clone(), key.clone()),
            sessions: SessionServiceClient::with_interceptor(channel.clone(), key.clone()),
            memories: MemoryServiceClient::with_interceptor(channel.clone(), key.clone())
                .max_decoding_message_size(64 << 20),
            context: ContextServiceClient::with_interceptor(channel.clone(), key.clone()),
            conversations: ConversationServiceClient::with_interceptor(channel.clone(), key.clone()),
            working_memory: WorkingMemoryServiceClient::with_interceptor(channel.clone(), key.clone()),
            watch: WatchServiceClient::with_interceptor(channel.clone(), key.clone()),
            simulation: SimulationServiceClient::with_interceptor(channel.clone(), key.clone()),
            lifecycle: LifecycleServiceClient::with_interceptor(channel.clone(), key.clone()),
            erasure: ErasureServiceClient::with_interceptor(channel.clone(), key.clone()),
            admin: AdminServiceClient::with_interceptor(channel, key),
        }
    }
}

/// Creates an org and a key in it with the given permissions; returns (org id, secret).
pub async fn org_with_key(admin: &mut Clients, name: &str, permissions: &[pb::Permission]) -> (String, String) {
    let org =
        admin.admin.create_org(pb::CreateOrgRequest { name: name.into() }).await.expect("create org").into_inner();
    let secret = api_key(admin, &org.id, permissions).await;
    (org.id, secret)
}

/// A new key in `org`.
pub async fn api_key(admin: &mut Clients, org: &str, permissions: &[pb::Permission]) -> String {
    admin
        .admin
        .create_api_key(pb::CreateApiKeyRequest {
            org_id: org.into(),
            name: "test".into(),
            permissions: permissions.iter().map(|p| *p as i32).collect(),
            expires_at: None,
        })
        .await
        .expect("create key")
        .into_inner()
        .secret
}

/// A NewMemory with the given agent and content; everything else default.
pub fn memory(agent: &str, content: &str) -> pb::NewMemory {
    pb::NewMemory { agent: agent.into(), content: content.into(), ..Default::default() }
}

/// A `google.protobuf.Struct` from a JSON object literal.
pub fn json_struct(value: serde_json::Value) -> prost_types::Struct {
    fn to_value(v: &serde_json::Value) -> prost_types::Value {
        use prost_types::value::Kind;
        let kind = match v {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(b) => Kind::BoolValue(*b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
            serde_json::Value::String(s) => Kind::StringValue(s.clone()),
            serde_json::Value::Array(a) => {
                Kind::ListValue(prost_types::ListValue { values: a.iter().map(to_value).collect() })
            }
            serde_json::Value::Object(_) => Kind::StructValue(json_struct(v.clone())),
        };
        prost_types::Value { kind: Some(kind) }
    }
    let serde_json::Value::Object(map) = value else { panic!("json_struct needs an object") };
    prost_types::Struct { fields: map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect() }
}

/// A string field of a Struct.
pub fn struct_str<'a>(s: &'a Option<prost_types::Struct>, key: &str) -> Option<&'a str> {
    match s.as_ref()?.fields.get(key)?.kind.as_ref()? {
        prost_types::value::Kind::StringValue(v) => Some(v),
        _ => None,
    }
}

pub fn filter() -> pb::MemoryFilter {
    pb::MemoryFilter::default()
}
