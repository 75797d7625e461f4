"""One builder per unary call: the request message and the conversion of its response. The sync
and async clients run the same builders, so both send exactly the same requests."""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypedDict,
                    Union)

from google.protobuf import field_mask_pb2

from . import _convert as c
from . import types as t
from .v1 import (admin_pb2, agents_pb2, common_pb2, context_pb2, conversations_pb2, lifecycle_pb2,
                 memories_pb2, sessions_pb2, simulation_pb2, watch_pb2, working_memory_pb2)

Names = Union[str, Sequence[str]]
TypeNames = Union[str, int, Sequence[Union[str, int]]]
PositionLike = Union[t.Position, Sequence[float], Mapping[str, float]]
NearLike = Union[t.Near, Sequence[float], Mapping[str, float]]


# --- options, declared once for both clients -----------------------------------------------------

class DecisionFields(TypedDict, total=False):
    """Options of a new memory (remember, decide, add_memories)."""
    session_id: str
    tags: Names
    importance: float                 # 0..1, default 0.5
    metadata: Mapping[str, Any]
    event_type: str                   # default "general" ("decision" for decide)
    memory_type: Union[str, int]      # "episodic" (default), "decision", "semantic", "state", ...
    time: _dt.datetime                # when it happened (back-fill); default now
    step: int
    position: PositionLike            # (x, y) or (x, y, z)
    parent_id: str
    dedup_key: str
    expires_at: Union[_dt.datetime, _dt.timedelta]  # a timedelta: from now
    embedding: Sequence[float]
    scope: str                        # the end user it is about


class MemoryFields(DecisionFields, total=False):
    reasoning: str


class _Filters(TypedDict, total=False):
    session_id: str
    types: Optional[TypeNames]        # memory types, any of
    event_types: Names                # any of
    tags: Names                       # all of (exact)
    any_tags: Names                   # at least one of
    content_contains: str             # case-insensitive substring / word prefixes
    min_importance: float
    until: c.TimeSpec                 # exclusive; the forms of since
    step_min: int
    step_max: int
    scope: str
    attributes: Mapping[str, Any]     # equality on top-level metadata keys
    near: NearLike                    # (x, y, radius) or (x, y, z, radius)
    tiers: Names                      # "hot", "warm", "cold" (or "stm", "im", "ltm")


class FilterArgs(_Filters, total=False):
    """Filters of listings, searches and watches; all given ones apply."""
    since: c.TimeSpec                 # inclusive: "2h", "7d", RFC 3339, a datetime, or a timedelta ago


class _Paging(TypedDict, total=False):
    limit: int                        # page size: default 100, at most 1000
    order: Union[str, int]            # "desc" (default), "asc", "step_asc", "step_desc", "nearest"
    page_token: str
    offset: int


class ListArgs(FilterArgs, _Paging, total=False):
    """Filters and paging of a listing."""


class RecallArgs(_Filters, _Paging, total=False):
    """recall()'s: the filters but since (its own argument), and paging."""


class SearchArgs(ListArgs, total=False):
    mode: Union[str, int]             # "keyword", "semantic", "hybrid"; default by what is given
    query_embedding: Sequence[float]


class ContextArgs(TypedDict, total=False):
    since: c.TimeSpec                 # default "24h"
    until: c.TimeSpec
    include_types: TypeNames
    max_tokens: int                   # default 4000
    tokenizer: str                    # "cl100k_base" (default) or "o200k_base"
    query: str                        # what the next prompt is about: rank by relevance to it
    scope: str


class SimulationFields(TypedDict, total=False):
    """Options of store_agent_state / _action / _interaction."""
    content: str                      # default: derived from the data
    event_type: str                   # default: the memory type ("state", "action", "interaction")
    session_id: str
    tags: Names
    position: PositionLike            # default for states: the data's "position" when it is (x, y[, z])
    embedding: Sequence[float]
    scope: str
    time: _dt.datetime
    dedup_key: str


def _check(kw: Mapping[str, Any], allowed: Any, call: str) -> None:
    names = set()
    for cls in allowed if isinstance(allowed, tuple) else (allowed,):
        names |= set(getattr(cls, "__annotations__", {}))
        for base in getattr(cls, "__mro__", ()):
            names |= set(getattr(base, "__annotations__", {}))
    unknown = sorted(set(kw) - names)
    if unknown:
        raise TypeError(f"{call}() got unexpected keyword argument(s) {', '.join(unknown)}; "
                        f"it takes {', '.join(sorted(names))}")


# --- a call --------------------------------------------------------------------------------------

@dataclass
class Call:
    service: str
    method: str
    request: Any
    convert: Callable[[Any], Any]


SERVICES = {
    "agents": "AgentService",
    "sessions": "SessionService",
    "memories": "MemoryService",
    "context": "ContextService",
    "admin": "AdminService",
    "conversations": "ConversationService",
    "working_memory": "WorkingMemoryService",
    "watch": "WatchService",
    "simulation": "SimulationService",
    "lifecycle": "LifecycleService",
}


def _ident(x: Any) -> Any:
    return x


# --- values --------------------------------------------------------------------------------------

def position(value: Optional[PositionLike], field: str) -> Optional[common_pb2.Position]:
    if value is None:
        return None
    if isinstance(value, t.Position):
        x, y, z = value.x, value.y, value.z
    elif isinstance(value, Mapping):
        x, y, z = value["x"], value["y"], value.get("z")
    else:
        seq = list(value)
        if len(seq) not in (2, 3):
            raise ValueError(f"{field}: a position is (x, y) or (x, y, z)")
        x, y, z = seq[0], seq[1], (seq[2] if len(seq) == 3 else None)
    p = common_pb2.Position(x=float(x), y=float(y))
    if z is not None:
        p.z = float(z)
    return p


def near(value: Optional[NearLike], field: str = "near") -> Optional[common_pb2.Near]:
    if value is None:
        return None
    if isinstance(value, t.Near):
        x, y, z, radius = value.x, value.y, value.z, value.radius
    elif isinstance(value, Mapping):
        x, y, z, radius = value["x"], value["y"], value.get("z"), value["radius"]
    else:
        seq = list(value)
        if len(seq) == 3:
            x, y, radius = seq
            z = None
        elif len(seq) == 4:
            x, y, z, radius = seq
        else:
            raise ValueError(f"{field}: near is (x, y, radius) or (x, y, z, radius)")
    n = common_pb2.Near(x=float(x), y=float(y), radius=float(radius))
    if z is not None:
        n.z = float(z)
    return n


def new_memory(agent: str, content: str, kw: Mapping[str, Any], path: str = "memory") -> common_pb2.NewMemory:
    m = common_pb2.NewMemory(
        agent=agent,
        content=content,
        memory_type=c.MEMORY_TYPE.to_pb(kw.get("memory_type"), f"{path}.memory_type"),
        event_type=kw.get("event_type") or "",
        tags=c.str_list(kw.get("tags")),
        dedup_key=kw.get("dedup_key") or "",
        reasoning=kw.get("reasoning") or "",
        embedding=c.floats(kw.get("embedding")),
        scope=kw.get("scope") or "",
    )
    if kw.get("session_id"):
        m.session_id = kw["session_id"]
    if kw.get("parent_id"):
        m.parent_id = kw["parent_id"]
    if kw.get("importance") is not None:
        m.importance = float(kw["importance"])
    if kw.get("step") is not None:
        m.step = int(kw["step"])
    if kw.get("metadata") is not None:
        m.metadata.CopyFrom(c.to_struct(kw["metadata"], f"{path}.metadata"))
    pos = position(kw.get("position"), f"{path}.position")
    if pos is not None:
        m.position.CopyFrom(pos)
    ts = c.to_timestamp(kw.get("time"), f"{path}.time")
    if ts is not None:
        m.time.CopyFrom(ts)
    exp = c.to_timestamp(kw.get("expires_at"), f"{path}.expires_at", relative_to_now=True)
    if exp is not None:
        m.expires_at.CopyFrom(exp)
    return m


def memory_filter(agent: Optional[str], kw: Mapping[str, Any]) -> common_pb2.MemoryFilter:
    f = common_pb2.MemoryFilter(
        agent=agent or "",
        session_id=kw.get("session_id") or "",
        memory_types=c.MEMORY_TYPE.to_pb_list(kw.get("types"), "types"),
        event_types=c.str_list(kw.get("event_types")),
        tags=c.str_list(kw.get("tags")),
        any_tags=c.str_list(kw.get("any_tags")),
        content_contains=kw.get("content_contains") or "",
        since=c.time_spec(kw.get("since"), "since"),
        until=c.time_spec(kw.get("until"), "until"),
        scope=kw.get("scope") or "",
        tiers=c.TIER.to_pb_list(kw.get("tiers"), "tiers"),
    )
    if kw.get("min_importance") is not None:
        f.min_importance = float(kw["min_importance"])
    if kw.get("step_min") is not None:
        f.step_min = int(kw["step_min"])
    if kw.get("step_max") is not None:
        f.step_max = int(kw["step_max"])
    if kw.get("attributes") is not None:
        f.attributes.CopyFrom(c.to_struct(kw["attributes"], "attributes"))
    n = near(kw.get("near"))
    if n is not None:
        f.near.CopyFrom(n)
    return f


def _filter_and_paging(agent: Optional[str], kw: Mapping[str, Any]) -> Dict[str, Any]:
    return dict(
        filter=memory_filter(agent, kw),
        limit=int(kw.get("limit") or 0),
        order=c.ORDER.to_pb(kw.get("order"), "order"),
        page_token=kw.get("page_token") or "",
        offset=int(kw.get("offset") or 0),
    )


# --- memories ------------------------------------------------------------------------------------

def _memory_of_add(r: Any) -> t.Memory:
    return t.Memory.from_pb(r.memory)


def remember(agent: str, text: str, kw: Mapping[str, Any]) -> Call:
    _check(kw, MemoryFields, "remember")
    req = memories_pb2.AddMemoryRequest(memory=new_memory(agent, text, kw))
    return Call("memories", "AddMemory", req, _memory_of_add)


def decide(agent: str, decision: str, reasoning: str, kw: Mapping[str, Any]) -> Call:
    _check(kw, MemoryFields, "decide")
    if "reasoning" in kw:
        raise TypeError("decide() got the reasoning twice")
    fields = {"memory_type": "decision", "event_type": "decision", **kw, "reasoning": reasoning}
    req = memories_pb2.AddMemoryRequest(memory=new_memory(agent, decision, fields))
    return Call("memories", "AddMemory", req, _memory_of_add)


def add_memories(memories: Iterable[Mapping[str, Any]]) -> Call:
    items = []
    for i, m in enumerate(memories):
        m = dict(m)
        agent = m.pop("agent", None) or m.pop("agent_id", None)
        content = m.pop("content", None)
        if agent is None or content is None:
            raise TypeError(f"memories[{i}]: needs 'agent' and 'content'")
        _check(m, MemoryFields, f"add_memories: memories[{i}]")
        items.append(new_memory(agent, content, m, f"memories[{i}]"))
    return Call("memories", "AddMemories", memories_pb2.AddMemoriesRequest(memories=items), t.BatchResult.from_pb)


def get_memory(id: str) -> Call:
    return Call("memories", "GetMemory", memories_pb2.GetMemoryRequest(id=id), t.Memory.from_pb)


def list_memories(agent: Optional[str], kw: Mapping[str, Any], call: str = "list_memories") -> Call:
    _check(kw, ListArgs, call)
    req = memories_pb2.ListMemoriesRequest(**_filter_and_paging(agent, kw))
    return Call("memories", "ListMemories", req, t.MemoryPage.from_pb)


def search(agent: Optional[str], query: Optional[str], kw: Mapping[str, Any]) -> Call:
    _check(kw, SearchArgs, "search")
    req = memories_pb2.SearchMemoriesRequest(
        **_filter_and_paging(agent, kw),
        query=query or "",
        mode=c.SEARCH_MODE.to_pb(kw.get("mode"), "mode"),
        query_embedding=c.floats(kw.get("query_embedding")),
    )
    return Call("memories", "SearchMemories", req, t.SearchResult.from_pb)


_UPDATABLE = ("importance", "tags", "metadata", "expires_at")


def update_memory(id: str, kw: Mapping[str, Any]) -> Call:
    unknown = set(kw) - set(_UPDATABLE)
    if unknown:
        raise TypeError(f"update_memory() takes {', '.join(_UPDATABLE)}, not {', '.join(sorted(unknown))}")
    if not kw:
        raise TypeError("update_memory() needs at least one of " + ", ".join(_UPDATABLE))
    req = memories_pb2.UpdateMemoryRequest(id=id, update_mask=field_mask_pb2.FieldMask(paths=sorted(kw)))
    if "importance" in kw:
        req.importance = float(kw["importance"])
    if "tags" in kw:
        req.tags.extend(c.str_list(kw["tags"]))
    if kw.get("metadata") is not None:
        req.metadata.CopyFrom(c.to_struct(kw["metadata"]))
    exp = c.to_timestamp(kw.get("expires_at"), "expires_at", relative_to_now=True)
    if exp is not None:  # None clears the expiry
        req.expires_at.CopyFrom(exp)
    return Call("memories", "UpdateMemory", req, t.Memory.from_pb)


def delete_memory(id: str) -> Call:
    return Call("memories", "DeleteMemory", memories_pb2.DeleteMemoryRequest(id=id), lambda r: None)


def delete_memories(agent: Optional[str], session_id: Optional[str], types: Optional[TypeNames],
                    since: Optional[c.TimeSpec], until: Optional[c.TimeSpec]) -> Call:
    req = memories_pb2.DeleteMemoriesRequest(
        agent=agent or "", session_id=session_id or "", memory_types=c.MEMORY_TYPE.to_pb_list(types, "types"),
        since=c.time_spec(since, "since"), until=c.time_spec(until, "until"))
    return Call("memories", "DeleteMemories", req, lambda r: r.deleted)


def watch_request(agent: Optional[str], resume_token: Optional[str], kw: Mapping[str, Any]) -> Any:
    _check(kw, FilterArgs, "watch")
    return watch_pb2.WatchMemoriesRequest(filter=memory_filter(agent, kw), resume_token=resume_token or "")


# --- context -------------------------------------------------------------------------------------

def context_options(kw: Mapping[str, Any], call: str) -> common_pb2.ContextOptions:
    _check(kw, ContextArgs, call)
    return common_pb2.ContextOptions(
        since=c.time_spec(kw.get("since"), "since"),
        until=c.time_spec(kw.get("until"), "until"),
        include_types=c.MEMORY_TYPE.to_pb_list(kw.get("include_types"), "include_types"),
        max_tokens=int(kw.get("max_tokens") or 0),
        tokenizer=kw.get("tokenizer") or "",
        query=kw.get("query") or "",
        scope=kw.get("scope") or "",
    )


def context(agent: Optional[str], session: Optional[str], kw: Mapping[str, Any]) -> Call:
    if not agent and not session:
        raise TypeError("context() needs an agent or a session")
    req = context_pb2.BuildContextRequest(agent=agent or "", session_id=session or "",
                                          options=context_options(kw, "context"))
    return Call("context", "BuildContext", req, t.ContextResult.from_pb)


def session_context(session_id: str, kw: Mapping[str, Any]) -> Call:
    req = sessions_pb2.GetSessionContextRequest(session_id=session_id,
                                                options=context_options(kw, "session_context"))
    return Call("sessions", "GetSessionContext", req, t.ContextResult.from_pb)


# --- agents --------------------------------------------------------------------------------------

_AGENT_ID = re.compile(r"^agent_[0-9a-f]{24}$")


def register_agent(name: str, description: str, config: Optional[Mapping[str, Any]]) -> Call:
    req = agents_pb2.RegisterAgentRequest(name=name, description=description or "")
    if config is not None:
        req.config.CopyFrom(c.to_struct(config, "config"))
    return Call("agents", "RegisterAgent", req, t.Agent.from_pb)


def get_agent(agent: str) -> Call:
    req = agents_pb2.GetAgentRequest(id=agent) if _AGENT_ID.match(agent) else agents_pb2.GetAgentRequest(name=agent)
    return Call("agents", "GetAgent", req, t.Agent.from_pb)


def list_agents(page_size: Optional[int], page_token: Optional[str]) -> Call:
    req = agents_pb2.ListAgentsRequest(page_size=page_size or 0, page_token=page_token or "")
    return Call("agents", "ListAgents", req, t.AgentPage.from_pb)


def delete_agent(agent: str, cascade: bool) -> Call:
    req = agents_pb2.DeleteAgentRequest(agent=agent, cascade=cascade)
    return Call("agents", "DeleteAgent", req,
                lambda r: t.DeleteAgentResult(r.deleted_sessions, r.deleted_memories, raw=r))


def get_agent_stats(agent: str) -> Call:
    return Call("agents", "GetAgentStats", agents_pb2.GetAgentStatsRequest(agent=agent), t.AgentStats.from_pb)


# --- sessions ------------------------------------------------------------------------------------

def create_session(agent: str, metadata: Optional[Mapping[str, Any]]) -> Call:
    req = sessions_pb2.CreateSessionRequest(agent=agent)
    if metadata is not None:
        req.metadata.CopyFrom(c.to_struct(metadata))
    return Call("sessions", "CreateSession", req, t.Session.from_pb)


def get_session(id: str) -> Call:
    return Call("sessions", "GetSession", sessions_pb2.GetSessionRequest(id=id), t.Session.from_pb)


def list_sessions(agent: Optional[str], status: Optional[str], page_size: Optional[int],
                  page_token: Optional[str]) -> Call:
    req = sessions_pb2.ListSessionsRequest(agent=agent or "", status=c.SESSION_STATUS.to_pb(status, "status"),
                                           page_size=page_size or 0, page_token=page_token or "")
    return Call("sessions", "ListSessions", req, t.SessionPage.from_pb)


def update_session(id: str, status: Optional[str], metadata: Optional[Mapping[str, Any]], merge: bool) -> Call:
    req = sessions_pb2.UpdateSessionRequest(id=id, status=c.SESSION_STATUS.to_pb(status, "status"))
    if metadata is not None:
        req.metadata.CopyFrom(c.to_struct(metadata))
        req.metadata_mode = c.METADATA_MODE.to_pb("merge" if merge else "replace", "metadata_mode")
    return Call("sessions", "UpdateSession", req, t.Session.from_pb)


def close_session(id: str) -> Call:
    return Call("sessions", "CloseSession", sessions_pb2.CloseSessionRequest(id=id), t.Session.from_pb)


# --- conversations -------------------------------------------------------------------------------

MessageLike = Union[Mapping[str, Any], Tuple[str, str]]


def _tool_call(tc: Any, field: str) -> conversations_pb2.ToolCall:
    if isinstance(tc, t.ToolCall):
        return conversations_pb2.ToolCall(id=tc.id, name=tc.name, arguments=tc.arguments)
    fn = tc.get("function") or {}  # the chat-completions shape {"id", "type", "function": {...}}
    name = tc.get("name") or fn.get("name") or ""
    args = tc.get("arguments", fn.get("arguments", ""))
    if not isinstance(args, str):
        args = json.dumps(args)
    return conversations_pb2.ToolCall(id=tc.get("id") or "", name=name, arguments=args)


def new_message(m: MessageLike, field: str) -> conversations_pb2.NewMessage:
    if isinstance(m, tuple):
        role, content = m
        m = {"role": role, "content": content}
    known = {"role", "content", "name", "tool_calls", "tool_call_id", "time", "metadata", "message_id", "type"}
    unknown = set(m) - known
    if unknown:
        raise TypeError(f"{field}: unknown key(s) {', '.join(sorted(unknown))}")
    msg = conversations_pb2.NewMessage(
        role=c.ROLE.to_pb(m.get("role"), f"{field}.role"),
        content=m.get("content") or "",
        name=m.get("name") or "",
        tool_calls=[_tool_call(tc, f"{field}.tool_calls[{i}]") for i, tc in enumerate(m.get("tool_calls") or [])],
        tool_call_id=m.get("tool_call_id") or "",
        message_id=m.get("message_id") or "",
    )
    ts = c.to_timestamp(m.get("time"), f"{field}.time")
    if ts is not None:
        msg.time.CopyFrom(ts)
    if m.get("metadata") is not None:
        msg.metadata.CopyFrom(c.to_struct(m["metadata"], f"{field}.metadata"))
    return msg


def append_messages(agent: str, conversation: str, messages: Union[Iterable[MessageLike], Mapping[str, Any]],
                    scope: str,
                    record_as_memories: Optional[bool]) -> Call:
    if isinstance(messages, Mapping):
        messages = [messages]
    req = conversations_pb2.AppendMessagesRequest(
        agent=agent, scope=scope or "", conversation=conversation,
        messages=[new_message(m, f"messages[{i}]") for i, m in enumerate(messages)])
    if record_as_memories is not None:
        req.record_as_memories = record_as_memories
    return Call("conversations", "AppendMessages", req, t.AppendResult.from_pb)


def get_window(agent: str, conversation: str, scope: str, max_messages: Optional[int],
               max_tokens: Optional[int]) -> Call:
    req = conversations_pb2.GetWindowRequest(agent=agent, scope=scope or "", conversation=conversation,
                                             max_messages=max_messages or 0, max_tokens=max_tokens or 0)
    return Call("conversations", "GetWindow", req, t.Window.from_pb)


def list_messages(agent: str, conversation: str, scope: str, page_size: Optional[int], page_token: Optional[str],
                  newest_first: bool, since: Optional[c.TimeSpec], until: Optional[c.TimeSpec]) -> Call:
    req = conversations_pb2.ListMessagesRequest(
        agent=agent, scope=scope or "", conversation=conversation, page_size=page_size or 0,
        page_token=page_token or "", newest_first=newest_first, since=c.time_spec(since, "since"),
        until=c.time_spec(until, "until"))
    return Call("conversations", "ListMessages", req, t.MessagePage.from_pb)


def list_conversations(agent: str, scope: Optional[str], page_size: Optional[int], page_token: Optional[str]) -> Call:
    req = conversations_pb2.ListConversationsRequest(agent=agent, page_size=page_size or 0, page_token=page_token or "")
    if scope is not None:
        req.scope = scope
    return Call("conversations", "ListConversations", req, t.ConversationPage.from_pb)


def delete_conversation(agent: str, conversation: str, scope: str) -> Call:
    req = conversations_pb2.DeleteConversationRequest(agent=agent, scope=scope or "", conversation=conversation)
    return Call("conversations", "DeleteConversation", req, lambda r: r.deleted_messages)


def set_summary(agent: str, conversation: str, text: str, through_seq: int, scope: str) -> Call:
    req = conversations_pb2.SetSummaryRequest(agent=agent, scope=scope or "", conversation=conversation, text=text,
                                              through_seq=through_seq)
    return Call("conversations", "SetSummary", req, t.Conversation.from_pb)


# --- working memory ------------------------------------------------------------------------------

def wm_get(session_id: str) -> Call:
    req = working_memory_pb2.GetWorkingMemoryRequest(session_id=session_id)
    return Call("working_memory", "GetWorkingMemory", req, t.WorkingMemory.from_pb)


def wm_set(session_id: str, document: Mapping[str, Any], version: int) -> Call:
    req = working_memory_pb2.SetWorkingMemoryRequest(session_id=session_id, version=version,
                                                     document=c.to_struct(document, "document"))
    return Call("working_memory", "SetWorkingMemory", req, t.WorkingMemory.from_pb)


def wm_patch(session_id: str, patch: Mapping[str, Any], version: int) -> Call:
    req = working_memory_pb2.PatchWorkingMemoryRequest(session_id=session_id, version=version,
                                                       patch=c.to_struct(patch, "patch"))
    return Call("working_memory", "PatchWorkingMemory", req, t.WorkingMemory.from_pb)


def wm_clear(session_id: str, version: int) -> Call:
    req = working_memory_pb2.ClearWorkingMemoryRequest(session_id=session_id, version=version)
    return Call("working_memory", "ClearWorkingMemory", req, t.WorkingMemory.from_pb)


# --- simulation (the product docs' AgentMemoryAPI) -----------------------------------------------

_MAX_CONTENT = 60_000


def _derived_content(prefix: str, data: Mapping[str, Any]) -> str:
    text = json.dumps(c.jsonable(data), sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    content = f"{prefix} {text}" if prefix else text
    return content if len(content) <= _MAX_CONTENT else content[:_MAX_CONTENT] + " …"


def _data_position(data: Mapping[str, Any]) -> Optional[PositionLike]:
    p = data.get("position")
    if isinstance(p, (list, tuple)) and len(p) in (2, 3) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in p):
        return p
    if isinstance(p, Mapping) and isinstance(p.get("x"), (int, float)) and isinstance(p.get("y"), (int, float)):
        return p
    if isinstance(data.get("position_x"), (int, float)) and isinstance(data.get("position_y"), (int, float)):
        return (data["position_x"], data["position_y"])
    return None


def store_simulation(memory_type: str, agent_id: str, data: Mapping[str, Any], step_number: int,
                     priority: Optional[float], kw: Mapping[str, Any], call: str) -> Call:
    """A state, action or interaction at a step: the data is the memory's metadata (so attribute
    filters, state changes and similar states see its keys); the content is a text of it. A
    state is identified by (agent, step), so storing a step's state again is a duplicate (in the
    result, not an error)."""
    _check(kw, SimulationFields, call)
    if not isinstance(data, Mapping):
        data = c.jsonable(data)
        if not isinstance(data, Mapping):
            raise TypeError(f"{call}(): the data must be a dict (or an object with as_dict())")
    data = c.jsonable(data)
    if memory_type == "state":
        prefix = "state"
    elif memory_type == "action":
        prefix = str(data.get("action_type") or "action")
    else:
        prefix = str(data.get("interaction_type") or "interaction")
        if isinstance(data.get("content"), str) and data["content"].strip():
            prefix = f"{prefix}: {data['content']}"
    fields: Dict[str, Any] = {
        "memory_type": memory_type,
        "event_type": kw.get("event_type") or memory_type,
        "metadata": data,
        "step": step_number,
        **{k: v for k, v in kw.items() if k not in ("content", "event_type")},
    }
    if priority is not None:
        fields["importance"] = priority
    if "position" not in kw and memory_type == "state":
        pos = _data_position(data)
        if pos is not None:
            fields["position"] = pos
    content = kw.get("content") or _derived_content(prefix, data)
    req = memories_pb2.AddMemoriesRequest(memories=[new_memory(agent_id, content, fields, "memories[0]")])
    return Call("memories", "AddMemories", req, lambda r: t.AddResult.from_pb(r.results[0]))


def retrieve_similar_states(agent_id: str, query_state: Optional[Mapping[str, Any]], k: int,
                            embedding: Optional[Sequence[float]], step_min: Optional[int],
                            step_max: Optional[int]) -> Call:
    req = simulation_pb2.RetrieveSimilarStatesRequest(agent=agent_id, k=k or 0, embedding=c.floats(embedding))
    if query_state is not None:
        req.state.CopyFrom(c.to_struct(c.jsonable(query_state), "query_state"))
    if step_min is not None:
        req.step_min = step_min
    if step_max is not None:
        req.step_max = step_max
    return Call("simulation", "RetrieveSimilarStates", req, t.SimilarStates.from_pb)


def state_changes(agent_id: str, step_min: Optional[int], step_max: Optional[int], limit: Optional[int],
                  page_token: Optional[str]) -> Call:
    req = simulation_pb2.GetStateChangesRequest(agent=agent_id, limit=limit or 0, page_token=page_token or "")
    if step_min is not None:
        req.step_min = step_min
    if step_max is not None:
        req.step_max = step_max
    return Call("simulation", "GetStateChanges", req,
                lambda r: ([t.StateChange.from_pb(x) for x in r.changes], r.next_page_token))


def memory_statistics() -> Call:
    return Call("simulation", "GetMemoryStatistics", simulation_pb2.GetMemoryStatisticsRequest(),
                t.MemoryStatistics.from_pb)


def force_maintenance(agent_id: Optional[str], dry_run: bool, policy: Optional[Mapping[str, Any]]) -> Call:
    req = lifecycle_pb2.ForceMaintenanceRequest(agent_id=agent_id or "", dry_run=dry_run)
    if policy is not None:
        req.policy.CopyFrom(c.to_struct(policy, "policy"))
    return Call("lifecycle", "ForceMaintenance", req, t.MaintenanceReport.from_pb)


def get_lifecycle_policy(agent_id: Optional[str]) -> Call:
    req = lifecycle_pb2.GetLifecyclePolicyRequest(agent_id=agent_id or "")
    return Call("lifecycle", "GetLifecyclePolicy", req, lambda r: c.from_struct(r.policy))


def set_lifecycle_policy(agent_id: str, policy: Optional[Mapping[str, Any]]) -> Call:
    req = lifecycle_pb2.SetLifecyclePolicyRequest(agent_id=agent_id)
    if policy is not None:
        req.policy.CopyFrom(c.to_struct(policy, "policy"))
    return Call("lifecycle", "SetLifecyclePolicy", req, lambda r: c.from_struct(r.policy))


def clear_cache() -> Call:
    return Call("lifecycle", "ClearCache", lifecycle_pb2.ClearCacheRequest(), lambda r: r.cleared)


def set_cache_ttl(seconds: Union[int, float, _dt.timedelta]) -> Call:
    if isinstance(seconds, _dt.timedelta):
        seconds = seconds.total_seconds()
    req = lifecycle_pb2.SetCacheTtlRequest(ttl_seconds=int(seconds))
    return Call("lifecycle", "SetCacheTtl", req, lambda r: r.ttl_seconds)


# --- admin ---------------------------------------------------------------------------------------

def create_org(name: str) -> Call:
    return Call("admin", "CreateOrg", admin_pb2.CreateOrgRequest(name=name), t.Org.from_pb)


def list_orgs() -> Call:
    return Call("admin", "ListOrgs", admin_pb2.ListOrgsRequest(), lambda r: [t.Org.from_pb(o) for o in r.orgs])


def create_api_key(name: str, permissions: Names, org_id: Optional[str],
                   expires_at: Union[_dt.datetime, _dt.timedelta, None]) -> Call:
    req = admin_pb2.CreateApiKeyRequest(name=name, org_id=org_id or "",
                                        permissions=c.PERMISSION.to_pb_list(permissions, "permissions"))
    exp = c.to_timestamp(expires_at, "expires_at", relative_to_now=True)
    if exp is not None:
        req.expires_at.CopyFrom(exp)
    return Call("admin", "CreateApiKey", req, t.CreatedApiKey.from_pb)


def list_api_keys(org_id: Optional[str]) -> Call:
    return Call("admin", "ListApiKeys", admin_pb2.ListApiKeysRequest(org_id=org_id or ""),
                lambda r: [t.ApiKey.from_pb(k) for k in r.keys])


def revoke_api_key(id: str) -> Call:
    return Call("admin", "RevokeApiKey", admin_pb2.RevokeApiKeyRequest(id=id), t.ApiKey.from_pb)
