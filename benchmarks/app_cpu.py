"""What the app spends while a big graph runs and nothing is pressed: ``python -m benchmarks.app_cpu``

A focused companion to ``benchmarks.scale``: the same chain workflows, the same headless app at
160x48, the server in its own process. For 6 and 500 nodes it measures, over a window with no key
pressed, the app's CPU, how many frames it composes a second, how many batches it folds, how many
layouts it runs, and what a frame and a batch cost; then Tab's latency once the run is over (the
idle tail). Last, the floor: a bare websockets client that only reads and json-parses the biggest
graph's flood (``benchmarks.ws_read``), on this process's CPU. ``--profile DIR`` writes a cProfile
of each window (``running-N.prof``, ``idle-N.prof``) to read with ``python -m pstats``.

The machine is shared: compare the 500-node figures with the 6-node ones of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
    async with app.run_test(size=SIZE) as pilot:
        frames = await chain_highlighted(pilot, app, nodes)
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
        ):
            frames_before = frames.count
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
            running = {
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


def report(results: dict[int, dict[str, Any]]) -> list[str]:
    base = results[min(results)]
    lines = [f"  {'figure':<34} " + " ".join(f"{n:>9} nodes" for n in results) + "   ratio"]

    def row(name: str, values: list[float]) -> None:
        ratio = values[-1] / values[0] if values[0] else float("nan")
        lines.append(f"  {name:<34} " + " ".join(f"{v:15.2f}" for v in values) + f"   ×{ratio:.2f}")

    for key, name in (
        ("cpu", "app CPU %, running, no keys"),
        ("server_cpu", "server process CPU %"),
        ("frames_per_s", "frames composed /s"),
        ("compose_ms", "CPU ms per compositor refresh"),
        ("lines_per_frame", "  widget lines rendered per frame"),
        ("compose_share", "  % of a core composing frames"),
        ("rows_share", "  % of a core drawing node rows"),
        ("batches_per_s", "task batches folded /s"),
        ("batch_share", "  % of a core folding batches"),
        ("batch_ms", "CPU ms per batch (apply_batch)"),
        ("layouts_per_s", "layouts /s (following: scrolls)"),
        ("layout_ms", "CPU ms per layout, with its frame"),
    ):
        row(name, [r["running"][key] for r in results.values()])
    for q in (0.5, 0.95):
        row(f"Tab idle p{round(q * 100)} ms", [pct(r["tab"], q) for r in results.values()])
    lines.append("  collections during the Tabs: " + " | ".join(r["gc"] for r in results.values()))
    cpu = [r["running"]["cpu"] for r in results.values()]
    lines.append(
        f"  CPU target: 500 nodes <= 2x 6 nodes: {'pass' if cpu[-1] <= 2 * base['running']['cpu'] else 'MISS'}"
    )
    return lines


async def run(
    nodes: tuple[int, ...], seconds: float, tabs: int, profile_dir: Path | None, **app_options: Any
) -> list[str]:
    results: dict[int, dict[str, Any]] = {}
    async with workflows_served(in_process=False) as (server, workflows, _):
        for count in nodes:
            results[count] = await scenario(
                server, workflows, count, seconds, tabs, profile_dir, **app_options
            )
        # The floor: what only reading and json-parsing the biggest flood costs, in this process.
        floor = await bare(server.url, max(nodes), seconds, None, parse=True)
        await until_idle(server.url)
    base = results[min(results)]["running"]["cpu"]
    return [
        *report(results),
        f"  floor: a bare websockets client json-parsing the {max(nodes)}-node flood:"
        f" {floor['cpu']:.2f} % of a core = ×{floor['cpu'] / base:.2f} the {min(results)}-node app",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--nodes", default="6,500", help="comma-separated node counts (first is the baseline)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the no-key window")
    parser.add_argument("--tabs", type=int, default=30, help="Tab presses once idle")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile files to this folder")
    parser.add_argument(
        "--frame-interval", type=float, default=None, help="the app's batch interval (default: the app's own)"
    )
    args = parser.parse_args(argv)
    options = {} if args.frame_interval is None else {"frame_interval": args.frame_interval}
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    counts = tuple(int(n) for n in args.nodes.split(","))
    for line in asyncio.run(run(counts, args.seconds, args.tabs, args.profile, **options)):
        print(line)
    _ = ComfyRealityApp  # the app under test (imported through benchmarks.scale)


if __name__ == "__main__":
    main()
