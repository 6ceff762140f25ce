"""The task model's plain kinds (states, types, the clock and ids), without pydantic.

Split from :mod:`.models` (which re-exports every name) so the app's first frame can name a
task's status or a connection's state without loading pydantic.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal


def utc_now() -> datetime:
    """The one clock of the project: aware UTC (``datetime.utcnow`` is naive and deprecated)."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A globally unique id (asyncio task names are not unique, so ids built from them would collide)."""
    return f"{prefix}_{uuid.uuid4().hex}"


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
