"""Every memtrace-sdk 0.2.0 method, sync and async, against the real engram binary."""

import asyncio
import datetime as dt

import httpx
import pytest
from memtrace import (
    AddMemoryRequest, AuthenticationError, ConflictError, ContextOptions, CreateSessionRequest,
    ListOptions, MemtraceError, Memtrace, NotFoundError, RegisterAgentRequest, SearchQuery,
)


def add(client, agent, content, **kw):
    kw.setdefault("memory_type", "episodic")
    kw.setdefault("event_type", "general")
    return client.add_memory(AddMemoryRequest(agent_id=agent, content=content, **kw))


def test_remember_recall_decide(client, name):
    m = client.remember(name, "User prefers dark mode")
    assert (m.agent_id.startswith("agent_"), m.memory_type, m.event_type, m.content) == \
        (True, "episodic", "general", "User prefers dark mode")
    assert m.org_id == "org_default"
    assert m.time.tzinfo is not None and abs(m.time - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
    d = client.decide(name, "Use argon2id", "memory-hard")
    assert (d.memory_type, d.event_type, d.metadata["reasoning"]) == ("decision", "decision", "memory-hard")
    recalled = client.recall(name)
    assert [x.content for x in recalled.memories] == ["Use argon2id", "User prefers dark mode"]
    assert recalled.count == 2 and recalled.has_more is False


def test_add_memory_every_field_and_duplicate(client, name):
    s = client.create_session(CreateSessionRequest(agent_id=name))
    m = add(client, name, "Deployed v2", session_id=s.id, memory_type="entity", event_type="deploy",
            metadata={"version": "2.0", "n": 3}, tags=["env:prod", "svc:api"], dedup_key="deploy-v2",
            importance=0.8)
    assert (m.session_id, m.memory_type, m.event_type, m.tags, m.dedup_key, m.importance) == \
        (s.id, "entity", "deploy", ["env:prod", "svc:api"], "deploy-v2", 0.8)
    assert m.metadata == {"version": "2.0", "n": 3}
    child = add(client, name, "Rolled back", parent_id=None)
    assert child.parent_id is None
    with pytest.raises(ConflictError):
        add(client, name, "Deployed v2 again", dedup_key="deploy-v2")
    with pytest.raises(ConflictError):
        client.remember(name, "same")
        client.remember(name, "same")


def test_add_memories_batch_with_in_batch_duplicates(client, name):
    items = [AddMemoryRequest(agent_id=name, memory_type="episodic", event_type="step", content=c)
             for c in ["a", "b", "a", "c"]]
    created = client.add_memories(items)
    assert [m.content for m in created] == ["a", "b", "c"]
    raw = httpx.post(f"{client._client.base_url}/api/v1/memories", headers=client._client.headers,
                     json={"memories": [{"agent_id": name, "event_type": "step", "content": "b"},
                                       {"agent_id": name, "event_type": "step", "content": "d"}]})
    assert raw.status_code == 201
    body = raw.json()
    assert (body["count"], body["duplicates"]) == (1, 1)
    assert [r["status"] for r in body["results"]] == ["duplicate", "created"]
    assert body["results"][0]["id"].startswith("mem_")
    listed = client.list_memories(ListOptions(agent_id=name, event_type="step", order="asc"))
    assert [m.content for m in listed.memories] == ["a", "b", "c", "d"]


def test_list_memories_every_filter(client, name):
    s = client.create_session(CreateSessionRequest(agent_id=name))
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=5)).isoformat()
    httpx.post(f"{client._client.base_url}/api/v1/memories", headers=client._client.headers,
               json={"agent_id": name, "content": "old one", "time": old}).raise_for_status()
    add(client, name, "in session", session_id=s.id, event_type="tool_call", tags=["prod", "x"])
    add(client, name, "production thing", tags=["production"])
    add(client, name, "a decision", memory_type="decision", event_type="decision")

    def ids(**kw):
        return [m.content for m in client.list_memories(ListOptions(agent_id=name, **kw)).memories]

    assert ids(session_id=s.id) == ["in session"]
    assert ids(memory_type="decision") == ["a decision"]
    assert ids(event_type="tool_call") == ["in session"]
    assert ids(tags="prod") == ["in session"], "exact tags: prod does not match production"
    assert ids(tags="prod,x") == ["in session"]
    assert ids(since="2h") == ["a decision", "production thing", "in session"]
    assert ids(until="2h") == ["old one"]
    assert ids(since=(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=6)).isoformat(), order="asc")[0] == "old one"
    page = client.list_memories(ListOptions(agent_id=name, limit=2, order="desc"))
    assert page.count == 2 and page.has_more is True
    rest = client.list_memories(ListOptions(agent_id=name, limit=2, offset=2, order="desc"))
    assert rest.count == 2 and rest.has_more is False
    assert {m.content for m in page.memories} | {m.content for m in rest.memories} == \
        {"old one", "in session", "production thing", "a decision"}


def test_search_memories_every_field(client, name):
    s = client.create_session(CreateSessionRequest(agent_id=name))
    add(client, name, "Fixed AUTH.go login", session_id=s.id, tags=["file:auth.go"], importance=0.9, event_type="fix")
    add(client, name, "Touched auth.go docs", tags=["file:auth.go"], importance=0.2, event_type="doc")
    add(client, name, "decided", memory_type="decision", event_type="decision", importance=0.9)
    r = client.search_memories(SearchQuery(agent_id=name, session_id=s.id, memory_types=["episodic"],
                                           event_types=["fix"], tags=["file:auth.go"], content_contains="auth.GO",
                                           since="1h", until=(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).isoformat(),
                                           min_importance=0.5, limit=10, order="desc"))
    assert [m.content for m in r.results] == ["Fixed AUTH.go login"]
    assert isinstance(r.query_time_ms, int) and r.count == 1
    r = client.search_memories(SearchQuery(agent_id=name, content_contains="AUTH.GO", order="asc"))
    assert [m.content for m in r.results] == ["Fixed AUTH.go login", "Touched auth.go docs"]
    r = client.search_memories(SearchQuery(agent_id=name, min_importance=0.5))
    assert {m.content for m in r.results} == {"Fixed AUTH.go login", "decided"}


def test_agents(client, name):
    a = client.register_agent(RegisterAgentRequest(name=name, description="d", config={"model": "m"}))
    assert (a.name, a.description, a.config) == (name, "d", {"model": "m"})
    with pytest.raises(ConflictError):
        client.register_agent(RegisterAgentRequest(name=name))
    assert client.get_agent(a.id).id == a.id
    assert client.get_agent(name).id == a.id
    assert any(x.id == a.id for x in client.list_agents().agents)
    assert client.list_agents().count == len(client.list_agents().agents)
    client.remember(name, "one")
    client.add_memory(AddMemoryRequest(agent_id=a.id, memory_type="episodic", event_type="error", content="boom"))
    stats = client.get_agent_stats(name)
    assert (stats.agent_id, stats.memory_count, stats.memories_24h, stats.errors_24h) == (a.id, 2, 2, 1)
    assert stats.memory_types == {"episodic": 2}
    assert stats.last_active_at is not None
    mems = client.get_agent_memories(a.id, ListOptions(limit=1))
    assert mems.count == 1 and mems.has_more
    assert client.get_agent_memories(name).count == 2
    client.delete_agent(name)
    with pytest.raises(NotFoundError):
        client.get_agent(a.id)
    with pytest.raises(NotFoundError):
        client.get_agent_stats(a.id)


def test_agent_path_ids_are_percent_encoded(client):
    odd = "team/alpha beta?x=1"
    a = client.register_agent(RegisterAgentRequest(name=odd))
    assert client.get_agent(odd).id == a.id
    client.remember(odd, "hello")
    assert client.get_agent_memories(odd).count == 1


def test_sessions(client, name):
    s = client.create_session(CreateSessionRequest(agent_id=name, metadata={"task": "t"}))
    assert (s.status, s.metadata, s.closed_at) == ("active", {"task": "t"}, None)
    assert client.get_session(s.id).id == s.id
    agent = client.get_agent(name)
    assert [x.id for x in client.list_sessions(agent.id).sessions] == [s.id]
    assert [x.id for x in client.list_sessions(name).sessions] == [s.id]
    assert any(x.id == s.id for x in client.list_sessions().sessions)
    add(client, name, "in session", session_id=s.id)
    add(client, name, "elsewhere")
    got = client.get_session_memories(s.id)
    assert [m.content for m in got.memories] == ["in session"] and got.has_more is False
    closed = client.close_session(s.id)
    assert closed.status == "closed" and closed.closed_at is not None
    with pytest.raises(NotFoundError):
        client.get_session("sess_doesnotexist")


def test_session_context_options(client, name):
    s = client.create_session(CreateSessionRequest(agent_id=name))
    client.add_memory(AddMemoryRequest(agent_id=name, session_id=s.id, memory_type="decision", event_type="decision",
                                       content="Skip pagination", metadata={"reasoning": "only 2 pages"}))
    for i in range(60):
        add(client, name, f"crawled page {i} " + "lorem ipsum " * 20, session_id=s.id, event_type="page_crawled",
            importance=0.1)
    ctx = client.get_session_context(s.id)
    assert ctx.session_id == s.id and ctx.context.startswith(f"## Session Context ({s.id})")
    assert "### Decisions Made (1)" in ctx.context and "Reasoning: only 2 pages" in ctx.context
    small = client.get_session_context(s.id, ContextOptions(max_tokens=200))
    raw = small.model_dump()
    assert small.memory_count < ctx.memory_count
    assert "Skip pagination" in small.context, "the decision survives a tight budget"
    only = client.get_session_context(s.id, ContextOptions(include_types=["decision"]))
    assert only.memory_count == 1
    none = client.get_session_context(s.id, ContextOptions(since="2026-01-01T00:00:00Z", max_tokens=100000))
    assert none.memory_count == 61
    assert raw["memory_count"] == small.memory_count
    body = httpx.post(f"{client._client.base_url}/api/v1/sessions/{s.id}/context", headers=client._client.headers,
                      json={"max_tokens": 200}).json()
    assert body["token_count"] <= 200 and body["omitted_count"] == 61 - body["memory_count"]


def test_errors(server, client, name):
    with pytest.raises(AuthenticationError):
        Memtrace(server.url, "ek_0000000000000000_" + "0" * 64).recall(name)
    with pytest.raises(AuthenticationError):
        Memtrace(server.url, "wrong").list_agents()
    with pytest.raises(NotFoundError):
        client.get_agent("agent_000000000000000000000000")
    with pytest.raises(NotFoundError):
        client.get_session_context("sess_nope")
    with pytest.raises(MemtraceError) as bad:
        client.recall(name, since="yesterday")
    assert bad.value.status_code == 400 and "since" in bad.value.message
    with pytest.raises(MemtraceError) as bad:
        client.list_memories(ListOptions(agent_id=name, limit=1001))
    assert bad.value.status_code == 400 and "limit" in bad.value.message


def test_async_client_every_method(async_client_factory, name):
    async def run():
        async with async_client_factory() as c:
            a = await c.register_agent(RegisterAgentRequest(name=name))
            m = await c.remember(name, "async hello")
            d = await c.decide(name, "go async", "because")
            assert d.metadata == {"reasoning": "because"}
            batch = await c.add_memories([AddMemoryRequest(agent_id=name, memory_type="entity", event_type="e", content="x")])
            assert len(batch) == 1
            one = await c.add_memory(AddMemoryRequest(agent_id=name, memory_type="episodic", event_type="g", content="y"))
            assert (await c.recall(name)).count == 4
            assert (await c.list_memories(ListOptions(agent_id=name, memory_type="entity"))).count == 1
            assert (await c.search_memories(SearchQuery(agent_id=name, content_contains="ASYNC"))).count == 2
            assert (await c.get_agent(a.id)).name == name
            assert any(x.id == a.id for x in (await c.list_agents()).agents)
            assert (await c.get_agent_stats(name)).memory_count == 4
            assert (await c.get_agent_memories(name)).count == 4
            s = await c.create_session(CreateSessionRequest(agent_id=a.id))
            assert (await c.get_session(s.id)).status == "active"
            assert [x.id for x in (await c.list_sessions(a.id)).sessions] == [s.id]
            assert (await c.get_session_memories(s.id)).count == 0
            ctx = await c.get_session_context(s.id, ContextOptions(max_tokens=50))
            assert ctx.memory_count == 0
            assert (await c.close_session(s.id)).status == "closed"
            with pytest.raises(ConflictError):
                await c.remember(name, "async hello")
            await c.delete_agent(a.id)
            with pytest.raises(NotFoundError):
                await c.get_agent(a.id)
            assert m.content == "async hello" and one.content == "y"
    asyncio.run(run())
