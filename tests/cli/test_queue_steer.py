"""`queue` (owners), `queue delete / clear / move`, `rerun` and `history save` against the embedded server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfy_reality.journal import Journal

from .conftest import invoke, progress_prompt, save_image_prompt, unique, write_workflow
from .test_commands import running_ids, wait_until

WEB_UI = "web-ui-in-a-browser"


def post(
    server_url: str, prompt: dict[str, Any], client_id: str = WEB_UI, graph_id: str | None = None
) -> str:
    body: dict[str, Any] = {"prompt": prompt, "client_id": client_id}
    if graph_id is not None:
        body["extra_data"] = {"extra_pnginfo": {"workflow": {"id": graph_id, "nodes": [], "links": []}}}
    response = httpx.post(f"{server_url}/prompt", json=body)
    response.raise_for_status()
    return str(response.json()["prompt_id"])


def pending_ids(server_url: str) -> list[str]:
    data = json.loads(invoke("queue", "--server", server_url, "--json").stdout)
    return [item["prompt_id"] for item in data["pending"]]


def in_history(server_url: str, prompt_id: str) -> bool:
    return prompt_id in httpx.get(f"{server_url}/history/{prompt_id}").json()


def journal_client_ids() -> set[str]:
    async def read() -> set[str]:
        journal = await Journal.open()
        try:
            return {e.client_id for e in await journal.list_executions() if e.client_id}
        finally:
            await journal.close()

    return asyncio.run(read())


@pytest.fixture
def busy(server_url: str) -> Any:
    """A long prompt running, so everything posted meanwhile stays pending; interrupted afterwards."""
    slow = post(server_url, progress_prompt(steps=20_000, delay=0.5, color=unique()), client_id="cli-tests")
    wait_until(lambda: running_ids(server_url) == [slow])
    yield slow
    httpx.post(f"{server_url}/queue", json={"delete": pending_ids(server_url)})
    httpx.post(f"{server_url}/interrupt", json={"prompt_id": slow})
    wait_until(lambda: in_history(server_url, slow))


def test_queue_shows_owners_and_move_keeps_the_prompt_id(server_url: str, busy: str, tmp_path: Path) -> None:
    a = post(server_url, save_image_prompt(unique()), graph_id="aaaaaaaa-graph")
    b = post(server_url, save_image_prompt(unique()))
    c = post(server_url, save_image_prompt(unique()))

    data = json.loads(invoke("queue", "--server", server_url, "--json").stdout)
    assert [i["prompt_id"] for i in data["running"]] == [busy]
    rows = {i["prompt_id"]: i for i in data["pending"]}
    assert [rows[p]["position"] for p in (a, b, c)] == [1, 2, 3]
    assert rows[a]["owner"] == "other client" and rows[a]["client_id"] == WEB_UI
    assert rows[a]["workflow_name"] == "workflow aaaaaaaa" and rows[a]["nodes"] == 2
    human = invoke("queue", "--server", server_url)
    assert (
        "Owner" in human.stdout and "other client" in human.stdout and "1 running, 3 pending" in human.stdout
    )

    moved = invoke("queue", "move", c, "--front", "--server", server_url, "--json")
    assert moved.exit_code == 0, moved.stderr
    assert json.loads(moved.stdout)["outcome"] == "moved"
    assert pending_ids(server_url) == [c, a, b]
    assert invoke("queue", "--server", server_url, "move", a, "--after", b).exit_code == 0
    assert pending_ids(server_url) == [c, b, a]
    before = invoke("queue", "move", a, "--before", c, "--server", server_url)
    assert before.exit_code == 0 and "same prompt id" in before.stdout
    assert pending_ids(server_url) == [a, c, b]
    running = invoke("queue", "move", busy, "--front", "--server", server_url)
    assert running.exit_code == 1 and "already running" in running.stderr
    usage = invoke("queue", "move", a, "--front", "--after", b, "--server", server_url)
    assert usage.exit_code == 2 and "exactly one" in usage.stderr


def test_delete_and_clear_only_this_apps_prompts(
    server_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # A finished `run` leaves this app's client id in the journal: another instance of the app.
    workflow = str(write_workflow(tmp_path, "w", save_image_prompt(unique())))
    done = invoke("run", "--server", server_url, "--output-dir", str(tmp_path / "out"), workflow)
    assert done.exit_code == 0, done.stderr
    [app_client] = journal_client_ids()
    busy = request.getfixturevalue("busy")
    theirs_1 = post(server_url, save_image_prompt(unique()))
    ours = post(server_url, save_image_prompt(unique()), client_id=app_client)
    theirs_2 = post(server_url, save_image_prompt(unique()))

    listed = json.loads(invoke("queue", "--server", server_url, "--json").stdout)
    owners = {i["prompt_id"]: i["owner"] for i in listed["pending"]}
    assert owners == {theirs_1: "other client", ours: "this app (other instance)", theirs_2: "other client"}

    deleted = invoke("queue", "delete", theirs_1, "--server", server_url, "--json")
    assert deleted.exit_code == 0 and json.loads(deleted.stdout)["deleted"] == [theirs_1]
    left_alone = invoke("queue", "delete", busy, "--server", server_url)
    assert left_alone.exit_code == 1 and "left alone" in left_alone.stdout

    refused = invoke("queue", "clear", "--mine", "--server", server_url)
    assert refused.exit_code == 2 and "without confirmation" in refused.stderr and "--yes" in refused.stderr
    assert pending_ids(server_url) == [ours, theirs_2]

    mine = invoke("queue", "clear", "--mine", "--yes", "--server", server_url, "--json")
    assert json.loads(mine.stdout)["deleted"] == [ours]
    assert pending_ids(server_url) == [theirs_2]
    everything = invoke("queue", "clear", "--yes", "--server", server_url, "--json")
    assert json.loads(everything.stdout)["deleted"] == [theirs_2]
    assert pending_ids(server_url) == [] and running_ids(server_url) == [busy]


def test_rerun_with_edits_and_history_save(server_url: str, tmp_path: Path) -> None:
    color = unique()
    original = post(server_url, progress_prompt(steps=2, delay=0.01, color=color), graph_id="bbbbbbbb-graph")
    wait_until(lambda: in_history(server_url, original))

    saved = tmp_path / "saved.json"
    result = invoke("history", "--server", server_url, "save", original, str(saved))
    assert result.exit_code == 0, result.stderr
    assert json.loads(saved.read_text()) == progress_prompt(steps=2, delay=0.01, color=color)
    again = invoke("history", "--server", server_url, "save", original, str(saved))
    assert again.exit_code == 2 and "--force" in again.stderr
    ui = tmp_path / "graph.json"
    assert invoke("history", "save", "--ui", original, str(ui), "--server", server_url).exit_code == 0
    assert json.loads(ui.read_text())["id"] == "bbbbbbbb-graph"

    rerun = invoke(
        "rerun",
        original,
        "--server",
        server_url,
        "--output-dir",
        str(tmp_path / "out"),
        "--set",
        "2.steps=3",
        "--set",
        f"1.color={color + 1}",
    )
    assert rerun.exit_code == 0, rerun.stderr
    [line] = rerun.executions()
    assert line["status"] == "completed" and line["prompt_id"] != original
    entry = httpx.get(f"{server_url}/history/{line['prompt_id']}").json()[line["prompt_id"]]
    assert entry["prompt"][2]["2"]["inputs"]["steps"] == 3
    assert entry["prompt"][2]["1"]["inputs"]["color"] == color + 1
    assert entry["prompt"][3]["extra_pnginfo"]["workflow"]["id"] == "bbbbbbbb-graph"  # the graph went along

    bad = invoke("rerun", original, "--server", server_url, "--set", "2.steps=-5")
    assert bad.exit_code == 2 and "2.steps" in bad.stderr
    missing = invoke("rerun", "no-such-prompt", "--server", server_url)
    assert missing.exit_code != 0 and "no prompt no-such-prompt" in missing.stderr
