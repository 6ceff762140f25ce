"""extra_data.preview_method, as ComfyUI reads it per prompt (latent_preview.set_preview_method).

none: no sampler previews; latent2rgb/auto: about 1/8 of the image; taesd: the whole picture;
absent, "default" or unknown: the server's own --preview-method.
"""

from __future__ import annotations

import io
import itertools
import struct
from typing import Any

import httpx
import pytest
from PIL import Image

from comfy_reality.server import EmbeddedServer, ServerConfig
from tests.server.conftest import FAST_SPEED
from tests.server.test_nodes import load
from tests.server.test_queue_and_routing import post, wait_history
from tests.server.wsclient import Listener


async def previews(server: EmbeddedServer, extra_data: dict[str, Any] | None, seed: int = 1) -> list[bytes]:
    """Run txt2img (a new seed, so nothing comes from the cache) and return its preview images."""
    prompt = load("txt2img-basic")
    prompt["3"]["inputs"]["seed"] = seed
    body: dict[str, Any] = {"client_id": "pm"}
    if extra_data is not None:
        body["extra_data"] = extra_data
    async with (
        httpx.AsyncClient(base_url=server.url) as http,
        Listener(f"{server.ws_url}?clientId=pm") as ws,
    ):
        p = await post(http, prompt, **body)
        await ws.wait_done(p["prompt_id"], timeout=30)
        entry = await wait_history(http, p["prompt_id"])
    assert entry["status"]["status_str"] == "success"
    assert entry["prompt"][3].get("preview_method") == (extra_data or {}).get("preview_method")
    frames = ws.binary(1)
    assert all(struct.unpack(">I", f[4:8])[0] == 1 for f in frames)  # JPEG, as KSampler sends
    return [f[8:] for f in frames]


def size(jpeg: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(jpeg)).size


@pytest.mark.parametrize(
    ("method", "count", "frame_size"),
    [
        ("none", 0, None),
        ("latent2rgb", 7, (64, 64)),
        ("auto", 7, (64, 64)),
        ("taesd", 7, (512, 512)),
        ("default", 7, (64, 64)),  # the server's default here is auto
        ("bogus", 7, (64, 64)),
    ],
)
async def test_a_prompt_chooses_its_preview_method(
    embedded_server: EmbeddedServer, method: str, count: int, frame_size: tuple[int, int] | None
) -> None:
    frames = await previews(embedded_server, {"preview_method": method})
    assert len(frames) == count
    assert {size(f) for f in frames} == ({frame_size} if frame_size else set())


async def test_absent_means_the_server_default() -> None:
    config = ServerConfig(host="127.0.0.1", port=0, speed=FAST_SPEED, preview_method="none")
    async with EmbeddedServer(config) as server:
        assert await previews(server, None, seed=1) == []
        assert len(await previews(server, {"preview_method": "latent2rgb"}, seed=2)) == 7
        assert await previews(server, {"note": "no method"}, seed=3) == []


async def test_previews_turn_from_noise_into_the_picture(embedded_server: EmbeddedServer) -> None:
    frames = [Image.open(io.BytesIO(f)).convert("L") for f in await previews(embedded_server, {})]

    # Noise has a wide spread of neighbouring differences; the finished picture is smooth.
    def roughness(image: Image.Image) -> float:
        px = image.tobytes()
        return sum(abs(a - b) for a, b in itertools.pairwise(px)) / len(px)

    assert roughness(frames[0]) > 2 * roughness(frames[-1])
