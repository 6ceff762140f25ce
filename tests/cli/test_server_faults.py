"""Servers that answer badly: every command says what happened and exits 1 (not a traceback)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import invoke, save_image_prompt, write_workflow


class ThreadedServer:
    """The in-process EmbeddedServer on its own event loop thread, so its faults can be switched."""

    def __init__(self) -> None:
        self.url = ""
        self.faults: Any = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._main(),), daemon=True
        )

    async def _main(self) -> None:
        from comfy_reality.server import EmbeddedServer, ServerConfig

        self._stop = asyncio.Event()
        async with EmbeddedServer(ServerConfig(port=0, speed=50)) as server:
            self.url = server.url
            self.faults = server.faults
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        assert self._ready.wait(30), "embedded server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._loop.close()


@pytest.fixture
def faulty() -> Iterator[ThreadedServer]:
    with ThreadedServer() as server:
        yield server


@pytest.mark.parametrize("command", ["queue", "history", "stats"])
def test_http_500_is_reported_with_the_status(faulty: ThreadedServer, command: str) -> None:
    faulty.faults.http_error = 500
    result = invoke(command, "--server", faulty.url)
    assert result.exit_code == 1
    assert "500" in result.stderr and faulty.url in result.stderr
    assert "Traceback" not in result.stderr


def test_auth_refusal_says_to_pass_a_token(faulty: ThreadedServer) -> None:
    faulty.faults.http_error = 401
    result = invoke("stats", "--server", faulty.url)
    assert result.exit_code == 1
    assert "refused access (HTTP 401)" in result.stderr and "--token" in result.stderr


def test_run_against_a_server_refusing_everything(faulty: ThreadedServer, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "ok", save_image_prompt(5))
    faulty.faults.http_error = 503
    result = invoke("run", "--server", faulty.url, str(workflow))
    # The WebSocket handshake is refused as well: the runtime cannot follow anything there.
    assert result.exit_code == 3
    assert "503" in result.stderr and "Traceback" not in result.stderr
    assert "refuses the connection; check its log" in result.stderr
