"""Live previews from a real ComfyUI reach the app's preview widget: only with COMFYUI_URL set.

No model files are needed: the graph uses the protocol test pack's RealityProgress (preview on,
the same ProgressBar call KSampler's preview makes; see /work/shared/comfyui-protocol/test-node-pack)
or, without it, ComfyUI's example SaveImageWebsocket node. The test is skipped when the server
has neither. COMFYUI_TOKEN is used as a bearer token when set.
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest

from comfy_reality.config import Settings
from comfy_reality.runtime.models import ConnectionState, TaskStatus
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.widgets.preview import LivePreview
from tests.tui.pilot import wait_for

REAL_URL = os.environ.get("COMFYUI_URL")  # read at import: the suite's autouse fixture clears it later
REAL_TOKEN = os.environ.get("COMFYUI_TOKEN")

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(not REAL_URL, reason="set COMFYUI_URL to run against a real ComfyUI server"),
]


def preview_graph(node_types: Any) -> dict[str, Any] | None:
    """``node_types``: anything answering ``in`` (the server's ObjectInfo)."""
    colour = random.randrange(0, 0xFFFFFF)  # nothing from the cache
    image = {
        "class_type": "EmptyImage",
        "inputs": {"width": 256, "height": 256, "batch_size": 1, "color": colour},
    }
    if "RealityProgress" in node_types:
        return {
            "1": image,
            "2": {
                "class_type": "RealityProgress",
                "inputs": {"image": ["1", 0], "steps": 12, "delay": 0.25, "preview": True, "nonce": colour},
            },
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
        }
    if "SaveImageWebsocket" in node_types:
        return {"1": image, "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}}}
    return None


async def test_preview_frames_from_a_real_server_reach_the_widget() -> None:
    settings = Settings(server_url=REAL_URL or "", token=REAL_TOKEN, images="halfblock", timeout=60)
    app = ComfyRealityApp(settings, use_journal=False, frame_interval=0.01)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot,
            lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
            timeout=30,
            what="connection",
        )
        await wait_for(pilot, lambda: app.object_info is not None, timeout=60, what="object_info")
        assert app.object_info is not None
        graph = preview_graph(app.object_info)
        if graph is None:
            pytest.skip("the server has neither RealityProgress (test node pack) nor SaveImageWebsocket")
        await app.main_screen.submit_prompt(
            graph, name="real-server previews", workflow_id="real-server-previews"
        )
        preview = app.query_one(LivePreview)
        await wait_for(pilot, lambda: preview.frames_drawn >= 1, timeout=60, what="a preview frame drawn")
        assert preview.frame is not None and preview.frame.execution_id is not None
        (entry,) = app.session.entries.values()
        await wait_for(
            pilot, lambda: app.session.entries[entry.id].status.is_final, timeout=120, what="the end"
        )
        assert app.session.entries[entry.id].status is TaskStatus.COMPLETED
