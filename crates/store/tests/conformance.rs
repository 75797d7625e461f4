//! The store conformance suite: the behaviour every [`Store`] backend must have.
//!
//! Every check is a backend-neutral `async fn` in [`checks`] taking `&dyn Store` (or
//! `Arc<dyn Store>` when it needs concurrency). `conformance_suite!(backend, factory)` expands to
//! one `#[tokio::test]` per check, each on a fresh, migrated, empty store from `factory`.
//! Every check also creates its own org(s), so checks stay independent even on a shared database.
//!
//! Instantiated for SQLite (temporary file) and PostgreSQL (a fresh database per test on the
//! server of `ENGRAM_TEST_DATABASE_URL`, default the local one).
//!
//! Run: `cargo test -p engram-store --test conformance`.

#![allow(clippy::unwrap_used)]

use std::any::Any;
use std::sync::Arc;

use chrono::Duration;
use engram_core::time::{Timestamp, to_micros};
use engram_core::*;
use engram_store::Store;
use engram_store::testsuite::TestStore;
use serde_json::{Value, json};

/// A fresh, migrated, empty store and whatever keeps its database alive (dropped after the store).
pub struct Fixture {
    pub store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send + Sync>,
}

/// Asserts that `$result` is an `Err` matching `$pattern` (and the optional guard).
macro_rules! assert_err {
    ($result:expr, $pattern:pat $(if $guard:expr)? $(,)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => panic!(
                "{}:{}: `{}`: expected Err({}), got {:?}",
                file!(),
                line!(),
                stringify!($result),
                stringify!($pattern $(if $guard)?),
                other
            ),
        }
    };
}

/// `conformance_suite!(backend_mod_name, factory_expr)`: one test per check, in `mod backend_mod_name`.
/// `factory_expr` is a future that yields a [`Fixture`]; it is evaluated once per test.
macro_rules! conformance_suite {
    ($backend:ident, $factory:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            conformance_suite!(@by_ref $factory;
                orgs,
                api_keys,
                agents_register_and_get,
                agents_list_pagination,
                agents_delete,
                sessions_create_and_get,
                sessions_list,
                sessions_update,
                add_memories_defaults,
                add_memories_round_trip,
                add_memories_derived_dedup_key,
                add_memories_dedup,
                add_memories_batch_failures,
                list_filters_basic,
                list_filters_tags,
                list_filters_content_contains,
                expired_memories_hidden,
                list_order_by_time_then_id,
                pagination,
                pagination_by_tag,
                important_and_excluded_types,
                count_matches_list,
                update_memory,
                delete_memory,
                delete_memories,
                agent_stats,
                org_isolation,
            );
            conformance_suite!(@shared $factory;
                concurrent_adds,
                concurrent_same_dedup_key,
                failing_write_in_group,
            );
        }
    };
    (@by_ref $factory:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture: $crate::Fixture = $factory.await;
                $crate::checks::$check(fixture.store.as_ref()).await;
            }
        )+
    };
    (@shared $factory:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture: $crate::Fixture = $factory.await;
                $crate::checks::$check(fixture.store.clone()).await;
            }
        )+
    };
}

// ------------------------------------------------------------------------------------------------
// Backends.
// ------------------------------------------------------------------------------------------------

/// SQLite in a temporary directory that lives as long as the fixture.
async fn sqlite_fixture() -> Fixture {
    let test = TestStore::sqlite().await;
    Fixture { store: test.store.clone(), _guard: Box::new(test) }
}

conformance_suite!(sqlite, sqlite_fixture());

/// A fresh database on the tests' PostgreSQL server (`ENGRAM_TEST_DATABASE_URL`, else the local
/// one), migrated, dropped after the test. Fails loudly when no server answers.
async fn postgres_fixture() -> Fixture {
    let test = TestStore::postgres().await;
    Fixture { store: test.store.clone(), _guard: Box::new(test) }
}

conformance_suite!(postgres, postgres_fixture());

/// The checks: each runs unchanged against every backend.
pub mod checks {
    use std::collections::HashSet;

    use super::*;

    // --------------------------------------------------------------------------------------------
    // Helpers.
    // --------------------------------------------------------------------------------------------

    fn secs(base: Timestamp, s: i64) -> Timestamp {
        base + Duration::seconds(s)
    }

    fn window() -> Duration {
        Duration::hours(1)
    }

    fn obj(value: Value) -> Metadata {
        match value {
            Value::Object(map) => map,
            other => panic!("not a JSON object: {other}"),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    /// A new org with a unique id and name.
    async fn new_org(store: &dyn Store) -> String {
        let id = ids::org_id();
        let org = store.create_org(&id, &format!("conformance-{id}"), time::now()).await.unwrap();
        assert_eq!(org.id, id);
        id
    }

    async fn new_agent(store: &dyn Store, org: &str, name: &str, now: Timestamp) -> Agent {
        store
            .register_agent(
                org,
                NewAgent { name: name.into(), description: String::new(), config: Metadata::new() },
                now,
            )
            .await
            .unwrap()
    }

    /// Validates like the server before handing memories to the store (which takes only
    /// validated input); the suite sends valid input only.
    async fn add_raw(
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

    fn mem(agent: &str, event_type: &str, content: &str) -> NewMemory {
        NewMemory { agent: agent.into(), event_type: event_type.into(), content: content.into(), ..Default::default() }
    }

    /// Adds a batch whose items must all be created.
    async fn add_all(store: &dyn Store, org: &str, items: Vec<NewMemory>, now: Timestamp) -> Vec<Memory> {
        let n = items.len();
        let outcomes = add_raw(&*store, org, items, window(), now).await.unwrap();
        assert_eq!(outcomes.len(), n, "one outcome per item");
        outcomes
            .into_iter()
            .map(|o| match o {
                AddOutcome::Created(m) => m,
                other => panic!("expected Created, got {other:?}"),
            })
            .collect()
    }

    async fn add_one(store: &dyn Store, org: &str, item: NewMemory, now: Timestamp) -> Memory {
        add_all(store, org, vec![item], now).await.pop().unwrap()
    }

    /// Adds one memory and returns its single outcome.
    async fn add_outcome(store: &dyn Store, org: &str, item: NewMemory, now: Timestamp) -> AddOutcome {
        let mut outcomes = add_raw(&*store, org, vec![item], window(), now).await.unwrap();
        assert_eq!(outcomes.len(), 1);
        outcomes.pop().unwrap()
    }

    fn query(filter: MemoryFilter, limit: u32, order: Order) -> MemoryQuery {
        MemoryQuery { filter, limit, order, cursor: None, offset: 0 }
    }

    /// Ids of the live memories matching `filter`, newest first (one page, which must be the last).
    async fn find(store: &dyn Store, org: &str, filter: MemoryFilter, now: Timestamp) -> Vec<String> {
        let page = store.list_memories(org, &query(filter.clone(), 1000, Order::Desc), now).await.unwrap();
        assert!(!page.has_more, "{filter:?}: has_more on the only page");
        assert_eq!(page.next_cursor, None, "{filter:?}: next_cursor on the only page");
        page.memories.into_iter().map(|m| m.id).collect()
    }

    async fn count(store: &dyn Store, org: &str, filter: MemoryFilter, now: Timestamp) -> u64 {
        store.count_memories(org, &filter, now).await.unwrap()
    }

    fn ids_of(memories: &[Memory]) -> Vec<String> {
        memories.iter().map(|m| m.id.clone()).collect()
    }

    /// Follows next_cursor to the end; checks every page's has_more/next_cursor/size invariants.
    /// Returns the memories in listing order and the number of pages.
    async fn all_pages(
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
            let q = MemoryQuery { filter: filter.clone(), limit, order, cursor: cursor.take(), offset: 0 };
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
    async fn all_sessions(
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
    fn sorted(memories: &[Memory], order: Order) -> Vec<String> {
        let mut keyed: Vec<(i64, String)> = memories.iter().map(|m| (to_micros(m.time), m.id.clone())).collect();
        keyed.sort();
        if order == Order::Desc {
            keyed.reverse();
        }
        keyed.into_iter().map(|(_, id)| id).collect()
    }

    // --------------------------------------------------------------------------------------------
    // Orgs and API keys.
    // --------------------------------------------------------------------------------------------

    pub async fn orgs(store: &dyn Store) {
        let now = time::now();
        let (id1, id2) = (ids::org_id(), ids::org_id());
        let (name1, name2) = (format!("conformance-{id1}"), format!("conformance-{id2}"));

        let o1 = store.create_org(&id1, &name1, now).await.unwrap();
        assert_eq!(o1, Org { id: id1.clone(), name: name1.clone(), created_at: now });
        let o2 = store.create_org(&id2, &name2, secs(now, 1)).await.unwrap();
        assert_eq!(o2, Org { id: id2.clone(), name: name2.clone(), created_at: secs(now, 1) });

        assert_eq!(store.get_org(&id1).await.unwrap(), o1);
        assert_eq!(store.get_org(&id2).await.unwrap(), o2);
        let listed = store.list_orgs().await.unwrap();
        assert_eq!(listed.iter().filter(|o| **o == o1).count(), 1, "o1 listed once");
        assert_eq!(listed.iter().filter(|o| **o == o2).count(), 1, "o2 listed once");

        // Duplicate name (new id): AlreadyExists naming the existing org; nothing created.
        let fresh_id = ids::org_id();
        assert_err!(
            store.create_org(&fresh_id, &name1, secs(now, 2)).await,
            Error::AlreadyExists { existing_id, .. } if existing_id == id1
        );
        assert_err!(store.get_org(&fresh_id).await, Error::NotFound { .. });

        // Duplicate id (new name): AlreadyExists; the existing org is unchanged.
        let fresh_name = format!("conformance-{}", ids::org_id());
        assert_err!(
            store.create_org(&id1, &fresh_name, secs(now, 2)).await,
            Error::AlreadyExists { existing_id, .. } if existing_id == id1
        );
        assert_eq!(store.get_org(&id1).await.unwrap(), o1);
        assert!(!store.list_orgs().await.unwrap().iter().any(|o| o.name == fresh_name || o.id == fresh_id));

        assert_err!(store.get_org(&ids::org_id()).await, Error::NotFound { .. });
    }

    pub async fn api_keys(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let other = new_org(store).await;
        let before = store.count_api_keys().await.unwrap();

        let (id1, secret1) = ids::api_key();
        let key1 = ApiKey {
            id: id1.clone(),
            org_id: org.clone(),
            name: "ci".into(),
            permissions: vec![Permission::Read, Permission::Write],
            created_at: now,
            expires_at: Some(now + Duration::days(30)),
            revoked_at: None,
        };
        let digest1 = ids::key_digest(&secret1);
        let (id2, _) = ids::api_key();
        let key2 = ApiKey {
            id: id2.clone(),
            org_id: org.clone(),
            name: "admin".into(),
            permissions: vec![Permission::Admin],
            created_at: secs(now, 1),
            expires_at: None,
            revoked_at: None,
        };
        // Bytes that are easy to mangle: zero, high bit, 0xff.
        let digest2: Vec<u8> = vec![0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x00, 0x10];

        store.create_api_key(&key1, &digest1).await.unwrap();
        store.create_api_key(&key2, &digest2).await.unwrap();

        assert_eq!(store.find_api_key(&id1).await.unwrap(), Some((key1.clone(), digest1.clone())));
        assert_eq!(store.find_api_key(&id2).await.unwrap(), Some((key2.clone(), digest2.clone())));
        assert_eq!(store.find_api_key(&ids::api_key().0).await.unwrap(), None);

        assert_eq!(store.list_api_keys(&org).await.unwrap(), vec![key1.clone(), key2.clone()]);
        assert_eq!(store.list_api_keys(&other).await.unwrap(), vec![]);
        assert_eq!(store.count_api_keys().await.unwrap(), before + 2);

        // Wrong org scope: NotFound, and the key stays unrevoked.
        assert_err!(store.revoke_api_key(Some(&other), &id1, secs(now, 5)).await, Error::NotFound { .. });
        assert_eq!(store.find_api_key(&id1).await.unwrap().unwrap().0.revoked_at, None);

        let t1 = secs(now, 10);
        let revoked = store.revoke_api_key(Some(&org), &id1, t1).await.unwrap();
        assert_eq!(revoked, ApiKey { revoked_at: Some(t1), ..key1.clone() });
        // A second revoke keeps the first time.
        let again = store.revoke_api_key(Some(&org), &id1, secs(now, 20)).await.unwrap();
        assert_eq!(again.revoked_at, Some(t1));
        // Any org (None).
        let t3 = secs(now, 30);
        assert_eq!(store.revoke_api_key(None, &id2, t3).await.unwrap().revoked_at, Some(t3));
        assert_err!(store.revoke_api_key(None, &ids::api_key().0, t3).await, Error::NotFound { .. });

        // Revoked keys are still found, digest intact.
        assert_eq!(
            store.find_api_key(&id1).await.unwrap(),
            Some((ApiKey { revoked_at: Some(t1), ..key1.clone() }, digest1.clone()))
        );
        assert_eq!(
            store.list_api_keys(&org).await.unwrap(),
            vec![ApiKey { revoked_at: Some(t1), ..key1 }, ApiKey { revoked_at: Some(t3), ..key2 }]
        );

        // A key for a missing org: NotFound, nothing stored.
        let (id3, secret3) = ids::api_key();
        let orphan = ApiKey {
            id: id3.clone(),
            org_id: ids::org_id(),
            name: "orphan".into(),
            permissions: vec![Permission::Read],
            created_at: now,
            expires_at: None,
            revoked_at: None,
        };
        assert_err!(store.create_api_key(&orphan, &ids::key_digest(&secret3)).await, Error::NotFound { .. });
        assert_eq!(store.find_api_key(&id3).await.unwrap(), None);
        assert_eq!(store.count_api_keys().await.unwrap(), before + 2);
    }

    // --------------------------------------------------------------------------------------------
    // Agents.
    // --------------------------------------------------------------------------------------------

    pub async fn agents_register_and_get(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let other = new_org(store).await;
        let config = obj(json!({"model": "m-1", "temperature": 0.25, "tools": ["a", "b"]}));

        let a = store
            .register_agent(
                &org,
                NewAgent { name: "alpha".into(), description: "first agent".into(), config: config.clone() },
                now,
            )
            .await
            .unwrap();
        assert!(is_agent_id(&a.id), "generated id {:?} is an agent id", a.id);
        assert_eq!(
            a,
            Agent {
                id: a.id.clone(),
                org_id: org.clone(),
                name: "alpha".into(),
                description: "first agent".into(),
                config: config.clone(),
                created_at: now,
                last_active_at: None,
            }
        );

        // Duplicate name in the same org: AlreadyExists with the existing id; nothing changes.
        assert_err!(
            store
                .register_agent(
                    &org,
                    NewAgent { name: "alpha".into(), description: "second".into(), config: Metadata::new() },
                    secs(now, 1)
                )
                .await,
            Error::AlreadyExists { existing_id, .. } if existing_id == a.id
        );
        assert_eq!(store.get_agent(&org, &AgentRef::Id(a.id.clone())).await.unwrap(), a);

        // Same name in another org is fine and is another agent.
        let b = new_agent(store, &other, "alpha", secs(now, 2)).await;
        assert_ne!(b.id, a.id);
        assert_eq!(b.org_id, other);

        assert_eq!(store.get_agent(&org, &AgentRef::Id(a.id.clone())).await.unwrap(), a);
        assert_eq!(store.get_agent(&org, &AgentRef::Name("alpha".into())).await.unwrap(), a);
        assert_eq!(store.get_agent(&other, &AgentRef::Name("alpha".into())).await.unwrap(), b);

        assert_err!(store.get_agent(&org, &AgentRef::Name("nobody".into())).await, Error::NotFound { .. });
        assert_err!(store.get_agent(&org, &AgentRef::Id(ids::agent_id())).await, Error::NotFound { .. });
    }

    pub async fn agents_list_pagination(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let other = new_org(store).await;
        let mut created = Vec::new();
        for i in 0..5 {
            let t = now + Duration::milliseconds(i);
            created.push(new_agent(store, &org, &format!("agent-{i}"), t).await.id);
        }
        new_agent(store, &other, "agent-x", now).await;

        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= 3, "too many pages");
            let page = store.list_agents(&org, 2, after.take()).await.unwrap();
            seen.extend(page.items.iter().map(|a| a.id.clone()));
            match page.next_cursor {
                Some(next) => {
                    assert_eq!(page.items.len(), 2, "a page with a cursor is full");
                    after = Some(next);
                }
                None => {
                    assert_eq!(page.items.len(), 1, "last page holds the fifth agent");
                    break;
                }
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, created, "all five, once each, in creation order");

        // A page exactly filled by the remaining agents has no cursor.
        let page = store.list_agents(&org, 5, None).await.unwrap();
        assert_eq!(page.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), created);
        assert_eq!(page.next_cursor, None);
        assert!(page.items.iter().all(|a| a.org_id == org));
    }

    pub async fn agents_delete(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let x = new_agent(store, &org, "doomed", now).await;
        let y = new_agent(store, &org, "survivor", now).await;
        let s1 = store.create_session(&org, &AgentRef::Name("doomed".into()), Metadata::new(), now).await.unwrap();
        let s2 = store.create_session(&org, &AgentRef::Id(x.id.clone()), Metadata::new(), now).await.unwrap();

        let x_mems = add_all(
            store,
            &org,
            vec![
                NewMemory {
                    session_id: Some(s1.id.clone()),
                    tags: strings(&["shared"]),
                    ..mem(&x.id, "note", "x one")
                },
                mem(&x.id, "note", "x two"),
                NewMemory { session_id: Some(s2.id.clone()), ..mem(&x.id, "note", "x three") },
            ],
            now,
        )
        .await;
        let y_mems = add_all(
            store,
            &org,
            vec![NewMemory { tags: strings(&["shared"]), ..mem(&y.id, "note", "y one") }, mem(&y.id, "note", "y two")],
            now,
        )
        .await;

        // Without cascade while memories exist: FailedPrecondition, nothing removed.
        assert_err!(
            store.delete_agent(&org, &AgentRef::Name("doomed".into()), false).await,
            Error::FailedPrecondition(_)
        );
        assert_eq!(store.get_agent(&org, &AgentRef::Id(x.id.clone())).await.unwrap().id, x.id);
        assert_eq!(count(store, &org, MemoryFilter::default(), now).await, 5);

        // With cascade: (sessions, memories), and everything of the agent is gone.
        assert_eq!(
            store.delete_agent(&org, &AgentRef::Id(x.id.clone()), true).await.unwrap(),
            AgentDeletion { sessions: 2, memories: 3 }
        );
        assert_err!(store.get_agent(&org, &AgentRef::Id(x.id.clone())).await, Error::NotFound { .. });
        assert_err!(store.get_agent(&org, &AgentRef::Name("doomed".into())).await, Error::NotFound { .. });
        for s in [&s1, &s2] {
            assert_err!(store.get_session(&org, &s.id).await, Error::NotFound { .. });
        }
        for m in &x_mems {
            assert_err!(store.get_memory(&org, &m.id, now).await, Error::NotFound { .. });
        }
        assert_eq!(all_sessions(store, &org, None, None, 10).await, Vec::<String>::new());

        // Other agents' memories are untouched.
        let mut expected_y = ids_of(&y_mems);
        let mut remaining = find(store, &org, MemoryFilter::default(), now).await;
        expected_y.sort();
        remaining.sort();
        assert_eq!(remaining, expected_y);
        let tagged =
            find(store, &org, MemoryFilter { tags_any: strings(&["shared"]), ..Default::default() }, now).await;
        assert_eq!(tagged, vec![y_mems[0].id.clone()]);
        for m in &y_mems {
            assert_eq!(&store.get_memory(&org, &m.id, now).await.unwrap(), m);
        }

        assert_err!(store.delete_agent(&org, &AgentRef::Id(x.id.clone()), true).await, Error::NotFound { .. });

        // A new agent with the old name starts empty.
        let x2 = new_agent(store, &org, "doomed", secs(now, 1)).await;
        assert_ne!(x2.id, x.id);
        let filter = MemoryFilter { agent: Some(AgentRef::Name("doomed".into())), ..Default::default() };
        assert_eq!(find(store, &org, filter, now).await, Vec::<String>::new());

        // An agent without memories or sessions deletes without cascade.
        assert_eq!(
            store.delete_agent(&org, &AgentRef::Name("doomed".into()), false).await.unwrap(),
            AgentDeletion::default()
        );
        assert_err!(store.get_agent(&org, &AgentRef::Id(x2.id.clone())).await, Error::NotFound { .. });
        assert_eq!(store.get_agent(&org, &AgentRef::Id(y.id.clone())).await.unwrap().id, y.id);
    }

    // --------------------------------------------------------------------------------------------
    // Sessions.
    // --------------------------------------------------------------------------------------------

    pub async fn sessions_create_and_get(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let metadata = obj(json!({"task": "t-1", "n": 3}));

        // By an unknown name: the agent is registered.
        let s = store.create_session(&org, &AgentRef::Name("auto".into()), metadata.clone(), now).await.unwrap();
        let agent = store.get_agent(&org, &AgentRef::Name("auto".into())).await.unwrap();
        assert_eq!(agent.created_at, now);
        assert!(s.id.starts_with("sess_"), "session id {:?}", s.id);
        assert_eq!(
            s,
            Session {
                id: s.id.clone(),
                org_id: org.clone(),
                agent_id: agent.id.clone(),
                status: SessionStatus::Active,
                metadata,
                created_at: now,
                updated_at: now,
                closed_at: None,
            }
        );
        assert_eq!(store.get_session(&org, &s.id).await.unwrap(), s);

        // By id and by the now-known name: the same agent.
        let s2 =
            store.create_session(&org, &AgentRef::Id(agent.id.clone()), Metadata::new(), secs(now, 1)).await.unwrap();
        assert_eq!(s2.agent_id, agent.id);
        let s3 =
            store.create_session(&org, &AgentRef::Name("auto".into()), Metadata::new(), secs(now, 2)).await.unwrap();
        assert_eq!(s3.agent_id, agent.id);
        assert_ne!(s2.id, s3.id);

        // By an unknown id: NotFound, and no agent appears.
        assert_err!(
            store.create_session(&org, &AgentRef::Id(ids::agent_id()), Metadata::new(), now).await,
            Error::NotFound { .. }
        );
        let agents = store.list_agents(&org, 100, None).await.unwrap();
        assert_eq!(agents.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), vec![agent.id.clone()]);

        assert_err!(store.get_session(&org, &ids::session_id()).await, Error::NotFound { .. });
    }

    pub async fn sessions_list(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let (a, b) = (AgentRef::Name("sa".into()), AgentRef::Name("sb".into()));
        let mut create = Vec::new();
        // Interleaved creation: a1 b1 a2 b2 a3.
        for (i, agent) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
            let t = secs(now, i as i64 + 1);
            create.push(store.create_session(&org, agent, Metadata::new(), t).await.unwrap().id);
        }
        let [a1, b1, a2, b2, a3] = <[String; 5]>::try_from(create.clone()).unwrap();
        let close = SessionPatch { status: Some(SessionStatus::Closed), metadata: None };
        store.update_session(&org, &a1, close.clone(), secs(now, 10)).await.unwrap();
        store.update_session(&org, &b2, close, secs(now, 11)).await.unwrap();

        assert_eq!(all_sessions(store, &org, None, None, 2).await, create);
        assert_eq!(all_sessions(store, &org, None, None, 5).await, create);
        assert_eq!(all_sessions(store, &org, None, None, 100).await, create);
        assert_eq!(all_sessions(store, &org, Some(&a), None, 2).await, vec![a1.clone(), a2.clone(), a3.clone()]);
        let b_id = store.get_agent(&org, &b).await.unwrap().id;
        assert_eq!(all_sessions(store, &org, Some(&AgentRef::Id(b_id)), None, 1).await, vec![b1.clone(), b2.clone()]);
        assert_eq!(all_sessions(store, &org, None, Some(SessionStatus::Closed), 1).await, vec![a1.clone(), b2.clone()]);
        assert_eq!(
            all_sessions(store, &org, None, Some(SessionStatus::Active), 2).await,
            vec![b1.clone(), a2.clone(), a3.clone()]
        );
        assert_eq!(all_sessions(store, &org, Some(&a), Some(SessionStatus::Active), 1).await, vec![a2, a3]);
        assert_eq!(all_sessions(store, &org, Some(&a), Some(SessionStatus::Closed), 1).await, vec![a1]);
        assert_eq!(all_sessions(store, &org, Some(&b), Some(SessionStatus::Active), 5).await, vec![b1]);
        assert_eq!(
            all_sessions(store, &org, Some(&AgentRef::Name("nobody".into())), None, 5).await,
            Vec::<String>::new()
        );
        assert_eq!(
            all_sessions(store, &org, Some(&AgentRef::Id(ids::agent_id())), None, 5).await,
            Vec::<String>::new()
        );
    }

    pub async fn sessions_update(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let s = store
            .create_session(&org, &AgentRef::Name("upd".into()), obj(json!({"a": 1, "b": {"x": 1}})), now)
            .await
            .unwrap();
        let status = |st| SessionPatch { status: Some(st), metadata: None };

        let t1 = secs(now, 1);
        let closed = store.update_session(&org, &s.id, status(SessionStatus::Closed), t1).await.unwrap();
        assert_eq!(closed, Session { status: SessionStatus::Closed, closed_at: Some(t1), updated_at: t1, ..s.clone() });

        // Closing again keeps the first closed_at; updated_at moves.
        let t2 = secs(now, 2);
        let again = store.update_session(&org, &s.id, status(SessionStatus::Closed), t2).await.unwrap();
        assert_eq!((again.status, again.closed_at, again.updated_at), (SessionStatus::Closed, Some(t1), t2));

        // Reopening clears closed_at.
        let t3 = secs(now, 3);
        let reopened = store.update_session(&org, &s.id, status(SessionStatus::Active), t3).await.unwrap();
        assert_eq!((reopened.status, reopened.closed_at, reopened.updated_at), (SessionStatus::Active, None, t3));
        let t4 = secs(now, 4);
        let reclosed = store.update_session(&org, &s.id, status(SessionStatus::Closed), t4).await.unwrap();
        assert_eq!(reclosed.closed_at, Some(t4));

        // Merge: top-level keys overwritten or added, others kept; status untouched.
        let t5 = secs(now, 5);
        let merged = store
            .update_session(
                &org,
                &s.id,
                SessionPatch { status: None, metadata: Some((obj(json!({"b": 2, "c": 3})), MetadataMode::Merge)) },
                t5,
            )
            .await
            .unwrap();
        assert_eq!(merged.metadata, obj(json!({"a": 1, "b": 2, "c": 3})));
        assert_eq!((merged.status, merged.closed_at, merged.updated_at), (SessionStatus::Closed, Some(t4), t5));

        // Replace: exactly the new object.
        let t6 = secs(now, 6);
        let replaced = store
            .update_session(
                &org,
                &s.id,
                SessionPatch { status: None, metadata: Some((obj(json!({"z": true})), MetadataMode::Replace)) },
                t6,
            )
            .await
            .unwrap();
        assert_eq!(replaced.metadata, obj(json!({"z": true})));
        assert_eq!(replaced.updated_at, t6);
        assert_eq!(replaced.created_at, now);

        // Both at once.
        let t7 = secs(now, 7);
        let both = store
            .update_session(
                &org,
                &s.id,
                SessionPatch {
                    status: Some(SessionStatus::Active),
                    metadata: Some((Metadata::new(), MetadataMode::Replace)),
                },
                t7,
            )
            .await
            .unwrap();
        assert_eq!(
            both,
            Session {
                status: SessionStatus::Active,
                metadata: Metadata::new(),
                closed_at: None,
                updated_at: t7,
                ..s.clone()
            }
        );
        assert_eq!(store.get_session(&org, &s.id).await.unwrap(), both);

        assert_err!(
            store.update_session(&org, &ids::session_id(), status(SessionStatus::Closed), t7).await,
            Error::NotFound { .. }
        );
    }

    // --------------------------------------------------------------------------------------------
    // add_memories.
    // --------------------------------------------------------------------------------------------

    pub async fn add_memories_defaults(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let m = add_one(store, &org, mem("def", "note", "hello world"), now).await;
        let agent = store.get_agent(&org, &AgentRef::Name("def".into())).await.unwrap();
        assert!(m.id.starts_with("mem_"), "memory id {:?}", m.id);
        assert_eq!(
            m,
            Memory {
                id: m.id.clone(),
                org_id: org.clone(),
                agent_id: agent.id.clone(),
                session_id: None,
                memory_type: MemoryType::Episodic,
                event_type: "note".into(),
                content: "hello world".into(),
                metadata: Metadata::new(),
                tags: vec![],
                importance: DEFAULT_IMPORTANCE,
                parent_id: None,
                dedup_key: derived_dedup_key(&agent.id, "note", "hello world"),
                time: now,
                created_at: now,
                step: None,
                position: None,
                expires_at: None,
            }
        );
        assert_eq!(m.importance, 0.5);
        assert_eq!(store.get_memory(&org, &m.id, now).await.unwrap(), m);
    }

    pub async fn add_memories_round_trip(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let agent = new_agent(store, &org, "rt", now).await;
        let session = store.create_session(&org, &AgentRef::Id(agent.id.clone()), Metadata::new(), now).await.unwrap();
        let parent = add_one(store, &org, mem("rt", "note", "the parent"), now).await;

        let metadata = obj(json!({
            "reasoning": "because it scales",
            "n": 1,
            "neg": -7,
            "f": 1.5,
            "nested": {"list": [1, "two", null, true, {"deep": []}]},
            "unicode": "héllo ✓"
        }));
        let full = NewMemory {
            agent: "rt".into(),
            session_id: Some(session.id.clone()),
            memory_type: Some(MemoryType::Decision),
            event_type: "decision_made".into(),
            content: "Use PostgreSQL ✓ — ünïcode\nsecond line".into(),
            metadata: metadata.clone(),
            tags: strings(&["alpha", "beta", "gamma"]),
            importance: Some(0.875),
            parent_id: Some(parent.id.clone()),
            dedup_key: Some("custom-key-1".into()),
            time: Some(secs(now, -3 * 3600)),
            step: Some(42),
            position: Some(Position { x: 1.5, y: -2.25, z: Some(3.0) }),
            expires_at: Some(now + Duration::days(1)),
            reasoning: None,
        };
        let created = add_one(store, &org, full, now).await;
        let expected = Memory {
            id: created.id.clone(),
            org_id: org.clone(),
            agent_id: agent.id.clone(),
            session_id: Some(session.id.clone()),
            memory_type: MemoryType::Decision,
            event_type: "decision_made".into(),
            content: "Use PostgreSQL ✓ — ünïcode\nsecond line".into(),
            metadata,
            tags: strings(&["alpha", "beta", "gamma"]),
            importance: 0.875,
            parent_id: Some(parent.id.clone()),
            dedup_key: "custom-key-1".into(),
            time: secs(now, -3 * 3600),
            created_at: now,
            step: Some(42),
            position: Some(Position { x: 1.5, y: -2.25, z: Some(3.0) }),
            expires_at: Some(now + Duration::days(1)),
        };
        assert_eq!(created, expected);
        assert_eq!(store.get_memory(&org, &created.id, now).await.unwrap(), expected);
        assert_eq!(store.get_memory(&org, &created.id, now).await.unwrap().reasoning(), Some("because it scales"));

        // Position without z, zero importance (not the default), negative step, future time,
        // agent given by id, microsecond-precise times.
        let t_future = now + Duration::microseconds(60_000_123);
        let flat = NewMemory {
            agent: agent.id.clone(),
            memory_type: Some(MemoryType::Interaction),
            tags: strings(&["solo"]),
            importance: Some(0.0),
            dedup_key: Some("custom-key-2".into()),
            time: Some(t_future),
            step: Some(-7),
            position: Some(Position { x: -0.5, y: 1e6, z: None }),
            ..mem("ignored", "observation", "flat one")
        };
        let created2 = add_one(store, &org, flat, now).await;
        let got2 = store.get_memory(&org, &created2.id, now).await.unwrap();
        assert_eq!(got2, created2);
        assert_eq!(got2.agent_id, agent.id);
        assert_eq!(got2.memory_type, MemoryType::Interaction);
        assert_eq!(got2.tags, strings(&["solo"]));
        assert_eq!(got2.importance, 0.0);
        assert_eq!(got2.dedup_key, "custom-key-2");
        assert_eq!(got2.time, t_future);
        assert_eq!(got2.step, Some(-7));
        assert_eq!(got2.position, Some(Position { x: -0.5, y: 1e6, z: None }));
        assert_eq!((got2.session_id.clone(), got2.parent_id.clone(), got2.expires_at), (None, None, None));

        // Every memory type round-trips.
        let items: Vec<NewMemory> = MemoryType::ALL
            .iter()
            .map(|t| NewMemory { memory_type: Some(*t), ..mem("rt", "typed", &format!("type {}", t.as_str())) })
            .collect();
        let typed = add_all(store, &org, items, now).await;
        for (m, t) in typed.iter().zip(MemoryType::ALL) {
            let got = store.get_memory(&org, &m.id, now).await.unwrap();
            assert_eq!(got.memory_type, t);
            assert_eq!(&got, m);
        }
    }

    pub async fn add_memories_derived_dedup_key(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let agent = new_agent(store, &org, "hasher", now).await;

        let m = add_one(store, &org, mem("hasher", "note", "some content"), now).await;
        assert_eq!(m.dedup_key, derived_dedup_key(&agent.id, "note", "some content"));

        // Only the first 200 bytes count: same head, same event type -> duplicate.
        let head = "x".repeat(200);
        let a = add_one(store, &org, mem("hasher", "note", &format!("{head}A")), now).await;
        assert_eq!(a.dedup_key, derived_dedup_key(&agent.id, "note", &format!("{head}A")));
        assert_eq!(
            add_outcome(store, &org, mem("hasher", "note", &format!("{head}B")), secs(now, 1)).await,
            AddOutcome::Duplicate { existing_id: a.id.clone() }
        );
        // Another event type is another key.
        let c = add_one(store, &org, mem("hasher", "other", "some content"), secs(now, 2)).await;
        assert_eq!(c.dedup_key, derived_dedup_key(&agent.id, "other", "some content"));
        assert_ne!(c.dedup_key, m.dedup_key);
    }

    pub async fn add_memories_dedup(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let a = new_agent(store, &org, "dedup-a", now).await;
        let b = new_agent(store, &org, "dedup-b", now).await;
        let keyed = |agent: &str, key: &str, content: &str| NewMemory {
            dedup_key: Some(key.into()),
            ..mem(agent, "note", content)
        };
        let of_a = MemoryFilter { agent: Some(AgentRef::Id(a.id.clone())), ..Default::default() };

        let m1 = add_one(store, &org, keyed(&a.id, "k1", "first"), now).await;
        // Same agent and key within the window: Duplicate, not stored.
        assert_eq!(
            add_outcome(store, &org, keyed(&a.id, "k1", "second"), secs(now, 60)).await,
            AddOutcome::Duplicate { existing_id: m1.id.clone() }
        );
        assert_eq!(count(store, &org, of_a.clone(), secs(now, 60)).await, 1);
        let second = MemoryFilter { content_contains: Some(Needle::new("second")), ..Default::default() };
        assert_eq!(find(store, &org, second, secs(now, 60)).await, Vec::<String>::new());

        // Same key for another agent: created.
        let mb = add_one(store, &org, keyed(&b.id, "k1", "first"), secs(now, 60)).await;
        assert_ne!(mb.id, m1.id);

        // Outside the window: created; later duplicates point at the new one.
        let t_late = now + Duration::hours(2);
        let m3 = add_one(store, &org, keyed(&a.id, "k1", "third"), t_late).await;
        assert_ne!(m3.id, m1.id);
        assert_eq!(
            add_outcome(store, &org, keyed(&a.id, "k1", "fourth"), secs(t_late, 60)).await,
            AddOutcome::Duplicate { existing_id: m3.id.clone() }
        );

        // In-batch duplicates point at the batch's first.
        let t_batch = now + Duration::hours(3);
        let outcomes = add_raw(
            &*store,
            &org,
            vec![
                keyed(&a.id, "k2", "batch one"),
                keyed(&a.id, "k2", "batch two"),
                keyed(&b.id, "k2", "batch three"),
                keyed(&a.id, "k3", "batch four"),
                keyed(&a.id, "k2", "batch five"),
            ],
            window(),
            t_batch,
        )
        .await
        .unwrap();
        assert_eq!(outcomes.len(), 5);
        let AddOutcome::Created(first) = &outcomes[0] else { panic!("first: {:?}", outcomes[0]) };
        assert_eq!(outcomes[1], AddOutcome::Duplicate { existing_id: first.id.clone() });
        assert!(matches!(&outcomes[2], AddOutcome::Created(m) if m.agent_id == b.id), "{:?}", outcomes[2]);
        assert!(matches!(&outcomes[3], AddOutcome::Created(m) if m.dedup_key == "k3"), "{:?}", outcomes[3]);
        assert_eq!(outcomes[4], AddOutcome::Duplicate { existing_id: first.id.clone() });
        let batch = MemoryFilter { content_contains: Some(Needle::new("batch")), ..Default::default() };
        assert_eq!(count(store, &org, batch, t_batch).await, 3);

        // Expired memories do not count for dedup.
        let t_exp = now + Duration::hours(4);
        let e1 = add_one(
            store,
            &org,
            NewMemory { expires_at: Some(secs(t_exp, 10)), ..keyed(&a.id, "k4", "short-lived") },
            t_exp,
        )
        .await;
        assert_eq!(
            add_outcome(store, &org, keyed(&a.id, "k4", "while alive"), secs(t_exp, 5)).await,
            AddOutcome::Duplicate { existing_id: e1.id.clone() }
        );
        let e2 = add_one(store, &org, keyed(&a.id, "k4", "after expiry"), secs(t_exp, 20)).await;
        assert_ne!(e2.id, e1.id);
        assert_eq!(e2.dedup_key, "k4");
    }

    pub async fn add_memories_batch_failures(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let owner = new_agent(store, &org, "owner", now).await;
        let other = new_agent(store, &org, "other", now).await;
        let s_owner = store.create_session(&org, &AgentRef::Id(owner.id.clone()), Metadata::new(), now).await.unwrap();
        let s_other = store.create_session(&org, &AgentRef::Id(other.id.clone()), Metadata::new(), now).await.unwrap();
        let owner_active = store.get_agent(&org, &AgentRef::Id(owner.id.clone())).await.unwrap().last_active_at;
        assert_eq!(owner_active, Some(now));

        let o = org.as_str();
        let nothing_stored = |t: Timestamp| async move {
            assert_eq!(count(store, o, MemoryFilter::default(), t).await, 0, "nothing stored");
        };

        // A missing session fails the whole batch, including earlier valid items and registrations.
        let t1 = secs(now, 1);
        assert_err!(
            add_raw(
                &*store,
                &org,
                vec![
                    mem(&owner.id, "note", "valid one"),
                    mem("fresh-agent", "note", "valid two"),
                    NewMemory { session_id: Some(ids::session_id()), ..mem(&owner.id, "note", "bad") },
                ],
                window(),
                t1,
            )
            .await,
            Error::NotFound { .. }
        );
        nothing_stored(t1).await;
        assert_err!(store.get_agent(&org, &AgentRef::Name("fresh-agent".into())).await, Error::NotFound { .. });

        // A session of another agent: an item error naming the item and its field, nothing stored.
        let t2 = secs(now, 2);
        assert_err!(
            add_raw(&*store,
                    &org,
                    vec![
                        NewMemory { session_id: Some(s_owner.id.clone()), ..mem(&owner.id, "note", "valid") },
                        NewMemory { session_id: Some(s_other.id.clone()), ..mem(&owner.id, "note", "wrong") },
                    ],
                    window(),
                    t2,
                )
                .await,
            Error::InvalidItem { index: 1, ref field, .. } if field == "session_id"
        );
        nothing_stored(t2).await;

        // A missing parent: NotFound, nothing stored.
        let t3 = secs(now, 3);
        assert_err!(
            add_raw(
                &*store,
                &org,
                vec![
                    mem(&owner.id, "note", "valid"),
                    NewMemory { parent_id: Some(ids::memory_id()), ..mem(&owner.id, "note", "orphan") },
                ],
                window(),
                t3,
            )
            .await,
            Error::NotFound { .. }
        );
        nothing_stored(t3).await;

        // A missing agent id: NotFound, nothing stored.
        let t4 = secs(now, 4);
        assert_err!(
            add_raw(
                &*store,
                &org,
                vec![mem(&owner.id, "note", "valid"), mem(&ids::agent_id(), "note", "nobody's")],
                window(),
                t4,
            )
            .await,
            Error::NotFound { .. }
        );
        nothing_stored(t4).await;

        // Failed batches did not touch the agent.
        let agent = store.get_agent(&org, &AgentRef::Id(owner.id.clone())).await.unwrap();
        assert_eq!(agent.last_active_at, Some(now), "failed batches leave last_active_at alone");

        // A successful write marks its agents active at `now`.
        let t5 = secs(now, 5);
        add_all(
            store,
            &org,
            vec![
                NewMemory { session_id: Some(s_owner.id.clone()), ..mem(&owner.id, "note", "ok") },
                mem("newcomer", "note", "hi"),
            ],
            t5,
        )
        .await;
        let agent = store.get_agent(&org, &AgentRef::Id(owner.id.clone())).await.unwrap();
        assert_eq!(agent.last_active_at, Some(t5));
        let newcomer = store.get_agent(&org, &AgentRef::Name("newcomer".into())).await.unwrap();
        assert_eq!((newcomer.created_at, newcomer.last_active_at), (t5, Some(t5)));
        assert_eq!(count(store, &org, MemoryFilter::default(), t5).await, 2);
    }

    // --------------------------------------------------------------------------------------------
    // list_memories filters.
    // --------------------------------------------------------------------------------------------

    /// Six live memories (1..=6, times base+1s..base+6s) and an expired one that matches most filters.
    struct Corpus {
        org: String,
        alice: String,
        session: String,
        m: Vec<String>,
        expired: String,
        base: Timestamp,
        /// Query time: after the expiry.
        now: Timestamp,
    }

    impl Corpus {
        /// Ids of memories by number, newest first (the default order).
        fn pick(&self, numbers: &[usize]) -> Vec<String> {
            let mut numbers = numbers.to_vec();
            numbers.sort_unstable_by(|a, b| b.cmp(a));
            numbers.into_iter().map(|n| self.m[n - 1].clone()).collect()
        }
    }

    async fn corpus(store: &dyn Store) -> Corpus {
        let base = time::now();
        let org = new_org(store).await;
        let alice = new_agent(store, &org, "alice", base).await.id;
        let bob = new_agent(store, &org, "bob", base).await.id;
        let session = store.create_session(&org, &AgentRef::Id(alice.clone()), Metadata::new(), base).await.unwrap().id;

        #[allow(clippy::type_complexity)]
        let spec: [(&str, bool, MemoryType, &str, &str, &[&str], f64, Option<i64>); 6] = [
            (&alice, true, MemoryType::Episodic, "note", "Fixed AUTH.go", &["prod", "web"], 0.9, Some(1)),
            (&alice, false, MemoryType::Decision, "decision", "ÉCOLE ouverte", &["production"], 0.3, Some(5)),
            (&bob, false, MemoryType::Episodic, "error", "100% done", &["prod"], 0.5, Some(10)),
            (&bob, false, MemoryType::Entity, "note", "1000 done", &["staging"], 0.7, None),
            (&alice, true, MemoryType::State, "note", "axb", &[], 0.1, Some(3)),
            (&bob, false, MemoryType::Episodic, "note", "a_b literal", &["staging", "web"], 0.5, Some(7)),
        ];
        let items: Vec<NewMemory> = spec
            .iter()
            .enumerate()
            .map(|(i, (agent, in_session, ty, event, content, tags, importance, step))| NewMemory {
                session_id: in_session.then(|| session.clone()),
                memory_type: Some(*ty),
                tags: strings(tags),
                importance: Some(*importance),
                step: *step,
                time: Some(secs(base, i as i64 + 1)),
                ..mem(agent, event, content)
            })
            .collect();
        let add_now = secs(base, 10);
        let m = ids_of(&add_all(store, &org, items, add_now).await);
        let expired = add_one(
            store,
            &org,
            NewMemory {
                session_id: Some(session.clone()),
                memory_type: Some(MemoryType::Episodic),
                tags: strings(&["prod", "production", "staging", "web"]),
                importance: Some(1.0),
                step: Some(5),
                time: Some(secs(base, 3)),
                expires_at: Some(secs(base, 50)),
                ..mem(&alice, "note", "Expired AUTH.go 100% a_b école done")
            },
            add_now,
        )
        .await
        .id;
        Corpus { org, alice, session, m, expired, base, now: secs(base, 100) }
    }

    async fn expect_find(store: &dyn Store, c: &Corpus, filter: MemoryFilter, expected: Vec<String>) {
        assert_eq!(find(store, &c.org, filter.clone(), c.now).await, expected, "filter {filter:?}");
    }

    pub async fn list_filters_basic(store: &dyn Store) {
        let c = corpus(store).await;
        let (org, now, base) = (c.org.as_str(), c.now, c.base);
        let f = MemoryFilter::default;
        let check = |filter: MemoryFilter, expected: Vec<String>| expect_find(store, &c, filter, expected);

        check(f(), c.pick(&[1, 2, 3, 4, 5, 6])).await;

        // Agent by id and by name; unknown: empty page.
        check(MemoryFilter { agent: Some(AgentRef::Id(c.alice.clone())), ..f() }, c.pick(&[1, 2, 5])).await;
        check(MemoryFilter { agent: Some(AgentRef::Name("alice".into())), ..f() }, c.pick(&[1, 2, 5])).await;
        check(MemoryFilter { agent: Some(AgentRef::Name("bob".into())), ..f() }, c.pick(&[3, 4, 6])).await;
        let page = store
            .list_memories(
                org,
                &query(MemoryFilter { agent: Some(AgentRef::Name("nobody".into())), ..f() }, 10, Order::Desc),
                now,
            )
            .await
            .unwrap();
        assert_eq!(page, MemoryPage { memories: vec![], next_cursor: None, has_more: false });
        check(MemoryFilter { agent: Some(AgentRef::Id(ids::agent_id())), ..f() }, vec![]).await;

        // Session.
        check(MemoryFilter { session_id: Some(c.session.clone()), ..f() }, c.pick(&[1, 5])).await;
        check(MemoryFilter { session_id: Some(ids::session_id()), ..f() }, vec![]).await;

        // Memory types.
        check(MemoryFilter { memory_types: vec![MemoryType::Episodic], ..f() }, c.pick(&[1, 3, 6])).await;
        check(MemoryFilter { memory_types: vec![MemoryType::Decision, MemoryType::Entity], ..f() }, c.pick(&[2, 4]))
            .await;
        check(MemoryFilter { memory_types: vec![MemoryType::Interaction], ..f() }, vec![]).await;

        // Event types.
        check(MemoryFilter { event_types: strings(&["note"]), ..f() }, c.pick(&[1, 4, 5, 6])).await;
        check(MemoryFilter { event_types: strings(&["error", "decision"]), ..f() }, c.pick(&[2, 3])).await;
        check(MemoryFilter { event_types: strings(&["not"]), ..f() }, vec![]).await;

        // Minimum importance (inclusive).
        check(MemoryFilter { min_importance: Some(0.5), ..f() }, c.pick(&[1, 3, 4, 6])).await;
        check(MemoryFilter { min_importance: Some(0.9), ..f() }, c.pick(&[1])).await;
        check(MemoryFilter { min_importance: Some(0.95), ..f() }, vec![]).await;

        // since inclusive, until exclusive.
        check(MemoryFilter { since: Some(secs(base, 2)), ..f() }, c.pick(&[2, 3, 4, 5, 6])).await;
        check(MemoryFilter { until: Some(secs(base, 4)), ..f() }, c.pick(&[1, 2, 3])).await;
        check(MemoryFilter { since: Some(secs(base, 2)), until: Some(secs(base, 4)), ..f() }, c.pick(&[2, 3])).await;
        check(MemoryFilter { since: Some(secs(base, 4)), until: Some(secs(base, 4)), ..f() }, vec![]).await;
        check(MemoryFilter { since: Some(secs(base, 4) + Duration::microseconds(1)), ..f() }, c.pick(&[5, 6])).await;
        check(MemoryFilter { until: Some(secs(base, 4) + Duration::microseconds(1)), ..f() }, c.pick(&[1, 2, 3, 4]))
            .await;

        // Steps (memories without a step never match a step bound).
        check(MemoryFilter { step_min: Some(5), ..f() }, c.pick(&[2, 3, 6])).await;
        check(MemoryFilter { step_max: Some(5), ..f() }, c.pick(&[1, 2, 5])).await;
        check(MemoryFilter { step_min: Some(3), step_max: Some(7), ..f() }, c.pick(&[2, 5, 6])).await;
        check(MemoryFilter { step_min: Some(11), ..f() }, vec![]).await;

        // Combined.
        check(
            MemoryFilter {
                agent: Some(AgentRef::Name("alice".into())),
                memory_types: vec![MemoryType::Episodic, MemoryType::State],
                since: Some(secs(base, 1)),
                ..f()
            },
            c.pick(&[1, 5]),
        )
        .await;
        check(
            MemoryFilter {
                agent: Some(AgentRef::Name("bob".into())),
                tags_any: strings(&["staging"]),
                content_contains: Some(Needle::new("done")),
                ..f()
            },
            c.pick(&[4]),
        )
        .await;
        check(
            MemoryFilter { event_types: strings(&["note"]), min_importance: Some(0.5), step_max: Some(10), ..f() },
            c.pick(&[1, 6]),
        )
        .await;
        check(MemoryFilter { session_id: Some(c.session.clone()), until: Some(secs(base, 5)), ..f() }, c.pick(&[1]))
            .await;
        check(
            MemoryFilter { agent: Some(AgentRef::Name("bob".into())), session_id: Some(c.session.clone()), ..f() },
            vec![],
        )
        .await;
    }

    pub async fn list_filters_tags(store: &dyn Store) {
        let c = corpus(store).await;
        let f = MemoryFilter::default;
        let check = |filter: MemoryFilter, expected: Vec<String>| expect_find(store, &c, filter, expected);
        // tags_all: exact tags, every one required.
        check(MemoryFilter { tags_all: strings(&["prod"]), ..f() }, c.pick(&[1, 3])).await;
        check(MemoryFilter { tags_all: strings(&["prod", "web"]), ..f() }, c.pick(&[1])).await;
        check(MemoryFilter { tags_all: strings(&["staging", "web"]), ..f() }, c.pick(&[6])).await;
        check(MemoryFilter { tags_all: strings(&["production"]), ..f() }, c.pick(&[2])).await;
        check(MemoryFilter { tags_all: strings(&["pro"]), ..f() }, vec![]).await;
        check(MemoryFilter { tags_all: strings(&["prod", "staging"]), ..f() }, vec![]).await;
        // tags_any: exact tags, one suffices.
        check(MemoryFilter { tags_any: strings(&["staging", "web"]), ..f() }, c.pick(&[1, 4, 6])).await;
        check(MemoryFilter { tags_any: strings(&["prod"]), ..f() }, c.pick(&[1, 3])).await;
        check(MemoryFilter { tags_any: strings(&["production", "staging"]), ..f() }, c.pick(&[2, 4, 6])).await;
        check(MemoryFilter { tags_any: strings(&["pro", "prod%", "prod_"]), ..f() }, vec![]).await;
        // Both.
        check(
            MemoryFilter { tags_all: strings(&["web"]), tags_any: strings(&["prod", "staging"]), ..f() },
            c.pick(&[1, 6]),
        )
        .await;
        // With another filter.
        check(
            MemoryFilter { tags_any: strings(&["prod", "web"]), agent: Some(AgentRef::Name("bob".into())), ..f() },
            c.pick(&[3, 6]),
        )
        .await;
    }

    pub async fn list_filters_content_contains(store: &dyn Store) {
        let c = corpus(store).await;
        let check = |needle: &str, expected: Vec<String>| {
            let filter = MemoryFilter { content_contains: Some(Needle::new(needle)), ..Default::default() };
            expect_find(store, &c, filter, expected)
        };
        // Case-insensitive on stored content (needles come lowercased).
        check("auth.go", c.pick(&[1])).await;
        check("fixed auth", c.pick(&[1])).await;
        check("école", c.pick(&[2])).await;
        check("école ouverte", c.pick(&[2])).await;
        // LIKE metacharacters are literal.
        check("100%", c.pick(&[3])).await;
        check("%", c.pick(&[3])).await;
        check("a_b", c.pick(&[6])).await;
        check("_", c.pick(&[6])).await;
        check("axb", c.pick(&[5])).await;
        check("done", c.pick(&[3, 4])).await;
        check("1000", c.pick(&[4])).await;
        check("0 d", c.pick(&[4])).await;
        check("0% d", c.pick(&[3])).await;
        check("auth.gox", vec![]).await;
        check("authxgo", vec![]).await;
    }

    pub async fn expired_memories_hidden(store: &dyn Store) {
        let c = corpus(store).await;
        let (org, base) = (c.org.as_str(), c.base);
        let before_expiry = secs(base, 20);

        // Before expiry it is a normal memory.
        assert_eq!(store.get_memory(org, &c.expired, before_expiry).await.unwrap().id, c.expired);
        assert!(find(store, org, MemoryFilter::default(), before_expiry).await.contains(&c.expired));
        assert_eq!(count(store, org, MemoryFilter::default(), before_expiry).await, 7);

        // After: get NotFound, list and count exclude it, under every filter it would match.
        assert_err!(store.get_memory(org, &c.expired, c.now).await, Error::NotFound { .. });
        assert_eq!(count(store, org, MemoryFilter::default(), c.now).await, 6);
        let filters = [
            MemoryFilter::default(),
            MemoryFilter { agent: Some(AgentRef::Id(c.alice.clone())), ..Default::default() },
            MemoryFilter { session_id: Some(c.session.clone()), ..Default::default() },
            MemoryFilter { tags_any: strings(&["prod"]), ..Default::default() },
            MemoryFilter { tags_all: strings(&["production"]), ..Default::default() },
            MemoryFilter { content_contains: Some(Needle::new("expired")), ..Default::default() },
            MemoryFilter { min_importance: Some(1.0), ..Default::default() },
        ];
        for filter in filters {
            let listed = find(store, org, filter.clone(), c.now).await;
            assert!(!listed.contains(&c.expired), "expired memory listed under {filter:?}");
            assert_eq!(count(store, org, filter.clone(), c.now).await, listed.len() as u64, "count under {filter:?}");
        }
        for order in [Order::Asc, Order::Desc] {
            let (all, _) = all_pages(store, org, &MemoryFilter::default(), 2, order, c.now).await;
            assert!(!all.iter().any(|m| m.id == c.expired), "expired memory paged in {order:?}");
            assert_eq!(all.len(), 6);
        }
    }

    pub async fn list_order_by_time_then_id(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        // Created in order a, b, c+d+e; b is back-filled an hour into the past; c, d, e share a time.
        let a = add_one(store, &org, NewMemory { time: Some(secs(now, 10)), ..mem("o", "note", "a") }, now).await;
        let b = add_one(store, &org, NewMemory { time: Some(secs(now, -3600)), ..mem("o", "note", "b") }, secs(now, 1))
            .await;
        let same: Vec<NewMemory> =
            ["c", "d", "e"].iter().map(|s| NewMemory { time: Some(secs(now, 5)), ..mem("o", "note", s) }).collect();
        let cde = add_all(store, &org, same, secs(now, 2)).await;
        let mut tied = ids_of(&cde);
        tied.sort();

        let mut asc = vec![b.id.clone()];
        asc.extend(tied.iter().cloned());
        asc.push(a.id.clone());
        let mut desc = asc.clone();
        desc.reverse();

        let o = org.as_str();
        let listed = |order| async move {
            let page = store.list_memories(o, &query(MemoryFilter::default(), 100, order), now).await;
            ids_of(&page.unwrap().memories)
        };
        assert_eq!(listed(Order::Desc).await, desc, "Desc: time then id, descending");
        assert_eq!(listed(Order::Asc).await, asc, "Asc: time then id, ascending");
        // The default order is Desc.
        assert_eq!(Order::default(), Order::Desc);
    }

    pub async fn pagination(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        // 25 memories of "pager" in 7 time groups of (up to) 4 identical times, added in 3 batches
        // out of time order; plus other agents' memories the filter excludes.
        let item = |i: i64| NewMemory {
            time: Some(secs(now, -(i % 7) * 60)),
            ..mem("pager", "note", &format!("page item {i}"))
        };
        let mut memories = Vec::new();
        for batch in [0..9, 9..17, 17..25] {
            memories.extend(add_all(store, &org, batch.map(&item).collect(), now).await);
        }
        add_all(store, &org, (0..5).map(|i| mem("noise", "note", &format!("noise {i}"))).collect(), now).await;
        assert_eq!(memories.len(), 25);
        let filter = MemoryFilter { agent: Some(AgentRef::Name("pager".into())), ..Default::default() };

        for order in [Order::Desc, Order::Asc] {
            let expected = sorted(&memories, order);
            let (listed, pages) = all_pages(store, &org, &filter, 7, order, now).await;
            assert_eq!(pages, 4, "{order:?}: 7 + 7 + 7 + 4");
            assert_eq!(ids_of(&listed), expected, "{order:?}: every memory exactly once, in order");

            // Exactly filling the limit with nothing after: has_more false, no extra page.
            let (listed, pages) = all_pages(store, &org, &filter, 5, order, now).await;
            assert_eq!(pages, 5, "{order:?}: 25 = 5 full pages, no empty trailing page");
            assert_eq!(ids_of(&listed), expected);
            let whole = store.list_memories(&org, &query(filter.clone(), 25, order), now).await.unwrap();
            assert_eq!((whole.has_more, whole.next_cursor.clone()), (false, None));
            assert_eq!(ids_of(&whole.memories), expected);
            let short = store.list_memories(&org, &query(filter.clone(), 24, order), now).await.unwrap();
            assert!(short.has_more);
            assert_eq!(ids_of(&short.memories), expected[..24].to_vec());

            // Offset skips rows after the cursor.
            let first = store.list_memories(&org, &query(filter.clone(), 7, order), now).await.unwrap();
            let q = MemoryQuery { cursor: first.next_cursor.clone(), offset: 3, ..query(filter.clone(), 7, order) };
            let page = store.list_memories(&org, &q, now).await.unwrap();
            assert_eq!(ids_of(&page.memories), expected[10..17].to_vec(), "{order:?}: cursor + offset 3");
            assert!(page.has_more);
            // Offset without a cursor, reaching the end.
            let q = MemoryQuery { offset: 20, ..query(filter.clone(), 7, order) };
            let page = store.list_memories(&org, &q, now).await.unwrap();
            assert_eq!(ids_of(&page.memories), expected[20..].to_vec(), "{order:?}: offset 20");
            assert_eq!((page.has_more, page.next_cursor), (false, None));
        }
    }

    /// The same pagination guarantees when a tag filter drives the query (the tag index path),
    /// combined with an agent filter, a time window and a second tag.
    pub async fn pagination_by_tag(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let item = |i: i64, agent: &str, tags: &[&str]| NewMemory {
            time: Some(secs(now, -(i % 6) * 60)),
            tags: strings(tags),
            ..mem(agent, "note", &format!("{agent} tagged {i}"))
        };
        let mut tagged = Vec::new();
        for batch in [0..10, 10..22] {
            tagged.extend(add_all(store, &org, batch.map(|i| item(i, "tagger", &["hot", "x"])).collect(), now).await);
        }
        // Noise: other tags, another agent with the same tag, and an old memory outside the window.
        add_all(store, &org, (0..5).map(|i| item(100 + i, "tagger", &["cold"])).collect(), now).await;
        add_all(store, &org, (0..5).map(|i| item(200 + i, "other", &["hot", "x"])).collect(), now).await;
        let old =
            NewMemory { time: Some(secs(now, -7200)), tags: strings(&["hot", "x"]), ..mem("tagger", "note", "old") };
        add_all(store, &org, vec![old], now).await;

        let filter = MemoryFilter {
            agent: Some(AgentRef::Name("tagger".into())),
            tags_all: strings(&["hot", "x"]),
            since: Some(secs(now, -3600)),
            ..Default::default()
        };
        for order in [Order::Desc, Order::Asc] {
            let expected = sorted(&tagged, order);
            for limit in [1, 5, 7, 22, 100] {
                let (listed, _) = all_pages(store, &org, &filter, limit, order, now).await;
                assert_eq!(ids_of(&listed), expected, "{order:?} limit {limit}: every match once, in order");
            }
        }
        assert_eq!(count(store, &org, filter.clone(), now).await, 22);
        let until = MemoryFilter { until: Some(secs(now, -60)), ..filter.clone() };
        let expected: Vec<String> = sorted(&tagged, Order::Desc)
            .into_iter()
            .filter(|id| tagged.iter().any(|m| &m.id == id && m.time < secs(now, -60)))
            .collect();
        assert_eq!(find(store, &org, until, now).await, expected, "until is exclusive on the tag path too");
    }

    /// `important_only` keeps decisions, error event types and importance >= 0.7;
    /// `exclude_types` leaves types out.
    pub async fn important_and_excluded_types(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let decision = NewMemory { memory_type: Some(MemoryType::Decision), ..mem("imp", "decision", "chose A") };
        let error = mem("imp", ERROR_EVENT_TYPES[0], "it broke");
        let high = NewMemory { importance: Some(HIGH_IMPORTANCE), ..mem("imp", "note", "important note") };
        let low = NewMemory { importance: Some(0.2), ..mem("imp", "note", "routine") };
        let fact = NewMemory {
            memory_type: Some(MemoryType::Semantic),
            importance: Some(0.1),
            ..mem("imp", "fact", "likes tea")
        };
        let stored = add_all(store, &org, vec![decision, error, high, low, fact], now).await;
        let ids = ids_of(&stored);

        let important = MemoryFilter { important_only: true, ..Default::default() };
        let mut got = find(store, &org, important, now).await;
        got.sort();
        let mut want = ids[..3].to_vec();
        want.sort();
        assert_eq!(got, want);

        let hidden =
            MemoryFilter { exclude_types: vec![MemoryType::Semantic, MemoryType::State], ..Default::default() };
        let got = find(store, &org, hidden.clone(), now).await;
        assert_eq!(got.len(), 4);
        assert!(!got.contains(&ids[4]));
        assert_eq!(count(store, &org, hidden, now).await, 4);
    }

    pub async fn count_matches_list(store: &dyn Store) {
        let c = corpus(store).await;
        let f = MemoryFilter::default;
        let filters = [
            f(),
            MemoryFilter { agent: Some(AgentRef::Name("alice".into())), ..f() },
            MemoryFilter { agent: Some(AgentRef::Name("nobody".into())), ..f() },
            MemoryFilter { session_id: Some(c.session.clone()), ..f() },
            MemoryFilter { memory_types: vec![MemoryType::Episodic], ..f() },
            MemoryFilter { event_types: strings(&["note"]), ..f() },
            MemoryFilter { tags_all: strings(&["prod"]), ..f() },
            MemoryFilter { tags_any: strings(&["web", "staging"]), ..f() },
            MemoryFilter { content_contains: Some(Needle::new("done")), ..f() },
            MemoryFilter { min_importance: Some(0.5), ..f() },
            MemoryFilter { since: Some(secs(c.base, 2)), until: Some(secs(c.base, 5)), ..f() },
            MemoryFilter { step_min: Some(2), step_max: Some(8), ..f() },
            MemoryFilter {
                agent: Some(AgentRef::Id(c.alice.clone())),
                tags_any: strings(&["prod", "production"]),
                ..f()
            },
        ];
        let expected = [6, 3, 0, 2, 3, 4, 2, 3, 2, 4, 3, 3, 2];
        for (filter, n) in filters.into_iter().zip(expected) {
            let listed = find(store, &c.org, filter.clone(), c.now).await;
            assert_eq!(listed.len(), n, "list under {filter:?}");
            assert_eq!(count(store, &c.org, filter.clone(), c.now).await, n as u64, "count under {filter:?}");
        }
    }

    // --------------------------------------------------------------------------------------------
    // Updates and deletes.
    // --------------------------------------------------------------------------------------------

    pub async fn update_memory(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let m = add_one(
            store,
            &org,
            NewMemory { tags: strings(&["old1", "old2"]), metadata: obj(json!({"a": 1})), ..mem("u", "note", "upd") },
            now,
        )
        .await;
        let tag_all = |tag: &str| MemoryFilter { tags_all: strings(&[tag]), ..Default::default() };

        // Importance only.
        let t1 = secs(now, 1);
        let u1 = store
            .update_memory(&org, &m.id, MemoryPatch { importance: Some(0.9), ..Default::default() }, t1)
            .await
            .unwrap();
        assert_eq!(u1, Memory { importance: 0.9, ..m.clone() });
        assert_eq!(store.get_memory(&org, &m.id, t1).await.unwrap(), u1);

        // Tags: the tag filter follows.
        let u2 = store
            .update_memory(
                &org,
                &m.id,
                MemoryPatch { tags: Some(strings(&["new1", "new2"])), ..Default::default() },
                t1,
            )
            .await
            .unwrap();
        assert_eq!(u2, Memory { tags: strings(&["new1", "new2"]), ..u1.clone() });
        assert_eq!(find(store, &org, tag_all("new1"), t1).await, vec![m.id.clone()]);
        assert_eq!(
            find(store, &org, MemoryFilter { tags_all: strings(&["new1", "new2"]), ..Default::default() }, t1).await,
            vec![m.id.clone()]
        );
        assert_eq!(find(store, &org, tag_all("old1"), t1).await, Vec::<String>::new());
        assert_eq!(
            find(store, &org, MemoryFilter { tags_any: strings(&["old1", "old2"]), ..Default::default() }, t1).await,
            Vec::<String>::new()
        );
        // Keeping one tag and dropping another.
        let u2b = store
            .update_memory(&org, &m.id, MemoryPatch { tags: Some(strings(&["new2"])), ..Default::default() }, t1)
            .await
            .unwrap();
        assert_eq!(u2b.tags, strings(&["new2"]));
        assert_eq!(find(store, &org, tag_all("new1"), t1).await, Vec::<String>::new());
        assert_eq!(find(store, &org, tag_all("new2"), t1).await, vec![m.id.clone()]);
        // Clearing.
        let u2c = store
            .update_memory(&org, &m.id, MemoryPatch { tags: Some(vec![]), ..Default::default() }, t1)
            .await
            .unwrap();
        assert_eq!(u2c.tags, Vec::<String>::new());
        assert_eq!(find(store, &org, tag_all("new2"), t1).await, Vec::<String>::new());

        // Metadata is replaced, not merged.
        let u3 = store
            .update_memory(&org, &m.id, MemoryPatch { metadata: Some(obj(json!({"b": 2}))), ..Default::default() }, t1)
            .await
            .unwrap();
        assert_eq!(u3.metadata, obj(json!({"b": 2})));

        // Expiry set, then cleared.
        let exp = secs(now, 3600);
        let u4 = store
            .update_memory(&org, &m.id, MemoryPatch { expires_at: Some(Some(exp)), ..Default::default() }, t1)
            .await
            .unwrap();
        assert_eq!(u4.expires_at, Some(exp));
        assert_eq!(store.get_memory(&org, &m.id, t1).await.unwrap().expires_at, Some(exp));
        assert_err!(store.get_memory(&org, &m.id, secs(now, 7200)).await, Error::NotFound { .. });
        let u5 = store
            .update_memory(&org, &m.id, MemoryPatch { expires_at: Some(None), ..Default::default() }, t1)
            .await
            .unwrap();
        assert_eq!(u5.expires_at, None);
        assert_eq!(store.get_memory(&org, &m.id, secs(now, 7200)).await.unwrap(), u5);

        // Everything else is untouched throughout.
        assert_eq!(
            u5,
            Memory { importance: 0.9, tags: vec![], metadata: obj(json!({"b": 2})), expires_at: None, ..m.clone() }
        );
        // An empty patch changes nothing.
        let u6 = store.update_memory(&org, &m.id, MemoryPatch::default(), t1).await.unwrap();
        assert_eq!(u6, u5);

        assert_err!(
            store
                .update_memory(&org, &ids::memory_id(), MemoryPatch { importance: Some(0.1), ..Default::default() }, t1)
                .await,
            Error::NotFound { .. }
        );

        // An expired memory cannot be updated, nor revived by clearing its expiry.
        let e =
            add_one(store, &org, NewMemory { expires_at: Some(secs(now, 10)), ..mem("u", "note", "short") }, now).await;
        let late = secs(now, 20);
        assert_err!(
            store.update_memory(&org, &e.id, MemoryPatch { importance: Some(0.1), ..Default::default() }, late).await,
            Error::NotFound { .. }
        );
        assert_err!(
            store.update_memory(&org, &e.id, MemoryPatch { expires_at: Some(None), ..Default::default() }, late).await,
            Error::NotFound { .. }
        );
        assert_err!(store.get_memory(&org, &e.id, late).await, Error::NotFound { .. });
        assert_eq!(store.get_memory(&org, &e.id, now).await.unwrap(), e, "the failed updates changed nothing");
    }

    pub async fn delete_memory(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let items = vec![
            NewMemory { tags: strings(&["x", "y"]), ..mem("d", "note", "to delete") },
            NewMemory { tags: strings(&["x"]), ..mem("d", "note", "to keep") },
        ];
        let [gone, kept] = <[Memory; 2]>::try_from(add_all(store, &org, items, now).await).unwrap();
        let tag = |t: &str| MemoryFilter { tags_any: strings(&[t]), ..Default::default() };

        store.delete_memory(&org, &gone.id).await.unwrap();
        assert_err!(store.get_memory(&org, &gone.id, now).await, Error::NotFound { .. });
        assert_eq!(find(store, &org, tag("x"), now).await, vec![kept.id.clone()]);
        assert_eq!(find(store, &org, tag("y"), now).await, Vec::<String>::new());
        assert_eq!(
            find(store, &org, MemoryFilter { tags_all: strings(&["x", "y"]), ..Default::default() }, now).await,
            Vec::<String>::new()
        );
        assert_eq!(count(store, &org, MemoryFilter::default(), now).await, 1);
        assert_eq!(store.get_memory(&org, &kept.id, now).await.unwrap(), kept);

        assert_err!(store.delete_memory(&org, &gone.id).await, Error::NotFound { .. });
        assert_err!(store.delete_memory(&org, &ids::memory_id()).await, Error::NotFound { .. });
    }

    pub async fn delete_memories(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let a = new_agent(store, &org, "da", now).await;
        new_agent(store, &org, "db", now).await;
        let s = store.create_session(&org, &AgentRef::Id(a.id.clone()), Metadata::new(), now).await.unwrap();
        let spec: [(&str, bool, MemoryType, &[&str]); 6] = [
            ("da", true, MemoryType::Episodic, &["t1"]),
            ("da", false, MemoryType::Decision, &["t2"]),
            ("da", true, MemoryType::Episodic, &["t3"]),
            ("db", false, MemoryType::Episodic, &["t4"]),
            ("db", false, MemoryType::State, &["t5"]),
            ("da", false, MemoryType::State, &["t6"]),
        ];
        let items = spec
            .iter()
            .enumerate()
            .map(|(i, (agent, in_session, ty, tags))| NewMemory {
                session_id: in_session.then(|| s.id.clone()),
                memory_type: Some(*ty),
                tags: strings(tags),
                time: Some(secs(now, i as i64 + 1)),
                ..mem(agent, "note", &format!("item {}", i + 1))
            })
            .collect();
        let m = ids_of(&add_all(store, &org, items, now).await);
        let o = org.as_str();
        let remaining = || async move {
            let mut ids = find(store, o, MemoryFilter::default(), now).await;
            ids.sort();
            ids
        };
        let expect = |numbers: &[usize]| {
            let mut ids: Vec<String> = numbers.iter().map(|n| m[n - 1].clone()).collect();
            ids.sort();
            ids
        };
        let del = |filter: DeleteFilter| async move { store.delete_memories(o, &filter).await.unwrap() };

        // Unknown agent, unknown session, empty window: nothing (not everything).
        assert_eq!(del(DeleteFilter { agent: Some(AgentRef::Name("nobody".into())), ..Default::default() }).await, 0);
        assert_eq!(del(DeleteFilter { agent: Some(AgentRef::Id(ids::agent_id())), ..Default::default() }).await, 0);
        assert_eq!(del(DeleteFilter { session_id: Some(ids::session_id()), ..Default::default() }).await, 0);
        assert_eq!(
            del(DeleteFilter { since: Some(secs(now, 100)), until: Some(secs(now, 200)), ..Default::default() }).await,
            0
        );
        assert_eq!(remaining().await, expect(&[1, 2, 3, 4, 5, 6]));

        // By session.
        assert_eq!(del(DeleteFilter { session_id: Some(s.id.clone()), ..Default::default() }).await, 2);
        assert_eq!(remaining().await, expect(&[2, 4, 5, 6]));
        // By agent and type.
        assert_eq!(
            del(DeleteFilter {
                agent: Some(AgentRef::Name("db".into())),
                memory_types: vec![MemoryType::State],
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(remaining().await, expect(&[2, 4, 6]));
        // By time window: since inclusive, until exclusive.
        assert_eq!(
            del(DeleteFilter { since: Some(secs(now, 2)), until: Some(secs(now, 4)), ..Default::default() }).await,
            1
        );
        assert_eq!(remaining().await, expect(&[4, 6]));
        // By types alone.
        assert_eq!(del(DeleteFilter { memory_types: vec![MemoryType::Decision], ..Default::default() }).await, 0);
        // By agent id.
        assert_eq!(del(DeleteFilter { agent: Some(AgentRef::Id(a.id.clone())), ..Default::default() }).await, 1);
        assert_eq!(remaining().await, expect(&[4]));

        // Tag rows went with their memories.
        for t in ["t1", "t2", "t3", "t5", "t6"] {
            let filter = MemoryFilter { tags_any: strings(&[t]), ..Default::default() };
            assert_eq!(find(store, &org, filter, now).await, Vec::<String>::new(), "tag {t}");
        }
        let filter = MemoryFilter { tags_any: strings(&["t4"]), ..Default::default() };
        assert_eq!(find(store, &org, filter, now).await, vec![m[3].clone()]);
        // The session and agents themselves stay.
        assert_eq!(store.get_session(&org, &s.id).await.unwrap().id, s.id);
        assert_eq!(store.get_agent(&org, &AgentRef::Id(a.id.clone())).await.unwrap().id, a.id);
    }

    // --------------------------------------------------------------------------------------------
    // Stats.
    // --------------------------------------------------------------------------------------------

    pub async fn agent_stats(store: &dyn Store) {
        let now = time::now();
        let org = new_org(store).await;
        let agent_ref = AgentRef::Name("stat".into());
        let hours = |h: i64| now - Duration::hours(h);

        // Sessions: 3, one closed.
        let s1 = store.create_session(&org, &agent_ref, Metadata::new(), hours(5)).await.unwrap();
        store.create_session(&org, &agent_ref, Metadata::new(), hours(5)).await.unwrap();
        store.create_session(&org, &agent_ref, Metadata::new(), hours(5)).await.unwrap();
        store
            .update_session(
                &org,
                &s1.id,
                SessionPatch { status: Some(SessionStatus::Closed), metadata: None },
                hours(4),
            )
            .await
            .unwrap();
        let agent = store.get_agent(&org, &agent_ref).await.unwrap();

        let spec: [(MemoryType, &str, Timestamp); 9] = [
            (MemoryType::Episodic, "error", hours(1)),
            (MemoryType::Episodic, "test_failure", hours(2)),
            (MemoryType::Decision, "failure", hours(3)),
            (MemoryType::State, "exception", hours(4)),
            (MemoryType::Episodic, "crash", hours(23)),
            (MemoryType::Decision, "note", now - Duration::minutes(30)),
            (MemoryType::Semantic, "warning", hours(1)),
            (MemoryType::Episodic, "error", hours(25)),
            (MemoryType::Action, "note", hours(48)),
        ];
        let add_now = hours(1);
        let mut items: Vec<NewMemory> = spec
            .iter()
            .enumerate()
            .map(|(i, (ty, event, t))| NewMemory {
                memory_type: Some(*ty),
                time: Some(*t),
                ..mem("stat", event, &format!("stat {i}"))
            })
            .collect();
        // Expired by `now`: counted nowhere.
        items.push(NewMemory {
            memory_type: Some(MemoryType::Interaction),
            time: Some(hours(1)),
            expires_at: Some(now - Duration::minutes(1)),
            ..mem("stat", "error", "expired error")
        });
        add_all(store, &org, items, add_now).await;
        // Another agent's memories: not counted.
        add_all(store, &org, vec![mem("bystander", "error", "not mine")], add_now).await;

        let expected = AgentStats {
            agent_id: agent.id.clone(),
            memory_count: 9,
            memories_24h: 7,
            errors_24h: 5,
            session_count: 3,
            active_sessions: 2,
            last_active_at: Some(add_now),
            memory_types: vec![
                (MemoryType::Episodic, 4),
                (MemoryType::Decision, 2),
                (MemoryType::Semantic, 1),
                (MemoryType::State, 1),
                (MemoryType::Action, 1),
            ],
        };
        assert!(ERROR_EVENT_TYPES.iter().all(|e| spec.iter().any(|(_, ev, _)| ev == e)), "every error type used");
        assert_eq!(store.agent_stats(&org, &agent_ref, now).await.unwrap(), expected);
        assert_eq!(store.agent_stats(&org, &AgentRef::Id(agent.id.clone()), now).await.unwrap(), expected);
        // memory_count agrees with count_memories.
        let of_agent = MemoryFilter { agent: Some(agent_ref.clone()), ..Default::default() };
        assert_eq!(count(store, &org, of_agent, now).await, expected.memory_count);

        // An idle agent: zeros.
        let idle = new_agent(store, &org, "idle", now).await;
        assert_eq!(
            store.agent_stats(&org, &AgentRef::Id(idle.id.clone()), now).await.unwrap(),
            AgentStats { agent_id: idle.id.clone(), ..Default::default() }
        );

        assert_err!(store.agent_stats(&org, &AgentRef::Name("nobody".into()), now).await, Error::NotFound { .. });
        assert_err!(store.agent_stats(&org, &AgentRef::Id(ids::agent_id()), now).await, Error::NotFound { .. });
    }

    // --------------------------------------------------------------------------------------------
    // Org isolation.
    // --------------------------------------------------------------------------------------------

    pub async fn org_isolation(store: &dyn Store) {
        let now = time::now();
        let org_a = new_org(store).await;
        let org_b = new_org(store).await;
        let agent = new_agent(store, &org_a, "iso-agent", now).await;
        let agent_id = AgentRef::Id(agent.id.clone());
        let session = store.create_session(&org_a, &agent_id, Metadata::new(), now).await.unwrap();
        let memory = add_one(
            store,
            &org_a,
            NewMemory {
                session_id: Some(session.id.clone()),
                tags: strings(&["iso"]),
                dedup_key: Some("iso-key".into()),
                ..mem(&agent.id, "error", "isolated content")
            },
            now,
        )
        .await;
        let (key_id, secret) = ids::api_key();
        let key = ApiKey {
            id: key_id.clone(),
            org_id: org_a.clone(),
            name: "a-key".into(),
            permissions: vec![Permission::Read],
            created_at: now,
            expires_at: None,
            revoked_at: None,
        };
        store.create_api_key(&key, &ids::key_digest(&secret)).await.unwrap();
        let later = secs(now, 1);
        let b = org_b.as_str();

        // Agents.
        assert_err!(store.get_agent(b, &agent_id).await, Error::NotFound { .. });
        assert_err!(store.get_agent(b, &AgentRef::Name("iso-agent".into())).await, Error::NotFound { .. });
        assert_eq!(store.list_agents(b, 100, None).await.unwrap(), Page { items: vec![], next_cursor: None });
        assert_err!(store.agent_stats(b, &agent_id, later).await, Error::NotFound { .. });
        assert_err!(store.delete_agent(b, &agent_id, true).await, Error::NotFound { .. });
        assert_err!(store.delete_agent(b, &agent_id, false).await, Error::NotFound { .. });

        // Sessions.
        assert_err!(store.get_session(b, &session.id).await, Error::NotFound { .. });
        assert_err!(
            store
                .update_session(
                    b,
                    &session.id,
                    SessionPatch { status: Some(SessionStatus::Closed), metadata: None },
                    later
                )
                .await,
            Error::NotFound { .. }
        );
        assert_err!(store.create_session(b, &agent_id, Metadata::new(), later).await, Error::NotFound { .. });
        assert_eq!(all_sessions(store, b, None, None, 10).await, Vec::<String>::new());
        assert_eq!(all_sessions(store, b, Some(&agent_id), None, 10).await, Vec::<String>::new());

        // Memories: read.
        assert_err!(store.get_memory(b, &memory.id, later).await, Error::NotFound { .. });
        let filters = [
            MemoryFilter::default(),
            MemoryFilter { agent: Some(agent_id.clone()), ..Default::default() },
            MemoryFilter { session_id: Some(session.id.clone()), ..Default::default() },
            MemoryFilter { tags_any: strings(&["iso"]), ..Default::default() },
            MemoryFilter { tags_all: strings(&["iso"]), ..Default::default() },
            MemoryFilter { content_contains: Some(Needle::new("isolated")), ..Default::default() },
        ];
        for filter in &filters {
            assert_eq!(find(store, b, filter.clone(), later).await, Vec::<String>::new(), "{filter:?}");
            assert_eq!(count(store, b, filter.clone(), later).await, 0, "{filter:?}");
        }

        // Memories: write.
        assert_err!(
            store
                .update_memory(b, &memory.id, MemoryPatch { importance: Some(0.1), ..Default::default() }, later)
                .await,
            Error::NotFound { .. }
        );
        assert_err!(store.delete_memory(b, &memory.id).await, Error::NotFound { .. });
        assert_eq!(
            store
                .delete_memories(b, &DeleteFilter { session_id: Some(session.id.clone()), ..Default::default() })
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .delete_memories(b, &DeleteFilter { agent: Some(agent_id.clone()), ..Default::default() })
                .await
                .unwrap(),
            0
        );
        assert_eq!(store.delete_memories(b, &DeleteFilter::default()).await.unwrap(), 0);
        assert_err!(
            add_raw(&*store, b, vec![mem(&agent.id, "note", "by A's agent id")], window(), later).await,
            Error::NotFound { .. }
        );
        assert_err!(
            add_raw(
                &*store,
                b,
                vec![NewMemory { session_id: Some(session.id.clone()), ..mem("iso-agent", "note", "in A's session") }],
                window(),
                later,
            )
            .await,
            Error::NotFound { .. }
        );
        assert_err!(
            add_raw(
                &*store,
                b,
                vec![NewMemory { parent_id: Some(memory.id.clone()), ..mem("iso-agent", "note", "child of A's") }],
                window(),
                later,
            )
            .await,
            Error::NotFound { .. }
        );
        assert_err!(store.get_agent(b, &AgentRef::Name("iso-agent".into())).await, Error::NotFound { .. });

        // API keys.
        assert_eq!(store.list_api_keys(b).await.unwrap(), vec![]);
        assert_err!(store.revoke_api_key(Some(b), &key_id, later).await, Error::NotFound { .. });

        // Org A is intact.
        assert_eq!(store.get_memory(&org_a, &memory.id, later).await.unwrap(), memory);
        let a_session = store.get_session(&org_a, &session.id).await.unwrap();
        assert_eq!(a_session.status, SessionStatus::Active);
        assert_eq!(a_session.closed_at, None);
        assert_eq!(count(store, &org_a, MemoryFilter::default(), later).await, 1);
        assert_eq!(store.get_agent(&org_a, &agent_id).await.unwrap().id, agent.id);
        assert_eq!(store.list_api_keys(&org_a).await.unwrap(), vec![key]);

        // Same name in B is another agent, with its own dedup space.
        let in_b = add_one(
            store,
            b,
            NewMemory { dedup_key: Some("iso-key".into()), ..mem("iso-agent", "error", "isolated content") },
            later,
        )
        .await;
        assert_ne!(in_b.agent_id, agent.id);
        assert_eq!(in_b.org_id, org_b);
        assert_eq!(find(store, &org_a, MemoryFilter::default(), later).await, vec![memory.id.clone()]);
        let stats_a = store.agent_stats(&org_a, &agent_id, later).await.unwrap();
        assert_eq!((stats_a.memory_count, stats_a.session_count), (1, 1));
    }

    // --------------------------------------------------------------------------------------------
    // Concurrency and group commit.
    // --------------------------------------------------------------------------------------------

    pub async fn concurrent_adds(store: Arc<dyn Store>) {
        const TASKS: usize = 16;
        const PER_TASK: usize = 50;
        let now = time::now();
        let org = new_org(store.as_ref()).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (store, org, barrier) = (store.clone(), org.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                // Four agents shared by the tasks, registered on first use by whichever task wins.
                let items: Vec<NewMemory> = (0..PER_TASK)
                    .map(|i| mem(&format!("worker-{}", t % 4), "note", &format!("task {t} memory {i}")))
                    .collect();
                barrier.wait().await;
                add_raw(&*store, &org, items, window(), now).await
            }));
        }
        let mut created = std::collections::HashSet::new();
        for task in tasks {
            let outcomes = task.await.unwrap().unwrap();
            assert_eq!(outcomes.len(), PER_TASK);
            for outcome in outcomes {
                match outcome {
                    AddOutcome::Created(m) => assert!(created.insert(m.id), "id returned twice"),
                    other => panic!("expected Created, got {other:?}"),
                }
            }
        }
        assert_eq!(created.len(), TASKS * PER_TASK);

        // All 800 share one time: pagination goes by id alone.
        let (listed, _) = all_pages(store.as_ref(), &org, &MemoryFilter::default(), 100, Order::Asc, now).await;
        let listed_ids: HashSet<String> = listed.iter().map(|m| m.id.clone()).collect();
        assert_eq!(listed.len(), TASKS * PER_TASK, "exactly 800 listed");
        assert_eq!(listed_ids.len(), TASKS * PER_TASK, "no duplicates");
        assert_eq!(listed_ids, created);
        assert_eq!(count(store.as_ref(), &org, MemoryFilter::default(), now).await, (TASKS * PER_TASK) as u64);

        let agents = store.list_agents(&org, 100, None).await.unwrap();
        let mut names: Vec<String> = agents.items.iter().map(|a| a.name.clone()).collect();
        names.sort();
        assert_eq!(names, strings(&["worker-0", "worker-1", "worker-2", "worker-3"]), "each agent registered once");
        for a in &agents.items {
            let filter = MemoryFilter { agent: Some(AgentRef::Id(a.id.clone())), ..Default::default() };
            assert_eq!(count(store.as_ref(), &org, filter, now).await, 200);
        }
    }

    pub async fn concurrent_same_dedup_key(store: Arc<dyn Store>) {
        const TASKS: usize = 8;
        let now = time::now();
        let org = new_org(store.as_ref()).await;
        let agent = new_agent(store.as_ref(), &org, "racer", now).await;
        for round in 0..3 {
            let key = format!("same-key-{round}");
            let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
            let mut tasks = Vec::new();
            for t in 0..TASKS {
                let (store, org, barrier) = (store.clone(), org.clone(), barrier.clone());
                let item = NewMemory {
                    dedup_key: Some(key.clone()),
                    ..mem(&agent.id, "note", &format!("round {round} attempt {t}"))
                };
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    add_raw(&*store, &org, vec![item], window(), now).await
                }));
            }
            let mut outcomes = Vec::new();
            for task in tasks {
                let mut batch = task.await.unwrap().unwrap();
                assert_eq!(batch.len(), 1);
                outcomes.push(batch.pop().unwrap());
            }
            let created: Vec<&Memory> = outcomes
                .iter()
                .filter_map(|o| match o {
                    AddOutcome::Created(m) => Some(m),
                    AddOutcome::Duplicate { .. } => None,
                })
                .collect();
            assert_eq!(created.len(), 1, "round {round}: exactly one Created: {outcomes:?}");
            let winner = created[0].id.clone();
            for o in &outcomes {
                if let AddOutcome::Duplicate { existing_id } = o {
                    assert_eq!(existing_id, &winner, "round {round}: duplicates point at the winner");
                }
            }
            assert_eq!(store.get_memory(&org, &winner, now).await.unwrap().dedup_key, key);
        }
        let of_agent = MemoryFilter { agent: Some(AgentRef::Id(agent.id.clone())), ..Default::default() };
        assert_eq!(count(store.as_ref(), &org, of_agent, now).await, 3);
    }

    pub async fn failing_write_in_group(store: Arc<dyn Store>) {
        const ROUNDS: usize = 5;
        const GOOD: usize = 6;
        const PER_GOOD: usize = 5;
        let now = time::now();
        let org = new_org(store.as_ref()).await;
        let good = new_agent(store.as_ref(), &org, "good", now).await;
        let other = new_agent(store.as_ref(), &org, "other", now).await;
        let s_other = store.create_session(&org, &AgentRef::Id(other.id.clone()), Metadata::new(), now).await.unwrap();

        let mut created = Vec::new();
        for round in 0..ROUNDS {
            let barrier = Arc::new(tokio::sync::Barrier::new(GOOD + 2));
            let spawn = |items: Vec<NewMemory>| {
                let (store, org, barrier) = (store.clone(), org.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    add_raw(&*store, &org, items, window(), now).await
                })
            };
            // Fails: missing session (after a valid item and a new agent).
            let missing = spawn(vec![
                mem(&format!("doomed-agent-{round}"), "note", &format!("doomed {round} a")),
                NewMemory {
                    session_id: Some(ids::session_id()),
                    ..mem(&good.id, "note", &format!("doomed {round} b"))
                },
            ]);
            // Fails: another agent's session.
            let foreign = spawn(vec![
                mem(&good.id, "note", &format!("doomed {round} c")),
                NewMemory {
                    session_id: Some(s_other.id.clone()),
                    ..mem(&good.id, "note", &format!("doomed {round} d"))
                },
            ]);
            let valid: Vec<_> = (0..GOOD)
                .map(|t| {
                    spawn(
                        (0..PER_GOOD)
                            .map(|i| mem(&good.id, "note", &format!("round {round} task {t} item {i}")))
                            .collect(),
                    )
                })
                .collect();
            assert_err!(missing.await.unwrap(), Error::NotFound { .. });
            assert_err!(
                foreign.await.unwrap(),
                Error::InvalidItem { index: 1, ref field, .. } if field == "session_id"
            );
            for task in valid {
                let outcomes = task.await.unwrap().unwrap();
                assert_eq!(outcomes.len(), PER_GOOD);
                for o in outcomes {
                    match o {
                        AddOutcome::Created(m) => created.push(m),
                        other => panic!("expected Created, got {other:?}"),
                    }
                }
            }
        }
        assert_eq!(created.len(), ROUNDS * GOOD * PER_GOOD);
        for m in &created {
            assert_eq!(&store.get_memory(&org, &m.id, now).await.unwrap(), m);
        }
        let of_good = MemoryFilter { agent: Some(AgentRef::Id(good.id.clone())), ..Default::default() };
        assert_eq!(count(store.as_ref(), &org, of_good, now).await, (ROUNDS * GOOD * PER_GOOD) as u64);
        let doomed = MemoryFilter { content_contains: Some(Needle::new("doomed")), ..Default::default() };
        assert_eq!(count(store.as_ref(), &org, doomed, now).await, 0, "failed batches stored nothing");
        for round in 0..ROUNDS {
            assert_err!(
                store.get_agent(&org, &AgentRef::Name(format!("doomed-agent-{round}"))).await,
                Error::NotFound { .. }
            );
        }
    }
}
