"""The runtime's cost per WebSocket frame during a big graph's flood: ``python -m benchmarks.ws_read``

The embedded server runs in its own process (as in ``benchmarks.app_cpu``) the 500-node chain of
``benchmarks.scale``: about 600 frames a second, most of them ``progress`` and ``progress_state``.
Three clients follow it in turn, on this process's CPU time, over the same window of the run:

* ``bare``: a websockets client doing ``async for frame in ws`` and nothing else, the floor;
* ``parsing``: the same client, ``json.loads`` of each text frame: what any real client must at
  least do with what it reads (the runtime does less: superseded snapshots are never decoded);
* the runtime (:class:`ComfyUIAsyncRuntime` following its prompt) reading as it did before
  ``CoalescingConnection``: the library's queue, one read per arrival and one awaited ``recv`` per
  frame;
* the runtime with frames handed over as they are parsed, reads not coalesced;
* the runtime as shipped: frames handed over, reads coalesced during the flood.

Printed per client (median of the rounds): frames a second, CPU µs per frame (and the part of it
spent in the kernel: receiving on the socket, waking up), frames per socket read, and the CPU % of
a core. The machine is shared: compare rows of the same run.
``--profile DIR`` writes a cProfile of each client's window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from benchmarks.profiling import profiled
from benchmarks.scale import chain_prompt, serving
from comfy_reality.logs import configure_logging
from comfy_reality.runtime import ComfyUIAsyncRuntime
from comfy_reality.runtime import client as client_module
from comfy_reality.runtime.read_coalescing import COALESCE_SECONDS, CoalescingConnection

WARM_SECONDS = 1.0


class CountedReads(ClientConnection):
    """The bare client's connection, counting its socket reads."""

    reads = 0

    def data_received(self, data: bytes) -> None:
        self.reads += 1
        super().data_received(data)


async def window(
    seconds: float, frames: Callable[[], int], reads: Callable[[], int], profile: Path | None
) -> dict[str, float]:
    """CPU, frames and reads over ``seconds`` of the flood, once it is under way."""
    await asyncio.sleep(WARM_SECONDS)
    frames_before, reads_before = frames(), reads()
    cpu, wall = time.process_time(), time.perf_counter()
    kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    with profiled(profile):
        await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel
    count = frames() - frames_before
    return {
        "frames_per_s": count / wall,
        "us_per_frame": cpu / max(1, count) * 1e6,
        "kernel_us_per_frame": kernel / max(1, count) * 1e6,
        "frames_per_read": count / max(1, reads() - reads_before),
        "cpu": cpu / wall * 100,
    }


def fresh_chain(nodes: int) -> dict[str, Any]:
    """The chain with a first node of its own, so no run finds the server's cache already warm."""
    prompt = chain_prompt(nodes, 10.0)
    prompt["1"]["inputs"]["color"] = next(_colors)
    return prompt


_colors = itertools.count(int(time.time()) % 1_000_000)


async def bare(
    url: str, nodes: int, seconds: float, profile: Path | None, parse: bool = False
) -> dict[str, float]:
    """The floor: read every frame (``parse``: and ``json.loads`` each text frame)."""
    client_id = uuid.uuid4().hex
    ws_url = url.replace("http://", "ws://") + f"/ws?clientId={client_id}"
    count = 0
    async with websockets.connect(ws_url, max_size=None, create_connection=CountedReads) as ws:

        async def read() -> None:
            nonlocal count
            async for frame in ws:
                count += 1
                if parse and isinstance(frame, str):
                    json.loads(frame)

        reader = asyncio.create_task(read())
        async with httpx.AsyncClient(base_url=url) as http:
            prompt = {"prompt": fresh_chain(nodes), "client_id": client_id}
            (await http.post("/prompt", json=prompt)).raise_for_status()
            try:
                return await window(seconds, lambda: count, lambda: cast(CountedReads, ws).reads, profile)
            finally:
                await http.post("/interrupt", json={})
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


# The runtime's ways of reading, from the oldest to the shipped one.
MODES = {
    "queued": "runtime, one read + await per frame",
    "handed": "runtime, frames handed over",
    "runtime": "runtime, + reads coalesced",
}


async def runtime(
    url: str, nodes: int, seconds: float, profile: Path | None, mode: str, coalesce_seconds: float
) -> dict[str, float]:
    """``queued``: the library's plain connection (its message queue, one awaited ``recv`` per
    frame, a read per arrival); ``handed``: frames handed over as parsed, reads not coalesced;
    ``runtime``: as shipped."""
    connection_class: type[ClientConnection] = ClientConnection if mode == "queued" else CoalescingConnection
    CoalescingConnection.coalesce_seconds = coalesce_seconds if mode == "runtime" else 0.0
    client_module.CoalescingConnection = connection_class  # type: ignore[misc]
    try:
        runtime = ComfyUIAsyncRuntime(url)
        async with runtime.session():
            execution = await runtime.submit(fresh_chain(nodes), name=f"chain {nodes}")
            connection = runtime._connection
            assert connection is not None and connection.ws is not None
            counted = ReadCounter(connection.ws)
            try:
                return await window(seconds, lambda: runtime.messages_received, counted.reads, profile)
            finally:
                counted.close()
                await runtime.cancel(execution)
    finally:
        CoalescingConnection.coalesce_seconds = COALESCE_SECONDS
        client_module.CoalescingConnection = CoalescingConnection  # type: ignore[misc]


class ReadCounter:
    """Socket reads of a connection of either class (its protocol callback, wrapped)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.count = 0
        original = ws.data_received

        def counted(data: bytes) -> None:
            self.count += 1
            original(data)

        ws.data_received = counted  # type: ignore[method-assign]

    def reads(self) -> int:
        return self.count

    def close(self) -> None:
        del self.ws.data_received


async def until_idle(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        while True:
            queue = (await http.get("/queue")).json()
            if not queue.get("queue_running") and not queue.get("queue_pending"):
                return
            await asyncio.sleep(0.1)


async def run(
    nodes: int,
    seconds: float,
    rounds: int,
    profile_dir: Path | None,
    coalesce_seconds: float = COALESCE_SECONDS,
) -> list[str]:
    def prof(name: str, r: int) -> Path | None:
        return profile_dir / f"{name}-{r}.prof" if profile_dir is not None else None

    names = {"bare": "bare websockets client", "parsing": "bare client + json.loads", **MODES}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}

    async def step(url: str, name: str, r: int) -> dict[str, float]:
        if name in ("bare", "parsing"):
            return await bare(url, nodes, seconds, prof(name, r), parse=name == "parsing")
        return await runtime(url, nodes, seconds, prof(name, r), name, coalesce_seconds)

    with tempfile.TemporaryDirectory() as tmp:
        async with serving(Path(tmp), in_process=False) as server:
            for r in range(rounds):
                order = list(names)
                if r % 2:  # alternate the order, so a drift in the machine's load is shared
                    order.reverse()
                for name in order:
                    results[name].append(await step(server.url, name, r))
                    await until_idle(server.url)
    lines = [
        f"{nodes}-node chain, server in its own process; median of {rounds} rounds of {seconds:.0f} s;"
        f" reads coalesced for at most {coalesce_seconds * 1000:.0f} ms",
        f"  {'client':<40} {'frames/s':>9} {'CPU µs/frame':>13} {'of it kernel':>13} {'frames/read':>12}"
        f" {'CPU %':>7}",
    ]

    def median(key: str, field: str) -> float:
        return statistics.median(r[field] for r in results[key])

    for key, label in names.items():
        lines.append(
            f"  {label:<40} {median(key, 'frames_per_s'):>9.0f} {median(key, 'us_per_frame'):>13.1f}"
            f" {median(key, 'kernel_us_per_frame'):>13.1f}"
            f" {median(key, 'frames_per_read'):>12.2f} {median(key, 'cpu'):>7.2f}"
        )
    floor, parsing = median("bare", "us_per_frame"), median("parsing", "us_per_frame")
    for key, label in MODES.items():
        mine = median(key, "us_per_frame")
        lines.append(
            f"  {label}: {mine / floor:.2f}x the bare client's CPU per frame,"
            f" {mine / parsing:.2f}x the parsing client's"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each measured window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile files to this folder")
    parser.add_argument(
        "--coalesce-ms",
        type=float,
        default=COALESCE_SECONDS * 1000,
        help="the coalescing bound to measure (default: the shipped one)",
    )
    args = parser.parse_args(argv)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    configure_logging(level="info", log_path=Path(tempfile.gettempdir()) / "comfy-reality-bench-ws-read.log")
    for line in asyncio.run(
        run(args.nodes, args.seconds, args.rounds, args.profile, args.coalesce_ms / 1000)
    ):
        print(line)


if __name__ == "__main__":
    main()
