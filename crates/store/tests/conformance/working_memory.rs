//! Conformance: working memory (`WorkingMemoryStore`).

use crate::support::*;

conformance_suite!(by_ref: [versions_guard_every_write], shared: [racing_writers_one_wins]);

async fn new_session(store: &dyn Store, org: &str) -> String {
    store.create_session(org, &AgentRef::Name("bot".into()), Metadata::new(), time::now()).await.unwrap().id
}

pub async fn versions_guard_every_write(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    let session = new_session(store, &org).await;
    let empty = store.get_working_memory(&org, &session).await.unwrap();
    assert_eq!((empty.version, empty.document.len(), empty.updated_at), (0, 0, None));

    let doc = obj(json!({"task": "book a flight", "subgoals": ["dates", "price"]}));
    let first = store.put_working_memory(&org, &session, 0, Some(doc.clone()), now).await.unwrap();
    assert_eq!((first.version, &first.document, first.updated_at), (1, &doc, Some(now)));
    // A stale write fails and changes nothing.
    assert_err!(store.put_working_memory(&org, &session, 0, Some(Metadata::new()), now).await, Error::Aborted(_));
    assert_eq!(store.get_working_memory(&org, &session).await.unwrap().document, doc);
    // Cleared: an empty document at the next version.
    let cleared = store.put_working_memory(&org, &session, 1, None, now).await.unwrap();
    assert_eq!((cleared.version, cleared.document.len()), (2, 0));
    assert_eq!(store.get_working_memory(&org, &session).await.unwrap().version, 2);

    // Unknown sessions and other orgs' sessions are not found.
    assert_err!(store.get_working_memory(&org, "sess_unknown").await, Error::NotFound { .. });
    assert_err!(store.get_working_memory(&other, &session).await, Error::NotFound { .. });
    assert_err!(store.put_working_memory(&other, &session, 2, None, now).await, Error::NotFound { .. });
    // Kept when the session closes.
    let closing = SessionPatch { status: Some(SessionStatus::Closed), ..Default::default() };
    store.update_session(&org, &session, closing, now).await.unwrap();
    assert_eq!(store.get_working_memory(&org, &session).await.unwrap().version, 2);
}

pub async fn racing_writers_one_wins(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let session = new_session(store.as_ref(), &org).await;
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let (store, org, session) = (store.clone(), org.clone(), session.clone());
            tokio::spawn(async move {
                store.put_working_memory(&org, &session, 0, Some(obj(json!({"writer": i}))), time::now()).await
            })
        })
        .collect();
    let mut won = Vec::new();
    for writer in writers {
        match writer.await.unwrap() {
            Ok(wm) => won.push(wm),
            Err(Error::Aborted(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one writer of version 0 wins");
    let stored = store.get_working_memory(&org, &session).await.unwrap();
    assert_eq!((stored.version, &stored.document), (1, &won[0].document));
}
