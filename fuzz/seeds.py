#!/usr/bin/env python3
"""Writes the seed corpus (corpus/<target>/seed-*): hand-written valid inputs for each target.
Run from fuzz/: python3 seeds.py. The gRPC seeds are protobuf encoded here by hand (a few lines
of wire format), so no protobuf package is needed."""
import json
import os
import struct

REQUESTS = ["CreateOrgRequest", "ListOrgsRequest", "CreateApiKeyRequest", "ListApiKeysRequest",
            "RevokeApiKeyRequest", "RegisterAgentRequest", "GetAgentRequest", "ListAgentsRequest",
            "DeleteAgentRequest", "GetAgentStatsRequest", "BuildContextRequest", "AppendMessagesRequest",
            "GetWindowRequest", "ListMessagesRequest", "ListConversationsRequest", "DeleteConversationRequest",
            "SetSummaryRequest", "ForceMaintenanceRequest", "GetLifecyclePolicyRequest",
            "SetLifecyclePolicyRequest", "ClearCacheRequest", "SetCacheTtlRequest", "AddMemoryRequest",
            "AddMemoriesRequest", "GetMemoryRequest", "ListMemoriesRequest", "SearchMemoriesRequest",
            "UpdateMemoryRequest", "DeleteMemoryRequest", "DeleteMemoriesRequest", "CreateSessionRequest",
            "GetSessionRequest", "ListSessionsRequest", "UpdateSessionRequest", "CloseSessionRequest",
            "GetSessionContextRequest", "GetMemoryStatisticsRequest", "RetrieveSimilarStatesRequest",
            "GetStateChangesRequest", "WatchMemoriesRequest", "GetWorkingMemoryRequest",
            "SetWorkingMemoryRequest", "PatchWorkingMemoryRequest", "ClearWorkingMemoryRequest"]
BODY_ROUTES = ["POST /memories", "POST /search", "POST /agents", "POST /sessions", "PUT /sessions/{id}",
               "POST /sessions/{id}/context", "POST /conversations/{agent}/{conversation}/messages",
               "PUT /conversations/{agent}/{conversation}/summary", "PUT /sessions/{id}/working-memory",
               "PATCH /sessions/{id}/working-memory"]
QUERY_ROUTES = ["GET /memories", "GET /agents/{id}/memories", "GET /sessions", "DELETE /agents/{id}",
                "GET /conversations/{agent}/{conversation}/window",
                "GET /conversations/{agent}/{conversation}/messages", "GET /conversations",
                "DELETE /sessions/{id}/working-memory"]


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def s(field, text):  # string, bytes or an embedded message
    data = text.encode() if isinstance(text, str) else text
    return key(field, 2) + varint(len(data)) + data


def u(field, n):  # varint scalar (int, enum, bool)
    return key(field, 0) + varint(n)


def d(field, x):  # double
    return key(field, 1) + struct.pack("<d", x)


def floats(field, xs):  # packed repeated float
    return s(field, b"".join(struct.pack("<f", x) for x in xs))


def value(v):  # google.protobuf.Value
    if v is None:
        return u(1, 0)
    if isinstance(v, bool):
        return u(4, int(v))
    if isinstance(v, (int, float)):
        return d(2, float(v))
    if isinstance(v, str):
        return s(3, v)
    if isinstance(v, dict):
        return s(5, struct_(v))
    return s(6, b"".join(s(1, value(x)) for x in v))


def struct_(obj):  # google.protobuf.Struct
    return b"".join(s(1, s(1, k) + s(2, value(v))) for k, v in obj.items())


def timestamp(seconds, nanos=0):
    return u(1, seconds) + (u(2, nanos) if nanos else b"")


NEW_MEMORY = (s(1, "coder") + u(3, 1) + s(4, "fix") + s(5, "Fixed the login bug in auth.go")
              + s(6, struct_({"file": "auth.go", "lines": [10, 20]})) + s(7, "file:auth.go") + d(8, 0.7))
DECISION = (s(1, "coder") + s(2, "sess_abc") + u(3, 2) + s(4, "decision") + s(5, "Skip pagination")
            + s(15, "only 2 pages deep") + u(12, 3) + s(13, d(1, 1.0) + d(2, 2.0)) + floats(16, [0.1, 0.2, 0.3]))
FILTER = (s(1, "coder") + s(5, "file:auth.go") + s(9, "2h") + s(10, "2026-02-08T12:00:00Z") + u(3, 1) + u(3, 2)
          + s(7, "login") + d(8, 0.3) + s(14, struct_({"action_type": "trade", "ok": True}))
          + s(15, d(1, 0) + d(2, 0) + d(4, 5.0)) + u(16, 1))
OPTIONS = s(1, "7d") + u(3, 2) + u(4, 2000) + s(5, "o200k_base") + s(6, "the login bug")
MESSAGE = u(1, 2) + s(2, "Why does login fail?") + s(8, "msg-1")
TOOL_CALL = u(1, 3) + s(4, s(1, "call_1") + s(2, "read_file") + s(3, '{"path": "auth.go"}'))
TOOL_RESULT = u(1, 4) + s(2, "package auth") + s(5, "call_1") + s(6, timestamp(1770000000, 5000))
GRPC = {
    "CreateOrgRequest": [s(1, "acme")],
    "ListOrgsRequest": [b""],
    "CreateApiKeyRequest": [s(2, "ci") + u(3, 1) + u(3, 2) + s(4, timestamp(1900000000))],
    "RegisterAgentRequest": [s(1, "coder") + s(2, "writes code") + s(3, struct_({"window_max_tokens": 8000}))],
    "GetAgentRequest": [s(2, "coder"), s(1, "agent_0123456789abcdef01234567")],
    "ListAgentsRequest": [u(1, 50)],
    "DeleteAgentRequest": [s(1, "coder") + u(2, 1)],
    "BuildContextRequest": [s(1, "coder") + s(3, u(4, 2000)), s(2, "sess_abc") + s(3, OPTIONS)],
    "AppendMessagesRequest": [s(1, "coder") + s(3, "chat-1") + s(4, MESSAGE) + s(4, TOOL_CALL) + s(4, TOOL_RESULT)],
    "GetWindowRequest": [s(1, "coder") + s(3, "chat-1") + u(4, 50) + u(5, 4000)],
    "ListMessagesRequest": [s(1, "coder") + s(3, "chat-1") + u(4, 10) + s(7, "1h")],
    "ListConversationsRequest": [s(1, "coder") + s(2, "user-7") + u(3, 10)],
    "SetSummaryRequest": [s(1, "coder") + s(3, "chat-1") + s(4, "The user asked about login.") + u(5, 2)],
    "ForceMaintenanceRequest": [u(2, 1) + s(3, struct_({"max_age": "30d", "decay_factor": 0.9}))],
    "SetLifecyclePolicyRequest": [s(1, "coder") + s(2, struct_({"hot_for": "1d", "keep_top": 10, "max_count": None}))],
    "SetCacheTtlRequest": [u(1, 60)],
    "AddMemoryRequest": [s(1, NEW_MEMORY), s(1, DECISION)],
    "AddMemoriesRequest": [s(1, NEW_MEMORY) + s(1, DECISION)],
    "GetMemoryRequest": [s(1, "mem_01JKXYZ")],
    "ListMemoriesRequest": [s(1, FILTER) + u(2, 10) + u(3, 2), s(1, s(1, "coder") + s(9, "2h"))],
    "SearchMemoriesRequest": [s(1, FILTER) + u(2, 5) + s(6, "login bug") + u(7, 3) + floats(8, [0.5, 0.5])],
    "UpdateMemoryRequest": [s(1, "mem_01JKXYZ") + s(2, s(1, "importance") + s(1, "tags") + s(1, "metadata"))
                            + d(3, 0.9) + s(4, "urgent") + s(5, struct_({"k": "v"}))],
    "DeleteMemoriesRequest": [s(1, "coder") + u(3, 1) + s(4, "7d") + s(5, "1h")],
    "CreateSessionRequest": [s(1, "coder") + s(2, struct_({"ticket": "ENG-1"}))],
    "ListSessionsRequest": [s(1, "coder") + u(2, 1) + u(3, 20)],
    "UpdateSessionRequest": [s(1, "sess_abc") + u(2, 2) + s(3, struct_({"done": True})) + u(4, 1)],
    "GetSessionContextRequest": [s(1, "sess_abc") + s(2, OPTIONS)],
    "RetrieveSimilarStatesRequest": [s(1, "trader") + s(2, struct_({"cash": 100, "position": "long"})) + u(4, 5),
                                     s(1, "trader") + floats(3, [0.1, 0.9]) + u(5, 1) + u(6, 9)],
    "GetStateChangesRequest": [s(1, "trader") + u(2, 1) + u(3, 10) + u(4, 20)],
    "WatchMemoriesRequest": [s(1, FILTER)],
    "GetWorkingMemoryRequest": [s(1, "sess_abc")],
    "SetWorkingMemoryRequest": [s(1, "sess_abc") + s(2, struct_({"task": "fix login", "subgoals": ["read", "fix"]}))],
    "PatchWorkingMemoryRequest": [s(1, "sess_abc") + s(2, struct_({"scratchpad": None, "variables": {"n": 2}})) + u(3, 1)],
    "ClearWorkingMemoryRequest": [s(1, "sess_abc") + u(2, 3)],
}
for name in REQUESTS:  # every message gets a seed; the ones above get real ones
    GRPC.setdefault(name, [s(1, "coder")])

MEMORY = {"agent_id": "coder", "content": "Fixed the login bug in auth.go", "memory_type": "episodic",
          "event_type": "fix", "tags": ["file:auth.go", "bug"], "importance": 0.7, "metadata": {"file": "auth.go"}}
DECISION_JSON = {"agent_id": "coder", "session_id": "sess_abc", "memory_type": "decision", "event_type": "decision",
                 "content": "Skip pagination", "reasoning": "only 2 pages deep", "time": "2026-02-08T12:00:00Z",
                 "step": 3, "position": {"x": 1, "y": 2}, "expires_at": "2030-01-01T00:00:00Z",
                 "embedding": [0.1, 0.2], "scope": "user-7", "dedup_key": "d1", "parent_id": "mem_01JKXYZ"}
BODIES = {
    "POST /memories": [MEMORY, {"memories": [MEMORY, DECISION_JSON]}],
    "POST /search": [{"agent_id": "coder", "tags": ["bug"], "since": "2h", "limit": 10, "order": "asc"},
                     {"query": "login bug", "mode": "hybrid", "memory_types": ["episodic", "decision"],
                      "attributes": {"action_type": "trade"}, "near": {"x": 0, "y": 0, "radius": 5},
                      "tiers": ["hot"], "content_contains": "login", "min_importance": 0.3}],
    "POST /agents": [{"name": "coder", "description": "writes code", "config": {"window_max_tokens": 8000}}],
    "POST /sessions": [{"agent_id": "coder", "metadata": {"ticket": "ENG-1"}}],
    "PUT /sessions/{id}": [{"status": "closed", "metadata": {"done": True}, "metadata_mode": "merge"}],
    "POST /sessions/{id}/context": [{"max_tokens": 2000, "include_types": ["decision"], "since": "7d",
                                     "tokenizer": "o200k_base", "query": "login"}],
    "POST /conversations/{agent}/{conversation}/messages": [
        {"messages": [{"role": "user", "content": "Why does login fail?", "message_id": "m1"},
                      {"role": "assistant", "tool_calls": [{"id": "c1", "name": "read_file", "arguments": "{}"}]},
                      {"role": "tool", "content": "package auth", "tool_call_id": "c1",
                       "time": "2026-02-08T12:00:00Z"}], "record_as_memories": True}],
    "PUT /conversations/{agent}/{conversation}/summary": [{"text": "The user asked about login.", "through_seq": 2}],
    "PUT /sessions/{id}/working-memory": [{"document": {"task": "fix login", "subgoals": ["read", "fix"]}, "version": 0}],
    "PATCH /sessions/{id}/working-memory": [{"patch": {"variables": {"n": 2}, "task": None}, "version": 1}],
}
QUERIES = {
    "GET /memories": ["agent_id=coder&since=2h&tags=bug,file:auth.go&limit=10&order=asc",
                      "memory_type=decision,episodic&near=0,0,5&order=nearest&attributes=%7B%22k%22%3A1%7D&tiers=hot,warm",
                      "content_contains=login&min_importance=0.5&step_min=1&step_max=9&offset=10"],
    "GET /agents/{id}/memories": ["since=7d&until=1h&event_type=fix"],
    "GET /sessions": ["agent_id=coder&status=active"],
    "DELETE /agents/{id}": ["cascade=false"],
    "GET /conversations/{agent}/{conversation}/window": ["max_messages=50&max_tokens=4000&scope=user-7"],
    "GET /conversations/{agent}/{conversation}/messages": ["limit=10&order=desc&since=1h"],
    "GET /conversations": ["agent_id=coder&scope=&limit=5"],
    "DELETE /sessions/{id}/working-memory": ["version=3"],
}
TIMES = ["45s", "90m", "2h", "7d", "2w", "0s", "2026-02-08T12:00:00Z", "2026-02-08T13:00:00.1234567+01:00",
         "1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", " 24h "]
# RFC 7396 appendix A: target 0xFF patch.
PATCHES = [({"a": "b"}, {"a": "c"}), ({"a": "b"}, {"b": "c"}), ({"a": "b"}, {"a": None}),
           ({"a": [{"b": "c"}]}, {"a": [1]}), ({"e": None}, {"a": 1}), ([1, 2], {"a": "b", "c": None}),
           ({}, {"a": {"bb": {"ccc": None}}}), ({"a": "foo"}, "bar"),
           ({"task": "t", "variables": {"a": 1}}, {"variables": {"b": 2, "a": None}, "results": [1]})]


def write(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    with open(f"corpus/{target}/seed-{name}", "wb") as f:
        f.write(data)


for i, name in enumerate(REQUESTS):
    for j, message in enumerate(GRPC[name]):
        write("grpc_request", f"{name}-{j}", bytes([i]) + message)
for i, route in enumerate(BODY_ROUTES):
    for j, body in enumerate(BODIES[route]):
        write("rest_body", f"{i}-{j}", bytes([i]) + json.dumps(body).encode())
for i, route in enumerate(QUERY_ROUTES):
    for j, query in enumerate(QUERIES[route]):
        write("rest_query", f"{i}-{j}", bytes([i]) + query.encode())
for i, t in enumerate(TIMES):
    write("time_spec", str(i), t.encode())
for i, (target, patch) in enumerate(PATCHES):
    write("merge_patch", str(i), json.dumps(target).encode() + b"\xff" + json.dumps(patch).encode())
write("merge_patch", "deep", b"\xfe\x00\x30" + b'{"x": 1}')
# A crash found in CI: a 62-digit integer (1e61) was parsed one ulp off and read back differently.
write("merge_patch", "long-integer", b"1" + b"0" * 61)
# `arbitrary` inputs: any bytes decode; these give a few memories of several kinds.
for target in ["filter", "context"]:
    for i, text in enumerate([b"coder\x00sess_abc\x00file:auth.go\x002h\x001h", b"\x05" * 64,
                              bytes(range(256)), b"## Session Context\n- [x] decision: skip\n" * 4]):
        write(target, str(i), text)
