"""The node catalogue: the recorded /object_info plus the server's virtual model files.

The recorded catalogue came from a server without model files, so every loader had an empty
choice list. Here the loaders list virtual files (``demo-sd15.safetensors`` ...) so a standard
txt2img graph validates, and LoadImage lists the real files of the input directory, exactly as
ComfyUI rebuilds those lists on every request.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from comfy_reality.validation.specs import InputSpec, parse_node_inputs

# The folder names a stock ComfyUI reports on GET /models, in its order.
MODEL_FOLDERS: tuple[str, ...] = (
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "custom_nodes",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
)

VIRTUAL_MODELS: dict[str, tuple[str, ...]] = {
    "checkpoints": ("demo-sd15.safetensors", "demo-sdxl.safetensors"),
    "vae": ("demo-vae.safetensors",),
    "loras": ("demo-lora.safetensors", "demo-style-lora.safetensors"),
    "upscale_models": ("demo-upscale-4x.pth",),
    "controlnet": ("demo-controlnet-canny.safetensors",),
}

# Which combo inputs list files of which model folder.
_MODEL_INPUTS: dict[str, str] = {
    "ckpt_name": "checkpoints",
    "vae_name": "vae",
    "lora_name": "loras",
    "control_net_name": "controlnet",
    "model_name": "upscale_models",
}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")

# Node types whose choice list is read from the input directory on every request.
_LIVE_CHOICES = frozenset({"LoadImage", "LoadImageMask"})


@cache
def recorded_object_info() -> dict[str, Any]:
    """The /object_info recorded from the real server (package data, parsed once)."""
    text = resources.files("comfy_reality.server").joinpath("data/object_info.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


class NodeCatalogue:
    """Node definitions as the server's validator and /object_info see them."""

    def __init__(self, input_dir: Path, *, virtual_models: bool = True) -> None:
        self.input_dir = input_dir
        base = copy.deepcopy(recorded_object_info())
        if virtual_models:
            for info in base.values():
                self._patch_model_lists(info)
        self._base = base
        self._live_inputs = virtual_models
        self._specs: dict[str, list[InputSpec]] = {}

    @staticmethod
    def _patch_model_lists(info: dict[str, Any]) -> None:
        for category in ("required", "optional"):
            for name, spec in info["input"].get(category, {}).items():
                folder = _MODEL_INPUTS.get(name)
                if folder is None or not spec:
                    continue
                files = list(VIRTUAL_MODELS.get(folder, ()))
                if isinstance(spec[0], list):  # a combo as a list of choices
                    spec[0] = files + [x for x in spec[0] if x not in files]
                elif spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1].get("options"), list):
                    options = spec[1]["options"]
                    spec[1]["options"] = files + [x for x in options if x not in files]

    def remove_node_types(self, *class_types: str) -> None:
        """Leave node types out (a server without some custom nodes: pool dispatch tests, demos)."""
        for class_type in class_types:
            self._base.pop(class_type, None)
            self._specs.pop(class_type, None)

    def input_files(self) -> list[str]:
        if not self.input_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.input_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )

    def has(self, class_type: Any) -> bool:
        return self.get(class_type) is not None

    def get(self, class_type: Any) -> dict[str, Any] | None:
        """The node's info with live choice lists (raises TypeError on unhashable names, like a dict)."""
        info: dict[str, Any] | None = self._base.get(class_type)
        if info is None:
            return None
        if self._live_inputs and class_type in _LIVE_CHOICES:
            info = copy.deepcopy(info)
            info["input"]["required"]["image"][0] = self.input_files()
        return info

    def object_info(self) -> dict[str, Any]:
        return {name: self.get(name) for name in self._base}

    def is_output(self, class_type: str) -> bool:
        info = self._base.get(class_type)
        return bool(info and info.get("output_node"))

    def return_types(self, class_type: str) -> tuple[Any, ...]:
        return tuple(self._base[class_type]["output"])

    def output_is_list(self, class_type: str) -> tuple[bool, ...]:
        return tuple(self._base[class_type].get("output_is_list") or ())

    def input_specs(self, class_type: str) -> list[InputSpec]:
        """The node's inputs as validation reads them, with the live choice lists."""
        cached = self._specs.get(class_type)
        if cached is not None:
            return cached
        info = self.get(class_type)
        if info is None:
            raise KeyError(class_type)
        specs = parse_node_inputs(info)
        if class_type not in _LIVE_CHOICES:
            self._specs[class_type] = specs
        return specs

    def is_output_node(self, class_type: str) -> bool:
        return self.is_output(class_type)

    def output_types(self, class_type: str) -> tuple[Any, ...]:
        return self.return_types(class_type)

    def model_files(self, folder: str) -> list[str] | None:
        if folder not in MODEL_FOLDERS:
            return None
        return list(VIRTUAL_MODELS.get(folder, ()))
