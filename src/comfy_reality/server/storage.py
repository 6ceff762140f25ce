"""Where the simulated server keeps files: input, output and temp directories like ComfyUI's."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import string
from pathlib import Path
from typing import Any

from comfy_reality.errors import ComfyError
from comfy_reality.server.pictures import jpeg_bytes, png_bytes, render
from comfy_reality.server.values import ImageValue

PREVIEW_MAX_SIZE = 512


class PathRejected(ComfyError, ValueError):
    """A client-supplied name that would leave its directory (also a ``ValueError``, as bad input)."""


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.input_dir = root / "input"
        self.output_dir = root / "output"
        self.temp_dir = root / "temp"
        self.user_dir = root / "user"
        for d in (self.input_dir, self.output_dir, self.temp_dir, self.user_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._temp_prefixes: dict[str, str] = {}
        self._lock = asyncio.Lock()

    def ensure_example_input(self) -> None:
        """ComfyUI ships input/example.png; LoadImage's default choice."""
        example = self.input_dir / "example.png"
        if not example.exists():
            image = ImageValue(64, 64, pattern="gradient", seed=7, caption="example")
            example.write_bytes(png_bytes(render(image)))

    def dir_for(self, kind: str | None) -> Path | None:
        return {"input": self.input_dir, "output": self.output_dir, "temp": self.temp_dir}.get(
            kind or "output"
        )

    def temp_prefix(self, node_key: str) -> str:
        """PreviewImage's per-node random prefix (``ComfyUI_temp_qpkjk``)."""
        prefix = self._temp_prefixes.get(node_key)
        if prefix is None:
            suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
            prefix = self._temp_prefixes[node_key] = f"ComfyUI_temp_{suffix}"
        return prefix

    def volatility_token(self, class_type: str, inputs: dict[str, Any]) -> str | None:
        """Like IS_CHANGED: LoadImage reruns when the file changes."""
        if class_type in ("LoadImage", "LoadImageMask") and isinstance(inputs.get("image"), str):
            path = self.input_dir / os.path.basename(str(inputs["image"]).removesuffix(" [input]"))
            try:
                st = path.stat()
            except OSError:
                return "missing"
            return f"{st.st_mtime_ns}:{st.st_size}"
        return None

    async def save_images(
        self, image: ImageValue, filename_prefix: str, kind: str, prompt: dict[str, Any] | None
    ) -> list[dict[str, str]]:
        """Write every image of the batch as ``<prefix>_<counter:05>_.png``, ComfyUI's naming."""
        base = self.output_dir if kind == "output" else self.temp_dir
        prefix = filename_prefix.replace("\\", "/")
        subfolder, _, name = prefix.rpartition("/")
        folder = (base / subfolder).resolve()
        if os.path.commonpath([str(folder), str(base.resolve())]) != str(base.resolve()):
            raise PathRejected(
                f"Saving image outside the output folder is not allowed. full_output_folder: {folder}"
            )
        folder.mkdir(parents=True, exist_ok=True)
        text = {"prompt": json.dumps(prompt)} if prompt is not None else None
        results: list[dict[str, str]] = []
        async with self._lock:
            counter = await asyncio.to_thread(self._next_counter, folder, name)
            for index in range(image.batch):
                filename = f"{name}_{counter:05}_.png"
                data = await asyncio.to_thread(_encode_png, image, index, text)
                await asyncio.to_thread((folder / filename).write_bytes, data)
                results.append({"filename": filename, "subfolder": subfolder, "type": kind})
                counter += 1
        return results

    @staticmethod
    def _next_counter(folder: Path, name: str) -> int:
        pattern = re.compile(re.escape(name) + r"_(\d+)_\.png$")
        highest = 0
        for entry in folder.iterdir():
            m = pattern.match(entry.name)
            if m:
                highest = max(highest, int(m.group(1)))
        return highest + 1

    async def preview_bytes(self, image: ImageValue, image_format: str = "JPEG") -> bytes:
        """A preview frame's image, scaled to fit PREVIEW_MAX_SIZE: JPEG (sampler previews) or PNG."""
        w, h = image.width, image.height
        scale = min(1.0, PREVIEW_MAX_SIZE / max(w, h))
        preview = image.resized(max(1, int(w * scale)), max(1, int(h * scale)))
        return await asyncio.to_thread(_encode_preview, preview, image_format)

    def resolve_view(self, filename: str, subfolder: str | None, kind: str | None) -> Path | None:
        """The file GET /view serves, or None; raises PathRejected for traversal attempts."""
        if not filename or filename[0] == "/" or ".." in filename:
            raise PathRejected(filename)
        base = self.dir_for(kind)
        if base is None:
            raise PathRejected(str(kind))
        folder = base
        if subfolder:
            folder = (base / subfolder).resolve()
            if os.path.commonpath([str(folder), str(base.resolve())]) != str(base.resolve()):
                raise PermissionError(subfolder)
        path = folder / os.path.basename(filename)
        return path if path.is_file() else None

    async def upload(self, filename: str, data: bytes, subfolder: str, kind: str, overwrite: bool) -> str:
        """Store an upload, renaming ``name (1).png`` on clashes unless the content is identical."""
        base = self.dir_for(kind) or self.input_dir
        return await asyncio.to_thread(_store_upload, base, filename, data, subfolder, overwrite)

    async def read_head(self, path: Path, size: int = 64) -> bytes:
        def read() -> bytes:
            with path.open("rb") as f:
                return f.read(size)

        return await asyncio.to_thread(read)

    async def list_files(self, kind: str) -> list[str]:
        return await asyncio.to_thread(self._list_files, kind)

    def _list_files(self, kind: str) -> list[str]:
        base = self.dir_for(kind)
        assert base is not None
        entries = [e for e in os.scandir(base) if e.is_file()]
        entries.sort(key=lambda e: -e.stat().st_mtime)
        return [e.name for e in entries]


def _store_upload(base: Path, filename: str, data: bytes, subfolder: str, overwrite: bool) -> str:
    """The file work of an upload (path checks, the free name, the write), off the event loop."""
    folder = (base / os.path.normpath(subfolder)).resolve() if subfolder else base.resolve()
    target = (folder / filename).resolve()
    if os.path.commonpath([str(base.resolve()), str(target)]) != str(base.resolve()):
        raise PathRejected(filename)
    folder.mkdir(parents=True, exist_ok=True)
    stem, ext = os.path.splitext(filename)
    if not overwrite:
        digest = hashlib.sha256(data).digest()
        i = 1
        while target.exists():
            if _sha256_file(target) == digest:  # the same content again: reuse the name, write nothing
                return target.name
            target = folder / f"{stem} ({i}){ext}"
            i += 1
    target.write_bytes(data)
    return target.name


def _encode_png(image: ImageValue, index: int, text: dict[str, str] | None) -> bytes:
    return png_bytes(render(image, index), text=text, compress_level=4)


def _encode_preview(image: ImageValue, image_format: str) -> bytes:
    picture = render(image)
    return png_bytes(picture, compress_level=1) if image_format == "PNG" else jpeg_bytes(picture)


def _sha256_file(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest()
