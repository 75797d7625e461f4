"""The gRPC Python client (clients/python, `engram`) against the real binary: each call family,
the typed errors, configuration from the environment, the context manager."""

import datetime as dt
import threading
import time

import grpc
import pytest

import engram
from engram import (AlreadyExistsError, AuthenticationError, ConflictError, Engram, EngramError,
                    InvalidArgumentError, NotFoundError, PermissionDeniedError)
from engram.v1 import common_pb2

UTC = dt.timezone.utc


@pytest.fixture
def eg(server):
    with Engram(server.addr, server.admin_key) as client:
        yield client


def eventually(fn, timeout=10.0):
    """fn() until it returns something truthy (the full-text index trails writes by a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        out = fn()
        if out or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def test_remember_recall_decide(eg, name):
    s = eg.create_session(name, {"task": "refactor_auth"})
    m = eg.remember(name, "Analyzed auth.go - needs migration to new JWT library", session_id=s.id,
                    tags=["analysis", "auth"], importance=0.8, metadata={"file": "auth.go", "lines": 120},
                    event_type="analysis")
    assert m.id.startswith("mem_") and m.content.startswith("Analyzed auth.go")
    assert (m.memory_type, m.event_type, m.session_id, m.importance) == ("episodic", "analysis", s.id, 0.8)
    assert m.tags == ["analysis", "auth"]
    assert m.metadata == {"file": "auth.go", "lines": 120} and isinstance(m.metadata["lines"], int)
    assert m.time.tzinfo is not None and abs(m.time - dt.datetime.now(UTC)) < dt.timedelta(minutes=1)
    assert m.tier == "hot" and m.step is None and m.position is None
    assert isinstance(m.raw, common_pb2.Memory) and m.raw.id == m.id

    d = eg.decide(name, "Use jwt-v2 library instead of jwt-v1", "jwt-v2 is maintained", importance=1.0)
    assert (d.memory_type, d.event_type, d.reasoning, d.importance) == ("decision", "decision", "jwt-v2 is maintained", 1.0)
    assert d.metadata["reasoning"] == "jwt-v2 is maintained"
    back = eg.remember(name, "Back-filled an old event", time=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert back.time == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

    recent = eg.recall(name)  # the last 24 h, newest first
    assert [x.id for x in recent] == [d.id, m.id] and len(recent) == 2 and recent[0] == d
    assert not recent.has_more
    since_then = eg.recall(name, since=m.created_at)  # a datetime: RFC 3339
    assert [x.id for x in since_then] == [d.id, m.id]
    assert [x.id for x in eg.recall(name, since=dt.timedelta(days=365 * 10))] == [d.id, m.id, back.id]
    assert [x.id for x in eg.recall(name, since=None, until=dt.datetime(2025, 1, 1, tzinfo=UTC))] == [back.id]
    assert [x.id for x in eg.recall(name, since="1h", types=["decision"])] == [d.id]
    assert eg.get_memory(m.id) == m


def test_search_filters_and_ranked(eg, name):
    eg.remember(name, "Restarted Redis on prod-web-01", tags=["action", "redis"], importance=0.9)
    eg.remember(name, "Crawled https://example.com/products", tags=["crawling"], metadata={"count": 15})
    eg.remember(name, "Memory usage normal on prod-web-02", tags=["action"], importance=0.2)
    found = eg.search(name, tags=["action"], content_contains="restart redis", since="2h")
    assert [m.content for m in found] == ["Restarted Redis on prod-web-01"] and found.hits == []
    assert [m.content for m in eg.search(name, any_tags=["redis", "crawling"], min_importance=0.6)] == [
        "Restarted Redis on prod-web-01"]
    assert [m.content for m in eg.search(name, attributes={"count": 15})] == ["Crawled https://example.com/products"]

    ranked = eventually(lambda: eg.search(name, "redis restart").hits)
    assert [h.memory.content for h in ranked] == ["Restarted Redis on prod-web-01"]
    assert ranked[0].score > 0 and ranked[0].keyword > 0
    result = eg.search(name, "redis restart")
    assert result.mode == "keyword" and result.memories == [h.memory for h in result.hits]


def test_paging_and_iteration(eg, name):
    ids = [eg.remember(name, f"note {i}").id for i in range(5)]
    page = eg.list_memories(name, limit=2, order="asc")
    assert [m.id for m in page] == ids[:2] and page.has_more and page.next_page_token
    nxt = eg.list_memories(name, limit=2, order="asc", page_token=page.next_page_token)
    assert [m.id for m in nxt] == ids[2:4]
    assert [m.id for m in eg.iter_memories(name, limit=2, order="asc")] == ids


def test_update_and_delete(eg, name):
    m = eg.remember(name, "Routine log line", tags=["routine"], importance=0.3)
    u = eg.update_memory(m.id, importance=0.9, tags=["kept", "important"],
                         expires_at=dt.timedelta(hours=1))
    assert (u.importance, u.tags) == (0.9, ["important", "kept"])
    assert u.expires_at is not None and u.expires_at > dt.datetime.now(UTC)
    assert eg.update_memory(m.id, expires_at=None).expires_at is None
    eg.delete_memory(m.id)
    with pytest.raises(NotFoundError):
        eg.get_memory(m.id)
    for i in range(3):
        eg.remember(name, f"bulk {i}")
    assert eg.delete_memories(name) == 3
    assert len(eg.recall(name)) == 0


def test_add_memories_batch(eg, name):
    out = eg.add_memories([
        {"agent": name, "content": "first", "tags": ["batch"]},
        {"agent": name, "content": "second", "memory_type": "semantic", "importance": 0.7},
        {"agent": name, "content": "first", "tags": ["batch"]},
    ])
    assert (out.created, out.duplicates) == (2, 1)
    assert [r.status for r in out] == ["created", "created", "duplicate"]
    assert out.results[2].id == out.results[0].id and out.results[2].memory is None
    assert out.results[1].memory.memory_type == "semantic"
    with pytest.raises(InvalidArgumentError) as e:
        eg.add_memories([{"agent": name, "content": "fine"}, {"agent": name, "content": "bad", "tags": ["a b"]}])
    assert e.value.field == "memories[1].tags[0]" and "not allowed in a tag" in e.value.rule


def test_context(eg, name):
    s = eg.create_session(name)
    eg.remember(name, "Test auth_test.go:TestLogin failed after refactoring", session_id=s.id,
                event_type="test_failure", importance=1.0)
    d = eg.decide(name, "Skip pagination", "only 2 pages deep", session_id=s.id)
    ctx = eg.context(name, since="1h", max_tokens=500)
    assert "### Decisions Made (1)" in ctx.context and "Reasoning: only 2 pages deep" in ctx.context
    assert "TestLogin failed" in str(ctx) and d.id in ctx.memory_ids
    assert 0 < ctx.token_count <= 500 and ctx.tokenizer == "cl100k_base"
    only = eg.context(name, include_types=["decision"], max_tokens=300)
    assert only.memory_ids == [d.id]
    by_session = eg.context(session=s.id)
    assert f"## Session Context ({s.id})" in by_session.context and len(by_session.memory_ids) == 2
    assert eg.session_context(s.id, include_types="decision").memory_ids == [d.id]
    with pytest.raises(TypeError):
        eg.context()


def test_agents(eg, name):
    a = eg.register_agent(name, description="Handles customer support", config={"model": "gpt-4", "tries": 3})
    assert a.id.startswith("agent_") and a.name == name and a.config == {"model": "gpt-4", "tries": 3}
    assert eg.get_agent(a.id) == eg.get_agent(name)
    assert eg.get_agent(name).description == "Handles customer support"
    assert a.id in {x.id for x in eg.iter_agents()}
    page = eg.list_agents(page_size=1)
    assert len(page) == 1 and page.next_page_token
    with pytest.raises(AlreadyExistsError) as e:
        eg.register_agent(name)
    assert e.value.existing_id == a.id and e.value.what == "agent"

    eg.remember(name, "Something failed", event_type="error")
    eg.create_session(name)
    stats = eg.get_agent_stats(name)
    assert (stats.agent_id, stats.memory_count, stats.errors_24h, stats.active_sessions) == (a.id, 1, 1, 1)
    assert stats.memory_types == {"episodic": 1} and stats.tiers.hot == 1
    with pytest.raises(engram.FailedPreconditionError):
        eg.delete_agent(name)
    gone = eg.delete_agent(name, cascade=True)
    assert (gone.deleted_sessions, gone.deleted_memories) == (1, 1)
    with pytest.raises(NotFoundError):
        eg.get_agent(a.id)


def test_sessions(eg, name):
    s = eg.create_session(name, {"task": "onboarding", "n": 1})
    assert s.id.startswith("sess_") and s.status == "active" and s.metadata == {"task": "onboarding", "n": 1}
    assert eg.get_session(s.id) == s
    other = eg.create_session(name)
    assert {x.id for x in eg.list_sessions(name)} == {s.id, other.id}
    merged = eg.update_session(s.id, metadata={"n": 2, "extra": True}, merge=True)
    assert merged.metadata == {"task": "onboarding", "n": 2, "extra": True}
    replaced = eg.update_session(s.id, metadata={"only": "this"})
    assert replaced.metadata == {"only": "this"}
    closed = eg.close_session(s.id)
    assert closed.status == "closed" and closed.closed_at is not None
    assert [x.id for x in eg.list_sessions(name, status="active")] == [other.id]
    assert [x.id for x in eg.list_sessions(name, status="closed")] == [s.id]


def test_conversations(eg, name):
    conv = eg.conversations
    out = conv.append(name, "case-research", [
        {"role": "system", "content": "You are a legal research assistant."},
        {"role": "user", "content": "Find precedents on adverse possession.", "message_id": "u1"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "adverse"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "3 cases found"},
        ("assistant", "I found three cases."),
    ], scope="attorney-smith")
    assert [m.seq for m in out] == [1, 2, 3, 4, 5] and out.duplicates == 0
    assert out.messages[2].tool_calls == [engram.ToolCall("call_1", "search", '{"q": "adverse"}')]
    assert out.conversation.message_count == 5 and all(m.tokens > 0 for m in out.messages[:2])
    again = conv.append(name, "case-research", {"role": "user", "content": "Find precedents on adverse possession.",
                                                "message_id": "u1"}, scope="attorney-smith")
    assert again.duplicates == 1 and again.messages[0].seq == 2

    w = conv.window(name, "case-research", scope="attorney-smith", max_messages=2)
    # The system message is pinned; the newest other message fits; the tool pair does not split.
    assert [m.role for m in w] == ["system", "assistant"] and w.omitted_messages == 3
    with pytest.raises(NotFoundError):  # another scope is another conversation
        conv.window(name, "case-research", scope="attorney-jones")
    full = conv.window(name, "case-research", scope="attorney-smith")
    assert [m["role"] for m in full.as_openai()] == ["system", "user", "assistant", "tool", "assistant"]
    assert full.as_openai()[2]["tool_calls"][0]["function"]["name"] == "search"

    summary = conv.set_summary(name, "case-research", "Looked for adverse possession precedents.", through_seq=2,
                               scope="attorney-smith")
    assert summary.summary.text.startswith("Looked for") and summary.summary.through_seq == 2
    assert conv.window(name, "case-research", scope="attorney-smith").summary.through_seq == 2
    page = conv.messages(name, "case-research", scope="attorney-smith", page_size=2, newest_first=True)
    assert [m.seq for m in page] == [5, 4] and page.next_page_token
    assert [c.conversation for c in conv.list(name)] == ["case-research"]
    assert conv.list(name, scope="attorney-jones").conversations == []
    assert conv.delete(name, "case-research", scope="attorney-smith") == 5
    assert conv.list(name).conversations == []


def test_working_memory(eg, name):
    s = eg.create_session(name)
    wm = eg.working_memory.get(s.id)
    assert (wm.document, wm.version) == ({}, 0)
    v1 = eg.working_memory.set(s.id, {"task": "Book a flight to Paris", "variables": {"budget": 500}}, version=0)
    assert v1.version == 1 and v1.document["variables"] == {"budget": 500}
    v2 = eg.working_memory.patch(s.id, {"goal": "cheapest fare", "variables": {"budget": None, "seat": "aisle"}}, 1)
    assert v2.version == 2
    assert v2.document == {"task": "Book a flight to Paris", "goal": "cheapest fare", "variables": {"seat": "aisle"}}
    with pytest.raises(ConflictError) as e:  # a writer that read version 1 lost the race
        eg.working_memory.set(s.id, {"task": "stale"}, version=1)
    assert e.value.code == grpc.StatusCode.ABORTED
    assert eg.working_memory.get(s.id).document["task"] == "Book a flight to Paris"
    assert "- Task: Book a flight to Paris" in eg.session_context(s.id).context
    cleared = eg.working_memory.clear(s.id, 2)
    assert (cleared.document, cleared.version) == ({}, 3)


def test_simulation_calls(eg, name):
    """The product docs' AgentMemoryAPI calls, with the docs' argument names."""
    r = eg.store_agent_state(agent_id=name, state_data={"position": [10, 20], "health": 0.85,
                                                        "inventory": {"wood": 5, "stone": 2}},
                             step_number=1234, priority=0.75)
    assert r.created and r.memory.memory_type == "state" and r.memory.step == 1234
    assert r.memory.position == engram.Position(10, 20) and r.memory.importance == 0.75
    assert r.memory.metadata["inventory"] == {"wood": 5, "stone": 2}
    again = eg.store_agent_state(name, {"position": [10, 20], "health": 0.85}, 1234)
    assert again.duplicate and again.id == r.id  # one state per (agent, step)
    eg.store_agent_interaction(agent_id=name, interaction_data={
        "interaction_type": "conversation", "other_agent_id": "agent-456",
        "content": "Hello, do you have any wood to trade?", "sentiment": 0.6}, step_number=1235)
    trade = eg.store_agent_action(agent_id=name, action_data={
        "action_type": "trade", "target_agent": "agent-456", "items_given": {"wood": 2},
        "items_received": {"stone": 1}, "outcome": "success"}, step_number=1236)
    assert trade.memory.memory_type == "action" and trade.memory.content.startswith("trade ")
    eg.store_agent_action(name, {"action_type": "trade", "outcome": "failure"}, 1236)
    eg.store_agent_state(name, {"position": [11, 20], "health": 0.8, "inventory": {"wood": 3, "stone": 3}}, 1236)

    steps = eg.retrieve_by_time_range(agent_id=name, start_step=1234, end_step=1236)
    assert [m.step for m in steps] == [1234, 1235, 1236, 1236, 1236]
    assert [m.step for m in eg.retrieve_by_time_range(name, 1235, 1236, memory_type="action")] == [1236, 1236]
    traded = eg.retrieve_by_attributes(agent_id=name, attributes={"action_type": "trade", "outcome": "success"},
                                       memory_type="action")
    assert [m.id for m in traded] == [trade.id]
    assert [m.step for m in eg.retrieve_recent_states(name, count=5)] == [1236, 1234]

    similar = eg.retrieve_similar_states(agent_id=name, query_state={"position": [11, 20], "health": 0.8}, k=2)
    assert [s.memory.step for s in similar] == [1236, 1234] and similar.compared == 2
    assert similar[0].similarity == pytest.approx(1.0) and similar[1].similarity < 1
    assert similar[0].state["health"] == 0.8

    changes = eg.get_state_changes(name, 1234, 1236)
    assert len(changes) == 1 and (changes[0].from_step, changes[0].to_step) == (1234, 1236)
    assert changes[0].changes["health"].before == 0.85 and changes[0].changes["health"].after == 0.8
    assert changes[0].changes["position"].after == [11, 20]

    stats = eg.get_memory_statistics(agent_id=name)
    assert stats["total_memories"] == 5 == stats.total
    assert stats.memory_type_distribution == {"state": 2, "interaction": 1, "action": 2}
    assert (stats.oldest_step, stats.newest_step) == (1234, 1236)
    report = eg.force_memory_maintenance(agent_id=name, policy={"hot_for": "0s", "cold_after": "0s",
                                                                "keep_importance": 1.0})
    assert (report.scanned, report.to_cold, report.dry_run) == (5, 5, False)
    assert isinstance(report.duration, dt.timedelta)
    assert eg.get_memory_statistics(name).tiers == engram.TierCounts(hot=0, warm=0, cold=5)
    cold = eg.retrieve_by_time_range(name, 1236, 1236, memory_type="action")
    assert {m.tier for m in cold} == {"cold"} and trade.id in {m.id for m in cold}
    assert eg.set_cache_ttl(dt.timedelta(minutes=5)) == 300
    assert eg.clear_cache() >= 0
    assert eg.set_lifecycle_policy(name, {"cold_after": "14d"})["cold_after"] == "1209600s"  # normalized
    assert eg.get_lifecycle_policy(name)["cold_after"] == "1209600s"


def test_watch(eg, name):
    watch = eg.watch(name)
    got = []

    def consume():
        for event in watch:
            got.append(event)
            return

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.3)  # the stream is open before the write
    m = eg.remember(name, "seen live")
    t.join(10)
    watch.cancel()
    assert [e.memory.id for e in got] == [m.id] and got[0].resume_token == watch.resume_token != ""


def test_invalid_argument_names_the_field(eg, name):
    with pytest.raises(InvalidArgumentError) as e:
        eg.remember(name, "x", importance=2)
    assert e.value.field == "memory.importance" and e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(InvalidArgumentError) as e:
        eg.remember(name, "   ")
    assert e.value.field == "memory.content"
    with pytest.raises(InvalidArgumentError) as e:
        eg.list_memories(name, limit=5000)
    assert e.value.field == "limit"
    with pytest.raises(InvalidArgumentError) as e:
        eg.recall(name, since="soon")
    assert e.value.field == "filter.since"
    with pytest.raises(InvalidArgumentError) as e:
        eg.search(name, near=(10, 20, 0))
    assert e.value.field == "filter.near.radius"
    with pytest.raises(InvalidArgumentError) as e:
        eg.force_memory_maintenance(name, policy={"cold_after": "soon"})
    assert e.value.field == "policy.cold_after"
    # Bad input caught before sending is a TypeError/ValueError, not a server error.
    with pytest.raises(ValueError):
        eg.recall(name, types=["nonsense"])
    with pytest.raises(TypeError):
        eg.remember(name, "x", colour="blue")


def test_duplicate_memory_carries_the_existing_id(eg, name):
    first = eg.remember(name, "Deployed v2 to production")
    with pytest.raises(AlreadyExistsError) as e:
        eg.remember(name, "Deployed v2 to production")
    assert e.value.existing_id == first.id and e.value.what == "memory"
    assert isinstance(e.value, EngramError) and not isinstance(e.value, ConflictError)


def test_not_found(eg, name):
    with pytest.raises(NotFoundError):
        eg.get_agent("agent_" + "0" * 24)
    with pytest.raises(NotFoundError):
        eg.get_memory("mem_01JZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(NotFoundError):
        eg.get_session("sess_" + "0" * 24)
    with pytest.raises(NotFoundError):
        eg.working_memory.get("sess_" + "0" * 24)


def test_authentication_and_permissions(server, name):
    with Engram(server.addr, "ek_0000000000000000_" + "0" * 64) as bad:
        with pytest.raises(AuthenticationError) as e:
            bad.recall(name)
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    with Engram(server.addr, api_key="") as none:
        with pytest.raises(AuthenticationError, match="missing API key"):
            none.recall(name)
    with Engram(server.addr, server.admin_key) as admin:
        created = admin.create_api_key(f"reader-{name}", ["read"])
        assert created.secret.startswith("ek_") and created.key.permissions == ["read"]
        assert created.key.id in {k.id for k in admin.list_api_keys()}
        with Engram(server.addr, created.secret) as reader:
            assert len(reader.recall(name)) == 0
            with pytest.raises(PermissionDeniedError):
                reader.remember(name, "not allowed")
            admin.revoke_api_key(created.key.id)
            with pytest.raises(AuthenticationError):
                reader.recall(name)


def test_orgs_keep_tenants_apart(eg, server, name):
    eg.remember(name, "in the default org")
    org = eg.create_org(f"org-{name}")
    assert org.id in {o.id for o in eg.list_orgs()}
    key = eg.create_api_key("tenant", ["read", "write"], org_id=org.id)
    assert key.key.org_id == org.id and key.key.id in {k.id for k in eg.list_api_keys(org.id)}
    with Engram(server.addr, key.secret) as tenant:
        with pytest.raises(NotFoundError):  # another org's agent is not there
            tenant.get_agent(eg.get_agent(name).id)
        assert len(tenant.recall(name)) == 0
        tenant.remember(name, "in the tenant's org")
        assert [m.content for m in tenant.recall(name)] == ["in the tenant's org"]
    assert [m.content for m in eg.recall(name)] == ["in the default org"]


def test_configuration_from_the_environment(server, name, monkeypatch):
    monkeypatch.setenv("ENGRAM_ADDR", server.addr)
    monkeypatch.setenv("ENGRAM_API_KEY", server.admin_key)
    with Engram() as env_client:
        assert env_client.addr == server.addr
        m = env_client.remember(name, "configured from the environment")
        assert env_client.get_memory(m.id).content == "configured from the environment"
    with Engram(api_key="ek_0000000000000000_" + "0" * 64) as explicit:  # the argument wins over the env
        with pytest.raises(AuthenticationError):
            explicit.recall(name)
    with Engram(f"http://{server.addr}") as url:  # a URL, as memtrace-sdk users write it
        assert url.addr == server.addr and not url.config.tls
        assert len(url.recall(name)) == 1
    monkeypatch.delenv("ENGRAM_ADDR")
    assert Engram().addr == "127.0.0.1:9100"
    assert Engram("https://engram.example:443").config.tls


def test_context_manager_closes_and_timeouts(server, name):
    with Engram(server.addr, server.admin_key, timeout=5) as client:
        client.remember(name, "inside")
        assert client.timeout == 5 and client.with_timeout(1).timeout == 1
        assert client.with_timeout(1).remember(name, "through a view").content == "through a view"
    with pytest.raises(ValueError, match="closed"):  # the channel is closed
        client.recall(name)
    with pytest.raises(ValueError, match="closed"):  # and a view of it too
        client.with_timeout(1).recall(name)
    with pytest.raises(ValueError):
        Engram(timeout=0)


def test_unreachable_server_is_unavailable_after_retries():
    started = time.monotonic()
    with Engram("127.0.0.1:1", retries=2, backoff=0.2, max_backoff=0.2) as client:
        with pytest.raises(engram.UnavailableError):
            client.recall("nobody")
    # Two retries slept between 0.1 and 0.2 s each.
    assert 0.2 <= time.monotonic() - started < 5
