"""The server's own history (``/history``): every client's finished prompts, and their prompts for a re-run.

The journal remembers what this app ran; the server remembers what *anyone* ran (until it is
restarted or the history is cleared). Each entry holds the queue item as it ran
(``[number, prompt_id, prompt, extra_data, outputs_to_execute]``), so its prompt can be queued
again (with edits) or saved as a local workflow file. Entries are untrusted server data: odd
fields give a less detailed item, never an exception.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ExecutionNotFoundError
from .models import OutputFile, output_files_from
from .server_queue import Owner, owner_of, workflow_name_of

if TYPE_CHECKING:
    from .client import ComfyUIClient, HistoryEntry

__all__ = ["HistoryPrompt", "ServerHistoryItem", "history_items", "history_prompt"]

HistoryStatus = Literal["success", "error", "interrupted", "unknown"]


def _ms(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e14:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


class ServerHistoryItem(BaseModel):
    """One finished prompt of any client, as the Server History screen and ``history`` show it."""

    model_config = ConfigDict(frozen=True)

    prompt_id: str
    number: float | None
    status: HistoryStatus
    started_at: datetime | None
    ended_at: datetime | None
    outputs: list[OutputFile] = Field(default_factory=list)
    error: str | None = None  # "node 5 (RealityFail): RuntimeError: ..." for a failed prompt
    client_id: str | None = None
    owner: Owner = Owner.NO_CLIENT
    workflow_name: str | None = None
    node_count: int = 0

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


def history_item(
    prompt_id: str,
    entry: HistoryEntry,
    *,
    own_client_id: str | None = None,
    app_client_ids: Iterable[str] = (),
) -> ServerHistoryItem:
    kinds = dict(entry.message_list())
    if entry.interrupted:
        status: HistoryStatus = "interrupted"
    elif entry.status_str in ("success", "error"):
        status = "success" if entry.status_str == "success" else "error"
    else:
        status = "unknown"
    ended = None
    for kind in ("execution_success", "execution_error", "execution_interrupted"):
        ended = ended or _ms(kinds.get(kind, {}).get("timestamp"))
    error = kinds.get("execution_error")
    error_text = None
    if error and status == "error":
        error_text = (
            f"node {error.get('node_id')} ({error.get('node_type')}): "
            f"{error.get('exception_type')}: {str(error.get('exception_message', '')).strip()}"
        )[:500]
    item = entry.item
    client_id = item.client_id if item is not None else None
    return ServerHistoryItem(
        prompt_id=prompt_id,
        number=item.number if item is not None else None,
        status=status,
        started_at=_ms(kinds.get("execution_start", {}).get("timestamp")),
        ended_at=ended,
        outputs=output_files_from(entry.outputs),
        error=error_text,
        client_id=client_id,
        owner=owner_of(client_id, own_client_id, app_client_ids),
        workflow_name=workflow_name_of(item.extra_data) if item is not None else None,
        node_count=len(item.prompt) if item is not None else 0,
    )


def history_items(
    entries: dict[str, HistoryEntry],
    *,
    own_client_id: str | None = None,
    app_client_ids: Iterable[str] = (),
) -> list[ServerHistoryItem]:
    """The server's history newest first (the server keeps it in the order prompts finished)."""
    ids = set(app_client_ids)
    return [
        history_item(pid, entry, own_client_id=own_client_id, app_client_ids=ids)
        for pid, entry in reversed(list(entries.items()))
    ]


class HistoryPrompt(BaseModel):
    """A finished prompt as it ran: enough to queue it again or save it as a workflow file."""

    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any] = Field(default_factory=dict)
    outputs_to_execute: list[str] = Field(default_factory=list)
    client_id: str | None = None
    workflow_name: str | None = None

    def rerun_extra_data(self) -> dict[str, Any]:
        """The extra_data to send again: the client's metadata (e.g. the web UI's graph, so the
        image it saves still embeds it), without the old ``client_id`` or ``create_time``."""
        extra = copy.deepcopy(self.extra_data)
        for key in ("client_id", "create_time"):
            extra.pop(key, None)
        return extra


async def history_prompt(client: ComfyUIClient, prompt_id: str) -> HistoryPrompt:
    """The prompt of a history entry (or, if it has not finished yet, of the queue item)."""
    entry = await client.get_history_entry(prompt_id)
    item = entry.item if entry is not None else None
    if item is None:
        found = (await client.get_queue()).find(prompt_id)
        item = found[1] if found is not None else None
    if item is None or not item.prompt:
        raise ExecutionNotFoundError(
            f"ComfyUI at {client.server_url} has no prompt {prompt_id} in its history or queue "
            "(the server may have restarted or its history was cleared)."
        )
    return HistoryPrompt(
        prompt_id=prompt_id,
        prompt=copy.deepcopy(item.prompt),
        extra_data=copy.deepcopy(item.extra_data),
        outputs_to_execute=list(item.outputs_to_execute),
        client_id=item.client_id,
        workflow_name=workflow_name_of(item.extra_data),
    )
