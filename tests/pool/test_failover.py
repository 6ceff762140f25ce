"""Failover: a server that stops answering mid-batch loses nothing and runs nothing twice.

"Killing" a server here stalls every HTTP request to it and drops its sockets, so the client
sees exactly what a dead box looks like, while the server keeps its queue: that is what lets
the test bring it back with the moved prompts still queued there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from comfy_reality.journal import Journal
from comfy_reality.runtime import TaskStatus, WorkflowExecution
from comfy_reality.runtime.pool import ServerPool
from comfy_reality.server import EmbeddedServer

from .conftest import quick_prompt, until

Servers = Callable[..., Awaitable[list[EmbeddedServer]]]
PoolSession = Callable[..., Awaitable[ServerPool]]

FAILOVER = {"failover_after": 0.3, "timeout": 0.5}


async def kill(server: EmbeddedServer) -> None:
    server.faults.stall_http = True
    await server.faults.drop_websockets()


async def batch_with_one_running_on_s0(
    embedded: list[EmbeddedServer], pool: ServerPool
) -> tuple[WorkflowExecution, list[WorkflowExecution], list[WorkflowExecution]]:
    """Three prompts on s0 (one running, slowed down; two waiting) and two on s1."""
    embedded[0].faults.step_delay = 0.2
    on_s0 = [await pool.submit(quick_prompt(n, steps=50), server="s0") for n in range(3)]
    on_s1 = [await pool.submit(quick_prompt(10 + n), server="s1") for n in range(2)]
    running = on_s0[0]
    await until(pool, lambda: running.status is TaskStatus.RUNNING)
    return running, on_s0[1:], on_s1


async def history_ids(pool: ServerPool, name: str) -> set[str]:
    return set(await pool.member(name).runtime.client.get_history())


async def run_to_the_end_of_the_queue(pool: ServerPool, name: str) -> None:
    """A prompt queued last on ``name`` ends after everything queued before it (FIFO)."""
    marker = await pool.submit(quick_prompt(999), server=name)
    await pool.wait(marker, timeout=20)


async def test_killed_server_waiting_prompts_move_running_one_lost_none_run_twice(
    servers: Servers, pool_session: PoolSession, tmp_path: Path
) -> None:
    embedded = await servers(2)
    pool = await pool_session([s.url for s in embedded], **FAILOVER)
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    for member in pool.members:
        journal.attach(member.runtime)
    running, waiting, on_s1 = await batch_with_one_running_on_s0(embedded, pool)

    await kill(embedded[0])
    finals = [await pool.wait(e, timeout=20) for e in [*waiting, *on_s1]]

    assert pool.member("s0").down and pool.failovers == 1
    assert all(e.status is TaskStatus.COMPLETED and e.server_url == embedded[1].url for e in finals)
    for first, moved in zip(waiting, finals[:2], strict=True):
        assert first.status is TaskStatus.CANCELLED
        assert first.status_detail is not None and first.status_detail.startswith("moved to s1")
        assert moved.retry_of == first.id and moved.prompt_id != first.prompt_id
        assert moved.prompt == first.prompt
    lost = await pool.wait(running, timeout=5)
    assert lost.status is TaskStatus.FAILED
    assert lost.status_detail is not None and lost.status_detail.startswith("lost: s0 stopped answering")

    # It comes back with the moved prompts still queued: they are deleted there.
    embedded[0].faults.stall_http = False
    await pool.wait_back("s0", timeout=10)
    queue = await pool.member("s0").runtime.client.get_queue()
    assert all(queue.find(e.prompt_id or "") is None for e in waiting)
    embedded[0].faults.step_delay = 0.0
    await run_to_the_end_of_the_queue(pool, "s0")
    ran_on_s0 = await history_ids(pool, "s0")
    assert not {e.prompt_id for e in waiting} & ran_on_s0  # none ran twice
    assert running.prompt_id in ran_on_s0  # the lost one was left to finish there

    # The journal links each moved prompt to its first try, across servers.
    await journal.flush()
    for first, moved in zip(waiting, finals[:2], strict=True):
        entry = await journal.get(moved.id)
        assert entry is not None and entry.retry_of == first.id and entry.server_url == embedded[1].url
        old = await journal.get(first.id)
        assert old is not None and old.server_url == embedded[0].url and old.status is TaskStatus.CANCELLED
    await journal.close()


async def test_retry_lost_runs_the_running_one_elsewhere_and_stops_it_on_return(
    servers: Servers, pool_session: PoolSession
) -> None:
    embedded = await servers(2)
    pool = await pool_session([s.url for s in embedded], retry_lost=True, **FAILOVER)
    running, waiting, _ = await batch_with_one_running_on_s0(embedded, pool)

    await kill(embedded[0])
    again = await pool.wait(running, timeout=20)
    assert again.id != running.id and again.retry_of == running.id
    assert again.status is TaskStatus.COMPLETED and again.server_url == embedded[1].url
    assert running.status is TaskStatus.FAILED
    assert running.status_detail is not None and "retried on s1" in running.status_detail
    for execution in waiting:
        assert (await pool.wait(execution, timeout=20)).server_url == embedded[1].url

    # Back while the first try still runs there (slowed down): it is interrupted, not finished twice.
    embedded[0].faults.stall_http = False
    await pool.wait_back("s0", timeout=10)
    embedded[0].faults.step_delay = 0.0
    await run_to_the_end_of_the_queue(pool, "s0")
    entry = await pool.member("s0").runtime.client.get_history_entry(running.prompt_id or "")
    assert entry is not None and entry.interrupted
    assert not {e.prompt_id for e in waiting} & await history_ids(pool, "s0")


async def test_a_brief_drop_is_only_a_reconnect(servers: Servers, pool_session: PoolSession) -> None:
    embedded = await servers(2)
    pool = await pool_session([s.url for s in embedded], failover_after=5.0)
    embedded[0].faults.step_delay = 0.05
    execution = await pool.submit(quick_prompt(1, steps=10), server="s0")
    await until(pool, lambda: execution.status is TaskStatus.RUNNING)
    await embedded[0].faults.drop_websockets()
    embedded[0].faults.step_delay = 0.0
    final = await pool.wait(execution, timeout=10)
    assert final is execution and final.status is TaskStatus.COMPLETED
    assert pool.failovers == 0 and not pool.member("s0").down


async def test_a_down_server_gets_no_new_prompts(servers: Servers, pool_session: PoolSession) -> None:
    embedded = await servers(2)
    pool = await pool_session([s.url for s in embedded], **FAILOVER)
    await kill(embedded[0])
    await until(pool, lambda: pool.member("s0").down)
    executions = [await pool.submit(quick_prompt(n)) for n in range(3)]
    assert {e.server_url for e in executions} == {embedded[1].url}
    for execution in executions:
        await pool.wait(execution, timeout=10)
    embedded[0].faults.stall_http = False
