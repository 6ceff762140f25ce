"""A long session's memory stays flat: old finished executions are compacted, their detail read back.

The session keeps only the newest (or last looked at) finished executions whole; older ones are
summaries, and selecting one reads its nodes, outputs and errors back from the journal, showing
exactly what the user saw before.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from comfy_reality.journal import Journal
from comfy_reality.runtime.models import Task, TaskStatus, TaskType, WorkflowExecution, utc_now
from comfy_reality.server import EmbeddedServer
from comfy_reality.tui.session_detail import DetailUnavailable, read_detail
from comfy_reality.tui.state import ExecutionEntry, ExecutionSummary, SessionState
from comfy_reality.tui.widgets import TaskTree
from comfy_reality.tui.widgets.execution_view import error_renderable, header_text, outputs_renderable
from comfy_reality.tui.widgets.node_progress import row_lines
from comfy_reality.tui.widgets.task_tree import execution_label, node_label

from .helpers import screen_text, wait_for, wait_for_text
from .test_flows import SIZE, connected, final, make_app, run_workflow, server

__all__ = ["server"]  # the fixture, used by name below


# ----------------------------------------------------------------------------- the session
def finished(index: int, status: TaskStatus = TaskStatus.COMPLETED) -> tuple[WorkflowExecution, list[Task]]:
    start = utc_now() + timedelta(seconds=index)
    execution = WorkflowExecution(
        id=f"exec_{index:04d}",
        workflow_id=f"wf {index}",
        name=f"run {index}",
        status=status,
        created_at=start,
        started_at=start,
        completed_at=start + timedelta(seconds=1.5),
        prompt_id=f"prompt-{index}",
        metadata={"server_name": "gpu1", "extra_data": {"k": index}, "noise": "x" * 100},
    )
    nodes = [
        Task(
            id=f"node_{index}_{n}",
            type=TaskType.NODE,
            name=f"Node #{n}",
            node_id=str(n),
            execution_id=execution.id,
            status=TaskStatus.COMPLETED if n < 2 else TaskStatus.FAILED,
        )
        for n in range(3)
    ]
    return execution, nodes


def session_of(count: int) -> SessionState:
    session = SessionState()
    for index in range(count):
        execution, nodes = finished(index)
        session.apply({t.id: t for t in nodes}, {execution.id: execution})
    return session


def test_the_101st_newest_finished_execution_is_compacted_to_a_summary() -> None:
    session = session_of(101)
    assert session.compact(100) == [session.entries["exec_0000"]]
    summary = session.entries["exec_0000"]
    assert isinstance(summary, ExecutionSummary)
    assert all(isinstance(session.entries[f"exec_{i:04d}"], ExecutionEntry) for i in range(1, 101))
    # What the tree's line and the header need stays; the rest is in the journal.
    assert (summary.title, summary.status, summary.prompt_id, summary.duration) == (
        "run 0",
        TaskStatus.COMPLETED,
        "prompt-0",
        1.5,
    )
    assert (summary.node_count, summary.nodes_done, dict(summary.nodes)) == (3, 2, {})
    # The pool's server name is shown; what a retry sends again is kept; nothing else of the metadata.
    assert summary.metadata == {"server_name": "gpu1", "extra_data": {"k": 0}}
    assert summary.server_name == "gpu1"
    assert session.compact(100) == []


def test_a_summary_keeps_front_only_when_it_was_asked_for() -> None:
    # "front": False is what a retry assumes when it is missing: such a summary keeps no dict.
    summaries = []
    for front in (False, True):
        execution = WorkflowExecution(
            id=f"front-{front}", workflow_id="w", status=TaskStatus.COMPLETED, metadata={"front": front}
        )
        summaries.append(ExecutionSummary.of(ExecutionEntry(execution=execution)))
    assert [s.metadata for s in summaries] == [None, {"front": True}]
    assert [bool(s.whole_execution().metadata.get("front", False)) for s in summaries] == [False, True]


def test_the_last_looked_at_and_the_pinned_stay_whole() -> None:
    session = session_of(102)
    session.touch("exec_0000")  # looked at: now the most recent
    compacted = session.compact(100, pinned={"exec_0001"})
    assert [s.id for s in compacted] == ["exec_0002"]
    assert isinstance(session.entries["exec_0000"], ExecutionEntry)
    assert isinstance(session.entries["exec_0001"], ExecutionEntry)


def test_a_rejected_or_running_execution_is_never_compacted() -> None:
    session = session_of(3)
    running = WorkflowExecution(id="running", workflow_id="w", status=TaskStatus.RUNNING)
    session.apply({}, {running.id: running})
    session.add_rejected("refused", "w", {}, ValueError("no"))
    session.compact(0)
    kinds = {type(e) for e in session.entries.values() if e.rejected or not e.status.is_final}
    assert kinds == {ExecutionEntry}
    assert sum(isinstance(e, ExecutionSummary) for e in session.entries.values()) == 3


def test_news_of_a_compacted_execution_makes_it_whole_again() -> None:
    session = session_of(2)
    session.compact(1)
    execution, nodes = finished(0)
    execution.tasks = nodes
    session.apply({}, {execution.id: execution})
    entry = session.entries[execution.id]
    assert isinstance(entry, ExecutionEntry) and list(entry.nodes) == [t.id for t in nodes]


async def test_without_the_row_the_detail_is_unavailable_and_says_why(tmp_path: Path) -> None:
    session = session_of(2)
    (summary,) = session.compact(1)
    with pytest.raises(DetailUnavailable, match="not open"):
        await read_detail(None, summary)
    async with await Journal.open(tmp_path / "journal.sqlite3") as journal:
        with pytest.raises(DetailUnavailable, match="no longer in the journal"):
            await read_detail(journal, summary)


# ----------------------------------------------------------------------------- the app
def _plain(renderable: RenderableType | None) -> str:
    if renderable is None:
        return ""
    console = Console(width=100, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def seen(entry: ExecutionEntry) -> dict[str, object]:
    """What the user sees of an execution: its tree lines, the detail pane's header, error, nodes, outputs."""
    return {
        "branch": execution_label(entry).plain,
        "leaves": [node_label(task).plain for task in entry.nodes.values()],
        "header": header_text(entry).plain,
        "error": _plain(error_renderable(entry)),
        "rows": [line.plain for task in entry.nodes.values() for line in row_lines(task, 90)],
        "outputs": _plain(outputs_renderable(entry.execution.output_files, {})),
        "prompt": entry.execution.prompt,
    }


def leaves_of(tree: TaskTree, execution_id: str) -> int:
    return sum(
        1 for ref in (leaf.data for leaf in tree._leaves.values()) if ref and ref.execution_id == execution_id
    )


async def test_a_compacted_execution_shows_what_it_showed_before_read_back_from_the_journal(
    server: EmbeddedServer,
) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        app.main_screen.keep_detail = 1
        failed = await final(pilot, app, (await run_workflow(pilot, app, "fail")).id)
        before_failed = seen(failed)
        assert before_failed["leaves"] and "RealityFail" in str(before_failed["error"])
        done = await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        before_done = seen(done)
        tree = app.query_one(TaskTree)
        await wait_for(
            pilot, lambda: isinstance(app.session.entries[failed.id], ExecutionSummary), what="compaction"
        )
        assert leaves_of(tree, failed.id) == 0  # its node lines went with it
        assert "fail" in screen_text(app)  # still listed

        # Selected: read back, its nodes in the tree and the pane, as the user saw them.
        tree.focus()
        tree.select_execution(failed.id)
        await wait_for(
            pilot, lambda: isinstance(app.session.entries[failed.id], ExecutionEntry), what="read back"
        )
        await wait_for_text(pilot, "RuntimeError in node 2 (RealityFail)")
        back = app.session.entries[failed.id]
        assert isinstance(back, ExecutionEntry)
        assert seen(back) == before_failed
        assert leaves_of(tree, failed.id) == len(back.nodes)
        assert app.main_screen.execution_view.entry is back

        # The completed one, looked at longest ago now, is compacted at the next batch; read back
        # it shows its outputs as before.
        await pilot.press("t")  # retry the failed one: a new batch
        await wait_for(
            pilot, lambda: isinstance(app.session.entries[done.id], ExecutionSummary), what="compaction"
        )
        tree.select_execution(done.id)
        await wait_for(pilot, lambda: isinstance(app.session.entries[done.id], ExecutionEntry), what="read")
        back_done = app.session.entries[done.id]
        assert isinstance(back_done, ExecutionEntry)
        assert seen(back_done) == before_done


async def test_retry_and_copy_work_on_a_compacted_execution(server: EmbeddedServer) -> None:
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        main = app.main_screen
        main.keep_detail = 0
        failed = await final(pilot, app, (await run_workflow(pilot, app, "fail")).id)
        prompt = failed.execution.prompt
        await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        await wait_for(
            pilot, lambda: isinstance(app.session.entries[failed.id], ExecutionSummary), what="compaction"
        )
        summary = app.session.entries[failed.id]
        assert isinstance(summary, ExecutionSummary)
        # The key's own path, from the summary itself (as when t comes before the read-back).
        runtime = app.runtime
        assert runtime is not None
        before = set(app.session.entries)
        await main._retry(runtime, summary)
        await wait_for(pilot, lambda: set(app.session.entries) - before, what="the retry")
        (retry_id,) = set(app.session.entries) - before
        retry = await final(pilot, app, retry_id)
        assert retry.execution.retry_of == failed.id
        assert retry.execution.prompt == prompt
        # Copying the error of a compacted one reads it back first.
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        main.task_tree.focus()
        main.task_tree.select_execution(failed.id)
        await pilot.press("Y")
        await wait_for(pilot, lambda: bool(copied), what="the copied error")
        assert copied[0].startswith("RuntimeError in node 2 (RealityFail)")


async def test_without_a_journal_every_listed_execution_stays_whole(server: EmbeddedServer) -> None:
    app = make_app(server.url, use_journal=False)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        app.main_screen.keep_detail = 0
        first = await final(pilot, app, (await run_workflow(pilot, app, "fail")).id)
        await final(pilot, app, (await run_workflow(pilot, app, "progress")).id)
        await pilot.pause()
        assert all(isinstance(e, ExecutionEntry) for e in app.session.entries.values())
        assert app.session.entries[first.id] is first and first.nodes
