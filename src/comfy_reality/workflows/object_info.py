"""The server's node catalogue (/object_info): read access to its node types, and a per-server cache.

Input specs are parsed by ``comfy_reality.validation`` (the same parser the embedded server and
local validation use); they are re-exported here for the modules that read a catalogue.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from comfy_reality.logs import get_logger

from .. import paths
from ..runtime.models import utc_now
from ..validation.specs import (
    SEED_INPUT_NAMES,
    WIDGET_TYPES,
    InputSpec,
    choice_list_text,
    parse_input_spec,
    parse_node_inputs,
)

__all__ = [
    "SEED_INPUT_NAMES",
    "WIDGET_TYPES",
    "CachedObjectInfo",
    "InputSpec",
    "ObjectInfo",
    "ObjectInfoCache",
    "choice_list_text",
    "fingerprint_of",
    "packaged_object_info",
    "parse_input_spec",
]

log = get_logger(__name__)


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

    def has(self, class_type: Any) -> bool:
        """The validator's question: is this a node type of the server (any value is answered)."""
        return class_type in self

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
        specs = parse_node_inputs(node)
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
