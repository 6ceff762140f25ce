"""Deterministic screen states (fixed ids, times and numbers) for snapshots and README screenshots.

Each scene is a list of executions built exactly as the runtime would report them, fed to
the app as one :class:`TaskEventsBatch` with the clock frozen, so the picture never changes
between runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..runtime.models import (
    ConnectionState,
    ExecutionError,
    OutputFile,
    ServerStatus,
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    WorkflowExecution,
)
from .messages import TaskEventsBatch

T0 = datetime(2026, 11, 28, 1, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(seconds=42)
SERVER_URL = "http://127.0.0.1:8188"

SYSTEM_STATS: dict[str, Any] = {
    "system": {"os": "posix", "ram_total": 25_769_803_776, "ram_free": 17_179_869_184, "comfyui_version": "0.3.64"},
    "devices": [{"name": "cuda:0 NVIDIA GeForce RTX 4090", "type": "cuda", "index": 0,
                 "vram_total": 25_757_220_864, "vram_free": 19_327_352_832}],
}


@dataclass
class NodeSpec:
    node_id: str
    class_type: str
    status: TaskStatus = TaskStatus.PENDING
    start: float | None = None
    end: float | None = None
    value: float | None = None
    max: float | None = None
    rate: float | None = None
    eta: float | None = None
    cached: bool = False
    error: str | None = None
    error_type: str | None = None
    detail: str | None = None


@dataclass
class ExecutionSpec:
    key: str
    name: str
    status: TaskStatus
    created: float
    start: float | None = None
    end: float | None = None
    nodes: list[NodeSpec] = field(default_factory=list)
    error: ExecutionError | None = None
    outputs: list[OutputFile] = field(default_factory=list)
    detail: str | None = None
    number: int = 1


def _at(offset: float | None) -> datetime | None:
    return None if offset is None else T0 + timedelta(seconds=offset)


def build(spec: ExecutionSpec) -> tuple[WorkflowExecution, list[Task]]:
    execution_id = f"exec_{spec.key}"
    workflow_task = Task(
        id=f"workflow_{spec.key}",
        type=TaskType.WORKFLOW,
        status=spec.status,
        name=spec.name,
        created_at=_at(spec.created) or T0,
        started_at=_at(spec.start),
        completed_at=_at(spec.end),
        prompt_id=f"{spec.key}0000-1111-2222-3333-444455556666",
        metadata={"execution_id": execution_id, "workflow_id": spec.name, "server_url": SERVER_URL},
    )
    tasks = [workflow_task]
    for node in spec.nodes:
        tasks.append(
            Task(
                id=f"node_{spec.key}_{node.node_id}",
                type=TaskType.NODE,
                status=node.status,
                name=f"{node.class_type} #{node.node_id}",
                parent_id=workflow_task.id,
                node_id=node.node_id,
                class_type=node.class_type,
                created_at=_at(spec.created) or T0,
                started_at=_at(node.start),
                completed_at=_at(node.end),
                value=node.value,
                max=node.max,
                rate=node.rate,
                eta_seconds=node.eta,
                progress=(node.value / node.max) if node.value is not None and node.max else 0.0,
                cached=node.cached,
                error=node.error,
                error_type=node.error_type,
                status_detail=node.detail,
            )
        )
    execution = WorkflowExecution(
        id=execution_id,
        workflow_id=spec.name,
        name=spec.name,
        status=spec.status,
        created_at=_at(spec.created) or T0,
        started_at=_at(spec.start),
        completed_at=_at(spec.end),
        server_url=SERVER_URL,
        prompt_id=workflow_task.prompt_id,
        number=spec.number,
        workflow_task_id=workflow_task.id,
        error=spec.error,
        output_files=spec.outputs,
        status_detail=spec.detail,
    )
    return execution, tasks


def batch(specs: list[ExecutionSpec]) -> TaskEventsBatch:
    tasks: dict[str, Task] = {}
    executions: dict[str, WorkflowExecution] = {}
    events: list[TaskEvent] = []
    for spec in specs:
        execution, built = build(spec)
        executions[execution.id] = execution
        for task in built:
            tasks[task.id] = task
    return TaskEventsBatch(events, tasks, executions)


def _txt2img_nodes(state: str) -> list[NodeSpec]:
    done = TaskStatus.COMPLETED
    nodes = [
        NodeSpec("4", "CheckpointLoaderSimple", done, 1.0, 1.0, cached=True),
        NodeSpec("6", "CLIPTextEncode", done, 1.0, 1.0, cached=True),
        NodeSpec("7", "CLIPTextEncode", done, 1.0, 1.2),
        NodeSpec("5", "EmptyLatentImage", done, 1.2, 1.3),
    ]
    if state == "running":
        nodes += [
            NodeSpec("3", "KSampler", TaskStatus.RUNNING, 1.3, None, 13, 20, 6.2, 1.1),
            NodeSpec("8", "VAEDecode"),
            NodeSpec("9", "SaveImage"),
        ]
    elif state == "completed":
        nodes += [
            NodeSpec("3", "KSampler", done, 1.3, 4.5, 20, 20, 6.3),
            NodeSpec("8", "VAEDecode", done, 4.5, 4.9),
            NodeSpec("9", "SaveImage", done, 4.9, 5.1),
        ]
    elif state == "failed":
        nodes += [
            NodeSpec("3", "KSampler", TaskStatus.FAILED, 1.3, 2.0, 4, 20, error="CUDA out of memory. Tried to allocate 2.00 GiB",
                     error_type="OutOfMemoryError"),
            NodeSpec("8", "VAEDecode", TaskStatus.CANCELLED, detail="not run: node 3 failed"),
            NodeSpec("9", "SaveImage", TaskStatus.CANCELLED, detail="not run: node 3 failed"),
        ]
    elif state == "cancelled":
        nodes += [
            NodeSpec("3", "KSampler", TaskStatus.CANCELLED, 1.3, 2.4, 7, 20, detail="interrupted at step 7/20"),
            NodeSpec("8", "VAEDecode", TaskStatus.CANCELLED, detail="not run: interrupted"),
            NodeSpec("9", "SaveImage", TaskStatus.CANCELLED, detail="not run: interrupted"),
        ]
    return nodes


def history() -> list[ExecutionSpec]:
    """Two finished runs that sit below the scene's main execution in the tree."""
    return [
        ExecutionSpec("h1", "upscale-2x", TaskStatus.COMPLETED, 0.0, 0.1, 3.4,
                      [NodeSpec("1", "LoadImage", TaskStatus.COMPLETED, 0.1, 0.2),
                       NodeSpec("2", "ImageScaleBy", TaskStatus.COMPLETED, 0.2, 3.3),
                       NodeSpec("3", "SaveImage", TaskStatus.COMPLETED, 3.3, 3.4)],
                      outputs=[OutputFile(node_id="3", filename="upscaled_00001_.png")], number=1),
        ExecutionSpec("h2", "reality-progress", TaskStatus.COMPLETED, 1.0, 3.5, 5.0,
                      [NodeSpec("1", "EmptyImage", TaskStatus.COMPLETED, 3.5, 3.6, cached=True),
                       NodeSpec("2", "RealityProgress", TaskStatus.COMPLETED, 3.6, 4.9, 10, 10, 7.7),
                       NodeSpec("3", "PreviewImage", TaskStatus.COMPLETED, 4.9, 5.0)], number=2),
    ]


def main_execution(state: str) -> ExecutionSpec:
    status = {
        "running": TaskStatus.RUNNING,
        "completed": TaskStatus.COMPLETED,
        "failed": TaskStatus.FAILED,
        "cancelled": TaskStatus.CANCELLED,
    }[state]
    base = 30.0
    nodes = _txt2img_nodes(state)
    for node in nodes:
        node.start = None if node.start is None else base + node.start
        node.end = None if node.end is None else base + node.end
    end = {"running": None, "completed": base + 5.1, "failed": base + 2.0, "cancelled": base + 2.4}[state]
    error = None
    if state == "failed":
        error = ExecutionError(
            node_id="3", node_type="KSampler", exception_type="torch.OutOfMemoryError",
            exception_message="CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.99 GiB total capacity)",
            traceback=['  File "/opt/ComfyUI/execution.py", line 496, in execute',
                       '  File "/opt/ComfyUI/comfy/samplers.py", line 1161, in sample',
                       "torch.OutOfMemoryError: CUDA out of memory."],
            executed=["4", "6", "7", "5"],
        )
    outputs = []
    if state == "completed":
        outputs = [OutputFile(node_id="9", filename="ComfyUI_00042_.png"),
                   OutputFile(node_id="9", filename="ComfyUI_00043_.png")]
    detail = "interrupted by you (x)" if state == "cancelled" else None
    return ExecutionSpec("main", "text-to-image", status, base, base + 1.0, end, nodes, error, outputs, detail, number=3)


def scene(state: str) -> tuple[TaskEventsBatch | None, ServerStatus, dict[str, Any] | None]:
    """(batch, server status, system stats) for one named state."""
    connected = ServerStatus(url=SERVER_URL, state=ConnectionState.CONNECTED,
                             queue_remaining=1 if state == "running" else 0, changed_at=T0)
    if state == "idle":
        return None, connected, SYSTEM_STATS
    if state == "disconnected":
        status = ServerStatus(url=SERVER_URL, state=ConnectionState.DOWN,
                              reason="connection refused", retry_in=8.0, changed_at=NOW - timedelta(seconds=3))
        return None, status, None
    return batch([*history(), main_execution(state)]), connected, SYSTEM_STATS
