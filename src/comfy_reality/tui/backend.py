"""The app's link to the runtime: the runtime worker, the event pump, the journal, worker failures.

Data flows one way. The runtime worker (a Textual worker on the app's event loop) opens
``runtime.session()``, drains the task manager's coalescing event subscription once per
frame and posts one :class:`TaskEventsBatch` with snapshots of what changed. The main screen
folds batches into :class:`SessionState` and redraws. However many progress messages arrive
per second, the screen sees at most one batch per frame, holding only the newest progress of
each node.

Every background job of the app runs as a worker on the app (:meth:`Backend.run_job`), so one
handler, :meth:`Backend.on_worker_state_changed`, is where every failure surfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from textual.app import App
from textual.worker import Worker, WorkerState

from comfy_reality.logs import get_logger

from ..errors import ComfyError, JournalError
from ..runtime.kinds import LIFECYCLE_EVENTS, ConnectionState, TaskType
from . import format as fmt
from .batch_pace import batch_spacing, is_flood, is_urgent, slow_spacing
from .messages import (
    LogLine,
    PreviewArrived,
    ServersChanged,
    ServerStatusChanged,
    SystemStatsUpdated,
    TaskEventsBatch,
)
from .widgets.status_bar import friendly_reason

if TYPE_CHECKING:
    # The models (and pydantic) load once the first frame is up: with the settings, the journal or the runtime.
    from ..config import Settings
    from ..journal import Journal, ReconcileReport
    from ..journal.runtime_like import RuntimeLike
    from ..runtime.manager import EventSubscription
    from ..runtime.models import OutputFile, PreviewFrame, ServerStatus, Task, TaskEvent, WorkflowExecution
    from ..runtime.pool import PoolServer
    from ..runtime.pool_app import PoolRuntime
    from ..runtime.runtime import ComfyUIAsyncRuntime
    from ..runtime.server_history import HistoryPrompt, ServerHistoryItem
    from ..runtime.server_queue import DeleteReport, MoveReport, MoveTo, QueueSnapshot

log = get_logger("comfy_reality.tui")

FRAME_INTERVAL = 1 / 30
STATS_INTERVAL = 5.0


if TYPE_CHECKING:
    _JournalRuntime = RuntimeLike
else:

    class _JournalRuntime(Protocol):
        """Stands for the journal's RuntimeLike at run time (a protocol is only a type): importing
        the journal package (SQLite, its models) for a base class would delay the first frame."""


class AppRuntime(_JournalRuntime, Protocol):
    """What the app uses of :class:`ComfyUIAsyncRuntime`, on top of what its journal needs.

    The app never reaches the runtime's HTTP client: server reads go through these methods.
    """

    @property
    def status(self) -> ServerStatus: ...

    def session(self) -> AbstractAsyncContextManager[object]: ...

    def subscribe_status(self, callback: Callable[[ServerStatus], None]) -> Callable[[], None]: ...

    def reconnect_now(self) -> None: ...

    def subscribe_previews(self, callback: Callable[[PreviewFrame], None]) -> Callable[[], None]: ...

    async def submit(
        self,
        prompt: dict[str, Any],
        *,
        name: str | None = None,
        workflow_id: str | None = None,
        extra_data: dict[str, Any] | None = None,
        partial_execution_targets: list[str] | None = None,
    ) -> WorkflowExecution: ...

    async def cancel(self, execution: WorkflowExecution) -> WorkflowExecution: ...

    async def retry(self, execution: WorkflowExecution) -> WorkflowExecution: ...

    async def download_output(self, file: OutputFile) -> bytes: ...

    async def system_stats(self) -> dict[str, Any]: ...

    async def object_info(self) -> dict[str, Any]: ...

    async def server_capabilities(self, *, refresh: bool = False) -> dict[str, Any]: ...

    async def list_userdata(self, directory: str) -> list[str]: ...

    async def get_userdata(self, path: str) -> bytes: ...

    async def put_userdata(self, path: str, body: bytes, *, overwrite: bool) -> None: ...

    # The whole server (every client's queue and history): runtime/server_wide.py.
    def follow_queue(self, fallback_interval: float = 10.0) -> AsyncIterator[QueueSnapshot]: ...

    async def delete_queued(self, prompt_ids: Iterable[str]) -> DeleteReport: ...

    async def clear_queue(self, *, only_app: bool = False) -> DeleteReport: ...

    async def move_queued(self, prompt_id: str, to: MoveTo, anchor: str | None = None) -> MoveReport: ...

    async def server_history(self, max_items: int | None = 200) -> list[ServerHistoryItem]: ...

    async def delete_server_history(self, prompt_ids: Iterable[str]) -> None: ...

    async def clear_server_history(self) -> None: ...

    async def history_prompt(self, prompt_id: str) -> HistoryPrompt: ...

    def set_app_client_ids(self, client_ids: Iterable[str]) -> None: ...


RuntimeFactory = Callable[[str], AppRuntime]
LogWriter = Callable[[list[LogLine]], None]


def _journal_class() -> type[Journal]:
    """The journal's class, its module (and SQLite) loaded by whoever calls this."""
    from ..journal import Journal

    return Journal


class Backend:
    """Owns the runtime and the journal for the app; tells the app what happened through messages.

    ``on_connected`` is called once per connection (after the server status said so), for
    the app to refresh what it reads from the server.
    """

    def __init__(
        self,
        app: App[None],
        settings: Settings | Callable[[], Settings],
        *,
        write_log: LogWriter,
        demo: bool = False,
        demo_data_dir: Path | None = None,
        connect: bool = True,
        runtime_factory: RuntimeFactory | None = None,
        frame_interval: float = FRAME_INTERVAL,
        stats_interval: float = STATS_INTERVAL,
        journal_path: Path | None = None,
        use_journal: bool = True,
        demo_servers: int = 1,
        shown_url: str | None = None,
    ) -> None:
        self._app = app
        self.demo_servers = demo_servers
        """``--demo --servers N``: N embedded servers of different speeds, as a pool."""
        self._settings_of: Callable[[], Settings] = settings if callable(settings) else (lambda: settings)
        """The validated settings (a callable: ``comfy-reality-tui`` validates them after its first frame)."""
        self._server_url: str | None = None if callable(settings) else settings.server_url
        self._shown_url = shown_url
        """The URL the first frame draws while the settings are not validated yet."""
        self.demo = demo
        self.demo_data_dir = demo_data_dir
        """Where the demo server keeps what is saved to it across launches; None: a fresh temp dir."""
        self.connect = connect
        self.runtime_factory: RuntimeFactory = runtime_factory or self._default_runtime
        self._runtime_modules = (
            () if runtime_factory else ("comfy_reality.runtime.runtime", "comfy_reality.runtime.auth")
        )
        self.frame_interval = frame_interval
        self.stats_interval = stats_interval
        self.runtime: AppRuntime | None = None
        self.previews_wanted = False
        """Pass live sampler previews on to the app (off when images are off: nothing is decoded)."""
        self.journal: Journal | None = None
        """The execution journal (history, recovery after a restart); None when disabled or unusable."""
        self.journal_note: str | None = (
            None if use_journal else "The execution journal is off for this session."
        )
        """Why there is no journal this session, once that is known."""
        self.journal_path = journal_path
        self.use_journal = use_journal
        self.reconcile_reports: list[ReconcileReport] = []
        self._write_log = write_log
        self._journal_ready = asyncio.Event()
        self._settings_valid = asyncio.Event()
        if not callable(settings):
            self._settings_valid.set()
        self._batch_handled = asyncio.Event()
        self._reconciled: list[RuntimeLike] = []  # reconciled once each, on its first connection
        self._ended: dict[str, EndedRun] = {}
        """Executions that ended and are not in a batch yet: the runtime may let them go first."""

    @property
    def settings(self) -> Settings:
        return self._settings_of()

    def settings_checked(self) -> None:
        """The app validated its settings (``comfy-reality-tui`` does so after its first frame)."""
        self._settings_valid.set()

    async def wait_for_settings(self) -> None:
        """Until the settings are validated: jobs that read them wait here rather than load the model
        on the loop (and never start with settings the model refuses: the app stops then)."""
        await self._settings_valid.wait()

    @property
    def server_url(self) -> str:
        """The server's URL; in demo mode, the embedded server's once it runs."""
        if self._server_url is None:
            self._server_url = self.settings.server_url
        return self._server_url

    @server_url.setter
    def server_url(self, url: str) -> None:
        self._server_url = url

    @property
    def shown_server_url(self) -> str:
        """The URL to draw: :attr:`server_url`, or before the settings are validated (the first frame),
        the sources' URL as the model would leave it."""
        if self._server_url is None and self._shown_url is not None:
            return self._shown_url
        return self.server_url

    # ------------------------------------------------------------------ jobs
    def run_job(
        self, work: Callable[[], Coroutine[Any, Any, None]], *, name: str, group: str, exclusive: bool = False
    ) -> Worker[None]:
        """Run one background job as a worker on the app: its failure reaches the one handler.

        ``work`` is called when the worker starts (a job replaced before it started never runs).
        """
        return self._app.run_worker(work, name=name, group=group, exclusive=exclusive, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures surface: a notification, the log pane and the log file."""
        worker = event.worker
        if event.state is not WorkerState.ERROR:
            return
        error = worker.error
        message = f"{worker.name or 'background job'} failed: {type(error).__name__}: {error}"
        log.error("tui_worker_failed", worker=worker.name, error=str(error), error_type=type(error).__name__)
        self._write_log([LogLine(fmt.now(), "error", message)])
        if worker.group == "runtime":
            from ..runtime.models import ServerStatus

            self._app.post_message(
                ServerStatusChanged(
                    ServerStatus(
                        url=self.server_url, state=ConnectionState.DOWN, reason=f"runtime stopped: {error}"
                    )
                )
            )
            self._app.notify(f"{message}. Press F5 to start it again.", severity="error", timeout=10)
        else:
            self._app.notify(message, severity="error", timeout=8)

    # ---------------------------------------------------------------- start/stop
    def start(self) -> None:
        """Open the journal and, unless offline, start the runtime worker, once the first frame is drawn.

        Paint first: the journal's SQLite file, the runtime's HTTP and WebSocket libraries and the
        task models (pydantic) load after the panes are on the screen, not before (offline, as in
        tests, the status says so at once).
        """
        if not self.connect:
            from ..runtime.models import ServerStatus

            self._app.post_message(
                ServerStatusChanged(
                    ServerStatus(url=self.server_url, state=ConnectionState.DOWN, reason="offline")
                )
            )
        self._app.call_after_refresh(self._start_jobs)

    def _start_jobs(self) -> None:
        self.run_job(self._open_journal, name="_open_journal", group="journal")
        if self.connect:
            self.start_runtime()

    async def close(self) -> None:
        journal, self.journal = self.journal, None
        if journal is not None:
            # Writes the last state of every execution seen: reconcile picks them up next start.
            await journal.close()

    # ----------------------------------------------------------------- journal
    async def _open_journal(self) -> None:
        try:
            if self.use_journal:
                # Only the user's own journal ages out; a file named explicitly is kept whole (as the CLI does).
                keep_days = self.settings.journal_keep_days if self.journal_path is None else 0
                # Imported on a thread as well as opened there: the loop keeps drawing and answering keys.
                journal_class = await asyncio.to_thread(_journal_class)
                self.journal, note = await journal_class.open_or_disabled(
                    self.journal_path, keep_days=keep_days
                )
                pruned = self.journal.auto_pruned if self.journal is not None else None
                if pruned is not None and pruned.executions:
                    self._write_log(
                        [
                            LogLine(
                                fmt.now(),
                                "info",
                                f"Journal: {pruned.executions} finished execution(s) older than {keep_days} days removed "
                                "(journal_keep_days in the config)",
                            )
                        ]
                    )
                if note is not None:
                    self.journal_note = note
                    self._write_log([LogLine(fmt.now(), "warning", note)])
                    self._app.notify(note, title="No history this session", severity="warning", timeout=10)
        finally:
            self._journal_ready.set()

    def reconcile_once(self) -> None:
        """After a connection: settle last session's unfinished runs, once per runtime (per server of a
        pool, each when it first connects)."""
        runtime = self.runtime
        if self.journal is None or runtime is None:
            return
        pooled = is_pool(runtime)
        todo = [
            part
            for part in runtime_parts(runtime)
            if not any(part is done for done in self._reconciled)
            and (not pooled or getattr(part, "connected", False))
        ]
        if todo:
            self._reconciled.extend(todo)
            self.run_job(
                partial(self._reconcile_journal, todo),
                name="_reconcile_journal",
                group="journal-reconcile",
            )

    async def _reconcile_journal(self, parts: list[RuntimeLike]) -> None:
        """Follow, settle or mark lost last session's unfinished runs (each server of a pool on its own)."""
        journal = self.journal
        if journal is None:
            return
        for part in parts:
            await self._reconcile_part(journal, part)

    async def _reconcile_part(self, journal: Journal, runtime: RuntimeLike) -> None:
        report = await journal.reconcile(runtime)
        self.reconcile_reports.append(report)
        if report.unreachable:
            self._reconciled = [done for done in self._reconciled if done is not runtime]  # next connection
            self._write_log([LogLine(fmt.now(), "warning", report.summary)])
            return
        if not (report.followed or report.finished or report.lost or report.errors):
            return
        message = (
            f"Journal: followed again {len(report.followed)}, finished {len(report.finished)}, "
            f"lost {len(report.lost)}" + (f", could not check {len(report.errors)}" if report.errors else "")
        )
        level = "warning" if report.lost or report.errors else "info"
        lines = [LogLine(fmt.now(), level, message)]
        lines.extend(LogLine(fmt.now(), "warning", f"journal: {error}") for error in report.errors)
        self._write_log(lines)
        if report.lost or report.followed:
            self._app.notify(
                f"{message}. Press h for the history.",
                severity="warning" if report.lost else "information",
                timeout=8,
            )

    # ----------------------------------------------------------------- runtime
    def _default_runtime(self, url: str) -> ComfyUIAsyncRuntime:
        # The client, its HTTP and WebSocket libraries load here, after the first frame is drawn.
        from ..runtime.auth import Auth
        from ..runtime.runtime import ComfyUIAsyncRuntime

        s = self.settings
        auth = Auth(
            token=s.token.get_secret_value() if s.token else None,
            token_in_query=s.token_in_query,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            headers=dict(s.headers),
        )
        return ComfyUIAsyncRuntime(url, auth=auth, timeout=s.timeout, verify_tls=s.verify_tls)

    def start_runtime(self) -> None:
        self.run_job(self._runtime_main, name="runtime", group="runtime", exclusive=True)

    async def fetch_output(self, file: OutputFile) -> bytes:
        """An output's bytes for the gallery and the viewer, through the runtime (never HTTP here)."""
        if self.runtime is None:
            raise ComfyError("not connected to a server")
        return bytes(await self.runtime.download_output(file))

    def runtime_worker_stopped(self) -> bool:
        workers = [w for w in self._app.workers if w.group == "runtime"]
        return not workers or all(w.is_finished for w in workers)

    def batch_handled(self) -> None:
        """The app drew the last batch: the pump may post the next one."""
        self._batch_handled.set()

    async def _runtime_main(self) -> None:
        from ..runtime.models import ServerStatus

        async with contextlib.AsyncExitStack() as stack:
            url = self.server_url
            runtime: AppRuntime
            if self.demo and self.demo_servers > 1:
                await load_off_loop(*_POOL_MODULES, "comfy_reality.server")
                runtime = await start_demo_pool(stack, self.settings, self.demo_servers)
                self.server_url = runtime.server_url
            elif not self.demo and len(self.settings.servers) > 1:
                await load_off_loop(*_POOL_MODULES)
                from ..runtime.pool import PoolServer

                runtime = pool_runtime(
                    self.settings, [PoolServer.from_entry(e) for e in self.settings.servers]
                )
                self.server_url = runtime.server_url
            else:
                if self.demo:
                    await load_off_loop("comfy_reality.server")
                    from ..server import EmbeddedServer, ServerConfig

                    server = await stack.enter_async_context(
                        EmbeddedServer(
                            ServerConfig(host="127.0.0.1", port=0, speed=1.0, data_dir=self.demo_data_dir)
                        )
                    )
                    url = self.server_url = server.url
                    # The demo's own address from the first moment it is known, not the configured URL.
                    self._app.post_message(ServerStatusChanged(ServerStatus(url=url)))
                await load_off_loop(*self._runtime_modules)
                runtime = self.runtime_factory(url)
            self.runtime = runtime
            subscription = runtime.task_manager.events()
            stack.callback(subscription.close)
            self._ended.clear()
            stack.callback(runtime.task_manager.on_root_final(partial(keep_ended, runtime, self._ended)))
            await self._journal_ready.wait()
            if self.journal is not None:
                for part in runtime_parts(runtime):
                    stack.callback(self.journal.attach(part))
                await self._tell_app_client_ids(runtime, url)
            await stack.enter_async_context(runtime.session())

            def on_status(status: ServerStatus) -> None:
                self._app.post_message(ServerStatusChanged(status))
                if is_pool(runtime):
                    self._app.post_message(ServersChanged(runtime.rows()))

            unsubscribe = runtime.subscribe_status(on_status)
            stack.callback(unsubscribe)
            if self.previews_wanted:

                def on_preview(frame: PreviewFrame) -> None:
                    self._app.post_message(PreviewArrived(frame))

                stack.callback(runtime.subscribe_previews(on_preview))
            self._app.post_message(ServerStatusChanged(runtime.status))
            log.info("tui_runtime_started", server_url=url)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump_events(runtime, subscription))
                group.create_task(self._poll_stats(runtime))

    async def _tell_app_client_ids(self, runtime: AppRuntime, url: str) -> None:
        """The client ids this app used before (the journal's): the Queue screen calls their prompts ours."""
        journal = self.journal
        setter = getattr(runtime, "set_app_client_ids", None)
        if journal is None or setter is None:
            return
        try:
            rows = await journal.list_executions(server=url, limit=5000)
        except JournalError as exc:  # only a nicer Owner column depends on it
            log.warning("journal_client_ids_unreadable", error=str(exc))
            return
        setter({row.client_id for row in rows if row.client_id})

    async def _pump_events(self, runtime: AppRuntime, subscription: EventSubscription) -> None:
        """One batch per frame (fewer under a flood, see batch_pace): whatever piled up meanwhile,
        progress already coalesced per task.

        At most one batch is in the app's queue at a time: a key press queued behind a pile of
        stale batches would wait for all of them, so the next batch is built only once the
        previous one was handled (the subscription keeps coalescing meanwhile).
        """
        loop = asyncio.get_running_loop()
        frame = self.frame_interval
        held: list[TaskEvent] = []  # taken from the subscription while a flood's batch waited
        while True:
            if not held:
                try:
                    held = [await anext(subscription)]
                except StopAsyncIteration:
                    return
            events = [*held, *subscription.drain()]
            held = []
            self._batch_handled.clear()
            posted = loop.time()
            self._app.post_message(snapshot_batch(runtime, events, self._ended))
            await asyncio.sleep(frame)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch_handled.wait(), timeout=1.0)
            waiting = len(subscription)
            if not is_flood(len(events), waiting):
                continue
            rest = posted + batch_spacing(frame, len(events), waiting) - loop.time()
            if rest > 0:
                await asyncio.sleep(rest)
            # Progress only: wait up to the slow spacing, unless a run changes state meanwhile.
            slow_until = posted + slow_spacing(frame)
            while True:
                arrived = subscription.drain()
                held.extend(arrived)
                rest = slow_until - loop.time()
                if rest <= 0 or is_urgent(arrived):
                    break
                await asyncio.sleep(min(frame, rest))

    async def _poll_stats(self, runtime: AppRuntime) -> None:
        while True:
            if runtime.status.state is ConnectionState.CONNECTED:
                try:
                    stats = await runtime.system_stats()
                except ComfyError as exc:
                    # The bar keeps the last figures; the connection state says what is wrong.
                    log.debug("system_stats_unavailable", error=str(exc))
                else:
                    self._app.post_message(SystemStatsUpdated(stats))
                    if is_pool(runtime):
                        self._app.post_message(ServersChanged(runtime.rows()))
            await asyncio.sleep(self.stats_interval)

    async def post_system_stats(self) -> None:
        """Ask for the server's figures once now (after a connection), not at the next poll."""
        runtime = self.runtime
        if runtime is not None:
            with contextlib.suppress(ComfyError):
                self._app.post_message(SystemStatsUpdated(await runtime.system_stats()))

    def connected_runtime(self) -> AppRuntime | None:
        """The runtime, unless the server is known to be down (then say so and return None).

        While connecting or reconnecting the runtime itself waits for the socket (one attempt)
        and raises a clear ServerUnreachableError if it fails.
        """
        runtime = self.runtime
        if runtime is None or runtime.status.state is ConnectionState.DOWN:
            status = runtime.status if runtime is not None else None
            reason = f" ({friendly_reason(status.reason)})" if status is not None and status.reason else ""
            self._app.notify(
                f"Not connected to {self.server_url}{reason}. It retries by itself; F5 retries now.",
                severity="warning",
            )
            return None
        return runtime


# ---------------------------------------------------------------------- helpers
DEMO_SPEEDS = (1.0, 2.0, 0.5, 4.0, 1.5, 3.0, 0.75, 6.0)


def is_pool(runtime: AppRuntime) -> TypeGuard[PoolRuntime]:
    """Whether ``runtime`` is a pool of servers (without importing the pool before there is one)."""
    pool_app = sys.modules.get("comfy_reality.runtime.pool_app")
    return pool_app is not None and isinstance(runtime, pool_app.PoolRuntime)


def runtime_parts(runtime: AppRuntime) -> list[RuntimeLike]:
    """The runtimes the journal records: each server of a pool, or the one runtime."""
    if is_pool(runtime):
        return list(runtime.parts())
    return [runtime]


_POOL_MODULES = ("comfy_reality.runtime.pool", "comfy_reality.runtime.pool_app")


async def load_off_loop(*modules: str) -> None:
    """Import ``modules`` on a thread: the HTTP, WebSocket and server libraries take tens of
    milliseconds to load, and the loop meanwhile keeps drawing and answering keys."""
    missing = [name for name in modules if name not in sys.modules]
    if missing:
        await asyncio.to_thread(lambda: [importlib.import_module(name) for name in missing])


def pool_runtime(settings: Settings, servers: list[PoolServer]) -> PoolRuntime:
    # Imported when a pool is made: the first frame never waits for the runtime's HTTP stack.
    from ..runtime.pool import ServerPool
    from ..runtime.pool_app import PoolRuntime

    return PoolRuntime(
        ServerPool(
            servers,
            timeout=settings.timeout,
            verify_tls=settings.verify_tls,
            failover_after=settings.failover_after,
            retry_lost=settings.retry_lost,
        )
    )


async def start_demo_pool(stack: contextlib.AsyncExitStack, settings: Settings, count: int) -> PoolRuntime:
    """``count`` embedded servers of different speeds on 127.0.0.1, pooled with their speeds as weights."""
    from ..runtime.pool import PoolServer
    from ..server import EmbeddedServer, ServerConfig

    servers: list[PoolServer] = []
    for index in range(count):
        speed = DEMO_SPEEDS[index % len(DEMO_SPEEDS)]
        server = await stack.enter_async_context(
            EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=speed))
        )
        servers.append(PoolServer(url=server.url, name=f"demo{index + 1}", weight=speed))
    return pool_runtime(settings, servers)


class EndedRun:
    """An execution that reached its final state, with its workflow task, kept from that moment
    until a batch carries it: the runtime keeps only its newest few finished executions, and a
    batch is built a frame (under a flood, several) after the events it folds."""

    __slots__ = ("_tasks", "execution", "workflow_task")

    def __init__(self, execution: WorkflowExecution, workflow_task: Task) -> None:
        self.execution = execution
        self.workflow_task = workflow_task
        self._tasks: dict[str, Task] | None = None

    def task(self, task_id: str) -> Task | None:
        if task_id == self.workflow_task.id:
            return self.workflow_task
        if self._tasks is None:
            self._tasks = {task.id: task for task in self.execution.tasks}
        return self._tasks.get(task_id)


def keep_ended(runtime: AppRuntime, ended: dict[str, EndedRun], root: Task) -> None:
    """The task manager's root-final hook: keep the execution that ``root`` (its workflow task)
    ended, before the runtime's retention can drop it (see :func:`snapshot_batch`)."""
    execution = runtime.executions.get(root.execution_id) if root.execution_id else None
    if execution is not None and execution.is_final:
        ended[execution.id] = EndedRun(execution, root)


def snapshot_batch(
    runtime: AppRuntime, events: list[TaskEvent], ended: dict[str, EndedRun] | None = None
) -> TaskEventsBatch:
    """Copies of the tasks and executions a batch of events touched, taken on the worker side.

    A task or an execution that has reached its final state no longer changes: the batch carries
    the runtime's own object instead of a copy, so a finished execution is held once in the
    session, not once in the runtime and again in the app (the screen tells a new snapshot from
    the last one by identity, and a final object is new to it exactly once).

    ``ended`` (filled by :func:`keep_ended`) has the executions that ended since the last batch:
    one the runtime let go of meanwhile is taken from there, so its row still ends as it did.
    Those this batch carries leave it.
    """
    manager = runtime.task_manager
    tasks: dict[str, Task] = {}
    executions: dict[str, WorkflowExecution] = {}
    live = runtime.executions
    kept = ended or {}
    for event in events:
        if event.task_id in tasks:
            continue
        task = manager.get_task(event.task_id)
        run = kept.get(event.execution_id) if kept and event.execution_id else None
        if task is None and run is not None:
            task = run.task(event.task_id)
        if task is None:
            continue
        tasks[task.id] = _snapshot_task(task)
        execution = live.get(task.execution_id) if task.execution_id else None
        if execution is None and run is not None:
            execution = run.execution
        if execution is None:
            continue
        if execution.id not in executions:
            executions[execution.id] = (
                execution if execution.is_final else execution.model_copy(update={"tasks": []})
            )
        workflow_task = manager.get_task(execution.workflow_task_id or "")
        if workflow_task is None and run is not None:
            workflow_task = run.workflow_task
        if workflow_task is not None and workflow_task.id not in tasks:
            tasks[workflow_task.id] = _snapshot_task(workflow_task)
    if kept:
        for execution_id, execution in executions.items():
            if execution.is_final:
                kept.pop(execution_id, None)
    return TaskEventsBatch(events, tasks, executions)


def _snapshot_task(task: Task) -> Task:
    return task if task.is_final else task.model_copy()


_EVENT_LEVEL = {"failed": "error", "cancelled": "warning"}
_NODE_EVENTS_LOGGED = frozenset({"failed", "cancelled"})


def event_log_line(event: TaskEvent) -> LogLine | None:
    """Lifecycle events become log lines; progress stays in the progress widgets.

    A node's creation, start and success are in the task tree already: one line each would fill
    the pane (and its memory, a few kilobytes a line) with a big workflow's hundreds of nodes.
    How a node failed or was cancelled stays in the log.
    """
    if event.event_type not in LIFECYCLE_EVENTS:
        return None
    if event.task_type is TaskType.NODE and event.event_type not in _NODE_EVENTS_LOGGED:
        return None
    text = event.message or f"{event.event_type} {event.task_id}"
    return LogLine(event.timestamp, _EVENT_LEVEL.get(event.event_type, "info"), text)
