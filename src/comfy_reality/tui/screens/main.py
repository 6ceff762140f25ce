"""The main screen: the panes, their handlers and the actions on what they show.

Workflows (what you can run) and executions (what ran) on the left, the details of the one in
use on the right, the log below. The app hands this screen what the backend reports (task
batches, server status); the panes' own messages are handled here.
"""

from __future__ import annotations

import asyncio
from datetime import tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import Reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from ... import workflows as wf  # its modules load on first use, not with the first frame
from ...errors import ComfyError, PromptValidationError, UnsafeOutputPathError
from ...runtime.kinds import ConnectionState, TaskStatus
from .. import format as fmt
from ..backend import AppRuntime, Backend, event_log_line
from ..burst_keys import moves_focus, turn_waits_for_job
from ..dirty_lines import DirtyLinesCompositor
from ..gc_tuning import collect_when_quiet, freeze_long_lived
from ..images import ImageSupport
from ..library import WorkflowLibrary
from ..log_order import LOG_SETTLE, LogOrder
from ..messages import LogLine, TaskEventsBatch
from ..state import ExecutionEntry, SessionEntry, SessionState
from ..widgets import LogPane, StatusBar, TaskTree, WorkflowBrowser, WorkflowPreview
from ..widgets.steady_footer import SteadyFooter
from ..widgets.workflow_browser import workflow_nodes
from . import main_keys
from .first_resume import resume_without_restyle
from .main_focus import PaneLight
from .main_size import LogFit, fit_to_size
from .selected_execution import SelectedExecutionScreen

if TYPE_CHECKING:
    from ...runtime.models import ServerStatus, WorkflowExecution
    from ...workflows import WorkflowFile
    from ..widgets.execution_filter import ExecutionFilter
    from ..widgets.execution_view import ExecutionView, OutputKey
    from .input_form import FormResult


class MainScreen(SelectedExecutionScreen):
    """Queue, watch, cancel and retry workflows: the screen the app opens on."""

    BINDINGS = [
        Binding("ctrl+q", "app.quit", "Quit", id="quit"),
        Binding("r", "run", "Run", id="run"),
        Binding("R", "run_outputs", "Run selected outputs", id="run_outputs"),
        Binding("x", "cancel", "Cancel", id="cancel"),
        Binding("t", "retry", "Retry", id="retry"),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("o", "save_outputs", "Save", id="save_outputs"),
        Binding("l", "toggle_log", "Log", id="toggle_log"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("f1", "help", "Help", show=False, id="help.f1"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("f5", "reconnect", "Reconnect", id="reconnect"),
        Binding("h", "history", "History", id="history"),
        Binding("y", "copy_prompt_id", "Copy id", id="copy.prompt_id"),
        Binding("Y", "copy_error", "Copy error", id="copy.error"),
        Binding("p", "copy_output_path", "Copy path", id="copy.output_path"),
        Binding("s", "servers", "Servers", show=False, id="servers"),
        Binding("q", "server_queue", "Queue", show=False, id="server_queue"),
        Binding("H", "server_history", "Server history", show=False, id="server_history"),
    ]
    GLOBAL_BINDING_IDS = frozenset(b.id for b in BINDINGS if isinstance(b, Binding))
    """The help lists these among the keys that work everywhere on this screen."""

    _tasks_box: Vertical
    _detail: Vertical
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    """As Screen's, without repainting the whole screen on every Tab: the panes restyle themselves."""

    class Ready(Message):
        """The panes are mounted: what the backend reports can be shown from now on."""

    def __init__(
        self,
        backend: Backend,
        library: WorkflowLibrary,
        session: SessionState,
        *,
        log_timezone: tzinfo | None = None,
        images: ImageSupport | None = None,
        log_settle: float = LOG_SETTLE,
        freeze_long_lived: bool = False,
        defer_execution_view: bool = False,
    ) -> None:
        super().__init__()
        # Frames redraw the lines that changed, not every pane around them (see dirty_lines).
        self._compositor = self._dirty_lines = DirtyLinesCompositor()
        self.freeze_long_lived = freeze_long_lived
        self.images = images
        self.backend = backend
        self.library = library
        self.session = session
        self.log_timezone = log_timezone
        self.output_sizes: dict[OutputKey, int] = {}
        """Sizes of the outputs saved this session, shown beside each file."""
        self.saved_paths: dict[OutputKey, Path] = {}
        """Where each output saved this session was written (p copies it)."""
        self._select_on_arrival: str | None = None
        self._selected_execution: str | None = None
        self._detail_mode = "workflow"
        self._highlighted_path: Path | None = None
        self._last_state: ConnectionState | None = None
        self._preview_cache: dict[Path, list[tuple[str, str, str | None]]] = {}
        self.log_order = LogOrder(log_settle)
        self._log_timer: Timer | None = None
        self.too_small: Static | None = None
        """The notice shown instead of the panes in a terminal too small for them (built when first needed)."""
        self._resumed = False
        self._execution_view_mounted = not defer_execution_view
        """False until :meth:`mount_hidden_panes` has mounted the execution view (when deferred: the
        first frame in a terminal, settings still pending, has no use for it)."""
        self._execution_view: ExecutionView | None = None
        self._tasks_filter: ExecutionFilter | None = None

    # ------------------------------------------------------------------ layout
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Off while a dialog or the form is on top: the footer behind it offers none of these.
        # (Not yet on the stack: composing, the first frame's footer is being built.)
        if not self.is_active and self in self.app.screen_stack:
            return False
        if action == "filter":
            # Only the two lists have a filter.
            return self._focused_pane() in ("workflows", "tasks")
        return True

    def _focused_pane(self) -> str | None:
        if self.focused is None and not self.is_mounted:
            return (
                "workflows"  # composing: the list gets the focus on mount, so the first frame shows its keys
            )
        return main_keys.focused_pane(self.focused)

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """Ordered for the footer by :func:`main_keys.footer_order` (``?``, this pane's keys, History, Quit)."""
        return main_keys.footer_order(super().active_bindings, self._focused_pane(), self.app)

    def compose(self) -> ComposeResult:
        # Kept as attributes: the handlers (and the app) reach the panes directly, with no query per update.
        # What the first frame does not show is built here but mounted later (the filters by their first /,
        # the execution view by mount_hidden_panes): each widget mounted before the first frame is styled,
        # composed and restyled as the screen resumes before that frame.
        titles = self.library.source_titles
        notice = fit_to_size(self, self.app.size)  # the first frame laid out for this width
        self.status_bar = StatusBar(self.backend.shown_server_url, demo=self.backend.demo, id="status-bar")
        self.browser = WorkflowBrowser(titles, id="workflows")
        self.browser.border_title = "Workflows"
        self.task_tree = TaskTree(id="tasks")
        self.task_tree.border_title = "Executions"
        self.preview = WorkflowPreview(titles, id="preview")
        self.preview.border_title = "Workflow"
        self.log_pane = LogPane(id="log")
        self.log_pane.tz = self.log_timezone
        self.log_pane.border_title = "Log"
        self.log_fit = LogFit(self.log_pane, self.app.size.height, lambda: self.browser.option_list.focus())
        self._pane_light = PaneLight(self.browser, self.preview)  # and the execution view once mounted
        yield self.status_bar
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield self.browser
                with Vertical(id="tasks-box") as self._tasks_box:
                    yield self.task_tree
            with Vertical(id="detail") as self._detail:
                yield self.preview
                if self._execution_view_mounted:
                    yield self._pane_light.add(self.execution_view)
        yield self.log_pane
        yield SteadyFooter(show_command_palette=False)
        if notice is not None:
            yield self._too_small_notice(notice)

    def _too_small_notice(self, text: str) -> Static:
        """The too-small sentence, built when the terminal is first too small (most sessions never are)."""
        if self.too_small is None:
            self.too_small = Static(text, id="too-small")
        else:
            self.too_small.update(text)
        return self.too_small

    def on_resize(self, event: events.Resize) -> None:
        notice = fit_to_size(self, event.size)
        self.log_fit.fit(event.size.height)
        if notice is not None and self.too_small is None:
            self.mount(self._too_small_notice(notice))
        elif notice is not None:
            self._too_small_notice(notice)
        if event.size == self._compositor.size:
            # Textual sends the screen its size again after it first lays out (from the app's resize, its
            # idle check and the first layout: three in all); each would lay out the same screen again.
            event.prevent_default()

    async def mount_hidden_panes(self) -> None:
        """The execution view, hidden until an execution is shown, when its mount was deferred: the app
        mounts it once the first frame and a key typed with it are drawn, before the backend starts
        (its batches, previews and the tick are shown there)."""
        if self._execution_view_mounted:
            return
        await self._detail.mount(self._pane_light.add(self.execution_view))
        self._execution_view_mounted = True
        if self._detail_mode == "execution" and self._selected_execution is not None:
            self._show_execution(self._selected_execution)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        if not self._resumed:  # every widget was styled as it mounted, just before (see first_resume)
            self._resumed = True
            resume_without_restyle(self, event)

    def on_mount(self) -> None:
        self.browser.option_list.focus()
        self.watch(self.task_tree, "cursor_line", self._tree_cursor_moved, init=False)
        self.set_interval(1.0, self._tick)
        if self.freeze_long_lived:  # full garbage collections wait for a moment without frames
            self._dirty_lines.on_frame = collect_when_quiet(self).frame_drawn
        # Paint first: the cached node catalogue and the local files are read after the first frame.
        self.call_after_refresh(self._load_library)
        self.post_message(self.Ready())

    def _load_library(self) -> None:
        self.backend.run_job(self._read_library, name="_read_library", group="scan", exclusive=True)

    async def _read_library(self) -> None:
        await self.backend.wait_for_settings()  # the config file's folders are listed from the first scan
        await self.library.load_cached_object_info(self.backend.server_url)
        await self._scan_local()

    def _tick(self) -> None:
        self.task_tree.refresh_running()
        if self._execution_view_mounted:
            self.execution_view.tick()

    def write_log(self, lines: list[LogLine]) -> None:
        """Lines go out in time order once settled (see :mod:`..log_order`); at once when settle is 0."""
        self.log_order.add(lines)
        if self.log_order.settle <= 0:
            self._flush_log()
        elif self._log_timer is None:
            self._log_timer = self.set_interval(0.1, self._flush_log)

    def _flush_log(self) -> None:
        lines = self.log_order.due()
        if lines:
            self.log_pane.add_lines(lines)
        if not self.log_order.waiting and self._log_timer is not None:
            self._log_timer.stop()
            self._log_timer = None

    # ------------------------------------------------------ what the backend reports
    def apply_batch(self, message: TaskEventsBatch) -> None:
        """Fold one frame's task snapshots into the session and redraw what changed."""
        changed = self.session.apply(message.tasks, message.executions)
        entries = [
            self.session.entries[i] for i in sorted(changed, key=self._order) if i in self.session.entries
        ]
        tree = self.task_tree
        tree.update_entries(entries)
        forgotten = self.session.forget_oldest_finished()
        if forgotten:
            tree.remove_entries(forgotten)
        self.compact_session()
        if self._select_on_arrival in changed:
            tree.select_execution(self._select_on_arrival)
            self._show_execution(self._select_on_arrival)
            self._select_on_arrival = None
        elif self._selected_execution in changed:
            self._show_execution(self._selected_execution)
        lines = [line for e in message.events if (line := event_log_line(e)) is not None]
        if lines:
            self.write_log(lines)

    def _order(self, execution_id: str) -> float:
        entry = self.session.entries.get(execution_id)
        return entry.created_at.timestamp() if entry else 0.0

    def show_server_status(self, status: ServerStatus) -> None:
        """The status bar and, on a change of state, the log; on connecting, what the server holds."""
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
            self.write_log([LogLine(fmt.now(), level, f"server {status.url} {status.state.value}{reason}")])
        self._last_state = status.state
        if became_connected:
            self.refresh_server_side()
            self.backend.reconcile_once()

    def show_system_stats(self, stats: dict[str, Any]) -> None:
        self.status_bar.stats = stats

    def show_servers(self, rows: list[dict[str, Any]]) -> None:
        """A pool's servers: chips in the status bar, and the Servers screen if it is open."""
        self.status_bar.servers = rows
        self.backend.reconcile_once()  # a pool's server that just connected: its journal entries
        from .servers import ServersScreen

        for screen in self.app.screen_stack:
            if isinstance(screen, ServersScreen):
                screen.update_rows(rows)

    def action_servers(self) -> None:
        from .servers import open_servers

        open_servers(self)

    # ---------------------------------------------------------- panes' messages
    @on(TaskTree.ExecutionSelected)
    def _execution_selected(self, message: TaskTree.ExecutionSelected) -> None:
        if message.execution_id is not None:
            self._show_execution(message.execution_id)

    def _tree_cursor_moved(self) -> None:
        """The detail pane follows the tree's cursor as it moves, not on the message that follows.

        Through the message, a frame showed the cursor moved and the pane followed a frame
        interval later; now both change in one frame (ExecutionSelected then finds it shown).
        """
        execution_id = self.task_tree.selected_execution_id
        if execution_id is not None and (
            execution_id != self._selected_execution or self._detail_mode != "execution"
        ):
            self._show_execution(execution_id)

    @on(WorkflowBrowser.WorkflowHighlighted)
    def _workflow_highlighted(self, message: WorkflowBrowser.WorkflowHighlighted) -> None:
        # A rescan re-announces the same workflow; only a real cursor move takes the detail pane back.
        path = message.workflow.path if message.workflow else None
        moved = path != self._highlighted_path
        self._highlighted_path = path
        if self._detail_mode == "workflow" or (moved and self.browser.has_focus_within):
            self._show_workflow(message.workflow)

    def _watch_focused(self) -> None:
        """The detail pane follows the pane in use: workflow preview or execution details.

        Switched as the focus moves, not on the DescendantFocus message that follows: the
        focus and the detail pane then change in one layout and one frame, not two.
        """
        super()._watch_focused()  # type: ignore[no-untyped-call]
        widget = self.focused
        self._pane_light.follow(widget)
        if widget is None or not self.is_mounted:
            return
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
        if not self._execution_view_mounted:
            return  # shown as soon as it is (mount_hidden_panes)
        view = self.execution_view
        self.preview.display, view.display = False, True
        view.show(self.entry_to_show(execution_id), self.output_sizes)

    def _show_workflow(self, workflow: WorkflowFile | None) -> None:
        self._detail_mode = "workflow"
        preview = self.preview
        if self._execution_view is not None:
            self._execution_view.display = False
        preview.display = True
        if workflow is None or workflow.error:
            preview.show(workflow, None)
            return
        nodes = self._preview_cache.get(workflow.path)
        preview.show(workflow, nodes)
        if nodes is None:
            self.backend.run_job(
                partial(self._load_preview, workflow), name="_load_preview", group="preview", exclusive=True
            )

    async def _load_preview(self, workflow: WorkflowFile) -> None:
        try:
            data = await self.library.read(workflow)
        except ComfyError as exc:
            self.preview.show(workflow.model_copy(update={"error": str(exc)}), None)
            return
        nodes = workflow_nodes(data)
        self._preview_cache[workflow.path] = nodes
        highlighted = self.browser.highlighted
        if self._detail_mode == "workflow" and highlighted is not None and highlighted.path == workflow.path:
            self.preview.show(workflow, nodes)

    # ---------------------------------------------------------------- workflows
    def scan_local(self) -> None:
        self.backend.run_job(self._scan_local, name="_scan_local", group="scan", exclusive=True)

    async def _scan_local(self) -> None:
        await self.library.scan_local()
        self._preview_cache.clear()
        self._publish_workflows()

    def _publish_workflows(self) -> None:
        self.browser.set_files(self.library.files, self.library.server_note)

    def refresh_server_side(self) -> None:
        self.backend.run_job(
            self._refresh_server_side, name="_refresh_server_side", group="server-side", exclusive=True
        )

    async def _refresh_server_side(self) -> None:
        """Once connected: the node catalogue (for conversion and forms) and the server's saved workflows."""
        runtime = self.backend.runtime
        if runtime is None:
            return
        async with asyncio.TaskGroup() as group:
            group.create_task(self._fetch_object_info(runtime))
            group.create_task(self._fetch_server_workflows(runtime))
        await self.backend.post_system_stats()

    async def _fetch_object_info(self, runtime: AppRuntime) -> None:
        if await self.library.fetch_object_info(runtime):
            if self.freeze_long_lived:
                freeze_long_lived()  # the catalogue lives as long as the connection
            # Rescan so each workflow lists the node types this server lacks.
            self.scan_local()

    async def _fetch_server_workflows(self, runtime: AppRuntime) -> None:
        await self.library.fetch_server_workflows(runtime)
        self._publish_workflows()

    # -------------------------------------------------------------- run, cancel
    def action_run(self) -> None:
        workflow = self.browser.highlighted
        if workflow is None:
            self.notify("No workflow highlighted. Pick one in the Workflows pane first.", severity="warning")
            return
        self.run_workflow_file(workflow)

    def run_workflow_file(self, workflow: WorkflowFile) -> None:
        if workflow.error:
            self.notify(f"{workflow.name} cannot be run: {workflow.error}", severity="error", timeout=8)
            return
        if self.backend.connected_runtime() is None:
            return
        self.backend.run_job(
            partial(self._submit_workflow, workflow), name="_submit_workflow", group="actions"
        )

    @moves_focus  # the picker opens from a job: keys typed after R in a burst wait for it
    def action_run_outputs(self) -> None:
        """Run only some output nodes of the highlighted workflow: see :mod:`.run_outputs`."""
        from .run_outputs import pick_outputs

        workflow = self.browser.highlighted
        if workflow is None or workflow.error:
            self.action_run()  # says why it cannot
        elif self.backend.connected_runtime() is not None:
            pick = partial(pick_outputs, self, workflow)
            turn_waits_for_job(self.backend.run_job(pick, name="_pick_outputs", group="actions"))

    async def _submit_workflow(self, workflow: WorkflowFile) -> None:
        prompt = await self._prepare_prompt(workflow)
        if prompt is not None:
            await self.submit_prompt(prompt, name=workflow.name, workflow_id=str(workflow.path))

    async def _prepare_prompt(self, workflow: WorkflowFile) -> dict[str, Any] | None:
        """The API prompt of a workflow (UI format converted); problems become a rejected entry."""
        runtime = self.backend.runtime
        if self.library.object_info is None and runtime is not None:
            # r pressed right after connecting: fetch the catalogue now instead of refusing the run.
            await self.library.fetch_object_info(runtime)
        object_info = self.library.object_info
        correct = self.settings.correct_frontend_defects
        try:
            data = await self.library.read(workflow)
            prepared = wf.prepare_workflow(data, object_info, correct_frontend_defects=correct)
            self._warn_frontend_defects(workflow.name, prepared.web_ui_defects)
            prepared.require_known_node_types()
        except ComfyError as exc:
            entry = self.session.add_rejected(workflow.name, str(workflow.path), {}, exc)
            self.show_rejected(entry, f"Cannot run {workflow.name}: {exc}")
            self.write_log([LogLine(fmt.now(), "error", f"cannot run {workflow.name}: {exc}")])
            return None
        return prepared.prompt

    async def submit_prompt(
        self,
        prompt: dict[str, Any],
        *,
        name: str,
        workflow_id: str,
        partial_execution_targets: list[str] | None = None,
    ) -> None:
        """Queue a prompt; a refusal by the server becomes a 'rejected' branch with every node's errors."""
        runtime = self.backend.connected_runtime()
        if runtime is None:
            return
        try:
            execution = await runtime.submit(
                prompt,
                name=name,
                workflow_id=workflow_id,
                extra_data=self.settings.prompt_extra_data() or None,
                partial_execution_targets=partial_execution_targets,
            )
        except PromptValidationError as exc:
            entry = self.session.add_rejected(name, workflow_id, prompt, exc)
            self.show_rejected(entry)
            self.write_log([LogLine(fmt.now(), "error", str(exc))])
            return
        except ComfyError as exc:
            self.notify(f"Cannot queue {name}: {exc}", severity="error", timeout=10)
            self.write_log([LogLine(fmt.now(), "error", f"cannot queue {name}: {exc}")])
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
        lines = [
            LogLine(fmt.now(), "warning", f"{name}: the web UI's conversion differs from the graph here:")
        ]
        lines.extend(LogLine(fmt.now(), "warning", f"  {defect}") for defect in defects)
        lines.append(
            LogLine(
                fmt.now(), "warning", "  set correct_frontend_defects = true in the config to run it as drawn"
            )
        )
        self.write_log(lines)
        self.notify(
            f"{name}: {len(defects)} difference(s) from the graph, as in the web UI (see the log); "
            "correct_frontend_defects = true runs it as drawn",
            severity="warning",
            timeout=10,
        )

    def show_rejected(self, entry: ExecutionEntry, message: str | None = None) -> None:
        """A submission the server (or the preparation) refused: its branch, selected, with the reasons."""
        tree = self.task_tree
        tree.update_entries([entry])
        tree.select_execution(entry.id)
        self._show_execution(entry.id)
        self.notify(
            message or f"The server refused {entry.title}; see the errors per node.",
            severity="error",
            timeout=8,
        )

    def _selected_entry(self) -> SessionEntry | None:
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
        runtime = self.backend.connected_runtime()
        if runtime is None:
            return
        self.backend.run_job(partial(self._cancel, runtime, entry.id), name="_cancel", group="actions")

    async def _cancel(self, runtime: AppRuntime, execution_id: str) -> None:
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
        runtime = self.backend.connected_runtime()
        if runtime is None:
            return
        self.backend.run_job(partial(self._retry, runtime, entry), name="_retry", group="actions")

    async def _retry(self, runtime: AppRuntime, selected: SessionEntry) -> None:
        entry = await self.whole_entry(selected)  # the prompt, read back if it was compacted
        if entry is None:
            return
        if entry.rejected:
            await self.submit_prompt(
                entry.execution.prompt, name=entry.title, workflow_id=entry.execution.workflow_id
            )
            return
        # The session holds the finished execution itself (prompt included) after the runtime let it go.
        execution = runtime.executions.get(entry.id) or entry.execution
        try:
            new = await runtime.retry(execution)
        except PromptValidationError as exc:
            self.show_rejected(
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

    # ---------------------------------------------------------------- outputs
    async def save_execution_outputs(self, execution: WorkflowExecution, folder: Path) -> None:
        """Download ``execution``'s output files (this session's, or one from History) into ``folder``."""
        runtime = self.backend.connected_runtime()
        if runtime is None:
            return
        from ...runtime.outputs import safe_output_path, save_outputs  # loaded on first use: faster start-up
        from ..widgets.execution_view import output_key

        execution_id = execution.id
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
                self.saved_paths[output_key(file)] = path
                written += 1
        message = f"Saved {written} file(s) to {folder}"
        if refused:
            message += f"; refused {len(refused)} unsafe name(s): {refused[0]}"
        self.notify(message, severity="warning" if refused else "information", timeout=6)
        self.write_log([LogLine(fmt.now(), "warning" if refused else "info", message)])
        if self._selected_execution == execution_id:
            self._show_execution(execution_id)

    # ------------------------------------------------------------ panes, server
    def action_toggle_log(self) -> None:
        self.log_fit.toggle()

    @moves_focus
    async def action_filter(self) -> None:
        if self._focused_pane() == "tasks":
            await self.tasks_filter.open(self._tasks_box)
        else:
            await self.browser.start_filter()

    def action_reconnect(self) -> None:
        self.scan_local()
        backend = self.backend
        runtime = backend.runtime
        if runtime is None or backend.runtime_worker_stopped():
            if backend.connect:
                self.notify(f"Connecting to {backend.server_url}…", timeout=2)
                backend.start_runtime()
            return
        if runtime.status.state is ConnectionState.CONNECTED:
            self.refresh_server_side()
            self.notify(
                f"Already connected to {backend.server_url}; refreshed the workflows and server info",
                timeout=3,
            )
            return
        runtime.reconnect_now()
        self.notify(f"Retrying {backend.server_url} now…", timeout=2)

    def action_history(self) -> None:
        journal = self.backend.journal
        if journal is None:
            self.notify(
                self.backend.journal_note or "The execution journal is still opening; try again in a moment.",
                severity="warning",
                timeout=8,
            )
            return
        from .journal_screen import JournalScreen  # loaded on first use: faster start-up

        self.app.push_screen(JournalScreen(journal, tz=self.log_timezone, images=self.images))

    def action_server_queue(self) -> None:
        """Every client's queue on the server, live (moves, deletes, clear)."""
        runtime = self.backend.connected_runtime()
        if runtime is None:
            return
        from .server_queue import QueueScreen  # loaded on first use: faster start-up

        self.app.push_screen(QueueScreen(runtime, self.backend.server_url))

    def action_server_history(self) -> None:
        """The server's own history (every client's finished prompts)."""
        runtime = self.backend.connected_runtime()
        if runtime is None:
            return
        from .server_history import ServerHistoryScreen  # loaded on first use: faster start-up

        self.app.push_screen(ServerHistoryScreen(runtime, self.backend.server_url, images=self.images))

    def open_prompt(self, prompt: dict[str, Any], name: str, *, save: bool = False) -> None:
        """A prompt from a history (journal or server) in the input form, values as they ran;
        ``save``: straight to "save as a local workflow"."""
        from .input_form import FormResult, InputFormScreen  # loaded on first use: faster start-up

        workflow = wf.WorkflowFile(
            path=Path("history.json"),
            name=name,
            source="history",
            format=wf.WorkflowFormat.API,
            node_count=len(prompt),
        )
        if save:
            self._form_done(workflow, FormResult("save_local", prompt, name), from_form=False)
            return
        object_info = self.library.object_info
        if object_info is None:
            self.notify(
                "The form needs the server's node catalogue (/object_info); connect to the server first.",
                severity="warning",
            )
            return

        def done(result: FormResult | None) -> None:
            if result is not None:
                self._form_done(workflow, result)

        self.app.push_screen(InputFormScreen(workflow, prompt, object_info), done)

    def action_help(self) -> None:
        pane_help = None
        node: Widget | None = self.focused
        while node is not None:
            if getattr(type(node), "HELP", None):
                pane_help = type(node).HELP
                break
            node = node.parent if isinstance(node.parent, Widget) else None
        pane_keys, global_keys = main_keys.help_rows(self.active_bindings, self.app, self.GLOBAL_BINDING_IDS)
        from .help import HelpScreen  # loaded on first use (Markdown): faster start-up
        from .journal_screen import JournalScreen

        panes = (self.browser, self.task_tree, self.execution_view, self.log_pane)
        others = [help_ for pane in panes if (help_ := getattr(type(pane), "HELP", None)) != pane_help]
        sections = main_keys.pane_sections(
            list(panes),
            self.active_bindings,
            self.app,
            main_keys.focused_pane(self.focused),
            JournalScreen.key_rows(self.app),
            frozenset(row[2] for row in global_keys),
        )
        self.app.push_screen(
            HelpScreen(pane_help, pane_keys, global_keys, [h for h in others if h], sections=sections)
        )
