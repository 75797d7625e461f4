import datetime

from engram.v1 import common_pb2 as _common_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AddStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADD_STATUS_UNSPECIFIED: _ClassVar[AddStatus]
    ADD_STATUS_CREATED: _ClassVar[AddStatus]
    ADD_STATUS_DUPLICATE: _ClassVar[AddStatus]

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_KEYWORD: _ClassVar[SearchMode]
    SEARCH_MODE_SEMANTIC: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]
ADD_STATUS_UNSPECIFIED: AddStatus
ADD_STATUS_CREATED: AddStatus
ADD_STATUS_DUPLICATE: AddStatus
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_KEYWORD: SearchMode
SEARCH_MODE_SEMANTIC: SearchMode
SEARCH_MODE_HYBRID: SearchMode

class AddMemoryRequest(_message.Message):
    __slots__ = ("memory",)
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    memory: _common_pb2.NewMemory
    def __init__(self, memory: _Optional[_Union[_common_pb2.NewMemory, _Mapping]] = ...) -> None: ...

class AddMemoryResponse(_message.Message):
    __slots__ = ("memory",)
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    memory: _common_pb2.Memory
    def __init__(self, memory: _Optional[_Union[_common_pb2.Memory, _Mapping]] = ...) -> None: ...

class AddMemoriesRequest(_message.Message):
    __slots__ = ("memories",)
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[_common_pb2.NewMemory]
    def __init__(self, memories: _Optional[_Iterable[_Union[_common_pb2.NewMemory, _Mapping]]] = ...) -> None: ...

class AddMemoryResult(_message.Message):
    __slots__ = ("status", "id", "memory")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    status: AddStatus
    id: str
    memory: _common_pb2.Memory
    def __init__(self, status: _Optional[_Union[AddStatus, str]] = ..., id: _Optional[str] = ..., memory: _Optional[_Union[_common_pb2.Memory, _Mapping]] = ...) -> None: ...

class AddMemoriesResponse(_message.Message):
    __slots__ = ("results", "created", "duplicates")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AddMemoryResult]
    created: int
    duplicates: int
    def __init__(self, results: _Optional[_Iterable[_Union[AddMemoryResult, _Mapping]]] = ..., created: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class GetMemoryRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListMemoriesRequest(_message.Message):
    __slots__ = ("filter", "limit", "order", "page_token", "offset")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    filter: _common_pb2.MemoryFilter
    limit: int
    order: _common_pb2.Order
    page_token: str
    offset: int
    def __init__(self, filter: _Optional[_Union[_common_pb2.MemoryFilter, _Mapping]] = ..., limit: _Optional[int] = ..., order: _Optional[_Union[_common_pb2.Order, str]] = ..., page_token: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class ListMemoriesResponse(_message.Message):
    __slots__ = ("memories", "next_page_token", "has_more")
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[_common_pb2.Memory]
    next_page_token: str
    has_more: bool
    def __init__(self, memories: _Optional[_Iterable[_Union[_common_pb2.Memory, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., has_more: _Optional[bool] = ...) -> None: ...

class SearchMemoriesRequest(_message.Message):
    __slots__ = ("filter", "limit", "order", "page_token", "offset", "query", "mode", "query_embedding")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    QUERY_EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    filter: _common_pb2.MemoryFilter
    limit: int
    order: _common_pb2.Order
    page_token: str
    offset: int
    query: str
    mode: SearchMode
    query_embedding: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, filter: _Optional[_Union[_common_pb2.MemoryFilter, _Mapping]] = ..., limit: _Optional[int] = ..., order: _Optional[_Union[_common_pb2.Order, str]] = ..., page_token: _Optional[str] = ..., offset: _Optional[int] = ..., query: _Optional[str] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., query_embedding: _Optional[_Iterable[float]] = ...) -> None: ...

class SearchMemoriesResponse(_message.Message):
    __slots__ = ("results", "next_page_token", "has_more", "query_time_ms", "hits", "mode", "unembedded")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    QUERY_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    UNEMBEDDED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_common_pb2.Memory]
    next_page_token: str
    has_more: bool
    query_time_ms: int
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    mode: SearchMode
    unembedded: int
    def __init__(self, results: _Optional[_Iterable[_Union[_common_pb2.Memory, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., has_more: _Optional[bool] = ..., query_time_ms: _Optional[int] = ..., hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., unembedded: _Optional[int] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("memory", "score", "keyword", "semantic", "recency", "importance")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_FIELD_NUMBER: _ClassVar[int]
    RECENCY_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    memory: _common_pb2.Memory
    score: float
    keyword: float
    semantic: float
    recency: float
    importance: float
    def __init__(self, memory: _Optional[_Union[_common_pb2.Memory, _Mapping]] = ..., score: _Optional[float] = ..., keyword: _Optional[float] = ..., semantic: _Optional[float] = ..., recency: _Optional[float] = ..., importance: _Optional[float] = ...) -> None: ...

class UpdateMemoryRequest(_message.Message):
    __slots__ = ("id", "update_mask", "importance", "tags", "metadata", "expires_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    update_mask: _field_mask_pb2.FieldMask
    importance: float
    tags: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., importance: _Optional[float] = ..., tags: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteMemoryRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteMemoryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteMemoriesRequest(_message.Message):
    __slots__ = ("agent", "session_id", "memory_types", "since", "until")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPES_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    agent: str
    session_id: str
    memory_types: _containers.RepeatedScalarFieldContainer[_common_pb2.MemoryType]
    since: str
    until: str
    def __init__(self, agent: _Optional[str] = ..., session_id: _Optional[str] = ..., memory_types: _Optional[_Iterable[_Union[_common_pb2.MemoryType, str]]] = ..., since: _Optional[str] = ..., until: _Optional[str] = ...) -> None: ...

class DeleteMemoriesResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...
