"""The /ws route: ComfyUI's WebSocket handshake (status, resumed executing, feature flags)."""

from __future__ import annotations

import json
import uuid

from aiohttp import WSMsgType, web

from comfy_reality.logs import get_logger
from comfy_reality.server.hub import SERVER_FEATURES
from comfy_reality.server.routes.base import Routes

log = get_logger("comfy_reality.server")


class WebSocketRoutes(Routes):
    """One socket per client id; the hub fans execution messages out to it."""

    async def ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        state = self.s
        sid = request.query.get("clientId", "")
        if not sid:
            sid = uuid.uuid4().hex
        state.hub.register(sid, ws)
        try:
            await state.hub.send_json("status", {"status": state.queue_info(), "sid": sid}, sid)
            if state.executor.client_id == sid and state.executor.last_node_id is not None:
                await state.hub.send_json("executing", {"node": state.executor.last_node_id}, sid)
            first_message = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                    if first_message and data.get("type") == "feature_flags":
                        flags = data.get("data", {})
                        state.hub.metadata.setdefault(sid, {})["feature_flags"] = flags
                        await state.hub.send_json("feature_flags", dict(SERVER_FEATURES), sid)
                    first_message = False
                except (ValueError, AttributeError) as exc:
                    log.debug("ignored websocket frame", sid=sid, error=str(exc))
        finally:
            state.hub.unregister(sid, ws)
        return ws
