"""Saving server-named files without trusting the names.

ComfyUI reports output file names and subfolders; a hostile or buggy server could send
``../../.bashrc`` or an absolute path. Only the last path component is kept, anything
that is not a plain name is replaced, and an existing file is never overwritten.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from comfy_reality.runtime.outputs import shorten_name

from ._common import CliError

_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]")
_RESERVED = {"", ".", ".."}
MAX_NAME = 200  # bytes: room for "-N" under the file systems' 255


def safe_basename(name: str, fallback: str = "output") -> str:
    """The last component of a server-given name, stripped of anything that could escape a dir."""
    base = re.split(r"[\\/]", name)[-1]
    base = _UNSAFE.sub("_", base).strip().lstrip(".")
    if base in _RESERVED:
        return fallback
    return shorten_name(base, MAX_NAME)


def save_new_file(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` under ``directory`` as ``name``, or ``name-1``, ``name-2``... if taken.

    Uses exclusive creation, so two runs saving at once cannot clobber each other.
    """
    directory.mkdir(parents=True, exist_ok=True)
    base = safe_basename(name)
    stem, ext = os.path.splitext(base)
    for attempt in range(10_000):
        candidate = directory / (base if attempt == 0 else f"{stem}-{attempt}{ext}")
        try:
            handle = candidate.open("xb")
        except FileExistsError:
            continue
        try:
            with handle:
                handle.write(data)
        except BaseException:
            # Disk full (or interrupted): no empty or partial file is left behind as if saved.
            candidate.unlink(missing_ok=True)
            raise
        return candidate
    raise FileExistsError(f"no free file name for {base!r} in {directory}")


def usable_output_dir(path: Path) -> Path:
    """The output folder, created now: a folder that cannot hold the outputs is refused before
    anything is queued, not after the server has spent minutes on the prompt."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(
            f"cannot create the output folder {path}: {exc.strerror or exc}",
            hint="pick another with --output-dir (or output_dir in the config)",
        ) from exc
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise CliError(
            f"cannot write to the output folder {path}",
            hint="pick another with --output-dir (or output_dir in the config)",
        )
    return path
