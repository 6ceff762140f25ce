"""File routes: /view, /upload/image, the /userdata store of saved workflows, /internal/files."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from comfy_reality.server.routes.base import Routes
from comfy_reality.server.storage import PathRejected


class FileRoutes(Routes):
    """Every path a client names is resolved under its root; escapes answer 400/403, as ComfyUI."""

    async def view(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if "filename" not in query:
            return web.Response(status=404)
        filename = query["filename"]
        kind = query.get("type", "output")
        for annotation in ("output", "input", "temp"):
            if filename.endswith(f" [{annotation}]"):
                filename, kind = filename[: -len(annotation) - 3], annotation
        try:
            path = self.s.store.resolve_view(filename, query.get("subfolder"), kind)
        except PathRejected:
            return web.Response(status=400)
        except PermissionError:
            return web.Response(status=403)
        if path is None:
            return web.Response(status=404)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type in {
            "text/html",
            "text/html-sandboxed",
            "application/xhtml+xml",
            "text/javascript",
            "text/css",
        }:
            content_type = "application/octet-stream"
        return web.FileResponse(
            path, headers={"Content-Disposition": f'filename="{path.name}"', "Content-Type": content_type}
        )

    async def upload_image(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        overwrite = str(post.get("overwrite", "")) in ("true", "1")
        kind = str(post.get("type") or "input")
        if kind not in ("input", "output", "temp"):
            kind = "input"
        subfolder = str(post.get("subfolder", ""))
        data = image.file.read()
        try:
            name = await self.s.store.upload(image.filename, data, subfolder, kind, overwrite)
        except PathRejected:
            return web.Response(status=400)
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    # -- userdata (saved workflows) --------------------------------------------------------
    def _user_root(self) -> Path:
        return self.s.store.user_dir / "default"

    def _user_path(self, file: str) -> Path | None:
        if "%" in file:
            file = unquote(file)
        root = self._user_root().resolve()
        path = (root / file).resolve()
        if os.path.commonpath([str(root), str(path)]) != str(root):
            return None
        return path

    async def list_userdata(self, request: web.Request) -> web.Response:
        directory = request.query.get("dir", "")
        if not directory:
            return web.Response(status=400, text="Directory not provided")
        path = self._user_path(directory)
        if path is None:
            return web.Response(status=403, text="Invalid directory")
        if not path.exists():
            return web.Response(status=404, text="Directory not found")
        recurse = request.query.get("recurse", "").lower() == "true"
        full_info = request.query.get("full_info", "").lower() == "true"
        split = request.query.get("split", "").lower() == "true"
        files = sorted(p for p in (path.rglob("*") if recurse else path.glob("*")) if p.is_file())
        results: list[Any] = []
        for file in files:
            rel = file.relative_to(path).as_posix()
            if full_info:
                st = file.stat()
                results.append(
                    {"path": rel, "size": st.st_size, "modified": st.st_mtime, "created": st.st_ctime}
                )
            elif split:
                results.append([rel, *rel.split("/")])
            else:
                results.append(rel)
        return web.json_response(results)

    async def get_userdata(self, request: web.Request) -> web.StreamResponse:
        path = self._user_path(request.match_info["file"])
        if path is None:
            return web.Response(status=403)
        if not path.is_file():
            return web.Response(status=404)
        return web.FileResponse(path)

    async def post_userdata(self, request: web.Request) -> web.Response:
        path = self._user_path(request.match_info["file"])
        if path is None:
            return web.Response(status=403)
        overwrite = request.query.get("overwrite", "true") != "false"
        full_info = request.query.get("full_info", "false").lower() == "true"
        if not overwrite and path.exists():
            return web.Response(status=409, text="File already exists")
        body = await request.read()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(path.write_bytes, body)
        except OSError:
            return web.Response(
                status=400, reason='Invalid filename. Please avoid special characters like :\\/*?"<>|'
            )
        return web.json_response(
            await asyncio.to_thread(_saved_file_answer, path, self._user_root(), full_info)
        )

    async def delete_userdata(self, request: web.Request) -> web.Response:
        path = self._user_path(request.match_info["file"])
        if path is None:
            return web.Response(status=403)
        if not path.exists():
            return web.Response(status=404)
        path.unlink()
        return web.Response(status=204)

    async def move_userdata(self, request: web.Request) -> web.Response:
        source = self._user_path(request.match_info["file"])
        dest = self._user_path(request.match_info["dest"])
        if source is None or dest is None:
            return web.Response(status=403)
        if not source.exists():
            return web.Response(status=404)
        overwrite = request.query.get("overwrite", "true") != "false"
        if not overwrite and dest.exists():
            return web.Response(status=409, text="File already exists")
        return web.json_response(await asyncio.to_thread(_move_file, source, dest, self._user_root()))

    async def internal_files(self, request: web.Request) -> web.Response:
        kind = request.match_info["directory_type"]
        if kind not in ("output", "input", "temp"):
            return web.json_response({"error": "Invalid directory type"}, status=400)
        return web.json_response(await self.s.store.list_files(kind))


def _saved_file_answer(path: Path, root: Path, full_info: bool) -> Any:
    """POST /userdata's answer: the path under the user root, with its stat when asked (file I/O)."""
    rel = os.path.relpath(path, root.resolve())
    if not full_info:
        return rel
    st = path.stat()
    return {
        "path": rel.replace(os.sep, "/"),
        "size": st.st_size,
        "modified": st.st_mtime,
        "created": st.st_ctime,
    }


def _move_file(source: Path, dest: Path, root: Path) -> str:
    """POST /userdata/{file}/move/{dest}'s file work; answers the new path under the user root."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, dest)
    return os.path.relpath(dest, root.resolve())
