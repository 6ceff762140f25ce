"""Catalogue, system, model-list and /internal log routes, plus the stubs the web UI asks for."""

from __future__ import annotations

import os
import shutil
import sys

from aiohttp import web

from comfy_reality.server import jobs as newer_api
from comfy_reality.server.catalogue import MODEL_FOLDERS
from comfy_reality.server.hub import SERVER_FEATURES
from comfy_reality.server.routes.base import Routes

COMFYUI_VERSION = "0.3.64"


_INDEX_HTML = """<!doctype html><html lang="en"><head><meta charset="UTF-8"><title>ComfyUI</title></head>
<body><h1>comfy-reality embedded server</h1>
<p>A ComfyUI-compatible simulator: the HTTP API and WebSocket of ComfyUI {version}, no web frontend.</p>
<p>Point a client at this address, e.g. <code>comfy-reality-tui</code>.</p></body></html>
"""


class SystemRoutes(Routes):
    """Answers about the server itself; none of them change state except the log subscription."""

    async def object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.catalogue.object_info())

    async def object_info_node(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        info = self.s.catalogue.get(name)
        return web.json_response({name: info} if info is not None else {})

    async def system_stats(self, request: web.Request) -> web.Response:
        total, free = _memory()
        return web.json_response(
            {
                "system": {
                    "os": os.name,
                    "ram_total": total,
                    "ram_free": free,
                    "comfyui_version": newer_api.comfyui_version(self.server.config.api, COMFYUI_VERSION),
                    "required_frontend_version": "1.27.10",
                    "installed_templates_version": "0.1.95",
                    "required_templates_version": "0.1.95",
                    "python_version": sys.version,
                    "pytorch_version": "simulated (comfy-reality embedded server)",
                    "embedded_python": False,
                    "argv": list(sys.argv),
                },
                "devices": [
                    {
                        "name": "cpu",
                        "type": "cpu",
                        "index": None,
                        "vram_total": total,
                        "vram_free": free,
                        "torch_vram_total": total,
                        "torch_vram_free": free,
                    }
                ],
            }
        )

    async def features(self, request: web.Request) -> web.Response:
        return web.json_response(newer_api.features_for(self.server.config.api, SERVER_FEATURES))

    async def embeddings(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(list(MODEL_FOLDERS))

    async def models_folder(self, request: web.Request) -> web.Response:
        files = self.s.catalogue.model_files(request.match_info["folder"])
        if files is None:
            return web.Response(status=404)
        return web.json_response(files)

    async def experiment_models(self, request: web.Request) -> web.Response:
        base = self.s.store.root / "models"
        return web.json_response([{"name": f, "folders": [str(base / f)]} for f in MODEL_FOLDERS])

    async def extensions(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def empty_object(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def empty_list(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def users(self, request: web.Request) -> web.Response:
        return web.json_response({"storage": "server", "migrated": True})

    async def not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def no_route(self, request: web.Request) -> web.Response:
        return web.Response(status=404, content_type="application/octet-stream")

    async def index(self, request: web.Request) -> web.Response:
        return web.Response(text=_INDEX_HTML.format(version=COMFYUI_VERSION), content_type="text/html")

    async def internal_logs(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.logs.text())

    async def internal_logs_raw(self, request: web.Request) -> web.Response:
        size = shutil.get_terminal_size()
        return web.json_response(
            {"entries": list(self.s.logs.entries), "size": {"cols": size.columns, "rows": size.lines}}
        )

    async def internal_logs_subscribe(self, request: web.Request) -> web.Response:
        json_data = await request.json()
        client_id = json_data["clientId"]
        if json_data["enabled"]:
            self.s.logs.subscribers.add(client_id)
        else:
            self.s.logs.subscribers.discard(client_id)
        return web.Response(status=200)

    async def internal_folder_paths(self, request: web.Request) -> web.Response:
        base = self.s.store.root / "models"
        return web.json_response({f: [str(base / f)] for f in MODEL_FOLDERS})


def _memory() -> tuple[int, int]:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0, 0
