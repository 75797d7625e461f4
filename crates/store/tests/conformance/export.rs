//! Conformance: export and import (`ExportStore`, `ImportStore`). An org's rows go out as
//! records and into a fresh SQLite store (from the PostgreSQL fixture: across backends) and back
//! into the same store: what comes out of the copy equals what went in, its stats equal the
//! original's, importing again creates nothing, and a bad record names its index and field.

use engram_core::conversation::{ConversationRef, Role, Summary, ToolCall, ValidMessage};
use engram_core::lifecycle::Tier;
use engram_core::quota::SubjectLimits;
use engram_store::records::*;
use engram_store::testsuite::TestStore;
use engram_store::{LifecycleBatch, MessageQuery};

use crate::support::*;

conformance_suite!(by_ref: [
    an_org_round_trips_record_for_record,
    importing_twice_creates_nothing,
    a_bad_record_names_its_index_and_field,
    a_taken_key_keeps_the_id_as_a_legacy_id,
    export_pages_resume_after_any_position,
]);

fn message(role: Role, content: &str, tokens: u32, at: Timestamp) -> ValidMessage {
    ValidMessage {
        role,
        content: content.into(),
        name: None,
        tool_calls: Vec::new(),
        tool_call_id: None,
        time: at,
        metadata: Metadata::new(),
        client_id: None,
        tokens,
    }
}

/// Every record of `org`, read `page` at a time.
async fn export_org(store: &dyn Store, org: &str, page: u32) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, record) in store.export_orgs(Some(org)).await.unwrap() {
        out.push(Record::Org(record));
    }
    for kind in ExportKind::ALL.into_iter().skip(1) {
        let mut after = ExportAfter::Start;
        loop {
            let records = store.export_page(org, kind, &after, page).await.unwrap();
            assert!(records.len() <= page as usize);
            let done = records.len() < page as usize;
            for (position, record) in records {
                assert_eq!(record.kind(), kind);
                assert!(position > after, "{kind:?}: positions grow: {position:?} after {after:?}");
                after = position;
                out.push(record);
            }
            if done {
                break;
            }
        }
    }
    out
}

/// An org with a row of every kind, and what `fill` wrote that the checks look up.
struct Filled {
    org: String,
    base: Timestamp,
    memories: Vec<Memory>,
    key_secret_digest: Vec<u8>,
    key_id: String,
}

async fn fill(store: &dyn Store) -> Filled {
    let base = time::now() - Duration::hours(2);
    let org = new_org(store).await;
    let config = obj(json!({"lifecycle": {"cold_after": "14d"}, "team": "ops"}));
    let planner = store
        .register_agent(&org, NewAgent { name: "planner".into(), description: "plans".into(), config }, base)
        .await
        .unwrap();
    let session =
        store.create_session(&org, &AgentRef::Id(planner.id.clone()), obj(json!({"task": "t-1"})), base).await.unwrap();
    let closed = store.create_session(&org, &AgentRef::Name("coder".into()), Metadata::new(), base).await.unwrap();
    let closing = SessionPatch { status: Some(SessionStatus::Closed), ..Default::default() };
    store.update_session(&org, &closed.id, closing, secs(base, 5)).await.unwrap();

    let mut first = NewMemory {
        session_id: Some(session.id.clone()),
        memory_type: Some(MemoryType::Decision),
        tags: strings(&["auth", "file:auth.go"]),
        metadata: obj(json!({"outcome": "ok", "n": 1.25, "nested": {"a": [1, 2]}})),
        importance: Some(0.8),
        step: Some(7),
        position: Some(Position { x: 1.5, y: -2.0, z: Some(0.25) }),
        scope: Some("alice".into()),
        embedding: vec![0.5, -0.25, 0.125],
        ..mem(&planner.id, "decision", "chose JWT tokens for the auth service")
    };
    first.dedup_key = Some("client-key-1".into());
    let mut memories = add_all(store, &org, vec![first], base).await;
    let parent = memories[0].id.clone();
    let later = vec![
        NewMemory {
            parent_id: Some(parent),
            expires_at: Some(secs(base, 60)),
            tags: strings(&["auth"]),
            embedding: vec![0.0, 1.0, 0.0],
            ..mem("coder", "error", "the login test failed once")
        },
        NewMemory { tags: strings(&["db"]), ..mem("coder", "note", "moved the sessions table to its own schema") },
        mem("coder", "note", "a routine build went green"),
        NewMemory {
            importance: Some(0.123_456_789_012_345_67),
            ..mem(&planner.id, "note", "ünïcödé\ttab\nnewline \\ \"q\"")
        },
    ];
    memories.extend(add_all(store, &org, later, secs(base, 10)).await);
    // Reads counted, a memory made cold and one warm (keys from the feed).
    store.record_accesses(&org, vec![(memories[2].id.clone(), 3)], secs(base, 20)).await.unwrap();
    let changes = store.feed_changes(&org, 0, 100).await.unwrap();
    let key_of = |id: &str| changes.iter().find(|c| c.memory.id == id).unwrap().key;
    let moves = vec![(key_of(&memories[3].id), Tier::Cold), (key_of(&memories[2].id), Tier::Warm)];
    let moved = store.apply_lifecycle(&org, LifecycleBatch { moves, ..Default::default() }).await.unwrap();
    assert_eq!(moved.moved, 2);

    let chat =
        ConversationRef { agent: AgentRef::Name("planner".into()), scope: "alice".into(), conversation: "c-1".into() };
    let mut user = message(Role::User, "hello", 2, secs(base, 30));
    user.client_id = Some("m-1".into());
    user.metadata = obj(json!({"lang": "en"}));
    let mut assistant = message(Role::Assistant, "", 5, secs(base, 31));
    assistant.tool_calls = vec![ToolCall { id: "call_1".into(), name: "lookup".into(), arguments: "{\"q\":1}".into() }];
    let system = message(Role::System, "be brief", 3, secs(base, 29));
    store.append_messages(&org, &chat, vec![system, user, assistant], secs(base, 31)).await.unwrap();
    let summary = Summary { text: "said hello".into(), through_seq: 2, tokens: 3, updated_at: secs(base, 40) };
    store.set_summary(&org, &chat, Some(summary), secs(base, 40)).await.unwrap();
    store.put_working_memory(&org, &session.id, 0, Some(obj(json!({"goal": "ship"}))), secs(base, 50)).await.unwrap();
    store
        .put_working_memory(&org, &session.id, 1, Some(obj(json!({"goal": "ship", "step": 2}))), secs(base, 51))
        .await
        .unwrap();

    let (key_id, secret) = ids::api_key();
    let digest = ids::key_digest(&secret);
    let key = ApiKey {
        id: key_id.clone(),
        org_id: org.clone(),
        name: "ci".into(),
        permissions: vec![Permission::Read, Permission::Write],
        created_at: base,
        expires_at: Some(secs(base, 86_400 * 30)),
        revoked_at: None,
    };
    store.create_api_key(&key, &digest).await.unwrap();
    let (revoked_id, _) = ids::api_key();
    let revoked = ApiKey { id: revoked_id.clone(), name: "old".into(), expires_at: None, ..key.clone() };
    store.create_api_key(&revoked, &ids::key_digest("x")).await.unwrap();
    store.revoke_api_key(Some(&org), &revoked_id, secs(base, 60)).await.unwrap();
    // Limits of the org and of one of its keys.
    let org_limits = SubjectLimits {
        rate_per_sec: Some(50.0),
        max_memories: Some(1000),
        max_memory_bytes: Some(1 << 20),
        ..Default::default()
    };
    store.set_limits(&org, &org_limits, secs(base, 70)).await.unwrap();
    let key_limits = SubjectLimits { rate_per_sec: Some(2.5), burst: Some(5), ..Default::default() };
    store.set_limits(&key_id, &key_limits, secs(base, 71)).await.unwrap();
    Filled { org, base, memories, key_secret_digest: digest, key_id }
}

pub async fn an_org_round_trips_record_for_record(store: &dyn Store) {
    let filled = fill(store).await;
    let org = &filled.org;
    let records = export_org(store, org, 2).await;
    let kinds: Vec<ExportKind> = records.iter().map(Record::kind).collect();
    assert!(kinds.windows(2).all(|w| w[0] <= w[1]), "kinds in export order: {kinds:?}");
    let count = |kind| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(
        ExportKind::ALL.map(count),
        [1, 2, 2, 5, 1, 3, 1, 2, 2],
        "org, agents, sessions, memories, conversations, messages, working memory, keys, limits"
    );
    // The cold memory's content comes decompressed, vectors as stored.
    let memory =
        |i: usize| match records.iter().find(|r| matches!(r, Record::Memory(m) if m.id == filled.memories[i].id)) {
            Some(Record::Memory(m)) => m.clone(),
            _ => panic!("memory {i} not exported"),
        };
    assert_eq!((memory(3).tier.as_str(), memory(3).content.as_str()), ("cold", "a routine build went green"));
    assert_eq!(memory(0).dedup_key.as_deref(), Some("client-key-1"));
    assert_eq!(memory(0).vector.as_ref().map(|v| v.codec), Some(0));
    assert_eq!(memory(1).expires_at, Some(to_micros(secs(filled.base, 60))));

    // Into a fresh SQLite store (another backend than the PostgreSQL fixture's).
    let copy = TestStore::sqlite().await;
    let target = copy.store.as_ref();
    let imported = target.import_records(records.clone()).await.unwrap();
    assert!(imported.iter().all(|i| *i == Imported::Created), "{imported:?}");
    assert_eq!(export_org(target, org, 1000).await, records, "what comes out of the copy is what went in");

    // What the API reads is the same: memories by id (ids kept), stats at a time past the expiry.
    let later = secs(filled.base, 3600);
    for m in &filled.memories {
        let (a, b) = (store.get_memory(org, &m.id, later).await, target.get_memory(org, &m.id, later).await);
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(Error::NotFound { .. }), Err(Error::NotFound { .. })) => assert_eq!(m.id, filled.memories[1].id),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(target.memory_statistics(org, later).await.unwrap(), store.memory_statistics(org, later).await.unwrap());
    for agent in ["planner", "coder"] {
        let agent = AgentRef::Name(agent.into());
        assert_eq!(
            target.agent_stats(org, &agent, later).await.unwrap(),
            store.agent_stats(org, &agent, later).await.unwrap()
        );
    }
    assert_eq!(target.tier_statistics(org).await.unwrap().tiers, store.tier_statistics(org).await.unwrap().tiers);
    let tagged = MemoryFilter { tags_all: strings(&["auth"]), ..Default::default() };
    assert_eq!(find(target, org, tagged.clone(), later).await, find(store, org, tagged, later).await);
    let chat =
        ConversationRef { agent: AgentRef::Name("planner".into()), scope: "alice".into(), conversation: "c-1".into() };
    let all = MessageQuery { limit: 100, ..Default::default() };
    assert_eq!(
        target.list_messages(org, &chat, &all).await.unwrap(),
        store.list_messages(org, &chat, &all).await.unwrap()
    );
    assert_eq!(
        target.conversation_head(org, &chat).await.unwrap().unwrap().conversation,
        store.conversation_head(org, &chat).await.unwrap().unwrap().conversation
    );
    let (key, digest) = target.find_api_key(&filled.key_id).await.unwrap().unwrap();
    assert_eq!((key.org_id.as_str(), digest), (org.as_str(), filled.key_secret_digest.clone()));
    let subjects = [org.clone(), filled.key_id.clone()];
    assert_eq!(target.limits(&subjects).await.unwrap().len(), 2);
    assert_eq!(sorted(target.limits(&subjects).await.unwrap()), sorted(store.limits(&subjects).await.unwrap()));
    assert_eq!(target.org_usage(org).await.unwrap(), store.org_usage(org).await.unwrap(), "counters rebuilt");

    // The change feed has every memory, each at its own sequence number, with its vector.
    let feed = target.feed_changes(org, 0, 100).await.unwrap();
    assert_eq!(feed.len(), 5);
    assert!(feed.windows(2).all(|w| w[0].seq < w[1].seq));
    let head = target.feed_heads().await.unwrap().into_iter().find(|h| &h.org_id == org).unwrap();
    assert_eq!(head.last_seq, feed.last().unwrap().seq);
    assert_eq!(
        feed.iter().find(|c| c.memory.id == filled.memories[0].id).unwrap().vector,
        Some(vec![0.5, -0.25, 0.125])
    );

    // New memories of the copy get new keys, and dedup sees imported ones.
    let after_import = secs(filled.base, 15);
    let outcome =
        add_outcome(target, org, mem("coder", "note", "moved the sessions table to its own schema"), after_import)
            .await;
    assert_eq!(outcome, AddOutcome::Duplicate { existing_id: filled.memories[2].id.clone() });
    let fresh = add_one(target, org, mem("coder", "note", "a new one"), time::now()).await;
    let max_key = records
        .iter()
        .filter_map(|r| match r {
            Record::Memory(m) => Some(m.key),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(ids::memory_key_of(&fresh.id).unwrap().1 > max_key, "a new key after the imported ones");
}

pub async fn importing_twice_creates_nothing(store: &dyn Store) {
    let filled = fill(store).await;
    let org = &filled.org;
    let records = export_org(store, org, 500).await;
    let later = secs(filled.base, 3600);
    let stats = store.memory_statistics(org, later).await.unwrap();
    let head = store.feed_heads().await.unwrap();
    for _ in 0..2 {
        let imported = store.import_records(records.clone()).await.unwrap();
        assert!(imported.iter().all(|i| *i == Imported::Existing), "{imported:?}");
    }
    assert_eq!(export_org(store, org, 500).await, records);
    assert_eq!(store.memory_statistics(org, later).await.unwrap(), stats);
    assert_eq!(store.feed_heads().await.unwrap(), head, "no memory written, no sequence number taken");
}

pub async fn a_bad_record_names_its_index_and_field(store: &dyn Store) {
    let filled = fill(store).await;
    let records = export_org(store, &filled.org, 500).await;
    // The org's records under a new org id (a second copy in the same store).
    let new_org = ids::org_id();
    let renamed: Vec<Record> = records
        .into_iter()
        .filter_map(|r| match r {
            Record::Org(mut o) => {
                o.id = new_org.clone();
                o.name = format!("copy-{new_org}");
                Some(Record::Org(o))
            }
            Record::Agent(mut a) => {
                a.org = new_org.clone();
                a.id = format!("{}x", a.id);
                Some(Record::Agent(a))
            }
            _ => None,
        })
        .collect();
    let agent = match &renamed[1] {
        Record::Agent(a) => a.id.clone(),
        _ => unreachable!(),
    };
    let good = MemoryRecord {
        org: new_org.clone(),
        id: ids::memory_id_of(to_micros(filled.base) / 1000, 1 << 40),
        key: 1 << 40,
        agent: agent.clone(),
        session: None,
        memory_type: "episodic".into(),
        event_type: "note".into(),
        content: "kept".into(),
        metadata: Metadata::new(),
        tags: strings(&["x"]),
        importance: 0.5,
        parent_id: None,
        dedup_key: None,
        time: to_micros(filled.base),
        created_at: to_micros(filled.base),
        step: None,
        position: None,
        expires_at: None,
        scope: None,
        access_count: 0,
        last_accessed_at: None,
        tier: "hot".into(),
        decayed_to: None,
        embedding_state: 0,
        vector: None,
    };
    let bad_cases: Vec<(MemoryRecord, &str)> = vec![
        (MemoryRecord { memory_type: "dream".into(), ..good.clone() }, "memory_type"),
        (MemoryRecord { tier: "lukewarm".into(), ..good.clone() }, "tier"),
        (MemoryRecord { agent: "agent_nobody".into(), ..good.clone() }, "agent"),
        (MemoryRecord { session: Some("sess_nobody".into()), ..good.clone() }, "session"),
        (MemoryRecord { key: 0, ..good.clone() }, "key"),
        (MemoryRecord { vector: Some(VectorRecord { codec: 0, data: "***".into() }), ..good.clone() }, "vector.data"),
        // 5 bytes are no f32 values; the org's vectors have 3 dimensions, not 2.
        (
            MemoryRecord { vector: Some(VectorRecord { codec: 0, data: "AAAAAAA=".into() }), ..good.clone() },
            "vector.data",
        ),
        (
            MemoryRecord { vector: Some(VectorRecord { codec: 0, data: "AAAAAAAAAAA=".into() }), ..good.clone() },
            "vector",
        ),
        (
            MemoryRecord { vector: Some(VectorRecord { codec: 7, data: "AAAAAAAAAAA=".into() }), ..good.clone() },
            "vector.codec",
        ),
    ];
    for (bad, field) in bad_cases {
        let mut batch = renamed.clone();
        batch.push(Record::Memory(good.clone()));
        batch.push(Record::Memory(MemoryRecord { id: ids::memory_id_of(1, 2), ..bad }));
        let err = store.import_records(batch).await;
        let index = renamed.len() + 1;
        assert_err!(err, Error::InvalidItem { index: i, field: ref f, .. } if i == index && f == field);
        // What came before the bad record is written; the bad one is not.
        let stored = store.get_memory(&new_org, &good.id, time::now()).await.unwrap();
        assert_eq!(stored.content, "kept");
        assert_err!(store.get_memory(&new_org, &ids::memory_id_of(1, 2), time::now()).await, Error::NotFound { .. });
    }
    // A record of an org that is not there, and an org whose name is taken.
    let orphan = Record::Memory(MemoryRecord { org: "org_missing".into(), ..good.clone() });
    assert_err!(store.import_records(vec![orphan]).await, Error::InvalidItem { index: 0, ref field, .. } if field == "org");
    let clash =
        Record::Org(OrgRecord { id: ids::org_id(), name: format!("copy-{new_org}"), created_at: 0, vector_dim: None });
    assert_err!(store.import_records(vec![clash]).await, Error::InvalidItem { index: 0, ref field, .. } if field == "name");
    let key = Record::ApiKey(ApiKeyRecord {
        org: new_org.clone(),
        id: "key_1".into(),
        name: "k".into(),
        digest: "ab".into(),
        permissions: strings(&["read"]),
        created_at: 0,
        expires_at: None,
        revoked_at: None,
    });
    assert_err!(store.import_records(vec![key]).await, Error::InvalidItem { index: 0, ref field, .. } if field == "digest");
    // Limits of a subject that is neither the org nor one of its keys, and bad limits.
    let limits = LimitsRecord {
        org: new_org.clone(),
        subject: filled.key_id.clone(),
        rate_per_sec: Some(1.0),
        burst: None,
        max_memories: None,
        max_memory_bytes: None,
        updated_at: 0,
    };
    let other_orgs_key = Record::Limits(limits.clone());
    assert_err!(store.import_records(vec![other_orgs_key]).await, Error::InvalidItem { index: 0, ref field, .. } if field == "subject");
    let zero = Record::Limits(LimitsRecord { subject: new_org.clone(), max_memory_bytes: Some(0), ..limits });
    assert_err!(store.import_records(vec![zero]).await, Error::InvalidItem { index: 0, ref field, .. } if field == "max_memory_bytes");
}

fn sorted<T>(mut items: Vec<(String, T)>) -> Vec<(String, T)> {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

pub async fn a_taken_key_keeps_the_id_as_a_legacy_id(store: &dyn Store) {
    let filled = fill(store).await;
    let records = export_org(store, &filled.org, 500).await;
    // The same rows under another org: every memory's key is taken (by the original).
    let other = ids::org_id();
    let copied: Vec<Record> = records
        .into_iter()
        .filter_map(|r| match r {
            Record::Org(o) => Some(Record::Org(OrgRecord { id: other.clone(), name: format!("n-{other}"), ..o })),
            Record::Agent(a) => Some(Record::Agent(AgentRecord { org: other.clone(), id: format!("{}y", a.id), ..a })),
            Record::Memory(m) => Some(Record::Memory(MemoryRecord {
                org: other.clone(),
                agent: format!("{}y", m.agent),
                session: None,
                ..m
            })),
            _ => None,
        })
        .collect();
    store.import_records(copied).await.unwrap();
    let now = secs(filled.base, 3600);
    for m in &filled.memories[2..] {
        let original = store.get_memory(&filled.org, &m.id, now).await.unwrap();
        let copy = store.get_memory(&other, &m.id, now).await.unwrap();
        assert_eq!((copy.id.as_str(), copy.content.as_str()), (original.id.as_str(), original.content.as_str()));
        assert_eq!(copy.org_id, other);
    }
    let listed = find(store, &other, MemoryFilter::default(), now).await;
    let mut expected: Vec<String> =
        filled.memories.iter().filter(|m| m.id != filled.memories[1].id).map(|m| m.id.clone()).collect();
    let mut got = listed.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "listed by their kept ids (the expired one aside)");
}

pub async fn export_pages_resume_after_any_position(store: &dyn Store) {
    let filled = fill(store).await;
    let org = &filled.org;
    for kind in ExportKind::ALL.into_iter().skip(1) {
        let all = store.export_page(org, kind, &ExportAfter::Start, 1000).await.unwrap();
        for (i, (position, _)) in all.iter().enumerate() {
            let rest = store.export_page(org, kind, position, 1000).await.unwrap();
            assert_eq!(rest, all[i + 1..].to_vec(), "{kind:?} after {position:?}");
        }
    }
    let wrong = store.export_page(org, ExportKind::Message, &ExportAfter::Key(3), 10).await;
    assert_err!(wrong, Error::InvalidArgument { ref field, .. } if field == "after");
    assert_err!(store.export_orgs(Some("org_missing")).await, Error::NotFound { .. });
    assert_err!(
        store.export_page("org_missing", ExportKind::Agent, &ExportAfter::Start, 10).await,
        Error::NotFound { .. }
    );
}
