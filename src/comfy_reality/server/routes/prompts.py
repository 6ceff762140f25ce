"""Prompt, queue, interrupt, history and /free routes: what a client queues and reads back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from comfy_reality.server import jobs as newer_api
from comfy_reality.server.routes.base import Routes

if TYPE_CHECKING:
    from comfy_reality.server.app import EmbeddedServer


class PromptRoutes(Routes):
    """``max_pending`` is read per request, so the limit can change while the server runs."""

    def __init__(self, server: EmbeddedServer, max_pending: Callable[[], int]) -> None:
        super().__init__(server)
        self.max_pending = max_pending

    async def post_prompt(self, request: web.Request) -> web.Response:
        state = self.s
        await state.logs.write("got prompt")
        json_data = await request.json()  # not JSON -> aiohttp's plain-text 500, as ComfyUI
        if "number" in json_data:
            number: float | int = float(json_data["number"])
        else:
            number = state.number
            if json_data.get("front"):
                number = -number
            state.number += 1
        if "prompt" not in json_data:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = json_data["prompt"]
        current = self.server.config.api == "current"
        prompt_id = newer_api.choose_prompt_id(json_data, strict=current)
        if isinstance(prompt_id, web.Response):
            return prompt_id
        partial = json_data.get("partial_execution_targets")
        result = state.validator.validate_prompt(prompt, partial)
        extra_data = json_data.get("extra_data", {})
        if "client_id" in json_data:
            extra_data["client_id"] = json_data["client_id"]
        if result.ok:
            max_pending = self.max_pending()
            if len(state.queue.snapshot()[1]) >= max_pending:
                return web.Response(
                    status=503,
                    text=f"The queue is full ({max_pending} pending prompts). Wait for some to finish, "
                    'or drop them with POST /queue {"clear": true}.',
                )
            if current:
                newer_api.stamp_create_time(extra_data)
            await state.queue.put([number, prompt_id, prompt, extra_data, result.good_outputs])
            # Let the worker start before answering: as on a real server, execution_start (even
            # the first executing) usually reaches the client before the POST response does.
            await asyncio.sleep(0)
            return web.json_response(
                {"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors}
            )
        await state.logs.write(f"invalid prompt: {result.error}")
        return web.json_response({"error": result.error, "node_errors": result.node_errors}, status=400)

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.queue_info())

    async def get_queue(self, request: web.Request) -> web.Response:
        running, pending = self.s.queue.snapshot()
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("clear"):
            await self.s.queue.wipe()
        if "delete" in json_data:
            for prompt_id in json_data["delete"]:
                await self.s.queue.delete(prompt_id)
        return web.Response(status=200)

    async def post_interrupt(self, request: web.Request) -> web.Response:
        try:
            json_data = await request.json()
        except json.JSONDecodeError:
            json_data = {}
        prompt_id = json_data.get("prompt_id") if isinstance(json_data, dict) else None
        state = self.s
        if prompt_id:
            running, _ = state.queue.snapshot()
            if any(item[1] == prompt_id for item in running):
                await state.logs.write(f"Interrupting prompt {prompt_id}")
                state.executor.interrupt()
            else:
                await state.logs.write(f"Prompt {prompt_id} is not currently running, skipping interrupt")
        else:
            await state.logs.write("Global interrupt (no prompt_id specified)")
            state.executor.interrupt()
        return web.Response(status=200)

    async def get_history(self, request: web.Request) -> web.Response:
        max_items = request.query.get("max_items")
        offset = request.query.get("offset")
        return web.json_response(
            self.s.queue.get_history(
                max_items=int(max_items) if max_items is not None else None,
                offset=int(offset) if offset is not None else -1,
            )
        )

    async def get_history_item(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.queue.get_history(prompt_id=request.match_info["prompt_id"]))

    async def post_history(self, request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("clear"):
            self.s.queue.history.clear()
        if "delete" in json_data:
            for prompt_id in json_data["delete"]:
                self.s.queue.history.pop(prompt_id, None)
        return web.Response(status=200)

    async def post_free(self, request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("free_memory", False):
            self.s.executor.reset_cache()
        return web.Response(status=200)
