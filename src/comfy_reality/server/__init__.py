"""An embedded ComfyUI-compatible server: the real wire protocol with simulated execution."""

from comfy_reality.server.app import EmbeddedServer, Faults, ServerConfig, serve

__all__ = ["EmbeddedServer", "Faults", "ServerConfig", "serve"]
