"""The app's batches copy what still changes and share what has ended (one model per finished run)."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any

from comfy_reality.runtime.manager import AsyncTaskManager
from comfy_reality.runtime.models import TaskEvent, TaskStatus, WorkflowExecution
from comfy_reality.runtime.tree import add_task_tree
from comfy_reality.tui.backend import EndedRun, keep_ended, snapshot_batch
from comfy_reality.tui.state import ExecutionEntry, SessionState


def _runtime() -> tuple[Any, AsyncTaskManager, WorkflowExecution]:
    manager = AsyncTaskManager()
    execution = WorkflowExecution(workflow_id="w", prompt={"1": {"class_type": "A", "inputs": {}}})
    add_task_tree(manager, execution)
    return SimpleNamespace(task_manager=manager, executions={execution.id: execution}), manager, execution


def _event(task_id: str, execution_id: str) -> TaskEvent:
    return TaskEvent(task_id=task_id, event_type="updated", execution_id=execution_id)


def test_running_tasks_and_executions_are_copied() -> None:
    runtime, manager, execution = _runtime()
    (node,) = execution.tasks
    manager.start(node.id)
    batch = snapshot_batch(runtime, [_event(node.id, execution.id)])
    assert batch.tasks[node.id] is not node and batch.tasks[node.id].status is TaskStatus.RUNNING
    assert batch.executions[execution.id] is not execution
    manager.set_progress(node.id, 0.5)
    assert batch.tasks[node.id].progress == 0.0  # the snapshot does not move with the runtime


def test_final_tasks_and_executions_are_shared_not_copied() -> None:
    runtime, manager, execution = _runtime()
    (node,) = execution.tasks
    workflow_id = execution.workflow_task_id
    assert workflow_id is not None
    manager.finish(node.id, TaskStatus.COMPLETED)
    manager.finish(workflow_id, TaskStatus.COMPLETED)
    execution.status = TaskStatus.COMPLETED
    batch = snapshot_batch(runtime, [_event(node.id, execution.id)])
    assert batch.tasks[node.id] is node
    assert batch.tasks[workflow_id] is manager.get_task(workflow_id)
    assert batch.executions[execution.id] is execution


def test_a_run_the_runtime_let_go_before_its_batch_still_ends_as_it_did() -> None:
    # Two runs end before the app builds its next batch, and the runtime keeps only one finished
    # run: the older one's final tasks and execution come from what was kept as it ended.
    manager = AsyncTaskManager(max_finished_roots=1)
    runtime = SimpleNamespace(task_manager=manager, executions={})
    ended: dict[str, EndedRun] = {}
    manager.on_root_final(partial(keep_ended, runtime, ended))
    subscription = manager.events()
    runs = []
    for name in ("first", "second"):
        execution = WorkflowExecution(
            workflow_id=name, prompt={"1": {"class_type": "A", "inputs": {}}, "2": {"class_type": "B"}}
        )
        workflow, nodes = add_task_tree(manager, execution)
        runtime.executions[execution.id] = execution
        manager.start(workflow.id)
        for node in nodes:
            manager.start(node.id)
            manager.set_progress(node.id, 0.5)
            manager.finish(node.id, TaskStatus.COMPLETED)
        execution.status = TaskStatus.COMPLETED
        manager.finish(workflow.id, TaskStatus.COMPLETED)
        if len(runtime.executions) > 1:  # what the runtime's retention does next
            del runtime.executions[runs[0].id]
        runs.append(execution)
    first = runs[0]
    assert manager.get_task(first.workflow_task_id or "") is None and first.id not in runtime.executions

    batch = snapshot_batch(runtime, subscription.drain(), ended)
    session = SessionState()
    session.apply(batch.tasks, batch.executions)
    for run in runs:
        entry = session.entries[run.id]
        assert isinstance(entry, ExecutionEntry) and entry.execution is run
        assert entry.status is TaskStatus.COMPLETED
        assert entry.workflow_task is not None and entry.workflow_task.status is TaskStatus.COMPLETED
        assert [t.status for t in entry.nodes.values()] == [TaskStatus.COMPLETED] * 2
        assert list(entry.nodes.values()) == run.tasks  # the runtime's final objects, not copies
    assert ended == {}  # carried: nothing more is kept for them


def test_without_the_kept_end_a_let_go_run_would_be_missing() -> None:
    # The same race with nothing kept: the batch cannot carry the run (the test above would fail).
    manager = AsyncTaskManager(max_finished_roots=0)
    execution = WorkflowExecution(workflow_id="w", prompt={"1": {"class_type": "A", "inputs": {}}})
    workflow, (node,) = add_task_tree(manager, execution)
    subscription = manager.events()
    manager.finish(node.id, TaskStatus.COMPLETED)
    execution.status = TaskStatus.COMPLETED
    manager.finish(workflow.id, TaskStatus.COMPLETED)
    batch = snapshot_batch(SimpleNamespace(task_manager=manager, executions={}), subscription.drain())
    assert batch.tasks == {} and batch.executions == {}
