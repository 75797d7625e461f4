import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemoryType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_TYPE_UNSPECIFIED: _ClassVar[MemoryType]
    MEMORY_TYPE_EPISODIC: _ClassVar[MemoryType]
    MEMORY_TYPE_DECISION: _ClassVar[MemoryType]
    MEMORY_TYPE_ENTITY: _ClassVar[MemoryType]
    MEMORY_TYPE_SESSION: _ClassVar[MemoryType]
    MEMORY_TYPE_SEMANTIC: _ClassVar[MemoryType]
    MEMORY_TYPE_STATE: _ClassVar[MemoryType]
    MEMORY_TYPE_ACTION: _ClassVar[MemoryType]
    MEMORY_TYPE_INTERACTION: _ClassVar[MemoryType]

class Order(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_UNSPECIFIED: _ClassVar[Order]
    ORDER_DESC: _ClassVar[Order]
    ORDER_ASC: _ClassVar[Order]
    ORDER_STEP_ASC: _ClassVar[Order]
    ORDER_STEP_DESC: _ClassVar[Order]
    ORDER_NEAREST: _ClassVar[Order]

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    TIER_HOT: _ClassVar[Tier]
    TIER_WARM: _ClassVar[Tier]
    TIER_COLD: _ClassVar[Tier]

class SessionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATUS_UNSPECIFIED: _ClassVar[SessionStatus]
    SESSION_STATUS_ACTIVE: _ClassVar[SessionStatus]
    SESSION_STATUS_CLOSED: _ClassVar[SessionStatus]
MEMORY_TYPE_UNSPECIFIED: MemoryType
MEMORY_TYPE_EPISODIC: MemoryType
MEMORY_TYPE_DECISION: MemoryType
MEMORY_TYPE_ENTITY: MemoryType
MEMORY_TYPE_SESSION: MemoryType
MEMORY_TYPE_SEMANTIC: MemoryType
MEMORY_TYPE_STATE: MemoryType
MEMORY_TYPE_ACTION: MemoryType
MEMORY_TYPE_INTERACTION: MemoryType
ORDER_UNSPECIFIED: Order
ORDER_DESC: Order
ORDER_ASC: Order
ORDER_STEP_ASC: Order
ORDER_STEP_DESC: Order
ORDER_NEAREST: Order
TIER_UNSPECIFIED: Tier
TIER_HOT: Tier
TIER_WARM: Tier
TIER_COLD: Tier
SESSION_STATUS_UNSPECIFIED: SessionStatus
SESSION_STATUS_ACTIVE: SessionStatus
SESSION_STATUS_CLOSED: SessionStatus

class TierCounts(_message.Message):
    __slots__ = ("hot", "warm", "cold")
    HOT_FIELD_NUMBER: _ClassVar[int]
    WARM_FIELD_NUMBER: _ClassVar[int]
    COLD_FIELD_NUMBER: _ClassVar[int]
    hot: int
    warm: int
    cold: int
    def __init__(self, hot: _Optional[int] = ..., warm: _Optional[int] = ..., cold: _Optional[int] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("x", "y", "z")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    Z_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    z: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., z: _Optional[float] = ...) -> None: ...

class Memory(_message.Message):
    __slots__ = ("id", "org_id", "agent_id", "session_id", "memory_type", "event_type", "content", "metadata", "tags", "importance", "parent_id", "dedup_key", "time", "created_at", "step", "position", "expires_at", "reasoning", "access_count", "last_accessed_at", "scope", "tier")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEDUP_KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    ACCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCESSED_AT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    id: str
    org_id: str
    agent_id: str
    session_id: str
    memory_type: MemoryType
    event_type: str
    content: str
    metadata: _struct_pb2.Struct
    tags: _containers.RepeatedScalarFieldContainer[str]
    importance: float
    parent_id: str
    dedup_key: str
    time: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    step: int
    position: Position
    expires_at: _timestamp_pb2.Timestamp
    reasoning: str
    access_count: int
    last_accessed_at: _timestamp_pb2.Timestamp
    scope: str
    tier: Tier
    def __init__(self, id: _Optional[str] = ..., org_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., session_id: _Optional[str] = ..., memory_type: _Optional[_Union[MemoryType, str]] = ..., event_type: _Optional[str] = ..., content: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., importance: _Optional[float] = ..., parent_id: _Optional[str] = ..., dedup_key: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[int] = ..., position: _Optional[_Union[Position, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reasoning: _Optional[str] = ..., access_count: _Optional[int] = ..., last_accessed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scope: _Optional[str] = ..., tier: _Optional[_Union[Tier, str]] = ...) -> None: ...

class NewMemory(_message.Message):
    __slots__ = ("agent", "session_id", "memory_type", "event_type", "content", "metadata", "tags", "importance", "parent_id", "dedup_key", "time", "step", "position", "expires_at", "reasoning", "embedding", "scope")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEDUP_KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    agent: str
    session_id: str
    memory_type: MemoryType
    event_type: str
    content: str
    metadata: _struct_pb2.Struct
    tags: _containers.RepeatedScalarFieldContainer[str]
    importance: float
    parent_id: str
    dedup_key: str
    time: _timestamp_pb2.Timestamp
    step: int
    position: Position
    expires_at: _timestamp_pb2.Timestamp
    reasoning: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    scope: str
    def __init__(self, agent: _Optional[str] = ..., session_id: _Optional[str] = ..., memory_type: _Optional[_Union[MemoryType, str]] = ..., event_type: _Optional[str] = ..., content: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., importance: _Optional[float] = ..., parent_id: _Optional[str] = ..., dedup_key: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[int] = ..., position: _Optional[_Union[Position, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reasoning: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., scope: _Optional[str] = ...) -> None: ...

class MemoryFilter(_message.Message):
    __slots__ = ("agent", "session_id", "memory_types", "event_types", "tags", "any_tags", "content_contains", "min_importance", "since", "until", "step_min", "step_max", "scope", "attributes", "near", "tiers")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ANY_TAGS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    MIN_IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    STEP_MIN_FIELD_NUMBER: _ClassVar[int]
    STEP_MAX_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    NEAR_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    agent: str
    session_id: str
    memory_types: _containers.RepeatedScalarFieldContainer[MemoryType]
    event_types: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    any_tags: _containers.RepeatedScalarFieldContainer[str]
    content_contains: str
    min_importance: float
    since: str
    until: str
    step_min: int
    step_max: int
    scope: str
    attributes: _struct_pb2.Struct
    near: Near
    tiers: _containers.RepeatedScalarFieldContainer[Tier]
    def __init__(self, agent: _Optional[str] = ..., session_id: _Optional[str] = ..., memory_types: _Optional[_Iterable[_Union[MemoryType, str]]] = ..., event_types: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ..., any_tags: _Optional[_Iterable[str]] = ..., content_contains: _Optional[str] = ..., min_importance: _Optional[float] = ..., since: _Optional[str] = ..., until: _Optional[str] = ..., step_min: _Optional[int] = ..., step_max: _Optional[int] = ..., scope: _Optional[str] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., near: _Optional[_Union[Near, _Mapping]] = ..., tiers: _Optional[_Iterable[_Union[Tier, str]]] = ...) -> None: ...

class Near(_message.Message):
    __slots__ = ("x", "y", "z", "radius")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    Z_FIELD_NUMBER: _ClassVar[int]
    RADIUS_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    z: float
    radius: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., z: _Optional[float] = ..., radius: _Optional[float] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("id", "org_id", "name", "description", "config", "created_at", "last_active_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVE_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    org_id: str
    name: str
    description: str
    config: _struct_pb2.Struct
    created_at: _timestamp_pb2.Timestamp
    last_active_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., org_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_active_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "org_id", "agent_id", "status", "metadata", "created_at", "updated_at", "closed_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    org_id: str
    agent_id: str
    status: SessionStatus
    metadata: _struct_pb2.Struct
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    closed_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., org_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., status: _Optional[_Union[SessionStatus, str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ContextOptions(_message.Message):
    __slots__ = ("since", "until", "include_types", "max_tokens", "tokenizer", "query", "scope")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TYPES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    since: str
    until: str
    include_types: _containers.RepeatedScalarFieldContainer[MemoryType]
    max_tokens: int
    tokenizer: str
    query: str
    scope: str
    def __init__(self, since: _Optional[str] = ..., until: _Optional[str] = ..., include_types: _Optional[_Iterable[_Union[MemoryType, str]]] = ..., max_tokens: _Optional[int] = ..., tokenizer: _Optional[str] = ..., query: _Optional[str] = ..., scope: _Optional[str] = ...) -> None: ...

class ContextResult(_message.Message):
    __slots__ = ("context", "token_count", "memory_ids", "omitted_count", "tokenizer")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_IDS_FIELD_NUMBER: _ClassVar[int]
    OMITTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_FIELD_NUMBER: _ClassVar[int]
    context: str
    token_count: int
    memory_ids: _containers.RepeatedScalarFieldContainer[str]
    omitted_count: int
    tokenizer: str
    def __init__(self, context: _Optional[str] = ..., token_count: _Optional[int] = ..., memory_ids: _Optional[_Iterable[str]] = ..., omitted_count: _Optional[int] = ..., tokenizer: _Optional[str] = ...) -> None: ...
