//! Upgrades in place: a store written by the release before the lean store (fixtures/v0_*, made by
//! commit 213b8f7's Store trait) is migrated by this build, and every org, key, agent, session,
//! memory, tag and statistic reads back exactly as that release returned it; then the upgraded
//! store keeps working (dedup against upgraded memories, tag queries, new writes, counters).
//! Runs on SQLite and PostgreSQL.
//!
//! Run: `cargo test -p engram-store --test upgrade`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;
use serde_json::{Value, json};

use engram_core::time::{from_micros, to_micros};
use engram_core::*;
use engram_store::migration::Migrator;
use engram_store::testsuite::PgTestDatabase;
use engram_store::{SqlStore, Store, StoreOptions};

const V0_SQL: &str = include_str!("fixtures/v0_store.sql");
const V0_EXPECTED: &str = include_str!("fixtures/v0_expected.json");

/// An empty database with only the first migration, loaded with the v0 rows.
async fn load_v0(url: &str) {
    let db = sea_orm::Database::connect(url).await.expect("connect");
    Migrator::up(&db, Some(1)).await.expect("first migration");
    db.execute_unprepared(V0_SQL).await.expect("load v0_store.sql");
    let applied = Migrator::get_applied_migrations(&db).await.expect("applied migrations");
    assert_eq!(applied.len(), 1, "only the first migration before the upgrade");
    db.close().await.expect("close");
}

fn micros(t: Timestamp) -> Value {
    json!(to_micros(t))
}

fn opt_micros(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, micros)
}

type Timestamp = engram_core::time::Timestamp;

fn memory_json(m: &Memory) -> Value {
    json!({
        "agent_id": m.agent_id,
        "content": m.content,
        "created_at": micros(m.created_at),
        "dedup_key": m.dedup_key,
        "event_type": m.event_type,
        "expires_at": opt_micros(m.expires_at),
        "id": m.id,
        "importance": m.importance,
        "memory_type": m.memory_type.as_str(),
        "metadata": m.metadata,
        "org_id": m.org_id,
        "parent_id": m.parent_id,
        "position": m.position.map(|p| json!({"x": p.x, "y": p.y, "z": p.z})),
        "session_id": m.session_id,
        "step": m.step,
        "tags": m.tags,
        "time": micros(m.time),
    })
}

fn agent_json(a: &Agent) -> Value {
    json!({
        "config": a.config,
        "created_at": micros(a.created_at),
        "description": a.description,
        "id": a.id,
        "last_active_at": opt_micros(a.last_active_at),
        "name": a.name,
        "org_id": a.org_id,
    })
}

fn session_json(s: &Session) -> Value {
    json!({
        "agent_id": s.agent_id,
        "closed_at": opt_micros(s.closed_at),
        "created_at": micros(s.created_at),
        "id": s.id,
        "metadata": s.metadata,
        "org_id": s.org_id,
        "status": s.status.as_str(),
        "updated_at": micros(s.updated_at),
    })
}

fn key_json(k: &ApiKey, digest: &[u8]) -> Value {
    json!({
        "created_at": micros(k.created_at),
        "digest_hex": digest.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "expires_at": opt_micros(k.expires_at),
        "id": k.id,
        "name": k.name,
        "org_id": k.org_id,
        "permissions": k.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "revoked_at": opt_micros(k.revoked_at),
    })
}

fn stats_json(s: &AgentStats) -> Value {
    json!({
        "active_sessions": s.active_sessions,
        "agent_id": s.agent_id,
        "errors_24h": s.errors_24h,
        "last_active_at": opt_micros(s.last_active_at),
        "memories_24h": s.memories_24h,
        "memory_count": s.memory_count,
        "memory_types": s.memory_types.iter().map(|(t, n)| json!([t.as_str(), n])).collect::<Vec<_>>(),
        "session_count": s.session_count,
    })
}

fn without(mut value: Value, field: &str) -> Value {
    value.as_object_mut().unwrap().remove(field);
    value
}

/// Upgrades the v0 store at `url` and checks everything against `v0_expected.json`.
async fn upgrade_and_check(url: &str) {
    load_v0(url).await;
    let expected: Value = serde_json::from_str(V0_EXPECTED).unwrap();
    let read_now = from_micros(expected["now"]["read_now"].as_i64().unwrap());
    let expired_read_now = from_micros(expected["now"]["expired_read_now"].as_i64().unwrap());
    let stats_now = from_micros(expected["now"]["stats_now"].as_i64().unwrap());

    let store = SqlStore::connect(url, &StoreOptions::default()).await.unwrap();
    let status = store.schema_status().await.unwrap();
    // Every migration after the first schema is pending: the lean store and those after it.
    let later = {
        use engram_store::migration::{Migrator, MigratorTrait};
        Migrator::migrations().len() - 1
    };
    assert_eq!(status.pending.len(), later, "{status:?}");
    assert_eq!(status.pending[0], "m20261130_000001_lean_store");
    assert_eq!(store.migrate().await.unwrap(), later);
    assert!(store.schema_status().await.unwrap().pending.is_empty());
    let store: &dyn Store = &store;

    // Orgs.
    let orgs: Vec<Value> = store
        .list_orgs()
        .await
        .unwrap()
        .iter()
        .map(|o| json!({"created_at": micros(o.created_at), "id": o.id, "name": o.name}))
        .collect();
    assert_eq!(Value::Array(orgs.clone()), expected["orgs"], "orgs");

    // API keys, with their digests, and a secret still matches its key's digest.
    let mut keys = Vec::new();
    for org in &orgs {
        for key in store.list_api_keys(org["id"].as_str().unwrap()).await.unwrap() {
            let (found, digest) = store.find_api_key(&key.id).await.unwrap().unwrap();
            assert_eq!(found, key);
            keys.push(key_json(&key, &digest));
        }
    }
    let expected_keys: Vec<Value> =
        expected["api_keys"].as_array().unwrap().iter().map(|k| without(k.clone(), "secret")).collect();
    assert_eq!(keys, expected_keys, "api keys");
    for key in expected["api_keys"].as_array().unwrap() {
        let secret = key["secret"].as_str().unwrap();
        let key_id = ids::key_id_of_secret(secret).unwrap();
        let (_, digest) = store.find_api_key(&key_id).await.unwrap().unwrap();
        assert_eq!(ids::key_digest(secret), digest, "{key_id}: the secret still authenticates");
    }

    // Agents and sessions, per org in listing order.
    let (mut agents, mut sessions) = (Vec::new(), Vec::new());
    for org in &orgs {
        let org = org["id"].as_str().unwrap();
        agents.extend(store.list_agents(org, 1000, None).await.unwrap().items.iter().map(agent_json));
        sessions.extend(store.list_sessions(org, None, None, 1000, None).await.unwrap().items.iter().map(session_json));
    }
    assert_eq!(Value::Array(agents), expected["agents"], "agents");
    assert_eq!(Value::Array(sessions), expected["sessions"], "sessions");

    // Every memory, field for field.
    let expired: Vec<&str> =
        expected["expired_memory_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let mut by_org: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for want in expected["memories"].as_array().unwrap() {
        let (id, org) = (want["id"].as_str().unwrap(), want["org_id"].as_str().unwrap());
        let got = if expired.contains(&id) {
            assert!(
                matches!(store.get_memory(org, id, read_now).await, Err(Error::NotFound { .. })),
                "{id} is expired"
            );
            store.get_memory(org, id, expired_read_now).await.unwrap()
        } else {
            by_org.entry(org.to_owned()).or_default().push(id.to_owned());
            store.get_memory(org, id, read_now).await.unwrap()
        };
        assert_eq!(&memory_json(&got), want, "memory {id}");
    }
    // Listing returns the same set, in (time, then creation) order.
    for (org, mut ids) in by_org {
        let query = MemoryQuery {
            filter: MemoryFilter::default(),
            limit: 1000,
            order: Order::Desc,
            cursor: None,
            offset: 0,
            within: None,
        };
        let page = store.list_memories(&org, &query, read_now).await.unwrap();
        let mut listed: Vec<String> = page.memories.iter().map(|m| m.id.clone()).collect();
        let times: Vec<i64> = page.memories.iter().map(|m| to_micros(m.time)).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{org}: newest first");
        listed.sort();
        ids.sort();
        assert_eq!(listed, ids, "{org}: every live memory is listed");
        assert_eq!(store.count_memories(&org, &MemoryFilter::default(), read_now).await.unwrap(), ids.len() as u64);
    }

    // Tags: each tag query finds exactly the memories that carried the tag.
    let mut tagged: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for m in expected["memories"].as_array().unwrap() {
        if expired.contains(&m["id"].as_str().unwrap()) {
            continue;
        }
        for tag in m["tags"].as_array().unwrap() {
            let key = (m["org_id"].as_str().unwrap().to_owned(), tag.as_str().unwrap().to_owned());
            tagged.entry(key).or_default().push(m["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(!tagged.is_empty());
    for ((org, tag), mut ids) in tagged {
        let filter = MemoryFilter { tags_all: vec![tag.clone()], ..Default::default() };
        let query = MemoryQuery { filter, limit: 1000, order: Order::Desc, cursor: None, offset: 0, within: None };
        let mut found: Vec<String> =
            store.list_memories(&org, &query, read_now).await.unwrap().memories.into_iter().map(|m| m.id).collect();
        found.sort();
        ids.sort();
        assert_eq!(found, ids, "tag {tag} in {org}");
    }

    // Statistics (from the counters the migration built).
    for (agent_id, want) in expected["agent_stats"].as_object().unwrap() {
        let agent = expected["agents"].as_array().unwrap().iter().find(|a| a["id"] == json!(agent_id)).unwrap();
        let org = agent["org_id"].as_str().unwrap();
        let stats = store.agent_stats(org, &AgentRef::Id(agent_id.clone()), stats_now).await.unwrap();
        assert_eq!(&stats_json(&stats), want, "stats of {agent_id}");
    }

    // Org usage, from the byte counters the bytes migration filled: every stored memory's content
    // (expired ones not yet deleted included).
    for org in &orgs {
        let org = org["id"].as_str().unwrap();
        let stored: Vec<&Value> =
            expected["memories"].as_array().unwrap().iter().filter(|m| m["org_id"] == json!(org)).collect();
        let bytes: u64 = stored.iter().map(|m| m["content"].as_str().unwrap().len() as u64).sum();
        let usage = store.org_usage(org).await.unwrap();
        assert_eq!((usage.memories, usage.content_bytes), (stored.len() as u64, bytes), "usage of {org}");
    }

    // The upgraded store keeps working: a memory equal to an upgraded one is its duplicate (the
    // migration computed the dedup hashes), both with a derived and with a client dedup key.
    let limits = Limits::default();
    let now = engram_core::time::now();
    let window = chrono::Duration::days(3650);
    let memories = expected["memories"].as_array().unwrap();
    let derived = memories
        .iter()
        .find(|m| !expired.contains(&m["id"].as_str().unwrap()) && m["dedup_key"].as_str().unwrap().len() == 32)
        .unwrap();
    let client = memories.iter().find(|m| m["dedup_key"].as_str().unwrap().len() != 32).expect("a client dedup key");
    for (original, dedup_key) in [(derived, None), (client, Some(client["dedup_key"].as_str().unwrap().to_owned()))] {
        let org = original["org_id"].as_str().unwrap();
        let again = NewMemory {
            agent: original["agent_id"].as_str().unwrap().to_owned(),
            event_type: original["event_type"].as_str().unwrap().to_owned(),
            content: original["content"].as_str().unwrap().to_owned(),
            dedup_key,
            ..Default::default()
        };
        let valid = limits.check_new_memory("memories[0]", again, now).unwrap();
        let outcome = store.add_memories(org, vec![valid], window, now).await.unwrap();
        if expired.contains(&original["id"].as_str().unwrap()) {
            assert!(matches!(outcome[0], AddOutcome::Created(_)), "an expired memory is no duplicate");
        } else {
            assert_eq!(
                outcome,
                vec![AddOutcome::Duplicate { existing_id: original["id"].as_str().unwrap().to_owned() }],
                "a duplicate of upgraded memory {}",
                original["id"]
            );
        }
    }
    // New memories get keys after the upgraded ones: they list first at equal times, and counters go on.
    let agent_id = derived["agent_id"].as_str().unwrap();
    let org = derived["org_id"].as_str().unwrap();
    let before = store.agent_stats(org, &AgentRef::Id(agent_id.to_owned()), now).await.unwrap().memory_count;
    let fresh = limits
        .check_new_memory(
            "memories[0]",
            NewMemory {
                agent: agent_id.to_owned(),
                content: "after the upgrade".into(),
                tags: vec!["upgraded".into()],
                ..Default::default()
            },
            now,
        )
        .unwrap();
    let created = match store.add_memories(org, vec![fresh], window, now).await.unwrap().pop().unwrap() {
        AddOutcome::Created(m) => m,
        other => panic!("expected Created, got {other:?}"),
    };
    assert!(created.id.as_str() > memories.iter().map(|m| m["id"].as_str().unwrap()).max().unwrap(), "ids go on");
    let after = store.agent_stats(org, &AgentRef::Id(agent_id.to_owned()), now).await.unwrap().memory_count;
    assert_eq!(after, before + 1);
    let filter = MemoryFilter { tags_all: vec!["upgraded".into()], ..Default::default() };
    let query = MemoryQuery { filter, limit: 10, order: Order::Desc, cursor: None, offset: 0, within: None };
    assert_eq!(store.list_memories(org, &query, now).await.unwrap().memories, vec![created]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_upgrades_in_place() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}/engram.db?mode=rwc", dir.path().display());
    upgrade_and_check(&url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store_upgrades_in_place() {
    let db = PgTestDatabase::create().await;
    upgrade_and_check(&db.url).await;
}

/// The migration's recount of content bytes finds what the write paths kept: hot memories, cold
/// ones (from their blocks), after deletes of both.
async fn recount_matches_the_write_paths(url: &str) {
    use engram_core::lifecycle::Tier;
    use engram_store::LifecycleBatch;
    let store = SqlStore::connect(url, &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let store: &dyn Store = &store;
    let now = engram_core::time::now();
    let org = store.create_org(&ids::org_id(), "recount", now).await.unwrap().id;
    let limits = Limits::default();
    let items: Vec<ValidMemory> = (0..120)
        .map(|i| {
            let memory = NewMemory {
                agent: if i % 2 == 0 { "ana" } else { "bo" }.into(),
                content: format!("memory {i}: {}", "é".repeat(i % 17)),
                time: Some(engram_core::time::from_micros(to_micros(now) - 1_000_000 * (200 - i as i64))),
                ..Default::default()
            };
            limits.check_new_memory("memories[0]", memory, now).unwrap()
        })
        .collect();
    store.add_memories(&org, items, chrono::Duration::days(1), now).await.unwrap();
    let facts = store.memory_facts(&org, None, None, now, 1000).await.unwrap();
    let moves = facts.iter().step_by(2).map(|f| (f.key, Tier::Cold)).collect();
    store.apply_lifecycle(&org, LifecycleBatch { moves, ..Default::default() }).await.unwrap();
    // Delete some hot and some cold memories.
    let doomed: Vec<i64> = facts.iter().take(30).map(|f| f.key).collect();
    store.apply_lifecycle(&org, LifecycleBatch { delete: doomed, ..Default::default() }).await.unwrap();
    let kept = store.org_usage(&org).await.unwrap();
    assert_eq!(kept.memories, 90);
    assert!(kept.content_bytes > 90 * 10, "{kept:?}");

    let db = sea_orm::Database::connect(url).await.unwrap();
    db.execute_unprepared("UPDATE memory_counts SET bytes = 0").await.unwrap();
    assert_eq!(store.org_usage(&org).await.unwrap().content_bytes, 0);
    engram_store::migration::recount_memory_bytes(&db).await.unwrap();
    assert_eq!(store.org_usage(&org).await.unwrap(), kept);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_recount_matches_the_write_paths() {
    let dir = tempfile::TempDir::new().unwrap();
    recount_matches_the_write_paths(&format!("sqlite://{}/engram.db?mode=rwc", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_recount_matches_the_write_paths() {
    let db = PgTestDatabase::create().await;
    recount_matches_the_write_paths(&db.url).await;
}
