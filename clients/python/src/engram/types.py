"""Results of the client's calls: plain dataclasses with Python values (datetimes in UTC, dicts
for metadata, lowercase names for enums: ``"decision"``, ``"hot"``, ``"user"``). Each keeps the
message it was made from in ``raw`` (not compared, not printed)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Dict, Generic, Iterator, List, Optional, Sequence, TypeVar, overload

from . import _convert as c

__all__ = [
    "Position", "Near", "TierCounts", "Memory", "SearchHit", "MemoryPage", "SearchResult",
    "AddResult", "BatchResult", "Agent", "AgentPage", "AgentStats", "DeleteAgentResult",
    "Session", "SessionPage", "ContextResult", "ToolCall", "Message", "Summary", "Conversation",
    "AppendResult", "Window", "MessagePage", "ConversationPage", "WorkingMemory", "SimilarState",
    "SimilarStates", "AttributeChange", "StateChange", "TypeCount", "AgentMemoryStatistics",
    "MemoryStatistics", "MaintenanceReport", "MemoryEvent", "Org", "ApiKey", "CreatedApiKey",
]

T = TypeVar("T")


def _raw() -> Any:
    return field(default=None, repr=False, compare=False)


class _Items(Generic[T]):
    """A page or result list that iterates, indexes and sizes as its items."""

    def _items(self) -> List[T]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[T]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> List[T]: ...
    def __getitem__(self, i: Any) -> Any:
        return self._items()[i]


@dataclass(frozen=True)
class Position:
    x: float
    y: float
    z: Optional[float] = None

    @classmethod
    def from_pb(cls, m: Any) -> "Position":
        return cls(m.x, m.y, m.z if m.HasField("z") else None)


@dataclass(frozen=True)
class Near:
    """A radius filter: memories whose position lies within ``radius`` of (x, y[, z])."""
    x: float
    y: float
    radius: float
    z: Optional[float] = None


@dataclass(frozen=True)
class TierCounts:
    hot: int = 0
    warm: int = 0
    cold: int = 0

    @classmethod
    def from_pb(cls, m: Any) -> "TierCounts":
        return cls(m.hot, m.warm, m.cold)


@dataclass(frozen=True)
class Memory:
    id: str
    agent_id: str
    content: str
    memory_type: Optional[str]
    event_type: str
    metadata: Dict[str, Any]
    tags: List[str]
    importance: float
    time: Optional[_dt.datetime]
    created_at: Optional[_dt.datetime]
    session_id: Optional[str] = None
    parent_id: Optional[str] = None
    dedup_key: str = ""
    step: Optional[int] = None
    position: Optional[Position] = None
    expires_at: Optional[_dt.datetime] = None
    reasoning: str = ""
    access_count: int = 0
    last_accessed_at: Optional[_dt.datetime] = None
    scope: str = ""
    tier: Optional[str] = None
    org_id: str = ""
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "Memory":
        return cls(
            id=m.id,
            agent_id=m.agent_id,
            content=m.content,
            memory_type=c.MEMORY_TYPE.name(m.memory_type),
            event_type=m.event_type,
            metadata=c.from_struct(m.metadata),
            tags=list(m.tags),
            importance=m.importance,
            time=c.from_timestamp(m, "time"),
            created_at=c.from_timestamp(m, "created_at"),
            session_id=m.session_id if m.HasField("session_id") else None,
            parent_id=m.parent_id if m.HasField("parent_id") else None,
            dedup_key=m.dedup_key,
            step=m.step if m.HasField("step") else None,
            position=Position.from_pb(m.position) if m.HasField("position") else None,
            expires_at=c.from_timestamp(m, "expires_at"),
            reasoning=m.reasoning,
            access_count=m.access_count,
            last_accessed_at=c.from_timestamp(m, "last_accessed_at"),
            scope=m.scope,
            tier=c.TIER.name(m.tier),
            org_id=m.org_id,
            raw=m,
        )


@dataclass(frozen=True)
class SearchHit:
    """A ranked search hit: ``score`` and its parts (see the server README, Ranked search)."""
    memory: Memory
    score: float
    keyword: float
    semantic: float
    recency: float
    importance: float
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "SearchHit":
        return cls(Memory.from_pb(m.memory), m.score, m.keyword, m.semantic, m.recency, m.importance, raw=m)


@dataclass(frozen=True)
class MemoryPage(_Items[Memory]):
    """A page of a listing; iterates over ``memories``."""
    memories: List[Memory]
    next_page_token: str = ""
    has_more: bool = False
    raw: Any = _raw()

    def _items(self) -> List[Memory]:
        return self.memories

    @classmethod
    def from_pb(cls, m: Any) -> "MemoryPage":
        return cls([Memory.from_pb(x) for x in m.memories], m.next_page_token, m.has_more, raw=m)


@dataclass(frozen=True)
class SearchResult(_Items[Memory]):
    """A search: with a query, ``hits`` best first (``memories`` are their memories); without,
    the matching memories in time order. Iterates over ``memories``."""
    memories: List[Memory]
    hits: List[SearchHit]
    next_page_token: str = ""
    has_more: bool = False
    query_time_ms: int = 0
    mode: Optional[str] = None
    unembedded: Optional[int] = None
    raw: Any = _raw()

    def _items(self) -> List[Memory]:
        return self.memories

    @classmethod
    def from_pb(cls, m: Any) -> "SearchResult":
        hits = [SearchHit.from_pb(h) for h in m.hits]
        memories = [h.memory for h in hits] if hits else [Memory.from_pb(x) for x in m.results]
        return cls(
            memories, hits, m.next_page_token, m.has_more, m.query_time_ms, c.SEARCH_MODE.name(m.mode),
            m.unembedded if m.HasField("unembedded") else None, raw=m,
        )


@dataclass(frozen=True)
class AddResult:
    """One memory of a batch (and of the simulation calls): ``created`` with its ``memory``, or a
    ``duplicate`` of the memory ``id``."""
    id: str
    status: Optional[str]
    memory: Optional[Memory] = None
    raw: Any = _raw()

    @property
    def created(self) -> bool:
        return self.status == "created"

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate"

    @classmethod
    def from_pb(cls, m: Any) -> "AddResult":
        memory = Memory.from_pb(m.memory) if m.HasField("memory") else None
        return cls(m.id, c.ADD_STATUS.name(m.status), memory, raw=m)


@dataclass(frozen=True)
class BatchResult(_Items[AddResult]):
    results: List[AddResult]
    created: int
    duplicates: int
    raw: Any = _raw()

    def _items(self) -> List[AddResult]:
        return self.results

    @classmethod
    def from_pb(cls, m: Any) -> "BatchResult":
        return cls([AddResult.from_pb(r) for r in m.results], m.created, m.duplicates, raw=m)


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    description: str
    config: Dict[str, Any]
    created_at: Optional[_dt.datetime]
    last_active_at: Optional[_dt.datetime]
    org_id: str = ""
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "Agent":
        return cls(m.id, m.name, m.description, c.from_struct(m.config), c.from_timestamp(m, "created_at"),
                   c.from_timestamp(m, "last_active_at"), m.org_id, raw=m)


@dataclass(frozen=True)
class AgentPage(_Items[Agent]):
    agents: List[Agent]
    next_page_token: str = ""
    raw: Any = _raw()

    def _items(self) -> List[Agent]:
        return self.agents

    @classmethod
    def from_pb(cls, m: Any) -> "AgentPage":
        return cls([Agent.from_pb(a) for a in m.agents], m.next_page_token, raw=m)


@dataclass(frozen=True)
class AgentStats:
    agent_id: str
    memory_count: int
    memories_24h: int
    errors_24h: int
    session_count: int
    active_sessions: int
    last_active_at: Optional[_dt.datetime]
    memory_types: Dict[str, int]
    tiers: TierCounts
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "AgentStats":
        return cls(m.agent_id, m.memory_count, m.memories_24h, m.errors_24h, m.session_count, m.active_sessions,
                   c.from_timestamp(m, "last_active_at"), dict(m.memory_types), TierCounts.from_pb(m.tiers), raw=m)


@dataclass(frozen=True)
class DeleteAgentResult:
    deleted_sessions: int
    deleted_memories: int
    raw: Any = _raw()


@dataclass(frozen=True)
class Session:
    id: str
    agent_id: str
    status: Optional[str]
    metadata: Dict[str, Any]
    created_at: Optional[_dt.datetime]
    updated_at: Optional[_dt.datetime]
    closed_at: Optional[_dt.datetime] = None
    org_id: str = ""
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "Session":
        return cls(m.id, m.agent_id, c.SESSION_STATUS.name(m.status), c.from_struct(m.metadata),
                   c.from_timestamp(m, "created_at"), c.from_timestamp(m, "updated_at"),
                   c.from_timestamp(m, "closed_at"), m.org_id, raw=m)


@dataclass(frozen=True)
class SessionPage(_Items[Session]):
    sessions: List[Session]
    next_page_token: str = ""
    raw: Any = _raw()

    def _items(self) -> List[Session]:
        return self.sessions

    @classmethod
    def from_pb(cls, m: Any) -> "SessionPage":
        return cls([Session.from_pb(s) for s in m.sessions], m.next_page_token, raw=m)


@dataclass(frozen=True)
class ContextResult:
    """Prompt-ready Markdown (``str()`` of it is the text) within ``max_tokens``."""
    context: str
    token_count: int
    memory_ids: List[str]
    omitted_count: int
    tokenizer: str
    raw: Any = _raw()

    def __str__(self) -> str:
        return self.context

    @classmethod
    def from_pb(cls, m: Any) -> "ContextResult":
        return cls(m.context, m.token_count, list(m.memory_ids), m.omitted_count, m.tokenizer, raw=m)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it

    @classmethod
    def from_pb(cls, m: Any) -> "ToolCall":
        return cls(m.id, m.name, m.arguments)


@dataclass(frozen=True)
class Message:
    id: str
    seq: int
    role: Optional[str]
    content: str
    tokens: int
    time: Optional[_dt.datetime]
    name: str = ""
    tool_calls: List[ToolCall] = field(default_factory=list)
    tool_call_id: str = ""
    metadata: Dict[str, Any] = field(default_factory=dict)
    message_id: str = ""
    created_at: Optional[_dt.datetime] = None
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "Message":
        return cls(m.id, m.seq, c.ROLE.name(m.role), m.content, m.tokens, c.from_timestamp(m, "time"), m.name,
                   [ToolCall.from_pb(t) for t in m.tool_calls], m.tool_call_id, c.from_struct(m.metadata),
                   m.message_id, c.from_timestamp(m, "created_at"), raw=m)


@dataclass(frozen=True)
class Summary:
    text: str
    through_seq: int
    tokens: int
    updated_at: Optional[_dt.datetime]
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "Summary":
        return cls(m.text, m.through_seq, m.tokens, c.from_timestamp(m, "updated_at"), raw=m)


@dataclass(frozen=True)
class Conversation:
    agent_id: str
    scope: str
    conversation: str
    message_count: int
    token_total: int
    last_seq: int
    created_at: Optional[_dt.datetime]
    last_activity_at: Optional[_dt.datetime]
    summary: Optional[Summary] = None
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "Conversation":
        summary = Summary.from_pb(m.summary) if m.HasField("summary") else None
        return cls(m.agent_id, m.scope, m.conversation, m.message_count, m.token_total, m.last_seq,
                   c.from_timestamp(m, "created_at"), c.from_timestamp(m, "last_activity_at"), summary, raw=m)


@dataclass(frozen=True)
class AppendResult(_Items[Message]):
    conversation: Conversation
    messages: List[Message]
    duplicates: int
    memory_ids: List[str]
    raw: Any = _raw()

    def _items(self) -> List[Message]:
        return self.messages

    @classmethod
    def from_pb(cls, m: Any) -> "AppendResult":
        return cls(Conversation.from_pb(m.conversation), [Message.from_pb(x) for x in m.messages], m.duplicates,
                   list(m.memory_ids), raw=m)


@dataclass(frozen=True)
class Window(_Items[Message]):
    """The active window, oldest first, with what was left out and the summary."""
    messages: List[Message]
    summary: Optional[Summary]
    omitted_messages: int
    omitted_tokens: int
    token_count: int
    max_messages: int
    max_tokens: int
    conversation: Optional[Conversation] = None
    raw: Any = _raw()

    def _items(self) -> List[Message]:
        return self.messages

    def as_openai(self) -> List[Dict[str, Any]]:
        """The window as chat-completions messages (``role``, ``content``, ``name``, ``tool_calls``,
        ``tool_call_id``), the summary first as a system message when there is one."""
        out: List[Dict[str, Any]] = []
        if self.summary is not None and self.summary.text:
            out.append({"role": "system", "content": self.summary.text})
        for msg in self.messages:
            d: Dict[str, Any] = {"role": msg.role, "content": msg.content}
            if msg.name:
                d["name"] = msg.name
            if msg.tool_calls:
                d["tool_calls"] = [{"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
                                   for t in msg.tool_calls]
            if msg.tool_call_id:
                d["tool_call_id"] = msg.tool_call_id
            out.append(d)
        return out

    @classmethod
    def from_pb(cls, m: Any) -> "Window":
        summary = Summary.from_pb(m.summary) if m.HasField("summary") else None
        conversation = Conversation.from_pb(m.conversation) if m.HasField("conversation") else None
        return cls([Message.from_pb(x) for x in m.messages], summary, m.omitted_messages, m.omitted_tokens,
                   m.token_count, m.max_messages, m.max_tokens, conversation, raw=m)


@dataclass(frozen=True)
class MessagePage(_Items[Message]):
    messages: List[Message]
    next_page_token: str = ""
    raw: Any = _raw()

    def _items(self) -> List[Message]:
        return self.messages

    @classmethod
    def from_pb(cls, m: Any) -> "MessagePage":
        return cls([Message.from_pb(x) for x in m.messages], m.next_page_token, raw=m)


@dataclass(frozen=True)
class ConversationPage(_Items[Conversation]):
    conversations: List[Conversation]
    next_page_token: str = ""
    raw: Any = _raw()

    def _items(self) -> List[Conversation]:
        return self.conversations

    @classmethod
    def from_pb(cls, m: Any) -> "ConversationPage":
        return cls([Conversation.from_pb(x) for x in m.conversations], m.next_page_token, raw=m)


@dataclass(frozen=True)
class WorkingMemory:
    """A session's working-memory document at ``version`` (0: never written). Pass the version
    to the next write; a stale one raises ConflictError."""
    session_id: str
    document: Dict[str, Any]
    version: int
    updated_at: Optional[_dt.datetime]
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "WorkingMemory":
        return cls(m.session_id, c.from_struct(m.document), m.version, c.from_timestamp(m, "updated_at"), raw=m)


@dataclass(frozen=True)
class SimilarState:
    memory: Memory
    similarity: float  # 1: identical

    @property
    def state(self) -> Dict[str, Any]:
        """The state's contents (the memory's metadata)."""
        return self.memory.metadata


@dataclass(frozen=True)
class SimilarStates(_Items[SimilarState]):
    """Most similar first; ``compared`` is how many states were compared."""
    states: List[SimilarState]
    compared: int
    raw: Any = _raw()

    def _items(self) -> List[SimilarState]:
        return self.states

    @classmethod
    def from_pb(cls, m: Any) -> "SimilarStates":
        return cls([SimilarState(Memory.from_pb(s.memory), s.similarity) for s in m.states], m.compared, raw=m)


@dataclass(frozen=True)
class AttributeChange:
    """A top-level key of a state that changed: ``added`` (no ``before``), ``removed`` (no
    ``after``) or changed."""
    key: str
    before: Any = None
    after: Any = None
    added: bool = False
    removed: bool = False


@dataclass(frozen=True)
class StateChange:
    from_step: int
    to_step: int
    from_memory_id: str
    to_memory_id: str
    changes: Dict[str, AttributeChange]
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "StateChange":
        changes = {}
        for ch in m.changes:
            has_before, has_after = ch.HasField("before"), ch.HasField("after")
            changes[ch.key] = AttributeChange(
                ch.key,
                c.from_value(ch.before) if has_before else None,
                c.from_value(ch.after) if has_after else None,
                added=not has_before,
                removed=not has_after,
            )
        return cls(m.from_step, m.to_step, m.from_memory_id, m.to_memory_id, changes, raw=m)


@dataclass(frozen=True)
class TypeCount:
    memory_type: Optional[str]
    count: int


def _by_type(counts: Sequence[Any]) -> Dict[str, int]:
    return {c.MEMORY_TYPE.name(t.memory_type) or "unspecified": t.count for t in counts}


@dataclass(frozen=True)
class AgentMemoryStatistics:
    agent_id: str
    name: str
    total: int
    by_type: Dict[str, int]
    oldest_step: Optional[int]
    newest_step: Optional[int]
    tiers: TierCounts
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "AgentMemoryStatistics":
        return cls(m.agent_id, m.name, m.total, _by_type(m.by_type),
                   m.oldest_step if m.HasField("oldest_step") else None,
                   m.newest_step if m.HasField("newest_step") else None, TierCounts.from_pb(m.tiers), raw=m)


@dataclass(frozen=True)
class MemoryStatistics:
    """Live memories in total, per type (``by_type``, e.g. ``{"state": 10}``), per tier and per
    agent. ``total_memories`` and ``memory_type_distribution`` are the product docs' names.
    ``cold_bytes_*`` are org-wide even when the statistics are narrowed to one agent."""
    total: int
    by_type: Dict[str, int]
    agents: List[AgentMemoryStatistics]
    oldest_step: Optional[int]
    newest_step: Optional[int]
    tiers: TierCounts
    cold_bytes_before: int = 0
    cold_bytes_after: int = 0
    raw: Any = _raw()

    @property
    def total_memories(self) -> int:
        return self.total

    @property
    def memory_type_distribution(self) -> Dict[str, int]:
        return self.by_type

    def __getitem__(self, key: str) -> Any:
        # stats["total_memories"], as in the product docs
        return getattr(self, key)

    @classmethod
    def from_pb(cls, m: Any) -> "MemoryStatistics":
        return cls(m.total, _by_type(m.by_type), [AgentMemoryStatistics.from_pb(a) for a in m.agents],
                   m.oldest_step if m.HasField("oldest_step") else None,
                   m.newest_step if m.HasField("newest_step") else None, TierCounts.from_pb(m.tiers),
                   m.cold_bytes_before, m.cold_bytes_after, raw=m)

    def for_agent(self, agent: str) -> "MemoryStatistics":
        """These statistics narrowed to one agent (by id or name); zeros when it has no memories."""
        for a in self.agents:
            if agent in (a.agent_id, a.name):
                return MemoryStatistics(a.total, a.by_type, [a], a.oldest_step, a.newest_step, a.tiers,
                                        self.cold_bytes_before, self.cold_bytes_after, raw=self.raw)
        return MemoryStatistics(0, {}, [], None, None, TierCounts(), self.cold_bytes_before,
                                self.cold_bytes_after, raw=self.raw)


@dataclass(frozen=True)
class MaintenanceReport:
    scanned: int
    expired: int
    retention: int
    consolidated: int
    decayed: int
    to_hot: int
    to_warm: int
    to_cold: int
    cold_bytes_before: int
    cold_bytes_after: int
    agents: int
    dry_run: bool
    duration: Optional[_dt.timedelta]
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "MaintenanceReport":
        duration = m.duration.ToTimedelta() if m.HasField("duration") else None
        return cls(m.scanned, m.expired, m.retention, m.consolidated, m.decayed, m.to_hot, m.to_warm, m.to_cold,
                   m.cold_bytes_before, m.cold_bytes_after, m.agents, m.dry_run, duration, raw=m)


@dataclass(frozen=True)
class MemoryEvent:
    """A memory delivered by a watch, with the token to resume after it."""
    memory: Memory
    resume_token: str
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "MemoryEvent":
        return cls(Memory.from_pb(m.memory), m.resume_token, raw=m)


@dataclass(frozen=True)
class Org:
    id: str
    name: str
    created_at: Optional[_dt.datetime]
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "Org":
        return cls(m.id, m.name, c.from_timestamp(m, "created_at"), raw=m)


@dataclass(frozen=True)
class ApiKey:
    id: str
    org_id: str
    name: str
    permissions: List[str]
    created_at: Optional[_dt.datetime]
    expires_at: Optional[_dt.datetime] = None
    revoked_at: Optional[_dt.datetime] = None
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "ApiKey":
        return cls(m.id, m.org_id, m.name, [c.PERMISSION.name(p) or "" for p in m.permissions],
                   c.from_timestamp(m, "created_at"), c.from_timestamp(m, "expires_at"),
                   c.from_timestamp(m, "revoked_at"), raw=m)


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key; ``secret`` is shown this once."""
    key: ApiKey
    secret: str
    raw: Any = _raw()

    @classmethod
    def from_pb(cls, m: Any) -> "CreatedApiKey":
        return cls(ApiKey.from_pb(m.key), m.secret, raw=m)
