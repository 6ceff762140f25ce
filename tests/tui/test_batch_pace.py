"""The event pump's pace: batches at the frame rate, a quarter of it under a flood of node events,
half of it when a run changes state in a flood, a lone event at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from comfy_reality.config import Settings
from comfy_reality.runtime.manager import AsyncTaskManager
from comfy_reality.runtime.models import TaskEvent, TaskType
from comfy_reality.tui.backend import Backend
from comfy_reality.tui.batch_pace import (
    FLOOD_EVENTS,
    FLOOD_FACTOR,
    SLOW_FACTOR,
    batch_spacing,
    is_urgent,
)
from comfy_reality.tui.messages import TaskEventsBatch


def test_spacing_is_one_frame_unless_the_stream_floods() -> None:
    assert batch_spacing(0.04, 1, 0) == 0.04
    assert batch_spacing(0.04, FLOOD_EVENTS - 1, 0) == 0.04
    assert batch_spacing(0.04, FLOOD_EVENTS, 0) == 0.04 * FLOOD_FACTOR
    assert batch_spacing(0.04, 1, 1) == 0.04 * FLOOD_FACTOR


class PostedBatches:
    """Stands in for the app: records when each batch was posted and hands it back at once."""

    def __init__(self) -> None:
        self.posted: list[tuple[float, int]] = []
        self.batches: list[list[TaskEvent]] = []
        self.backend: Backend | None = None
        self.on_post: Callable[[int], None] | None = None
        """Called with the number of batches posted so far, right after each post."""

    def post_message(self, message: Any) -> bool:
        assert isinstance(message, TaskEventsBatch)
        self.posted.append((asyncio.get_running_loop().time(), len(message.events)))
        self.batches.append(message.events)
        assert self.backend is not None
        self.backend.batch_handled()
        if self.on_post is not None:
            self.on_post(len(self.posted))
        return True


def pump(frame_interval: float) -> tuple[PostedBatches, AsyncTaskManager, Any, Backend]:
    app = PostedBatches()
    backend = Backend(app, Settings(), write_log=lambda lines: None, frame_interval=frame_interval)  # type: ignore[arg-type]
    app.backend = backend
    manager = AsyncTaskManager()
    runtime = SimpleNamespace(task_manager=manager, executions={})
    return app, manager, runtime, backend


def event(number: int) -> TaskEvent:
    return TaskEvent(task_id=f"task_{number}", event_type="started", task_type=TaskType.NODE)


def test_only_a_run_changing_state_or_a_failure_is_urgent() -> None:
    def one(kind: str, task_type: TaskType) -> list[TaskEvent]:
        return [TaskEvent(task_id="t", event_type=kind, task_type=task_type)]  # type: ignore[arg-type]

    for kind in ("started", "completed", "progress", "updated", "cancelled"):
        assert not is_urgent(one(kind, TaskType.NODE)), kind
    assert is_urgent(one("failed", TaskType.NODE))
    for kind in ("created", "started", "completed", "failed", "cancelled"):
        assert is_urgent(one(kind, TaskType.WORKFLOW)), kind
    assert not is_urgent(one("progress", TaskType.WORKFLOW))


async def test_a_lone_event_after_a_quiet_spell_is_posted_at_once() -> None:
    app, manager, runtime, backend = pump(frame_interval=0.4)
    subscription = manager.events()
    task = asyncio.create_task(backend._pump_events(runtime, subscription))
    loop = asyncio.get_running_loop()
    try:
        subscription.push(event(0))
        await asyncio.sleep(0.6)  # quiet: more than the frame (and less than a flood's spacing)
        pushed = loop.time()
        subscription.push(event(1))
        for _ in range(100):
            if len(app.posted) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(app.posted) == 2
        assert app.posted[1][0] - pushed < 0.2  # not held back to a flood's pace (0.8 s)
    finally:
        subscription.close()
        await task


async def flood(subscription: Any, seconds: float) -> int:
    """An event every 5 ms, as a busy run sends; how many were pushed."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    number = 0
    while loop.time() - started < seconds:
        subscription.push(event(number))
        number += 1
        await asyncio.sleep(0.005)
    return number


async def test_a_flood_of_node_events_is_folded_at_a_quarter_of_the_frame_rate() -> None:
    frame = 0.05
    app, manager, runtime, backend = pump(frame_interval=frame)
    subscription = manager.events()
    task = asyncio.create_task(backend._pump_events(runtime, subscription))
    try:
        number = await flood(subscription, 1.5)
    finally:
        subscription.close()
        await task
    gaps = [b[0] - a[0] for a, b in zip(app.posted, app.posted[1:], strict=False)]
    # The first batch goes at once; under the flood they are SLOW_FACTOR frames apart.
    assert len(gaps) >= 3 and min(gaps[1:-1]) >= frame * SLOW_FACTOR - 0.005
    assert len(app.posted) <= 1.5 / (frame * SLOW_FACTOR) + 3
    assert sum(count for _, count in app.posted) == number  # nothing lost, only folded later


async def test_a_run_changing_state_in_a_flood_is_posted_at_the_flood_mark() -> None:
    frame = 0.2  # wide frames: a busy machine's timer lag stays well inside the margins below
    app, manager, runtime, backend = pump(frame_interval=frame)
    subscription = manager.events()
    task = asyncio.create_task(backend._pump_events(runtime, subscription))
    ended = TaskEvent(task_id="workflow", event_type="completed", task_type=TaskType.WORKFLOW)

    def on_post(posted: int) -> None:
        if posted == 3:  # well into the flood: its batches are SLOW_FACTOR frames apart by then
            subscription.push(ended)

    app.on_post = on_post
    try:
        number = await flood(subscription, 4.0)  # the third batch comes about 2.8 s in
    finally:
        subscription.close()
        await task
    carrying = next(index for index, events in enumerate(app.batches) if ended in events)
    assert carrying == 3  # the batch after the one it followed
    gap = app.posted[carrying][0] - app.posted[carrying - 1][0]
    # Posted at the flood mark, not held to the slow pace.
    assert frame * FLOOD_FACTOR - 0.01 <= gap < frame * (FLOOD_FACTOR + SLOW_FACTOR) / 2
    assert sum(count for _, count in app.posted) == number + 1
