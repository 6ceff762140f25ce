"""The public API used the plain way a first user would: lifecycle, failure and concurrency."""

import asyncio

import pytest

from comfy_reality.runtime import AsyncTaskManager, TaskStatus


@pytest.mark.asyncio
async def test_task_lifecycle():
    manager = AsyncTaskManager()

    async with manager.task_context("Test Task") as task:
        assert task.status == TaskStatus.RUNNING
        await manager.update_progress(task.id, 0.5, "Half way")

    assert task.status == TaskStatus.COMPLETED
    assert task.progress == 1.0
    assert task.duration is not None


@pytest.mark.asyncio
async def test_concurrent_tasks():
    manager = AsyncTaskManager()

    async def worker(name: str, delay: float):
        async with manager.task_context(name):
            await asyncio.sleep(delay)

    # Run tasks concurrently
    async with asyncio.TaskGroup() as tg:
        for i in range(5):
            tg.create_task(worker(f"Task {i}", 0.1))

    # Verify all completed
    assert len(manager._tasks) == 5
    assert all(t.status == TaskStatus.COMPLETED for t in manager._tasks.values())
