"""The CLI on both server generations: `stats` capabilities, `queue`/`history` through the jobs API
or /queue + /history, the named `interrupt`, and `run --only` (partial execution)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import free_port, invoke, progress_prompt, save_image_prompt, unique, write_workflow


@pytest.fixture(scope="module")
def current_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`comfy-reality server --api current` in its own process (also tests the option)."""
    port = free_port()
    log = tmp_path_factory.mktemp("current") / "server.txt"
    with log.open("wb") as output:
        command = [sys.executable, "-m", "comfy_reality.cli", "server", "--port", str(port)]
        proc = subprocess.Popen(
            [*command, "--speed", "50", "--api", "current"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            try:
                if httpx.get(f"{url}/api/jobs", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the current-mode server did not answer"
            time.sleep(0.05)
        assert "API current" in log.read_text(errors="replace")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(params=["0.3.64", "current"])
def any_url(request: pytest.FixtureRequest, server_url: str) -> str:
    if request.param == "current":
        return str(request.getfixturevalue("current_url"))
    return server_url


def post(url: str, prompt: dict[str, Any]) -> str:
    response = httpx.post(f"{url}/prompt", json={"prompt": prompt, "client_id": "cli-newer"})
    response.raise_for_status()
    return str(response.json()["prompt_id"])


def wait_until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def finished(url: str, prompt_id: str) -> bool:
    return prompt_id in httpx.get(f"{url}/history/{prompt_id}").json()


def test_stats_shows_the_capabilities(any_url: str) -> None:
    data = json.loads(invoke("stats", "--server", any_url, "--json").stdout)
    caps = data["capabilities"]
    newer = data["system"]["comfyui_version"] != "0.3.64"
    assert caps["jobs_api"] is newer and caps["targeted_cancel"] is newer
    assert caps["partial_execution"] is True and caps["comfyui_version"] == data["system"]["comfyui_version"]
    table = invoke("stats", "--server", any_url)
    assert "Capabilities" in table.stdout and "targeted_cancel" in table.stdout
    assert ("yes" if newer else "no") in table.stdout


def test_queue_lists_through_the_best_path(any_url: str) -> None:
    newer = json.loads(invoke("stats", "--server", any_url, "--json").stdout)["capabilities"]["jobs_api"]
    slow = post(any_url, progress_prompt(steps=20_000, delay=0.5, color=unique()))
    waiting = post(any_url, save_image_prompt(unique()))
    try:
        wait_until(lambda: [i[1] for i in httpx.get(f"{any_url}/queue").json()["queue_running"]] == [slow])
        data = json.loads(invoke("queue", "--server", any_url, "--json").stdout)
        assert data["source"] == ("jobs" if newer else "queue")
        assert [i["prompt_id"] for i in data["running"]] == [slow]
        assert [i["prompt_id"] for i in data["pending"]] == [waiting]
        if newer:
            assert data["pending"][0]["created_at"].endswith("+00:00")
        human = invoke("queue", "--server", any_url)
        assert "1 running, 1 pending" in human.stdout and ("Queued at" if newer else "Nodes") in human.stdout
        stopped = json.loads(invoke("interrupt", "--server", any_url, "--json").stdout)
        assert stopped["interrupted"] == slow
        wait_until(lambda: finished(any_url, slow))
    finally:
        httpx.post(f"{any_url}/interrupt", json={})
    wait_until(lambda: finished(any_url, waiting))
    page = json.loads(invoke("history", "--server", any_url, "--json", "--limit", "2").stdout)
    entries = {e["prompt_id"]: e for e in page["history"]}
    assert entries[slow]["status"] == "interrupted" and entries[waiting]["status"] == "success"
    assert entries[waiting]["outputs"] and entries[waiting]["outputs_count"] == 1


def test_history_pages(any_url: str) -> None:
    ids = [post(any_url, save_image_prompt(unique())) for _ in range(3)]
    wait_until(lambda: all(finished(any_url, i) for i in ids))
    first = json.loads(invoke("history", "--server", any_url, "--json", "--limit", "2").stdout)
    second = json.loads(
        invoke("history", "--server", any_url, "--json", "--limit", "1", "--offset", "2").stdout
    )
    assert [e["prompt_id"] for e in first["history"]] == ids[::-1][:2]
    assert [e["prompt_id"] for e in second["history"]] == [ids[0]]
    assert first["pagination"]["has_more"] is True and first["source"] in ("jobs", "history")
    if first["source"] == "jobs":
        assert first["pagination"]["total"] >= 3
    human = invoke("history", "--server", any_url, "--limit", "1", "--offset", "2")
    assert "after the newest 2" in human.stdout and ids[0][:8] in human.stdout


def two_outputs(prefix: str) -> dict[str, Any]:
    prompt = save_image_prompt(unique(), prefix=prefix)
    prompt["2"]["_meta"] = {"title": "Keep this"}
    prompt["3"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["1", 0], "filename_prefix": f"{prefix}_other"},
        "_meta": {"title": "Other output"},
    }
    return prompt


@pytest.mark.parametrize("selector", ["3", "other OUTPUT"])
def test_run_only_runs_the_chosen_output(any_url: str, tmp_path: Path, selector: str) -> None:
    workflow = write_workflow(tmp_path, "two", two_outputs("only"))
    out = tmp_path / "out"
    args = ["run", "--server", any_url, "--no-journal", "--output-dir", str(out), "--only", selector]
    result = invoke(*args, str(workflow))
    assert result.exit_code == 0, result.stderr
    [execution] = result.executions()
    assert [Path(p).name.startswith("only_other") for p in execution["outputs"]] == [True]
    history = httpx.get(f"{any_url}/history/{execution['prompt_id']}").json()[execution["prompt_id"]]
    assert list(history["outputs"]) == ["3"]


def test_run_only_refuses_a_node_that_is_not_an_output(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "two", two_outputs("refused"))
    result = invoke("run", "--server", server_url, "--no-journal", "--only", "1", str(workflow))
    assert result.exit_code == 2
    assert "node 1 (EmptyImage) is not an output node" in result.stderr
    assert "Output nodes: 2 (Keep this, SaveImage), 3 (Other output, SaveImage)" in result.stderr
    unknown = invoke("run", "--server", server_url, "--no-journal", "--only", "nope", str(workflow))
    assert unknown.exit_code == 2 and "no node has that id or title" in unknown.stderr
    assert httpx.get(f"{server_url}/queue").json()["queue_pending"] == []
