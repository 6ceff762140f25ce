"""The node catalogue: the recorded /object_info plus the server's virtual model files.

The recorded catalogue came from a server without model files, so every loader had an empty
choice list. Here the loaders list virtual files (``demo-sd15.safetensors`` ...) so a standard
txt2img graph validates, and LoadImage lists the real files of the input directory, exactly as
ComfyUI rebuilds those lists on every request.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

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


@cache
def recorded_object_info() -> dict[str, Any]:
    """The /object_info recorded from the real server (package data, parsed once)."""
    text = resources.files("comfy_reality.server").joinpath("data/object_info.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class InputInfo:
    type: Any  # str, or list of choices for a combo
    category: str  # required | optional | hidden
    extra: dict[str, Any]


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

    @staticmethod
    def _patch_model_lists(info: dict[str, Any]) -> None:
        for category in ("required", "optional"):
            for name, spec in info["input"].get(category, {}).items():
                folder = _MODEL_INPUTS.get(name)
                if folder is None or not spec or not isinstance(spec[0], list):
                    continue
                files = list(VIRTUAL_MODELS.get(folder, ()))
                existing = [x for x in spec[0] if x not in files]
                spec[0] = files + existing

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
        if self._live_inputs and class_type in ("LoadImage", "LoadImageMask"):
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

    def input_types(self, class_type: str) -> dict[str, dict[str, Any]]:
        """Like a node class's INPUT_TYPES(): category -> {name: spec}, in declaration order."""
        info = self.get(class_type)
        assert info is not None
        order = info.get("input_order") or {}
        out: dict[str, dict[str, Any]] = {}
        for category, specs in info["input"].items():
            names = order.get(category) or list(specs)
            out[category] = {n: specs[n] for n in names if n in specs}
        return out

    def input_info(self, class_type: str, name: str) -> InputInfo | None:
        types = self.input_types(class_type)
        for category in ("required", "optional", "hidden"):
            spec = types.get(category, {}).get(name)
            if spec is None:
                continue
            if category == "hidden":
                return InputInfo(type=spec, category=category, extra={})
            extra = spec[1] if len(spec) > 1 else {}
            return InputInfo(type=spec[0], category=category, extra=extra)
        return None

    def model_files(self, folder: str) -> list[str] | None:
        if folder not in MODEL_FOLDERS:
            return None
        return list(VIRTUAL_MODELS.get(folder, ()))
