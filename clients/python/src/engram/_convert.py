"""Conversions between Python values and engram.v1 messages: dicts and Structs, datetimes and
Timestamps, time specs, enum names."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from .v1 import admin_pb2, common_pb2, conversations_pb2, memories_pb2, sessions_pb2

UTC = _dt.timezone.utc

TimeSpec = Union[str, _dt.datetime, _dt.date, _dt.timedelta]


# --- JSON values ---------------------------------------------------------------------------------

def _plain(value: Any, path: str) -> Any:
    """A JSON-shaped copy of `value` for a Struct (datetimes as RFC 3339 text, tuples as lists)."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, _dt.datetime):
        return rfc3339(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: keys must be strings, not {type(k).__name__}")
            out[k] = _plain(v, f"{path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{path}: {type(value).__name__} is not a JSON value")


def to_struct(value: Optional[Mapping[str, Any]], path: str = "metadata") -> Optional[struct_pb2.Struct]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{path}: must be a dict, not {type(value).__name__}")
    s = struct_pb2.Struct()
    s.update(_plain(value, path))
    return s


def _intify(value: Any) -> Any:
    # A Struct keeps every number as a double; integral ones come back as ints (as in JSON).
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _intify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_intify(v) for v in value]
    return value


def from_struct(s: Optional[struct_pb2.Struct]) -> Dict[str, Any]:
    if s is None:
        return {}
    return _intify(json_format.MessageToDict(s))


def from_value(v: struct_pb2.Value) -> Any:
    return _intify(json_format.MessageToDict(v))


def jsonable(value: Any, depth: int = 0) -> Any:
    """A lenient JSON-shaped copy of any value (hooks: states, observations, results): objects
    become their dict (``as_dict()``, dataclass fields, ``__dict__``) or their repr."""
    if depth > 20:
        return repr(value)
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, _dt.datetime):
        return rfc3339(value)
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v, depth + 1) for v in items]
    as_dict = getattr(value, "as_dict", None) or getattr(value, "to_dict", None)
    if callable(as_dict):
        try:
            return jsonable(as_dict(), depth + 1)
        except Exception:
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: jsonable(v, depth + 1) for k, v in vars(value).items() if not k.startswith("_")}
    return repr(value)


# --- times ---------------------------------------------------------------------------------------

def _utc(t: _dt.datetime) -> _dt.datetime:
    # A naive datetime is taken as UTC (as protobuf's Timestamp.FromDatetime does).
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def rfc3339(t: _dt.datetime) -> str:
    return _utc(t).isoformat().replace("+00:00", "Z")


def time_spec(value: Optional[TimeSpec], field: str) -> str:
    """A time spec of a filter: a relative text ("45s", "90m", "2h", "7d", "2w") or RFC 3339 text
    passes through; a datetime becomes RFC 3339; a timedelta is that long ago."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        return rfc3339(value)
    if isinstance(value, _dt.date):
        return rfc3339(_dt.datetime(value.year, value.month, value.day, tzinfo=UTC))
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
        if seconds < 0:
            raise ValueError(f"{field}: a timedelta means that long ago and cannot be negative")
        return f"{math.ceil(seconds)}s"
    raise TypeError(f"{field}: expected a str, datetime or timedelta, not {type(value).__name__}")


def to_timestamp(value: Union[_dt.datetime, _dt.timedelta, None], field: str,
                 relative_to_now: bool = False) -> Optional[timestamp_pb2.Timestamp]:
    """A Timestamp of a datetime (or, for expiries, a timedelta from now)."""
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        if not relative_to_now:
            raise TypeError(f"{field}: expected a datetime")
        value = _dt.datetime.now(UTC) + value
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"{field}: expected a datetime, not {type(value).__name__}")
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(_utc(value))
    return ts


def from_timestamp(msg: Any, field: str) -> Optional[_dt.datetime]:
    if not msg.HasField(field):
        return None
    return getattr(msg, field).ToDatetime(tzinfo=UTC)


# --- enums ---------------------------------------------------------------------------------------

class _Enum:
    """Names of a proto enum without its prefix, lowercased: MEMORY_TYPE_STATE <-> "state"."""

    def __init__(self, enum: Any, prefix: str, aliases: Optional[Dict[str, str]] = None) -> None:
        self.enum = enum
        self.prefix = prefix
        self.aliases = aliases or {}

    def to_pb(self, value: Union[str, int, None], field: str) -> Any:
        if value is None:
            return 0
        if isinstance(value, bool):
            raise TypeError(f"{field}: expected a name, not a bool")
        if isinstance(value, int):
            return value
        name = value.strip().lower()
        name = self.aliases.get(name, name)
        full = name.upper() if name.upper().startswith(self.prefix) else self.prefix + name.upper()
        try:
            return self.enum.Value(full)
        except ValueError:
            names = [n[len(self.prefix):].lower() for n in self.enum.keys() if not n.endswith("UNSPECIFIED")]
            raise ValueError(f"{field}: unknown value {value!r}; one of {', '.join(names)}") from None

    def to_pb_list(self, values: Union[str, int, Iterable[Union[str, int]], None], field: str) -> List[Any]:
        if values is None:
            return []
        if isinstance(values, (str, int)):
            values = [values]
        return [self.to_pb(v, f"{field}[{i}]") for i, v in enumerate(values)]

    def name(self, number: int) -> Optional[str]:
        if number == 0:
            return None
        try:
            return self.enum.Name(number)[len(self.prefix):].lower()
        except ValueError:
            return str(number)


MEMORY_TYPE = _Enum(common_pb2.MemoryType, "MEMORY_TYPE_")
ORDER = _Enum(common_pb2.Order, "ORDER_")
TIER = _Enum(common_pb2.Tier, "TIER_", {"stm": "hot", "im": "warm", "ltm": "cold"})
SESSION_STATUS = _Enum(common_pb2.SessionStatus, "SESSION_STATUS_")
SEARCH_MODE = _Enum(memories_pb2.SearchMode, "SEARCH_MODE_")
ADD_STATUS = _Enum(memories_pb2.AddStatus, "ADD_STATUS_")
ROLE = _Enum(conversations_pb2.Role, "ROLE_")
PERMISSION = _Enum(admin_pb2.Permission, "PERMISSION_")
METADATA_MODE = _Enum(sessions_pb2.MetadataMode, "METADATA_MODE_")


def str_list(values: Union[str, Iterable[str], None]) -> List[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return list(values)


def floats(values: Optional[Sequence[float]]) -> List[float]:
    return [] if values is None else [float(v) for v in values]
