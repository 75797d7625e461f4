"""Engram's MCP tools through the real MCP client library from PyPI (`mcp`), both ways: `engram
mcp` on stdio (started by the client, calling the running server) and `/mcp` on the server's port
(streamable HTTP with the API key in a header). Every tool is called; results and errors are
checked."""

import asyncio
import json
import os
import urllib.error
import urllib.request
import uuid

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import engram_bin

TOOLS = {"remember", "decide", "recall", "search", "get_context", "list_sessions", "append_messages",
         "get_window", "get_working_memory", "patch_working_memory"}


def rest(server, method, path, body=None, key=None):
    request = urllib.request.Request(
        f"{server.url}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"x-api-key": key or server.admin_key, "content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"{}")


def stdio_params(server, key):
    env = {"ENGRAM_ADDR": server.url, "ENGRAM_LOG_LEVEL": "warn"}
    if key is not None:
        env["ENGRAM_API_KEY"] = key
    return StdioServerParameters(command=engram_bin(), args=["mcp"], env=env)


async def over_stdio(server, key, body):
    async with stdio_client(stdio_params(server, key)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await body(session)


async def over_http(server, headers, body):
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await body(session)


async def call(session, tool, **arguments):
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, f"{tool}: {result.content}"
    # The same JSON as structured content and as text, for clients that read either.
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def error(session, tool, **arguments):
    result = await session.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should fail: {result.structured_content}"
    return result.structured_content


async def every_tool(session, server, agent):
    listed = await session.list_tools()
    assert {t.name for t in listed.tools} == TOOLS
    for t in listed.tools:
        assert len(t.description) > 40, t.name
        schema = t.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False, t.name
        assert all(p.get("description") or p.get("enum") or p.get("type") for p in schema["properties"].values())

    session_id = rest(server, "POST", "/api/v1/sessions", {"agent_id": agent})["id"]
    stored = await call(session, "remember", agent=agent, content="Restarted Redis on prod-web-01",
                        session_id=session_id, tags=["infra"], importance=0.8, event_type="action")
    assert stored["content"] == "Restarted Redis on prod-web-01" and stored["tags"] == ["infra"]
    decision = await call(session, "decide", agent=agent, decision="Pin Redis to 7.2",
                          reasoning="7.4 broke the client library", session_id=session_id)
    assert decision["memory_type"] == "decision"

    recalled = await call(session, "recall", agent=agent, since="1h")
    assert {m["id"] for m in recalled["results"]} == {stored["id"], decision["id"]}
    found = await call(session, "search", agent=agent, content_contains="restart redis")
    assert [m["id"] for m in found["results"]] == [stored["id"]]
    # Ranked search reads the full-text index, which follows writes within about a second.
    for _ in range(150):
        ranked = await call(session, "search", agent=agent, query="redis version", limit=5)
        if len(ranked["results"]) == 2:
            break
        await asyncio.sleep(0.1)
    assert {m["id"] for m in ranked["results"]} == {stored["id"], decision["id"]}
    assert len(ranked["scores"]) == 2 and ranked["mode"] == "keyword"

    by_agent = await call(session, "get_context", agent=agent, max_tokens=500)
    assert "Pin Redis to 7.2" in by_agent["context"] and by_agent["agent_id"] == agent
    by_session = await call(session, "get_context", session_id=session_id)
    assert by_session["session_id"] == session_id and by_session["memory_count"] == 2

    sessions = await call(session, "list_sessions", agent=agent)
    assert [s["id"] for s in sessions["sessions"]] == [session_id]

    conversation = f"chat-{uuid.uuid4().hex[:6]}"
    appended = await call(session, "append_messages", agent=agent, conversation=conversation, messages=[
        {"role": "user", "content": "What is our Redis version?", "message_id": "m1"},
        {"role": "assistant", "content": "7.2, pinned."},
    ])
    assert [m["seq"] for m in appended["messages"]] == [1, 2]
    again = await call(session, "append_messages", agent=agent, conversation=conversation,
                       messages=[{"role": "user", "content": "What is our Redis version?", "message_id": "m1"}])
    assert again["duplicates"] == 1
    window = await call(session, "get_window", agent=agent, conversation=conversation, max_messages=1)
    assert [m["content"] for m in window["messages"]] == ["7.2, pinned."] and window["omitted_messages"] == 1

    empty = await call(session, "get_working_memory", session_id=session_id)
    assert empty["version"] == 0
    patched = await call(session, "patch_working_memory", session_id=session_id,
                         patch={"goal": "upgrade", "plan": ["drain", "restart"]}, version=0)
    assert patched["version"] == 1 and patched["document"]["goal"] == "upgrade"
    stale = await error(session, "patch_working_memory", session_id=session_id, patch={"goal": "x"}, version=0)
    assert stale["status"] == 409
    read = await call(session, "get_working_memory", session_id=session_id)
    assert read["document"] == {"goal": "upgrade", "plan": ["drain", "restart"]}

    # Bad input: the field and the rule, as the REST surface words them; nothing stored.
    bad = await error(session, "remember", agent=agent, content="x", importance=2)
    assert bad["status"] == 400 and "importance" in bad["error"]
    typo = await error(session, "remember", agent=agent, contents="x")
    assert "contents" in typo["error"] and "content" in typo["error"]
    missing = await error(session, "decide", agent=agent, decision="d")
    assert "reasoning" in missing["error"]
    both = await error(session, "get_context")
    assert "exactly one" in both["error"]
    unknown = await error(session, "get_window", agent="no-such-agent-" + agent, conversation="c")
    assert unknown["status"] == 404
    with pytest.raises(MCPError):
        await session.call_tool("no_such_tool", {})
    assert len((await call(session, "recall", agent=agent))["results"]) == 2
    return True


def test_every_tool_over_stdio(server, name):
    assert asyncio.run(over_stdio(server, server.admin_key, lambda s: every_tool(s, server, name)))


def test_every_tool_over_streamable_http(server, name):
    for i, headers in enumerate(({"x-api-key": server.admin_key},
                                 {"authorization": f"Bearer {server.admin_key}"})):
        agent = f"{name}-{i}"
        assert asyncio.run(over_http(server, headers, lambda s: every_tool(s, server, agent)))


def test_http_needs_a_valid_key(server):
    for headers in ({}, {"x-api-key": "egk_nope"}):
        request = urllib.request.Request(
            f"{server.url}/mcp", method="POST", headers={"content-type": "application/json", **headers},
            data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode())
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request)
        assert failed.value.code == 401
        assert "error" in json.loads(failed.value.read())


def test_stdio_with_a_bad_key_reports_it_on_each_call(server, name):
    async def body(session):
        assert {t.name for t in (await session.list_tools()).tools} == TOOLS
        failed = await error(session, "recall", agent=name)
        assert failed["status"] == 401 and "key" in failed["error"].lower()
        return True
    assert asyncio.run(over_stdio(server, "egk_wrong", body))


def test_a_read_only_key_cannot_write(server, name):
    key = server.cli("key", "create", "--name", "reader", "--permissions", "read")

    async def body(session):
        denied = await error(session, "remember", agent=name, content="x")
        assert denied["status"] == 403
        assert "results" in await call(session, "search", content_contains="anything")
        return True
    assert asyncio.run(over_http(server, {"x-api-key": key}, body))
