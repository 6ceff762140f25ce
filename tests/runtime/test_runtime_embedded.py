"""The runtime end to end against the embedded ComfyUI-compatible server, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from comfy_reality.runtime import (
    ComfyUIAsyncRuntime,
    ConnectionState,
    ServerStatus,
    ServerUnreachableError,
    TaskStatus,
    WorkflowExecution,
)
from comfy_reality.server import EmbeddedServer, ServerConfig
from tests.runtime.helpers import node_statuses as nodes
from tests.runtime.helpers import until

from .conftest import make_runtime

C, X, F = TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.FAILED
SPEED = 50.0


def graph(steps: int = 10, delay: float = 0.05, nonce: int = 1, fail: bool = False) -> dict[str, Any]:
    """EmptyImage -> RealityProgress -> (RealityFail) -> SaveImage, plus a PreviewImage."""
    prompt: dict[str, Any] = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": nonce},
        },
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": delay, "preview": False, "nonce": nonce},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": f"rt_{nonce}"}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    if fail:
        prompt["5"] = {
            "class_type": "RealityFail",
            "inputs": {"image": ["2", 0], "message": "planned failure"},
        }
        prompt["3"]["inputs"]["images"] = ["5", 0]
    return prompt


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(port=0, speed=SPEED)) as embedded:
        yield embedded


@pytest.fixture
async def runtime(server: EmbeddedServer) -> AsyncIterator[ComfyUIAsyncRuntime]:
    rt = make_runtime(server.url)
    async with rt.session():
        yield rt


def all_final(execution: WorkflowExecution) -> bool:
    return execution.is_final and all(t.is_final for t in execution.tasks)


def running_with_progress(execution: WorkflowExecution) -> Callable[[], bool]:
    def check() -> bool:
        task = execution.node_task("2")
        return task is not None and task.status is TaskStatus.RUNNING and (task.value or 0) > 0

    return check


async def test_success(runtime: ComfyUIAsyncRuntime) -> None:
    execution = await runtime.execute_workflow(graph(nonce=11), name="ok")
    assert execution.status is C and all_final(execution)
    assert nodes(execution) == {"1": C, "2": C, "3": C, "4": C}
    sampler = execution.node_task("2")
    assert sampler is not None and (sampler.value, sampler.max) == (10.0, 10.0)
    saved = [f for f in execution.output_files if f.type == "output"]
    assert len(saved) == 1 and saved[0].node_id == "3" and saved[0].filename.startswith("rt_11")
    data = await runtime.download_output(saved[0])
    assert data.startswith(b"\x89PNG")


async def test_cached_rerun(runtime: ComfyUIAsyncRuntime) -> None:
    first = await runtime.execute_workflow(graph(nonce=12))
    again = await runtime.execute_workflow(graph(nonce=12))
    assert first.status is C and again.status is C
    assert not any(t.cached for t in first.tasks)
    assert all(t.cached for t in again.tasks if t.node_id)
    assert {f.filename for f in again.output_files} >= {
        f.filename for f in first.output_files if f.type == "output"
    }


async def test_failure(runtime: ComfyUIAsyncRuntime) -> None:
    execution = await runtime.execute_workflow(graph(nonce=13, fail=True))
    assert execution.status is F and all_final(execution)
    failed = execution.node_task("5")
    assert failed is not None and failed.status is F
    assert failed.error_type == "RuntimeError" and "planned failure" in (failed.error or "")
    assert failed.traceback
    assert execution.error is not None and execution.error.node_id == "5"
    saver = execution.node_task("3")
    assert (
        saver is not None
        and saver.status is X
        and saver.status_detail == "not run: node 5 (RealityFail) failed"
    )


async def test_cancel_running(runtime: ComfyUIAsyncRuntime) -> None:
    execution = await runtime.submit(graph(steps=400, delay=0.5, nonce=14))
    sampler = execution.node_task("2")
    assert sampler is not None
    await until(runtime, lambda: (sampler.value or 0) >= 5)
    # Live numbers for the progress view: steps, rate and a time estimate.
    assert sampler.max == 400 and sampler.rate is not None and sampler.rate > 0
    assert sampler.eta_seconds is not None and sampler.eta_seconds > 0
    assert 0 < sampler.progress < 1
    await runtime.cancel(execution)
    assert execution.status is X and all_final(execution)
    sampler = execution.node_task("2")
    assert sampler is not None and sampler.status_detail == "interrupted"


async def test_cancel_pending(server: EmbeddedServer, runtime: ComfyUIAsyncRuntime) -> None:
    blocker = await runtime.submit(graph(steps=400, delay=0.5, nonce=15))
    waiting = await runtime.submit(graph(nonce=16))
    await until(runtime, running_with_progress(blocker))
    assert waiting.status is TaskStatus.PENDING
    await runtime.cancel(waiting)
    assert waiting.status is X and waiting.status_detail == "removed from the queue before it ran"
    queue = await runtime.client.get_queue()
    assert queue.find(waiting.prompt_id or "") is None
    assert blocker.status is TaskStatus.RUNNING
    await runtime.cancel(blocker)
    assert blocker.status is X


async def test_retry(runtime: ComfyUIAsyncRuntime) -> None:
    failed = await runtime.execute_workflow(graph(nonce=17, fail=True), name="flaky")
    retried = await runtime.retry(failed)
    assert retried.retry_of == failed.id and retried.prompt_id != failed.prompt_id
    await runtime.wait(retried, timeout=10)
    assert retried.status is F and retried.name == "flaky"


async def test_websocket_dropped_mid_run_is_reconnected_and_reconciled(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime
) -> None:
    states: list[ServerStatus] = []
    runtime.subscribe_status(states.append)
    execution = await runtime.submit(graph(steps=60, delay=0.5, nonce=18))
    await until(runtime, running_with_progress(execution))
    closed = await server.faults.drop_websockets()
    assert closed >= 1
    await runtime.wait(execution, timeout=20)
    assert execution.status is C and all_final(execution)
    kinds = [s.state for s in states]
    assert ConnectionState.RECONNECTING in kinds
    assert ConnectionState.CONNECTED in kinds[kinds.index(ConnectionState.RECONNECTING) :]
    assert runtime.connected


async def test_run_finishing_while_disconnected_comes_from_history(server: EmbeddedServer) -> None:
    from comfy_reality.runtime import Backoff

    # A slow first reconnect: the short remainder of the run ends while the socket is gone.
    rt = make_runtime(server.url, backoff=Backoff(initial=0.5, maximum=0.5, jitter=0.0))
    async with rt.session():
        execution = await rt.submit(graph(steps=20, delay=0.05, nonce=19))
        await until(rt, running_with_progress(execution))
        await server.faults.drop_websockets()
        await rt.wait(execution, timeout=20)
        assert execution.status is C and all_final(execution)
        assert any(f.type == "output" for f in execution.output_files)


async def test_prompt_lost_by_a_restarted_server(
    server: EmbeddedServer, runtime: ComfyUIAsyncRuntime
) -> None:
    execution = await runtime.submit(graph(steps=400, delay=0.5, nonce=20))
    await until(runtime, running_with_progress(execution))
    await server.restart()
    await runtime.wait(execution, timeout=20)
    assert execution.status is X and all_final(execution)
    assert execution.status_detail is not None and execution.status_detail.startswith("lost:")


async def test_server_down_at_start_then_up() -> None:
    port = free_port()
    rt = make_runtime(f"http://127.0.0.1:{port}")
    changed = asyncio.Event()
    rt.subscribe_status(lambda s: changed.set())

    async def state_is(state: ConnectionState) -> None:
        while rt.status.state is not state:
            changed.clear()
            await asyncio.wait_for(changed.wait(), 10)

    async with rt.session():
        await state_is(ConnectionState.DOWN)
        with pytest.raises(ServerUnreachableError):
            await rt.submit(graph(nonce=21))
        async with EmbeddedServer(ServerConfig(port=port, speed=SPEED)):
            await state_is(ConnectionState.CONNECTED)
            execution = await rt.execute_workflow(graph(nonce=21))
            assert execution.status is C


async def test_two_runtimes_on_one_server_keep_their_own_prompts(server: EmbeddedServer) -> None:
    a, b = make_runtime(server.url), make_runtime(server.url)
    async with a.session(), b.session():
        ea, eb = await asyncio.gather(
            a.execute_workflow(graph(nonce=22)), b.execute_workflow(graph(nonce=23))
        )
        assert ea.status is C and eb.status is C
        assert ea.client_id == a.client_id != eb.client_id == b.client_id
        assert list(a.executions) == [ea.id] and list(b.executions) == [eb.id]
        assert {t.prompt_id for t in a.task_manager.tasks()} == {ea.prompt_id}


async def test_expansion_and_blocker(runtime: ComfyUIAsyncRuntime) -> None:
    expand = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 24},
        },
        "2": {"class_type": "RealityExpand", "inputs": {"image": ["1", 0], "steps": 3, "delay": 0.05}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    execution = await runtime.execute_workflow(expand)
    assert execution.status is C and nodes(execution) == {"1": C, "2": C, "3": C}
    block = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 25},
        },
        "2": {"class_type": "RealityBlock", "inputs": {"image": ["1", 0], "message": "blocked on purpose"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "never"}},
    }
    blocked = await runtime.execute_workflow(block)
    assert blocked.status is C and blocked.error is None
    saver = blocked.node_task("3")
    assert saver is not None and saver.status is X and (saver.status_detail or "").startswith("blocked:")


async def test_a_run_attached_after_it_finished_keeps_the_servers_duration(server: EmbeddedServer) -> None:
    """Re-attached after a restart: its times are the server's, not the moment of the attach (issue 12)."""
    server.faults.step_delay = 0.05  # 10 steps: about half a second of real work
    first = make_runtime(server.url)
    async with first.session():
        execution = await first.submit(graph(steps=10))
        done = await first.wait(execution, timeout=20)
    assert done.status is C and done.duration is not None and done.duration >= 0.4
    second = make_runtime(server.url)
    async with second.session():
        attached = await second.attach(execution.prompt_id or "", name="from journal")
    assert attached.status is C
    assert attached.duration is not None
    assert abs(attached.duration - done.duration) < 0.25, (attached.duration, done.duration)
