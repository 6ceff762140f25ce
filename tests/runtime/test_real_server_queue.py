"""Moving another client's pending prompt on a real ComfyUI (only with COMFYUI_URL set).

Needs the test node pack (RealityProgress) on the server. The server's queue is shared: only
the prompts this test queued are moved, deleted or interrupted.
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any

import httpx
import pytest

from comfy_reality.runtime import Auth, ComfyUIAsyncRuntime, Owner, TaskStatus
from tests.runtime.helpers import until
from tests.server.wsclient import Listener

REAL_URL = os.environ.get("COMFYUI_URL")
REAL_TOKEN = os.environ.get("COMFYUI_TOKEN")

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(not REAL_URL, reason="set COMFYUI_URL to run against a real ComfyUI server"),
]


def graph(steps: int, delay: float) -> dict[str, Any]:
    nonce = random.randrange(1, 2**31)  # never answered from the cache
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": nonce % 0xFFFFFF},
        },
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": delay, "preview": False, "nonce": nonce},
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


async def test_moving_a_foreign_pending_prompt_to_the_front_keeps_its_id_and_runs_it_first() -> None:
    assert REAL_URL is not None
    foreign = f"reality-foreign-{uuid.uuid4().hex[:12]}"
    ws_url = REAL_URL.replace("http", "ws", 1).rstrip("/") + f"/ws?clientId={foreign}"
    runtime = ComfyUIAsyncRuntime(REAL_URL, auth=Auth(token=REAL_TOKEN) if REAL_TOKEN else None, timeout=60)
    ours: list[str] = []
    async with runtime.session(), Listener(ws_url) as web_ui, httpx.AsyncClient(base_url=REAL_URL) as http:

        async def foreign_post() -> str:
            answer = await http.post("/prompt", json={"prompt": graph(2, 0.05), "client_id": foreign})
            answer.raise_for_status()
            ours.append(answer.json()["prompt_id"])
            return ours[-1]

        # Our own slow prompt keeps the worker busy while the foreign ones wait behind it.
        blocker = await runtime.submit(graph(60, 0.1), name="queue-move blocker")
        ours.append(blocker.prompt_id or "")
        try:
            await until(runtime, lambda: blocker.status is TaskStatus.RUNNING, timeout=300)
            first = await foreign_post()
            second = await foreign_post()
            listed = {e.prompt_id: e for e in (await runtime.queue_snapshot()).pending}
            assert listed[first].owner is Owner.OTHER_CLIENT and listed[first].client_id == foreign

            report = await runtime.move_queued(second, "front")

            assert report.outcome == "moved", report.detail
            assert report.prompt_id == second and report.position == 1
            pending = [e.prompt_id for e in (await runtime.queue_snapshot()).pending]
            assert pending.index(second) < pending.index(first)
            await runtime.cancel(blocker)
            await web_ui.wait_done(first, timeout=300)
        finally:
            await http.post("/queue", json={"delete": ours})
            for prompt_id in ours:
                await http.post("/interrupt", json={"prompt_id": prompt_id})

        starts = [m["data"]["prompt_id"] for m in web_ui.json("execution_start")]
        assert starts == [second, first]  # the owner's socket heard the moved prompt under its id, first
        history = await runtime.client.get_history(max_items=200)
        assert second in history and first in history

        def started_at(prompt_id: str) -> int:
            kinds = dict(history[prompt_id].message_list())
            return int(kinds["execution_start"]["timestamp"])

        assert started_at(second) <= started_at(first)
        assert history[second].item is not None and history[second].item.client_id == foreign
