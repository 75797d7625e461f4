#!/usr/bin/env python3
"""Writes crates/server/openapi.json, the OpenAPI 3 document of Engram's Memtrace-compatible REST
surface. This file is its source; `tests/python/test_openapi.py` checks the JSON is up to date and
schemathesis checks the server against it. Run: python3 scripts/openapi.py"""

import json
import pathlib

def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}

def obj(props, required=(), extra=False):
    schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    schema["additionalProperties"] = extra if isinstance(extra, (bool, dict)) else False
    return schema

STR = {"type": "string"}
TIME = {"type": "string", "format": "date-time", "description": "RFC 3339 UTC, 6 fractional digits"}
TIMESPEC = {"type": "string", "description": "45s, 90m, 2h, 7d, 2w ago, or an RFC 3339 time"}
JSONOBJ = {"type": "object", "additionalProperties": True}
TAGS = {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_.:/=@+-]{1,64}$"}, "maxItems": 32}
TYPES4 = ["episodic", "session", "decision", "entity"]
TYPES8 = TYPES4 + ["semantic", "state", "action", "interaction"]
IMPORTANCE = {"type": "number", "minimum": 0, "maximum": 1}

memory = obj({
    "id": STR, "time": TIME, "created_at": TIME, "org_id": STR, "agent_id": STR, "session_id": STR,
    "memory_type": {"type": "string", "enum": TYPES8}, "event_type": STR, "content": STR,
    "metadata": JSONOBJ, "tags": {"type": "array", "items": STR}, "dedup_key": STR, "importance": IMPORTANCE,
    "parent_id": STR, "step": {"type": "integer"}, "position": ref("Position"), "expires_at": TIME,
    "access_count": {"type": "integer", "minimum": 0, "description":
                     "reads by get, ranked search and context (recorded within about a second)"},
    "last_accessed_at": TIME,
    "scope": {"type": "string", "description": "Engram extension: the end user the memory is about"},
    "tier": {"type": "string", "enum": ["hot", "warm", "cold"], "description":
             "Engram extension: where the memory lives (README \"Memory lifecycle\"); read in full detail in every tier"},
}, ["id", "time", "created_at", "org_id", "agent_id", "memory_type", "event_type", "content", "metadata",
    "tags", "dedup_key", "importance", "tier"])

new_memory = obj({
    "agent_id": {"type": "string", "minLength": 1, "maxLength": 128, "description": "agent id or name; an unknown name registers the agent"},
    "session_id": {"type": "string", "maxLength": 128},
    "memory_type": {"type": "string", "enum": TYPES8, "default": "episodic"},
    "event_type": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$", "default": "general"},
    "content": {"type": "string", "minLength": 1, "maxLength": 65536},
    "metadata": JSONOBJ, "tags": TAGS, "dedup_key": {"type": "string", "maxLength": 128},
    "importance": IMPORTANCE, "parent_id": {"type": "string", "maxLength": 128},
    "time": TIME, "step": {"type": "integer"}, "position": ref("Position"), "expires_at": TIME,
    "reasoning": {"type": "string", "description": "stored as metadata.reasoning"},
    "embedding": {"type": "array", "items": {"type": "number"}, "maxItems": 4096, "description":
                  "Engram extension: your embedding of the memory (finite, not all zero); every vector of an org "
                  "has the dimension of its first"},
    "scope": {"type": "string", "maxLength": 128, "description":
              "Engram extension: the end user the memory is about (like mem0's user_id); every read can filter on it"},
}, ["agent_id", "content"], extra=True)

list_params = [
    ("agent_id", STR), ("session_id", STR),
    ("memory_type", {"type": "string", "description": "comma list; without it, only Memtrace's four types"}),
    ("event_type", {"type": "string", "description": "comma list"}),
    ("tags", {"type": "string", "description": "comma list, all of, exact"}),
    ("any_tags", {"type": "string", "description": "comma list, any of, exact"}),
    ("content_contains", {"type": "string", "description": "case-insensitive"}),
    ("min_importance", {"type": "number", "minimum": 0, "maximum": 1}),
    ("since", TIMESPEC), ("until", TIMESPEC),
    ("step_min", {"type": "integer"}), ("step_max", {"type": "integer"}),
    ("scope", {"type": "string", "description": "Engram extension: only memories of this scope"}),
    ("attributes", {"type": "string", "description":
                    "Engram extension: a JSON object; equality on top-level metadata keys, all at once"}),
    ("near", {"type": "string", "description": "Engram extension: x,y,radius or x,y,z,radius: within the radius"}),
    ("tiers", {"type": "string", "description": "Engram extension: comma list of hot, warm, cold (or stm, im, ltm)"}),
    ("limit", {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100}),
    ("offset", {"type": "integer", "minimum": 0}),
    ("order", {"type": "string", "enum": ["asc", "desc", "step_asc", "step_desc", "nearest"]}),
    ("page_token", STR),
]

def query(params, skip=()):
    return [{"name": n, "in": "query", "required": False, "schema": s} for n, s in params if n not in skip]

def path_id(what):
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": what}

def body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}

def ok(schema, code="200", description="OK"):
    return {code: {"description": description, "content": {"application/json": {"schema": schema}}}}

def errors(*codes):
    text = {"400": "invalid input (the message names the field)", "401": "missing, invalid, expired or revoked API key",
            "403": "the key lacks the permission", "404": "not found", "409": "conflict (duplicate)",
            "413": "body larger than 4 MiB"}
    return {c: {"description": text[c], "content": {"application/json": {"schema": ref("Error")}}} for c in codes}

def op(summary, responses, params=(), request=None, op_id=None):
    out = {"summary": summary, "operationId": op_id, "parameters": list(params), "responses": responses}
    if request:
        out["requestBody"] = request
    return out

AUTH = ("400", "401", "403")
CONV_PARAMS = [
    {"name": "agent", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
     "description": "agent id or name"},
    {"name": "conversation", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
     "description": "the client's conversation id"},
    {"name": "scope", "in": "query", "required": False, "schema": STR,
     "description": "the end user the conversation is about; absent: the empty scope"},
]
ROLE = {"type": "string", "enum": ["system", "user", "assistant", "tool"]}
TOOL_CALL = obj({"id": STR, "name": STR, "arguments": {"type": "string", "description": "JSON text"}},
                ["id", "name", "arguments"])
message = obj({"id": STR, "seq": {"type": "integer"}, "role": ROLE, "content": STR, "name": STR,
               "tool_calls": {"type": "array", "items": TOOL_CALL}, "tool_call_id": STR, "time": TIME,
               "metadata": JSONOBJ, "message_id": STR, "tokens": {"type": "integer"}, "created_at": TIME},
              ["id", "seq", "role", "content", "time", "metadata", "tokens", "created_at"])
new_message = obj({"role": ROLE, "content": {"type": "string", "maxLength": 65536}, "name": STR,
                   "tool_calls": {"type": "array", "items": TOOL_CALL}, "tool_call_id": STR, "time": TIME,
                   "metadata": JSONOBJ, "message_id": {"type": "string", "maxLength": 128,
                                                       "description": "your id: a retried append stores it once"}},
                  ["role"])
summary = obj({"text": STR, "through_seq": {"type": "integer"}, "tokens": {"type": "integer"}, "updated_at": TIME},
              ["text", "through_seq", "tokens", "updated_at"])
conversation = obj({"agent_id": STR, "scope": STR, "conversation": STR, "message_count": {"type": "integer"},
                    "token_total": {"type": "integer"}, "last_seq": {"type": "integer"}, "created_at": TIME,
                    "last_activity_at": TIME, "summary": summary},
                   ["agent_id", "scope", "conversation", "message_count", "token_total", "last_seq", "created_at",
                    "last_activity_at"])
doc = {
    "openapi": "3.0.3",
    "info": {"title": "Engram REST API (Memtrace-compatible)", "version": "1.0.0",
             "description": "Memtrace /api/v1 surface served by Engram on the gRPC port. Errors are {\"error\": \"...\"}."},
    "servers": [{"url": "http://localhost:9100"}],
    "security": [{"ApiKey": []}, {"Bearer": []}],
    "paths": {
        "/health": {"get": {**op("Liveness", ok(ref("Status")), op_id="health"), "security": []}},
        "/ready": {"get": {**op("Readiness: 503 until the store answers",
                                {**ok(ref("Status")), "503": {"description": "not ready", "content": {"application/json": {"schema": ref("Status")}}}},
                                op_id="ready"), "security": []}},
        "/api/v1/memories": {
            "post": op("Store one memory, or a batch {\"memories\": [...]} (at most 1,000)",
                       {**ok({"oneOf": [ref("Memory"), ref("BatchResult")]}, "201", "created (committed)"),
                        **errors(*AUTH, "404", "409", "413")},
                       request=body({"oneOf": [ref("NewMemory"), ref("NewMemories")]}), op_id="createMemory"),
            "get": op("List memories", {**ok(ref("MemoryList")), **errors(*AUTH)}, query(list_params), op_id="listMemories"),
        },
        "/api/v1/memories/{id}": {"get": op("Get a memory by id", {**ok(ref("Memory")), **errors(*AUTH, "404")},
                                            [path_id("memory id")], op_id="getMemory")},
        "/api/v1/search": {"post": op("Search memories with structured filters",
                                      {**ok(ref("SearchResult")), **errors(*AUTH, "409", "413")},
                                      request=body(ref("SearchQuery")), op_id="searchMemories")},
        "/api/v1/agents": {
            "post": op("Register an agent", {**ok(ref("Agent"), "201", "created"), **errors(*AUTH, "409", "413")},
                       request=body(ref("NewAgent")), op_id="registerAgent"),
            "get": op("List agents", {**ok(ref("AgentList")), **errors(*AUTH)}, op_id="listAgents"),
        },
        "/api/v1/agents/{id}": {
            "get": op("Get an agent by id or name", {**ok(ref("Agent")), **errors(*AUTH, "404")},
                      [path_id("agent id or name")], op_id="getAgent"),
            "delete": op("Delete an agent with its sessions and memories",
                         {"204": {"description": "deleted"}, **errors(*AUTH, "404", "409")},
                         [path_id("agent id or name"),
                          {"name": "cascade", "in": "query", "required": False, "schema": {"type": "string", "enum": ["true", "false"]}}],
                         op_id="deleteAgent"),
        },
        "/api/v1/agents/{id}/memories": {"get": op("Recent memories of an agent (since defaults to 24h)",
                                                   {**ok(ref("MemoryList")), **errors(*AUTH, "404")},
                                                   [path_id("agent id or name")] + query(list_params, skip=("agent_id",)),
                                                   op_id="getAgentMemories")},
        "/api/v1/agents/{id}/stats": {"get": op("Memory statistics of an agent", {**ok(ref("AgentStats")), **errors(*AUTH, "404")},
                                                [path_id("agent id or name")], op_id="getAgentStats")},
        "/api/v1/agents/{id}/context": {"post": op("LLM-ready Markdown context of an agent across its sessions within "
                                                   "max_tokens (Engram extension)",
                                                   {**ok(ref("AgentContext")), **errors(*AUTH, "404", "413")},
                                                   [path_id("agent id or name")], body(ref("ContextOptions")),
                                                   op_id="getAgentContext")},
        "/api/v1/sessions": {
            "post": op("Start a session", {**ok(ref("Session"), "201", "created"), **errors(*AUTH, "404", "413")},
                       request=body(ref("NewSession")), op_id="createSession"),
            "get": op("List sessions", {**ok(ref("SessionList")), **errors(*AUTH)},
                      [{"name": "agent_id", "in": "query", "required": False, "schema": STR},
                       {"name": "status", "in": "query", "required": False, "schema": {"type": "string", "enum": ["active", "closed"]}}],
                      op_id="listSessions"),
        },
        "/api/v1/sessions/{id}": {
            "get": op("Get a session", {**ok(ref("Session")), **errors(*AUTH, "404")}, [path_id("session id")], op_id="getSession"),
            "put": op("Update a session (status closed sets closed_at)", {**ok(ref("Session")), **errors(*AUTH, "404", "413")},
                      [path_id("session id")], body(ref("UpdateSession")), op_id="updateSession"),
        },
        "/api/v1/sessions/{id}/memories": {"get": op("Memories of a session", {**ok(ref("MemoryList")), **errors(*AUTH, "404")},
                                                     [path_id("session id")] + query(list_params, skip=("session_id",)),
                                                     op_id="getSessionMemories")},
        "/api/v1/sessions/{id}/context": {"post": op("LLM-ready Markdown context of a session within max_tokens",
                                                     {**ok(ref("SessionContext")), **errors(*AUTH, "404", "413")},
                                                     [path_id("session id")], body(ref("ContextOptions")),
                                                     op_id="getSessionContext")},
        "/api/v1/watch": {"get": op("Server-Sent Events (Engram extension): every memory written after resume_token (or the "
                                    "Last-Event-ID header; without either, after the call) that the filter admits, in "
                                    "commit order; each event is `event: memory`, `id: <resume token>`, `data: <Memory>`",
                                    {"200": {"description": "an endless text/event-stream",
                                             "content": {"text/event-stream": {"schema": STR}}},
                                     **errors(*AUTH)},
                                    query(list_params, skip=("limit", "offset", "order", "page_token"))
                                    + query([("resume_token", STR)]),
                                    op_id="watchMemories")},
        "/api/v1/conversations": {"get": op("An agent's conversations (Engram extension), oldest first, with counts",
                                            {**ok(ref("ConversationList")), **errors(*AUTH)},
                                            [{"name": "agent_id", "in": "query", "required": True,
                                              "schema": {"type": "string", "minLength": 1}},
                                             {"name": "scope", "in": "query", "required": False, "schema": STR,
                                              "description": "absent: every scope"},
                                             {"name": "limit", "in": "query", "required": False,
                                              "schema": {"type": "integer", "minimum": 0, "maximum": 1000}},
                                             {"name": "page_token", "in": "query", "required": False, "schema": STR}],
                                            op_id="listConversations")},
        "/api/v1/conversations/{agent}/{conversation}": {
            "delete": op("Delete a conversation and its messages", {**ok(obj({"deleted_messages": {"type": "integer"}})),
                                                                   **errors(*AUTH, "404")},
                         CONV_PARAMS, op_id="deleteConversation"),
        },
        "/api/v1/conversations/{agent}/{conversation}/messages": {
            "post": op("Append messages, atomically and in order (a repeated message_id is stored once)",
                       {**ok(ref("Appended"), "201", "appended"), **errors(*AUTH, "413")},
                       CONV_PARAMS, body(ref("NewMessages")), op_id="appendMessages"),
            "get": op("The full history, paged", {**ok(ref("MessageList")), **errors(*AUTH, "404")},
                      CONV_PARAMS + query([("limit", {"type": "integer", "minimum": 0, "maximum": 1000}),
                                           ("page_token", STR), ("order", {"type": "string", "enum": ["asc", "desc"]}),
                                           ("since", TIMESPEC), ("until", TIMESPEC)]),
                      op_id="listMessages"),
        },
        "/api/v1/conversations/{agent}/{conversation}/window": {
            "get": op("The active window: newest messages within max_messages and max_tokens, system messages "
                      "pinned, tool calls with their results, with the summary",
                      {**ok(ref("Window")), **errors(*AUTH, "404")},
                      CONV_PARAMS + query([("max_messages", {"type": "integer", "minimum": 0, "maximum": 10000}),
                                           ("max_tokens", {"type": "integer", "minimum": 0, "maximum": 200000})]),
                      op_id="getWindow"),
        },
        "/api/v1/conversations/{agent}/{conversation}/summary": {
            "put": op("Store a client-written summary of what fell out of the window (empty text clears it)",
                      {**ok(ref("Conversation")), **errors(*AUTH, "404", "413")},
                      CONV_PARAMS, body(obj({"text": STR, "through_seq": {"type": "integer", "minimum": 0}})),
                      op_id="setSummary"),
        },
        "/api/v1/sessions/{id}/working-memory": {
            "get": op("A session's working memory (an empty document at version 0 when never written)",
                      {**ok(ref("WorkingMemory")), **errors(*AUTH, "404")}, [path_id("session id")],
                      op_id="getWorkingMemory"),
            "put": op("Replace the document; version is the one read (409 when stale)",
                      {**ok(ref("WorkingMemory")), **errors(*AUTH, "404", "409", "413")}, [path_id("session id")],
                      body(obj({"document": JSONOBJ, "version": {"type": "integer", "minimum": 0}},
                               ["document", "version"])), op_id="setWorkingMemory"),
            "patch": op("Apply an RFC 7396 JSON merge patch (null removes a key); 409 when the version is stale",
                        {**ok(ref("WorkingMemory")), **errors(*AUTH, "404", "409", "413")}, [path_id("session id")],
                        body(obj({"patch": JSONOBJ, "version": {"type": "integer", "minimum": 0}}, ["patch", "version"])),
                        op_id="patchWorkingMemory"),
            "delete": op("Clear the document (the version still grows); 409 when the version is stale",
                         {**ok(ref("WorkingMemory")), **errors(*AUTH, "404", "409")},
                         [path_id("session id"), {"name": "version", "in": "query", "required": True,
                                                  "schema": {"type": "integer", "minimum": 0}}],
                         op_id="clearWorkingMemory"),
        },
        "/api/v1/openapi.json": {"get": {**op("This document", ok(JSONOBJ), op_id="openapi"), "security": []}},
    },
    "components": {
        "securitySchemes": {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            "Bearer": {"type": "http", "scheme": "bearer"},
        },
        "schemas": {
            "Error": obj({"error": STR, "existing_id": STR}, ["error"]),
            "Status": obj({"status": STR}, ["status"]),
            "Position": obj({"x": {"type": "number"}, "y": {"type": "number"}, "z": {"type": "number"}}, ["x", "y"]),
            "Memory": memory,
            "NewMemory": new_memory,
            "NewMemories": obj({"memories": {"type": "array", "items": ref("NewMemory"), "minItems": 1, "maxItems": 1000}},
                               ["memories"], extra=True),
            "BatchResult": obj({
                "memories": {"type": "array", "items": ref("Memory")}, "count": {"type": "integer"},
                "duplicates": {"type": "integer"},
                "results": {"type": "array", "items": obj({"status": {"type": "string", "enum": ["created", "duplicate"]}, "id": STR},
                                                        ["status", "id"])},
            }, ["memories", "count", "duplicates", "results"]),
            "MemoryList": obj({"memories": {"type": "array", "items": ref("Memory")}, "count": {"type": "integer"},
                               "has_more": {"type": "boolean"}, "next_page_token": STR}, ["memories", "count", "has_more"]),
            "SearchQuery": obj({
                "agent_id": STR, "session_id": STR,
                "memory_types": {"type": "array", "items": {"type": "string", "enum": TYPES8}},
                "event_types": {"type": "array", "items": STR}, "tags": TAGS, "any_tags": TAGS,
                "content_contains": STR, "since": TIMESPEC, "until": TIMESPEC, "min_importance": IMPORTANCE,
                "step_min": {"type": "integer"}, "step_max": {"type": "integer"},
                "scope": {"type": "string", "description": "Engram extension: only memories of this scope"},
                "attributes": {"type": "object", "additionalProperties": True, "description":
                               "Engram extension: equality on top-level metadata keys, all at once"},
                "near": obj({"x": {"type": "number"}, "y": {"type": "number"}, "z": {"type": "number"},
                             "radius": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}, ["x", "y", "radius"]),
                "tiers": {"type": "array", "items": {"type": "string", "enum": ["hot", "warm", "cold", "stm", "im", "ltm"]},
                          "description": "Engram extension: only memories in these tiers"},
                "limit": {"type": "integer", "minimum": 0, "maximum": 1000}, "offset": {"type": "integer", "minimum": 0},
                "order": {"type": "string", "enum": ["asc", "desc", "step_asc", "step_desc", "nearest"]}, "page_token": STR,
                "query": {"type": "string", "maxLength": 1024, "description":
                          "Engram extension: rank by relevance (BM25 with stemming; \"quoted phrases\" must match). "
                          "Results come best first with `scores`; page with offset (at most 1000); order and "
                          "page_token must be unset."},
                "mode": {"type": "string", "enum": ["keyword", "semantic", "hybrid"], "description":
                         "Engram extension, with query or query_embedding: how results are ranked (default: "
                         "hybrid with a text and a vector, semantic with a vector only, keyword otherwise). "
                         "semantic and hybrid without a vector answer 409."},
                "query_embedding": {"type": "array", "items": {"type": "number"}, "maxItems": 4096, "description":
                                    "Engram extension: your embedding of the query (semantic, hybrid)"},
            }, extra=True),
            "SearchResult": obj({"results": {"type": "array", "items": ref("Memory")}, "count": {"type": "integer"},
                                 "has_more": {"type": "boolean"}, "query_time_ms": {"type": "integer"},
                                 "next_page_token": STR,
                                 "scores": {"type": "array", "description": "with a query: each result's score, in order",
                                            "items": obj({"id": STR, "score": {"type": "number"}, "keyword": {"type": "number"},
                                                          "semantic": {"type": "number"}, "recency": {"type": "number"},
                                                          "importance": {"type": "number"}},
                                                         ["id", "score", "keyword", "semantic", "recency", "importance"])},
                                 "mode": {"type": "string", "enum": ["keyword", "semantic", "hybrid"]},
                                 "unembedded": {"type": "integer", "description":
                                                "semantic and hybrid: memories the filters admit without a vector"}},
                                ["results", "count", "has_more", "query_time_ms"]),
            "Agent": obj({"id": STR, "org_id": STR, "name": STR, "description": STR, "config": JSONOBJ,
                          "created_at": TIME, "last_active_at": TIME},
                         ["id", "org_id", "name", "description", "config", "created_at"]),
            "NewAgent": obj({"name": {"type": "string", "minLength": 1, "maxLength": 128}, "description": STR,
                             "config": JSONOBJ}, ["name"], extra=True),
            "AgentList": obj({"agents": {"type": "array", "items": ref("Agent")}, "count": {"type": "integer"}}, ["agents", "count"]),
            "AgentStats": obj({
                "agent_id": STR, "memory_count": {"type": "integer"}, "memories_24h": {"type": "integer"},
                "errors_24h": {"type": "integer"}, "session_count": {"type": "integer"},
                "active_sessions": {"type": "integer"}, "last_active_at": TIME,
                "memory_types": {"type": "object", "additionalProperties": {"type": "integer"}},
                "tiers": obj({"hot": {"type": "integer"}, "warm": {"type": "integer"}, "cold": {"type": "integer"}},
                             ["hot", "warm", "cold"]),
            }, ["agent_id", "memory_count", "memories_24h", "errors_24h", "session_count", "active_sessions", "memory_types",
                "tiers"]),
            "Session": obj({"id": STR, "org_id": STR, "agent_id": STR, "status": {"type": "string", "enum": ["active", "closed"]},
                            "metadata": JSONOBJ, "created_at": TIME, "updated_at": TIME, "closed_at": TIME},
                           ["id", "org_id", "agent_id", "status", "metadata", "created_at", "updated_at"]),
            "NewSession": obj({"agent_id": {"type": "string", "minLength": 1, "maxLength": 128}, "metadata": JSONOBJ},
                              ["agent_id"], extra=True),
            "UpdateSession": obj({"status": {"type": "string", "enum": ["active", "closed"]}, "metadata": JSONOBJ,
                                  "metadata_mode": {"type": "string", "enum": ["replace", "merge"], "default": "replace"}},
                                 extra=True),
            "SessionList": obj({"sessions": {"type": "array", "items": ref("Session")}, "count": {"type": "integer"}},
                               ["sessions", "count"]),
            "ContextOptions": obj({"max_tokens": {"type": "integer", "minimum": 1, "maximum": 200000, "default": 4000},
                                   "include_types": {"type": "array", "items": {"type": "string", "enum": TYPES8}},
                                   "since": TIMESPEC, "until": TIMESPEC,
                                   "tokenizer": {"type": "string", "enum": ["cl100k_base", "o200k_base"]},
                                   "scope": {"type": "string", "description": "Engram extension: only memories of this scope"}},
                                  extra=True),
            "Message": message,
            "NewMessages": obj({"messages": {"type": "array", "items": new_message, "minItems": 1, "maxItems": 1000},
                                "record_as_memories": {"type": "boolean", "description":
                                                       "also record user and assistant messages as memories"}},
                               ["messages"]),
            "Conversation": conversation,
            "Appended": obj({"conversation": conversation, "messages": {"type": "array", "items": ref("Message")},
                             "duplicates": {"type": "integer"}, "memory_ids": {"type": "array", "items": STR}},
                            ["conversation", "messages", "duplicates", "memory_ids"]),
            "Window": obj({"conversation": conversation, "messages": {"type": "array", "items": ref("Message")},
                           "summary": summary, "token_count": {"type": "integer"},
                           "omitted_messages": {"type": "integer"}, "omitted_tokens": {"type": "integer"},
                           "max_messages": {"type": "integer"}, "max_tokens": {"type": "integer"}},
                          ["conversation", "messages", "token_count", "omitted_messages", "omitted_tokens",
                           "max_messages", "max_tokens"]),
            "MessageList": obj({"messages": {"type": "array", "items": ref("Message")}, "count": {"type": "integer"},
                                "next_page_token": STR}, ["messages", "count"]),
            "ConversationList": obj({"conversations": {"type": "array", "items": conversation},
                                     "count": {"type": "integer"}, "next_page_token": STR},
                                    ["conversations", "count"]),
            "WorkingMemory": obj({"session_id": STR, "document": JSONOBJ, "version": {"type": "integer"},
                                  "updated_at": TIME}, ["session_id", "document", "version"]),
            "SessionContext": obj({"session_id": STR, "context": STR, "memory_count": {"type": "integer"},
                                   "token_count": {"type": "integer"}, "memory_ids": {"type": "array", "items": STR},
                                   "omitted_count": {"type": "integer"}, "tokenizer": STR},
                                  ["session_id", "context", "memory_count"]),
            "AgentContext": obj({"agent_id": STR, "context": STR, "memory_count": {"type": "integer"},
                                 "token_count": {"type": "integer"}, "memory_ids": {"type": "array", "items": STR},
                                 "omitted_count": {"type": "integer"}, "tokenizer": STR},
                                ["agent_id", "context", "memory_count"]),
        },
    },
}

def render():
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"

if __name__ == "__main__":
    out = pathlib.Path(__file__).resolve().parent.parent / "crates" / "server" / "openapi.json"
    out.write_text(render())
    print(f"wrote {out}")
