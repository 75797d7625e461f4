from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EraseScopeRequest(_message.Message):
    __slots__ = ("scope",)
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    scope: str
    def __init__(self, scope: _Optional[str] = ...) -> None: ...

class EraseAgentRequest(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: str
    def __init__(self, agent: _Optional[str] = ...) -> None: ...

class ErasureReport(_message.Message):
    __slots__ = ("memories", "conversations", "messages", "sessions", "working_memories", "agents")
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    WORKING_MEMORIES_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    memories: int
    conversations: int
    messages: int
    sessions: int
    working_memories: int
    agents: int
    def __init__(self, memories: _Optional[int] = ..., conversations: _Optional[int] = ..., messages: _Optional[int] = ..., sessions: _Optional[int] = ..., working_memories: _Optional[int] = ..., agents: _Optional[int] = ...) -> None: ...
