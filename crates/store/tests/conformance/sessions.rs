//! Conformance: Sessions (`SessionStore`).

use crate::support::*;

conformance_suite!(by_ref: [sessions_create_and_get, sessions_list, sessions_update]);

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
    let s2 = store.create_session(&org, &AgentRef::Id(agent.id.clone()), Metadata::new(), secs(now, 1)).await.unwrap();
    assert_eq!(s2.agent_id, agent.id);
    let s3 = store.create_session(&org, &AgentRef::Name("auto".into()), Metadata::new(), secs(now, 2)).await.unwrap();
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
    assert_eq!(all_sessions(store, &org, Some(&AgentRef::Name("nobody".into())), None, 5).await, Vec::<String>::new());
    assert_eq!(all_sessions(store, &org, Some(&AgentRef::Id(ids::agent_id())), None, 5).await, Vec::<String>::new());
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
