"""A ServerPool seen as one runtime by a front end (the app), plus what it shows per server.

The app was built on one runtime: its status, submit, cancel, retry, downloads and server
reads. :class:`PoolRuntime` offers the same calls over a pool: submits are dispatched (or go
to the pinned server), everything that acts on an execution goes to the execution's server,
server reads (workflow files, node catalogue) go to the reference server, and the status is
the pool's as a whole. :meth:`PoolRuntime.rows` is each server's line for a status bar.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from ..errors import ComfyError, ExecutionNotFoundError
from ..logs import get_logger
from .client import ComfyUIClient
from .manager import AsyncTaskManager, Unsubscribe
from .models import ConnectionState, OutputFile, PreviewFrame, ServerStatus, Task, WorkflowExecution
from .pool import PoolMember, PoolServer, ServerPool
from .pool_queue import PoolQueue
from .runtime import ComfyUIAsyncRuntime
from .server_history import HistoryPrompt, ServerHistoryItem
from .server_queue import DeleteReport, MoveReport, MoveTo, QueueSnapshot

__all__ = ["PoolRuntime", "memory_summary"]

log = get_logger("comfy_reality.pool")

OUTPUTS_REMEMBERED = 2048
"""Output files of finished runs whose server the pool remembers (newest kept): its runtimes keep
only their newest few finished runs, and the gallery of an older one must still ask the right server."""

_BEST_FIRST = (
    ConnectionState.CONNECTED,
    ConnectionState.RECONNECTING,
    ConnectionState.CONNECTING,
    ConnectionState.DOWN,
)


def memory_summary(stats: dict[str, Any] | None) -> str | None:
    """``VRAM 3.1/24.0G`` (a GPU) or ``RAM 8.2/24.0G`` from /system_stats; None when unknown."""
    if not stats:
        return None
    devices = stats.get("devices") or []
    device = devices[0] if devices and isinstance(devices[0], dict) else {}
    total = device.get("vram_total") or 0
    if device.get("type") not in (None, "cpu") and total:
        used = total - (device.get("vram_free") or 0)
        return f"VRAM {used / 2**30:.1f}/{total / 2**30:.1f}G"
    system = stats.get("system") or {}
    total = system.get("ram_total") or 0
    if total:
        used = total - (system.get("ram_free") or 0)
        return f"RAM {used / 2**30:.1f}/{total / 2**30:.1f}G"
    return None


class PoolRuntime:
    """The app's runtime over a :class:`ServerPool` (see the module docstring)."""

    def __init__(self, pool: ServerPool) -> None:
        self.pool = pool
        self.pinned: str | None = None
        """Runs go to this server (a name) instead of the best one."""
        self.stats: dict[str, dict[str, Any]] = {}
        """Each server's last /system_stats, by name."""
        self._preview_callbacks: list[Callable[[PreviewFrame], None]] = []
        self._made_by: dict[tuple[str, str, str], str] = {}
        """(filename, subfolder, type) of an output -> the name of the server that made it."""
        pool.task_manager.on_root_final(self._remember_outputs)

    def _remember_outputs(self, root: Task) -> None:
        """A run ended (before its runtime may let it go): note which server made its outputs."""
        made_by = self._made_by
        for member in self.pool.members:
            execution = member.runtime.executions.get(root.execution_id or "")
            if execution is not None:
                for file in execution.output_files:
                    key = (file.filename, file.subfolder, file.type)
                    made_by.pop(key, None)
                    made_by[key] = member.name
                while len(made_by) > OUTPUTS_REMEMBERED:
                    del made_by[next(iter(made_by))]
                return

    # ------------------------------------------------------------ runtime-like
    @property
    def task_manager(self) -> AsyncTaskManager:
        return self.pool.task_manager

    @property
    def executions(self) -> dict[str, WorkflowExecution]:
        return self.pool.executions

    @property
    def reference(self) -> ComfyUIAsyncRuntime:
        return self.pool.reference_runtime()

    @property
    def server_url(self) -> str:
        return self.reference.server_url

    @property
    def client(self) -> ComfyUIClient:
        return self.reference.client

    def parts(self) -> list[ComfyUIAsyncRuntime]:
        """One runtime per server: the journal records and reconciles each on its own."""
        return [member.runtime for member in self.pool.members]

    @property
    def status(self) -> ServerStatus:
        """The pool as one server: connected while any server is; the queues added up."""
        members = [m for m in self.pool.members if m.enabled]
        if not members:
            return ServerStatus(
                url=self.label(), state=ConnectionState.DOWN, reason="every server is disabled"
            )
        state = min((m.status.state for m in members), key=_BEST_FIRST.index)
        queues = [m.status.queue_remaining for m in members if m.status.queue_remaining is not None]
        down = [m.name for m in members if m.down or m.status.state is not ConnectionState.CONNECTED]
        return ServerStatus(
            url=self.label(),
            state=state,
            queue_remaining=sum(queues) if queues else None,
            reason=f"not connected: {', '.join(down)}"
            if down and state is not ConnectionState.CONNECTED
            else None,
        )

    def label(self) -> str:
        return f"pool of {len(self.pool.members)}"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[PoolRuntime]:
        async with self.pool.session():
            with contextlib.suppress(ComfyError):  # unreachable servers are read when they connect
                await self.pool.ready()
            yield self

    def subscribe_status(self, callback: Callable[[ServerStatus], None]) -> Unsubscribe:
        return self.pool.subscribe_changes(lambda: callback(self.status))

    def reconnect_now(self) -> None:
        for member in self.pool.members:
            member.runtime.reconnect_now()

    # -------------------------------------------------------------- executions
    async def submit(
        self,
        prompt: dict[str, Any],
        *,
        name: str | None = None,
        workflow_id: str | None = None,
        extra_data: dict[str, Any] | None = None,
        partial_execution_targets: list[str] | None = None,
    ) -> WorkflowExecution:
        return await self.pool.submit(
            prompt,
            server=self.pinned,
            name=name,
            workflow_id=workflow_id,
            extra_data=extra_data,
            partial_execution_targets=partial_execution_targets,
        )

    def subscribe_previews(self, callback: Callable[[PreviewFrame], None]) -> Unsubscribe:
        """Live previews from every server (and from servers added later)."""
        stops = [member.runtime.subscribe_previews(callback) for member in self.pool.members]
        self._preview_callbacks.append(callback)

        def stop() -> None:
            for unsubscribe in stops:
                unsubscribe()
            if callback in self._preview_callbacks:
                self._preview_callbacks.remove(callback)

        return Unsubscribe(stop)

    async def cancel(self, execution: WorkflowExecution) -> WorkflowExecution:
        return await self.pool.cancel(execution)

    async def retry(self, execution: WorkflowExecution) -> WorkflowExecution:
        return await self.pool.retry(execution, server=self.pinned)

    async def download_output(self, file: OutputFile) -> bytes:
        """From the server of the execution that made the file."""
        for member in self.pool.members:
            for execution in member.runtime.executions.values():
                if file in execution.output_files:
                    return await member.runtime.download_output(file)
        name = self._made_by.get((file.filename, file.subfolder, file.type))
        maker = next((m for m in self.pool.members if m.name == name), None)
        if maker is not None:
            return await maker.runtime.download_output(file)
        raise ExecutionNotFoundError(f"No execution of this pool made {file.filename!r}.")

    async def attach(
        self,
        prompt_id: str,
        *,
        prompt: dict[str, Any] | None = None,
        name: str | None = None,
        client_id: str | None = None,
        number: int | None = None,
    ) -> WorkflowExecution:
        return await self.reference.attach(
            prompt_id, prompt=prompt, name=name, client_id=client_id, number=number
        )

    # ------------------------------------------------------------ server reads
    async def system_stats(self) -> dict[str, Any]:
        """Every server's figures (kept per server for :meth:`rows`); returns the reference's."""
        members = [m for m in self.pool.members if m.connected]
        results = await asyncio.gather(*(m.runtime.system_stats() for m in members), return_exceptions=True)
        for member, result in zip(members, results, strict=True):
            if isinstance(result, dict):
                self.stats[member.name] = result
        return (
            self.stats.get(self.pool.member(self.reference.server_url).name)
            or await self.reference.system_stats()
        )

    async def object_info(self) -> dict[str, Any]:
        return await self.reference.object_info()

    async def server_capabilities(self, *, refresh: bool = False) -> dict[str, Any]:
        """The reference server's (where a pooled run would be checked first); per server: :meth:`member_capabilities`."""
        return await self.reference.server_capabilities(refresh=refresh)

    async def member_capabilities(self, name: str) -> dict[str, Any]:
        """One server's capabilities, by name (the Servers screen's details)."""
        return await self.pool.member(name).runtime.server_capabilities()

    async def list_userdata(self, directory: str) -> list[str]:
        return await self.reference.list_userdata(directory)

    async def get_userdata(self, path: str) -> bytes:
        return await self.reference.get_userdata(path)

    async def put_userdata(self, path: str, body: bytes, *, overwrite: bool) -> None:
        await self.reference.put_userdata(path, body, overwrite=overwrite)

    # ------------------------------------------- the whole server (reference)
    # The Queue screen shows every server's queue when the pool has several (see pool_queue);
    # the Server History screen shows the reference server's (the first enabled one that answered).
    def set_app_client_ids(self, client_ids: Iterable[str]) -> None:
        ids = list(client_ids)
        for member in self.pool.members:
            member.runtime.set_app_client_ids(ids)

    def pool_queue(self) -> PoolQueue | None:
        """Every server's queue as one, when the pool has several (None: one server)."""
        runtimes = self.parts()
        return PoolQueue(runtimes, self.label()) if len(runtimes) > 1 else None

    def queue_servers(self) -> list[str]:
        """The servers a queued prompt can move to (one: none to move to)."""
        return [r.server_url for r in self.parts()]

    def follow_queue(self, fallback_interval: float = 10.0) -> AsyncIterator[QueueSnapshot]:
        pool = self.pool_queue()
        if pool is not None:
            return pool.follow(fallback_interval)
        return self.reference.follow_queue(fallback_interval)

    async def delete_queued(self, prompt_ids: Iterable[str]) -> DeleteReport:
        pool = self.pool_queue()
        if pool is not None:
            return await pool.delete(prompt_ids)
        return await self.reference.delete_queued(prompt_ids)

    async def clear_queue(self, *, only_app: bool = False) -> DeleteReport:
        pool = self.pool_queue()
        if pool is not None:
            return await pool.clear(only_app=only_app)
        return await self.reference.clear_queue(only_app=only_app)

    async def move_queued(self, prompt_id: str, to: MoveTo, anchor: str | None = None) -> MoveReport:
        pool = self.pool_queue()
        if pool is not None:
            return await pool.move(prompt_id, to, anchor)
        return await self.reference.move_queued(prompt_id, to, anchor)

    async def move_to_server(self, prompt_id: str, server_url: str) -> MoveReport:
        """Delete on its server, queue on ``server_url`` with the same prompt (a new prompt id)."""
        return await PoolQueue(self.parts(), self.label()).move_to(prompt_id, server_url)

    async def server_history(self, max_items: int | None = 200) -> list[ServerHistoryItem]:
        return await self.reference.server_history(max_items)

    async def delete_server_history(self, prompt_ids: Iterable[str]) -> None:
        await self.reference.delete_server_history(prompt_ids)

    async def clear_server_history(self) -> None:
        await self.reference.clear_server_history()

    async def history_prompt(self, prompt_id: str) -> HistoryPrompt:
        return await self.reference.history_prompt(prompt_id)

    # ------------------------------------------------------------- per server
    def rows(self) -> list[dict[str, Any]]:
        """Each server for a status bar or a table (names and bare URLs only: no credentials)."""
        found = []
        for member, row in zip(self.pool.members, self.pool.statuses(), strict=True):
            row.update(
                memory=memory_summary(self.stats.get(member.name)),
                pinned=member.name == self.pinned,
                reason=member.status.reason,
            )
            found.append(row)
        return found

    def member_of(self, execution: WorkflowExecution) -> PoolMember | None:
        try:
            return self.pool.member_of(execution)
        except ExecutionNotFoundError:
            return None

    async def add_server(self, url: str) -> PoolMember:
        member = await self.pool.add_server(PoolServer(url=url))
        for callback in self._preview_callbacks:
            member.runtime.subscribe_previews(callback)  # ends with the member's runtime
        return member

    def toggle_enabled(self, name: str) -> PoolMember:
        member = self.pool.member(name)
        return self.pool.set_enabled(name, not member.enabled)

    def toggle_drain(self, name: str) -> PoolMember:
        member = self.pool.member(name)
        return self.pool.drain(name, not member.draining)

    def toggle_pin(self, name: str) -> str | None:
        self.pinned = None if self.pinned == name else self.pool.member(name).name
        self.pool.notify_changed()
        return self.pinned
