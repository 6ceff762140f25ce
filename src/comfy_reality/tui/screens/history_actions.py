"""What History can do with a recorded run: run it again, save its outputs, open its error.

The run goes through the main screen (its backend and runtime), so a re-run shows in the
Executions pane like any other; History itself only reads the journal.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from ... import paths
from ...journal import JournalEntry
from ...runtime.models import TaskStatus, WorkflowExecution

if TYPE_CHECKING:
    from textual.app import App

    from .main import MainScreen


def _main(app: App[object]) -> MainScreen | None:
    main = getattr(app, "main_screen", None)
    if main is None:
        app.notify(
            "History was opened without the main screen: nothing can run from here.", severity="warning"
        )
    return main


def run_again(
    app: App[object], entry: JournalEntry, *, retry: bool, queued: Callable[[], object] | None = None
) -> None:
    """Queue the recorded prompt again on the server the app is connected to (same inputs).

    ``queued`` is called once the new run's journal row is written (History lists it then)."""
    name = entry.name or entry.workflow_id or "run"
    retriable = entry.lost or entry.display_status == "interrupted"
    if retry and not (retriable or entry.status in (TaskStatus.FAILED, TaskStatus.CANCELLED)):
        app.notify(
            f"Only failed, cancelled, lost or interrupted runs are retried; {name} is {entry.display_status}. "
            "r runs it again with the same inputs.",
            severity="warning",
        )
        return
    if not entry.prompt:
        app.notify(f"The journal has no prompt for {name}: it cannot be run again.", severity="warning")
        return
    main = _main(app)
    if main is None or main.backend.connected_runtime() is None:
        return
    submit = partial(main.submit_prompt, dict(entry.prompt), name=name, workflow_id=entry.workflow_id or name)

    async def submit_then_tell() -> None:
        await submit()
        if queued is not None:
            queued()

    main.backend.run_job(submit_then_tell, name="_history_rerun", group="actions")


def save_outputs(app: App[object], entry: JournalEntry) -> None:
    """Download the recorded run's output files (from the server it ran on) into a folder."""
    name = entry.name or entry.workflow_id or "run"
    if not entry.output_files:
        app.notify(f"{name} has no output files.", severity="warning")
        return
    main = _main(app)
    if main is None:
        return
    if entry.server_url and entry.server_url != main.backend.server_url:
        app.notify(
            f"{name} ran on {entry.server_url}; the app is connected to {main.backend.server_url}.",
            severity="warning",
        )
        return
    from .save_outputs import SaveOutputsScreen

    execution = WorkflowExecution(
        workflow_id=entry.workflow_id or name,
        name=name,
        prompt_id=entry.prompt_id,
        server_url=entry.server_url,
        output_files=list(entry.output_files),
    )
    default = main.settings.output_dir or paths.default_output_dir()

    def chosen(folder: object) -> None:
        if folder is not None:
            main.backend.run_job(
                partial(main.save_execution_outputs, execution, folder),  # type: ignore[arg-type]
                name="_history_save",
                group="actions",
            )

    app.push_screen(SaveOutputsScreen(len(entry.output_files), default), chosen)


def error_text(entry: JournalEntry) -> str | None:
    lines: list[str] = []
    error = entry.error
    if error is not None:
        where = f" in node {error.node_id} ({error.node_type})" if error.node_id else ""
        lines.append(f"{error.exception_type}{where}: {error.exception_message.strip()}")
        lines.extend(ln.rstrip() for part in error.traceback for ln in part.splitlines() if ln.strip())
    for node_id, detail in entry.node_errors.items():
        for err in detail.get("errors", []) if isinstance(detail, dict) else []:
            if isinstance(err, dict):
                details = err.get("details")
                lines.append(
                    f"node {node_id}: {err.get('message', 'invalid')}" + (f": {details}" if details else "")
                )
    if not lines and entry.status_detail and (entry.lost or entry.status is TaskStatus.FAILED):
        lines.append(entry.status_detail)
    return "\n".join(lines) if lines else None


def open_error(app: App[object], entry: JournalEntry) -> None:
    text = error_text(entry)
    name = entry.name or entry.workflow_id or "run"
    if text is None:
        app.notify(f"{name} has no error.", severity="information")
        return
    from .error_view import ErrorScreen

    app.push_screen(ErrorScreen(f"Error of {name}", text))


__all__ = ["error_text", "open_error", "run_again", "save_outputs"]
