//! API keys end to end: rejected keys (missing, malformed, wrong, expired, revoked by the API and
//! by the CLI), `authorization: Bearer`, permissions, org-scoped admins, the bootstrap admin key,
//! the `engram org|key` CLI against a running server, and `--no-auth`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use engram_tests::{Clients, Server, api_key, engram_bin, memory, org_with_key, pb};
use pb::memory_service_client::MemoryServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

use pb::Permission::{Admin, Read, Write};

// ---- helpers --------------------------------------------------------------------------------

/// Output of `engram <args> --data-dir <dir>`; panics unless it exits with `success`.
fn cli(data_dir: &Path, args: &[&str], success: bool) -> (String, String) {
    let out = Command::new(engram_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("ENGRAM_LOG_LEVEL", "warn")
        .output()
        .expect("run engram");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.success(),
        success,
        "engram {args:?}: exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    (stdout, stderr)
}

/// Sends fixed headers with every request.
#[derive(Clone)]
struct Headers(Vec<(&'static str, MetadataValue<Ascii>)>);

impl Interceptor for Headers {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        for (name, value) in &self.0 {
            request.metadata_mut().insert(*name, value.clone());
        }
        Ok(request)
    }
}

fn raw_memories(
    channel: Channel,
    headers: &[(&'static str, String)],
) -> MemoryServiceClient<InterceptedService<Channel, Headers>> {
    let headers = headers.iter().map(|(k, v)| (*k, v.parse().expect("ascii header value"))).collect();
    MemoryServiceClient::with_interceptor(channel, Headers(headers))
}

fn add(m: pb::NewMemory) -> pb::AddMemoryRequest {
    pb::AddMemoryRequest { memory: Some(m) }
}

fn list_all() -> pb::ListMemoriesRequest {
    pb::ListMemoriesRequest { limit: 1000, ..Default::default() }
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>, code: Code, what: &str) {
    match result {
        Ok(response) => panic!("{what}: expected {code:?}, got OK: {:?}", response.into_inner()),
        Err(status) => assert_eq!(status.code(), code, "{what}: expected {code:?}, got {status:?}"),
    }
}

#[track_caller]
fn assert_ok<T>(result: Result<tonic::Response<T>, Status>, what: &str) -> T {
    match result {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("{what}: expected OK, got {status:?}"),
    }
}

/// A key created through the API: (id, secret).
async fn key_with(
    admin: &mut Clients,
    org: &str,
    permissions: &[pb::Permission],
    expires_at: Option<prost_types::Timestamp>,
) -> (String, String) {
    let response = admin
        .admin
        .create_api_key(pb::CreateApiKeyRequest {
            org_id: org.into(),
            name: "auth-test".into(),
            permissions: permissions.iter().map(|p| *p as i32).collect(),
            expires_at,
        })
        .await
        .expect("create key")
        .into_inner();
    (response.key.expect("key").id, response.secret)
}

/// Every service refuses `c` with Unauthenticated, for reads, writes and admin calls.
async fn assert_rejected(c: &mut Clients, what: &str) {
    let code = Code::Unauthenticated;
    assert_code(c.memories.list_memories(list_all()).await, code, &format!("{what}: ListMemories"));
    assert_code(
        c.memories.add_memory(add(memory("intruder", "must not be stored"))).await,
        code,
        &format!("{what}: AddMemory"),
    );
    assert_code(c.agents.list_agents(pb::ListAgentsRequest::default()).await, code, &format!("{what}: ListAgents"));
    assert_code(
        c.agents.register_agent(pb::RegisterAgentRequest { name: "intruder".into(), ..Default::default() }).await,
        code,
        &format!("{what}: RegisterAgent"),
    );
    assert_code(
        c.sessions.list_sessions(pb::ListSessionsRequest::default()).await,
        code,
        &format!("{what}: ListSessions"),
    );
    assert_code(
        c.context.build_context(pb::BuildContextRequest { agent: "someone".into(), ..Default::default() }).await,
        code,
        &format!("{what}: BuildContext"),
    );
    assert_code(c.admin.list_orgs(pb::ListOrgsRequest {}).await, code, &format!("{what}: ListOrgs"));
    assert_code(
        c.admin.create_org(pb::CreateOrgRequest { name: "intruders".into() }).await,
        code,
        &format!("{what}: CreateOrg"),
    );
}

/// Flips the last hex digit of a secret.
fn flip_last(secret: &str) -> String {
    let (head, last) = secret.split_at(secret.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

// ---- rejected keys --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_are_unauthenticated() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    admin.memories.add_memory(add(memory("owner", "the only memory"))).await.expect("add");

    let admin_key = server.admin_key.clone();
    assert!(admin_key.starts_with("ek_"), "admin key {admin_key:?}");
    let wrong_secret = flip_last(&admin_key);
    assert_ne!(wrong_secret, admin_key);
    let unknown_id = format!("ek_{}_{}", "0123456789abcdef", "a".repeat(64));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing key", None),
        ("empty key", Some(String::new())),
        ("garbage key", Some("nope".into())),
        ("malformed ek_ key", Some("ek_zz_00".into())),
        ("admin key with a char appended", Some(format!("{admin_key}0"))),
        ("admin key truncated", Some(admin_key[..admin_key.len() - 1].to_owned())),
        ("admin key upper-cased", Some(admin_key.to_uppercase())),
        ("right key id, wrong secret", Some(wrong_secret)),
        ("well-formed key of an unknown id", Some(unknown_id)),
    ];
    for (what, key) in &cases {
        let mut c = server.clients(key.as_deref()).await;
        assert_rejected(&mut c, what).await;
    }

    // Nothing was stored by the rejected calls; the admin key still works.
    let memories = admin.memories.list_memories(list_all()).await.expect("list").into_inner().memories;
    assert_eq!(memories.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), vec!["the only memory"]);
    let agents = admin.agents.list_agents(pb::ListAgentsRequest::default()).await.expect("agents").into_inner().agents;
    assert_eq!(agents.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), vec!["owner"]);
    let orgs = admin.admin.list_orgs(pb::ListOrgsRequest {}).await.expect("orgs").into_inner().orgs;
    assert_eq!(orgs.len(), 1, "{orgs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_key_is_unauthenticated() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let expires_ms = now_ms() + 2_000;
    let expires_at = prost_types::Timestamp {
        seconds: expires_ms.div_euclid(1000),
        nanos: (expires_ms.rem_euclid(1000) * 1_000_000) as i32,
    };
    let (_, secret) = key_with(&mut admin, "", &[Read, Write], Some(expires_at)).await;
    let mut c = server.clients(Some(&secret)).await;
    assert_ok(c.memories.list_memories(list_all()).await, "the key before it expires");
    assert_ok(c.memories.add_memory(add(memory("early", "before expiry"))).await, "a write before expiry");

    let wait = (expires_ms + 300 - now_ms()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_rejected(&mut c, "expired key").await;
    // A fresh connection does not help.
    let mut fresh = server.clients(Some(&secret)).await;
    assert_code(fresh.memories.list_memories(list_all()).await, Code::Unauthenticated, "expired key, new connection");

    let keys = admin.admin.list_api_keys(pb::ListApiKeysRequest::default()).await.expect("keys").into_inner().keys;
    assert_eq!(keys.len(), 2, "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_key_is_unauthenticated_on_the_next_request() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let (id, secret) = key_with(&mut admin, "", &[Read, Write], None).await;
    let (other_id, other_secret) = key_with(&mut admin, "", &[Read], None).await;
    let mut c = server.clients(Some(&secret)).await;
    let mut other = server.clients(Some(&other_secret)).await;
    assert_ok(c.memories.add_memory(add(memory("a", "written before the revocation"))).await, "before revoke");

    let revoked = admin.admin.revoke_api_key(pb::RevokeApiKeyRequest { id: id.clone() }).await.expect("revoke");
    let revoked = revoked.into_inner();
    assert_eq!(revoked.id, id);
    assert!(revoked.revoked_at.is_some(), "RevokeApiKey returned a key without revoked_at: {revoked:?}");
    // The very next request, on the same connection.
    assert_code(c.memories.list_memories(list_all()).await, Code::Unauthenticated, "first request after revoke");
    assert_rejected(&mut c, "revoked key").await;
    // Other keys are unaffected.
    assert_ok(other.memories.list_memories(list_all()).await, "another key after the revocation");

    // Revoked with the CLI while the server runs: the next request is rejected too.
    let (stdout, _) = cli(&server.data_dir, &["key", "revoke", &other_id], true);
    assert!(stdout.contains(&other_id), "revoke output {stdout:?}");
    assert_code(
        other.memories.list_memories(list_all()).await,
        Code::Unauthenticated,
        "first request after CLI revoke",
    );
    assert_rejected(&mut other, "key revoked by the CLI").await;

    let (list, _) = cli(&server.data_dir, &["key", "list"], true);
    for key_id in [&id, &other_id] {
        let line =
            list.lines().find(|l| l.starts_with(key_id.as_str())).unwrap_or_else(|| panic!("{key_id} in {list:?}"));
        assert!(line.ends_with("revoked"), "key list line {line:?}");
    }
    let keys = admin.admin.list_api_keys(pb::ListApiKeysRequest::default()).await.expect("keys").into_inner().keys;
    for key_id in [&id, &other_id] {
        let key = keys.iter().find(|k| &k.id == key_id).expect("key listed");
        assert!(key.revoked_at.is_some(), "{key:?}");
    }
    // The admin key itself is still fine, and the memory written before the revocation is kept.
    let memories = admin.memories.list_memories(list_all()).await.expect("list").into_inner().memories;
    assert_eq!(memories.len(), 1);
    assert_eq!(memories[0].content, "written before the revocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_authorization_works_like_x_api_key() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let (_, secret) = key_with(&mut admin, "", &[Read, Write], None).await;
    let channel = server.channel().await;

    let mut bearer = raw_memories(channel.clone(), &[("authorization", format!("Bearer {secret}"))]);
    let added = bearer.add_memory(add(memory("bearer-agent", "written with a bearer token"))).await;
    let added = assert_ok(added, "AddMemory with Bearer").memory.expect("memory");
    assert_eq!(added.org_id, "org_default");
    let listed = assert_ok(bearer.list_memories(list_all()).await, "ListMemories with Bearer").memories;
    assert_eq!(listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec![added.id.as_str()]);
    // The same memory through x-api-key.
    let seen = admin.memories.get_memory(pb::GetMemoryRequest { id: added.id.clone() }).await.expect("get");
    assert_eq!(seen.into_inner(), added);

    // The scheme is case-insensitive (RFC 7235).
    let mut lower = raw_memories(channel.clone(), &[("authorization", format!("bearer {secret}"))]);
    assert_ok(lower.list_memories(list_all()).await, "lower-case bearer");

    for (what, value) in [
        ("Bearer with a wrong secret", format!("Bearer {}", flip_last(&secret))),
        ("Basic scheme", format!("Basic {secret}")),
        ("no scheme", secret.clone()),
        ("Bearer without a token", "Bearer ".to_owned()),
        ("Bearer garbage", "Bearer not-a-key".to_owned()),
    ] {
        let mut c = raw_memories(channel.clone(), &[("authorization", value)]);
        assert_code(c.list_memories(list_all()).await, Code::Unauthenticated, what);
        assert_code(c.add_memory(add(memory("x", "must not be stored"))).await, Code::Unauthenticated, what);
    }
    let count = admin.memories.list_memories(list_all()).await.expect("list").into_inner().memories.len();
    assert_eq!(count, 1, "a rejected bearer request stored something");
}

// ---- permissions ----------------------------------------------------------------------------

/// An agent, a session and a memory in org_default; returns (agent id, session id, memory).
async fn seed(admin: &mut Clients) -> (String, String, pb::Memory) {
    let agent = admin
        .agents
        .register_agent(pb::RegisterAgentRequest { name: "seeded".into(), ..Default::default() })
        .await
        .expect("register")
        .into_inner();
    let session = admin
        .sessions
        .create_session(pb::CreateSessionRequest { agent: agent.id.clone(), metadata: None })
        .await
        .expect("session")
        .into_inner();
    let m = admin
        .memories
        .add_memory(add(pb::NewMemory { session_id: Some(session.id.clone()), ..memory("seeded", "seed memory") }))
        .await
        .expect("add")
        .into_inner()
        .memory
        .expect("memory");
    (agent.id, session.id, m)
}

/// Every AdminService RPC is PermissionDenied for `c`.
async fn assert_no_admin(c: &mut Clients, some_key_id: &str, what: &str) {
    let denied = Code::PermissionDenied;
    assert_code(
        c.admin.create_org(pb::CreateOrgRequest { name: "nope".into() }).await,
        denied,
        &format!("{what}: CreateOrg"),
    );
    assert_code(c.admin.list_orgs(pb::ListOrgsRequest {}).await, denied, &format!("{what}: ListOrgs"));
    assert_code(
        c.admin
            .create_api_key(pb::CreateApiKeyRequest {
                org_id: String::new(),
                name: "escalate".into(),
                permissions: vec![Admin as i32],
                expires_at: None,
            })
            .await,
        denied,
        &format!("{what}: CreateApiKey"),
    );
    assert_code(
        c.admin.list_api_keys(pb::ListApiKeysRequest { org_id: String::new() }).await,
        denied,
        &format!("{what}: ListApiKeys"),
    );
    assert_code(
        c.admin.revoke_api_key(pb::RevokeApiKeyRequest { id: some_key_id.into() }).await,
        denied,
        &format!("{what}: RevokeApiKey"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_enforced() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let (agent_id, session_id, seeded) = seed(&mut admin).await;
    let (read_id, read_secret) = key_with(&mut admin, "", &[Read], None).await;
    let (_, write_secret) = key_with(&mut admin, "", &[Write], None).await;
    let (rw_id, rw_secret) = key_with(&mut admin, "", &[Read, Write], None).await;
    let denied = Code::PermissionDenied;

    // Read-only: every read works and sees the data ...
    let mut r = server.clients(Some(&read_secret)).await;
    let listed = assert_ok(r.memories.list_memories(list_all()).await, "read: ListMemories").memories;
    assert_eq!(listed, vec![seeded.clone()]);
    let got = assert_ok(r.memories.get_memory(pb::GetMemoryRequest { id: seeded.id.clone() }).await, "read: GetMemory");
    assert_eq!(got, seeded);
    let found = assert_ok(
        r.memories.search_memories(pb::SearchMemoriesRequest { limit: 10, ..Default::default() }).await,
        "read: SearchMemories",
    );
    assert_eq!(found.results.len(), 1);
    let agents = assert_ok(r.agents.list_agents(pb::ListAgentsRequest::default()).await, "read: ListAgents").agents;
    assert_eq!(agents.len(), 1);
    assert_ok(
        r.agents
            .get_agent(pb::GetAgentRequest { agent: Some(pb::get_agent_request::Agent::Id(agent_id.clone())) })
            .await,
        "read: GetAgent",
    );
    assert_ok(
        r.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: agent_id.clone() }).await,
        "read: GetAgentStats",
    );
    assert_ok(r.sessions.get_session(pb::GetSessionRequest { id: session_id.clone() }).await, "read: GetSession");
    assert_ok(r.sessions.list_sessions(pb::ListSessionsRequest::default()).await, "read: ListSessions");
    let ctx = assert_ok(
        r.context.build_context(pb::BuildContextRequest { agent: agent_id.clone(), ..Default::default() }).await,
        "read: BuildContext",
    );
    assert_eq!(ctx.memory_ids, vec![seeded.id.clone()]);
    assert_ok(
        r.sessions
            .get_session_context(pb::GetSessionContextRequest { session_id: session_id.clone(), options: None })
            .await,
        "read: GetSessionContext",
    );
    // ... and every write is PermissionDenied.
    assert_code(r.memories.add_memory(add(memory("seeded", "read key write"))).await, denied, "read: AddMemory");
    assert_code(
        r.memories.add_memory(add(memory("new-agent", "read key write"))).await,
        denied,
        "read: AddMemory new agent",
    );
    assert_code(
        r.memories.add_memories(pb::AddMemoriesRequest { memories: vec![memory("seeded", "batch")] }).await,
        denied,
        "read: AddMemories",
    );
    assert_code(
        r.memories
            .update_memory(pb::UpdateMemoryRequest {
                id: seeded.id.clone(),
                update_mask: Some(prost_types::FieldMask { paths: vec!["importance".into()] }),
                importance: 0.9,
                ..Default::default()
            })
            .await,
        denied,
        "read: UpdateMemory",
    );
    assert_code(
        r.memories.delete_memory(pb::DeleteMemoryRequest { id: seeded.id.clone() }).await,
        denied,
        "read: DeleteMemory",
    );
    assert_code(
        r.memories.delete_memories(pb::DeleteMemoriesRequest { agent: agent_id.clone(), ..Default::default() }).await,
        denied,
        "read: DeleteMemories",
    );
    assert_code(
        r.agents.register_agent(pb::RegisterAgentRequest { name: "by-reader".into(), ..Default::default() }).await,
        denied,
        "read: RegisterAgent",
    );
    assert_code(
        r.agents.delete_agent(pb::DeleteAgentRequest { agent: agent_id.clone(), cascade: true }).await,
        denied,
        "read: DeleteAgent",
    );
    assert_code(
        r.sessions.create_session(pb::CreateSessionRequest { agent: agent_id.clone(), metadata: None }).await,
        denied,
        "read: CreateSession",
    );
    assert_code(
        r.sessions
            .update_session(pb::UpdateSessionRequest { id: session_id.clone(), status: 2, ..Default::default() })
            .await,
        denied,
        "read: UpdateSession",
    );
    assert_code(
        r.sessions.close_session(pb::CloseSessionRequest { id: session_id.clone() }).await,
        denied,
        "read: CloseSession",
    );
    assert_no_admin(&mut r, &rw_id, "read key").await;

    // Write-only: reads are PermissionDenied, writes work.
    let mut w = server.clients(Some(&write_secret)).await;
    assert_code(w.memories.list_memories(list_all()).await, denied, "write: ListMemories");
    assert_code(
        w.memories.get_memory(pb::GetMemoryRequest { id: seeded.id.clone() }).await,
        denied,
        "write: GetMemory",
    );
    assert_code(
        w.memories.search_memories(pb::SearchMemoriesRequest::default()).await,
        denied,
        "write: SearchMemories",
    );
    assert_code(w.agents.list_agents(pb::ListAgentsRequest::default()).await, denied, "write: ListAgents");
    assert_code(
        w.sessions.get_session(pb::GetSessionRequest { id: session_id.clone() }).await,
        denied,
        "write: GetSession",
    );
    assert_code(
        w.context.build_context(pb::BuildContextRequest { agent: agent_id.clone(), ..Default::default() }).await,
        denied,
        "write: BuildContext",
    );
    let written =
        assert_ok(w.memories.add_memory(add(memory("writer", "from the write key"))).await, "write: AddMemory");
    let written = written.memory.expect("memory");
    assert_ok(
        w.agents.register_agent(pb::RegisterAgentRequest { name: "by-writer".into(), ..Default::default() }).await,
        "write: RegisterAgent",
    );
    assert_no_admin(&mut w, &read_id, "write key").await;

    // Read+write, not admin: every AdminService RPC is PermissionDenied.
    let mut rw = server.clients(Some(&rw_secret)).await;
    assert_ok(rw.memories.list_memories(list_all()).await, "rw: ListMemories");
    assert_no_admin(&mut rw, &read_id, "read+write key").await;

    // Nothing the denied calls tried happened.
    let memories = admin.memories.list_memories(list_all()).await.expect("list").into_inner().memories;
    let mut ids: Vec<_> = memories.iter().map(|m| m.id.clone()).collect();
    ids.sort();
    let mut expected = vec![seeded.id.clone(), written.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(memories.iter().find(|m| m.id == seeded.id), Some(&seeded), "the seeded memory changed");
    let mut names: Vec<_> = admin
        .agents
        .list_agents(pb::ListAgentsRequest::default())
        .await
        .expect("agents")
        .into_inner()
        .agents
        .into_iter()
        .map(|a| a.name)
        .collect();
    names.sort();
    assert_eq!(names, vec!["by-writer", "seeded", "writer"]);
    let session =
        admin.sessions.get_session(pb::GetSessionRequest { id: session_id }).await.expect("session").into_inner();
    assert_eq!(session.status, pb::SessionStatus::Active as i32, "a denied call closed the session");
    let orgs = admin.admin.list_orgs(pb::ListOrgsRequest {}).await.expect("orgs").into_inner().orgs;
    assert_eq!(orgs.len(), 1, "{orgs:?}");
    let keys = admin.admin.list_api_keys(pb::ListApiKeysRequest::default()).await.expect("keys").into_inner().keys;
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys.iter().all(|k| k.revoked_at.is_none()), "a denied RevokeApiKey revoked a key: {keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_admin_is_confined_to_its_org() {
    let server = Server::start(&[]);
    let mut root = server.admin().await;
    let (org_x, x_admin_secret) = org_with_key(&mut root, "org-x", &[Admin]).await;
    let (org_y, _) = org_with_key(&mut root, "org-y", &[Read]).await;
    let (default_key_id, default_key_secret) = key_with(&mut root, "org_default", &[Read], None).await;
    let mut x = server.clients(Some(&x_admin_secret)).await;

    // Keys in its own org: with org_id empty and with its own id.
    for org in ["", org_x.as_str()] {
        let (id, secret) = key_with(&mut x, org, &[Read, Write], None).await;
        assert!(id.starts_with("key_"), "{id}");
        let mut k = server.clients(Some(&secret)).await;
        let m =
            assert_ok(k.memories.add_memory(add(memory("x-agent", &format!("x memory via {org:?}")))).await, "new key");
        assert_eq!(m.memory.expect("memory").org_id, org_x, "a key created by the org-x admin writes elsewhere");
    }
    let keys = assert_ok(x.admin.list_api_keys(pb::ListApiKeysRequest::default()).await, "ListApiKeys own org").keys;
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| k.org_id == org_x), "ListApiKeys shows keys of other orgs: {keys:?}");
    let orgs = assert_ok(x.admin.list_orgs(pb::ListOrgsRequest {}).await, "ListOrgs").orgs;
    assert_eq!(orgs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec![org_x.as_str()]);

    // Nothing outside of it.
    let denied = Code::PermissionDenied;
    assert_code(x.admin.create_org(pb::CreateOrgRequest { name: "x-child".into() }).await, denied, "CreateOrg");
    for other in ["org_default", org_y.as_str()] {
        let request = pb::CreateApiKeyRequest {
            org_id: other.into(),
            name: "cross".into(),
            permissions: vec![Admin as i32],
            expires_at: None,
        };
        assert_code(x.admin.create_api_key(request).await, denied, &format!("CreateApiKey in {other}"));
        assert_code(
            x.admin.list_api_keys(pb::ListApiKeysRequest { org_id: other.into() }).await,
            denied,
            &format!("ListApiKeys of {other}"),
        );
    }
    let revoke = x.admin.revoke_api_key(pb::RevokeApiKeyRequest { id: default_key_id.clone() }).await;
    match revoke {
        Ok(key) => panic!("the org-x admin revoked a key of org_default: {:?}", key.into_inner()),
        Err(s) => {
            assert!(matches!(s.code(), Code::NotFound | Code::PermissionDenied), "revoking another org's key: {s:?}")
        }
    }
    let mut d = server.clients(Some(&default_key_secret)).await;
    assert_ok(d.memories.list_memories(list_all()).await, "the org_default key after the cross-org revoke attempt");

    let orgs = root.admin.list_orgs(pb::ListOrgsRequest {}).await.expect("orgs").into_inner().orgs;
    assert_eq!(orgs.len(), 3, "{orgs:?}");
    for org in ["org_default", org_y.as_str()] {
        let keys = root
            .admin
            .list_api_keys(pb::ListApiKeysRequest { org_id: org.into() })
            .await
            .expect("keys")
            .into_inner()
            .keys;
        assert!(keys.iter().all(|k| k.name != "cross"), "a cross-org key was created in {org}: {keys:?}");
    }
}

// ---- bootstrap and CLI ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_key_file_is_private_and_created_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Server::start_in(dir.path(), &[]);
    let key_file = dir.path().join("admin.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).expect("admin.key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "admin.key has mode {mode:o}");
    }
    let secret = first.admin_key.clone();
    let parts: Vec<&str> = secret.split('_').collect();
    assert!(
        parts.len() == 3 && parts[0] == "ek" && parts[1].len() == 16 && parts[2].len() == 64,
        "admin key {secret:?} does not have the form ek_<16 hex>_<64 hex>"
    );
    let key_id = format!("key_{}", parts[1]);
    let mut admin = first.admin().await;
    admin.memories.add_memory(add(memory("boot", "survives the restart"))).await.expect("add");
    let (list, _) = cli(dir.path(), &["key", "list"], true);
    assert_eq!(list.lines().count(), 1, "key list after the first start: {list:?}");
    assert!(list.starts_with(&key_id) && list.contains("admin") && list.trim_end().ends_with("active"), "{list:?}");
    let status = first.terminate();
    assert!(status.success() || status.code().is_none(), "engram exited with {status:?} on SIGTERM");

    let second = Server::start_in(dir.path(), &[]);
    assert_eq!(second.admin_key, secret, "the second start rewrote admin.key");
    let (list, _) = cli(dir.path(), &["key", "list"], true);
    assert_eq!(list.lines().count(), 1, "key list after the second start: {list:?}");
    assert!(list.starts_with(&key_id), "{list:?}");
    let mut admin = second.admin().await;
    let memories = admin.memories.list_memories(list_all()).await.expect("the old admin key works").into_inner();
    assert_eq!(memories.memories.len(), 1);
    let keys = admin.admin.list_api_keys(pb::ListApiKeysRequest::default()).await.expect("keys").into_inner().keys;
    assert_eq!(keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), vec![key_id.as_str()]);

    // Creating more shows more.
    api_key(&mut admin, "org_default", &[Read]).await;
    let (list, _) = cli(dir.path(), &["key", "list"], true);
    assert_eq!(list.lines().count(), 2, "{list:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).expect("admin.key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "admin.key has mode {mode:o} after the restart");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_orgs_and_keys_work_against_a_running_server() {
    let server = Server::start(&[]);
    let dir = server.data_dir.clone();
    let mut root = server.admin().await;

    let (out, _) = cli(&dir, &["org", "create", "acme"], true);
    let line = out.lines().next().unwrap_or_default();
    let (org_id, name) = line.split_once('\t').unwrap_or_else(|| panic!("org create printed {out:?}"));
    assert!(org_id.starts_with("org_") && org_id != "org_default", "{org_id}");
    assert_eq!(name, "acme");
    let (orgs, _) = cli(&dir, &["org", "list"], true);
    assert!(orgs.lines().any(|l| l.starts_with(&format!("{org_id}\tacme\t"))), "org list: {orgs:?}");
    assert!(orgs.lines().any(|l| l.starts_with("org_default\t")), "org list: {orgs:?}");
    let api_orgs = root.admin.list_orgs(pb::ListOrgsRequest {}).await.expect("orgs").into_inner().orgs;
    assert!(
        api_orgs.iter().any(|o| o.id == org_id && o.name == "acme"),
        "the server does not see the org: {api_orgs:?}"
    );

    let (read_secret, read_err) =
        cli(&dir, &["key", "create", "--org", org_id, "--name", "reader", "--permissions", "read"], true);
    let read_secret = read_secret.trim().to_owned();
    assert!(read_secret.starts_with("ek_") && !read_secret.contains(char::is_whitespace), "{read_secret:?}");
    assert!(read_err.contains(org_id), "key create stderr {read_err:?}");
    let (rw_secret, _) =
        cli(&dir, &["key", "create", "--org", org_id, "--name", "writer", "--permissions", "read,write"], true);
    let rw_secret = rw_secret.trim().to_owned();

    // The read key works for reads, not for writes.
    let mut r = server.clients(Some(&read_secret)).await;
    let empty = assert_ok(r.memories.list_memories(list_all()).await, "CLI read key: ListMemories").memories;
    assert!(empty.is_empty(), "{empty:?}");
    assert_ok(r.agents.list_agents(pb::ListAgentsRequest::default()).await, "CLI read key: ListAgents");
    let denied = Code::PermissionDenied;
    assert_code(r.memories.add_memory(add(memory("cli", "denied"))).await, denied, "CLI read key: AddMemory");
    assert_code(
        r.agents.register_agent(pb::RegisterAgentRequest { name: "cli".into(), ..Default::default() }).await,
        denied,
        "CLI read key: RegisterAgent",
    );
    assert_no_admin(&mut r, "key_0000000000000000", "CLI read key").await;

    // Both keys are in acme: what the writer adds the reader sees, and org_default does not.
    let mut w = server.clients(Some(&rw_secret)).await;
    let added = assert_ok(w.memories.add_memory(add(memory("cli", "acme memory"))).await, "CLI rw key: AddMemory");
    let added = added.memory.expect("memory");
    assert_eq!(added.org_id, org_id);
    let seen = assert_ok(r.memories.list_memories(list_all()).await, "CLI read key: ListMemories").memories;
    assert_eq!(seen, vec![added.clone()]);
    let default_view = root.memories.list_memories(list_all()).await.expect("list").into_inner().memories;
    assert!(default_view.is_empty(), "org_default sees acme's memories: {default_view:?}");

    let (keys, _) = cli(&dir, &["key", "list", "--org", org_id], true);
    let lines: Vec<&str> = keys.lines().collect();
    assert_eq!(lines.len(), 2, "{keys:?}");
    assert!(lines.iter().any(|l| l.contains("\treader\tread\tactive")), "{keys:?}");
    assert!(lines.iter().any(|l| l.contains("\twriter\tread,write\tactive")), "{keys:?}");
    assert!(!keys.contains(&read_secret[3..]), "key list shows a secret");

    // Bad CLI input fails without side effects.
    cli(&dir, &["key", "create", "--org", org_id, "--name", "bad", "--permissions", "root"], false);
    cli(&dir, &["key", "revoke", "key_0000000000000000"], false);
    let (keys, _) = cli(&dir, &["key", "list", "--org", org_id], true);
    assert_eq!(keys.lines().count(), 2, "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_auth_server_accepts_requests_without_a_key() {
    let server = Server::start(&["--no-auth"]);
    let mut anon = server.clients(None).await;
    let added = anon.memories.add_memory(add(memory("anon", "written without a key"))).await.expect("AddMemory");
    let added = added.into_inner().memory.expect("memory");
    assert_eq!(added.org_id, "org_default");
    let listed = anon.memories.list_memories(list_all()).await.expect("ListMemories").into_inner().memories;
    assert_eq!(listed, vec![added.clone()]);
    let agent = anon
        .agents
        .get_agent(pb::GetAgentRequest { agent: Some(pb::get_agent_request::Agent::Name("anon".into())) })
        .await
        .expect("GetAgent")
        .into_inner();
    assert_eq!(agent.org_id, "org_default");
    // The bootstrap admin key of org_default sees the same memory.
    let mut admin = server.admin().await;
    let seen =
        admin.memories.get_memory(pb::GetMemoryRequest { id: added.id.clone() }).await.expect("get").into_inner();
    assert_eq!(seen, added);
}
