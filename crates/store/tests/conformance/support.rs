//! What every conformance file uses: the backends' fixtures and the helpers of the checks.

pub(crate) use std::collections::HashSet;
pub(crate) use std::sync::Arc;

pub(crate) use chrono::Duration;
pub(crate) use engram_core::time::{Timestamp, to_micros};
pub(crate) use engram_core::*;
use engram_store::testsuite::TestStore;
pub(crate) use engram_store::{EmbeddingsStored, Store};
pub(crate) use serde_json::{Value, json};

/// A fresh, migrated, empty store and whatever keeps its database alive (dropped after the store).
pub(crate) struct Fixture {
    pub(crate) store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any + Send + Sync>,
}

/// SQLite in a temporary directory that lives as long as the fixture.
pub(crate) async fn sqlite_fixture() -> Fixture {
    let test = TestStore::sqlite().await;
    Fixture { store: test.store.clone(), _guard: Box::new(test) }
}

/// A fresh database on the tests' PostgreSQL server (`ENGRAM_TEST_DATABASE_URL`, else the local
/// one), migrated, dropped after the test. Fails loudly when no server answers.
pub(crate) async fn postgres_fixture() -> Fixture {
    let test = TestStore::postgres().await;
    Fixture { store: test.store.clone(), _guard: Box::new(test) }
}

pub(crate) fn secs(base: Timestamp, s: i64) -> Timestamp {
    base + Duration::seconds(s)
}

pub(crate) fn window() -> Duration {
    Duration::hours(1)
}

pub(crate) fn obj(value: Value) -> Metadata {
    match value {
        Value::Object(map) => map,
        other => panic!("not a JSON object: {other}"),
    }
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A new org with a unique id and name.
pub(crate) async fn new_org(store: &dyn Store) -> String {
    let id = ids::org_id();
    let org = store.create_org(&id, &format!("conformance-{id}"), time::now()).await.unwrap();
    assert_eq!(org.id, id);
    id
}

pub(crate) async fn new_agent(store: &dyn Store, org: &str, name: &str, now: Timestamp) -> Agent {
    store
        .register_agent(org, NewAgent { name: name.into(), description: String::new(), config: Metadata::new() }, now)
        .await
        .unwrap()
}

/// Validates like the server before handing memories to the store (which takes only
/// validated input); the suite sends valid input only.
pub(crate) async fn add_raw(
    store: &dyn Store,
    org: &str,
    items: Vec<NewMemory>,
    window: Duration,
    now: Timestamp,
) -> Result<Vec<AddOutcome>> {
    let limits = Limits::default();
    let valid = items
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            limits.check_new_memory(&format!("memories[{i}]"), m, now).expect("the suite sends valid memories")
        })
        .collect();
    store.add_memories(org, valid, window, now).await
}

pub(crate) fn mem(agent: &str, event_type: &str, content: &str) -> NewMemory {
    NewMemory { agent: agent.into(), event_type: event_type.into(), content: content.into(), ..Default::default() }
}

/// Adds a batch whose items must all be created.
pub(crate) async fn add_all(store: &dyn Store, org: &str, items: Vec<NewMemory>, now: Timestamp) -> Vec<Memory> {
    let n = items.len();
    let outcomes = add_raw(store, org, items, window(), now).await.unwrap();
    assert_eq!(outcomes.len(), n, "one outcome per item");
    created(outcomes)
}

/// The memories of outcomes that must all be creations.
pub(crate) fn created(outcomes: Vec<AddOutcome>) -> Vec<Memory> {
    outcomes
        .into_iter()
        .map(|o| match o {
            AddOutcome::Created(m) => m,
            other => panic!("expected Created, got {other:?}"),
        })
        .collect()
}

pub(crate) async fn add_one(store: &dyn Store, org: &str, item: NewMemory, now: Timestamp) -> Memory {
    add_all(store, org, vec![item], now).await.pop().unwrap()
}

/// Adds one memory and returns its single outcome.
pub(crate) async fn add_outcome(store: &dyn Store, org: &str, item: NewMemory, now: Timestamp) -> AddOutcome {
    let mut outcomes = add_raw(store, org, vec![item], window(), now).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    outcomes.pop().unwrap()
}

pub(crate) fn query(filter: MemoryFilter, limit: u32, order: Order) -> MemoryQuery {
    MemoryQuery { filter, limit, order, cursor: None, offset: 0, within: None }
}

/// Ids of the live memories matching `filter`, newest first (one page, which must be the last).
pub(crate) async fn find(store: &dyn Store, org: &str, filter: MemoryFilter, now: Timestamp) -> Vec<String> {
    let page = store.list_memories(org, &query(filter.clone(), 1000, Order::Desc), now).await.unwrap();
    assert!(!page.has_more, "{filter:?}: has_more on the only page");
    assert_eq!(page.next_cursor, None, "{filter:?}: next_cursor on the only page");
    page.memories.into_iter().map(|m| m.id).collect()
}

pub(crate) async fn count(store: &dyn Store, org: &str, filter: MemoryFilter, now: Timestamp) -> u64 {
    store.count_memories(org, &filter, now).await.unwrap()
}

pub(crate) fn ids_of(memories: &[Memory]) -> Vec<String> {
    memories.iter().map(|m| m.id.clone()).collect()
}

/// Follows next_cursor to the end; checks every page's has_more/next_cursor/size invariants.
/// Returns the memories in listing order and the number of pages.
pub(crate) async fn all_pages(
    store: &dyn Store,
    org: &str,
    filter: &MemoryFilter,
    limit: u32,
    order: Order,
    now: Timestamp,
) -> (Vec<Memory>, usize) {
    let mut out: Vec<Memory> = Vec::new();
    let mut cursor = None;
    for pages in 1..=10_000 {
        let q = MemoryQuery { filter: filter.clone(), limit, order, cursor: cursor.take(), offset: 0, within: None };
        let page = store.list_memories(org, &q, now).await.unwrap();
        assert_eq!(page.has_more, page.next_cursor.is_some(), "next_cursor is set exactly when has_more");
        assert!(page.memories.len() <= limit as usize, "page larger than the limit");
        assert!(pages == 1 || !page.memories.is_empty(), "empty page after a page with has_more");
        out.extend(page.memories.iter().cloned());
        if !page.has_more {
            return (out, pages);
        }
        assert_eq!(page.memories.len(), limit as usize, "a page with has_more is full");
        let last = page.memories.last().unwrap();
        let next = page.next_cursor.unwrap();
        assert_eq!(next.time_us, to_micros(last.time), "cursor = last row");
        cursor = Some(next);
    }
    panic!("pagination never ended");
}

/// Session ids in listing order, following next_cursor to the end.
pub(crate) async fn all_sessions(
    store: &dyn Store,
    org: &str,
    agent: Option<&AgentRef>,
    status: Option<SessionStatus>,
    limit: u32,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = None;
    for pages in 1..=1000 {
        let page = store.list_sessions(org, agent, status, limit, after.take()).await.unwrap();
        assert!(page.items.len() <= limit as usize, "page larger than the limit");
        assert!(pages == 1 || !page.items.is_empty(), "empty page after a page with a cursor");
        out.extend(page.items.iter().map(|s| s.id.clone()));
        match page.next_cursor {
            None => return out,
            Some(next) => {
                assert_eq!(page.items.len(), limit as usize, "a page with a next cursor is full");
                after = Some(next);
            }
        }
    }
    panic!("session pagination never ended");
}

/// Expected order of memories: by (time, id), in `order`.
pub(crate) fn sorted(memories: &[Memory], order: Order) -> Vec<String> {
    let mut keyed: Vec<(i64, String)> = memories.iter().map(|m| (to_micros(m.time), m.id.clone())).collect();
    keyed.sort();
    if order == Order::Desc {
        keyed.reverse();
    }
    keyed.into_iter().map(|(_, id)| id).collect()
}
