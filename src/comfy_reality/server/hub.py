"""The WebSocket side of the server: one socket per sid, routing as ComfyUI routes.

ComfyUI keeps ``sockets[sid] = ws``: a reconnect with the same clientId replaces the entry,
so messages go to the newest socket only. ``sid=None`` means broadcast to every socket.
"""

from __future__ import annotations

import json
import queue
import struct
import sys
import threading
from collections import deque
from typing import Any

from aiohttp import WSCloseCode, web

from comfy_reality.logs import get_logger
from comfy_reality.runtime.models import utc_now

log = get_logger("comfy_reality.server.hub")

SERVER_FEATURES: dict[str, Any] = {"supports_preview_metadata": True, "max_upload_size": 104857600}


class Hub:
    def __init__(self) -> None:
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.messages_sent = 0

    def register(self, sid: str, ws: web.WebSocketResponse) -> None:
        self.sockets[sid] = ws
        self.metadata[sid] = {"feature_flags": {}}

    def unregister(self, sid: str, ws: web.WebSocketResponse) -> None:
        """ComfyUI forgets the sid whichever of its sockets closes: an old socket that finishes
        closing after a reconnect leaves the newer one unrouted. Clients must cope (they do:
        the runtime reconnects or polls), so the embedded server does the same."""
        del ws  # kept for the call's symmetry with register; ComfyUI does not look at it either
        self.sockets.pop(sid, None)
        self.metadata.pop(sid, None)

    def supports_preview_metadata(self, sid: str | None) -> bool:
        if sid is None:
            return False
        flags = self.metadata.get(sid, {}).get("feature_flags", {})
        return bool(flags.get("supports_preview_metadata", False))

    def _targets(self, sid: str | None) -> list[web.WebSocketResponse]:
        if sid is None:
            return list(self.sockets.values())
        ws = self.sockets.get(sid)
        return [ws] if ws is not None else []

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        targets = self._targets(sid)
        if not targets:
            return
        text = json.dumps({"type": event, "data": data})
        for ws in targets:
            await _send(ws, text)
        self.messages_sent += len(targets)

    async def send_bytes(self, event: int, payload: bytes, sid: str | None = None) -> None:
        targets = self._targets(sid)
        if not targets:
            return
        message = struct.pack(">I", event) + payload
        for ws in targets:
            await _send(ws, message)
        self.messages_sent += len(targets)

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> int:
        sockets = list(self.sockets.values())
        self.sockets.clear()
        self.metadata.clear()
        for ws in sockets:
            try:
                await ws.close(code=code, message=message)
            except (ConnectionError, RuntimeError):
                pass
        return len(sockets)


async def _send(ws: web.WebSocketResponse, message: str | bytes) -> None:
    if ws.closed:
        return
    try:
        if isinstance(message, str):
            await ws.send_str(message)
        else:
            await ws.send_bytes(message)
    except (ConnectionError, RuntimeError) as exc:  # the peer went away mid-send
        log.debug("ws send failed", error=str(exc))


class _Echo:
    """Prints log lines from a writer thread through a bounded queue: a terminal or pipe that
    nobody drains must never stall the event loop (lines beyond the bound are counted, dropped)."""

    def __init__(self, capacity: int = 1000) -> None:
        self._queue: queue.Queue[str] = queue.Queue(maxsize=capacity)
        self._dropped = 0
        self._thread = threading.Thread(target=self._run, name="comfy-reality-server-echo", daemon=True)
        self._thread.start()

    def put(self, line: str) -> None:
        try:
            if self._dropped:
                self._queue.put_nowait(f"[{self._dropped} log lines dropped: output not drained]\n")
                self._dropped = 0
            self._queue.put_nowait(line)
        except queue.Full:
            self._dropped += 1

    def _run(self) -> None:
        while True:
            line = self._queue.get()
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (OSError, ValueError):  # stdout closed: nothing left to print to
                return


class LogBuffer:
    """The server's terminal log (GET /internal/logs) and its ``logs`` WS subscribers."""

    def __init__(self, hub: Hub, capacity: int = 300, echo: bool = False) -> None:
        self.hub = hub
        self._echo = _Echo() if echo else None
        self.entries: deque[dict[str, str]] = deque(maxlen=capacity)
        self.subscribers: set[str] = set()

    async def write(self, message: str) -> None:
        # ComfyUI writes naive ISO times; the wire keeps that shape (the value is UTC).
        entry = {
            "t": utc_now().replace(tzinfo=None).isoformat(),
            "m": message if message.endswith("\n") else message + "\n",
        }
        self.entries.append(entry)
        if self._echo is not None:  # the standalone server prints its terminal log, as ComfyUI does
            self._echo.put(entry["m"])
        log.debug("server log", message=entry["m"].rstrip())
        for sid in list(self.subscribers):
            if sid in self.hub.sockets:
                await self.hub.send_json("logs", {"entries": [entry], "size": None}, sid)

    def text(self) -> str:
        return "".join(f"{e['t']} - {e['m']}" for e in self.entries)
