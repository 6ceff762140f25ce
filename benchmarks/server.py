"""How fast is the embedded server, next to bare aiohttp on the same machine and loop?

    python -m benchmarks.server [--prompts 200] [--steps 20000]

Client and server share one event loop (as in the tests and the TUI demo), so every figure
includes the client's cost; the baselines are measured the same way, which makes the ratio
the meaningful number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from aiohttp import web

from comfy_reality.logs import configure_logging
from comfy_reality.server.app import EmbeddedServer, ServerConfig

TRIVIAL = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
}
# A progress_state for a 3-node prompt is ~600 bytes; the bare WS baseline sends the same size.
_SAMPLE = json.dumps(
    {"type": "progress_state", "data": {"prompt_id": "x" * 36, "nodes": {"2": {"v": "y" * 500}}}}
)


@dataclass
class Row:
    what: str
    count: int
    seconds: float
    unit: str

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


def _ended(prompt_id: str) -> Callable[[dict[str, Any]], bool]:
    def check(message: dict[str, Any]) -> bool:
        data = message["data"]
        return bool(
            message["type"] == "executing"
            and data.get("node", 0) is None
            and data.get("prompt_id") == prompt_id
        )

    return check


async def _collect_until(ws: websockets.ClientConnection, done: Callable[[dict[str, Any]], bool]) -> int:
    count = 0
    async for raw in ws:
        count += 1
        if isinstance(raw, str) and done(json.loads(raw)):
            return count
    return count


async def bench_prompts_sequential(server: EmbeddedServer, n: int) -> Row:
    async with (
        httpx.AsyncClient(base_url=server.url) as http,
        websockets.connect(f"{server.ws_url}?clientId=bench") as ws,
    ):
        await ws.recv()
        start = time.perf_counter()
        for i in range(n):
            prompt = json.loads(json.dumps(TRIVIAL))
            prompt["1"]["inputs"]["color"] = i  # defeat the cache: every prompt really runs
            r = await http.post("/prompt", json={"prompt": prompt, "client_id": "bench"})
            pid = r.json()["prompt_id"]
            await _collect_until(ws, _ended(pid))
        return Row(
            "embedded: prompt round trips (POST -> executing null), sequential",
            n,
            time.perf_counter() - start,
            "prompts/s",
        )


async def bench_prompts_queued(server: EmbeddedServer, n: int) -> Row:
    async with (
        httpx.AsyncClient(base_url=server.url) as http,
        websockets.connect(f"{server.ws_url}?clientId=bench2") as ws,
    ):
        await ws.recv()
        start = time.perf_counter()
        last = ""
        for i in range(n):
            prompt = json.loads(json.dumps(TRIVIAL))
            prompt["1"]["inputs"]["color"] = 100000 + i
            last = (await http.post("/prompt", json={"prompt": prompt, "client_id": "bench2"})).json()[
                "prompt_id"
            ]
        await _collect_until(ws, _ended(last))
        return Row("embedded: prompts queued then drained", n, time.perf_counter() - start, "prompts/s")


async def bench_ws_messages(server: EmbeddedServer, steps: int) -> Row:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 7}},
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": 0.0, "nonce": time.time_ns() % 2**31},
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    async with (
        httpx.AsyncClient(base_url=server.url) as http,
        websockets.connect(f"{server.ws_url}?clientId=benchws", max_queue=None) as ws,
    ):
        await ws.recv()
        start = time.perf_counter()
        pid = (await http.post("/prompt", json={"prompt": prompt, "client_id": "benchws"})).json()[
            "prompt_id"
        ]
        count = await _collect_until(ws, _ended(pid))
        return Row(
            f"embedded: WS messages, {steps}-step node, no delay",
            count,
            time.perf_counter() - start,
            "msgs/s",
        )


async def _bare_app(
    handler_setup: Callable[[web.Application], object], body: Callable[[str], Awaitable[Row]]
) -> Row:
    app = web.Application()
    handler_setup(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        return await body(f"127.0.0.1:{port}")
    finally:
        await runner.cleanup()


async def bench_bare_http(n: int) -> Row:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await request.json())

    async def body(addr: str) -> Row:
        async with httpx.AsyncClient(base_url=f"http://{addr}") as http:
            start = time.perf_counter()
            for _ in range(n):
                await http.post("/echo", json={"prompt": TRIVIAL})
            return Row(
                "baseline: bare aiohttp JSON echo, sequential", n, time.perf_counter() - start, "requests/s"
            )

    return await _bare_app(lambda app: app.router.add_post("/echo", echo), body)


async def bench_bare_ws(n: int) -> Row:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for _ in range(n):
            await ws.send_str(_SAMPLE)
        await ws.send_str(json.dumps({"type": "end"}))
        await ws.close()
        return ws

    async def body(addr: str) -> Row:
        async with websockets.connect(f"ws://{addr}/ws", max_queue=None) as ws:
            start = time.perf_counter()
            count = await _collect_until(ws, lambda m: m["type"] == "end")
            return Row(
                "baseline: bare aiohttp WS send loop (~600 B frames)",
                count,
                time.perf_counter() - start,
                "msgs/s",
            )

    return await _bare_app(lambda app: app.router.add_get("/ws", handler), body)


async def run(prompts: int, steps: int) -> list[Row]:
    rows: list[Row] = []
    async with EmbeddedServer(ServerConfig(speed=1000.0)) as server:
        await bench_prompts_sequential(server, 10)  # warm-up
        rows.append(await bench_prompts_sequential(server, prompts))
        rows.append(await bench_prompts_queued(server, prompts))
        rows.append(await bench_ws_messages(server, steps))
    rows.append(await bench_bare_http(prompts))
    rows.append(await bench_bare_ws(2 * steps))
    return rows


def render(rows: list[Row]) -> str:
    width = max(len(r.what) for r in rows)
    lines = [f"{'measurement':<{width}}  {'count':>7}  {'seconds':>8}  {'rate':>12}", "-" * (width + 33)]
    for r in rows:
        lines.append(f"{r.what:<{width}}  {r.count:>7}  {r.seconds:>8.3f}  {r.rate:>9.0f} {r.unit}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server", description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=200, help="prompts per prompt benchmark (default 200)")
    parser.add_argument(
        "--steps", type=int, default=20000, help="progress steps for the WS benchmark (default 20000)"
    )
    args = parser.parse_args(argv)
    if args.prompts < 1 or args.steps < 1:
        parser.error("--prompts and --steps must be at least 1")
    configure_logging(level="warning")  # keep structured logs out of the table
    print(render(asyncio.run(run(args.prompts, args.steps))))


if __name__ == "__main__":
    main()
