"""Ctrl-C during `run`: stop this run's prompts on the server, as the first press promised.

The first press stops them one by one and waits for the server to confirm each (pending ones first,
or each would start as the one before it stops). A second press must not abandon that half-sent: it
sends what is left to stop in one request and returns without waiting for the confirmations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from comfy_reality.runtime import ComfyUIClient
    from comfy_reality.runtime.pool import ServerPool

    from .run import Job

CANCEL_GRACE = 10.0  # seconds to wait for the server to confirm an interrupt


async def stop_on_server(jobs: Sequence[Job], runtime: ServerPool, quit_now: asyncio.Event) -> None:
    """One by one with confirmation; once ``quit_now`` is set, what is left in one go instead.

    Each job's ``interrupt_note`` says what became of its prompt."""
    one_by_one = asyncio.ensure_future(_stop_each(jobs, runtime))
    quitting = asyncio.ensure_future(quit_now.wait())
    try:
        await asyncio.wait({one_by_one, quitting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        quitting.cancel()
    if not one_by_one.done():
        one_by_one.cancel()
        await asyncio.wait({one_by_one})
        await _stop_unconfirmed(jobs, runtime)
    elif not one_by_one.cancelled():
        one_by_one.result()


async def _stop_unconfirmed(jobs: Sequence[Job], runtime: ServerPool) -> None:
    from comfy_reality.runtime import ComfyError
    from comfy_reality.runtime.jobs import cancel_jobs

    by_server: dict[int, tuple[ComfyUIClient, dict[str, Job]]] = {}
    for job in jobs:
        execution = job.execution = runtime.current(job.execution) if job.execution else None
        if execution is None or execution.is_final or not execution.prompt_id:
            continue
        client = runtime.runtime_of(execution).client
        by_server.setdefault(id(client), (client, {}))[1][execution.prompt_id] = job
    for client, left in by_server.values():
        try:  # repeats nothing harmful: removing or interrupting a prompt twice is a no-op
            await asyncio.wait_for(cancel_jobs(client, list(left)), CANCEL_GRACE)
            what = "the server was asked to stop it (not waiting for its confirmation)"
        except (ComfyError, TimeoutError) as exc:
            what = f"could not be interrupted on the server: {exc}"
        for prompt_id, job in left.items():
            job.interrupt_note = f"prompt {prompt_id} ({job.name}) {what}"


async def _stop_each(jobs: Sequence[Job], runtime: ServerPool) -> None:
    from comfy_reality.runtime import ComfyError, TaskStatus

    # Pending prompts first: otherwise each would start running as the one before it stops.
    order = sorted(
        (job for job in jobs if job.execution is not None),
        key=lambda job: job.execution is not None and job.execution.status is TaskStatus.RUNNING,
    )
    for job in order:
        execution = job.execution = runtime.current(job.execution) if job.execution else None
        if execution is None or execution.is_final:
            continue
        was_running = execution.status is TaskStatus.RUNNING
        label = f"prompt {execution.prompt_id} ({job.name})"
        try:
            await asyncio.wait_for(runtime.cancel(execution), CANCEL_GRACE)
            final = await asyncio.wait_for(runtime.wait(execution), CANCEL_GRACE)
        except (ComfyError, TimeoutError) as exc:
            job.interrupt_note = f"could not interrupt {label} on the server: {exc}"
            continue
        if final.status is TaskStatus.CANCELLED:
            what = "was interrupted on the server" if was_running else "was removed from the server queue"
        else:
            what = f"had already ended on the server ({final.status.value})"
        job.interrupt_note = f"{label} {what}"
