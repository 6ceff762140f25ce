"""Fixtures for fault tests: the embedded server, fast-reconnecting runtimes, a journal, and helpers
that wait on task events (never on the clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.journal import Journal
from comfy_reality.runtime import (
    Backoff,
    ComfyUIAsyncRuntime,
    ConnectionState,
    ServerStatus,
    TaskEvent,
    TaskStatus,
    WorkflowExecution,
)
from comfy_reality.server import EmbeddedServer, ServerConfig

FAST_BACKOFF = Backoff(initial=0.01, maximum=0.05, jitter=0.0)
SPEED = 50.0


def progress_prompt(
    steps: int = 3, delay: float = 0.01, nonce: int = 0, prefix: str = "fault"
) -> dict[str, Any]:
    """EmptyImage -> RealityProgress(steps x delay, scaled by the server's speed) -> SaveImage."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": delay, "nonce": nonce},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


# Long enough that a fault lands mid-run at SPEED (about 20 ms a step), short enough to finish.
SLOW_PROMPT_STEPS = 40
SLOW_PROMPT_DELAY = 1.0


def make_runtime(url: str, **kwargs: Any) -> ComfyUIAsyncRuntime:
    kwargs.setdefault("backoff", FAST_BACKOFF)
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("poll_interval", 0.05)
    return ComfyUIAsyncRuntime(url, **kwargs)


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=SPEED)) as running:
        yield running


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(tmp_path / "journal.sqlite3", progress_interval=0.02)
    yield opened
    await opened.close()


@pytest.fixture
async def session() -> AsyncIterator[Callable[..., Awaitable[ComfyUIAsyncRuntime]]]:
    """``runtime = await session(url, **kw)``: a runtime whose session stays open for the test."""
    async with AsyncExitStack() as stack:

        async def open_session(url: str, **kwargs: Any) -> ComfyUIAsyncRuntime:
            runtime = make_runtime(url, **kwargs)
            await stack.enter_async_context(runtime.session())
            return runtime

        yield open_session


async def wait_for_event(
    runtime: ComfyUIAsyncRuntime, predicate: Callable[[TaskEvent], bool], timeout: float = 10.0
) -> TaskEvent:
    """The first task event (from now on) that matches."""
    loop = asyncio.get_running_loop()
    found: asyncio.Future[TaskEvent] = loop.create_future()

    def watch(event: TaskEvent) -> None:
        if not found.done() and predicate(event):
            found.set_result(event)

    unsubscribe = runtime.task_manager.subscribe(watch)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        unsubscribe()


async def wait_for_progress(
    runtime: ComfyUIAsyncRuntime, execution: WorkflowExecution, steps: int = 2
) -> None:
    """Until the execution's progress node has reported ``steps`` steps."""
    node = execution.node_task("2")
    assert node is not None

    def reached(event: TaskEvent) -> bool:
        return event.task_id == node.id and (node.value or 0) >= steps

    if (node.value or 0) < steps:
        await wait_for_event(runtime, reached)
    assert node.status is TaskStatus.RUNNING


async def wait_connected(runtime: ComfyUIAsyncRuntime, timeout: float = 10.0) -> None:
    """Until the runtime's WebSocket is up."""
    if runtime.connected:
        return
    loop = asyncio.get_running_loop()
    up: asyncio.Future[None] = loop.create_future()

    def watch(status: ServerStatus) -> None:
        if status.state is ConnectionState.CONNECTED and not up.done():
            up.set_result(None)

    unsubscribe = runtime.subscribe_status(watch)
    try:
        if not runtime.connected:
            await asyncio.wait_for(up, timeout)
    finally:
        unsubscribe()
