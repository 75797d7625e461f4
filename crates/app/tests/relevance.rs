//! Ranked search (SearchMemories with a query) through the domain operations, on both store
//! backends: a real SQLite file and a fresh PostgreSQL database, each followed by a full-text
//! index. The same corpus must rank the same on both.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use engram_app::{Engram, Hit, ListRequest, RankedPage, RankedRequest, Relevance, SearchMode};
use engram_core::time::Timestamp;
use engram_core::*;
use engram_search::{FullText, Ranking};
use engram_store::testsuite::TestStore;

struct Fixture {
    app: Engram,
    org: String,
    _store: TestStore,
}

fn admin(org: &str) -> Principal {
    Principal { org_id: org.to_owned(), key_id: None, permissions: vec![Permission::Admin] }
}

async fn fixture(store: TestStore) -> Fixture {
    let org = ids::org_id();
    store.store.create_org(&org, &format!("relevance-{org}"), time::now()).await.unwrap();
    let fulltext = Arc::new(FullText::open(None).unwrap());
    let app = Engram::new(store.store.clone(), Limits::default())
        .with_relevance(Relevance::new(fulltext, Ranking::default()));
    Fixture { app, org, _store: store }
}

async fn both() -> [Fixture; 2] {
    [fixture(TestStore::sqlite().await).await, fixture(TestStore::postgres().await).await]
}

/// The corpus: (agent, tags, content), one minute apart, oldest first.
const CORPUS: &[(&str, &[&str], &str)] = &[
    ("ops", &["env:prod"], "Restarted Redis on prod-web-01 after the memory alert"),
    ("ops", &["env:prod"], "Redis cluster failover completed in 4 seconds"),
    ("ops", &["env:staging"], "Deployed the billing API to staging"),
    ("ops", &["env:prod"], "Deploying version 2.3 of the billing API to production"),
    ("ops", &[], "Disk usage on db-02 reached 91 percent; rotated the logs"),
    ("ops", &[], "The cluster of redis nodes was rebalanced"),
    ("ops", &["incident"], "Postmortem: the cache stampede took the checkout service down"),
    ("ops", &[], "Rolled back the deployment of the search service"),
    ("dev", &["file:auth.go"], "Fixed the token refresh race in auth.go"),
    ("dev", &[], "Refactored the payment retry logic; retries now back off exponentially"),
    ("dev", &[], "Tests for the billing API fail on leap years"),
    ("dev", &["lang:de"], "Über die Grenze: the café menu parser handles UTF-8 now"),
    ("dev", &[], "Redis client upgraded to 7.2 in the payment service"),
    ("dev", &[], "Decided to cache user sessions in Redis rather than PostgreSQL"),
    ("dev", &[], "Benchmarked the JSON encoder: 1.2 GB/s on the large fixture"),
    ("research", &[], "Paper: retrieval augmented generation improves factual recall"),
    ("research", &[], "Read about BM25 saturation and document length normalization"),
    ("research", &[], "Summarised three papers on memory consolidation in agents"),
    ("research", &[], "The deployment of language models at the edge needs quantization"),
    ("research", &[], "Recall and precision tradeoffs in hybrid retrieval"),
];

async fn load(f: &Fixture, base: Timestamp) -> Vec<Memory> {
    load_corpus(f, base, |_, _| Vec::new()).await
}

/// The corpus, each memory with the vector `embedding(i, agent)` (empty: none).
async fn load_corpus(f: &Fixture, base: Timestamp, embedding: impl Fn(usize, &str) -> Vec<f32>) -> Vec<Memory> {
    let items = CORPUS
        .iter()
        .enumerate()
        .map(|(i, (agent, tags, content))| NewMemory {
            agent: (*agent).into(),
            content: (*content).into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            time: Some(base + chrono::Duration::minutes(i as i64)),
            embedding: embedding(i, agent),
            ..Default::default()
        })
        .collect();
    let outcomes = f.app.add_memories(&admin(&f.org), items).await.unwrap();
    f.app.index_pending().await.unwrap();
    created(outcomes)
}

/// The memories of outcomes that must all be creations.
fn created(outcomes: Vec<AddOutcome>) -> Vec<Memory> {
    outcomes
        .into_iter()
        .map(|o| match o {
            AddOutcome::Created(m) => m,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn request(query: &str) -> RankedRequest {
    RankedRequest { query: query.into(), ..Default::default() }
}

async fn search(f: &Fixture, r: RankedRequest) -> Result<RankedPage> {
    f.app.ranked_search(&admin(&f.org), r).await
}

async fn contents(f: &Fixture, r: RankedRequest) -> Vec<String> {
    search(f, r).await.unwrap().hits.into_iter().map(|h| h.memory.content).collect()
}

fn base() -> Timestamp {
    time::now() - chrono::Duration::days(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_top_ten_on_sqlite_and_postgres() {
    let [sqlite, postgres] = both().await;
    let at = base();
    load(&sqlite, at).await;
    load(&postgres, at).await;
    for query in
        ["redis", "deploy billing api", "\"billing API\" staging", "retrieval recall", "payment service", "café"]
    {
        let a = search(&sqlite, request(query)).await.unwrap();
        let b = search(&postgres, request(query)).await.unwrap();
        assert!(!a.hits.is_empty(), "{query}: no hits");
        let top = |p: &RankedPage| p.hits.iter().map(|h| (h.memory.content.clone(), h.keyword)).collect::<Vec<_>>();
        let (ta, tb) = (top(&a), top(&b));
        assert_eq!(ta.len(), tb.len(), "{query}");
        for ((ca, ka), (cb, kb)) in ta.iter().zip(&tb) {
            assert_eq!(ca, cb, "{query}: the backends rank differently:\n{ta:?}\n{tb:?}");
            assert!((ka - kb).abs() < 1e-6, "{query}: {ca}: BM25 {ka} vs {kb}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stemming_folding_phrases_and_empty_queries() {
    for f in both().await {
        load(&f, base()).await;
        // Stemming: "deploying" finds deployed / deployment / deploying.
        let found = contents(&f, request("deploying")).await;
        assert!(found.iter().any(|c| c.starts_with("Deployed the billing")), "{found:?}");
        assert!(found.iter().any(|c| c.starts_with("Rolled back the deployment")), "{found:?}");
        // Case and accent folding, Unicode lowercase.
        assert_eq!(contents(&f, request("CAFE")).await, [CORPUS[11].2]);
        assert_eq!(contents(&f, request("ÜBER")).await, [CORPUS[11].2]);
        // A phrase must match in order; bare words only add to the score.
        let phrase = contents(&f, request("\"redis cluster\"")).await;
        assert_eq!(phrase, [CORPUS[1].2], "the phrase matched out of order");
        let words = contents(&f, request("redis cluster")).await;
        assert!(
            words[..2].contains(&CORPUS[5].2.to_owned()) && words[..2].contains(&CORPUS[1].2.to_owned()),
            "{words:?}"
        );
        // Nothing indexable: a clear empty result, not an error.
        let empty = search(&f, request("the of and ... !!!")).await.unwrap();
        assert!(empty.hits.is_empty() && !empty.has_more);
        assert_eq!(empty.mode, SearchMode::Keyword);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_apply_before_ranking() {
    for f in both().await {
        load(&f, base()).await;
        let only = |agent: &str| RankedRequest {
            list: ListRequest {
                filter: MemoryFilter { agent: Some(AgentRef::Name(agent.into())), ..Default::default() },
                ..Default::default()
            },
            ..request("redis")
        };
        let dev = search(&f, only("dev")).await.unwrap();
        assert_eq!(dev.hits.len(), 2, "{:?}", dev.hits);
        assert!(dev.hits.iter().all(|h| h.memory.content.contains("Redis")));
        assert!(search(&f, only("nobody")).await.unwrap().hits.is_empty());
        // The one tagged memory comes back with limit 1 though others score higher.
        let tagged = RankedRequest {
            list: ListRequest {
                filter: MemoryFilter { tags_all: vec!["env:staging".into()], ..Default::default() },
                limit: 1,
                ..Default::default()
            },
            ..request("billing api")
        };
        assert_eq!(contents(&f, tagged).await, [CORPUS[2].2]);
        // content_contains applies too (to what the index finds).
        let needle = RankedRequest {
            list: ListRequest { content_contains: "PAYMENT".into(), ..Default::default() },
            ..request("redis")
        };
        assert_eq!(contents(&f, needle).await, [CORPUS[12].2]);
        // Time window.
        let recent = RankedRequest {
            list: ListRequest { since: (base() + chrono::Duration::minutes(10)).to_rfc3339(), ..Default::default() },
            ..request("redis")
        };
        let found = contents(&f, recent).await;
        assert_eq!(found.len(), 2, "{found:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_are_per_org_and_deletes_drop_out() {
    for f in both().await {
        let memories = load(&f, base()).await;
        let before = search(&f, request("redis")).await.unwrap();
        // Another org full of "redis" changes nothing in this org's scores.
        let other = ids::org_id();
        f.app.store().create_org(&other, &format!("other-{other}"), time::now()).await.unwrap();
        let flood =
            (0..50).map(|i| NewMemory { agent: "x".into(), content: format!("redis redis {i}"), ..Default::default() });
        f.app.add_memories(&admin(&other), flood.collect()).await.unwrap();
        f.app.index_pending().await.unwrap();
        let after = search(&f, request("redis")).await.unwrap();
        let keyword = |p: &RankedPage| p.hits.iter().map(|h| (h.memory.id.clone(), h.keyword)).collect::<Vec<_>>();
        assert_eq!(keyword(&before), keyword(&after), "another org's memories changed a score");
        let ten = RankedRequest { list: ListRequest { limit: 10, ..Default::default() }, ..request("redis") };
        let theirs = f.app.ranked_search(&admin(&other), ten).await.unwrap();
        assert_eq!(theirs.hits.len(), 10, "the other org sees its own memories");
        assert!(theirs.hits.iter().all(|h| h.memory.org_id == other));

        // A deleted memory is not found (before or after the index forgets it).
        let gone = &memories[0];
        f.app.delete_memory(&admin(&f.org), &gone.id).await.unwrap();
        for _ in 0..2 {
            let found = search(&f, request("restarted redis")).await.unwrap();
            assert!(found.hits.iter().all(|h| h.memory.id != gone.id));
        }
        // Updates are seen: the new importance weighs the score (the rest of it unchanged).
        let target = &memories[13];
        let low = search(&f, request("redis")).await.unwrap().hits.into_iter().find(|h| h.memory.id == target.id);
        let patch = MemoryPatch { importance: Some(1.0), ..Default::default() };
        f.app.update_memory(&admin(&f.org), &target.id, patch).await.unwrap();
        f.app.index_pending().await.unwrap();
        let high = search(&f, request("redis")).await.unwrap();
        let hit = high.hits.iter().find(|h| h.memory.id == target.id).unwrap();
        assert!(low.unwrap().importance < 1.0 && hit.importance == 1.0);
        // It has no session: its base is its BM25 over the best BM25 of the list.
        let ranking = Ranking::default();
        let weigh = |h: &Hit| 1.0 + ranking.recency_weight * h.recency + ranking.importance_weight * h.importance;
        let best = high.hits.iter().map(|h| h.keyword).fold(0.0, f64::max);
        assert!((hit.score / weigh(hit) - hit.keyword / best).abs() < 1e-9, "{hit:?}");
        let patch = MemoryPatch { tags: Some(vec!["cache".into()]), ..Default::default() };
        f.app.update_memory(&admin(&f.org), &target.id, patch).await.unwrap();
        f.app.index_pending().await.unwrap();
        let tagged = RankedRequest {
            list: ListRequest {
                filter: MemoryFilter { tags_all: vec!["cache".into()], ..Default::default() },
                ..Default::default()
            },
            ..request("redis")
        };
        assert_eq!(contents(&f, tagged).await, std::slice::from_ref(&target.content), "the new tags are indexed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_and_bad_requests() {
    let [f, _] = both().await;
    load(&f, base()).await;
    let all = contents(
        &f,
        RankedRequest {
            list: ListRequest { limit: 4, ..Default::default() },
            ..request("the billing api redis deploy")
        },
    )
    .await;
    let page = |offset| RankedRequest {
        list: ListRequest { limit: 2, offset, ..Default::default() },
        ..request("the billing api redis deploy")
    };
    let first = search(&f, page(0)).await.unwrap();
    let second = search(&f, page(2)).await.unwrap();
    assert!(first.has_more && second.has_more);
    let paged: Vec<String> = first.hits.into_iter().chain(second.hits).map(|h| h.memory.content).collect();
    assert_eq!(paged, all);

    let invalid = |r: Result<RankedPage>, field: &str| match r {
        Err(Error::InvalidArgument { field: f, .. }) if f == field => {}
        other => panic!("expected InvalidArgument on {field}, got {other:?}"),
    };
    invalid(search(&f, request(&"word ".repeat(205))).await, "query");
    invalid(search(&f, RankedRequest { order_given: true, ..request("redis") }).await, "order");
    invalid(
        search(
            &f,
            RankedRequest { list: ListRequest { page_token: "c2:x".into(), ..Default::default() }, ..request("redis") },
        )
        .await,
        "page_token",
    );
    invalid(
        search(&f, RankedRequest { list: ListRequest { offset: 1001, ..Default::default() }, ..request("redis") })
            .await,
        "offset",
    );
    invalid(
        search(&f, RankedRequest { list: ListRequest { limit: 100_000, ..Default::default() }, ..request("redis") })
            .await,
        "limit",
    );
    match search(&f, RankedRequest { mode: SearchMode::Semantic, ..request("redis") }).await {
        Err(Error::FailedPrecondition(message)) => assert!(message.starts_with("query_embedding:"), "{message}"),
        other => panic!("{other:?}"),
    }
}

/// A topic vector: ops, dev and research memories point three ways, each a little apart.
fn topic(agent: &str, i: usize) -> Vec<f32> {
    let wobble = (i % 5) as f32 * 0.05;
    match agent {
        "ops" => vec![1.0, wobble, 0.0, 0.1],
        "dev" => vec![wobble, 1.0, 0.0, 0.1],
        _ => vec![0.0, wobble, 1.0, 0.1],
    }
}

/// The corpus with a vector on every memory but the last two.
async fn load_with_vectors(f: &Fixture, base: Timestamp) -> Vec<Memory> {
    load_corpus(f, base, |i, agent| if i < CORPUS.len() - 2 { topic(agent, i) } else { Vec::new() }).await
}

fn by_vector(vector: Vec<f32>) -> RankedRequest {
    RankedRequest { query_embedding: vector, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_and_hybrid_over_client_vectors() {
    let fixtures = both().await;
    let at = base();
    let mut pages = Vec::new();
    for f in &fixtures {
        load_with_vectors(f, at).await;
        // Semantic: the research direction finds research memories first; two have no vector.
        let research = search(f, by_vector(vec![0.0, 0.0, 1.0, 0.0])).await.unwrap();
        assert_eq!(research.mode, SearchMode::Semantic);
        assert_eq!(research.unembedded, Some(2));
        let agents: Vec<&str> = research.hits.iter().take(3).map(|h| h.memory.content.as_str()).collect();
        assert!(agents.iter().all(|c| CORPUS.iter().any(|(a, _, t)| *a == "research" && t == c)), "{agents:?}");
        assert!(research.hits[0].semantic > 0.9 && research.hits[0].keyword == 0.0);
        // A filter of exclusions only (what the REST surface sends by default) excludes, and
        // admits everything else.
        let excluding = RankedRequest {
            list: ListRequest {
                filter: MemoryFilter { exclude_types: vec![MemoryType::Semantic], ..Default::default() },
                ..Default::default()
            },
            ..by_vector(vec![0.0, 0.0, 1.0, 0.0])
        };
        let excluded = search(f, excluding).await.unwrap();
        assert_eq!(excluded.hits.len(), research.hits.len(), "only exclusions must not exclude everything");
        assert_eq!(excluded.unembedded, Some(2));
        // Filters apply first: only dev memories, however close the research ones are.
        let dev_only = RankedRequest {
            list: ListRequest {
                filter: MemoryFilter { agent: Some(AgentRef::Name("dev".into())), ..Default::default() },
                ..Default::default()
            },
            ..by_vector(vec![0.0, 0.0, 1.0, 0.0])
        };
        let dev = search(f, dev_only).await.unwrap();
        assert!(
            !dev.hits.is_empty()
                && dev.hits.iter().all(|h| CORPUS.iter().any(|(a, _, t)| *a == "dev" && *t == h.memory.content))
        );
        // Hybrid: "redis" near the dev direction puts dev's Redis memories above ops' ones.
        let hybrid =
            search(f, RankedRequest { query: "redis".into(), ..by_vector(vec![0.0, 1.0, 0.0, 0.0]) }).await.unwrap();
        assert_eq!(hybrid.mode, SearchMode::Hybrid);
        let first_two: Vec<&str> = hybrid.hits.iter().take(2).map(|h| h.memory.content.as_str()).collect();
        assert!(
            first_two.iter().all(|c| c.contains("Redis") && CORPUS.iter().any(|(a, _, t)| *a == "dev" && t == c)),
            "{first_two:?}"
        );
        assert!(hybrid.hits[0].keyword > 0.0 && hybrid.hits[0].semantic > 0.9);
        // A query vector of another dimension names the field.
        match search(f, by_vector(vec![1.0, 0.0])).await {
            Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, "query_embedding"),
            other => panic!("{other:?}"),
        }
        match search(f, by_vector(vec![f32::NAN, 0.0, 0.0, 0.0])).await {
            Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, "query_embedding[0]"),
            other => panic!("{other:?}"),
        }
        match search(f, RankedRequest { mode: SearchMode::Hybrid, ..by_vector(vec![0.0, 1.0, 0.0, 0.0]) }).await {
            Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, "query"),
            other => panic!("{other:?}"),
        }
        pages.push((research, hybrid));
    }
    // Both backends rank alike.
    let contents = |p: &RankedPage| p.hits.iter().map(|h| h.memory.content.clone()).collect::<Vec<_>>();
    assert_eq!(contents(&pages[0].0), contents(&pages[1].0));
    assert_eq!(contents(&pages[0].1), contents(&pages[1].1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_survive_a_restart_of_the_index_and_deletes_drop_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = TestStore::sqlite().await;
    let org = ids::org_id();
    store.store.create_org(&org, "vectors", time::now()).await.unwrap();
    let open = || {
        Engram::new(store.store.clone(), Limits::default())
            .with_relevance(Relevance::new(Arc::new(FullText::open(Some(dir.path())).unwrap()), Ranking::default()))
    };
    let app = open();
    let items = (0..10).map(|i| NewMemory {
        agent: "a".into(),
        content: format!("memory {i}"),
        embedding: vec![1.0, i as f32],
        ..Default::default()
    });
    let created = created(app.add_memories(&admin(&org), items.collect()).await.unwrap());
    app.index_pending().await.unwrap();
    drop(app);
    // A new index over the same directory loads the vectors it holds.
    let app = open();
    let found = app.ranked_search(&admin(&org), by_vector(vec![0.0, 1.0])).await.unwrap();
    assert_eq!(found.hits.len(), 10);
    assert_eq!(found.hits[0].memory.id, created[9].id);
    app.delete_memory(&admin(&org), &created[9].id).await.unwrap();
    let found = app.ranked_search(&admin(&org), by_vector(vec![0.0, 1.0])).await.unwrap();
    assert_eq!(found.hits[0].memory.id, created[8].id, "a deleted memory is never returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_decides_what_a_tight_context_keeps() {
    for f in both().await {
        let now = time::now();
        let mut items: Vec<NewMemory> = (0..30)
            .map(|i| NewMemory {
                agent: "support".into(),
                content: format!("Routine check {i}: all services healthy"),
                importance: Some(0.5),
                time: Some(now - chrono::Duration::minutes(i)),
                ..Default::default()
            })
            .collect();
        items.push(NewMemory {
            agent: "support".into(),
            content: "The customer prefers email over phone calls".into(),
            importance: Some(0.2),
            time: Some(now - chrono::Duration::days(2)),
            ..Default::default()
        });
        f.app.add_memories(&admin(&f.org), items).await.unwrap();
        f.app.index_pending().await.unwrap();
        let options = |query: &str| engram_app::ContextOptions {
            since: "7d".into(),
            max_tokens: 120,
            query: query.into(),
            ..Default::default()
        };
        let plain = f.app.build_context(&admin(&f.org), "support", "", options("")).await.unwrap();
        assert!(!plain.assembled.text.contains("prefers email"), "{}", plain.assembled.text);
        let asked = f
            .app
            .build_context(&admin(&f.org), "support", "", options("how to contact the customer: email?"))
            .await
            .unwrap();
        let text = &asked.assembled.text;
        assert!(text.contains("prefers email"), "{text}");
        assert!(text.contains("### Recent Actions"), "still grouped in sections: {text}");
        assert!(asked.assembled.token_count <= 120);
        let long = f.app.build_context(&admin(&f.org), "support", "", options(&"x".repeat(2000))).await;
        assert!(matches!(long, Err(Error::InvalidArgument { ref field, .. }) if field == "options.query"), "{long:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_that_use_a_memory_count_an_access_and_listings_do_not() {
    let [f, _] = both().await;
    let memories = load(&f, base()).await;
    let p = admin(&f.org);
    let count = |id: &str| {
        let id = id.to_owned();
        let app = f.app.clone();
        let org = f.org.clone();
        async move { app.store().get_memory(&org, &id, time::now()).await.unwrap().access_count }
    };
    f.app.get_memory(&p, &memories[0].id).await.unwrap();
    f.app.get_memory(&p, &memories[0].id).await.unwrap();
    let hits = search(&f, RankedRequest { list: ListRequest { limit: 2, ..Default::default() }, ..request("redis") })
        .await
        .unwrap();
    let context = f
        .app
        .build_context(&p, "dev", "", engram_app::ContextOptions { since: "7d".into(), ..Default::default() })
        .await
        .unwrap();
    f.app.list_memories(&p, ListRequest { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(count(&memories[0].id).await, 0, "recorded in batches, not on the read's path");
    f.app.flush_accesses().await.unwrap();
    assert!(count(&memories[0].id).await >= 2);
    for hit in &hits.hits {
        assert!(count(&hit.memory.id).await >= 1, "a ranked hit counts");
    }
    for id in &context.assembled.memory_ids {
        assert!(count(id).await >= 1, "a memory in a context counts");
    }
    let untouched = memories.iter().find(|m| {
        m.id != memories[0].id
            && !hits.hits.iter().any(|h| h.memory.id == m.id)
            && !context.assembled.memory_ids.contains(&m.id)
    });
    assert_eq!(count(&untouched.unwrap().id).await, 0, "listing does not count");
}

/// Context scoring: the turn that answers sits next to the turn that names the subject and
/// shares none of the query's words; it is found through its neighbour, only when the filters
/// admit it, and not at all with context scoring off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_next_to_the_matching_turn_is_found_through_its_session() {
    for f in both().await {
        let p = admin(&f.org);
        let chat = f.app.create_session(&p, "bob", Metadata::new()).await.unwrap().id;
        let other = f.app.create_session(&p, "bob", Metadata::new()).await.unwrap().id;
        let at = base();
        let turn = |i: i64, session: &str, kind: MemoryType, content: &str| NewMemory {
            agent: "bob".into(),
            session_id: Some(session.to_owned()),
            memory_type: Some(kind),
            content: content.into(),
            time: Some(at + chrono::Duration::seconds(i)),
            ..Default::default()
        };
        let mut items = vec![
            turn(0, &chat, MemoryType::Episodic, "Alice: any plans for the weekend?"),
            turn(1, &chat, MemoryType::Episodic, "Alice: did you finally see the Louvre museum?"),
            turn(2, &chat, MemoryType::Semantic, "Bob: yes, last spring, it was amazing"),
            turn(3, &chat, MemoryType::Episodic, "Alice: I want to go too"),
        ];
        // Another session with weaker matches, and filler.
        items.push(turn(10, &other, MemoryType::Episodic, "Bob: the museum shop sells nice posters"));
        items.extend((0..20).map(|i| turn(20 + i, &other, MemoryType::Episodic, &format!("Bob: filler line {i}"))));
        let memories = created(f.app.add_memories(&p, items).await.unwrap());
        f.app.index_pending().await.unwrap();
        let answer = &memories[2].id;
        let page = search(&f, request("louvre museum")).await.unwrap();
        let ids: Vec<&str> = page.hits.iter().map(|h| h.memory.id.as_str()).collect();
        assert_eq!(ids[0], memories[1].id, "{ids:?}");
        let hit = page.hits.iter().find(|h| h.memory.id == *answer).expect("the answer is found");
        assert_eq!(hit.keyword, 0.0, "found through its neighbour, not its own words");
        assert!(ids.iter().position(|id| id == answer) < ids.iter().position(|id| *id == memories[4].id));
        // Filters apply before ranking: a neighbour the filters exclude never joins.
        let episodic = RankedRequest {
            list: ListRequest {
                filter: MemoryFilter { memory_types: vec![MemoryType::Episodic], ..Default::default() },
                ..Default::default()
            },
            ..request("louvre museum")
        };
        let page = search(&f, episodic).await.unwrap();
        assert!(page.hits.iter().all(|h| h.memory.id != *answer && h.memory.memory_type == MemoryType::Episodic));
        // Off: only memories with the query's words.
        let off = Ranking {
            context: engram_search::Neighbourhood { neighbour_weight: 0.0, session_weight: 0.0, ..Default::default() },
            ..Ranking::default()
        };
        let plain = Engram::new(f.app.store().clone(), Limits::default())
            .with_relevance(Relevance::new(Arc::new(FullText::open(None).unwrap()), off));
        plain.index_pending().await.unwrap();
        let page = plain.ranked_search(&p, request("louvre museum")).await.unwrap();
        assert_eq!(page.hits.len(), 2, "{:?}", page.hits);
        assert!(page.hits.iter().all(|h| h.keyword > 0.0));
    }
}
