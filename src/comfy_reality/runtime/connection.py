"""One WebSocket to one server under one ``client_id``: connect, read, reconnect with backoff.

The runtime holds one for its own ``client_id`` and one per observed foreign ``client_id``; both
are this class, told apart only by the client id, the routing function and the callbacks.
Reads are bounded: the client caps a frame's size, and the reader yields to the event loop every
256 frames so a flood of buffered frames never starves the rest of the program. The client's
sockets are :class:`.read_coalescing.CoalescingConnection`: during a progress flood they read a
few frames at a time and hand each to :meth:`Connection._take` as they parse it. The main socket
hands its frames to a :class:`.snapshots.SnapshotHold`, which drops superseded progress snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..errors import ServerUnreachableError
from ..logs import get_logger
from .client import ComfyUIClient
from .protocol import Frame
from .read_coalescing import CoalescingConnection
from .snapshots import SnapshotHold, deliver

log = get_logger("comfy_reality.runtime")

# A connection that dies sooner than this after opening counts as a failed attempt (a proxy
# bouncing us, or a server that accepts then drops), so the reconnects back off.
QUICK_DROP_SECONDS = 2.0
YIELD_EVERY_FRAMES = 256

Route = Callable[[Frame], None]
OpenCallback = Callable[[bool], None]  # reconnected?
FailCallback = Callable[[str, float, int, bool], None]  # reason, retry_in, failures, ever connected
DropCallback = Callable[[str, float], None]  # reason, retry_in


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


def _ignore(*_args: object) -> None:
    return None


class Connection:
    """One socket loop (see the module docstring); run it with :meth:`run` in a task.

    ``active`` says whether to keep going; ``give_up_after`` (None = never) ends the loop after
    that many failed attempts in a row, where a connection that drops at once counts as one.
    """

    def __init__(
        self,
        client: ComfyUIClient,
        client_id: str,
        route: Route,
        *,
        backoff: Backoff,
        active: Callable[[], bool] = lambda: True,
        give_up_after: int | None = None,
        on_open: OpenCallback = _ignore,
        on_connect_failed: FailCallback = _ignore,
        on_drop: DropCallback = _ignore,
        on_frame: Callable[[], None] = _ignore,
        snapshots: SnapshotHold | None = None,
    ) -> None:
        self.client = client
        self.client_id = client_id
        self.route = route
        self.backoff = backoff
        self._active = active
        self.give_up_after = give_up_after
        self.on_open = on_open
        self.on_connect_failed = on_connect_failed
        self.on_drop = on_drop
        self.on_frame = on_frame
        self.snapshots = snapshots  # coalesces progress_state frames before they are parsed
        self.ws: ClientConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.connections = 0  # sockets opened so far
        self.frames_received = 0
        self.attempts = 0  # connection attempts so far, successful or not
        self.failed_in_a_row = 0
        self._wake = asyncio.Event()
        self._attempted = asyncio.Condition()
        self._stopping = False

    @property
    def label(self) -> str:
        """A client_id is a routing key (whoever holds it gets the messages): logs get a prefix only."""
        return self.client_id[:8]

    @property
    def connected(self) -> bool:
        return self.ws is not None

    def active(self) -> bool:
        return not self._stopping and self._active()

    def wake(self) -> None:
        """Skip the current backoff wait and try again at once."""
        if self.ws is None:
            self._wake.set()

    async def wait_attempt(self, timeout: float) -> bool:
        """Wait for the socket, for at most one more connection attempt; True when connected."""
        if self.ws is not None:
            return True
        self._wake.set()
        start = self.attempts
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async with self._attempted:
                    await self._attempted.wait_for(lambda: self.ws is not None or self.attempts > start)
        return self.ws is not None

    async def close(self) -> None:
        """Stop reconnecting and close the socket (the read loop then ends)."""
        self._stopping = True
        self._wake.set()
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    async def run(self) -> None:
        failures = 0  # failed connection attempts in a row
        quick_drops = 0  # connections that died right after opening
        ever_connected = False
        delay = 0.0
        try:
            while self.active():
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=delay)
                    if not self.active():
                        break
                self._wake.clear()
                try:
                    ws = await self.client.connect_websocket(self.client_id)
                except ServerUnreachableError as exc:
                    delay = self.backoff.delay(failures + quick_drops)
                    failures += 1
                    self.failed_in_a_row += 1
                    self.on_connect_failed(exc.reason, round(delay, 2), failures, ever_connected)
                    await self._attempt_made()
                    if self._give_up():
                        break
                    continue
                failures = 0
                self.ws = ws
                self.connections += 1
                connected_at = time.monotonic()
                reconnected, ever_connected = ever_connected, True
                self.on_open(reconnected)
                await self._attempt_made()
                reason = await self._read(ws)
                self.ws = None
                if not self.active():
                    break
                if time.monotonic() - connected_at < QUICK_DROP_SECONDS:
                    delay = self.backoff.delay(quick_drops)
                    quick_drops += 1
                    self.failed_in_a_row += 1
                else:
                    delay = 0.0
                    quick_drops = self.failed_in_a_row = 0
                self.on_drop(reason, round(delay, 2))
                if self._give_up():
                    break
        finally:
            open_ws, self.ws = self.ws, None
            if open_ws is not None:
                with contextlib.suppress(Exception):
                    await open_ws.close()

    def _give_up(self) -> bool:
        return self.give_up_after is not None and self.failed_in_a_row >= self.give_up_after

    async def _attempt_made(self) -> None:
        self.attempts += 1
        async with self._attempted:
            self._attempted.notify_all()

    async def _read(self, ws: ClientConnection) -> str:
        """Route every frame until the socket closes; returns why it closed.

        A :class:`.read_coalescing.CoalescingConnection` hands frames to :meth:`_take` as it parses
        them; the ``async for`` then only takes what was queued before (and sees the close)."""
        direct = ws if isinstance(ws, CoalescingConnection) else None
        if direct is not None:
            direct.deliver_to(self._take, self.label)
        try:
            async for frame in ws:
                self._take(frame)
                if self.frames_received % YIELD_EVERY_FRAMES == 0:
                    await asyncio.sleep(0)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            return f"connection lost (close code {code})" if code else "connection lost"
        finally:
            if direct is not None:
                direct.deliver_to(None)
            if self.snapshots is not None:
                self.snapshots.release()  # what the socket said before it closed is folded in
        return "the server closed the connection"

    def _take(self, frame: str | bytes) -> None:
        """One frame, in the order the socket brought it."""
        self.frames_received += 1
        self.on_frame()
        if self.snapshots is not None:
            self.snapshots.feed(frame)
        else:
            deliver(frame, self.route, self.label)
