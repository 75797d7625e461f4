//! SQLite's dedup buffer (`shared::ingest::DedupBuffer`): the writer keeps the newest dedup hashes
//! in memory and writes them to `memory_dedup` in sorted passes. Dedup must stay exact across
//! those passes, across a restart (the buffer is rebuilt from the memories above the flushed
//! key), and under concurrent requests that the writer groups into one transaction.
//!
//! Run: `cargo test -p engram-store --test dedup_buffer`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use engram_core::*;
use engram_store::{MemoryStore, OrgStore, SqlStore, StoreOptions};

fn options(buffer: usize) -> StoreOptions {
    StoreOptions { sqlite_dedup_buffer: buffer, ..StoreOptions::default() }
}

fn valid(agent: &str, content: &str, dedup_key: Option<&str>, now: time::Timestamp) -> ValidMemory {
    let memory = NewMemory {
        agent: agent.into(),
        event_type: "note".into(),
        content: content.into(),
        dedup_key: dedup_key.map(str::to_owned),
        ..Default::default()
    };
    Limits::default().check_new_memory("memories[0]", memory, now).unwrap()
}

fn window() -> chrono::Duration {
    chrono::Duration::hours(24)
}

async fn add(store: &SqlStore, items: Vec<ValidMemory>, now: time::Timestamp) -> Vec<AddOutcome> {
    store.add_memories("org_d", items, window(), now).await.unwrap()
}

fn created_id(outcome: &AddOutcome) -> String {
    match outcome {
        AddOutcome::Created(m) => m.id.clone(),
        other => panic!("expected Created, got {other:?}"),
    }
}

/// Every memory written so far is found as a duplicate, whichever side of a flush it is on.
async fn all_duplicates(store: &SqlStore, written: &[(String, String)], now: time::Timestamp) {
    for chunk in written.chunks(7) {
        let items = chunk.iter().map(|(content, _)| valid("bot", content, None, now)).collect();
        let outcomes = add(store, items, now).await;
        for ((content, id), outcome) in chunk.iter().zip(outcomes) {
            assert_eq!(outcome, AddOutcome::Duplicate { existing_id: id.clone() }, "{content}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dedup_is_exact_across_flushes_and_restarts() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}/engram.db?mode=rwc", dir.path().display());
    let now = time::now();
    let mut written: Vec<(String, String)> = Vec::new();
    {
        // A buffer of 5: most of the 39 memories go through a flush.
        let store = SqlStore::connect(&url, &options(5)).await.unwrap();
        store.migrate().await.unwrap();
        store.create_org("org_d", "d", now).await.unwrap();
        for batch in 0..9 {
            let contents: Vec<String> = (0..batch % 4 + 3).map(|i| format!("batch {batch} item {i}")).collect();
            let items = contents.iter().map(|c| valid("bot", c, None, now)).collect();
            let outcomes = add(&store, items, now).await;
            written.extend(contents.into_iter().zip(outcomes.iter().map(created_id)));
        }
        assert_eq!(written.len(), 39);
        all_duplicates(&store, &written, now).await;
        // Client keys too, duplicated inside one request and across requests.
        let keyed =
            add(&store, vec![valid("bot", "a", Some("k1"), now), valid("bot", "b", Some("k1"), now)], now).await;
        let first = created_id(&keyed[0]);
        assert_eq!(keyed[1], AddOutcome::Duplicate { existing_id: first.clone() });
        let again = add(&store, vec![valid("bot", "c", Some("k1"), now)], now).await;
        assert_eq!(again, vec![AddOutcome::Duplicate { existing_id: first.clone() }]);
    }
    // A restart (larger buffer this time): what was buffered is rebuilt from the memories.
    let store = SqlStore::connect(&url, &options(1000)).await.unwrap();
    all_duplicates(&store, &written, now).await;
    let fresh = add(&store, vec![valid("bot", "after the restart", None, now)], now).await;
    let fresh_id = created_id(&fresh[0]);
    written.push(("after the restart".into(), fresh_id));
    all_duplicates(&store, &written, now).await;
    // And once more with a tiny buffer, so the rebuilt buffer is flushed.
    drop(store);
    let store = SqlStore::connect(&url, &options(1)).await.unwrap();
    let more = add(&store, vec![valid("bot", "flushed at once", None, now)], now).await;
    written.push(("flushed at once".into(), created_id(&more[0])));
    all_duplicates(&store, &written, now).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_of_one_key_create_one_memory() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}/engram.db?mode=rwc", dir.path().display());
    let now = time::now();
    // No flush during the test: a pass must see the hashes of an earlier pass of its group in
    // the buffer itself (they are not in the table).
    let store = Arc::new(SqlStore::connect(&url, &options(1_000_000)).await.unwrap());
    store.migrate().await.unwrap();
    store.create_org("org_d", "d", now).await.unwrap();
    for round in 0..40 {
        let tasks: Vec<_> = (0..16)
            .map(|attempt| {
                let store = store.clone();
                tokio::spawn(async move {
                    // Staggered, so that requests arrive while the writer is inside a pass and
                    // their jobs land in one group with the pass's.
                    tokio::time::sleep(std::time::Duration::from_micros(rand::random::<u64>() % 3000)).await;
                    let key = format!("round-{round}");
                    let items = vec![
                        valid("bot", &format!("round {round} attempt {attempt}"), Some(&key), now),
                        valid("bot", &format!("round {round} filler {attempt}"), None, now),
                    ];
                    store.add_memories("org_d", items, window(), now).await.unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let created: Vec<String> = outcomes
            .iter()
            .filter_map(|o| match &o[0] {
                AddOutcome::Created(m) => Some(m.id.clone()),
                AddOutcome::Duplicate { .. } => None,
            })
            .collect();
        assert_eq!(created.len(), 1, "round {round}: exactly one memory for the key: {outcomes:?}");
        for o in &outcomes {
            if let AddOutcome::Duplicate { existing_id } = &o[0] {
                assert_eq!(existing_id, &created[0], "round {round}");
            }
            assert!(matches!(o[1], AddOutcome::Created(_)), "round {round}: fillers are distinct");
        }
    }
}
