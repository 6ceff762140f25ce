"""The main screen's keys on the selected execution (copy, save), and the compacted ones read back.

A base class of :class:`MainScreen` (kept apart so each module stays short). A long session
keeps only its newest finished executions whole (:mod:`..state`); an older one is a summary
until it is selected or acted on, then its detail is read back from the journal, off the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ... import paths
from ..burst_keys import moves_focus, turn_waits_for_job
from ..state import KEEP_DETAIL, ExecutionEntry, ExecutionSummary, SessionEntry, SessionState
from ..widgets import TaskTree
from .edit_inputs import EditInputsScreen

if TYPE_CHECKING:
    from textual.worker import Worker

    from ...runtime.models import WorkflowExecution
    from ..images import ImageSupport
    from ..widgets.execution_filter import ExecutionFilter
    from ..widgets.execution_view import ExecutionView, OutputKey


class SelectedExecutionScreen(EditInputsScreen):
    """Copy and save keys, and the whole entry of a compacted execution (see :class:`MainScreen`)."""

    session: SessionState
    task_tree: TaskTree
    output_sizes: dict[OutputKey, int]
    saved_paths: dict[OutputKey, Path]
    _selected_execution: str | None
    _select_on_arrival: str | None
    _execution_view: ExecutionView | None
    _tasks_filter: ExecutionFilter | None
    images: ImageSupport | None
    keep_detail = KEEP_DETAIL
    """Finished executions kept whole (the newest or last looked at); the rest are summaries."""

    if TYPE_CHECKING:  # defined by MainScreen, which this is a base class of

        def _selected_entry(self) -> SessionEntry | None: ...

        def _show_execution(self, execution_id: str) -> None: ...

        async def save_execution_outputs(self, execution: WorkflowExecution, folder: Path) -> None: ...

    @property
    def execution_view(self) -> ExecutionView:
        """Built (and its modules loaded) when first needed: a first frame in a terminal has no use for it."""
        if self._execution_view is None:
            from ..widgets.execution_view import ExecutionView

            view = self._execution_view = ExecutionView(id="execution", images=self.images)
            view.display = False  # the detail panes swap by display, not a class (no restyle)
            view.border_title = "Execution"
        return self._execution_view

    @property
    def tasks_filter(self) -> ExecutionFilter:
        """The Executions filter, built (and mounted) by its first /."""
        if self._tasks_filter is None:
            from ..widgets.execution_filter import ExecutionFilter

            self._tasks_filter = ExecutionFilter(self.task_tree, id="tasks-filter")
        return self._tasks_filter

    # ------------------------------------------------------------- compaction
    def compact_session(self) -> None:
        """Summaries for the finished executions beyond the newest whole ones; never the one shown.

        Only with a journal to read them back from: without one (it could not be opened, it is
        off, or its writes failed) every listed execution stays whole, up to the session's bound.
        """
        journal = self.backend.journal
        if journal is None or journal.error is not None:
            return
        view = self.execution_view.entry
        pinned = {self._selected_execution, self._select_on_arrival, view.id if view is not None else None}
        summaries = self.session.compact(self.keep_detail, {p for p in pinned if p is not None})
        if summaries:
            self.task_tree.compact_entries(summaries)

    def entry_to_show(self, execution_id: str) -> ExecutionEntry | None:
        """What the detail pane shows: the whole entry, or a compacted one's header while its
        detail is read back (the pane is shown again once it is)."""
        entry = self.session.get(execution_id)
        if isinstance(entry, ExecutionSummary):
            self.backend.run_job(
                partial(self._read_back, entry), name="_read_detail", group="read-detail", exclusive=True
            )
            return entry.placeholder()
        if entry is not None:
            self.session.touch(execution_id)
        return entry

    async def _read_back(self, summary: ExecutionSummary) -> None:
        whole = await self.whole_entry(summary)
        if whole is not None and self._selected_execution == summary.id:
            self._show_execution(summary.id)

    async def whole_entry(self, entry: SessionEntry) -> ExecutionEntry | None:
        """``entry`` whole: read back from the journal if it was compacted (None, and said why, if it cannot be)."""
        if isinstance(entry, ExecutionEntry):
            return entry
        from ..session_detail import DetailUnavailable, read_detail  # loaded on first use

        try:
            whole = await read_detail(self.backend.journal, entry)
        except DetailUnavailable as exc:
            self.notify(f"The details of {entry.title} cannot be read back: {exc}.", severity="warning")
            return None
        current = self.session.get(entry.id)
        if isinstance(current, ExecutionEntry):
            return current  # whole again meanwhile (read back for another key, or news of it)
        self.session.restore(whole)
        if entry.id in self.session.entries:
            self.task_tree.update_entries([whole])
        return whole

    def with_whole_selected(self, then: Callable[[ExecutionEntry], None]) -> Worker[None] | None:
        """Run a key's action on the selected execution, whole (read back first if compacted:
        the job that does is returned)."""
        entry = self._selected_entry()
        if entry is None:
            return None
        if isinstance(entry, ExecutionEntry):
            then(entry)
            return None

        async def read_then() -> None:
            whole = await self.whole_entry(entry)
            if whole is not None:
                then(whole)

        return self.backend.run_job(read_then, name="_read_detail_for_key", group="actions")

    # ---------------------------------------------------------------- clipboard
    def _copy(self, text: str | None, what: str, missing: str) -> None:
        if text is None:
            self.notify(missing, severity="warning")
            return
        self.app.copy_to_clipboard(text)
        shown = text.splitlines()[0] if text else ""
        self.notify(f"Copied {what}: {shown[:60] + '…' if len(shown) > 60 else shown}", timeout=3)

    def action_copy_prompt_id(self) -> None:
        entry = self._selected_entry()
        if entry is not None:
            self._copy(
                entry.prompt_id, "prompt id", f"{entry.title} has no prompt id (the server never queued it)."
            )

    def action_copy_error(self) -> None:
        from .. import clipboard  # loaded on first use: faster start-up

        self.with_whole_selected(
            lambda entry: self._copy(
                clipboard.error_text(entry), "the error", f"{entry.title} has no error to copy."
            )
        )

    def action_copy_output_path(self) -> None:
        from .. import clipboard

        self.with_whole_selected(
            lambda entry: self._copy(
                clipboard.output_path_text(entry, self.saved_paths),
                "output path",
                f"{entry.title} has no output files (yet).",
            )
        )

    # ---------------------------------------------------------------- outputs
    @moves_focus
    def action_save_outputs(self) -> None:
        """The folder prompt opens now, or after a compacted execution is read back: keys typed
        after ``o`` in a burst go into it."""
        job = self.with_whole_selected(self._ask_where_to_save)
        if job is not None:
            turn_waits_for_job(job)

    def _ask_where_to_save(self, entry: ExecutionEntry) -> None:
        files = entry.execution.output_files
        if not files:
            self.notify(f"{entry.title} has no output files (yet).", severity="warning")
            return
        default = self.settings.output_dir or paths.default_output_dir()

        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self.save_outputs_to(entry.id, folder, entry.execution)

        from .save_outputs import SaveOutputsScreen  # loaded on first use: faster start-up

        self.app.push_screen(SaveOutputsScreen(len(files), default), chosen)

    def save_outputs_to(
        self, execution_id: str, folder: Path, execution: WorkflowExecution | None = None
    ) -> None:
        """Download an execution's output files into ``folder`` (in the background)."""
        self.backend.run_job(
            partial(self._save_outputs, execution_id, folder, execution),
            name="_save_outputs",
            group="actions",
        )

    async def _save_outputs(self, execution_id: str, folder: Path, held: WorkflowExecution | None) -> None:
        runtime = self.backend.connected_runtime()
        if runtime is None:
            return
        # The runtime keeps only its newest finished executions; the session (or the journal) the rest.
        execution = runtime.executions.get(execution_id) or held
        if execution is not None:
            await self.save_execution_outputs(execution, folder)
