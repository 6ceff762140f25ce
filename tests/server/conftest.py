"""Fixtures for tests that talk to the embedded server over real loopback HTTP and WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from comfy_reality.server import EmbeddedServer, ServerConfig

# Fast enough that a 10-step, 0.05 s/step node takes ~10 ms, slow enough to keep the recorded
# message order (interrupts and reconnects land mid-run).
FAST_SPEED = 50.0


@pytest.fixture
async def embedded_server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=FAST_SPEED)) as server:
        yield server
