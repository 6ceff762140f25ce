"""Memory over a long session (``python -m benchmarks.memory``): RSS curves, not peaks of one call.

* CLI: ``comfy-reality run`` of 1,000 trivial workflow files in one batch; the child's RSS is
  sampled from ``/proc`` as its NDJSON says workflows completed (every 100).
* App: the TUI, headless, against an embedded server, queues 1,000 trivial prompts one after
  another through the main screen (as a user's key presses do); its RSS after every 100. Twice:
  with CPython's default garbage collection (``app``), and as ``comfy-reality-tui`` runs
  (``app-as-run``: start-up's objects frozen, full collections at quiet moments).
* Listed execution: the same app with tracemalloc on, sampled every 100 executions up to 500 (all
  still listed in the tree: the session lists 500 finished ones, the newest 30 whole, the older
  ones compacted to a summary whose nodes, outputs and errors are read back from the journal
  when selected): the net bytes still allocated, after ``gc.collect()``, from 300 to 500, per
  execution. Past the first 30 each new execution turns the oldest whole one into a summary, so
  this is what a summary costs, plus the execution's lines in the log pane (bounded by its
  5,000 lines). RSS moves in pages and arenas; this counts objects.

Targets: both curves under 150 MB and flat after the first hundred. Flat: the least-squares line
through the samples from 100 to the last one rises by at most FLAT_MB_PER_100 (0.3 MB) per 100
executions, 2.7 MB over 100 -> 1,000 (last minus first is printed beside it: one sample an
arena high or low moved that by a third). That is the CLI's own slope over the same batch (2.3 MB from 100 to 1,000 on a
quiet machine): a client that keeps nothing per prompt but bounded caches still drifts that much
(allocator arenas, bounded caches filling), so the app may keep no more per execution than the
CLI does. Memory per listed execution under 20 KiB. Each child runs with bytecode present (see
``benchmarks.runtime``).

``python -m benchmarks.memory [--quick] [--only cli|app|app-as-run|held|growers ...] [--app-executions N]`` (2,000 shows the
app's bounded stores full: its curve levels off). ``growers`` (asked for alone: tracing
is slow) diffs two tracemalloc snapshots, after gc, at 300 executions and at the end: what is
still growing, by the line that allocated it.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
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
FLAT_MB_PER_100 = 0.3
STEP = 100
HELD_LIMIT_KIB = 20.0


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


def curve_text(curve: list[tuple[int, float]]) -> str:
    """``100: 71.2, 200: 71.4, ...`` (done: MB)."""
    return ", ".join(f"{n}: {mb:.1f}" for n, mb in curve)


def fitted_slope(curve: list[tuple[int, float]]) -> float:
    """MB per execution, the least-squares line through every sample: one sample high or low by
    an arena (RSS moves in steps of a megabyte) moves it far less than it moves last minus first."""
    xs = [float(done) for done, _ in curve]
    ys = [mb for _, mb in curve]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0


def curve_row(name: str, curve: list[tuple[int, float]], note: str, sampled_peak: float = 0.0) -> Row:
    """One figure: the growth after the first hundred (flat: at most FLAT_MB_PER_100 per 100), beside the RSS at 100."""
    if len(curve) < 2:
        return Row("memory", name, None, "MB", note=f"too few samples: {curve}")
    (first_done, first), (last_done, last) = curve[0], curve[-1]
    peak = max(sampled_peak, *(mb for _, mb in curve))
    growth = last - first
    allowed = FLAT_MB_PER_100 * (last_done - first_done) / STEP
    per_100 = growth / (last_done - first_done) * STEP
    fitted = fitted_slope(curve) * STEP
    flat = "flat" if fitted <= FLAT_MB_PER_100 else "NOT flat"
    return Row(
        "memory",
        name,
        round(growth, 1),
        "MB growth",
        baseline=round(first, 1),
        baseline_name=f"RSS after {first_done}",
        ratio=round(last / first, 2),
        target=(
            f"< {LIMIT_MB:.0f} MB; flat after {first_done}: <= {FLAT_MB_PER_100} MB per {STEP}, "
            f"fitted ({allowed:.1f} MB to {last_done})"
        ),
        ok=peak < LIMIT_MB and fitted <= FLAT_MB_PER_100,
        note=(
            f"{flat} after {first_done}: {fitted:.2f} MB per {STEP} fitted to every sample "
            f"(last minus first: {per_100:.2f}); {note}; last {last:.1f} MB, "
            f"peak {peak:.1f} MB; curve (done: MB) {curve_text(curve)}"
        ),
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
import asyncio, gc, sys, time, tracemalloc
from pathlib import Path
from comfy_reality.config import Settings
from comfy_reality.logs import configure_logging
from comfy_reality.runtime.models import ConnectionState
from comfy_reality.tui.app import ComfyRealityApp

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

def sqlite_mb():
    # SQLite's own heap (mostly the journal's page cache, bounded by its cache_size).
    import ctypes, ctypes.util
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3"))
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return lib.sqlite3_memory_used() / 1024 / 1024
    except (OSError, AttributeError, TypeError):
        return -1.0

GROWERS_FROM = int(sys.argv[6]) if len(sys.argv) > 6 else 300

def print_growers(first, last):
    # Net growth between two snapshots, grouped by where it was allocated: the innermost frame of
    # ours (or the innermost at all), then the innermost, so a library's allocation names its caller.
    ours = lambda frame: "comfy_reality" in frame.filename
    grown = {}
    for stat in last.compare_to(first, "traceback"):
        frames = list(stat.traceback)  # most recent call last
        mine = next((f for f in reversed(frames) if ours(f)), None)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
        if mine is not None and mine is not frames[-1]:
            where = f"{Path(mine.filename).name}:{mine.lineno} > {where}"
        size, count = grown.get(where, (0, 0))
        grown[where] = (size + stat.size_diff, count + stat.count_diff)
    for where, (size, count) in sorted(grown.items(), key=lambda kv: -kv[1][0])[:25]:
        print("GROW", size, count, where, flush=True)

async def run(url, prompts, step, traced, frozen, growers=False):
    first = None
    configure_logging(level="info")
    app = ComfyRealityApp(Settings(server_url=url), bundled_dir=Path(sys.argv[4]), freeze_long_lived=frozen)
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
                await asyncio.sleep(0.2)  # the last batch drawn, the journal written
                await pilot.pause()
                if growers:
                    gc.collect()
                    if i + 1 == GROWERS_FROM:
                        first = tracemalloc.take_snapshot()
                    elif i + 1 == prompts and first is not None:
                        print_growers(first, tracemalloc.take_snapshot())
                elif traced:
                    gc.collect()
                    print("TRACED", i + 1, tracemalloc.get_traced_memory()[0], flush=True)
                else:
                    print("RSS", i + 1, rss(), flush=True)
                    print("SQLITE", i + 1, sqlite_mb(), flush=True)
                    print("BLOCKS", i + 1, sys.getallocatedblocks(), flush=True)

traced = sys.argv[5] == "traced"
growers = sys.argv[5] == "growers"
if traced or growers:
    tracemalloc.start(1)  # growers with 8 frames: over 30 min for 1,000 runs on a loaded machine
asyncio.run(
    run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), traced, sys.argv[5] == "frozen", growers)
)
"""


def app_child(
    url: str, prompts: int, env: dict[str, str], mode: str, growers_from: int = 300
) -> list[tuple[str, int, float]]:
    """Run the headless app over ``prompts`` executions; its samples (kind, done, value)."""
    from comfy_reality.paths import bundled_workflows_dir

    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-mem-") as home:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                APP_CHILD,
                url,
                str(prompts),
                str(STEP),
                str(bundled_workflows_dir()),
                mode,
                str(growers_from),
            ],
            env={**env, "COMFY_REALITY_HOME": home},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    if out.returncode != 0:
        raise RuntimeError(f"app child exited {out.returncode}: {out.stderr.strip()[-400:]}")
    if mode == "growers":
        return [
            (parts[3], int(parts[1]), float(parts[2]))
            for parts in (line.split(maxsplit=3) for line in out.stdout.splitlines())
            if len(parts) == 4 and parts[0] == "GROW"
        ]
    return [
        (parts[0], int(parts[1]), float(parts[2]))
        for parts in (line.split() for line in out.stdout.splitlines())
        if len(parts) == 3 and parts[0] in ("RSS", "TRACED", "SQLITE", "BLOCKS")
    ]


def app_curve(
    url: str, prompts: int, env: dict[str, str], frozen: bool = False
) -> tuple[list[tuple[int, float]], list[tuple[int, float]], list[tuple[int, float]]]:
    """RSS of the headless app after every STEP executions, SQLite's own heap and Python's
    allocated blocks (thousands, see :func:`app_blocks`) beside it.

    ``frozen``: garbage collected as ``comfy-reality-tui`` has it (long-lived objects frozen after
    start-up, full collections at quiet moments: see ``tui.gc_tuning``), not CPython's defaults."""
    samples = app_child(url, prompts, env, "frozen" if frozen else "rss")
    rss = [(done, mb) for kind, done, mb in samples if kind == "RSS"]
    sqlite = [(done, mb) for kind, done, mb in samples if kind == "SQLITE" and mb >= 0]
    return rss, sqlite, app_blocks(samples)


def app_blocks(samples: list[tuple[str, int, float]]) -> list[tuple[int, float]]:
    """Python's allocated blocks (``sys.getallocatedblocks``, garbage not yet collected included) per
    sample, in thousands: RSS that grows while these do not is garbage's high-water mark and arenas
    it left part-used, not objects kept."""
    return [(done, count / 1000) for kind, done, count in samples if kind == "BLOCKS"]


def held_execution_kib(url: str, env: dict[str, str]) -> tuple[float, list[tuple[int, float]]]:
    """Net bytes allocated (tracemalloc, after gc) per execution listed, in KiB, from 300 to 500.

    Every sample lies within the session's bound (500 finished executions listed): each execution
    counted is still listed, the newest 30 whole and the rest as summaries. The window starts at
    300, once the app's bounded render caches (1,024 lines each for the tree and the log) are
    full: what grows after that is what each execution keeps. The note gives every window of 100,
    the first ones with the caches still filling (and, to 100, every execution whole).
    """
    samples = [(done, b) for kind, done, b in app_child(url, 5 * STEP, env, "traced") if kind == "TRACED"]
    by_done = dict(samples)
    if 3 * STEP not in by_done or 5 * STEP not in by_done:
        raise RuntimeError(f"too few tracemalloc samples: {samples}")
    per = (by_done[5 * STEP] - by_done[3 * STEP]) / (2 * STEP) / 1024
    windows = [(high, (b - a) / STEP / 1024) for (_, a), (high, b) in itertools.pairwise(samples)]
    return per, windows


def top_growers(
    url: str, prompts: int, env: dict[str, str], growers_from: int = 300
) -> list[tuple[str, int, int]]:
    """What grew from ``growers_from`` executions to ``prompts`` (tracemalloc, after gc), by the line
    that allocated it: (where, bytes, blocks), largest first."""
    return [
        (where, int(size), int(count))
        for where, size, count in app_child(url, prompts, env, "growers", growers_from)
    ]


ALL = ("cli", "app", "app-as-run", "held")
CHOICES = (*ALL, "growers")
""" "growers" (tracemalloc snapshots diffed, slow) only when asked for."""


def run_benchmark(
    url: str,
    quick: bool,
    env: dict[str, str] | None = None,
    only: tuple[str, ...] = ALL,
    app_executions: int | None = None,
) -> list[Row]:
    """``app_executions``: the app's curve that long (default the batch's length), e.g. 2,000 to see
    its bounded stores (SQLite's page cache, the log pane's 5,000 lines) full."""
    prompts = 300 if quick else 1000
    executions = app_executions or prompts
    env = env if env is not None else dict(os.environ)
    rows: list[Row] = []
    if "cli" in only:
        try:
            cli = cli_curve(url, prompts, env)
            peak = [mb for n, mb in cli if n == -1]
            samples = [(n, mb) for n, mb in cli if n != -1]
            rows.append(
                curve_row(
                    f"CLI RSS during a {prompts:,}-prompt batch",
                    samples,
                    f"`comfy-reality run --json` of {prompts:,} files (peak sampled every 50 ms)",
                    sampled_peak=peak[0] if peak else 0.0,
                )
            )
        except Exception as exc:
            rows.append(
                Row("memory", "CLI RSS", None, "MB", note=f"failed: {type(exc).__name__}: {exc}"[:300])
            )
    for part in ("app", "app-as-run"):
        if part not in only:
            continue
        as_run = part == "app-as-run"
        try:
            rss, sqlite, blocks = app_curve(url, executions, env, frozen=as_run)
            of_sqlite = (
                f"; of it SQLite's heap (mostly the journal's page cache, bounded by its cache_size) "
                f"{sqlite[-1][1] - sqlite[0][1]:+.1f} MB, {curve_text(sqlite)}"
                if len(sqlite) >= 2
                else ""
            )
            how = (
                "collections as comfy-reality-tui has them (start-up frozen, full ones at quiet moments)"
                if as_run
                else "CPython's default collections"
            )
            rows.append(
                curve_row(
                    f"app RSS over {executions:,} executions"
                    + (", as comfy-reality-tui runs" if as_run else ""),
                    rss,
                    f"headless TUI, prompts queued through the main screen one after another; {how}"
                    + of_sqlite
                    + f"; Python's allocated blocks (thousands) {curve_text(blocks)}",
                )
            )
        except Exception as exc:
            rows.append(Row("memory", part, None, "MB", note=f"failed: {type(exc).__name__}: {exc}"[:300]))
    if "held" in only:
        try:
            per, traced = held_execution_kib(url, env)
            rows.append(
                Row(
                    "memory",
                    "app memory per listed execution (tracemalloc)",
                    round(per, 1),
                    "KiB",
                    target=f"< {HELD_LIMIT_KIB:.0f} KiB",
                    ok=per < HELD_LIMIT_KIB,
                    note="net bytes allocated after gc, 300 -> 500 executions listed (the newest 30 "
                    "whole, the rest summaries read back from the journal); per window of 100 "
                    "(listed at its end: KiB per execution) " + curve_text(traced),
                )
            )
        except Exception as exc:
            rows.append(
                Row(
                    "memory", "held execution", None, "KiB", note=f"failed: {type(exc).__name__}: {exc}"[:300]
                )
            )
    if "growers" in only:
        try:
            growers = top_growers(url, executions, env)
            rows.append(
                Row(
                    "memory",
                    f"app growth 300 -> {executions:,} executions, top allocation sites (tracemalloc)",
                    round(sum(size for _, size, _ in growers) / 1024, 1),
                    "KiB (top 25)",
                    note="; ".join(
                        f"{where} {size / 1024:+.1f} KiB {count:+d}" for where, size, count in growers
                    ),
                )
            )
        except Exception as exc:
            rows.append(
                Row("memory", "growers", None, "KiB", note=f"failed: {type(exc).__name__}: {exc}"[:300])
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    from .report import Report
    from .runtime import print_report, server_process

    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 prompts instead of 1,000")
    parser.add_argument(
        "--only", action="append", choices=CHOICES, help="one figure (repeatable); default all but growers"
    )
    parser.add_argument(
        "--app-executions", type=int, default=None, help="the app's curve this long (default: as the batch)"
    )
    args = parser.parse_args(argv)
    report = Report(quick=args.quick)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(server_process())
        for row in run_benchmark(
            url, args.quick, only=tuple(args.only or ALL), app_executions=args.app_executions
        ):
            report.add(row)
            verdict = "pass" if row.ok else "MISS"
            print(
                f"{row.name}: {row.value} {row.unit} [{verdict}; target {row.target}] {row.note}", flush=True
            )
    print_report(report)


if __name__ == "__main__":
    main()
