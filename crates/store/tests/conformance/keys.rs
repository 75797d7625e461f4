//! Conformance: API keys (`KeyStore`).

use crate::support::*;

conformance_suite!(by_ref: [api_keys]);

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
