"""Memory hooks: record what an agent does without changing its code (the product docs'
``install_memory_hooks`` and ``with_memory``).

Each call of the hooked method (``act`` by default) is one step: the state before the call and the
state after it are stored as states of that step (tags ``hook:before`` / ``hook:after``), and the
call as an action of that step whose metadata holds the arguments, the result (or the error), the
outcome and the difference between the two states (``state_diff``: for each top-level key that
changed, its ``before`` and/or ``after``). Steps count up from the agent's newest stored step + 1
(one lookup, at the first call), or come from ``step=lambda self: ...``.

Recording never breaks the agent: a failure (the server down, a bad state, a broken ``get_state``)
is logged on the ``engram.hooks`` logger and the method's own result or exception goes on as if
nothing was hooked.

::

    @memory_hooks(engram, agent_id="forager-1")
    class Forager:
        def get_state(self): return {"position": self.position, "wood": self.wood}
        def act(self, observation): ...

    agent = with_memory(ExistingAgent(), engram, agent_id="agent-456")
    agent.act({"user_input": "What's the weather today?"})
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union, overload

from . import _convert as c

__all__ = ["memory_hooks", "install_memory_hooks", "with_memory", "state_diff", "MemoryHooks"]

logger = logging.getLogger("engram.hooks")

C = TypeVar("C", bound=type)
ClientLike = Any  # Engram, AsyncEngram, a zero-argument callable returning one, or None ($ENGRAM_*)

_TEXT_LIMIT = 2000      # characters of a state or call in a memory's content
_VALUE_LIMIT = 4096     # bytes of JSON of the arguments, and of the result, in the action's metadata


def state_diff(before: Optional[Mapping[str, Any]], after: Optional[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """The top-level keys that differ: ``{key: {"before": old, "after": new}}``, without
    ``before`` for an added key and without ``after`` for a removed one."""
    before = before or {}
    after = after or {}
    out: Dict[str, Dict[str, Any]] = {}
    for key in sorted(set(before) | set(after)):
        if key not in after:
            out[key] = {"before": before[key]}
        elif key not in before:
            out[key] = {"after": after[key]}
        elif before[key] != after[key]:
            out[key] = {"before": before[key], "after": after[key]}
    return out


def _short(value: Any, limit: int = _TEXT_LIMIT) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[:limit] + " …"


def _bounded(value: Any) -> Any:
    """A JSON value small enough for the action's metadata (else its text, cut)."""
    text = json.dumps(value, ensure_ascii=False)
    if len(text.encode()) <= _VALUE_LIMIT:
        return value
    return text[: _VALUE_LIMIT // 4] + " …[truncated]"


class _Instance:
    """What the hooks keep per agent instance: its step counter."""

    def __init__(self) -> None:
        self.step: Optional[int] = None
        self.lock = threading.Lock()


class MemoryHooks:
    """The recorder behind :func:`memory_hooks` and :func:`with_memory`."""

    def __init__(
        self,
        client: ClientLike = None,
        *,
        agent_id: Union[str, Callable[[Any], str], None] = None,
        state: Optional[Callable[[Any], Any]] = None,
        method: str = "act",
        step: Optional[Callable[[Any], int]] = None,
        session_id: Union[str, Callable[[Any], Optional[str]], None] = None,
        importance: Optional[float] = None,
        timeout: Optional[float] = 5.0,
    ) -> None:
        self._client_arg = client
        self._client: Any = None
        self.agent_id = agent_id
        self.state = state
        self.method = method
        self.step = step
        self.session_id = session_id
        self.importance = importance
        self.timeout = timeout
        self._instances: "weakref.WeakKeyDictionary[Any, _Instance]" = weakref.WeakKeyDictionary()
        self._by_id: Dict[int, _Instance] = {}
        self._lock = threading.Lock()

    # --- resolving -------------------------------------------------------------------------------

    def client(self) -> Any:
        if self._client is None:
            client = self._client_arg
            if client is None:
                from .client import Engram
                client = Engram()
            elif callable(client) and not hasattr(client, "add_memories"):
                client = client()
            if self.timeout is not None and hasattr(client, "with_timeout"):
                client = client.with_timeout(self.timeout)
            self._client = client
        return self._client

    def agent_of(self, obj: Any) -> str:
        if callable(self.agent_id):
            return str(self.agent_id(obj))
        if self.agent_id:
            return self.agent_id
        for attr in ("agent_id", "name"):
            value = getattr(obj, attr, None)
            if isinstance(value, str) and value:
                return value
        return type(obj).__name__

    def session_of(self, obj: Any) -> Optional[str]:
        if callable(self.session_id):
            return self.session_id(obj)
        return self.session_id

    def capture(self, obj: Any) -> Dict[str, Any]:
        """The agent's state: ``state(obj)``, else ``obj.get_state()``, else its public
        attributes; as a JSON object."""
        if self.state is not None:
            value = self.state(obj)
        elif callable(getattr(obj, "get_state", None)):
            value = obj.get_state()
        else:
            value = {k: v for k, v in vars(obj).items() if not k.startswith("_") and not callable(v)}
        value = c.jsonable(value)
        return value if isinstance(value, dict) else {"state": value}

    def _instance(self, obj: Any) -> _Instance:
        with self._lock:
            try:
                inst = self._instances.get(obj)
                if inst is None:
                    inst = self._instances[obj] = _Instance()
            except TypeError:  # not weak-referenceable, or unhashable
                inst = self._by_id.setdefault(id(obj), _Instance())
            return inst

    # --- recording -------------------------------------------------------------------------------

    def _first_step(self, agent: str) -> int:
        try:
            page = self.client().list_memories(agent, types="state", order="step_desc", limit=1)
            if inspect.isawaitable(page):  # an AsyncEngram used from a sync method: no lookup
                getattr(page, "close", lambda: None)()
                return 1
            return (page.memories[0].step + 1) if page.memories and page.memories[0].step is not None else 1
        except Exception as e:
            logger.warning("engram hooks: could not read the newest step of %s (%s); counting from 1", agent, e)
            return 1

    async def _first_step_async(self, agent: str) -> int:
        try:
            page = self.client().list_memories(agent, types="state", order="step_desc", limit=1)
            if inspect.isawaitable(page):
                page = await page
            return (page.memories[0].step + 1) if page.memories and page.memories[0].step is not None else 1
        except Exception as e:
            logger.warning("engram hooks: could not read the newest step of %s (%s); counting from 1", agent, e)
            return 1

    def _take_step(self, inst: _Instance, first: Callable[[], int]) -> int:
        with inst.lock:
            if inst.step is None:
                inst.step = first()
            step = inst.step
            inst.step += 1
            return step

    def _batch(self, obj: Any, agent: str, step: int, before: Optional[Dict[str, Any]],
               after: Optional[Dict[str, Any]], args: Tuple[Any, ...], kwargs: Dict[str, Any], result: Any,
               error: Optional[BaseException], duration: float) -> List[Dict[str, Any]]:
        session = self.session_of(obj)
        common: Dict[str, Any] = {"agent": agent, "step": step}
        if session:
            common["session_id"] = session
        if self.importance is not None:
            common["importance"] = self.importance
        out: List[Dict[str, Any]] = []
        if before is not None:
            out.append({**common, "memory_type": "state", "event_type": "state", "metadata": before,
                        "content": f"state before {self.method} (step {step}): {_short(before)}",
                        "tags": ["hook:before"], "dedup_key": f"state@{step}:before"})
        result_value = c.jsonable(result)
        action: Dict[str, Any] = {
            "action_type": self.method,
            "method": self.method,
            "args": _bounded(c.jsonable(list(args))),
            "kwargs": _bounded(c.jsonable(kwargs)),
            "outcome": "error" if error is not None else "success",
            "duration_ms": round(duration * 1000, 3),
        }
        if isinstance(result, Mapping) and isinstance(result.get("action_type"), str):
            action["action_type"] = result["action_type"]
        if error is not None:
            action["error"] = f"{type(error).__name__}: {error}"[:_VALUE_LIMIT]
        else:
            action["result"] = _bounded(result_value)
        if before is not None and after is not None:
            action["state_diff"] = state_diff(before, after)
        call = f"{self.method}({_short(c.jsonable(list(args)), 200)[1:-1]})"
        outcome = f"raised {action['error']}" if error is not None else f"-> {_short(result_value, 500)}"
        out.append({**common, "memory_type": "action", "event_type": "action", "metadata": action,
                    "content": f"{call} {outcome}", "tags": ["hook:action"], "dedup_key": f"action@{step}"})
        if after is not None:
            out.append({**common, "memory_type": "state", "event_type": "state", "metadata": after,
                        "content": f"state after {self.method} (step {step}): {_short(after)}",
                        "tags": ["hook:after"], "dedup_key": f"state@{step}:after"})
        return out

    def _safe_capture(self, obj: Any, when: str) -> Optional[Dict[str, Any]]:
        try:
            return self.capture(obj)
        except Exception as e:
            logger.warning("engram hooks: could not capture the state %s %s: %s", when, self.method, e,
                           exc_info=True)
            return None

    def _step_of(self, obj: Any) -> Optional[int]:
        if self.step is None:
            return None
        return int(self.step(obj))

    def record(self, obj: Any, before: Optional[Dict[str, Any]], args: Tuple[Any, ...], kwargs: Dict[str, Any],
               result: Any, error: Optional[BaseException], duration: float) -> None:
        """Store one step (sync agents). Never raises."""
        agent = step = None
        try:
            agent = self.agent_of(obj)
            after = self._safe_capture(obj, "after")
            step = self._step_of(obj)
            if step is None:
                step = self._take_step(self._instance(obj), lambda: self._first_step(agent))
            batch = self._batch(obj, agent, step, before, after, args, kwargs, result, error, duration)
            client = self.client()
            out = client.add_memories(batch)
            if inspect.isawaitable(out):  # an AsyncEngram: run it where it can run
                _run_coroutine(out)
        except Exception as e:
            logger.warning("engram hooks: could not record step %s of %s: %s", step, agent, e, exc_info=True)

    async def record_async(self, obj: Any, before: Optional[Dict[str, Any]], args: Tuple[Any, ...],
                           kwargs: Dict[str, Any], result: Any, error: Optional[BaseException],
                           duration: float) -> None:
        """Store one step (async agents). Never raises."""
        agent = step = None
        try:
            agent = self.agent_of(obj)
            after = self._safe_capture(obj, "after")
            step = self._step_of(obj)
            if step is None:
                inst = self._instance(obj)
                if inst.step is None:
                    first = await self._first_step_async(agent)
                    with inst.lock:
                        if inst.step is None:
                            inst.step = first
                step = self._take_step(inst, lambda: 1)
            batch = self._batch(obj, agent, step, before, after, args, kwargs, result, error, duration)
            client = self.client()
            if inspect.iscoroutinefunction(getattr(client, "add_memories", None)):
                await client.add_memories(batch)
            else:  # a sync client: off the event loop
                await asyncio.get_running_loop().run_in_executor(None, client.add_memories, batch)
        except Exception as e:
            logger.warning("engram hooks: could not record step %s of %s: %s", step, agent, e, exc_info=True)

    # --- wrapping --------------------------------------------------------------------------------

    def wrap(self, fn: Callable[..., Any], bound_to: Any = None) -> Callable[..., Any]:
        """``fn`` (a function taking the agent first, or a method bound to ``bound_to``) with its
        calls recorded."""
        hooks = self

        def split(args: Tuple[Any, ...]) -> Tuple[Any, Tuple[Any, ...], Tuple[Any, ...]]:
            if bound_to is not None:
                return bound_to, args, args
            return args[0], args, args[1:]

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_hooked(*args: Any, **kwargs: Any) -> Any:
                obj, call_args, user_args = split(args)
                before = hooks._safe_capture(obj, "before")
                start = time.monotonic()
                try:
                    result = await fn(*call_args, **kwargs)
                except Exception as e:
                    await hooks.record_async(obj, before, user_args, kwargs, None, e, time.monotonic() - start)
                    raise
                await hooks.record_async(obj, before, user_args, kwargs, result, None, time.monotonic() - start)
                return result
            async_hooked.__engram_hooks__ = hooks  # type: ignore[attr-defined]
            return async_hooked

        @functools.wraps(fn)
        def hooked(*args: Any, **kwargs: Any) -> Any:
            obj, call_args, user_args = split(args)
            before = hooks._safe_capture(obj, "before")
            start = time.monotonic()
            try:
                result = fn(*call_args, **kwargs)
            except Exception as e:
                hooks.record(obj, before, user_args, kwargs, None, e, time.monotonic() - start)
                raise
            hooks.record(obj, before, user_args, kwargs, result, None, time.monotonic() - start)
            return result
        hooked.__engram_hooks__ = hooks  # type: ignore[attr-defined]
        return hooked

    def install(self, cls: C) -> C:
        fn = getattr(cls, self.method, None)
        if fn is None or not callable(fn):
            raise TypeError(f"memory_hooks: {cls.__name__} has no method {self.method!r}")
        while hasattr(fn, "__engram_hooks__"):  # hooked already (a base class): hook the original
            fn = fn.__wrapped__
        setattr(cls, self.method, self.wrap(fn))
        return cls


def _run_coroutine(coro: Any) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    # A sync method called inside a running loop with an AsyncEngram: record in the background.
    loop.create_task(coro)


@overload
def memory_hooks(client: C) -> C: ...
@overload
def memory_hooks(client: ClientLike = None, *, agent_id: Union[str, Callable[[Any], str], None] = None,
                 state: Optional[Callable[[Any], Any]] = None, method: str = "act",
                 step: Optional[Callable[[Any], int]] = None,
                 session_id: Union[str, Callable[[Any], Optional[str]], None] = None,
                 importance: Optional[float] = None, timeout: Optional[float] = 5.0) -> Callable[[C], C]: ...
def memory_hooks(client: Any = None, **options: Any) -> Any:
    """A class decorator recording each call of the class's ``act`` (or ``method``).

    ``client``: an Engram or AsyncEngram, a zero-argument function returning one (made at the
    first call), or None (``Engram()`` from ``$ENGRAM_ADDR`` / ``$ENGRAM_API_KEY``). ``agent_id``:
    a name or id, or a function of the instance (default: its ``agent_id`` or ``name``
    attribute, else the class name). ``state``: a function of the instance returning its state
    (default: ``get_state()``, else its public attributes). ``step``: a function of the instance
    returning the step (default: counted). ``session_id``, ``importance``: of every memory
    recorded. ``timeout``: seconds a recording may take.

    Also usable bare: ``@memory_hooks`` (and ``@install_memory_hooks``, the docs' name).
    """
    if isinstance(client, type) and not options:
        return MemoryHooks().install(client)
    hooks = MemoryHooks(client, **options)
    return hooks.install


install_memory_hooks = memory_hooks


class _MemoryAgent:
    """An agent whose ``act`` (or ``method``) is recorded; every other attribute is the agent's."""

    def __init__(self, agent: Any, hooks: MemoryHooks) -> None:
        object.__setattr__(self, "_engram_agent", agent)
        object.__setattr__(self, "_engram_hooks", hooks)
        object.__setattr__(self, "_engram_method", hooks.wrap(getattr(agent, hooks.method), bound_to=agent))

    @property
    def __wrapped__(self) -> Any:
        return object.__getattribute__(self, "_engram_agent")

    def __getattr__(self, name: str) -> Any:
        if name == object.__getattribute__(self, "_engram_hooks").method:
            return object.__getattribute__(self, "_engram_method")
        return getattr(object.__getattribute__(self, "_engram_agent"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_engram_agent"), name, value)

    def __repr__(self) -> str:
        return f"with_memory({object.__getattribute__(self, '_engram_agent')!r})"


def with_memory(agent: Any, client: ClientLike = None, **options: Any) -> Any:
    """The agent with each call of its ``act`` (or ``method``) recorded; the options are
    :func:`memory_hooks`'. The agent object itself is not changed: use the returned one."""
    hooks = MemoryHooks(client, **options)
    if not callable(getattr(agent, hooks.method, None)):
        raise TypeError(f"with_memory: {type(agent).__name__} has no method {hooks.method!r}")
    return _MemoryAgent(agent, hooks)
