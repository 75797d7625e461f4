//! Backup and restore through the real binary: `engram export` of a SQLite store filled through
//! the API, `engram import` into a fresh PostgreSQL database (twice: nothing created twice) and
//! back into a fresh SQLite store, every record compared; the restored server authenticates the
//! old keys, answers the same stats and finds memories by ranked and vector search. An export
//! resumed after a cursor writes exactly the rest; a bad line names its number and field.
//! `engram backup` copies a store while a server writes to it, and the copy serves.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engram_tests::{Clients, PgDatabase, Server, api_key, engram_bin, filter, json_struct, memory, org_with_key, pb};
use serde_json::Value;
use tonic::Code;

/// `engram <args> --data-dir <dir>` on the embedded store.
fn engram_sqlite(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(engram_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("ENGRAM_LOG_LEVEL", "warn")
        .output()
        .expect("run engram")
}

fn succeeded(what: &str, output: Output) -> Output {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    output
}

/// The record lines of an export (the header checked and left out), parsed.
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read the export");
    let mut lines = text.lines().map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"));
    let header = lines.next().expect("a header line");
    assert_eq!(
        (header["kind"].as_str(), header["format"].as_str(), header["version"].as_u64()),
        (Some("header"), Some("engram-export"), Some(1))
    );
    lines.collect()
}

/// Record lines without what must differ between two stores: the cursor (it carries the
/// exporting store's keys of orgs, agents, sessions and conversations), `org_default`'s creation
/// time (each store makes its own org_default), and the API keys of `skip_keys` (the target's own
/// bootstrap admin key).
fn normalised(path: &Path, skip_keys: &[String]) -> Vec<Value> {
    lines(path)
        .into_iter()
        .filter_map(|mut line| {
            let object = line.as_object_mut().unwrap();
            assert!(object.remove("cursor").is_some_and(|c| c.is_string()), "every record has a cursor");
            match object["kind"].as_str().unwrap() {
                "api_key" if skip_keys.iter().any(|k| object["id"] == *k) => return None,
                "org" if object["id"] == "org_default" => {
                    object.remove("created_at");
                }
                _ => {}
            }
            Some(line)
        })
        .collect()
}

fn key_id(secret: &str) -> String {
    format!("key_{}", &secret[3..19])
}

fn kinds(records: &[Value]) -> Vec<&str> {
    records.iter().map(|r| r["kind"].as_str().unwrap()).collect()
}

fn count(records: &[Value], kind: &str) -> usize {
    kinds(records).iter().filter(|k| **k == kind).count()
}

fn timestamp_in(seconds: i64) -> prost_types::Timestamp {
    let at = chrono::Utc::now() + chrono::Duration::seconds(seconds);
    prost_types::Timestamp { seconds: at.timestamp(), nanos: 0 }
}

/// What one org holds, filled through the API.
struct Tenant {
    org: String,
    key: String,
    revoked: String,
    session: String,
}

async fn fill_tenant(admin: &mut Clients, server: &Server, name: &str) -> Tenant {
    let (org, key) = org_with_key(admin, name, &[pb::Permission::Read, pb::Permission::Write]).await;
    let revoked = api_key(admin, &org, &[pb::Permission::Read]).await;
    admin.admin.revoke_api_key(pb::RevokeApiKeyRequest { id: key_id(&revoked) }).await.unwrap();
    let mut c = server.clients(Some(&key)).await;
    c.agents
        .register_agent(pb::RegisterAgentRequest {
            name: "planner".into(),
            description: "plans trips".into(),
            config: Some(json_struct(serde_json::json!({"record_messages": false, "team": name}))),
        })
        .await
        .unwrap();
    let session = c
        .sessions
        .create_session(pb::CreateSessionRequest {
            agent: "planner".into(),
            metadata: Some(json_struct(serde_json::json!({"ticket": "T-1"}))),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut batch = vec![
        pb::NewMemory {
            session_id: Some(session.clone()),
            tags: vec!["trip".into(), "paris".into()],
            metadata: Some(json_struct(serde_json::json!({"outcome": "booked", "price": 420}))),
            importance: Some(0.8),
            embedding: vec![1.0, 0.0, 0.0],
            memory_type: pb::MemoryType::Decision as i32,
            ..memory("planner", &format!("{name}: booked the night train to Paris for the conference"))
        },
        pb::NewMemory {
            expires_at: Some(timestamp_in(2)),
            embedding: vec![0.0, 1.0, 0.0],
            ..memory("planner", &format!("{name}: a fare quote that expires at once"))
        },
        pb::NewMemory {
            step: Some(3),
            scope: "alice".into(),
            dedup_key: "k-1".into(),
            embedding: vec![0.0, 0.0, 1.0],
            ..memory("coder", &format!("{name}: refactored the ticket parser, tests green"))
        },
    ];
    batch.extend((0..20).map(|i| memory("coder", &format!("{name}: routine log line {i}"))));
    c.memories.add_memories(pb::AddMemoriesRequest { memories: batch }).await.unwrap();
    let messages = vec![
        pb::NewMessage { role: pb::Role::System.into(), content: "You plan trips.".into(), ..Default::default() },
        pb::NewMessage {
            role: pb::Role::User.into(),
            content: "Book Paris".into(),
            message_id: "m-1".into(),
            ..Default::default()
        },
        pb::NewMessage { role: pb::Role::Assistant.into(), content: "Booked.".into(), ..Default::default() },
    ];
    c.conversations
        .append_messages(pb::AppendMessagesRequest {
            agent: "planner".into(),
            scope: "alice".into(),
            conversation: "trip-1".into(),
            messages,
            record_as_memories: None,
        })
        .await
        .unwrap();
    c.working_memory
        .set_working_memory(pb::SetWorkingMemoryRequest {
            session_id: session.clone(),
            document: Some(json_struct(serde_json::json!({"goal": "Paris", "subgoals": ["train", "hotel"]}))),
            version: 0,
        })
        .await
        .unwrap();
    Tenant { org, key, revoked, session }
}

/// What a tenant's API answers that a restore must keep.
async fn observed(server: &Server, tenant: &Tenant) -> Vec<String> {
    let mut c = server.clients(Some(&tenant.key)).await;
    let stats = c.simulation.get_memory_statistics(pb::GetMemoryStatisticsRequest {}).await.unwrap().into_inner();
    let planner =
        c.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: "planner".into() }).await.unwrap().into_inner();
    let coder =
        c.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: "coder".into() }).await.unwrap().into_inner();
    let listed = c
        .memories
        .list_memories(pb::ListMemoriesRequest { filter: Some(filter()), limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .memories;
    let window = c
        .conversations
        .list_messages(pb::ListMessagesRequest {
            agent: "planner".into(),
            scope: "alice".into(),
            conversation: "trip-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    let working = c
        .working_memory
        .get_working_memory(pb::GetWorkingMemoryRequest { session_id: tenant.session.clone() })
        .await
        .unwrap()
        .into_inner();
    // Agent stats' 24 h windows move with the clock; the rest is compared whole.
    let strip = |mut s: pb::AgentStats| {
        s.memories_24h = 0;
        s.errors_24h = 0;
        s
    };
    vec![
        format!("{stats:?}"),
        format!("{:?}", strip(planner)),
        format!("{:?}", strip(coder)),
        format!("{listed:?}"),
        format!("{window:?}"),
        format!("{working:?}"),
    ]
}

/// Ranked and vector search find the tenant's memories (polls while the index catches up).
async fn searchable(server: &Server, tenant: &Tenant) {
    let mut c = server.clients(Some(&tenant.key)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ranked = pb::SearchMemoriesRequest {
            filter: Some(pb::MemoryFilter { agent: "planner".into(), ..Default::default() }),
            query: "night train Paris".into(),
            limit: 5,
            ..Default::default()
        };
        let hits = c.memories.search_memories(ranked).await.unwrap().into_inner().hits;
        let semantic =
            pb::SearchMemoriesRequest { query_embedding: vec![0.0, 0.0, 1.0], limit: 1, ..Default::default() };
        let nearest = c.memories.search_memories(semantic).await.unwrap().into_inner().hits;
        let first = |hits: &[pb::SearchHit]| hits.first().map(|h| h.memory.as_ref().unwrap().content.clone());
        if first(&hits).is_some_and(|c| c.contains("night train"))
            && first(&nearest).is_some_and(|c| c.contains("ticket parser"))
        {
            return;
        }
        assert!(Instant::now() < deadline, "not found by search after 30 s: {hits:?} {nearest:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trips_sqlite_postgres_sqlite() {
    let source = Server::start(&[]);
    let mut admin = source.admin().await;
    let tenants = [fill_tenant(&mut admin, &source, "acme").await, fill_tenant(&mut admin, &source, "globex").await];
    admin
        .memories
        .add_memory(pb::AddMemoryRequest { memory: Some(memory("ops", "org_default keeps a memory too")) })
        .await
        .unwrap();
    for tenant in &tenants {
        searchable(&source, tenant).await;
    }
    // An operator's limits of one tenant's org go along too.
    let limits = ["org", "limits", &tenants[0].org, "--rate", "1000", "--max-memory-bytes", "1MiB"];
    succeeded("org limits", engram_sqlite(&source.data_dir, &limits));
    // The quotes expire, and the searches' reads are counted (flushed every second).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut before = Vec::new();
    for tenant in &tenants {
        before.push(observed(&source, tenant).await);
    }

    let work = tempfile::tempdir().unwrap();
    let first = work.path().join("sqlite.ndjson");
    // Exported while the server runs.
    let out = succeeded("export", engram_sqlite(&source.data_dir, &["export", "--output", first.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exported 3 org, "), "{stderr}");
    let exported = normalised(&first, &[]);
    assert_eq!(
        ["org", "agent", "session", "memory", "conversation", "message", "working_memory", "api_key", "limits"]
            .map(|k| count(&exported, k)),
        // org_default: its org, agent ops, one memory and its admin key; each tenant: 2 agents,
        // 1 session, 23 memories, 1 conversation of 3 messages, 1 document, 2 keys; acme's limits.
        [3, 5, 2, 47, 2, 6, 2, 5, 1]
    );

    // Into a fresh PostgreSQL database (migrated: it has its own org_default and admin key).
    let mut pg = PgDatabase::create().await;
    pg.migrate();
    let pg_admin = key_id(pg.admin_key.as_deref().unwrap());
    // Where autovacuum is off (this machine's test server), a fresh table is never analyzed:
    // `reltuples` stays -1 until the import's ANALYZE counts its rows.
    let rows = |table: &str| format!("SELECT reltuples FROM pg_class WHERE relname = '{table}'");
    assert_eq!(pg.query_text(&rows("memories")).await.as_deref(), Some("-1"), "the migrated memories table");
    succeeded("import into PostgreSQL", pg.engram(&["import", "--input", first.to_str().unwrap()]));
    // The import ends with an ANALYZE: the planner knows the 47 imported memories.
    assert_eq!(pg.query_text(&rows("memories")).await.as_deref(), Some("47"), "planner statistics after the import");
    let second = work.path().join("postgres.ndjson");
    succeeded("export from PostgreSQL", pg.engram(&["export", "--output", second.to_str().unwrap()]));
    assert_eq!(
        normalised(&second, std::slice::from_ref(&pg_admin)),
        exported,
        "PostgreSQL holds every record as exported"
    );

    // Importing again creates nothing.
    let again = succeeded("import again", pg.engram(&["import", "--input", first.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("imported 0 org (3 existing), 0 agent (5 existing)"), "{stderr}");
    let third = work.path().join("postgres-again.ndjson");
    succeeded("export again", pg.engram(&["export", "--output", third.to_str().unwrap()]));
    assert_eq!(lines(&third), lines(&second), "a second import changed nothing, cursors included");

    // And back into a fresh SQLite store, served: the old keys work, the stats are the same.
    let restored_dir = work.path().join("restored");
    std::fs::create_dir_all(&restored_dir).unwrap();
    succeeded("import into SQLite", engram_sqlite(&restored_dir, &["import", "--input", second.to_str().unwrap()]));
    let fourth = work.path().join("restored.ndjson");
    succeeded(
        "export the restored store",
        engram_sqlite(&restored_dir, &["export", "--output", fourth.to_str().unwrap()]),
    );
    assert_eq!(normalised(&fourth, &[]), normalised(&second, &[]));
    // The restore has no admin.key file (the keys are in the store): the old one still works.
    std::fs::copy(source.data_dir.join("admin.key"), restored_dir.join("admin.key")).unwrap();
    drop(source);
    let restored = Server::start_in(&restored_dir, &[]);
    for (tenant, before) in tenants.iter().zip(&before) {
        assert_eq!(&observed(&restored, tenant).await, before, "{}: the API answers as before", tenant.org);
        searchable(&restored, tenant).await;
        let mut revoked = restored.clients(Some(&tenant.revoked)).await;
        let status =
            revoked.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: "planner".into() }).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "a revoked key stays revoked");
    }
    let mut admin = restored.admin().await;
    let orgs = admin.admin.list_orgs(pb::ListOrgsRequest {}).await.unwrap().into_inner().orgs;
    assert_eq!(orgs.len(), 3);
    // It takes writes: a new memory next to the restored ones.
    let mut c = restored.clients(Some(&tenants[0].key)).await;
    c.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory("coder", "after the restore")) }).await.unwrap();
    let stats = c.simulation.get_memory_statistics(pb::GetMemoryStatisticsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.total, 23, "22 live (one expired) and the new one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_resumes_after_any_cursor_and_bad_lines_name_their_line() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let tenant = fill_tenant(&mut admin, &server, "initech").await;
    let work = tempfile::tempdir().unwrap();
    let full = work.path().join("full.ndjson");
    succeeded("export", engram_sqlite(&server.data_dir, &["export", "--output", full.to_str().unwrap()]));
    let all = lines(&full);
    assert!(all.len() > 30, "{}", all.len());
    // After every fifth record (and the last): exactly the rest.
    for i in (0..all.len()).step_by(5).chain([all.len() - 1]) {
        let cursor = all[i]["cursor"].as_str().unwrap();
        let rest = work.path().join(format!("rest-{i}.ndjson"));
        succeeded(
            "resumed export",
            engram_sqlite(&server.data_dir, &["export", "--after", cursor, "--output", rest.to_str().unwrap()]),
        );
        assert_eq!(lines(&rest), all[i + 1..].to_vec(), "after {cursor}");
    }
    // One org too.
    let one = work.path().join("one.ndjson");
    succeeded(
        "export --org",
        engram_sqlite(&server.data_dir, &["export", "--org", &tenant.org, "--output", one.to_str().unwrap()]),
    );
    let in_org: Vec<Value> =
        all.iter().filter(|r| r["org"] == *tenant.org.as_str() || r["id"] == *tenant.org.as_str()).cloned().collect();
    assert_eq!(lines(&one), in_org);
    let bad = engram_sqlite(&server.data_dir, &["export", "--after", "7/memories/1"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--after: \"7/memories/1\" is not an export cursor"));

    // A file cut short: the lines before the bad one are imported, the bad one is named.
    let text = std::fs::read_to_string(&one).unwrap();
    let mut cut: Vec<String> = text.lines().map(str::to_owned).collect();
    let broken = cut.iter().position(|l| l.contains("\"kind\":\"memory\"")).unwrap() + 3;
    cut[broken] = cut[broken].replace("\"memory_type\":\"episodic\"", "\"memory_type\":\"dream\"");
    cut.truncate(broken + 2);
    let cut_file = work.path().join("cut.ndjson");
    std::fs::write(&cut_file, cut.join("\n")).unwrap();
    let fresh = work.path().join("fresh");
    let failed = engram_sqlite(&fresh, &["import", "--input", cut_file.to_str().unwrap()]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!("line {}: memory.memory_type: \"dream\" is not a memory type", broken + 1)),
        "{stderr}"
    );
    let partial = work.path().join("partial.ndjson");
    succeeded("export the partial import", engram_sqlite(&fresh, &["export", "--output", partial.to_str().unwrap()]));
    assert_eq!(
        normalised(&partial, &[]),
        normalised(&one, &[])[..broken - 1].to_vec(),
        "every line before the bad one, none after"
    );
    // A line that is not JSON names its number too.
    std::fs::write(&cut_file, format!("{}\n{{\"kind\":\"org\",", cut[0])).unwrap();
    let failed = engram_sqlite(&fresh, &["import", "--input", cut_file.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("line 2: not JSON"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_a_store_a_server_is_writing_to() {
    let server = Server::start(&[]);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (mut c, acked, stop) = (server.admin().await, acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let batch = (0..20)
                    .map(|j| memory(&format!("writer-{w}"), &format!("writer {w} batch {i} item {j}")))
                    .collect();
                let done = c.memories.add_memories(pb::AddMemoriesRequest { memories: batch }).await.unwrap();
                acked.lock().unwrap().extend(done.into_inner().results.into_iter().map(|r| r.id));
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert!(!before.is_empty());
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("engram.db");
    let out = succeeded("backup", engram_sqlite(&server.data_dir, &["backup", "--output", copy.to_str().unwrap()]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("backed up to"));
    let during: usize = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let after = acked.lock().unwrap().len();
    assert!(after > during && during > before.len(), "the server took writes during and after the backup");
    // A second backup to the same file is refused.
    let again = engram_sqlite(&server.data_dir, &["backup", "--output", copy.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("output: "), "{}", String::from_utf8_lossy(&again.stderr));

    std::fs::copy(server.data_dir.join("admin.key"), copy_dir.path().join("admin.key")).unwrap();
    let served = Server::start_in(copy_dir.path(), &[]);
    let mut c = served.admin().await;
    let mut stored = HashSet::new();
    let mut token = String::new();
    loop {
        let page = c
            .memories
            .list_memories(pb::ListMemoriesRequest {
                filter: Some(filter()),
                limit: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        stored.extend(page.memories.into_iter().map(|m| m.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let missing = before.difference(&stored).count();
    assert_eq!(missing, 0, "every memory acknowledged before the backup began is in the copy");
    assert!(stored.len() < after, "the copy is the store as of the backup, not after it");
}
