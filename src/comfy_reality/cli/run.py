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
import importlib
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from comfy_reality.url_secrets import redact_url

from ._common import (
    CliError,
    ExitCode,
    conversion_option,
    echo,
    error_from_exception,
    json_option,
    make_auth,
    settings_for,
    setup_logging,
)
from .batch import expand_variants, pool_options, pool_servers, report_batch, variants
from .files import usable_output_dir
from .reporters import JsonReporter, LiveReporter

if TYPE_CHECKING:
    from comfy_reality.config import Settings
    from comfy_reality.journal import Journal
    from comfy_reality.runtime import ComfyUIAsyncRuntime, WorkflowExecution
    from comfy_reality.runtime.pool import PoolServer, ServerPool
    from comfy_reality.workflows.batch import Variant
    from comfy_reality.workflows.object_info import ObjectInfo

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
    variant: str | None = None  # --sweep / --repeat: which one of the batch
    not_queued: CliError | None = None  # the POST failed (the server unreachable, or erring)
    extra_data: dict[str, Any] | None = None  # sent with the prompt (a re-run keeps the web UI's graph)

    @property
    def name(self) -> str:
        return f"{self.path.stem} [{self.variant}]" if self.variant else self.path.stem


def execution_summary(execution: WorkflowExecution) -> WorkflowExecution:
    """What the end-of-run report and the downloads read of a finished execution, and no more.

    A batch holds one per workflow until it ends; its task tree, prompt, raw outputs and extra
    data (the web UI's graph) stay with the runtime, which lets them go with its oldest finished
    executions, and in the journal.
    """
    server_name = execution.metadata.get("server_name")
    return execution.model_copy(
        update={
            "tasks": [],
            "prompt": {},
            "outputs": {},
            "metadata": {"server_name": server_name} if server_name is not None else {},
        }
    )


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
    from comfy_reality.workflows.formats import WorkflowFormat, detect_format, read_json_file

    try:
        data = read_json_file(path)
    except InvalidWorkflowError as exc:
        raise CliError(str(exc), hint="pass a workflow saved from ComfyUI (Workflow > Export (API))") from exc
    fmt, reason = detect_format(data)
    if fmt is WorkflowFormat.INVALID:
        raise CliError(f"{path} is not a ComfyUI workflow: {reason}")
    return Job(path=path, data=data, is_ui=fmt is WorkflowFormat.UI)


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


def submit_error(exc: BaseException, server_url: str, *, journaled: bool) -> CliError:
    """The CLI error for a failed POST; says so when the server may have queued the prompt anyway."""
    error = error_from_exception(exc, server_url)
    prompt_id = getattr(exc, "unconfirmed_prompt_id", None)
    if prompt_id:
        server_url = redact_url(server_url)
        where = (
            "it is recorded in the journal as unconfirmed"
            if journaled
            else f"`comfy-reality history --server {server_url}` will show it if it ran"
        )
        error = CliError(
            f"{error.format_message()} The server may have queued prompt {prompt_id} before the "
            f"connection failed; {where}.",
            ExitCode(error.exit_code),
            hint=f"`comfy-reality journal reconcile --server {server_url}` checks it" if journaled else None,
        )
    return error


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
        servers: list[PoolServer] | None = None,
        pin: str | None = None,
        variants: list[Variant] | None = None,
        show: bool = False,
    ) -> None:
        self.jobs = jobs
        self.servers = servers
        self.pin = pin
        self.variants = variants or []
        self.wall_seconds = 0.0
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
        self.journaled = False  # a journal records this run (rows written before each POST)
        self._journal_opening: asyncio.Future[Journal | None] | None = None

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
        from comfy_reality.runtime import ComfyError
        from comfy_reality.runtime.pool import PoolServer, ServerPool

        self._main_task = asyncio.current_task()
        self._install_sigint()
        # The journal imports and opens on threads while the pool connects and the prompts are
        # prepared; it is attached before the first POST (a runtime holds no execution before then).
        journal_opening = self._journal_opening = asyncio.ensure_future(self._open_journal())
        journal: Journal | None = None
        try:
            servers = self.servers or [PoolServer(self.settings.server_url, auth=make_auth(self.settings))]
            pool = ServerPool(
                servers,
                timeout=self.settings.timeout,
                verify_tls=self.settings.verify_tls,
                failover_after=self.settings.failover_after,
                retry_lost=self.settings.retry_lost,
            )
            try:
                async with pool.session():
                    await pool.ready()
                    return await self._run_in_session(pool)
            except Exception as exc:
                # Task groups (ours and the session's) wrap errors; report the real one.
                error = _leaf_error(exc)
                if isinstance(error, CliError):
                    raise error from None
                if isinstance(error, ComfyError):
                    raise error_from_exception(error, self.settings.server_url) from error
                raise
        finally:
            # Opened whether or not the run got as far as attaching it: close it all the same.
            await asyncio.wait({journal_opening})
            if not journal_opening.cancelled() and journal_opening.exception() is None:
                journal = journal_opening.result()
            if journal is not None:
                # Even after Ctrl-C: the last states (cancelled, interrupted) belong in the history.
                await journal.close()
                if journal.error is not None:
                    echo(f"warning: {journal.error}", err=True)
            if self._restore_signal is not None:
                self._restore_signal()

    async def _attach_journal(self, pool: ServerPool) -> None:
        """Wait for the journal (opening since the start) and let it record every member's executions."""
        assert self._journal_opening is not None
        journal = await self._journal_opening
        if journal is not None:
            for member in pool.members:
                journal.attach(member.runtime)
            self.journaled = True

    async def _open_journal(self) -> Journal | None:
        """The execution journal (``comfy-reality journal`` lists it), or None with a warning on stderr."""
        if not self.use_journal:
            return None
        # Imported on a worker thread while the main thread connects (then the import below is free).
        await asyncio.to_thread(importlib.import_module, "comfy_reality.journal")
        from comfy_reality.journal import Journal

        # The config's journal_keep_days bound is applied here, on the journal's writer thread.
        journal, note = await Journal.open_or_disabled(keep_days=self.settings.journal_keep_days)
        if note is not None:
            echo(f"warning: {note}", err=True)
        if journal is not None:
            await self._mention_unfinished(journal)
        return journal

    async def _mention_unfinished(self, journal: Journal) -> None:
        """One line per server of this run whose earlier runs never ended in the journal (local reads only)."""
        from comfy_reality.journal import JournalError
        from comfy_reality.runtime.pool import without_userinfo

        urls = [s.url for s in self.servers] if self.servers else [self.settings.server_url]
        for url in urls:
            server = without_userinfo(url, None)[0].rstrip("/")  # as recorded: no credentials
            try:
                count = await journal.unfinished_count(server)
            except JournalError:
                return  # the run records anyway; reading the count is not worth a warning
            if count:
                runs = f"{count} earlier run{'s are' if count != 1 else ' is'}"
                echo(
                    f"{runs} unfinished in the journal for {server}; "
                    f"see `comfy-reality journal reconcile --server {server}`",
                    err=True,
                )

    async def _prepare(self, pool: ServerPool) -> None:
        from comfy_reality.runtime import InvalidWorkflowError
        from comfy_reality.workflows.prepare import prepare_workflow

        # Conversion and overrides read the node specs of the pinned server, else the first that answers.
        runtime = pool.member(self.pin).runtime if self.pin else pool.reference_runtime()
        object_info: ObjectInfo | None = None
        if self.only:
            await check_partial_execution(runtime)
        if self.overrides or self.only or self.variants or any(job.is_ui for job in self.jobs):
            # The node catalogue (and its models) only when a file needs converting or editing.
            from comfy_reality.workflows.object_info import ObjectInfo

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
                    from comfy_reality.workflows.partial import resolve_output_targets

                    job.targets = resolve_output_targets(prompt, object_info, self.only)
            except InvalidWorkflowError as exc:
                problems.append(str(exc) if str(job.path) in str(exc) else f"{job.path}: {exc}")
                continue
            job.prompt = prompt
            job.data = None  # the parsed file: the prompt is what runs (a batch must not hold both)
        if self.overrides and not problems:  # each --set goes to the workflows that have its node
            from comfy_reality.workflows.edit import apply_overrides_to_each

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
        if self.variants:
            self.jobs = expand_variants(self.jobs, self.variants, object_info)

    async def _run_in_session(self, runtime: ServerPool) -> int:
        await self._prepare(runtime)
        await self._attach_journal(runtime)
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
                started = time.monotonic()
                await self._submit_and_wait(runtime)
                self.wall_seconds = time.monotonic() - started
            finally:
                reporter.stop()
                await display
        if not self.interrupted.is_set():
            await self._download_all(runtime)
        self._report(reporter)
        if not runtime.single or len(self.jobs) > 1:
            report_batch(self.jobs, runtime, self.wall_seconds, reporter)
        if self.show:
            self._show_pictures()
        return self._exit_code()

    async def _submit_and_wait(self, runtime: ServerPool) -> None:
        from comfy_reality.runtime import ComfyError, InvalidWorkflowError, PromptValidationError

        self._queueing = True
        # Each job is followed from its submission on, so a long batch holds a summary of every
        # execution that ended, not the whole execution, while the rest are still being queued.
        settling: list[asyncio.Future[None]] = []
        try:
            for job in self.jobs:
                if self.interrupted.is_set() or job.prompt is None:
                    continue
                try:
                    job.execution = await runtime.submit(
                        job.prompt,
                        name=job.name,
                        workflow_id=str(job.path.resolve()),
                        partial_execution_targets=job.targets,
                        server=self.pin,
                        extra_data={**(job.extra_data or {}), **self.settings.prompt_extra_data()} or None,
                    )
                    job.prompt = None  # the execution holds the prompt it ran
                except PromptValidationError as exc:
                    job.rejected = str(exc).splitlines()[0]
                    job.node_errors = exc.node_messages()
                except InvalidWorkflowError as exc:
                    job.rejected = str(exc)
                except ComfyError as exc:
                    # The prompts already queued go on; this one is reported, and sets the exit code.
                    job.not_queued = submit_error(exc, self.settings.server_url, journaled=self.journaled)
                else:
                    settling.append(asyncio.ensure_future(self._settle(runtime, job)))
        except BaseException:
            for future in settling:
                future.cancel()
            await asyncio.gather(*settling, return_exceptions=True)
            raise
        if not settling:
            if self.interrupted.is_set():
                self.notify("Interrupted before anything was queued on the server.")
            failed = next((job.not_queued for job in self.jobs if job.not_queued is not None), None)
            if failed is not None:
                raise failed  # nothing runs: the error alone, as for a single workflow
            return
        waiting = asyncio.ensure_future(asyncio.gather(*settling))
        interrupted = asyncio.ensure_future(self.interrupted.wait())
        watched: set[asyncio.Future[Any]] = {waiting, interrupted}
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupted.cancel()
        if waiting.done():
            waiting.result()  # each job already holds the summary of the execution that ran last
            return
        waiting.cancel()
        await asyncio.wait({waiting})
        if not waiting.cancelled():
            waiting.exception()  # retrieved: the interrupt below reports what happened
        await self._interrupt_on_server(runtime)

    @staticmethod
    async def _settle(runtime: ServerPool, job: Job) -> None:
        """Wait for a job's execution (wherever failover moved it), then keep only its summary."""
        assert job.execution is not None
        job.execution = execution_summary(await runtime.wait(job.execution))

    async def _interrupt_on_server(self, runtime: ServerPool) -> None:
        from .stopping import stop_on_server

        await stop_on_server(self.jobs, runtime, self.quit_now)
        for job in self.jobs:
            if job.interrupt_note:
                self.notify(f"Interrupted: {job.interrupt_note}.")

    async def _download_all(self, runtime: ServerPool) -> None:
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
                    data = await runtime.download_output(execution, output)
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
        codes = [job.not_queued.exit_code for job in self.jobs if job.not_queued is not None]
        if codes:
            return ExitCode(max(codes))
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
        if job.variant:
            line["variant"] = job.variant
        if execution is None:
            line.update(
                status="rejected" if job.rejected else "not_submitted",
                error={"message": job.rejected, "node_errors": job.node_errors} if job.rejected else None,
            )
            if job.not_queued is not None:
                line["error"] = {"message": job.not_queued.format_message()}
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
        from comfy_reality.durations import format_duration
        from comfy_reality.runtime import TaskStatus

        execution = job.execution
        if execution is None:
            if job.not_queued is not None:
                return [f"✗ {job.name}: not queued: {job.not_queued.format_message()}"]
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
@pool_options
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
    server_flags: tuple[str, ...],
    token: str | None,
    repeat: int,
    sweeps: tuple[str, ...],
    failover_after: float | None,
    retry_lost: bool | None,
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
    # One URL is the one-server case, exactly as ever (it replaces COMFYUI_URL and the config's URL).
    single = server_flags[0] if len(server_flags) == 1 and "://" in server_flags[0] else None
    settings = settings_for(
        single,
        token,
        correct_frontend_defects=correct_frontend_defects,
        preview_method=preview_method,
        failover_after=failover_after,
        retry_lost=retry_lost,
    )
    setup_logging(settings)
    servers, pin = pool_servers(settings, server_flags)
    batch = variants(sweeps, repeat)
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
        servers=servers,
        pin=pin,
        variants=batch if len(batch) > 1 or sweeps else None,
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
    from comfy_reality.cli import request_fast_exit

    request_fast_exit()  # the journal, sockets and threads are closed: nothing left to tear down
    sys.exit(int(code))
