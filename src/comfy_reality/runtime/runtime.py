"""ComfyUIAsyncRuntime: submit, follow, cancel and retry ComfyUI prompts as a task tree.

One runtime instance = one server, one WebSocket, one ``client_id`` of its own. ComfyUI sends
a prompt's execution messages only to the socket holding the ``client_id`` the prompt was
POSTed with (and only to the newest such socket), so every prompt goes out with this
instance's id and messages are routed by ``prompt_id``; many executions share one socket.

The ``prompt_id`` is chosen here (uuid4; the server accepts it) and registered before the
POST, so messages that beat the POST answer (they often do) are buffered, never lost. Each
execution is folded into a WORKFLOW task with one NODE child per node of the prompt. When the
socket drops, it is reopened with backoff and every unfinished execution is reconciled from
GET /queue + /history, so no completion or failure is ever missed.

A prompt re-attached after an app restart was POSTed under the previous instance's
``client_id``, so its live messages go to that id's socket only. When the caller knows that
instance is gone (the journal checks), :meth:`ComfyUIAsyncRuntime.observe` opens an extra
"observer" socket under the old id and folds its messages in as for our own prompts; the
/history poller stays on as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..logs import configure_logging
from .auth import Auth
from .client import ComfyUIClient, HistoryEntry, QueueState, new_client_id
from .errors import ComfyError, ExecutionNotFoundError, InvalidWorkflowError, ServerUnreachableError
from .manager import AsyncTaskManager, Unsubscribe
from .models import (
    ConnectionState,
    ExecutionError,
    OutputFile,
    ServerStatus,
    Task,
    TaskStatus,
    TaskType,
    WorkflowExecution,
    new_id,
    output_files_from,
    utc_now,
)
from .protocol import (
    ExecutedMessage,
    ExecutingMessage,
    ExecutionCachedMessage,
    ExecutionErrorMessage,
    ExecutionInterruptedMessage,
    ExecutionStartMessage,
    ExecutionSuccessMessage,
    FeatureFlagsMessage,
    Frame,
    LogsMessage,
    PreviewImageFrame,
    PreviewImageWithMetadataFrame,
    ProgressMessage,
    ProgressStateMessage,
    StatusMessage,
    TextFrame,
    parse_frame,
    parse_message,
)

log = structlog.get_logger("comfy_reality.runtime")

# Per-prompt caches keyed by ids the server names are bounded: a buggy or hostile server can
# name endless fresh (ephemeral) node ids, and a long run must not grow without limit.
MAX_CACHED_IDS = 4096
MAX_OUTPUT_ITEMS = 256
# An observer socket that cannot connect (or keeps dropping at once) this many times in a row
# gives up: the /history poller still finishes its prompts.
OBSERVER_MAX_FAILURES = 5
# How long an observer that missed two status broadcasts gets to show it is still routed
# (its frames may just be waiting to be read) before it is reopened.
OBSERVER_SILENCE_GRACE = 1.0

StatusCallback = Callable[[ServerStatus], None]
PreviewCallback = Callable[["PreviewFrame"], None]


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: exponential, capped, with jitter so many clients do not stampede."""

    initial: float = 0.25
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.3

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 32))
        return base * (1.0 - self.jitter * random.random())


class PreviewFrame(BaseModel):
    """A live preview image (sampler preview, SaveImageWebsocket) for the TUI to show."""

    model_config = ConfigDict(frozen=True)

    execution_id: str | None = None
    prompt_id: str | None = None
    node_id: str | None = None
    display_node_id: str | None = None
    image_type: str
    image: bytes = Field(repr=False)
    received_at: datetime = Field(default_factory=utc_now)


T = TypeVar("T")


def _natural_key(node_id: str) -> tuple[tuple[int, int, str], ...]:
    """ "2" < "10" < "10:3" < "a": numbers as numbers, never comparing a number with text."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", node_id) if p)


def _listen(listeners: list[T], callback: T) -> Unsubscribe:
    """Add a callback to a listener list; the returned handle removes it again."""
    listeners.append(callback)

    def remove() -> None:
        if callback in listeners:
            listeners.remove(callback)

    return Unsubscribe(remove)


def _links(inputs: Any) -> Iterable[str]:
    if not isinstance(inputs, dict):
        return
    for value in inputs.values():
        if (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], str)
            and isinstance(value[1], int)
        ):
            yield value[0]


def check_prompt(prompt: Any) -> dict[str, Any]:
    """Refuse anything that is not an API-format prompt, with a message saying what to do."""
    if not isinstance(prompt, dict) or not prompt:
        raise InvalidWorkflowError(
            "The prompt must be a non-empty JSON object of nodes ({node_id: {class_type, inputs}}); "
            f"got {type(prompt).__name__}."
        )
    if "nodes" in prompt and "links" in prompt:
        raise InvalidWorkflowError(
            "This is a UI-format workflow (as saved by the ComfyUI editor), not an API-format prompt. "
            "Convert it first with comfy_reality.workflows.load_prompt() (the CLI and TUI do this "
            "automatically), or export it from ComfyUI with 'Export (API)'."
        )
    if set(prompt) == {"prompt"} or ("prompt" in prompt and isinstance(prompt.get("prompt"), dict)):
        raise InvalidWorkflowError(
            "This looks like a POST /prompt body ({'prompt': {...}}); pass the inner prompt object instead."
        )
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise InvalidWorkflowError(
                f"Node {node_id!r} has no class_type: every node of an API-format prompt needs "
                "'class_type' and 'inputs'."
            )
        if "inputs" in node and not isinstance(node["inputs"], dict):
            raise InvalidWorkflowError(
                f"Node {node_id!r} ({node['class_type']}): 'inputs' must be an object."
            )
    try:
        json.dumps(prompt)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidWorkflowError(f"The prompt cannot be sent as JSON: {exc}.") from exc
    return {str(k): v for k, v in prompt.items()}


class _Tracker:
    """Folds one prompt's messages into its task tree; all handlers are synchronous and cheap."""

    def __init__(self, runtime: ComfyUIAsyncRuntime, execution: WorkflowExecution) -> None:
        self.runtime = runtime
        self.manager = runtime.task_manager
        self.execution = execution
        self.workflow_task: Task | None = None
        self.nodes: dict[str, Task] = {}
        self.buffer: list[Frame] | None = []  # messages that beat the POST answer
        self.done = asyncio.Event()
        self.end_signal = asyncio.Event()  # ``executing {node: null}``: history is written by now
        self.outcome: TaskStatus | None = None
        self.ending = False  # an end message arrived: later messages are ignored
        self.finalize_scheduled = False
        self.detached = False
        self.foreign = False  # POSTed under another client_id: only progress reaches us
        self.observed = False  # an observer socket under that client_id feeds it live messages
        self.observe_requested = False  # follow it live again when a new session opens
        self.seen_progress_state = False
        self.last_entry: dict[str, tuple[Any, Any, Any]] = {}
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

    # --------------------------------------------------------------- set-up
    def register(self) -> None:
        """Create the task tree (after the POST answer) and replay what arrived before it."""
        execution = self.execution
        workflow = Task(
            id=new_id("workflow"),
            type=TaskType.WORKFLOW,
            name=execution.name or execution.workflow_id,
            prompt_id=execution.prompt_id,
            metadata={
                "execution_id": execution.id,
                "workflow_id": execution.workflow_id,
                "server_url": execution.server_url,
                "client_id": execution.client_id,
            },
        )
        self.workflow_task = self.manager.add_task(workflow)
        execution.workflow_task_id = workflow.id
        for node_id in sorted(execution.prompt, key=_natural_key):
            node = execution.prompt[node_id]
            class_type = str(node.get("class_type", "?")) if isinstance(node, dict) else "?"
            meta = node.get("_meta") if isinstance(node, dict) else None
            title = (
                meta.get("title") if isinstance(meta, dict) and isinstance(meta.get("title"), str) else None
            )
            task = Task(
                id=new_id("node"),
                type=TaskType.NODE,
                name=f"{title or class_type} #{node_id}",
                parent_id=workflow.id,
                node_id=node_id,
                class_type=class_type,
                prompt_id=execution.prompt_id,
                metadata={"execution_id": execution.id},
            )
            self.nodes[node_id] = self.manager.add_task(task)
        execution.tasks = list(self.nodes.values())  # the node tasks; the workflow task is workflow_task_id
        if execution.node_errors:
            self._skip_rejected(execution.node_errors)
        buffered, self.buffer = self.buffer or [], None
        for message in buffered:
            self.handle(message)

    def _descendants(self, roots: Iterable[str]) -> dict[str, str]:
        """Every node that (transitively) takes input from one of ``roots`` -> the root it hangs off."""
        children: dict[str, list[str]] = {}
        for node_id, node in self.execution.prompt.items():
            for source in _links(node.get("inputs") if isinstance(node, dict) else None):
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
            for source in _links(node.get("inputs") if isinstance(node, dict) else None):
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
                s for s in _links(node.get("inputs") if isinstance(node, dict) else None) if s not in needed
            )
        return needed

    # ------------------------------------------------------------- helpers
    def _resolve(self, node_id: str | None, display: str | None = None) -> str | None:
        if node_id is None:
            return None
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

    def _start_workflow(self) -> None:
        if self.workflow_task is not None and self.workflow_task.status is TaskStatus.PENDING:
            self.manager.start(self.workflow_task.id, f"Workflow '{self.workflow_task.name}' started")
        if self.execution.status is TaskStatus.PENDING:
            self.execution.status = TaskStatus.RUNNING
            self.execution.started_at = utc_now()

    def _start_node(self, node_id: str) -> None:
        task = self.nodes.get(node_id)
        if task is None or task.status is not TaskStatus.PENDING:
            return
        self._start_workflow()
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
        self.manager.finish(task.id, TaskStatus.COMPLETED, **fields)
        self._node_final()

    def _cancel_node(self, node_id: str, detail: str) -> None:
        task = self.nodes.get(node_id)
        if task is None or task.is_final:
            return
        self.manager.finish(task.id, TaskStatus.CANCELLED, status_detail=detail, eta_seconds=None)
        self._node_final()

    def _node_final(self) -> None:
        self._completed_nodes += 1
        self._workflow_progress()

    def _workflow_progress(self, running_fraction: float = 0.0) -> None:
        task = self.workflow_task
        if task is None or task.is_final or not self.nodes:
            return
        value = min(1.0, (self._completed_nodes + running_fraction) / len(self.nodes))
        if abs(value - self._last_workflow_progress) >= 0.01 or value >= 1.0:
            self._last_workflow_progress = value
            self.manager.set_progress(task.id, value)

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
        task.value = value
        task.max = maximum
        task.rate = rate
        task.eta_seconds = (maximum - value) / rate if rate else None
        fraction = value / maximum
        self.manager.set_progress(
            task.id, fraction, value=value, max=maximum, rate=rate, eta_seconds=task.eta_seconds
        )
        self._workflow_progress(min(1.0, fraction))

    # ------------------------------------------------------------ dispatch
    def feed(self, message: Frame) -> None:
        if self.buffer is not None:
            # Bounded: progress is dropped first (the next progress_state snapshot restores it).
            size = len(self.buffer)
            if size < MAX_CACHED_IDS or (
                size < 4 * MAX_CACHED_IDS and not isinstance(message, (ProgressMessage, ProgressStateMessage))
            ):
                self.buffer.append(message)
            return
        self.handle(message)

    def handle(self, message: Frame) -> None:
        if self.ending and not isinstance(message, ExecutingMessage):
            return
        handler = _HANDLERS.get(type(message))
        if handler is not None:
            handler(self, message)

    def on_start(self, message: ExecutionStartMessage) -> None:
        self._start_workflow()

    def on_cached(self, message: ExecutionCachedMessage) -> None:
        self._start_workflow()
        for node_id in message.nodes:
            if node_id in self.nodes:
                self._complete_node(node_id, cached=True)

    def on_executing(self, message: ExecutingMessage) -> None:
        if message.node is None:
            if message.prompt_id is not None:
                self.end_signal.set()
                self.end(TaskStatus.COMPLETED)  # legacy end signal; de-duplicated by end()
            return
        if self.ending:
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
        self._start_node(node_id)

    def on_progress(self, message: ProgressMessage) -> None:
        if self.seen_progress_state:
            return  # progress_state carries the same numbers and more
        node_id = self._resolve(message.node)
        if node_id is not None:
            self._set_node_progress(node_id, message.value, message.max)

    def on_progress_state(self, message: ProgressStateMessage) -> None:
        self.seen_progress_state = True
        last = self.last_entry
        for key, entry in message.nodes.items():
            if not isinstance(entry, dict):
                continue
            state = entry.get("state")
            value = entry.get("value")
            maximum = entry.get("max")
            signature = (state, value, maximum)
            if last.get(key) == signature:
                continue
            direct = key in self.nodes
            node_id = (
                key
                if direct
                else self._resolve(key, entry.get("display_node_id") or entry.get("parent_node_id"))
            )
            if node_id is None:
                continue
            if len(last) >= MAX_CACHED_IDS:
                last.clear()  # only a de-duplication cache
            last[key] = signature
            if state == "finished":
                if direct:
                    self._complete_node(node_id)
                continue
            if state != "running":
                continue
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
            # An ExecutionBlocker: the node's output is withheld; the prompt goes on (quirk 10).
            text = message.exception_message.strip() or "execution blocked"
            if node_id is not None:
                self.blocked[node_id] = text
                self._cancel_node(node_id, f"blocked: {text}")
            return
        error = ExecutionError(
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
        node_id = self._resolve(frame.node_id)
        if node_id is not None:
            task = self.nodes[node_id]
            task.metadata["progress_text"] = frame.text
            self.manager.update(task.id, frame.text)

    # ------------------------------------------------------------------ end
    def end(self, outcome: TaskStatus) -> None:
        """An end message arrived: the first outcome wins; finish once the history is read."""
        if self.outcome is None:
            self.outcome = outcome
        self.ending = True
        if not self.finalize_scheduled:
            self.finalize_scheduled = True
            self.runtime._spawn(self.runtime._finalize(self), f"finalize-{self.execution.prompt_id}")

    def apply_history(self, entry: HistoryEntry) -> None:
        """Fold a history entry in: what the socket did not tell us (no client_id, reconnects)."""
        for name, data in entry.message_list():
            message = parse_message(name, data)  # a WS message kept as [type, data]
            if isinstance(message, ExecutionStartMessage):
                self._start_workflow()
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

    def complete(self, history: HistoryEntry | None, *, detail: str | None = None) -> None:
        """Make every task final and wake the waiters. Idempotent."""
        if self.done.is_set() and not self.detached:
            return
        execution = self.execution
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
        if detail:
            execution.status_detail = detail
        elif outcome is TaskStatus.FAILED and execution.error is not None:
            execution.status_detail = f"{execution.error.exception_type}: {execution.error.exception_message}"
        elif outcome is TaskStatus.CANCELLED:
            execution.status_detail = execution.status_detail or "interrupted"
        if self.workflow_task is not None:
            fields: dict[str, Any] = {"outputs": execution.outputs, "status_detail": execution.status_detail}
            if outcome is TaskStatus.FAILED:
                error = execution.error
                fields["error"] = (
                    (error.exception_message or error.exception_type) if error else "the prompt failed"
                )
                fields["error_type"] = error.exception_type if error else "ExecutionError"
                fields["traceback"] = list(error.traceback) if error else []
            self.manager.finish(self.workflow_task.id, outcome, **fields)
        self.ending = True
        self.finalize_scheduled = True
        self.detached = False
        log.info(
            "execution_finished",
            execution_id=execution.id,
            prompt_id=execution.prompt_id,
            status=outcome.value,
            detail=execution.status_detail,
            output_files=len(execution.output_files),
        )
        self.done.set()


_HANDLERS: dict[type[Any], Callable[[_Tracker, Any], None]] = {
    ExecutionStartMessage: _Tracker.on_start,
    ExecutionCachedMessage: _Tracker.on_cached,
    ExecutingMessage: _Tracker.on_executing,
    ProgressMessage: _Tracker.on_progress,
    ProgressStateMessage: _Tracker.on_progress_state,
    ExecutedMessage: _Tracker.on_executed,
    ExecutionErrorMessage: _Tracker.on_error,
    ExecutionInterruptedMessage: _Tracker.on_interrupted,
    ExecutionSuccessMessage: _Tracker.on_success,
}


class _Observer:
    """An extra socket under a previous instance's client_id, for the prompts that instance POSTed."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.prompt_ids: set[str] = set()
        self.task: asyncio.Task[None] | None = None
        self.ws: ClientConnection | None = None
        self.last_progress: tuple[str | None, str | None] = (None, None)
        self.connections = 0
        # The main socket's status count when this socket last received anything. ComfyUI
        # broadcasts status to every registered socket; when any socket of a client_id closes
        # it forgets that client_id, so an older socket of the old client closing late leaves
        # this one open but unrouted. Silence across two broadcasts the main socket got, and
        # for a grace period after, = that.
        self.mark = 0
        self.suspect = False
        self.heard = asyncio.Event()

    @property
    def label(self) -> str:
        # A client_id is a routing key (whoever holds it gets the messages): log a prefix only.
        return self.client_id[:8]


class ComfyUIAsyncRuntime:
    """Run ComfyUI prompts on one server as observable tasks (see the module docstring)."""

    def __init__(
        self,
        server_url: str | None = None,
        *,
        task_manager: AsyncTaskManager | None = None,
        auth: Auth | None = None,
        client_id: str | None = None,
        timeout: float = 30.0,
        verify_tls: bool = True,
        backoff: Backoff | None = None,
        poll_interval: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``backoff`` paces reconnects; ``poll_interval`` bounds how late the end of a prompt
        POSTed under another client_id is noticed; ``transport`` is for httpx test transports."""
        self.client = ComfyUIClient(
            server_url, auth=auth, timeout=timeout, verify_tls=verify_tls, transport=transport
        )
        self.server_url = self.client.server_url
        self.task_manager = task_manager or AsyncTaskManager()
        self.client_id = client_id or new_client_id()
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        self.executions: dict[str, WorkflowExecution] = {}
        self._trackers: dict[str, _Tracker] = {}  # by prompt_id, unfinished only
        self._by_execution: dict[str, _Tracker] = {}
        self._status = ServerStatus(url=self.server_url, state=ConnectionState.CONNECTING)
        self._status_callbacks: list[StatusCallback] = []
        self._preview_callbacks: list[PreviewCallback] = []
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ws: ClientConnection | None = None
        self._wake = asyncio.Event()
        self._conn_cond: asyncio.Condition | None = None
        self._attempts = 0
        self._queue_changed = asyncio.Event()
        self._polling = False
        self._closing = False
        self._last_progress: tuple[str | None, str | None] = (None, None)
        self._observers: dict[str, _Observer] = {}  # by the client_id they listen as
        self._status_count = 0  # status broadcasts seen on the main socket
        self.messages_received = 0

    # ------------------------------------------------------------------ status
    @property
    def status(self) -> ServerStatus:
        return self._status

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def session_open(self) -> bool:
        """True between entering and leaving :meth:`session` (the journal asks, to know whose
        live socket this runtime may still hold)."""
        return self._tg is not None and not self._closing

    @property
    def observers(self) -> dict[str, bool]:
        """The observer sockets open now: recorded client_id -> connected."""
        return {client_id: o.ws is not None for client_id, o in self._observers.items()}

    def subscribe_status(self, callback: StatusCallback) -> Unsubscribe:
        return _listen(self._status_callbacks, callback)

    def subscribe_previews(self, callback: PreviewCallback) -> Unsubscribe:
        return _listen(self._preview_callbacks, callback)

    def _publish_status(self, status: ServerStatus) -> None:
        previous = self._status
        self._status = status
        if previous.state is not status.state or previous.reason != status.reason:
            log.info(
                "server_status",
                url=status.url,
                state=status.state.value,
                reason=status.reason,
                retry_in=status.retry_in,
            )
        for callback in list(self._status_callbacks):
            try:
                callback(status)
            except Exception:
                log.exception("status_subscriber_failed", subscriber=repr(callback))

    def _set_state(
        self, state: ConnectionState, reason: str | None = None, retry_in: float | None = None
    ) -> None:
        self._publish_status(
            ServerStatus(
                url=self.server_url,
                state=state,
                queue_remaining=self._status.queue_remaining,
                reason=reason,
                retry_in=retry_in,
            )
        )

    # ----------------------------------------------------------------- session
    @asynccontextmanager
    async def session(self) -> AsyncIterator[ComfyUIAsyncRuntime]:
        """Open HTTP + the WebSocket (reconnecting in the background); closing leaves prompts running."""
        if self._tg is not None:
            raise RuntimeError("This runtime's session is already open; use one session per runtime.")
        if not structlog.is_configured():
            # Used as a library without the app's set-up: JSON lines to the log file, not the console.
            with contextlib.suppress(OSError):  # no usable log dir: logging is off, the run goes on
                configure_logging()
        self._closing = False
        for tracker in self._trackers.values():
            if tracker.detached:  # left unfinished by an earlier session: follow it again
                tracker.detached = False
                tracker.done.clear()
        self._conn_cond = asyncio.Condition()
        self._wake = asyncio.Event()
        self._queue_changed = asyncio.Event()
        self._polling = False
        body_error: BaseException | None = None
        async with self.client:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                loop_task = tg.create_task(self._connection_loop(), name=f"comfy-ws-{self.client_id[:8]}")
                if any(t.foreign for t in self._trackers.values()):
                    self._ensure_poller()
                for tracker in list(self._trackers.values()):
                    if tracker.observe_requested and tracker.execution.prompt_id:
                        self.observe(tracker.execution.prompt_id)
                try:
                    yield self
                except BaseException as exc:  # re-raised below, outside the TaskGroup (no ExceptionGroup)
                    body_error = exc
                finally:
                    self._closing = True
                    ws = self._ws
                    if ws is not None:
                        with contextlib.suppress(Exception):
                            await ws.close()
                    loop_task.cancel()
                    for task in list(self._tasks):
                        task.cancel()
            self._tg = None
            self._ws = None
            for observer in self._observers.values():
                for prompt_id in observer.prompt_ids:
                    if (observed := self._trackers.get(prompt_id)) is not None:
                        observed.observed = False
            self._observers.clear()
            for tracker in list(self._by_execution.values()):
                if not tracker.done.is_set():
                    tracker.detached = True
                    tracker.done.set()
        self._set_state(ConnectionState.DOWN, reason="session closed")
        if body_error is not None:
            raise body_error

    def _require_session(self) -> asyncio.TaskGroup:
        if self._tg is None:
            raise RuntimeError("Open the runtime first: 'async with runtime.session(): ...'.")
        return self._tg

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None] | None:
        """Run a background job in the session's TaskGroup; its errors are logged, never fatal."""
        if self._tg is None or self._closing:
            coro.close()
            return None

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background_job_failed", job=name)

        task = self._tg.create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --------------------------------------------------------------- websocket
    async def _notify_attempt(self) -> None:
        self._attempts += 1
        if self._conn_cond is not None:
            async with self._conn_cond:
                self._conn_cond.notify_all()

    async def _connection_loop(self) -> None:
        failures = 0  # failed connection attempts in a row
        quick_drops = 0  # connections that died right after opening (a proxy bouncing us, say)
        ever_connected = False
        delay = 0.0
        while not self._closing:
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                except TimeoutError:
                    pass
            self._wake.clear()
            try:
                ws = await self.client.connect_websocket(self.client_id)
            except ServerUnreachableError as exc:
                delay = self.backoff.delay(failures + quick_drops)
                failures += 1
                state = (
                    ConnectionState.RECONNECTING if ever_connected and failures < 4 else ConnectionState.DOWN
                )
                self._set_state(state, reason=exc.reason, retry_in=round(delay, 2))
                await self._notify_attempt()
                continue
            failures = 0
            self._ws = ws
            connected_at = time.monotonic()
            reconnected = ever_connected
            ever_connected = True
            self._set_state(ConnectionState.CONNECTED)
            await self._notify_attempt()
            if reconnected or self._trackers:
                self._spawn(self._reconcile_all(), "reconcile")
            reason = await self._read(ws)
            self._ws = None
            if self._closing:
                return
            if time.monotonic() - connected_at < 2.0:
                delay = self.backoff.delay(quick_drops)
                quick_drops += 1
            else:
                delay = quick_drops = 0
            self._set_state(ConnectionState.RECONNECTING, reason=reason, retry_in=round(delay, 2))

    async def _read(self, ws: ClientConnection) -> str:
        try:
            async for frame in ws:
                self._on_frame(frame)
                if self.messages_received % 256 == 0:
                    await asyncio.sleep(0)  # a flood of buffered frames must not starve the UI
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            return f"connection lost (close code {code})" if code else "connection lost"
        finally:
            if self._closing:
                await ws.close()
        return "the server closed the connection"

    def reconnect_now(self) -> None:
        """Skip the current backoff wait and try the WebSocket again at once (the app's F5)."""
        if self._ws is None:
            self._wake.set()

    async def _ensure_connected(self) -> None:
        """Wait for the socket (at most one connection attempt); fail fast when the server is down."""
        if self._ws is not None:
            return
        assert self._conn_cond is not None
        self._wake.set()
        start = self._attempts
        try:
            async with asyncio.timeout(self.timeout):
                async with self._conn_cond:
                    await self._conn_cond.wait_for(lambda: self._ws is not None or self._attempts > start)
        except TimeoutError:
            pass
        if self._ws is None:
            raise ServerUnreachableError(
                self.server_url, self._status.reason or "the WebSocket is not connected"
            )

    # ----------------------------------------------------------------- frames
    def _on_frame(self, frame: str | bytes) -> None:
        self.messages_received += 1
        try:
            message = parse_frame(frame)
            if message is not None:
                self._route(message)
        except Exception:
            log.exception("ws_frame_failed")

    def _route(self, message: Frame) -> None:
        # Ordered by frequency: the progress flood first.
        if isinstance(message, (ProgressStateMessage, ProgressMessage)):
            if isinstance(message, ProgressMessage):
                self._last_progress = (message.prompt_id, message.node)
            tracker = self._trackers.get(message.prompt_id) if message.prompt_id else None
            if tracker is not None:
                tracker.feed(message)
        elif isinstance(message, StatusMessage):
            self._queue_changed.set()
            if message.sid is None:  # a broadcast, not the hello sent to this socket alone
                self._status_count += 1
                if self._observers:
                    self._check_observers()
            if message.queue_remaining != self._status.queue_remaining:
                self._publish_status(
                    self._status.model_copy(update={"queue_remaining": message.queue_remaining})
                )
        elif isinstance(message, ExecutingMessage) and message.prompt_id is None:
            if message.node is not None:
                # ComfyUI runs one prompt at a time: the one of ours that started last is it.
                running = [
                    t
                    for t in self._trackers.values()
                    if t.buffer is None
                    and not t.foreign
                    and not t.ending
                    and t.execution.status is TaskStatus.RUNNING
                ]
                if running:
                    latest = max(running, key=lambda t: t.execution.started_at or t.execution.created_at)
                    latest.on_bare_executing(message.node)
        elif isinstance(message, PreviewImageWithMetadataFrame):
            self._deliver_preview(
                message.prompt_id, message.node_id, message.display_node_id, message.image_type, message.image
            )
        elif isinstance(message, PreviewImageFrame):
            prompt_id, node_id = self._last_progress  # a type 1 frame follows its progress message
            self._deliver_preview(prompt_id, node_id, None, message.image_type, message.image)
        elif isinstance(message, TextFrame):
            for tracker in list(self._trackers.values()):
                if tracker.buffer is None and tracker.execution.status is TaskStatus.RUNNING:
                    task = tracker.nodes.get(tracker._resolve(message.node_id) or "")
                    if task is not None and task.status is TaskStatus.RUNNING:
                        tracker.on_text(message)
        elif isinstance(message, FeatureFlagsMessage):
            self.client.server_features = dict(message.flags)
        elif isinstance(message, LogsMessage):
            for entry in message.entries:
                log.debug("server_log", text=entry.m.rstrip())
        else:
            prompt_id = getattr(message, "prompt_id", None)
            if isinstance(prompt_id, str):
                tracker = self._trackers.get(prompt_id)
                if tracker is not None:
                    tracker.feed(message)

    def _deliver_preview(
        self, prompt_id: str | None, node_id: str | None, display: str | None, image_type: str, image: bytes
    ) -> None:
        if not self._preview_callbacks:
            return
        tracker = self._trackers.get(prompt_id) if prompt_id else None
        frame = PreviewFrame(
            execution_id=tracker.execution.id if tracker else None,
            prompt_id=prompt_id,
            node_id=node_id,
            display_node_id=display,
            image_type=image_type,
            image=image,
        )
        for callback in list(self._preview_callbacks):
            try:
                callback(frame)
            except Exception:
                log.exception("preview_subscriber_failed", subscriber=repr(callback))

    # ---------------------------------------------------------------- finishing
    async def _finalize(self, tracker: _Tracker) -> None:
        """Read the history entry (output files, what the socket missed) and finish the execution."""
        prompt_id = tracker.execution.prompt_id
        assert prompt_id is not None
        # A foreign prompt's end message reaches us only through an observer socket.
        if not tracker.end_signal.is_set() and (not tracker.foreign or tracker.observed):
            try:
                await asyncio.wait_for(tracker.end_signal.wait(), timeout=2.0)
            except TimeoutError:
                pass
        entry: HistoryEntry | None = None
        delay = 0.05
        for _ in range(8):
            try:
                entry = await self.client.get_history_entry(prompt_id)
            except ComfyError as exc:
                log.warning("history_unavailable", prompt_id=prompt_id, error=str(exc))
                break
            if entry is not None:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        self._close_tracker(tracker, entry)

    def _close_tracker(
        self, tracker: _Tracker, entry: HistoryEntry | None, *, detail: str | None = None
    ) -> None:
        tracker.ending = tracker.finalize_scheduled = True
        tracker.complete(entry, detail=detail)
        prompt_id = tracker.execution.prompt_id
        if prompt_id is not None and self._trackers.get(prompt_id) is tracker:
            del self._trackers[prompt_id]
        if tracker.observed or tracker.observe_requested:
            self._unobserve(tracker)
        self._forget_old_executions()

    def _forget_old_executions(self) -> None:
        """Keep as many finished executions as the task manager keeps finished workflows."""
        keep = self.task_manager.max_finished_roots
        if len(self.executions) <= keep:
            return
        finished = [e for e in self.executions.values() if e.is_final]
        for execution in finished[: max(0, len(finished) - keep)]:
            del self.executions[execution.id]
            self._by_execution.pop(execution.id, None)

    async def _reconcile_all(self) -> None:
        for tracker in list(self._trackers.values()):
            if tracker.buffer is None and not tracker.ending:
                await self._reconcile(tracker)

    async def _reconcile(self, tracker: _Tracker) -> bool:
        """Ask the server where the prompt is; finish it if it ended while we were not listening."""
        prompt_id = tracker.execution.prompt_id
        assert prompt_id is not None
        state = await self.client.prompt_state(prompt_id)
        if tracker.ending or tracker.done.is_set():
            return True
        if state.where == "finished":
            log.info(
                "reconciled_finished",
                prompt_id=prompt_id,
                status=state.history.status_str if state.history else None,
            )
            self._close_tracker(tracker, state.history)
            return True
        if state.where == "running":
            tracker._start_workflow()
        elif state.where == "unknown":
            log.warning("prompt_lost", prompt_id=prompt_id)
            tracker.outcome = TaskStatus.CANCELLED
            self._close_tracker(
                tracker,
                None,
                detail="lost: the server no longer knows this prompt (restarted or history cleared?)",
            )
            return True
        return False

    def _ensure_poller(self) -> None:
        if not self._polling:
            self._polling = True
            self._spawn(self._poll_loop(), "poll-foreign-prompts")

    async def _poll_loop(self) -> None:
        """End signal for prompts POSTed under another client_id (no end message reaches us):
        on every queue change (``status`` broadcast) or every ``poll_interval``, one GET /queue,
        then /history for those that left the queue."""
        try:
            while True:
                polled = [
                    t for t in self._trackers.values() if t.foreign and t.buffer is None and not t.ending
                ]
                if not polled:
                    return
                self._queue_changed.clear()
                try:
                    queue = await self.client.get_queue()
                    for tracker in polled:
                        found = queue.find(tracker.execution.prompt_id or "")
                        if found is None:
                            await self._reconcile(tracker)
                        elif found[0] == "running":
                            tracker._start_workflow()
                except ComfyError as exc:
                    log.debug("poll_failed", error=str(exc))
                try:
                    await asyncio.wait_for(self._queue_changed.wait(), timeout=self.poll_interval)
                except TimeoutError:
                    pass
        finally:
            self._polling = False

    # -------------------------------------------------------------- observers
    def observe(self, prompt_id: str) -> bool:
        """Follow an attached prompt live through an extra socket under its recorded client_id.

        ComfyUI sends a prompt's progress, node and end messages only to the newest socket of
        the client_id it was POSTed with, so this *takes them away* from that client. Call it
        only when the instance that POSTed the prompt is gone (the journal checks that). One
        socket serves every observed prompt of a client_id and closes after the last one ends;
        polling /history stays on as the fallback, and a new session of this runtime observes
        the prompts that are still unfinished again. False when there is nothing to observe: the
        prompt is unknown or finished, has no client_id, or was POSTed under ours.
        """
        self._require_session()
        tracker = self._trackers.get(prompt_id)
        client_id = tracker.execution.client_id if tracker is not None else None
        if (
            tracker is None
            or tracker.ending
            or not tracker.foreign
            or not client_id
            or client_id == self.client_id
        ):
            return False
        tracker.observe_requested = True
        tracker.observed = True
        observer = self._observers.get(client_id)
        if observer is None:
            observer = self._observers[client_id] = _Observer(client_id)
        observer.prompt_ids.add(prompt_id)
        if observer.task is None or observer.task.done():
            observer.task = self._spawn(self._observe_loop(observer), f"observe-{observer.label}")
        log.info("prompt_observed", prompt_id=prompt_id, observed_client=observer.label)
        return True

    def _unobserve(self, tracker: _Tracker) -> None:
        """The prompt ended: close its observer socket if no other prompt of that client_id is left."""
        tracker.observed = tracker.observe_requested = False
        client_id = tracker.execution.client_id
        observer = self._observers.get(client_id) if client_id else None
        if observer is None or client_id is None:
            return
        observer.prompt_ids.discard(tracker.execution.prompt_id or "")
        if not observer.prompt_ids:
            del self._observers[client_id]
            task = observer.task
            if task is not None and not task.done():
                if task is not asyncio.current_task():
                    task.cancel()
                elif observer.ws is not None:  # from inside its own loop: end the read instead
                    self._spawn(observer.ws.close(), f"close-observer-{observer.label}")
            log.info("observer_closing", observed_client=observer.label, reason="its last prompt ended")

    def _check_observers(self) -> None:
        """Suspect an observer the server may have stopped routing to (see ``_Observer.mark``)."""
        for observer in self._observers.values():
            ws = observer.ws
            if ws is None or observer.suspect or self._status_count - observer.mark < 2:
                continue
            observer.suspect = True
            observer.heard.clear()
            self._spawn(self._verify_observer(observer, ws), f"verify-observer-{observer.label}")

    async def _verify_observer(self, observer: _Observer, ws: ClientConnection) -> None:
        """Reopen the observer unless it receives anything within the grace period."""
        try:
            await asyncio.wait_for(observer.heard.wait(), OBSERVER_SILENCE_GRACE)
        except TimeoutError:
            if observer.ws is ws:
                log.warning(
                    "observer_orphaned",
                    observed_client=observer.label,
                    message="the server stopped sending to the observer socket; reconnecting it",
                )
                await ws.close()
        finally:
            observer.suspect = False

    def _observer_active(self, observer: _Observer) -> bool:
        return (
            not self._closing
            and bool(observer.prompt_ids)
            and self._observers.get(observer.client_id) is observer
        )

    async def _observe_loop(self, observer: _Observer) -> None:
        """Hold the observer socket while it has prompts; reconnect with backoff, but give up after
        OBSERVER_MAX_FAILURES quick failures in a row (polling then finishes the prompts)."""
        failures = 0
        try:
            while self._observer_active(observer):
                if failures:
                    await asyncio.sleep(self.backoff.delay(failures - 1))
                    if not self._observer_active(observer):
                        break
                try:
                    ws = await self.client.connect_websocket(observer.client_id)
                except ServerUnreachableError as exc:
                    failures += 1
                    log.warning(
                        "observer_connect_failed",
                        observed_client=observer.label,
                        reason=exc.reason,
                        attempt=failures,
                    )
                    if failures >= OBSERVER_MAX_FAILURES:
                        break
                    continue
                observer.ws = ws
                observer.connections += 1
                observer.mark = self._status_count
                observer.suspect = False
                connected_at = time.monotonic()
                log.info(
                    "observer_connected", observed_client=observer.label, prompts=len(observer.prompt_ids)
                )
                # What happened before this socket opened (the prompt may be over already): ask.
                self._spawn(self._reconcile_observed(observer), f"reconcile-observed-{observer.label}")
                reason = await self._read_observed(observer, ws)
                observer.ws = None
                if not self._observer_active(observer):
                    break
                failures = failures + 1 if time.monotonic() - connected_at < 2.0 else 0
                log.info("observer_dropped", observed_client=observer.label, reason=reason)
                if failures >= OBSERVER_MAX_FAILURES:
                    break
        finally:
            open_ws, observer.ws = observer.ws, None
            if open_ws is not None:
                with contextlib.suppress(Exception):
                    await open_ws.close()
            if self._observers.get(observer.client_id) is observer:
                # Gave up (or the session is closing): polling /history follows what is left.
                del self._observers[observer.client_id]
                for prompt_id in observer.prompt_ids:
                    tracker = self._trackers.get(prompt_id)
                    if tracker is not None:
                        tracker.observed = False
                if not self._closing:
                    log.warning(
                        "observer_gave_up",
                        observed_client=observer.label,
                        failures=failures,
                        message="following those prompts by polling /history only (no live progress)",
                    )
                    self._ensure_poller()

    async def _read_observed(self, observer: _Observer, ws: ClientConnection) -> str:
        count = 0
        try:
            async for frame in ws:
                count += 1
                observer.mark = self._status_count
                if observer.suspect:
                    observer.heard.set()
                try:
                    message = parse_frame(frame)
                    if message is not None:
                        self._route_observed(observer, message)
                except Exception:
                    log.exception("observer_frame_failed", observed_client=observer.label)
                if count % 256 == 0:
                    await asyncio.sleep(0)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            return f"connection lost (close code {code})" if code else "connection lost"
        return "the server closed the connection"

    async def _reconcile_observed(self, observer: _Observer) -> None:
        for prompt_id in list(observer.prompt_ids):
            tracker = self._trackers.get(prompt_id)
            if tracker is None or tracker.buffer is not None or tracker.ending:
                continue
            try:
                await self._reconcile(tracker)
            except ComfyError as exc:
                log.debug("observer_reconcile_failed", prompt_id=prompt_id, error=str(exc))

    def _route_observed(self, observer: _Observer, message: Frame) -> None:
        """Like :meth:`_route`, for an observer socket: only its own prompts' messages count. The
        broadcasts (status, TEXT frames, logs) reach the main socket too and are handled there."""
        if isinstance(message, (ProgressStateMessage, ProgressMessage)):
            if isinstance(message, ProgressMessage):
                observer.last_progress = (message.prompt_id, message.node)
            if message.prompt_id in observer.prompt_ids:
                tracker = self._trackers.get(message.prompt_id)
                if tracker is not None:
                    tracker.feed(message)
        elif isinstance(message, StatusMessage):
            self._queue_changed.set()
        elif isinstance(message, ExecutingMessage) and message.prompt_id is None:
            if message.node is not None:
                # Sent on (re)connect while the old client's prompt runs: the node it is on now.
                running = [
                    t
                    for prompt_id in observer.prompt_ids
                    if (t := self._trackers.get(prompt_id)) is not None
                    and t.buffer is None
                    and not t.ending
                    and t.execution.status is TaskStatus.RUNNING
                ]
                if running:
                    latest = max(running, key=lambda t: t.execution.started_at or t.execution.created_at)
                    latest.on_bare_executing(message.node)
        elif isinstance(message, PreviewImageWithMetadataFrame):
            if message.prompt_id in observer.prompt_ids:
                self._deliver_preview(
                    message.prompt_id,
                    message.node_id,
                    message.display_node_id,
                    message.image_type,
                    message.image,
                )
        elif isinstance(message, PreviewImageFrame):
            prompt_id, node_id = observer.last_progress
            if prompt_id in observer.prompt_ids:
                self._deliver_preview(prompt_id, node_id, None, message.image_type, message.image)
        elif isinstance(message, (TextFrame, FeatureFlagsMessage, LogsMessage)):
            return
        else:
            prompt_id = getattr(message, "prompt_id", None)
            if isinstance(prompt_id, str) and prompt_id in observer.prompt_ids:
                tracker = self._trackers.get(prompt_id)
                if tracker is not None:
                    tracker.feed(message)

    # -------------------------------------------------------------------- API
    async def submit(
        self,
        prompt: dict[str, Any],
        *,
        name: str | None = None,
        workflow_id: str | None = None,
        front: bool = False,
        extra_data: dict[str, Any] | None = None,
    ) -> WorkflowExecution:
        """Queue a prompt; returns once the server accepted it (the execution is live-updated)."""
        return await self._submit(
            prompt, name=name, workflow_id=workflow_id, front=front, extra_data=extra_data
        )

    async def _submit(
        self,
        prompt: dict[str, Any],
        *,
        name: str | None,
        workflow_id: str | None,
        front: bool,
        extra_data: dict[str, Any] | None,
        retry_of: str | None = None,
    ) -> WorkflowExecution:
        self._require_session()
        prompt = check_prompt(prompt)
        await self._ensure_connected()
        prompt_id = str(uuid.uuid4())
        execution = WorkflowExecution(
            workflow_id=workflow_id or name or "prompt",
            name=name or workflow_id or f"prompt {prompt_id[:8]}",
            server_url=self.server_url,
            client_id=self.client_id,
            prompt_id=prompt_id,
            prompt=prompt,
            retry_of=retry_of,
            metadata={"extra_data": extra_data, "front": front} if extra_data else {"front": front},
        )
        tracker = _Tracker(self, execution)
        self._trackers[prompt_id] = tracker  # before the POST: its messages may come first
        try:
            answer = await self.client.post_prompt(
                prompt, client_id=self.client_id, prompt_id=prompt_id, extra_data=extra_data, front=front
            )
        except BaseException:
            self._trackers.pop(prompt_id, None)
            raise
        if answer.prompt_id != prompt_id:
            log.warning("server_chose_prompt_id", requested=prompt_id, got=answer.prompt_id)
            del self._trackers[prompt_id]
            execution.prompt_id = answer.prompt_id
            self._trackers[answer.prompt_id] = tracker
        execution.number = answer.number
        execution.node_errors = answer.node_errors
        if answer.node_errors:
            log.warning(
                "prompt_partially_rejected",
                prompt_id=execution.prompt_id,
                nodes=sorted(answer.node_errors),
                message="only the outputs that validated will run",
            )
        self.executions[execution.id] = execution
        self._by_execution[execution.id] = tracker
        tracker.register()
        log.info(
            "prompt_queued",
            execution_id=execution.id,
            prompt_id=execution.prompt_id,
            number=answer.number,
            name=execution.name,
        )
        return execution

    async def wait(self, execution: WorkflowExecution, timeout: float | None = None) -> WorkflowExecution:
        """Wait for the final state. Cancelling or timing out the wait leaves the prompt running."""
        tracker = self._by_execution.get(execution.id)
        if tracker is None:
            if execution.is_final:
                return execution
            raise ExecutionNotFoundError(f"Execution {execution.id} was not started by this runtime.")
        if not tracker.done.is_set():
            await asyncio.wait_for(tracker.done.wait(), timeout)
        if tracker.detached and not execution.is_final:
            raise ComfyError(
                f"The runtime session closed before prompt {execution.prompt_id} finished; it keeps running "
                "on the server. Re-attach with runtime.attach(prompt_id) in a new session."
            )
        return execution

    async def execute_workflow(
        self,
        prompt: dict[str, Any],
        *,
        name: str | None = None,
        workflow_id: str | None = None,
        front: bool = False,
        extra_data: dict[str, Any] | None = None,
    ) -> WorkflowExecution:
        execution = await self.submit(
            prompt, name=name, workflow_id=workflow_id, front=front, extra_data=extra_data
        )
        return await self.wait(execution)

    async def cancel(self, execution: WorkflowExecution) -> WorkflowExecution:
        """Interrupt it if running, drop it from the queue if pending; returns once it is final."""
        self._require_session()
        if execution.is_final:
            return execution
        tracker = self._by_execution.get(execution.id)
        if tracker is None:
            raise ExecutionNotFoundError(f"Execution {execution.id} was not started by this runtime.")
        prompt_id = execution.prompt_id
        assert prompt_id is not None
        state = await self.client.prompt_state(prompt_id)
        if state.where == "pending":
            await self.client.delete_from_queue([prompt_id])
            queue = await self.client.get_queue()
            found = queue.find(prompt_id)
            if found is None:
                entry = await self.client.get_history_entry(prompt_id)
                if not tracker.done.is_set():
                    if entry is not None:
                        self._close_tracker(tracker, entry)
                    else:
                        tracker.outcome = TaskStatus.CANCELLED
                        log.info("prompt_removed_from_queue", prompt_id=prompt_id)
                        self._close_tracker(tracker, None, detail="removed from the queue before it ran")
                return execution
            state = state.model_copy(update={"where": found[0]})
        if state.where == "running":
            await self.client.interrupt(prompt_id)
            log.info("prompt_interrupt_sent", prompt_id=prompt_id)
            if tracker.foreign:
                self._queue_changed.set()
            try:
                await asyncio.wait_for(tracker.done.wait(), self.timeout)
            except TimeoutError:
                log.warning("interrupt_not_confirmed", prompt_id=prompt_id, seconds=self.timeout)
                await self._reconcile(tracker)
            return execution
        await self._reconcile(tracker)
        return execution

    async def retry(self, execution: WorkflowExecution) -> WorkflowExecution:
        """Queue the same prompt again under a new prompt_id; the new execution names the old one."""
        if not execution.prompt:
            raise InvalidWorkflowError(f"Execution {execution.id} has no recorded prompt to retry.")
        extra = execution.metadata.get("extra_data")
        return await self._submit(
            execution.prompt,
            name=execution.name,
            workflow_id=execution.workflow_id,
            front=bool(execution.metadata.get("front", False)),
            extra_data=extra if isinstance(extra, dict) else None,
            retry_of=execution.id,
        )

    async def attach(
        self,
        prompt_id: str,
        *,
        prompt: dict[str, Any] | None = None,
        name: str | None = None,
        client_id: str | None = None,
        number: int | None = None,
    ) -> WorkflowExecution:
        """Follow a prompt already on the server (a journal re-attach, or someone else's prompt).

        One POSTed under another client_id is followed by polling /history (no live messages
        reach us); :meth:`observe` adds them when that client is known to be gone.
        """
        self._require_session()
        existing = self._trackers.get(prompt_id)
        if existing is not None:
            return existing.execution
        execution = WorkflowExecution(
            workflow_id=name or "attached",
            name=name or f"prompt {prompt_id[:8]}",
            server_url=self.server_url,
            client_id=client_id,
            prompt_id=prompt_id,
            prompt=prompt or {},
            number=number,
        )
        tracker = _Tracker(self, execution)
        self._trackers[prompt_id] = tracker  # buffering: nothing that arrives while we ask is lost
        try:
            state = await self.client.prompt_state(prompt_id)
        except BaseException:
            self._trackers.pop(prompt_id, None)
            raise
        if state.where == "unknown":
            self._trackers.pop(prompt_id, None)
            raise ExecutionNotFoundError(
                f"ComfyUI at {self.server_url} does not know prompt {prompt_id}: it is neither queued, "
                "running nor in the history (the server may have restarted or cleared its history)."
            )
        item = state.queue_item or (state.history.item if state.history else None)
        if item is not None:
            execution.prompt = execution.prompt or item.prompt
            execution.client_id = execution.client_id or item.client_id
            execution.number = execution.number if execution.number is not None else item.number
        tracker.foreign = execution.client_id != self.client_id
        self.executions[execution.id] = execution
        self._by_execution[execution.id] = tracker
        tracker.register()
        log.info("prompt_attached", prompt_id=prompt_id, where=state.where, owner_is_us=not tracker.foreign)
        if state.where == "finished":
            self._close_tracker(tracker, state.history)
        elif state.where == "running":
            tracker._start_workflow()
        if tracker.foreign and not tracker.ending:
            self._ensure_poller()
        return execution

    async def download_output(self, file: OutputFile) -> bytes:
        return await self.client.view(file.filename, file.subfolder, file.type)

    def get_execution(self, execution_id: str) -> WorkflowExecution:
        try:
            return self.executions[execution_id]
        except KeyError:
            raise ExecutionNotFoundError(f"No execution {execution_id} in this runtime.") from None

    # ------------------------------------------------------------ server reads
    # Thin public calls for front ends (the TUI makes no HTTP calls of its own); errors are the
    # client's ComfyError subclasses, unchanged.
    async def system_stats(self) -> dict[str, Any]:
        """The server's ``/system_stats`` (versions, RAM, devices)."""
        return await self.client.get_system_stats()

    async def object_info(self) -> dict[str, Any]:
        """The server's node catalogue (``/object_info``), as JSON."""
        return await self.client.get_object_info()

    async def queue(self) -> QueueState:
        """What the server is running and has pending (``/queue``)."""
        return await self.client.get_queue()

    async def history(self, prompt_id: str) -> HistoryEntry | None:
        """The server's history entry of one prompt; None while it is queued or running (or unknown)."""
        return await self.client.get_history_entry(prompt_id)

    async def list_userdata(self, directory: str) -> list[str]:
        """Files in one folder of the user's data on the server; [] when it does not exist yet."""
        return await self.client.list_userdata(directory)

    async def get_userdata(self, path: str) -> bytes:
        """One file of the user's data on the server."""
        return await self.client.get_userdata(path)

    async def put_userdata(self, path: str, body: bytes, *, overwrite: bool) -> None:
        """Write one file of the user's data on the server (``overwrite=False`` refuses an existing one)."""
        await self.client.put_userdata(path, body, overwrite=overwrite)
