"""`comfy-reality run`: submit workflow files, show progress, save outputs, exit with a verdict.

Two presentations of the same task events:

* a terminal gets the live :class:`RichTaskPrinter` table, then a summary;
* ``--json`` or a pipe gets NDJSON on stdout: one line per task event (progress throttled
  per task) and a final ``"type": "execution"`` line per workflow.

Ctrl-C interrupts the prompts on the server (not just the local waiting), says so, and
exits 130. Imports no Textual and no aiohttp: start-up time is measured.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from comfy_reality.url_secrets import redact_url

from ._common import (
    CliError,
    ExitCode,
    conversion_option,
    dumps,
    echo,
    error_from_exception,
    json_option,
    make_auth,
    server_options,
    settings_for,
    setup_logging,
)
from .files import usable_output_dir

if TYPE_CHECKING:
    from rich.console import Console

    from comfy_reality.config import Settings
    from comfy_reality.journal import Journal
    from comfy_reality.runtime import AsyncTaskManager, ComfyUIAsyncRuntime, TaskEvent, WorkflowExecution

PROGRESS_INTERVAL = 0.25  # seconds between NDJSON progress lines of one task (4 per second)


@dataclass
class Job:
    """One workflow file on its way through the run."""

    path: Path
    data: Any = None
    is_ui: bool = False
    prompt: dict[str, Any] | None = None
    execution: WorkflowExecution | None = None
    rejected: str | None = None
    node_errors: list[str] = field(default_factory=list)
    saved: list[Path] = field(default_factory=list)
    download_errors: list[str] = field(default_factory=list)
    interrupt_note: str | None = None
    targets: list[str] | None = None  # --only: the output nodes to run (partial_execution_targets)

    @property
    def name(self) -> str:
        return self.path.stem


def _leaf_error(exc: BaseException) -> BaseException:
    """The first user-meaningful error inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        from comfy_reality.runtime import ComfyError

        preferred = [e for e in exc.exceptions if isinstance(e, (CliError, ComfyError, BaseExceptionGroup))]
        exc = (preferred or list(exc.exceptions))[0]
    return exc


def parse_assignments(assignments: tuple[str, ...]) -> dict[str, str]:
    """``--set 3.seed=42`` pairs -> ``{"3.seed": "42"}`` (typed later against the node's spec)."""
    overrides: dict[str, str] = {}
    for item in assignments:
        key, eq, value = item.partition("=")
        node, dot, input_name = key.strip().partition(".")
        if not eq or not dot or not node or not input_name:
            raise click.BadParameter(
                f"{item!r} is not NODE.INPUT=VALUE (example: --set 3.seed=42 --set '6.text=a cat')",
                param_hint="--set",
            )
        overrides[f"{node}.{input_name.strip()}"] = value
    return overrides


def warn_web_ui_defects(source: str, defects: list[str]) -> None:
    if not defects:
        return
    lines = [f"warning: {source}: the web UI converts this workflow differently from how its graph is drawn:"]
    lines += [f"  - {defect}" for defect in defects]
    lines.append("  the prompt is the one the web UI would queue; --fix-frontend-defects makes it as drawn")
    echo("\n".join(lines), err=True)


def read_workflow(path: Path) -> Job:
    """Read and classify one file; every problem becomes a usage error naming the file."""
    from comfy_reality.errors import InvalidWorkflowError
    from comfy_reality.workflows import WorkflowFormat, detect_format, read_json_file

    try:
        data = read_json_file(path)
    except InvalidWorkflowError as exc:
        raise CliError(str(exc), hint="pass a workflow saved from ComfyUI (Workflow > Export (API))") from exc
    fmt, reason = detect_format(data)
    if fmt is WorkflowFormat.INVALID:
        raise CliError(f"{path} is not a ComfyUI workflow: {reason}")
    return Job(path=path, data=data, is_ui=fmt is WorkflowFormat.UI)


# --------------------------------------------------------------------------- reporters
class JsonReporter:
    """NDJSON task events on a stream, progress throttled per task.

    Lines are built inline when an event is emitted (so each carries the task's state at
    that moment, not a later one) and written by :meth:`run`, off the emitting code path.
    """

    def __init__(self, stream: IO[str], *, progress_interval: float = PROGRESS_INTERVAL) -> None:
        self.stream = stream
        self.progress_interval = progress_interval
        self._last_progress: dict[str, float] = {}
        self._manager: AsyncTaskManager | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._pending: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()
        self._stopped = False
        self.lines = 0

    def attach(self, manager: AsyncTaskManager) -> None:
        self._manager = manager
        self._unsubscribe = manager.subscribe(self.on_event)

    def on_event(self, event: TaskEvent) -> None:
        if event.event_type == "progress":
            progress = (event.data or {}).get("progress", 0.0)
            last = self._last_progress.get(event.task_id)
            now = time.monotonic()
            if last is not None and now - last < self.progress_interval and progress < 1.0:
                return
            self._last_progress[event.task_id] = now
        self._pending.append(self.event_line(event))
        self._ready.set()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            self._flush()
            if self._stopped:
                return

    def _flush(self) -> None:
        while self._pending:
            self.write(self._pending.popleft())

    def notify(self, message: str) -> None:
        """A human message: stderr, so stdout stays machine-readable."""
        echo(message, err=True)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stopped = True
        self._ready.set()

    def event_line(self, event: TaskEvent) -> dict[str, Any]:
        line: dict[str, Any] = {
            "type": "event",
            "event": event.event_type,
            "seq": event.seq,
            "time": event.timestamp.isoformat(),
            "task_id": event.task_id,
            "task_type": event.task_type.value if event.task_type else None,
            "parent_id": event.parent_id,
        }
        manager = self._manager
        task = manager.get_task(event.task_id) if manager is not None else None
        if manager is not None and task is not None:
            root = task if task.parent_id is None else manager.get_task(task.parent_id)
            line.update(
                name=task.name,
                status=task.status.value,
                execution_id=task.execution_id,
                prompt_id=(root.prompt_id if root is not None else None),
                node_id=task.node_id,
                class_type=task.class_type,
                progress=round(task.progress, 4),
                value=task.value,
                max=task.max,
                cached=task.cached or None,
                error=task.error if event.event_type == "failed" else None,
                error_type=task.error_type if event.event_type == "failed" else None,
                status_detail=task.status_detail,
            )
        elif event.data:
            line["data"] = event.data
        if event.message:
            line["message"] = event.message
        return {k: v for k, v in line.items() if v is not None}

    def write(self, line: dict[str, Any]) -> None:
        self.stream.write(dumps(line) + "\n")
        self.stream.flush()
        self.lines += 1


class LiveReporter:
    """The Rich live table on a terminal."""

    def __init__(self, console: Console) -> None:
        from comfy_reality.runtime.printer import RichTaskPrinter

        self.printer = RichTaskPrinter(console)
        self._manager: AsyncTaskManager | None = None

    def attach(self, manager: AsyncTaskManager) -> None:
        self._manager = manager

    async def run(self) -> None:
        from .terminal import no_echo

        assert self._manager is not None
        with no_echo():  # a ^C echoed into the table would leave its border behind
            await self.printer.start(self._manager)

    def notify(self, message: str) -> None:
        """Printed above the live table (Rich keeps the table at the bottom)."""
        from comfy_reality.safe_text import safe_text
        from comfy_reality.url_secrets import redact_url

        self.printer.console.print(safe_text(redact_url(message)), highlight=False)

    def stop(self) -> None:
        self.printer.stop()


async def check_partial_execution(runtime: ComfyUIAsyncRuntime) -> None:
    """--only needs partial_execution_targets (ComfyUI 0.3.48+); older servers would run everything."""
    from comfy_reality.runtime.capabilities import PARTIAL_EXECUTION_SINCE, capabilities

    found = await capabilities(runtime.client)
    if not found.partial_execution:
        since = ".".join(map(str, PARTIAL_EXECUTION_SINCE))
        raise CliError(
            f"--only: ComfyUI {found.comfyui_version} at {runtime.server_url} predates partial execution "
            f"({since}); it would run every output."
        )


# ------------------------------------------------------------------------------ runner
class RunCommand:
    def __init__(
        self,
        jobs: list[Job],
        *,
        settings: Settings,
        overrides: dict[str, str],
        output_dir: Path,
        json_mode: bool,
        use_journal: bool = True,
        only: tuple[str, ...] = (),
        show: bool = False,
    ) -> None:
        self.jobs = jobs
        self.only = only
        self.show = show and not json_mode  # pictures only for a person at a terminal
        self.use_journal = use_journal
        self.settings = settings
        self.overrides = overrides
        self.output_dir = output_dir
        self.json_mode = json_mode
        self.interrupted = asyncio.Event()
        self.quit_now = asyncio.Event()  # a second Ctrl-C: stop our prompts, not awaiting confirmation
        self._queueing = False  # prompts may be on the server (before that a second Ctrl-C just leaves)
        self._main_task: asyncio.Task[Any] | None = None
        self._restore_signal: Callable[[], None] | None = None
        self.reporter: JsonReporter | LiveReporter | None = None

    def notify(self, message: str) -> None:
        if self.reporter is not None:
            self.reporter.notify(message)
        else:
            echo(message, err=True)

    # ---------------------------------------------------------------- signals
    def _install_sigint(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        except (NotImplementedError, RuntimeError):  # Windows event loops, or not the main thread
            try:
                previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(self._on_sigint))
            except ValueError:
                return  # not the main thread: Ctrl-C belongs to whoever embeds us

            def restore_handler() -> None:
                # None: the handler was installed from C, and Python cannot put it back; use the default.
                signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)

            self._restore_signal = restore_handler
            return

        def remove_handler() -> None:
            loop.remove_signal_handler(signal.SIGINT)

        self._restore_signal = remove_handler

    def _on_sigint(self) -> None:
        # Never a KeyboardInterrupt from here: it would abandon an interrupt half-sent.
        if not self.interrupted.is_set():
            self.interrupted.set()
            self.notify("Interrupting: stopping this run's prompts on the server (Ctrl-C: quit sooner)…")
        elif not self._queueing and self._main_task is not None:
            self._main_task.cancel()  # nothing queued yet: leaving at once leaves nothing behind
        elif not self.quit_now.is_set():
            self.quit_now.set()
            self.notify("Quitting: asking the server to stop them, not waiting for it to confirm…")

    # ------------------------------------------------------------------- main
    async def main(self) -> int:
        from comfy_reality.runtime import ComfyError, ComfyUIAsyncRuntime

        self._main_task = asyncio.current_task()
        self._install_sigint()
        journal = await self._open_journal()
        try:
            runtime = ComfyUIAsyncRuntime(
                self.settings.server_url,
                auth=make_auth(self.settings),
                timeout=self.settings.timeout,
                verify_tls=self.settings.verify_tls,
            )
            if journal is not None:
                journal.attach(runtime)
            try:
                async with runtime.session():
                    return await self._run_in_session(runtime)
            except Exception as exc:
                # Task groups (ours and the session's) wrap errors; report the real one.
                error = _leaf_error(exc)
                if isinstance(error, CliError):
                    raise error from None
                if isinstance(error, ComfyError):
                    raise error_from_exception(error, self.settings.server_url) from error
                raise
        finally:
            if journal is not None:
                # Even after Ctrl-C: the last states (cancelled, interrupted) belong in the history.
                await journal.close()
                if journal.error is not None:
                    echo(f"warning: {journal.error}", err=True)
            if self._restore_signal is not None:
                self._restore_signal()

    async def _open_journal(self) -> Journal | None:
        """The execution journal (``comfy-reality journal`` lists it), or None with a warning on stderr."""
        if not self.use_journal:
            return None
        from comfy_reality.journal import Journal

        # The config's journal_keep_days bound is applied here, on the journal's writer thread.
        journal, note = await Journal.open_or_disabled(keep_days=self.settings.journal_keep_days)
        if note is not None:
            echo(f"warning: {note}", err=True)
        if journal is not None:
            await self._mention_unfinished(journal)
        return journal

    async def _mention_unfinished(self, journal: Journal) -> None:
        """One line when earlier runs on this server never ended in the journal (a local read only)."""
        from comfy_reality.journal import JournalError

        try:
            count = await journal.unfinished_count(self.settings.server_url)
        except JournalError:
            return  # the run records anyway; reading the count is not worth a warning
        if count:
            server = self.settings.server_url
            runs = f"{count} earlier run{'s are' if count != 1 else ' is'}"
            echo(
                f"{runs} unfinished in the journal for {server}; "
                f"see `comfy-reality journal reconcile --server {server}`",
                err=True,
            )

    async def _prepare(self, runtime: ComfyUIAsyncRuntime) -> None:
        from comfy_reality.runtime import InvalidWorkflowError
        from comfy_reality.workflows import ObjectInfo, prepare_workflow
        from comfy_reality.workflows.edit import apply_overrides_to_each
        from comfy_reality.workflows.partial import resolve_output_targets

        object_info = None
        if self.only:
            await check_partial_execution(runtime)
        if self.overrides or self.only or any(job.is_ui for job in self.jobs):
            object_info = ObjectInfo.from_json(await runtime.client.get_object_info())
        problems: list[str] = []
        for job in self.jobs:
            try:
                prepared = prepare_workflow(
                    job.data,
                    object_info,
                    source=str(job.path),
                    correct_frontend_defects=self.settings.correct_frontend_defects,
                )
                warn_web_ui_defects(str(job.path), prepared.web_ui_defects)
                prompt = prepared.prompt
                if self.only and object_info is not None:
                    job.targets = resolve_output_targets(prompt, object_info, self.only)
            except InvalidWorkflowError as exc:
                problems.append(str(exc) if str(job.path) in str(exc) else f"{job.path}: {exc}")
                continue
            job.prompt = prompt
        if self.overrides and not problems:  # each --set goes to the workflows that have its node
            try:
                named = [(job.path.name, job.prompt or {}) for job in self.jobs]
                edited, notes = apply_overrides_to_each(named, self.overrides, object_info)
            except InvalidWorkflowError as exc:
                problems.append(str(exc))
            else:
                for job, prompt in zip(self.jobs, edited, strict=True):
                    job.prompt = prompt
                for note in notes:
                    echo(f"note: {note}", err=True)
        if problems:
            raise CliError("\n".join(problems))

    async def _run_in_session(self, runtime: ComfyUIAsyncRuntime) -> int:
        await self._prepare(runtime)
        reporter: JsonReporter | LiveReporter
        if self.json_mode:
            reporter = JsonReporter(sys.stdout)
        else:
            from rich.console import Console

            reporter = LiveReporter(Console())
        reporter.attach(runtime.task_manager)
        self.reporter = reporter
        async with asyncio.TaskGroup() as group:
            display = group.create_task(reporter.run(), name="run-display")
            try:
                await self._submit_and_wait(runtime)
            finally:
                reporter.stop()
                await display
        if not self.interrupted.is_set():
            await self._download_all(runtime)
        self._report(reporter)
        if self.show:
            self._show_pictures()
        return self._exit_code()

    async def _submit_and_wait(self, runtime: ComfyUIAsyncRuntime) -> None:
        from comfy_reality.runtime import InvalidWorkflowError, PromptValidationError

        self._queueing = True
        for job in self.jobs:
            if self.interrupted.is_set() or job.prompt is None:
                continue
            try:
                job.execution = await runtime.submit(
                    job.prompt,
                    name=job.name,
                    workflow_id=str(job.path.resolve()),
                    partial_execution_targets=job.targets,
                    extra_data=self.settings.prompt_extra_data() or None,
                )
            except PromptValidationError as exc:
                job.rejected = str(exc).splitlines()[0]
                job.node_errors = exc.node_messages()
            except InvalidWorkflowError as exc:
                job.rejected = str(exc)
        executions = [job.execution for job in self.jobs if job.execution is not None]
        if not executions:
            if self.interrupted.is_set():
                self.notify("Interrupted before anything was queued on the server.")
            return
        waiting = asyncio.ensure_future(asyncio.gather(*(runtime.wait(e) for e in executions)))
        interrupted = asyncio.ensure_future(self.interrupted.wait())
        watched: set[asyncio.Future[Any]] = {waiting, interrupted}
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupted.cancel()
        if waiting.done():
            waiting.result()
            return
        waiting.cancel()
        await asyncio.wait({waiting})
        if not waiting.cancelled():
            waiting.exception()  # retrieved: the interrupt below reports what happened
        await self._interrupt_on_server(runtime)

    async def _interrupt_on_server(self, runtime: ComfyUIAsyncRuntime) -> None:
        from .stopping import stop_on_server

        await stop_on_server(self.jobs, runtime, self.quit_now)
        for job in self.jobs:
            if job.interrupt_note:
                self.notify(f"Interrupted: {job.interrupt_note}.")

    async def _download_all(self, runtime: ComfyUIAsyncRuntime) -> None:
        from comfy_reality.cli.files import save_new_file
        from comfy_reality.runtime import ComfyError

        for job in self.jobs:
            execution = job.execution
            if execution is None:
                continue
            for output in execution.output_files:
                if output.type != "output":
                    continue  # temp previews are not results
                try:
                    data = await runtime.download_output(output)
                    path = await asyncio.to_thread(save_new_file, self.output_dir, output.filename, data)
                except (ComfyError, OSError) as exc:
                    job.download_errors.append(f"{output.filename}: {exc}")
                    continue
                job.saved.append(path)

    def _show_pictures(self) -> None:
        """``--show``: draw every saved output image once the run has ended."""
        from comfy_reality.cli.show import draw, pictures_from_files, terminal_renderer

        if self.settings.images == "off":
            return
        saved = [path for job in self.jobs for path in job.saved]
        try:
            pictures = pictures_from_files(saved)
        except OSError as exc:
            self.notify(f"cannot read an output to show it: {exc}")
            return
        draw(pictures, terminal_renderer(self.settings.images))

    # ----------------------------------------------------------------- report
    def _exit_code(self) -> int:
        from comfy_reality.runtime import TaskStatus

        if self.interrupted.is_set():
            return ExitCode.INTERRUPTED
        if any(job.rejected for job in self.jobs):
            return ExitCode.INVALID
        for job in self.jobs:
            if (
                job.execution is None
                or job.execution.status is not TaskStatus.COMPLETED
                or job.download_errors
            ):
                return ExitCode.FAILED
        return ExitCode.OK

    def _report(self, reporter: JsonReporter | LiveReporter) -> None:
        json_mode = isinstance(reporter, JsonReporter)
        for job in self.jobs:
            if isinstance(reporter, JsonReporter):
                reporter.write(self.execution_line(job))
            lines = self.summary_lines(job)
            problem = lines[0].startswith(("✗", "⊘")) or bool(job.download_errors)
            if json_mode and not problem:
                continue  # stdout is for machines; stderr still says what went wrong
            for line in lines:
                echo(line, err=json_mode or problem)
        if any(job.rejected for job in self.jobs):
            echo(
                "hint: fix the inputs named above; `comfy-reality validate --server URL FILE` checks "
                "them without queueing",
                err=True,
            )

    def execution_line(self, job: Job) -> dict[str, Any]:
        execution = job.execution
        line: dict[str, Any] = {"type": "execution", "workflow": str(job.path), "name": job.name}
        if execution is None:
            line.update(
                status="rejected" if job.rejected else "not_submitted",
                error={"message": job.rejected, "node_errors": job.node_errors} if job.rejected else None,
            )
            return line
        line.update(
            status=execution.status.value,
            execution_id=execution.id,
            prompt_id=execution.prompt_id,
            server_url=redact_url(execution.server_url) if execution.server_url else None,
            created_at=execution.created_at,
            started_at=execution.started_at,
            completed_at=execution.completed_at,
            duration=execution.duration,
            error=execution.error.model_dump(mode="json", exclude={"current_inputs"})
            if execution.error
            else None,
            status_detail=execution.status_detail,
            node_errors=execution.node_errors or None,
            outputs=[str(p) for p in job.saved],
            download_errors=job.download_errors or None,
            interrupted=job.interrupt_note,
        )
        return line

    def summary_lines(self, job: Job) -> list[str]:
        from comfy_reality.runtime import TaskStatus
        from comfy_reality.runtime.printer import format_duration

        execution = job.execution
        if execution is None:
            if not job.rejected:
                return [f"- {job.name}: not submitted"]
            return [f"✗ {job.name}: {job.rejected}", *(f"  {line}" for line in job.node_errors)]
        took = f" in {format_duration(execution.duration)}" if execution.duration is not None else ""
        lines: list[str] = []
        if execution.status is TaskStatus.COMPLETED:
            lines.append(f"✓ {job.name} completed{took} (prompt {execution.prompt_id})")
        elif execution.status is TaskStatus.FAILED:
            err = execution.error
            where = f" in node {err.node_id} ({err.node_type})" if err and err.node_id else ""
            what = (
                f"{err.exception_type}: {err.exception_message}"
                if err
                else (execution.status_detail or "failed")
            )
            lines.append(f"✗ {job.name} failed{where}: {what}")
        else:
            said = execution.status_detail or ("asked to stop, not confirmed" if job.interrupt_note else None)
            lines.append(f"⊘ {job.name} {execution.status.value}" + (f": {said}" if said else ""))
        lines.extend(f"  saved {path}" for path in job.saved)
        lines.extend(f"  download failed: {err}" for err in job.download_errors)
        return lines


@click.command()
@click.argument("workflows", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="WORKFLOW...")
@server_options
@conversion_option
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="NODE.INPUT=VALUE",
    help="Override an input before submitting, checked against the node's spec (repeatable).",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="NODE",
    help="Run only this output node (id or title; repeatable), and what it needs.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to save output files (default: the config's output_dir, else the current directory).",
)
@click.option(
    "--no-journal",
    is_flag=True,
    help="Do not record this run in the execution journal (see `comfy-reality journal`).",
)
@click.option(
    "--preview-method",
    type=click.Choice(["default", "none", "auto", "latent2rgb", "taesd"]),
    help="Sampler previews asked of the server (extra_data.preview_method); default leaves it to the "
    "server. Default: config key preview_method, else auto.",
)
@click.option(
    "--show",
    is_flag=True,
    help="Draw each output image in the terminal when the run ends (not when piped or with --json).",
)
@json_option
def run(
    workflows: tuple[Path, ...],
    server_url: str | None,
    token: str | None,
    correct_frontend_defects: bool | None,
    assignments: tuple[str, ...],
    only: tuple[str, ...],
    output_dir: Path | None,
    no_journal: bool,
    preview_method: str | None,
    show: bool,
    as_json: bool,
) -> None:
    """Run WORKFLOW files (API or UI format) and save their outputs.

    On a terminal a live table shows every node; with --json, or when stdout is not a
    terminal, stdout carries NDJSON: one line per task event and a final line per workflow.
    Ctrl-C interrupts the prompts on the server too. Every run is recorded in the
    execution journal (`comfy-reality journal` lists it) unless --no-journal is given.

    Exit codes: 0 all succeeded, 1 an execution failed, 2 invalid workflow or usage,
    3 server unreachable, 130 interrupted.
    """
    settings = settings_for(
        server_url, token, correct_frontend_defects=correct_frontend_defects, preview_method=preview_method
    )
    setup_logging(settings)
    overrides = parse_assignments(assignments)
    jobs: list[Job] = []
    problems: list[str] = []
    for path in workflows:
        try:
            jobs.append(read_workflow(path))
        except CliError as exc:
            problems.append(exc.format_message())
    if problems:
        raise CliError("\n".join(problems))
    destination = usable_output_dir(output_dir or settings.output_dir or Path.cwd())
    command = RunCommand(
        jobs,
        settings=settings,
        overrides=overrides,
        output_dir=destination,
        json_mode=as_json or not sys.stdout.isatty(),
        use_journal=not no_journal,
        only=only,
        show=show,
    )
    try:
        code = asyncio.run(command.main())
    except asyncio.CancelledError:  # a second Ctrl-C before anything was queued
        echo("Interrupted before anything was queued on the server.", err=True)
        code = ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        echo("Interrupted: stopped waiting; prompts may still be running on the server.", err=True)
        code = ExitCode.INTERRUPTED
    sys.exit(int(code))
