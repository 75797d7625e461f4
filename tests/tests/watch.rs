//! WatchMemories end to end: memories arrive as they are committed, filtered, in commit order;
//! a reconnect with the last token misses nothing and repeats nothing; another org's memories
//! never arrive; a write on one PostgreSQL replica reaches a watch on the other.

use std::time::{Duration, Instant};

use engram_tests::{Clients, PgDatabase, Server, memory, pb};
use tokio_stream::StreamExt;
use tonic::Streaming;

fn request(filter: pb::MemoryFilter, resume_token: &str) -> pb::WatchMemoriesRequest {
    pb::WatchMemoriesRequest { filter: Some(filter), resume_token: resume_token.into() }
}

async fn add(c: &mut Clients, memories: Vec<pb::NewMemory>) {
    c.memories.add_memories(pb::AddMemoriesRequest { memories }).await.unwrap();
}

/// The next `n` events, within 10 s.
async fn take(stream: &mut Streaming<pb::MemoryEvent>, n: usize) -> Vec<pb::MemoryEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        out.push(next.expect("an event within 10 s").expect("the stream goes on").expect("an event"));
    }
    out
}

fn contents(events: &[pb::MemoryEvent]) -> Vec<String> {
    events.iter().map(|e| e.memory.as_ref().unwrap().content.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_in_order_resumable_and_isolated() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    add(&mut c, vec![memory("trader", "before the watch")]).await;
    let filter = pb::MemoryFilter { agent: "trader".into(), tags: vec!["deal".into()], ..Default::default() };
    let mut stream = c.watch.watch_memories(request(filter.clone(), "")).await.unwrap().into_inner();
    // Another org writes too: never delivered.
    let (_, key) = engram_tests::org_with_key(&mut c, "other", &[pb::Permission::Read, pb::Permission::Write]).await;
    let mut other = server.clients(Some(&key)).await;
    let deal = |text: &str| pb::NewMemory { tags: vec!["deal".into()], ..memory("trader", text) };
    add(&mut other, vec![deal("other org's deal")]).await;
    add(
        &mut c,
        vec![
            deal("deal 1"),
            memory("trader", "no tag"),
            pb::NewMemory { agent: "someone".into(), ..deal("not my agent") },
        ],
    )
    .await;
    add(&mut c, vec![deal("deal 2"), deal("deal 3")]).await;
    let first = take(&mut stream, 2).await;
    assert_eq!(contents(&first), ["deal 1", "deal 2"]);
    drop(stream);

    // Written while nobody watches; the token of "deal 2" resumes right after it.
    add(&mut c, vec![deal("deal 4")]).await;
    let mut resumed =
        c.watch.watch_memories(request(filter.clone(), &first[1].resume_token)).await.unwrap().into_inner();
    let next = take(&mut resumed, 2).await;
    assert_eq!(contents(&next), ["deal 3", "deal 4"], "no gap, no repeat");
    // Nothing else is pending: a new memory is the next event.
    add(&mut c, vec![deal("deal 5")]).await;
    assert_eq!(contents(&take(&mut resumed, 1).await), ["deal 5"]);

    // A token of another filter, or a malformed one, is INVALID_ARGUMENT naming it.
    let other_filter = pb::MemoryFilter { agent: "trader".into(), ..Default::default() };
    let err = c.watch.watch_memories(request(other_filter, &first[1].resume_token)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("resume_token"), "{}", err.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_reaches_a_watch_on_the_other() {
    let mut db = PgDatabase::create().await;
    db.migrate();
    let key = db.admin_key.clone().expect("admin key");
    let (a, b) = (Server::start_on(&db, &[]), Server::start_on(&db, &[]));
    let (mut ca, mut cb) = (a.clients(Some(&key)).await, b.clients(Some(&key)).await);
    let filter = pb::MemoryFilter { agent: "sim".into(), ..Default::default() };
    let mut stream = cb.watch.watch_memories(request(filter, "")).await.unwrap().into_inner();
    let mut worst = Duration::ZERO;
    for i in 0..10 {
        let started = Instant::now();
        add(&mut ca, vec![memory("sim", &format!("step {i}"))]).await;
        let got = take(&mut stream, 1).await;
        worst = worst.max(started.elapsed());
        assert_eq!(contents(&got), [format!("step {i}")]);
    }
    assert!(worst < Duration::from_secs(2), "slowest delivery across replicas: {worst:?}");
}
