"""Typed errors, one per gRPC status code the server answers with.

Every error of a call is an :class:`EngramError`; the subclass says what went wrong::

    try:
        client.get_agent("agent_000000000000000000000000")
    except NotFoundError:
        ...
    except EngramError as e:
        print(e.code, e.message)
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence, Tuple

import grpc

__all__ = [
    "EngramError",
    "InvalidArgumentError",
    "NotFoundError",
    "AlreadyExistsError",
    "AuthenticationError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "FailedPreconditionError",
    "ConflictError",
    "UnavailableError",
    "DeadlineExceededError",
    "from_rpc_error",
]

#: The trailer in which the server names the memory an ALREADY_EXISTS duplicates.
EXISTING_ID_KEY = "x-engram-existing-id"


class EngramError(Exception):
    """A failed call. ``code`` is the gRPC status code, ``message`` the server's text (it names
    the field and the rule for bad input), ``trailers`` the trailing metadata."""

    def __init__(
        self,
        message: str,
        code: Optional[grpc.StatusCode] = None,
        trailers: Sequence[Tuple[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.trailers = tuple(trailers)

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.code.name}: {self.message}"


class InvalidArgumentError(EngramError):
    """INVALID_ARGUMENT: bad input. ``field`` is the field the server names (``memory.content``,
    ``filter.near.radius``, ``memories[3].tags[1]``), ``rule`` the rule it broke; both are None
    when the message names no field (an undecodable request)."""

    field: Optional[str]
    rule: Optional[str]

    def __init__(self, message: str, code: Optional[grpc.StatusCode] = None,
                 trailers: Sequence[Tuple[str, Any]] = ()) -> None:
        super().__init__(message, code, trailers)
        self.field, self.rule = parse_field(message)


class NotFoundError(EngramError):
    """NOT_FOUND: no such agent, session, memory, … in the caller's org."""


class AlreadyExistsError(EngramError):
    """ALREADY_EXISTS: a duplicate memory (same agent and dedup key within 24 h), a taken agent
    name, … ``existing_id`` is the id of what already exists (from the ``x-engram-existing-id``
    trailer, else the message), ``what`` the kind (``memory``, ``agent``, ``org``)."""

    existing_id: Optional[str]
    what: Optional[str]

    def __init__(self, message: str, code: Optional[grpc.StatusCode] = None,
                 trailers: Sequence[Tuple[str, Any]] = ()) -> None:
        super().__init__(message, code, trailers)
        m = re.match(r"^(\w+) already exists: (\S+)$", message)
        self.what = m.group(1) if m else None
        existing = None
        for key, value in self.trailers:
            if key == EXISTING_ID_KEY:
                existing = value.decode() if isinstance(value, bytes) else str(value)
        self.existing_id = existing or (m.group(2) if m else None)


class AuthenticationError(EngramError):
    """UNAUTHENTICATED: no API key, or an unknown, revoked or expired one."""


class PermissionDeniedError(EngramError):
    """PERMISSION_DENIED: the key lacks the permission (read, write, admin) the call needs."""


class ResourceExhaustedError(EngramError):
    """RESOURCE_EXHAUSTED: the request is over a size limit."""


class FailedPreconditionError(EngramError):
    """FAILED_PRECONDITION: e.g. deleting an agent that still has memories without ``cascade``."""


class ConflictError(EngramError):
    """ABORTED: a write based on a stale read (a working-memory version that moved on, a second
    maintenance pass): read again and retry."""


class UnavailableError(EngramError):
    """UNAVAILABLE: the server cannot be reached or its store does not answer (after the
    client's retries)."""


class DeadlineExceededError(EngramError, TimeoutError):
    """DEADLINE_EXCEEDED: the call took longer than the client's timeout."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: ConflictError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}

# "field: rule", or "item 3: field: rule" (an item of a batch); a field is a path of names and
# indexes: memories[3].tags[1], filter.attributes.outcome, policy.cold_after.
_FIELD = re.compile(r"^(?:item (\d+): )?([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*(?:\.[A-Za-z0-9_-]+(?:\[\d+\])*)*): (.+)$",
                    re.DOTALL)


def parse_field(message: str) -> Tuple[Optional[str], Optional[str]]:
    """The field and the rule of an INVALID_ARGUMENT message (core ``Error::invalid(field, rule)``
    renders as ``field: rule``)."""
    m = _FIELD.match(message)
    if not m:
        return None, None
    _index, field, rule = m.groups()
    return field, rule


def _trailers(err: Any) -> Tuple[Tuple[str, Any], ...]:
    try:
        md = err.trailing_metadata()
    except Exception:  # a status without a call (e.g. raised by an interceptor)
        return ()
    if not md:
        return ()
    return tuple((k, v) for k, v in md)


def from_rpc_error(err: Any) -> EngramError:
    """The typed error of a ``grpc.RpcError`` (sync or ``grpc.aio``)."""
    code = err.code() if hasattr(err, "code") else None
    message = (err.details() if hasattr(err, "details") else None) or str(err)
    cls = _BY_CODE.get(code, EngramError)
    return cls(message, code, _trailers(err))
