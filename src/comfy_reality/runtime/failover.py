"""What the pool does when a server goes down and when it comes back: nothing lost, nothing twice.

Down: each prompt still waiting there is queued on another server that can run it (the same
prompt, a new prompt id; the new execution's ``retry_of`` names the first, so the journal links
them) and the first execution ends as cancelled, "moved to ...". A prompt that was running is
reported lost (failed, with the reason); with ``retry_lost`` it is queued elsewhere too. The
down server is never asked anything: it does not answer.

Back: the prompts that moved away are deleted from its queue; one it already started is
interrupted (it runs elsewhere now). A lost prompt that was not retried is left alone there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from comfy_reality.logs import get_logger

from ..errors import ComfyError
from .jobs import cancel_running
from .models import TaskStatus, WorkflowExecution

if TYPE_CHECKING:
    from .pool import PoolMember, ServerPool

log = get_logger("comfy_reality.pool")

MOVED = "moved"
RETRIED = "retried"


async def _requeue(
    pool: ServerPool, member: PoolMember, execution: WorkflowExecution
) -> WorkflowExecution | str:
    """The same prompt on another server, or why it could not be queued anywhere."""
    extra = execution.metadata.get("extra_data")
    try:
        moved = await pool.submit(
            execution.prompt,
            name=execution.name,
            workflow_id=execution.workflow_id,
            front=bool(execution.metadata.get("front", False)),
            extra_data=extra if isinstance(extra, dict) else None,
            partial_execution_targets=execution.metadata.get("partial_execution_targets"),
            retry_of=execution.id,
            exclude=frozenset({member.name}),
        )
    except ComfyError as exc:
        return str(exc)
    moved.metadata["failover_of"] = execution.id
    moved.metadata["failover_from"] = member.name
    return moved


async def fail_over(pool: ServerPool, member: PoolMember) -> None:
    """``member`` stopped answering: move its waiting prompts, report (or retry) its running ones."""
    unfinished = [e for e in list(member.runtime.executions.values()) if not e.is_final]
    # Waiting ones first, in their queue order, so they keep their order on the new server.
    unfinished.sort(key=lambda e: (e.status is TaskStatus.RUNNING, e.number if e.number is not None else 0))
    gone = f"{member.name} stopped answering for {pool.failover_after:g}s"
    for execution in unfinished:
        if execution.is_final or not execution.prompt or execution.prompt_id is None:
            continue
        running = execution.status is TaskStatus.RUNNING
        if running and not pool.retry_lost:
            member.runtime.abandon(
                execution,
                outcome=TaskStatus.FAILED,
                detail=f"lost: {gone} while it ran (--retry-lost runs it again)",
            )
            log.warning("pool_prompt_lost", server=member.name, prompt_id=execution.prompt_id)
            continue
        moved = await _requeue(pool, member, execution)
        if isinstance(moved, str):
            member.orphans[execution.prompt_id] = MOVED  # never run it there later: it was reported
            member.runtime.abandon(
                execution, outcome=TaskStatus.FAILED, detail=f"lost: {gone}; no other server took it: {moved}"
            )
            log.warning(
                "pool_prompt_stranded", server=member.name, prompt_id=execution.prompt_id, reason=moved
            )
            continue
        target = pool.member_of(moved).name
        member.orphans[execution.prompt_id] = RETRIED if running else MOVED
        pool.replaced(execution, moved)
        if running:
            detail = f"lost: {gone} while it ran; retried on {target}"
            member.runtime.abandon(execution, outcome=TaskStatus.FAILED, detail=detail)
        else:
            detail = f"moved to {target}: {gone}"
            member.runtime.abandon(execution, outcome=TaskStatus.CANCELLED, detail=detail)
        log.info(
            "pool_prompt_moved",
            server=member.name,
            to=target,
            prompt_id=execution.prompt_id,
            new_prompt_id=moved.prompt_id,
            was_running=running,
        )


async def clean_returned(member: PoolMember) -> None:
    """``member`` answers again: the prompts that moved away must not run there too."""
    if not member.orphans:
        return
    client = member.runtime.client
    queue = await client.get_queue()
    pending: list[str] = []
    running: list[str] = []
    for prompt_id in list(member.orphans):
        found = queue.find(prompt_id)
        if found is not None:
            (running if found[0] == "running" else pending).append(prompt_id)
    # The queued ones first: interrupting the running one first would let the next one start.
    if pending:
        await client.delete_from_queue(pending)
        log.info("pool_orphans_deleted", server=member.name, count=len(pending))
    for prompt_id in running:
        await cancel_running(client, prompt_id)
        log.info("pool_orphan_interrupted", server=member.name, prompt_id=prompt_id)
    member.orphans.clear()
