"""The lost POST /prompt answer against a real ComfyUI (only with COMFYUI_URL set).

The same proxy as in ``test_lost_answers`` sits in front of the real server: the request is
forwarded, the answer dropped. The runtime must find the prompt by its id (the real server's
/queue or /history), follow it to its end, and never POST it again.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from comfy_reality.journal import Journal
from comfy_reality.runtime import ComfyUIAsyncRuntime, TaskStatus

from .lossy_proxy import LossyProxy

REAL_URL = os.environ.get("COMFYUI_URL")

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(not REAL_URL, reason="set COMFYUI_URL to run against a real ComfyUI server"),
]


async def test_real_server_lost_answer_is_followed_without_a_second_post(tmp_path: Path) -> None:
    assert REAL_URL is not None
    parts = urlsplit(REAL_URL)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
        pytest.skip("the proxy only fronts a server on 127.0.0.1:PORT")
    graph = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": random.randrange(0xFFFFFF)},
        },
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    async with LossyProxy(parts.port) as proxy:
        proxy.arm(b"POST /prompt", "answer")
        journal = await Journal.open(tmp_path / "journal.sqlite3", progress_interval=0.02)
        runtime = ComfyUIAsyncRuntime(proxy.url, timeout=60, confirm_delay=0.2)
        journal.attach(runtime)
        try:
            async with runtime.session():
                execution = await runtime.submit(graph, name="real server, answer lost")
                done = await runtime.wait(execution, timeout=120)
            assert proxy.lost == [(b"POST /prompt", "answer")]
            assert proxy.count(b"POST /prompt") == 1
            assert done.status is TaskStatus.COMPLETED, done.status_detail
            await journal.flush()
            entry = await journal.get(execution.id)
            assert entry is not None and entry.status is TaskStatus.COMPLETED
            assert entry.prompt_id == execution.prompt_id
        finally:
            await journal.close()
