"""AsyncTaskManager: owns the task tree and fans task events out to subscribers.

Delivery rules (so that no subscriber can break or stall the runtime or the other subscribers):

* Sync callbacks run inline, in event order; one that raises is logged and skipped.
  They must be quick (they run on the event loop).
* Async callbacks and ``events()`` iterators each get their own :class:`EventSubscription`
  buffer drained by its own consumer, so a slow subscriber never stalls the runtime.
* Overflow policy of a subscription buffer: lifecycle events (created, started,
  updated, completed, failed, cancelled) are never dropped; progress events of a task
  coalesce into one pending slot holding the newest value. A buffer therefore holds at
  most one progress event per task plus that task's few state changes: bounded by the
  number of live tasks, however fast progress arrives.
* Events of one task are delivered in the order they were emitted.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from time import time_ns
from types import CoroutineType
from typing import Any

from ..logs import get_logger
from .models import LIFECYCLE_EVENTS, EventType, Task, TaskEvent, TaskStatus, TaskType, assembled, new_id

current_task_var: ContextVar[Task | None] = ContextVar("current_task", default=None)

SyncCallback = Callable[[TaskEvent], None]
AsyncCallback = Callable[[TaskEvent], Awaitable[None]]
Callback = SyncCallback | AsyncCallback

log = get_logger("comfy_reality.manager")

KEEP_FINISHED = 20
"""Finished workflow tasks (and the runtime's finished executions) kept in memory, newest first.

Few: a finished execution's detail is in the journal, the app's session holds the ones it shows
(the same final objects; its newest 30 whole) and the CLI needs none once printed. A consumer that
reads tasks later than their events (the app builds a batch a frame after) takes the final ones
when they end, through :meth:`AsyncTaskManager.on_root_final`, before retention can drop them."""
_QUIET_EVENTS = frozenset({"created", "started"})
_PROGRESS_FIELDS = ("progress", "value", "max", "rate", "eta_seconds")
# The fields an event is built with (its timestamp is the default's, taken at the same moment).
_EVENT_FIELDS_SET = frozenset(
    {"task_id", "event_type", "data", "message", "task_type", "parent_id", "execution_id", "seq"}
)


_now = datetime.now
_FINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
_TASK_FIELDS = frozenset(Task.model_fields)


def _built_event(values: dict[str, Any]) -> TaskEvent:
    """``TaskEvent(**values)`` for values the manager made itself (``values``: every field, in field
    order), without re-validating them: the same instance pydantic builds (fields, fields set,
    frozen). Validation was the larger part of an event's cost, and progress frames are many."""
    return assembled(TaskEvent, values, set(_EVENT_FIELDS_SET))


def _event(
    task_fields: dict[str, Any], event_type: EventType, message: str | None, data: Any, seq: int
) -> TaskEvent:
    """The event of a task (``task_fields``: its ``__dict__``), stamped now."""
    return _built_event(
        {
            "task_id": task_fields["id"],
            "event_type": event_type,
            "timestamp": _now(UTC),
            "data": data,
            "message": message,
            "task_type": task_fields["type"],
            "parent_id": task_fields["parent_id"],
            "execution_id": task_fields["execution_id"],
            "seq": seq,
        }
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ProgressRecipe = tuple[str, TaskType, str | None, str | None, str | None, dict[str, Any], int, int]
"""What a progress event is made of, taken when it is emitted: (task_id, task_type, parent_id,
execution_id, message, data, seq, time_ns)."""


def _progress_event(recipe: ProgressRecipe) -> TaskEvent:
    """The progress event ``recipe`` describes, as :func:`_event` builds it at the moment it was
    emitted (``datetime.now`` reads the same clock, floored to the microsecond as here)."""
    task_id, task_type, parent_id, execution_id, message, data, seq, emitted_ns = recipe
    return _built_event(
        {
            "task_id": task_id,
            "event_type": "progress",
            "timestamp": _EPOCH + timedelta(microseconds=emitted_ns // 1000),
            "data": data,
            "message": message,
            "task_type": task_type,
            "parent_id": parent_id,
            "execution_id": execution_id,
            "seq": seq,
        }
    )


def _assign(task: Task, fields: dict[str, Any]) -> None:
    """``setattr(task, key, value)`` for each field, as pydantic's own __setattr__ does for a
    model without assignment validation (value in ``__dict__``, name in the fields set), minus
    its per-call dispatch; a name that is not a field still goes through pydantic (its error)."""
    values = task.__dict__
    fields_set = task.__pydantic_fields_set__
    for key, value in fields.items():
        if key in _TASK_FIELDS:
            values[key] = value
            fields_set.add(key)
        else:
            setattr(task, key, value)


class _Slot:
    """A mutable box in the buffer so a newer progress event can replace a stale one in place.

    It keeps its task's id: delivery reads it here, not from the event (a pydantic attribute read).
    """

    __slots__ = ("event", "task_id")

    def __init__(self, event: TaskEvent | None, task_id: str) -> None:
        self.event = event
        self.task_id = task_id

    def take(self) -> TaskEvent:
        """The event this slot holds now (a shared slot builds it on the first delivery)."""
        event = self.event
        assert event is not None  # only a shared slot holds none until delivered
        return event


class _SharedSlot(_Slot):
    """The newest progress of one task, pending in every subscription at once.

    The manager writes each progress event once, here, whatever the number of subscriptions;
    ``released`` are the subscriptions that delivered it since (or joined later), the only ones
    the next progress event of the task must be pushed to.
    """

    __slots__ = ("recipe", "released")

    def __init__(self, task_id: str) -> None:
        super().__init__(None, task_id)
        self.recipe: ProgressRecipe | None = None
        self.released: list[EventSubscription] = []

    def take(self) -> TaskEvent:
        """Progress mostly replaces progress before anyone reads it: the event is built from its
        recipe when a subscription first delivers it, once for all of them."""
        event = self.event
        if event is None:
            assert self.recipe is not None
            event = self.event = _progress_event(self.recipe)
        return event


class EventSubscription:
    """A buffered, coalescing stream of task events; iterate it with ``async for``."""

    def __init__(self, manager: AsyncTaskManager) -> None:
        self._manager = manager
        self._buffer: deque[_Slot] = deque()
        self._progress_slots: dict[str, _Slot] = {}
        self._ready = asyncio.Event()
        self._closed = False
        self.delivered = 0
        # Progress the manager emits while this subscription is open either opens a slot here or
        # replaces one in place (the manager does that inline, without counting): coalesced is
        # what was emitted minus the slots opened, plus replacements of events pushed from outside.
        self._progress_base = manager._progress_emitted
        self._progress_end: int | None = None
        self._slots_opened = 0
        self._pushed_coalesced = 0

    @property
    def coalesced(self) -> int:
        """Progress events replaced by a newer one of the same task before they were delivered."""
        end = self._manager._progress_emitted if self._progress_end is None else self._progress_end
        return end - self._progress_base - self._slots_opened + self._pushed_coalesced

    def __len__(self) -> int:
        return len(self._buffer)

    def _hold(self, slot: _SharedSlot) -> None:
        """Make the task's shared progress slot pending here (see AsyncTaskManager.emit)."""
        if self._closed:
            return
        self._progress_slots[slot.task_id] = slot
        self._slots_opened += 1
        self._buffer.append(slot)
        self._ready.set()

    def _delivered(self, slot: _Slot) -> TaskEvent:
        """A slot leaves the buffer: a shared one waits for this subscription's next push."""
        task_id = slot.task_id
        if self._progress_slots.get(task_id) is slot:
            del self._progress_slots[task_id]
            if isinstance(slot, _SharedSlot) and self._manager._shared.get(task_id) is slot:
                slot.released.append(self)
        return slot.take()

    def push(self, event: TaskEvent) -> None:
        if self._closed:
            return
        task_id = event.task_id
        if event.event_type == "progress":
            slot = self._progress_slots.get(task_id)
            if slot is not None and not isinstance(slot, _SharedSlot):
                slot.event = event
                self._pushed_coalesced += 1
                return
            if isinstance(slot, _SharedSlot):
                slot.released.append(self)  # the manager's next progress of the task comes after this one
            slot = _Slot(event, task_id)
            self._progress_slots[task_id] = slot
        else:
            # A state change seals the task's pending progress slot, keeping per-task order.
            self._progress_slots.pop(task_id, None)
            slot = _Slot(event, task_id)
        self._buffer.append(slot)
        self._ready.set()

    def close(self) -> None:
        """Stop the stream; the iterator ends once the buffer is drained."""
        if not self._closed:
            self._progress_end = self._manager._progress_emitted
        self._closed = True
        self._ready.set()
        self._manager._remove_subscription(self)

    def __aiter__(self) -> AsyncIterator[TaskEvent]:
        return self

    async def __anext__(self) -> TaskEvent:
        if not await self._wait():
            raise StopAsyncIteration
        return self._pop()

    async def _wait(self) -> bool:
        """Wait until an event is buffered (True), or the stream is closed and drained (False)."""
        buffer = self._buffer
        while not buffer:
            if self._closed:
                return False
            self._ready.clear()
            await self._ready.wait()
        return True

    def _pop(self) -> TaskEvent:
        """Deliver the oldest buffered event (the buffer is not empty)."""
        # What _delivered does, inlined: this runs for every event a subscription delivers.
        slot = self._buffer.popleft()
        task_id = slot.task_id
        if self._progress_slots.get(task_id) is slot:
            del self._progress_slots[task_id]
            if type(slot) is _SharedSlot and self._manager._shared.get(task_id) is slot:
                slot.released.append(self)
        self.delivered += 1
        return slot.take()

    def drain(self) -> list[TaskEvent]:
        """Take every buffered event at once (for consumers that render in frames)."""
        buffer = self._buffer
        events = [self._delivered(slot) for slot in buffer]
        buffer.clear()
        self.delivered += len(events)
        return events


class Unsubscribe:
    """Returned by :meth:`AsyncTaskManager.subscribe`; call it to stop receiving events."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action

    def __call__(self) -> None:
        if self._action is not None:
            action, self._action = self._action, None
            action()


class AsyncTaskManager:
    """The task tree plus ordered event fan-out.

    ``max_finished_roots`` bounds memory in long sessions: once more finished root tasks
    (workflows) exist than that, the oldest are forgotten together with their children. The
    runtime keeps as many finished executions. Their detail stays in the journal, and the app's
    session holds the finished executions it shows (the same objects, not copies): past the
    first few, a long batch or session holds no more task trees.
    """

    def __init__(self, *, max_finished_roots: int = KEEP_FINISHED) -> None:
        self._tasks: dict[str, Task] = {}
        self._children: dict[str, list[str]] = {}
        self._roots: dict[str, None] = {}  # insertion-ordered set
        self._sync_subscribers: list[SyncCallback] = []
        self._subscriptions: list[EventSubscription] = []
        self._pumps: set[asyncio.Task[None]] = set()
        self._seq = itertools.count(1)
        self._shared: dict[str, _SharedSlot] = {}  # task id -> its progress pending in subscriptions
        self._progress_emitted = (
            0  # progress events fanned out so far (subscriptions count coalescing from it)
        )
        self.max_finished_roots = max_finished_roots
        self._root_final_listeners: list[Callable[[Task], None]] = []
        self.logger = log
        self.subscriber_errors = 0

    # ------------------------------------------------------------------ queries
    def get_task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def tasks(self) -> list[Task]:
        return list(self._tasks.values())

    def roots(self) -> list[Task]:
        return [self._tasks[t] for t in self._roots]

    def children(self, task_id: str) -> list[Task]:
        return [self._tasks[c] for c in self._children.get(task_id, ()) if c in self._tasks]

    def descendants(self, task_id: str) -> Iterator[Task]:
        for child in self.children(task_id):
            yield child
            yield from self.descendants(child.id)

    @staticmethod
    def current_task() -> Task | None:
        return current_task_var.get()

    # ------------------------------------------------------------ subscriptions
    def subscribe(self, callback: Callback) -> Unsubscribe:
        """Receive every event. Sync callbacks run inline; async ones get a buffered pump."""
        if inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(type(callback).__call__):
            subscription = self._add_subscription()
            pump = asyncio.get_running_loop().create_task(
                self._pump(subscription, callback), name="task-event-pump"
            )
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

            def stop() -> None:
                subscription.close()

            return Unsubscribe(stop)
        sync_callback: SyncCallback = callback  # type: ignore[assignment]
        self._sync_subscribers.append(sync_callback)

        def remove() -> None:
            if sync_callback in self._sync_subscribers:
                self._sync_subscribers.remove(sync_callback)

        return Unsubscribe(remove)

    def on_root_final(self, callback: Callable[[Task], None]) -> Unsubscribe:
        """Call ``callback(task)`` as a root task (a workflow) reaches its final state, after its
        final event and before retention may forget it or older ones: the moment to keep the
        final objects a later reader needs. Called once per root, inline; it must be quick."""
        listeners = self._root_final_listeners
        listeners.append(callback)

        def remove() -> None:
            if callback in listeners:
                listeners.remove(callback)

        return Unsubscribe(remove)

    def events(self) -> EventSubscription:
        """A coalescing async iterator of events from now on (``async for event in manager.events()``)."""
        return self._add_subscription()

    def _add_subscription(self) -> EventSubscription:
        subscription = EventSubscription(self)
        self._subscriptions.append(subscription)
        for shared in self._shared.values():
            shared.released.append(subscription)  # the next progress of each running task reaches it
        return subscription

    def _remove_subscription(self, subscription: EventSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    async def _pump(self, subscription: EventSubscription, callback: Callback) -> None:
        buffer = subscription._buffer
        pending = subscription._progress_slots
        shared = self._shared
        while True:
            if not buffer and not await subscription._wait():
                return
            # _pop, inlined: this runs once per event per async subscriber.
            slot = buffer.popleft()
            event = slot.take()
            task_id = slot.task_id
            if pending.get(task_id) is slot:
                del pending[task_id]
                if type(slot) is _SharedSlot and shared.get(task_id) is slot:
                    slot.released.append(subscription)
            subscription.delivered += 1
            try:
                result = callback(event)
                if type(result) is CoroutineType or inspect.isawaitable(result):
                    await result
            except Exception:
                self.subscriber_errors += 1
                self.logger.exception("subscriber_failed", subscriber=repr(callback), task_id=event.task_id)

    async def aclose(self) -> None:
        """Close every subscription and let the pumps deliver what they hold."""
        for subscription in list(self._subscriptions):
            subscription.close()
        if self._pumps:
            await asyncio.gather(*self._pumps, return_exceptions=True)

    # ------------------------------------------------------------------ emitting
    def emit(self, task: Task, event_type: EventType, message: str | None = None, **data: Any) -> TaskEvent:
        event = self._emit(task, event_type, message, data or None, build=True)
        assert event is not None  # built when asked for
        return event

    def _emit(
        self,
        task: Task,
        event_type: EventType,
        message: str | None,
        data: dict[str, Any] | None,
        *,
        build: bool = False,
        describe: Callable[[Task], str] | None = None,
    ) -> TaskEvent | None:
        """Build the event once and deliver it (``data``: the payload, None when empty).

        A state change nobody subscribed to is not built (a library run without subscribers
        changes its tasks 12 times a prompt), unless ``build``: None then. Its seq is used all the same.
        ``describe`` makes the message when none is given, only if an event or a log line needs it.
        """
        fields = task.__dict__
        seq = next(self._seq)
        listened = build or event_type == "progress" or self._sync_subscribers or self._subscriptions
        log_method: str | None = None
        if event_type in LIFECYCLE_EVENTS:
            # Node lifecycles are many and already summed up by their workflow, a workflow's
            # creation and start say what the runtime's prompt_queued line says, and the end of an
            # execution's workflow what its execution_finished line says: debug level keeps the log
            # file (and the hot path) light. How other workflow and system tasks end stays at info.
            # (The task's fields are read from its __dict__: a pydantic attribute read costs more.)
            quiet = (
                fields["type"] is TaskType.NODE
                or event_type in _QUIET_EVENTS
                or fields["execution_id"] is not None
            )
            log_method = "debug" if quiet else "info"
            if not self.logger.enabled(log_method):
                log_method = None  # asked first: a dropped line is never built
        if message is None and describe is not None and (listened or log_method is not None):
            message = describe(task)
        event = _event(fields, event_type, message, data, seq) if listened else None
        if log_method is not None:
            getattr(self.logger, log_method)(
                event_type, task_id=fields["id"], task_name=fields["name"], message=message, data=data
            )
        if event is None:
            self._shared.pop(fields["id"], None)  # sealed, as below
            return None
        if self._sync_subscribers:
            self._call_sync(event)
        if event_type == "progress":
            self._fan_out_progress(fields["id"], event, None)
        else:
            # A state change seals the task's shared progress slot: later progress goes after it.
            self._shared.pop(fields["id"], None)
            for subscription in self._subscriptions:
                subscription.push(event)
        return event

    def _call_sync(self, event: TaskEvent) -> None:
        for callback in list(self._sync_subscribers):
            try:
                callback(event)
            except Exception:
                self.subscriber_errors += 1
                self.logger.exception("subscriber_failed", subscriber=repr(callback), task_id=event.task_id)

    def _fan_out_progress(self, task_id: str, event: TaskEvent | None, recipe: ProgressRecipe | None) -> None:
        """The hot path under a progress flood: most subscriptions already hold a pending progress
        slot for this task, and the newer event simply takes its place (what push() would do;
        subscriptions in the list are open, a closed one leaves it)."""
        self._progress_emitted += 1
        shared = self._shared.get(task_id)
        if shared is None:
            shared = self._shared[task_id] = _SharedSlot(task_id)
            shared.event, shared.recipe = event, recipe
            for subscription in self._subscriptions:
                subscription._hold(shared)
        else:
            shared.event, shared.recipe = event, recipe
            if shared.released:
                released, shared.released = shared.released, []
                for subscription in released:
                    if not subscription._closed:  # _hold, inlined: once per delivered progress event
                        subscription._progress_slots[task_id] = shared
                        subscription._slots_opened += 1
                        subscription._buffer.append(shared)
                        subscription._ready.set()

    async def _emit_event(self, event: TaskEvent) -> None:
        """Deliver an event the caller built itself to every subscriber (same rules as the manager's own)."""
        if event.event_type != "progress":
            self._shared.pop(event.task_id, None)  # sealed, as for the manager's own state changes
        if self._sync_subscribers:
            self._call_sync(event)
        for subscription in self._subscriptions:
            subscription.push(event)

    # --------------------------------------------------------------- mutations
    def add_task(self, task: Task) -> Task:
        """Register a task built by the caller and announce it."""
        self._tasks[task.id] = task
        if task.parent_id and task.parent_id in self._tasks:
            self._children.setdefault(task.parent_id, []).append(task.id)
        else:
            self._roots[task.id] = None
        self._emit(task, "created", None, {"name": task.name}, describe=_created_message)
        return task

    async def create_task(
        self,
        name: str,
        task_type: TaskType = TaskType.NODE,
        parent_id: str | None = None,
        **metadata: Any,
    ) -> Task:
        return self.add_task(
            Task(
                id=new_id(task_type.value), type=task_type, name=name, parent_id=parent_id, metadata=metadata
            )
        )

    def _require(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def start(self, task_id: str, message: str | None = None) -> None:
        task = self._require(task_id)
        if task is None or task.status is not TaskStatus.PENDING:
            return
        _assign(task, {"status": TaskStatus.RUNNING, "started_at": _now(UTC)})
        self._emit(task, "started", message or None, None, describe=_started_message)

    def set_progress(
        self,
        task_id: str,
        progress: float,
        message: str | None = None,
        *,
        value: float | None = None,
        max: float | None = None,
        rate: float | None = None,
        eta_seconds: float | None = None,
    ) -> None:
        """The one writer of progress: sets it on the task, then announces what the task now holds.

        ``value``/``max`` (sampler steps), ``rate`` and ``eta_seconds`` are written only when
        given; the event carries a copy of the task's progress fields, so readers of the task
        and readers of the event see the same numbers.
        """
        task = self._tasks.get(task_id)
        if task is None:
            return
        # Written as pydantic's own __setattr__ does (no assignment validation on Task), minus its
        # per-call dispatch: this runs for every progress frame of every node.
        fields = task.__dict__
        if fields["status"] in _FINAL_STATUSES:
            return
        # Clamped to [0, 1] as max(0.0, min(1.0, progress)) does (NaN becomes 1.0), always a float.
        fields["progress"] = progress = (
            progress + 0.0 if 0.0 <= progress <= 1.0 else (0.0 if progress < 0.0 else 1.0)
        )
        if value is not None or max is not None:
            fields["value"] = value
            fields["max"] = max
            fields["rate"] = rate
            fields["eta_seconds"] = eta_seconds
            task.__pydantic_fields_set__.update(_PROGRESS_FIELDS)
            data: dict[str, Any] = {
                "progress": progress,
                "value": value,
                "max": max,
                "rate": rate,
                "eta_seconds": eta_seconds,
            }
        else:
            task.__pydantic_fields_set__.add("progress")
            value, maximum = fields["value"], fields["max"]
            if value is None and maximum is None:
                data = {"progress": progress}
            else:
                data = {
                    "progress": progress,
                    "value": value,
                    "max": maximum,
                    "rate": fields["rate"],
                    "eta_seconds": fields["eta_seconds"],
                }
        # What _emit does for a progress event (it has no log line), without the detour: the flood's
        # path. The event itself is built when first delivered (most are replaced before that).
        seq = next(self._seq)
        if self._sync_subscribers:
            event = _event(fields, "progress", message, data, seq)
            self._call_sync(event)
            self._fan_out_progress(task_id, event, None)
            return
        recipe: ProgressRecipe = (
            task_id,
            fields["type"],
            fields["parent_id"],
            fields["execution_id"],
            message,
            data,
            seq,
            time_ns(),
        )
        self._fan_out_progress(task_id, None, recipe)

    def update(self, task_id: str, message: str | None = None, **fields: Any) -> None:
        """Change fields of a task (prompt_id, outputs, ...) and announce it."""
        task = self._require(task_id)
        if task is None:
            return
        _assign(task, fields)
        self._emit(task, "updated", message, {k: v for k, v in fields.items() if _small(v)} or None)

    def finish(
        self,
        task_id: str,
        status: TaskStatus,
        message: str | None = None,
        *,
        unknown_start: bool = False,
        **fields: Any,
    ) -> None:
        """Move a task to a final state once; later calls are ignored.

        ``unknown_start``: it ran before anyone watched (a re-attached run), so no start time is
        invented and no fake duration shown. ``completed_at`` in ``fields`` is kept (the server's).
        """
        task = self._tasks.get(task_id)
        if task is None:
            return
        values = task.__dict__  # read as in set_progress: a pydantic attribute read costs more
        if values["status"] in _FINAL_STATUSES:
            return
        if status not in _FINAL_STATUSES:
            raise ValueError(f"{status} is not a final status")
        now = _now(UTC)
        final: dict[str, Any] = {"status": status}
        started_at = fields["started_at"] if "started_at" in fields else values["started_at"]
        if started_at is None and not unknown_start:
            final["started_at"] = now
        final["completed_at"] = fields.get("completed_at") or now
        if status is TaskStatus.COMPLETED:
            final["progress"] = 1.0
        _assign(task, {**fields, **final} if fields else final)  # the given fields, then the final ones
        data: dict[str, Any] = {k: v for k, v in fields.items() if _small(v)}
        if status is TaskStatus.FAILED:
            data.setdefault("error", values["error"] or "unknown error")
            data.setdefault("error_type", values["error_type"] or "Error")
        self._emit(task, _EVENT_FOR_STATUS[status], message, data or None, describe=_final_message)
        if values["parent_id"] is None:
            for callback in list(self._root_final_listeners):
                try:
                    callback(task)
                except Exception:
                    self.subscriber_errors += 1
                    self.logger.exception(
                        "root_final_listener_failed", listener=repr(callback), task_id=task_id
                    )
            self._evict_finished_roots()

    async def update_progress(self, task_id: str, progress: float, message: str | None = None) -> None:
        self.set_progress(task_id, progress, message)

    # ------------------------------------------------------------ task_context
    @asynccontextmanager
    async def task_context(
        self,
        name: str,
        task_type: TaskType = TaskType.NODE,
        parent_id: str | None = None,
        **metadata: Any,
    ) -> AsyncIterator[Task]:
        """Run a block as a task: RUNNING, then COMPLETED / FAILED / CANCELLED; errors re-raise."""
        if parent_id is None and (outer := current_task_var.get()) is not None and outer.id in self._tasks:
            parent_id = outer.id
        task = await self.create_task(name, task_type, parent_id, **metadata)
        token = current_task_var.set(task)
        try:
            self.start(task.id)
            yield task
        except asyncio.CancelledError:
            self.finish(task.id, TaskStatus.CANCELLED)
            raise
        except Exception as exc:
            self.finish(
                task.id,
                TaskStatus.FAILED,
                error=str(exc) or exc.__class__.__name__,
                error_type=exc.__class__.__name__,
            )
            raise
        else:
            self.finish(task.id, TaskStatus.COMPLETED)
        finally:
            current_task_var.reset(token)

    # ----------------------------------------------------------------- memory
    def _evict_finished_roots(self) -> None:
        if len(self._roots) <= self.max_finished_roots:
            return  # no more roots than may be kept finished: nothing to evict (O(1) per finish)
        tasks = self._tasks
        finished = [rid for rid in self._roots if tasks[rid].__dict__["status"] in _FINAL_STATUSES]
        excess = len(finished) - self.max_finished_roots
        for root_id in finished[: max(0, excess)]:
            self.forget(root_id)

    def forget(self, task_id: str) -> None:
        """Drop a task and its descendants from memory (no event: it is history now)."""
        for child_id in self._children.pop(task_id, []):
            self.forget(child_id)
        task = self._tasks.pop(task_id, None)
        self._roots.pop(task_id, None)
        self._shared.pop(task_id, None)
        if task is not None and task.parent_id in self._children:
            siblings = self._children[task.parent_id]
            if task_id in siblings:
                siblings.remove(task_id)


_EVENT_FOR_STATUS: dict[TaskStatus, EventType] = {
    TaskStatus.COMPLETED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "cancelled",
}


def _created_message(task: Task) -> str:
    return f"Task '{task.name}' created"


def _started_message(task: Task) -> str:
    return f"Task '{task.name}' started"


def _final_message(task: Task) -> str:
    if task.status is TaskStatus.COMPLETED:
        if task.cached:
            return f"Task '{task.name}' cached"
        duration = task.duration
        return f"Task '{task.name}' completed" + (f" in {duration:.2f}s" if duration is not None else "")
    if task.status is TaskStatus.FAILED:
        return f"Task '{task.name}' failed: {task.error or 'unknown error'}"
    detail = f": {task.status_detail}" if task.status_detail else ""
    return f"Task '{task.name}' cancelled{detail}"


def _small(value: Any) -> bool:
    """Keep event payloads light: scalars and short lists go in, big blobs stay on the task."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return len(value) <= 32
    if isinstance(value, dict):
        return len(value) <= 32
    return False
