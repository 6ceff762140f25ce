"""The success path end to end: POST /prompt, WS events, /history, /view."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from comfy_reality.server import EmbeddedServer

PROMPT = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 32, "height": 16, "batch_size": 1, "color": 0x336699},
    },
    "2": {"class_type": "RealityProgress", "inputs": {"image": ["1", 0], "steps": 3, "delay": 0.01}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "smoke"}},
}


async def test_prompt_runs_and_output_is_served(embedded_server: EmbeddedServer) -> None:
    async with websockets.connect(f"{embedded_server.ws_url}?clientId=smoke") as ws:
        first = json.loads(await ws.recv())
        assert first == {
            "type": "status",
            "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "smoke"},
        }
        async with httpx.AsyncClient(base_url=embedded_server.url) as http:
            r = await http.post("/prompt", json={"prompt": PROMPT, "client_id": "smoke"})
            assert r.status_code == 200
            prompt_id = r.json()["prompt_id"]
            types: list[str] = []
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                types.append(msg["type"])
                if msg["type"] == "executing" and msg["data"]["node"] is None:
                    break
            assert "execution_success" in types
            assert types.count("progress") == 3
            history = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
            assert history["status"]["status_str"] == "success"
            image = history["outputs"]["3"]["images"][0]
            assert image["filename"] == "smoke_00001_.png"
            view = await http.get("/view", params=image)
            assert view.status_code == 200
            assert view.content.startswith(b"\x89PNG")
            assert view.content[16:24] == (32).to_bytes(4, "big") + (16).to_bytes(4, "big")
