"""ComfyUI's prompt queue: a heap of pending items, the running item, and the history."""

from __future__ import annotations

import asyncio
import heapq
import json
from collections.abc import Awaitable, Callable
from typing import Any


class PromptQueue:
    """ComfyUI's queue: a heap ordered by (number, ...), one running item, and the history."""

    MAX_HISTORY = 10000

    def __init__(self, on_change: Callable[[], Awaitable[None]]) -> None:
        self._on_change = on_change
        self._heap: list[tuple[Any, ...]] = []
        self._seq = 0
        self.running: dict[int, list[Any]] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self._not_empty = asyncio.Event()
        self._task_counter = 0
        self.flags: dict[str, Any] = {}

    def remaining(self) -> int:
        return len(self._heap) + len(self.running)

    async def put(self, item: list[Any]) -> None:
        # The sequence number only breaks ties between equal `number`s (ComfyUI compares the
        # tuples themselves, which can raise on equal numbers; a client-chosen float can tie).
        heapq.heappush(self._heap, (item[0], self._seq, item))
        self._seq += 1
        self._not_empty.set()
        await self._on_change()

    async def get(self) -> tuple[list[Any], int]:
        while not self._heap:
            self._not_empty.clear()
            await self._not_empty.wait()
        _, _, item = heapq.heappop(self._heap)
        item_id = self._task_counter
        self._task_counter += 1
        self.running[item_id] = json.loads(json.dumps(item))
        await self._on_change()
        return item, item_id

    async def task_done(self, item_id: int, result: dict[str, Any], status: dict[str, Any]) -> None:
        item = self.running.pop(item_id)
        if len(self.history) > self.MAX_HISTORY:
            self.history.pop(next(iter(self.history)))
        entry: dict[str, Any] = {"prompt": item, "outputs": {}, "status": status}
        entry.update(result)
        self.history[item[1]] = entry
        await self._on_change()

    def snapshot(self) -> tuple[list[list[Any]], list[list[Any]]]:
        return list(self.running.values()), [entry[2] for entry in self._heap]

    async def wipe(self) -> None:
        self._heap = []
        await self._on_change()

    async def delete(self, prompt_id: Any) -> bool:
        for index, entry in enumerate(self._heap):
            if entry[2][1] == prompt_id:
                if len(self._heap) == 1:
                    await self.wipe()
                else:
                    self._heap.pop(index)
                    heapq.heapify(self._heap)
                await self._on_change()
                return True
        return False

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        if prompt_id is not None:
            entry = self.history.get(prompt_id)
            return {prompt_id: json.loads(json.dumps(entry))} if entry is not None else {}
        out: dict[str, Any] = {}
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        for index, key in enumerate(self.history):
            if index >= offset:
                out[key] = self.history[key]
                if max_items is not None and len(out) >= max_items:
                    break
        return out
