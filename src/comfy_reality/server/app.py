"""The aiohttp application: ComfyUI's HTTP routes and WebSocket, plus fault injection.

Handlers follow the real server's semantics (read from ComfyUI's server.py and
app/user_manager.py, not copied): the same status codes, empty 200 bodies, 404s without a body,
``/api`` twins for every route except ``/internal``, and a plain-text 500 for a POST /prompt
body that is not JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import structlog
from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field

from comfy_reality.server import jobs as newer_api
from comfy_reality.server.catalogue import MODEL_FOLDERS, NodeCatalogue
from comfy_reality.server.executor import PromptExecutor
from comfy_reality.server.hub import SERVER_FEATURES, Hub, LogBuffer
from comfy_reality.server.nodes import behaviour_lookup
from comfy_reality.server.prompt_queue import PromptQueue
from comfy_reality.server.storage import FileStore, PathRejected
from comfy_reality.server.validation import Validator

log = structlog.get_logger("comfy_reality.server")

COMFYUI_VERSION = "0.3.64"
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
# ComfyUI's queue is unbounded; this one refuses new prompts past a generous limit instead of
# growing without end under a runaway client.
MAX_PENDING = 10_000

_INDEX_HTML = """<!doctype html><html lang="en"><head><meta charset="UTF-8"><title>ComfyUI</title></head>
<body><h1>comfy-reality embedded server</h1>
<p>A ComfyUI-compatible simulator: the HTTP API and WebSocket of ComfyUI {version}, no web frontend.</p>
<p>Point a client at this address, e.g. <code>comfy-reality-tui</code>.</p></body></html>
"""


class ServerConfig(BaseModel):
    """How to run the embedded server."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")
    speed: float = Field(default=1.0, gt=0, description="divides every simulated delay")
    data_dir: Path | None = Field(default=None, description="input/output/temp/user dirs; None = a temp dir")
    echo_logs: bool = Field(default=False, description="print the server's terminal log to stdout")
    api: newer_api.ApiVersion = Field(
        default="0.3.64", description="'current': jobs API, strict prompt ids (jobs.py)"
    )
    preview_method: Literal["none", "auto", "latent2rgb", "taesd"] = Field(
        default="auto", description="sampler previews unless a prompt's extra_data says otherwise"
    )


class Faults:
    """Switches that make the server misbehave on purpose, for resilience tests and demos."""

    def __init__(self, server: EmbeddedServer) -> None:
        self._server = server
        self._stall = False
        self._unstalled = asyncio.Event()
        self._unstalled.set()
        self.http_error: int | None = None
        self.step_delay: float = 0.0  # extra seconds per progress step, whatever the speed
        self._tasks: set[asyncio.Task[int]] = set()

    @property
    def stall_http(self) -> bool:
        return self._stall

    @stall_http.setter
    def stall_http(self, value: bool) -> None:
        self._stall = bool(value)
        if self._stall:
            self._unstalled.clear()
        else:
            self._unstalled.set()

    async def wait_unstalled(self) -> None:
        await self._unstalled.wait()

    def drop_websockets(self) -> asyncio.Task[int]:
        """Close every open WebSocket now; returns a task (awaitable) giving how many were closed."""
        task = asyncio.get_running_loop().create_task(self._server.state.hub.close_all())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class ServerState:
    """Everything that a restart throws away: queue, history, caches, sockets, counters."""

    def __init__(self, store: FileStore, speed: float, echo_logs: bool = False) -> None:
        self.store = store
        self.catalogue = NodeCatalogue(store.input_dir)
        self.hub = Hub()
        self.logs = LogBuffer(self.hub, echo=echo_logs)
        self.validator = Validator(self.catalogue)
        self.queue = PromptQueue(self.broadcast_status)
        self.executor = PromptExecutor(
            self.catalogue, self.hub, store, behaviour_lookup(self.catalogue), speed
        )
        self.number = 0
        self.started = time.time()

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}

    async def broadcast_status(self) -> None:
        await self.hub.send_json("status", {"status": self.queue_info()})

    async def worker(self) -> None:
        """ComfyUI's prompt_worker: one prompt at a time, history entry, then executing{null}."""
        while True:
            item, item_id = await self.queue.get()
            started = time.perf_counter()
            prompt_id = item[1]
            try:
                result = await self.executor.execute(item[2], prompt_id, item[3], item[4])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("simulated execution crashed", prompt_id=prompt_id)
                self.executor.success = False
                result = {"outputs": {}, "meta": {}}
            for key in SENSITIVE_EXTRA_DATA_KEYS:
                self.queue.running[item_id][3].pop(key, None)
            status = {
                "status_str": "success" if self.executor.success else "error",
                "completed": self.executor.success,
                "messages": self.executor.status_messages,
            }
            await self.queue.task_done(item_id, result, status)
            if self.executor.client_id is not None:
                await self.hub.send_json(
                    "executing", {"node": None, "prompt_id": prompt_id}, self.executor.client_id
                )
            elapsed = time.perf_counter() - started
            await self.logs.write(f"Prompt executed in {elapsed:.2f} seconds")


class _Handlers:
    """Route handlers; they read the server's *current* state so a restart swaps it cleanly."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server

    @property
    def s(self) -> ServerState:
        return self.server.state

    # -- WebSocket -------------------------------------------------------------------------
    async def ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        state = self.s
        sid = request.query.get("clientId", "")
        if not sid:
            sid = uuid.uuid4().hex
        state.hub.register(sid, ws)
        try:
            await state.hub.send_json("status", {"status": state.queue_info(), "sid": sid}, sid)
            if state.executor.client_id == sid and state.executor.last_node_id is not None:
                await state.hub.send_json("executing", {"node": state.executor.last_node_id}, sid)
            first_message = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                    if first_message and data.get("type") == "feature_flags":
                        flags = data.get("data", {})
                        state.hub.metadata.setdefault(sid, {})["feature_flags"] = flags
                        await state.hub.send_json("feature_flags", dict(SERVER_FEATURES), sid)
                    first_message = False
                except (ValueError, AttributeError) as exc:
                    log.debug("ignored websocket frame", sid=sid, error=str(exc))
        finally:
            state.hub.unregister(sid, ws)
        return ws

    # -- prompts ---------------------------------------------------------------------------
    async def post_prompt(self, request: web.Request) -> web.Response:
        state = self.s
        await state.logs.write("got prompt")
        json_data = await request.json()  # not JSON -> aiohttp's plain-text 500, as ComfyUI
        if "number" in json_data:
            number: float | int = float(json_data["number"])
        else:
            number = state.number
            if json_data.get("front"):
                number = -number
            state.number += 1
        if "prompt" not in json_data:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = json_data["prompt"]
        current = self.server.config.api == "current"
        prompt_id = newer_api.choose_prompt_id(json_data, strict=current)
        if isinstance(prompt_id, web.Response):
            return prompt_id
        partial = json_data.get("partial_execution_targets")
        result = state.validator.validate_prompt(prompt, partial)
        extra_data = json_data.get("extra_data", {})
        if "client_id" in json_data:
            extra_data["client_id"] = json_data["client_id"]
        if result.ok:
            if len(state.queue.snapshot()[1]) >= MAX_PENDING:
                return web.Response(
                    status=503,
                    text=f"The queue is full ({MAX_PENDING} pending prompts). Wait for some to finish, "
                    'or drop them with POST /queue {"clear": true}.',
                )
            if current:
                newer_api.stamp_create_time(extra_data)
            await state.queue.put([number, prompt_id, prompt, extra_data, result.good_outputs])
            # Let the worker start before answering: as on a real server, execution_start (even
            # the first executing) usually reaches the client before the POST response does.
            await asyncio.sleep(0)
            return web.json_response(
                {"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors}
            )
        await state.logs.write(f"invalid prompt: {result.error}")
        return web.json_response({"error": result.error, "node_errors": result.node_errors}, status=400)

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.queue_info())

    async def get_queue(self, request: web.Request) -> web.Response:
        running, pending = self.s.queue.snapshot()
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("clear"):
            await self.s.queue.wipe()
        if "delete" in json_data:
            for prompt_id in json_data["delete"]:
                await self.s.queue.delete(prompt_id)
        return web.Response(status=200)

    async def post_interrupt(self, request: web.Request) -> web.Response:
        try:
            json_data = await request.json()
        except json.JSONDecodeError:
            json_data = {}
        prompt_id = json_data.get("prompt_id") if isinstance(json_data, dict) else None
        state = self.s
        if prompt_id:
            running, _ = state.queue.snapshot()
            if any(item[1] == prompt_id for item in running):
                await state.logs.write(f"Interrupting prompt {prompt_id}")
                state.executor.interrupt()
            else:
                await state.logs.write(f"Prompt {prompt_id} is not currently running, skipping interrupt")
        else:
            await state.logs.write("Global interrupt (no prompt_id specified)")
            state.executor.interrupt()
        return web.Response(status=200)

    async def get_history(self, request: web.Request) -> web.Response:
        max_items = request.query.get("max_items")
        offset = request.query.get("offset")
        return web.json_response(
            self.s.queue.get_history(
                max_items=int(max_items) if max_items is not None else None,
                offset=int(offset) if offset is not None else -1,
            )
        )

    async def get_history_item(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.queue.get_history(prompt_id=request.match_info["prompt_id"]))

    async def post_history(self, request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("clear"):
            self.s.queue.history.clear()
        if "delete" in json_data:
            for prompt_id in json_data["delete"]:
                self.s.queue.history.pop(prompt_id, None)
        return web.Response(status=200)

    async def post_free(self, request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("free_memory", False):
            self.s.executor.reset_cache()
        return web.Response(status=200)

    # -- catalogue and system --------------------------------------------------------------
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

    # -- files -----------------------------------------------------------------------------
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

    # -- /internal -------------------------------------------------------------------------
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


def _memory() -> tuple[int, int]:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0, 0


def build_app(server: EmbeddedServer) -> web.Application:
    h = _Handlers(server)

    @web.middleware
    async def faults(request: web.Request, handler: Any) -> web.StreamResponse:
        await server.faults.wait_unstalled()
        status = server.faults.http_error
        if status is not None:
            return web.Response(status=status, text=f"{status} injected fault\n")
        response: web.StreamResponse = await handler(request)
        return response

    app = web.Application(middlewares=[faults], client_max_size=100 * 1024 * 1024)
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/ws", h.ws),
        ("GET", "/embeddings", h.embeddings),
        ("GET", "/models", h.models),
        ("GET", "/models/{folder}", h.models_folder),
        ("GET", "/extensions", h.extensions),
        ("POST", "/upload/image", h.upload_image),
        ("GET", "/view", h.view),
        ("GET", "/view_metadata/{folder_name}", h.not_found),
        ("GET", "/system_stats", h.system_stats),
        ("GET", "/features", h.features),
        ("GET", "/prompt", h.get_prompt),
        ("POST", "/prompt", h.post_prompt),
        ("GET", "/object_info", h.object_info),
        ("GET", "/object_info/{node_class}", h.object_info_node),
        ("GET", "/history", h.get_history),
        ("GET", "/history/{prompt_id}", h.get_history_item),
        ("POST", "/history", h.post_history),
        ("GET", "/queue", h.get_queue),
        ("POST", "/queue", h.post_queue),
        ("POST", "/interrupt", h.post_interrupt),
        ("POST", "/free", h.post_free),
        ("GET", "/settings", h.empty_object),
        ("GET", "/users", h.users),
        ("GET", "/userdata", h.list_userdata),
        ("GET", "/v2/userdata", h.empty_list),
        ("GET", "/userdata/{file}", h.get_userdata),
        ("POST", "/userdata/{file}", h.post_userdata),
        ("DELETE", "/userdata/{file}", h.delete_userdata),
        ("POST", "/userdata/{file}/move/{dest}", h.move_userdata),
        ("GET", "/experiment/models", h.experiment_models),
        ("GET", "/workflow_templates", h.empty_object),
        ("GET", "/i18n", h.empty_object),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, "/api" + path, handler)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    app.router.add_get("/", h.index)
    if server.config.api == "current":
        for method, path, handler in newer_api.JobsApi(server).routes():
            app.router.add_route(method, path, handler)

    internal = web.Application()
    internal.router.add_get("/logs", h.internal_logs)
    internal.router.add_get("/logs/raw", h.internal_logs_raw)
    internal.router.add_patch("/logs/subscribe", h.internal_logs_subscribe)
    internal.router.add_get("/folder_paths", h.internal_folder_paths)
    internal.router.add_get("/files/{directory_type}", h.internal_files)
    app.add_subapp("/internal", internal)
    # ComfyUI's static file route answers every other path: 404, empty body.
    app.router.add_route("*", "/{tail:.*}", h.no_route)
    return app


class EmbeddedServer:
    """A ComfyUI-compatible server in this process and event loop.

    ``async with EmbeddedServer(ServerConfig(port=0, speed=50)) as server: server.url``
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self._owned_dir: Path | None = None
        root = self.config.data_dir
        if root is None:
            root = self._owned_dir = Path(tempfile.mkdtemp(prefix="comfy-reality-server-"))
        self.store = FileStore(Path(root))
        self.store.ensure_example_input()
        self.faults = Faults(self)
        self._speed = self.config.speed
        self.state = self._new_state()
        self._runner: web.AppRunner | None = None
        self._worker: asyncio.Task[None] | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(
                "the server is not started: use 'async with EmbeddedServer(...)' or await start()"
            )
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/ws"

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        app = build_app(self)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        port = self._port if self._port is not None else self.config.port
        site = web.TCPSite(runner, self.config.host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(
                f"cannot listen on {self.config.host}:{port}: {exc.strerror or exc}. "
                "Pick another port (--port) or stop whatever is using it."
            ) from exc
        addresses = runner.addresses
        self._port = int(addresses[0][1]) if addresses else port
        self._runner = runner
        self._worker = asyncio.get_running_loop().create_task(
            self.state.worker(), name="comfy-reality-server-worker"
        )
        log.info(
            "embedded server started", url=self.url, speed=self.config.speed, data_dir=str(self.store.root)
        )

    async def stop(self) -> None:
        await self._shutdown()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    async def _shutdown(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            try:
                await worker
            except asyncio.CancelledError:
                pass
        await self.state.hub.close_all()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("embedded server stopped", port=self._port)

    async def restart(self) -> None:
        """Stop and start again on the same port, with an empty queue, history and cache."""
        await self._shutdown()
        self.faults.stall_http = False
        self.faults.http_error = None
        self.faults.step_delay = 0.0
        self.state = self._new_state()
        await self.start()

    def _new_state(self) -> ServerState:
        state = ServerState(self.store, self._speed, self.config.echo_logs)
        state.executor.default_preview_method = self.config.preview_method
        state.executor.step_delay = lambda: self.faults.step_delay
        return state

    @property
    def speed(self) -> float:
        """Divides every simulated delay; can change while the server runs."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError(f"speed must be greater than 0, got {value}")
        self._speed = value
        self.state.executor.speed = value


def serve(
    host: str = "127.0.0.1",
    port: int = 8188,
    speed: float = 1.0,
    data_dir: Path | None = None,
    *,
    echo_logs: bool = True,
    api: newer_api.ApiVersion = "0.3.64",
    preview_method: Literal["none", "auto", "latent2rgb", "taesd"] = "auto",
) -> None:
    """Run the server until Ctrl+C or SIGTERM. Blocking; for ``comfy-reality server``.

    Prints one line with the URL once it listens, then (``echo_logs``) its terminal log. Both
    signals shut it down cleanly (sockets closed, a temporary data dir removed).
    """

    async def main() -> None:
        config = ServerConfig(
            host=host,
            port=port,
            speed=speed,
            data_dir=data_dir,
            echo_logs=echo_logs,
            api=api,
            preview_method=preview_method,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with EmbeddedServer(config) as server:
            print(
                f"comfy-reality embedded ComfyUI server on {server.url} (speed x{speed}, API {api}); "
                "Ctrl+C stops it",
                flush=True,
            )
            await stop.wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
