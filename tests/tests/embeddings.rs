//! Server-side embeddings through the real binary: writes never wait for the embedder, the queue
//! survives `kill -9` (every memory ends up with exactly one vector), an endpoint that is down
//! leaves memories waiting and a semantic query gets a clear error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use engram_store::{EmbedQueueStore, FeedStore, SqlStore, StoreOptions};
use engram_tests::{Clients, Server, memory, pb};
use tonic::Code;

fn model_dir() -> String {
    let dir = std::env::var_os("ENGRAM_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/models/all-MiniLM-L6-v2"));
    assert!(dir.join("model.safetensors").exists(), "no model in {}: run `bash scripts/model.sh`", dir.display());
    dir.display().to_string()
}

async fn unembedded(c: &mut Clients) -> u64 {
    let request = pb::SearchMemoriesRequest {
        query: "anything".into(),
        mode: pb::SearchMode::Semantic as i32,
        limit: 1,
        ..Default::default()
    };
    c.memories.search_memories(request).await.unwrap().into_inner().unembedded.expect("reported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_survives_kill_9_and_embeds_each_memory_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir();
    let args = ["--embedder", "local", "--embedding-model-dir", &model];
    let mut server = Server::start_in(dir.path(), &args);
    let mut c = server.admin().await;
    let total = 600;
    for batch in 0..3 {
        let memories = (0..total / 3)
            .map(|i| memory("bot", &format!("note {batch}-{i}: the deployment of service {i} went fine")))
            .collect();
        let started = Instant::now();
        c.memories.add_memories(pb::AddMemoriesRequest { memories }).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "a write waited for the embedder: {:?}", started.elapsed());
    }
    // Kill it while it embeds: once some memories have their vector and others still wait (the
    // store's queue, read beside the running server).
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("engram.db").display());
    let store = SqlStore::connect(&url, &StoreOptions::default()).await.unwrap();
    let started = Instant::now();
    let waiting = loop {
        let waiting = store.count_pending_embeddings().await.unwrap();
        if waiting < total as u64 {
            break waiting;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "nothing was embedded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    server.kill9();
    assert!(waiting > 0, "the queue drained before the kill: make the batch larger");
    println!("killed with {waiting} of {total} memories waiting");

    let mut server = Server::start_in(dir.path(), &args);
    let mut c = server.admin().await;
    let started = Instant::now();
    while store.count_pending_embeddings().await.unwrap() > 0 || unembedded(&mut c).await > 0 {
        let (pending, unindexed) = (store.count_pending_embeddings().await.unwrap(), unembedded(&mut c).await);
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not drained after the restart: {pending} waiting in the store, {unindexed} without a vector in the index"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = c
        .memories
        .search_memories(pb::SearchMemoriesRequest {
            query: "note 2-7: the deployment of service 7 went fine".into(),
            mode: pb::SearchMode::Semantic as i32,
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(found.hits[0].memory.as_ref().unwrap().content.starts_with("note 2-7:"));
    server.terminate();

    // In the store: every memory has exactly one vector (the table's key), none waits.
    assert_eq!(store.count_pending_embeddings().await.unwrap(), 0);
    let heads = store.feed_heads().await.unwrap();
    let org = &heads.iter().find(|h| h.org_id == "org_default").unwrap().org_id;
    let mut with_vector = 0;
    let mut after = 0;
    loop {
        let changes = store.feed_changes(org, after, 10_000).await.unwrap();
        let Some(last) = changes.last() else { break };
        after = last.seq;
        with_vector += changes.iter().filter(|c| c.vector.as_ref().is_some_and(|v| v.len() == 384)).count();
    }
    assert_eq!(with_vector, total, "one vector per memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_is_down_never_blocks_writes() {
    let server =
        Server::start(&["--embedder", "http", "--embedding-url", "http://127.0.0.1:9/v1", "--embedding-timeout", "1"]);
    let mut c = server.admin().await;
    let started = Instant::now();
    c.memories
        .add_memory(pb::AddMemoryRequest { memory: Some(memory("bot", "Restarted Redis on prod-web-01")) })
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "the write waited for the embedder");
    // Keyword search works; the memory waits for its vector.
    let keyword =
        pb::SearchMemoriesRequest { query: "redis".into(), mode: pb::SearchMode::Keyword as i32, ..Default::default() };
    let started = Instant::now();
    loop {
        if !c.memories.search_memories(keyword.clone()).await.unwrap().into_inner().hits.is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A semantic query needs the endpoint to embed it: a clear error naming it.
    let status = c
        .memories
        .search_memories(pb::SearchMemoriesRequest { mode: pb::SearchMode::Semantic as i32, ..keyword })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("http://127.0.0.1:9/v1/embeddings"), "{}", status.message());
}
