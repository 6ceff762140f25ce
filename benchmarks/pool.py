"""A pool of embedded servers on loopback: makespan beside the ideal, dispatch cost, client memory.

    python -m benchmarks.pool [--servers 16] [--prompts 2000] [--speed 10] [--mixed] [--json-out FILE]

The servers run in a child process (one event loop for all of them), so the client's CPU and
memory are its own. Each prompt's simulated work is fixed (RealityProgress: ``steps`` x
``delay`` seconds, divided by the server's speed); ComfyUI runs one prompt at a time per server.

* makespan: first submit to last completion.
* ideal: total work divided by the servers' speeds, from the nominal work (what the prompt
  asks) and from the measured work (the sum of the execution times the servers reported,
  divided by the number of servers: the servers' own overhead per prompt included).
* dispatch: time in :meth:`ServerPool.choose` per prompt, during the run and in a tight loop
  against 16 catalogues of the full recorded ``/object_info``.
* memory: the client process's resident set before the pool opens and at its peak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from comfy_reality.runtime import AsyncTaskManager, Backoff, TaskStatus
from comfy_reality.runtime.pool import PoolServer, ServerPool

STEPS = 5
DELAY = 0.1  # seconds per step at speed 1: 0.5 s of work per prompt


def work_prompt(nonce: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": STEPS, "delay": DELAY, "nonce": nonce},
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


def speeds_for(count: int, speed: float, mixed: bool) -> list[float]:
    """Equal servers, or (``--mixed``) half of them twice as fast."""
    return [speed * (2.0 if mixed and i % 2 else 1.0) for i in range(count)]


# ------------------------------------------------------------------ the servers' process
async def serve(speeds: list[float]) -> None:
    """Start one embedded server per speed, print their URLs as one JSON line, run until stdin closes."""
    import structlog

    from comfy_reality.server import EmbeddedServer, ServerConfig

    # The URLs go on stdout; the servers' log lines go to stderr, filtered to warnings.
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(30),
    )
    servers = [EmbeddedServer(ServerConfig(port=0, speed=s)) for s in speeds]
    for server in servers:
        await server.start()
    print(json.dumps([s.url for s in servers]), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for server in servers:
        await server.stop()


# --------------------------------------------------------------------------- the client
def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tight_dispatch_us(servers: int, rounds: int = 5000) -> float:
    """µs per :meth:`ServerPool.choose` with ``servers`` catalogues of the full recorded /object_info."""
    from comfy_reality.runtime.dispatch import Catalogue
    from comfy_reality.server.catalogue import NodeCatalogue

    info = NodeCatalogue(Path("/nonexistent")).object_info()
    pool = ServerPool([f"http://127.0.0.1:{9000 + i}" for i in range(servers)])
    for member in pool.members:
        member.catalogue = Catalogue.from_object_info(info)
        member.runtime._status = member.runtime.status.model_copy(update={"state": "connected"})
    prompt = json.loads((Path(__file__).parents[1] / "workflows" / "txt2img-basic.json").read_text("utf-8"))
    started = time.perf_counter()
    for n in range(rounds):
        prompt["3"]["inputs"]["seed"] = n
        member = pool.choose(prompt)
        member.in_flight += 1  # as submit does, so the choice keeps moving
    return (time.perf_counter() - started) / rounds * 1e6


async def run_batch(urls: list[str], speeds: list[float], prompts: int, concurrency: int) -> dict[str, Any]:
    manager = AsyncTaskManager(max_finished_roots=prompts + 10)
    pool = ServerPool(
        [
            PoolServer(url=u, name=f"s{i:02d}", weight=s)
            for i, (u, s) in enumerate(zip(urls, speeds, strict=True))
        ],
        task_manager=manager,
        backoff=Backoff(initial=0.05, maximum=0.5, jitter=0.0),
        timeout=30.0,
    )
    before = rss_mib()
    cpu_before = time.process_time()
    choose_seconds = 0.0
    original = pool.choose

    def timed_choose(*args: Any, **kwargs: Any) -> Any:
        nonlocal choose_seconds
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            choose_seconds += time.perf_counter() - started

    pool.choose = timed_choose  # type: ignore[method-assign]
    async with pool.session():
        await pool.ready()
        gate = asyncio.Semaphore(concurrency)
        started = time.perf_counter()

        async def one(n: int) -> Any:
            async with gate:
                execution = await pool.submit(work_prompt(n), name=f"p{n}")
            return await pool.wait(execution)

        finals = await asyncio.gather(*(one(n) for n in range(prompts)))
        makespan = time.perf_counter() - started
        client_cpu = time.process_time() - cpu_before
        busy = await server_busy_seconds(pool)
    peak = peak_rss_mib()
    ok = sum(1 for e in finals if e.status is TaskStatus.COMPLETED)
    durations = [e.duration for e in finals if e.duration is not None]
    per_server = Counter(e.server_url for e in finals)
    nominal = STEPS * DELAY
    ideal_nominal = prompts * nominal / sum(speeds)
    # The work as the servers timed it (start to success, their overhead included), in seconds at
    # speed 1, divided by the servers' speeds: every server busy back to back until the same moment.
    work = sum(busy.values())
    work_at_speed_1 = sum(busy[u] * s for u, s in zip(urls, speeds, strict=True))
    ideal_measured = work_at_speed_1 / sum(speeds)
    counts = [per_server[u] for u in urls]
    return {
        "servers": len(urls),
        "prompts": prompts,
        "completed": ok,
        "makespan_s": round(makespan, 3),
        "ideal_nominal_s": round(ideal_nominal, 3),
        "ideal_measured_s": round(ideal_measured, 3),
        "makespan_over_ideal_nominal": round(makespan / ideal_nominal, 3),
        "makespan_over_ideal_measured": round(makespan / ideal_measured, 3) if ideal_measured else None,
        "mean_execution_s_client_view": round(statistics.fmean(durations), 4) if durations else None,
        "mean_execution_s_server_view": round(work / prompts, 4),
        "client_cpu_s": round(client_cpu, 2),
        "dispatch_us_per_prompt_in_run": round(choose_seconds / prompts * 1e6, 1),
        "client_rss_before_mib": round(before, 1),
        "client_rss_peak_mib": round(peak, 1),
        "prompts_per_server_min_max": [min(counts), max(counts)],
        "speeds": speeds,
    }


async def server_busy_seconds(pool: ServerPool) -> dict[str, float]:
    """Per server, the sum of its prompts' run times by its own clock (execution_start to the end)."""
    busy: dict[str, float] = {}
    for member in pool.members:
        history = await member.runtime.client.get_history()
        total = 0.0
        for entry in history.values():
            stamps = {name: data.get("timestamp") for name, data in entry.message_list()}
            start, end = stamps.get("execution_start"), stamps.get("execution_success")
            if isinstance(start, int) and isinstance(end, int):
                total += (end - start) / 1000
        busy[member.url] = total
    return busy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=16)
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--speed", type=float, default=10.0, help="each server's speed (divides the work)")
    parser.add_argument(
        "--mixed", action="store_true", help="half the servers twice as fast (weights follow)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="submits in flight at once")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--serve", type=str, help=argparse.SUPPRESS)  # the child: JSON list of speeds
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(json.loads(args.serve)))
        return 0
    from comfy_reality.logs import configure_logging

    configure_logging(level="warning")
    speeds = speeds_for(args.servers, args.speed, args.mixed)
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.pool", "--serve", json.dumps(speeds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "COMFY_REALITY_LOG_LEVEL": "warning"},
    )
    try:
        assert child.stdout is not None
        urls = json.loads(child.stdout.readline())
        result = asyncio.run(run_batch(urls, speeds, args.prompts, args.concurrency))
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["servers_process_cpu_s"] = round(children.ru_utime + children.ru_stime, 2)
    # Which side bounds the makespan: each side is one process on one core, so a share near 1.0
    # says that side was busy the whole run (the client's, from first submit to the end).
    result["client_cpu_ms_per_prompt"] = round(result["client_cpu_s"] / result["prompts"] * 1000, 2)
    result["client_cpu_share_of_one_core"] = round(result["client_cpu_s"] / result["makespan_s"], 2)
    result["servers_cpu_share_of_one_core"] = round(result["servers_process_cpu_s"] / result["makespan_s"], 2)
    result["dispatch_us_per_prompt_tight_16_full_catalogues"] = round(tight_dispatch_us(16), 1)
    for key, value in result.items():
        print(f"{key:>48}: {value}")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
