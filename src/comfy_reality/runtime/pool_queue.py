"""The queues of every server of a pool as one list, and moving a prompt to another server.

Each server keeps its own queue; this merges their snapshots (each entry names its server) and
routes deletes and moves to the server holding the prompt. A move to another server is delete
on the first + queue on the other with the same prompt and ``extra_data`` (the client id
included): prompt ids do not cross servers, so it gets a NEW prompt id there. A prompt that
started running meanwhile is left alone and reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence

from comfy_reality.logs import get_logger

from ..errors import ComfyError
from .runtime import ComfyUIAsyncRuntime
from .server_queue import DeleteReport, MoveReport, MoveTo, QueueSnapshot

__all__ = ["PoolQueue", "merge_snapshots", "move_to_server"]

log = get_logger("comfy_reality.pool_queue")
UPDATES_BUFFER = 32  # snapshots waiting to be merged: bounded, the newest matter


def merge_snapshots(label: str, snapshots: Sequence[QueueSnapshot]) -> QueueSnapshot:
    """One snapshot of several servers: the running ones, then each server's pending in order."""
    errors = [f"{s.server_url}: {s.error}" for s in snapshots if s.error]
    return QueueSnapshot(
        server_url=label,
        running=[e for s in snapshots for e in s.running],
        pending=[e for s in snapshots for e in s.pending],
        error="; ".join(errors) if errors else None,
    )


async def move_to_server(
    source: ComfyUIAsyncRuntime, target: ComfyUIAsyncRuntime, prompt_id: str
) -> MoveReport:
    """Delete ``prompt_id`` from ``source``'s queue and queue it on ``target`` (a new prompt id)."""
    state = await source.client.get_queue()
    found = state.find(prompt_id)
    if found is None:
        return MoveReport(prompt_id=prompt_id, outcome="not_found", detail="it is no longer queued")
    if found[0] == "running":
        return MoveReport(prompt_id=prompt_id, outcome="running", detail="it is already running")
    item = found[1]
    await source.client.delete_from_queue([prompt_id])
    after = (await source.client.get_queue()).find(prompt_id)
    if after is not None and after[0] == "running":
        return MoveReport(prompt_id=prompt_id, outcome="started", detail="it started running; left alone")
    if after is not None:
        return MoveReport(prompt_id=prompt_id, outcome="failed", detail="the server did not delete it")
    ran = await source.client.get_history_entry(prompt_id)
    if ran is not None and ran.item is not None and ran.item.number == item.number:
        return MoveReport(prompt_id=prompt_id, outcome="started", detail="it ran during the move; left alone")
    try:
        answer = await target.client.post_prompt(
            item.prompt,
            client_id=item.client_id,
            extra_data=item.extra_data,
            partial_execution_targets=item.outputs_to_execute or None,
        )
    except ComfyError as exc:
        log.error("pool_move_refused", prompt_id=prompt_id, target=target.server_url, error=str(exc)[:300])
        try:  # put it back where it was, same id and number
            await source.client.post_prompt(
                item.prompt,
                client_id=item.client_id,
                prompt_id=prompt_id,
                extra_data=item.extra_data,
                number=item.number,
                partial_execution_targets=item.outputs_to_execute or None,
            )
        except ComfyError:
            return MoveReport(
                prompt_id=prompt_id,
                outcome="failed",
                detail=f"{target.server_url} refused it and it could not be put back: {exc}",
                prompt=item.prompt,
                extra_data=item.extra_data,
            )
        return MoveReport(
            prompt_id=prompt_id, outcome="failed", detail=f"{target.server_url} refused it; put back: {exc}"
        )
    log.info("pool_moved", prompt_id=prompt_id, new_prompt_id=answer.prompt_id, target=target.server_url)
    return MoveReport(
        prompt_id=prompt_id,
        outcome="moved",
        number=answer.number,
        new_prompt_id=answer.prompt_id,
        server_url=target.server_url,
        detail=f"now {answer.prompt_id} on {target.server_url} (a new prompt id: ids do not cross servers)",
    )


class PoolQueue:
    """The Queue screen's calls over every server of a pool."""

    def __init__(self, runtimes: Sequence[ComfyUIAsyncRuntime], label: str) -> None:
        self.runtimes = list(runtimes)
        self.label = label

    def runtime_for(self, server_url: str) -> ComfyUIAsyncRuntime:
        for runtime in self.runtimes:
            if runtime.server_url == server_url:
                return runtime
        raise ComfyError(f"no server {server_url} in the pool")

    async def snapshot(self) -> QueueSnapshot:
        snapshots = await asyncio.gather(*(r.queue_snapshot() for r in self.runtimes))
        return merge_snapshots(self.label, snapshots)

    async def follow(self, fallback_interval: float = 10.0) -> AsyncIterator[QueueSnapshot]:
        """A merged snapshot each time any server's queue changes."""
        latest: dict[str, QueueSnapshot] = {}
        updates: asyncio.Queue[tuple[str, QueueSnapshot]] = asyncio.Queue(maxsize=UPDATES_BUFFER)

        async def pump(runtime: ComfyUIAsyncRuntime) -> None:
            async for snapshot in runtime.follow_queue(fallback_interval):
                await updates.put((runtime.server_url, snapshot))

        pumps = [asyncio.create_task(pump(r)) for r in self.runtimes]
        try:
            while True:
                url, snapshot = await updates.get()
                latest[url] = snapshot
                yield merge_snapshots(
                    self.label, [latest[r.server_url] for r in self.runtimes if r.server_url in latest]
                )
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _holder(self, prompt_id: str) -> ComfyUIAsyncRuntime | None:
        snapshots = await asyncio.gather(*(r.queue_snapshot() for r in self.runtimes))
        return next((r for r, s in zip(self.runtimes, snapshots, strict=True) if s.find(prompt_id)), None)

    async def delete(self, prompt_ids: Iterable[str]) -> DeleteReport:
        report = DeleteReport()
        for prompt_id in prompt_ids:
            holder = await self._holder(prompt_id)
            if holder is None:
                report.not_found.append(prompt_id)
                continue
            one = await holder.delete_queued([prompt_id])
            report.deleted += one.deleted
            report.running += one.running
            report.not_found += one.not_found
        return report

    async def clear(self, *, only_app: bool = False) -> DeleteReport:
        reports = await asyncio.gather(*(r.clear_queue(only_app=only_app) for r in self.runtimes))
        return DeleteReport(
            deleted=[p for r in reports for p in r.deleted],
            running=[p for r in reports for p in r.running],
            not_found=[p for r in reports for p in r.not_found],
        )

    async def move(self, prompt_id: str, to: MoveTo, anchor: str | None = None) -> MoveReport:
        """Within the prompt's own server (the anchor must be there too)."""
        holder = await self._holder(prompt_id)
        if holder is None:
            return MoveReport(prompt_id=prompt_id, outcome="not_found", detail="it is no longer queued")
        return await holder.move_queued(prompt_id, to, anchor)

    async def move_to(self, prompt_id: str, server_url: str) -> MoveReport:
        target = self.runtime_for(server_url)
        holder = await self._holder(prompt_id)
        if holder is None:
            return MoveReport(prompt_id=prompt_id, outcome="not_found", detail="it is no longer queued")
        if holder is target:
            return MoveReport(prompt_id=prompt_id, outcome="unchanged", detail="it is already there")
        return await move_to_server(holder, target, prompt_id)
