"""A raw WebSocket listener for server tests: collects frames, waits on conditions (no sleeps)."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from typing import Any

import websockets

Message = dict[str, Any] | bytes


class Listener:
    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[Message] = []
        self._changed = asyncio.Event()
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def __aenter__(self) -> Listener:
        self._ws = await websockets.connect(self.url, max_size=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                self.messages.append(raw if isinstance(raw, bytes) else json.loads(raw))
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._changed.set()

    def json(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages if isinstance(m, dict) and (kind is None or m["type"] == kind)]

    def binary(self, event: int | None = None) -> list[bytes]:
        return [
            m for m in self.messages if isinstance(m, bytes) and (event is None or binary_type(m) == event)
        ]

    def types(self) -> list[str]:
        return [m["type"] if isinstance(m, dict) else f"bin{binary_type(m)}" for m in self.messages]

    async def wait(
        self, condition: Callable[[Listener], bool], timeout: float = 10.0, what: str = ""
    ) -> None:
        async def loop() -> None:
            while not condition(self):
                if self.closed.is_set():
                    raise AssertionError(
                        f"socket closed while waiting for {what or condition}; got {self.types()}"
                    )
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what or condition}; got {self.types()}") from None

    async def wait_done(self, prompt_id: str, timeout: float = 10.0) -> None:
        """Until ``executing {node: null}`` for ``prompt_id`` (the legacy end signal)."""
        await self.wait(
            lambda s: any(
                m["data"].get("node", 0) is None and m["data"].get("prompt_id") == prompt_id
                for m in s.json("executing")
            ),
            timeout,
            f"end of {prompt_id}",
        )

    async def wait_type(self, kind: str, count: int = 1, timeout: float = 10.0) -> None:
        await self.wait(lambda s: len(s.json(kind)) >= count, timeout, f"{count} x {kind}")


def binary_type(frame: bytes) -> int:
    return int(struct.unpack(">I", frame[:4])[0])
