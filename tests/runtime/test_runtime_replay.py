"""Every recorded scenario replayed through ComfyUIAsyncRuntime; assertions on the task tree.

The replay server (tests/runtime/replay.py) plays what the real server sent, rewritten to the
prompt and client ids this runtime chose, and answers HTTP as recorded.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from aiohttp import web

from comfy_reality.runtime import (
    ComfyUIAsyncRuntime,
    ComfyUIClient,
    ConnectionState,
    InvalidWorkflowError,
    PreviewFrame,
    PromptValidationError,
    ServerResponseError,
    ServerStatus,
    TaskStatus,
    WorkflowExecution,
)
from tests.runtime.helpers import node_statuses as statuses
from tests.runtime.helpers import until

from .replay import ReplayServer, Transcript

C = TaskStatus.COMPLETED
X = TaskStatus.CANCELLED
F = TaskStatus.FAILED


def node(execution: WorkflowExecution, node_id: str) -> Any:
    task = execution.node_task(node_id)
    assert task is not None, f"no task for node {node_id}"
    return task


def workflow_task(runtime: ComfyUIAsyncRuntime, execution: WorkflowExecution) -> Any:
    assert execution.workflow_task_id is not None
    task = runtime.task_manager.get_task(execution.workflow_task_id)
    assert task is not None
    return task


def assert_all_final(execution: WorkflowExecution) -> None:
    assert execution.is_final
    not_final = [t.name for t in execution.tasks if not t.is_final]
    assert not not_final, f"tasks not final: {not_final}"


# --------------------------------------------------------------------------- 01 success
async def test_01_success_builds_the_full_task_tree(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("01_success")
    runtime = await session(server.url)
    progress: list[float] = []
    runtime.task_manager.subscribe(
        lambda e: (
            progress.append(e.data["value"])
            if e.event_type == "progress" and e.data and "value" in e.data
            else None
        )
    )
    execution = await runtime.execute_workflow(
        server.transcripts[0].prompt(0), name="success", workflow_id="wf-01"
    )

    assert execution.status is C
    assert_all_final(execution)
    assert statuses(execution) == {str(i): C for i in range(1, 8)}
    assert not any(t.cached for t in execution.tasks)
    sampler = node(execution, "2")
    assert sampler.name == "RealityProgress #2" and sampler.class_type == "RealityProgress"
    assert (sampler.value, sampler.max, sampler.progress) == (10.0, 10.0, 1.0)
    assert progress == sorted(progress) and progress[-1] == 10.0 and len(progress) >= 2
    assert sampler.outputs == {"text": ["ran 10 steps (nonce 1)"]}
    assert node(execution, "6").outputs["images"][0]["filename"] == "reality_success_00003_.png"
    files = {(f.node_id, f.filename, f.type) for f in execution.output_files}
    assert files == {
        ("6", "reality_success_00003_.png", "output"),
        ("7", "ComfyUI_temp_qpkjk_00001_.png", "temp"),
    }
    wf = workflow_task(runtime, execution)
    assert wf.status is C and wf.prompt_id == execution.prompt_id and wf.progress == 1.0
    assert wf.execution_id == execution.id and wf.metadata["workflow_id"] == "wf-01"
    assert all(t.execution_id == execution.id for t in execution.tasks)
    assert wf.metadata["server_url"] == server.url
    assert execution.client_id == runtime.client_id
    # execution.tasks holds the node tasks, in node order; the workflow task is separate.
    assert [t.node_id for t in execution.tasks] == [str(i) for i in range(1, 8)]
    assert all(t.parent_id == wf.id for t in execution.tasks)
    # The prompt went out with our client_id and the prompt_id we chose.
    job = server.jobs[execution.prompt_id or ""]
    assert job.client_id == runtime.client_id
    assert execution.started_at and execution.completed_at and execution.completed_at >= execution.started_at


async def test_01_messages_that_beat_the_post_answer_are_not_lost(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("01_success")
    runtime = await session(server.url)
    first_seen: dict[str, float] = {}
    runtime.task_manager.subscribe(
        lambda e: first_seen.setdefault(e.event_type + e.task_id, time.monotonic())
    )
    execution = await runtime.submit(server.transcripts[0].prompt(0))
    # The replay held the POST answer until execution_start and the first executing had been sent.
    assert server.jobs[execution.prompt_id or ""].early.is_set()
    assert node(execution, "1").status is C  # its messages all came before the POST answer
    await runtime.wait(execution, timeout=5)
    assert execution.status is C


async def test_01_download_output(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("01_success")
    runtime = await session(server.url)
    execution = await runtime.execute_workflow(server.transcripts[0].prompt(0))
    saved = next(f for f in execution.output_files if f.type == "output")
    data = await runtime.download_output(saved)
    assert data.startswith(b"\x89PNG") and len(data) == 906


# ---------------------------------------------------------------------------- 02 cached
async def test_02_cached_nodes(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("02_cached")
    runtime = await session(server.url)
    transcript = server.transcripts[0]
    everything = await runtime.execute_workflow(transcript.prompt(0))
    assert everything.status is C
    assert all(
        t.cached and t.status is C and t.status_detail == "cached" for t in everything.tasks if t.node_id
    )
    assert node(everything, "6").outputs["images"][0]["filename"] == "reality_success_00003_.png"
    assert {f.node_id for f in everything.output_files} == {"6", "7"}

    partial = await runtime.execute_workflow(transcript.prompt(1))
    assert partial.status is C
    assert node(partial, "1").cached
    assert [n for n in map(str, range(2, 8)) if node(partial, n).cached] == []
    assert statuses(partial) == {str(i): C for i in range(1, 8)}
    assert node(partial, "2").value == 10.0


# ------------------------------------------------------------------- 03 validation errors
REJECTED = [
    "unknown_class_type",
    "missing_required_input",
    "value_above_max",
    "value_below_min",
    "invalid_combo_value_only_output",
    "wrong_value_type_string_for_int",
    "link_to_nonexistent_node",
    "link_output_type_mismatch",
    "link_bad_output_index",
    "no_output_nodes",
]


@pytest.mark.parametrize("label", REJECTED)
async def test_03_rejected_prompt_raises_validation_error(replay: Any, session: Any, label: str) -> None:
    server: ReplayServer = await replay("03_validation_errors")
    runtime = await session(server.url)
    recorded = server.transcripts[0].recorded(label=label)
    with pytest.raises(PromptValidationError) as caught:
        await runtime.submit(recorded.prompt)
    error = caught.value
    assert error.status_code == 400
    assert error.error == recorded.response["error"]
    assert error.node_errors == recorded.response["node_errors"]
    assert error.error_type == recorded.response["error"]["type"]
    assert len(error.node_messages()) == sum(
        len(e["errors"]) for e in recorded.response["node_errors"].values()
    )
    assert recorded.response["error"]["message"] in str(error)
    assert runtime.executions == {} and runtime.task_manager.tasks() == []


async def test_03_validation_error_names_node_and_input(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("03_validation_errors")
    runtime = await session(server.url)
    with pytest.raises(PromptValidationError) as caught:
        await runtime.submit(server.transcripts[0].recorded(label="value_below_min").prompt)
    assert caught.value.node_messages() == ["node 2 (RealityProgress): Value 0 smaller than min of 1: steps"]


@pytest.mark.parametrize("label", ["empty_prompt_object", "node_missing_class_type", "prompt_is_list"])
async def test_03_invalid_prompts_are_refused_before_sending(replay: Any, session: Any, label: str) -> None:
    server: ReplayServer = await replay("03_validation_errors")
    runtime = await session(server.url)
    with pytest.raises(InvalidWorkflowError):
        await runtime.submit(server.transcripts[0].recorded(label=label).request.get("prompt"))
    assert not any(r.path == "/prompt" for r in server.requests)


async def test_03_values_that_are_not_json_are_refused(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("03_validation_errors")
    runtime = await session(server.url)
    with pytest.raises(InvalidWorkflowError, match="cannot be sent as JSON"):
        await runtime.submit({"1": {"class_type": "EmptyImage", "inputs": {"width": object()}}})


async def test_03_ui_format_gets_a_conversion_hint(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("03_validation_errors")
    runtime = await session(server.url)
    with pytest.raises(InvalidWorkflowError, match="UI-format.*load_prompt"):
        await runtime.submit({"nodes": [], "links": [], "version": 0.4})


async def test_03_partial_acceptance_cancels_the_rejected_branch(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("03_validation_errors")
    runtime = await session(server.url)
    recorded = server.transcripts[0].recorded(label="invalid_combo_value_partial_graph_still_queued")
    execution = await runtime.submit(recorded.prompt)
    assert execution.node_errors == recorded.response["node_errors"]
    assert set(execution.node_errors) == {"5"}
    # Known before the run: the rejected node, what depends on it, and what only feeds it.
    assert node(execution, "5").status is X
    assert node(execution, "5").status_detail.startswith(
        "rejected by the server: Value not in list: upscale_method"
    )
    assert node(execution, "6").status_detail == "not run: depends on node 5, which failed validation"
    assert node(execution, "4").status_detail == "not run: it only feeds nodes the server rejected"
    await runtime.wait(execution, timeout=5)
    assert execution.status is C
    assert_all_final(execution)
    assert statuses(execution) == {"1": C, "2": C, "3": C, "4": X, "5": X, "6": X, "7": C}


async def test_03_one_bad_branch_one_good_output(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("03_validation_errors")
    runtime = await session(server.url)
    recorded = server.transcripts[0].recorded(label="one_bad_branch_one_good_output")
    execution = await runtime.execute_workflow(recorded.prompt)
    assert execution.status is C
    assert set(execution.node_errors) == {"8"}
    assert node(execution, "8").status is X and node(execution, "9").status is X
    assert "depends on node 8" in node(execution, "9").status_detail
    assert all(node(execution, n).status is C for n in "1234567")


async def test_03_non_json_500_is_a_server_response_error(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("03_validation_errors")
    runtime = await session(server.url)
    recorded = server.transcripts[0].recorded(label="body_not_json")
    server.respond_next("POST", "/prompt", web.Response(status=recorded.status, text=recorded.response))
    with pytest.raises(ServerResponseError) as caught:
        await runtime.submit(server.transcripts[0].prompt(0))
    assert caught.value.status_code == 500
    assert "HTTP 500" in str(caught.value) and "Server got itself in trouble" in str(caught.value)
    assert runtime.executions == {}


async def test_03_html_200_is_a_server_response_error(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("03_validation_errors")
    runtime = await session(server.url)
    server.respond_next(
        "POST", "/prompt", web.Response(status=200, text="<html>login</html>", content_type="text/html")
    )
    with pytest.raises(ServerResponseError, match="not JSON"):
        await runtime.submit(server.transcripts[0].prompt(0))


# ---------------------------------------------------------------------- 04 runtime error
async def test_04_runtime_error_fails_node_and_workflow(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("04_runtime_error")
    runtime = await session(server.url)
    execution = await runtime.execute_workflow(server.transcripts[0].prompt(0))
    assert execution.status is F
    assert_all_final(execution)
    assert statuses(execution) == {"1": C, "2": C, "3": F, "4": X, "5": C}
    failed = node(execution, "3")
    assert failed.error == "RealityFail: deliberate failure for protocol recording"
    assert failed.error_type == "RuntimeError"
    assert len(failed.traceback) == 5 and "raise RuntimeError(message)" in failed.traceback[-1]
    assert node(execution, "4").status_detail == "not run: node 3 (RealityFail) failed"
    error = execution.error
    assert error is not None
    assert (error.node_id, error.node_type, error.exception_type) == ("3", "RealityFail", "RuntimeError")
    assert error.traceback == failed.traceback and error.executed == ["2", "1", "5"]
    assert "image" in error.current_inputs
    wf = workflow_task(runtime, execution)
    assert wf.status is F and wf.error_type == "RuntimeError" and wf.traceback == failed.traceback
    assert execution.status_detail == "RuntimeError: RealityFail: deliberate failure for protocol recording"
    assert {f.node_id for f in execution.output_files} == {"5"}


# ------------------------------------------------------------------------- 05 interrupt
async def test_05_cancel_running_prompt_interrupts_it(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("05_interrupt")
    runtime = await session(server.url)
    execution = await runtime.submit(server.transcripts[0].prompt(0))
    await until(runtime, lambda: (node(execution, "2").value or 0) > 0)
    await runtime.cancel(execution)
    assert execution.status is X
    assert_all_final(execution)
    assert statuses(execution) == {"1": C, "2": X, "3": X}
    assert node(execution, "2").status_detail == "interrupted"
    assert node(execution, "3").status_detail == "not run: interrupted"
    interrupts = [r for r in server.requests if r.path == "/interrupt"]
    assert len(interrupts) == 1
    assert workflow_task(runtime, execution).status is X


async def test_05_cancel_pending_deletes_it_from_the_queue(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("05_interrupt")
    runtime = await session(server.url)
    transcript = server.transcripts[0]
    p1 = await runtime.submit(transcript.prompt(1))
    p2 = await runtime.submit(transcript.prompt(2))
    await until(runtime, lambda: node(p1, "2").status is TaskStatus.RUNNING)
    assert p2.status is TaskStatus.PENDING
    await runtime.cancel(p2)
    assert p2.status is X and p2.status_detail == "removed from the queue before it ran"
    assert_all_final(p2)
    assert {t.status_detail for t in p2.tasks if t.node_id} == {
        "not run: removed from the queue before it ran"
    }
    assert p2.prompt_id not in server.jobs  # really deleted on the server
    assert p1.status is TaskStatus.RUNNING  # the other prompt was not touched
    await runtime.cancel(p1)
    assert p1.status is X
    # The worker never ran the deleted prompt.
    assert server.run_order == [p1.prompt_id]


async def test_05_interrupt_while_idle_does_not_leak(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("05_interrupt")
    runtime = await session(server.url)
    await runtime.client.interrupt()
    execution = await runtime.execute_workflow(
        server.transcripts[0].recorded(label="after_idle_interrupt").prompt
    )
    assert execution.status is C and statuses(execution) == {"1": C, "2": C, "3": C}


async def test_cancel_after_the_end_is_a_no_op(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("01_success")
    runtime = await session(server.url)
    execution = await runtime.execute_workflow(server.transcripts[0].prompt(0))
    await runtime.cancel(execution)
    assert execution.status is C
    assert not any(r.path == "/interrupt" for r in server.requests)


# ---------------------------------------------------------------------------- 06 queue
async def test_06_queue_delete_pending_and_front(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("06_queue_management")
    runtime = await session(server.url)
    t = server.transcripts[0]
    server.pause()
    q1 = await runtime.submit(t.recorded(label="Q1").prompt, name="Q1")
    q2 = await runtime.submit(t.recorded(label="Q2").prompt, name="Q2")
    q3 = await runtime.submit(t.recorded(label="Q3").prompt, name="Q3")
    queue = await runtime.client.get_queue()
    assert [i.prompt_id for i in queue.pending] == [q1.prompt_id, q2.prompt_id, q3.prompt_id]
    assert all(i.client_id == runtime.client_id for i in queue.pending)
    await runtime.cancel(q3)
    assert q3.status is X
    q8 = await runtime.submit(t.recorded(label="Q8").prompt, name="Q8")
    q9 = await runtime.submit(t.recorded(label="Q9_front").prompt, name="Q9", front=True)
    server.resume()
    for execution in (q1, q2, q8, q9):
        await runtime.wait(execution, timeout=5)
        assert execution.status is C
    assert server.run_order == [q9.prompt_id, q1.prompt_id, q2.prompt_id, q8.prompt_id]


async def test_wait_timeout_and_cancelled_waiter_leave_the_prompt_running(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("06_queue_management")
    runtime = await session(server.url)
    server.pause()
    execution = await runtime.submit(server.transcripts[0].recorded(label="Q1").prompt)
    with pytest.raises(TimeoutError):
        await runtime.wait(execution, timeout=0.01)
    waiter = asyncio.create_task(runtime.wait(execution))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert execution.prompt_id in server.jobs and not any(
        r.path in ("/interrupt", "/queue") and r.method == "POST" for r in server.requests
    )
    server.resume()
    assert (await runtime.wait(execution, timeout=5)).status is C


# ------------------------------------------------------------------------- 07 reconnect
async def test_07_reconnect_mid_run_resumes_following(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("07_reconnect")
    runtime = await session(server.url)
    states: list[ServerStatus] = []
    runtime.subscribe_status(states.append)
    execution = await runtime.execute_workflow(server.transcripts[0].prompt(0))
    assert execution.status is C
    assert_all_final(execution)
    assert statuses(execution) == {"1": C, "2": C, "3": C}
    kinds = [s.state for s in states]
    assert ConnectionState.RECONNECTING in kinds
    assert kinds[kinds.index(ConnectionState.RECONNECTING) :].count(ConnectionState.CONNECTED) >= 1
    assert states[kinds.index(ConnectionState.RECONNECTING)].reason
    assert len(server.ws_handshakes) == 2
    assert {h.query["clientId"] for h in server.ws_handshakes} == {runtime.client_id}


async def test_07_completion_while_disconnected_is_reconciled_from_history(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("07_reconnect")
    runtime = await session(server.url)
    execution = await runtime.execute_workflow(server.transcripts[0].prompt(1))
    assert execution.status is C
    assert_all_final(execution)
    # The socket closed after node 2 started; the rest is known only from the history entry.
    assert {f.filename for f in execution.output_files} == {"ComfyUI_temp_fgcoj_00009_.png"}
    assert any(r.path == f"/history/{execution.prompt_id}" for r in server.requests)


# ----------------------------------------------------------------------- 08 two clients
async def test_08_two_runtimes_do_not_share_messages(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("08_two_clients")
    a = await session(server.url)
    b = await session(server.url)
    assert a.client_id != b.client_id
    t = server.transcripts[0]
    seen_by_a: list[str] = []
    original = a._snapshots._route  # every parsed message of a's socket goes through it

    def spy(message: Any) -> None:
        prompt_id = getattr(message, "prompt_id", None)
        if isinstance(prompt_id, str):
            seen_by_a.append(prompt_id)
        original(message)

    a._snapshots._route = spy
    server.pause()
    long_a = await a.submit(t.recorded(label="A_long").prompt)
    after_b = await b.submit(t.recorded(label="B_after_A").prompt)
    server.resume()
    await a.wait(long_a, timeout=5)
    await b.wait(after_b, timeout=5)
    assert long_a.status is C and after_b.status is C
    assert_all_final(long_a)
    assert_all_final(after_b)
    assert set(seen_by_a) == {long_a.prompt_id}
    assert list(a.executions) == [long_a.id] and list(b.executions) == [after_b.id]
    assert server.jobs[long_a.prompt_id or ""].client_id == a.client_id
    assert server.jobs[after_b.prompt_id or ""].client_id == b.client_id


async def test_08_attach_to_a_prompt_without_client_id(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("08_two_clients")
    runtime = await session(server.url)
    prompt = server.transcripts[0].recorded(label="no_client_id_prompt").prompt
    server.pause()
    async with ComfyUIClient(server.url) as other:
        answer = await other.post_prompt(prompt, prompt_id=str(uuid.uuid4()))
    execution = await runtime.attach(answer.prompt_id, name="someone else's")
    assert execution.client_id is None and execution.prompt == prompt and execution.number == answer.number
    server.resume()
    await runtime.wait(execution, timeout=5)
    assert execution.status is C
    assert_all_final(execution)
    assert node(execution, "2").value == node(execution, "2").max  # progress is broadcast, so we saw it


async def test_two_runtimes_never_share_a_client_id() -> None:
    ids = {ComfyUIAsyncRuntime("http://127.0.0.1:1").client_id for _ in range(50)}
    assert len(ids) == 50
    assert ComfyUIAsyncRuntime("http://127.0.0.1:1", client_id="mine").client_id == "mine"


# ------------------------------------------------------------------------- 09 endpoints
async def test_09_endpoints_through_the_client(replay: Any) -> None:
    server: ReplayServer = await replay("09_endpoints")
    async with ComfyUIClient(server.url) as client:
        stats = await client.get_system_stats()
        assert stats["system"]["comfyui_version"] == "0.3.64"
        assert await client.features() == {"supports_preview_metadata": True, "max_upload_size": 104857600}
        info = await client.get_object_info("RealityProgress")
        assert info["RealityProgress"]["input"]["required"]["steps"][0] == "INT"
        assert await client.get_object_info("NoSuchNode") == {}
        assert await client.list_userdata("workflows") == []
        uploaded = await client.upload_image(b"\x89PNG fake", "reality_upload.png")
        assert uploaded == {"name": "reality_upload.png", "subfolder": "", "type": "input"}
        image = await client.view("reality_upload.png", type="input")
        assert image.startswith(b"\x89PNG")
        assert await client.has_jobs_api() is False
        with pytest.raises(ServerResponseError, match="no file output/does_not_exist.png"):
            await client.view("does_not_exist.png")
    assert [r.path for r in server.requests].count("/api/jobs") == 1


# ------------------------------------------------------------- 10 feature flags, previews
@pytest.mark.parametrize(
    "label,image_type,with_metadata", [("F_flags", "image/jpeg", True), ("N_noflags", "image/jpeg", False)]
)
async def test_10_previews(
    replay: Any, session: Any, label: str, image_type: str, with_metadata: bool
) -> None:
    server: ReplayServer = await replay("10_feature_flags_previews")
    runtime = await session(server.url)
    frames: list[PreviewFrame] = []
    runtime.subscribe_previews(frames.append)
    execution = await runtime.execute_workflow(server.transcripts[0].recorded(label=label).prompt)
    assert execution.status is C
    assert runtime.client.server_features == {"supports_preview_metadata": True, "max_upload_size": 104857600}
    jpegs = [f for f in frames if f.image_type == image_type]
    assert len(jpegs) == 3 and all(f.image.startswith(b"\xff\xd8") for f in jpegs)
    assert all(f.prompt_id == execution.prompt_id and f.execution_id == execution.id for f in jpegs)
    assert all(f.node_id == "2" for f in jpegs)
    pngs = [f for f in frames if f.image_type == "image/png"]
    assert len(pngs) == 1 and pngs[0].image.startswith(b"\x89PNG")
    if with_metadata:
        assert pngs[0].node_id == "4" and pngs[0].display_node_id == "4"


async def test_feature_flags_is_the_first_frame(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("01_success")
    runtime = await session(server.url)
    assert runtime.client.server_features == {}
    await runtime.execute_workflow(server.transcripts[0].prompt(0))
    # The replay answers feature_flags only when it is the socket's first frame (as ComfyUI does).
    assert runtime.client.server_features["supports_preview_metadata"] is True


# ---------------------------------------------------------------------- 11 progress flood
async def test_11_progress_flood(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("11_progress_rate")
    runtime = await session(server.url)
    events = runtime.task_manager.events()
    started = time.perf_counter()
    execution = await runtime.execute_workflow(server.transcripts[0].prompt(0))
    elapsed = time.perf_counter() - started
    assert execution.status is C
    sampler = node(execution, "2")
    assert (sampler.value, sampler.max) == (2000.0, 2000.0)
    assert runtime.messages_received >= 4000
    # Subscribers get coalesced progress, never one event per message.
    assert len(events) < 200
    events.close()
    assert elapsed < 10  # ~4000 frames over loopback plus task updates


# --------------------------------------------------------------- 12 expansion and blocker
async def test_12_expansion_maps_ephemeral_nodes(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("12_expansion_and_blocker")
    runtime = await session(server.url)
    execution = await runtime.execute_workflow(server.transcripts[0].recorded(label="expand").prompt)
    assert execution.status is C
    assert statuses(execution) == {"1": C, "2": C, "3": C}
    expanded = node(execution, "2")
    assert (expanded.value, expanded.max) == (3.0, 3.0)  # progress of ephemeral 2.0.0.1
    assert expanded.outputs == {"text": ["ran 3 steps (nonce 0)"]}
    assert not any(t.node_id and "." in t.node_id for t in runtime.task_manager.tasks())


async def test_12_execution_blocker_is_not_a_failure(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("12_expansion_and_blocker")
    runtime = await session(server.url)
    execution = await runtime.execute_workflow(server.transcripts[0].recorded(label="blocker").prompt)
    assert execution.status is C and execution.error is None
    assert_all_final(execution)
    blocked = node(execution, "3")
    assert blocked.status is X
    assert blocked.status_detail == "blocked: Execution Blocked: blocked by RealityBlock"
    assert statuses(execution) == {"1": C, "2": C, "3": X, "4": C}
    assert workflow_task(runtime, execution).status is C


# ------------------------------------------------------------------------ 13 logs, 14 latency
async def test_13_logs_messages_do_not_disturb(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("13_logs_subscription")
    runtime = await session(server.url)
    first = await runtime.execute_workflow(server.transcripts[0].prompt(0))
    second = await runtime.execute_workflow(server.transcripts[0].prompt(1))
    assert first.status is C and second.status is C


async def test_14_many_prompts_share_one_socket(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("14_latency_trivial")
    runtime = await session(server.url)
    prompts = [server.transcripts[0].prompt(i) for i in range(10)]
    executions = await asyncio.gather(*(runtime.submit(p) for p in prompts))
    await asyncio.gather(*(runtime.wait(e, timeout=5) for e in executions))
    assert all(e.status is C for e in executions)
    assert len({e.prompt_id for e in executions}) == 10
    assert len(server.ws_handshakes) == 1


# ---------------------------------------------------------------------- 15 no client id
async def _post_foreign(server: ReplayServer, index: int) -> str:
    async with ComfyUIClient(server.url) as other:
        answer = await other.post_prompt(server.transcripts[0].prompt(index), prompt_id=str(uuid.uuid4()))
    return answer.prompt_id


async def test_15_no_client_id_previews_and_end_by_polling(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("15_no_client_id")
    runtime = await session(server.url)
    frames: list[PreviewFrame] = []
    runtime.subscribe_previews(frames.append)
    server.pause()
    prompt_id = await _post_foreign(server, 0)
    execution = await runtime.attach(prompt_id)
    server.resume()
    await runtime.wait(execution, timeout=5)
    assert execution.status is C
    assert_all_final(execution)
    assert len(frames) == 3 and all(f.prompt_id == prompt_id for f in frames)


async def test_15_error_without_client_id_comes_from_history(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("15_no_client_id")
    runtime = await session(server.url)
    server.pause()
    prompt_id = await _post_foreign(server, 1)
    execution = await runtime.attach(prompt_id)
    server.resume()
    await runtime.wait(execution, timeout=5)
    assert execution.status is F
    assert execution.error is not None and execution.error.exception_type == "RuntimeError"
    assert node(execution, "3").status is F and node(execution, "3").error_type == "RuntimeError"
    assert_all_final(execution)


async def test_15_cancel_a_prompt_without_client_id(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("15_no_client_id")
    runtime = await session(server.url)
    server.pause()
    prompt_id = await _post_foreign(server, 2)
    execution = await runtime.attach(prompt_id)
    server.resume()
    await until(runtime, lambda: node(execution, "2").status is TaskStatus.RUNNING)
    await runtime.cancel(execution)
    assert execution.status is X
    assert_all_final(execution)
    assert node(execution, "2").status_detail == "interrupted"


async def test_attach_unknown_prompt(replay: Any, session: Any) -> None:
    from comfy_reality.runtime import ExecutionNotFoundError

    server: ReplayServer = await replay("01_success")
    runtime = await session(server.url)
    with pytest.raises(ExecutionNotFoundError, match="does not know prompt nope"):
        await runtime.attach("nope")


async def test_attach_finished_prompt_reads_history(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("04_runtime_error")
    runtime = await session(server.url)
    first = await runtime.execute_workflow(server.transcripts[0].prompt(0))
    async with make_second(server.url) as again:
        attached = await again.attach(first.prompt_id or "", name="journal")
        assert attached.status is F and attached.client_id == runtime.client_id
        assert attached.error is not None and attached.error.node_id == "3"
        assert_all_final(attached)


def make_second(url: str) -> Any:
    from .conftest import make_runtime

    return make_runtime(url).session()


# ---------------------------------------------------------------------------- retry
async def test_retry_creates_a_new_execution(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("04_runtime_error", "01_success")
    runtime = await session(server.url)
    failed = await runtime.execute_workflow(server.transcripts[0].prompt(0), name="flaky")
    assert failed.status is F
    # The replay has one recording of this prompt; replay it again for the retry.
    server.transcripts[0].prompts[0].used = False
    retried = await runtime.retry(failed)
    assert retried.retry_of == failed.id and retried.id != failed.id
    assert (
        retried.prompt_id != failed.prompt_id and retried.prompt == failed.prompt and retried.name == "flaky"
    )
    await runtime.wait(retried, timeout=5)
    assert retried.status is F
    assert set(runtime.executions) == {failed.id, retried.id}


def test_transcripts_all_replayable() -> None:
    """Every scenario file loads and every accepted prompt has a script or a history."""
    import glob
    import os

    from .replay import PROTOCOL_DIR

    names = sorted(os.path.basename(p) for p in glob.glob(str(PROTOCOL_DIR / "*.jsonl")))
    assert len(names) == 15
    for name in names:
        transcript = Transcript(name)
        for recorded in transcript.prompts:
            if recorded.status == 200 and recorded.label not in ("Q3", "Q5", "Q6"):
                assert recorded.script or recorded.history, (name, recorded.label)


# ------------------------------------------------------------------ older servers
def as_older_server(server: ReplayServer) -> None:
    """Servers before progress_state / execution_success: only executing, progress, executing{null}."""
    for transcript in server.transcripts:
        for recorded in transcript.prompts:
            recorded.script = [
                i for i in recorded.script if i.mtype not in ("progress_state", "execution_success")
            ]


async def test_older_server_success_ends_on_executing_null(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("01_success")
    as_older_server(server)
    runtime = await session(server.url)
    execution = await runtime.execute_workflow(server.transcripts[0].prompt(0))
    assert execution.status is C
    assert statuses(execution) == {str(i): C for i in range(1, 8)}
    assert (node(execution, "2").value, node(execution, "2").max) == (10.0, 10.0)  # from plain progress
    assert not any(t.status_detail for t in execution.tasks if t.node_id)  # every node was seen running


async def test_older_server_failure(replay: Any, session: Any) -> None:
    server: ReplayServer = await replay("04_runtime_error")
    as_older_server(server)
    runtime = await session(server.url)
    execution = await runtime.execute_workflow(server.transcripts[0].prompt(0))
    assert execution.status is F
    assert statuses(execution) == {"1": C, "2": C, "3": F, "4": X, "5": C}
