"""Fixtures for the pool tests: several embedded servers on loopback and a pool over them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import structlog

from comfy_reality.runtime import Backoff, TaskEvent
from comfy_reality.runtime.pool import PoolServer, ServerPool
from comfy_reality.server import EmbeddedServer, ServerConfig

FAST_BACKOFF = Backoff(initial=0.01, maximum=0.05, jitter=0.0)
SPEED = 50.0


@pytest.fixture(autouse=True)
def default_structlog() -> None:
    structlog.reset_defaults()


def quick_prompt(nonce: int = 0, steps: int = 2, node: str = "RealityProgress") -> dict[str, Any]:
    """EmptyImage -> RealityProgress -> SaveImage; ``nonce`` makes each prompt its own (no cache)."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": nonce},
        },
        "2": {
            "class_type": node,
            "inputs": {"image": ["1", 0], "steps": steps, "delay": 0.0, "nonce": nonce},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": f"pool_{nonce}"}},
    }


def make_pool(urls: list[str], **kwargs: Any) -> ServerPool:
    kwargs.setdefault("backoff", FAST_BACKOFF)
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("poll_interval", 0.05)
    weights: list[float] = kwargs.pop("weights", [1.0] * len(urls))
    servers = [
        PoolServer(url=url, name=f"s{i}", weight=w)
        for i, (url, w) in enumerate(zip(urls, weights, strict=True))
    ]
    return ServerPool(servers, **kwargs)


@pytest.fixture
async def servers() -> AsyncIterator[Callable[..., Awaitable[list[EmbeddedServer]]]]:
    """``embedded = await servers(3)``: embedded servers stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(count: int, speed: float = SPEED) -> list[EmbeddedServer]:
            started = []
            for _ in range(count):
                server = EmbeddedServer(ServerConfig(port=0, speed=speed))
                started.append(await stack.enter_async_context(server))
            return started

        yield start


@pytest.fixture
async def pool_session() -> AsyncIterator[Callable[..., Awaitable[ServerPool]]]:
    """``pool = await pool_session(urls, **kw)``: a pool whose session is open (and ready) for the test."""
    async with AsyncExitStack() as stack:

        async def open_pool(urls: list[str], **kwargs: Any) -> ServerPool:
            pool = make_pool(urls, **kwargs)
            await stack.enter_async_context(pool.session())
            await pool.ready()
            return pool

        yield open_pool


async def until(pool: ServerPool, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate`` holds, re-checked on every task event and every pool change."""
    ready = asyncio.Event()

    def check(_: TaskEvent | None = None) -> None:
        if predicate():
            ready.set()

    stop_events = pool.task_manager.subscribe(check)
    stop_changes = pool.subscribe_changes(check)
    try:
        check()
        await asyncio.wait_for(ready.wait(), timeout)
    finally:
        stop_events()
        stop_changes()
