from engram.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchMemoriesRequest(_message.Message):
    __slots__ = ("filter", "resume_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: _common_pb2.MemoryFilter
    resume_token: str
    def __init__(self, filter: _Optional[_Union[_common_pb2.MemoryFilter, _Mapping]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class MemoryEvent(_message.Message):
    __slots__ = ("memory", "resume_token")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    memory: _common_pb2.Memory
    resume_token: str
    def __init__(self, memory: _Optional[_Union[_common_pb2.Memory, _Mapping]] = ..., resume_token: _Optional[str] = ...) -> None: ...
