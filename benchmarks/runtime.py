"""Benchmark suite: ``python -m benchmarks.runtime`` (``python -m comfy_reality.runtime.benchmark`` and
``poe benchmark`` run it too, from a source checkout).

Every figure is printed beside a baseline measured in the same run, on the same machine:

1. manager   task-manager events/s with 0, 1 and 10 subscribers (one of them slow) vs a bare asyncio.Queue
2. client    WS messages/s parsed and folded into tasks vs bare ``json.loads`` of the same messages
3. e2e       prompts through ComfyUIAsyncRuntime vs a bare httpx+websockets client, same server
             (``--only e2e-instructions``: the same as instructions per prompt under callgrind,
             the repeatable figure; ``benchmarks.e2e_instructions``)
4. scale     1,000 queued prompts and a 500-node workflow: wall time and peak memory (tracemalloc)
5. tui       the TUI's flood figures (``benchmarks.tui``)
6. startup   whole-process time of ``comfy-reality run`` vs a bare script doing the same
7. memory    RSS curves of the CLI over a 1,000-prompt batch and of the app over 1,000 executions
             (``benchmarks.memory``)

Targets: e2e overhead <= 1.05x, manager with 10 subscribers <= 6x a bare queue per event, start-up
<= 1.3x bare, TUI cold start <= 1.2x a minimal Textual app, key p95 < 50 ms under the flood, RSS
flat after the first hundred and < 150 MB.
Results go to a Rich table and to JSON (``--json-out``, default ``benchmark-results.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .e2e_instructions import bench_e2e_instructions
from .engine import bench_client, bench_manager
from .report import Report, Row

SECTIONS = ("manager", "client", "e2e", "scale", "tui", "startup", "memory")
OPT_IN = ("e2e-instructions",)  # run only when named: minutes under callgrind (benchmarks.e2e_instructions)
SERVER_SPEED = 1000.0


# ------------------------------------------------------------------- server helpers
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server_process(speed: float = SERVER_SPEED) -> Iterator[str]:
    """The embedded server in its own process, so its CPU is not charged to the client."""
    import httpx

    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Its output goes to a file: an undrained pipe fills up and then blocks the server mid-write.
    output = tempfile.TemporaryFile()  # noqa: SIM115 - closed below, after the server process ends
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfy_reality.cli", "server", "--port", str(port), "--speed", str(speed)],
        stdout=output,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                output.seek(0)
                err = output.read().decode(errors="replace")
                raise RuntimeError(f"embedded server exited: {err.strip()[-500:]}")
            try:
                if httpx.get(f"{url}/system_stats", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("embedded server did not answer within 30 s")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        output.close()


def trivial_prompt(color: int = 0) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def chain_prompt(nodes: int, color: int = 0) -> dict[str, Any]:
    """EmptyImage -> (nodes-2) x ImageInvert -> PreviewImage."""
    prompt: dict[str, Any] = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color},
        }
    }
    for i in range(2, nodes):
        prompt[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    prompt[str(nodes)] = {"class_type": "PreviewImage", "inputs": {"images": [str(nodes - 1), 0]}}
    return prompt


class BareClient:
    """What a minimal hand-written client does: POST, then watch the socket for the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client_id = uuid.uuid4().hex
        self._done: set[str] = set()
        self._changed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[BareClient]:
        import httpx
        import websockets

        ws_url = self.url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=120) as http,
            # No keepalive: a server busy with a 500-node graph must not end the baseline's run.
            websockets.connect(ws_url, max_size=None, open_timeout=60, ping_interval=None) as ws,
        ):
            self.http = http

            async def read() -> None:
                async for frame in ws:
                    if isinstance(frame, bytes):
                        continue
                    message = json.loads(frame)
                    data = message.get("data") or {}
                    if (
                        message.get("type") == "executing"
                        and data.get("node") is None
                        and data.get("prompt_id")
                    ):
                        self._done.add(data["prompt_id"])
                        self._changed.set()

            reader = asyncio.create_task(read())
            try:
                yield self
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def submit(self, prompt: dict[str, Any]) -> str:
        response = await self.http.post("/prompt", json={"prompt": prompt, "client_id": self.client_id})
        response.raise_for_status()
        prompt_id: str = response.json()["prompt_id"]
        return prompt_id

    async def wait(self, prompt_id: str) -> None:
        while prompt_id not in self._done:
            self._changed.clear()
            await self._changed.wait()
        # A client that wants results reads them, as the runtime does.
        (await self.http.get(f"/history/{prompt_id}")).raise_for_status()


async def _bare_sequential(url: str, prompts: list[dict[str, Any]]) -> float:
    client = BareClient(url)
    async with client.session():
        start = time.perf_counter()
        for prompt in prompts:
            await client.wait(await client.submit(prompt))
        return time.perf_counter() - start


async def _runtime_sequential(url: str, prompts: list[dict[str, Any]]) -> float:
    from comfy_reality.runtime.runtime import ComfyUIAsyncRuntime

    runtime = ComfyUIAsyncRuntime(url)
    async with runtime.session():
        start = time.perf_counter()
        for i, prompt in enumerate(prompts):
            execution = await runtime.submit(prompt, name=f"bench {i}")
            await runtime.wait(execution)
        return time.perf_counter() - start


async def bench_e2e(report: Report, quick: bool, url: str) -> None:
    n = 20 if quick else 100
    rounds = 2 if quick else 5
    bare_times: list[float] = []
    runtime_times: list[float] = []
    ratios: list[float] = []
    # Client CPU (this process: the server runs in its own) is far less sensitive to other load
    # on the machine than wall time: the lead's quiet-machine wall figure follows it.
    bare_cpu: list[float] = []
    runtime_cpu: list[float] = []
    # Warm both paths once (imports, connections), then alternate which goes first.
    await _bare_sequential(url, [trivial_prompt(9999)])
    await _runtime_sequential(url, [trivial_prompt(9998)])
    base = int(time.time()) % 1_000_000 * 10
    for r in range(rounds):
        bare_prompts = [trivial_prompt(base + r * 1000 + i) for i in range(n)]
        ours_prompts = [trivial_prompt(base + r * 1000 + 500 + i) for i in range(n)]

        async def timed_ours(prompts: list[dict[str, Any]]) -> float:
            cpu = time.process_time()
            wall = await _runtime_sequential(url, prompts)
            runtime_cpu.append(time.process_time() - cpu)
            return wall

        async def timed_bare(prompts: list[dict[str, Any]]) -> float:
            cpu = time.process_time()
            wall = await _bare_sequential(url, prompts)
            bare_cpu.append(time.process_time() - cpu)
            return wall

        if r % 2:
            ours = await timed_ours(ours_prompts)
            bare = await timed_bare(bare_prompts)
        else:
            bare = await timed_bare(bare_prompts)
            ours = await timed_ours(ours_prompts)
        bare_times.append(bare)
        runtime_times.append(ours)
        ratios.append(ours / bare)
    ratio = statistics.median(ratios)
    ours_median = statistics.median(runtime_times)
    bare_median = statistics.median(bare_times)
    report.add(
        Row(
            "e2e",
            f"{n} trivial prompts, one at a time",
            ours_median,
            "s",
            baseline=bare_median,
            baseline_name="bare httpx+websockets",
            ratio=ratio,
            target="overhead <= 1.05x",
            ok=ratio <= 1.05,
            note=f"median of {rounds} alternating rounds (ratio = median per-round ratio; noisy: the "
            "repeatable figure is --only e2e-instructions); "
            f"{1000 * ours_median / n:.1f} ms vs {1000 * bare_median / n:.1f} ms per prompt; client CPU "
            f"{1000 * statistics.median(runtime_cpu) / n:.2f} ms vs {1000 * statistics.median(bare_cpu) / n:.2f} ms "
            f"per prompt ({statistics.median(runtime_cpu) / statistics.median(bare_cpu):.2f}x)",
        )
    )


# -------------------------------------------------------------------------- 4. scale
async def _queued(url: str, prompts: list[dict[str, Any]], *, trace: bool) -> tuple[float, int]:
    """Submit every prompt, then wait for all: wall time and traced peak bytes."""
    from comfy_reality.runtime.runtime import ComfyUIAsyncRuntime

    gc.collect()
    if trace:
        tracemalloc.start()
    try:
        start = time.perf_counter()
        runtime = ComfyUIAsyncRuntime(url)
        async with runtime.session():
            executions = [await runtime.submit(p, name=f"scale {i}") for i, p in enumerate(prompts)]
            await asyncio.gather(*(runtime.wait(e) for e in executions))
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
    finally:
        if trace:
            tracemalloc.stop()
    return elapsed, peak


async def bench_scale(report: Report, quick: bool, url: str) -> None:
    big = 200 if quick else 1000
    small = big // 4
    seed = int(time.time()) % 100_000
    prompts_big = [trivial_prompt(seed + i) for i in range(big)]
    bare_time = await _bare_sequential_queued(url, [trivial_prompt(seed + 2 * big + i) for i in range(big)])
    wall, _ = await _queued(url, prompts_big, trace=False)
    report.add(
        Row(
            "scale",
            f"{big:,} queued prompts: wall time",
            wall,
            "s",
            baseline=bare_time,
            baseline_name="bare client, same prompts",
            ratio=wall / bare_time,
        )
    )
    _, peak_small = await _queued(url, [trivial_prompt(seed + 3 * big + i) for i in range(small)], trace=True)
    _, peak_big = await _queued(url, [trivial_prompt(seed + 4 * big + i) for i in range(big)], trace=True)
    per_small = peak_small / small
    per_big = peak_big / big
    linear = per_big <= per_small * 1.5
    report.add(
        Row(
            "scale",
            f"{big:,} queued prompts: peak memory",
            peak_big / 1e6,
            "MB",
            baseline=peak_small / 1e6,
            baseline_name=f"{small:,} prompts",
            ratio=peak_big / peak_small,
            target="linear (per-prompt peak within 1.5x)",
            ok=linear,
            note=f"{per_big / 1024:.1f} KiB/prompt vs {per_small / 1024:.1f} KiB/prompt",
        )
    )
    nodes = 500
    chain = chain_prompt(nodes, seed)
    bare_chain = await _bare_sequential(url, [chain_prompt(nodes, seed + 1)])
    wall_chain, _ = await _queued(url, [chain], trace=False)
    report.add(
        Row(
            "scale",
            f"one {nodes}-node workflow: wall time",
            wall_chain,
            "s",
            baseline=bare_chain,
            baseline_name="bare client, same graph",
            ratio=wall_chain / bare_chain,
        )
    )
    _, peak_chain = await _queued(url, [chain_prompt(nodes, seed + 2)], trace=True)
    _, peak_chain_small = await _queued(url, [chain_prompt(nodes // 5, seed + 3)], trace=True)
    report.add(
        Row(
            "scale",
            f"one {nodes}-node workflow: peak memory",
            peak_chain / 1e6,
            "MB",
            baseline=peak_chain_small / 1e6,
            baseline_name=f"{nodes // 5}-node workflow",
            ratio=peak_chain / peak_chain_small,
            target="linear (<= 5x for 5x nodes, +50%)",
            ok=peak_chain <= peak_chain_small * 5 * 1.5,
            note=f"{peak_chain / nodes / 1024:.1f} KiB/node",
        )
    )


async def _bare_sequential_queued(url: str, prompts: list[dict[str, Any]]) -> float:
    client = BareClient(url)
    async with client.session():
        start = time.perf_counter()
        ids = [await client.submit(p) for p in prompts]
        for prompt_id in ids:
            await client.wait(prompt_id)
        return time.perf_counter() - start


# ---------------------------------------------------------------------------- 5. tui
def bench_tui(report: Report, quick: bool) -> None:
    try:
        from . import tui
    except ImportError as exc:  # Textual missing or broken: the other sections still run
        report.add(Row("tui", "TUI flood figures", None, "", note=f"not available ({exc})"[:300]))
        return
    for row in tui.run_benchmark(quick=quick):
        report.add(row)


# ------------------------------------------------------------------------ 6. startup
BARE_SCRIPT = r"""
import asyncio, json, sys, uuid
import httpx, websockets

async def main(url, path):
    with open(path, encoding="utf-8") as fh:
        prompt = json.load(fh)
    client_id = uuid.uuid4().hex
    ws_url = url.replace("http", "ws", 1) + "/ws?clientId=" + client_id
    async with httpx.AsyncClient(base_url=url, timeout=120) as http, websockets.connect(ws_url, open_timeout=60) as ws:
        response = await http.post("/prompt", json={"prompt": prompt, "client_id": client_id})
        response.raise_for_status()
        prompt_id = response.json()["prompt_id"]
        async for frame in ws:
            if isinstance(frame, bytes):
                continue
            message = json.loads(frame)
            data = message.get("data") or {}
            if message.get("type") == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                break
        entry = (await http.get("/history/" + prompt_id)).json()[prompt_id]
        print(json.dumps({"prompt_id": prompt_id, "status": entry["status"]["status_str"]}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process."""
    before = _children_cpu()
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - before
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:4])}... exited {result.returncode}: {result.stderr.strip()[-400:]}"
        )
    return elapsed, cpu


def _bytecode_env(work: Path, extra: dict[str, str]) -> dict[str, str]:
    """Let children use cached bytecode (in a private prefix), as any installed copy does.

    With PYTHONDONTWRITEBYTECODE set, every process would compile every module from source,
    which measures the size of the source tree rather than start-up.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env.update(extra)
    return env


def compile_bytecode(env: dict[str, str]) -> str:
    """``python -m compileall`` over the environment's site-packages and the package's sources, once.

    Returns what was compiled, for the report: start-up is measured with bytecode present.
    """
    import sysconfig

    import comfy_reality

    targets = [sysconfig.get_paths()["purelib"], str(Path(comfy_reality.__file__).parent)]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *targets],
        env=env,
        capture_output=True,
        check=False,  # a file that does not compile (a test fixture, say) must not stop the benchmark
        timeout=600,
    )
    return (
        "bytecode present (PYTHONDONTWRITEBYTECODE unset, `python -m compileall` on site-packages + src once)"
    )


def _children_cpu() -> float:
    """CPU seconds used by waited-for children so far (NaN where the OS does not say)."""
    if sys.platform == "win32":
        return float("nan")
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_startup(report: Report, quick: bool, url: str) -> None:
    runs = 3 if quick else 9
    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-") as tmp:
        work = Path(tmp)
        script = work / "bare_client.py"
        script.write_text(BARE_SCRIPT, encoding="utf-8")
        env = _bytecode_env(work, {"COMFY_REALITY_HOME": str(work / "home")})
        bytecode_note = compile_bytecode(env)
        ours_wall: list[float] = []
        bare_wall: list[float] = []
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        ours_cpu: list[float] = []
        bare_cpu: list[float] = []
        for i in range(runs + 1):
            workflow = work / f"trivial_{i}.json"
            workflow.write_text(json.dumps(trivial_prompt(70_000 + i)), encoding="utf-8")
            bare_wf = work / f"trivial_bare_{i}.json"
            bare_wf.write_text(json.dumps(trivial_prompt(80_000 + i)), encoding="utf-8")
            ours_cmd = [
                sys.executable,
                "-m",
                "comfy_reality.cli",
                "run",
                "--json",
                "--server",
                url,
                "--output-dir",
                str(work / "out"),
                str(workflow),
            ]
            bare_cmd = [sys.executable, str(script), url, str(bare_wf)]
            # Alternate which goes first so neither always gets the warmer cache.
            if i % 2:
                ours, bare = _timed(ours_cmd, work, env), _timed(bare_cmd, work, env)
            else:
                bare, ours = _timed(bare_cmd, work, env), _timed(ours_cmd, work, env)
            if i == 0:
                continue  # warm-up (bytecode compilation, OS file cache)
            ours_wall.append(ours[0])
            bare_wall.append(bare[0])
            ours_cpu.append(ours[1])
            bare_cpu.append(bare[1])
            ratios.append(ours[0] / bare[0])
            cpu_ratios.append(ours[1] / bare[1])
        run_path = "comfy_reality.cli.run, comfy_reality.runtime, comfy_reality.journal, comfy_reality.workflows.loader"
        ours_imports = _import_time(run_path, env)
        bare_imports = _import_time("httpx, websockets", env)
        extra_imports = import_profile(run_path, "httpx, websockets.asyncio.client", env)
    ratio = statistics.median(ratios)
    report.add(
        Row(
            "startup",
            "`comfy-reality run` on a trivial workflow (wall)",
            statistics.median(ours_wall),
            "s",
            baseline=statistics.median(bare_wall),
            baseline_name="bare httpx+websockets script",
            ratio=ratio,
            target="<= 1.3x bare",
            ok=ratio <= 1.3,
            note=f"median of {runs} alternating pairs (median of per-pair ratios); {bytecode_note}",
        )
    )
    cpu_ratio = statistics.median(cpu_ratios)
    if cpu_ratio == cpu_ratio:  # not NaN
        report.add(
            Row(
                "startup",
                "`comfy-reality run` on a trivial workflow (CPU)",
                statistics.median(ours_cpu),
                "s",
                baseline=statistics.median(bare_cpu),
                baseline_name="bare script, CPU user+sys",
                ratio=cpu_ratio,
                target="<= 1.3x bare",
                ok=cpu_ratio <= 1.3,
                note="CPU time is less sensitive to other load on the machine",
            )
        )
    report.add(
        Row(
            "startup",
            "imports of the run path",
            ours_imports,
            "s",
            baseline=bare_imports,
            baseline_name="import httpx, websockets",
            ratio=ours_imports / bare_imports,
            note=f"-X importtime, self time not in the bare imports, by package: {extra_imports}",
        )
    )


def _self_times(modules: str, env: dict[str, str]) -> dict[str, int]:
    """Microseconds of import self time per module, from ``python -X importtime``."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {modules}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    times: dict[str, int] = {}
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            times[parts[2].strip()] = int(parts[0])
    return times


def import_profile(ours: str, bare: str, env: dict[str, str], top: int = 6) -> str:
    """Where the run path's extra import time goes: self time of modules the bare script never imports,
    summed per top-level package (median of three runs each)."""
    ours_runs = [_self_times(ours, env) for _ in range(3)]
    bare_modules = set().union(*(_self_times(bare, env) for _ in range(2)))
    per_package: dict[str, list[int]] = {}
    for run in ours_runs:
        sums: dict[str, int] = {}
        for module, micros in run.items():
            if module not in bare_modules:
                package = module.split(".")[0]
                sums[package] = sums.get(package, 0) + micros
        for package, micros in sums.items():
            per_package.setdefault(package, []).append(micros)
    medians = {p: statistics.median(v + [0] * (3 - len(v))) for p, v in per_package.items()}
    ranked = sorted(medians.items(), key=lambda item: -item[1])[:top]
    total = sum(medians.values())
    return f"{total / 1000:.0f} ms in all; " + ", ".join(f"{p} {m / 1000:.0f} ms" for p, m in ranked)


def _import_time(modules: str, env: dict[str, str]) -> float:
    code = f"import time; s=time.perf_counter(); import {modules}; print(time.perf_counter()-s)"
    values = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        values.append(float(out.stdout.strip()))
    return statistics.median(values)


def wait_idle(url: str, timeout: float = 300.0) -> None:
    """Let the server finish (or drop) what an earlier section left, so sections do not overlap."""
    import httpx

    deadline = time.monotonic() + timeout
    cleared = False
    with httpx.Client(base_url=url, timeout=30) as http:
        while True:
            try:
                queue = http.get("/queue").json()
                if not queue.get("queue_running") and not queue.get("queue_pending"):
                    return
            except httpx.HTTPError:
                pass  # a busy server answers late; keep asking until the deadline
            if time.monotonic() > deadline:
                if cleared:
                    raise RuntimeError(f"the server at {url} stayed busy even after its queue was cleared")
                cleared = True
                deadline = time.monotonic() + 60
                with contextlib.suppress(httpx.HTTPError):
                    http.post("/queue", json={"clear": True})
                    http.post("/interrupt", json={})
            time.sleep(0.1)


# ---------------------------------------------------------------------------- driver
async def _run_async(report: Report, sections: list[str], quick: bool, url: str | None) -> None:
    steps: dict[str, Callable[[], Awaitable[None]]] = {
        "manager": lambda: bench_manager(report, quick),
        "client": lambda: bench_client(report, quick),
    }
    if url is not None:
        steps["e2e"] = lambda: bench_e2e(report, quick, url)
        steps["scale"] = lambda: bench_scale(report, quick, url)
        steps["e2e-instructions"] = lambda: asyncio.to_thread(bench_e2e_instructions, report, url)
    for name in sections:
        if name in steps:
            await _guard(report, name, steps[name], url)


async def _guard(report: Report, name: str, step: Callable[[], Awaitable[None]], url: str | None) -> None:
    if url is not None and name in ("e2e", "scale", "e2e-instructions"):
        await asyncio.to_thread(wait_idle, url)
    try:
        await step()
    except Exception as exc:  # a broken section is reported, the others still run
        report.add(Row(name, "failed to run", None, "", note=f"{type(exc).__name__}: {exc}"[:300]))


def run(sections: list[str], quick: bool) -> Report:
    """Run the chosen sections; the embedded server is started once for those that need it."""
    report = Report(quick=quick)
    needs_server = any(s in sections for s in ("e2e", "scale", "startup", "memory", *OPT_IN))
    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_logging())
        url: str | None = None
        if needs_server:
            try:
                url = stack.enter_context(server_process())
            except Exception as exc:
                for section in ("e2e", "scale", "startup", "memory", *OPT_IN):
                    if section in sections:
                        report.add(Row(section, "failed to run", None, "", note=f"server: {exc}"[:300]))
        asyncio.run(_run_async(report, sections, quick, url))
        if "tui" in sections:
            try:
                bench_tui(report, quick)
            except Exception as exc:
                report.add(Row("tui", "failed to run", None, "", note=f"{type(exc).__name__}: {exc}"[:300]))
        if "startup" in sections and url is not None:
            try:
                wait_idle(url)
                bench_startup(report, quick, url)
            except Exception as exc:
                report.add(
                    Row("startup", "failed to run", None, "", note=f"{type(exc).__name__}: {exc}"[:300])
                )
        if "memory" in sections and url is not None:
            try:
                from . import memory

                wait_idle(url)
                for row in memory.run_benchmark(url, quick):
                    report.add(row)
            except Exception as exc:
                report.add(
                    Row("memory", "failed to run", None, "", note=f"{type(exc).__name__}: {exc}"[:300])
                )
    return report


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """Lifecycle events log at info; send them to a throwaway file, as the CLI sends them to its log."""
    import structlog

    from comfy_reality import logs

    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-logs-", ignore_cleanup_errors=True) as tmp:
        logs.configure_logging(level="info", log_path=Path(tmp) / "bench.jsonl")
        try:
            yield
        finally:
            structlog.reset_defaults()


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("ev/s", "msg/s"):
        return f"{value:,.0f} {unit}"
    if unit == "s":
        return f"{value:.3f} s"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:,.2f} {unit}".strip()


def print_report(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"comfy-reality benchmark ({'quick' if report.quick else 'full'}; {report.machine})")
    for column in ("Section", "Figure", "Value", "Baseline", "Ratio", "Target", "OK", "Note"):
        table.add_column(column, overflow="fold")
    for row in report.rows:
        ok = "" if row.ok is None else ("[green]yes[/]" if row.ok else "[red]no[/]")
        baseline = (
            f"{_fmt(row.baseline, row.unit)} ({row.baseline_name})" if row.baseline is not None else "-"
        )
        table.add_row(
            row.section,
            row.name,
            _fmt(row.value, row.unit),
            baseline,
            f"{row.ratio:.2f}x" if row.ratio is not None else "-",
            row.target or "",
            ok,
            row.note or "",
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=180)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.runtime",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only", help=f"comma-separated sections ({','.join(SECTIONS)}; only when named: {','.join(OPT_IN)})"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and fewer rounds (about a minute)"
    )
    parser.add_argument(
        "--json-out",
        type=Path,
        default=Path("benchmark-results.json"),
        help="where to write the JSON results (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    sections = list(SECTIONS)
    if args.only:
        sections = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in sections if s not in SECTIONS + OPT_IN]
        if unknown:
            parser.error(
                f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS + OPT_IN)}"
            )
    report = run(sections, args.quick)
    print_report(report)
    payload = {
        **{k: v for k, v in asdict(report).items() if k != "rows"},
        "sections": sections,
        "rows": [asdict(r) for r in report.rows],
    }
    args.json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"Results written to {args.json_out}")
    # Missed targets are shown in the table; only a section that could not run is an error.
    return 1 if any(r.name == "failed to run" for r in report.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
