"""Preview flood: the TUI's progress flood with live preview frames, beside the same flood without.

``uv run python benchmarks/previews.py [--duration S] [--preview-fps N]``

A measurement, not a test. Two sessions of the app (headless, real runtime, embedded server),
each with four executions receiving the 13,000 msg/s progress flood through the runtime's own
frame handler (the shapes and machinery of ``comfy_reality.tui.benchmark``):

* ``without previews``: images off, as the app runs with ``--images off``;
* ``with previews``: half-block images on, and every execution also receiving binary preview
  frames (type 4, a 512x512 JPEG drawn by the embedded server) at ``--preview-fps`` each.

It reports frames composed per second, the lag from a step's arrival to the frame showing it,
and key-press latency, for both; the goal is frames per second within 10% of the run without
previews. Uses ``comfy_reality.tui.benchmark``'s helpers (moving with it into benchmarks/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import struct
import time
import uuid
from typing import Any

from benchmarks.tui import (
    EXECUTIONS,
    SIZE,
    TARGET_RATE,
    FrameMeter,
    StepFeeder,
    flood_prompt,
    measure_keys,
    opening_frames,
)
from comfy_reality.config import Settings
from comfy_reality.paths import bundled_workflows_dir
from comfy_reality.runtime.models import ConnectionState, WorkflowExecution
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.server.pictures import jpeg_bytes, render
from comfy_reality.server.values import ImageValue
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.widgets import NodeProgressList
from tests.tui.pilot import wait_for

PREVIEW_IMAGE_WITH_METADATA = 4


def preview_frames(prompt_id: str, count: int = 8) -> list[bytes]:
    """Binary type-4 frames for node 2 of ``prompt_id``: noise clearing into a picture."""
    frames = []
    for index in range(count):
        image = ImageValue(
            512, 512, pattern="gradient", seed=7, noise_level=1 - index / count, caption="seed 7"
        )
        meta = json.dumps(
            {
                "node_id": "2",
                "prompt_id": prompt_id,
                "display_node_id": "2",
                "parent_node_id": None,
                "real_node_id": "2",
                "image_type": "image/jpeg",
            }
        ).encode()
        frames.append(
            struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + jpeg_bytes(render(image))
        )
    return frames


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def flood(images: str, preview_fps: float, duration: float, key_presses: int) -> dict[str, Any]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=1000.0)) as server:
        settings = Settings(server_url=server.url, images=images)  # type: ignore[arg-type]
        app = ComfyRealityApp(settings, bundled_dir=bundled_workflows_dir(), use_journal=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
                timeout=20,
            )
            runtime = app.runtime
            assert runtime is not None
            meter = FrameMeter(app)
            prompt_ids = [str(uuid.uuid4()) for _ in range(EXECUTIONS)]
            for index, prompt_id in enumerate(prompt_ids):
                execution = WorkflowExecution(
                    workflow_id="flood",
                    name=f"flood-{index + 1}",
                    server_url=runtime.server_url,
                    client_id=runtime.client_id,
                    prompt_id=prompt_id,
                    prompt=flood_prompt(),
                )
                runtime._register(runtime._new_tracker(execution))  # registered as submit() does
                for text in opening_frames(prompt_id):
                    runtime._on_frame(text)
            previews = {p: preview_frames(p) for p in prompt_ids} if preview_fps > 0 else {}
            await wait_for(pilot, lambda: len(app.session.entries) == EXECUTIONS, timeout=10)
            selected = prompt_ids[-1]
            app.task_tree.select_execution(
                next(e.id for e in app.session.entries.values() if e.execution.prompt_id == selected)
            )
            await wait_for(pilot, lambda: "2" in app.query_one(NodeProgressList).snapshots)
            rows = app.query_one(NodeProgressList)
            feeder = StepFeeder(runtime, prompt_ids, selected, 10**6)
            sent_at = feeder.sent_at
            lags: list[float] = []
            last = [0.0]

            def on_frame(now: float) -> None:
                value = rows.snapshots["2"].value or 0
                if value != last[0] and int(value) in sent_at:
                    lags.append((now - sent_at[int(value)]) * 1000)
                    last[0] = value

            previews_sent = [0]
            done = asyncio.Event()

            async def feed() -> None:
                start = time.perf_counter()
                while (elapsed := time.perf_counter() - start) < duration:
                    await feeder.catch_up(int(TARGET_RATE * elapsed) - feeder.sent)
                    if previews:
                        due_previews = int(preview_fps * elapsed) * EXECUTIONS - previews_sent[0]
                        for index in range(max(0, due_previews)):
                            prompt_id = prompt_ids[index % EXECUTIONS]
                            frames = previews[prompt_id]
                            runtime._on_frame(frames[(previews_sent[0] // EXECUTIONS) % len(frames)])
                            previews_sent[0] += 1
                    await asyncio.sleep(0.002)
                done.set()

            frames_before = meter.frames
            start = time.perf_counter()
            meter.watchers.append(on_frame)
            feeding = asyncio.create_task(feed())
            await asyncio.sleep(min(0.3, duration / 4))
            keys = await measure_keys(pilot, app, meter, key_presses, 0.05)
            await done.wait()
            await feeding
            meter.watchers.remove(on_frame)
            elapsed = time.perf_counter() - start
            preview_widget = app.main_screen.execution_view.live_preview
            return {
                "images": images,
                "fps": (meter.frames - frames_before) / elapsed,
                "messages_per_s": feeder.sent / elapsed,
                "previews_sent": previews_sent[0],
                "previews_drawn": preview_widget.frames_drawn if preview_widget else 0,
                "decodes": app.images.loader.decodes,
                "lag_p50_ms": pct(lags, 0.5),
                "lag_p95_ms": pct(lags, 0.95),
                "key_p50_ms": pct(keys, 0.5),
                "key_p95_ms": pct(keys, 0.95),
            }


async def main_async(duration: float, preview_fps: float, rounds: int) -> None:
    results: dict[str, list[dict[str, Any]]] = {"without previews": [], "with previews": []}
    for _ in range(rounds):  # alternate, so a noisy neighbour hits both alike
        results["without previews"].append(await flood("off", 0.0, duration, 10))
        results["with previews"].append(await flood("halfblock", preview_fps, duration, 10))
    print(
        f"{'run':<18}{'fps':>8}{'msg/s':>9}{'prev sent':>11}{'drawn':>7}{'lag p50':>9}{'lag p95':>9}"
        f"{'key p50':>9}{'key p95':>9}"
    )
    medians: dict[str, float] = {}
    for name, runs in results.items():
        fps = statistics.median(r["fps"] for r in runs)
        medians[name] = fps
        last = runs[-1]
        print(
            f"{name:<18}{fps:>8.1f}{statistics.median(r['messages_per_s'] for r in runs):>9.0f}"
            f"{last['previews_sent']:>11}{last['previews_drawn']:>7}"
            f"{statistics.median(r['lag_p50_ms'] for r in runs):>9.1f}"
            f"{statistics.median(r['lag_p95_ms'] for r in runs):>9.1f}"
            f"{statistics.median(r['key_p50_ms'] for r in runs):>9.1f}"
            f"{statistics.median(r['key_p95_ms'] for r in runs):>9.1f}"
        )
    change = (medians["with previews"] / medians["without previews"] - 1) * 100
    print(f"frame rate with previews: {change:+.1f}% (goal: no lower than -10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of flood per run")
    parser.add_argument(
        "--preview-fps", type=float, default=10.0, help="preview frames per second per execution"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each kind (medians reported)")
    args = parser.parse_args()
    asyncio.run(main_async(args.duration, args.preview_fps, args.rounds))


if __name__ == "__main__":
    main()
