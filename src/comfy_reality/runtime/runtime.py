"""ComfyUIAsyncRuntime: submit, follow, cancel and retry ComfyUI prompts as a task tree.

One runtime instance = one server, one main WebSocket, one ``client_id`` of its own. ComfyUI
sends a prompt's execution messages only to the socket holding the ``client_id`` the prompt was
POSTed with (and only to the newest such socket), so every prompt goes out with this instance's
id and messages are routed by ``prompt_id``; many executions share one socket. Several servers
are several runtimes: every execution names its server (``server_url``), so a pool of servers is
a layer above this class.

The ``prompt_id`` is chosen here (uuid4; the server accepts it) and registered before the POST,
so messages that beat the POST answer (they often do) are buffered, never lost. Each execution is
folded by its :class:`~.tracker.Tracker` into a WORKFLOW task with one NODE child per node of the
prompt. When the socket drops, it is reopened with backoff and every unfinished execution is
reconciled from GET /queue + /history, so no completion or failure is ever missed.

A prompt re-attached after an app restart was POSTed under the previous instance's
``client_id``, so its live messages go to that id's socket only. When the caller knows that
instance is gone (the journal checks), :meth:`ComfyUIAsyncRuntime.observe` opens an extra
"observer" socket under the old id and folds its messages in as for our own prompts; the
/history poller stays on as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx

from ..errors import ComfyError, ExecutionNotFoundError, InvalidWorkflowError, ServerUnreachableError
from ..logs import configure_logging, get_logger, is_configured
from .auth import Auth
from .client import ComfyUIClient, HistoryEntry, PromptResponse, new_client_id
from .connection import Backoff, Connection
from .downloads import view_with_retry
from .manager import AsyncTaskManager, Unsubscribe
from .models import ConnectionState, OutputFile, PreviewFrame, ServerStatus, TaskStatus, WorkflowExecution
from .observers import Observer, ObserverSet
from .prompt import check_prompt, checked_prompt
from .protocol import Frame, StatusMessage
from .routing import Router
from .server_wide import ServerWide
from .snapshots import SnapshotHold, deliver
from .submission import SubmissionRecorder, post_exactly_once, record_failed_submission
from .tracker import Tracker, TrackerState

__all__ = ["Backoff", "ComfyUIAsyncRuntime", "PreviewFrame", "check_prompt"]

log = get_logger("comfy_reality.runtime")
SESSION_CLOSED = "session closed"  # the status reason when our own session ends (not a server fault)

StatusCallback = Callable[[ServerStatus], None]
PreviewCallback = Callable[[PreviewFrame], None]


T = TypeVar("T")
_FINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


async def logged_job(coro: Coroutine[Any, Any, Any], event: str, name: str) -> None:
    """A background job whose failure is logged (as ``event``), never raised into its task group."""
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception(event, job=name)


def _listen(listeners: list[T], callback: T) -> Unsubscribe:
    """Add a callback to a listener list; the returned handle removes it again."""
    listeners.append(callback)

    def remove() -> None:
        if callback in listeners:
            listeners.remove(callback)

    return Unsubscribe(remove)


class ComfyUIAsyncRuntime(ServerWide):
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
        confirm_delay: float | None = None,
    ) -> None:
        """``backoff`` paces reconnects; ``poll_interval`` bounds how late the end of a prompt
        POSTed under another client_id is noticed; ``transport`` is for httpx test transports;
        ``confirm_delay`` is how long a prompt whose POST answer was lost must stay unknown to
        the server before it is POSTed again (see :mod:`.submission`)."""
        self.client = ComfyUIClient(
            server_url, auth=auth, timeout=timeout, verify_tls=verify_tls, transport=transport
        )
        self.server_url = self.client.server_url  # credentials stay in the client, never here
        self.task_manager = task_manager or AsyncTaskManager()
        self.client_id = client_id or new_client_id()
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        self.confirm_delay = confirm_delay
        self._recorders: list[SubmissionRecorder] = []
        self.executions: dict[str, WorkflowExecution] = {}
        self._trackers: dict[str, Tracker] = {}  # by prompt_id, unfinished only
        self._by_execution: dict[str, Tracker] = {}
        self._status = ServerStatus(url=self.server_url, state=ConnectionState.CONNECTING)
        self._status_callbacks: list[StatusCallback] = []
        self._preview_callbacks: list[PreviewCallback] = []
        self._queue_callbacks: list[Callable[[], None]] = []
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connection: Connection | None = None
        self._queue_changed = asyncio.Event()
        self._polling = False
        self._closing = False
        self._router = Router(
            self._trackers,
            on_status=self._on_status,
            on_features=self._set_features,
            queue_changed=self._queue_changed_now,
            previews=self._preview_callbacks,
        )
        self._watchers = ObserverSet(
            self.client,
            self.backoff,
            route=self._route,
            spawn=self._spawn,
            tracker_of=self._trackers.get,
            status_count=lambda: self._status_count,
            active=lambda: not self._closing,
            reconcile=self._reconcile,
            gave_up=self._ensure_poller,
        )
        # The router itself, not a method that calls it: two call layers less per message.
        self._snapshots = SnapshotHold(self._router.route, self._router.may_hold, label=self.client_id[:8])
        self._status_count = 0  # status broadcasts seen on the main socket
        self.messages_received = 0

    # ------------------------------------------------------------------ status
    @property
    def status(self) -> ServerStatus:
        return self._status

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.connected

    @property
    def session_open(self) -> bool:
        """True between entering and leaving :meth:`session` (the journal asks, to know whose
        live socket this runtime may still hold)."""
        return self._tg is not None and not self._closing

    @property
    def observers(self) -> dict[str, bool]:
        """The observer sockets open now: recorded client_id -> connected."""
        return self._watchers.states()

    @property
    def _observers(self) -> dict[str, Observer]:
        return self._watchers.by_client

    def subscribe_status(self, callback: StatusCallback) -> Unsubscribe:
        return _listen(self._status_callbacks, callback)

    def subscribe_previews(self, callback: PreviewCallback) -> Unsubscribe:
        return _listen(self._preview_callbacks, callback)

    def add_submission_recorder(self, recorder: SubmissionRecorder) -> Unsubscribe:
        """``recorder.submitting`` is awaited before every POST /prompt (the journal writes the
        row then), ``recorder.not_queued`` when the server surely did not take the prompt."""
        return _listen(self._recorders, recorder)

    def subscribe_queue_changes(self, callback: Callable[[], None]) -> Unsubscribe:
        """Called on every ``status`` message: the server's queue (any client's) may have changed."""
        return _listen(self._queue_callbacks, callback)

    def _publish_status(self, status: ServerStatus) -> None:
        previous = self._status
        self._status = status
        if status.reason == SESSION_CLOSED:
            log.debug("runtime_session_closed", url=status.url)  # our own normal end: the server is not down
        elif previous.state is not status.state or previous.reason != status.reason:
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
        if not is_configured():
            # Used as a library without the app's set-up: JSON lines to the log file, not the console.
            with contextlib.suppress(OSError):  # no usable log dir: logging is off, the run goes on
                configure_logging()
        self._closing = False
        self._queue_changed = asyncio.Event()
        self._polling = False
        connection = self._connection = self._main_connection()
        body_error: BaseException | None = None
        async with self.client:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                connection.task = tg.create_task(connection.run(), name=f"comfy-ws-{self.client_id[:8]}")
                for tracker in list(self._trackers.values()):
                    tracker.resume()  # left unfinished by an earlier session: follow it again
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
                    await connection.close()
                    connection.task.cancel()
                    for task in list(self._tasks):
                        task.cancel()
            self._tg = None
            self._connection = None
            self._watchers.clear()
            for tracker in list(self._by_execution.values()):
                tracker.detach()
        self._set_state(ConnectionState.DOWN, reason=SESSION_CLOSED)
        if body_error is not None:
            raise body_error

    def _require_session(self) -> asyncio.TaskGroup:
        if self._tg is None:
            raise RuntimeError("Open the runtime first: 'async with runtime.session(): ...'.")
        return self._tg

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[None] | None:
        """Run a background job in the session's TaskGroup; its errors are logged, never fatal."""
        if self._tg is None or self._closing:
            coro.close()
            return None
        task = self._tg.create_task(logged_job(coro, "background_job_failed", name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --------------------------------------------------------------- websocket
    def _main_connection(self) -> Connection:
        """The socket under this instance's own client_id: the one that hears our prompts."""

        def opened(reconnected: bool) -> None:
            self._set_state(ConnectionState.CONNECTED)
            if reconnected or self._trackers:
                self._spawn(self._reconcile_all(), "reconcile")

        def connect_failed(reason: str, retry_in: float, failures: int, ever_connected: bool) -> None:
            recovering = ever_connected and failures < 4
            state = ConnectionState.RECONNECTING if recovering else ConnectionState.DOWN
            self._set_state(state, reason=reason, retry_in=retry_in)

        def dropped(reason: str, retry_in: float) -> None:
            self._set_state(ConnectionState.RECONNECTING, reason=reason, retry_in=retry_in)

        def counted() -> None:
            self.messages_received += 1

        return Connection(
            self.client,
            self.client_id,
            self._router.route,
            backoff=self.backoff,
            active=lambda: not self._closing,
            on_open=opened,
            on_connect_failed=connect_failed,
            on_drop=dropped,
            on_frame=counted,
            snapshots=self._snapshots,
        )

    def reconnect_now(self) -> None:
        """Skip the current backoff wait and try the WebSocket again at once (the app's F5)."""
        if self._connection is not None:
            self._connection.wake()

    async def _ensure_connected(self) -> None:
        """Wait for the socket (at most one connection attempt); fail fast when the server is down."""
        connection = self._connection
        assert connection is not None
        if not await connection.wait_attempt(self.timeout):
            raise ServerUnreachableError(
                self.server_url, self._status.reason or "the WebSocket is not connected"
            )

    # ----------------------------------------------------------------- frames
    def _on_frame(self, frame: str | bytes) -> None:
        """One frame as if read from the main socket (what the main connection does per frame)."""
        self.messages_received += 1
        deliver(frame, self._route, self.client_id[:8])

    def _route(self, message: Frame, observer: Observer | None = None) -> None:
        self._router.route(message, observer)

    def _queue_changed_now(self) -> None:
        self._queue_changed.set()  # the event is replaced per session: look it up each time

    def _set_features(self, flags: dict[str, object]) -> None:
        self.client.server_features = dict(flags)

    def _on_status(self, message: StatusMessage) -> None:
        """A status message on the main socket: observers may be orphaned, the queue length shown."""
        if message.sid is None:  # a broadcast, not the hello sent to this socket alone
            self._status_count += 1
            if self._watchers.by_client:
                self._watchers.check()
        if message.queue_remaining != self._status.queue_remaining:
            self._publish_status(self._status.with_queue(message.queue_remaining))
        for callback in list(self._queue_callbacks):
            try:
                callback()
            except Exception:
                log.exception("queue_subscriber_failed", subscriber=repr(callback))

    # ---------------------------------------------------------------- trackers
    def _new_tracker(self, execution: WorkflowExecution, *, foreign: bool = False) -> Tracker:
        """A tracker for a prompt about to be POSTed or asked about: its messages are kept from now."""
        tracker = Tracker(
            execution,
            self.task_manager,
            on_ending=self._tracker_ending,
            on_finished=self._tracker_finished,
            foreign=foreign,
            release_held=self._snapshots.release,
        )
        if execution.prompt_id is not None:
            self._trackers[execution.prompt_id] = tracker
        return tracker

    def _register(self, tracker: Tracker) -> None:
        """The server has the prompt: keep the execution, build its task tree, replay the buffer."""
        execution = tracker.execution
        self.executions[execution.id] = execution
        self._by_execution[execution.id] = tracker
        tracker.register()

    def _tracker_ending(self, tracker: Tracker) -> None:
        self._spawn(self._finalize(tracker), f"finalize-{tracker.execution.prompt_id}")

    def _tracker_finished(self, tracker: Tracker) -> None:
        prompt_id, execution_id = tracker.execution.prompt_id, tracker.execution.id
        if prompt_id is not None and self._trackers.get(prompt_id) is tracker:
            del self._trackers[prompt_id]
        if self._by_execution.get(execution_id) is tracker:  # final now: its few KB of state go
            del self._by_execution[execution_id]
        if tracker.observed or tracker.observe_requested:
            self._unobserve(tracker)
        self._forget_old_executions()

    async def _finalize(self, tracker: Tracker) -> None:
        """Read the history entry (output files, what the socket missed) and finish the execution."""
        prompt_id = tracker.execution.prompt_id
        assert prompt_id is not None
        # A foreign prompt's end message reaches us only through an observer socket.
        if not tracker.end_signal.is_set() and (not tracker.foreign or tracker.observed):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):  # no extra task, unlike wait_for
                    await tracker.end_signal.wait()
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
        tracker.finish(entry)

    def _forget_old_executions(self) -> None:
        """Keep as many finished executions as the task manager keeps finished workflows."""
        keep = self.task_manager.max_finished_roots
        if len(self.executions) <= keep:
            return
        # The status read from __dict__: a pydantic attribute read per kept execution, per prompt, costs more.
        finished = [e for e in self.executions.values() if e.__dict__["status"] in _FINAL]
        for execution in finished[: max(0, len(finished) - keep)]:
            del self.executions[execution.id]
            self._by_execution.pop(execution.id, None)
            self._remember_name(execution)

    async def _reconcile_all(self) -> None:
        for tracker in list(self._trackers.values()):
            if tracker.following:
                await self._reconcile(tracker)

    async def _reconcile(self, tracker: Tracker) -> bool:
        """Ask the server where the prompt is; finish it if it ended while we were not listening."""
        prompt_id = tracker.execution.prompt_id
        assert prompt_id is not None
        state = await self.client.prompt_state(prompt_id)
        if not tracker.following:
            return True
        if state.where == "finished":
            log.info(
                "reconciled_finished",
                prompt_id=prompt_id,
                status=state.history.status_str if state.history else None,
            )
            tracker.finish(state.history)
            return True
        if state.where == "running":
            tracker.mark_running()
        elif state.where == "unknown":
            log.warning("prompt_lost", prompt_id=prompt_id)
            tracker.finish(
                None,
                outcome=TaskStatus.CANCELLED,
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
                polled = [t for t in self._trackers.values() if t.foreign and t.following]
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
                            tracker.mark_running()
                except ComfyError as exc:
                    log.debug("poll_failed", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue_changed.wait(), timeout=self.poll_interval)
        finally:
            self._polling = False

    # -------------------------------------------------------------------- API
    async def submit(
        self,
        prompt: dict[str, Any],
        *,
        name: str | None = None,
        workflow_id: str | None = None,
        front: bool = False,
        extra_data: dict[str, Any] | None = None,
        partial_execution_targets: list[str] | None = None,
        retry_of: str | None = None,
    ) -> WorkflowExecution:
        """Queue a prompt; returns once the server accepted it (the execution is live-updated).
        ``partial_execution_targets``: run only these output nodes (and what they need);
        ``retry_of``: the execution this one repeats (a pool's failover names the first one)."""
        return await self._submit(
            prompt,
            name=name,
            workflow_id=workflow_id,
            front=front,
            extra_data=extra_data,
            partial_execution_targets=partial_execution_targets,
            retry_of=retry_of,
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
        partial_execution_targets: list[str] | None = None,
    ) -> WorkflowExecution:
        self._require_session()
        prompt, encoded_prompt = checked_prompt(prompt)
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
        if partial_execution_targets:
            execution.metadata["partial_execution_targets"] = list(partial_execution_targets)
        tracker = self._new_tracker(execution)  # before the POST: its messages may come first
        execution.status_detail = "submitting: not yet confirmed by the server"

        async def post() -> PromptResponse:
            return await self.client.post_prompt(
                prompt,
                client_id=self.client_id,
                prompt_id=prompt_id,
                extra_data=extra_data,
                front=front,
                partial_execution_targets=partial_execution_targets,
                encoded_prompt=encoded_prompt,
            )

        try:
            for recorder in list(self._recorders):
                await recorder.submitting(execution)  # on disk before the server can run it
            answer, found = await post_exactly_once(
                self.client, post, prompt_id, confirm_delay=self.confirm_delay
            )
        except BaseException as exc:
            self._trackers.pop(prompt_id, None)
            await record_failed_submission(self._recorders, execution, exc)
            raise
        execution.status_detail = None
        if answer.prompt_id != prompt_id:
            log.warning("server_chose_prompt_id", requested=prompt_id, got=answer.prompt_id)
            del self._trackers[prompt_id]
            execution.prompt_id = answer.prompt_id
            self._trackers[answer.prompt_id] = tracker
        execution.number = None if answer.number is None else int(answer.number)
        execution.node_errors = answer.node_errors
        if answer.node_errors:
            log.warning(
                "prompt_partially_rejected",
                prompt_id=execution.prompt_id,
                nodes=sorted(answer.node_errors),
                message="only the outputs that validated will run",
            )
        # Logged before the replay of messages that beat this answer (start, a fast failure): a log
        # read in time order says it was queued before what it then did.
        log.info(
            "prompt_queued",
            execution_id=execution.id,
            prompt_id=execution.prompt_id,
            number=answer.number,
            name=execution.name,
        )
        self._register(tracker)
        if found is not None:  # the answer was lost; the server had it: where is it now?
            if found.where == "finished":
                tracker.finish(found.history)
            elif found.where == "running":
                tracker.mark_running()
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
        if tracker.state is TrackerState.DETACHED and not execution.is_final:
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
        """Submit, then wait for the final state (the one-call entry point)."""
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
                if tracker.state is not TrackerState.FINISHED:
                    if entry is not None:
                        tracker.finish(entry)
                    else:
                        log.info("prompt_removed_from_queue", prompt_id=prompt_id)
                        tracker.finish(
                            None, outcome=TaskStatus.CANCELLED, detail="removed from the queue before it ran"
                        )
                return execution
            state = state.model_copy(update={"where": found[0]})
        if state.where == "running":
            from .jobs import cancel_running  # the jobs API and its models only when cancelling

            await cancel_running(self.client, prompt_id)  # targeted cancel where the server has it
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

    def abandon(self, execution: WorkflowExecution, *, outcome: TaskStatus, detail: str) -> bool:
        """End an execution here without asking the server (it stopped answering; a pool moved
        the prompt elsewhere or reports it lost). False when it had already ended."""
        tracker = self._by_execution.get(execution.id)
        if tracker is None or tracker.state in (TrackerState.FINISHED, TrackerState.DETACHED):
            return False
        log.info(
            "execution_abandoned", execution_id=execution.id, prompt_id=execution.prompt_id, detail=detail
        )
        tracker.finish(None, outcome=outcome, detail=detail)
        return True

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
            partial_execution_targets=execution.metadata.get("partial_execution_targets"),
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
        tracker = self._new_tracker(execution)  # buffering: nothing that arrives while we ask is lost
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
            execution.number = execution.number if execution.number is not None else int(item.number)
        tracker.foreign = execution.client_id != self.client_id
        self._register(tracker)
        log.info("prompt_attached", prompt_id=prompt_id, where=state.where, owner_is_us=not tracker.foreign)
        if state.where == "finished":
            tracker.finish(state.history)
        elif state.where == "running":
            tracker.joined_late = True
            tracker.mark_running()
        if tracker.foreign and not tracker.ended:
            self._ensure_poller()
        return execution

    async def download_output(self, file: OutputFile) -> bytes:
        """The bytes of an output file, from this runtime's server."""
        return await view_with_retry(self.client, file.filename, file.subfolder, file.type)

    def get_execution(self, execution_id: str) -> WorkflowExecution:
        """An execution of this runtime by id (unfinished ones, and the newest finished ones)."""
        try:
            return self.executions[execution_id]
        except KeyError:
            raise ExecutionNotFoundError(f"No execution {execution_id} in this runtime.") from None

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
        if tracker is None or tracker.ended or not tracker.foreign or not client_id:
            return False
        if client_id == self.client_id:
            return False
        tracker.observe_requested = True
        tracker.observed = True
        observer = self._watchers.add(client_id, prompt_id)
        log.info("prompt_observed", prompt_id=prompt_id, observed_client=observer.label)
        return True

    def _unobserve(self, tracker: Tracker) -> None:
        tracker.observed = tracker.observe_requested = False
        client_id, prompt_id = tracker.execution.client_id, tracker.execution.prompt_id
        if client_id is not None and prompt_id is not None:
            self._watchers.remove(client_id, prompt_id)
