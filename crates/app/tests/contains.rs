//! `content_contains` listings served by the trigram index, on both store backends (a real
//! SQLite file and a fresh PostgreSQL database): they list exactly what the store's own walk
//! lists, for every kind of needle, and see a write before the index does.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use engram_app::{Engram, ListRequest, Relevance};
use engram_core::*;
use engram_search::{FullText, Ranking};
use engram_store::testsuite::TestStore;

fn admin(org: &str) -> Principal {
    Principal { org_id: org.to_owned(), key_id: None, permissions: vec![Permission::Admin] }
}

/// The same store, listed through the index (`indexed`) and by the store's walk alone (`walked`).
struct Fixture {
    indexed: Engram,
    walked: Engram,
    org: String,
    _store: TestStore,
}

async fn fixture(store: TestStore) -> Fixture {
    let org = ids::org_id();
    store.store.create_org(&org, &format!("contains-{org}"), time::now()).await.unwrap();
    let fulltext = Arc::new(FullText::open(None).unwrap());
    let indexed = Engram::new(store.store.clone(), Limits::default())
        .with_relevance(Relevance::new(fulltext, Ranking::default()));
    let walked = Engram::new(store.store.clone(), Limits::default());
    Fixture { indexed, walked, org, _store: store }
}

const CORPUS: &[(&str, &str)] = &[
    ("ops", "Restarted Redis on prod-web-01 after the memory alert"),
    ("ops", "Restart the Redistribution job tomorrow"),
    ("ops", "restart   redis-cluster nodes one by one"),
    ("ops", "Rotated the logs on db-02; see https://wiki.example.com/runbooks/disk.html"),
    ("dev", "Fixed the token refresh race in AUTH.go"),
    ("dev", "Über die Grenze: the ÉCOLE menu parser handles UTF-8 now"),
    ("dev", "go go go"),
    ("dev", "The prod-web-01 certificate expires in May"),
    ("ops", "(restarting\t\tREDIS-sentinel) on prod-web-02"),
    ("ops", "restarted-redis is not two words; restarted. redis is"),
    ("dev", "see prod-web-01   restarts and go to redis"),
];

const NEEDLES: &[&str] = &[
    "Restart Redis",
    "restart redis",
    "redis",
    "prod-web-01",
    "auth.go",
    "École",
    "über die",
    "runbooks/disk",
    "go",
    "ed Redis on",
    "Redistribution",
    "nothing like this",
    "edis",
    "web-01 restart",
    "01 restarts and",
    "restarted redis",
    "restarted. redis",
    "go to redis",
    "to redis",
    "  redis  ",
    "(restarting",
    "sentinel) on",
    "d redis",
];

async fn list(app: &Engram, org: &str, agent: Option<&str>, needle: &str) -> Vec<String> {
    let request = ListRequest {
        filter: MemoryFilter { agent: agent.map(|a| AgentRef::Name(a.into())), ..Default::default() },
        content_contains: needle.into(),
        limit: 100,
        ..Default::default()
    };
    app.list_memories(&admin(org), request).await.unwrap().memories.into_iter().map(|m| m.content).collect()
}

async fn lists_what_the_walk_lists(store: TestStore) {
    let f = fixture(store).await;
    let p = admin(&f.org);
    let items = CORPUS
        .iter()
        .map(|(agent, content)| NewMemory { agent: (*agent).into(), content: (*content).into(), ..Default::default() })
        .collect();
    f.indexed.add_memories(&p, items).await.unwrap();
    f.indexed.index_pending().await.unwrap();
    for needle in NEEDLES {
        for agent in [None, Some("ops"), Some("dev"), Some("nobody")] {
            let walked = list(&f.walked, &f.org, agent, needle).await;
            assert_eq!(list(&f.indexed, &f.org, agent, needle).await, walked, "{needle:?} {agent:?}");
        }
    }
    // The rule itself, as documented.
    let found = list(&f.indexed, &f.org, None, "Restart Redis").await;
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.iter().any(|c| c.starts_with("Restarted Redis on prod-web-01")), "{found:?}");
    assert!(!found.iter().any(|c| c.contains("Redistribution")), "{found:?}");

    // Written after the index caught up: listed at once (read-your-writes), and no longer listed
    // once deleted, though still indexed.
    let late = f
        .indexed
        .add_memory(
            &p,
            NewMemory { agent: "ops".into(), content: "Restarting Redis again".into(), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(list(&f.indexed, &f.org, Some("ops"), "restart redis").await.len(), 4);
    f.indexed.index_pending().await.unwrap();
    f.indexed.delete_memory(&p, &late.id).await.unwrap();
    assert_eq!(list(&f.indexed, &f.org, Some("ops"), "restart redis").await.len(), 3);
}

/// Every page of a listing, followed by token (`limit` per page), as contents.
async fn pages(app: &Engram, org: &str, needle: &str, order: Order, limit: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let request = ListRequest {
            content_contains: needle.into(),
            limit,
            order,
            page_token: token.clone(),
            ..Default::default()
        };
        let page = app.list_memories(&admin(org), request).await.unwrap();
        out.extend(page.memories.into_iter().map(|m| m.content));
        match page.next_cursor {
            Some(next) => token = next.encode(),
            None => return out,
        }
    }
}

/// 700 candidates of "restart redis" (both words in each), of which one in a hundred matches:
/// the listing reads the candidates in order, prefix after longer prefix, and pages exactly like
/// the walk, both ways, by token and by offset.
async fn sparse_matches_among_many_candidates(store: TestStore) {
    let f = fixture(store).await;
    let p = admin(&f.org);
    let base = time::now() - chrono::Duration::days(2);
    let items = (0..700i64)
        .map(|i| NewMemory {
            agent: "ops".into(),
            content: if i % 100 == 7 {
                format!("Restarted Redis on node {i}")
            } else {
                format!("redis then a restart of node {i}")
            },
            time: Some(base + chrono::Duration::minutes(i)),
            ..Default::default()
        })
        .collect();
    f.indexed.add_memories(&p, items).await.unwrap();
    f.indexed.index_pending().await.unwrap();
    let same_pages = |expected: usize| {
        let f = &f;
        async move {
            for order in [Order::Desc, Order::Asc] {
                for limit in [1, 3, 100] {
                    let walked = pages(&f.walked, &f.org, "restart redis", order, limit).await;
                    assert_eq!(walked.len(), expected);
                    let indexed = pages(&f.indexed, &f.org, "restart redis", order, limit).await;
                    assert_eq!(indexed, walked, "{order:?} {limit}");
                }
            }
        }
    };
    same_pages(7).await;
    // Two matches the index has not seen, older than every candidate: a first prefix plus these
    // fills a page, but candidates of the next prefix come before them.
    let late = (0..2i64)
        .map(|i| NewMemory {
            agent: "ops".into(),
            content: format!("restarting redis, late {i}"),
            time: Some(base - chrono::Duration::days(1) + chrono::Duration::minutes(i)),
            ..Default::default()
        })
        .collect();
    f.indexed.add_memories(&p, late).await.unwrap();
    same_pages(9).await;
    for offset in [0, 2, 6, 7] {
        let request = ListRequest { content_contains: "restart redis".into(), limit: 2, offset, ..Default::default() };
        let indexed = f.indexed.list_memories(&p, request.clone()).await.unwrap();
        let walked = f.walked.list_memories(&p, request).await.unwrap();
        assert_eq!(indexed.has_more, walked.has_more, "offset {offset}");
        let contents = |page: MemoryPage| page.memories.into_iter().map(|m| m.content).collect::<Vec<_>>();
        assert_eq!(contents(indexed), contents(walked), "offset {offset}");
    }
}

#[tokio::test]
async fn sqlite_pages_sparse_matches_among_many_candidates() {
    sparse_matches_among_many_candidates(TestStore::sqlite().await).await;
}

#[tokio::test]
async fn postgres_pages_sparse_matches_among_many_candidates() {
    sparse_matches_among_many_candidates(TestStore::postgres().await).await;
}

#[tokio::test]
async fn sqlite_lists_what_the_walk_lists() {
    lists_what_the_walk_lists(TestStore::sqlite().await).await;
}

#[tokio::test]
async fn postgres_lists_what_the_walk_lists() {
    lists_what_the_walk_lists(TestStore::postgres().await).await;
}
