"""CoalescingConnection: frames handed over in order, reads paused only during a flood, and
never longer than the bound; ping, pong and close still handled (a real socket on loopback)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode

from comfy_reality.runtime import connection as connection_module
from comfy_reality.runtime.connection import Backoff, Connection
from comfy_reality.runtime.read_coalescing import CoalescingConnection, is_mid_node_step
from comfy_reality.runtime.snapshots import SnapshotHold

from .snapshot_folding import chain_frames, chain_prompt, fold_state, followed

P = "5c3e2c7a-0000-4000-8000-000000000001"
Script = Callable[[ServerConnection], Awaitable[None]]


def step(value: int, maximum: int, node: str = "3") -> str:
    return json.dumps(
        {"type": "progress", "data": {"value": value, "max": maximum, "prompt_id": P, "node": node}}
    )


@asynccontextmanager
async def socket_pair(script: Script) -> AsyncIterator[CoalescingConnection]:
    """A loopback server running ``script`` on the one connection, and the client's end."""

    async def handler(ws: ServerConnection) -> None:
        await script(ws)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", create_connection=CoalescingConnection) as ws:
            assert isinstance(ws, CoalescingConnection)
            yield ws


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


class StubClient:
    """What Connection needs of a client: one socket, already open."""

    def __init__(self, ws: CoalescingConnection) -> None:
        self.ws = ws

    async def connect_websocket(self, client_id: str) -> CoalescingConnection:
        return self.ws


def reader(ws: CoalescingConnection, seen: list[str | bytes], monkeypatch: pytest.MonkeyPatch) -> Connection:
    """The runtime's reader over ``ws``, recording every frame it takes, in order."""
    monkeypatch.setattr(connection_module, "deliver", lambda frame, _route, _label: seen.append(frame))
    return Connection(StubClient(ws), "c" * 32, lambda _message: None, backoff=Backoff())  # type: ignore[arg-type]


def test_only_a_step_with_more_to_come_counts_as_mid_node() -> None:
    def text(value: str) -> Frame:
        return Frame(Opcode.TEXT, value.encode())

    assert is_mid_node_step(text(step(1, 4)))
    assert not is_mid_node_step(text(step(4, 4)))  # a node's last step: its end follows at once
    assert is_mid_node_step(text('{"type":"progress","data":{"value":2,"max":20}}'))
    assert not is_mid_node_step(text('{"type": "progress_state", "data": {"prompt_id": "x", "nodes": {}}}'))
    assert not is_mid_node_step(text('{"type": "executing", "data": {"node": "3"}}'))
    assert not is_mid_node_step(text('{"data": {"value": 1, "max": 4}, "type": "progress"}'))
    assert not is_mid_node_step(Frame(Opcode.BINARY, step(1, 4).encode()))


async def test_frames_keep_their_order_through_the_queue_and_the_hand_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    early = [json.dumps({"type": "early", "n": n}) for n in range(40)]
    fragmented = ["a fragmented ", "message, ", "in three parts"]
    late: list[str | bytes] = [step(n, 100) for n in range(1, 30)]
    late += [b"\x00\x00\x00\x01binary preview", json.dumps({"type": "late", "n": 1})]
    go = asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        for frame in early:
            await ws.send(frame)
        await asyncio.wait_for(go.wait(), 5)
        await ws.send(fragmented)
        for frame in late:
            await ws.send(frame)
        await ws.close()

    seen: list[str | bytes] = []
    async with socket_pair(script) as ws:
        # Frames read before the reader starts wait in the library's queue (flow control pauses
        # the socket at 16): the reader must take those before anything it is handed.
        await until(lambda: len(ws.recv_messages.frames) >= 16)
        ws.flood_gap = math.inf  # every read counts as part of a flood
        connection = reader(ws, seen, monkeypatch)
        go.set()
        reason = await asyncio.wait_for(connection._read(ws), 10)
    assert reason == "the server closed the connection"
    assert seen == [*early, "".join(fragmented), *late]
    assert ws.handed_over > 0  # some went the fast way
    assert ws.handed_over < len(seen)  # and the queued ones the usual way


async def test_a_frame_after_a_quiet_spell_is_read_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        await ws.send(step(1, 4))
        await asyncio.wait_for(sent.wait(), 5)
        await ws.send(step(2, 4))
        await ws.wait_closed()

    seen: list[str | bytes] = []
    async with socket_pair(script) as ws:
        connection = reader(ws, seen, monkeypatch)
        reading = asyncio.create_task(connection._read(ws))
        await until(lambda: len(seen) == 1)
        assert not ws.coalescing  # the first read of a stream never pauses
        ws._last_read = ws.loop.time() - 2 * ws.flood_gap  # a quiet spell since
        sent.set()
        await until(lambda: len(seen) == 2)
        assert not ws.coalescing and ws.pauses == 0
        await ws.close()
        await reading


async def test_a_flood_pauses_reading_for_at_most_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    first_read, more = asyncio.Event(), asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        await ws.send(step(1, 4))
        await asyncio.wait_for(first_read.wait(), 5)
        await ws.send(step(2, 4))
        await asyncio.wait_for(more.wait(), 5)
        await ws.send(step(3, 4))
        await ws.wait_closed()

    seen: list[str | bytes] = []
    async with socket_pair(script) as ws:
        ws.flood_gap = math.inf  # every read after the first is part of a flood
        connection = reader(ws, seen, monkeypatch)
        reading = asyncio.create_task(connection._read(ws))
        await until(lambda: len(seen) == 1)
        first_read.set()
        await until(lambda: ws.coalescing)
        assert len(seen) == 2  # the frame that ended the read was handed over before the pause
        pause = ws._pause
        assert isinstance(pause, asyncio.TimerHandle)
        assert pause.when() - ws.loop.time() <= ws.coalesce_seconds
        more.set()
        await until(lambda: len(seen) == 3)
        read_at = ws._last_read
        # Read when the pause ended, not before: no frame waits longer than the bound (plus the
        # loop's own scheduling on a busy machine).
        assert read_at >= pause.when() - 0.002
        assert ws.pauses >= 1
        await ws.close()
        await reading


async def test_ping_pong_and_close_are_handled_while_reads_coalesce(monkeypatch: pytest.MonkeyPatch) -> None:
    server_side: list[ServerConnection] = []
    first_read, closing = asyncio.Event(), asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        server_side.append(ws)
        await ws.send(step(1, 100))
        await asyncio.wait_for(first_read.wait(), 5)
        for value in range(2, 50):
            await ws.send(step(value, 100))
        await asyncio.wait_for(closing.wait(), 5)
        await ws.close(code=4000, reason="bye")

    seen: list[str | bytes] = []
    async with socket_pair(script) as ws:
        ws.flood_gap = math.inf
        ws.coalesce_seconds = 0.05
        connection = reader(ws, seen, monkeypatch)
        reading = asyncio.create_task(connection._read(ws))
        await until(lambda: len(seen) >= 1)
        first_read.set()
        await until(lambda: ws.coalescing)
        # Our ping is answered, and so is the server's, though reading was paused when sent.
        latency = await asyncio.wait_for(await ws.ping(), 5)
        assert latency >= 0
        await asyncio.wait_for(await server_side[0].ping(), 5)
        await until(lambda: len(seen) == 49)
        closing.set()
        reason = await asyncio.wait_for(reading, 5)
    assert len(seen) == 49
    assert reason in ("the server closed the connection", "connection lost (close code 4000)")
    assert ws.close_code == 4000


async def test_runtime_fold_over_a_coalescing_socket_equals_the_usual_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nodes = [str(n) for n in range(1, 13)]
    frames = chain_frames(P, nodes, steps=5)

    async def script(ws: ServerConnection) -> None:
        for index, frame in enumerate(frames):
            await ws.send(frame)
            if index % 3 == 0:
                await asyncio.sleep(0.001)  # frames in small bursts, as a running graph sends them
        await ws.close()

    usual_runtime, usual = followed({P: chain_prompt(nodes)})
    for frame in frames:
        usual_runtime._on_frame(frame)

    runtime, trackers = followed({P: chain_prompt(nodes)})
    hold = SnapshotHold(runtime._route, runtime._router.may_hold, label="test")
    async with socket_pair(script) as ws:
        ws.flood_gap = math.inf
        connection = Connection(
            StubClient(ws),  # type: ignore[arg-type]
            "c" * 32,
            runtime._route,
            backoff=Backoff(),
            snapshots=hold,
        )
        await asyncio.wait_for(connection._read(ws), 10)
    assert connection.frames_received == len(frames)
    assert ws.pauses > 0
    assert fold_state(trackers) == fold_state(usual)


async def test_a_library_without_the_queue_hooks_reads_as_the_plain_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a websockets release whose message queue lacks the hooks, nothing is handed over or
    paused: every frame still arrives, in order, through the library's own queue."""
    frames = [step(n, 100) for n in range(1, 40)] + [json.dumps({"type": "end"})]

    async def script(ws: ServerConnection) -> None:
        for frame in frames:
            await ws.send(frame)
        await ws.close()

    seen: list[str | bytes] = []
    async with socket_pair(script) as ws:
        ws.supported = False
        ws.flood_gap = math.inf
        connection = reader(ws, seen, monkeypatch)
        reason = await asyncio.wait_for(connection._read(ws), 10)
    assert reason == "the server closed the connection"
    assert seen == frames
    assert ws.handed_over == 0
    assert ws.pauses == 0
