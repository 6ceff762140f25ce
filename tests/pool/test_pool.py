"""A pool over several embedded servers: spread by load and weight, capability dispatch, pinning,
cancel and retry on the right server, one task manager for all, and the journal across servers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from comfy_reality.journal import Journal
from comfy_reality.runtime import ComfyUIClient, TaskStatus
from comfy_reality.runtime.dispatch import NoCapableServerError
from comfy_reality.runtime.pool import ServerPool, UnknownServerError
from comfy_reality.server import EmbeddedServer

from .conftest import quick_prompt, until

Servers = Callable[..., Awaitable[list[EmbeddedServer]]]
PoolSession = Callable[..., Awaitable[ServerPool]]


async def test_a_batch_spreads_evenly_over_equal_servers(servers: Servers, pool_session: PoolSession) -> None:
    embedded = await servers(3)
    pool = await pool_session([s.url for s in embedded])
    executions = [await pool.submit(quick_prompt(n)) for n in range(9)]
    finals = [await pool.wait(e) for e in executions]
    assert all(e.status is TaskStatus.COMPLETED for e in finals)
    assert Counter(e.server_url for e in finals) == {s.url: 3 for s in embedded}
    # One task manager for the whole pool: every execution's tree is in it.
    roots = {t.execution_id for t in pool.task_manager.roots()}
    assert {e.id for e in finals} <= roots


async def test_weight_gives_a_faster_server_more(servers: Servers, pool_session: PoolSession) -> None:
    embedded = await servers(2)
    for server in embedded:
        server.faults.step_delay = 0.2  # nothing ends while the batch is dispatched
    pool = await pool_session([s.url for s in embedded], weights=[3.0, 1.0])
    executions = [await pool.submit(quick_prompt(n)) for n in range(8)]
    assert Counter(e.server_url for e in executions) == {embedded[0].url: 6, embedded[1].url: 2}
    for server in embedded:
        server.faults.step_delay = 0.0
    for execution in executions:
        await pool.cancel(execution)


async def test_other_clients_queue_counts_as_load(servers: Servers, pool_session: PoolSession) -> None:
    embedded = await servers(2)
    embedded[0].faults.step_delay = 0.2
    pool = await pool_session([s.url for s in embedded])
    # Another client fills server 0's queue; its status broadcast reaches the pool.
    async with ComfyUIClient(embedded[0].url) as other:
        for n in range(3):
            await other.post_prompt(quick_prompt(100 + n), client_id="someone-else")
        await until(pool, lambda: pool.members[0].queue_remaining >= 3)
        execution = await pool.submit(quick_prompt(1))
        assert execution.server_url == embedded[1].url
        embedded[0].faults.step_delay = 0.0
        await pool.wait(execution)


async def test_a_prompt_only_one_server_can_run_goes_there(
    servers: Servers, pool_session: PoolSession
) -> None:
    embedded = await servers(3)
    for server in embedded[:2]:
        server.state.catalogue.remove_node_types("RealityProgress")
    pool = await pool_session([s.url for s in embedded])
    executions = [await pool.submit(quick_prompt(n)) for n in range(4)]
    assert {e.server_url for e in executions} == {embedded[2].url}
    for execution in executions:
        assert (await pool.wait(execution)).status is TaskStatus.COMPLETED


async def test_no_server_can_names_what_is_missing_where(servers: Servers, pool_session: PoolSession) -> None:
    embedded = await servers(2)
    embedded[0].state.catalogue.remove_node_types("RealityProgress")
    pool = await pool_session([s.url for s in embedded])
    prompt = quick_prompt(1)
    prompt["1"]["class_type"] = "NoSuchNode"
    prompt["3"]["inputs"]["filename_prefix"] = "x"
    prompt["4"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nowhere.safetensors"}}
    with pytest.raises(NoCapableServerError) as caught:
        await pool.submit(prompt)
    text = str(caught.value)
    assert "s0: no node type NoSuchNode, RealityProgress" in text
    assert "s1: no node type NoSuchNode" in text
    assert (
        "ckpt_name 'nowhere.safetensors' of node 4 (CheckpointLoaderSimple) is not among its choices" in text
    )


async def test_server_name_pins_and_unknown_name_is_clear(
    servers: Servers, pool_session: PoolSession
) -> None:
    embedded = await servers(2)
    pool = await pool_session([s.url for s in embedded])
    executions = [await pool.submit(quick_prompt(n), server="s1") for n in range(3)]
    assert {e.server_url for e in executions} == {embedded[1].url}
    with pytest.raises(UnknownServerError, match="No server named 'gpu9'.*s0, s1"):
        await pool.submit(quick_prompt(9), server="gpu9")
    for execution in executions:
        await pool.wait(execution)


async def test_disabled_and_draining_servers_take_nothing_new(
    servers: Servers, pool_session: PoolSession
) -> None:
    embedded = await servers(3)
    pool = await pool_session([s.url for s in embedded])
    pool.set_enabled("s0", False)
    pool.drain("s1")
    executions = [await pool.submit(quick_prompt(n)) for n in range(3)]
    assert {e.server_url for e in executions} == {embedded[2].url}
    assert [m.state for m in pool.members] == ["disabled", "draining", "connected"]
    for execution in executions:
        await pool.wait(execution)


async def test_cancel_and_retry_go_to_the_executions_server(
    servers: Servers, pool_session: PoolSession
) -> None:
    embedded = await servers(2)
    embedded[1].faults.step_delay = 0.5
    pool = await pool_session([s.url for s in embedded])
    execution = await pool.submit(quick_prompt(1, steps=50), server="s1")
    await until(pool, lambda: execution.status is TaskStatus.RUNNING)
    await pool.cancel(execution)
    final = await pool.wait(execution)
    assert final.status is TaskStatus.CANCELLED
    embedded[1].faults.step_delay = 0.0
    again = await pool.retry(final)
    assert again.server_url == embedded[1].url and again.retry_of == execution.id
    done = await pool.wait(again)
    assert done.status is TaskStatus.COMPLETED
    data = await pool.download_output(done, done.output_files[0])
    assert data.startswith(b"\x89PNG")
    # Server 0 never heard of either prompt.
    history = await pool.members[0].runtime.client.get_history()
    assert execution.prompt_id not in history and again.prompt_id not in history


async def test_the_journal_keeps_each_executions_server(
    servers: Servers, pool_session: PoolSession, tmp_path: Path
) -> None:
    embedded = await servers(2)
    pool = await pool_session([s.url for s in embedded])
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    for member in pool.members:
        journal.attach(member.runtime)
    executions = [await pool.submit(quick_prompt(n)) for n in range(4)]
    finals = [await pool.wait(e) for e in executions]
    await journal.close()
    # The app restarts: a new journal instance reads what the first wrote.
    reopened = await Journal.open(tmp_path / "journal.sqlite3")
    try:
        for execution in finals:
            entry = await reopened.get(execution.id)
            assert entry is not None
            assert entry.server_url == execution.server_url
            assert entry.status is TaskStatus.COMPLETED
        rows = await reopened.list_executions()
        assert len(rows) == 4
    finally:
        await reopened.close()
