"""Widget serialization: which widgets a node has (hidden companions included), their values
from ``widgets_values`` by position, and what they put in the prompt, as frontend 1.27.10 does."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from .object_info import SEED_INPUT_NAMES, InputSpec, ObjectInfo

# The frontend's bundled English names, used for ``_meta.title`` where /object_info has no display_name.
FRONTEND_ENGLISH_NAMES = {
    "ImageScaleToTotalPixels": "Scale Image to Total Pixels",
    "ImageBlur": "Image Blur",
}
# Widget input types implemented by frontend extensions rather than by the generic widgets.
CUSTOM_WIDGET_TYPES = frozenset({"AUDIO_RECORD", "LOAD_3D", "LOAD_3D_ANIMATION", "WEBCAM"})
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "file_upload")


def frontend_added_widget(class_type: str) -> str | None:
    """Display widgets extensions add to some nodes; they serialize as an empty string."""
    if class_type in ("SaveGLB", "Preview3D"):
        return "image"
    if class_type == "LoadAudio" or class_type.startswith("SaveAudio"):
        return "audioUI"
    if class_type == "PreviewAny":
        return "preview"
    return None


@dataclass
class Widget:
    """One widget of a node, in the frontend's order; ``emit``: it reaches the prompt."""

    name: str
    emit: bool
    spec: InputSpec | None = None
    constant: Any = None  # frontend-added display widgets always serialize this


def _has_value_control(spec: InputSpec) -> bool:
    """The frontend adds a control_after_generate widget to INT widgets (explicitly, or named like a
    seed) and to COMBO widgets that ask for one; other widget types ignore the option."""
    explicit = spec.options.get("control_after_generate")
    if spec.type == "INT":
        return bool(explicit) if explicit is not None else spec.name in SEED_INPUT_NAMES
    return spec.type == "COMBO" and bool(explicit)


def expand_widgets(specs: list[InputSpec]) -> list[Widget]:
    """The widgets a node built from these input specs has, hidden companions included, in order."""
    widgets: list[Widget] = []
    for spec in specs:
        if not (spec.is_widget or spec.type in CUSTOM_WIDGET_TYPES):
            continue
        widgets.append(Widget(spec.name, True, spec))
        if _has_value_control(spec):
            widgets.append(Widget("control_after_generate", False))
            if spec.type == "COMBO":
                widgets.append(Widget("control_filter_list", False))
        remote = spec.options.get("remote")
        if isinstance(remote, dict) and remote.get("refresh_button"):
            widgets.append(Widget("control_after_refresh", False))
            widgets.append(Widget("refresh", True))
        if any(spec.options.get(flag) for flag in UPLOAD_FLAGS):
            if spec.options.get("audio_upload"):
                widgets.append(Widget("audioUI", True, constant=""))
            widgets.append(Widget("upload", False))
    return widgets


_COMMENT = re.compile(r"/\*[\s\S]*?\*/|//[^\n]*")


def process_dynamic_prompt(text: str, rng: random.Random) -> str:
    """The frontend's dynamic prompt pass: comments removed, ``{a|b}`` replaced by one random option."""
    text = _COMMENT.sub("", text)
    pos = 0

    def parse(in_braces: bool) -> list[str]:
        nonlocal pos
        options = [""]
        while pos < len(text):
            ch = text[pos]
            if ch == "\\" and pos + 1 < len(text):
                options[-1] += text[pos + 1]
                pos += 2
            elif ch == "{":
                pos += 1
                inner = parse(True)
                options[-1] += rng.choice(inner)
            elif ch == "}" and in_braces:
                pos += 1
                return options
            elif ch == "|" and in_braces:
                options.append("")
                pos += 1
            else:
                options[-1] += ch
                pos += 1
        return options

    return "".join(parse(False))


class WidgetValues:
    """The widget layer of the converter: one node's widget values and their prompt inputs."""

    object_info: ObjectInfo
    rng: random.Random
    _widget_cache: dict[str, list[Widget]]

    def widgets(self, class_type: str) -> list[Widget]:
        cached = self._widget_cache.get(class_type)
        if cached is not None:
            return cached
        widgets = expand_widgets(self.object_info.input_specs(class_type))
        added = frontend_added_widget(class_type)
        if added and not any(w.name == added for w in widgets):
            widgets.append(Widget(added, True, constant=""))
        self._widget_cache[class_type] = widgets
        return widgets

    @staticmethod
    def default_value(spec: InputSpec | None) -> Any:
        if spec is None:
            return None
        if "default" in spec.options:
            return spec.options["default"]
        if spec.type == "COMBO":
            return spec.choices[0] if spec.choices else None
        if spec.type in ("INT", "FLOAT"):
            return spec.options.get("min", 0)
        if spec.type == "STRING":
            return ""
        if spec.type == "BOOLEAN":
            return False
        return None

    def widget_values(self, node: dict[str, Any], class_type: str) -> dict[str, Any]:
        """Widget name -> value after the frontend's positional assignment of ``widgets_values``."""
        widgets = self.widgets(class_type)
        saved = node.get("widgets_values")
        values: dict[str, Any] = {}
        for index, widget in enumerate(widgets):
            if widget.constant is not None:
                value = widget.constant
            elif isinstance(saved, list) and index < len(saved):
                value = saved[index]
            elif isinstance(saved, dict) and widget.name in saved:
                value = saved[widget.name]
            else:
                value = self.default_value(widget.spec)
            values[widget.name] = value
        if class_type in ("KSampler", "KSamplerAdvanced"):
            sampler = values.get("sampler_name")
            if isinstance(sampler, str) and sampler.startswith("sample_"):
                values["sampler_name"] = sampler[len("sample_") :]
        return values

    def serialized_widgets(self, class_type: str, values: dict[str, Any]) -> dict[str, Any]:
        """The prompt inputs a node's widgets give: serializable ones only, dynamic prompts applied."""
        emit = {w.name for w in self.widgets(class_type) if w.emit}
        specs = {s.name: s for s in self.object_info.input_specs(class_type)}
        inputs: dict[str, Any] = {}
        for name, value in values.items():
            if name not in emit:
                continue
            spec = specs.get(name)
            if spec is not None and spec.dynamic_prompts and isinstance(value, str):
                value = process_dynamic_prompt(value, self.rng)
            inputs[name] = {"__value__": value} if isinstance(value, list) else value
        return inputs

    def title(self, node: dict[str, Any], class_type: str) -> str:
        title = node.get("title")
        if isinstance(title, str) and title:
            return title
        return (
            self.object_info.display_name(class_type) or FRONTEND_ENGLISH_NAMES.get(class_type) or class_type
        )
