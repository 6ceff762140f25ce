"""The in-process sections of the suite, no server needed: the task manager's event rate and the WS client's
message folding, each beside a bare baseline measured in the same run.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from comfy_reality.runtime.models import Task, TaskEvent, TaskType, utc_now

from .report import Report, Row

# ------------------------------------------------------------------------ 1. manager
MANAGER_TARGET = 6.0  # cost per event with 10 subscribers, as a multiple of a bare asyncio.Queue's


async def _bare_queue_rate(n: int) -> float:
    """The floor: the same events through one asyncio.Queue and one consumer."""
    queue: asyncio.Queue[TaskEvent] = asyncio.Queue()
    event = TaskEvent.model_construct(
        task_id="t",
        event_type="progress",
        timestamp=utc_now(),
        data={"progress": 0.5},
        message=None,
        task_type=TaskType.NODE,
        parent_id=None,
        seq=0,
    )
    received = 0

    async def consume() -> None:
        nonlocal received
        while received < n:
            await queue.get()
            received += 1

    consumer = asyncio.create_task(consume())
    start = time.perf_counter()
    for i in range(n):
        queue.put_nowait(event)
        if i % 1000 == 999:
            await asyncio.sleep(0)
    await consumer
    return n / (time.perf_counter() - start)


async def _manager_rate(n: int, subscribers: int, tasks: int = 100) -> tuple[float, dict[str, int]]:
    """Events/s through ``set_progress`` across ``tasks`` tasks, as the runtime emits them.

    With subscribers: all but one are quick async subscribers; the last is slow (1 ms per
    event), which must not slow the producer (its buffer coalesces progress instead).
    """
    from comfy_reality.runtime.manager import AsyncTaskManager

    manager = AsyncTaskManager()
    ids = [manager.add_task(Task(name=f"node {i}", type=TaskType.NODE)).id for i in range(tasks)]
    for task_id in ids:
        manager.start(task_id)
    delivered = [0]

    async def quick(_event: TaskEvent) -> None:
        delivered[0] += 1

    async def slow(_event: TaskEvent) -> None:
        delivered[0] += 1
        await asyncio.sleep(0.001)

    for index in range(subscribers):
        manager.subscribe(slow if index == subscribers - 1 and subscribers > 1 else quick)
    start = time.perf_counter()
    for i in range(n):
        manager.set_progress(ids[i % tasks], (i % 1000) / 1000)
        if i % 1000 == 999:
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - start
    coalesced = sum(s.coalesced for s in manager._subscriptions)
    await manager.aclose()
    return n / elapsed, {"delivered": delivered[0], "coalesced": coalesced}


async def bench_manager(report: Report, quick: bool) -> None:
    """Rounds of (bare queue, manager with 0, 1 and 10 subscribers), the bare queue first in even
    rounds and last in odd ones; each figure is its median, each ratio the median of the per-round
    ratios. On a shared machine one bare figure taken once swings the ratio by ±30%; a baseline
    measured next to each measurement does not."""
    n = 50_000 if quick else 150_000
    rounds = 3 if quick else 5
    configs = (0, 1, 10)
    bare_rates: list[float] = []
    rates: dict[int, list[float]] = {subs: [] for subs in configs}
    ratios: dict[int, list[float]] = {subs: [] for subs in configs}
    counts: dict[int, dict[str, int]] = {}
    for round_index in range(rounds):
        measured: dict[int, float] = {}
        if round_index % 2 == 0:
            gc.collect()
            bare = await _bare_queue_rate(n)
        for subs in configs:
            gc.collect()
            measured[subs], counts[subs] = await _manager_rate(n, subs)
        if round_index % 2 == 1:
            gc.collect()
            bare = await _bare_queue_rate(n)
        bare_rates.append(bare)
        for subs in configs:
            rates[subs].append(measured[subs])
            ratios[subs].append(bare / measured[subs])
    bare_median = statistics.median(bare_rates)
    for subs in configs:
        ratio = statistics.median(ratios[subs])
        note = f"median of {rounds} rounds of {n:,} events; per-round ratios " + ", ".join(
            f"{r:.2f}" for r in ratios[subs]
        )
        if subs:
            note += f"; last round: {counts[subs]['delivered']:,} delivered, {counts[subs]['coalesced']:,} coalesced"
            if subs > 1:
                note += " (one subscriber sleeps 1 ms per event)"
        report.add(
            Row(
                "manager",
                f"events/s, {subs} subscriber{'s' if subs != 1 else ''}",
                statistics.median(rates[subs]),
                "ev/s",
                baseline=bare_median,
                baseline_name="bare asyncio.Queue",
                ratio=ratio,
                target=f"<= {MANAGER_TARGET:.0f}x bare per event" if subs == 10 else ">= 100,000 ev/s",
                ok=ratio <= MANAGER_TARGET if subs == 10 else statistics.median(rates[subs]) >= 100_000,
                note=note,
            )
        )


# ------------------------------------------------------------------------- 2. client
def _repo_fixture() -> Path | None:
    candidate = (
        Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "protocol" / "11_progress_rate.jsonl"
    )
    return candidate if candidate.is_file() else None


def progress_messages(steps: int = 2000) -> tuple[list[str], str, dict[str, Any], str]:
    """WS text frames of a 2000-step node: the recorded transcript if present, else the same shapes.

    Returns (frames, prompt_id, prompt, source description).
    """
    fixture = _repo_fixture()
    if fixture is not None:
        frames: list[str] = []
        prompt: dict[str, Any] = {}
        prompt_id = ""
        for line in fixture.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if (
                record.get("dir") == "http"
                and record.get("path") == "/prompt"
                and record.get("method") == "POST"
            ):
                prompt = record["request_json"]["prompt"]
                prompt_id = record["json"]["prompt_id"]
            elif record.get("dir") == "ws_in" and "json" in record:
                frames.append(json.dumps(record["json"]))
        return frames, prompt_id, prompt, f"{fixture.name} ({len(frames):,} recorded frames)"
    prompt_id = str(uuid.uuid4())
    prompt = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 120},
        },
        "2": {"class_type": "RealityProgress", "inputs": {"image": ["1", 0], "steps": steps, "delay": 0.0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }

    def frame(kind: str, **data: Any) -> str:
        return json.dumps({"type": kind, "data": data})

    def state(node: str, value: float, maximum: float, st: str) -> dict[str, Any]:
        return {
            "value": value,
            "max": maximum,
            "state": st,
            "node_id": node,
            "prompt_id": prompt_id,
            "display_node_id": node,
            "parent_node_id": None,
            "real_node_id": node,
        }

    ms = int(time.time() * 1000)
    frames = [
        frame("status", status={"exec_info": {"queue_remaining": 1}}),
        frame("execution_start", prompt_id=prompt_id, timestamp=ms),
        frame("execution_cached", nodes=[], prompt_id=prompt_id, timestamp=ms),
        frame("progress_state", prompt_id=prompt_id, nodes={"1": state("1", 0.0, 1.0, "running")}),
        frame("executing", node="1", display_node="1", prompt_id=prompt_id),
        frame("progress_state", prompt_id=prompt_id, nodes={"1": state("1", 1.0, 1.0, "finished")}),
        frame(
            "progress_state",
            prompt_id=prompt_id,
            nodes={"1": state("1", 1.0, 1.0, "finished"), "2": state("2", 0, 1.0, "running")},
        ),
        frame("executing", node="2", display_node="2", prompt_id=prompt_id),
    ]
    for step in range(1, steps + 1):
        frames.append(frame("progress", value=step, max=steps, prompt_id=prompt_id, node="2"))
        frames.append(
            frame(
                "progress_state",
                prompt_id=prompt_id,
                nodes={"1": state("1", 1.0, 1.0, "finished"), "2": state("2", step, steps, "running")},
            )
        )
    frames += [
        frame(
            "progress_state",
            prompt_id=prompt_id,
            nodes={"1": state("1", 1.0, 1.0, "finished"), "2": state("2", steps, steps, "finished")},
        ),
        frame("executing", node="3", display_node="3", prompt_id=prompt_id),
        frame(
            "executed",
            node="3",
            display_node="3",
            prompt_id=prompt_id,
            output={"images": [{"filename": "x.png", "subfolder": "", "type": "temp"}]},
        ),
        frame("execution_success", prompt_id=prompt_id, timestamp=ms + 300),
        frame("status", status={"exec_info": {"queue_remaining": 0}}),
        frame("executing", node=None, prompt_id=prompt_id),
    ]
    return frames, prompt_id, prompt, f"generated ({len(frames):,} frames, same shapes as 11_progress_rate)"


def _fold_frames(frames_per_run: list[tuple[str, list[str]]], prompt: dict[str, Any]) -> tuple[float, int]:
    """Feed whole transcripts through the runtime's frame handler (parse, route, fold into tasks).

    The tracker is registered exactly as ``submit`` does after the POST answer, so no server is
    involved: only the client-side cost per message is timed.
    """
    from comfy_reality.runtime.models import WorkflowExecution
    from comfy_reality.runtime.runtime import ComfyUIAsyncRuntime

    runtime = ComfyUIAsyncRuntime("http://127.0.0.1:9")
    events = [0]
    runtime.task_manager.subscribe(lambda _event: events.__setitem__(0, events[0] + 1))
    start = time.perf_counter()
    for prompt_id, frames in frames_per_run:
        execution = WorkflowExecution(
            workflow_id="bench",
            name="bench",
            server_url=runtime.server_url,
            client_id=runtime.client_id,
            prompt_id=prompt_id,
            prompt=prompt,
        )
        runtime._register(runtime._new_tracker(execution))
        for text in frames:
            runtime._on_frame(text)
    return time.perf_counter() - start, events[0]


async def bench_client(report: Report, quick: bool) -> None:
    frames, prompt_id, prompt, source = progress_messages()
    repeats = 2 if quick else 6
    runs = []
    for _ in range(repeats):
        fresh = str(uuid.uuid4())
        runs.append((fresh, [text.replace(prompt_id, fresh) for text in frames]))
    total = len(frames) * repeats

    start = time.perf_counter()
    for _, texts in runs:
        for text in texts:
            json.loads(text)
    bare = total / (time.perf_counter() - start)

    elapsed, events = _fold_frames(runs, prompt)
    rate = total / elapsed
    report.add(
        Row(
            "client",
            "WS messages/s parsed + folded into tasks",
            rate,
            "msg/s",
            baseline=bare,
            baseline_name="bare json.loads",
            ratio=bare / rate,
            target=">= 13,000 msg/s (recorded server rate)",
            ok=rate >= 13_000,
            note=f"{source}; {events:,} task events emitted",
        )
    )
