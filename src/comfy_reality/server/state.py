"""The server's state: queue, history, caches, sockets, and the worker that runs prompts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from comfy_reality.logs import get_logger
from comfy_reality.server.catalogue import NodeCatalogue
from comfy_reality.server.executor import PromptExecutor
from comfy_reality.server.hub import Hub, LogBuffer
from comfy_reality.server.nodes import behaviour_lookup
from comfy_reality.server.prompt_queue import PromptQueue
from comfy_reality.server.storage import FileStore
from comfy_reality.server.validation import Validator

log = get_logger("comfy_reality.server")

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


class ServerState:
    """Everything that a restart throws away: queue, history, caches, sockets, counters."""

    def __init__(self, store: FileStore, speed: float, echo_logs: bool = False) -> None:
        self.store = store
        self.catalogue = NodeCatalogue(store.input_dir)
        self.hub = Hub()
        self.logs = LogBuffer(self.hub, echo=echo_logs)
        self.validator = Validator(self.catalogue)
        self.queue = PromptQueue(self.broadcast_status)
        self.executor = PromptExecutor(
            self.catalogue, self.hub, store, behaviour_lookup(self.catalogue), speed
        )
        self.number = 0
        self.started = time.time()

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}

    async def broadcast_status(self) -> None:
        await self.hub.send_json("status", {"status": self.queue_info()})

    async def worker(self) -> None:
        """ComfyUI's prompt_worker: one prompt at a time, history entry, then executing{null}."""
        while True:
            item, item_id = await self.queue.get()
            started = time.perf_counter()
            prompt_id = item[1]
            try:
                result = await self.executor.execute(item[2], prompt_id, item[3], item[4])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("simulated execution crashed", prompt_id=prompt_id)
                self.executor.success = False
                result = {"outputs": {}, "meta": {}}
            for key in SENSITIVE_EXTRA_DATA_KEYS:
                self.queue.running[item_id][3].pop(key, None)
            status = {
                "status_str": "success" if self.executor.success else "error",
                "completed": self.executor.success,
                "messages": self.executor.status_messages,
            }
            await self.queue.task_done(item_id, result, status)
            if self.executor.client_id is not None:
                await self.hub.send_json(
                    "executing", {"node": None, "prompt_id": prompt_id}, self.executor.client_id
                )
            elapsed = time.perf_counter() - started
            await self.logs.write(f"Prompt executed in {elapsed:.2f} seconds")
