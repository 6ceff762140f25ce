"""The aiohttp application: ComfyUI's HTTP routes and WebSocket, plus fault injection.

Handlers follow the real server's semantics (read from ComfyUI's server.py and
app/user_manager.py, not copied): the same status codes, empty 200 bodies, 404s without a body,
``/api`` twins for every route except ``/internal``, and a plain-text 500 for a POST /prompt
body that is not JSON. The handlers live in ``routes/`` (one module per area) and the queue,
history and worker in ``state.py``; this module wires them into an app and runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from comfy_reality.logs import get_logger
from comfy_reality.server import jobs as newer_api
from comfy_reality.server.routes.files import FileRoutes
from comfy_reality.server.routes.prompts import PromptRoutes
from comfy_reality.server.routes.system import SystemRoutes
from comfy_reality.server.routes.websocket import WebSocketRoutes
from comfy_reality.server.state import ServerState
from comfy_reality.server.storage import FileStore

log = get_logger("comfy_reality.server")

# ComfyUI's queue is unbounded; this one refuses new prompts past a generous limit instead of
# growing without end under a runaway client.
MAX_PENDING = 10_000


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


def build_app(server: EmbeddedServer) -> web.Application:
    """The application for ``server``: ComfyUI's routes (each with its ``/api`` twin), faults first."""
    sockets = WebSocketRoutes(server)
    prompts = PromptRoutes(server, max_pending=lambda: MAX_PENDING)
    files = FileRoutes(server)
    system = SystemRoutes(server)

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
        ("GET", "/ws", sockets.ws),
        ("GET", "/embeddings", system.embeddings),
        ("GET", "/models", system.models),
        ("GET", "/models/{folder}", system.models_folder),
        ("GET", "/extensions", system.extensions),
        ("POST", "/upload/image", files.upload_image),
        ("GET", "/view", files.view),
        ("GET", "/view_metadata/{folder_name}", system.not_found),
        ("GET", "/system_stats", system.system_stats),
        ("GET", "/features", system.features),
        ("GET", "/prompt", prompts.get_prompt),
        ("POST", "/prompt", prompts.post_prompt),
        ("GET", "/object_info", system.object_info),
        ("GET", "/object_info/{node_class}", system.object_info_node),
        ("GET", "/history", prompts.get_history),
        ("GET", "/history/{prompt_id}", prompts.get_history_item),
        ("POST", "/history", prompts.post_history),
        ("GET", "/queue", prompts.get_queue),
        ("POST", "/queue", prompts.post_queue),
        ("POST", "/interrupt", prompts.post_interrupt),
        ("POST", "/free", prompts.post_free),
        ("GET", "/settings", system.empty_object),
        ("GET", "/users", system.users),
        ("GET", "/userdata", files.list_userdata),
        ("GET", "/v2/userdata", system.empty_list),
        ("GET", "/userdata/{file}", files.get_userdata),
        ("POST", "/userdata/{file}", files.post_userdata),
        ("DELETE", "/userdata/{file}", files.delete_userdata),
        ("POST", "/userdata/{file}/move/{dest}", files.move_userdata),
        ("GET", "/experiment/models", system.experiment_models),
        ("GET", "/workflow_templates", system.empty_object),
        ("GET", "/i18n", system.empty_object),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, "/api" + path, handler)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    app.router.add_get("/", system.index)
    if server.config.api == "current":
        for method, path, handler in newer_api.JobsApi(server).routes():
            app.router.add_route(method, path, handler)

    internal = web.Application()
    internal.router.add_get("/logs", system.internal_logs)
    internal.router.add_get("/logs/raw", system.internal_logs_raw)
    internal.router.add_patch("/logs/subscribe", system.internal_logs_subscribe)
    internal.router.add_get("/folder_paths", system.internal_folder_paths)
    internal.router.add_get("/files/{directory_type}", files.internal_files)
    app.add_subapp("/internal", internal)
    # ComfyUI's static file route answers every other path: 404, empty body.
    app.router.add_route("*", "/{tail:.*}", system.no_route)
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
