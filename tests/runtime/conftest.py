"""Fixtures for the runtime tests: replay servers and runtimes tuned for fast, deterministic runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import structlog

from comfy_reality.runtime import Backoff, ComfyUIAsyncRuntime

from .replay import ReplayServer

FAST_BACKOFF = Backoff(initial=0.01, maximum=0.05, jitter=0.0)


@pytest.fixture(autouse=True)
def default_structlog() -> None:
    """structlog is global: a test elsewhere that configured it onto a file it then closed must not
    make every log call here raise 'I/O operation on closed file'."""
    structlog.reset_defaults()


def make_runtime(url: str, **kwargs: Any) -> ComfyUIAsyncRuntime:
    kwargs.setdefault("backoff", FAST_BACKOFF)
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("poll_interval", 0.05)
    return ComfyUIAsyncRuntime(url, **kwargs)


@pytest.fixture
async def replay() -> AsyncIterator[Callable[..., Awaitable[ReplayServer]]]:
    """``server = await replay("01_success")``: a replay server stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(*scenarios: str) -> ReplayServer:
            return await stack.enter_async_context(ReplayServer(*scenarios))

        yield start


@pytest.fixture
async def session() -> AsyncIterator[Callable[..., Awaitable[ComfyUIAsyncRuntime]]]:
    """``runtime = await session(url, **kw)``: a runtime whose session is open for the test."""
    async with AsyncExitStack() as stack:

        async def open_session(url: str, **kwargs: Any) -> ComfyUIAsyncRuntime:
            runtime = make_runtime(url, **kwargs)
            await stack.enter_async_context(runtime.session())
            return runtime

        yield open_session
