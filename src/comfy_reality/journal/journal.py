"""The execution journal: every execution recorded in SQLite as it happens, and recovered on start.

Writes never block the event loop. Events only mark an execution (and the nodes that changed)
as dirty; a flusher task snapshots the live objects and hands each batch to one writer thread.
The dirty set is keyed by id, so it is bounded by the number of live executions and nodes
however fast progress arrives: a node that reports a thousand steps while a batch is being
written costs one row in the next batch. Lifecycle events flush at once; progress-only changes
wait at most ``progress_interval`` seconds.

Each open journal is one app *instance* (host, pid, process start, random id). Executions it
submits are recorded with that instance as their owner; closing releases them. On reconcile,
a prompt whose owner is gone (released, or its process no longer runs) is followed live
through an observer socket under its recorded client_id. A live owner is never robbed: ComfyUI
sends a client_id's messages to its newest socket only, so that prompt is polled instead.

Reconcile lives in :mod:`.reconcile`, history reads in :mod:`.reads`, instance ownership in
:mod:`.owners`; the names they define stay importable from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from comfy_reality.logs import get_logger

from .. import paths
from ..errors import JournalError
from ..runtime.models import (
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    WorkflowExecution,
)
from .owners import _OPEN, InstanceKey, process_gone
from .owners import _process_start as _process_start  # tests probe it here
from .reads import JournalReads
from .reconcile import JournalReconciler, ReconcileReport, queue_prompt_ids
from .rows import (
    ExecutionSnapshot,
    JournalEntry,
    NodeSnapshot,
    PruneResult,
    dumps,
    finite,
    iso,
    normalize_server,
)
from .runtime_like import RuntimeLike
from .store import DEFAULT_BUSY_TIMEOUT, JournalStore
from .submissions import SubmissionRows

log = get_logger("comfy_reality.journal")
RECENT_FINAL = 256
MAX_BATCH = 100  # executions per write: bounds the time one snapshot pass holds the loop
T = TypeVar("T")

# Historic import path: these names were defined here before the split.
__all__ = [
    "MAX_BATCH",
    "RECENT_FINAL",
    "InstanceKey",
    "Journal",
    "JournalEntry",
    "JournalStats",
    "ReconcileReport",
    "RuntimeLike",
    "process_gone",
    "queue_prompt_ids",
]


@dataclass
class JournalStats:
    """How well the journal keeps up: batch sizes, commit latency (event to commit) and backlog."""

    events: int = 0
    batches: int = 0
    rows: int = 0
    max_backlog: int = 0
    max_latency: float = 0.0
    write_seconds: float = 0.0
    # Time the journal itself spent on the event loop (event callbacks and batch snapshots).
    loop_seconds: float = 0.0
    max_loop_slice: float = 0.0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class _Pending:
    runtime: RuntimeLike
    node_task_ids: set[str]
    since: float
    gen: int
    all_nodes: bool = False
    # Held so a final state is still written if the runtime forgets the execution first.
    execution: WorkflowExecution | None = None
    workflow_task: Task | None = None  # likewise its workflow task (progress, how it ended)


class _Attachment:
    def __init__(self, runtime: RuntimeLike, unsubscribe: Callable[[], None]) -> None:
        self.runtime = runtime
        self.unsubscribe = unsubscribe


class Journal(JournalReads, JournalReconciler):
    """Records executions of attached runtimes; open with ``await Journal.open(path)``."""

    def __init__(
        self, store: JournalStore, executor: ThreadPoolExecutor, *, progress_interval: float
    ) -> None:
        self._store = store
        self._executor = executor
        self.path = store.path
        self.progress_interval = progress_interval
        self.stats = JournalStats()
        self.error: str | None = None
        self._attachments: list[_Attachment] = []
        self._dirty: dict[str, _Pending] = {}
        self._written_prompt: set[str] = set()
        # Executions not final when last written (re-snapshotted at close), plus the most recent
        # finished ones (their outputs may be filled in after the final event). Bounded.
        self._seen: dict[str, RuntimeLike] = {}
        self._recent_final: deque[tuple[str, RuntimeLike]] = deque(maxlen=RECENT_FINAL)
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._marked = 0
        self._written = 0
        self._progress = asyncio.Condition()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self._store_closed = False
        self.instance = InstanceKey.current()
        self._observing: dict[str, RuntimeLike] = {}  # client_id taken over -> the runtime observing it
        _OPEN[self.instance.token] = self
        # What opening with keep_days removed (None: no bound, or the prune could not run).
        self.auto_pruned: PruneResult | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    async def open(
        cls,
        path: Path | str | None = None,
        *,
        progress_interval: float = 0.25,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        keep_days: float = 0,
    ) -> Journal:
        """Open (creating and migrating) the journal; raises :class:`JournalError` with advice.

        ``keep_days`` > 0 first removes finished executions older than that (the config's
        ``journal_keep_days``), on the writer thread; a failure there only logs a warning.
        """
        target = Path(path) if path is not None else paths.journal_file()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-writer")
        loop = asyncio.get_running_loop()
        try:
            store, pruned = await loop.run_in_executor(
                executor, lambda: _open_store(target, busy_timeout, keep_days)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        if not store.wal:
            log.warning("journal_not_wal", path=str(target))
        log.debug("journal_opened", path=str(target), schema=store.schema_version)  # routine: every command
        journal = cls(store, executor, progress_interval=progress_interval)
        journal.auto_pruned = pruned
        return journal

    @classmethod
    async def open_or_disabled(
        cls, path: Path | str | None = None, **kwargs: Any
    ) -> tuple[Journal | None, str | None]:
        """The journal, or None and a message to show: the app runs on without history."""
        try:
            return await cls.open(path, **kwargs), None
        except JournalError as exc:
            log.warning("journal_disabled", path=str(exc.path), reason=exc.problem)
            return None, f"{exc} Running without a journal."

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._store_closed:
            raise JournalError(self.path, "the journal is closed", "Open it again.")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    # ------------------------------------------------------------------ recording
    def attach(self, runtime: RuntimeLike) -> Callable[[], None]:
        """Record every execution of ``runtime`` from now on (and those it already has)."""
        attachment: _Attachment

        stats = self.stats

        def on_event(event: TaskEvent) -> None:
            started = time.perf_counter()
            self._on_event(attachment, event)
            spent = time.perf_counter() - started
            stats.loop_seconds += spent
            if spent > stats.max_loop_slice:
                stats.max_loop_slice = spent

        unsubscribe_events = runtime.task_manager.subscribe(on_event)
        add_recorder = getattr(runtime, "add_submission_recorder", None)
        unrecord = add_recorder(SubmissionRows(self, runtime)) if callable(add_recorder) else None

        def unsubscribe() -> None:
            unsubscribe_events()
            if unrecord is not None:
                unrecord()

        attachment = _Attachment(runtime, unsubscribe)
        self._attachments.append(attachment)
        for execution in list(runtime.executions.values()):
            self._mark(runtime, execution.id, None, urgent=True)

        def detach() -> None:
            unsubscribe()
            if attachment in self._attachments:
                self._attachments.remove(attachment)

        return detach

    def record(self, runtime: RuntimeLike, execution: WorkflowExecution) -> None:
        """Write ``execution`` as it stands now (for changes made without a task event, and for
        one the runtime does not hold yet: a prompt about to be POSTed)."""
        self._mark(runtime, execution.id, None, urgent=True, execution=execution)

    async def forget(self, execution: WorkflowExecution) -> None:
        """Remove the row of an execution the server never queued (written before its POST)."""
        self._dirty.pop(execution.id, None)
        self._seen.pop(execution.id, None)
        self._written_prompt.discard(execution.id)
        if not self._store_closed and self.error is None:
            await self._run(self._store.forget, execution.id)

    def _on_event(self, attachment: _Attachment, event: TaskEvent) -> None:
        if self._closed or self.error is not None:
            return
        self.stats.events += 1
        # Every event of an execution's tasks names the execution: no lookup needed.
        if event.execution_id is None or event.task_type not in (TaskType.WORKFLOW, TaskType.NODE):
            return
        runtime = attachment.runtime
        if event.execution_id not in runtime.executions and self._seen.get(event.execution_id) is not runtime:
            return  # another runtime's execution: a pool shares one task manager between its servers
        node_task = event.task_id if event.task_type is TaskType.NODE else None
        self._mark(runtime, event.execution_id, node_task, urgent=event.event_type != "progress")

    def _mark(
        self,
        runtime: RuntimeLike,
        execution_id: str,
        node_task_id: str | None,
        *,
        urgent: bool,
        execution: WorkflowExecution | None = None,
    ) -> None:
        if self._closed or self.error is not None:
            return
        self._marked += 1
        pending = self._dirty.get(execution_id)
        if pending is None:
            first = execution_id not in self._seen
            held = execution or runtime.executions.get(execution_id)
            pending = _Pending(
                runtime,
                set(),
                time.perf_counter(),
                self._marked,
                all_nodes=first,
                execution=held,
                workflow_task=runtime.task_manager.get_task(held.workflow_task_id)
                if held is not None and held.workflow_task_id
                else None,
            )
            self._dirty[execution_id] = pending
            self._seen[execution_id] = runtime
            self.stats.max_backlog = max(self.stats.max_backlog, len(self._dirty))
        elif execution is not None and pending.execution is None:
            pending.execution = execution
        if node_task_id is not None:
            pending.node_task_ids.add(node_task_id)
        self._wake.set()
        if urgent:
            self._urgent.set()
        self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop(), name="journal-flusher")

    # ------------------------------------------------------------------ flushing
    async def _flush_loop(self) -> None:
        while not self._closed or self._dirty:
            await self._wake.wait()
            if not self._urgent.is_set() and not self._closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self.progress_interval)
            self._wake.clear()
            self._urgent.clear()
            if not self._dirty:
                continue
            await self._write_dirty()
            if self.error is not None:
                break
        async with self._progress:
            self._progress.notify_all()

    async def _write_dirty(self) -> None:
        marked = self._marked
        if len(self._dirty) <= MAX_BATCH:
            batch, self._dirty = self._dirty, {}
        else:
            # Oldest first, a bounded slice: snapshotting is the journal's only work on the loop.
            batch = {key: self._dirty.pop(key) for key in list(itertools.islice(self._dirty, MAX_BATCH))}
            self._wake.set()
            self._urgent.set()

        executions: list[ExecutionSnapshot] = []
        nodes: list[NodeSnapshot] = []
        oldest = min(p.since for p in batch.values())
        snap_started = time.perf_counter()
        for execution_id, pending in batch.items():
            snapshot = self._snapshot(execution_id, pending)
            if snapshot is not None:
                executions.append(snapshot[0])
                nodes.extend(snapshot[1])
        started = time.perf_counter()
        self.stats.loop_seconds += started - snap_started
        self.stats.max_loop_slice = max(self.stats.max_loop_slice, started - snap_started)
        try:
            rows = await self._run(self._store.write_batch, executions, nodes)
        except JournalError as exc:
            if "locked" in exc.problem:
                # Another instance held the lock past busy_timeout: keep the rows and try again.
                log.warning("journal_busy", path=str(self.path), reason=exc.problem)
                for execution_id, pending in batch.items():
                    newer = self._dirty.get(execution_id)
                    if newer is not None:
                        pending.node_task_ids |= newer.node_task_ids
                        pending.all_nodes = pending.all_nodes or newer.all_nodes
                    self._dirty[execution_id] = pending
                self._wake.set()
                await asyncio.sleep(0.5)
                return
            self._fail(exc)
            return
        except Exception as exc:  # disk full, I/O errors: record why, keep the app running
            self._fail(exc)
            return
        done = time.perf_counter()
        for snap in executions:
            if snap.prompt_json is not None:
                self._written_prompt.add(snap.id)
            if snap.status in ("completed", "failed", "cancelled"):
                self._written_prompt.discard(snap.id)
                runtime = self._seen.pop(snap.id, None)
                if runtime is not None:
                    self._recent_final.append((snap.id, runtime))
        self.stats.batches += 1
        self.stats.rows += rows
        self.stats.write_seconds += done - started
        latency = done - oldest
        self.stats.latencies.append(latency)
        self.stats.max_latency = max(self.stats.max_latency, latency)
        # Every mark up to the oldest still-dirty entry's first mark is now on disk.
        oldest_gen = min((p.gen for p in self._dirty.values()), default=None)
        self._written = max(self._written, marked if oldest_gen is None else min(marked, oldest_gen - 1))
        async with self._progress:
            self._progress.notify_all()

    def _fail(self, exc: BaseException) -> None:
        self.error = (
            str(exc)
            if isinstance(exc, JournalError)
            else (
                f"Execution journal {self.path}: writing failed ({exc}). Recording is off for this session; "
                "check free disk space and the file's permissions."
            )
        )
        self._dirty.clear()
        log.error("journal_write_failed", path=str(self.path), error=self.error)

    def _snapshot(
        self, execution_id: str, pending: _Pending
    ) -> tuple[ExecutionSnapshot, list[NodeSnapshot]] | None:
        runtime = pending.runtime
        execution = runtime.executions.get(execution_id) or pending.execution
        if execution is None:
            return None
        manager = runtime.task_manager
        workflow_task = manager.get_task(execution.workflow_task_id) if execution.workflow_task_id else None
        if workflow_task is None and pending.workflow_task is not None:
            workflow_task = pending.workflow_task  # the runtime let the execution go before this write
        if workflow_task is not None:
            progress = workflow_task.progress
        else:
            progress = 1.0 if execution.status is TaskStatus.COMPLETED else 0.0
        if pending.all_nodes:
            node_tasks = self._node_tasks(execution)
        else:
            node_tasks = []
            for task_id in pending.node_task_ids:
                task = manager.get_task(task_id)
                if task is None:
                    task = next((t for t in execution.tasks if t.id == task_id), None)
                if task is not None and task.node_id is not None:
                    node_tasks.append(task)
        write_prompt = execution.id not in self._written_prompt and bool(execution.prompt)
        error_json = execution.error.model_dump_json() if execution.error is not None else None
        # Submitted under the runtime's own client_id: this instance holds its live messages.
        own = execution.client_id is not None and execution.client_id == getattr(runtime, "client_id", None)
        status_detail = execution.status_detail
        if status_detail is None and workflow_task is not None and workflow_task.is_final:
            status_detail = workflow_task.status_detail or (
                workflow_task.error if workflow_task.status is TaskStatus.FAILED else None
            )
        snap = ExecutionSnapshot(
            id=execution.id,
            prompt_id=execution.prompt_id,
            server_url=normalize_server(execution.server_url or getattr(runtime, "server_url", None)),
            client_id=execution.client_id,
            workflow_id=execution.workflow_id,
            name=execution.name,
            number=execution.number,
            status=execution.status.value,
            status_detail=status_detail,
            retry_of=execution.retry_of,
            progress=finite(progress) or 0.0,
            prompt_json=dumps(execution.prompt) if write_prompt else None,
            outputs_json=dumps(execution.outputs),
            output_files_json=dumps([f.model_dump() for f in execution.output_files]),
            error_json=error_json,
            node_errors_json=dumps(execution.node_errors),
            created_at=iso(execution.created_at) or "",
            started_at=iso(execution.started_at),
            completed_at=iso(execution.completed_at),
            own=own,
            owner=str(self.instance) if own else None,
        )
        return snap, [_node_snapshot(execution.id, task) for task in node_tasks]

    @staticmethod
    def _node_tasks(execution: WorkflowExecution) -> list[Task]:
        return [t for t in execution.tasks if t.node_id is not None and t.type is TaskType.NODE]

    async def flush(self, timeout: float | None = 10.0) -> None:
        """Wait until everything recorded so far is committed (tests, shutdown, before a read)."""
        target = self._marked
        if self.error is not None or self._written >= target:
            return
        self._urgent.set()
        self._wake.set()
        self._ensure_flusher()

        async def wait() -> None:
            async with self._progress:
                await self._progress.wait_for(
                    lambda: (
                        self._written >= target
                        or self.error is not None
                        or (self._flusher is not None and self._flusher.done())
                    )
                )

        await asyncio.wait_for(wait(), timeout)

    # ------------------------------------------------------------------- closing
    async def close(self) -> None:
        """Write the last state of every execution seen, then close the file."""
        if self._closed:
            return
        for attachment in list(self._attachments):
            attachment.unsubscribe()
        if self.error is None:
            for execution_id, runtime in [*self._seen.items(), *self._recent_final]:
                if execution_id in runtime.executions:
                    self._mark(runtime, execution_id, None, urgent=True)
            with contextlib.suppress(TimeoutError):
                await self.flush(timeout=30.0)
        self._closed = True
        self._wake.set()
        self._urgent.set()
        if self._flusher is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._flusher), 10.0)
            if not self._flusher.done():
                self._flusher.cancel()
        try:
            # After the last write: prompts still running are free for the next instance to follow live.
            await self._run(self._store.release_owner, str(self.instance))
        except Exception as exc:  # a failing file must not stop the app from closing
            log.warning("journal_release_failed", path=str(self.path), reason=str(exc))
        self._attachments.clear()
        self._observing.clear()
        _OPEN.pop(self.instance.token, None)
        self._store_closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._store.close)
        self._executor.shutdown(wait=False)
        log.debug("journal_closed", path=str(self.path), rows=self.stats.rows, batches=self.stats.batches)


def _open_store(path: Path, busy_timeout: float, keep_days: float) -> tuple[JournalStore, PruneResult | None]:
    """Open the store and apply the age bound; runs on the writer thread."""
    store = JournalStore(path, busy_timeout=busy_timeout)
    if keep_days <= 0:
        return store, None
    try:
        pruned = store.prune(older_than=timedelta(days=keep_days))
    except JournalError as exc:  # another instance holds the lock: prune on a later start
        log.warning("journal_auto_prune_failed", path=str(path), reason=exc.problem)
        return store, None
    except BaseException:
        store.close()
        raise
    if pruned.executions:
        log.info("journal_auto_pruned", path=str(path), keep_days=keep_days, executions=pruned.executions)
    return store, pruned


def _node_snapshot(execution_id: str, task: Task) -> NodeSnapshot:
    return NodeSnapshot(
        execution_id=execution_id,
        node_id=str(task.node_id),
        class_type=task.class_type,
        name=task.name,
        status=task.status.value,
        cached=task.cached,
        progress=finite(task.progress) or 0.0,
        value=finite(task.value),
        max=finite(task.max),
        started_at=iso(task.started_at),
        completed_at=iso(task.completed_at),
        error=task.error,
        error_type=task.error_type,
        status_detail=task.status_detail,
        traceback_json=dumps(task.traceback),
        outputs_json=dumps(task.outputs),
    )
