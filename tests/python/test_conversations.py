"""The REST twins of ConversationService and WorkingMemoryService (Engram extensions under
/api/v1): the same rules as gRPC, JSON errors with the status codes of the OpenAPI document."""

import json

import httpx


def h(server):
    return {"x-api-key": server.admin_key}


def test_conversation_routes(server, name):
    base = f"{server.url}/api/v1/conversations/{name}/case-research"
    msgs = [
        {"role": "system", "content": "You are a paralegal."},
        {"role": "user", "content": "Find precedent on adverse possession", "message_id": "u1"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "search", "arguments": "{\"q\": \"adverse\"}"}]},
        {"role": "tool", "content": "3 cases", "tool_call_id": "c1"},
    ]
    r = httpx.post(f"{base}/messages?scope=attorney-smith", headers=h(server), json={"messages": msgs})
    assert r.status_code == 201, r.text
    body = r.json()
    assert [m["seq"] for m in body["messages"]] == [1, 2, 3, 4]
    assert body["duplicates"] == 0 and body["conversation"]["message_count"] == 4
    # A retry stores nothing twice.
    r = httpx.post(f"{base}/messages?scope=attorney-smith", headers=h(server), json={"messages": [msgs[1]]})
    assert r.json()["duplicates"] == 1 and r.json()["conversation"]["message_count"] == 4
    # Another scope is another history.
    r = httpx.post(f"{base}/messages?scope=attorney-jones", headers=h(server),
                   json={"messages": [{"role": "user", "content": "jones only"}]})
    assert r.status_code == 201
    w = httpx.get(f"{base}/window?scope=attorney-jones", headers=h(server)).json()
    assert [m["content"] for m in w["messages"]] == ["jones only"]
    # Window: the system message pinned, the call with its result; no summary yet (omitted, not null).
    w = httpx.get(f"{base}/window?scope=attorney-smith&max_messages=3", headers=h(server)).json()
    assert [m["role"] for m in w["messages"]] == ["system", "assistant", "tool"]
    assert w["omitted_messages"] == 1 and "summary" not in w
    r = httpx.put(f"{base}/summary?scope=attorney-smith", headers=h(server), json={"text": "asked about precedent", "through_seq": 2})
    assert r.status_code == 200 and r.json()["summary"]["through_seq"] == 2
    w = httpx.get(f"{base}/window?scope=attorney-smith&max_messages=3", headers=h(server)).json()
    assert w["summary"]["text"] == "asked about precedent"
    # History, paged newest first.
    r = httpx.get(f"{base}/messages?scope=attorney-smith&order=desc&limit=2", headers=h(server)).json()
    assert [m["seq"] for m in r["messages"]] == [4, 3] and r["next_page_token"]
    r = httpx.get(f"{base}/messages?scope=attorney-smith&order=desc&limit=2&page_token={r['next_page_token']}",
                  headers=h(server)).json()
    assert [m["seq"] for m in r["messages"]] == [2, 1] and "next_page_token" not in r
    listed = httpx.get(f"{server.url}/api/v1/conversations?agent_id={name}", headers=h(server)).json()
    assert sorted(c["scope"] for c in listed["conversations"]) == ["attorney-jones", "attorney-smith"]
    # Errors name the field.
    r = httpx.post(f"{base}/messages", headers=h(server), json={"messages": [{"role": "robot", "content": "x"}]})
    assert r.status_code == 400 and r.json()["error"].startswith("messages[0].role")
    r = httpx.post(f"{base}/messages", headers=h(server), json={"messages": [{"role": "tool", "content": "x"}]})
    assert r.status_code == 400 and "messages[0].tool_call_id" in r.json()["error"]
    r = httpx.get(f"{base}/window?scope=nobody", headers=h(server))
    assert r.status_code == 404
    r = httpx.delete(f"{base}?scope=attorney-jones", headers=h(server))
    assert r.status_code == 200 and r.json() == {"deleted_messages": 1}
    assert httpx.get(f"{base}/window?scope=attorney-jones", headers=h(server)).status_code == 404


def test_working_memory_routes(server, name):
    s = httpx.post(f"{server.url}/api/v1/sessions", headers=h(server), json={"agent_id": name}).json()
    url = f"{server.url}/api/v1/sessions/{s['id']}/working-memory"
    assert httpx.get(url, headers=h(server)).json() == {"session_id": s["id"], "document": {}, "version": 0}
    r = httpx.put(url, headers=h(server), json={"document": {"task": "draft the brief", "goal": "cite 3 cases"}, "version": 0})
    assert r.status_code == 200 and r.json()["version"] == 1
    # Two writers with the same version: the second is 409 and changes nothing.
    r = httpx.put(url, headers=h(server), json={"document": {"task": "other"}, "version": 0})
    assert r.status_code == 409, r.text
    r = httpx.patch(url, headers=h(server), json={"patch": {"goal": None, "results": ["case A"]}, "version": 1})
    assert r.status_code == 200
    assert r.json()["document"] == {"task": "draft the brief", "results": ["case A"]} and r.json()["version"] == 2
    r = httpx.put(url, headers=h(server), json={"document": {"x": "y" * (300 * 1024)}, "version": 2})
    assert r.status_code == 400 and r.json()["error"].startswith("document")
    r = httpx.put(url, headers=h(server), json={"document": {}})
    assert r.status_code == 400 and r.json()["error"].startswith("version")
    ctx = httpx.post(f"{server.url}/api/v1/sessions/{s['id']}/context", headers=h(server), json={}).json()
    assert "### Current Task\n- Task: draft the brief\n- Result: case A\n" in ctx["context"], ctx["context"]
    r = httpx.delete(f"{url}?version=2", headers=h(server))
    assert r.status_code == 200 and r.json()["document"] == {} and r.json()["version"] == 3
    assert httpx.get(f"{server.url}/api/v1/sessions/sess_nope/working-memory", headers=h(server)).status_code == 404


def test_watch_as_server_sent_events(server, name):
    """GET /api/v1/watch: memories written after the call arrive as SSE events, filtered; the
    event id resumes after it (as ?resume_token= or Last-Event-ID)."""
    h = {"x-api-key": server.admin_key}

    def events(response, n):
        out, event = [], {}
        for line in response.iter_lines():
            if line == "":
                if event.get("event") == "memory":
                    out.append(event)
                    if len(out) == n:
                        return out
                event = {}
            elif ":" in line and not line.startswith(":"):
                key, _, value = line.partition(":")
                event[key] = value.lstrip(" ")
        return out

    with httpx.Client(timeout=httpx.Timeout(20.0)) as client:
        with client.stream("GET", f"{server.url}/api/v1/watch?agent_id={name}&tags=deal", headers=h) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            for content, tags in [("no tag", []), ("deal 1", ["deal"]), ("deal 2", ["deal"])]:
                httpx.post(f"{server.url}/api/v1/memories", headers=h,
                           json={"agent_id": name, "content": content, "tags": tags})
            got = events(r, 2)
        assert [json.loads(e["data"])["content"] for e in got] == ["deal 1", "deal 2"]
        httpx.post(f"{server.url}/api/v1/memories", headers=h, json={"agent_id": name, "content": "deal 3", "tags": ["deal"]})
        resume = {**h, "last-event-id": got[0]["id"]}
        with client.stream("GET", f"{server.url}/api/v1/watch?agent_id={name}&tags=deal", headers=resume) as r:
            again = events(r, 2)
        assert [json.loads(e["data"])["content"] for e in again] == ["deal 2", "deal 3"]
    r = httpx.get(f"{server.url}/api/v1/watch?resume_token=garbage", headers=h)
    assert r.status_code == 400 and "resume_token" in r.json()["error"]
