"""RichTaskPrinter, checked through Rich's recording console (export_text), not by eye."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from rich.console import Console

from comfy_reality.runtime import AsyncTaskManager, Task, TaskEvent, TaskStatus, TaskType
from comfy_reality.runtime.models import utc_now
from comfy_reality.runtime.printer import RichTaskPrinter, format_duration, progress_bar


def recording_console(width: int = 120) -> Console:
    return Console(record=True, width=width, height=40, color_system=None, force_terminal=False)


def frame(printer: RichTaskPrinter) -> str:
    console = recording_console()
    console.print(printer.render())
    return console.export_text()


def line_of(text: str, needle: str) -> str:
    lines = [line for line in text.splitlines() if needle in line]
    assert lines, f"{needle!r} not in:\n{text}"
    return lines[0]


async def workflow(manager: AsyncTaskManager, nodes: int = 3) -> tuple[Task, list[Task]]:
    root = manager.add_task(Task(name="txt2img", type=TaskType.WORKFLOW, prompt_id="p-1"))
    children = [
        manager.add_task(
            Task(
                name=f"KSampler #{i}",
                type=TaskType.NODE,
                parent_id=root.id,
                node_id=str(i),
                class_type="KSampler",
            )
        )
        for i in range(1, nodes + 1)
    ]
    return root, children


def attached(manager: AsyncTaskManager) -> RichTaskPrinter:
    """A printer fed synchronously by the manager, the way start() feeds it."""
    printer = RichTaskPrinter(recording_console(), max_node_rows=50)
    printer._manager = manager
    manager.subscribe(printer.handle_event)
    return printer


async def test_pending_tasks_show_names_from_the_task_not_the_message() -> None:
    manager = AsyncTaskManager()
    printer = attached(manager)
    # Names are never parsed out of the message text: a name with quotes would break message.split("'")[1].
    manager.add_task(Task(name="Bob's 'odd' flow", type=TaskType.WORKFLOW))
    text = frame(printer)
    assert "Bob's 'odd' flow" in text
    assert "· pending" in line_of(text, "Bob's")
    assert "0%" in line_of(text, "Bob's")


async def test_running_node_shows_bar_steps_and_elapsed_time() -> None:
    manager = AsyncTaskManager()
    printer = attached(manager)
    root, (first, second, _) = await workflow(manager)
    manager.start(root.id)
    manager.start(first.id)
    manager.finish(first.id, TaskStatus.COMPLETED)
    manager.start(second.id)
    now = utc_now()
    second.started_at = now - timedelta(seconds=3)
    manager.update(second.id, value=5.0, max=10.0)
    manager.set_progress(second.id, 0.5)
    printer.clock = lambda: now
    text = frame(printer)
    row = line_of(text, "KSampler #2")
    assert "▶ running" in row
    assert progress_bar(0.5) in row
    assert "5/10" in row
    assert "3.0s" in row
    assert "✓ completed" in line_of(text, "KSampler #1")
    assert "· pending" in line_of(text, "KSampler #3")
    # The workflow row sums its nodes: 1 done + 0.5 of 3 nodes.
    assert "50%" in line_of(text, "txt2img")


async def test_completed_failed_cancelled_and_cached() -> None:
    manager = AsyncTaskManager()
    printer = attached(manager)
    root, (cached, failed, never_run) = await workflow(manager)
    manager.start(root.id)
    manager.finish(cached.id, TaskStatus.COMPLETED, cached=True)
    manager.start(failed.id)
    manager.finish(failed.id, TaskStatus.FAILED, error="CUDA out of memory", error_type="RuntimeError")
    manager.finish(never_run.id, TaskStatus.CANCELLED, status_detail="not run: node 2 failed")
    manager.finish(root.id, TaskStatus.FAILED, error="node 2 failed")
    text = frame(printer)
    assert "✓ cached" in line_of(text, "KSampler #1")
    assert "100%" in line_of(text, "KSampler #1")
    assert "✗ failed: CUDA out of memory" in line_of(text, "KSampler #2")
    assert "⊘ cancelled: not run: node 2 failed" in line_of(text, "KSampler #3")
    assert "✗ failed: node 2 failed" in line_of(text, "txt2img")
    # Only the node that completed counts towards the workflow's bar: 1 of 3.
    assert progress_bar(1 / 3) in line_of(text, "txt2img")


def test_events_alone_without_a_manager_including_failed_without_data() -> None:
    printer = RichTaskPrinter(recording_console())
    now = utc_now()

    def event(kind: str, task_id: str, **kw: object) -> TaskEvent:
        return TaskEvent(task_id=task_id, event_type=kind, timestamp=now, **kw)  # type: ignore[arg-type]

    printer.handle_event(event("created", "w", data={"name": "flow"}, task_type=TaskType.WORKFLOW))
    printer.handle_event(event("created", "n1", data={"name": "Save #9"}, parent_id="w"))
    printer.handle_event(event("created", "n2", data={"name": "Load #1"}, parent_id="w"))
    printer.handle_event(event("created", "n3", data={"name": "Load #2"}, parent_id="w"))
    printer.handle_event(event("progress", "n1", data={"progress": 0.25, "value": 1, "max": 4}))
    # event.data is None on this failed event: it must render, not crash.
    printer.handle_event(event("failed", "w"))
    printer.handle_event(event("completed", "n2", data={"cached": True}))
    printer.handle_event(event("cancelled", "n3"))
    # A progress event arriving after the end changes nothing.
    printer.handle_event(event("progress", "n3", data={"progress": 0.9}))
    # An event for a task never announced still gets a row (named by its id).
    printer.handle_event(event("started", "stray"))
    text = frame(printer)
    assert "✗ failed: unknown error" in line_of(text, "flow")
    assert "1/4" in line_of(text, "Save #9")
    assert progress_bar(0.25) in line_of(text, "Save #9")
    assert "✓ cached" in line_of(text, "Load #1")
    row = line_of(text, "Load #2")
    assert "⊘ cancelled" in row and progress_bar(0.9) not in row
    assert "▶ running" in line_of(text, "stray")


async def test_large_workflow_is_summarised() -> None:
    manager = AsyncTaskManager()
    printer = attached(manager)
    printer.max_node_rows = 5
    root, nodes = await workflow(manager, nodes=40)
    manager.start(root.id)
    for node in nodes[:30]:
        manager.finish(node.id, TaskStatus.COMPLETED)
    manager.start(nodes[30].id)
    text = frame(printer)
    assert "KSampler #31" in text  # the running node is always shown
    summary = line_of(text, "more")
    assert "… 36 more" in summary
    assert "9 pending" in summary and "27 completed" in summary


async def test_start_draws_until_stopped_and_ends_on_the_final_frame() -> None:
    manager = AsyncTaskManager()
    console = recording_console()
    printer = RichTaskPrinter(console, refresh_per_second=50)
    runner = asyncio.create_task(printer.start(manager, live=True))
    await asyncio.sleep(0)
    root, (a, b, c) = await workflow(manager)
    manager.start(root.id)
    for node in (a, b):
        manager.start(node.id)
        for step in range(1, 101):
            manager.set_progress(node.id, step / 100)
        manager.finish(node.id, TaskStatus.COMPLETED)
    manager.finish(c.id, TaskStatus.CANCELLED, status_detail="interrupted")
    manager.finish(root.id, TaskStatus.CANCELLED)
    printer.stop()
    await asyncio.wait_for(runner, timeout=5)
    text = console.export_text()
    assert "✓ completed" in line_of(text, "KSampler #1")
    assert "⊘ cancelled: interrupted" in line_of(text, "KSampler #3")
    assert "⊘ cancelled" in line_of(text, "txt2img")
    # Its subscription is gone: no leak after stopping.
    assert manager._subscriptions == []


async def test_start_does_not_spin_while_idle() -> None:
    manager = AsyncTaskManager()
    printer = RichTaskPrinter(recording_console(), refresh_per_second=100)
    root = manager.add_task(Task(name="idle", type=TaskType.WORKFLOW))
    manager.finish(root.id, TaskStatus.COMPLETED)
    runner = asyncio.create_task(printer.start(manager))
    # Give it many loop turns; with nothing running it must not draw frames.
    for _ in range(200):
        await asyncio.sleep(0)
    assert printer.frames <= 1
    printer.stop()
    await asyncio.wait_for(runner, timeout=5)
    assert "✓ completed" in line_of(printer.console.export_text(), "idle")


async def test_cancelling_start_still_leaves_cleanly() -> None:
    manager = AsyncTaskManager()
    printer = RichTaskPrinter(recording_console())
    runner = asyncio.create_task(printer.start(manager))
    await asyncio.sleep(0)
    manager.add_task(Task(name="late", type=TaskType.WORKFLOW))
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert manager._subscriptions == []
    assert "late" in printer.console.export_text()


def test_durations_format() -> None:
    assert format_duration(None) == ""
    assert format_duration(2.345) == "2.3s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3 * 3600 + 120) == "3h02m"
    assert progress_bar(1.0).endswith("100%")
    assert progress_bar(-1).startswith("░")


async def test_the_name_gets_the_room_and_the_status_what_it_needs_at_80_columns() -> None:
    manager = AsyncTaskManager()
    printer = RichTaskPrinter(recording_console(80))
    printer._manager = manager
    manager.subscribe(printer.handle_event)
    root, (first, second, _third) = await workflow(manager)
    manager.update(root.id, name="a-workflow-named-at-length")
    manager.start(root.id)
    manager.finish(first.id, TaskStatus.COMPLETED)
    manager.finish(
        second.id, TaskStatus.CANCELLED, status_detail="not run: node 7 (KSamplerAdvanced) failed upstream"
    )
    console = recording_console(80)
    console.print(printer.render())
    text = console.export_text()
    assert "a-workflow-named-at-length" in text  # whole: the long status gives way
    cancelled = line_of(text, "KSampler #2").split("│")
    assert cancelled[2].strip().startswith("⊘ cancelled") and cancelled[2].strip().endswith("…")
    assert len(line_of(text, "KSampler #3").split("│")[2]) <= 20  # not a third of the screen
    assert all(len(line) <= 80 for line in text.splitlines())


async def test_a_run_removed_from_the_queue_says_so_once_on_the_workflow_row() -> None:
    manager = AsyncTaskManager()
    printer = attached(manager)
    root, children = await workflow(manager)
    for child in children:
        manager.finish(
            child.id, TaskStatus.CANCELLED, status_detail="not run: removed from the queue before it ran"
        )
    manager.finish(root.id, TaskStatus.CANCELLED, status_detail="removed from the queue before it ran")
    text = frame(printer)
    assert "⊘ cancelled: removed from the queue" in line_of(text, "txt2img")
    assert text.count("removed from the queue") == 1
    for child in children:
        row = line_of(text, child.name)
        assert "⊘ cancelled" in row and "removed" not in row
