//! Server-side embeddings through the domain operations, with the real local model
//! (all-MiniLM-L6-v2, `scripts/model.sh`) on both backends: memories are queued at write, the
//! worker embeds them, and a text query ranks by meaning (semantic) or by both (hybrid, the
//! default with an embedder).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use engram_app::{Engram, ListRequest, RankedRequest, Relevance, SearchMode};
use engram_core::*;
use engram_embed::{Embedder, EmbedderConfig};
use engram_search::{FullText, Ranking};
use engram_store::testsuite::TestStore;

fn model_dir() -> PathBuf {
    let dir = std::env::var_os("ENGRAM_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/models/all-MiniLM-L6-v2"));
    assert!(dir.join("model.safetensors").exists(), "no model in {}: run `bash scripts/model.sh`", dir.display());
    dir
}

fn admin(org: &str) -> Principal {
    Principal { org_id: org.to_owned(), key_id: None, permissions: vec![Permission::Admin] }
}

const NOTES: &[&str] = &[
    "The cat sat on the mat all afternoon",
    "Restarted Redis on prod-web-01 after the memory alert",
    "Quarterly revenue grew eight percent",
    "Deployed the billing API to staging",
    "My dog loves chasing the ball in the park",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_are_embedded_after_the_write_and_found_by_meaning() {
    let embedder = Arc::new(Embedder::open(&EmbedderConfig::Local { model_dir: model_dir() }).unwrap());
    for store in [TestStore::sqlite().await, TestStore::postgres().await] {
        let org = ids::org_id();
        store.store.create_org(&org, "embeddings", time::now()).await.unwrap();
        let mut relevance = Relevance::new(Arc::new(FullText::open(None).unwrap()), Ranking::default());
        relevance.embedder = Some(embedder.clone());
        let app = Engram::new(store.store.clone(), Limits::default()).with_relevance(relevance);
        let p = admin(&org);
        let items = NOTES.iter().map(|t| NewMemory { agent: "a".into(), content: (*t).into(), ..Default::default() });
        app.add_memories(&p, items.collect()).await.unwrap();
        // A client vector of the model's dimension is taken as it is, not queued.
        let own = NewMemory {
            agent: "a".into(),
            content: "client vector".into(),
            embedding: vec![0.1; 384],
            ..Default::default()
        };
        app.add_memory(&p, own).await.unwrap();
        assert_eq!(store.store.count_pending_embeddings().await.unwrap(), 5, "queued at write, not embedded yet");
        app.index_pending().await.unwrap();
        let query = |text: &str, mode| RankedRequest { query: text.into(), mode, ..Default::default() };
        let before = app.ranked_search(&p, query("a kitten resting on a rug", SearchMode::Semantic)).await.unwrap();
        assert_eq!(before.unembedded, Some(5), "search reports what is not embedded yet");

        while app.embed_pending(2).await.unwrap() > 0 {}
        assert_eq!(store.store.count_pending_embeddings().await.unwrap(), 0);
        app.index_pending().await.unwrap();

        // No word in common, found by meaning.
        let found = app.ranked_search(&p, query("a kitten resting on a rug", SearchMode::Semantic)).await.unwrap();
        assert_eq!(found.mode, SearchMode::Semantic);
        assert_eq!(found.unembedded, Some(0));
        assert_eq!(
            found.hits[0].memory.content,
            NOTES[0],
            "{:?}",
            found.hits.iter().map(|h| &h.memory.content).collect::<Vec<_>>()
        );
        assert!(found.hits[0].semantic > 0.4, "{}", found.hits[0].semantic);
        let keyword = app.ranked_search(&p, query("a kitten resting on a rug", SearchMode::Keyword)).await.unwrap();
        assert!(keyword.hits.is_empty(), "keyword search has no word to match");
        // With an embedder, a text query is hybrid by default.
        let hybrid = app.ranked_search(&p, query("puppy playing fetch", SearchMode::Auto)).await.unwrap();
        assert_eq!(hybrid.mode, SearchMode::Hybrid);
        assert_eq!(hybrid.hits[0].memory.content, NOTES[4]);
        // Filters still come first.
        let filtered = RankedRequest {
            list: ListRequest { content_contains: "redis".into(), ..Default::default() },
            ..query("a kitten resting on a rug", SearchMode::Semantic)
        };
        let only = app.ranked_search(&p, filtered).await.unwrap();
        assert_eq!(only.hits.len(), 1);
        assert_eq!(only.hits[0].memory.content, NOTES[1]);
    }
}

/// The state vectorizer compares a state's strings by the embedder's vectors: "cheerful" is near
/// "joyful", "angry" and "furious" are not. Without an embedder every other string is as far, and
/// the tie goes to the newest step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similar_states_compare_strings_by_meaning() {
    let embedder = Arc::new(Embedder::open(&EmbedderConfig::Local { model_dir: model_dir() }).unwrap());
    let store = TestStore::sqlite().await;
    let org = ids::org_id();
    store.store.create_org(&org, "states", time::now()).await.unwrap();
    let p = admin(&org);
    let doc = |v: serde_json::Value| match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    let moods = ["furious", "cheerful", "angry"];
    let states = moods.iter().enumerate().map(|(i, mood)| NewMemory {
        agent: "sim".into(),
        content: format!("state {i}"),
        memory_type: Some(MemoryType::State),
        step: Some(i as i64 + 1),
        metadata: doc(serde_json::json!({"health": 60, "mood": mood})),
        ..Default::default()
    });
    let plain = Engram::new(store.store.clone(), Limits::default());
    plain.add_memories(&p, states.collect()).await.unwrap();
    let query = doc(serde_json::json!({"health": 60, "mood": "joyful"}));
    let mood_of = |found: &[(Memory, f64)]| -> Vec<String> {
        found.iter().map(|(m, _)| m.metadata["mood"].as_str().unwrap().to_owned()).collect()
    };

    let (found, compared) = plain.similar_states(&p, "sim", Some(query.clone()), vec![], 3, None, None).await.unwrap();
    assert_eq!(compared, 3);
    assert_eq!(mood_of(&found), ["angry", "cheerful", "furious"], "categories tie; newest step first");

    let mut relevance = Relevance::new(Arc::new(FullText::open(None).unwrap()), Ranking::default());
    relevance.embedder = Some(embedder);
    let app = Engram::new(store.store.clone(), Limits::default()).with_relevance(relevance);
    let (found, _) = app.similar_states(&p, "sim", Some(query), vec![], 3, None, None).await.unwrap();
    assert_eq!(mood_of(&found)[0], "cheerful", "{found:?}");
    assert!(found[0].1 > found[1].1 && found[0].1 < 1.0, "{found:?}");
}
