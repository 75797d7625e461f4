//! Conformance: Reading memories (`MemoryStore` lists and counts): filters, order, pages, expiry.

use crate::support::*;

conformance_suite!(by_ref: [list_filters_basic, list_filters_tags, list_filters_content_contains, content_contains_word_prefixes, expired_memories_hidden, list_order_by_time_then_id, pagination, pagination_by_tag, important_and_excluded_types, count_matches_list, scopes_keep_end_users_apart, attributes_match_metadata_values, near_admits_within_the_radius, nearest_order_pages_by_distance, step_orders_page_by_step]);

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
    check(MemoryFilter { memory_types: vec![MemoryType::Decision, MemoryType::Entity], ..f() }, c.pick(&[2, 4])).await;
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
    check(MemoryFilter { until: Some(secs(base, 4) + Duration::microseconds(1)), ..f() }, c.pick(&[1, 2, 3, 4])).await;

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
    check(MemoryFilter { session_id: Some(c.session.clone()), until: Some(secs(base, 5)), ..f() }, c.pick(&[1])).await;
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

/// A needle of several words also matches those words consecutively, each as a word prefix (the
/// product docs' "Restart Redis" finds "Restarted Redis"); one word stays a plain substring.
pub async fn content_contains_word_prefixes(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let texts = [
        "Restarted Redis on prod-web-01",
        "Restart the Redistribution job",
        "unrestarted redis replica",
        "RESTARTING   REDIS-SENTINEL after failover",
        "Über die Grenze: grenzenlos",
        "see https://example.com/a?b=1 for details",
        "restart redis",
    ];
    let all = add_all(store, &org, texts.iter().map(|t| mem("ops", "note", t)).collect(), now).await;
    let id = |i: usize| all[i].id.clone();
    let check = |needle: &str, expected: Vec<String>| {
        let (org, needle) = (org.clone(), needle.to_owned());
        async move {
            let filter = MemoryFilter { content_contains: Some(Needle::new(&needle)), ..Default::default() };
            let mut found = find(store, &org, filter.clone(), now).await;
            found.sort();
            let mut expected = expected;
            expected.sort();
            assert_eq!(found, expected, "content_contains {needle:?}");
            assert_eq!(count(store, &org, filter, now).await, expected.len() as u64, "count of {needle:?}");
        }
    };
    check("Restart Redis", vec![id(0), id(3), id(6)]).await;
    check("restarted redis on", vec![id(0)]).await;
    check("Restart  redis  sentinel", vec![]).await;
    check("restart redis-sent", vec![id(3)]).await;
    check("rest red", vec![id(0), id(3), id(6)]).await;
    check("start redis", vec![id(6)]).await; // a plain substring of "restart redis" only; not at a word start elsewhere
    check("Restart Redistribution", vec![]).await;
    check("restart the redis", vec![id(1)]).await;
    check("über grenze", vec![]).await;
    check("ÜBER   DIE GREN", vec![id(4)]).await;
    check("grenze: grenzen", vec![id(4)]).await;
    check("die grenz", vec![id(4)]).await;
    check("redis", vec![id(0), id(1), id(2), id(3), id(6)]).await;
    check("example.com/a?b=1", vec![id(5)]).await;
    check("example.com a", vec![]).await;
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
    let b =
        add_one(store, &org, NewMemory { time: Some(secs(now, -3600)), ..mem("o", "note", "b") }, secs(now, 1)).await;
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
    let item =
        |i: i64| NewMemory { time: Some(secs(now, -(i % 7) * 60)), ..mem("pager", "note", &format!("page item {i}")) };
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
        assert_eq!((whole.has_more, whole.next_cursor), (false, None));
        assert_eq!(ids_of(&whole.memories), expected);
        let short = store.list_memories(&org, &query(filter.clone(), 24, order), now).await.unwrap();
        assert!(short.has_more);
        assert_eq!(ids_of(&short.memories), expected[..24].to_vec());

        // Offset skips rows after the cursor.
        let first = store.list_memories(&org, &query(filter.clone(), 7, order), now).await.unwrap();
        let q = MemoryQuery { cursor: first.next_cursor, offset: 3, ..query(filter.clone(), 7, order) };
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
    let old = NewMemory { time: Some(secs(now, -7200)), tags: strings(&["hot", "x"]), ..mem("tagger", "note", "old") };
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
    let fact =
        NewMemory { memory_type: Some(MemoryType::Semantic), importance: Some(0.1), ..mem("imp", "fact", "likes tea") };
    let stored = add_all(store, &org, vec![decision, error, high, low, fact], now).await;
    let ids = ids_of(&stored);

    let important = MemoryFilter { important_only: true, ..Default::default() };
    let mut got = find(store, &org, important, now).await;
    got.sort();
    let mut want = ids[..3].to_vec();
    want.sort();
    assert_eq!(got, want);

    let hidden = MemoryFilter { exclude_types: vec![MemoryType::Semantic, MemoryType::State], ..Default::default() };
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
        MemoryFilter { agent: Some(AgentRef::Id(c.alice.clone())), tags_any: strings(&["prod", "production"]), ..f() },
    ];
    let expected = [6, 3, 0, 2, 3, 4, 2, 3, 2, 4, 3, 3, 2];
    for (filter, n) in filters.into_iter().zip(expected) {
        let listed = find(store, &c.org, filter.clone(), c.now).await;
        assert_eq!(listed.len(), n, "list under {filter:?}");
        assert_eq!(count(store, &c.org, filter.clone(), c.now).await, n as u64, "count under {filter:?}");
    }
}

/// `scope` (the end user a memory is about): stored, filterable on listing, counting and deletes,
/// never matching another scope or memories without one.
pub async fn scopes_keep_end_users_apart(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let scoped = |content: &str, scope: Option<&str>| NewMemory {
        scope: scope.map(str::to_owned),
        ..mem("bot", "message", content)
    };
    let items = vec![
        scoped("alice likes tea", Some("alice")),
        scoped("bob likes coffee", Some("bob")),
        scoped("alice lives in Oslo", Some("alice")),
        scoped("no one in particular", None),
    ];
    let created = add_all(store, &org, items, now).await;
    assert_eq!(created[0].scope.as_deref(), Some("alice"));
    assert_eq!(created[3].scope, None);
    let of = |scope: &str| MemoryFilter { scope: Some(scope.into()), ..Default::default() };
    let mut alice = find(store, &org, of("alice"), now).await;
    alice.sort();
    let mut want = vec![created[0].id.clone(), created[2].id.clone()];
    want.sort();
    assert_eq!(alice, want);
    assert_eq!(count(store, &org, of("bob"), now).await, 1);
    assert_eq!(count(store, &org, of("carol"), now).await, 0);
    let with_agent = MemoryFilter { agent: Some(AgentRef::Name("bot".into())), ..of("alice") };
    assert_eq!(count(store, &org, with_agent, now).await, 2);
    assert_eq!(count(store, &org, MemoryFilter::default(), now).await, 4, "no scope filter: every scope and none");
}

/// `attributes`: equality on top-level metadata keys, all at once; each JSON type apart, numbers
/// by value; indexed keys (action_type, outcome) and others alike.
pub async fn attributes_match_metadata_values(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let with = |content: &str, metadata: Value| NewMemory {
        memory_type: Some(MemoryType::Action),
        metadata: obj(metadata),
        ..mem("agent-123", "action", content)
    };
    let items = vec![
        with("trade ok", json!({"action_type": "trade", "outcome": "success", "price": 5, "urgent": true})),
        with("trade failed", json!({"action_type": "trade", "outcome": "failure", "price": 5.0})),
        with("move", json!({"action_type": "move", "outcome": "success", "price": "5"})),
        with("plain", json!({})),
    ];
    let created = add_all(store, &org, items, now).await;
    let org = org.as_str();
    let found = |attributes: Vec<(&str, Value)>| {
        let filter = MemoryFilter {
            attributes: attributes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ..Default::default()
        };
        async move {
            let mut ids = find(store, org, filter, now).await;
            ids.sort();
            ids
        }
    };
    let ids = |indexes: &[usize]| {
        let mut ids: Vec<String> = indexes.iter().map(|i| created[*i].id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(found(vec![("action_type", json!("trade"))]).await, ids(&[0, 1]));
    assert_eq!(found(vec![("action_type", json!("trade")), ("outcome", json!("success"))]).await, ids(&[0]));
    assert_eq!(found(vec![("price", json!(5))]).await, ids(&[0, 1]), "5 and 5.0 are one number");
    assert_eq!(found(vec![("price", json!("5"))]).await, ids(&[2]), "the string \"5\" is not the number");
    assert_eq!(found(vec![("urgent", json!(true))]).await, ids(&[0]));
    assert_eq!(found(vec![("urgent", json!(false))]).await, ids(&[]));
    assert_eq!(found(vec![("missing", json!("x"))]).await, ids(&[]));
    let filter = MemoryFilter { attributes: vec![("outcome".into(), json!("success"))], ..Default::default() };
    assert_eq!(count(store, org, filter, now).await, 2);
}

/// `near`: within the radius (inclusive, Euclidean), 2-D without z, 3-D with it (memories without
/// z then excluded); memories without a position never match.
pub async fn near_admits_within_the_radius(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let at = |content: &str, position: Option<Position>| NewMemory { position, ..mem("scout", "seen", content) };
    let items = vec![
        at("on the spot", Some(Position { x: 10.0, y: 20.0, z: None })),
        at("three-four-five away", Some(Position { x: 13.0, y: 24.0, z: None })),
        at("just outside", Some(Position { x: 13.0, y: 24.1, z: None })),
        at("in the box, not the circle", Some(Position { x: 14.0, y: 24.0, z: None })),
        at("up high", Some(Position { x: 10.0, y: 20.0, z: Some(4.0) })),
        at("nowhere", None),
    ];
    let created = add_all(store, &org, items, now).await;
    let org = org.as_str();
    let within = |near: Near| async move {
        let mut ids = find(store, org, MemoryFilter { near: Some(near), ..Default::default() }, now).await;
        ids.sort();
        ids
    };
    let ids = |indexes: &[usize]| {
        let mut ids: Vec<String> = indexes.iter().map(|i| created[*i].id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(within(Near { x: 10.0, y: 20.0, z: None, radius: 5.0 }).await, ids(&[0, 1, 4]));
    assert_eq!(within(Near { x: 10.0, y: 20.0, z: Some(0.0), radius: 5.0 }).await, ids(&[4]));
    assert_eq!(within(Near { x: 10.0, y: 20.0, z: Some(0.0), radius: 3.9 }).await, ids(&[]));
    let filter = MemoryFilter { near: Some(Near { x: 0.0, y: 0.0, z: None, radius: 1.0 }), ..Default::default() };
    assert_eq!(count(store, org, filter, now).await, 0);
}

/// Nearest first: by distance from the `near` point, then by creation (ties), paged by the
/// distance's own cursor; odd coordinates, so the cursor must carry the exact distance.
pub async fn nearest_order_pages_by_distance(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let points = [(0.3, 0.1), (-0.7, 2.9), (1.1, -0.2), (0.3, 0.1), (5.0, 5.0), (-0.1, 0.3), (2.2, 2.2), (0.1, -0.3)];
    let items: Vec<NewMemory> = points
        .iter()
        .enumerate()
        .map(|(i, (x, y))| NewMemory {
            position: Some(Position { x: *x, y: *y, z: None }),
            time: Some(secs(now, i as i64)),
            ..mem("scout", "seen", &format!("point {i}"))
        })
        .collect();
    let created = add_all(store, &org, items, now).await;
    let near = Near { x: 0.05, y: 0.05, z: None, radius: 4.0 };
    let distance = |i: usize| (points[i].0 - near.x).powi(2) + (points[i].1 - near.y).powi(2);
    let mut expected: Vec<usize> = (0..points.len()).filter(|i| distance(*i) <= 16.0).collect();
    expected.sort_by(|a, b| distance(*a).total_cmp(&distance(*b)).then(a.cmp(b)));
    let want: Vec<String> = expected.iter().map(|i| created[*i].id.clone()).collect();
    for limit in [1, 2, 3, 10] {
        let filter = MemoryFilter { near: Some(near), ..Default::default() };
        let mut query = query(filter, limit, Order::Nearest);
        let mut got = Vec::new();
        loop {
            let page = store.list_memories(&org, &query, now).await.unwrap();
            got.extend(ids_of(&page.memories));
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(got, want, "limit {limit}");
    }
}

/// The step orders: only memories with a step, by step then creation, paged by their own cursor
/// across ties; the step range applies.
pub async fn step_orders_page_by_step(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    // Times run against steps, so a time order would list them the other way round.
    let steps = [5, 3, 3, 9, 1, 7];
    let items: Vec<NewMemory> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| NewMemory {
            step: Some(*step),
            time: Some(secs(now, -(i as i64))),
            ..mem("sim", "state", &format!("step {step} #{i}"))
        })
        .chain(std::iter::once(mem("sim", "note", "no step")))
        .collect();
    add_all(store, &org, items, now).await;
    let contents = |page: &MemoryPage| page.memories.iter().map(|m| m.content.clone()).collect::<Vec<_>>();
    let mut query = query(MemoryFilter::default(), 4, Order::StepAsc);
    let first = store.list_memories(&org, &query, now).await.unwrap();
    assert_eq!(contents(&first), ["step 1 #4", "step 3 #1", "step 3 #2", "step 5 #0"]);
    query.cursor = first.next_cursor;
    let second = store.list_memories(&org, &query, now).await.unwrap();
    assert_eq!(contents(&second), ["step 7 #5", "step 9 #3"]);
    assert!(second.next_cursor.is_none());
    let mut desc =
        self::query(MemoryFilter { step_min: Some(3), step_max: Some(7), ..Default::default() }, 2, Order::StepDesc);
    let page = store.list_memories(&org, &desc, now).await.unwrap();
    assert_eq!(contents(&page), ["step 7 #5", "step 5 #0"]);
    desc.cursor = page.next_cursor;
    assert_eq!(contents(&store.list_memories(&org, &desc, now).await.unwrap()), ["step 3 #2", "step 3 #1"]);
}
