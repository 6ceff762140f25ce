"""ComfyUI's HTTP routes and WebSocket, one module per area; ``app.build_app`` wires them."""
