"""The per-prompt tracker: folds one prompt's messages into its execution and task tree.

Its life is an explicit :class:`TrackerState`; it tells its owner about its end through the
``on_ending`` / ``on_finished`` callbacks it is built with and never reaches into the runtime.
Every handler is synchronous and cheap: they run on the socket reader, once per message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..logs import get_logger
from .client import HistoryEntry
from .manager import AsyncTaskManager
from .models import ErrorReport, Task, TaskStatus, WorkflowExecution, output_files_from, utc_now
from .prompt import input_links
from .protocol import (
    ExecutedMessage,
    ExecutingMessage,
    ExecutionCachedMessage,
    ExecutionErrorMessage,
    ExecutionInterruptedMessage,
    ExecutionStartMessage,
    ExecutionSuccessMessage,
    Frame,
    ProgressMessage,
    ProgressStateMessage,
    TextFrame,
    parse_message,
)
from .snapshot_decode import SnapshotNodes
from .tree import add_task_tree

log = get_logger("comfy_reality.runtime")

# Per-prompt caches keyed by ids the server names are bounded: a buggy or hostile server can
# name endless fresh (ephemeral) node ids, and a long run must not grow without limit.
MAX_CACHED_IDS = 4096
MAX_OUTPUT_ITEMS = 256


class TrackerState(StrEnum):
    """Where a tracker is in its life; only the transitions below happen.

    BUFFERING -> FOLLOWING (``register``) -> ENDING (an end message) -> FINISHED (``finish``);
    any unfinished state -> DETACHED when the session closes, and back with ``resume``.
    """

    BUFFERING = "buffering"  # the POST is not answered yet: messages are kept for later
    FOLLOWING = "following"  # folding every message of the prompt into its tasks
    ENDING = "ending"  # an end message arrived: the history is being read, later messages ignored
    FINISHED = "finished"  # every task is final
    DETACHED = "detached"  # the session closed first: the prompt runs on, waiters were woken


TrackerCallback = Callable[["Tracker"], None]
# History messages that tell a run watched live from its start only the server's times of it.
_TIMES_ONLY = frozenset({"execution_start", "execution_success"})


def _ignore(_tracker: Tracker) -> None:
    return None


class Tracker:
    """Folds one prompt's messages into its execution and task tree (see the module docstring).

    ``on_ending`` is called once when an end message arrives (the owner then reads the history
    and calls :meth:`finish`); ``on_finished`` once every task is final.
    """

    def __init__(
        self,
        execution: WorkflowExecution,
        manager: AsyncTaskManager,
        *,
        on_ending: TrackerCallback = _ignore,
        on_finished: TrackerCallback = _ignore,
        foreign: bool = False,
        release_held: Callable[[], None] = lambda: None,
    ) -> None:
        self.execution = execution
        self.manager = manager
        self.on_ending = on_ending
        self.on_finished = on_finished
        self.release_held = release_held
        """Folds the snapshots the socket holds back (snapshots.py) before the tracker ends or detaches."""
        self.state = TrackerState.BUFFERING
        self._resume_state = TrackerState.FOLLOWING
        self.workflow_task: Task | None = None
        self.nodes: dict[str, Task] = {}
        self.buffer: list[Frame] = []  # messages that beat the POST answer (BUFFERING only)
        self.done = asyncio.Event()  # set when FINISHED or DETACHED: wakes the waiters
        self.end_signal = asyncio.Event()  # ``executing {node: null}``: history is written by now
        self.outcome: TaskStatus | None = None
        self.server_times: tuple[datetime | None, datetime | None] = (None, None)
        """(start, end) from the server's history messages: a re-attached run's real times."""
        self.foreign = foreign  # POSTed under another client_id: only progress reaches us
        self.observed = False  # an observer socket under that client_id feeds it live messages
        self.observe_requested = False  # follow it live again when a new session opens
        self.seen_progress_state = False
        self.joined_late = False
        """Attached while already running: our clock saw neither its start nor its nodes' starts."""
        self.witnessed_starts: set[str] = set()  # nodes whose start we saw happen after joining
        self._heard_live = False  # the first node message after joining only restates what already ran
        self.last_entry: dict[str, tuple[Any, Any, Any]] = {}
        self.finished_keys: set[str] = set()
        """progress_state keys seen finished: later messages repeat them unchanged."""
        self.folded_snapshot: int | None = None
        """The serial of the decoded snapshot (snapshot_decode.py) folded last, if after it every
        entry it held is in ``finished_keys`` or ``last_entry`` (or is not an object)."""
        self.ephemeral: dict[str, str] = {}
        self.with_children: set[str] = set()
        self.current: str | None = None
        self.rate_start: dict[str, tuple[float, float]] = {}
        self.blocked: dict[str, str] = {}
        self.failed_node: str | None = None
        self.skipped: dict[str, str] = {}
        self.ws_outputs: dict[str, Any] = {}
        self._completed_nodes = 0
        self._last_workflow_progress = -1.0
        self._cached_folded = False  # an execution_cached was folded: its history copy says nothing new

    # --------------------------------------------------------------- state
    @property
    def following(self) -> bool:
        """Registered and not ending: messages are folded in."""
        return self.state is TrackerState.FOLLOWING

    @property
    def ended(self) -> bool:
        """An end message arrived, or every task is final."""
        return self.state in (TrackerState.ENDING, TrackerState.FINISHED)

    @property
    def may_hold(self) -> bool:
        """Whether the socket may coalesce this prompt's snapshots: it follows them, ignores ``progress``
        once it has folded one, and a run joined late has already had its restatement folded."""
        return (
            self.state is TrackerState.FOLLOWING
            and self.seen_progress_state
            and (self._heard_live or not self.joined_late)
        )

    def detach(self) -> None:
        """The session closed before the prompt finished: wake the waiters, keep the state to resume."""
        if self.state in (TrackerState.FINISHED, TrackerState.DETACHED):
            return
        self.release_held()
        self._resume_state = self.state
        self.state = TrackerState.DETACHED
        self.done.set()

    def resume(self) -> None:
        """A new session follows a detached prompt again (an ending one asks for its history again)."""
        if self.state is not TrackerState.DETACHED:
            return
        self.state = self._resume_state
        self.done.clear()
        if self.state is TrackerState.ENDING:
            self.on_ending(self)

    # --------------------------------------------------------------- set-up
    def register(self) -> None:
        """Create the task tree (after the POST answer) and replay what arrived before it."""
        execution = self.execution
        workflow, nodes = add_task_tree(self.manager, execution)
        self.workflow_task = workflow
        self.nodes = {task.node_id or "": task for task in nodes}
        if execution.node_errors:
            self._skip_rejected(execution.node_errors)
        buffered, self.buffer = self.buffer, []
        self.state = TrackerState.FOLLOWING
        for message in buffered:
            self.handle(message)

    def _descendants(self, roots: Iterable[str]) -> dict[str, str]:
        """Every node that (transitively) takes input from one of ``roots`` -> the root it hangs off."""
        children: dict[str, list[str]] = {}
        for node_id, node in self.execution.prompt.items():
            for source in input_links(node.get("inputs") if isinstance(node, dict) else None):
                children.setdefault(source, []).append(node_id)
        found: dict[str, str] = {}
        for root in roots:
            stack = list(children.get(root, ()))
            while stack:
                node_id = stack.pop()
                if node_id not in found:
                    found[node_id] = root
                    stack.extend(children.get(node_id, ()))
        return found

    def _skip_rejected(self, node_errors: dict[str, Any]) -> None:
        """Partial acceptance: the server runs neither rejected nodes, nor what hangs below them,
        nor what only feeds them."""
        for node_id, entry in node_errors.items():
            errors = entry.get("errors", []) if isinstance(entry, dict) else []
            first = errors[0] if errors and isinstance(errors[0], dict) else {}
            text = first.get("message") or first.get("type") or "invalid"
            if first.get("details"):
                text = f"{text}: {first['details']}"
            self._skip(str(node_id), f"rejected by the server: {text}")
        for node_id, root in self._descendants(str(k) for k in node_errors).items():
            self._skip(node_id, f"not run: depends on node {root}, which failed validation")
        consumers: dict[str, set[str]] = {}
        for node_id, node in self.execution.prompt.items():
            for source in input_links(node.get("inputs") if isinstance(node, dict) else None):
                consumers.setdefault(source, set()).add(node_id)
        changed = True
        while changed:
            changed = False
            for node_id in self.nodes:
                users = consumers.get(node_id)
                if node_id not in self.skipped and users and users <= self.skipped.keys():
                    self._skip(node_id, "not run: it only feeds nodes the server rejected")
                    changed = True

    def _skip(self, node_id: str, detail: str) -> None:
        if node_id in self.nodes and node_id not in self.skipped:
            self.skipped[node_id] = detail
            self._cancel_node(node_id, detail)

    def _ancestors(self, outputs: Iterable[str]) -> set[str]:
        """The nodes an output needs (the part of the graph the server executes for it)."""
        needed: set[str] = set()
        stack = [o for o in outputs if o in self.execution.prompt]
        while stack:
            node_id = stack.pop()
            if node_id in needed:
                continue
            needed.add(node_id)
            node = self.execution.prompt.get(node_id)
            stack.extend(
                s
                for s in input_links(node.get("inputs") if isinstance(node, dict) else None)
                if s not in needed
            )
        return needed

    # ------------------------------------------------------------- helpers
    def _resolve(self, node_id: object, display: object = None) -> str | None:
        # Ids come from the wire: anything but a string (a list, a number) names no node here.
        if not isinstance(node_id, str):
            return None
        if not isinstance(display, str):
            display = None
        if node_id in self.nodes:
            return node_id
        mapped = self.ephemeral.get(node_id)
        if mapped is None:
            if display is not None and display in self.nodes:
                mapped = display
            else:
                head = node_id.split(".", 1)[0]
                mapped = head if head in self.nodes else None
            if mapped is not None:
                if len(self.ephemeral) < MAX_CACHED_IDS:
                    self.ephemeral[node_id] = mapped
                self.with_children.add(mapped)
        return mapped

    def mark_running(self) -> None:
        """The server says the prompt is running (queue, history or a start message)."""
        if self.workflow_task is not None and self.workflow_task.status is TaskStatus.PENDING:
            self.manager.start(self.workflow_task.id, f"Workflow '{self.workflow_task.name}' started")
        if self.execution.status is TaskStatus.PENDING:
            self.execution.status = TaskStatus.RUNNING
            self.execution.started_at = utc_now()

    def _start_node(self, node_id: str) -> None:
        task = self.nodes.get(node_id)
        if task is None or task.status is not TaskStatus.PENDING:
            return
        self.mark_running()
        self.manager.start(task.id)

    def _complete_node(self, node_id: str, *, cached: bool = False, detail: str | None = None) -> None:
        task = self.nodes.get(node_id)
        if task is None or task.is_final:
            return
        fields: dict[str, Any] = {}
        if cached:
            fields["cached"] = True
            fields["status_detail"] = "cached"
        elif detail:
            fields["status_detail"] = detail
        if task.max and task.value is not None and not cached:
            fields["value"] = task.max
        fields["eta_seconds"] = None
        unknown = self._start_unknown(node_id)
        if unknown:
            fields["started_at"] = None  # it began before the re-attach: the re-attach is not its start
        self.manager.finish(task.id, TaskStatus.COMPLETED, unknown_start=unknown, **fields)
        self._node_final()

    def _cancel_node(self, node_id: str, detail: str) -> None:
        task = self.nodes.get(node_id)
        if task is None or task.is_final:
            return
        fields: dict[str, Any] = {"status_detail": detail, "eta_seconds": None}
        unknown = self._start_unknown(node_id)
        if unknown:
            fields["started_at"] = None
        self.manager.finish(task.id, TaskStatus.CANCELLED, unknown_start=unknown, **fields)
        self._node_final()

    def _witnessing(self) -> bool:
        """Whether this node message shows starts as they happen (not the re-attach's first restatement)."""
        heard, self._heard_live = self._heard_live, True
        return heard or not self.joined_late

    def _witness(self, node_id: str) -> None:
        task = self.nodes.get(node_id)
        if task is not None and task.status is TaskStatus.PENDING:
            self.witnessed_starts.add(node_id)

    def _start_unknown(self, node_id: str) -> bool:
        """A node of a run joined late whose start we did not see: its duration is unknown, not ~0."""
        return self.joined_late and node_id not in self.witnessed_starts

    def _node_final(self) -> None:
        self._completed_nodes += 1
        self._workflow_progress()

    def _workflow_progress(self, running_fraction: float = 0.0) -> None:
        task = self.workflow_task
        if task is None or task.is_final or not self.nodes:
            return
        value = (self._completed_nodes + running_fraction) / len(self.nodes)
        # Whole percents: the figure depends on the state, not on which snapshots were folded.
        shown = 1.0 if value >= 1.0 else int(value * 100) / 100
        if shown != self._last_workflow_progress:
            self._last_workflow_progress = shown
            self.manager.set_progress(task.id, shown)

    def _set_node_progress(self, node_id: str, value: float, maximum: float) -> None:
        task = self.nodes.get(node_id)
        if task is None or task.is_final or maximum <= 0:
            return
        if task.status is TaskStatus.PENDING:
            self._start_node(node_id)
        if task.value == value and task.max == maximum:
            return
        now = time.monotonic()
        start = self.rate_start.get(node_id)
        if start is None or value < start[1] or task.max != maximum:
            self.rate_start[node_id] = (now, value)
            rate = None
        else:
            elapsed = now - start[0]
            rate = (value - start[1]) / elapsed if elapsed > 0.02 and value > start[1] else task.rate
        fraction = value / maximum
        self.manager.set_progress(
            task.id,
            fraction,
            value=value,
            max=maximum,
            rate=rate,
            eta_seconds=(maximum - value) / rate if rate else None,
        )
        self._workflow_progress(min(1.0, fraction))

    # ------------------------------------------------------------ dispatch
    def feed(self, message: Frame) -> None:
        """A message of this prompt from a socket: kept while BUFFERING, folded in after."""
        if self.state is TrackerState.BUFFERING:
            # Bounded: progress is dropped first (the next progress_state snapshot restores it).
            size = len(self.buffer)
            if size < MAX_CACHED_IDS or (
                size < 4 * MAX_CACHED_IDS and not isinstance(message, (ProgressMessage, ProgressStateMessage))
            ):
                self.buffer.append(message)
            return
        # handle(), inlined: once per message of every prompt.
        if (
            self.state is not TrackerState.FOLLOWING
            and self.ended
            and not isinstance(message, ExecutingMessage)
        ):
            return
        handler = _HANDLERS.get(type(message))
        if handler is not None:
            handler(self, message)

    def handle(self, message: Frame) -> None:
        if self.ended and not isinstance(message, ExecutingMessage):
            return
        handler = _HANDLERS.get(type(message))
        if handler is not None:
            handler(self, message)

    def on_start(self, message: ExecutionStartMessage) -> None:
        self.mark_running()

    def on_cached(self, message: ExecutionCachedMessage) -> None:
        self._cached_folded = True
        self.mark_running()
        for node_id in message.nodes:
            if node_id in self.nodes:
                self._complete_node(node_id, cached=True)

    def on_executing(self, message: ExecutingMessage) -> None:
        if message.node is None:
            if message.prompt_id is not None:
                self.end_signal.set()
                self.end(TaskStatus.COMPLETED)  # legacy end signal; de-duplicated by end()
            return
        if self.ended:
            return
        node_id = self._resolve(message.node, message.display_node)
        if node_id is None:
            return
        if self.current is not None and self.current != node_id and not self.seen_progress_state:
            # Servers without progress_state: the next node starting means the previous one is done.
            previous = self.nodes.get(self.current)
            if previous is not None and previous.status is TaskStatus.RUNNING:
                self._complete_node(self.current)
        self.current = node_id
        if self._witnessing():
            self._witness(node_id)
        self._start_node(node_id)

    def on_progress(self, message: ProgressMessage) -> None:
        if self.seen_progress_state:
            return  # progress_state carries the same numbers and more
        node_id = self._resolve(message.node)
        if node_id is not None:
            self._set_node_progress(node_id, message.value, message.max)

    def on_progress_state(self, message: ProgressStateMessage) -> None:
        self.seen_progress_state = True
        witnessing = self._witnessing()
        last = self.last_entry
        nodes = message.nodes
        finished = self.finished_keys
        folded, self.folded_snapshot = self.folded_snapshot, None
        keys: Iterable[str] = nodes
        if type(nodes) is SnapshotNodes and nodes.after is not None and nodes.after == folded:
            # The entries that did not change since the snapshot folded last would all be
            # skipped below (finished, or the same signature): fold only those that changed.
            keys = nodes.changed
        clean = True  # every entry's outcome is remembered (see folded_snapshot)
        # Every message restates every node that has started: skip the finished ones in one pass.
        for key in [key for key in keys if key not in finished] if finished else keys:
            entry = nodes[key]
            if not isinstance(entry, dict):
                continue
            state = entry.get("state")
            value = entry.get("value")
            maximum = entry.get("max")
            signature = (state, value, maximum)
            if last.get(key) == signature:
                continue
            direct = key in self.nodes
            if direct:
                node_id: str | None = key
            else:
                # The entry is not validated field by field: a hostile id that is not a string names nothing.
                display = entry.get("display_node_id") or entry.get("parent_node_id")
                node_id = self._resolve(key, display if isinstance(display, str) else None)
            if node_id is None:
                clean = False  # it may resolve later (an executing message can map it)
                continue
            if len(last) >= MAX_CACHED_IDS:
                last.clear()  # only a de-duplication cache
                clean = False
            last[key] = signature
            if state == "finished":
                if len(finished) < MAX_CACHED_IDS:
                    finished.add(key)  # a finished node never changes again
                if direct:
                    self._complete_node(node_id)
                continue
            if state != "running":
                continue
            if witnessing:
                self._witness(node_id)
            self._start_node(node_id)
            if not isinstance(value, (int, float)) or not isinstance(maximum, (int, float)):
                continue
            if direct and node_id in self.with_children:
                continue  # the parent of an expansion shows its children's progress
            if direct and maximum == 1.0 and value == 0.0 and self.nodes[node_id].value is None:
                continue  # "running, no progress bar": nothing to show yet
            if not direct and maximum <= 1:
                continue  # an expanded child without a progress bar must not hide a sibling's
            self._set_node_progress(node_id, float(value), float(maximum))
        if clean and type(nodes) is SnapshotNodes:
            self.folded_snapshot = nodes.serial

    def on_executed(self, message: ExecutedMessage) -> None:
        node_id = self._resolve(message.node, message.display_node)
        if node_id is None:
            return
        task = self.nodes[node_id]
        merged = {**task.outputs}
        for kind, items in message.output.items():
            if isinstance(items, list) and isinstance(merged.get(kind), list) and message.node != node_id:
                # Outputs of expanded children add up on their parent (the newest ones kept).
                merged[kind] = [*merged[kind], *items][-MAX_OUTPUT_ITEMS:]
            else:
                merged[kind] = items
        self.ws_outputs[node_id] = merged
        self.manager.update(task.id, outputs=merged)

    def on_error(self, message: ExecutionErrorMessage) -> None:
        node_id = self._resolve(message.node_id) if message.node_id else None
        if message.is_blocked:
            # An ExecutionBlocker: the node's output is withheld and the prompt goes on (ComfyUI reports
            # it as an execution_error without a traceback, yet does not stop the prompt).
            text = message.exception_message.strip() or "execution blocked"
            if node_id is not None:
                self.blocked[node_id] = text
                self._cancel_node(node_id, f"blocked: {text}")
            return
        error = ErrorReport(
            node_id=message.node_id,
            node_type=message.node_type,
            exception_type=message.exception_type,
            exception_message=message.exception_message.strip(),
            traceback=message.traceback,
            current_inputs=message.current_inputs,
            executed=message.executed,
        )
        self.execution.error = error
        for executed in message.executed:
            if executed in self.nodes:
                self._complete_node(executed)
        if node_id is not None:
            self.failed_node = node_id
            task = self.nodes[node_id]
            if task.status is TaskStatus.PENDING:
                self._start_node(node_id)
            self.manager.finish(
                task.id,
                TaskStatus.FAILED,
                error=error.exception_message or error.exception_type,
                error_type=error.exception_type,
                traceback=list(error.traceback),
                eta_seconds=None,
            )
            self._node_final()
        self.end(TaskStatus.FAILED)

    def on_interrupted(self, message: ExecutionInterruptedMessage) -> None:
        for executed in message.executed:
            if executed in self.nodes:
                self._complete_node(executed)
        node_id = self._resolve(message.node_id) if message.node_id else None
        if node_id is not None:
            self._cancel_node(node_id, "interrupted")
        self.end(TaskStatus.CANCELLED)

    def on_success(self, message: ExecutionSuccessMessage) -> None:
        self.end(TaskStatus.COMPLETED)

    def on_bare_executing(self, node: str) -> None:
        """After a reconnect the server names the node it is on, without a prompt_id."""
        node_id = self._resolve(node, node)
        if node_id is not None:
            self.current = node_id
            self._start_node(node_id)

    def on_text(self, frame: TextFrame) -> None:
        """A progress text of a running node (TEXT frames name no prompt: others are ignored)."""
        if not self.following or self.execution.status is not TaskStatus.RUNNING:
            return
        node_id = self._resolve(frame.node_id)
        if node_id is not None and self.nodes[node_id].status is TaskStatus.RUNNING:
            task = self.nodes[node_id]
            task.metadata["progress_text"] = frame.text
            self.manager.update(task.id, frame.text)

    # ------------------------------------------------------------------ end
    def end(self, outcome: TaskStatus) -> None:
        """An end message arrived: the first outcome wins; finish once the history is read."""
        if self.outcome is None:
            self.outcome = outcome
        if self.state in (TrackerState.BUFFERING, TrackerState.FOLLOWING):
            self.state = TrackerState.ENDING
            self.on_ending(self)

    def apply_history(self, entry: HistoryEntry) -> None:
        """Fold a history entry in: what the socket did not tell us (no client_id, reconnects)."""
        # A run watched live from its start needs neither the server's times (see finish) nor the
        # start and cached messages it already folded: those entries are not parsed again.
        workflow = self.workflow_task
        watched = (
            not self.joined_late
            and self.execution.started_at is not None
            and (workflow is None or workflow.status is not TaskStatus.PENDING)
        )
        for name, data in entry.message_list():
            if watched and (name in _TIMES_ONLY or (name == "execution_cached" and self._cached_folded)):
                continue
            message = parse_message(name, data)  # a WS message kept as [type, data]
            stamp = getattr(message, "timestamp", None)
            if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 10**14:
                when = datetime.fromtimestamp(stamp / 1000, tz=UTC)
                start, end = self.server_times
                if isinstance(message, ExecutionStartMessage):
                    self.server_times = (when, end)
                elif isinstance(
                    message, (ExecutionSuccessMessage, ExecutionErrorMessage, ExecutionInterruptedMessage)
                ):
                    self.server_times = (start, when)
            if isinstance(message, ExecutionStartMessage):
                self.mark_running()
            elif isinstance(message, ExecutionCachedMessage):
                self.on_cached(message)
            elif isinstance(message, ExecutionErrorMessage):
                if message.is_blocked or self.execution.error is None:
                    self.on_error(message)
            elif isinstance(message, ExecutionInterruptedMessage):
                self.on_interrupted(message)
        for node_id, output in entry.outputs.items():
            resolved = self._resolve(str(node_id))
            if resolved is not None and isinstance(output, dict) and not self.nodes[resolved].outputs:
                self.manager.update(self.nodes[resolved].id, outputs=output)
        if entry.status_str == "success":
            self.outcome = TaskStatus.COMPLETED
        elif entry.status_str == "error":
            self.outcome = TaskStatus.CANCELLED if entry.interrupted else TaskStatus.FAILED

    def finish(
        self,
        history: HistoryEntry | None,
        *,
        detail: str | None = None,
        outcome: TaskStatus | None = None,
    ) -> None:
        """Make every task final, wake the waiters and call ``on_finished``. Idempotent.

        ``outcome`` overrides what the messages said (a prompt removed from the queue, or lost).
        """
        if self.state is TrackerState.FINISHED:
            return
        self.release_held()
        if outcome is not None:
            self.outcome = outcome
        execution = self.execution
        seen_start = execution.started_at is not None  # watched live: our own clock stays consistent
        if history is not None:
            self.apply_history(history)
            outputs = history.outputs
        else:
            outputs = self.ws_outputs
        outcome = self.outcome or TaskStatus.COMPLETED
        execution.outputs = dict(outputs)
        execution.output_files = output_files_from(outputs)
        failed = self.failed_node
        unsettled = any(not task.is_final for task in self.nodes.values())
        blocked_below = self._descendants(self.blocked) if self.blocked and unsettled else {}
        item = history.item if history is not None and unsettled else None
        needed = (
            self._ancestors(item.outputs_to_execute) if item is not None and item.outputs_to_execute else None
        )
        for node_id, task in self.nodes.items():
            if task.is_final:
                continue
            if outcome is TaskStatus.COMPLETED:
                if node_id in blocked_below:
                    self._cancel_node(node_id, f"not run: blocked upstream at node {blocked_below[node_id]}")
                elif task.status is TaskStatus.PENDING and needed is not None and node_id not in needed:
                    self._cancel_node(node_id, "not run: not needed for the outputs the server executed")
                elif task.status is TaskStatus.RUNNING:
                    self._complete_node(node_id)
                elif node_id in execution.outputs or history is not None:
                    self._complete_node(node_id, detail="finished while not observed")
                else:
                    self._complete_node(node_id, detail="finished (no progress reported)")
            elif outcome is TaskStatus.FAILED:
                culprit = self.nodes.get(failed) if failed else None
                what = f"node {failed} ({culprit.class_type})" if culprit is not None else "another node"
                if task.status is TaskStatus.RUNNING:
                    self._cancel_node(node_id, f"stopped: {what} failed")
                else:
                    self._cancel_node(node_id, f"not run: {what} failed")
            else:
                reason = detail or "interrupted"
                if task.status is TaskStatus.RUNNING:
                    self._cancel_node(node_id, reason)
                else:
                    self._cancel_node(node_id, f"not run: {reason}")
        now = utc_now()
        execution.status = outcome
        execution.started_at = execution.started_at or now
        execution.completed_at = now
        server_start, server_end = self.server_times
        if (
            (not seen_start or self.joined_late)
            and server_start is not None
            and server_end is not None
            and server_end >= server_start
        ):
            # The server's own clock: right even for a run re-attached long after it ran.
            execution.started_at, execution.completed_at = server_start, server_end
        if detail:
            execution.status_detail = detail
        elif outcome is TaskStatus.FAILED and execution.error is not None:
            execution.status_detail = f"{execution.error.exception_type}: {execution.error.exception_message}"
        elif outcome is TaskStatus.CANCELLED:
            execution.status_detail = execution.status_detail or "interrupted"
        if self.workflow_task is not None:
            fields: dict[str, Any] = {"outputs": execution.outputs, "status_detail": execution.status_detail}
            if self.joined_late:  # its task started at the re-attach: give it the run's real times
                fields["started_at"] = execution.started_at
                fields["completed_at"] = execution.completed_at
            if outcome is TaskStatus.FAILED:
                error = execution.error
                # No error from the server (a lost prompt): the reason it ended is the message.
                fields["error"] = (
                    (error.exception_message or error.exception_type)
                    if error
                    else (execution.status_detail or "the prompt failed")
                )
                fields["error_type"] = error.exception_type if error else "ExecutionError"
                fields["traceback"] = list(error.traceback) if error else []
            self.manager.finish(self.workflow_task.id, outcome, **fields)
        self.state = TrackerState.FINISHED
        log.info(
            "execution_finished",
            execution_id=execution.id,
            prompt_id=execution.prompt_id,
            status=outcome.value,
            detail=execution.status_detail,
            output_files=len(execution.output_files),
        )
        self.done.set()
        self.on_finished(self)


_HANDLERS: dict[type[Any], Callable[[Tracker, Any], None]] = {
    ExecutionStartMessage: Tracker.on_start,
    ExecutionCachedMessage: Tracker.on_cached,
    ExecutingMessage: Tracker.on_executing,
    ProgressMessage: Tracker.on_progress,
    ProgressStateMessage: Tracker.on_progress_state,
    ExecutedMessage: Tracker.on_executed,
    ExecutionErrorMessage: Tracker.on_error,
    ExecutionInterruptedMessage: Tracker.on_interrupted,
    ExecutionSuccessMessage: Tracker.on_success,
}
