"""Session lifecycle, connection state, and credentials on HTTP and the WebSocket handshake."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from structlog.testing import capture_logs

from comfy_reality.runtime import (
    Auth,
    ComfyError,
    ConnectionState,
    ServerStatus,
    ServerUnreachableError,
    TaskStatus,
)

from .conftest import make_runtime
from .replay import ReplayServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_state(states: list[ServerStatus], event: asyncio.Event, state: ConnectionState) -> None:
    while not states or states[-1].state is not state:
        event.clear()
        await asyncio.wait_for(event.wait(), 5)


async def test_server_down_at_start_then_up() -> None:
    port = free_port()
    runtime = make_runtime(f"http://127.0.0.1:{port}")
    states: list[ServerStatus] = []
    changed = asyncio.Event()
    runtime.subscribe_status(lambda s: (states.append(s), changed.set()))
    async with runtime.session():
        await wait_state(states, changed, ConnectionState.DOWN)
        assert states[-1].reason and states[-1].retry_in is not None
        assert not runtime.connected
        with pytest.raises(ServerUnreachableError, match=f"127.0.0.1:{port}"):
            await runtime.submit({"1": {"class_type": "EmptyImage", "inputs": {}}})
        server = ReplayServer("01_success")
        server.port = port
        async with server:
            await wait_state(states, changed, ConnectionState.CONNECTED)
            execution = await runtime.execute_workflow(server.transcripts[0].prompt(0))
            assert execution.status is TaskStatus.COMPLETED
    assert runtime.status.state is ConnectionState.DOWN and runtime.status.reason == "session closed"


async def test_status_reports_queue_remaining(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("06_queue_management")
    runtime = await session(server.url)
    server.pause()
    await runtime.submit(server.transcripts[0].recorded(label="Q1").prompt)
    changed = asyncio.Event()
    runtime.subscribe_status(lambda s: changed.set())
    while runtime.status.queue_remaining != 1:
        changed.clear()
        await asyncio.wait_for(changed.wait(), 5)
    assert runtime.status.state is ConnectionState.CONNECTED


async def test_closing_the_session_leaves_prompts_running_and_no_tasks_behind(replay: Any) -> None:
    server: ReplayServer = await replay("05_interrupt")
    runtime = make_runtime(server.url)
    before = asyncio.all_tasks()
    async with runtime.session():
        execution = await runtime.submit(server.transcripts[0].prompt(0))
        waiter = asyncio.create_task(runtime.wait(execution))
        await asyncio.sleep(0)
    with pytest.raises(ComfyError, match="session closed before prompt .* keeps running"):
        await waiter
    assert not any(r.path == "/interrupt" for r in server.requests)
    assert server.jobs[execution.prompt_id or ""].state == "running"
    assert runtime._tasks == set()
    leftovers = [t for t in asyncio.all_tasks() - before if not t.done() and "comfy" in t.get_name()]
    assert leftovers == []
    assert server.sockets_for(runtime.client_id) == 0


async def test_body_exception_propagates_unchanged(replay: Any) -> None:
    server: ReplayServer = await replay("01_success")
    runtime = make_runtime(server.url)
    with pytest.raises(KeyError, match="boom"):
        async with runtime.session():
            raise KeyError("boom")


async def test_api_needs_an_open_session() -> None:
    runtime = make_runtime("http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="session"):
        await runtime.submit({"1": {"class_type": "X", "inputs": {}}})


async def test_reattach_with_the_same_client_id_after_a_restart(replay: Any) -> None:
    """A restarted app reconnects with the recorded client_id and follows its own prompt live."""
    server: ReplayServer = await replay("05_interrupt")
    first = make_runtime(server.url)
    async with first.session():
        execution = await first.submit(server.transcripts[0].prompt(0))
    assert execution.client_id == first.client_id
    second = make_runtime(server.url, client_id=execution.client_id)
    async with second.session():
        attached = await second.attach(execution.prompt_id or "", name="from journal")
        assert attached.client_id == second.client_id and attached.status is TaskStatus.RUNNING
        await second.cancel(attached)
        assert attached.status is TaskStatus.CANCELLED


@pytest.mark.parametrize("in_query", [False, True])
async def test_auth_reaches_http_and_websocket_and_never_the_logs(replay: Any, in_query: bool) -> None:
    token = f"secret-token-{'query' if in_query else 'header'}-4f9a"
    server: ReplayServer = await replay("01_success")
    runtime = make_runtime(
        server.url, auth=Auth(token=token, token_in_query=in_query, headers={"X-Tenant": "t1"})
    )
    with capture_logs() as logs:
        async with runtime.session():
            execution = await runtime.execute_workflow(server.transcripts[0].prompt(0))
        # And when the server is gone: error messages carry URLs, which must not carry the token.
        down = make_runtime(
            f"http://127.0.0.1:{free_port()}", auth=Auth(token=token, token_in_query=in_query)
        )
        async with down.session():
            with pytest.raises(ServerUnreachableError) as caught:
                await down.submit({"1": {"class_type": "X", "inputs": {}}})
    assert execution.status is TaskStatus.COMPLETED
    assert server.ws_handshakes and server.requests
    for seen in [*server.ws_handshakes, *server.requests]:
        if in_query:
            assert seen.query.get("token") == token, seen.path
            assert "Authorization" not in seen.headers
        else:
            assert seen.headers.get("Authorization") == f"Bearer {token}", seen.path
        assert seen.headers.get("X-Tenant") == "t1"
    assert logs, "expected log lines"
    assert token not in repr(logs)
    assert token not in str(caught.value)


async def test_basic_auth_on_the_handshake(replay: Any) -> None:
    server: ReplayServer = await replay("01_success")
    runtime = make_runtime(server.url, auth=Auth(username="ann", password="pw-hunter2-x"))
    async with runtime.session():
        await runtime.execute_workflow(server.transcripts[0].prompt(0))
    assert server.ws_handshakes[0].headers["Authorization"] == "Basic YW5uOnB3LWh1bnRlcjIteA=="


async def test_reopening_the_session_follows_unfinished_executions_again(replay: Any) -> None:
    server: ReplayServer = await replay("05_interrupt")
    runtime = make_runtime(server.url)
    async with runtime.session():
        execution = await runtime.submit(server.transcripts[0].prompt(0))
    assert not execution.is_final
    async with runtime.session():
        await runtime.cancel(execution)
        assert (await runtime.wait(execution, timeout=5)).status is TaskStatus.CANCELLED
    assert len(server.ws_handshakes) == 2


async def test_a_library_session_logs_json_to_the_file_not_the_console(
    replay: Any, isolated_home: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import structlog

    from comfy_reality import paths

    server: ReplayServer = await replay("01_success")
    assert not structlog.is_configured()
    runtime = make_runtime(server.url)
    async with runtime.session():
        await runtime.execute_workflow(server.transcripts[0].prompt(0))
    lines = paths.log_file().read_text(encoding="utf-8").splitlines()
    events = {json.loads(line)["event"] for line in lines}
    assert {"prompt_queued", "execution_finished"} <= events
    assert "prompt_queued" not in capsys.readouterr().out
