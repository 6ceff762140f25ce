"""Names and URLs of workflows saved on the server through ComfyUI's /userdata API (pure functions).

The web UI stores workflows as ``workflows/<name>.json`` in the user's data dir; the file path is
one URL path segment, so ``/`` must be percent-encoded (``/userdata/workflows%2Fmy%20flow.json``).
The HTTP calls themselves live in the runtime client.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from ..errors import InvalidWorkflowError

WORKFLOWS_DIR = "workflows"
_FORBIDDEN = re.compile(r'[\x00-\x1f<>:"|?*\\/]')


def workflow_userdata_path(name: str, directory: str = WORKFLOWS_DIR) -> str:
    """``"my flow"`` -> ``"workflows/my flow.json"``; refuses names that would escape the folder."""
    stem = name.strip()
    if stem.lower().endswith(".json"):
        stem = stem[:-5]
    if not stem or stem in (".", "..") or _FORBIDDEN.search(stem) or stem.startswith("."):
        raise InvalidWorkflowError(
            f'{name!r} cannot be a server workflow name: avoid / \\ : * ? " < > | and leading dots'
        )
    return f"{directory.strip('/')}/{stem}.json"


def encode_userdata_path(path: str) -> str:
    """Percent-encode a userdata path as the single segment the server expects."""
    if path.startswith("/") or ".." in path.split("/"):
        raise InvalidWorkflowError(f"{path!r} is not a relative userdata path")
    return quote(path, safe="")


def userdata_file_url(path: str, *, overwrite: bool | None = None, full_info: bool | None = None) -> str:
    """``/userdata/<encoded path>`` with the query the server understands for POST."""
    url = f"/userdata/{encode_userdata_path(path)}"
    query = {}
    if overwrite is not None:
        query["overwrite"] = "true" if overwrite else "false"
    if full_info is not None:
        query["full_info"] = "true" if full_info else "false"
    return f"{url}?{urlencode(query)}" if query else url


def userdata_list_url(directory: str = WORKFLOWS_DIR, *, recurse: bool = True) -> str:
    query = {"dir": directory.strip("/"), "recurse": "true" if recurse else "false", "split": "false"}
    return f"/userdata?{urlencode(query)}"


def workflow_name(path: str) -> str:
    """Display name of a userdata path: ``"workflows/sub/my flow.json"`` -> ``"sub/my flow"``."""
    name = path.split("/", 1)[1] if path.startswith(f"{WORKFLOWS_DIR}/") else path
    return name[:-5] if name.lower().endswith(".json") else name


def parse_workflow_listing(body: Any, directory: str = WORKFLOWS_DIR) -> list[str]:
    """Full userdata paths of the ``.json`` files in a /userdata listing (plain names or full_info dicts).

    The server answers 404 "Directory not found" when nothing was ever saved; callers pass None then.
    """
    if body is None:
        return []
    if not isinstance(body, list):
        raise InvalidWorkflowError("unexpected /userdata listing: expected a JSON list")
    paths = []
    for item in body:
        rel = item.get("path") if isinstance(item, dict) else item
        if isinstance(rel, str) and rel.lower().endswith(".json"):
            rel = rel.replace("\\", "/")
            paths.append(rel if rel.startswith(f"{directory}/") else f"{directory.strip('/')}/{rel}")
    return sorted(paths, key=str.lower)
