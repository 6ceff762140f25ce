"""The journal's part in submitting: a row on disk before each POST /prompt, gone if never queued.

A prompt whose POST answer is lost may run anyway; with its row (and client-chosen prompt_id)
already committed, a crash or an unconfirmed outcome leaves a pending row that the journal's
reconcile settles from the server's queue and history, instead of a prompt nobody knows about.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from comfy_reality.logs import get_logger

from ..errors import JournalError
from ..runtime.models import WorkflowExecution

if TYPE_CHECKING:
    from .journal import Journal, RuntimeLike

log = get_logger("comfy_reality.journal")

__all__ = ["SubmissionRows"]

COMMIT_WAIT = 10.0  # seconds a POST waits for its row at most (a journal stuck on a lock)


class SubmissionRows:
    """One runtime's :class:`~comfy_reality.runtime.submission.SubmissionRecorder`, backed by a journal."""

    def __init__(self, journal: Journal, runtime: RuntimeLike) -> None:
        self.journal = journal
        self.runtime = runtime

    async def submitting(self, execution: WorkflowExecution) -> None:
        """Commit the row; a journal that failed or is stuck never holds the run back."""
        if self.journal.error is not None:
            return
        self.journal.record(self.runtime, execution)
        with contextlib.suppress(TimeoutError):
            await self.journal.flush(timeout=COMMIT_WAIT)

    async def not_queued(self, execution: WorkflowExecution) -> None:
        try:
            await self.journal.forget(execution)
        except JournalError as exc:
            log.warning("journal_forget_failed", execution_id=execution.id, reason=str(exc))
