"""The real ComfyUI pooled with an embedded server: only with COMFYUI_URL set.

The embedded server's catalogue was recorded from a real ComfyUI, so both list the same node
types; here the embedded one is made to lack ``ImageInvert`` (a server without some nodes), and
the real one has an input file (``example.png``) the embedded one is made not to list. A prompt that
needs either goes to the real server, and runs there with ComfyUI's real semantics.
"""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable, Callable

import pytest

from comfy_reality.runtime import Auth, TaskStatus
from comfy_reality.runtime.pool import PoolServer, ServerPool
from comfy_reality.server import EmbeddedServer

from .conftest import FAST_BACKOFF

REAL_URL = os.environ.get("COMFYUI_URL")  # read at import: the suite's autouse fixture clears it
REAL_TOKEN = os.environ.get("COMFYUI_TOKEN")

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(not REAL_URL, reason="set COMFYUI_URL to run against a real ComfyUI server"),
]

Servers = Callable[..., Awaitable[list[EmbeddedServer]]]


def inverted(source: dict[str, object]) -> dict[str, object]:
    return {
        "1": source,
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": "comfy_reality_pool"},
        },
    }


async def open_pool(embedded: EmbeddedServer) -> ServerPool:
    assert REAL_URL is not None
    return ServerPool(
        [
            PoolServer(url=embedded.url, name="embedded"),
            PoolServer(url=REAL_URL, name="real", auth=Auth(token=REAL_TOKEN) if REAL_TOKEN else None),
        ],
        backoff=FAST_BACKOFF,
        timeout=60,
    )


async def test_a_node_only_the_real_server_has_sends_the_prompt_there(servers: Servers) -> None:
    (embedded,) = await servers(1)
    embedded.state.catalogue.remove_node_types("ImageInvert")
    pool = await open_pool(embedded)
    colour = random.randrange(0, 0xFFFFFF)  # a new colour each run: nothing from the cache
    prompt = inverted(
        {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": colour}}
    )
    async with pool.session():
        await pool.ready()
        assert pool.choose(prompt).name == "real"
        execution = await pool.submit(prompt)
        final = await pool.wait(execution, timeout=120)
        assert final.server_url == pool.member("real").url
        assert final.status is TaskStatus.COMPLETED, final.status_detail
        saved = [f for f in final.output_files if f.type == "output"]
        assert (await pool.download_output(final, saved[0])).startswith(b"\x89PNG")
        # A prompt both can run may go to either; one only the embedded server lacks never goes there.
        plain = {
            "1": prompt["1"],
            "3": {
                "class_type": "SaveImage",
                "inputs": {"images": ["1", 0], "filename_prefix": "comfy_reality_pool"},
            },
        }
        assert pool.choose(plain).name in {"embedded", "real"}


async def test_an_input_file_only_the_real_server_has_sends_the_prompt_there(servers: Servers) -> None:
    (embedded,) = await servers(1)
    (embedded.store.input_dir / "example.png").unlink(missing_ok=True)  # its LoadImage lists files live
    pool = await open_pool(embedded)
    prompt = inverted({"class_type": "LoadImage", "inputs": {"image": "example.png"}})
    async with pool.session():
        await pool.ready()
        real = pool.member("real")
        assert real.catalogue is not None
        if "example.png" not in real.catalogue.combos.get(("LoadImage", "image"), frozenset()):
            pytest.skip("this ComfyUI has no input/example.png")
        lacks = pool.member("embedded").catalogue
        assert lacks is not None and "example.png" not in lacks.combos[("LoadImage", "image")]
        execution = await pool.submit(prompt)
        final = await pool.wait(execution, timeout=120)
        assert final.server_url == real.url
        assert final.status is TaskStatus.COMPLETED, final.status_detail
