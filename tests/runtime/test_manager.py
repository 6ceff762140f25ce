"""AsyncTaskManager: each rule a naive task manager gets wrong, with a test that fails when it is broken."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from comfy_reality.runtime import AsyncTaskManager, Task, TaskEvent, TaskStatus, TaskType, current_task_var
from comfy_reality.runtime import manager as manager_module


async def test_ids_are_unique_across_tasks_created_from_one_asyncio_task() -> None:
    # Ids built from the asyncio task name and len(self._tasks) would repeat: after a
    # forget() two tasks created from the same coroutine would get the same id.
    manager = AsyncTaskManager()
    first = await manager.create_task("a")
    manager.forget(first.id)
    second = await manager.create_task("b")
    third = await manager.create_task("c")
    assert len({first.id, second.id, third.id}) == 3


async def test_ids_unique_under_concurrency() -> None:
    manager = AsyncTaskManager()
    async with asyncio.TaskGroup() as tg:
        created = [tg.create_task(manager.create_task(f"t{i}")) for i in range(200)]
    ids = {t.result().id for t in created}
    assert len(ids) == 200


async def test_failure_path_reports_exception_type() -> None:
    # A parameter named `type` would shadow the builtin, so `type(e).__name__` in the except
    # branch would raise TypeError and hide the real error.
    manager = AsyncTaskManager()
    events: list[TaskEvent] = []
    manager.subscribe(events.append)
    with pytest.raises(KeyError):
        async with manager.task_context("boom", TaskType.SYSTEM):
            raise KeyError("missing")
    failed = [e for e in events if e.event_type == "failed"]
    assert len(failed) == 1
    assert failed[0].data is not None
    assert failed[0].data["error_type"] == "KeyError"
    task = manager.get_task(failed[0].task_id)
    assert task is not None and task.status is TaskStatus.FAILED and task.error_type == "KeyError"


async def test_completed_message_when_duration_unknown() -> None:
    # Formatting `task.duration:.2f` raises when the duration is None: the message must not.
    manager = AsyncTaskManager()
    events: list[TaskEvent] = []
    manager.subscribe(events.append)
    task = await manager.create_task("instant")
    manager.finish(task.id, TaskStatus.COMPLETED)  # never started: no crash
    assert events[-1].event_type == "completed"
    assert "instant" in (events[-1].message or "")
    assert task.duration is not None and task.duration >= 0


async def test_cancellation_marks_cancelled_and_reraises() -> None:
    manager = AsyncTaskManager()
    started = asyncio.Event()

    async def work() -> None:
        async with manager.task_context("long"):
            started.set()
            await asyncio.Event().wait()

    runner = asyncio.create_task(work())
    await started.wait()
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    (task,) = manager.tasks()
    assert task.status is TaskStatus.CANCELLED
    assert task.completed_at is not None


async def test_raising_sync_subscriber_is_isolated() -> None:
    manager = AsyncTaskManager()
    seen: list[str] = []

    def broken(_: TaskEvent) -> None:
        raise RuntimeError("subscriber bug")

    manager.subscribe(broken)
    manager.subscribe(lambda e: seen.append(e.event_type))
    async with manager.task_context("ok"):
        pass
    assert seen == ["created", "started", "completed"]
    assert manager.subscriber_errors == 3


async def test_raising_async_subscriber_is_isolated() -> None:
    manager = AsyncTaskManager()
    received: list[str] = []

    async def flaky(event: TaskEvent) -> None:
        received.append(event.event_type)
        if event.event_type == "created":
            raise RuntimeError("first one fails")

    manager.subscribe(flaky)
    async with manager.task_context("ok"):
        pass
    await manager.aclose()
    assert received == ["created", "started", "completed"]
    assert manager.subscriber_errors == 1


async def test_slow_async_subscriber_does_not_stall_the_runtime() -> None:
    manager = AsyncTaskManager()
    release = asyncio.Event()
    received: list[TaskEvent] = []

    async def slow(event: TaskEvent) -> None:
        await release.wait()
        received.append(event)

    manager.subscribe(slow)
    task = await manager.create_task("flood")
    manager.start(task.id)
    for step in range(1, 10_001):
        manager.set_progress(task.id, step / 10_000, value=step, max=10_000)
    manager.finish(task.id, TaskStatus.COMPLETED)
    # All of that ran without the subscriber consuming a single event.
    assert received == []
    release.set()
    await manager.aclose()
    kinds = [e.event_type for e in received]
    # Progress coalesced to its newest value, state changes all there, in order.
    assert kinds == ["created", "started", "progress", "completed"]
    assert received[2].data is not None and received[2].data["value"] == 10_000


async def test_events_iterator_coalesces_progress_but_keeps_state_changes() -> None:
    manager = AsyncTaskManager()
    stream = manager.events()
    a = await manager.create_task("a")
    b = await manager.create_task("b")
    manager.start(a.id)
    manager.start(b.id)
    for i in range(100):
        manager.set_progress(a.id, i / 100)
        manager.set_progress(b.id, i / 200)
    manager.finish(a.id, TaskStatus.FAILED, error="bad")
    manager.set_progress(b.id, 0.9)
    stream.close()
    events = [e async for e in stream]
    per_task = {
        tid: [(e.event_type, (e.data or {}).get("progress")) for e in events if e.task_id == tid]
        for tid in (a.id, b.id)
    }
    assert per_task[a.id] == [("created", None), ("started", None), ("progress", 0.99), ("failed", None)]
    assert per_task[b.id] == [("created", None), ("started", None), ("progress", 0.9)]
    # Bounded: 100 progress events per task became one buffered slot each.
    assert len(events) == 7
    assert stream.coalesced == 199


async def test_events_of_one_task_delivered_in_order() -> None:
    manager = AsyncTaskManager()
    stream = manager.events()
    t = await manager.create_task("ordered")
    manager.start(t.id)
    manager.set_progress(t.id, 0.2)
    manager.update(t.id, prompt_id="p1")
    manager.set_progress(t.id, 0.4)
    manager.finish(t.id, TaskStatus.COMPLETED)
    stream.close()
    events = [e async for e in stream]
    assert [e.event_type for e in events] == [
        "created",
        "started",
        "progress",
        "updated",
        "progress",
        "completed",
    ]
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_unsubscribe_stops_delivery() -> None:
    manager = AsyncTaskManager()
    seen: list[TaskEvent] = []
    unsubscribe = manager.subscribe(seen.append)
    await manager.create_task("one")
    unsubscribe()
    unsubscribe()  # idempotent
    await manager.create_task("two")
    assert [e.event_type for e in seen] == ["created"]


async def test_progress_is_clamped_and_final_tasks_ignore_updates() -> None:
    manager = AsyncTaskManager()
    t = await manager.create_task("clamp")
    manager.start(t.id)
    await manager.update_progress(t.id, 7.5)
    assert t.progress == 1.0
    await manager.update_progress(t.id, -3)
    assert t.progress == 0.0
    manager.finish(t.id, TaskStatus.CANCELLED)
    manager.finish(t.id, TaskStatus.COMPLETED)  # second final transition is ignored
    manager.set_progress(t.id, 0.5)
    assert t.status is TaskStatus.CANCELLED and t.progress == 0.0


async def test_tree_queries_and_current_task() -> None:
    manager = AsyncTaskManager()
    async with manager.task_context("workflow", TaskType.WORKFLOW) as wf:
        assert current_task_var.get() is wf
        assert manager.current_task() is wf
        async with manager.task_context("node") as node:
            assert node.parent_id == wf.id
        extra = await manager.create_task("other node", TaskType.NODE, parent_id=wf.id)
    assert current_task_var.get() is None
    assert [t.id for t in manager.roots()] == [wf.id]
    assert [t.id for t in manager.children(wf.id)] == [node.id, extra.id]
    assert {t.id for t in manager.descendants(wf.id)} == {node.id, extra.id}


async def test_finished_roots_are_retained_up_to_a_bound() -> None:
    manager = AsyncTaskManager(max_finished_roots=3)
    roots = []
    for i in range(6):
        wf = await manager.create_task(f"wf{i}", TaskType.WORKFLOW)
        child = await manager.create_task("n", TaskType.NODE, parent_id=wf.id)
        manager.finish(child.id, TaskStatus.COMPLETED)
        manager.finish(wf.id, TaskStatus.COMPLETED)
        roots.append(wf)
    running = await manager.create_task("still running", TaskType.WORKFLOW)
    assert [t.name for t in manager.roots()] == ["wf3", "wf4", "wf5", "still running"]
    assert len(manager.tasks()) == 3 * 2 + 1
    assert manager.get_task(roots[0].id) is None and manager.get_task(running.id) is not None


async def test_a_root_s_end_is_told_before_retention_forgets_it() -> None:
    # The moment a reader that folds events later (the app's batches) keeps the final objects.
    manager = AsyncTaskManager(max_finished_roots=0)
    told: list[tuple[str, bool, bool]] = []

    def keep(root: Task) -> None:
        told.append((root.name, manager.get_task(root.id) is root, root.is_final))

    stop = manager.on_root_final(keep)
    wf = await manager.create_task("wf", TaskType.WORKFLOW)
    node = await manager.create_task("n", TaskType.NODE, parent_id=wf.id)
    manager.finish(node.id, TaskStatus.COMPLETED)
    assert told == []  # a child's end is not a root's
    manager.finish(wf.id, TaskStatus.FAILED, error="boom")
    assert told == [("wf", True, True)]
    assert manager.get_task(wf.id) is None and manager.get_task(node.id) is None  # forgotten after
    manager.finish(wf.id, TaskStatus.COMPLETED)  # ignored: told once
    stop()
    other = await manager.create_task("other", TaskType.WORKFLOW)
    manager.finish(other.id, TaskStatus.COMPLETED)
    assert [name for name, _, _ in told] == ["wf"]


async def test_a_failing_root_final_listener_is_logged_and_skipped() -> None:
    manager = AsyncTaskManager(max_finished_roots=0)
    seen: list[str] = []

    def broken(root: Task) -> None:
        raise RuntimeError("listener bug")

    manager.on_root_final(broken)
    manager.on_root_final(lambda root: seen.append(root.name))
    wf = await manager.create_task("wf", TaskType.WORKFLOW)
    manager.finish(wf.id, TaskStatus.COMPLETED)
    assert seen == ["wf"] and manager.subscriber_errors == 1
    assert manager.get_task(wf.id) is None  # retention still ran


async def test_datetimes_are_timezone_aware() -> None:
    manager = AsyncTaskManager()
    events: list[TaskEvent] = []
    manager.subscribe(events.append)
    async with manager.task_context("tz") as task:
        pass
    for stamp in (task.created_at, task.started_at, task.completed_at, events[0].timestamp):
        assert stamp is not None and stamp.tzinfo is not None
        assert stamp.utcoffset() == UTC.utcoffset(None)


def test_task_progress_validated() -> None:
    with pytest.raises(ValueError):
        Task(name="x", progress=1.5)
    assert Task(name="x").duration is None


async def test_progress_reaches_each_subscription_at_its_own_pace() -> None:
    # One shared pending slot per task: a subscription that drained gets the next progress again,
    # one that did not sees only the newest, and one that joins mid-run gets what follows.
    manager = AsyncTaskManager()
    fast, slow = manager.events(), manager.events()
    task = await manager.create_task("shared")
    manager.start(task.id)
    manager.set_progress(task.id, 0.1)
    assert [e.event_type for e in fast.drain()] == ["created", "started", "progress"]
    manager.set_progress(task.id, 0.2)
    late = manager.events()
    manager.set_progress(task.id, 0.3)
    assert [(e.data or {}).get("progress") for e in fast.drain()] == [0.3]
    assert [(e.data or {}).get("progress") for e in late.drain()] == [0.3]
    manager.set_progress(task.id, 0.4)
    manager.finish(task.id, TaskStatus.COMPLETED)
    manager.set_progress(task.id, 0.5)  # ignored: the task is final
    slow_events = [(e.event_type, (e.data or {}).get("progress")) for e in slow.drain()]
    assert slow_events == [("created", None), ("started", None), ("progress", 0.4), ("completed", None)]
    assert [e.event_type for e in fast.drain()] == ["progress", "completed"]
    assert (fast.coalesced, slow.coalesced, late.coalesced) == (1, 3, 0)


async def test_events_built_without_validation_equal_validated_ones() -> None:
    """The manager builds events without pydantic validation (the hot path): the result must be
    the instance validation builds, for every kind of event and payload."""
    manager = AsyncTaskManager()
    seen: list[TaskEvent] = []
    manager.subscribe(seen.append)
    wf = await manager.create_task("wf", TaskType.WORKFLOW)
    node = await manager.create_task("node", TaskType.NODE, parent_id=wf.id)
    manager.start(node.id)
    manager.set_progress(node.id, 0.25)
    manager.set_progress(node.id, 0.5, "half", value=4, max=8, rate=2.0, eta_seconds=2.0)
    manager.set_progress(node.id, 0.75)  # value/max kept from the previous call
    manager.update(node.id, "outputs", outputs={"images": []})
    manager.finish(node.id, TaskStatus.COMPLETED)
    assert [e.event_type for e in seen] == [
        "created",
        "created",
        "started",
        "progress",
        "progress",
        "progress",
        "updated",
        "completed",
    ]
    assert seen[3].data == {"progress": 0.25}
    assert seen[5].data == {"progress": 0.75, "value": 4, "max": 8, "rate": 2.0, "eta_seconds": 2.0}
    for event in seen:
        assert event == TaskEvent.model_validate(event.model_dump())
        # Built as TaskEvent(**fields) with the timestamp left to its default factory.
        reference = TaskEvent(**event.model_dump(exclude={"timestamp"}))
        assert event.model_fields_set == reference.model_fields_set
        assert event.model_dump(exclude={"timestamp"}) == reference.model_dump(exclude={"timestamp"})
        assert event.timestamp.tzinfo is not None
        with pytest.raises(ValueError):  # still frozen
            event.__setattr__("task_id", "other")


async def test_progress_built_on_delivery_equals_the_event_built_at_emit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without sync subscribers a progress event is built when a subscription first delivers it:
    the same event (fields, fields set, emit-time timestamp, frozen) as the one built at once for
    a sync subscriber, one instance for every subscription, and none for progress replaced unseen."""
    built: list[TaskEvent] = []
    original = manager_module._progress_event

    def counting(recipe: manager_module.ProgressRecipe) -> TaskEvent:
        built.append(original(recipe))
        return built[-1]

    monkeypatch.setattr(manager_module, "_progress_event", counting)

    async def run(manager: AsyncTaskManager) -> tuple[list[TaskEvent], list[TaskEvent]]:
        first, second = manager.events(), manager.events()
        wf = await manager.create_task("wf", TaskType.WORKFLOW)
        node = await manager.create_task("node", TaskType.NODE, parent_id=wf.id)
        manager.start(node.id)
        manager.set_progress(node.id, 0.1)  # replaced before anyone reads it
        manager.set_progress(node.id, 0.25, "quarter", value=2, max=8)
        manager.set_progress(wf.id, 0.5)
        delivered = first.drain()
        manager.set_progress(node.id, 0.75)
        delivered += first.drain()
        return delivered, second.drain()

    lazy = AsyncTaskManager()
    before = datetime.now(UTC)
    lazy_first, lazy_second = await run(lazy)
    after = datetime.now(UTC)
    eager = AsyncTaskManager()
    eager.subscribe(lambda _event: None)  # a sync subscriber: every event is built when emitted
    eager_first, _ = await run(eager)

    lazy_progress = [e for e in lazy_first if e.event_type == "progress"]
    assert len(built) == len(lazy_progress)  # the 0.1 event was replaced unseen: never built
    assert [(e.data or {}).get("progress") for e in lazy_progress] == [0.25, 0.5, 0.75]
    shape = [e.model_dump(exclude={"timestamp", "task_id", "parent_id", "seq"}) for e in lazy_first]
    assert shape == [e.model_dump(exclude={"timestamp", "task_id", "parent_id", "seq"}) for e in eager_first]
    assert [e.seq for e in lazy_first] == [e.seq for e in eager_first]
    for event in lazy_progress:
        assert before <= event.timestamp <= after and event.timestamp.tzinfo is UTC
        assert event == TaskEvent.model_validate(event.model_dump())
        reference = TaskEvent(**event.model_dump(exclude={"timestamp"}))
        assert event.model_fields_set == reference.model_fields_set
        with pytest.raises(ValueError):  # still frozen
            event.__setattr__("task_id", "other")
    # The second subscription got the newest progress of each task: the very objects the first got.
    second_progress = [e for e in lazy_second if e.event_type == "progress"]
    assert [id(e) for e in second_progress] == [id(lazy_progress[2]), id(lazy_progress[1])]


async def test_state_changes_nobody_hears_are_not_built_but_keep_their_seq(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without subscribers a state change builds no event; its seq is used all the same, so a
    subscriber that joins later sees the numbers it would have seen, and emit() still answers."""
    built: list[str] = []
    original = manager_module._event

    def counting(fields: dict[str, object], event_type: str, *rest: object) -> TaskEvent:
        built.append(event_type)
        return original(fields, event_type, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(manager_module, "_event", counting)
    manager = AsyncTaskManager()
    task = await manager.create_task("quiet")  # seq 1
    manager.start(task.id)  # seq 2
    assert built == []
    assert manager.emit(task, "updated", "asked for").seq == 3
    seen: list[TaskEvent] = []
    manager.subscribe(seen.append)
    manager.finish(task.id, TaskStatus.COMPLETED)
    assert [(e.event_type, e.seq) for e in seen] == [("completed", 4)]
    assert built == ["updated", "completed"]
    assert task.status is TaskStatus.COMPLETED and task.started_at is not None


async def test_progress_clamp_matches_min_max_for_every_input() -> None:
    manager = AsyncTaskManager()
    task = await manager.create_task("clamp")
    for raw in (-1.0, 0.0, 0.3, 1.0, 2.0, 0, 1, -3, 5, float("nan"), float("inf"), float("-inf")):
        manager.set_progress(task.id, raw)
        assert task.progress == max(0.0, min(1.0, raw)), raw
        assert type(task.progress) is float, raw


async def test_roots_under_the_bound_are_never_scanned_for_eviction() -> None:
    """Finishing a root while there are fewer roots than the bound costs O(1): no root's status is read."""
    manager = AsyncTaskManager(max_finished_roots=10)
    roots = [await manager.create_task(f"wf{i}", TaskType.WORKFLOW) for i in range(10)]
    reads = 0
    original = TaskStatus.is_final

    def counting(self: TaskStatus) -> bool:
        nonlocal reads
        reads += 1
        return original.fget(self)  # type: ignore[attr-defined,no-any-return]

    try:
        TaskStatus.is_final = property(counting)  # type: ignore[assignment,method-assign]
        for root in roots:
            manager.finish(root.id, TaskStatus.COMPLETED)
        assert reads <= 3 * len(roots)  # each finish checks its own task only
    finally:
        TaskStatus.is_final = original  # type: ignore[method-assign]
    extra = await manager.create_task("wf10", TaskType.WORKFLOW)
    manager.finish(extra.id, TaskStatus.COMPLETED)
    assert manager.get_task(roots[0].id) is None  # over the bound: the oldest finished root goes


async def test_lifecycle_messages_are_made_only_for_a_listener_or_a_written_log_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """A state change's message ("Task 'x' completed in 0.20s") is made only when an event is built
    or a log line written; when it is, it reads as before."""
    import json

    from comfy_reality import logs

    made: list[str] = []
    for name in ("_created_message", "_started_message", "_final_message"):
        original = getattr(manager_module, name)

        def counting(task: Task, original=original, name=name) -> str:  # type: ignore[no-untyped-def]
            made.append(name)
            return original(task)  # type: ignore[no-any-return]

        monkeypatch.setattr(manager_module, name, counting)
    path = tmp_path / "log.jsonl"
    try:
        logs.configure_logging(level="info", log_path=path)
        manager = AsyncTaskManager()
        quiet = await manager.create_task("quiet", TaskType.NODE)
        manager.start(quiet.id)
        manager.finish(quiet.id, TaskStatus.COMPLETED)
        assert made == []  # nobody listens and node lifecycles log at debug: nothing made
        system = await manager.create_task("job", TaskType.SYSTEM)
        manager.finish(system.id, TaskStatus.FAILED, error="boom")  # logged at info: made once
        assert made == ["_final_message"]
        events: list[TaskEvent] = []
        manager.subscribe(events.append)
        heard = await manager.create_task("heard", TaskType.NODE)
        manager.start(heard.id)
        manager.start(heard.id)  # already running: no event, nothing made
        manager.finish(heard.id, TaskStatus.CANCELLED, status_detail="stopped")
    finally:
        logs.close_log_file()
    assert made == ["_final_message", "_created_message", "_started_message", "_final_message"]
    assert [e.message for e in events] == [
        "Task 'heard' created",
        "Task 'heard' started",
        "Task 'heard' cancelled: stopped",
    ]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["event"], line["message"]) for line in lines] == [("failed", "Task 'job' failed: boom")]
