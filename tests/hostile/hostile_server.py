"""A ComfyUI look-alike that puts terminal escapes and Rich markup in every text field it sends.

Shapes follow the recorded transcripts (tests/fixtures/protocol): the same endpoints, the same
WebSocket messages, only the texts are hostile. It runs on the test's loop (Pilot tests) or on
a thread of its own (CLI commands run as subprocesses).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import WSMsgType, web

# OSC 52 (set the clipboard), OSC 0 (window title), clear screen, a C1 CSI, a bidi override,
# DEL, a lone CR, and markup that would become a hyperlink or crash Rich ("[/]").
EVIL = (
    "\x1b]52;c;SGFja2Vk\x07\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil\x7f\r"
    "[link=file:///etc/passwd]click[/link][/][bold red]"
)
# What must never reach a terminal: OSC, clear screen, C1, BEL, bidi override.
FORBIDDEN = ["\x1b]", "\x1b[2J", "\x9b", "\x07", "\u202e", "\x7f"]

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4d60000000049454e44ae426082"
)


def evil(label: str) -> str:
    return f"{label}{EVIL}"


def bad_bytes(output: str) -> list[str]:
    """The forbidden sequences present in ``output``."""
    return [seq for seq in FORBIDDEN if seq in output]


class HostileServer:
    """``mode``: "error" (the prompt fails with hostile texts), "reject" (HTTP 400 with hostile
    node errors), "success" (it completes with hostile output names). ``nan``: numbers as NaN/Infinity."""

    def __init__(self, mode: str = "error", *, nan: bool = False) -> None:
        self.mode = mode
        self.nan = nan
        self.sockets: set[web.WebSocketResponse] = set()
        self.history: dict[str, Any] = {}
        self.prompts: list[str] = []
        self.authorization: list[str] = []  # the Authorization header of each request
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ payloads
    def number(self, value: float) -> float:
        return math.nan if self.nan else value

    def system_stats(self) -> dict[str, Any]:
        return {
            "system": {
                "os": evil("os"),
                "comfyui_version": evil("v"),
                "python_version": evil("py"),
                "embedded_python": False,
                "ram_total": math.inf if self.nan else 32 * 2**30,
                "ram_free": self.number(16 * 2**30),
                "argv": [evil("main.py")],
            },
            "devices": [
                {
                    "name": evil("cuda:0 GPU"),
                    "type": "cuda",
                    "index": 0,
                    "vram_total": math.inf if self.nan else 24 * 2**30,
                    "vram_free": self.number(12 * 2**30),
                    "torch_vram_total": 0,
                    "torch_vram_free": 0,
                }
            ],
        }

    def object_info(self) -> dict[str, Any]:
        return {
            "EvilNode": {
                "input": {"required": {"text": ["STRING", {"default": evil("d"), "tooltip": evil("t")}]}},
                "input_order": {"required": ["text"]},
                "output": ["IMAGE"],
                "output_is_list": [False],
                "output_name": [evil("out")],
                "name": "EvilNode",
                "display_name": evil("Evil"),
                "description": evil("desc"),
                "python_module": "nodes",
                "category": evil("cat"),
                "output_node": True,
            }
        }

    def output_images(self) -> list[dict[str, str]]:
        # A real ComfyUI saves filename_prefix "[/]" as subfolder "[" and file "]_00001_.png".
        return [
            {"filename": "]_00001_.png", "subfolder": "[", "type": "output"},
            {"filename": evil("img") + "_00001_.png", "subfolder": "", "type": "output"},
        ]

    def error_data(self, prompt_id: str) -> dict[str, Any]:
        return {
            "prompt_id": prompt_id,
            "node_id": "1",
            "node_type": evil("EvilNode"),
            "executed": [],
            "exception_message": evil("message"),
            "exception_type": evil("RuntimeError"),
            "traceback": [evil("  File x, line 1\n"), evil("tb")],
            "current_inputs": {"text": [evil("in")]},
            "current_outputs": [],
            "timestamp": 1795827642123,
        }

    def history_entry(self, prompt_id: str, number: int, prompt: dict[str, Any]) -> dict[str, Any]:
        messages: list[Any] = [
            ["execution_start", {"prompt_id": prompt_id, "timestamp": 1795827642122}],
        ]
        if self.mode == "error":
            messages.append(["execution_error", self.error_data(prompt_id)])
            status = "error"
        else:
            messages.append(["execution_success", {"prompt_id": prompt_id, "timestamp": 1795827642999}])
            status = "success"
        return {
            "prompt": [number, prompt_id, prompt, {"client_id": evil("client")}, ["1"]],
            "outputs": {"1": {"images": self.output_images(), "text": [evil("text")]}},
            "status": {"status_str": status, "completed": status == "success", "messages": messages},
            "meta": {"1": {"node_id": "1", "display_node": "1", "parent_node": None, "real_node_id": "1"}},
        }

    # ------------------------------------------------------------------ handlers
    def json(self, value: Any, status: int = 200) -> web.Response:
        # json.dumps writes NaN/Infinity (as a careless server would) and keeps escapes as \\u001b.
        return web.Response(text=json.dumps(value), status=status, content_type="application/json")

    async def get_system_stats(self, _request: web.Request) -> web.Response:
        return self.json(self.system_stats())

    async def get_object_info(self, _request: web.Request) -> web.Response:
        return self.json(self.object_info())

    async def get_features(self, _request: web.Request) -> web.Response:
        return self.json({"supports_preview_metadata": True})

    async def get_queue(self, _request: web.Request) -> web.Response:
        item = [
            3,
            evil("pid-running"),
            {"1": {"class_type": "EvilNode", "inputs": {}}},
            {"client_id": evil("c")},
            [],
        ]
        pending = [4, evil("pid-pending"), {}, {"client_id": evil("c2")}, ["1"]]
        return self.json({"queue_running": [item], "queue_pending": [pending]})

    async def get_history(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info.get("prompt_id")
        if prompt_id is not None:
            entry = self.history.get(prompt_id)
            return self.json({prompt_id: entry} if entry else {})
        listing = dict(self.history)
        listing.setdefault(evil("pid-old"), self.history_entry(evil("pid-old"), 1, {}))
        return self.json(listing)

    async def post_interrupt(self, _request: web.Request) -> web.Response:
        return web.Response(text=evil("interrupt failed: "), status=500)

    async def get_view(self, _request: web.Request) -> web.Response:
        return web.Response(body=PNG_1X1, content_type="image/png")

    async def get_userdata(self, _request: web.Request) -> web.Response:
        return self.json([evil("[/]server") + ".json"])

    async def get_userdata_file(self, _request: web.Request) -> web.Response:
        return self.json(
            {"1": {"class_type": "EvilNode", "inputs": {"text": "x"}, "_meta": {"title": evil("[/]")}}}
        )

    async def not_found(self, _request: web.Request) -> web.Response:
        return web.Response(text=evil("404: "), status=404)

    async def post_prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body.get("prompt") or {}
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        if self.mode == "reject":
            return self.json(
                {
                    "error": {
                        "type": evil("prompt_outputs_failed_validation"),
                        "message": evil("m"),
                        "details": evil("d"),
                    },
                    "node_errors": {
                        "1": {
                            "errors": [
                                {
                                    "type": evil("t"),
                                    "message": evil("bad value"),
                                    "details": evil("d"),
                                    "extra_info": {},
                                }
                            ],
                            "dependent_outputs": ["1"],
                            "class_type": evil("EvilNode"),
                        }
                    },
                },
                status=400,
            )
        self.prompts.append(prompt_id)
        number = len(self.prompts)
        task = asyncio.get_running_loop().create_task(self.execute(prompt_id, number, prompt))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return self.json({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    async def execute(self, prompt_id: str, number: int, prompt: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)
        send = self.broadcast
        await send("status", {"status": {"exec_info": {"queue_remaining": 1}}})
        await send("execution_start", {"prompt_id": prompt_id, "timestamp": 1795827642122})
        await send("execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": 1795827642123})
        await send("executing", {"node": "1", "display_node": "1", "prompt_id": prompt_id})
        await send(
            "progress", {"value": self.number(1), "max": self.number(3), "prompt_id": prompt_id, "node": "1"}
        )
        await send(
            "executed",
            {
                "node": "1",
                "display_node": "1",
                "output": {"images": self.output_images(), "text": [evil("text")]},
                "prompt_id": prompt_id,
            },
        )
        await send("progress_text", {"nodeId": "1", "text": evil("progress text"), "prompt_id": prompt_id})
        self.history[prompt_id] = self.history_entry(prompt_id, number, prompt)
        if self.mode == "error":
            await send("execution_error", self.error_data(prompt_id))
        else:
            await send("execution_success", {"prompt_id": prompt_id, "timestamp": 1795827642999})
        await send("status", {"status": {"exec_info": {"queue_remaining": 0}}})
        await send("executing", {"node": None, "prompt_id": prompt_id})

    async def broadcast(self, kind: str, data: dict[str, Any]) -> None:
        text = json.dumps({"type": kind, "data": data})
        for ws in list(self.sockets):
            try:
                await ws.send_str(text)
            except ConnectionError:
                self.sockets.discard(ws)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        client_id = request.query.get("clientId", "")
        await ws.send_str(
            json.dumps(
                {
                    "type": "status",
                    "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id},
                }
            )
        )
        try:
            async for message in ws:
                if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            self.sockets.discard(ws)
        return ws

    # ------------------------------------------------------------------ lifecycle
    @web.middleware
    async def record_auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.authorization.append(request.headers.get("Authorization", ""))
        response: web.StreamResponse = await handler(request)
        return response

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.record_auth])
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/system_stats", self.get_system_stats)
        app.router.add_get("/object_info", self.get_object_info)
        app.router.add_get("/features", self.get_features)
        app.router.add_get("/queue", self.get_queue)
        app.router.add_post("/queue", self.get_queue)
        app.router.add_get("/history", self.get_history)
        app.router.add_get("/history/{prompt_id}", self.get_history)
        app.router.add_post("/prompt", self.post_prompt)
        app.router.add_post("/interrupt", self.post_interrupt)
        app.router.add_get("/view", self.get_view)
        app.router.add_get("/userdata", self.get_userdata)
        app.router.add_get("/userdata/{path}", self.get_userdata_file)
        app.router.add_get("/api/jobs", self.not_found)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()


@contextmanager
def hostile_server_thread(mode: str = "error", *, nan: bool = False) -> Iterator[HostileServer]:
    """The server on a thread with its own loop (for commands run as subprocesses)."""
    server = HostileServer(mode, nan=nan)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(10), "hostile server did not start"
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
