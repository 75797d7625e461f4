"""Python client of Engram, the memory service for AI agents.

::

    from engram import Engram

    with Engram() as engram:          # $ENGRAM_ADDR (127.0.0.1:9100), $ENGRAM_API_KEY
        engram.remember("coder", "Fixed the login bug in auth.go", tags=["file:auth.go"])
        engram.decide("coder", "Use jwt-v2", "better security, maintained")
        print(engram.context("coder", max_tokens=2000))

The generated messages and stubs are in :mod:`engram.v1`.
"""

from ._version import __version__
from .aio import AsyncConversations, AsyncEngram, AsyncWatch, AsyncWorkingMemoryClient
from .client import Conversations, Engram, Watch, WorkingMemoryClient
from .errors import (AlreadyExistsError, AuthenticationError, ConflictError, DeadlineExceededError, EngramError,
                     FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError,
                     ResourceExhaustedError, UnavailableError)
from .hooks import MemoryHooks, install_memory_hooks, memory_hooks, state_diff, with_memory
from .types import (Agent, AgentMemoryStatistics, AgentPage, AgentStats, AddResult, ApiKey, AppendResult,
                    AttributeChange, BatchResult, ContextResult, Conversation, ConversationPage, CreatedApiKey,
                    DeleteAgentResult, MaintenanceReport, Memory, MemoryEvent, MemoryPage, MemoryStatistics, Message,
                    MessagePage, Near, Org, Position, SearchHit, SearchResult, Session, SessionPage, SimilarState,
                    SimilarStates, StateChange, Summary, TierCounts, ToolCall, TypeCount, Window, WorkingMemory)

__all__ = [
    "__version__",
    "Engram", "AsyncEngram", "Conversations", "AsyncConversations", "WorkingMemoryClient",
    "AsyncWorkingMemoryClient", "Watch", "AsyncWatch",
    "EngramError", "InvalidArgumentError", "NotFoundError", "AlreadyExistsError", "AuthenticationError",
    "PermissionDeniedError", "ResourceExhaustedError", "FailedPreconditionError", "ConflictError",
    "UnavailableError", "DeadlineExceededError",
    "memory_hooks", "install_memory_hooks", "with_memory", "state_diff", "MemoryHooks",
    "Agent", "AgentMemoryStatistics", "AgentPage", "AgentStats", "AddResult", "ApiKey", "AppendResult",
    "AttributeChange", "BatchResult", "ContextResult", "Conversation", "ConversationPage", "CreatedApiKey",
    "DeleteAgentResult", "MaintenanceReport", "Memory", "MemoryEvent", "MemoryPage", "MemoryStatistics", "Message",
    "MessagePage", "Near", "Org", "Position", "SearchHit", "SearchResult", "Session", "SessionPage", "SimilarState",
    "SimilarStates", "StateChange", "Summary", "TierCounts", "ToolCall", "TypeCount", "Window", "WorkingMemory",
]
