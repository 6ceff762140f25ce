"""A runtime stand-in that drives the task manager the way ComfyUIAsyncRuntime does (contract),
so the journal is tested on its own. End-to-end tests against the real runtime live in tests/faults."""

from __future__ import annotations

import uuid
from typing import Any

from comfy_reality.runtime import AsyncTaskManager, ServerUnreachableError, Task, TaskStatus, add_task_tree
from comfy_reality.runtime.models import ErrorReport, OutputFile, WorkflowExecution

PROMPT: dict[str, Any] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "RealityProgress", "inputs": {"image": ["1", 0], "steps": 10, "delay": 0.0}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "j"}},
}


class FakeClient:
    def __init__(self) -> None:
        self.queue: dict[str, Any] = {"queue_running": [], "queue_pending": []}
        self.history: dict[str, Any] = {}
        self.unreachable = False
        self.history_calls: list[str] = []

    async def get_queue(self) -> dict[str, Any]:
        if self.unreachable:
            raise ServerUnreachableError("http://fake:8188", "connection refused")
        return self.queue

    async def get_history(self, prompt_id: str | None = None, max_items: int | None = None) -> dict[str, Any]:
        assert prompt_id is not None
        self.history_calls.append(prompt_id)
        return {prompt_id: self.history[prompt_id]} if prompt_id in self.history else {}


class FakeRuntime:
    def __init__(self, server_url: str = "http://fake:8188", client_id: str = "client-live") -> None:
        self.task_manager = AsyncTaskManager()
        self.executions: dict[str, WorkflowExecution] = {}
        self.server_url = server_url
        self.client_id = client_id
        self.client = FakeClient()
        self.attached: list[dict[str, Any]] = []

    def new_execution(
        self,
        prompt: dict[str, Any] | None = None,
        *,
        name: str = "txt2img",
        prompt_id: str | None = None,
        retry_of: str | None = None,
    ) -> WorkflowExecution:
        prompt = prompt if prompt is not None else PROMPT
        execution = WorkflowExecution(
            workflow_id=name,
            name=name,
            server_url=self.server_url,
            client_id=self.client_id,
            prompt=prompt,
            retry_of=retry_of,
        )
        self.executions[execution.id] = execution
        workflow, _nodes = add_task_tree(self.task_manager, execution)
        pid = prompt_id or str(uuid.uuid4())
        execution.prompt_id = pid
        execution.number = len(self.executions)
        self.task_manager.update(workflow.id, prompt_id=pid)
        return execution

    def workflow(self, execution: WorkflowExecution) -> Task:
        task = self.task_manager.get_task(execution.workflow_task_id or "")
        assert task is not None
        return task

    def node(self, execution: WorkflowExecution, node_id: str) -> Task:
        task = execution.node_task(node_id)
        assert task is not None
        return task

    def run_node(self, execution: WorkflowExecution, node_id: str, steps: int = 0) -> None:
        if execution.status is TaskStatus.PENDING:
            execution.status = TaskStatus.RUNNING
            execution.started_at = self.workflow(execution).started_at
            self.task_manager.start(self.workflow(execution).id)
        task = self.node(execution, node_id)
        self.task_manager.start(task.id)
        for step in range(1, steps + 1):
            self.task_manager.set_progress(task.id, step / steps, value=step, max=steps)
        self.task_manager.finish(task.id, TaskStatus.COMPLETED)

    def complete(self, execution: WorkflowExecution, files: list[OutputFile] | None = None) -> None:
        execution.output_files = files or [OutputFile(node_id="3", filename="j_00001_.png")]
        execution.outputs = {
            "3": {"images": [{"filename": "j_00001_.png", "subfolder": "", "type": "output"}]}
        }
        execution.status = TaskStatus.COMPLETED
        self.task_manager.finish(self.workflow(execution).id, TaskStatus.COMPLETED)
        execution.completed_at = self.workflow(execution).completed_at

    def fail(self, execution: WorkflowExecution, node_id: str, message: str) -> None:
        task = self.node(execution, node_id)
        self.task_manager.start(task.id)
        self.task_manager.finish(task.id, TaskStatus.FAILED, error=message, error_type="RuntimeError")
        execution.error = ErrorReport(
            node_id=node_id,
            node_type=task.class_type,
            exception_type="RuntimeError",
            exception_message=message,
        )
        execution.status = TaskStatus.FAILED
        self.task_manager.finish(
            self.workflow(execution).id, TaskStatus.FAILED, error=message, error_type="RuntimeError"
        )

    async def attach(
        self,
        prompt_id: str,
        *,
        prompt: dict[str, Any] | None = None,
        name: str | None = None,
        client_id: str | None = None,
        number: int | None = None,
    ) -> WorkflowExecution:
        self.attached.append(
            {"prompt_id": prompt_id, "prompt": prompt, "name": name, "client_id": client_id, "number": number}
        )
        execution = self.new_execution(prompt or PROMPT, name=name or "attached", prompt_id=prompt_id)
        execution.client_id = client_id
        return execution
