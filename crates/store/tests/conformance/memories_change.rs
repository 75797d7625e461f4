//! Conformance: Changing memories (`MemoryStore`): updates and deletes.

use crate::support::*;

conformance_suite!(by_ref: [update_memory, delete_memory, delete_memories]);

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
        .update_memory(&org, &m.id, MemoryPatch { tags: Some(strings(&["new1", "new2"])), ..Default::default() }, t1)
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
    let u2c =
        store.update_memory(&org, &m.id, MemoryPatch { tags: Some(vec![]), ..Default::default() }, t1).await.unwrap();
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
    let e = add_one(store, &org, NewMemory { expires_at: Some(secs(now, 10)), ..mem("u", "note", "short") }, now).await;
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
