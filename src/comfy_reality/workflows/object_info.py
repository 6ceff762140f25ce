"""The server's node catalogue (/object_info): typed input specs, value checks, and a per-server cache.

Value checks reproduce the ComfyUI server's own rules and messages (execution.validate_inputs)
so a form, ``--set`` and local validation tell the user exactly what the server would.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel

from .. import paths
from ..runtime.models import utc_now

log = structlog.get_logger(__name__)

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
SEED_INPUT_NAMES = frozenset({"seed", "noise_seed"})


@dataclass(frozen=True)
class InputSpec:
    """One input of a node type as the server declares it (a plain value object: ``validate`` is ours)."""

    name: str
    type: str  # INT, FLOAT, STRING, BOOLEAN, COMBO, or a link type such as MODEL / IMAGE
    required: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    choices: list[Any] | None = None
    raw: list[Any] = field(default_factory=list)  # the spec exactly as /object_info sent it

    @property
    def default(self) -> Any:
        if "default" in self.options:
            return self.options["default"]
        if self.choices:
            return self.choices[0]
        return None

    @property
    def min(self) -> float | None:
        return self.options.get("min")

    @property
    def max(self) -> float | None:
        return self.options.get("max")

    @property
    def step(self) -> float | None:
        return self.options.get("step")

    @property
    def multiline(self) -> bool:
        return bool(self.options.get("multiline"))

    @property
    def tooltip(self) -> str | None:
        tip = self.options.get("tooltip")
        return tip if isinstance(tip, str) else None

    @property
    def is_widget(self) -> bool:
        """A value typed in the UI rather than a link (forceInput turns a widget type into a socket)."""
        return self.type in WIDGET_TYPES and not self.options.get("forceInput")

    @property
    def seed_like(self) -> bool:
        """Has a control_after_generate companion (randomize/fixed/...): the frontend rule for INT and COMBO."""
        explicit = self.options.get("control_after_generate")
        if explicit is not None:
            return bool(explicit)
        return self.type == "INT" and self.name in SEED_INPUT_NAMES

    @property
    def dynamic_prompts(self) -> bool:
        return self.type == "STRING" and bool(self.options.get("dynamicPrompts"))

    @property
    def config(self) -> list[Any]:
        """The ``input_config`` the server echoes in its validation errors."""
        return list(self.raw)

    def describe(self) -> str:
        """A short human description: ``INT 1..10000 step 1`` or ``one of 5 choices``."""
        if self.type == "COMBO":
            return f"one of {len(self.choices or [])} choices"
        parts = [self.type]
        if self.min is not None or self.max is not None:
            parts.append(
                f"{_fmt(self.min) if self.min is not None else ''}..{_fmt(self.max) if self.max is not None else ''}"
            )
        if self.step is not None and self.type in ("INT", "FLOAT"):
            parts.append(f"step {_fmt(self.step)}")
        if self.multiline:
            parts.append("multiline")
        return " ".join(parts)

    def coerce(self, value: Any) -> Any:
        """Turn form/CLI text into the spec's type; ValueError names what was expected."""
        if self.type == "INT":
            if isinstance(value, bool):
                raise ValueError(f"{self.name}: expected an integer, got {value!r}")
            if isinstance(value, int):
                return value
            if isinstance(value, float):
                if value.is_integer():
                    return int(value)
                raise ValueError(f"{self.name}: expected an integer, got {value!r}")
            if isinstance(value, str):
                text = value.strip().replace("_", "")
                try:
                    return int(text)
                except ValueError:
                    try:
                        as_float = float(text)
                    except ValueError:
                        raise ValueError(f"{self.name}: expected an integer, got {value!r}") from None
                    if math.isfinite(as_float) and as_float.is_integer():
                        return int(as_float)
                    raise ValueError(f"{self.name}: expected an integer, got {value!r}") from None
            raise ValueError(f"{self.name}: expected an integer, got {type(value).__name__}")
        if self.type == "FLOAT":
            if isinstance(value, bool):
                raise ValueError(f"{self.name}: expected a number, got {value!r}")
            if isinstance(value, (int, float)):
                result = float(value)
            elif isinstance(value, str):
                try:
                    result = float(value.strip())
                except ValueError:
                    raise ValueError(f"{self.name}: expected a number, got {value!r}") from None
            else:
                raise ValueError(f"{self.name}: expected a number, got {type(value).__name__}")
            if not math.isfinite(result):
                raise ValueError(f"{self.name}: expected a finite number, got {value!r}")
            return result
        if self.type == "BOOLEAN":
            if isinstance(value, bool):
                return value
            if isinstance(value, str):
                text = value.strip().lower()
                if text in ("true", "1", "yes", "on"):
                    return True
                if text in ("false", "0", "no", "off"):
                    return False
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError(f"{self.name}: expected true or false, got {value!r}")
        if self.type == "STRING":
            if isinstance(value, (dict, list)):
                raise ValueError(f"{self.name}: expected text, got {type(value).__name__}")
            return value if isinstance(value, str) else str(value)
        if self.type == "COMBO":
            if value in (self.choices or []):
                return value
            if isinstance(value, str) and self.choices:
                # "4" from a command line matches a numeric choice 4.
                for choice in self.choices:
                    if not isinstance(choice, str) and str(choice) == value.strip():
                        return choice
            return value
        return value

    def check(self, value: Any) -> Any:
        """Server-side checks on an already typed value; ValueError carries the server's message."""
        if self.type in ("INT", "FLOAT") and not isinstance(value, bool) and isinstance(value, (int, float)):
            if self.min is not None and value < self.min:
                raise ValueError(f"Value {value} smaller than min of {self.min}")
            if self.max is not None and value > self.max:
                raise ValueError(f"Value {value} bigger than max of {self.max}")
        if self.type == "COMBO" and self.choices is not None and value not in self.choices:
            message = f"Value not in list: {self.name}: '{value}' not in {choice_list_text(self.choices)}"
            close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=3)
            if close:
                message += f" (did you mean {' or '.join(repr(c) for c in close)}?)"
            raise ValueError(message)
        return value

    def validate(self, value: Any) -> Any:
        """Coerce then check: the value to store, or ValueError with the reason."""
        return self.check(self.coerce(value))


def choice_list_text(choices: list[Any]) -> str:
    """How the server prints a combo list in ``value_not_in_list`` details."""
    return f"(list of length {len(choices)})" if len(choices) > 20 else str(choices)


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_input_spec(name: str, raw: Any, *, required: bool) -> InputSpec:
    spec = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    head = spec[0] if spec else "*"
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(head, list):
        return InputSpec(
            name=name, type="COMBO", required=required, options=options, choices=list(head), raw=spec
        )
    if head == "COMBO":
        choices = options.get("options")
        return InputSpec(
            name=name,
            type="COMBO",
            required=required,
            options=options,
            choices=list(choices) if isinstance(choices, list) else [],
            raw=spec,
        )
    return InputSpec(name=name, type=str(head), required=required, options=options, raw=spec)


class ObjectInfo:
    """Read access to an /object_info dict; the dict itself is never modified."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise TypeError("object_info must be a mapping of class_type -> node definition")
        self._data: dict[str, Any] = {k: v for k, v in data.items() if isinstance(v, dict)}
        self._specs: dict[str, list[InputSpec]] = {}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectInfo:
        return cls(data)

    @property
    def raw(self) -> dict[str, Any]:
        return self._data

    def __contains__(self, class_type: object) -> bool:
        return isinstance(class_type, str) and class_type in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def get(self, class_type: str) -> dict[str, Any] | None:
        return self._data.get(class_type)

    @property
    def class_types(self) -> list[str]:
        return sorted(self._data)

    @property
    def fingerprint(self) -> str:
        """Changes exactly when the server's set of node types changes (a custom node pack added/removed)."""
        return fingerprint_of(self._data)

    def display_name(self, class_type: str) -> str | None:
        node = self._data.get(class_type)
        name = node.get("display_name") if node else None
        return name if isinstance(name, str) and name else None

    def input_specs(self, class_type: str) -> list[InputSpec]:
        """Required then optional inputs, in the server's ``input_order`` (the order the UI shows them)."""
        cached = self._specs.get(class_type)
        if cached is not None:
            return cached
        node = self._data.get(class_type)
        if node is None:
            raise KeyError(class_type)
        inputs = node.get("input") or {}
        order = node.get("input_order") or {}
        specs: list[InputSpec] = []
        for category in ("required", "optional"):
            section = inputs.get(category) or {}
            if not isinstance(section, dict):
                continue
            names = [n for n in order.get(category) or [] if n in section]
            names += [n for n in section if n not in names]
            specs.extend(parse_input_spec(n, section[n], required=category == "required") for n in names)
        self._specs[class_type] = specs
        return specs

    def input_spec(self, class_type: str, name: str) -> InputSpec | None:
        for spec in self.input_specs(class_type):
            if spec.name == name:
                return spec
        return None

    def output_types(self, class_type: str) -> list[Any]:
        node = self._data.get(class_type) or {}
        return list(node.get("output") or [])

    def is_output_node(self, class_type: str) -> bool:
        node = self._data.get(class_type) or {}
        return bool(node.get("output_node"))


def fingerprint_of(data: Mapping[str, Any]) -> str:
    return hashlib.sha256("\n".join(sorted(data)).encode()).hexdigest()


@cache
def _packaged_raw() -> str:
    return (resources.files("comfy_reality.server") / "data" / "object_info.json").read_text(encoding="utf-8")


def packaged_object_info() -> ObjectInfo:
    """The embedded server's recorded catalogue: lets the app show and convert workflows offline."""
    return ObjectInfo(json.loads(_packaged_raw()))


class CachedObjectInfo(BaseModel):
    server_url: str
    fetched_at: datetime
    fingerprint: str
    node_count: int
    object_info: dict[str, Any]


class ObjectInfoCache:
    """One JSON file per server under the cache dir, keyed by the server URL.

    The HTTP fetch belongs to the caller (ComfyUIClient.get_object_info); this only remembers
    the answer so the next start can show and convert workflows before the server answers.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else paths.cache_dir() / "object_info"

    @staticmethod
    def key(server_url: str) -> str:
        normalized = server_url.strip().rstrip("/").lower()
        return hashlib.sha256(normalized.encode()).hexdigest()[:24]

    def path_for(self, server_url: str) -> Path:
        return self.directory / f"{self.key(server_url)}.json"

    def load(self, server_url: str) -> CachedObjectInfo | None:
        path = self.path_for(server_url)
        try:
            return CachedObjectInfo.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            # A corrupt cache is only a missed shortcut: drop it and refetch.
            log.warning("object_info_cache_unreadable", path=str(path), error=str(exc)[:200])
            path.unlink(missing_ok=True)
            return None

    def get(self, server_url: str) -> ObjectInfo | None:
        entry = self.load(server_url)
        return ObjectInfo(entry.object_info) if entry else None

    def is_current(self, server_url: str, class_types: Any) -> bool:
        """True when the cached catalogue has exactly these node types (an iterable of names or the dict)."""
        entry = self.load(server_url)
        return entry is not None and entry.fingerprint == fingerprint_of(dict.fromkeys(class_types))

    def store(self, server_url: str, data: Mapping[str, Any]) -> tuple[ObjectInfo, bool]:
        """Remember a freshly fetched catalogue; returns it and whether the node set changed."""
        fingerprint = fingerprint_of(data)
        previous = self.load(server_url)
        changed = previous is None or previous.fingerprint != fingerprint
        entry = CachedObjectInfo(
            server_url=server_url,
            fetched_at=utc_now(),
            fingerprint=fingerprint,
            node_count=len(data),
            object_info=dict(data),
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_for(server_url)
        fd, tmp = tempfile.mkstemp(prefix=".object_info.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(entry.model_dump_json())
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        if changed:
            log.info("object_info_cached", server_url=server_url, node_types=len(data), changed=True)
        return ObjectInfo(entry.object_info), changed
