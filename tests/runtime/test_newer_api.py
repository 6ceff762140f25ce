"""The client's newer-server paths and their fallbacks, on the embedded server in both API modes:
capability detection, jobs listing/lookup/cancel, targeted cancel in the runtime, canonical prompt
ids, partial execution."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from comfy_reality.runtime import ComfyUIClient, ServerResponseError, TaskStatus
from comfy_reality.runtime.capabilities import (
    ServerCapabilities,
    capabilities,
    forget_capabilities,
    parse_version,
)
from comfy_reality.runtime.jobs import (
    FINISHED_STATUSES,
    cancel_job,
    cancel_jobs,
    get_job,
    is_canonical_prompt_id,
    list_jobs,
    new_prompt_id,
)
from comfy_reality.server import EmbeddedServer, ServerConfig
from tests.runtime.helpers import until

from .conftest import make_runtime

SPEED = 50.0
MODES = ["0.3.64", "current"]


def graph(steps: int = 1, delay: float = 0.05, nonce: int = 0, fail: bool = False) -> dict[str, Any]:
    prompt: dict[str, Any] = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": nonce},
        },
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": delay, "nonce": nonce},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "newapi"}},
    }
    if fail:
        prompt["4"] = {"class_type": "RealityFail", "inputs": {"image": ["2", 0], "message": "planned"}}
        prompt["3"]["inputs"]["images"] = ["4", 0]
    return prompt


@pytest.fixture(params=MODES)
async def server(request: pytest.FixtureRequest) -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(port=0, speed=SPEED, api=request.param)) as embedded:
        yield embedded


@pytest.fixture
async def client(server: EmbeddedServer) -> AsyncIterator[ComfyUIClient]:
    async with ComfyUIClient(server.url) as c:
        yield c


async def queued(client: ComfyUIClient, prompt: dict[str, Any]) -> str:
    return (await client.post_prompt(prompt, prompt_id=new_prompt_id())).prompt_id


async def finished(client: ComfyUIClient, prompt_id: str) -> None:
    for _ in range(4000):
        if await client.get_history_entry(prompt_id) is not None:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{prompt_id} never finished")


async def running(client: ComfyUIClient, prompt_id: str) -> None:
    for _ in range(4000):
        if (await client.prompt_state(prompt_id)).where == "running":
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{prompt_id} never ran")


def test_version_parsing_and_partial_execution_threshold() -> None:
    assert parse_version("0.3.64") == (0, 3, 64) and parse_version("v0.38.1-dev") == (0, 38, 1)
    assert parse_version("unknown") is None and parse_version(None) is None
    assert ServerCapabilities(comfyui_version="0.3.47").partial_execution is False
    assert ServerCapabilities(comfyui_version="0.3.48").partial_execution is True
    assert ServerCapabilities(comfyui_version="0.38.1").partial_execution is True


def test_prompt_ids_we_choose_are_canonical() -> None:
    ids = {new_prompt_id() for _ in range(50)}
    assert len(ids) == 50 and all(is_canonical_prompt_id(i) for i in ids)
    assert not is_canonical_prompt_id(str(uuid.uuid4()).upper())
    assert not is_canonical_prompt_id(uuid.uuid4().hex) and not is_canonical_prompt_id(7)


async def test_capabilities_follow_what_the_server_offers(
    server: EmbeddedServer, client: ComfyUIClient
) -> None:
    found = await capabilities(client)
    newer = server.config.api == "current"
    assert found.jobs_api is newer and found.targeted_cancel is newer
    assert found.comfyui_version == ("0.38.1" if newer else "0.3.64")
    assert found.partial_execution and found.features["supports_preview_metadata"] is True
    assert await capabilities(client) is found  # once per client
    summary = found.summary()
    assert summary["jobs_api"] is newer and "max_upload_size" in summary["feature_flags"]
    forget_capabilities(client)
    assert await capabilities(client) is not found


async def test_list_jobs_paginates_newest_first(server: EmbeddedServer, client: ComfyUIClient) -> None:
    ids = [await queued(client, graph(nonce=100 + i)) for i in range(3)]
    bad = await queued(client, graph(nonce=110, fail=True))
    for prompt_id in [*ids, bad]:
        await finished(client, prompt_id)
    source = "jobs" if server.config.api == "current" else "queue+history"
    first = await list_jobs(client, statuses=FINISHED_STATUSES, limit=2)
    assert first.source == source and [j.id for j in first.jobs] == [bad, ids[2]]
    assert first.has_more and first.jobs[0].status == "failed" and first.jobs[1].status == "completed"
    assert first.jobs[1].outputs_count == 1 and first.jobs[1].preview_output is not None
    assert first.jobs[1].duration is not None and first.jobs[1].duration >= 0
    second = await list_jobs(client, statuses=FINISHED_STATUSES, limit=2, offset=2)
    assert [j.id for j in second.jobs] == [ids[1], ids[0]]
    everything = await list_jobs(client)
    assert everything.total == 4 and not everything.has_more
    assert [j.id for j in (await list_jobs(client, statuses=["failed"])).jobs] == [bad]
    with pytest.raises(ValueError, match="unknown job status"):
        await list_jobs(client, statuses=["done"])


async def test_get_job_has_outputs_and_workflow(server: EmbeddedServer, client: ComfyUIClient) -> None:
    prompt_id = await queued(client, graph(nonce=120))
    await finished(client, prompt_id)
    job = await get_job(client, prompt_id)
    assert job is not None and job.status == "completed"
    assert job.outputs is not None and job.outputs["3"]["images"][0]["filename"].startswith("newapi")
    assert job.workflow is not None and job.workflow["prompt"]["3"]["class_type"] == "SaveImage"
    assert await get_job(client, new_prompt_id()) is None


async def test_cancel_job_pending_running_and_finished(server: EmbeddedServer, client: ComfyUIClient) -> None:
    slow = await queued(client, graph(steps=100_000, delay=0.5, nonce=130))
    waiting = await queued(client, graph(nonce=131))
    await running(client, slow)
    pending = await list_jobs(client, statuses=["pending", "in_progress"])
    assert {j.id: j.status for j in pending.jobs} == {slow: "in_progress", waiting: "pending"}
    assert await cancel_job(client, waiting) is True
    assert (await client.prompt_state(waiting)).where == "unknown"
    assert await cancel_job(client, slow) is True
    await finished(client, slow)
    job = await get_job(client, slow)
    assert job is not None and job.status == "cancelled"
    assert await cancel_job(client, slow) is False  # finished: a no-op, not an error
    assert await cancel_job(client, new_prompt_id()) is False


async def test_cancel_jobs_batch(server: EmbeddedServer, client: ComfyUIClient) -> None:
    slow = await queued(client, graph(steps=100_000, delay=0.5, nonce=140))
    waiting = await queued(client, graph(nonce=141))
    await running(client, slow)
    assert await cancel_jobs(client, [slow, waiting]) is True
    await finished(client, slow)
    assert (await client.prompt_state(waiting)).where == "unknown"
    assert await cancel_jobs(client, [slow]) is False


async def test_runtime_cancel_uses_the_targeted_endpoint_where_present(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime(server.url)
    async with runtime.session():
        if server.config.api == "current":

            async def no_interrupt(prompt_id: str | None = None) -> None:
                raise AssertionError("POST /interrupt used although the server has the targeted cancel")

            monkeypatch.setattr(runtime.client, "interrupt", no_interrupt)
        execution = await runtime.submit(graph(steps=400, delay=0.5, nonce=150))
        assert is_canonical_prompt_id(execution.prompt_id)  # the current mode would have refused another
        sampler = execution.node_task("2")
        assert sampler is not None
        await until(runtime, lambda: (sampler.value or 0) >= 2)
        await runtime.cancel(execution)
        assert execution.status is TaskStatus.CANCELLED


async def test_runtime_partial_execution_runs_only_the_target(server: EmbeddedServer) -> None:
    prompt = graph(nonce=160)
    prompt["5"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    runtime = make_runtime(server.url)
    async with runtime.session():
        execution = await runtime.submit(prompt, partial_execution_targets=["5"])
        await runtime.wait(execution, timeout=10)
        assert execution.status is TaskStatus.COMPLETED
        assert {f.node_id for f in execution.output_files} == {"5"}
        entry = await runtime.client.get_history_entry(execution.prompt_id or "")
        assert entry is not None and list(entry.outputs) == ["5"]
        retried = await runtime.retry(execution)
        await runtime.wait(retried, timeout=10)
        assert retried.metadata["partial_execution_targets"] == ["5"]


async def test_probes_answered_with_errors_assume_nothing_newer() -> None:
    # A proxy answering 502: no version, no jobs API, and the probe itself does not raise.
    config = ServerConfig(port=0, speed=SPEED, api="current")
    async with EmbeddedServer(config) as server, ComfyUIClient(server.url) as c:
        server.faults.http_error = 502
        with pytest.raises(ServerResponseError):
            await c.get_system_stats()
        found = await capabilities(c)
        assert found.comfyui_version is None and not found.jobs_api and not found.targeted_cancel
