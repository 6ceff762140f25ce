"""Saving a prompt's output files locally, treating the server's names as hostile.

Filenames and subfolders come from the server (or from whoever controls it). A name may
try ``../`` traversal, an absolute or Windows drive path, backslashes, NUL bytes, or rely on a
symlink inside the destination that points elsewhere. :func:`safe_output_path` refuses all of
these; :func:`save_outputs` never overwrites an existing file (it adds ``_1``, ``_2``...), creates
each file exclusively without following a symlink, and does the file work off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UnsafeOutputPathError
from ..logs import get_logger

if TYPE_CHECKING:
    from .models import OutputFile, WorkflowExecution

log = get_logger("comfy_reality.outputs")

MAX_NAME_LENGTH = 255  # bytes, the limit of every common file system
# Room left under the limit for the "_N" that keeps an existing file from being overwritten.
SHORTENED_NAME_BYTES = MAX_NAME_LENGTH - 8
MAX_SUBFOLDER_DEPTH = 16
MAX_SUFFIX = 10_000
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)
# Valid on POSIX but not on Windows; replaced so a saved set of outputs can be copied anywhere.
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')


def shorten_name(name: str, max_bytes: int = SHORTENED_NAME_BYTES) -> str:
    """``name`` cut to ``max_bytes`` of UTF-8 (on a character boundary), keeping a short extension."""
    if len(name.encode("utf-8")) <= max_bytes:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = max_bytes - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return cut + suffix


def _parts(text: str, *, what: str, filename: str, subfolder: str) -> list[str]:
    def refuse(reason: str) -> UnsafeOutputPathError:
        return UnsafeOutputPathError(filename, subfolder, f"{what} {reason}")

    if "\x00" in text:
        raise refuse("contains a NUL byte")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise refuse("is not valid Unicode text") from None
    if _CONTROL.search(text):
        raise refuse("contains control characters")
    normalized = text.replace("\\", "/")
    if normalized.startswith("/") or _DRIVE.match(normalized):
        raise refuse("is an absolute path")
    parts = [p for p in normalized.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise refuse("climbs out of the folder with '..'")
        stem = part.split(".")[0].strip().upper()
        if stem in _WINDOWS_RESERVED:
            raise refuse(f"uses the reserved device name {part!r}")
    # Names over the file system's limit are shortened (log it: the server's name is not kept).
    return [shorten_name(_WINDOWS_FORBIDDEN.sub("_", p).rstrip(" .") or "_") for p in parts]


def safe_output_path(dest_dir: Path | str, filename: str, subfolder: str = "") -> Path:
    """Where an output file may be written inside ``dest_dir``; raises UnsafeOutputPathError.

    The subfolder structure is kept (``subfolder/filename``) so outputs stay organised. The
    returned path is checked after resolving symlinks of every existing folder on the way, so a
    link inside ``dest_dir`` that points outside is refused. The file itself may already exist;
    :func:`save_outputs` then picks a new name instead of overwriting.
    """
    if not isinstance(filename, str) or not isinstance(subfolder, str):
        raise UnsafeOutputPathError(str(filename), str(subfolder), "the name is not text")
    name_parts = _parts(filename, what="the file name", filename=filename, subfolder=subfolder)
    if len(name_parts) != 1:
        raise UnsafeOutputPathError(
            filename,
            subfolder,
            "the file name is empty" if not name_parts else "the file name contains a folder",
        )
    folder_parts = _parts(subfolder, what="the subfolder", filename=filename, subfolder=subfolder)
    if len(folder_parts) > MAX_SUBFOLDER_DEPTH:
        raise UnsafeOutputPathError(
            filename, subfolder, f"the subfolder is nested deeper than {MAX_SUBFOLDER_DEPTH}"
        )
    root = Path(dest_dir).expanduser().resolve()
    candidate = root.joinpath(*folder_parts, name_parts[0])
    # resolve() follows every existing symlink of the folder chain (missing parts stay as written).
    real_parent = candidate.parent.resolve()
    if real_parent != root and root not in real_parent.parents:
        raise UnsafeOutputPathError(filename, subfolder, f"the folder leads outside {root} through a symlink")
    return real_parent / candidate.name


def _unique_write(path: Path, data: bytes, root: Path) -> Path:
    """Create ``path`` (or ``stem_N.ext``) exclusively and write it; never follows a final symlink."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Check again after creating folders: a symlink could have appeared meanwhile.
    real_parent = path.parent.resolve()
    if real_parent != root and root not in real_parent.parents:
        raise UnsafeOutputPathError(
            path.name, str(path.parent), f"the folder leads outside {root} through a symlink"
        )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    stem, suffix = path.stem, path.suffix
    for attempt in range(MAX_SUFFIX):
        target = real_parent / (path.name if attempt == 0 else f"{stem}_{attempt}{suffix}")
        try:
            fd = os.open(target, flags, 0o644)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target
    raise OSError(f"more than {MAX_SUFFIX} files named like {path} already exist in {real_parent}")


async def _fetch(source: Any, file: OutputFile) -> bytes:
    if hasattr(source, "download_output"):
        data = await source.download_output(file)
    elif hasattr(source, "view"):
        data = await source.view(file.filename, file.subfolder, file.type)
    else:
        raise TypeError(f"{type(source).__name__} can neither download_output() nor view()")
    return bytes(data)


def _make_folder(dest_dir: Path | str) -> Path:
    """The destination, created if missing, as an absolute path (file-system calls: run in a thread)."""
    root = Path(dest_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


async def save_outputs(
    runtime_or_client: Any,
    execution: WorkflowExecution,
    dest_dir: Path | str,
    *,
    types: Iterable[str] = ("output",),
    concurrency: int = 4,
) -> list[Path]:
    """Download the execution's output files into ``dest_dir``; returns the paths written.

    ``types`` picks which server folders to save (``"output"`` by default; add ``"temp"`` for
    previews). Unsafe names are refused and logged, the other files are still saved. Download
    or disk errors propagate after the files already written are kept.
    """
    wanted = set(types)
    root = await asyncio.to_thread(_make_folder, dest_dir)
    plan: list[tuple[OutputFile, Path]] = []
    for file in execution.output_files:
        if file.type not in wanted:
            continue
        try:
            target = await asyncio.to_thread(safe_output_path, root, file.filename, file.subfolder)
        except UnsafeOutputPathError as exc:
            log.warning("output_refused", execution_id=execution.id, node_id=file.node_id, reason=str(exc))
            continue
        plan.append((file, target))

    saved: list[Path | None] = [None] * len(plan)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def save(index: int, file: OutputFile, target: Path) -> None:
        async with gate:
            data = await _fetch(runtime_or_client, file)
            try:
                saved[index] = await asyncio.to_thread(_unique_write, target, data, root)
            except UnsafeOutputPathError as exc:
                log.warning(
                    "output_refused", execution_id=execution.id, node_id=file.node_id, reason=str(exc)
                )
                return
        log.info("output_saved", execution_id=execution.id, node_id=file.node_id, path=str(saved[index]))

    try:
        async with asyncio.TaskGroup() as group:
            for index, (file, target) in enumerate(plan):
                group.create_task(save(index, file, target))
    except ExceptionGroup as group_error:
        # Callers get the first real error (a ComfyError or OSError), not a group.
        raise group_error.exceptions[0] from group_error
    return [path for path in saved if path is not None]
