"""The WebSocket drops mid-run, or the server restarts and forgets its queue: no crash, no lost or
duplicated execution, and a clear final state in the runtime and in the journal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from comfy_reality.journal import Journal
from comfy_reality.runtime import ComfyUIAsyncRuntime, ConnectionState, TaskStatus
from comfy_reality.server import EmbeddedServer

from .conftest import SLOW_PROMPT_DELAY, SLOW_PROMPT_STEPS, progress_prompt, wait_for_progress

Session = Callable[..., Awaitable[ComfyUIAsyncRuntime]]


async def test_a_run_is_recorded_end_to_end(
    server: EmbeddedServer, session: Session, journal: Journal
) -> None:
    runtime = await session(server.url)
    journal.attach(runtime)
    execution = await runtime.execute_workflow(progress_prompt(steps=5), name="e2e")
    assert execution.status is TaskStatus.COMPLETED
    await journal.flush()
    entry = await journal.get(execution.id)
    assert entry is not None
    assert entry.status is TaskStatus.COMPLETED
    assert entry.prompt_id == execution.prompt_id
    assert entry.client_id == runtime.client_id
    assert entry.server_url == server.url
    assert entry.prompt == execution.prompt
    assert [f.filename for f in entry.output_files] == [f.filename for f in execution.output_files]
    assert entry.output_files and entry.output_files[0].filename.startswith("fault")
    assert {n.node_id: n.status for n in entry.nodes} == {
        "1": TaskStatus.COMPLETED,
        "2": TaskStatus.COMPLETED,
        "3": TaskStatus.COMPLETED,
    }
    progress_node = next(n for n in entry.nodes if n.node_id == "2")
    assert progress_node.value == 5 and progress_node.max == 5
    assert entry.started_at is not None and entry.completed_at is not None


async def test_websocket_dropped_mid_run(server: EmbeddedServer, session: Session, journal: Journal) -> None:
    runtime = await session(server.url)
    journal.attach(runtime)
    states: list[ConnectionState] = []
    runtime.subscribe_status(lambda status: states.append(status.state))
    execution = await runtime.submit(progress_prompt(SLOW_PROMPT_STEPS, SLOW_PROMPT_DELAY), name="dropped")
    await wait_for_progress(runtime, execution)
    dropped = await server.faults.drop_websockets()
    assert dropped >= 1
    final = await runtime.wait(execution, timeout=30)
    assert final.status is TaskStatus.COMPLETED
    assert ConnectionState.RECONNECTING in states and states[-1] is ConnectionState.CONNECTED
    assert final.output_files
    await journal.flush()
    entries = await journal.list_executions()
    assert [e.id for e in entries] == [execution.id]
    assert entries[0].status is TaskStatus.COMPLETED and not entries[0].lost
    assert entries[0].output_files == final.output_files


async def test_server_restarted_mid_run_marks_the_execution_lost(
    server: EmbeddedServer, session: Session, journal: Journal
) -> None:
    runtime = await session(server.url)
    journal.attach(runtime)
    execution = await runtime.submit(progress_prompt(SLOW_PROMPT_STEPS, SLOW_PROMPT_DELAY), name="restarted")
    await wait_for_progress(runtime, execution)
    await server.restart()
    final = await runtime.wait(execution, timeout=30)
    assert final.status is TaskStatus.CANCELLED
    assert final.status_detail is not None and final.status_detail.startswith("lost:")
    assert "no longer knows" in final.status_detail
    assert all(task.is_final for task in final.tasks)
    await journal.flush()
    entry = await journal.get(execution.id)
    assert entry is not None
    assert entry.lost and entry.display_status == "lost"
    assert entry.status_detail == final.status_detail
    assert len(await journal.list_executions()) == 1
    # The runtime keeps working against the restarted server.
    again = await runtime.execute_workflow(progress_prompt(steps=2, nonce=1), name="after restart")
    assert again.status is TaskStatus.COMPLETED
