"""Feeding one frame sequence through the usual path and through SnapshotHold, and comparing.

Shared by ``test_snapshot_hold.py`` and ``benchmarks/snapshots.py``. The usual path is what a
socket without a hold does per frame (``ComfyUIAsyncRuntime._on_frame``: parse, route, fold);
the fast path feeds the same frames to a :class:`SnapshotHold` in front of a second runtime.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from comfy_reality.runtime import ComfyUIAsyncRuntime, WorkflowExecution
from comfy_reality.runtime.snapshots import SnapshotHold
from comfy_reality.runtime.tracker import Tracker

Layout = Literal["comfy", "compact", "indented", "reordered"]


def encode(kind: str, data: dict[str, Any], layout: Layout = "comfy") -> str:
    """A text frame as ComfyUI writes it (``comfy``), or as a proxy might re-encode it."""
    if layout == "compact":
        return json.dumps({"type": kind, "data": data}, separators=(",", ":"))
    if layout == "indented":
        return json.dumps({"type": kind, "data": data}, indent=1)
    if layout == "reordered":
        return json.dumps({"data": dict(reversed(list(data.items()))), "type": kind})
    return json.dumps({"type": kind, "data": data})


def entry(
    prompt_id: str, node_id: str, state: str, value: float, maximum: float, **ids: Any
) -> dict[str, Any]:
    """One ``progress_state`` entry, with ComfyUI's keys in ComfyUI's order."""
    return {
        "value": value,
        "max": maximum,
        "state": state,
        "node_id": node_id,
        "prompt_id": prompt_id,
        "display_node_id": ids.get("display", node_id),
        "parent_node_id": ids.get("parent"),
        "real_node_id": ids.get("real", node_id),
    }


def chain_frames(
    prompt_id: str,
    node_ids: Sequence[str],
    steps: int,
    *,
    layout: Layout = "comfy",
    extra: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[str]:
    """What a server sends for nodes run one after another, each with ``steps`` progress steps.

    ``extra(index, nodes)`` may add or change entries of every snapshot (hostile ones, children).
    """
    nodes: dict[str, Any] = {}
    frames = [encode("execution_start", {"prompt_id": prompt_id, "timestamp": 1}, layout)]
    frames.append(encode("execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": 1}, layout))
    count = 0

    def snapshot() -> None:
        nonlocal count
        count += 1
        current = dict(nodes)
        if extra is not None:
            extra(count, current)
        frames.append(encode("progress_state", {"prompt_id": prompt_id, "nodes": current}, layout))

    for node_id in node_ids:
        nodes[node_id] = entry(prompt_id, node_id, "running", 0.0, 1.0)
        snapshot()
        frames.append(
            encode("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id}, layout)
        )
        for step in range(1, steps + 1):
            nodes[node_id] = entry(prompt_id, node_id, "running", step, steps)
            snapshot()
            progress = {"value": step, "max": steps, "prompt_id": prompt_id, "node": node_id}
            frames.append(encode("progress", progress, layout))
        output = {"text": [f"ran {node_id}"]}
        frames.append(
            encode(
                "executed",
                {"node": node_id, "display_node": node_id, "output": output, "prompt_id": prompt_id},
                layout,
            )
        )
        nodes[node_id] = entry(prompt_id, node_id, "finished", steps, steps)
        snapshot()
    frames.append(encode("execution_success", {"prompt_id": prompt_id, "timestamp": 2}, layout))
    frames.append(encode("executing", {"node": None, "prompt_id": prompt_id}, layout))
    return frames


def interleave(*sequences: Sequence[str]) -> list[str]:
    """Frames of several prompts taken in turn (one socket hearing prompts of several clients)."""
    out: list[str] = []
    longest = max(len(s) for s in sequences)
    for index in range(longest):
        out.extend(s[index] for s in sequences if index < len(s))
    return out


def chain_prompt(node_ids: Iterable[str]) -> dict[str, Any]:
    return {node_id: {"class_type": "RealityProgress", "inputs": {}} for node_id in node_ids}


def followed(prompts: dict[str, dict[str, Any]]) -> tuple[ComfyUIAsyncRuntime, dict[str, Tracker]]:
    """A runtime (no server, no socket) following each prompt id with its registered tracker."""
    runtime = ComfyUIAsyncRuntime("http://127.0.0.1:9")
    trackers: dict[str, Tracker] = {}
    for prompt_id, prompt in prompts.items():
        execution = WorkflowExecution(
            workflow_id="w", prompt_id=prompt_id, prompt=prompt, client_id=runtime.client_id
        )
        tracker = runtime._new_tracker(execution)
        runtime._register(tracker)
        trackers[prompt_id] = tracker
    return runtime, trackers


def fold_state(trackers: dict[str, Tracker]) -> list[Any]:
    """Everything a view reads from the folded state, except clock-derived figures (rate, ETA, times)."""
    out: list[Any] = []
    for prompt_id, tracker in trackers.items():
        execution = tracker.execution
        out.append((prompt_id, tracker.state, execution.status, execution.status_detail, tracker.current))
        workflow = tracker.workflow_task
        if workflow is not None:
            out.append(("workflow", workflow.status, workflow.progress, workflow.status_detail))
        for task in execution.tasks:
            out.append(
                (
                    task.node_id,
                    task.status,
                    task.value,
                    task.max,
                    task.progress,
                    task.cached,
                    task.status_detail,
                    task.outputs,
                    task.started_at is None,
                )
            )
    return out


def is_passing(frame: str | bytes) -> bool:
    """Frames a held snapshot may be behind: snapshots themselves, progress, previews."""
    if isinstance(frame, bytes):
        return frame[:4] in (b"\x00\x00\x00\x01", b"\x00\x00\x00\x04")
    return frame.startswith(('{"type": "progress', '{"type":"progress'))


def compare_paths(frames: Sequence[str | bytes], prompts: dict[str, dict[str, Any]]) -> SnapshotHold:
    """Feed ``frames`` through both paths (in a running loop); assert the folded states are equal
    after every frame that no snapshot may be held behind, and at the end. Returns the hold."""
    usual_runtime, usual = followed(prompts)
    fast_runtime, fast = followed(prompts)
    hold = SnapshotHold(fast_runtime._route, fast_runtime._router.may_hold, label="test")
    for index, frame in enumerate(frames):
        usual_runtime._on_frame(frame)
        hold.feed(frame)
        if not is_passing(frame):
            assert fold_state(fast) == fold_state(usual), f"differs after frame {index}: {str(frame)[:200]}"
    hold.release()
    assert fold_state(fast) == fold_state(usual)
    return hold
