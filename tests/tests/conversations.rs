//! Conversations and working memory, end to end through the real server: isolation (the product
//! docs' attorneys), windows, retries, messages recorded as memories, errors, the hot-window cache
//! across two PostgreSQL replicas, working memory with versions and the session context's
//! "Current Task".

use engram_context::Tokenizer;
use engram_tests::{PgDatabase, Server, json_struct, pb};
use tonic::Code;

fn new_message(role: pb::Role, content: &str) -> pb::NewMessage {
    pb::NewMessage { role: role.into(), content: content.into(), ..Default::default() }
}

fn append(agent: &str, scope: &str, conversation: &str, messages: Vec<pb::NewMessage>) -> pb::AppendMessagesRequest {
    pb::AppendMessagesRequest {
        agent: agent.into(),
        scope: scope.into(),
        conversation: conversation.into(),
        messages,
        record_as_memories: None,
    }
}

fn window(agent: &str, scope: &str, conversation: &str, max_messages: u32, max_tokens: u32) -> pb::GetWindowRequest {
    pb::GetWindowRequest {
        agent: agent.into(),
        scope: scope.into(),
        conversation: conversation.into(),
        max_messages,
        max_tokens,
    }
}

fn contents(messages: &[pb::Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attorneys_and_agents_each_see_only_their_own_history() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    // The product docs: attorney-smith and attorney-jones both use conversation id
    // case-research; two agents (henry, sarah) serve the same scope and conversation id.
    let histories = [
        ("henry", "attorney-smith", "smith asks henry about precedent"),
        ("henry", "attorney-jones", "jones asks henry about discovery"),
        ("sarah", "attorney-smith", "smith asks sarah about filing"),
    ];
    for (agent, scope, text) in histories {
        let messages =
            vec![new_message(pb::Role::User, text), new_message(pb::Role::Assistant, &format!("re: {text}"))];
        c.conversations.append_messages(append(agent, scope, "case-research", messages)).await.unwrap();
    }
    for (agent, scope, text) in histories {
        let w = c.conversations.get_window(window(agent, scope, "case-research", 0, 0)).await.unwrap().into_inner();
        assert_eq!(contents(&w.messages), [text.to_owned(), format!("re: {text}")]);
        assert_eq!((w.max_messages, w.max_tokens, w.omitted_messages), (100, 8_000, 0));
        let listed = c
            .conversations
            .list_messages(pb::ListMessagesRequest {
                agent: agent.into(),
                scope: scope.into(),
                conversation: "case-research".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(contents(&listed.messages)[0], text);
    }
    // No scope is its own scope: nothing there yet.
    let missing = c.conversations.get_window(window("henry", "", "case-research", 0, 0)).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // Another org sees none of it.
    let (_, key) =
        engram_tests::org_with_key(&mut c, "other-firm", &[pb::Permission::Read, pb::Permission::Write]).await;
    let mut other = server.clients(Some(&key)).await;
    let err =
        other.conversations.get_window(window("henry", "attorney-smith", "case-research", 0, 0)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // Listing: henry's conversations, all scopes, then one.
    let list = |scope: Option<&str>| pb::ListConversationsRequest {
        agent: "henry".into(),
        scope: scope.map(str::to_owned),
        ..Default::default()
    };
    let all = c.conversations.list_conversations(list(None)).await.unwrap().into_inner().conversations;
    assert_eq!(all.iter().map(|x| x.scope.as_str()).collect::<Vec<_>>(), ["attorney-smith", "attorney-jones"]);
    assert!(all.iter().all(|x| x.message_count == 2 && x.token_total > 0 && x.last_activity_at.is_some()));
    let one = c.conversations.list_conversations(list(Some("attorney-jones"))).await.unwrap().into_inner();
    assert_eq!(one.conversations.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_limits_retries_summaries_and_errors() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let tokenizer = Tokenizer::default();
    let mut messages = vec![new_message(pb::Role::System, "You are a travel agent.")];
    for i in 0..30 {
        messages.push(new_message(pb::Role::User, &format!("question number {i}")));
        messages.push(new_message(pb::Role::Assistant, &format!("answer number {i}")));
    }
    // A tool call and its result, newest.
    messages.push(pb::NewMessage {
        tool_calls: vec![pb::ToolCall {
            id: "call_9".into(),
            name: "fares".into(),
            arguments: "{\"to\":\"PAR\"}".into(),
        }],
        ..new_message(pb::Role::Assistant, "")
    });
    messages.push(pb::NewMessage { tool_call_id: "call_9".into(), ..new_message(pb::Role::Tool, "420 EUR") });
    let appended =
        c.conversations.append_messages(append("travel", "u1", "trip", messages)).await.unwrap().into_inner();
    assert_eq!(appended.messages.len(), 63);
    let first = &appended.messages[1];
    assert_eq!(first.tokens as usize, tokenizer.count("question number 0"), "token counts are the tokenizer's");
    let call = &appended.messages[61];
    assert_eq!(call.tokens as usize, tokenizer.count("fares") + tokenizer.count("{\"to\":\"PAR\"}"));

    // Five messages: the system one, the tool pair, and the two before it.
    let w = c.conversations.get_window(window("travel", "u1", "trip", 5, 0)).await.unwrap().into_inner();
    assert_eq!(
        contents(&w.messages),
        ["You are a travel agent.", "question number 29", "answer number 29", "", "420 EUR"]
    );
    assert_eq!(w.omitted_messages, 58);
    assert_eq!(w.token_count, w.messages.iter().map(|m| u64::from(m.tokens)).sum::<u64>());
    assert_eq!(w.omitted_tokens, appended.conversation.unwrap().token_total - w.token_count);
    // Four: the pair cannot be split, so the newest user/assistant pair goes too.
    let w = c.conversations.get_window(window("travel", "u1", "trip", 4, 0)).await.unwrap().into_inner();
    assert_eq!(contents(&w.messages), ["You are a travel agent.", "answer number 29", "", "420 EUR"]);
    // A token budget.
    let system = tokenizer.count("You are a travel agent.") as u32;
    let w = c.conversations.get_window(window("travel", "u1", "trip", 0, system + 6)).await.unwrap().into_inner();
    assert!(w.token_count <= u64::from(system + 6));
    assert_eq!(w.messages[0].role, pb::Role::System as i32);

    // The agent's config sets its default limits.
    c.agents
        .register_agent(pb::RegisterAgentRequest {
            name: "configured".into(),
            description: String::new(),
            config: Some(json_struct(serde_json::json!({"window_max_messages": 3}))),
        })
        .await
        .unwrap();
    let many: Vec<pb::NewMessage> = (0..10).map(|i| new_message(pb::Role::User, &format!("m{i}"))).collect();
    c.conversations.append_messages(append("configured", "", "c", many)).await.unwrap();
    let w = c.conversations.get_window(window("configured", "", "c", 0, 0)).await.unwrap().into_inner();
    assert_eq!((contents(&w.messages), w.max_messages), (vec!["m7", "m8", "m9"], 3));

    // A retried append with the same message ids stores each once.
    let with_id = |id: &str, text: &str| pb::NewMessage { message_id: id.into(), ..new_message(pb::Role::User, text) };
    let batch = vec![with_id("client-1", "hello"), with_id("client-2", "again")];
    let once = c.conversations.append_messages(append("retry", "", "r", batch.clone())).await.unwrap().into_inner();
    let twice = c.conversations.append_messages(append("retry", "", "r", batch)).await.unwrap().into_inner();
    assert_eq!((once.duplicates, twice.duplicates), (0, 2));
    assert_eq!(
        once.messages.iter().map(|m| &m.id).collect::<Vec<_>>(),
        twice.messages.iter().map(|m| &m.id).collect::<Vec<_>>()
    );
    assert_eq!(twice.conversation.unwrap().message_count, 2);

    // The summary comes with the window.
    let summary = pb::SetSummaryRequest {
        agent: "travel".into(),
        scope: "u1".into(),
        conversation: "trip".into(),
        text: "The user is planning a trip to Paris.".into(),
        through_seq: 40,
    };
    c.conversations.set_summary(summary.clone()).await.unwrap();
    let w = c.conversations.get_window(window("travel", "u1", "trip", 5, 0)).await.unwrap().into_inner();
    assert_eq!(
        w.summary.as_ref().map(|s| (s.text.as_str(), s.through_seq)),
        Some(("The user is planning a trip to Paris.", 40))
    );
    let err = c.conversations.set_summary(pb::SetSummaryRequest { through_seq: 64, ..summary }).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("through_seq"), "{}", err.message());

    // Bad input names the field; nothing is stored.
    let cases = [
        (vec![new_message(pb::Role::Unspecified, "x")], "messages[0].role"),
        (vec![new_message(pb::Role::User, "ok"), new_message(pb::Role::Tool, "42")], "messages[1].tool_call_id"),
        (vec![new_message(pb::Role::User, "")], "messages[0].content"),
        (Vec::new(), "messages"),
    ];
    for (messages, field) in cases {
        let err = c.conversations.append_messages(append("travel", "u1", "trip", messages)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert!(err.message().contains(field), "{field}: {}", err.message());
    }
    let err = c.conversations.get_window(window("travel", "u1", "trip", 10_001, 0)).await.unwrap_err();
    assert!(err.message().contains("max_messages"), "{}", err.message());
    let w = c.conversations.get_window(window("travel", "u1", "trip", 100, 0)).await.unwrap().into_inner();
    assert_eq!(w.conversation.unwrap().message_count, 63, "bad appends stored nothing");

    // Deleted: gone, and a new history under the same name starts from 1.
    let delete =
        pb::DeleteConversationRequest { agent: "travel".into(), scope: "u1".into(), conversation: "trip".into() };
    assert_eq!(c.conversations.delete_conversation(delete).await.unwrap().into_inner().deleted_messages, 63);
    let err = c.conversations.get_window(window("travel", "u1", "trip", 0, 0)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_recorded_as_memories_are_searchable_and_never_doubled() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let messages = vec![
        pb::NewMessage { message_id: "a".into(), ..new_message(pb::Role::User, "My favourite city is Lisbon") },
        pb::NewMessage { message_id: "b".into(), ..new_message(pb::Role::Assistant, "Noted: Lisbon") },
        new_message(pb::Role::System, "system text is not recorded"),
    ];
    let request =
        pb::AppendMessagesRequest { record_as_memories: Some(true), ..append("concierge", "bob", "chat", messages) };
    let first = c.conversations.append_messages(request.clone()).await.unwrap().into_inner();
    assert_eq!(first.memory_ids.len(), 2);
    let again = c.conversations.append_messages(request).await.unwrap().into_inner();
    assert!(again.memory_ids.is_empty(), "a retried append records nothing again");
    let listed = c
        .memories
        .list_memories(pb::ListMemoriesRequest {
            filter: Some(pb::MemoryFilter {
                agent: "concierge".into(),
                event_types: vec!["message".into()],
                ..Default::default()
            }),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut texts: Vec<&str> = listed.memories.iter().map(|m| m.content.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["assistant: Noted: Lisbon", "user: My favourite city is Lisbon"]);
    assert!(listed.memories.iter().all(|m| m.tags == ["conversation:chat"] && m.scope == "bob"));

    // Another end user of the same agent: a scoped ranked search and a scoped context find only
    // their own ("what did the user tell me about X", never another user's).
    let alice = vec![new_message(pb::Role::User, "My favourite city is Porto")];
    let request =
        pb::AppendMessagesRequest { record_as_memories: Some(true), ..append("concierge", "alice", "chat", alice) };
    c.conversations.append_messages(request).await.unwrap();
    let search = |scope: &str| pb::SearchMemoriesRequest {
        query: "favourite city".into(),
        filter: Some(pb::MemoryFilter { agent: "concierge".into(), scope: scope.into(), ..Default::default() }),
        limit: 10,
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let hits = loop {
        let hits = c.memories.search_memories(search("alice")).await.unwrap().into_inner().hits;
        if !hits.is_empty() || std::time::Instant::now() > deadline {
            break hits;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let texts: Vec<String> = hits.iter().map(|h| h.memory.as_ref().unwrap().content.clone()).collect();
    assert_eq!(texts, ["user: My favourite city is Porto"]);
    let bob = c.memories.search_memories(search("bob")).await.unwrap().into_inner().hits;
    assert!(bob.iter().all(|h| h.memory.as_ref().unwrap().scope == "bob") && !bob.is_empty());
    let context = c
        .context
        .build_context(pb::BuildContextRequest {
            agent: "concierge".into(),
            session_id: String::new(),
            options: Some(pb::ContextOptions { scope: "alice".into(), ..Default::default() }),
        })
        .await
        .unwrap()
        .into_inner()
        .context;
    assert!(context.contains("Porto") && !context.contains("Lisbon"), "{context}");

    // The agent's config turns recording on when the request does not say.
    c.agents
        .register_agent(pb::RegisterAgentRequest {
            name: "recorder".into(),
            description: String::new(),
            config: Some(json_struct(serde_json::json!({"record_messages": true}))),
        })
        .await
        .unwrap();
    let said = c
        .conversations
        .append_messages(append("recorder", "", "c", vec![new_message(pb::Role::User, "remember me")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(said.memory_ids.len(), 1);
    let unsaid = c
        .conversations
        .append_messages(append("configured-off", "", "c", vec![new_message(pb::Role::User, "forget me")]))
        .await
        .unwrap()
        .into_inner();
    assert!(unsaid.memory_ids.is_empty(), "off by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn working_memory_versions_patches_and_the_current_task() {
    let server = Server::start(&[]);
    let mut c = server.admin().await;
    let session = c
        .sessions
        .create_session(pb::CreateSessionRequest { agent: "planner".into(), metadata: None })
        .await
        .unwrap()
        .into_inner()
        .id;
    let wm = &mut c.working_memory;
    let empty =
        wm.get_working_memory(pb::GetWorkingMemoryRequest { session_id: session.clone() }).await.unwrap().into_inner();
    assert_eq!(empty.version, 0);
    let doc = serde_json::json!({"task": "Book a flight to Paris", "goal": "cheapest fare",
                                 "subgoals": ["pick dates"], "scratchpad": ["checked AF", "checked KL"]});
    let set = pb::SetWorkingMemoryRequest { session_id: session.clone(), document: Some(json_struct(doc)), version: 0 };
    assert_eq!(wm.set_working_memory(set.clone()).await.unwrap().into_inner().version, 1);
    // A stale write is ABORTED and overwrites nothing.
    let err = wm.set_working_memory(set).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    // Merge patch: null removes a key, objects merge.
    let patch = serde_json::json!({"goal": null, "variables": {"budget": 500}});
    let patched = wm
        .patch_working_memory(pb::PatchWorkingMemoryRequest {
            session_id: session.clone(),
            patch: Some(json_struct(patch)),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let fields = &patched.document.as_ref().unwrap().fields;
    assert_eq!(patched.version, 2);
    assert!(!fields.contains_key("goal") && fields.contains_key("variables") && fields.contains_key("task"));
    // Over-size is InvalidArgument naming the field.
    let huge = serde_json::json!({"scratchpad": "x".repeat(300 * 1024)});
    let err = wm
        .set_working_memory(pb::SetWorkingMemoryRequest {
            session_id: session.clone(),
            document: Some(json_struct(huge)),
            version: 2,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("document"), "{}", err.message());

    // The session's context starts with the Current Task, inside the budget.
    c.memories
        .add_memory(pb::AddMemoryRequest {
            memory: Some(pb::NewMemory {
                session_id: Some(session.clone()),
                ..engram_tests::memory("planner", "Searched fares")
            }),
        })
        .await
        .unwrap();
    let context = c
        .sessions
        .get_session_context(pb::GetSessionContextRequest { session_id: session.clone(), options: None })
        .await
        .unwrap()
        .into_inner();
    let text = &context.context;
    let task = text.find("### Current Task").expect(text);
    assert!(task < text.find("Searched fares").expect(text), "{text}");
    assert!(text.contains("- Task: Book a flight to Paris") && text.contains("- Variables: budget = 500"), "{text}");
    assert!(text.contains("- Scratchpad: checked KL"), "{text}");
    let tight = c
        .sessions
        .get_session_context(pb::GetSessionContextRequest {
            session_id: session.clone(),
            options: Some(pb::ContextOptions { max_tokens: 30, ..Default::default() }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(tight.token_count <= 30, "{}", tight.context);

    // Cleared: empty, the version still grows; kept when the session closes.
    let cleared = c
        .working_memory
        .clear_working_memory(pb::ClearWorkingMemoryRequest { session_id: session.clone(), version: 2 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((cleared.version, cleared.document.unwrap().fields.len()), (3, 0));
    c.sessions.close_session(pb::CloseSessionRequest { id: session.clone() }).await.unwrap();
    let after = c.working_memory.get_working_memory(pb::GetWorkingMemoryRequest { session_id: session }).await.unwrap();
    assert_eq!(after.into_inner().version, 3);
}

/// Two replicas on one PostgreSQL database alternate appends and window reads: every read sees
/// every append acknowledged before it, whichever replica took it (the hot-window cache is never
/// stale).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_windows_are_never_stale_across_replicas() {
    let mut db = PgDatabase::create().await;
    db.migrate();
    let key = db.admin_key.clone().expect("admin key");
    let (a, b) = (Server::start_on(&db, &[]), Server::start_on(&db, &[]));
    let (mut ca, mut cb) = (a.clients(Some(&key)).await, b.clients(Some(&key)).await);
    for i in 0..40 {
        let (writer, reader) = if i % 3 == 0 { (&mut ca, &mut cb) } else { (&mut cb, &mut ca) };
        let text = format!("turn {i}");
        writer
            .conversations
            .append_messages(append("bot", "s", "shared", vec![new_message(pb::Role::User, &text)]))
            .await
            .unwrap();
        for client in [&mut *reader, &mut *writer] {
            let w = client.conversations.get_window(window("bot", "s", "shared", 5, 0)).await.unwrap().into_inner();
            assert_eq!(w.messages.last().map(|m| m.content.as_str()), Some(text.as_str()), "stale window at turn {i}");
            assert_eq!(w.conversation.unwrap().message_count, i + 1);
        }
    }
    // The deleted conversation is gone on both, and a new one is not confused with it.
    ca.conversations
        .delete_conversation(pb::DeleteConversationRequest {
            agent: "bot".into(),
            scope: "s".into(),
            conversation: "shared".into(),
        })
        .await
        .unwrap();
    cb.conversations
        .append_messages(append("bot", "s", "shared", vec![new_message(pb::Role::User, "fresh")]))
        .await
        .unwrap();
    for client in [&mut ca, &mut cb] {
        let w = client.conversations.get_window(window("bot", "s", "shared", 5, 0)).await.unwrap().into_inner();
        assert_eq!(contents(&w.messages), ["fresh"]);
    }
}
