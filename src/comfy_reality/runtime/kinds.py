"""The task model's plain kinds (states, types, the clock and ids), without pydantic.

Split from :mod:`.models` (which re-exports every name) so the app's first frame can name a
task's status or a connection's state without loading pydantic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from os import urandom
from typing import Literal


def utc_now() -> datetime:
    """The one clock of the project: aware UTC (``datetime.utcnow`` is naive and deprecated)."""
    return datetime.now(UTC)


# uuid4's version (4) and variant (RFC 4122) bits, as uuid.UUID(bytes=..., version=4) sets them.
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def new_id(prefix: str) -> str:
    """A globally unique id (asyncio task names are not unique, so ids built from them would collide).

    ``uuid.uuid4().hex`` computed directly, without building a UUID object (a third of the cost)."""
    return f"{prefix}_{int.from_bytes(urandom(16)) & _UUID4_CLEAR | _UUID4_SET:032x}"


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class TaskType(StrEnum):
    WORKFLOW = "workflow"
    NODE = "node"
    SYSTEM = "system"


EventType = Literal["created", "started", "progress", "updated", "completed", "failed", "cancelled"]
LIFECYCLE_EVENTS: frozenset[str] = frozenset({"created", "started", "completed", "failed", "cancelled"})


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DOWN = "down"
