"""The journal's row shapes and the JSON helpers that turn live values into column text.

Kept apart from the SQL so the journal (event loop side) can build snapshots and read entries
without pulling in the store, and so the shapes are defined in one place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..runtime.models import ErrorReport, OutputFile, TaskStatus

# A prompt bigger than this is not copied into the journal (its row says so instead).
MAX_JSON_BYTES = 8 * 1024 * 1024

_FINAL = ("completed", "failed", "cancelled")
_FINAL_SQL = "('completed', 'failed', 'cancelled')"


# --------------------------------------------------------------------------- public rows
class JournalNode(BaseModel):
    """One node of a recorded execution, as it last stood."""

    model_config = ConfigDict(defer_build=True)  # read back by listings, never by a run: built then

    node_id: str
    class_type: str | None = None
    name: str | None = None
    status: TaskStatus = TaskStatus.PENDING
    cached: bool = False
    progress: float = 0.0
    value: float | None = None
    max: float | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    error_type: str | None = None
    status_detail: str | None = None
    traceback: list[str] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)


class JournalEntry(BaseModel):
    """One recorded execution. ``prompt`` and ``nodes`` are filled only by ``get`` / ``full=True``."""

    model_config = ConfigDict(defer_build=True)  # read back by listings, never by a run: built then

    id: str
    prompt_id: str | None = None
    server_url: str | None = None
    client_id: str | None = None
    workflow_id: str | None = None
    name: str | None = None
    number: int | None = None
    status: TaskStatus = TaskStatus.PENDING
    status_detail: str | None = None
    lost: bool = False
    # Not final, and no running app follows it: its app stopped (quit or crashed) during it and no
    # server has settled it since. Worked out when read (the row itself still says running, so a
    # reconcile against a server that answers later settles it with the real result).
    interrupted: bool = False
    retry_of: str | None = None
    progress: float = 0.0
    prompt: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    output_files: list[OutputFile] = Field(default_factory=list)
    error: ErrorReport | None = None
    node_errors: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime
    node_count: int = 0
    nodes: list[JournalNode] = Field(default_factory=list)

    @property
    def display_status(self) -> str:
        """What a history view shows: the status, ``lost`` when the server forgot the prompt, or
        ``interrupted`` when it is unfinished and nothing follows it any more."""
        if self.lost:
            return "lost"
        return "interrupted" if self.interrupted and not self.is_final else self.status.value

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def duration(self) -> float | None:
        if self.started_at and self.completed_at:
            return (self.completed_at - self.started_at).total_seconds()
        return None


# The detail of an unfinished row a one-shot reconcile found on its server's queue: that server
# still has it, so it reads as queued or running, not interrupted, though nothing follows it.
CHECKED_ON_SERVER = "checked: still on the server's queue when last checked; the next start follows it"


def interrupted_text(entry: JournalEntry, server: str) -> str:
    """Why an unfinished run nothing follows is not shown as running, and what would still
    settle it (``server``: its URL as it may be shown, without credentials)."""
    was = "running" if entry.status is TaskStatus.RUNNING else "queued"
    return (
        f"interrupted: it was {was} when the app following it stopped, and nothing has followed it "
        f"since. Its outcome is unknown: the next start connected to {server} asks that server and "
        "settles it with the real result; a server that is gone (a --demo server ends with its "
        "app) never will."
    )


# ------------------------------------------------------------------ snapshots to write
@dataclass(slots=True)
class ExecutionSnapshot:
    """Plain values copied from a live execution on the event loop, written on the writer thread."""

    id: str
    prompt_id: str | None
    server_url: str | None
    client_id: str | None
    workflow_id: str | None
    name: str | None
    number: int | None
    status: str
    status_detail: str | None
    retry_of: str | None
    progress: float
    prompt_json: str | None  # None = leave the stored prompt as it is
    outputs_json: str
    output_files_json: str
    error_json: str | None
    node_errors_json: str
    created_at: str
    started_at: str | None
    completed_at: str | None
    # Submitted by the recording app under its own client_id, and which app instance that is
    # (the journal's instance key): who may hold the live socket of that client_id.
    own: bool = False
    owner: str | None = None


@dataclass(slots=True)
class NodeSnapshot:
    execution_id: str
    node_id: str
    class_type: str | None
    name: str | None
    status: str
    cached: bool
    progress: float
    value: float | None
    max: float | None
    started_at: str | None
    completed_at: str | None
    error: str | None
    error_type: str | None
    status_detail: str | None
    traceback_json: str
    outputs_json: str


@dataclass(slots=True, frozen=True)
class PruneResult:
    """What a prune removed, or for a dry run would remove."""

    executions: int
    nodes: int
    dry_run: bool = False


@dataclass(slots=True)
class ServerHistoryResult:
    """What /history says about a prompt that finished while nobody watched it."""

    status: TaskStatus
    status_detail: str | None
    outputs: dict[str, Any]
    output_files: list[OutputFile]
    error: ErrorReport | None
    started_at: datetime | None
    completed_at: datetime | None
    # node_id -> (status, detail); nodes not named keep their state unless the run ended
    node_states: dict[str, tuple[TaskStatus, str | None]] = field(default_factory=dict)


# ------------------------------------------------------------------------ helpers
def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def dumps(value: Any, *, limit: int = MAX_JSON_BYTES) -> str:
    """JSON for a column; oversized values are replaced by a note rather than bloating the file."""
    text = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    if len(text) > limit:
        return json.dumps({"_journal_omitted": f"{len(text)} bytes, above the {limit}-byte limit"})
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def finite(value: float | None) -> float | None:
    """NaN and infinities (a hostile server can send them) are stored as unknown."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def _payload(rows: list[tuple[Any, ...]]) -> str:
    """One JSON array for a batch; lone surrogates from hostile names become U+FFFD, not errors."""
    text = json.dumps(rows, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def normalize_server(url: str | None) -> str | None:
    return url.rstrip("/") if url else url
