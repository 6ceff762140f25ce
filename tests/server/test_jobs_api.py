"""Conformance of the embedded server's ``--api current`` mode with the newer ComfyUI source.

Each test names the source it follows (Comfy-Org/ComfyUI, read through the code index):
server.py @ 002c3fb9 (routes), comfy_execution/jobs.py @ dfb874a6 (shapes, cancel rules),
execution.py @ 04e2a914 (validate_prompt's partial_execution_list, interrupt_if_running).
The 0.3.64 mode must not have any of it (the recorded transcripts have none).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from comfy_reality.server import EmbeddedServer, ServerConfig
from tests.server.conftest import FAST_SPEED


def graph(steps: int = 3, delay: float = 0.05, nonce: int = 0) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": nonce},
        },
        "2": {
            "class_type": "RealityProgress",
            "inputs": {"image": ["1", 0], "steps": steps, "delay": delay, "nonce": nonce},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "jobs"}},
    }


def failing(nonce: int) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": nonce},
        },
        "2": {"class_type": "RealityFail", "inputs": {"image": ["1", 0], "message": "jobs boom"}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


@pytest.fixture
async def current() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(host="127.0.0.1", port=0, speed=FAST_SPEED, api="current")
    async with EmbeddedServer(config) as server:
        yield server


async def post(http: httpx.AsyncClient, prompt: dict[str, Any], **body: Any) -> str:
    r = await http.post("/prompt", json={"prompt": prompt, **body})
    assert r.status_code == 200, r.text
    return str(r.json()["prompt_id"])


async def wait_job(http: httpx.AsyncClient, job_id: str, *statuses: str) -> dict[str, Any]:
    for _ in range(4000):
        r = await http.get(f"/api/jobs/{job_id}")
        if r.status_code == 200 and r.json()["status"] in statuses:
            return r.json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.005)
    raise AssertionError(f"{job_id} never reached {statuses}")


async def test_empty_list_shape(current: EmbeddedServer) -> None:
    # server.py get_jobs: {"jobs": [...], "pagination": {offset, limit, total, has_more}}
    async with httpx.AsyncClient(base_url=current.url) as http:
        r = await http.get("/api/jobs")
        assert r.status_code == 200
        assert r.json() == {
            "jobs": [],
            "pagination": {"offset": 0, "limit": None, "total": 0, "has_more": False},
        }
        # every route gets an /api twin, so the /api/jobs routes answer under /api/api too
        assert (await http.get("/api/api/jobs")).status_code == 200


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"status": "done"}, "Invalid status value(s): done. Valid values: "),
        ({"sort_by": "name"}, "sort_by must be 'created_at' or 'execution_duration'"),
        ({"sort_order": "up"}, "sort_order must be 'asc' or 'desc'"),
        ({"limit": "0"}, "limit must be a positive integer"),
        ({"limit": "x"}, "limit must be an integer"),
        ({"offset": "x"}, "offset must be an integer"),
    ],
)
async def test_list_rejects_bad_parameters_with_the_servers_messages(
    current: EmbeddedServer, query: dict[str, str], error: str
) -> None:
    # server.py get_jobs: each check answers 400 {"error": "..."}
    async with httpx.AsyncClient(base_url=current.url) as http:
        r = await http.get("/api/jobs", params=query)
        assert r.status_code == 400
        assert r.json()["error"].startswith(error)


async def test_finished_jobs_in_list_and_detail(current: EmbeddedServer) -> None:
    # jobs.py normalize_history_item (list: summary only; detail: outputs, workflow, execution_status)
    async with httpx.AsyncClient(base_url=current.url) as http:
        ok = await post(http, graph(nonce=1), extra_data={"preview_method": "taesd"})
        bad = await post(http, failing(2))
        done = await wait_job(http, ok, "completed")
        failed = await wait_job(http, bad, "failed")
        listed = {job["id"]: job for job in (await http.get("/api/jobs")).json()["jobs"]}
        summary = listed[ok]
        assert summary["status"] == "completed" and summary["outputs_count"] == 1
        assert (
            summary["preview_output"]["nodeId"] == "3" and summary["preview_output"]["mediaType"] == "images"
        )
        assert summary["preview_output"]["type"] == "output"
        assert summary["execution_end_time"] >= summary["execution_start_time"] > 0
        assert isinstance(summary["create_time"], int) and summary["priority"] == 0
        assert "outputs" not in summary and "workflow" not in summary
        # the per-prompt preview_method is taken and kept in extra_data, as the newer server does
        assert done["workflow"]["extra_data"]["preview_method"] == "taesd"
        assert done["workflow"]["prompt"]["3"]["class_type"] == "SaveImage"
        assert done["outputs"]["3"]["images"][0]["filename"].startswith("jobs")
        assert done["execution_status"]["status_str"] == "success"
        assert failed["execution_error"]["exception_message"].strip() == "jobs boom"
        assert failed["has_errors"] is True
        missing = await http.get(f"/api/jobs/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.json() == {"error": "Job not found"}


async def test_status_filter_sort_and_pagination(current: EmbeddedServer) -> None:
    # jobs.py get_all_jobs: filter, sort by create_time desc, then offset/limit; has_more in server.py
    async with httpx.AsyncClient(base_url=current.url) as http:
        ids = [await post(http, graph(steps=1, nonce=10 + i)) for i in range(3)]
        for job_id in ids:
            await wait_job(http, job_id, "completed")
        first = (await http.get("/api/jobs", params={"status": "completed", "limit": 2})).json()
        assert [j["id"] for j in first["jobs"]] == ids[::-1][:2]
        assert first["pagination"] == {"offset": 0, "limit": 2, "total": 3, "has_more": True}
        rest = (await http.get("/api/jobs", params={"status": "completed", "limit": 2, "offset": 2})).json()
        assert [j["id"] for j in rest["jobs"]] == [ids[0]] and rest["pagination"]["has_more"] is False
        oldest = (await http.get("/api/jobs", params={"sort_order": "asc", "limit": 1, "offset": -3})).json()
        assert oldest["jobs"][0]["id"] == ids[0] and oldest["pagination"]["offset"] == 0
        assert (await http.get("/api/jobs", params={"status": "failed,cancelled"})).json()["jobs"] == []


async def test_cancel_pending_running_finished_and_unknown(current: EmbeddedServer) -> None:
    # server.py cancel_job_by_id + jobs.py cancel_job: running -> interrupt, pending -> dequeue,
    # terminal/unknown -> {"cancelled": false}; idempotent
    async with httpx.AsyncClient(base_url=current.url) as http:
        slow = await post(http, graph(steps=100_000, delay=0.5, nonce=20))
        waiting = await post(http, graph(nonce=21))
        await wait_job(http, slow, "in_progress")
        listed = (await http.get("/api/jobs", params={"status": "in_progress,pending"})).json()["jobs"]
        assert {j["id"]: j["status"] for j in listed} == {slow: "in_progress", waiting: "pending"}
        assert listed[0]["outputs_count"] == 0 and "preview_output" not in listed[0]

        assert (await http.post(f"/api/jobs/{waiting}/cancel")).json() == {"cancelled": True}
        assert waiting not in [item[1] for item in (await http.get("/queue")).json()["queue_pending"]]
        assert (await http.post(f"/api/jobs/{waiting}/cancel")).json() == {"cancelled": False}

        assert (await http.post(f"/api/jobs/{slow}/cancel")).json() == {"cancelled": True}
        cancelled = await wait_job(http, slow, "cancelled")  # interrupted: "cancelled", not "failed"
        assert cancelled["execution_status"]["status_str"] == "error"
        assert (await http.post(f"/api/jobs/{slow}/cancel")).json() == {"cancelled": False}
        assert (await http.post(f"/api/jobs/{uuid.uuid4()}/cancel")).json() == {"cancelled": False}


async def test_targeted_cancel_never_stops_another_prompt(current: EmbeddedServer) -> None:
    # execution.py interrupt_if_running: only the job named, only while it runs
    async with httpx.AsyncClient(base_url=current.url) as http:
        slow = await post(http, graph(steps=40, delay=0.05, nonce=30))
        other = await post(http, graph(steps=1, nonce=31))
        await wait_job(http, slow, "in_progress")
        assert (await http.post(f"/api/jobs/{other}/cancel")).json() == {"cancelled": True}  # dequeued
        assert (await wait_job(http, slow, "completed", "cancelled"))["status"] == "completed"


async def test_batch_cancel(current: EmbeddedServer) -> None:
    # server.py cancel_jobs_batch: body checks (400s), then best-effort over every id
    async with httpx.AsyncClient(base_url=current.url) as http:
        assert (await http.post("/api/jobs/cancel", json={"job_ids": []})).json() == {"cancelled": False}
        not_json = await http.post("/api/jobs/cancel", content=b"{")
        assert not_json.status_code == 400 and not_json.json() == {"error": "Request body must be valid JSON"}
        not_list = await http.post("/api/jobs/cancel", json={"job_ids": "x"})
        assert not_list.status_code == 400 and not_list.json() == {"error": "job_ids must be a list"}
        upper = str(uuid.uuid4()).upper()
        invalid = await http.post("/api/jobs/cancel", json={"job_ids": [upper, 7]})
        assert invalid.status_code == 400
        assert invalid.json() == {"error": "job_ids contains invalid id(s)", "invalid_ids": [upper, "7"]}
        slow = await post(http, graph(steps=100_000, delay=0.5, nonce=40))
        waiting = await post(http, graph(nonce=41))
        await wait_job(http, slow, "in_progress")
        r = await http.post("/api/jobs/cancel", json={"job_ids": [slow, waiting, str(uuid.uuid4())]})
        assert r.json() == {"cancelled": True}
        assert (await wait_job(http, slow, "cancelled"))["status"] == "cancelled"
        assert (await http.get(f"/api/jobs/{waiting}")).status_code == 404  # dequeued, never ran


@pytest.mark.parametrize(
    "prompt_id", ["my-run-1", str(uuid.uuid4()).upper(), uuid.uuid4().hex, 12, "{" + str(uuid.uuid4()) + "}"]
)
async def test_client_prompt_id_must_be_a_canonical_uuid(current: EmbeddedServer, prompt_id: Any) -> None:
    # server.py post_prompt: validate_job_id failure -> 400 invalid_prompt_id, nothing queued
    async with httpx.AsyncClient(base_url=current.url) as http:
        r = await http.post("/prompt", json={"prompt": graph(), "prompt_id": prompt_id})
        assert r.status_code == 400
        error = r.json()
        assert error["node_errors"] == {}
        assert error["error"]["type"] == "invalid_prompt_id"
        assert error["error"]["message"] == "prompt_id must be a valid UUID"
        assert "canonical lowercase hyphenated form" in error["error"]["details"]
        assert error["error"]["extra_info"] == {}
        assert (await http.get("/api/jobs")).json()["jobs"] == []


async def test_canonical_or_absent_prompt_ids_are_accepted(current: EmbeddedServer) -> None:
    # server.py post_prompt: absent or null -> the server mints str(uuid4()); canonical -> kept
    async with httpx.AsyncClient(base_url=current.url) as http:
        chosen = str(uuid.uuid4())
        assert await post(http, graph(nonce=50), prompt_id=chosen) == chosen
        minted = await post(http, graph(nonce=51), prompt_id=None)
        assert str(uuid.UUID(minted)) == minted
        await wait_job(http, minted, "completed")


async def test_system_stats_and_features_say_which_generation(current: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=current.url) as http:
        stats = (await http.get("/system_stats")).json()
        assert stats["system"]["comfyui_version"] == "0.38.1"  # comfyui_version.py @ 20ca544e
        features = (await http.get("/features")).json()  # comfy_api/feature_flags.py @ 1924b05e
        assert features["supports_preview_metadata"] is True and features["node_replacements"] is True


async def test_the_0_3_64_mode_has_none_of_it(embedded_server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.url) as http:
        assert (await http.get("/api/jobs")).status_code == 404
        assert (await http.post("/api/jobs/cancel", json={"job_ids": []})).status_code == 404
        # 0.3.64 took any client-chosen prompt_id (03_validation_errors transcript)
        assert await post(http, graph(nonce=60), prompt_id="my-run-1") == "my-run-1"
        stats = (await http.get("/system_stats")).json()
        assert stats["system"]["comfyui_version"] == "0.3.64"
        assert "node_replacements" not in (await http.get("/features")).json()


@pytest.mark.parametrize("api", ["0.3.64", "current"])
async def test_partial_execution_targets_in_both_modes(api: str) -> None:
    # execution.py validate_prompt: an output node runs only if partial_execution_list is None or has it
    prompt = graph(steps=1, nonce=70)
    prompt["4"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    config = ServerConfig(host="127.0.0.1", port=0, speed=FAST_SPEED, api=api)  # type: ignore[arg-type]
    async with EmbeddedServer(config) as server, httpx.AsyncClient(base_url=server.url) as http:
        prompt_id = await post(http, prompt, partial_execution_targets=["4"], prompt_id=str(uuid.uuid4()))
        for _ in range(4000):
            history = (await http.get(f"/history/{prompt_id}")).json()
            if history:
                break
            await asyncio.sleep(0.005)
        entry = history[prompt_id]
        assert list(entry["outputs"]) == ["4"] and entry["prompt"][4] == ["4"]
