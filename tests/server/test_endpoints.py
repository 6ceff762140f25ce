"""Endpoints beyond the queue: saved workflows (userdata), uploads + LoadImage, model lists,
fault injection, restart, and the standalone entry point."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.server.pictures import png_bytes, render
from comfy_reality.server.png import png_size
from comfy_reality.server.values import ImageValue
from tests.server.test_queue_and_routing import graph, post, wait_history
from tests.server.wsclient import Listener


async def test_saved_workflows_round_trip_like_comfyui(embedded_server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        missing = await http.get("/userdata", params={"dir": "workflows"})
        assert (missing.status_code, missing.text) == (404, "Directory not found")
        assert (await http.get("/userdata")).status_code == 400
        body = b'{"1": {"class_type": "EmptyImage", "inputs": {}}}'
        saved = await http.post("/userdata/workflows%2Fmy%20flow.json", content=body)
        assert (saved.status_code, saved.json()) == (200, "workflows/my flow.json")
        assert (await http.get("/userdata", params={"dir": "workflows"})).json() == ["my flow.json"]
        full = (await http.get("/api/userdata", params={"dir": "workflows", "full_info": "true"})).json()
        assert full[0]["path"] == "my flow.json" and full[0]["size"] == len(body)
        assert (await http.get("/userdata/workflows%2Fmy%20flow.json")).content == body
        clash = await http.post(
            "/userdata/workflows%2Fmy%20flow.json", params={"overwrite": "false"}, content=b"{}"
        )
        assert (clash.status_code, clash.text) == (409, "File already exists")
        moved = await http.post("/userdata/workflows%2Fmy%20flow.json/move/workflows%2Frenamed.json")
        assert moved.json() == "workflows/renamed.json"
        assert (await http.delete("/userdata/workflows%2Frenamed.json")).status_code == 204
        assert (await http.get("/userdata/workflows%2Frenamed.json")).status_code == 404
        assert (await http.get("/userdata", params={"dir": "workflows"})).json() == []
        assert (await http.post("/userdata/..%2F..%2Fescape.json", content=b"x")).status_code == 403


async def test_upload_feeds_load_image(embedded_server: EmbeddedServer) -> None:
    png = png_bytes(render(ImageValue(20, 10, color=0xFF0000)))
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        up = await http.post("/upload/image", files={"image": ("shot.png", io.BytesIO(png), "image/png")})
        assert up.json() == {"name": "shot.png", "subfolder": "", "type": "input"}
        again = await http.post("/upload/image", files={"image": ("shot.png", io.BytesIO(png), "image/png")})
        assert again.json()["name"] == "shot.png"
        other = await http.post(
            "/upload/image", files={"image": ("shot.png", io.BytesIO(png + b"x"), "image/png")}
        )
        assert other.json()["name"] == "shot (1).png"
        choices = (await http.get("/object_info/LoadImage")).json()["LoadImage"]["input"]["required"][
            "image"
        ][0]
        assert {"example.png", "shot.png", "shot (1).png"} <= set(choices)
        prompt = {
            "1": {"class_type": "LoadImage", "inputs": {"image": "shot.png"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loaded"}},
        }
        entry = await wait_history(http, (await post(http, prompt))["prompt_id"])
        image = entry["outputs"]["2"]["images"][0]
        assert png_size((await http.get("/view", params=image)).content) == (20, 10)
        prompt["1"]["inputs"]["image"] = "nope.png"
        bad = await http.post("/prompt", json={"prompt": prompt})
        error = bad.json()["node_errors"]["1"]["errors"][0]
        assert (bad.status_code, error["type"], error["details"]) == (
            400,
            "custom_validation_failed",
            "image - Invalid image file: nope.png",
        )


async def test_view_rejects_traversal_and_unknown_types(embedded_server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        assert (await http.get("/view", params={"filename": "../secret.png"})).status_code == 400
        assert (await http.get("/view", params={"filename": "x.png", "type": "bogus"})).status_code == 400
        assert (
            await http.get("/view", params={"filename": "x.png", "subfolder": "../.."})
        ).status_code == 403
        assert (
            await http.get("/view", params={"filename": "example.png", "type": "input"})
        ).status_code == 200


async def test_virtual_models_are_listed_and_validate(embedded_server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        assert "demo-sd15.safetensors" in (await http.get("/models/checkpoints")).json()
        assert (await http.get("/models/vae")).json() == ["demo-vae.safetensors"]
        assert (await http.get("/models/not_a_folder")).status_code == 404
        info = (await http.get("/object_info/CheckpointLoaderSimple")).json()
        assert (
            info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0][0] == "demo-sd15.safetensors"
        )
        vae = (await http.get("/object_info/VAELoader")).json()["VAELoader"]["input"]["required"]["vae_name"][
            0
        ]
        assert vae == ["demo-vae.safetensors", "pixel_space"]
        bad = await http.post(
            "/prompt",
            json={
                "prompt": {
                    "4": {
                        "class_type": "CheckpointLoaderSimple",
                        "inputs": {"ckpt_name": "missing.safetensors"},
                    },
                    "5": {
                        "class_type": "EmptyLatentImage",
                        "inputs": {"width": 64, "height": 64, "batch_size": 1},
                    },
                    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}},
                    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
                }
            },
        )
        error = bad.json()["node_errors"]["4"]["errors"][0]
        assert error["type"] == "value_not_in_list"
        assert error["details"].startswith("ckpt_name: 'missing.safetensors' not in ['demo-sd15.safetensors'")


async def test_dependency_cycle_is_a_validation_error_not_a_crash(embedded_server: EmbeddedServer) -> None:
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        r = await http.post("/prompt", json={"prompt": prompt})
    assert r.status_code == 400
    errors = [e for n in r.json()["node_errors"].values() for e in n["errors"]]
    assert r.json()["error"]["type"] == "prompt_outputs_failed_validation"
    assert errors[0]["type"] == "exception_during_inner_validation"
    assert errors[0]["extra_info"]["exception_type"] == "RecursionError"


async def test_drop_websockets_closes_every_socket_and_reconnects_work(
    embedded_server: EmbeddedServer,
) -> None:
    async with Listener(embedded_server.ws_url + "?clientId=d1") as a, Listener(embedded_server.ws_url) as b:
        await a.wait_type("status")
        await b.wait_type("status")
        closed = await embedded_server.faults.drop_websockets()
        assert closed == 2
        await asyncio.wait_for(a.closed.wait(), 5)
        await asyncio.wait_for(b.closed.wait(), 5)
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=d1") as again,
    ):
        p = await post(http, graph(nonce=40), client_id="d1")
        await again.wait_done(p["prompt_id"])


async def test_http_error_and_stall_faults(embedded_server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        embedded_server.faults.http_error = 503
        r = await http.get("/queue")
        assert r.status_code == 503
        embedded_server.faults.http_error = None
        assert (await http.get("/queue")).status_code == 200
        embedded_server.faults.stall_http = True
        request = asyncio.create_task(http.get("/prompt"))
        done, _ = await asyncio.wait({request}, timeout=0.2)
        assert not done, "a stalled server must not answer"
        embedded_server.faults.stall_http = False
        assert (await asyncio.wait_for(request, 5)).status_code == 200


async def test_restart_keeps_the_port_and_forgets_queue_and_history(embedded_server: EmbeddedServer) -> None:
    url = embedded_server.url
    async with (
        httpx.AsyncClient(base_url=url) as http,
        Listener(embedded_server.ws_url + "?clientId=r") as ws,
    ):
        done = await post(http, graph(nonce=50))
        await wait_history(http, done["prompt_id"])
        await post(http, graph(steps=500, nonce=51), client_id="r")
        await ws.wait(lambda s: len(s.json("progress")) >= 1)
        await embedded_server.restart()
        await asyncio.wait_for(ws.closed.wait(), 5)
    assert embedded_server.url == url
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/history")).json() == {}
        assert (await http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
        fresh = await post(http, graph(nonce=50))
        assert fresh["number"] == 0
        await wait_history(http, fresh["prompt_id"])


async def test_logs_endpoints_and_subscription(embedded_server: EmbeddedServer) -> None:
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=lg") as ws,
    ):
        await ws.wait_type("status")
        assert (
            await http.patch("/internal/logs/subscribe", json={"clientId": "lg", "enabled": True})
        ).status_code == 200
        p = await post(http, graph(nonce=60), client_id="lg")
        await ws.wait(
            lambda s: any("Prompt executed in" in m["data"]["entries"][0]["m"] for m in s.json("logs"))
        )
        assert ws.json("logs")[0]["data"]["entries"][0]["m"] == "got prompt\n"
        assert ws.json("logs")[0]["data"]["size"] is None
        assert "got prompt" in (await http.get("/internal/logs")).json()
        raw = (await http.get("/internal/logs/raw")).json()
        assert set(raw) == {"entries", "size"} and set(raw["entries"][0]) == {"t", "m"}
        assert (await http.get("/api/internal/logs")).status_code == 404
        await http.patch("/internal/logs/subscribe", json={"clientId": "lg", "enabled": False})
        count = len(ws.json("logs"))
        q = await post(http, graph(nonce=61), client_id="lg")
        await ws.wait_done(q["prompt_id"])
        assert len(ws.json("logs")) == count
        assert p["prompt_id"] != q["prompt_id"]


def test_standalone_entry_point_serves_until_stopped(tmp_path: Any) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfy_reality.server", "--port", "0", "--speed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(scratch)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line + (
            proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        )
        url = line.split("server on ")[1].split(" ")[0]
        stats = httpx.get(f"{url}/system_stats", timeout=10).json()
        assert stats["system"]["comfyui_version"] == "0.3.64"
        (data_dir,) = list(scratch.iterdir())
        assert (data_dir / "input" / "example.png").exists()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert list(scratch.iterdir()) == [], "SIGTERM must remove the temporary data dir"


def test_entry_point_rejects_bad_speed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "comfy_reality.server", "--speed", "0"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "--speed must be greater than 0" in result.stderr


@pytest.mark.parametrize("port", [-1, 70000])
def test_config_rejects_bad_ports(port: int) -> None:
    with pytest.raises(ValueError):
        ServerConfig(port=port)


async def test_step_delay_fault_and_speed_change_slow_a_run_down(embedded_server: EmbeddedServer) -> None:
    with pytest.raises(ValueError):
        embedded_server.speed = 0
    embedded_server.faults.step_delay = 0.05
    async with (
        httpx.AsyncClient(base_url=embedded_server.url) as http,
        Listener(embedded_server.ws_url + "?clientId=sd") as ws,
    ):
        p = await post(http, graph(steps=400, delay=0.0, nonce=70), client_id="sd")
        await ws.wait(lambda s: len(s.json("progress")) >= 1)
        # 400 steps x 50 ms would take 20 s: interrupting must find it still running.
        await http.post("/interrupt", json={"prompt_id": p["prompt_id"]})
        await ws.wait_done(p["prompt_id"])
        assert ws.json("execution_interrupted") and len(ws.json("progress")) < 400
    embedded_server.faults.step_delay = 0.0
    embedded_server.speed = 10_000
    assert embedded_server.state.executor.speed == 10_000


async def test_a_busy_port_gives_a_clear_error(embedded_server: EmbeddedServer) -> None:
    other = EmbeddedServer(ServerConfig(port=embedded_server.port))
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{embedded_server.port}.*--port"):
        await other.start()
    await other.stop()
    result = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "comfy_reality.server",
        "--port",
        str(embedded_server.port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(result.communicate(), 30)
    assert result.returncode == 1 and b"cannot listen on" in err and b"Traceback" not in err
