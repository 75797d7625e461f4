"""The synchronous client, :class:`Engram`."""

from __future__ import annotations

import copy
import datetime as _dt
import time
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import grpc

from . import _calls
from . import _convert as c
from . import types as t
from ._config import DEFAULT_TIMEOUT, Certs, Config, is_unavailable
from .errors import from_rpc_error
from .v1 import (admin_pb2_grpc, agents_pb2_grpc, context_pb2_grpc, conversations_pb2_grpc, lifecycle_pb2_grpc,
                 memories_pb2_grpc, sessions_pb2_grpc, simulation_pb2_grpc, watch_pb2_grpc, working_memory_pb2_grpc)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._calls import (ContextArgs, DecisionFields, FilterArgs, ListArgs, MemoryFields, MessageLike, RecallArgs,
                         SearchArgs, SimulationFields)

__all__ = ["Engram", "Conversations", "WorkingMemoryClient", "Watch"]

STUBS = {
    "agents": agents_pb2_grpc.AgentServiceStub,
    "sessions": sessions_pb2_grpc.SessionServiceStub,
    "memories": memories_pb2_grpc.MemoryServiceStub,
    "context": context_pb2_grpc.ContextServiceStub,
    "admin": admin_pb2_grpc.AdminServiceStub,
    "conversations": conversations_pb2_grpc.ConversationServiceStub,
    "working_memory": working_memory_pb2_grpc.WorkingMemoryServiceStub,
    "watch": watch_pb2_grpc.WatchServiceStub,
    "simulation": simulation_pb2_grpc.SimulationServiceStub,
    "lifecycle": lifecycle_pb2_grpc.LifecycleServiceStub,
}

_PAGE = 1000


class Watch:
    """A stream of :class:`engram.types.MemoryEvent`; iterate it, ``cancel()`` it (or use it as a
    context manager). ``resume_token`` is the token of the last event received."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self.resume_token = ""

    def __iter__(self) -> Iterator[t.MemoryEvent]:
        try:
            for event in self._call:
                out = t.MemoryEvent.from_pb(event)
                self.resume_token = out.resume_token
                yield out
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(e) from e

    def cancel(self) -> None:
        self._call.cancel()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()


class _Connection:
    """The channel, its stubs, and whether it is closed; shared by the views of
    :meth:`Engram.with_timeout`."""

    def __init__(self, config: Config, channel: Optional[grpc.Channel]) -> None:
        self.own = channel is None
        if channel is None:
            if config.tls:
                channel = grpc.secure_channel(config.target, config.credentials(), config.options)
            else:
                channel = grpc.insecure_channel(config.target, config.options)
        self.channel = channel
        self.closed = False
        self.stubs: Dict[str, Any] = {}

    def stub(self, service: str) -> Any:
        # grpcio crashes the process when a stub is made on a closed channel: refuse first.
        if self.closed:
            raise ValueError("engram: the client is closed")
        stub = self.stubs.get(service)
        if stub is None:
            stub = self.stubs[service] = STUBS[service](self.channel)
        return stub

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.stubs.clear()
            if self.own:
                self.channel.close()


class Engram:
    """A client of an Engram server (gRPC, ``engram.v1``).

    ``addr``: ``host:port`` (``http://`` and ``https://`` prefixes are accepted; https means
    TLS), else ``$ENGRAM_ADDR``, else ``127.0.0.1:9100``. ``api_key``: else ``$ENGRAM_API_KEY``
    (sent as ``x-api-key``; none for a server run with ``--no-auth``). ``tls=True`` uses the
    system's root certificates; ``root_certificates`` (PEM bytes or a file path) trusts those
    instead (and turns TLS on); ``private_key`` / ``certificate_chain`` for mutual TLS;
    ``tls_server_name`` overrides the name checked in the server's certificate. ``timeout``:
    seconds each call may take (the gRPC deadline; None: none). ``retries``: attempts after the
    first when the server is UNAVAILABLE (only then), sleeping ``backoff`` seconds, doubling up
    to ``max_backoff``, with jitter. ``channel``: use this channel instead of making one (it is
    not closed by :meth:`close`).

    Use it as a context manager, or call :meth:`close`::

        with Engram() as engram:
            engram.remember("coder", "Fixed the login bug in auth.go", tags=["file:auth.go"])
    """

    def __init__(
        self,
        addr: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        tls: Optional[bool] = None,
        root_certificates: Certs = None,
        private_key: Certs = None,
        certificate_chain: Certs = None,
        tls_server_name: Optional[str] = None,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        metadata: Sequence[Tuple[str, str]] = (),
        channel_options: Sequence[Tuple[str, Any]] = (),
        channel: Optional[grpc.Channel] = None,
    ) -> None:
        self.config = Config(addr, api_key, tls=tls, root_certificates=root_certificates, private_key=private_key,
                             certificate_chain=certificate_chain, tls_server_name=tls_server_name, timeout=timeout,
                             retries=retries, backoff=backoff, max_backoff=max_backoff, metadata=metadata,
                             channel_options=channel_options)
        self._conn = _Connection(self.config, channel)
        self._view = False
        self.conversations = Conversations(self)
        self.working_memory = WorkingMemoryClient(self)

    # --- plumbing --------------------------------------------------------------------------------

    @property
    def addr(self) -> str:
        return self.config.target

    @property
    def timeout(self) -> Optional[float]:
        return self.config.timeout

    def with_timeout(self, timeout: Optional[float]) -> "Engram":
        """A view of this client (same channel) whose calls have another deadline."""
        clone = copy.copy(self)
        clone.config = copy.copy(self.config)
        clone.config.timeout = timeout
        clone._view = True
        clone.conversations = Conversations(clone)
        clone.working_memory = WorkingMemoryClient(clone)
        return clone

    def close(self) -> None:
        """Close the channel (made by this client); a view of :meth:`with_timeout` closes nothing."""
        if not self._view:
            self._conn.close()

    def __enter__(self) -> "Engram":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _stub(self, service: str) -> Any:
        return self._conn.stub(service)

    def _unary(self, call: _calls.Call) -> Any:
        fn = getattr(self._stub(call.service), call.method)
        delays = self.config.delays()
        attempt = 0
        while True:
            try:
                response = fn(call.request, timeout=self.config.timeout, metadata=self.config.metadata)
            except grpc.RpcError as e:
                if is_unavailable(e) and attempt < len(delays):
                    time.sleep(delays[attempt])
                    attempt += 1
                    continue
                raise from_rpc_error(e) from e
            return call.convert(response)

    # --- memories --------------------------------------------------------------------------------

    def remember(self, agent: str, text: str, **kw: Unpack[MemoryFields]) -> t.Memory:
        """Store a memory (episodic unless ``memory_type`` says otherwise) of ``agent`` (an id,
        or a name: an unknown name registers the agent). A duplicate within 24 h raises
        AlreadyExistsError with ``existing_id``."""
        return self._unary(_calls.remember(agent, text, kw))

    def decide(self, agent: str, decision: str, reasoning: str, **kw: Unpack[DecisionFields]) -> t.Memory:
        """Store a decision with its reasoning (``memory.reasoning``)."""
        return self._unary(_calls.decide(agent, decision, reasoning, kw))

    def add_memories(self, memories: Iterable[Mapping[str, Any]]) -> t.BatchResult:
        """Store up to 1,000 memories atomically; each a dict with ``agent``, ``content`` and any
        of remember()'s options. Duplicates are reported per item, not raised."""
        return self._unary(_calls.add_memories(memories))

    def get_memory(self, id: str) -> t.Memory:
        return self._unary(_calls.get_memory(id))

    def recall(self, agent: str, since: Optional[c.TimeSpec] = "24h", **kw: Unpack[RecallArgs]) -> t.MemoryPage:
        """The agent's memories since ``since`` (default the last 24 h), newest first."""
        return self._unary(_calls.list_memories(agent, {**kw, "since": since}, "recall"))

    def list_memories(self, agent: Optional[str] = None, **kw: Unpack[ListArgs]) -> t.MemoryPage:
        """One page of the memories the filters admit (newest first unless ``order``)."""
        return self._unary(_calls.list_memories(agent, kw))

    def iter_memories(self, agent: Optional[str] = None, **kw: Unpack[ListArgs]) -> Iterator[t.Memory]:
        """Every memory the filters admit, page after page."""
        args: Dict[str, Any] = dict(kw)
        args.setdefault("limit", _PAGE)
        while True:
            page = self.list_memories(agent, **args)
            yield from page.memories
            if not page.has_more or not page.next_page_token:
                return
            args["page_token"] = page.next_page_token
            args.pop("offset", None)

    def search(self, agent: Optional[str] = None, query: Optional[str] = None,
               **kw: Unpack[SearchArgs]) -> t.SearchResult:
        """Memories the filters admit; with ``query`` (and/or ``query_embedding``) ranked by
        relevance in ``hits``."""
        return self._unary(_calls.search(agent, query, kw))

    def update_memory(self, id: str, **kw: Any) -> t.Memory:
        """Set any of ``importance``, ``tags``, ``metadata`` (replaced whole), ``expires_at``
        (None clears it)."""
        return self._unary(_calls.update_memory(id, kw))

    def delete_memory(self, id: str) -> None:
        self._unary(_calls.delete_memory(id))

    def delete_memories(self, agent: Optional[str] = None, *, session_id: Optional[str] = None,
                        types: Optional[_calls.TypeNames] = None, since: Optional[c.TimeSpec] = None,
                        until: Optional[c.TimeSpec] = None) -> int:
        """Delete every memory matching all given fields (``agent`` or ``session_id`` required);
        returns how many."""
        return self._unary(_calls.delete_memories(agent, session_id, types, since, until))

    def watch(self, agent: Optional[str] = None, *, resume_token: Optional[str] = None,
              timeout: Optional[float] = None, **kw: Unpack[FilterArgs]) -> Watch:
        """Memories as they are written (after ``resume_token``, or from now). The stream has no
        deadline unless ``timeout`` is given."""
        request = _calls.watch_request(agent, resume_token, kw)
        call = self._stub("watch").WatchMemories(request, timeout=timeout, metadata=self.config.metadata)
        return Watch(call)

    # --- context ---------------------------------------------------------------------------------

    def context(self, agent: Optional[str] = None, session: Optional[str] = None,
                **kw: Unpack[ContextArgs]) -> t.ContextResult:
        """Prompt-ready Markdown of an agent's and/or a session's memories within ``max_tokens``."""
        return self._unary(_calls.context(agent, session, kw))

    def session_context(self, session_id: str, **kw: Unpack[ContextArgs]) -> t.ContextResult:
        """The context of one session, starting with its working memory (Current Task)."""
        return self._unary(_calls.session_context(session_id, kw))

    get_session_context = session_context

    # --- agents ----------------------------------------------------------------------------------

    def register_agent(self, name: str, *, description: str = "",
                       config: Optional[Mapping[str, Any]] = None) -> t.Agent:
        """Register an agent; a taken name raises AlreadyExistsError with ``existing_id``."""
        return self._unary(_calls.register_agent(name, description, config))

    def get_agent(self, agent: str) -> t.Agent:
        """An agent by id (``agent_…``) or name."""
        return self._unary(_calls.get_agent(agent))

    def list_agents(self, *, page_size: Optional[int] = None, page_token: Optional[str] = None) -> t.AgentPage:
        return self._unary(_calls.list_agents(page_size, page_token))

    def iter_agents(self) -> Iterator[t.Agent]:
        token = ""
        while True:
            page = self.list_agents(page_size=_PAGE, page_token=token)
            yield from page.agents
            if not page.next_page_token:
                return
            token = page.next_page_token

    def delete_agent(self, agent: str, *, cascade: bool = False) -> t.DeleteAgentResult:
        return self._unary(_calls.delete_agent(agent, cascade))

    def get_agent_stats(self, agent: str) -> t.AgentStats:
        return self._unary(_calls.get_agent_stats(agent))

    # --- sessions --------------------------------------------------------------------------------

    def create_session(self, agent: str, metadata: Optional[Mapping[str, Any]] = None) -> t.Session:
        return self._unary(_calls.create_session(agent, metadata))

    def get_session(self, id: str) -> t.Session:
        return self._unary(_calls.get_session(id))

    def list_sessions(self, agent: Optional[str] = None, *, status: Optional[str] = None,
                      page_size: Optional[int] = None, page_token: Optional[str] = None) -> t.SessionPage:
        """Sessions (of an agent), ``status`` "active" or "closed" (None: any)."""
        return self._unary(_calls.list_sessions(agent, status, page_size, page_token))

    def update_session(self, id: str, *, status: Optional[str] = None, metadata: Optional[Mapping[str, Any]] = None,
                       merge: bool = False) -> t.Session:
        """Change the status and/or the metadata (replaced, or merged by top-level key)."""
        return self._unary(_calls.update_session(id, status, metadata, merge))

    def close_session(self, id: str) -> t.Session:
        return self._unary(_calls.close_session(id))

    # --- simulation agents (the product docs' AgentMemoryAPI) ------------------------------------

    def store_agent_state(self, agent_id: str, state_data: Mapping[str, Any], step_number: int,
                          priority: Optional[float] = None, **kw: Unpack[SimulationFields]) -> t.AddResult:
        """An agent's state at a step (``priority`` is the importance, 0..1). A state is one per
        (agent, step): storing it again is ``duplicate``."""
        return self._unary(_calls.store_simulation("state", agent_id, state_data, step_number, priority, kw,
                                                   "store_agent_state"))

    def store_agent_action(self, agent_id: str, action_data: Mapping[str, Any], step_number: int,
                           priority: Optional[float] = None, **kw: Unpack[SimulationFields]) -> t.AddResult:
        return self._unary(_calls.store_simulation("action", agent_id, action_data, step_number, priority, kw,
                                                   "store_agent_action"))

    def store_agent_interaction(self, agent_id: str, interaction_data: Mapping[str, Any], step_number: int,
                                priority: Optional[float] = None, **kw: Unpack[SimulationFields]) -> t.AddResult:
        return self._unary(_calls.store_simulation("interaction", agent_id, interaction_data, step_number, priority,
                                                   kw, "store_agent_interaction"))

    def retrieve_similar_states(self, agent_id: str, query_state: Optional[Mapping[str, Any]] = None, k: int = 5, *,
                                embedding: Optional[Sequence[float]] = None, step_min: Optional[int] = None,
                                step_max: Optional[int] = None) -> t.SimilarStates:
        """The k past states most similar to ``query_state`` (or to ``embedding``), most similar
        first."""
        return self._unary(_calls.retrieve_similar_states(agent_id, query_state, k, embedding, step_min, step_max))

    def retrieve_by_time_range(self, agent_id: str, start_step: int, end_step: int,
                               memory_type: Optional[_calls.TypeNames] = None, *,
                               limit: Optional[int] = None) -> List[t.Memory]:
        """The memories of steps ``start_step`` to ``end_step`` (inclusive), in step order."""
        return self._collect(agent_id, limit, types=memory_type, step_min=start_step, step_max=end_step,
                             order="step_asc")

    def retrieve_by_attributes(self, agent_id: str, attributes: Mapping[str, Any],
                               memory_type: Optional[_calls.TypeNames] = None, *,
                               limit: Optional[int] = None) -> List[t.Memory]:
        """The memories whose metadata has all these top-level values, newest first."""
        return self._collect(agent_id, limit, types=memory_type, attributes=attributes)

    def retrieve_recent_states(self, agent_id: str, count: int = 5,
                               memory_type: Optional[_calls.TypeNames] = "state") -> List[t.Memory]:
        return list(self.list_memories(agent_id, types=memory_type, limit=count).memories)

    def _collect(self, agent: str, limit: Optional[int], **kw: Any) -> List[t.Memory]:
        out: List[t.Memory] = []
        for m in self.iter_memories(agent, limit=min(limit or _PAGE, _PAGE), **kw):
            out.append(m)
            if limit is not None and len(out) >= limit:
                break
        return out

    def get_state_changes(self, agent_id: str, step_min: Optional[int] = None,
                          step_max: Optional[int] = None) -> List[t.StateChange]:
        """For each state after the first, the top-level keys added, removed or changed."""
        out: List[t.StateChange] = []
        token = ""
        while True:
            changes, token = self._unary(_calls.state_changes(agent_id, step_min, step_max, _PAGE, token))
            out.extend(changes)
            if not token:
                return out

    def force_memory_maintenance(self, agent_id: Optional[str] = None, *, dry_run: bool = False,
                                 policy: Optional[Mapping[str, Any]] = None) -> t.MaintenanceReport:
        """A maintenance pass now (tier moves, expiry, and what the policy turns on)."""
        return self._unary(_calls.force_maintenance(agent_id, dry_run, policy))

    def get_memory_statistics(self, agent_id: Optional[str] = None) -> t.MemoryStatistics:
        """The org's memory statistics, or one agent's (by id or name)."""
        stats: t.MemoryStatistics = self._unary(_calls.memory_statistics())
        return stats.for_agent(agent_id) if agent_id else stats

    def get_lifecycle_policy(self, agent_id: Optional[str] = None) -> Dict[str, Any]:
        return self._unary(_calls.get_lifecycle_policy(agent_id))

    def set_lifecycle_policy(self, agent_id: str, policy: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        """Set an agent's own policy (None or {} removes it); returns the policy now in force."""
        return self._unary(_calls.set_lifecycle_policy(agent_id, policy))

    def clear_cache(self) -> int:
        return self._unary(_calls.clear_cache())

    def set_cache_ttl(self, ttl: Union[int, float, _dt.timedelta]) -> int:
        return self._unary(_calls.set_cache_ttl(ttl))

    # --- admin -----------------------------------------------------------------------------------

    def create_org(self, name: str) -> t.Org:
        return self._unary(_calls.create_org(name))

    def list_orgs(self) -> List[t.Org]:
        return self._unary(_calls.list_orgs())

    def create_api_key(self, name: str, permissions: _calls.Names = ("read", "write"), *,
                       org_id: Optional[str] = None,
                       expires_at: Union[_dt.datetime, _dt.timedelta, None] = None) -> t.CreatedApiKey:
        return self._unary(_calls.create_api_key(name, permissions, org_id, expires_at))

    def list_api_keys(self, org_id: Optional[str] = None) -> List[t.ApiKey]:
        return self._unary(_calls.list_api_keys(org_id))

    def revoke_api_key(self, id: str) -> t.ApiKey:
        return self._unary(_calls.revoke_api_key(id))


class Conversations:
    """``client.conversations``: message histories and their windows. A conversation is named by
    ``agent``, ``conversation`` (your id) and ``scope`` (the end user; "" is a scope of its own)."""

    def __init__(self, client: Engram) -> None:
        self._client = client

    def append(self, agent: str, conversation: str, messages: Union[Iterable[MessageLike], Mapping[str, Any]], *,
               scope: str = "", record_as_memories: Optional[bool] = None) -> t.AppendResult:
        """Append messages atomically, in order: dicts of the chat-completions shape (``role``,
        ``content``, ``name``, ``tool_calls``, ``tool_call_id``; also ``message_id``, ``time``,
        ``metadata``) or ``(role, content)`` pairs."""
        return self._client._unary(_calls.append_messages(agent, conversation, messages, scope, record_as_memories))

    def window(self, agent: str, conversation: str, *, scope: str = "", max_messages: Optional[int] = None,
               max_tokens: Optional[int] = None) -> t.Window:
        """The newest messages within both limits (system messages pinned), with the summary."""
        return self._client._unary(_calls.get_window(agent, conversation, scope, max_messages, max_tokens))

    def messages(self, agent: str, conversation: str, *, scope: str = "", page_size: Optional[int] = None,
                 page_token: Optional[str] = None, newest_first: bool = False, since: Optional[c.TimeSpec] = None,
                 until: Optional[c.TimeSpec] = None) -> t.MessagePage:
        """One page of the full history (oldest first unless ``newest_first``)."""
        return self._client._unary(_calls.list_messages(agent, conversation, scope, page_size, page_token,
                                                        newest_first, since, until))

    def list(self, agent: str, *, scope: Optional[str] = None, page_size: Optional[int] = None,
             page_token: Optional[str] = None) -> t.ConversationPage:
        """The agent's conversations (in ``scope``; None: every scope)."""
        return self._client._unary(_calls.list_conversations(agent, scope, page_size, page_token))

    def delete(self, agent: str, conversation: str, *, scope: str = "") -> int:
        """Delete the conversation; returns how many messages went with it."""
        return self._client._unary(_calls.delete_conversation(agent, conversation, scope))

    def set_summary(self, agent: str, conversation: str, text: str, *, through_seq: int = 0,
                    scope: str = "") -> t.Conversation:
        """Store your summary of what fell out of the window ("" clears it)."""
        return self._client._unary(_calls.set_summary(agent, conversation, text, through_seq, scope))


class WorkingMemoryClient:
    """``client.working_memory``: a session's JSON document, written with the version read (a
    stale version raises ConflictError and overwrites nothing)."""

    def __init__(self, client: Engram) -> None:
        self._client = client

    def get(self, session_id: str) -> t.WorkingMemory:
        return self._client._unary(_calls.wm_get(session_id))

    def set(self, session_id: str, document: Mapping[str, Any], version: int) -> t.WorkingMemory:
        """Replace the document; ``version`` is the one read (0: never written)."""
        return self._client._unary(_calls.wm_set(session_id, document, version))

    def patch(self, session_id: str, patch: Mapping[str, Any], version: int) -> t.WorkingMemory:
        """An RFC 7396 merge patch: None removes a key, dicts merge, anything else replaces."""
        return self._client._unary(_calls.wm_patch(session_id, patch, version))

    def clear(self, session_id: str, version: int) -> t.WorkingMemory:
        return self._client._unary(_calls.wm_clear(session_id, version))

