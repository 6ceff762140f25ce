"""`comfy-reality validate` without the server, and `--set` over several workflows (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from comfy_reality.workflows import ObjectInfoCache

from .conftest import invoke, save_image_prompt, unique, write_workflow


def txt2img(steps: Any = 20, sampler: str = "euler", *, cfg: bool = True) -> dict[str, Any]:
    sampler_inputs: dict[str, Any] = {
        "seed": 1,
        "steps": steps,
        "sampler_name": sampler,
        "scheduler": "normal",
        "denoise": 1.0,
        "model": ["4", 0],
        "positive": ["6", 0],
        "negative": ["7", 0],
        "latent_image": ["5", 0],
    }
    if cfg:
        sampler_inputs["cfg"] = 7.0
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "mine.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": sampler_inputs},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
    }


def test_offline_checks_every_input_against_the_bundled_catalogue(tmp_path: Path) -> None:
    bad = write_workflow(tmp_path, "bad", txt2img(steps=0, sampler="foo", cfg=False))
    result = invoke("validate", "--offline", str(bad))
    assert result.exit_code == 2, result.stdout
    assert "checked against the bundled catalogue" in result.stderr
    assert "node 3 (KSampler): Value 0 smaller than min of 1: steps" in result.stderr
    assert "node 3 (KSampler): Required input is missing: cfg" in result.stderr
    # A bad choice in words for people: no "(list of length 42)"; a near miss is named.
    assert "sampler_name: 'foo' is not a choice; the 42 choices include 'euler'" in result.stderr
    assert "list of length" not in result.stderr
    near = write_workflow(tmp_path, "near", txt2img(sampler="eulr"))
    assert "did you mean 'euler'" in invoke("validate", "--offline", str(near)).stderr
    # The bundled catalogue cannot know the user's model files nor custom nodes: not errors.
    good = txt2img()
    good["10"] = {"class_type": "SomeCustomNode", "inputs": {"image": ["8", 0]}}
    result = invoke("validate", "--offline", "--json", str(write_workflow(tmp_path, "good", txt2img())))
    [verdict] = json.loads(result.stdout)["workflows"]
    assert result.exit_code == 0 and verdict["valid"], verdict
    assert verdict["catalogue"]["source"] == "bundled" and verdict["checked_against"] is None
    custom = invoke("validate", "--offline", "--json", str(write_workflow(tmp_path, "custom", good)))
    [verdict] = json.loads(custom.stdout)["workflows"]
    assert verdict["valid"] and any("SomeCustomNode" in note for note in verdict["notes"]), verdict


def test_offline_uses_the_servers_last_known_catalogue(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "w", save_image_prompt(unique()))
    online = invoke("validate", "--server", server_url, str(workflow))
    assert online.exit_code == 0 and f"checked against {server_url})" in online.stdout
    assert ObjectInfoCache().load(server_url) is not None  # remembered for later
    offline = invoke("validate", "--server", server_url, "--offline", str(workflow))
    assert offline.exit_code == 0, offline.stderr
    assert f"checked against the last known catalogue of {server_url}, fetched " in offline.stdout
    # The cached catalogue is the one used: a stricter EmptyImage there refuses width 8.
    catalogue = httpx.get(f"{server_url}/object_info").json()
    catalogue["EmptyImage"]["input"]["required"]["width"][1]["min"] = 64
    ObjectInfoCache().store(server_url, catalogue)
    stricter = invoke("validate", "--server", server_url, "--offline", str(workflow))
    assert stricter.exit_code == 2 and "Value 8 smaller than min of 64: width" in stricter.stderr


def test_validate_says_which_catalogue_when_the_server_is_down(down_url: str, tmp_path: Path) -> None:
    bad = write_workflow(tmp_path, "bad", txt2img(steps=0))
    result = invoke("validate", "--server", down_url, str(bad))
    assert result.exit_code == 2
    assert f"{down_url} is not reachable: checked against the bundled catalogue" in result.stderr
    assert "Value 0 smaller than min of 1: steps" in result.stderr


def test_set_applies_where_the_node_exists_and_says_where_not(server_url: str, tmp_path: Path) -> None:
    two_nodes = write_workflow(tmp_path, "two", save_image_prompt(unique()))
    three = save_image_prompt(unique())
    three["3"] = {
        "class_type": "EmptyImage",
        "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 1},
    }
    three["4"] = {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}
    three_nodes = write_workflow(tmp_path, "three", three)
    out = str(tmp_path / "o")
    args = ("run", "--server", server_url, "--output-dir", out, "--set", "3.width=16")
    result = invoke(*args, str(two_nodes), str(three_nodes))
    assert result.exit_code == 0, result.stderr
    assert "--set 3.width applies only where the node has it; not set in: two.json" in result.stderr
    by_name = {line["name"]: line["prompt_id"] for line in result.executions()}
    entry = httpx.get(f"{server_url}/history/{by_name['three']}").json()[by_name["three"]]
    assert entry["prompt"][2]["3"]["inputs"]["width"] == 16
    # A node no workflow has is still an error, naming each workflow once.
    nowhere = invoke(*args[:-1], "9.width=16", str(two_nodes), str(three_nodes))
    assert nowhere.exit_code == 2
    assert "two.json: '9.width': there is no node '9'" in nowhere.stderr
    assert "three.json: '9.width': there is no node '9'" in nowhere.stderr


def test_set_messages_name_the_input_once_and_close_choices(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "w", save_image_prompt(unique()))
    bad_int = invoke("run", "--server", server_url, "--set", "1.width=wide", str(workflow))
    assert bad_int.exit_code == 2
    assert "error: cannot apply the values:\n  1.width: expected an integer, got 'wide'" in bad_int.stderr
    assert "width: width:" not in bad_int.stderr and bad_int.stderr.count("cannot apply") == 1
    upscale = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 2}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["1", 0],
                "upscale_method": "area",
                "width": 8,
                "height": 8,
                "crop": "disabled",
            },
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    scaled = write_workflow(tmp_path, "scaled", upscale)
    bad_choice = invoke("run", "--server", server_url, "--set", "2.upscale_method=bilnear", str(scaled))
    assert bad_choice.exit_code == 2
    assert "2.upscale_method: 'bilnear' is not a choice; did you mean 'bilinear'" in bad_choice.stderr
