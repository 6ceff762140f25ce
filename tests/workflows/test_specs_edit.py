"""Input specs, value coercion/validation, editable inputs and overrides (TUI form + CLI --set)."""

from __future__ import annotations

from functools import cache

import pytest

from comfy_reality.errors import InvalidWorkflowError
from comfy_reality.workflows import ObjectInfo, apply_overrides, editable_inputs, packaged_object_info


@cache
def _info() -> ObjectInfo:
    return packaged_object_info()


PROMPT = {
    "3": {
        "class_type": "KSampler",
        "_meta": {"title": "Sampler"},
        "inputs": {
            "seed": 5,
            "steps": 20,
            "cfg": 8.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
    "19:7": {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["5", 0],
            "upscale_method": "nearest-exact",
            "width": ["5", 0],
            "height": 64,
            "crop": "disabled",
        },
    },
}


def test_input_specs_of_ksampler() -> None:
    specs = {s.name: s for s in _info().input_specs("KSampler")}
    assert list(specs)[:2] == ["model", "seed"]
    seed, steps, cfg, sampler = specs["seed"], specs["steps"], specs["cfg"], specs["sampler_name"]
    assert seed.type == "INT" and seed.seed_like and seed.min == 0 and seed.max == 18446744073709551615
    assert steps.type == "INT" and not steps.seed_like and steps.min == 1 and steps.default == 20
    assert cfg.type == "FLOAT" and cfg.step == 0.1 and cfg.max == 100.0
    assert sampler.type == "COMBO" and "euler" in (sampler.choices or []) and sampler.is_widget
    assert not specs["model"].is_widget and specs["model"].type == "MODEL"
    assert specs["steps"].describe() == "INT 1..10000"
    text = {s.name: s for s in _info().input_specs("CLIPTextEncode")}["text"]
    assert text.multiline and text.dynamic_prompts


def test_seed_rule_by_name_and_explicit_flag() -> None:
    info = ObjectInfo(
        {
            "N": {
                "input": {
                    "required": {
                        "seed": ["INT", {}],
                        "noise_seed": ["INT", {"control_after_generate": False}],
                        "other": ["INT", {"control_after_generate": True}],
                        "mode": [["a", "b"], {"control_after_generate": True}],
                        "n": ["INT", {}],
                    }
                }
            }
        }
    )
    flags = {s.name: s.seed_like for s in info.input_specs("N")}
    assert flags == {"seed": True, "noise_seed": False, "other": True, "mode": True, "n": False}


@pytest.mark.parametrize(
    ("cls", "name", "raw", "expected"),
    [
        ("KSampler", "steps", "42", 42),
        ("KSampler", "steps", " 1_000 ", 1000),
        ("KSampler", "steps", "30.0", 30),
        ("KSampler", "cfg", "7.5", 7.5),
        ("KSampler", "cfg", 7, 7.0),
        ("KSampler", "sampler_name", "dpmpp_2m", "dpmpp_2m"),
        ("CLIPTextEncode", "text", 12, "12"),
        ("RealityProgress", "preview", "yes", True),
        ("RealityProgress", "preview", "0", False),
    ],
)
def test_validate_coerces(cls: str, name: str, raw: object, expected: object) -> None:
    spec = _info().input_spec(cls, name)
    assert spec is not None
    value = spec.validate(raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("cls", "name", "raw", "message"),
    [
        ("KSampler", "steps", "0", "Value 0 smaller than min of 1"),
        ("KSampler", "steps", "abc", "steps: expected an integer, got 'abc'"),
        ("KSampler", "steps", "2.5", "expected an integer"),
        ("KSampler", "steps", True, "expected an integer"),
        ("KSampler", "cfg", "1e9", "bigger than max of 100.0"),
        ("KSampler", "cfg", "nan", "finite"),
        ("KSampler", "sampler_name", "eulr", "did you mean 'euler'"),
        ("RealityProgress", "preview", "maybe", "expected true or false"),
    ],
)
def test_validate_rejects_with_reason(cls: str, name: str, raw: object, message: str) -> None:
    spec = _info().input_spec(cls, name)
    assert spec is not None
    with pytest.raises(ValueError, match=message):
        spec.validate(raw)


def test_editable_inputs_skip_links_and_order_ids() -> None:
    items = editable_inputs(PROMPT, _info())
    keys = [i.key for i in items]
    assert keys[:6] == ["3.seed", "3.steps", "3.cfg", "3.sampler_name", "3.scheduler", "3.denoise"]
    assert "19:7.width" not in keys and "19:7.height" in keys and "6.text" in keys
    assert keys.index("6.text") < keys.index("19:7.upscale_method")
    seed = items[0]
    assert (
        seed.title == "Sampler" and seed.class_type == "KSampler" and seed.value == 5 and seed.spec.seed_like
    )
    latent = next(i for i in items if i.key == "5.width")
    assert latent.title == _info().display_name("EmptyLatentImage")


def test_apply_overrides_returns_new_prompt() -> None:
    new = apply_overrides(
        PROMPT, {"3.seed": "42", "6.text": "a dog", "19:7.height": "128", "3.cfg": "4"}, _info()
    )
    assert new["3"]["inputs"]["seed"] == 42 and new["6"]["inputs"]["text"] == "a dog"
    assert new["19:7"]["inputs"]["height"] == 128 and new["3"]["inputs"]["cfg"] == 4.0
    assert PROMPT["3"]["inputs"]["seed"] == 5  # the original is untouched


def test_apply_overrides_random_seed() -> None:
    new = apply_overrides(PROMPT, {"3.seed": "random"}, _info())
    assert isinstance(new["3"]["inputs"]["seed"], int) and 0 <= new["3"]["inputs"]["seed"] <= 2**64 - 1


def test_apply_overrides_errors_name_the_choices() -> None:
    with pytest.raises(InvalidWorkflowError) as info:
        apply_overrides(
            PROMPT, {"9.seed": "1", "3.nope": "1", "3.steps": "0", "3.model": "x", "seed": "1"}, _info()
        )
    text = str(info.value)
    assert "there is no node '9'" in text and "3 (KSampler)" in text and "19:7 (ImageScale)" in text
    assert "KSampler has no input 'nope'; settable inputs are: seed, steps, cfg" in text
    assert "3.steps: Value 0 smaller than min of 1 (expected INT 1..10000)" in text
    assert "3.model: this input is connected to node 4" in text
    assert "'seed': expected NODE.INPUT" in text


def test_apply_overrides_without_object_info_keeps_types() -> None:
    new = apply_overrides(PROMPT, {"5.width": "640", "3.cfg": "2.5", "6.text": "x"}, None)
    assert new["5"]["inputs"]["width"] == 640 and new["3"]["inputs"]["cfg"] == 2.5
    with pytest.raises(InvalidWorkflowError, match="expected an integer"):
        apply_overrides(PROMPT, {"5.width": "wide"}, None)
    with pytest.raises(
        InvalidWorkflowError, match="has no input 'depth'; inputs are: width, height, batch_size"
    ):
        apply_overrides(PROMPT, {"5.depth": "1"}, None)


def test_dotted_node_ids() -> None:
    prompt = {
        "2.0.0.1": {"class_type": "EmptyLatentImage", "inputs": {"width": 8, "height": 8, "batch_size": 1}}
    }
    assert apply_overrides(prompt, {"2.0.0.1.width": "16"}, _info())["2.0.0.1"]["inputs"]["width"] == 16
