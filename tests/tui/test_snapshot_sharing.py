"""The app's batches copy what still changes and share what has ended (one model per finished run)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from comfy_reality.runtime.manager import AsyncTaskManager
from comfy_reality.runtime.models import TaskEvent, TaskStatus, WorkflowExecution
from comfy_reality.runtime.tree import add_task_tree
from comfy_reality.tui.backend import snapshot_batch


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
