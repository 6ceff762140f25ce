"""ComfyRealityApp: the main screen and the worker that owns the runtime.

Data flows one way. The runtime worker (a Textual worker on the app's event loop) opens
``runtime.session()``, drains the task manager's coalescing event subscription once per
frame and posts one :class:`TaskEventsBatch` with snapshots of what changed. Handlers on
the app fold batches into :class:`SessionState` and tell the widgets to redraw. However
many progress messages arrive per second, the screen sees at most one batch per frame,
holding only the newest progress of each node.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from .. import paths
from ..config import Settings
from ..journal import Journal, ReconcileReport
from ..runtime import Auth, ComfyUIAsyncRuntime
from ..runtime.errors import ComfyError, InvalidWorkflowError, PromptValidationError
from ..runtime.manager import EventSubscription
from ..runtime.models import (
    LIFECYCLE_EVENTS,
    ConnectionState,
    OutputFile,
    ServerStatus,
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    WorkflowExecution,
)
from ..runtime.outputs import UnsafeOutputPathError, safe_output_path, save_outputs
from ..workflows import (
    ObjectInfo,
    ObjectInfoCache,
    WorkflowFile,
    frontend_defects,
    load_prompt,
    parse_workflow_listing,
    read_json_file,
    safe_filename,
    save_workflow,
    scan_workflows,
    workflow_name,
    workflow_userdata_path,
)
from . import format as fmt
from .commands import ComfyCommands
from .images import ImageSupport, resolve_renderer
from .logtap import LogTap
from .messages import (
    ExecutionSelected,
    LogLine,
    PreviewArrived,
    ServerStatusChanged,
    SystemStatsUpdated,
    TaskEventsBatch,
    WorkflowHighlighted,
    WorkflowsScanned,
)
from .screens.confirm_quit import ConfirmQuitScreen
from .screens.name_prompt import NamePromptScreen
from .screens.save_outputs import SaveOutputsScreen
from .state import ExecutionEntry, SessionState
from .widgets import ExecutionView, LogPane, StatusBar, TaskTree, WorkflowBrowser, WorkflowPreview
from .widgets.execution_view import OutputKey, output_key
from .widgets.status_bar import friendly_reason
from .widgets.workflow_browser import workflow_nodes

if TYPE_CHECKING:
    from .screens.input_form import FormResult

log = structlog.get_logger("comfy_reality.tui")

FRAME_INTERVAL = 1 / 30
STATS_INTERVAL = 5.0
SERVER_SOURCE = "server"

RuntimeFactory = Callable[[str], Any]


class ComfyRealityApp(App[None]):
    """Queue, watch, cancel and retry ComfyUI workflows."""

    CSS_PATH = "app.tcss"
    TITLE = "ComfyReality"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    COMMANDS = App.COMMANDS | {ComfyCommands}
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("r", "run", "Run", id="run"),
        Binding("x", "cancel", "Cancel", id="cancel"),
        Binding("t", "retry", "Retry", id="retry"),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("o", "save_outputs", "Save", id="save_outputs"),
        Binding("l", "toggle_log", "Log", id="toggle_log"),
        Binding("f1,question_mark", "help", "Help", id="help"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("tab", "focus_next", "Pane", id="focus_next"),
        Binding("shift+tab", "focus_previous", "Prev pane", show=False, id="focus_previous"),
        Binding("f5", "reconnect", "Reconnect", id="reconnect"),
        Binding("h", "history", "History", show=False, id="history"),
        Binding("ctrl+p", "command_palette", "Palette", id="command_palette"),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ]

    # Actions on the main screen's panes: off while a dialog or the form is on top, so a key
    # meant for the form (or pressed by habit) never starts a run behind it.
    MAIN_SCREEN_ACTIONS = frozenset(
        {
            "run",
            "cancel",
            "retry",
            "edit",
            "save_outputs",
            "toggle_log",
            "filter",
            "reconnect",
            "help",
            "history",
        }
    )

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        workflow_dirs: list[Path] | None = None,
        demo: bool = False,
        connect: bool = True,
        runtime_factory: RuntimeFactory | None = None,
        bundled_dir: Path | None = None,
        frame_interval: float = FRAME_INTERVAL,
        stats_interval: float = STATS_INTERVAL,
        log_tap: LogTap | None = None,
        journal_path: Path | None = None,
        use_journal: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.server_url = self.settings.server_url
        self.demo = demo
        self.connect = connect
        self.runtime_factory = runtime_factory or self._default_runtime
        self.frame_interval = frame_interval
        self.stats_interval = stats_interval
        self.log_tap = log_tap
        self.runtime: ComfyUIAsyncRuntime | None = None
        # The execution journal (history, recovery after a restart); None when disabled or unusable.
        self.journal: Journal | None = None
        self.journal_note: str | None = (
            None if use_journal else "The execution journal is off for this session."
        )
        self.journal_path = journal_path
        self.use_journal = use_journal
        self._journal_ready = asyncio.Event()
        self._reconciled_runtime: Any = None  # reconcile once per runtime, on its first connection
        self.reconcile_reports: list[ReconcileReport] = []
        self.session = SessionState()
        self.workflow_files: list[WorkflowFile] = []
        self.object_info: ObjectInfo | None = None
        self.output_sizes: dict[OutputKey, int] = {}
        # Pictures (issue 13): "auto" is resolved by __main__ before Textual starts; without a terminal it is off.
        self.images = ImageSupport(resolve_renderer(self.settings.images), fetch_output=self._fetch_output)
        self.frames = 0
        self._batch_handled = asyncio.Event()
        self.log_timezone: tzinfo | None = None  # None: local time
        self._local_files: list[WorkflowFile] = []
        self._server_files: list[WorkflowFile] = []
        self._server_note: str | None = None
        self._select_on_arrival: str | None = None
        self._selected_execution: str | None = None
        self._detail_mode = "workflow"
        self._highlighted_path: Path | None = None
        self._last_state: ConnectionState | None = None
        self._preview_cache: dict[Path, list[tuple[str, str, str | None]]] = {}
        extra = [*self.settings.workflow_dirs, *(workflow_dirs or [])]
        self.sources: list[tuple[str, Path]] = [
            ("bundled", bundled_dir or paths.bundled_workflows_dir()),
            ("user", paths.user_workflows_dir()),
            *((f"dir:{d}", Path(d).expanduser()) for d in dict.fromkeys(extra)),
        ]
        self.source_titles = {
            "bundled": "Bundled",
            "user": "My workflows",
            **{label: f"Folder {path.name}" for label, path in self.sources[2:]},
            SERVER_SOURCE: "On the server",
        }
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False
        return True

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        # Kept as attributes: handlers run while other screens are on top, where a query would miss them.
        self.status_bar = StatusBar(self.server_url, id="status-bar")
        self.browser = WorkflowBrowser(self.source_titles, id="workflows")
        self.browser.border_title = "Workflows"
        self.task_tree = TaskTree(id="tasks")
        self.task_tree.border_title = "Executions"
        self.preview = WorkflowPreview(self.source_titles, id="preview")
        self.preview.border_title = "Workflow"
        self.execution_view = ExecutionView(id="execution", classes="hidden", images=self.images)
        self.execution_view.border_title = "Execution"
        self.log_pane = LogPane(id="log")
        self.log_pane.tz = self.log_timezone
        self.log_pane.border_title = "Log"
        yield self.status_bar
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield self.browser
                yield self.task_tree
            with Vertical(id="detail"):
                yield self.preview
                yield self.execution_view
        yield self.log_pane
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.log_pane.set_class(self.size.height < 40, "hidden")
        self.browser.option_list.focus()
        self._scan_local()
        self._load_cached_object_info()
        self.set_interval(1.0, self._tick)
        self._open_journal()
        if self.log_tap is not None:
            self.log_tap.install()
            self.set_interval(0.25, self._drain_log_tap)
        if self.connect:
            self._start_runtime()
        else:
            self.post_message(
                ServerStatusChanged(
                    ServerStatus(url=self.server_url, state=ConnectionState.DOWN, reason="offline")
                )
            )

    async def on_unmount(self) -> None:
        if self.log_tap is not None:
            self.log_tap.uninstall()
        journal, self.journal = self.journal, None
        if journal is not None:
            # Writes the last state of every execution seen: reconcile picks them up next start.
            await journal.close()

    # ----------------------------------------------------------------- journal
    @work(group="journal", exit_on_error=False)
    async def _open_journal(self) -> None:
        try:
            if self.use_journal:
                # Only the user's own journal ages out; a file named explicitly is kept whole (as the CLI does).
                keep_days = self.settings.journal_keep_days if self.journal_path is None else 0
                self.journal, note = await Journal.open_or_disabled(self.journal_path, keep_days=keep_days)
                pruned = self.journal.auto_pruned if self.journal is not None else None
                if pruned is not None and pruned.executions:
                    self._write_log(
                        [
                            LogLine(
                                _now(),
                                "info",
                                f"Journal: {pruned.executions} finished execution(s) older than {keep_days} days removed "
                                "(journal_keep_days in the config)",
                            )
                        ]
                    )
                if note is not None:
                    self.journal_note = note
                    self._write_log([LogLine(_now(), "warning", note)])
                    self.notify(note, title="No history this session", severity="warning", timeout=10)
        finally:
            self._journal_ready.set()

    @work(group="journal-reconcile", exit_on_error=False)
    async def _reconcile_journal(self, runtime: Any) -> None:
        """Once per runtime, after it connects: follow, settle or mark lost last session's unfinished runs."""
        journal = self.journal
        if journal is None:
            return
        report = await journal.reconcile(runtime)
        self.reconcile_reports.append(report)
        if report.unreachable:
            self._reconciled_runtime = None  # try again on the next connection
            self._write_log([LogLine(_now(), "warning", report.summary)])
            return
        if not (report.followed or report.finished or report.lost or report.errors):
            return
        message = (
            f"Journal: followed again {len(report.followed)}, finished {len(report.finished)}, "
            f"lost {len(report.lost)}" + (f", could not check {len(report.errors)}" if report.errors else "")
        )
        level = "warning" if report.lost or report.errors else "info"
        lines = [LogLine(_now(), level, message)]
        lines.extend(LogLine(_now(), "warning", f"journal: {error}") for error in report.errors)
        self._write_log(lines)
        if report.lost or report.followed:
            self.notify(
                f"{message}. Press h for the history.",
                severity="warning" if report.lost else "information",
                timeout=8,
            )

    def _drain_log_tap(self) -> None:
        if self.log_tap is not None and self.log_tap.buffer:
            self._write_log(self.log_tap.drain())

    def _tick(self) -> None:
        self.task_tree.refresh_running()
        self.execution_view.tick()

    # ----------------------------------------------------------------- runtime
    def _default_runtime(self, url: str) -> ComfyUIAsyncRuntime:
        s = self.settings
        auth = Auth(
            token=s.token.get_secret_value() if s.token else None,
            token_in_query=s.token_in_query,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            headers=dict(s.headers),
        )
        return ComfyUIAsyncRuntime(url, auth=auth, timeout=s.timeout, verify_tls=s.verify_tls)

    def _start_runtime(self) -> None:
        self.run_worker(
            self._runtime_main(), name="runtime", group="runtime", exclusive=True, exit_on_error=False
        )

    async def _runtime_main(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            url = self.server_url
            if self.demo:
                from ..server import EmbeddedServer, ServerConfig

                server = await stack.enter_async_context(
                    EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=1.0))
                )
                url = self.server_url = server.url
                self.status_bar.url = url
            runtime = self.runtime_factory(url)
            self.runtime = runtime
            subscription = runtime.task_manager.events()
            stack.callback(subscription.close)
            await self._journal_ready.wait()
            if self.journal is not None:
                stack.callback(self.journal.attach(runtime))
            await stack.enter_async_context(runtime.session())

            def on_status(status: ServerStatus) -> None:
                self.post_message(ServerStatusChanged(status))

            unsubscribe = runtime.subscribe_status(on_status)
            stack.callback(unsubscribe)
            if self.images.enabled:  # images off: previews are not even passed on
                stack.callback(
                    runtime.subscribe_previews(lambda frame: self.post_message(PreviewArrived(frame)))
                )
            self.post_message(ServerStatusChanged(runtime.status))
            log.info("tui_runtime_started", server_url=url)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump_events(runtime, subscription))
                group.create_task(self._poll_stats(runtime))

    async def _pump_events(self, runtime: Any, subscription: EventSubscription) -> None:
        """One batch per frame: whatever piled up meanwhile, progress already coalesced per task.

        At most one batch is in the app's queue at a time: a key press queued behind a pile of
        stale batches would wait for all of them, so the next batch is built only once the
        previous one was handled (the subscription keeps coalescing meanwhile).
        """
        async for first in subscription:
            self._batch_handled.clear()
            self.post_message(snapshot_batch(runtime, [first, *subscription.drain()]))
            await asyncio.sleep(self.frame_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch_handled.wait(), timeout=1.0)

    def on_preview_arrived(self, message: PreviewArrived) -> None:
        self.execution_view.add_preview(message.frame)

    async def _fetch_output(self, file: OutputFile) -> bytes:
        """An output's bytes for the gallery and the viewer, through the runtime (never HTTP here)."""
        runtime = self.runtime
        if runtime is None:
            raise ComfyError("not connected to a server")
        return bytes(await runtime.download_output(file))

    async def _poll_stats(self, runtime: Any) -> None:
        while True:
            if runtime.status.state is ConnectionState.CONNECTED:
                try:
                    stats = await runtime.client.get_system_stats()
                except ComfyError as exc:
                    # The bar keeps the last figures; the connection state says what is wrong.
                    log.debug("system_stats_unavailable", error=str(exc))
                else:
                    self.post_message(SystemStatsUpdated(stats))
            await asyncio.sleep(self.stats_interval)

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures surface: a notification, the log pane and the log file."""
        worker = event.worker
        if event.state is not WorkerState.ERROR:
            return
        error = worker.error
        message = f"{worker.name or 'background job'} failed: {type(error).__name__}: {error}"
        log.error("tui_worker_failed", worker=worker.name, error=str(error), error_type=type(error).__name__)
        self._write_log([LogLine(_now(), "error", message)])
        if worker.group == "runtime":
            self.post_message(
                ServerStatusChanged(
                    ServerStatus(
                        url=self.server_url, state=ConnectionState.DOWN, reason=f"runtime stopped: {error}"
                    )
                )
            )
            self.notify(f"{message}. Press F5 to start it again.", severity="error", timeout=10)
        else:
            self.notify(message, severity="error", timeout=8)

    # ---------------------------------------------------------------- messages
    def on_task_events_batch(self, message: TaskEventsBatch) -> None:
        try:
            self._apply_batch(message)
        finally:
            self._batch_handled.set()

    def _apply_batch(self, message: TaskEventsBatch) -> None:
        self.frames += 1
        changed = self.session.apply(message.tasks, message.executions)
        entries = [
            self.session.entries[i] for i in sorted(changed, key=self._order) if i in self.session.entries
        ]
        tree = self.task_tree
        tree.update_entries(entries)
        forgotten = self.session.forget_oldest_finished()
        if forgotten:
            tree.remove_entries(forgotten)
        if self._select_on_arrival in changed:
            tree.select_execution(self._select_on_arrival)
            self._show_execution(self._select_on_arrival)
            self._select_on_arrival = None
        elif self._selected_execution in changed:
            self._show_execution(self._selected_execution)
        lines = [line for e in message.events if (line := event_log_line(e)) is not None]
        if lines:
            self._write_log(lines)

    def _order(self, execution_id: str) -> float:
        entry = self.session.entries.get(execution_id)
        return entry.execution.created_at.timestamp() if entry else 0.0

    def _write_log(self, lines: list[LogLine]) -> None:
        self.log_pane.add_lines(lines)

    def on_server_status_changed(self, message: ServerStatusChanged) -> None:
        status = message.status
        self.status_bar.status = status
        became_connected = (
            status.state is ConnectionState.CONNECTED and self._last_state is not ConnectionState.CONNECTED
        )
        if status.state is not self._last_state and self._last_state is not None:
            level = "info" if status.state is ConnectionState.CONNECTED else "warning"
            reason = (
                f": {status.reason}"
                if status.reason and status.state is not ConnectionState.CONNECTED
                else ""
            )
            self._write_log([LogLine(_now(), level, f"server {status.url} {status.state.value}{reason}")])
        self._last_state = status.state
        if became_connected:
            self._on_connected()

    def _on_connected(self) -> None:
        self._refresh_server_side()
        runtime = self.runtime
        if self.journal is not None and runtime is not None and runtime is not self._reconciled_runtime:
            self._reconciled_runtime = runtime
            self._reconcile_journal(runtime)

    def on_system_stats_updated(self, message: SystemStatsUpdated) -> None:
        self.status_bar.stats = message.stats

    def on_workflows_scanned(self, message: WorkflowsScanned) -> None:
        self.workflow_files = message.files
        self.browser.set_files(message.files, self._server_note)

    def on_execution_selected(self, message: ExecutionSelected) -> None:
        if message.execution_id is not None:
            self._show_execution(message.execution_id)

    def on_workflow_highlighted(self, message: WorkflowHighlighted) -> None:
        # A rescan re-announces the same workflow; only a real cursor move takes the detail pane back.
        path = message.workflow.path if message.workflow else None
        moved = path != self._highlighted_path
        self._highlighted_path = path
        if self._detail_mode == "workflow" or (moved and self.browser.has_focus_within):
            self._show_workflow(message.workflow)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The detail pane follows the pane in use: workflow preview or execution details."""
        widget = event.widget
        if widget is self.task_tree:
            selected = self.task_tree.selected_execution_id or self._selected_execution
            if selected:
                self._show_execution(selected)
        elif self.browser in widget.ancestors_with_self:
            self._show_workflow(self.browser.highlighted)

    # --------------------------------------------------------------- detail pane
    def _show_execution(self, execution_id: str) -> None:
        self._selected_execution = execution_id
        self._detail_mode = "execution"
        self.preview.add_class("hidden")
        view = self.execution_view
        view.remove_class("hidden")
        view.show(self.session.get(execution_id), self.output_sizes)

    def _show_workflow(self, workflow: WorkflowFile | None) -> None:
        self._detail_mode = "workflow"
        self.execution_view.add_class("hidden")
        preview = self.preview
        preview.remove_class("hidden")
        if workflow is None or workflow.error:
            preview.show(workflow, None)
            return
        nodes = self._preview_cache.get(workflow.path)
        preview.show(workflow, nodes)
        if nodes is None:
            self._load_preview(workflow)

    @work(group="preview", exclusive=True, exit_on_error=False)
    async def _load_preview(self, workflow: WorkflowFile) -> None:
        try:
            data = await asyncio.to_thread(read_json_file, workflow.path)
        except ComfyError as exc:
            self.preview.show(workflow.model_copy(update={"error": str(exc)}), None)
            return
        nodes = workflow_nodes(data)
        self._preview_cache[workflow.path] = nodes
        highlighted = self.browser.highlighted
        if self._detail_mode == "workflow" and highlighted is not None and highlighted.path == workflow.path:
            self.preview.show(workflow, nodes)

    # ---------------------------------------------------------------- workflows
    @work(group="scan", exclusive=True, exit_on_error=False)
    async def _scan_local(self) -> None:
        self._local_files = await asyncio.to_thread(
            scan_workflows, self.sources, object_info=self.object_info
        )
        self._preview_cache.clear()
        self._publish_workflows()

    def _publish_workflows(self) -> None:
        self.post_message(WorkflowsScanned([*self._local_files, *self._server_files], self._server_note))

    def _load_cached_object_info(self) -> None:
        """Last session's node catalogue of this server: forms and conversion work before it answers."""
        if self.object_info is None:
            self.object_info = ObjectInfoCache().get(self.server_url)

    @work(group="server-side", exclusive=True, exit_on_error=False)
    async def _refresh_server_side(self) -> None:
        """Once connected: the node catalogue (for conversion and forms) and the server's saved workflows."""
        runtime = self.runtime
        if runtime is None:
            return
        async with asyncio.TaskGroup() as group:
            group.create_task(self._fetch_object_info(runtime))
            group.create_task(self._fetch_server_workflows(runtime))
        with contextlib.suppress(ComfyError):
            self.post_message(SystemStatsUpdated(await runtime.client.get_system_stats()))

    async def _fetch_object_info(self, runtime: Any) -> None:
        try:
            raw = await runtime.client.get_object_info()
        except ComfyError as exc:
            log.warning("object_info_unavailable", error=str(exc))
            return
        info, changed = await asyncio.to_thread(ObjectInfoCache().store, runtime.server_url, raw)
        first = self.object_info is None
        self.object_info = info
        if changed or first:
            # Rescan so each workflow lists the node types this server lacks.
            self._scan_local()

    async def _fetch_server_workflows(self, runtime: Any) -> None:
        folder = paths.cache_dir() / "server-workflows" / _url_key(runtime.server_url)
        try:
            listing = parse_workflow_listing(await runtime.client.list_userdata("workflows"))
            blobs = [(workflow_name(p), await runtime.client.get_userdata(p)) for p in listing]
        except ComfyError as exc:
            self._server_note = f"cannot list: {exc}"
            self._publish_workflows()
            return
        self._server_note = None if blobs else "none saved on the server"
        self._server_files = await asyncio.to_thread(
            _mirror_server_workflows, folder, blobs, self.object_info
        )
        self._publish_workflows()

    # ----------------------------------------------------------------- actions
    def _require_runtime(self) -> Any:
        """The runtime, unless the server is known to be down (then say so and return None).

        While connecting or reconnecting the runtime itself waits for the socket (one attempt)
        and raises a clear ServerUnreachableError if it fails.
        """
        runtime = self.runtime
        if runtime is None or runtime.status.state is ConnectionState.DOWN:
            status = runtime.status if runtime is not None else None
            reason = f" ({friendly_reason(status.reason)})" if status is not None and status.reason else ""
            self.notify(
                f"Not connected to {self.server_url}{reason}. It retries by itself; F5 retries now.",
                severity="warning",
            )
            return None
        return runtime

    def action_run(self) -> None:
        workflow = self.browser.highlighted
        if workflow is None:
            self.notify("No workflow highlighted. Pick one in the Workflows pane first.", severity="warning")
            return
        self.run_workflow_file(workflow)

    def run_workflow_file(self, workflow: WorkflowFile, overrides: dict[str, Any] | None = None) -> None:
        if workflow.error:
            self.notify(f"{workflow.name} cannot be run: {workflow.error}", severity="error", timeout=8)
            return
        if self._require_runtime() is None:
            return
        self._submit_workflow(workflow)

    @work(group="actions", exit_on_error=False)
    async def _submit_workflow(self, workflow: WorkflowFile) -> None:
        prompt = await self._prepare_prompt(workflow)
        if prompt is not None:
            await self.submit_prompt(prompt, name=workflow.name, workflow_id=str(workflow.path))

    async def _prepare_prompt(self, workflow: WorkflowFile) -> dict[str, Any] | None:
        """The API prompt of a workflow file (UI format converted); problems become a rejected entry."""
        try:
            data = await asyncio.to_thread(read_json_file, workflow.path)
            prompt = load_prompt(
                data, self.object_info, correct_frontend_defects=self.settings.correct_frontend_defects
            )
            if self.object_info is not None and not self.settings.correct_frontend_defects:
                self._warn_frontend_defects(workflow.name, frontend_defects(data, self.object_info))
            unknown = unknown_node_types(prompt, self.object_info)
            if unknown:
                raise InvalidWorkflowError(
                    "the server does not have these node types: "
                    + ", ".join(unknown)
                    + ". Install the custom nodes that provide them, or pick another server"
                )
        except ComfyError as exc:
            entry = self.session.add_rejected(workflow.name, str(workflow.path), {}, exc)
            self._show_rejected(entry, f"Cannot run {workflow.name}: {exc}")
            self._write_log([LogLine(_now(), "error", f"cannot run {workflow.name}: {exc}")])
            return None
        return prompt

    async def submit_prompt(self, prompt: dict[str, Any], *, name: str, workflow_id: str) -> None:
        """Queue a prompt; a refusal by the server becomes a 'rejected' branch with every node's errors."""
        runtime = self._require_runtime()
        if runtime is None:
            return
        try:
            execution = await runtime.submit(
                prompt,
                name=name,
                workflow_id=workflow_id,
                extra_data=self.settings.prompt_extra_data() or None,
            )
        except PromptValidationError as exc:
            entry = self.session.add_rejected(name, workflow_id, prompt, exc)
            self._show_rejected(entry)
            self._write_log([LogLine(_now(), "error", str(exc))])
            return
        except ComfyError as exc:
            self.notify(f"Cannot queue {name}: {exc}", severity="error", timeout=10)
            self._write_log([LogLine(_now(), "error", f"cannot queue {name}: {exc}")])
            return
        self._select_on_arrival = execution.id
        if execution.id in self.session.entries:
            self.task_tree.select_execution(execution.id)
            self._show_execution(execution.id)
        self.notify(f"Queued {name}", timeout=2)

    def _warn_frontend_defects(self, name: str, defects: list[str]) -> None:
        """Runs go as the web UI would send them; say where that differs from what the graph shows."""
        if not defects:
            return
        lines = [LogLine(_now(), "warning", f"{name}: the web UI's conversion differs from the graph here:")]
        lines.extend(LogLine(_now(), "warning", f"  {defect}") for defect in defects)
        lines.append(
            LogLine(
                _now(), "warning", "  set correct_frontend_defects = true in the config to run it as drawn"
            )
        )
        self._write_log(lines)
        self.notify(
            f"{name}: {len(defects)} difference(s) from the graph, as in the web UI (see the log); "
            "correct_frontend_defects = true runs it as drawn",
            severity="warning",
            timeout=10,
        )

    def _show_rejected(self, entry: ExecutionEntry, message: str | None = None) -> None:
        tree = self.task_tree
        tree.update_entries([entry])
        tree.select_execution(entry.id)
        self._show_execution(entry.id)
        self.notify(
            message or f"The server refused {entry.title}; see the errors per node.",
            severity="error",
            timeout=8,
        )

    def _selected_entry(self) -> ExecutionEntry | None:
        entry = self.session.get(self.task_tree.selected_execution_id)
        if entry is None:
            self.notify("No execution selected. Pick one in the Executions pane.", severity="warning")
        return entry

    def action_cancel(self) -> None:
        entry = self._selected_entry()
        if entry is None:
            return
        if entry.rejected or entry.status.is_final:
            self.notify(f"{entry.title} is already {entry.state_key}; nothing to cancel.", severity="warning")
            return
        runtime = self._require_runtime()
        if runtime is None:
            return
        self._cancel(runtime, entry.id)

    @work(group="actions", exit_on_error=False)
    async def _cancel(self, runtime: Any, execution_id: str) -> None:
        execution = runtime.executions.get(execution_id)
        if execution is None:
            self.notify("That execution is no longer tracked by the runtime.", severity="warning")
            return
        was = "interrupt" if execution.status is TaskStatus.RUNNING else "removal from the queue"
        try:
            await runtime.cancel(execution)
        except ComfyError as exc:
            self.notify(f"Cancel failed: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Requested {was} of {execution.name}", timeout=2)

    def action_retry(self) -> None:
        entry = self._selected_entry()
        if entry is None:
            return
        if entry.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            self.notify(
                f"Only failed or cancelled runs can be retried; {entry.title} is {entry.state_key}.",
                severity="warning",
            )
            return
        runtime = self._require_runtime()
        if runtime is None:
            return
        self._retry(runtime, entry)

    @work(group="actions", exit_on_error=False)
    async def _retry(self, runtime: Any, entry: ExecutionEntry) -> None:
        if entry.rejected:
            await self.submit_prompt(
                entry.execution.prompt, name=entry.title, workflow_id=entry.execution.workflow_id
            )
            return
        execution = runtime.executions.get(entry.id)
        if execution is None:
            self.notify("That execution is no longer tracked by the runtime.", severity="warning")
            return
        try:
            new = await runtime.retry(execution)
        except PromptValidationError as exc:
            self._show_rejected(
                self.session.add_rejected(
                    entry.title, entry.execution.workflow_id, entry.execution.prompt, exc
                )
            )
            return
        except ComfyError as exc:
            self.notify(f"Retry failed: {exc}", severity="error", timeout=8)
            return
        self._select_on_arrival = new.id
        if new.id in self.session.entries:
            self.task_tree.select_execution(new.id)
            self._show_execution(new.id)
        self.notify(f"Retrying {entry.title}", timeout=2)

    def action_save_outputs(self) -> None:
        entry = self._selected_entry()
        if entry is None:
            return
        files = entry.execution.output_files
        if not files:
            self.notify(f"{entry.title} has no output files (yet).", severity="warning")
            return
        default = self.settings.output_dir or paths.default_output_dir()

        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self._save_outputs(entry.id, folder)

        self.push_screen(SaveOutputsScreen(len(files), default), chosen)

    @work(group="actions", exit_on_error=False)
    async def _save_outputs(self, execution_id: str, folder: Path) -> None:
        runtime = self._require_runtime()
        if runtime is None:
            return
        execution: WorkflowExecution | None = runtime.executions.get(execution_id)
        if execution is None:
            return
        written = 0
        refused: list[str] = []
        for file in execution.output_files:
            # Server names are untrusted: checked (off the loop) before anything is fetched.
            try:
                await asyncio.to_thread(safe_output_path, folder, file.filename, file.subfolder)
            except UnsafeOutputPathError as exc:
                refused.append(exc.reason)
                continue
            one = execution.model_copy(update={"output_files": [file]})
            try:
                paths_written = await save_outputs(runtime, one, folder, types=[file.type])
            except (ComfyError, OSError) as exc:
                self.notify(f"Saving {file.filename} failed: {exc}", severity="error", timeout=10)
                return
            for path in paths_written:
                self.output_sizes[output_key(file)] = (await asyncio.to_thread(path.stat)).st_size
                written += 1
        message = f"Saved {written} file(s) to {folder}"
        if refused:
            message += f"; refused {len(refused)} unsafe name(s): {refused[0]}"
        self.notify(message, severity="warning" if refused else "information", timeout=6)
        self._write_log([LogLine(_now(), "warning" if refused else "info", message)])
        if self._selected_execution == execution_id:
            self._show_execution(execution_id)

    def action_toggle_log(self) -> None:
        pane = self.log_pane
        pane.toggle_class("hidden")
        if pane.has_class("hidden") and pane.has_focus:
            self.browser.option_list.focus()

    def action_filter(self) -> None:
        self.browser.start_filter()

    def action_reconnect(self) -> None:
        self._scan_local()
        runtime = self.runtime
        if runtime is None or self.runtime_worker_stopped():
            if self.connect:
                self.notify(f"Connecting to {self.server_url}…", timeout=2)
                self._start_runtime()
            return
        if runtime.status.state is ConnectionState.CONNECTED:
            self._refresh_server_side()
            self.notify("Refreshed workflows and server info", timeout=2)
            return
        runtime.reconnect_now()
        self.notify(f"Retrying {self.server_url} now…", timeout=2)

    def runtime_worker_stopped(self) -> bool:
        workers = [w for w in self.workers if w.group == "runtime"]
        return not workers or all(w.is_finished for w in workers)

    def action_history(self) -> None:
        if self.journal is None:
            self.notify(
                self.journal_note or "The execution journal is still opening; try again in a moment.",
                severity="warning",
                timeout=8,
            )
            return
        from .screens.history import HistoryScreen  # loaded on first use: faster start-up

        self.push_screen(HistoryScreen(self.journal, tz=self.log_timezone, images=self.images))

    def action_help(self) -> None:
        focused = self.focused
        pane_help = None
        node: Widget | None = focused
        while node is not None:
            if getattr(type(node), "HELP", None):
                pane_help = type(node).HELP
                break
            node = node.parent if isinstance(node.parent, Widget) else None
        pane_keys: list[tuple[str, str, str]] = []
        global_keys: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for active in self.active_bindings.values():
            binding = active.binding
            ident = binding.id or binding.action
            if ident in seen or not binding.description:
                continue
            seen.add(ident)
            row = (self.get_key_display(binding), binding.description, ident)
            (global_keys if active.node is self else pane_keys).append(row)
        from .screens.help import HelpScreen  # loaded on first use (Markdown): faster start-up

        self.push_screen(HelpScreen(pane_help, pane_keys, global_keys))

    async def action_quit(self) -> None:
        active = self.session.active()
        if not active or isinstance(self.screen, ConfirmQuitScreen):
            self.exit()
            return

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        self.push_screen(ConfirmQuitScreen([e.title for e in active]), answered)

    def action_edit(self) -> None:
        workflow = self.browser.highlighted
        if workflow is None:
            self.notify("No workflow highlighted.", severity="warning")
            return
        if workflow.error:
            self.notify(f"{workflow.name} cannot be edited: {workflow.error}", severity="error")
            return
        if self.object_info is None:
            self.notify(
                "The form needs the server's node catalogue (/object_info); connect to the server first.",
                severity="warning",
            )
            return
        self._open_form(workflow)

    @work(group="actions", exit_on_error=False)
    async def _open_form(self, workflow: WorkflowFile) -> None:
        object_info = self.object_info
        assert object_info is not None
        try:
            data = await asyncio.to_thread(read_json_file, workflow.path)
            prompt = load_prompt(
                data, object_info, correct_frontend_defects=self.settings.correct_frontend_defects
            )
        except ComfyError as exc:
            self.notify(f"Cannot open {workflow.name}: {exc}", severity="error", timeout=10)
            return

        from .screens.input_form import InputFormScreen  # loaded on first use: faster start-up

        def done(result: FormResult | None) -> None:
            if result is not None:
                self._form_done(workflow, result)

        self.push_screen(InputFormScreen(workflow, prompt, object_info), done)

    def _form_done(self, workflow: WorkflowFile, result: FormResult) -> None:
        if result.action == "run":
            if self._require_runtime() is not None:
                self._submit_edited(result.prompt, f"{workflow.name} (edited)", str(workflow.path))
            return
        if result.action == "save_local":
            folder = paths.user_workflows_dir()

            def check_local(name: str) -> str | None:
                try:
                    safe_filename(name)
                except ComfyError as exc:
                    return str(exc)
                return None

            def save_local(name: str | None) -> None:
                if name:
                    self._save_local(result.prompt, name)

            self.push_screen(
                NamePromptScreen(
                    f"Save as a new workflow in {folder}", f"{workflow.name}-edited", check_local
                ),
                save_local,
            )
            return
        if self._require_runtime() is None:
            return

        def check_server(name: str) -> str | None:
            try:
                workflow_userdata_path(name)
            except ComfyError as exc:
                return str(exc)
            return None

        def save_server(name: str | None) -> None:
            if name:
                self._save_server(result.prompt, name)

        self.push_screen(
            NamePromptScreen("Save to the server's workflows as", f"{workflow.name}-edited", check_server),
            save_server,
        )

    @work(group="actions", exit_on_error=False)
    async def _submit_edited(self, prompt: dict[str, Any], name: str, workflow_id: str) -> None:
        await self.submit_prompt(prompt, name=name, workflow_id=workflow_id)

    @work(group="actions", exit_on_error=False)
    async def _save_local(self, prompt: dict[str, Any], name: str) -> None:
        try:
            target = await asyncio.to_thread(save_workflow, prompt, paths.user_workflows_dir(), name)
        except (ComfyError, OSError) as exc:
            self.notify(f"Not saved: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Saved {target.name} in your workflows", timeout=4)
        self._scan_local()

    @work(group="actions", exit_on_error=False)
    async def _save_server(self, prompt: dict[str, Any], name: str) -> None:
        runtime = self._require_runtime()
        if runtime is None:
            return
        path = workflow_userdata_path(name)
        body = json.dumps(prompt, indent=2, ensure_ascii=False).encode()
        try:
            await runtime.client.put_userdata(path, body, overwrite=False)
        except ComfyError as exc:
            self.notify(f"Not saved on the server: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Saved {path} on the server", timeout=4)
        await self._fetch_server_workflows(runtime)


# ---------------------------------------------------------------------- helpers
def snapshot_batch(runtime: Any, events: list[TaskEvent]) -> TaskEventsBatch:
    """Copies of the tasks and executions a batch of events touched, taken on the worker side."""
    manager = runtime.task_manager
    tasks: dict[str, Task] = {}
    executions: dict[str, WorkflowExecution] = {}
    live: dict[str, WorkflowExecution] = runtime.executions
    for event in events:
        if event.task_id in tasks:
            continue
        task = manager.get_task(event.task_id)
        if task is None:
            continue
        tasks[task.id] = task.model_copy()
        workflow_task = task if task.type is TaskType.WORKFLOW else manager.get_task(task.parent_id or "")
        if workflow_task is None:
            continue
        if workflow_task.id not in tasks:
            tasks[workflow_task.id] = workflow_task.model_copy()
        execution_id = workflow_task.metadata.get("execution_id")
        execution = live.get(execution_id) if execution_id else None
        if execution is not None and execution.id not in executions:
            executions[execution.id] = execution.model_copy(update={"tasks": []})
    return TaskEventsBatch(events, tasks, executions)


_EVENT_LEVEL = {"failed": "error", "cancelled": "warning"}


def event_log_line(event: TaskEvent) -> LogLine | None:
    """Lifecycle events become log lines; progress stays in the progress widgets."""
    if event.event_type not in LIFECYCLE_EVENTS:
        return None
    if event.event_type == "created" and event.task_type is TaskType.NODE:
        return None
    text = event.message or f"{event.event_type} {event.task_id}"
    return LogLine(event.timestamp, _EVENT_LEVEL.get(event.event_type, "info"), text)


def unknown_node_types(prompt: dict[str, Any], object_info: ObjectInfo | None) -> list[str]:
    """``Type (node 2)`` for each node whose class the server does not list; none without a catalogue."""
    if object_info is None:
        return []
    return [
        f"{node.get('class_type')} (node {node_id})"
        for node_id, node in prompt.items()
        if isinstance(node, dict) and node.get("class_type") not in object_info
    ]


def _mirror_server_workflows(
    folder: Path, blobs: list[tuple[str, bytes]], object_info: ObjectInfo | None
) -> list[WorkflowFile]:
    """Copy server-saved workflows into a cache folder (names sanitized) and scan it like any other."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):
        stale.unlink(missing_ok=True)
    for name, data in blobs:
        try:
            target = folder / safe_filename(name.replace("/", "_"))
        except ComfyError:
            continue
        target.write_bytes(data)
    return scan_workflows([(SERVER_SOURCE, folder)], object_info=object_info)


def _url_key(url: str) -> str:
    return hashlib.sha256(url.rstrip("/").lower().encode()).hexdigest()[:16]


def _now() -> datetime:
    return fmt.now()
