"""A TCP proxy on 127.0.0.1 that loses chosen HTTP requests or their answers.

Everything passes through untouched (HTTP keep-alive connections, the WebSocket) until a request
whose first line starts with an armed prefix (``b"POST /prompt"``, ``b"GET /view"``) comes by:

* ``"answer"``: the request is forwarded; when the server's answer starts to arrive, the client's
  connection is closed instead of answered (the server acted, the client never hears of it);
* ``"request"``: the client's connection is closed without forwarding anything (the server
  never hears of it; to the client it looks the same).

Faults are used once each, in the order armed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["answer", "request"]


@dataclass
class Fault:
    prefix: bytes
    mode: Mode
    on_trigger: Callable[[], None] | None = None


@dataclass
class LossyProxy:
    upstream_port: int
    faults: list[Fault] = field(default_factory=list)
    forwarded: dict[bytes, int] = field(default_factory=dict)  # requests per first line prefix seen
    lost: list[tuple[bytes, Mode]] = field(default_factory=list)
    on_request: Callable[[bytes], None] | None = None  # called with each request's first chunk
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def arm(
        self, prefix: bytes, mode: Mode, times: int = 1, on_trigger: Callable[[], None] | None = None
    ) -> None:
        self.faults.extend(Fault(prefix, mode, on_trigger) for _ in range(times))

    def count(self, prefix: bytes) -> int:
        """How many requests starting with ``prefix`` reached the server."""
        return sum(n for line, n in self.forwarded.items() if line.startswith(prefix))

    async def __aenter__(self) -> LossyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    def _take(self, chunk: bytes) -> Fault | None:
        for fault in self.faults:
            if chunk.startswith(fault.prefix):
                self.faults.remove(fault)
                return fault
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            self._writers.add(upstream_writer)
            swallow = asyncio.Event()  # set: the next answer is lost
            when_swallowed: list[Callable[[], None]] = []

            async def to_server() -> None:
                assert upstream_writer is not None
                while data := await reader.read(65536):
                    if data[:1].isalpha() and b" /" in data[:16]:  # a request line starts this chunk
                        if self.on_request is not None:
                            self.on_request(data)
                        fault = self._take(data)
                        if fault is not None and fault.mode == "request":
                            self.lost.append((fault.prefix, "request"))
                            if fault.on_trigger is not None:
                                fault.on_trigger()
                            return
                        first_line = data.split(b"\r\n", 1)[0]
                        self.forwarded[first_line] = self.forwarded.get(first_line, 0) + 1
                        if fault is not None:
                            swallow.set()
                            self.lost.append((fault.prefix, "answer"))
                            if fault.on_trigger is not None:
                                when_swallowed.append(fault.on_trigger)
                    upstream_writer.write(data)
                    await upstream_writer.drain()

            async def to_client() -> None:
                while data := await upstream_reader.read(65536):
                    if swallow.is_set():
                        for trigger in when_swallowed:
                            trigger()
                        return
                    writer.write(data)
                    await writer.drain()

            pumps = [asyncio.ensure_future(to_server()), asyncio.ensure_future(to_client())]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except (ConnectionError, OSError):
            pass
        finally:
            for stream in (writer, upstream_writer):
                if stream is not None:
                    self._writers.discard(stream)
                    stream.close()
            self._tasks.discard(task)
