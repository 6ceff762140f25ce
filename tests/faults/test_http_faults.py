"""The server is down, slow, or answers garbage: clear errors, no crash, nothing recorded wrongly."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from comfy_reality.journal import Journal
from comfy_reality.runtime import (
    ComfyUIAsyncRuntime,
    ConnectionState,
    ServerResponseError,
    ServerTimeoutError,
    ServerUnreachableError,
    TaskStatus,
)
from comfy_reality.server import EmbeddedServer

from .conftest import make_runtime, progress_prompt, wait_connected

Session = Callable[..., Awaitable[ComfyUIAsyncRuntime]]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_server_unreachable_at_start(tmp_path: Path, journal: Journal) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    runtime = make_runtime(url, timeout=2.0)
    journal.attach(runtime)
    async with runtime.session():
        with pytest.raises(ServerUnreachableError) as info:
            await runtime.submit(progress_prompt(), name="nowhere")
        message = str(info.value)
        assert url in message and "Check that the server is running" in message
        assert runtime.status.state in (
            ConnectionState.DOWN,
            ConnectionState.RECONNECTING,
            ConnectionState.CONNECTING,
        )
        report = await journal.reconcile(runtime)  # nothing unfinished: nothing to ask
        assert report.unreachable is None
    assert runtime.executions == {}
    assert await journal.list_executions() == []


async def test_reconcile_with_the_server_down_keeps_the_rows(
    server: EmbeddedServer, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite3"
    first = await Journal.open(path)
    runtime = await session(server.url)
    first.attach(runtime)
    execution = await runtime.submit(progress_prompt(steps=400, delay=1.0), name="waiting")
    await first.close()
    server.faults.http_error = 503
    second = await Journal.open(path)
    try:
        later = make_runtime(server.url, timeout=1.0)
        async with later.session():
            report = await second.reconcile(later)
        assert report.unreachable is not None and "503" in report.unreachable
        assert "could not check" in report.summary
        entry = await second.get(execution.id)
        assert entry is not None and not entry.is_final and not entry.lost
    finally:
        server.faults.http_error = None
        await second.close()
    await runtime.cancel(execution)


async def test_server_answering_slowly_times_out_with_a_clear_message(
    server: EmbeddedServer, session: Session
) -> None:
    runtime = await session(server.url, timeout=0.3)
    await wait_connected(runtime)  # the stall is for HTTP requests; the socket is already up
    server.faults.stall_http = True
    try:
        with pytest.raises(ServerTimeoutError) as info:
            await runtime.submit(progress_prompt(), name="slow")
        assert "did not answer within 0.3s" in str(info.value)
        assert server.url in str(info.value)
    finally:
        server.faults.stall_http = False
    assert runtime.executions == {}
    done = await runtime.execute_workflow(progress_prompt(nonce=3), name="after the stall")
    assert done.status is TaskStatus.COMPLETED


async def test_http_500_is_a_clear_error(server: EmbeddedServer, session: Session) -> None:
    runtime = await session(server.url)
    await wait_connected(runtime)
    server.faults.http_error = 500
    try:
        with pytest.raises(ServerResponseError) as info:
            await runtime.submit(progress_prompt(), name="five hundred")
        assert info.value.status_code == 500
        assert "500" in str(info.value)
        with pytest.raises(ServerResponseError):
            await runtime.client.get_queue()
    finally:
        server.faults.http_error = None
    assert runtime.executions == {}


async def test_a_non_json_body_is_a_clear_error(server: EmbeddedServer, session: Session) -> None:
    runtime = await session(server.url)
    await wait_connected(runtime)
    server.faults.http_error = 200  # every request: status 200 with a plain-text body
    try:
        with pytest.raises(ServerResponseError) as info:
            await runtime.client.get_queue()
        assert "JSON" in str(info.value) or "json" in str(info.value)
        with pytest.raises(ServerResponseError):
            await runtime.submit(progress_prompt(), name="garbage")
    finally:
        server.faults.http_error = None
    assert runtime.executions == {}
    done = await runtime.execute_workflow(progress_prompt(nonce=4), name="after garbage")
    assert done.status is TaskStatus.COMPLETED


async def test_http_500_before_connecting_names_the_status(server: EmbeddedServer) -> None:
    server.faults.http_error = 500
    runtime = make_runtime(server.url, timeout=2.0)
    try:
        async with runtime.session():
            with pytest.raises(ServerUnreachableError) as info:
                await runtime.submit(progress_prompt(), name="refused")
            assert "500" in str(info.value) and server.url in str(info.value)
    finally:
        server.faults.http_error = None
    assert runtime.executions == {}
