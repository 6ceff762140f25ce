"""Observer sockets: a prompt POSTed by an instance that is gone is followed live (per-step progress,
node states, outputs, errors, interrupts) under its recorded client_id, against the embedded server."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets
from aiohttp import web

from comfy_reality.runtime import (
    Auth,
    ComfyUIAsyncRuntime,
    ServerUnreachableError,
    TaskEvent,
    TaskStatus,
    WorkflowExecution,
)
from comfy_reality.runtime import observers as observers_module
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.server import app as server_app

from .conftest import make_runtime
from .helpers import node_statuses, until

SPEED = 50.0
# The run is slowed per step while the test needs it running, then let go (never a race with the clock).
SLOW_STEP = 0.05


def long_prompt(steps: int = 200, nonce: int = 0, fail: bool = False) -> dict[str, Any]:
    """EmptyImage -> RealityProgress (steps) -> (RealityFail) -> SaveImage."""
    prompt: dict[str, Any] = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": nonce},
        },
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": 0.0, "nonce": nonce},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": f"live_{nonce}"}},
    }
    if fail:
        prompt["4"] = {
            "class_type": "RealityFail",
            "inputs": {"image": ["2", 0], "message": "planned failure"},
        }
        prompt["3"]["inputs"]["images"] = ["4", 0]
    return prompt


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(port=0, speed=SPEED)) as embedded:
        embedded.faults.step_delay = SLOW_STEP
        yield embedded


class Recorder:
    """Every task event of a runtime, kept for assertions."""

    def __init__(self, runtime: ComfyUIAsyncRuntime) -> None:
        self.events: list[TaskEvent] = []
        self.unsubscribe = runtime.task_manager.subscribe(self.events.append)

    def of(self, task_id: str | None, kind: str | None = None) -> list[TaskEvent]:
        return [e for e in self.events if e.task_id == task_id and (kind is None or e.event_type == kind)]


async def left_running(server: EmbeddedServer, prompt: dict[str, Any], steps: float = 2) -> tuple[str, str]:
    """An earlier app session queued ``prompt`` and quit while it ran: (prompt_id, its client_id)."""
    first = make_runtime(server.url)
    async with first.session():
        execution = await first.submit(prompt, name="left running")
        node = execution.node_task("2")
        assert node is not None
        await until(first, lambda: (node.value or 0) >= steps)
    assert execution.prompt_id is not None and not execution.is_final
    return execution.prompt_id, first.client_id


def assert_node_lifecycles_once(recorder: Recorder, execution: WorkflowExecution) -> None:
    """No duplicated node events: at most one start and exactly one final event per node."""
    for task in execution.tasks:
        kinds = Counter(e.event_type for e in recorder.of(task.id))
        assert kinds["started"] <= 1, (task.node_id, kinds)
        assert kinds["completed"] + kinds["failed"] + kinds["cancelled"] == 1, (task.node_id, kinds)


async def test_observer_delivers_per_step_progress_and_outputs(server: EmbeddedServer) -> None:
    prompt_id, old_client = await left_running(server, long_prompt())
    runtime = make_runtime(server.url)
    recorder = Recorder(runtime)
    async with runtime.session():
        execution = await runtime.attach(prompt_id, client_id=old_client, name="re-attached")
        assert execution.client_id == old_client and execution.status is TaskStatus.RUNNING
        assert runtime.observe(prompt_id)
        node = execution.node_task("2")
        assert node is not None
        await until(runtime, lambda: len(recorder.of(node.id, "progress")) >= 3)
        assert runtime.observers == {old_client: True}
        steps = [e.data["value"] for e in recorder.of(node.id, "progress") if e.data]
        assert steps == sorted(steps) and len(set(steps)) >= 3, steps
        assert all(e.data and e.data["max"] == 200 for e in recorder.of(node.id, "progress"))
        observer = runtime._observers[old_client]
        # Status broadcasts (our own prompts queued behind) reach a routed observer too: no reopening.
        queued = [await runtime.submit(long_prompt(steps=2, nonce=100 + i)) for i in range(3)]
        server.faults.step_delay = 0.0
        await runtime.wait(execution, timeout=30)
        await until(runtime, lambda: not runtime.observers)
        for own in queued:
            await runtime.wait(own, timeout=30)
        assert observer.connections == 1
    assert execution.status is TaskStatus.COMPLETED
    assert node_statuses(execution) == {
        "1": TaskStatus.COMPLETED,
        "2": TaskStatus.COMPLETED,
        "3": TaskStatus.COMPLETED,
    }
    assert [f.filename.startswith("live_0") for f in execution.output_files] == [True]
    save = execution.node_task("3")
    assert save is not None and save.outputs.get("images")
    assert_node_lifecycles_once(recorder, execution)


async def test_observer_reports_a_runtime_error(server: EmbeddedServer) -> None:
    prompt_id, old_client = await left_running(server, long_prompt(steps=100, nonce=1, fail=True))
    runtime = make_runtime(server.url)
    recorder = Recorder(runtime)
    async with runtime.session():
        execution = await runtime.attach(prompt_id, client_id=old_client)
        assert runtime.observe(prompt_id)
        node = execution.node_task("2")
        assert node is not None
        await until(runtime, lambda: bool(recorder.of(node.id, "progress")))
        server.faults.step_delay = 0.0
        await runtime.wait(execution, timeout=30)
    assert execution.status is TaskStatus.FAILED
    assert execution.error is not None and execution.error.exception_message == "planned failure"
    failing = execution.node_task("4")
    assert failing is not None and failing.status is TaskStatus.FAILED and failing.traceback
    assert node_statuses(execution)["3"] is TaskStatus.CANCELLED
    assert_node_lifecycles_once(recorder, execution)


async def test_cancel_an_observed_prompt(server: EmbeddedServer) -> None:
    prompt_id, old_client = await left_running(server, long_prompt(nonce=2))
    runtime = make_runtime(server.url)
    async with runtime.session():
        execution = await runtime.attach(prompt_id, client_id=old_client)
        assert runtime.observe(prompt_id)
        node = execution.node_task("2")
        assert node is not None
        await until(runtime, lambda: runtime.observers.get(old_client) is True and node.value is not None)
        await runtime.cancel(execution)
        await until(runtime, lambda: not runtime.observers)
    assert execution.status is TaskStatus.CANCELLED
    assert node_statuses(execution)["2"] is TaskStatus.CANCELLED
    assert node.status_detail == "interrupted"


async def test_prompt_finished_before_the_observer_connected(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end happens while the observer's handshake is held back and polling is off: the
    observer's first status + the /history reconcile must end the run, once."""
    prompt_id, old_client = await left_running(server, long_prompt(steps=30, nonce=3))
    runtime = make_runtime(server.url)
    monkeypatch.setattr(runtime, "_ensure_poller", lambda: None)
    ended = asyncio.Event()
    send_json = server.state.hub.send_json

    async def spy(event: str, data: Any, sid: str | None = None) -> None:
        await send_json(event, data, sid)
        if event == "executing" and isinstance(data, dict) and data.get("node") is None:
            ended.set()

    monkeypatch.setattr(server.state.hub, "send_json", spy)
    connect = runtime.client.connect_websocket

    async def held_back(client_id: str) -> Any:
        if client_id == old_client:
            await ended.wait()
        return await connect(client_id)

    monkeypatch.setattr(runtime.client, "connect_websocket", held_back)
    recorder = Recorder(runtime)
    async with runtime.session():
        execution = await runtime.attach(prompt_id, client_id=old_client)
        assert execution.status is TaskStatus.RUNNING
        assert runtime.observe(prompt_id)
        server.faults.step_delay = 0.0
        await runtime.wait(execution, timeout=30)
        await until(runtime, lambda: not runtime.observers)
    assert ended.is_set()
    assert execution.status is TaskStatus.COMPLETED
    assert execution.output_files and all(
        s is TaskStatus.COMPLETED for s in node_statuses(execution).values()
    )
    assert_node_lifecycles_once(recorder, execution)
    workflow_finals = [e for e in recorder.of(execution.workflow_task_id) if e.event_type == "completed"]
    assert len(workflow_finals) == 1


async def test_refused_observer_falls_back_to_polling(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt_id, old_client = await left_running(server, long_prompt(steps=40, nonce=4))
    runtime = make_runtime(server.url)
    connect = runtime.client.connect_websocket
    refused: list[str] = []

    async def refuse_observer(client_id: str) -> Any:
        if client_id == old_client:
            refused.append(client_id)
            raise ServerUnreachableError(runtime.server_url, "WebSocket handshake refused with HTTP 403")
        return await connect(client_id)

    monkeypatch.setattr(runtime.client, "connect_websocket", refuse_observer)
    async with runtime.session():
        execution = await runtime.attach(prompt_id, client_id=old_client)
        assert runtime.observe(prompt_id)
        task = runtime._observers[old_client].task
        assert task is not None
        await asyncio.wait_for(asyncio.shield(task), 10)  # gave up, bounded
        assert runtime.observers == {}
        assert len(refused) == observers_module.OBSERVER_MAX_FAILURES
        server.faults.step_delay = 0.0
        await runtime.wait(execution, timeout=30)
    assert execution.status is TaskStatus.COMPLETED and execution.output_files


async def test_dropped_observer_reconnects_and_resumes(server: EmbeddedServer) -> None:
    prompt_id, old_client = await left_running(server, long_prompt(nonce=5))
    runtime = make_runtime(server.url)
    recorder = Recorder(runtime)
    async with runtime.session():
        execution = await runtime.attach(prompt_id, client_id=old_client)
        assert runtime.observe(prompt_id)
        node = execution.node_task("2")
        assert node is not None
        await until(runtime, lambda: len(recorder.of(node.id, "progress")) >= 2)
        observer = runtime._observers[old_client]
        assert observer.connections == 1
        await server.faults.drop_websockets()
        before = len(recorder.of(node.id, "progress"))
        await until(
            runtime, lambda: observer.connections == 2 and len(recorder.of(node.id, "progress")) > before + 2
        )
        server.faults.step_delay = 0.0
        await runtime.wait(execution, timeout=30)
    assert execution.status is TaskStatus.COMPLETED and execution.output_files
    assert_node_lifecycles_once(recorder, execution)


async def test_closing_the_session_stops_observers_and_leaves_the_prompt_running(
    server: EmbeddedServer,
) -> None:
    prompt_id, old_client = await left_running(server, long_prompt(nonce=6))
    runtime = make_runtime(server.url)
    async with runtime.session():
        execution = await runtime.attach(prompt_id, client_id=old_client)
        assert runtime.observe(prompt_id)
        await until(runtime, lambda: runtime.observers.get(old_client) is True)
        task = runtime._observers[old_client].task
    assert task is not None and task.done()
    assert runtime.observers == {}
    assert not execution.is_final
    assert not any(sid == old_client for sid in server.state.hub.sockets)
    queue = server.state.queue_info()["exec_info"]["queue_remaining"]
    assert queue == 1
    # A new session of the same runtime follows it live again.
    async with runtime.session():
        await until(runtime, lambda: runtime.observers.get(old_client) is True)
        server.faults.step_delay = 0.0
        await runtime.wait(execution, timeout=30)
    assert execution.status is TaskStatus.COMPLETED


async def test_observe_refuses_what_it_must_not_take(server: EmbeddedServer) -> None:
    runtime = make_runtime(server.url)
    async with runtime.session():
        own = await runtime.submit(long_prompt(steps=3, nonce=7))
        assert own.prompt_id is not None
        assert not runtime.observe(own.prompt_id)  # our own client_id: the main socket has it
        assert not runtime.observe("no-such-prompt")
        server.faults.step_delay = 0.0
        await runtime.wait(own, timeout=30)
        assert not runtime.observe(own.prompt_id)  # finished
    assert runtime.observers == {}


async def test_observer_uses_the_runtime_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "observer-secret-token-1"
    handshakes: list[tuple[str, str | None]] = []
    build_app: Callable[..., web.Application] = server_app.build_app

    def guarded_app(embedded: EmbeddedServer) -> web.Application:
        app = build_app(embedded)

        @web.middleware
        async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path.endswith("/ws"):
                handshakes.append((request.query.get("clientId", ""), request.headers.get("Authorization")))
            if request.headers.get("Authorization") != f"Bearer {token}":
                raise web.HTTPUnauthorized()
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.append(require_token)
        return app

    monkeypatch.setattr(server_app, "build_app", guarded_app)
    async with EmbeddedServer(ServerConfig(port=0, speed=SPEED)) as server:
        server.faults.step_delay = SLOW_STEP
        first = make_runtime(server.url, auth=Auth(token=token))
        async with first.session():
            left = await first.submit(long_prompt(steps=100, nonce=8))
            node = left.node_task("2")
            assert node is not None
            await until(first, lambda: node.value is not None)
        runtime = make_runtime(server.url, auth=Auth(token=token))
        async with runtime.session():
            execution = await runtime.attach(left.prompt_id or "", client_id=first.client_id)
            assert runtime.observe(left.prompt_id or "")
            await until(runtime, lambda: runtime.observers.get(first.client_id) is True)
            server.faults.step_delay = 0.0
            await runtime.wait(execution, timeout=30)
        assert execution.status is TaskStatus.COMPLETED
    observed = [auth for client_id, auth in handshakes if client_id == first.client_id]
    assert len(observed) >= 2  # the first runtime's own socket, then the observer
    assert all(auth == f"Bearer {token}" for auth in observed)


async def test_observer_left_unrouted_by_a_late_close_is_reopened(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ComfyUI forgets a client_id when *any* socket of it closes. The old client's socket closing
    after the observer opened leaves the observer open but unrouted: status broadcasts stop
    reaching it while the main socket gets them, so the runtime reopens it."""
    hub = server.state.hub
    closed: list[str] = []
    forgotten = asyncio.Event()

    def comfyui_unregister(sid: str, ws: web.WebSocketResponse) -> None:
        # ComfyUI's websocket_handler ends with sockets.pop(sid), whichever socket holds it now.
        hub.sockets.pop(sid, None)
        hub.metadata.pop(sid, None)
        closed.append(sid)
        forgotten.set()

    monkeypatch.setattr(hub, "unregister", comfyui_unregister)
    prompt_id, old_client = await left_running(server, long_prompt(nonce=9))
    await until_set(forgotten)  # the first session's own socket is gone
    forgotten.clear()
    # The old instance's socket, still open on the server side (a half-dead connection, say).
    zombie = await websockets.connect(f"{server.ws_url}?clientId={old_client}")
    runtime = make_runtime(server.url)
    recorder = Recorder(runtime)
    try:
        async with runtime.session():
            execution = await runtime.attach(prompt_id, client_id=old_client)
            assert runtime.observe(prompt_id)
            node = execution.node_task("2")
            assert node is not None
            await until(runtime, lambda: len(recorder.of(node.id, "progress")) >= 2)
            observer = runtime._observers[old_client]
            await zombie.close()
            await until_set(forgotten)
            assert old_client not in hub.sockets  # the observer is open, but nothing reaches it now
            queued = [await runtime.submit(long_prompt(steps=2, nonce=20 + i)) for i in range(2)]
            before = len(recorder.of(node.id, "progress"))
            await until(
                runtime, lambda: observer.connections == 2 and len(recorder.of(node.id, "progress")) > before
            )
            server.faults.step_delay = 0.0
            for done in [execution, *queued]:
                await runtime.wait(done, timeout=30)
    finally:
        await zombie.close()
    assert execution.status is TaskStatus.COMPLETED and execution.output_files
    assert_node_lifecycles_once(recorder, execution)


async def until_set(event: asyncio.Event, timeout: float = 10.0) -> None:
    await asyncio.wait_for(event.wait(), timeout)


async def test_one_observer_per_client_closed_after_its_last_prompt(server: EmbeddedServer) -> None:
    """Two prompts of one old client (one running, one still queued) share one observer, which
    stays open until the second ends; another old client gets its own observer."""
    first = make_runtime(server.url)
    async with first.session():
        running = await first.submit(long_prompt(nonce=10), name="running")
        queued = await first.submit(long_prompt(steps=20, nonce=11), name="queued")
        node = running.node_task("2")
        assert node is not None
        await until(first, lambda: (node.value or 0) >= 2)
    second = make_runtime(server.url)
    async with second.session():
        other = await second.submit(long_prompt(steps=20, nonce=12), name="other client")
    runtime = make_runtime(server.url)
    recorder = Recorder(runtime)
    async with runtime.session():
        executions = [
            await runtime.attach(e.prompt_id or "", client_id=c.client_id)
            for e, c in ((running, first), (queued, first), (other, second))
        ]
        assert [e.status for e in executions] == [TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.PENDING]
        assert all(runtime.observe(e.prompt_id or "") for e in executions)
        assert set(runtime._observers) == {first.client_id, second.client_id}
        shared = runtime._observers[first.client_id]
        assert shared.prompt_ids == {running.prompt_id, queued.prompt_id}
        await runtime.cancel(executions[0])  # the queued one starts, still slowed down
        assert first.client_id in runtime.observers  # the queued prompt of that client is still to come
        server.faults.step_delay = 0.0
        await runtime.wait(executions[1], timeout=30)
        assert first.client_id not in runtime.observers
        await runtime.wait(executions[2], timeout=30)
        assert runtime.observers == {}
    assert shared.connections == 1
    assert executions[0].status is TaskStatus.CANCELLED
    for execution in executions[1:]:
        assert execution.status is TaskStatus.COMPLETED and execution.output_files
        progress_node = execution.node_task("2")
        assert progress_node is not None
        assert recorder.of(progress_node.id, "progress"), f"{execution.name}: no live progress"
    for execution in executions:
        assert_node_lifecycles_once(recorder, execution)
