"""The asyncio client, :class:`AsyncEngram` (grpc.aio): the same calls as :class:`engram.Engram`,
awaited."""

from __future__ import annotations

import asyncio
import copy
import datetime as _dt
from typing import TYPE_CHECKING, Any, AsyncIterator, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import grpc

from . import _calls
from . import _convert as c
from . import types as t
from ._config import DEFAULT_TIMEOUT, Certs, Config, is_unavailable
from .errors import from_rpc_error
from .client import _PAGE, STUBS

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._calls import (ContextArgs, DecisionFields, FilterArgs, ListArgs, MemoryFields, MessageLike, RecallArgs,
                         SearchArgs, SimulationFields)

__all__ = ["AsyncEngram", "AsyncConversations", "AsyncWorkingMemoryClient", "AsyncWatch"]


class AsyncWatch:
    """A stream of :class:`engram.types.MemoryEvent`: iterate it with ``async for``, ``cancel()``
    it (or use it as an async context manager). ``resume_token`` is the token of the last event
    received."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self.resume_token = ""

    async def __aiter__(self) -> AsyncIterator[t.MemoryEvent]:
        try:
            async for event in self._call:
                out = t.MemoryEvent.from_pb(event)
                self.resume_token = out.resume_token
                yield out
        except asyncio.CancelledError:
            return
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(e) from e

    def cancel(self) -> None:
        self._call.cancel()

    async def __aenter__(self) -> "AsyncWatch":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.cancel()


class _Connection:
    """The grpc.aio channel, made on first use inside the running event loop (so a client can be
    built outside of one), shared by the views of :meth:`AsyncEngram.with_timeout`."""

    def __init__(self, config: Config, channel: Optional[grpc.aio.Channel]) -> None:
        self.config = config
        self.channel = channel
        self.own = channel is None
        self.closed = False
        self.stubs: Dict[str, Any] = {}

    def stub(self, service: str) -> Any:
        if self.closed:
            raise ValueError("engram: the client is closed")
        stub = self.stubs.get(service)
        if stub is None:
            if self.channel is None:
                if self.config.tls:
                    self.channel = grpc.aio.secure_channel(self.config.target, self.config.credentials(),
                                                           self.config.options)
                else:
                    self.channel = grpc.aio.insecure_channel(self.config.target, self.config.options)
            stub = self.stubs[service] = STUBS[service](self.channel)
        return stub

    async def close(self) -> None:
        self.closed = True
        self.stubs.clear()
        if self.own and self.channel is not None:
            await self.channel.close()
        self.channel = None


class AsyncEngram:
    """The asyncio client of an Engram server: the arguments and calls of :class:`engram.Engram`,
    each call awaited (``channel``: a ``grpc.aio.Channel``). Use it as an async context manager,
    or await :meth:`close`::

        async with AsyncEngram() as engram:
            await engram.remember("coder", "Fixed the login bug in auth.go")
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
        channel: Optional[grpc.aio.Channel] = None,
    ) -> None:
        self.config = Config(addr, api_key, tls=tls, root_certificates=root_certificates, private_key=private_key,
                             certificate_chain=certificate_chain, tls_server_name=tls_server_name, timeout=timeout,
                             retries=retries, backoff=backoff, max_backoff=max_backoff, metadata=metadata,
                             channel_options=channel_options)
        self._conn = _Connection(self.config, channel)
        self._view = False
        self.conversations = AsyncConversations(self)
        self.working_memory = AsyncWorkingMemoryClient(self)

    # --- plumbing --------------------------------------------------------------------------------

    @property
    def addr(self) -> str:
        return self.config.target

    @property
    def timeout(self) -> Optional[float]:
        return self.config.timeout

    def with_timeout(self, timeout: Optional[float]) -> "AsyncEngram":
        """A view of this client (same channel) whose calls have another deadline."""
        clone = copy.copy(self)
        clone.config = copy.copy(self.config)
        clone.config.timeout = timeout
        clone._view = True
        clone.conversations = AsyncConversations(clone)
        clone.working_memory = AsyncWorkingMemoryClient(clone)
        return clone

    async def close(self) -> None:
        if not self._view:
            await self._conn.close()

    async def __aenter__(self) -> "AsyncEngram":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _stub(self, service: str) -> Any:
        return self._conn.stub(service)

    async def _unary(self, call: _calls.Call) -> Any:
        fn = getattr(self._stub(call.service), call.method)
        delays = self.config.delays()
        attempt = 0
        while True:
            try:
                response = await fn(call.request, timeout=self.config.timeout, metadata=self.config.metadata)
            except grpc.RpcError as e:
                if is_unavailable(e) and attempt < len(delays):
                    await asyncio.sleep(delays[attempt])
                    attempt += 1
                    continue
                raise from_rpc_error(e) from e
            return call.convert(response)

    # --- memories --------------------------------------------------------------------------------

    async def remember(self, agent: str, text: str, **kw: Unpack[MemoryFields]) -> t.Memory:
        """Store a memory (episodic unless ``memory_type`` says otherwise) of ``agent`` (an id,
        or a name: an unknown name registers the agent). A duplicate within 24 h raises
        AlreadyExistsError with ``existing_id``."""
        return await self._unary(_calls.remember(agent, text, kw))

    async def decide(self, agent: str, decision: str, reasoning: str, **kw: Unpack[DecisionFields]) -> t.Memory:
        """Store a decision with its reasoning (``memory.reasoning``)."""
        return await self._unary(_calls.decide(agent, decision, reasoning, kw))

    async def add_memories(self, memories: Iterable[Mapping[str, Any]]) -> t.BatchResult:
        """Store up to 1,000 memories atomically; each a dict with ``agent``, ``content`` and any
        of remember()'s options. Duplicates are reported per item, not raised."""
        return await self._unary(_calls.add_memories(memories))

    async def get_memory(self, id: str) -> t.Memory:
        return await self._unary(_calls.get_memory(id))

    async def recall(self, agent: str, since: Optional[c.TimeSpec] = "24h", **kw: Unpack[RecallArgs]) -> t.MemoryPage:
        """The agent's memories since ``since`` (default the last 24 h), newest first."""
        return await self._unary(_calls.list_memories(agent, {**kw, "since": since}, "recall"))

    async def list_memories(self, agent: Optional[str] = None, **kw: Unpack[ListArgs]) -> t.MemoryPage:
        """One page of the memories the filters admit (newest first unless ``order``)."""
        return await self._unary(_calls.list_memories(agent, kw))

    async def iter_memories(self, agent: Optional[str] = None, **kw: Unpack[ListArgs]) -> AsyncIterator[t.Memory]:
        """Every memory the filters admit, page after page (``async for``)."""
        args: Dict[str, Any] = dict(kw)
        args.setdefault("limit", _PAGE)
        while True:
            page = await self.list_memories(agent, **args)
            for m in page.memories:
                yield m
            if not page.has_more or not page.next_page_token:
                return
            args["page_token"] = page.next_page_token
            args.pop("offset", None)

    async def search(self, agent: Optional[str] = None, query: Optional[str] = None,
               **kw: Unpack[SearchArgs]) -> t.SearchResult:
        """Memories the filters admit; with ``query`` (and/or ``query_embedding``) ranked by
        relevance in ``hits``."""
        return await self._unary(_calls.search(agent, query, kw))

    async def update_memory(self, id: str, **kw: Any) -> t.Memory:
        """Set any of ``importance``, ``tags``, ``metadata`` (replaced whole), ``expires_at``
        (None clears it)."""
        return await self._unary(_calls.update_memory(id, kw))

    async def delete_memory(self, id: str) -> None:
        await self._unary(_calls.delete_memory(id))

    async def delete_memories(self, agent: Optional[str] = None, *, session_id: Optional[str] = None,
                        types: Optional[_calls.TypeNames] = None, since: Optional[c.TimeSpec] = None,
                        until: Optional[c.TimeSpec] = None) -> int:
        """Delete every memory matching all given fields (``agent`` or ``session_id`` required);
        returns how many."""
        return await self._unary(_calls.delete_memories(agent, session_id, types, since, until))

    def watch(self, agent: Optional[str] = None, *, resume_token: Optional[str] = None,
              timeout: Optional[float] = None, **kw: Unpack[FilterArgs]) -> AsyncWatch:
        """Memories as they are written (after ``resume_token``, or from now). The stream has no
        deadline unless ``timeout`` is given."""
        request = _calls.watch_request(agent, resume_token, kw)
        call = self._stub("watch").WatchMemories(request, timeout=timeout, metadata=self.config.metadata)
        return AsyncWatch(call)

    # --- context ---------------------------------------------------------------------------------

    async def context(self, agent: Optional[str] = None, session: Optional[str] = None,
                **kw: Unpack[ContextArgs]) -> t.ContextResult:
        """Prompt-ready Markdown of an agent's and/or a session's memories within ``max_tokens``."""
        return await self._unary(_calls.context(agent, session, kw))

    async def session_context(self, session_id: str, **kw: Unpack[ContextArgs]) -> t.ContextResult:
        """The context of one session, starting with its working memory (Current Task)."""
        return await self._unary(_calls.session_context(session_id, kw))

    get_session_context = session_context

    # --- agents ----------------------------------------------------------------------------------

    async def register_agent(self, name: str, *, description: str = "",
                       config: Optional[Mapping[str, Any]] = None) -> t.Agent:
        """Register an agent; a taken name raises AlreadyExistsError with ``existing_id``."""
        return await self._unary(_calls.register_agent(name, description, config))

    async def get_agent(self, agent: str) -> t.Agent:
        """An agent by id (``agent_…``) or name."""
        return await self._unary(_calls.get_agent(agent))

    async def list_agents(self, *, page_size: Optional[int] = None, page_token: Optional[str] = None) -> t.AgentPage:
        return await self._unary(_calls.list_agents(page_size, page_token))

    async def iter_agents(self) -> AsyncIterator[t.Agent]:
        token = ""
        while True:
            page = await self.list_agents(page_size=_PAGE, page_token=token)
            for a in page.agents:
                yield a
            if not page.next_page_token:
                return
            token = page.next_page_token

    async def delete_agent(self, agent: str, *, cascade: bool = False) -> t.DeleteAgentResult:
        return await self._unary(_calls.delete_agent(agent, cascade))

    async def get_agent_stats(self, agent: str) -> t.AgentStats:
        return await self._unary(_calls.get_agent_stats(agent))

    # --- sessions --------------------------------------------------------------------------------

    async def create_session(self, agent: str, metadata: Optional[Mapping[str, Any]] = None) -> t.Session:
        return await self._unary(_calls.create_session(agent, metadata))

    async def get_session(self, id: str) -> t.Session:
        return await self._unary(_calls.get_session(id))

    async def list_sessions(self, agent: Optional[str] = None, *, status: Optional[str] = None,
                      page_size: Optional[int] = None, page_token: Optional[str] = None) -> t.SessionPage:
        """Sessions (of an agent), ``status`` "active" or "closed" (None: any)."""
        return await self._unary(_calls.list_sessions(agent, status, page_size, page_token))

    async def update_session(self, id: str, *, status: Optional[str] = None, metadata: Optional[Mapping[str, Any]] = None,
                       merge: bool = False) -> t.Session:
        """Change the status and/or the metadata (replaced, or merged by top-level key)."""
        return await self._unary(_calls.update_session(id, status, metadata, merge))

    async def close_session(self, id: str) -> t.Session:
        return await self._unary(_calls.close_session(id))

    # --- simulation agents (the product docs' AgentMemoryAPI) ------------------------------------

    async def store_agent_state(self, agent_id: str, state_data: Mapping[str, Any], step_number: int,
                          priority: Optional[float] = None, **kw: Unpack[SimulationFields]) -> t.AddResult:
        """An agent's state at a step (``priority`` is the importance, 0..1). A state is one per
        (agent, step): storing it again is ``duplicate``."""
        return await self._unary(_calls.store_simulation("state", agent_id, state_data, step_number, priority, kw,
                                                   "store_agent_state"))

    async def store_agent_action(self, agent_id: str, action_data: Mapping[str, Any], step_number: int,
                           priority: Optional[float] = None, **kw: Unpack[SimulationFields]) -> t.AddResult:
        return await self._unary(_calls.store_simulation("action", agent_id, action_data, step_number, priority, kw,
                                                   "store_agent_action"))

    async def store_agent_interaction(self, agent_id: str, interaction_data: Mapping[str, Any], step_number: int,
                                priority: Optional[float] = None, **kw: Unpack[SimulationFields]) -> t.AddResult:
        return await self._unary(_calls.store_simulation("interaction", agent_id, interaction_data, step_number, priority,
                                                   kw, "store_agent_interaction"))

    async def retrieve_similar_states(self, agent_id: str, query_state: Optional[Mapping[str, Any]] = None, k: int = 5, *,
                                embedding: Optional[Sequence[float]] = None, step_min: Optional[int] = None,
                                step_max: Optional[int] = None) -> t.SimilarStates:
        """The k past states most similar to ``query_state`` (or to ``embedding``), most similar
        first."""
        return await self._unary(_calls.retrieve_similar_states(agent_id, query_state, k, embedding, step_min, step_max))

    async def retrieve_by_time_range(self, agent_id: str, start_step: int, end_step: int,
                               memory_type: Optional[_calls.TypeNames] = None, *,
                               limit: Optional[int] = None) -> List[t.Memory]:
        """The memories of steps ``start_step`` to ``end_step`` (inclusive), in step order."""
        return await self._collect(agent_id, limit, types=memory_type, step_min=start_step, step_max=end_step,
                             order="step_asc")

    async def retrieve_by_attributes(self, agent_id: str, attributes: Mapping[str, Any],
                               memory_type: Optional[_calls.TypeNames] = None, *,
                               limit: Optional[int] = None) -> List[t.Memory]:
        """The memories whose metadata has all these top-level values, newest first."""
        return await self._collect(agent_id, limit, types=memory_type, attributes=attributes)

    async def retrieve_recent_states(self, agent_id: str, count: int = 5,
                               memory_type: Optional[_calls.TypeNames] = "state") -> List[t.Memory]:
        return list((await self.list_memories(agent_id, types=memory_type, limit=count)).memories)

    async def _collect(self, agent: str, limit: Optional[int], **kw: Any) -> List[t.Memory]:
        out: List[t.Memory] = []
        async for m in self.iter_memories(agent, limit=min(limit or _PAGE, _PAGE), **kw):
            out.append(m)
            if limit is not None and len(out) >= limit:
                break
        return out

    async def get_state_changes(self, agent_id: str, step_min: Optional[int] = None,
                          step_max: Optional[int] = None) -> List[t.StateChange]:
        """For each state after the first, the top-level keys added, removed or changed."""
        out: List[t.StateChange] = []
        token = ""
        while True:
            changes, token = await self._unary(_calls.state_changes(agent_id, step_min, step_max, _PAGE, token))
            out.extend(changes)
            if not token:
                return out

    async def force_memory_maintenance(self, agent_id: Optional[str] = None, *, dry_run: bool = False,
                                 policy: Optional[Mapping[str, Any]] = None) -> t.MaintenanceReport:
        """A maintenance pass now (tier moves, expiry, and what the policy turns on)."""
        return await self._unary(_calls.force_maintenance(agent_id, dry_run, policy))

    async def get_memory_statistics(self, agent_id: Optional[str] = None) -> t.MemoryStatistics:
        """The org's memory statistics, or one agent's (by id or name)."""
        stats: t.MemoryStatistics = await self._unary(_calls.memory_statistics())
        return stats.for_agent(agent_id) if agent_id else stats

    async def get_lifecycle_policy(self, agent_id: Optional[str] = None) -> Dict[str, Any]:
        return await self._unary(_calls.get_lifecycle_policy(agent_id))

    async def set_lifecycle_policy(self, agent_id: str, policy: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        """Set an agent's own policy (None or {} removes it); returns the policy now in force."""
        return await self._unary(_calls.set_lifecycle_policy(agent_id, policy))

    async def clear_cache(self) -> int:
        return await self._unary(_calls.clear_cache())

    async def set_cache_ttl(self, ttl: Union[int, float, _dt.timedelta]) -> int:
        return await self._unary(_calls.set_cache_ttl(ttl))

    # --- admin -----------------------------------------------------------------------------------

    async def create_org(self, name: str) -> t.Org:
        return await self._unary(_calls.create_org(name))

    async def list_orgs(self) -> List[t.Org]:
        return await self._unary(_calls.list_orgs())

    async def create_api_key(self, name: str, permissions: _calls.Names = ("read", "write"), *,
                       org_id: Optional[str] = None,
                       expires_at: Union[_dt.datetime, _dt.timedelta, None] = None) -> t.CreatedApiKey:
        return await self._unary(_calls.create_api_key(name, permissions, org_id, expires_at))

    async def list_api_keys(self, org_id: Optional[str] = None) -> List[t.ApiKey]:
        return await self._unary(_calls.list_api_keys(org_id))

    async def revoke_api_key(self, id: str) -> t.ApiKey:
        return await self._unary(_calls.revoke_api_key(id))


class AsyncConversations:
    """``client.conversations``: message histories and their windows. A conversation is named by
    ``agent``, ``conversation`` (your id) and ``scope`` (the end user; "" is a scope of its own)."""

    def __init__(self, client: AsyncEngram) -> None:
        self._client = client

    async def append(self, agent: str, conversation: str, messages: Union[Iterable[MessageLike], Mapping[str, Any]], *,
               scope: str = "", record_as_memories: Optional[bool] = None) -> t.AppendResult:
        """Append messages atomically, in order: dicts of the chat-completions shape (``role``,
        ``content``, ``name``, ``tool_calls``, ``tool_call_id``; also ``message_id``, ``time``,
        ``metadata``) or ``(role, content)`` pairs."""
        return await self._client._unary(_calls.append_messages(agent, conversation, messages, scope, record_as_memories))

    async def window(self, agent: str, conversation: str, *, scope: str = "", max_messages: Optional[int] = None,
               max_tokens: Optional[int] = None) -> t.Window:
        """The newest messages within both limits (system messages pinned), with the summary."""
        return await self._client._unary(_calls.get_window(agent, conversation, scope, max_messages, max_tokens))

    async def messages(self, agent: str, conversation: str, *, scope: str = "", page_size: Optional[int] = None,
                 page_token: Optional[str] = None, newest_first: bool = False, since: Optional[c.TimeSpec] = None,
                 until: Optional[c.TimeSpec] = None) -> t.MessagePage:
        """One page of the full history (oldest first unless ``newest_first``)."""
        return await self._client._unary(_calls.list_messages(agent, conversation, scope, page_size, page_token,
                                                        newest_first, since, until))

    async def list(self, agent: str, *, scope: Optional[str] = None, page_size: Optional[int] = None,
             page_token: Optional[str] = None) -> t.ConversationPage:
        """The agent's conversations (in ``scope``; None: every scope)."""
        return await self._client._unary(_calls.list_conversations(agent, scope, page_size, page_token))

    async def delete(self, agent: str, conversation: str, *, scope: str = "") -> int:
        """Delete the conversation; returns how many messages went with it."""
        return await self._client._unary(_calls.delete_conversation(agent, conversation, scope))

    async def set_summary(self, agent: str, conversation: str, text: str, *, through_seq: int = 0,
                    scope: str = "") -> t.Conversation:
        """Store your summary of what fell out of the window ("" clears it)."""
        return await self._client._unary(_calls.set_summary(agent, conversation, text, through_seq, scope))


class AsyncWorkingMemoryClient:
    """``client.working_memory``: a session's JSON document, written with the version read (a
    stale version raises ConflictError and overwrites nothing)."""

    def __init__(self, client: AsyncEngram) -> None:
        self._client = client

    async def get(self, session_id: str) -> t.WorkingMemory:
        return await self._client._unary(_calls.wm_get(session_id))

    async def set(self, session_id: str, document: Mapping[str, Any], version: int) -> t.WorkingMemory:
        """Replace the document; ``version`` is the one read (0: never written)."""
        return await self._client._unary(_calls.wm_set(session_id, document, version))

    async def patch(self, session_id: str, patch: Mapping[str, Any], version: int) -> t.WorkingMemory:
        """An RFC 7396 merge patch: None removes a key, dicts merge, anything else replaces."""
        return await self._client._unary(_calls.wm_patch(session_id, patch, version))

    async def clear(self, session_id: str, version: int) -> t.WorkingMemory:
        return await self._client._unary(_calls.wm_clear(session_id, version))

