"""How the TUI holds up under a progress flood (``python -m benchmarks.tui``).

A measurement, not a test. In one process and one event loop, as in real use:

* the app runs headless against the embedded server through the real runtime;
* several executions get WebSocket text frames (``progress`` + ``progress_state`` per step,
  the shapes of the recorded 2000-step transcript) fed through the runtime's own frame
  handler at a fixed total rate (13,000 msg/s: what a real server sends for one fast node),
  so parsing, folding into tasks, event fan-out, the per-frame batches and drawing all count;
* it reports frames drawn, event-to-screen lag (when a step value reached the terminal, from
  when its frame arrived) and key-press latency (key event posted to the frame showing the
  cursor moved), beside an idle baseline measured the same way in the same run;
* cold start: a fresh interpreter until the first frame with the workflow list drawn.

Frames are fed in small chunks every few milliseconds rather than all at once, as a socket
delivers them; the runtime's reader yields to the loop every 256 frames in the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from textual import events

from comfy_reality.config import Settings
from comfy_reality.logs import configure_logging
from comfy_reality.paths import bundled_workflows_dir
from comfy_reality.runtime.models import ConnectionState, WorkflowExecution
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.widgets import NodeProgressList
from tests.tui.pilot import wait_for

from .report import Row

TARGET_RATE = 13_000.0
KEY_TARGET_MS = 50.0
EXECUTIONS = 4
SIZE = (120, 40)


def figure(name: str, value: float | None, unit: str, **fields: Any) -> Row:
    """One row of the report, in the type the whole suite prints (``benchmarks.runtime`` includes these)."""
    return Row("tui", name, value, unit, **fields)


def flood_prompt() -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0}},
        "2": {"class_type": "RealityProgress", "inputs": {"image": ["1", 0], "steps": 10**6, "delay": 0.0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


def _frame(kind: str, **data: Any) -> str:
    return json.dumps({"type": kind, "data": data})


def _state(prompt_id: str, node: str, value: float, maximum: float, state: str) -> dict[str, Any]:
    return {
        "value": value,
        "max": maximum,
        "state": state,
        "node_id": node,
        "prompt_id": prompt_id,
        "display_node_id": node,
        "parent_node_id": None,
        "real_node_id": node,
    }


def opening_frames(prompt_id: str) -> list[str]:
    ms = int(time.time() * 1000)
    return [
        _frame("execution_start", prompt_id=prompt_id, timestamp=ms),
        _frame("execution_cached", nodes=["1"], prompt_id=prompt_id, timestamp=ms),
        _frame(
            "progress_state",
            prompt_id=prompt_id,
            nodes={
                "1": _state(prompt_id, "1", 1.0, 1.0, "finished"),
                "2": _state(prompt_id, "2", 0, 1.0, "running"),
            },
        ),
        _frame("executing", node="2", display_node="2", prompt_id=prompt_id),
    ]


def step_frames(prompt_id: str, step: int, steps: int) -> tuple[str, str]:
    return (
        _frame("progress", value=step, max=steps, prompt_id=prompt_id, node="2"),
        _frame(
            "progress_state",
            prompt_id=prompt_id,
            nodes={
                "1": _state(prompt_id, "1", 1.0, 1.0, "finished"),
                "2": _state(prompt_id, "2", step, steps, "running"),
            },
        ),
    )


class StepFeeder:
    """Feeds every execution one progress step at a time, straight into the runtime's frame handler,
    and notes when each step of the ``selected`` prompt went out (for the event-to-screen lag)."""

    def __init__(self, runtime: Any, prompt_ids: list[str], selected: str, steps: int) -> None:
        self.runtime = runtime
        self.prompt_ids = prompt_ids
        self.selected = selected
        self.steps = steps
        self.step = 0
        self.sent = 0  # frames handed to the runtime
        self.sent_at: dict[int, float] = {}

    async def catch_up(self, due: int) -> None:
        """Send whole steps (two frames per execution) until fewer than ``due`` frames are left.

        When the loop was slow they go out in a burst, as a socket's receive buffer hands them over."""
        while due >= 2 * EXECUTIONS:
            self.step += 1
            now = time.perf_counter()
            for prompt_id in self.prompt_ids:
                if prompt_id == self.selected:
                    self.sent_at[self.step] = now
                for text in step_frames(prompt_id, self.step, self.steps):
                    self.runtime._on_frame(text)
            self.sent += 2 * EXECUTIONS
            due -= 2 * EXECUTIONS
            if self.step % 32 == 0:
                await asyncio.sleep(0)  # the runtime's reader yields every 256 frames


class FrameMeter:
    """Counts the screen updates the app composes (what a terminal would be sent), with hooks per frame.

    The headless driver writes nothing, so the count is taken where the app hands each
    composed update to the driver.
    """

    def __init__(self, app: ComfyRealityApp) -> None:
        self.frames = 0
        self.watchers: list[Any] = []  # each called with the frame time on every frame
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            now = time.perf_counter()
            self.frames += 1
            for watcher in list(self.watchers):
                watcher(now)

        app._display = display  # type: ignore[method-assign]


async def measure_keys(
    pilot: Any, app: ComfyRealityApp, meter: FrameMeter, presses: int, gap: float
) -> list[float]:
    """Post a key as the terminal driver would; latency = until the frame that shows its effect."""
    tree = app.task_tree
    tree.focus()
    await pilot.pause()
    latencies: list[float] = []
    for index in range(presses):
        key = "down" if index % 2 == 0 else "up"
        before = tree.cursor_line
        shown = asyncio.Event()
        sent = time.perf_counter()
        result: list[float] = []

        def on_frame(
            now: float,
            before: int = before,
            shown: asyncio.Event = shown,
            result: list[float] = result,
            sent: float = sent,
        ) -> None:
            if tree.cursor_line != before and not shown.is_set():
                result.append(now - sent)
                shown.set()

        meter.watchers.append(on_frame)
        app.post_message(events.Key(key, None))
        try:
            await asyncio.wait_for(shown.wait(), timeout=5.0)
        except TimeoutError:
            result.append(5.0)
        meter.watchers.remove(on_frame)
        latencies.append(result[0] * 1000)
        await asyncio.sleep(gap)
    return latencies


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def flood_run(duration: float, rate: float, key_presses: int) -> dict[str, Any]:
    """Idle baseline, then the flood, in one app session."""
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=1000.0)) as server:
        app = ComfyRealityApp(Settings(server_url=server.url), bundled_dir=bundled_workflows_dir())
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
                timeout=20,
            )
            runtime = app.runtime
            assert runtime is not None
            meter = FrameMeter(app)
            prompt = flood_prompt()
            prompt_ids = [str(uuid.uuid4()) for _ in range(EXECUTIONS)]
            for index, prompt_id in enumerate(prompt_ids):
                execution = WorkflowExecution(
                    workflow_id="flood",
                    name=f"flood-{index + 1}",
                    server_url=runtime.server_url,
                    client_id=runtime.client_id,
                    prompt_id=prompt_id,
                    prompt=dict(prompt),
                )
                # Registered exactly as submit() does once the POST is answered.
                runtime._register(runtime._new_tracker(execution))
                for text in opening_frames(prompt_id):
                    runtime._on_frame(text)
            await wait_for(pilot, lambda: len(app.session.entries) == EXECUTIONS, timeout=10)
            selected_prompt = prompt_ids[-1]  # newest: the tree's top branch
            app.task_tree.select_execution(
                next(e.id for e in app.session.entries.values() if e.execution.prompt_id == selected_prompt)
            )
            await wait_for(pilot, lambda: "2" in app.query_one(NodeProgressList).snapshots)

            # ---- idle baseline: same app, same executions, nothing arriving
            frames_before = meter.frames
            idle_start = time.perf_counter()
            idle_keys = await measure_keys(pilot, app, meter, key_presses, 0.05)
            idle_elapsed = time.perf_counter() - idle_start
            idle_fps = (meter.frames - frames_before) / idle_elapsed

            # ---- flood
            steps = 10**6
            feeder = StepFeeder(runtime, prompt_ids, selected_prompt, steps)
            sent_at = feeder.sent_at
            lags: list[float] = []
            rows = app.query_one(NodeProgressList)
            last_shown = [0.0]

            def on_frame_lag(now: float) -> None:
                value = rows.snapshots["2"].value or 0
                if value != last_shown[0] and int(value) in sent_at:
                    lags.append((now - sent_at[int(value)]) * 1000)
                    last_shown[0] = value

            flood_done = asyncio.Event()

            async def feed() -> None:
                """Keep the total at ``rate`` msgs/s of wall time."""
                start = time.perf_counter()
                while (elapsed := time.perf_counter() - start) < duration:
                    await feeder.catch_up(int(rate * elapsed) - feeder.sent)
                    await asyncio.sleep(0.002)
                flood_done.set()

            frames_before = meter.frames
            events_before = app.frames
            flood_start = time.perf_counter()
            meter.watchers.append(on_frame_lag)
            feeding = asyncio.create_task(feed())
            # Keys pressed while the flood runs: latency measured on the frames that show them.
            await asyncio.sleep(min(0.3, duration / 4))
            flood_keys = await measure_keys(pilot, app, meter, key_presses, 0.05)
            await flood_done.wait()
            await feeding
            meter.watchers.remove(on_frame_lag)
            flood_elapsed = time.perf_counter() - flood_start
            await pilot.pause()
            flood_fps = (meter.frames - frames_before) / flood_elapsed
            return {
                "sent": feeder.sent,
                "elapsed": flood_elapsed,
                "rate": feeder.sent / flood_elapsed,
                "batches": app.frames - events_before,
                "flood_fps": flood_fps,
                "idle_fps": idle_fps,
                "lags": lags,
                "idle_keys": idle_keys,
                "flood_keys": flood_keys,
                "received": runtime.messages_received,
            }


# The app started as ``comfy-reality-tui`` starts it in a terminal (collections held, the settings'
# sources read and validated after the first frame, the file log, the log tap, long-lived objects
# frozen a second after the first frame, outside these marks), headless. FIRST: the first frame handed to the terminal driver (what a user first
# sees); READY: the screen has handled its events and the process went idle (as Pilot waits).
COLD_CHILD = r"""
import asyncio, sys, time
from pathlib import Path
try:
    from comfy_reality.tui.gc_tuning import hold_collections
except ImportError:  # a tree from before it (PYTHONPATH=OLD/src measures one with this benchmark)
    hold_collections = lambda: None
hold_collections()  # as comfy-reality-tui's main does, before the settings and the app load
from comfy_reality import startup
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.logtap import LogTap

async def main():
    if hasattr(startup, "read"):  # read now, validated by the model after the first frame, as in a terminal
        settings = startup.read(None, server_url="http://127.0.0.1:9")
        startup.start_logging(settings.first_frame)
    else:  # a tree from before it
        settings = startup.load(None, server_url="http://127.0.0.1:9")
        startup.start_logging(settings)
    app = ComfyRealityApp(
        settings, connect=False, bundled_dir=Path(sys.argv[1]), log_tap=LogTap(), freeze_long_lived=True
    )
    display = app._display

    def first_frame(screen, renderable):
        display(screen, renderable)
        if renderable is not None and app._display is first_frame:
            app._display = display
            print("FIRST", time.time(), time.process_time(), flush=True)

    app._display = first_frame
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        print("READY", time.time(), time.process_time(), flush=True)
        while not app.workflow_files:
            await pilot.pause(0.001)
        await pilot.pause()
        print("LISTED", time.time(), flush=True)

asyncio.run(main())
"""

# The floor: a minimal Textual app with the same kinds of panes, measured the same way.
MINIMAL_CHILD = r"""
import asyncio, time
from textual.app import App
from textual.widgets import Footer, Header, RichLog, Tree

class Minimal(App[None]):
    def compose(self):
        yield Header()
        yield Tree("workflows")
        yield RichLog()
        yield Footer()

async def main():
    app = Minimal()
    display = app._display

    def first_frame(screen, renderable):
        display(screen, renderable)
        if renderable is not None and app._display is first_frame:
            app._display = display
            print("FIRST", time.time(), time.process_time(), flush=True)

    app._display = first_frame
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        print("READY", time.time(), time.process_time(), flush=True)

asyncio.run(main())
"""
COLD_TARGET = 1.2


def _child_times(code: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Milliseconds from spawning a fresh interpreter to each mark the child prints (FIRST, READY, LISTED)."""
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env
    )
    marks: dict[str, float] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) in (2, 3) and parts[0] in ("FIRST", "READY", "LISTED"):
            marks[parts[0]] = (float(parts[1]) - start) * 1000
            if len(parts) == 3:  # the child's CPU time so far (all threads): steadier on a shared machine
                marks[parts[0] + "_CPU"] = float(parts[2]) * 1000
    return marks


def cold_start(repeats: int) -> dict[str, list[float]]:
    """Spawn-to-first-frame and spawn-to-ready of the app and of a minimal Textual app, in alternating pairs.

    Bytecode present: PYTHONDONTWRITEBYTECODE unset and a private cache prefix, warmed by one
    unmeasured pair (a user's install has its bytecode).
    """
    keys = ("ours", "first", "listed", "minimal", "minimal_first", "ratios", "first_ratios")
    keys += ("cpu", "first_cpu", "minimal_cpu", "minimal_first_cpu", "cpu_ratios", "first_cpu_ratios")
    result: dict[str, list[float]] = {key: [] for key in keys}
    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-") as home:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        # A private app home: the benchmark never opens the user's journal, log or config.
        env.update(COMFY_REALITY_HOME=home, PYTHONPYCACHEPREFIX=str(Path(home) / "pycache"))
        ours_args = [str(bundled_workflows_dir())]
        for i in range(repeats + 1):
            if i % 2:
                ours = _child_times(COLD_CHILD, ours_args, env)
                minimal = _child_times(MINIMAL_CHILD, [], env)
            else:
                minimal = _child_times(MINIMAL_CHILD, [], env)
                ours = _child_times(COLD_CHILD, ours_args, env)
            if i == 0:
                continue  # warm-up: bytecode written, files in the OS cache
            result["ours"].append(ours["READY"])
            result["first"].append(ours["FIRST"])
            result["listed"].append(ours.get("LISTED", float("nan")))
            result["minimal"].append(minimal["READY"])
            result["minimal_first"].append(minimal["FIRST"])
            result["ratios"].append(ours["READY"] / minimal["READY"])
            result["first_ratios"].append(ours["FIRST"] / minimal["FIRST"])
            for mark, key in (("READY", "cpu"), ("FIRST", "first_cpu")):
                result[key].append(ours[mark + "_CPU"])
                result["minimal_" + key].append(minimal[mark + "_CPU"])
                result[key + "_ratios"].append(ours[mark + "_CPU"] / minimal[mark + "_CPU"])
    return result


def _cpu_note(cold: dict[str, list[float]], key: str) -> str:
    """The same mark in CPU time (the child's, all threads), which others on the machine disturb less."""
    median = statistics.median
    return (
        f"; CPU {median(cold[key]):.0f} ms vs {median(cold['minimal_' + key]):.0f} ms, per-pair ratio "
        f"{median(cold[key + '_ratios']):.2f}"
    )


def cold_rows(cold: dict[str, list[float]]) -> list[Row]:
    """The two cold-start figures: first frame painted, and ready (events handled, process idle)."""
    median = statistics.median
    return [
        figure(
            "cold start to the first frame painted",
            round(median(cold["first"])),
            "ms",
            baseline=round(median(cold["minimal_first"])),
            baseline_name="minimal Textual app (Header, Tree, RichLog, Footer)",
            ratio=round(median(cold["first_ratios"]), 2),
            target=f"<= {COLD_TARGET}x",
            ok=median(cold["first_ratios"]) <= COLD_TARGET,
            note="spawn to the first screen update handed to the driver; per-pair ratios: "
            + ", ".join(f"{r:.2f}" for r in cold["first_ratios"])
            + _cpu_note(cold, "first_cpu"),
        ),
        figure(
            "cold start to first interactive frame",
            round(median(cold["ours"])),
            "ms",
            baseline=round(median(cold["minimal"])),
            baseline_name="minimal Textual app (Header, Tree, RichLog, Footer)",
            ratio=round(median(cold["ratios"]), 2),
            target=f"<= {COLD_TARGET}x",
            ok=median(cold["ratios"]) <= COLD_TARGET,
            note="spawn to events handled and the process idle (Pilot's pause); fresh interpreter, headless "
            "driver, started as comfy-reality-tui starts in a terminal (settings validated after the first frame, "
            "file log, log tap; the freeze a second later is outside it), bytecode present; "
            f"median of {len(cold['ratios'])} alternating pairs; per-pair ratios: "
            + ", ".join(f"{r:.2f}" for r in cold["ratios"])
            + f"; workflow list drawn at {median(cold['listed']):.0f} ms; runs: "
            + ", ".join(f"{t:.0f}" for t in cold["ours"])
            + _cpu_note(cold, "cpu"),
        ),
    ]


def run_benchmark(quick: bool = False, cold_only: bool = False) -> list[Row]:
    if cold_only:
        return cold_rows(cold_start(3 if quick else 7))
    duration = 1.5 if quick else 4.0
    presses = 10 if quick else 20
    previous_home = os.environ.get("COMFY_REALITY_HOME")
    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-") as home:
        os.environ["COMFY_REALITY_HOME"] = home  # never touch the user's journal
        try:
            result = asyncio.run(flood_run(duration, TARGET_RATE, presses))
        finally:
            if previous_home is None:
                os.environ.pop("COMFY_REALITY_HOME", None)
            else:
                os.environ["COMFY_REALITY_HOME"] = previous_home
    cold = cold_start(3 if quick else 7)
    lags, idle_keys, flood_keys = result["lags"], result["idle_keys"], result["flood_keys"]
    key_p95 = _pct(flood_keys, 0.95)
    return [
        figure(
            "WS messages fed (rate achieved)",
            round(result["rate"]),
            "msg/s",
            target=f"{TARGET_RATE:,.0f} msg/s",
            ok=result["rate"] >= TARGET_RATE * 0.9,
            note=f"{result['sent']:,} frames over {result['elapsed']:.1f}s into {EXECUTIONS} executions",
        ),
        figure(
            "frames drawn during the flood",
            round(result["flood_fps"], 1),
            "frames/s",
            baseline=round(result["idle_fps"], 1),
            baseline_name="idle (keys only)",
            note=f"{result['batches']} task-event batches handled (one per frame at most)",
        ),
        figure(
            "event-to-screen lag p50",
            round(_pct(lags, 0.5), 1),
            "ms",
            note=f"p95 {_pct(lags, 0.95):.1f} ms, max {max(lags) if lags else float('nan'):.1f} ms over "
            f"{len(lags)} frames that showed a new step",
        ),
        figure(
            "key-press latency p95 during the flood",
            round(key_p95, 1),
            "ms",
            baseline=round(_pct(idle_keys, 0.95), 1),
            baseline_name="idle p95",
            ratio=round(key_p95 / max(_pct(idle_keys, 0.95), 0.001), 2),
            target=f"< {KEY_TARGET_MS:.0f} ms",
            ok=key_p95 < KEY_TARGET_MS,
            note=f"p50 {_pct(flood_keys, 0.5):.1f} ms (idle p50 {_pct(idle_keys, 0.5):.1f} ms), "
            f"{len(flood_keys)} presses each",
        ),
        *cold_rows(cold),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tui", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter flood and fewer key presses")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--cold-only", action="store_true", help="only the cold-start figures")
    args = parser.parse_args(argv)
    quick = args.quick
    # Log lines go to the usual file, never to this report.
    configure_logging(level="info")
    as_json = args.json
    figures = run_benchmark(quick=quick, cold_only=args.cold_only)
    if as_json:
        print(json.dumps([asdict(f) for f in figures], indent=2))
        return
    width = max(len(f.name) for f in figures)
    print(
        f"TUI benchmark ({'quick' if quick else 'full'}), terminal {SIZE[0]}x{SIZE[1]}, {EXECUTIONS} executions"
    )
    for f in figures:
        value = "n/a" if f.value is None else f"{f.value:,}"
        line = f"  {f.name:<{width}}  {value:>10} {f.unit}"
        if f.baseline is not None:
            line += f"   ({f.baseline_name}: {f.baseline:,} {f.unit})"
        if f.target:
            line += f"   target {f.target}: {'OK' if f.ok else 'MISSED'}"
        print(line)
        if f.note:
            print(f"  {'':<{width}}  {f.note}")


if __name__ == "__main__":
    main()
