from engram.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BuildContextRequest(_message.Message):
    __slots__ = ("agent", "session_id", "options")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    agent: str
    session_id: str
    options: _common_pb2.ContextOptions
    def __init__(self, agent: _Optional[str] = ..., session_id: _Optional[str] = ..., options: _Optional[_Union[_common_pb2.ContextOptions, _Mapping]] = ...) -> None: ...
