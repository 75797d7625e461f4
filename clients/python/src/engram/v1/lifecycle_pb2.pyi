import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ForceMaintenanceRequest(_message.Message):
    __slots__ = ("agent_id", "dry_run", "policy")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    dry_run: bool
    policy: _struct_pb2.Struct
    def __init__(self, agent_id: _Optional[str] = ..., dry_run: _Optional[bool] = ..., policy: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class MaintenanceReport(_message.Message):
    __slots__ = ("scanned", "expired", "retention", "consolidated", "decayed", "to_hot", "to_warm", "to_cold", "cold_bytes_before", "cold_bytes_after", "agents", "dry_run", "duration")
    SCANNED_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    CONSOLIDATED_FIELD_NUMBER: _ClassVar[int]
    DECAYED_FIELD_NUMBER: _ClassVar[int]
    TO_HOT_FIELD_NUMBER: _ClassVar[int]
    TO_WARM_FIELD_NUMBER: _ClassVar[int]
    TO_COLD_FIELD_NUMBER: _ClassVar[int]
    COLD_BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    COLD_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
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
    duration: _duration_pb2.Duration
    def __init__(self, scanned: _Optional[int] = ..., expired: _Optional[int] = ..., retention: _Optional[int] = ..., consolidated: _Optional[int] = ..., decayed: _Optional[int] = ..., to_hot: _Optional[int] = ..., to_warm: _Optional[int] = ..., to_cold: _Optional[int] = ..., cold_bytes_before: _Optional[int] = ..., cold_bytes_after: _Optional[int] = ..., agents: _Optional[int] = ..., dry_run: _Optional[bool] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetLifecyclePolicyRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class SetLifecyclePolicyRequest(_message.Message):
    __slots__ = ("agent_id", "policy")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    policy: _struct_pb2.Struct
    def __init__(self, agent_id: _Optional[str] = ..., policy: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class LifecyclePolicy(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: _struct_pb2.Struct
    def __init__(self, policy: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ClearCacheRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClearCacheResponse(_message.Message):
    __slots__ = ("cleared",)
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    cleared: int
    def __init__(self, cleared: _Optional[int] = ...) -> None: ...

class SetCacheTtlRequest(_message.Message):
    __slots__ = ("ttl_seconds",)
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ttl_seconds: int
    def __init__(self, ttl_seconds: _Optional[int] = ...) -> None: ...

class SetCacheTtlResponse(_message.Message):
    __slots__ = ("ttl_seconds",)
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ttl_seconds: int
    def __init__(self, ttl_seconds: _Optional[int] = ...) -> None: ...
