"""What the app spends while a big graph runs and nothing is pressed: ``python -m benchmarks.app_cpu``

A focused companion to ``benchmarks.scale``: the same chain workflows, the same headless app at
160x48, the server in its own process. For each node count (default 6, 50, 200 and 500) it
measures, over a window with no key pressed, the app's CPU, how many frames it composes a second,
how many batches it folds, how many layouts it runs, and what a frame and a batch cost; what the
socket brought (frames a second, frames a read, how many ``progress_state`` snapshots were
dropped undecoded as superseded); then Tab's latency once the run is over (the idle tail).

The window opens once the app's start-up is behind it: its one-off full collection and freeze of
the start-up objects (``gc_tuning``, a second after the first frame: 70-170 ms of CPU here) used to
fall inside the window and count as running CPU.

Last, the floors, for each node count, on this process's CPU (``benchmarks.ws_read``): a bare
websockets client that only reads the same flood (what any client reading it with websockets
pays), and the same client ``json.loads``-ing every text frame.

``--profile DIR`` writes a cProfile of each window (``running-N.prof``, ``idle-N.prof``) to read
with ``python -m pstats``. ``--compare SRC --rounds R`` runs this benchmark R times on this tree
and on the tree at SRC (e.g. ``/tmp/before/src``), alternated, each in its own process, and prints
the medians side by side. The machine is shared: compare figures of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from textual import events
from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip

from benchmarks.profiling import profiled
from benchmarks.scale import (
    SIZE,
    ServerHandle,
    chain_highlighted,
    connected_app,
    pct,
    press,
    workflows_served,
)
from benchmarks.ws_read import bare, until_idle
from comfy_reality.tui import app as app_module
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.dirty_lines import DirtyLinesCompositor
from comfy_reality.tui.screens.main import MainScreen
from comfy_reality.tui.widgets import NodeProgressList
from tests.tui.pilot import wait_for


class Counted:
    """Calls and CPU time spent in one method, by wrapping it on the class for the window measured.

    CPU time (``time.process_time``), not wall time: on a shared machine a call preempted midway
    would count the other programs' time as ours.
    """

    def __init__(self, owner: type, name: str) -> None:
        self.owner, self.name = owner, name
        self.calls = 0
        self.seconds = 0.0
        self._original: Callable[..., Any] = getattr(owner, name)

    def __enter__(self) -> Counted:
        original = self._original

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.calls += 1
                self.seconds += time.process_time() - started

        setattr(self.owner, self.name, wrapped)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self._original)

    def reset(self) -> None:
        self.calls, self.seconds = 0, 0.0


class Collections:
    """Garbage collections (by generation) and the time they paused the app, while active."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> Collections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> str:
        full = self.pauses[2]
        return f"{len(full)} full, longest {max(full, default=0.0):.0f} ms"


class StartupFreeze:
    """Counts the app's one-off collection and freeze of its start-up objects (``gc_tuning``):
    the window waits for it, so a start-up cost is not read as running CPU."""

    def __init__(self) -> None:
        self.calls = 0
        self._original: Callable[[], None] | None = getattr(app_module, "freeze_long_lived", None)

    def __enter__(self) -> StartupFreeze:
        original = self._original
        if original is not None:

            def counted() -> None:
                self.calls += 1
                original()

            app_module.freeze_long_lived = counted  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._original is not None:
            app_module.freeze_long_lived = self._original  # type: ignore[attr-defined]

    @property
    def expected(self) -> bool:
        return self._original is not None


def socket_counts(app: ComfyRealityApp) -> dict[str, int]:
    """What the app's main socket has brought so far (zeros where this tree keeps no such count)."""
    runtime: Any = app.runtime
    connection = getattr(runtime, "_connection", None)
    ws = getattr(connection, "ws", None)
    hold = getattr(runtime, "_snapshots", None)
    decoder = getattr(hold, "decoder", None)
    return {
        "frames": getattr(connection, "frames_received", 0),
        "reads": getattr(ws, "reads", 0),
        "superseded": getattr(hold, "superseded", 0),
        "decoded": getattr(decoder, "entries_decoded", 0),
        "reused": getattr(decoder, "entries_reused", 0),
    }


class SnapshotsSeen:
    """``progress_state`` frames the main socket hands over, counted before anything else sees them."""

    def __init__(self, app: ComfyRealityApp) -> None:
        self.count = 0
        runtime: Any = app.runtime
        self._hold = getattr(runtime, "_snapshots", None)

    def __enter__(self) -> SnapshotsSeen:
        hold = self._hold
        if hold is not None:
            feed = hold.feed

            def counted(frame: str | bytes) -> None:
                if isinstance(frame, str) and frame.startswith(
                    ('{"type": "progress_state"', '{"type":"progress_state"')
                ):
                    self.count += 1
                feed(frame)

            hold.feed = counted
        return self

    def __exit__(self, *exc: object) -> None:
        if self._hold is not None:
            del self._hold.feed


class LinesDrawn:
    """Lines the widgets render for the screen (each line a widget draws, cached or not): the
    compositor's work, counted, so it compares across runs on a busy machine.

    Counted where the compositor takes them (a widget may draw its lines its own way)."""

    def __init__(self) -> None:
        self.lines = 0
        self._original = DirtyLinesCompositor._get_renders

    def __enter__(self) -> LinesDrawn:
        original = self._original

        def get_renders(
            compositor: DirtyLinesCompositor, crop: Region | None = None
        ) -> Iterator[tuple[Region, Region, list[Strip]]]:
            for render in original(compositor, crop):
                self.lines += len(render[2])
                yield render

        DirtyLinesCompositor._get_renders = get_renders  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        DirtyLinesCompositor._get_renders = self._original  # type: ignore[method-assign]


class HeaderLines:
    """Lines the screen takes from the execution header (its clock and node count move while a run
    runs): what a redraw of it costs, counted on the widget."""

    def __init__(self, app: ComfyRealityApp) -> None:
        self.lines = 0
        self._header: Any = app.main_screen.execution_view.header

    def __enter__(self) -> HeaderLines:
        render_lines = self._header.render_lines

        def counted(crop: Region) -> list[Strip]:
            lines: list[Strip] = render_lines(crop)
            self.lines += len(lines)
            return lines

        self._header.render_lines = counted
        return self

    def __exit__(self, *exc: object) -> None:
        del self._header.render_lines


async def scenario(
    server: ServerHandle,
    workflows: Path,
    nodes: int,
    seconds: float,
    tabs: int,
    profile_dir: Path | None,
    **app_options: Any,
) -> dict[str, Any]:
    app = await connected_app(server.url, workflows, use_journal=False, **app_options)
    freeze = StartupFreeze()
    with freeze:
        return await scenario_in_app(server, app, freeze, nodes, seconds, tabs, profile_dir)


async def scenario_in_app(
    server: ServerHandle,
    app: ComfyRealityApp,
    freeze: StartupFreeze,
    nodes: int,
    seconds: float,
    tabs: int,
    profile_dir: Path | None,
) -> dict[str, Any]:
    async with app.run_test(size=SIZE) as pilot:
        frames = await chain_highlighted(pilot, app, nodes)
        if freeze.expected:  # start-up's one-off full collection first (see the module docstring)
            await wait_for(pilot, lambda: freeze.calls > 0, 20, "the start-up freeze")
        app.post_message(events.Key("r", "r"))
        await wait_for(
            pilot,
            lambda: (
                (entry := app.main_screen.execution_view.entry) is not None
                and entry.status.value == "running"
            ),
            20,
            "running",
        )
        execution_id = app.main_screen.execution_view.entry.id  # type: ignore[union-attr]
        await asyncio.sleep(0.5)
        with (
            Counted(Screen, "_refresh_layout") as layouts,
            Counted(MainScreen, "apply_batch") as batches,
            Counted(Screen, "_compositor_refresh") as composes,
            Counted(NodeProgressList, "render_line") as rows,
            LinesDrawn() as drawn,
            HeaderLines(app) as header,
            SnapshotsSeen(app) as snapshots,
        ):
            frames_before = frames.count
            socket_before = socket_counts(app)
            freezes_before = freeze.calls
            cpu_start, server_start, wall_start = (
                time.process_time(),
                server.cpu_seconds(),
                time.perf_counter(),
            )
            with profiled(profile_dir / f"running-{nodes}.prof" if profile_dir else None):
                await asyncio.sleep(seconds)
            wall = time.perf_counter() - wall_start
            cpu = (time.process_time() - cpu_start) / wall * 100
            server_cpu = (server.cpu_seconds() - server_start) / wall * 100
            socket = {k: v - socket_before[k] for k, v in socket_counts(app).items()}
            running = {
                "socket_frames_per_s": socket["frames"] / wall,
                "frames_per_read": socket["frames"] / max(1, socket["reads"]),
                "snapshots_per_s": snapshots.count / wall,
                "superseded_share": socket["superseded"] / max(1, snapshots.count) * 100,
                "entries_decoded_per_snapshot": socket["decoded"]
                / max(1, snapshots.count - socket["superseded"]),
                "freezes_in_window": freeze.calls - freezes_before,
                "cpu": cpu,
                "server_cpu": server_cpu,
                "frames_per_s": (frames.count - frames_before) / wall,
                "batches_per_s": batches.calls / wall,
                "batch_ms": batches.seconds / max(1, batches.calls) * 1000,
                "layouts_per_s": layouts.calls / wall,
                "layout_ms": layouts.seconds / max(1, layouts.calls) * 1000,
                "compose_ms": composes.seconds / max(1, composes.calls) * 1000,
                "compose_share": composes.seconds / wall * 100,
                "lines_per_frame": drawn.lines / max(1, composes.calls),
                "lines_per_s": drawn.lines / wall,
                "header_lines_per_s": header.lines / wall,
                "cpu_per_frame": cpu * 10_000 / max(1e-9, socket["frames"] / wall),
                "batch_share": batches.seconds / wall * 100,
                "rows_share": rows.seconds / wall * 100,
                "ran_long": not app.session.entries[execution_id].status.is_final,
            }
        runtime = app.runtime
        if runtime is not None and not app.session.entries[execution_id].status.is_final:
            await runtime.cancel(runtime.executions[execution_id])
        await wait_for(pilot, lambda: app.session.entries[execution_id].status.is_final, 120, "the run's end")
        await asyncio.sleep(0.5)
        tab: list[float] = []
        with (
            Collections() as collections,
            profiled(profile_dir / f"idle-{nodes}.prof" if profile_dir else None),
        ):
            for _ in range(tabs):
                before = app.focused
                tab.append(await press(app, frames, "tab", lambda b=before: app.focused is not b))
                await asyncio.sleep(0.03)
        return {"running": running, "tab": tab, "gc": collections.summary()}


RUNNING_ROWS = (
    ("cpu", "app CPU %, running, no keys"),
    ("floor_read", "floor: bare websockets read CPU %"),
    ("floor_json", "floor: bare read + json.loads CPU %"),
    ("server_cpu", "server process CPU %"),
    ("socket_frames_per_s", "socket frames /s"),
    ("frames_per_read", "  frames per socket read"),
    ("cpu_per_frame", "  app CPU µs per socket frame"),
    ("snapshots_per_s", "  progress_state /s"),
    ("superseded_share", "  % dropped undecoded (superseded)"),
    ("entries_decoded_per_snapshot", "  entries decoded per folded one"),
    ("frames_per_s", "frames composed /s"),
    ("compose_ms", "CPU ms per compositor refresh"),
    ("lines_per_frame", "  widget lines rendered per frame"),
    ("lines_per_s", "  widget lines rendered /s"),
    ("header_lines_per_s", "  of which the execution header's"),
    ("compose_share", "  % of a core composing frames"),
    ("rows_share", "  % of a core drawing node rows"),
    ("batches_per_s", "task batches folded /s"),
    ("batch_share", "  % of a core folding batches"),
    ("batch_ms", "CPU ms per batch (apply_batch)"),
    ("layouts_per_s", "layouts /s (following: scrolls)"),
    ("layout_ms", "CPU ms per layout, with its frame"),
    ("freezes_in_window", "start-up freezes in the window"),
)


def report(results: dict[int, dict[str, Any]]) -> list[str]:
    counts = list(results)
    lines = [f"  {'figure':<38} " + " ".join(f"{n:>9} nodes" for n in counts) + "   ratio"]

    def row(name: str, values: list[float]) -> None:
        ratio = values[-1] / values[0] if values[0] else float("nan")
        lines.append(f"  {name:<38} " + " ".join(f"{v:15.2f}" for v in values) + f"   ×{ratio:.2f}")

    for key, name in RUNNING_ROWS:
        row(name, [r["running"].get(key, float("nan")) for r in results.values()])
    for q in (0.5, 0.95):
        row(f"Tab idle p{round(q * 100)} ms", [pct(r["tab"], q) for r in results.values()])
    lines.append("  collections during the Tabs: " + " | ".join(r["gc"] for r in results.values()))
    lines.extend(verdict({n: r["running"] for n, r in results.items()}))
    return lines


def verdict(running: dict[int, dict[str, float]]) -> list[str]:
    """The target (CPU at the biggest graph at most twice the smallest's), and where the floor sits."""
    small, big = min(running), max(running)
    base = running[small]["cpu"]
    ratio = running[big]["cpu"] / base
    floor = running[big].get("floor_read", float("nan")) / base
    lines = [
        f"  CPU target: {big} nodes <= 2x {small} nodes: ×{ratio:.2f}: {'pass' if ratio <= 2 else 'MISS'}",
        f"  the floor alone, a bare websockets client only reading the {big}-node flood, is ×{floor:.2f}"
        f" the whole {small}-node app"
        + (": the target is below what reading the flood costs" if floor > 2 else ""),
    ]
    return lines


async def run(
    nodes: tuple[int, ...], seconds: float, tabs: int, profile_dir: Path | None, **app_options: Any
) -> dict[int, dict[str, Any]]:
    results: dict[int, dict[str, Any]] = {}
    async with workflows_served(in_process=False) as (server, workflows, _):
        for count in nodes:
            results[count] = await scenario(
                server, workflows, count, seconds, tabs, profile_dir, **app_options
            )
        # The floors, in this process: only reading each flood, and reading and json-parsing it.
        for count in nodes:
            for key, parse in (("floor_read", False), ("floor_json", True)):
                floor = await bare(server.url, count, seconds, None, parse=parse)
                results[count]["running"][key] = floor["cpu"]
                await until_idle(server.url)
    return results


def compare(src: str, rounds: int, argv: list[str]) -> list[str]:
    """This tree and the one at ``src``, each run ``rounds`` times in its own process, alternated."""
    trees = {"after": os.environ.get("PYTHONPATH", ""), "before": src}
    runs: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in trees}
    here = str(Path(__file__).resolve().parents[1])
    for r in range(rounds):
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        for name in order:
            out = Path(os.environ.get("TMPDIR", "/tmp")) / f"app-cpu-{os.getpid()}-{name}-{r}.json"
            path = trees[name]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (path, here) if p)}
            subprocess.run(
                [sys.executable, "-m", "benchmarks.app_cpu", *argv, "--json", str(out)],
                check=True,
                env=env,
                cwd=here,
                stdout=subprocess.DEVNULL,
            )
            runs[name].append(json.loads(out.read_text()))
            out.unlink()
    counts = list(runs["after"][0])
    lines = [f"median of {rounds} runs per tree, alternated; before = {src}"]
    medians: dict[str, dict[int, dict[str, float]]] = {}
    for name, results in runs.items():
        medians[name] = {
            int(n): {key: statistics.median(r[n][key] for r in results) for key, _ in RUNNING_ROWS}
            for n in counts
        }
    header = " ".join(f"{n + ' nodes':>21}" for n in counts)
    lines.append(f"  {'figure (before -> after)':<38} {header}")
    for key, label in RUNNING_ROWS:
        cells = " ".join(
            f"{medians['before'][int(n)][key]:>9.2f} -> {medians['after'][int(n)][key]:<8.2f}" for n in counts
        )
        lines.append(f"  {label:<38} {cells}")
    for name in ("before", "after"):
        lines.extend(f"  {name}:{line[1:]}" for line in verdict(medians[name]))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--nodes", default="6,50,200,500", help="comma-separated node counts (first is the baseline)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the no-key window")
    parser.add_argument("--tabs", type=int, default=30, help="Tab presses once idle")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile files to this folder")
    parser.add_argument(
        "--frame-interval", type=float, default=None, help="the app's batch interval (default: the app's own)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the running figures here")
    parser.add_argument("--compare", default=None, metavar="SRC", help="another tree's src folder")
    parser.add_argument("--rounds", type=int, default=3, help="runs per tree with --compare")
    args = parser.parse_args(argv)
    if args.compare is not None:
        passed = ["--nodes", args.nodes, "--seconds", str(args.seconds), "--tabs", str(args.tabs)]
        if args.frame_interval is not None:
            passed += ["--frame-interval", str(args.frame_interval)]
        for line in compare(args.compare, args.rounds, passed):
            print(line)
        return
    options = {} if args.frame_interval is None else {"frame_interval": args.frame_interval}
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    counts = tuple(int(n) for n in args.nodes.split(","))
    results = asyncio.run(run(counts, args.seconds, args.tabs, args.profile, **options))
    if args.json is not None:
        args.json.write_text(json.dumps({n: r["running"] for n, r in results.items()}))
    for line in report(results):
        print(line)
    _ = ComfyRealityApp  # the app under test (imported through benchmarks.scale)


if __name__ == "__main__":
    main()
