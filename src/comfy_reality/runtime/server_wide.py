"""The runtime's view of the whole server: every client's queue and history (a mixin of the runtime).

Kept apart from :mod:`.runtime` (which follows this app's own executions) so each stays one job;
the app calls these methods and never the HTTP client itself. The queue and history modules (and
their models) are imported on first use: ``comfy-reality run`` never needs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from .client import ComfyUIClient, HistoryEntry, QueueState
    from .manager import Unsubscribe
    from .models import WorkflowExecution
    from .server_history import HistoryPrompt, ServerHistoryItem
    from .server_queue import DeleteReport, MoveReport, MoveTo, QueueSnapshot, ServerQueue

__all__ = ["ServerWide"]

PAST_NAMES = 2000


class ServerWide:
    """Queue and history of every client of this runtime's server (see :mod:`.server_queue`)."""

    client: ComfyUIClient
    client_id: str
    executions: dict[str, WorkflowExecution]
    _server_queue: ServerQueue | None = None

    subscribe_queue_changes: Callable[[Callable[[], None]], Unsubscribe]
    """Provided by ComfyUIAsyncRuntime: called on every ``status`` message."""

    _past_names: dict[str, str] | None = None
    """Names of prompts whose executions the runtime let go (newest PAST_NAMES), for these screens."""

    def _execution_of(self, prompt_id: str) -> WorkflowExecution | None:
        return next((e for e in self.executions.values() if e.prompt_id == prompt_id), None)

    def _name_of(self, prompt_id: str) -> str | None:
        found = self._execution_of(prompt_id)
        name = found.name if found is not None else None
        return name if name is not None else (self._past_names or {}).get(prompt_id)

    def _queued_at_of(self, prompt_id: str) -> datetime | None:
        """When this app queued a prompt: its execution's creation, just before the POST (a run
        re-attached from the journal carries its recorded time)."""
        found = self._execution_of(prompt_id)
        return found.created_at if found is not None else None

    def _remember_name(self, execution: WorkflowExecution) -> None:
        """The runtime lets an old finished execution go: its name (a few bytes) stays for the screens."""
        if execution.prompt_id is None or execution.name is None:
            return
        if self._past_names is None:
            self._past_names = {}
        self._past_names[execution.prompt_id] = execution.name
        if len(self._past_names) > PAST_NAMES:
            del self._past_names[next(iter(self._past_names))]

    @property
    def server_queue(self) -> ServerQueue:
        """The whole-queue reader/steerer for this server, owner = this instance's client_id."""
        if self._server_queue is None:
            from .server_queue import ServerQueue

            self._server_queue = ServerQueue(
                self.client,
                own_client_id=self.client_id,
                name_of=self._name_of,
                queued_at_of=self._queued_at_of,
            )
        return self._server_queue

    def set_app_client_ids(self, client_ids: Iterable[str]) -> None:
        """Client ids of this app's other instances (from the journal): their prompts are "ours"."""
        self.server_queue.app_client_ids = set(client_ids) - {self.client_id}

    async def queue_snapshot(self) -> QueueSnapshot:
        return await self.server_queue.snapshot()

    def follow_queue(self, fallback_interval: float = 10.0) -> AsyncIterator[QueueSnapshot]:
        """Snapshots of the whole queue, a new one after each ``status`` broadcast (open session needed)."""
        return self.server_queue.follow(self.subscribe_queue_changes, fallback_interval=fallback_interval)

    async def delete_queued(self, prompt_ids: Iterable[str]) -> DeleteReport:
        return await self.server_queue.delete(prompt_ids)

    async def clear_queue(self, *, only_app: bool = False) -> DeleteReport:
        return await self.server_queue.clear(only_app=only_app)

    async def move_queued(self, prompt_id: str, to: MoveTo, anchor: str | None = None) -> MoveReport:
        return await self.server_queue.move(prompt_id, to, anchor)

    async def server_history(self, max_items: int | None = 200) -> list[ServerHistoryItem]:
        """The server's history (every client), newest first."""
        from .server_history import history_items

        entries = await self.client.get_history(max_items=max_items)
        items = history_items(
            entries, own_client_id=self.client_id, app_client_ids=self.server_queue.app_client_ids
        )
        # This runtime's own prompts carry no name in their extra_data: named as the Queue screen names them.
        return [
            item.model_copy(update={"workflow_name": name})
            if item.workflow_name is None and (name := self._name_of(item.prompt_id)) is not None
            else item
            for item in items
        ]

    async def delete_server_history(self, prompt_ids: Iterable[str]) -> None:
        await self.client.delete_history(list(prompt_ids))

    async def clear_server_history(self) -> None:
        await self.client.clear_history()

    async def history_prompt(self, prompt_id: str) -> HistoryPrompt:
        """A prompt as it ran (from /history, or /queue if not finished): for a re-run or a file."""
        from .server_history import history_prompt

        found = await history_prompt(self.client, prompt_id)
        if found.workflow_name is None and (name := self._name_of(prompt_id)) is not None:
            found.workflow_name = name
        return found

    # ------------------------------------------------------------ server reads
    # Thin public calls for front ends (the TUI makes no HTTP calls of its own); errors are the
    # client's ComfyError subclasses, unchanged.
    async def system_stats(self) -> dict[str, Any]:
        """The server's ``/system_stats`` (versions, RAM, devices)."""
        return await self.client.get_system_stats()

    async def server_capabilities(self, *, refresh: bool = False) -> dict[str, Any]:
        """What this server offers (version, jobs API, targeted cancel, partial execution…), detected
        once per client: :meth:`.capabilities.ServerCapabilities.summary`."""
        from .capabilities import capabilities

        return (await capabilities(self.client, refresh=refresh)).summary()

    async def object_info(self) -> dict[str, Any]:
        """The server's node catalogue (``/object_info``), as JSON."""
        return await self.client.get_object_info()

    async def queue(self) -> QueueState:
        """What the server is running and has pending (``/queue``)."""
        return await self.client.get_queue()

    async def history(self, prompt_id: str) -> HistoryEntry | None:
        """The server's history entry of one prompt; None while it is queued or running (or unknown)."""
        return await self.client.get_history_entry(prompt_id)

    async def list_userdata(self, directory: str) -> list[str]:
        """Files in one folder of the user's data on the server; [] when it does not exist yet."""
        return await self.client.list_userdata(directory)

    async def get_userdata(self, path: str) -> bytes:
        """One file of the user's data on the server."""
        return await self.client.get_userdata(path)

    async def put_userdata(self, path: str, body: bytes, *, overwrite: bool) -> None:
        """Write one file of the user's data on the server (``overwrite=False`` refuses an existing one)."""
        await self.client.put_userdata(path, body, overwrite=overwrite)
