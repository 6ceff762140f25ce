"""Deterministic screen states (fixed ids, times and numbers) for snapshots and README screenshots.

Each main-screen scene is a list of executions built exactly as the runtime would report them,
fed to the app as one :class:`TaskEventsBatch` with the clock frozen, so the picture never
changes between runs. The History scene is a journal written through its store with fixed
times, opened with ``h`` as a user would.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from comfy_reality.config import Settings
from comfy_reality.journal import JournalStore
from comfy_reality.journal.owners import InstanceKey, _process_start
from comfy_reality.journal.store import ExecutionSnapshot, NodeSnapshot
from comfy_reality.runtime.models import (
    ConnectionState,
    ErrorReport,
    OutputFile,
    ServerStatus,
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    WorkflowExecution,
)
from comfy_reality.server.catalogue import NodeCatalogue
from comfy_reality.tui import format as fmt
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.messages import ServerStatusChanged, SystemStatsUpdated, TaskEventsBatch
from comfy_reality.tui.screens.input_form import InputFormScreen
from comfy_reality.tui.screens.journal_screen import JournalScreen
from comfy_reality.tui.widgets import TaskTree
from comfy_reality.workflows import ObjectInfo

from .pilot import wait_for

T0 = datetime(2026, 11, 28, 1, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(seconds=42)
SERVER_URL = "http://127.0.0.1:8188"

SYSTEM_STATS: dict[str, Any] = {
    "system": {
        "os": "posix",
        "ram_total": 25_769_803_776,
        "ram_free": 17_179_869_184,
        "comfyui_version": "0.3.64",
    },
    "devices": [
        {
            "name": "cuda:0 NVIDIA GeForce RTX 4090",
            "type": "cuda",
            "index": 0,
            "vram_total": 25_757_220_864,
            "vram_free": 19_327_352_832,
        }
    ],
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
    error: ErrorReport | None = None
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
        execution_id=execution_id,
        metadata={"workflow_id": spec.name, "server_url": SERVER_URL},
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
                execution_id=execution_id,
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
            NodeSpec(
                "3",
                "KSampler",
                TaskStatus.FAILED,
                1.3,
                2.0,
                4,
                20,
                error="CUDA out of memory. Tried to allocate 2.00 GiB",
                error_type="OutOfMemoryError",
            ),
            NodeSpec("8", "VAEDecode", TaskStatus.CANCELLED, detail="not run: node 3 failed"),
            NodeSpec("9", "SaveImage", TaskStatus.CANCELLED, detail="not run: node 3 failed"),
        ]
    elif state == "cancelled":
        nodes += [
            NodeSpec(
                "3", "KSampler", TaskStatus.CANCELLED, 1.3, 2.4, 7, 20, detail="interrupted at step 7/20"
            ),
            NodeSpec("8", "VAEDecode", TaskStatus.CANCELLED, detail="not run: interrupted"),
            NodeSpec("9", "SaveImage", TaskStatus.CANCELLED, detail="not run: interrupted"),
        ]
    return nodes


def history() -> list[ExecutionSpec]:
    """Two finished runs that sit below the scene's main execution in the tree."""
    return [
        ExecutionSpec(
            "h1",
            "upscale-2x",
            TaskStatus.COMPLETED,
            0.0,
            0.1,
            3.4,
            [
                NodeSpec("1", "LoadImage", TaskStatus.COMPLETED, 0.1, 0.2),
                NodeSpec("2", "ImageScaleBy", TaskStatus.COMPLETED, 0.2, 3.3),
                NodeSpec("3", "SaveImage", TaskStatus.COMPLETED, 3.3, 3.4),
            ],
            outputs=[OutputFile(node_id="3", filename="upscaled_00001_.png")],
            number=1,
        ),
        ExecutionSpec(
            "h2",
            "reality-progress",
            TaskStatus.COMPLETED,
            1.0,
            3.5,
            5.0,
            [
                NodeSpec("1", "EmptyImage", TaskStatus.COMPLETED, 3.5, 3.6, cached=True),
                NodeSpec("2", "RealityProgress", TaskStatus.COMPLETED, 3.6, 4.9, 10, 10, 7.7),
                NodeSpec("3", "PreviewImage", TaskStatus.COMPLETED, 4.9, 5.0),
            ],
            number=2,
        ),
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
        error = ErrorReport(
            node_id="3",
            node_type="KSampler",
            exception_type="torch.OutOfMemoryError",
            exception_message="CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.99 GiB total capacity)",
            traceback=[
                '  File "/opt/ComfyUI/execution.py", line 496, in execute',
                '  File "/opt/ComfyUI/comfy/samplers.py", line 1161, in sample',
                "torch.OutOfMemoryError: CUDA out of memory.",
            ],
            executed=["4", "6", "7", "5"],
        )
    outputs = []
    if state == "completed":
        outputs = [
            OutputFile(node_id="9", filename="ComfyUI_00042_.png"),
            OutputFile(node_id="9", filename="ComfyUI_00043_.png"),
        ]
    detail = "interrupted by you (x)" if state == "cancelled" else None
    return ExecutionSpec(
        "main", "text-to-image", status, base, base + 1.0, end, nodes, error, outputs, detail, number=3
    )


def scene(state: str) -> tuple[TaskEventsBatch | None, ServerStatus, dict[str, Any] | None]:
    """(batch, server status, system stats) for one named state."""
    connected = ServerStatus(
        url=SERVER_URL,
        state=ConnectionState.CONNECTED,
        queue_remaining=1 if state == "running" else 0,
        changed_at=T0,
    )
    if state == "idle":
        return None, connected, SYSTEM_STATS
    if state == "disconnected":
        status = ServerStatus(
            url=SERVER_URL,
            state=ConnectionState.DOWN,
            reason="connection refused",
            retry_in=8.0,
            changed_at=NOW - timedelta(seconds=3),
        )
        return None, status, None
    return batch([*history(), main_execution(state)]), connected, SYSTEM_STATS


# ---------------------------------------------------------------------- History
JOURNAL_NOW = datetime(2026, 3, 14, 15, 30, 0, tzinfo=UTC)
"""The History scene's clock: its journal's times are minutes and days before this."""
FAILED_RUN = "ex-fail"


def prompt_of(execution_id: str) -> str:
    """A stable UUID-shaped prompt id, as ComfyUI's would look."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, execution_id))


def journal_execution(
    id_: str,
    name: str,
    status: str,
    minutes_ago: int,
    seconds: float | None,
    *,
    error: dict[str, Any] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    detail: str | None = None,
    prompt_id: str | None = "auto",
    server: str = SERVER_URL,
    node_errors: dict[str, Any] | None = None,
    started: bool = True,
    followed: bool = True,
) -> ExecutionSnapshot:
    """One execution as the recorder writes it: queued a second before it started ``minutes_ago``.

    An unfinished one is recorded by an app that still runs (``followed``), or else by one that
    stopped during it (a clean close released it), which History shows as interrupted."""
    start = JOURNAL_NOW - timedelta(minutes=minutes_ago)
    queued = start - timedelta(seconds=1)
    completed = start + timedelta(seconds=seconds) if seconds is not None else None
    return ExecutionSnapshot(
        id=id_,
        prompt_id=prompt_of(id_) if prompt_id == "auto" else prompt_id,
        server_url=server,
        client_id="client-1",
        workflow_id=name,
        name=name,
        number=minutes_ago,
        status=status,
        status_detail=detail,
        retry_of=None,
        progress=1.0 if completed else 0.3,
        prompt_json="{}",
        outputs_json="{}",
        output_files_json=json.dumps(outputs or []),
        error_json=json.dumps(error) if error else None,
        node_errors_json=json.dumps(node_errors or {}),
        created_at=queued.isoformat(),
        started_at=start.isoformat() if started else None,
        completed_at=completed.isoformat() if completed else None,
        own=followed and not TaskStatus(status).is_final,
        owner=live_owner() if followed and not TaskStatus(status).is_final else None,
    )


def live_owner() -> str:
    """The instance key of an app that still runs and follows its runs: this test's parent process."""
    parent = os.getppid()
    return str(InstanceKey(socket.gethostname(), parent, _process_start(parent) or "", "a-live-app"))


def journal_node(
    execution_id: str,
    node_id: str,
    class_type: str,
    status: str,
    *,
    error: str | None = None,
    cached: bool = False,
) -> NodeSnapshot:
    return NodeSnapshot(
        execution_id=execution_id,
        node_id=node_id,
        class_type=class_type,
        name=f"{class_type} #{node_id}",
        status=status,
        cached=cached,
        progress=1.0 if status == "completed" else 0.0,
        value=None,
        max=None,
        started_at=None,
        completed_at=None,
        error=error,
        error_type="RuntimeError" if error else None,
        status_detail=None,
        traceback_json="[]",
        outputs_json="{}",
    )


def _write(
    path: Path,
    executions: list[ExecutionSnapshot],
    nodes: list[NodeSnapshot],
    lost: dict[str, str] | None = None,
) -> None:
    store = JournalStore(path)
    try:
        store.write_batch(executions, nodes)
        for execution_id, reason in (lost or {}).items():
            if not store.mark_lost(execution_id, reason):
                raise RuntimeError(
                    f"{path}: {execution_id} had already finished, so it cannot be marked lost"
                )
    finally:
        store.close()


def fill_journal(path: Path) -> None:
    """Four executions: completed with outputs, failed at node 2, running, and one lost."""
    image = {
        "node_id": "3",
        "filename": "portrait_00001_.png",
        "subfolder": "",
        "type": "output",
        "kind": "images",
    }
    executions = [
        journal_execution("ex-done", "portrait", "completed", 50, 12.4, outputs=[image]),
        journal_execution(
            FAILED_RUN,
            "upscale",
            "failed",
            40,
            3.2,
            error={
                "node_id": "2",
                "node_type": "RealityFail",
                "exception_type": "RuntimeError",
                "exception_message": "CUDA out of memory",
                "traceback": ["line 1", "line 2"],
            },
        ),
        journal_execution("ex-run", "landscape", "running", 5, None),
        journal_execution("ex-lost", "night city", "running", 20, None),
    ]
    nodes = [
        journal_node("ex-done", "1", "EmptyImage", "completed", cached=True),
        journal_node("ex-done", "3", "SaveImage", "completed"),
        journal_node(FAILED_RUN, "1", "EmptyImage", "completed"),
        journal_node(FAILED_RUN, "2", "RealityFail", "failed", error="CUDA out of memory"),
        journal_node(FAILED_RUN, "3", "SaveImage", "cancelled"),
        journal_node("ex-run", "1", "KSampler", "running"),
        journal_node("ex-lost", "1", "KSampler", "pending"),
    ]
    lost = f"lost: the server at {SERVER_URL} no longer knows prompt {prompt_of('ex-lost')} (it restarted?)"
    _write(path, executions, nodes, {"ex-lost": lost})


def fill_history_journal(path: Path) -> None:
    """:func:`fill_journal` plus older runs, as a journal looks after some days of use."""
    fill_journal(path)

    def images(node_id: str, prefix: str, count: int, subfolder: str = "") -> list[dict[str, Any]]:
        return [
            {
                "node_id": node_id,
                "filename": f"{prefix}_{i:05d}_.png",
                "subfolder": subfolder,
                "type": "output",
                "kind": "images",
            }
            for i in range(1, count + 1)
        ]

    rejected = {
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "dependent_outputs": ["9"],
            "errors": [
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": "ckpt_name: 'sdxl_base.safetensors' not in ['v1-5-pruned-emaonly.safetensors']",
                }
            ],
        }
    }
    executions = [
        journal_execution(
            "ex-pose", "controlnet-pose", "completed", 130, 48.7, outputs=images("9", "pose", 4, "pose")
        ),
        journal_execution("ex-stop", "txt2img-basic", "cancelled", 190, 7.5, detail="interrupted by you (x)"),
        journal_execution(
            "ex-rej",
            "inpaint-sdxl",
            "failed",
            26 * 60,
            None,
            prompt_id=None,
            node_errors=rejected,
            started=False,
            detail="rejected by the server: 1 node has invalid inputs",
        ),
        journal_execution(
            "ex-long", "long-sampler", "completed", 3 * 24 * 60, 245.0, outputs=images("9", "long", 1)
        ),
        journal_execution(
            "ex-old", "image-invert-scale", "completed", 20 * 24 * 60, 0.4, outputs=images("5", "inv", 2)
        ),
    ]
    graphs = {
        "ex-pose": ["CheckpointLoaderSimple", "ControlNetLoader", "KSampler", "VAEDecode", "SaveImage"],
        "ex-stop": ["CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "VAEDecode", "SaveImage"],
        "ex-long": ["EmptyLatentImage", "KSampler", "VAEDecode", "SaveImage"],
        "ex-old": ["LoadImage", "ImageInvert", "ImageScaleBy", "SaveImage"],
    }
    states = {"ex-stop": ["completed", "completed", "cancelled", "cancelled", "cancelled"]}
    nodes = [
        journal_node(key, str(i), kind, states.get(key, ["completed"] * len(kinds))[i - 1])
        for key, kinds in graphs.items()
        for i, kind in enumerate(kinds, 1)
    ]
    _write(path, executions, nodes)


def _history(app: App[Any]) -> JournalScreen | None:
    """The History screen once it has listed the journal, else None."""
    screen = app.screen
    return screen if isinstance(screen, JournalScreen) and screen.loaded > 0 else None


async def open_history(pilot: Pilot[None]) -> JournalScreen:
    """Open History with ``h`` over the app's journal and move down to the failed run, as a user would."""
    app = pilot.app
    if not isinstance(app, ComfyRealityApp):
        raise TypeError(f"the History scene needs a ComfyRealityApp, not {type(app).__name__}")
    if not app.use_journal:
        raise ValueError(
            "the History scene needs an app with a journal: scene_app(workflows, journal_path) "
            "over a journal filled by fill_history_journal"
        )
    fmt.freeze_clock(JOURNAL_NOW)
    await wait_for(
        pilot, lambda: app.journal is not None and bool(app.workflow_files), what="app and journal ready"
    )
    app.clear_notifications()
    await pilot.press("h")
    await wait_for(pilot, lambda: _history(app) is not None, what="History listing the journal")
    await pilot.press("down", "down")

    def failed_run_selected() -> bool:
        history = _history(app)
        return history is not None and history.selected is not None and history.selected.id == FAILED_RUN

    await wait_for(pilot, failed_run_selected, what=f"History showing {FAILED_RUN}")
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    history = _history(app)
    assert history is not None
    return history


# --------------------------------------------------------------- the scenes on a running app
STATES = [
    "idle",
    "running",
    "completed",
    "failed",
    "cancelled",
    "disconnected",
    "help",
    "input_form",
    "history",
]
SIZES = {"80x24": (80, 24), "120x40": (120, 40), "160x48": (160, 48)}


def scene_app(workflows_dir: Path | None = None, journal_path: Path | None = None) -> ComfyRealityApp:
    """An offline app whose workflow list comes from ``workflows_dir`` only.

    Its journal is ``journal_path``; without one the journal is off, so a scene never opens
    the user's own.
    """
    app = ComfyRealityApp(
        Settings(server_url=SERVER_URL, images="off"),  # the same picture from a terminal or a pipe
        connect=False,
        bundled_dir=workflows_dir,
        journal_path=journal_path,
        use_journal=journal_path is not None,
        log_settle=0.0,  # lines drawn as they come: the picture does not wait on a timer
    )
    app.sources = app.sources[:1]
    app.log_timezone = UTC  # the same picture in every time zone
    return app


async def apply_scene(pilot: Pilot[None], state: str) -> None:
    """Put a running app into one named state and wait until it has drawn it.

    ``history`` needs the app's journal filled by :func:`fill_history_journal`.
    """
    app = pilot.app
    assert isinstance(app, ComfyRealityApp)
    if state == "history":
        await open_history(pilot)
        return
    fmt.freeze_clock(NOW)
    await wait_for(pilot, lambda: bool(app.workflow_files))
    scene_state = "idle" if state in ("help", "input_form") else state
    batch, status, stats = scene(scene_state)
    app.post_message(ServerStatusChanged(status))
    if stats is not None:
        app.post_message(SystemStatsUpdated(stats))
    if batch is not None:
        app.post_message(batch)
        await wait_for(pilot, lambda: "exec_main" in app.session.entries)
        tree = app.query_one(TaskTree)
        tree.focus()
        tree.select_execution("exec_main")
        await pilot.pause()
        if state == "running":
            tree.select_execution("exec_main")
            tree.action_toggle_node()
    if state == "help":
        await pilot.press("f1")
    if state == "input_form":
        await open_form_scene(pilot, app)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def demo_object_info() -> ObjectInfo:
    """What ``--demo`` serves: the recorded catalogue plus its virtual model files (no input images)."""
    with tempfile.TemporaryDirectory() as empty:
        return ObjectInfo(NodeCatalogue(Path(empty)).object_info())


async def open_form_scene(pilot: Pilot[None], app: ComfyRealityApp) -> None:
    """The form of the first workflow with a sampler, against the demo server's node catalogue."""
    app.object_info = demo_object_info()
    candidates = [wf for wf in app.workflow_files if wf.ok and "KSampler" in wf.class_types] or [
        wf for wf in app.workflow_files if wf.ok
    ]
    workflow = candidates[0]
    app.browser.highlight(workflow.name)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen))
    for editor in app.screen.query(".field-editor"):
        if isinstance(editor, (Input, TextArea)):
            editor.cursor_blink = False
    await pilot.pause()


# ------------------------------------------------------------- whole-server screens
SERVER_STATES = ["queue", "server_history"]
SERVER_SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
WEB_UI_CLIENT = "7f3c2a9e51d04b6c8e2f1a0b9c8d7e6f"
OUR_CLIENT = "c0ffee00c0ffee00c0ffee00c0ffee00"


def _queue_entry(position: int, prompt_id: str, owner: Any, name: str | None, nodes: int, age: float) -> Any:
    from comfy_reality.runtime.server_queue import Owner, QueueEntry

    client = {Owner.THIS_APP: OUR_CLIENT, Owner.OTHER_CLIENT: WEB_UI_CLIENT, Owner.NO_CLIENT: None}.get(
        owner, "0ld1n57a9ce0000000000000000000000"
    )
    return QueueEntry(
        server_url=SERVER_URL,
        state="running" if position == 0 else "pending",
        position=position,
        prompt_id=prompt_id,
        number=float(40 + position),
        client_id=client,
        owner=owner,
        workflow_name=name,
        node_count=nodes,
        # The runtime knows when this app queued its own prompts; others' were only seen.
        queued_at=NOW - timedelta(seconds=age) if owner is Owner.THIS_APP else None,
        first_seen=NOW - timedelta(seconds=age),
    )


def queue_snapshot() -> Any:
    """A busy shared server: the web UI's prompt runs, ours and others wait."""
    from comfy_reality.runtime.server_queue import Owner, QueueSnapshot

    return QueueSnapshot(
        server_url=SERVER_URL,
        taken_at=NOW,
        running=[
            _queue_entry(
                0, "a1b2c3d4-0000-4000-8000-000000000001", Owner.OTHER_CLIENT, "workflow 5e1f0c2a", 23, 95
            )
        ],
        pending=[
            _queue_entry(1, "b2c3d4e5-0000-4000-8000-000000000002", Owner.THIS_APP, "txt2img-basic", 7, 61),
            _queue_entry(
                2, "c3d4e5f6-0000-4000-8000-000000000003", Owner.OTHER_CLIENT, "workflow 5e1f0c2a", 23, 48
            ),
            _queue_entry(
                3, "d4e5f6a7-0000-4000-8000-000000000004", Owner.OTHER_INSTANCE, "upscale-2x", 5, 30
            ),
            _queue_entry(4, "e5f6a7b8-0000-4000-8000-000000000005", Owner.NO_CLIENT, None, 3, 4),
        ],
    )


def server_history_items() -> list[Any]:
    from comfy_reality.runtime.server_history import ServerHistoryItem
    from comfy_reality.runtime.server_queue import Owner

    def item(n: int, status: str, owner: Any, name: str | None, took: float, ago: float, **kw: Any) -> Any:
        ended = NOW - timedelta(seconds=ago)
        return ServerHistoryItem(
            prompt_id=f"{n:08x}-1111-4000-8000-00000000000{n}",
            number=float(30 - n),
            status=status,  # type: ignore[arg-type]
            started_at=ended - timedelta(seconds=took),
            ended_at=ended,
            client_id={Owner.THIS_APP: OUR_CLIENT, Owner.OTHER_CLIENT: WEB_UI_CLIENT}.get(owner),
            owner=owner,
            workflow_name=name,
            node_count=7,
            **kw,
        )

    image = OutputFile(node_id="9", filename="ComfyUI_00042_.png", type="output")
    return [
        item(1, "success", Owner.OTHER_CLIENT, "workflow 5e1f0c2a", 14.2, 20, outputs=[image]),
        item(
            2,
            "error",
            Owner.THIS_APP,
            "txt2img-basic",
            3.1,
            300,
            error="node 2 (RealityFail): RuntimeError: CUDA out of memory",
        ),
        item(3, "interrupted", Owner.OTHER_CLIENT, "workflow 5e1f0c2a", 6.0, 900),
        item(4, "success", Owner.THIS_APP, "portrait", 12.4, 3600, outputs=[image, image]),
    ]


class FakeServerSide:
    """Answers the two screens' runtime calls with the fixed scene data (no server)."""

    def __init__(self) -> None:
        self.snapshot = queue_snapshot()
        self.items = server_history_items()

    async def follow_queue(self, fallback_interval: float = 10.0) -> Any:
        yield self.snapshot
        await asyncio.Event().wait()  # the scene's server never changes

    async def delete_queued(self, prompt_ids: Any) -> Any:
        raise NotImplementedError

    async def clear_queue(self, *, only_app: bool = False) -> Any:
        raise NotImplementedError

    async def move_queued(self, prompt_id: str, to: Any, anchor: str | None = None) -> Any:
        raise NotImplementedError

    async def server_history(self, max_items: int | None = 200) -> list[Any]:
        return self.items

    async def delete_server_history(self, prompt_ids: Any) -> None:
        raise NotImplementedError

    async def clear_server_history(self) -> None:
        raise NotImplementedError

    async def history_prompt(self, prompt_id: str) -> Any:
        raise NotImplementedError


async def apply_server_scene(pilot: Pilot[None], state: str) -> None:
    """The Queue or Server History screen over fixed data, clock frozen, as drawn after loading."""
    from comfy_reality.tui.screens.server_history import ServerHistoryScreen
    from comfy_reality.tui.screens.server_queue import QueueScreen

    app = pilot.app
    assert isinstance(app, ComfyRealityApp)
    fmt.freeze_clock(NOW)
    await wait_for(pilot, lambda: bool(app.workflow_files))
    source = FakeServerSide()
    if state == "queue":
        queue = QueueScreen(source, SERVER_URL)
        app.push_screen(queue)
        await wait_for(pilot, lambda: queue.updates > 0, what="queue shown")
    else:
        history = ServerHistoryScreen(source, SERVER_URL)
        app.push_screen(history)
        await wait_for(pilot, lambda: history.loaded > 0, what="history shown")
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
