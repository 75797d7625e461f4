//! Conformance: Orgs (`OrgStore`).

use crate::support::*;

conformance_suite!(by_ref: [orgs]);

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
