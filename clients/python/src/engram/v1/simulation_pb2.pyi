from engram.v1 import common_pb2 as _common_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetMemoryStatisticsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TypeCount(_message.Message):
    __slots__ = ("memory_type", "count")
    MEMORY_TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    memory_type: _common_pb2.MemoryType
    count: int
    def __init__(self, memory_type: _Optional[_Union[_common_pb2.MemoryType, str]] = ..., count: _Optional[int] = ...) -> None: ...

class AgentMemoryStatistics(_message.Message):
    __slots__ = ("agent_id", "name", "total", "by_type", "oldest_step", "newest_step", "tiers")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    OLDEST_STEP_FIELD_NUMBER: _ClassVar[int]
    NEWEST_STEP_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    total: int
    by_type: _containers.RepeatedCompositeFieldContainer[TypeCount]
    oldest_step: int
    newest_step: int
    tiers: _common_pb2.TierCounts
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., total: _Optional[int] = ..., by_type: _Optional[_Iterable[_Union[TypeCount, _Mapping]]] = ..., oldest_step: _Optional[int] = ..., newest_step: _Optional[int] = ..., tiers: _Optional[_Union[_common_pb2.TierCounts, _Mapping]] = ...) -> None: ...

class MemoryStatistics(_message.Message):
    __slots__ = ("total", "by_type", "agents", "oldest_step", "newest_step", "tiers", "cold_bytes_before", "cold_bytes_after")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    OLDEST_STEP_FIELD_NUMBER: _ClassVar[int]
    NEWEST_STEP_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    COLD_BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    COLD_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    total: int
    by_type: _containers.RepeatedCompositeFieldContainer[TypeCount]
    agents: _containers.RepeatedCompositeFieldContainer[AgentMemoryStatistics]
    oldest_step: int
    newest_step: int
    tiers: _common_pb2.TierCounts
    cold_bytes_before: int
    cold_bytes_after: int
    def __init__(self, total: _Optional[int] = ..., by_type: _Optional[_Iterable[_Union[TypeCount, _Mapping]]] = ..., agents: _Optional[_Iterable[_Union[AgentMemoryStatistics, _Mapping]]] = ..., oldest_step: _Optional[int] = ..., newest_step: _Optional[int] = ..., tiers: _Optional[_Union[_common_pb2.TierCounts, _Mapping]] = ..., cold_bytes_before: _Optional[int] = ..., cold_bytes_after: _Optional[int] = ...) -> None: ...

class RetrieveSimilarStatesRequest(_message.Message):
    __slots__ = ("agent", "state", "embedding", "k", "step_min", "step_max")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    STEP_MIN_FIELD_NUMBER: _ClassVar[int]
    STEP_MAX_FIELD_NUMBER: _ClassVar[int]
    agent: str
    state: _struct_pb2.Struct
    embedding: _containers.RepeatedScalarFieldContainer[float]
    k: int
    step_min: int
    step_max: int
    def __init__(self, agent: _Optional[str] = ..., state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., embedding: _Optional[_Iterable[float]] = ..., k: _Optional[int] = ..., step_min: _Optional[int] = ..., step_max: _Optional[int] = ...) -> None: ...

class SimilarState(_message.Message):
    __slots__ = ("memory", "similarity")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    memory: _common_pb2.Memory
    similarity: float
    def __init__(self, memory: _Optional[_Union[_common_pb2.Memory, _Mapping]] = ..., similarity: _Optional[float] = ...) -> None: ...

class RetrieveSimilarStatesResponse(_message.Message):
    __slots__ = ("states", "compared")
    STATES_FIELD_NUMBER: _ClassVar[int]
    COMPARED_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedCompositeFieldContainer[SimilarState]
    compared: int
    def __init__(self, states: _Optional[_Iterable[_Union[SimilarState, _Mapping]]] = ..., compared: _Optional[int] = ...) -> None: ...

class GetStateChangesRequest(_message.Message):
    __slots__ = ("agent", "step_min", "step_max", "limit", "page_token")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    STEP_MIN_FIELD_NUMBER: _ClassVar[int]
    STEP_MAX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent: str
    step_min: int
    step_max: int
    limit: int
    page_token: str
    def __init__(self, agent: _Optional[str] = ..., step_min: _Optional[int] = ..., step_max: _Optional[int] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class AttributeChange(_message.Message):
    __slots__ = ("key", "before", "after")
    KEY_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    key: str
    before: _struct_pb2.Value
    after: _struct_pb2.Value
    def __init__(self, key: _Optional[str] = ..., before: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., after: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class StateChange(_message.Message):
    __slots__ = ("from_step", "to_step", "from_memory_id", "to_memory_id", "changes")
    FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    TO_STEP_FIELD_NUMBER: _ClassVar[int]
    FROM_MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    TO_MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    from_step: int
    to_step: int
    from_memory_id: str
    to_memory_id: str
    changes: _containers.RepeatedCompositeFieldContainer[AttributeChange]
    def __init__(self, from_step: _Optional[int] = ..., to_step: _Optional[int] = ..., from_memory_id: _Optional[str] = ..., to_memory_id: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[AttributeChange, _Mapping]]] = ...) -> None: ...

class GetStateChangesResponse(_message.Message):
    __slots__ = ("changes", "next_page_token")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[StateChange]
    next_page_token: str
    def __init__(self, changes: _Optional[_Iterable[_Union[StateChange, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
