"""The per-prompt folding state stays bounded whatever node ids the server invents."""

from __future__ import annotations

import json
from typing import Any

from comfy_reality.runtime import ComfyUIAsyncRuntime, WorkflowExecution
from comfy_reality.runtime.tracker import MAX_CACHED_IDS, MAX_OUTPUT_ITEMS, Tracker

PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {}},
    "2": {"class_type": "RealityExpand", "inputs": {"image": ["1", 0]}},
}


def live_tracker() -> tuple[ComfyUIAsyncRuntime, Tracker]:
    runtime = ComfyUIAsyncRuntime("http://127.0.0.1:9")
    execution = WorkflowExecution(workflow_id="w", prompt_id="p", prompt=PROMPT, client_id=runtime.client_id)
    tracker = runtime._new_tracker(execution)
    runtime._register(tracker)
    return runtime, tracker


def frame(kind: str, data: dict[str, object]) -> str:
    return json.dumps({"type": kind, "data": {"prompt_id": "p", **data}})


def test_fresh_ids_do_not_grow_the_caches() -> None:
    runtime, tracker = live_tracker()
    for i in range(3 * MAX_CACHED_IDS):
        runtime._on_frame(
            frame(
                "progress_state",
                {
                    "nodes": {
                        f"2.{i}": {"state": "running", "value": i % 7, "max": 7, "display_node_id": "2"},
                        f"junk-{i}": {"state": "running", "value": 1, "max": 2},
                    }
                },
            )
        )
        runtime._on_frame(
            frame(
                "executed",
                {"node": f"2.{i}", "display_node": "2", "output": {"images": [{"filename": f"{i}.png"}]}},
            )
        )
        runtime._on_frame(
            frame("executed", {"node": f"junk{i}", "output": {"images": [{"filename": "x.png"}]}})
        )
    assert len(tracker.ephemeral) <= MAX_CACHED_IDS
    assert len(tracker.last_entry) <= MAX_CACHED_IDS
    assert set(tracker.ws_outputs) == {"2"}
    images = tracker.nodes["2"].outputs["images"]
    assert len(images) == MAX_OUTPUT_ITEMS and images[-1]["filename"] == f"{3 * MAX_CACHED_IDS - 1}.png"
    assert tracker.nodes["2"].value == (3 * MAX_CACHED_IDS - 1) % 7  # still folding correctly


async def test_finished_executions_are_forgotten_like_finished_workflows(replay: Any) -> None:
    from comfy_reality.runtime import AsyncTaskManager

    from .conftest import make_runtime

    server = await replay("14_latency_trivial")
    runtime = make_runtime(server.url, task_manager=AsyncTaskManager(max_finished_roots=3))
    async with runtime.session():
        done = [
            await runtime.execute_workflow(server.transcripts[0].prompt(i), name=f"run {i}") for i in range(6)
        ]
    assert list(runtime.executions) == [e.id for e in done[-3:]]
    assert all(e.status.is_final for e in done)
    # Their trackers went with the end; the names stay for the Queue and History screens.
    assert not runtime._by_execution
    assert [runtime._name_of(e.prompt_id or "") for e in done] == [f"run {i}" for i in range(6)]


def test_node_tasks_are_in_natural_order_whatever_the_ids() -> None:
    from comfy_reality.runtime.prompt import natural_key

    ids = ["10", "2", "a1", "1a", "10:3", "10:12", "b", "3.0.0.1"]
    assert sorted(ids, key=natural_key) == ["1a", "2", "3.0.0.1", "10", "10:3", "10:12", "a1", "b"]
