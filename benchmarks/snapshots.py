"""Folding a big graph's progress flood: ``python -m benchmarks.snapshots [--nodes 500] [--repeat 3]``

A measurement, not a test. The embedded server runs the chain workflow of ``benchmarks.scale``
(each node a few progress steps) and every frame its socket sends is recorded. The recording is
then folded into a runtime's tasks twice, in this process, on CPU time:

* the usual path: each frame parsed whole and routed (``ComfyUIAsyncRuntime._on_frame``), as an
  observer socket does and as the main socket did before ``SnapshotHold``;
* the main socket's path: the same frames through :class:`SnapshotHold` (superseded snapshots
  dropped undecoded, folded ones decoded from what changed).

Both end in the same folded state (checked, as ``tests/runtime/test_snapshot_hold.py`` does after
every frame). Printed: CPU per path, frames, snapshots decoded, task events sent to subscribers.
Frames are fed back to back, so every snapshot a real socket could hold is held: a live run holds
fewer when frames arrive more than ``HOLD_SECONDS`` apart.

``--live N`` also measures, N times, the runtime alone (no TUI) following the 6- and the 500-node
chain as they run, the server in its own process as in ``benchmarks.scale``: the runtime's share of
the app's CPU in that benchmark. ``--live-only`` skips the recording, and runs on a tree without
``SnapshotHold`` too (copy this file there to measure before/after).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import websockets

from benchmarks.scale import chain_prompt
from comfy_reality.logs import configure_logging
from comfy_reality.server import EmbeddedServer, ServerConfig


async def record(nodes: int, speed: float) -> tuple[str, dict[str, Any], list[str | bytes]]:
    """Every frame the server sends one client while it runs the chain of ``nodes``."""
    prompt = chain_prompt(nodes, 10.0)
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=speed)) as server:
        client_id = uuid.uuid4().hex
        url = server.url.replace("http://", "ws://") + f"/ws?clientId={client_id}"
        frames: list[str | bytes] = []
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
            async with httpx.AsyncClient() as http:
                answer = await http.post(
                    server.url + "/prompt", json={"prompt": prompt, "client_id": client_id}
                )
                prompt_id: str = answer.json()["prompt_id"]
            end = json.dumps({"type": "executing", "data": {"node": None, "prompt_id": prompt_id}})
            async for frame in ws:
                frames.append(frame)
                if frame == end:
                    break
    return prompt_id, prompt, frames


def fold_usual(prompt_id: str, prompt: dict[str, Any], frames: list[str | bytes]) -> dict[str, Any]:
    from tests.runtime.snapshot_folding import fold_state, followed

    runtime, trackers = followed({prompt_id: prompt})
    events = 0

    def count(_event: Any) -> None:
        nonlocal events
        events += 1

    runtime.task_manager.subscribe(count)
    gc.collect()
    start = time.process_time()
    for frame in frames:
        runtime._on_frame(frame)
    cpu = time.process_time() - start
    return {"cpu": cpu, "events": events, "state": fold_state(trackers), "decoded": None}


async def fold_held(prompt_id: str, prompt: dict[str, Any], frames: list[str | bytes]) -> dict[str, Any]:
    from comfy_reality.runtime.snapshots import SnapshotHold
    from tests.runtime.snapshot_folding import fold_state, followed

    runtime, trackers = followed({prompt_id: prompt})
    hold = SnapshotHold(runtime._route, runtime._router.may_hold, label="bench")
    events = 0

    def count(_event: Any) -> None:
        nonlocal events
        events += 1

    runtime.task_manager.subscribe(count)
    gc.collect()
    start = time.process_time()
    for frame in frames:
        hold.feed(frame)
    hold.release()
    cpu = time.process_time() - start
    snapshots = sum(1 for f in frames if isinstance(f, str) and f.startswith('{"type": "progress_state"'))
    return {
        "cpu": cpu,
        "events": events,
        "state": fold_state(trackers),
        "decoded": snapshots - hold.superseded,
        "entries": (hold.decoder.entries_decoded, hold.decoder.entries_reused),
    }


def quiet_logging() -> None:
    """As the app and the CLI run: info and up to a file (debug lines are not written)."""
    configure_logging(
        level="info", log_path=Path(tempfile.gettempdir()) / "comfy-reality-bench-snapshots.log"
    )


async def run(nodes: int, repeat: int, speed: float) -> None:
    prompt_id, prompt, frames = await record(nodes, speed)
    snapshots = sum(1 for f in frames if isinstance(f, str) and f.startswith('{"type": "progress_state"'))
    size = sum(len(f) for f in frames)
    print(
        f"{nodes}-node chain: {len(frames)} frames ({snapshots} progress_state), {size / 1e6:.1f} MB of text"
    )
    usual: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for _ in range(repeat):  # interleaved, so both paths see the same machine load
        usual.append(fold_usual(prompt_id, prompt, frames))
        held.append(await fold_held(prompt_id, prompt, frames))
    assert all(r["state"] == usual[0]["state"] for r in usual + held), "the two paths folded differently"
    best_usual = min(r["cpu"] for r in usual)
    best_held = min(r["cpu"] for r in held)
    per_frame = 1e6 / len(frames)
    print(
        f"  {'path':<34} {'CPU (best of ' + str(repeat) + ')':>18} {'per frame':>10} {'snapshots decoded':>18} {'task events':>12}"
    )
    print(
        f"  {'usual (parse every frame whole)':<34} {best_usual * 1e3:>15.0f} ms {best_usual * per_frame:>7.0f} µs"
        f" {snapshots:>18} {usual[0]['events']:>12}"
    )
    decoded, reused = held[0]["entries"]
    print(
        f"  {'SnapshotHold (main socket)':<34} {best_held * 1e3:>15.0f} ms {best_held * per_frame:>7.0f} µs"
        f" {held[0]['decoded']:>18} {held[0]['events']:>12}"
    )
    print(f"  ratio usual / held: {best_usual / best_held:.1f}x; entries decoded {decoded}, reused {reused}")
    print("  folded states: identical")


async def live(rounds: int) -> None:
    """The runtime's own CPU while it follows the chains live (the app's share, without Textual)."""
    from benchmarks.scale import serving
    from comfy_reality.runtime import ComfyUIAsyncRuntime

    with tempfile.TemporaryDirectory() as tmp:
        async with serving(Path(tmp), in_process=False) as server:
            for _ in range(rounds):
                figures: dict[int, float] = {}
                for nodes in (6, 500):
                    runtime = ComfyUIAsyncRuntime(server.url)
                    async with runtime.session():
                        execution = await runtime.submit(chain_prompt(nodes, 10.0), name=f"chain {nodes}")
                        await asyncio.sleep(1.0)  # past the start, into the flood (as scale's window)
                        cpu, wall = time.process_time(), time.perf_counter()
                        await asyncio.sleep(3.0)
                        figures[nodes] = (time.process_time() - cpu) / (time.perf_counter() - wall) * 100
                        await runtime.cancel(execution)
                print(
                    f"  live, runtime alone: 6 nodes {figures[6]:.1f}% CPU, 500 nodes {figures[500]:.1f}% CPU"
                    f" (server in its own process)"
                )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--speed", type=float, default=20.0, help="divides the server's step delays")
    parser.add_argument("--live", type=int, default=0, metavar="ROUNDS", help="also measure the runtime live")
    parser.add_argument("--live-only", action="store_true", help="only the live figure")
    args = parser.parse_args(argv)
    quiet_logging()
    if not args.live_only:
        asyncio.run(run(args.nodes, args.repeat, args.speed))
    if args.live or args.live_only:
        asyncio.run(live(max(1, args.live)))


if __name__ == "__main__":
    main()
