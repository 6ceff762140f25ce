"""The workflow library: list saved workflows from several folders, and save new ones safely.

Scanning never raises for a bad file: the file is listed with its error so the user sees it
(a workflow that silently disappears from a list is worse than one marked broken).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from comfy_reality.logs import get_logger

from ..errors import InvalidWorkflowError
from ..safe_text import safe_json
from .formats import (
    MAX_FILE_BYTES,
    WorkflowFormat,
    WorkflowReadError,
    _size,
    detect_format,
    parse_json_bytes,
    read_json_file,
    unwrap_prompt,
)
from .graph import find_cycle
from .object_info import ObjectInfo
from .ui_graph import VIRTUAL_TYPES

log = get_logger(__name__)

DESCRIPTION_LIMIT = 400


class WorkflowFile(BaseModel):
    """One entry of the library, valid or not."""

    model_config = ConfigDict(frozen=True)

    path: Path
    name: str
    source: str
    format: WorkflowFormat
    description: str | None = None
    node_count: int = 0
    error: str | None = None
    class_types: list[str] = Field(default_factory=list)
    # Filled when scanned with a server catalogue: node types that server lacks (with pack hints).
    missing_node_types: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def _paragraphs(text: str) -> list[str]:
    """Markdown (or plain text) reduced to paragraphs of plain prose: headings, rules, images, tables dropped."""
    out = []
    text = re.sub(r"```.*?(```|$)", "\n\n", text.replace("\r\n", "\n"), flags=re.S)
    for block in re.split(r"\n\s*\n", text):
        lines = []
        for raw in block.strip().splitlines():
            line = raw.strip()
            if not line or re.fullmatch(r"#+(\s.*)?|[-*_=]{3,}|!\[.*\]\(.*\)|\|.*", line):
                continue
            line = re.sub(r"^([-*+]|\d+[.)])\s+", "", re.sub(r"^(>\s*)+", "", line))
            lines.append(line)
        paragraph = " ".join(lines)
        paragraph = re.sub(r"<[^>]+>", "", paragraph)
        paragraph = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: m.group(1) or m.group(2), paragraph)
        paragraph = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", paragraph)
        paragraph = re.sub(r"\s+", " ", paragraph).strip(" >")
        if paragraph:
            out.append(paragraph)
    return out


def _is_prose(paragraph: str) -> bool:
    """A sentence or two a person wrote, not a label ("Tutorial") or a list of links."""
    words = [w for w in paragraph.split() if re.search(r"[^\W\d_]{2,}", w) and "://" not in w]
    return len(words) >= 6 and not paragraph.endswith(":")


def _shorten(paragraph: str, limit: int) -> str:
    return paragraph if len(paragraph) <= limit else paragraph[: limit - 1].rstrip() + "…"


def first_paragraph(text: str, limit: int = DESCRIPTION_LIMIT) -> str | None:
    """The first prose paragraph of a note or Markdown file (else its first paragraph), whitespace folded."""
    paragraphs = _paragraphs(text)
    chosen = next((p for p in paragraphs if _is_prose(p)), paragraphs[0] if paragraphs else None)
    return _shorten(chosen, limit) if chosen else None


def sidecar_description(path: Path) -> str | None:
    """``<stem>.md`` or ``<stem>.txt`` beside the file describes an API prompt (which has no room for prose)."""
    for suffix in (".md", ".txt"):
        candidate = path.with_suffix(suffix)
        try:
            if candidate.is_file() and candidate.stat().st_size <= 1_048_576:
                return first_paragraph(candidate.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return None


def _ui_nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a UI workflow, top level and inside subgraph definitions."""
    nodes = [n for n in data.get("nodes") or [] if isinstance(n, dict)]
    definitions = data.get("definitions")
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    for sg in subgraphs or []:
        if isinstance(sg, dict):
            nodes.extend(n for n in sg.get("nodes") or [] if isinstance(n, dict))
    return nodes


def _subgraph_ids(data: dict[str, Any]) -> set[str]:
    definitions = data.get("definitions")
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    return {str(sg.get("id")) for sg in subgraphs or [] if isinstance(sg, dict)}


def ui_description(data: dict[str, Any]) -> str | None:
    """A UI workflow describes itself in extra (some tools) or, mostly, in Note/MarkdownNote nodes."""
    extra = data.get("extra")
    if isinstance(extra, dict):
        for key in ("description", "desc"):
            if isinstance(extra.get(key), str) and extra[key].strip():
                return first_paragraph(extra[key])
    notes = [
        n
        for n in data.get("nodes") or []
        if isinstance(n, dict) and n.get("type") in ("Note", "MarkdownNote")
    ]

    # The note nearest the top-left corner is the one a reader sees first.
    def position(node: dict[str, Any]) -> tuple[float, float]:
        pos = node.get("pos")
        if (
            isinstance(pos, (list, tuple))
            and len(pos) >= 2
            and all(isinstance(p, (int, float)) for p in pos[:2])
        ):
            return (float(pos[1]), float(pos[0]))
        if isinstance(pos, dict):
            return (float(pos.get("1", 0) or 0), float(pos.get("0", 0) or 0))
        return (0.0, 0.0)

    paragraphs: list[str] = []
    for note in sorted(notes, key=position):
        values = note.get("widgets_values")
        if isinstance(values, list) and values and isinstance(values[0], str):
            paragraphs.extend(_paragraphs(values[0]))
    chosen = next((p for p in paragraphs if _is_prose(p)), paragraphs[0] if paragraphs else None)
    return _shorten(chosen, DESCRIPTION_LIMIT) if chosen else None


def ui_class_types(data: dict[str, Any]) -> list[str]:
    skip = VIRTUAL_TYPES | _subgraph_ids(data)
    return sorted({str(n.get("type")) for n in _ui_nodes(data) if n.get("type") not in skip})


def inspect_workflow(
    path: Path, source: str, *, max_bytes: int = MAX_FILE_BYTES, object_info: ObjectInfo | None = None
) -> WorkflowFile:
    """Everything the library shows about one file; problems go into ``error``."""
    try:
        data = read_json_file(path, max_bytes=max_bytes)
    except WorkflowReadError as exc:
        return WorkflowFile(
            path=path, name=path.stem, source=source, format=WorkflowFormat.INVALID, error=_reason(exc)
        )
    return describe_workflow(data, path, source, object_info=object_info)


def inspect_workflow_bytes(
    raw: bytes,
    path: Path,
    source: str,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    object_info: ObjectInfo | None = None,
) -> WorkflowFile:
    """The entry of a workflow held in memory (one the server keeps), as its file would give it.

    ``path`` names it (its stem is the name shown); no sidecar description is looked for.
    """
    try:
        if len(raw) > max_bytes:
            raise WorkflowReadError(
                f"the file is above the {_size(max_bytes)} limit for workflow files", source=str(path)
            )
        data = parse_json_bytes(raw, source=str(path))
    except WorkflowReadError as exc:
        return WorkflowFile(
            path=path, name=path.stem, source=source, format=WorkflowFormat.INVALID, error=_reason(exc)
        )
    return describe_workflow(data, path, source, object_info=object_info, sidecar=False)


def describe_workflow(
    data: Any,
    path: Path,
    source: str,
    *,
    object_info: ObjectInfo | None = None,
    sidecar: bool = True,
) -> WorkflowFile:
    """The library entry of parsed workflow JSON; with a catalogue, the node types the server lacks."""
    entry = _describe(data, path, source, sidecar=sidecar)
    if object_info is None or entry.error is not None:
        return entry
    if entry.format is WorkflowFormat.API:
        missing = [t for t in entry.class_types if t not in object_info]
    else:
        from .convert import find_missing_node_types  # UI workflows only, with a catalogue: loaded on need

        try:
            missing = [m.describe() for m in find_missing_node_types(data, object_info)]
        except InvalidWorkflowError as exc:
            return entry.model_copy(update={"error": _reason(exc)})
    return entry.model_copy(update={"missing_node_types": missing}) if missing else entry


def _describe(data: Any, path: Path, source: str, *, sidecar: bool) -> WorkflowFile:
    name = path.stem
    fmt, reason = detect_format(data)
    if fmt is WorkflowFormat.INVALID:
        return WorkflowFile(path=path, name=name, source=source, format=fmt, error=reason)
    if fmt is WorkflowFormat.API:
        prompt = unwrap_prompt(data)
        cycle = find_cycle(prompt)
        return WorkflowFile(
            path=path,
            name=name,
            source=source,
            format=fmt,
            description=sidecar_description(path) if sidecar else None,
            node_count=len(prompt),
            class_types=sorted({str(n["class_type"]) for n in prompt.values()}),
            error=f"the graph has a dependency cycle: {' -> '.join(cycle)}" if cycle else None,
        )
    types = ui_class_types(data)
    skip = VIRTUAL_TYPES | _subgraph_ids(data)
    count = sum(1 for n in _ui_nodes(data) if n.get("type") not in skip)
    return WorkflowFile(
        path=path,
        name=name,
        source=source,
        format=fmt,
        description=ui_description(data) or (sidecar_description(path) if sidecar else None),
        node_count=count,
        class_types=types,
    )


def _reason(exc: InvalidWorkflowError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if exc.source and text.startswith(f"{exc.source}: ") else text


def scan_workflows(
    sources: list[tuple[str, Path]],
    *,
    max_bytes: int = MAX_FILE_BYTES,
    object_info: ObjectInfo | None = None,
) -> list[WorkflowFile]:
    """All ``*.json`` files directly in each (label, directory), sorted by name within a source.

    A missing directory contributes nothing (a fresh install has no user workflows yet). With a
    server's ``object_info``, each entry also lists the node types that server lacks. Blocking
    file I/O: call it from a thread in async code.
    """
    found: list[WorkflowFile] = []
    for label, directory in sources:
        try:
            entries = sorted(
                (
                    p
                    for p in Path(directory).iterdir()
                    if p.suffix.lower() == ".json" and not p.name.startswith(".")
                ),
                key=lambda p: p.name.lower(),
            )
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("workflow_dir_unreadable", directory=str(directory), error=str(exc))
            continue
        for path in entries:
            if path.is_dir():
                continue
            found.append(inspect_workflow(path, label, max_bytes=max_bytes, object_info=object_info))
    return found


_SAFE_NAME = re.compile(r"[^\w\-. ]+", re.UNICODE)


def safe_filename(name: str) -> str:
    """A workflow name turned into a file name: no separators, no leading dots, ``.json`` appended."""
    stem = name.strip()
    if stem.lower().endswith(".json"):
        stem = stem[:-5]
    stem = _SAFE_NAME.sub("_", stem).strip(" .")
    if not stem:
        raise InvalidWorkflowError(f"{name!r} is not usable as a workflow name; use letters, digits, - or _")
    return f"{stem[:120]}.json"


def save_workflow(
    data: dict[str, Any],
    directory: Path,
    name: str,
    *,
    overwrite: bool = False,
    description: str | None = None,
) -> Path:
    """Write an API prompt or UI workflow atomically (temp file + rename); refuses to replace unless asked.

    ``description`` is written to the ``<stem>.md`` sidecar the library reads for API prompts.
    """
    fmt, reason = detect_format(data)
    if fmt is WorkflowFormat.INVALID:
        raise InvalidWorkflowError(f"refusing to save: {reason}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / safe_filename(name)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; choose another name or allow overwriting")
    # Strict JSON (NaN/Infinity as null): the file must read back, here and in ComfyUI.
    _atomic_write(target, safe_json(data, indent=2) + "\n", overwrite=overwrite)
    if description is not None:
        _atomic_write(target.with_suffix(".md"), description.rstrip() + "\n", overwrite=True)
    log.info("workflow_saved", path=str(target), format=fmt.value)
    return target


def _atomic_write(target: Path, text: str, *, overwrite: bool) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            # link() fails if the target appeared meanwhile: no silent overwrite even under a race.
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise FileExistsError(
                    f"{target} already exists; choose another name or allow overwriting"
                ) from None
            except OSError:
                if target.exists():
                    raise FileExistsError(f"{target} already exists") from None
                os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
