"""Simulated node behaviour: test nodes, image sizes through the graph, real PNGs, the bundled
workflows, and the progress rate (one progress + one progress_state per step, no throttling)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfy_reality.server import EmbeddedServer
from comfy_reality.server.catalogue import NodeCatalogue
from comfy_reality.server.png import png_size
from comfy_reality.server.validation import Validator
from tests.server.test_queue_and_routing import post, wait_history
from tests.server.transcripts import Transcript
from tests.server.wsclient import Listener

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
MODEL_FREE = ("image-invert-scale", "failing-node", "progress-preview")


def load(name: str) -> dict[str, Any]:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())  # type: ignore[no-any-return]


async def run(
    server: EmbeddedServer, prompt: dict[str, Any], client_id: str = "t"
) -> tuple[Listener, dict[str, Any]]:
    async with (
        httpx.AsyncClient(base_url=server.url) as http,
        Listener(f"{server.ws_url}?clientId={client_id}") as ws,
    ):
        p = await post(http, prompt, client_id=client_id)
        await ws.wait_done(p["prompt_id"], timeout=30)
        entry = await wait_history(http, p["prompt_id"])
    return ws, entry


async def fetch(server: EmbeddedServer, image: dict[str, str]) -> bytes:
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/view", params=image)
        assert r.status_code == 200
        assert r.headers["content-disposition"] == f'filename="{image["filename"]}"'
        return r.content


def test_every_workflow_has_a_description_sidecar() -> None:
    names = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
    assert {"txt2img-basic", "image-invert-scale", "failing-node", "long-sampler", "progress-preview"} <= set(
        names
    )
    for name in names:
        first_paragraph = (WORKFLOWS / f"{name}.md").read_text().split("\n\n")[0].strip()
        assert first_paragraph and "\n" not in first_paragraph


@pytest.mark.parametrize("name", MODEL_FREE)
def test_model_free_workflows_validate_against_the_recorded_catalogue(tmp_path: Path, name: str) -> None:
    result = Validator(NodeCatalogue(tmp_path, virtual_models=False)).validate_prompt(load(name))
    assert result.ok and result.node_errors == {}


def test_txt2img_needs_the_virtual_checkpoint(tmp_path: Path) -> None:
    real = Validator(NodeCatalogue(tmp_path, virtual_models=False)).validate_prompt(load("txt2img-basic"))
    assert not real.ok
    error = real.node_errors["4"]["errors"][0]
    assert (error["type"], error["details"]) == (
        "value_not_in_list",
        "ckpt_name: 'demo-sd15.safetensors' not in []",
    )
    assert Validator(NodeCatalogue(tmp_path)).validate_prompt(load("txt2img-basic")).ok


async def test_txt2img_runs_with_step_progress_previews_and_a_512_png(
    embedded_server: EmbeddedServer,
) -> None:
    ws, entry = await run(embedded_server, load("txt2img-basic"))
    progress = [m["data"] for m in ws.json("progress")]
    assert [p["value"] for p in progress] == list(range(1, 21)) and {p["node"] for p in progress} == {"3"}
    assert len(ws.binary(1)) == 7  # every 3rd step and the last
    assert [m["data"]["node"] for m in ws.json("executing") if m["data"]["node"]] == [
        "4",
        "5",
        "7",
        "6",
        "3",
        "8",
        "9",
    ]  # ComfyUI's pick order
    image = entry["outputs"]["9"]["images"][0]
    assert image["filename"] == "txt2img_00001_.png" and image["type"] == "output"
    png = await fetch(embedded_server, image)
    assert png_size(png) == (512, 512)


async def test_image_sizes_propagate_and_get_image_size_sends_text(embedded_server: EmbeddedServer) -> None:
    ws, entry = await run(embedded_server, load("image-invert-scale"))
    texts = ws.binary(3)
    assert len(texts) == 1
    frame = texts[0]
    n = struct.unpack(">I", frame[4:8])[0]
    assert frame[8 : 8 + n] == b"3" and frame[8 + n :] == b"width: 512, height: 384\n batch size: 1"
    saved = await fetch(embedded_server, entry["outputs"]["5"]["images"][0])
    preview = await fetch(embedded_server, entry["outputs"]["6"]["images"][0])
    assert png_size(saved) == (384, 512) and png_size(preview) == (512, 384)
    assert entry["outputs"]["6"]["images"][0]["type"] == "temp"
    assert b"tEXtprompt" in saved


async def test_failing_workflow_reports_a_real_looking_execution_error(
    embedded_server: EmbeddedServer,
) -> None:
    ws, entry = await run(embedded_server, load("failing-node"))
    error = ws.json("execution_error")[0]["data"]
    assert error["node_id"] == "2" and error["node_type"] == "ImageToMask"
    assert error["exception_type"] == "IndexError"
    assert error["exception_message"] == "index 3 is out of bounds for dimension 3 with size 3\n"
    assert error["executed"] == ["1"] and error["current_outputs"] == ["1", "2", "3", "4"]
    assert error["current_inputs"]["channel"] == ["alpha"] and error["current_inputs"]["image"][0].startswith(
        "tensor([[[["
    )
    assert error["traceback"][-1].startswith('  File "/opt/ComfyUI/comfy_extras/nodes_mask.py"')
    assert entry["status"]["status_str"] == "error" and entry["outputs"] == {}
    assert not ws.json("execution_success")


async def test_reality_fail_matches_the_recorded_error_shape(embedded_server: EmbeddedServer) -> None:
    recorded = next(
        e for e in Transcript.load("04_runtime_error").ws_in() if e.get("type") == "execution_error"
    )
    body = next(e for e in Transcript.load("04_runtime_error").http() if e["method"] == "POST")[
        "request_json"
    ]
    ws, entry = await run(embedded_server, body["prompt"])
    ours = ws.json("execution_error")[0]["data"]
    theirs = recorded["json"]["data"]
    assert set(ours) == set(theirs)
    for key in ("node_id", "node_type", "exception_message", "exception_type", "traceback"):
        assert ours[key] == theirs[key], key
    assert sorted(ours["executed"]) == sorted(theirs["executed"])
    assert ours["current_inputs"]["message"] == theirs["current_inputs"]["message"]
    assert ours["current_inputs"]["image"] == theirs["current_inputs"]["image"]  # the same 16x16 tensor text
    assert entry["status"]["status_str"] == "error"


async def test_expansion_uses_ephemeral_ids_and_display_nodes(embedded_server: EmbeddedServer) -> None:
    prompt = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 130},
        },
        "2": {"class_type": "RealityExpand", "inputs": {"image": ["1", 0], "steps": 3, "delay": 0.05}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    ws, entry = await run(embedded_server, prompt)
    executing = [
        (m["data"]["node"], m["data"].get("display_node")) for m in ws.json("executing") if m["data"]["node"]
    ]
    assert executing == [("1", "1"), ("2", "2"), ("2.0.0.1", "2"), ("2.0.0.2", "2"), ("3", "3")]
    assert {m["data"]["node"] for m in ws.json("progress")} == {"2.0.0.1"}
    last_state = ws.json("progress_state")[-1]["data"]["nodes"]
    assert last_state["2.0.0.1"]["parent_node_id"] == "2" and last_state["2.0.0.1"]["real_node_id"] == "2"
    assert all(v["state"] == "finished" for v in last_state.values())
    assert entry["meta"]["2.0.0.1"] == {
        "node_id": "2.0.0.1",
        "display_node": "2",
        "parent_node": "2",
        "real_node_id": "2",
    }


async def test_execution_blocker_reports_then_succeeds(embedded_server: EmbeddedServer) -> None:
    prompt = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 131},
        },
        "2": {
            "class_type": "RealityBlock",
            "inputs": {"image": ["1", 0], "message": "blocked by RealityBlock"},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "blocked"}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    ws, entry = await run(embedded_server, prompt)
    error = ws.json("execution_error")[0]["data"]
    assert "timestamp" not in error
    assert (error["node_id"], error["exception_type"], error["exception_message"]) == (
        "3",
        "ExecutionBlocked",
        "Execution Blocked: blocked by RealityBlock",
    )
    assert error["traceback"] == [] and error["current_inputs"] == [] and error["current_outputs"] == []
    types = ws.types()
    assert types.index("execution_error") < types.index("execution_success")
    assert entry["status"]["status_str"] == "success" and "3" not in entry["outputs"]


async def test_progress_rate_has_one_progress_and_one_progress_state_per_step(
    embedded_server: EmbeddedServer,
) -> None:
    transcript = Transcript.load("11_progress_rate")
    body = next(e for e in transcript.http() if e["method"] == "POST")["request_json"]
    ws, _ = await run(embedded_server, body["prompt"])
    values = [m["data"]["value"] for m in ws.json("progress")]
    assert values == list(range(1, 2001))
    recorded_states = sum(1 for e in transcript.ws_in() if e.get("type") == "progress_state")
    assert len(ws.json("progress_state")) == recorded_states == 2006


async def test_a_crashing_simulation_is_reported_as_a_node_error(
    embedded_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfy_reality.server import nodes

    async def broken(ctx: Any, inputs: dict[str, Any]) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(nodes._REGISTRY, "ImageInvert", broken)
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 77}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    ws, entry = await run(embedded_server, prompt)
    error = ws.json("execution_error")[0]["data"]
    assert (error["node_id"], error["exception_type"], error["exception_message"]) == (
        "2",
        "ZeroDivisionError",
        "division by zero\n",
    )
    assert entry["status"]["status_str"] == "error"
    del prompt["2"]
    prompt["3"]["inputs"]["images"] = ["1", 0]
    _, after = await run(embedded_server, prompt, client_id="t2")  # still serving
    assert after["status"]["status_str"] == "success"
