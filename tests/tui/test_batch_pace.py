"""The event pump's pace: batches at the frame rate, half of it under a flood, a lone event at once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from comfy_reality.config import Settings
from comfy_reality.runtime.manager import AsyncTaskManager
from comfy_reality.runtime.models import TaskEvent
from comfy_reality.tui.backend import Backend
from comfy_reality.tui.batch_pace import FLOOD_EVENTS, FLOOD_FACTOR, batch_spacing
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
        self.backend: Backend | None = None

    def post_message(self, message: Any) -> bool:
        assert isinstance(message, TaskEventsBatch)
        self.posted.append((asyncio.get_running_loop().time(), len(message.events)))
        assert self.backend is not None
        self.backend.batch_handled()
        return True


def pump(frame_interval: float) -> tuple[PostedBatches, AsyncTaskManager, Any, Backend]:
    app = PostedBatches()
    backend = Backend(app, Settings(), write_log=lambda lines: None, frame_interval=frame_interval)  # type: ignore[arg-type]
    app.backend = backend
    manager = AsyncTaskManager()
    runtime = SimpleNamespace(task_manager=manager, executions={})
    return app, manager, runtime, backend


def event(number: int) -> TaskEvent:
    return TaskEvent(task_id=f"task_{number}", event_type="started")


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


async def test_a_flood_is_folded_at_half_the_frame_rate() -> None:
    frame = 0.05
    app, manager, runtime, backend = pump(frame_interval=frame)
    subscription = manager.events()
    task = asyncio.create_task(backend._pump_events(runtime, subscription))
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        number = 0
        while loop.time() - started < 1.0:  # an event every 5 ms, as a busy run sends
            subscription.push(event(number))
            number += 1
            await asyncio.sleep(0.005)
    finally:
        subscription.close()
        await task
    gaps = [b[0] - a[0] for a, b in zip(app.posted, app.posted[1:], strict=False)]
    assert gaps and min(gaps) >= frame * FLOOD_FACTOR - 0.005
    assert len(app.posted) <= 1.0 / (frame * FLOOD_FACTOR) + 2
    assert sum(count for _, count in app.posted) == number  # nothing lost, only folded later
