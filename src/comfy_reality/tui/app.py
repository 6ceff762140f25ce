"""ComfyRealityApp: start-up, the screens, the commands, and the backend's news handed to the main screen.

The app owns three parts and wires them: the :class:`Backend` (runtime, event pump, journal),
the :class:`WorkflowLibrary` (local and server workflows) and the :class:`MainScreen` (panes,
handlers, actions). What the backend reports arrives here as messages and goes to the main
screen; every background job runs as a worker on the app, so one handler sees every failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from .. import paths, startup
from ..config_sources import PendingSettings
from ..errors import ConfigError
from . import format as fmt
from .backend import FRAME_INTERVAL, STATS_INTERVAL, AppRuntime, Backend, RuntimeFactory, load_off_loop
from .burst_keys import BurstKeysApp
from .gc_tuning import FREEZE_AFTER, freeze_long_lived, thaw
from .images import ImageSupport, resolve_renderer
from .library import WorkflowLibrary
from .log_order import LOG_SETTLE
from .logtap import LogTap
from .messages import (
    LogLine,
    PreviewArrived,
    RerunRequested,
    ServersChanged,
    ServerStatusChanged,
    SystemStatsUpdated,
    TaskEventsBatch,
)
from .safe_app import SafeTextApp
from .screens.main import MainScreen
from .state import SessionState
from .widgets import LogPane, TaskTree, WorkflowBrowser

if TYPE_CHECKING:
    from textual.command import Provider

    # Named in annotations only: the settings model (pydantic), the journal (SQLite) and the workflow
    # modules load after the first frame.
    from ..config import Settings
    from ..journal import Journal, ReconcileReport
    from ..workflows import ObjectInfo, WorkflowFile


def _comfy_commands() -> type[Provider]:
    """The palette's own commands, loaded when the palette first opens (Textual takes a callable)."""
    from .commands import ComfyCommands

    return ComfyCommands


class ComfyRealityApp(BurstKeysApp[None], SafeTextApp[None]):
    """Queue, watch, cancel and retry ComfyUI workflows."""

    CSS_PATH = "app.tcss"
    TITLE = "ComfyReality"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    COMMANDS = App.COMMANDS | {_comfy_commands}
    ENABLE_COMMAND_PALETTE = True

    # Keys that work on every screen; the main screen's own keys are in MainScreen.BINDINGS.
    BINDINGS = [
        Binding("tab", "focus_next", "Pane", id="focus_next"),
        Binding("shift+tab", "focus_previous", "Prev pane", show=False, id="focus_previous"),
        Binding("ctrl+p", "command_palette", "Palette", id="command_palette"),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ]

    main_screen: MainScreen
    """The panes and their actions; set once the app is mounted."""

    def __init__(
        self,
        settings: Settings | PendingSettings | None = None,
        *,
        workflow_dirs: list[Path] | None = None,
        demo: bool = False,
        demo_data_dir: Path | None = None,
        connect: bool = True,
        runtime_factory: RuntimeFactory | None = None,
        bundled_dir: Path | None = None,
        frame_interval: float = FRAME_INTERVAL,
        stats_interval: float = STATS_INTERVAL,
        log_tap: LogTap | None = None,
        journal_path: Path | None = None,
        use_journal: bool = True,
        log_settle: float = LOG_SETTLE,
        demo_servers: int = 1,
        freeze_long_lived: bool = False,
    ) -> None:
        super().__init__()
        self.freeze_long_lived = freeze_long_lived
        """Exempt start-up objects from full garbage collections (see :mod:`.gc_tuning`); off in tests."""
        if isinstance(settings, PendingSettings) and settings.first_frame is None:
            settings = settings.validate()  # nothing to draw the first frame from without the model
        self._pending = settings if isinstance(settings, PendingSettings) else None
        """The sources ``comfy-reality-tui`` read, validated once the first frame is up (see :attr:`settings`)."""
        self._settings: Settings | None = None
        if settings is None:
            from ..config import Settings

            settings = Settings()
        if not isinstance(settings, PendingSettings):
            self._settings = settings
        first = self._pending.first_frame if self._pending is not None else self._settings
        assert first is not None
        self.config_error: str | None = None
        """Why the settings did not validate (the app then stops with exit code 2), or None."""
        self._workflow_dirs = [*(workflow_dirs or [])]
        self._bundled_dir = bundled_dir
        self.log_tap = log_tap
        self.log_settle = log_settle
        """How long log lines wait for earlier ones still on their way (0: written at once, for scenes)."""
        self.session = SessionState()
        """This session's executions as the screen knows them (filled from the backend's batches)."""
        self.frames = 0
        """Task batches handled so far (one per frame at most)."""
        self.log_timezone: tzinfo | None = None
        """Time zone of the log and history times; None: local time."""
        self.backend = Backend(
            self,
            self._settings if self._settings is not None else (lambda: self.settings),
            write_log=self.write_log,
            demo=demo,
            demo_data_dir=demo_data_dir,
            connect=connect,
            runtime_factory=runtime_factory,
            frame_interval=frame_interval,
            stats_interval=stats_interval,
            journal_path=journal_path,
            use_journal=use_journal,
            demo_servers=demo_servers,
            shown_url=self._pending.first_frame.server_url
            if self._pending and self._pending.first_frame
            else None,
        )
        self.images = ImageSupport(resolve_renderer(first.images), fetch_output=self.backend.fetch_output)
        """Pictures: "auto" is resolved before Textual starts; without a terminal it is off."""
        self.backend.previews_wanted = self.images.enabled
        # The config file's folders join the list once the settings are validated (before the first scan).
        config_dirs = self._settings.workflow_dirs if self._settings is not None else []
        self.library = WorkflowLibrary(self._library_sources(config_dirs))
        if first.keymap:  # checked by the model's own rule (config_sources.check_keymap)
            self.set_keymap(first.keymap)

    def _library_sources(self, config_dirs: list[Path]) -> list[tuple[str, Path]]:
        """The bundled workflows, the user's, then the config file's folders and the ``--workflows`` ones."""
        extra = [*config_dirs, *self._workflow_dirs]
        return [
            ("bundled", self._bundled_dir or paths.bundled_workflows_dir()),
            ("user", paths.user_workflows_dir()),
            *((f"dir:{d}", Path(d).expanduser()) for d in dict.fromkeys(extra)),
        ]

    @property
    def settings(self) -> Settings:
        """The validated settings. Started from pending sources (``comfy-reality-tui``), the app validates
        them right after its first frame, or at the first use of one of their values if that comes first;
        invalid, the app stops with exit code 2 and :attr:`config_error` says why."""
        if self._settings is None:
            assert self._pending is not None
            try:
                settings = self._pending.validate()
            except ConfigError as exc:
                self.config_error = str(exc)
                self.exit(return_code=2)
                raise
            startup.guard_secrets(settings)
            first = self._pending.first_frame
            if first is not None:  # the renderer "auto" was resolved to before Textual started
                settings = settings.model_copy(update={"images": first.images})
            self._settings = settings
            self.library.use_sources(self._library_sources(settings.workflow_dirs))
        return self._settings

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's commands without its own Quit (ours asks about running prompts) and key panel (? is ours)."""
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Keys"):
                yield command

    # ------------------------------------------------------------------ start-up
    def get_default_screen(self) -> MainScreen:
        # The default screen: the one the app's own queries (and tests) look into.
        self.main_screen = MainScreen(
            self.backend,
            self.library,
            self.session,
            log_timezone=self.log_timezone,
            images=self.images,
            log_settle=self.log_settle,
            freeze_long_lived=self.freeze_long_lived,
            defer_execution_view=self._pending is not None,
        )
        return self.main_screen

    def on_mount(self) -> None:
        self.theme = "textual-dark"

    @on(MainScreen.Ready)
    def _start(self) -> None:
        """Once the panes exist (they show what the backend reports): the settings validated, then the
        log tap, journal and runtime.

        As a job, not in this handler: a key pressed as the first frame appears is answered before the
        settings model (pydantic, tens of milliseconds) loads, and that load runs on a thread.
        """
        self.backend.run_job(self._start_backend, name="_start_backend", group="start-up")

    async def _start_backend(self) -> None:
        if self._settings is None:
            # The first frame drawn, then what was queued by then (a key typed as it appeared) handled
            # and drawn: the execution view's mount and the settings load's thread (which would take
            # half the interpreter's time) come after that key; the view's modules load on a thread
            # too, so a key's frame still to be drawn is not held up by them. (Not App.wait_for_refresh:
            # under App.run the app has no task of its own.)
            drawn = asyncio.Event()
            self.call_after_refresh(self.call_after_refresh, drawn.set)
            await drawn.wait()
            await load_off_loop("comfy_reality.tui.widgets.execution_view")
            await self.main_screen.mount_hidden_panes()  # before the backend: its batches are shown there
            await load_off_loop("comfy_reality.config")
        try:
            self.settings  # noqa: B018 - validated now, before any of their values is used
        except ConfigError:
            return  # the app is stopping; the command prints why
        self.backend.settings_checked()
        if self.log_tap is not None:
            self.log_tap.install()
            self.set_interval(0.25, self._drain_log_tap)
        self._report_keymap_problems()
        self.backend.start()
        if self.freeze_long_lived:
            # Not at once: its full collection would stand between the first frame and the first key.
            self.set_timer(FREEZE_AFTER, freeze_long_lived)

    def _report_keymap_problems(self) -> None:
        """Textual ignores keymap entries it cannot use; say which and where, once."""
        if not self.settings.keymap:
            return  # nothing to check: the screens opened later are not imported for it
        from .keymap import keymap_problems

        problems = keymap_problems(self.settings.keymap)
        if problems:
            self.write_log([LogLine(fmt.now(), "warning", problem) for problem in problems])
            self.notify("\n".join(problems), title="Keymap in the config", severity="warning")

    async def on_unmount(self) -> None:
        if self.log_tap is not None:
            self.log_tap.uninstall()
        await self.backend.close()
        if self.freeze_long_lived:
            thaw()

    def _drain_log_tap(self) -> None:
        if self.log_tap is not None and self.log_tap.buffer:
            self.write_log(self.log_tap.drain())

    def write_log(self, lines: list[LogLine]) -> None:
        """Lines for the log pane (runtime records, events, what the app did)."""
        self.main_screen.write_log(lines)

    # ------------------------------------------------------------ backend's news
    def on_task_events_batch(self, message: TaskEventsBatch) -> None:
        try:
            self.frames += 1
            self.main_screen.apply_batch(message)
        finally:
            self.backend.batch_handled()

    def on_server_status_changed(self, message: ServerStatusChanged) -> None:
        self.main_screen.show_server_status(message.status)

    def on_preview_arrived(self, message: PreviewArrived) -> None:
        self.main_screen.execution_view.add_preview(message.frame)

    def on_system_stats_updated(self, message: SystemStatsUpdated) -> None:
        self.main_screen.show_system_stats(message.stats)

    def on_servers_changed(self, message: ServersChanged) -> None:
        self.main_screen.show_servers(message.rows)

    def on_rerun_requested(self, message: RerunRequested) -> None:
        """From either history: the prompt into the input form (or saved as a local workflow)."""
        self.main_screen.open_prompt(message.prompt, message.name, save=message.save)

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.backend.on_worker_state_changed(event)

    # ------------------------------------------------------------------ commands
    async def action_quit(self) -> None:
        from .screens.confirm_quit import ConfirmQuitScreen  # loaded on first use: faster start-up

        active = self.session.active()
        if not active or isinstance(self.screen, ConfirmQuitScreen):
            self.exit()
            return

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        self.push_screen(ConfirmQuitScreen([e.title for e in active]), answered)

    def run_workflow_file(self, workflow: WorkflowFile) -> None:
        """Queue one workflow of the library (the command palette's "Run <workflow>")."""
        self.main_screen.run_workflow_file(workflow)

    # ------------------------------------------- state, for commands, tests and tools
    @property
    def runtime(self) -> AppRuntime | None:
        return self.backend.runtime

    @runtime.setter
    def runtime(self, runtime: AppRuntime | None) -> None:
        self.backend.runtime = runtime

    @property
    def server_url(self) -> str:
        return self.backend.server_url

    @property
    def journal(self) -> Journal | None:
        return self.backend.journal

    @property
    def journal_note(self) -> str | None:
        return self.backend.journal_note

    @property
    def use_journal(self) -> bool:
        return self.backend.use_journal

    @property
    def reconcile_reports(self) -> list[ReconcileReport]:
        return self.backend.reconcile_reports

    @property
    def workflow_files(self) -> list[WorkflowFile]:
        return self.library.files

    @property
    def object_info(self) -> ObjectInfo | None:
        return self.library.object_info

    @object_info.setter
    def object_info(self, object_info: ObjectInfo | None) -> None:
        self.library.object_info = object_info

    @property
    def sources(self) -> list[tuple[str, Path]]:
        return self.library.sources

    @sources.setter
    def sources(self, sources: list[tuple[str, Path]]) -> None:
        self.library.sources = sources

    @property
    def source_titles(self) -> dict[str, str]:
        return self.library.source_titles

    @property
    def browser(self) -> WorkflowBrowser:
        return self.main_screen.browser

    @property
    def task_tree(self) -> TaskTree:
        return self.main_screen.task_tree

    @property
    def log_pane(self) -> LogPane:
        return self.main_screen.log_pane
