"""What every route group shares: the server, and its *current* state (a restart swaps it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from comfy_reality.server.app import EmbeddedServer
    from comfy_reality.server.state import ServerState


class Routes:
    """Route handlers read ``server.state`` on every request, never a copy taken at start."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server

    @property
    def s(self) -> ServerState:
        return self.server.state
