"""Under a flood the event pump holds batches back (see batch_pace); a key is still drawn at once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from textual import events

from comfy_reality.runtime.manager import AsyncTaskManager
from comfy_reality.runtime.models import TaskEvent, TaskType
from tests.tui.scenes import apply_scene, scene_app

from .helpers import WORKFLOWS, wait_for

FRAME = 0.2  # the pump's frame: batches 1.2 s apart under the flood (SLOW_FACTOR), far from a key's frame


async def test_a_key_is_drawn_before_the_next_batch_of_a_slowed_down_flood() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "running")
        drawn: list[tuple[object, int]] = []  # (focused widget, batches handled) of each frame
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is not None:
                drawn.append((app.focused, app.frames))

        app._display = display  # type: ignore[method-assign]
        manager = AsyncTaskManager()
        subscription = manager.events()
        app.backend.frame_interval = FRAME
        runtime = SimpleNamespace(task_manager=manager, executions={})
        pump = asyncio.create_task(app.backend._pump_events(runtime, subscription))  # type: ignore[arg-type]
        flooding = True

        async def flood() -> None:
            number = 0
            while flooding:
                subscription.push(
                    TaskEvent(task_id=f"t{number}", event_type="started", task_type=TaskType.NODE)
                )
                number += 1
                await asyncio.sleep(0.005)

        flooder = asyncio.create_task(flood())
        try:
            # Into the flood's slow pace: a batch was just handled, the next one is 0.8 s off.
            await wait_for(pilot, lambda: app.frames >= 3, what="the flood's batches")
            batches = app.frames
            await wait_for(pilot, lambda: app.frames > batches, what="a batch")
            batches, before = app.frames, app.focused
            app.post_message(events.Key("tab", None))
            await wait_for(pilot, lambda: any(f is not before for f, _ in drawn[-3:]), what="the Tab drawn")
            shown = next(count for focused, count in drawn if focused is not before)
            assert shown == batches  # drawn with no batch between the key and its frame
        finally:
            flooding = False
            await flooder
            subscription.close()
            await pump
