"""A compacted execution's detail, read back from the journal: its nodes, outputs, errors, prompt.

The session keeps only the newest finished executions whole (:mod:`.state`); the journal has
recorded every one of them as it ran. Reading one back runs on the journal's own thread (its
SQLite reads are synchronous), never on the app's loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import JournalError
from ..runtime.models import Task, TaskType
from ..runtime.prompt import natural_key
from .state import ExecutionEntry, ExecutionSummary

if TYPE_CHECKING:
    from ..journal import Journal, JournalEntry, JournalNode


class DetailUnavailable(Exception):
    """The journal cannot give the detail back (no journal, a failed read, a pruned row); says why."""


async def read_detail(journal: Journal | None, summary: ExecutionSummary) -> ExecutionEntry:
    """``summary``'s whole entry again, as the session held it; raises :class:`DetailUnavailable`."""
    if journal is None:
        raise DetailUnavailable("the execution journal is not open")
    try:
        row = await journal.get(summary.id)
        if row is None and summary.prompt_id:
            row = await journal.get(summary.prompt_id)  # recorded under the row it was re-attached to
    except JournalError as exc:
        raise DetailUnavailable(str(exc)) from exc
    if row is None:
        raise DetailUnavailable("it is no longer in the journal")
    return entry_from_journal(summary, row)


def entry_from_journal(summary: ExecutionSummary, row: JournalEntry) -> ExecutionEntry:
    """The summary's facts (what the tree showed) with the journal's detail, nodes in graph order."""
    execution = summary.whole_execution(
        server_url=row.server_url,
        client_id=row.client_id,
        prompt=row.prompt,
        node_errors=row.node_errors,
        error=row.error,
        outputs=row.outputs,
        output_files=row.output_files,
    )
    tasks = [node_task(summary, node) for node in sorted(row.nodes, key=lambda n: natural_key(n.node_id))]
    execution.tasks = tasks
    return ExecutionEntry(execution=execution, nodes={task.id: task for task in tasks})


def node_task(summary: ExecutionSummary, node: JournalNode) -> Task:
    return Task(
        id=f"{summary.id}/{node.node_id}",
        type=TaskType.NODE,
        status=node.status,
        name=node.name or f"{node.class_type or '?'} #{node.node_id}",
        started_at=node.started_at,
        completed_at=node.completed_at,
        progress=min(max(node.progress, 0.0), 1.0),
        error=node.error,
        execution_id=summary.id,
        node_id=node.node_id,
        class_type=node.class_type,
        prompt_id=summary.prompt_id,
        value=node.value,
        max=node.max,
        cached=node.cached,
        status_detail=node.status_detail,
        error_type=node.error_type,
        traceback=list(node.traceback),
        outputs=node.outputs,
    )
