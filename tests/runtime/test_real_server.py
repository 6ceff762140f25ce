"""Against a real ComfyUI server: only with COMFYUI_URL set (e.g. COMFYUI_URL=http://127.0.0.1:8188).

The graph uses core nodes only (no model files), so any ComfyUI install can run it.
COMFYUI_TOKEN is used as a bearer token when set.
"""

from __future__ import annotations

import os
import random

import pytest

from comfy_reality.paths import bundled_workflows_dir
from comfy_reality.runtime import Auth, ComfyUIAsyncRuntime, PromptValidationError, TaskStatus
from comfy_reality.workflows import load_prompt

# Read at import: the suite's autouse fixture clears these variables for every other test.
REAL_URL = os.environ.get("COMFYUI_URL")
REAL_TOKEN = os.environ.get("COMFYUI_TOKEN")

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(not REAL_URL, reason="set COMFYUI_URL to run against a real ComfyUI server"),
]


def core_graph() -> dict[str, object]:
    colour = random.randrange(0, 0xFFFFFF)  # a new colour each run, so nothing comes from the cache
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": colour},
        },
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": "comfy_reality_test"},
        },
    }


async def test_core_nodes_workflow_completes_with_an_output_file() -> None:
    runtime = ComfyUIAsyncRuntime(REAL_URL, auth=Auth(token=REAL_TOKEN) if REAL_TOKEN else None, timeout=60)
    async with runtime.session():
        execution = await runtime.execute_workflow(core_graph(), name="real-server smoke test")
        assert execution.status is TaskStatus.COMPLETED, execution.status_detail
        assert all(task.status is TaskStatus.COMPLETED for task in execution.tasks)
        saved = [f for f in execution.output_files if f.node_id == "3" and f.type == "output"]
        assert len(saved) == 1 and saved[0].filename.startswith("comfy_reality_test")
        assert (await runtime.download_output(saved[0])).startswith(b"\x89PNG")


def _runtime() -> ComfyUIAsyncRuntime:
    return ComfyUIAsyncRuntime(REAL_URL, auth=Auth(token=REAL_TOKEN) if REAL_TOKEN else None, timeout=60)


async def test_identical_rerun_reports_every_node_cached() -> None:
    graph = core_graph()
    async with (runtime := _runtime()).session():
        first = await runtime.execute_workflow(graph, name="first")
        again = await runtime.execute_workflow(graph, name="again")
    assert first.status is TaskStatus.COMPLETED and again.status is TaskStatus.COMPLETED
    assert [t.cached for t in again.tasks] == [True, True, True]


async def test_bundled_failing_workflow_fails_with_the_servers_exception() -> None:
    prompt = load_prompt(bundled_workflows_dir() / "failing-node.json")
    prompt["1"]["inputs"]["color"] = random.randrange(0, 0xFFFFFF)  # no cache hit
    async with (runtime := _runtime()).session():
        execution = await runtime.execute_workflow(prompt, name="failing")
    assert execution.status is TaskStatus.FAILED
    assert execution.error is not None and execution.error.exception_type.endswith("IndexError")
    failed = [t for t in execution.tasks if t.status is TaskStatus.FAILED]
    assert [t.class_type for t in failed] == ["ImageToMask"]
    assert all(t.is_final for t in execution.tasks)


async def test_invalid_value_is_rejected_with_the_nodes_error() -> None:
    graph = core_graph()
    graph["1"]["inputs"]["width"] = 0  # type: ignore[index]
    async with (runtime := _runtime()).session():
        with pytest.raises(PromptValidationError) as caught:
            await runtime.submit(graph)
    assert caught.value.error_type == "prompt_outputs_failed_validation"
    assert caught.value.node_errors["1"]["errors"][0]["type"] == "value_smaller_than_min"


async def test_legacy_group_node_workflow_runs_with_the_frontends_inner_ids() -> None:
    """A UI workflow whose group node the official frontend made, converted with the server's catalogue."""
    import json

    from comfy_reality.workflows import ObjectInfo, convert_ui_to_api
    from tests.conftest import FIXTURES

    workflow = json.loads((FIXTURES / "group_nodes" / "empty_invert_real.ui.json").read_text())
    group = next(node for node in workflow["nodes"] if node["type"].startswith("workflow>"))
    group["widgets_values"][3] = random.randrange(0, 0xFFFFFF)  # the colour widget: no cache hit
    async with (runtime := _runtime()).session():
        info = ObjectInfo.from_json(await runtime.client.get_object_info())
        prompt = convert_ui_to_api(workflow, info)
        assert set(prompt) == {"102:0", "102:1", "9"} and prompt["102:0"]["inputs"]["width"] == 96
        execution = await runtime.execute_workflow(prompt, name="group node")
    assert execution.status is TaskStatus.COMPLETED, execution.status_detail
    assert {t.node_id for t in execution.tasks} == {"102:0", "102:1", "9"}
    assert next(f.filename for f in execution.output_files if f.node_id == "9").startswith("group-node-check")
