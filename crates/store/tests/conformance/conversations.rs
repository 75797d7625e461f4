//! Conformance: conversations (`ConversationStore`).

use engram_core::conversation::*;
use engram_store::MessageQuery;

use crate::support::*;

conformance_suite!(by_ref: [
    appends_number_in_order_and_retries_store_once,
    conversations_are_isolated_by_agent_scope_and_org,
    windows_read_system_messages_and_the_newest,
    messages_page_both_ways_within_times,
    listing_summaries_and_deletes,
    agent_cascade_removes_conversations,
]);

pub(crate) fn conv(agent: &str, scope: &str, conversation: &str) -> ConversationRef {
    ConversationRef { agent: AgentRef::Name(agent.into()), scope: scope.into(), conversation: conversation.into() }
}

pub(crate) fn msg(role: Role, content: &str, tokens: u32, at: Timestamp) -> ValidMessage {
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

fn contents(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

pub async fn appends_number_in_order_and_retries_store_once(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let c = conv("bot", "alice", "chat-1");
    let call = ToolCall { id: "call_1".into(), name: "lookup".into(), arguments: "{\"q\":\"x\"}".into() };
    let mut assistant = msg(Role::Assistant, "", 7, now);
    assistant.tool_calls = vec![call.clone()];
    assistant.client_id = Some("m-2".into());
    let mut user = msg(Role::User, "hello", 2, now);
    user.client_id = Some("m-1".into());
    user.metadata = obj(json!({"lang": "en"}));
    let mut tool = msg(Role::Tool, "found", 1, now);
    tool.tool_call_id = Some("call_1".into());
    tool.name = Some("lookup".into());
    let first = store.append_messages(&org, &c, vec![user.clone(), assistant.clone(), tool], now).await.unwrap();
    assert_eq!(
        first.messages.iter().map(|(m, new)| (m.seq, *new)).collect::<Vec<_>>(),
        [(1, true), (2, true), (3, true)]
    );
    assert_eq!(
        (first.conversation.message_count, first.conversation.token_total, first.conversation.last_seq),
        (3, 10, 3)
    );
    let stored = &first.messages[1].0;
    assert_eq!(
        (stored.role, &stored.tool_calls, stored.client_id.as_deref()),
        (Role::Assistant, &vec![call], Some("m-2"))
    );
    assert!(stored.id.starts_with("msg_"));

    // A retry of the same append (same client ids) stores nothing; a new message follows.
    let retry = store.append_messages(&org, &c, vec![user.clone(), assistant], secs(now, 1)).await.unwrap();
    assert_eq!(retry.messages.iter().map(|(m, new)| (m.seq, *new)).collect::<Vec<_>>(), [(1, false), (2, false)]);
    assert_eq!(retry.messages[0].0.id, first.messages[0].0.id);
    let mut again = msg(Role::User, "again", 1, now);
    again.client_id = Some("m-4".into());
    let next = store.append_messages(&org, &c, vec![again.clone(), again], secs(now, 2)).await.unwrap();
    assert_eq!(next.messages.iter().map(|(m, new)| (m.seq, *new)).collect::<Vec<_>>(), [(4, true), (4, false)]);
    assert_eq!(next.conversation.message_count, 4);

    let all = store.list_messages(&org, &c, &MessageQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(contents(&all), ["hello", "", "found", "again"]);
    assert_eq!(all[0].metadata, obj(json!({"lang": "en"})));
    assert_eq!((all[2].tool_call_id.as_deref(), all[2].name.as_deref()), (Some("call_1"), Some("lookup")));
}

pub async fn conversations_are_isolated_by_agent_scope_and_org(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let other = new_org(store).await;
    // The product docs' scenario: two attorneys, one conversation id; two agents, one scope.
    let histories = [
        (org.as_str(), conv("henry", "attorney-smith", "case-research"), "smith-henry"),
        (org.as_str(), conv("henry", "attorney-jones", "case-research"), "jones-henry"),
        (org.as_str(), conv("sarah", "attorney-smith", "case-research"), "smith-sarah"),
        (org.as_str(), conv("henry", "", "case-research"), "no-scope-henry"),
        (other.as_str(), conv("henry", "attorney-smith", "case-research"), "other-org"),
    ];
    for (o, c, text) in &histories {
        store.append_messages(o, c, vec![msg(Role::User, text, 1, now)], now).await.unwrap();
    }
    for (o, c, text) in &histories {
        let all = store.list_messages(o, c, &MessageQuery { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(contents(&all), [*text], "{c:?}");
        let head = store.conversation_head(o, c).await.unwrap().unwrap();
        let window = store.window_messages(o, head.key, 10).await.unwrap();
        assert_eq!(contents(&window), [*text]);
        assert_eq!(head.conversation.message_count, 1);
    }
    // Another org cannot reach a conversation by its name, nor by its key.
    let head = store.conversation_head(&org, &histories[0].1).await.unwrap().unwrap();
    assert!(
        store.conversation_head(&other, &conv("sarah", "attorney-smith", "case-research")).await.unwrap().is_none()
    );
    assert_err!(
        store.list_messages(&other, &conv("sarah", "attorney-smith", "case-research"), &MessageQuery::default()).await,
        Error::NotFound { .. }
    );
    assert_ne!(head.key, store.conversation_head(&other, &histories[4].1).await.unwrap().unwrap().key);
    assert!(
        store.window_messages(&other, head.key, 10).await.unwrap().is_empty(),
        "a key of another org reads nothing"
    );
}

pub async fn windows_read_system_messages_and_the_newest(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let c = conv("bot", "", "long");
    let mut batch = vec![msg(Role::System, "rules", 3, now)];
    batch
        .extend((1..=20).map(|i| msg(if i % 2 == 1 { Role::User } else { Role::Assistant }, &format!("m{i}"), 1, now)));
    batch.push(msg(Role::System, "late rules", 3, now));
    store.append_messages(&org, &c, batch, now).await.unwrap();
    let head = store.conversation_head(&org, &c).await.unwrap().unwrap();
    let window = store.window_messages(&org, head.key, 3).await.unwrap();
    assert_eq!(contents(&window), ["rules", "m18", "m19", "m20", "late rules"]);
    assert!(window.windows(2).all(|w| w[0].seq < w[1].seq));
}

pub async fn messages_page_both_ways_within_times(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let c = conv("bot", "s", "paged");
    let batch: Vec<ValidMessage> = (0..10).map(|i| msg(Role::User, &format!("m{i}"), 1, secs(now, i))).collect();
    store.append_messages(&org, &c, batch, now).await.unwrap();
    let page = |after_seq, newest_first, limit| MessageQuery { after_seq, newest_first, limit, ..Default::default() };
    let first = store.list_messages(&org, &c, &page(None, false, 4)).await.unwrap();
    assert_eq!(contents(&first), ["m0", "m1", "m2", "m3"]);
    let second = store.list_messages(&org, &c, &page(Some(first[3].seq), false, 4)).await.unwrap();
    assert_eq!(contents(&second), ["m4", "m5", "m6", "m7"]);
    let newest = store.list_messages(&org, &c, &page(None, true, 3)).await.unwrap();
    assert_eq!(contents(&newest), ["m9", "m8", "m7"]);
    let older = store.list_messages(&org, &c, &page(Some(newest[2].seq), true, 3)).await.unwrap();
    assert_eq!(contents(&older), ["m6", "m5", "m4"]);
    let timed = MessageQuery { since: Some(secs(now, 2)), until: Some(secs(now, 5)), limit: 10, ..Default::default() };
    assert_eq!(contents(&store.list_messages(&org, &c, &timed).await.unwrap()), ["m2", "m3", "m4"]);
}

pub async fn listing_summaries_and_deletes(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    for (scope, name) in [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u1", "c")] {
        let c = conv("bot", scope, name);
        store
            .append_messages(&org, &c, vec![msg(Role::User, "x", 5, now), msg(Role::User, "y", 5, now)], now)
            .await
            .unwrap();
    }
    let agent = AgentRef::Name("bot".into());
    let names = |heads: Vec<engram_store::ConversationHead>| {
        heads
            .into_iter()
            .map(|h| format!("{}/{}", h.conversation.scope, h.conversation.conversation))
            .collect::<Vec<_>>()
    };
    let u1 = store.list_conversations(&org, &agent, Some("u1"), 2, None).await.unwrap();
    let after = u1[1].key;
    assert_eq!(u1[0].conversation.token_total, 10);
    assert_eq!(names(u1), ["u1/a", "u1/b"]);
    assert_eq!(names(store.list_conversations(&org, &agent, Some("u1"), 2, Some(after)).await.unwrap()), ["u1/c"]);
    assert_eq!(
        names(store.list_conversations(&org, &agent, None, 10, None).await.unwrap()),
        ["u1/a", "u1/b", "u2/a", "u1/c"]
    );
    assert!(store.list_conversations(&org, &AgentRef::Name("nobody".into()), None, 10, None).await.unwrap().is_empty());

    let c = conv("bot", "u1", "a");
    let summary = Summary { text: "they said x".into(), through_seq: 1, tokens: 3, updated_at: now };
    let summarized = store.set_summary(&org, &c, Some(summary.clone()), secs(now, 5)).await.unwrap();
    assert_eq!(summarized.summary, Some(summary));
    assert_eq!(summarized.last_activity_at, secs(now, 5));
    assert_eq!(store.set_summary(&org, &c, None, now).await.unwrap().summary, None);
    assert_err!(store.set_summary(&org, &conv("bot", "u9", "a"), None, now).await, Error::NotFound { .. });

    assert_eq!(store.delete_conversation(&org, &c).await.unwrap(), 2);
    assert!(store.conversation_head(&org, &c).await.unwrap().is_none());
    assert_err!(store.delete_conversation(&org, &c).await, Error::NotFound { .. });
    // A new conversation under the same name starts again from 1.
    let again = store.append_messages(&org, &c, vec![msg(Role::User, "new", 1, now)], now).await.unwrap();
    assert_eq!((again.messages[0].0.seq, again.conversation.message_count), (1, 1));
}

pub async fn agent_cascade_removes_conversations(store: &dyn Store) {
    let now = time::now();
    let org = new_org(store).await;
    let c = conv("doomed", "", "chat");
    store.append_messages(&org, &c, vec![msg(Role::User, "x", 1, now)], now).await.unwrap();
    let agent = AgentRef::Name("doomed".into());
    assert_err!(store.delete_agent(&org, &agent, false).await, Error::FailedPrecondition(m) if m.contains("1 conversations"));
    store.delete_agent(&org, &agent, true).await.unwrap();
    assert!(store.conversation_head(&org, &c).await.unwrap().is_none());
}
