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
* cold start (:mod:`.cold_start`): fresh interpreters, ours beside a minimal Textual app, until the
  first frame, the frame answering a key pressed at it, and the process idle.

Frames are fed in small chunks every few milliseconds rather than all at once, as a socket
delivers them; the runtime's reader yields to the loop every 256 frames in the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from dataclasses import asdict
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

from .cold_start import cold_instructions, cold_rows, cold_start, instruction_rows
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


def run_benchmark(
    quick: bool = False,
    cold_only: bool = False,
    compare: str | None = None,
    cold_rounds: int | None = None,
    instructions: bool = False,
) -> list[Row]:
    rounds = cold_rounds or (3 if quick else 7)
    if cold_only:
        extra = instruction_rows(cold_instructions(compare)) if instructions else []
        return [*cold_rows(cold_start(rounds, compare)), *extra]
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
    cold = cold_start(rounds, compare)
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
        *(instruction_rows(cold_instructions(compare)) if instructions else []),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tui", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter flood and fewer key presses")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--cold-only", action="store_true", help="only the cold-start figures")
    parser.add_argument(
        "--compare",
        metavar="SRC",
        help="also cold-start the app from another tree's src folder (e.g. main's) in the same rounds",
    )
    parser.add_argument(
        "--cold-rounds",
        type=int,
        metavar="N",
        help="cold-start rounds (default 7, 3 with --quick): more give a steadier median on a loaded machine",
    )
    parser.add_argument(
        "--cold-instructions",
        action="store_true",
        help="also count cold-start instructions under callgrind (repeatable whatever the load; minutes)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    # Log lines go to the usual file, never to this report.
    configure_logging(level="info")
    as_json = args.json
    figures = run_benchmark(
        quick=quick,
        cold_only=args.cold_only,
        compare=args.compare,
        cold_rounds=args.cold_rounds,
        instructions=args.cold_instructions,
    )
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
