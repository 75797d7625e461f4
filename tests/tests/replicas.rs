//! Stateless replicas on PostgreSQL: two `engram serve` processes on one database share
//! everything through it (reads, pagination tokens, dedup, stats, context, API-key revocation),
//! concurrent ingest through both loses and duplicates nothing, and `serve` refuses a schema that
//! is not exactly its own.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use engram_tests::{Clients, PgDatabase, Server, api_key, filter, memory, pb};
use tonic::Code;

/// A migrated database and two servers on it.
async fn two_replicas() -> (PgDatabase, Server, Server) {
    let mut db = PgDatabase::create().await;
    db.migrate();
    let a = Server::start_on(&db, &[]);
    let b = Server::start_on(&db, &[]);
    (db, a, b)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_an_unmigrated_or_newer_schema_and_migrate_bootstraps_once() {
    let mut db = PgDatabase::create().await;

    let unmigrated = db.engram(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!unmigrated.status.success(), "serve started on an empty database");
    let message = stderr(&unmigrated);
    assert!(
        message.contains("not migrated") && message.contains("engram migrate"),
        "unclear refusal on an un-migrated schema: {message}"
    );

    let first = db.migrate();
    let stdout = String::from_utf8_lossy(&first.stdout);
    // Every migration of this build, on an empty database.
    let all = {
        use engram_store::migration::{Migrator, MigratorTrait};
        Migrator::migrations().len()
    };
    assert!(stdout.contains(&format!("applied {all} migration(s)")), "{stdout}");
    let key = db.admin_key.clone().expect("the first migrate prints an admin key");
    assert!(key.starts_with("ek_"), "{key}");
    let again = db.migrate();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("applied 0 migration(s)") && !stdout.contains("admin API key"), "{stdout}");

    // The key works on a replica.
    let server = Server::start_on(&db, &[]);
    let mut c = server.admin().await;
    c.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory("bot", "hello")) }).await.unwrap();
    drop(server);

    // A migration this build does not know: the schema is newer than the binary.
    db.execute("INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29991231_000001_from_the_future', 0)")
        .await;
    let newer = db.engram(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!newer.status.success(), "serve started on a newer schema");
    let message = stderr(&newer);
    assert!(
        message.contains("newer than this engram build") && message.contains("m29991231_000001_from_the_future"),
        "unclear refusal on a newer schema: {message}"
    );
    let migrate_newer = db.engram(&["migrate"]);
    assert!(!migrate_newer.status.success(), "migrate ran on a newer schema");
    assert!(stderr(&migrate_newer).contains("newer than this engram build"), "{}", stderr(&migrate_newer));
}

/// Every page of ListMemories (agent filter, ascending), alternating the replica for each page.
async fn list_alternating(replicas: &mut [&mut Clients], agent: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = String::new();
    for turn in 0.. {
        let c = &mut replicas[turn % replicas.len()];
        let page = c
            .memories
            .list_memories(pb::ListMemoriesRequest {
                filter: Some(pb::MemoryFilter { agent: agent.into(), ..filter() }),
                limit,
                order: pb::Order::Asc as i32,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        ids.extend(page.memories.into_iter().map(|m| m.id));
        if !page.has_more {
            break;
        }
        token = page.next_page_token;
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_alternating_between_replicas_see_one_store() {
    let (_db, a, b) = two_replicas().await;
    let (mut ca, mut cb) = (a.admin().await, b.admin().await);

    // An agent and a session made on A are found on B.
    let agent = ca
        .agents
        .register_agent(pb::RegisterAgentRequest { name: "planner".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let dup = cb.agents.register_agent(pb::RegisterAgentRequest { name: "planner".into(), ..Default::default() }).await;
    assert_eq!(dup.unwrap_err().code(), Code::AlreadyExists, "B registered a name A already has");
    let session = cb
        .sessions
        .create_session(pb::CreateSessionRequest { agent: "planner".into(), metadata: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(session.agent_id, agent.id);

    // Memories written alternately on A and B; every one readable on the other.
    let mut written = Vec::new();
    for i in 0..30 {
        let (writer, reader) = if i % 2 == 0 { (&mut ca, &mut cb) } else { (&mut cb, &mut ca) };
        let new = pb::NewMemory {
            session_id: Some(session.id.clone()),
            tags: vec!["shared".into()],
            event_type: if i % 10 == 9 { "error".into() } else { "action".into() },
            ..memory("planner", &format!("step {i}"))
        };
        let created =
            writer.memories.add_memory(pb::AddMemoryRequest { memory: Some(new) }).await.unwrap().into_inner();
        let created = created.memory.unwrap();
        let read = reader.memories.get_memory(pb::GetMemoryRequest { id: created.id.clone() }).await.unwrap();
        assert_eq!(read.into_inner(), created, "memory {i} differs on the other replica");
        written.push(created.id);
    }

    // Pagination tokens of one replica work on the other.
    let listed = list_alternating(&mut [&mut ca, &mut cb], "planner", 7).await;
    assert_eq!(listed, written, "paging alternately through A and B");

    // Dedup across replicas: the same content again, on the replica that did not write it.
    let again = ca
        .memories
        .add_memories(pb::AddMemoriesRequest {
            memories: vec![pb::NewMemory { event_type: "action".into(), ..memory("planner", "step 1") }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.results[0].status, pb::AddStatus::Duplicate as i32);
    assert_eq!(again.results[0].id, written[1], "the duplicate points at B's memory");

    // Search, stats and context agree on both.
    let search = |tag: &str| pb::SearchMemoriesRequest {
        filter: Some(pb::MemoryFilter { tags: vec![tag.into()], ..filter() }),
        limit: 100,
        ..Default::default()
    };
    let found_a = ca.memories.search_memories(search("shared")).await.unwrap().into_inner().results.len();
    let found_b = cb.memories.search_memories(search("shared")).await.unwrap().into_inner().results.len();
    assert_eq!((found_a, found_b), (30, 30));
    let stats = |agent: &str| pb::GetAgentStatsRequest { agent: agent.into() };
    let stats_a = ca.agents.get_agent_stats(stats("planner")).await.unwrap().into_inner();
    let stats_b = cb.agents.get_agent_stats(stats("planner")).await.unwrap().into_inner();
    assert_eq!(stats_a, stats_b);
    assert_eq!((stats_a.memory_count, stats_a.errors_24h, stats_a.session_count), (30, 3, 1));
    let context = pb::BuildContextRequest {
        agent: "planner".into(),
        session_id: session.id.clone(),
        options: Some(pb::ContextOptions { max_tokens: 2000, ..Default::default() }),
    };
    let ctx_a = ca.context.build_context(context.clone()).await.unwrap().into_inner();
    let ctx_b = cb.context.build_context(context).await.unwrap().into_inner();
    assert_eq!(ctx_a.memory_ids.len(), 30);
    assert_eq!((ctx_a.context, ctx_a.memory_ids), (ctx_b.context, ctx_b.memory_ids));

    // A session closed on B is closed on A.
    cb.sessions.close_session(pb::CloseSessionRequest { id: session.id.clone() }).await.unwrap();
    let seen = ca.sessions.get_session(pb::GetSessionRequest { id: session.id.clone() }).await.unwrap().into_inner();
    assert_eq!(seen.status, pb::SessionStatus::Closed as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_replica_is_rejected_by_the_other_within_5_s() {
    let (_db, a, b) = two_replicas().await;
    let mut admin_a = a.admin().await;
    let secret = api_key(&mut admin_a, "org_default", &[pb::Permission::Read, pb::Permission::Write]).await;
    let key_id = admin_a
        .admin
        .list_api_keys(pb::ListApiKeysRequest { org_id: "org_default".into() })
        .await
        .unwrap()
        .into_inner()
        .keys
        .into_iter()
        .find(|k| k.name == "test")
        .unwrap()
        .id;

    // One long-lived connection to B, used before and after the revocation.
    let mut on_b = b.clients(Some(&secret)).await;
    let list = || pb::ListMemoriesRequest { filter: Some(filter()), ..Default::default() };
    on_b.memories.list_memories(list()).await.expect("the new key works on B");

    admin_a.admin.revoke_api_key(pb::RevokeApiKeyRequest { id: key_id }).await.unwrap();
    let revoked_at = Instant::now();
    loop {
        match on_b.memories.list_memories(list()).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            Err(status) => panic!("unexpected error from B: {status:?}"),
            Ok(_) => {}
        }
        assert!(revoked_at.elapsed() < Duration::from_secs(5), "B still accepts the key 5 s after A revoked it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("B rejected the revoked key after {:?}", revoked_at.elapsed());
    let add = on_b.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory("bot", "after revoke")) }).await;
    assert_eq!(add.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batch_ingest_through_both_replicas_loses_and_duplicates_nothing() {
    const WORKERS_PER_REPLICA: usize = 4;
    const BATCHES: usize = 8;
    const BATCH: usize = 100;
    // Every worker sends the same 400 contents (in its own order) plus 400 of its own, over 4 agents:
    // the shared ones must be stored once, whichever replica and batch gets there first.
    const SHARED: usize = 400;
    let (_db, a, b) = two_replicas().await;
    let base = [a.admin().await, b.admin().await];

    let mut tasks = Vec::new();
    for (replica, clients) in base.iter().enumerate() {
        for worker in 0..WORKERS_PER_REPLICA {
            let mut c = clients.clone();
            tasks.push(tokio::spawn(async move {
                let me = replica * WORKERS_PER_REPLICA + worker;
                let mut items: Vec<(String, String)> = (0..SHARED)
                    .map(|i| (format!("agent-{}", i % 4), format!("shared {i}")))
                    .chain((0..BATCHES * BATCH - SHARED).map(|i| (format!("agent-{}", i % 4), format!("own {me} {i}"))))
                    .collect();
                // A different order per worker, so the batches race on different keys.
                let shift = me * 97 % items.len();
                items.rotate_left(shift);
                let mut outcomes = Vec::new();
                for chunk in items.chunks(BATCH) {
                    let memories = chunk.iter().map(|(agent, content)| memory(agent, content)).collect();
                    let response = c
                        .memories
                        .add_memories(pb::AddMemoriesRequest { memories })
                        .await
                        .unwrap_or_else(|status| panic!("replica {replica} worker {worker}: {status:?}"))
                        .into_inner();
                    for ((agent, content), result) in chunk.iter().zip(response.results) {
                        outcomes.push((agent.clone(), content.clone(), result.status, result.id));
                    }
                }
                outcomes
            }));
        }
    }
    let mut created: HashMap<(String, String), String> = HashMap::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        for (agent, content, status, id) in task.await.unwrap() {
            if status == pb::AddStatus::Created as i32 {
                let earlier = created.insert((agent.clone(), content.clone()), id);
                assert!(earlier.is_none(), "{agent}/{content:?} was created twice");
            } else {
                assert_eq!(status, pb::AddStatus::Duplicate as i32);
                duplicates.push(((agent, content), id));
            }
        }
    }
    let workers = 2 * WORKERS_PER_REPLICA;
    let distinct = SHARED + workers * (BATCHES * BATCH - SHARED);
    assert_eq!(created.len(), distinct, "every distinct memory created exactly once");
    assert_eq!(duplicates.len(), (workers - 1) * SHARED);
    for (key, id) in &duplicates {
        assert_eq!(created.get(key), Some(id), "{key:?}: the duplicate points at another memory than the stored one");
    }

    // What is stored: exactly the created ones, seen the same from both replicas.
    let mut stored = HashSet::new();
    let mut ca = base[0].clone();
    let mut cb = base[1].clone();
    for agent in 0..4 {
        let ids = list_alternating(&mut [&mut ca, &mut cb], &format!("agent-{agent}"), 1000).await;
        let count = ids.len();
        stored.extend(ids);
        let stats = cb.agents.get_agent_stats(pb::GetAgentStatsRequest { agent: format!("agent-{agent}") }).await;
        assert_eq!(stats.unwrap().into_inner().memory_count as usize, count);
    }
    let expected: HashSet<String> = created.into_values().collect();
    assert_eq!(stored.len(), expected.len(), "stored rows: {} vs created: {}", stored.len(), expected.len());
    assert_eq!(stored, expected);
}

#[test]
fn serve_and_migrate_name_an_unreachable_database_at_once() {
    for args in [&["serve", "--listen", "127.0.0.1:0"][..], &["migrate"][..]] {
        let command = args[0];
        let started = Instant::now();
        let output = std::process::Command::new(engram_tests::engram_bin())
            .args(args)
            // Port 1 on loopback: nothing listens, the connection is refused at once.
            .env("DATABASE_URL", "postgres://engram@127.0.0.1:1/engram")
            .env("ENGRAM_LOG_LEVEL", "warn")
            .output()
            .expect("run engram");
        assert!(!output.status.success(), "{command} succeeded without a database");
        let message = stderr(&output);
        assert!(
            message.contains("cannot connect to PostgreSQL") && message.contains("Connection refused"),
            "{command}: unclear message: {message}"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{command} took {:?} to give up", started.elapsed());
    }
}
