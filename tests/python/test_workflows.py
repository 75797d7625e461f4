"""The product's three agent workflows, written with memtrace-sdk against the real engram binary."""

import datetime as dt
import time

import httpx
import pytest
from memtrace import AddMemoryRequest, ConflictError, ContextOptions, CreateSessionRequest, ListOptions, SearchQuery


def test_coding_agent(client, name):
    s = client.create_session(CreateSessionRequest(agent_id=name, metadata={"task": "login"}))
    log = lambda content, **kw: client.add_memory(AddMemoryRequest(
        agent_id=name, session_id=s.id, memory_type=kw.pop("memory_type", "episodic"),
        event_type=kw.pop("event_type", "progress"), content=content, **kw))
    log("Implemented hashing in auth.go", tags=["file:auth.go", "status:done"], importance=0.6)
    log("Started session.go", tags=["file:session.go", "status:in_progress"], importance=0.4)
    log("TestLogin failed: got 401", event_type="test_failure", tags=["test"], importance=0.8)
    log("Fixed TestLogin", event_type="fix", tags=["file:auth.go", "test"], importance=0.7)
    client.decide(name, "Use argon2id", "bcrypt truncates at 72 bytes")

    # Resume after a crash: session context of the last 24h.
    ctx = client.get_session_context(s.id, ContextOptions(since="24h", max_tokens=2000))
    assert ctx.memory_count == 4, "the decision was logged without the session"
    for needle in ["TestLogin failed", "Fixed TestLogin", "### Errors and Failures (1)"]:
        assert needle in ctx.context
    recent = client.recall(name, since="24h")
    assert recent.count == 5
    assert recent.memories[0].memory_type == "decision" and recent.memories[0].metadata["reasoning"].startswith("bcrypt")

    # "Is auth.go already done?"
    done = client.search_memories(SearchQuery(agent_id=name, tags=["file:auth.go", "status:done"], content_contains="AUTH.GO"))
    assert [m.content for m in done.results] == ["Implemented hashing in auth.go"]
    not_done = client.search_memories(SearchQuery(agent_id=name, tags=["file:session.go", "status:done"]))
    assert not_done.count == 0
    stats = client.get_agent_stats(name)
    assert (stats.memory_count, stats.errors_24h, stats.active_sessions) == (5, 1, 1)
    assert client.close_session(s.id).status == "closed"
    assert client.get_agent_stats(name).active_sessions == 0


def test_infrastructure_agent(client, name):
    three_hours_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)).isoformat()
    httpx.post(f"{client._client.base_url}/api/v1/memories", headers=client._client.headers, json={
        "agent_id": name, "event_type": "service_restarted", "content": "Restarted redis on prod-web-01 (old)",
        "tags": ["host:prod-web-01", "service:redis"], "time": three_hours_ago}).raise_for_status()
    client.add_memory(AddMemoryRequest(agent_id=name, memory_type="episodic", event_type="service_restarted",
                                       content="Restarted redis on prod-web-02", tags=["host:prod-web-02", "service:redis"]))

    def restarted_recently():
        r = client.search_memories(SearchQuery(agent_id=name, event_types=["service_restarted"],
                                               tags=["host:prod-web-01", "service:redis"], since="2h", limit=1))
        return r.results

    assert restarted_recently() == []
    client.add_memory(AddMemoryRequest(agent_id=name, memory_type="episodic", event_type="service_restarted",
                                       content="Restarted redis on prod-web-01", tags=["host:prod-web-01", "service:redis"]))
    found = restarted_recently()
    assert [m.content for m in found] == ["Restarted redis on prod-web-01"]
    # Tags match exactly, not as substrings.
    assert client.list_memories(ListOptions(agent_id=name, tags="host:prod-web-0")).count == 0


def test_infrastructure_agent_as_the_docs_write_it(client, name):
    """The product docs' infrastructure example: track an investigation, log the remediation, then
    `content_contains: "Restart Redis"` finds "Restarted Redis on prod-web-01" (words as word
    prefixes), and a ranked `query` (an Engram extension) puts the finding first."""
    remember = lambda content, tags, importance: client.add_memory(AddMemoryRequest(
        agent_id=name, memory_type="episodic", event_type="general", content=content, tags=tags,
        importance=importance))
    remember("Investigating high memory usage on prod-web-01", ["investigation", "memory", "prod-web-01"], 0.9)
    remember("Found memory leak in Redis connection pool on prod-web-01",
             ["finding", "memory", "prod-web-01", "redis"], 1.0)
    client.decide(name, "Restart Redis service on prod-web-01",
                  "Memory leak confirmed, restart should clear leaked connections")
    remember("Restarted Redis on prod-web-01, memory usage dropped to normal",
             ["action", "prod-web-01", "redis", "resolved"], 0.9)

    recent_restarts = client.search_memories(SearchQuery(
        agent_id=name, tags=["action"], content_contains="Restart Redis", since="2h"))
    assert [m.content for m in recent_restarts.results] == [
        "Restarted Redis on prod-web-01, memory usage dropped to normal"]
    # Without the tag, the decision ("Restart Redis service") matches too; "Restart the
    # Redistribution" would not (the words must follow each other).
    both = client.search_memories(SearchQuery(agent_id=name, content_contains="restart redis", since="2h"))
    assert sorted(m.memory_type for m in both.results) == ["decision", "episodic"]

    # The full-text index trails the commit by well under a second.
    deadline = time.monotonic() + 2
    while True:
        ranked = httpx.post(f"{client._client.base_url}/api/v1/search", headers=client._client.headers,
                            json={"agent_id": name, "query": "redis memory leak", "limit": 3}, timeout=10)
        ranked.raise_for_status()
        body = ranked.json()
        if body["count"] == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert body["mode"] == "keyword" and body["count"] == 3
    assert body["results"][0]["content"] == "Found memory leak in Redis connection pool on prod-web-01"
    assert [s["id"] for s in body["scores"]] == [m["id"] for m in body["results"]]
    assert body["scores"][0]["keyword"] > 0 and body["scores"][0]["importance"] == 1.0
    bad = httpx.post(f"{client._client.base_url}/api/v1/search", headers=client._client.headers,
                     json={"agent_id": name, "query": "redis", "order": "asc"}, timeout=10)
    assert bad.status_code == 400 and "order" in bad.json()["error"]


def test_research_agent(client, name):
    frontier = ["https://example.com/", "https://example.com/a", "https://example.com/", "https://example.com/b",
                "https://example.com/a"]
    crawled = []
    for url in frontier:
        try:
            client.add_memory(AddMemoryRequest(agent_id=name, memory_type="episodic", event_type="page_crawled",
                                               content=f"Crawled {url}", dedup_key=url, metadata={"url": url}))
            crawled.append(url)
        except ConflictError:
            pass  # already crawled: skip
    assert crawled == ["https://example.com/", "https://example.com/a", "https://example.com/b"]
    pages = client.list_memories(ListOptions(agent_id=name, event_type="page_crawled", order="asc"))
    assert [m.metadata["url"] for m in pages.memories] == crawled
    assert {m.dedup_key for m in pages.memories} == set(crawled)
    # Before crawling, the agent can also ask whether a URL is known.
    known = client.search_memories(SearchQuery(agent_id=name, event_types=["page_crawled"], content_contains="example.com/b"))
    assert known.count == 1


def test_semantic_search_over_rest_with_client_vectors(client, name):
    """Engram extensions on the Memtrace surface: `embedding` on a new memory, `query_embedding` on
    /api/v1/search (the SDK's own calls keep working; these go through its HTTP client)."""
    base, headers = client._client.base_url, client._client.headers
    vectors = {"cats purr": [1.0, 0.0, 0.1], "dogs bark": [0.0, 1.0, 0.1], "fish swim": [0.1, 0.1, 1.0]}
    created = httpx.post(f"{base}/api/v1/memories", headers=headers, timeout=10, json={"memories": [
        {"agent_id": name, "content": text, "embedding": vector} for text, vector in vectors.items()]})
    created.raise_for_status()
    deadline = time.monotonic() + 2
    while True:
        # The agent's memories: the session's server is shared with the schemathesis fuzz, which
        # can store 3-dimension vectors of its own in the org.
        found = httpx.post(f"{base}/api/v1/search", headers=headers, timeout=10,
                           json={"agent_id": name, "query_embedding": [0.9, 0.1, 0.0], "limit": 2}).json()
        if found.get("count") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found["mode"] == "semantic", found
    assert found["results"][0]["content"] == "cats purr", found
    # No agent filter: the whole org (only the REST surface's hidden types are excluded).
    everyone = httpx.post(f"{base}/api/v1/search", headers=headers, timeout=10,
                          json={"query_embedding": [0.9, 0.1, 0.0], "limit": 50})
    assert everyone.status_code == 200 and everyone.json()["mode"] == "semantic", everyone.text
    assert "cats purr" in [m["content"] for m in everyone.json()["results"]]
    assert found["scores"][0]["semantic"] > 0.9
    assert found["unembedded"] >= 0
    bad = httpx.post(f"{base}/api/v1/search", headers=headers, timeout=10,
                     json={"agent_id": name, "query_embedding": [1.0, 0.0]})
    assert bad.status_code == 400 and bad.json()["error"].startswith("query_embedding:"), bad.text
    # The SDK still reads these memories.
    assert client.list_memories(ListOptions(agent_id=name)).count == 3
