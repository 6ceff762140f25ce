"""Memory over a long session (``python -m benchmarks.memory``): RSS curves, not peaks of one call.

* CLI: ``comfy-reality run`` of 1,000 trivial workflow files in one batch; the child's RSS is
  sampled from ``/proc`` as its NDJSON says workflows completed (every 100).
* App: the TUI, headless, against an embedded server, queues 1,000 trivial prompts one after
  another through the main screen (as a user's key presses do); its RSS after every 100.

Target for both: under 150 MB, and flat after the first hundred (the last sample within
15% of the one at 100). Each child runs with bytecode present (see ``benchmarks.runtime``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .report import Row

LIMIT_MB = 150.0
FLAT_WITHIN = 0.15
STEP = 100


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process in MB (Linux ``/proc``); None where it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def _trivial(color: int) -> dict[str, object]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def curve_row(name: str, curve: list[tuple[int, float]], note: str) -> Row:
    """One figure: the last sample, judged against the one after the first hundred."""
    if len(curve) < 2:
        return Row("memory", name, None, "MB", note=f"too few samples: {curve}")
    first, last = curve[0][1], curve[-1][1]
    peak = max(mb for _, mb in curve)
    flat = last <= first * (1 + FLAT_WITHIN)
    return Row(
        "memory",
        name,
        round(last, 1),
        "MB",
        baseline=round(first, 1),
        baseline_name=f"RSS after {curve[0][0]}",
        ratio=round(last / first, 2),
        target=f"< {LIMIT_MB:.0f} MB, flat after {STEP} (within {FLAT_WITHIN:.0%})",
        ok=peak < LIMIT_MB and flat,
        note=f"{note}; curve (done: MB) " + ", ".join(f"{n}: {mb:.0f}" for n, mb in curve),
    )


# ------------------------------------------------------------------------------- CLI
def cli_curve(url: str, prompts: int, env: dict[str, str]) -> list[tuple[int, float]]:
    """RSS of ``comfy-reality run --json`` over ``prompts`` files, sampled every STEP completions."""
    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-mem-") as tmp:
        work = Path(tmp)
        seed = int(time.time()) % 1_000 * 10_000  # EmptyImage colours stop at 0xFFFFFF
        files = []
        for i in range(prompts):
            path = work / f"wf_{i:04d}.json"
            path.write_text(json.dumps(_trivial(seed + i)), encoding="utf-8")
            files.append(str(path))
        cmd = [sys.executable, "-m", "comfy_reality.cli", "run", "--json", "--no-journal", "--server", url]
        cmd += ["--output-dir", str(work / "out"), *files]
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env={**env, "COMFY_REALITY_HOME": str(work / "home")},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        curve: list[tuple[int, float]] = []
        peak = [0.0]
        stop = threading.Event()

        def sample_peak() -> None:
            while not stop.wait(0.05):
                mb = rss_mb(proc.pid)
                if mb is not None:
                    peak[0] = max(peak[0], mb)

        sampler = threading.Thread(target=sample_peak, daemon=True)
        sampler.start()
        done = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            if '"task_type": "workflow"' not in line or '"event": "completed"' not in line:
                continue
            done += 1
            if done % STEP == 0:
                mb = rss_mb(proc.pid)
                if mb is not None:
                    curve.append((done, mb))
        proc.wait(timeout=120)
        stop.set()
        sampler.join()
        if proc.returncode != 0:
            raise RuntimeError(f"comfy-reality run exited {proc.returncode} after {done} completions")
        curve.append((-1, peak[0]))  # the peak, reported separately
        return curve


# ------------------------------------------------------------------------------- app
APP_CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path
from comfy_reality.config import Settings
from comfy_reality.logs import configure_logging
from comfy_reality.runtime.models import ConnectionState
from comfy_reality.tui.app import ComfyRealityApp

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

async def main(url, prompts, step):
    configure_logging(level="info")
    app = ComfyRealityApp(Settings(server_url=url), bundled_dir=Path(sys.argv[4]))
    seed = int(time.time()) % 1_000 * 10_000
    async with app.run_test(size=(120, 40)) as pilot:
        while app.runtime is None or app.runtime.status.state is not ConnectionState.CONNECTED:
            await pilot.pause(0.01)
        for i in range(prompts):
            prompt = {
                "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": seed + i}},
                "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
            }
            await app.main_screen.submit_prompt(prompt, name=f"mem {i}", workflow_id=f"mem {i}")
            execution = list(app.runtime.executions.values())[-1]
            await app.runtime.wait(execution)
            if (i + 1) % step == 0:
                await pilot.pause()
                print("RSS", i + 1, rss(), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def app_curve(url: str, prompts: int, env: dict[str, str]) -> list[tuple[int, float]]:
    from comfy_reality.paths import bundled_workflows_dir

    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-mem-") as home:
        out = subprocess.run(
            [sys.executable, "-c", APP_CHILD, url, str(prompts), str(STEP), str(bundled_workflows_dir())],
            env={**env, "COMFY_REALITY_HOME": home},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    curve = [
        (int(parts[1]), float(parts[2]))
        for parts in (line.split() for line in out.stdout.splitlines())
        if len(parts) == 3 and parts[0] == "RSS"
    ]
    if out.returncode != 0:
        raise RuntimeError(f"app child exited {out.returncode}: {out.stderr.strip()[-400:]}")
    return curve


def run_benchmark(url: str, quick: bool, env: dict[str, str] | None = None) -> list[Row]:
    prompts = 300 if quick else 1000
    env = env if env is not None else dict(os.environ)
    rows: list[Row] = []
    try:
        cli = cli_curve(url, prompts, env)
        peak = [mb for n, mb in cli if n == -1]
        samples = [(n, mb) for n, mb in cli if n != -1]
        rows.append(
            curve_row(
                f"CLI RSS during a {prompts:,}-prompt batch",
                samples,
                f"`comfy-reality run --json` of {prompts:,} files; peak {peak[0]:.0f} MB" if peak else "",
            )
        )
    except Exception as exc:
        rows.append(Row("memory", "CLI RSS", None, "MB", note=f"failed: {type(exc).__name__}: {exc}"[:300]))
    try:
        rows.append(
            curve_row(
                f"app RSS over {prompts:,} executions",
                app_curve(url, prompts, env),
                "headless TUI, prompts queued through the main screen one after another",
            )
        )
    except Exception as exc:
        rows.append(Row("memory", "app RSS", None, "MB", note=f"failed: {type(exc).__name__}: {exc}"[:300]))
    return rows


def main(argv: list[str] | None = None) -> None:
    from .report import Report
    from .runtime import print_report, server_process

    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 prompts instead of 1,000")
    args = parser.parse_args(argv)
    report = Report(quick=args.quick)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(server_process())
        for row in run_benchmark(url, args.quick):
            report.add(row)
    print_report(report)


if __name__ == "__main__":
    main()
