"""Waiting helpers shared by the runtime tests: they wait on task events, never on a clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from comfy_reality.runtime import ComfyUIAsyncRuntime, TaskEvent, TaskStatus, WorkflowExecution


async def until(runtime: ComfyUIAsyncRuntime, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate`` holds, re-checking it on every task event."""
    ready = asyncio.Event()

    def check(_: TaskEvent | None = None) -> None:
        if predicate():
            ready.set()

    unsubscribe = runtime.task_manager.subscribe(check)
    try:
        check()
        await asyncio.wait_for(ready.wait(), timeout)
    finally:
        unsubscribe()


def node_statuses(execution: WorkflowExecution) -> dict[str, TaskStatus]:
    """The status of each node task, by ComfyUI node id."""
    return {t.node_id: t.status for t in execution.tasks if t.node_id is not None}
