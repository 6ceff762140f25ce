"""Against a real ComfyUI server: only with COMFYUI_URL set (e.g. COMFYUI_URL=http://127.0.0.1:8188).

The graph uses core nodes only (no model files), so any ComfyUI install can run it.
COMFYUI_TOKEN is used as a bearer token when set.
"""

from __future__ import annotations

import os
import random

import pytest

from comfy_reality.runtime import Auth, ComfyUIAsyncRuntime, TaskStatus

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
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": colour}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "comfy_reality_test"}},
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
