"""Legacy group-node workflows in the app, against the embedded server: run as the browser would,
and with ``correct_frontend_defects`` as they mean."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.config import Settings
from comfy_reality.runtime.models import ConnectionState, TaskStatus
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.state import ExecutionEntry
from comfy_reality.tui.widgets import WorkflowBrowser
from tests.conftest import FIXTURES

from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text
from .test_flows import history_prompt


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as running:
        yield running


def group_workflow(tmp_path: Path, case: str, name: str) -> Path:
    """A recorded group-node case, with the model the embedded server has, saved as a user's file."""
    workflow: dict[str, Any] = json.loads((FIXTURES / "group_nodes" / f"{case}.ui.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "CheckpointLoaderSimple":
            node["widgets_values"] = ["demo-sd15.safetensors"]
    folder = tmp_path / "my-workflows"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(workflow))
    return folder


def log_text(app: ComfyRealityApp) -> str:
    return " ".join(" ".join(strip.text for strip in app.log_pane.lines).split())


async def run_file(pilot: Any, app: ComfyRealityApp, name: str) -> ExecutionEntry:
    await wait_for(
        pilot,
        lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
        what="connection",
    )
    await wait_for(pilot, lambda: app.object_info is not None, what="object_info")
    await wait_for(pilot, lambda: any(wf.name == name for wf in app.workflow_files), what="workflow scan")
    browser = app.query_one(WorkflowBrowser)
    browser.option_list.focus()
    assert browser.highlight(name) is not None
    before = set(app.session.entries)
    await pilot.press("r")
    await wait_for(pilot, lambda: set(app.session.entries) - before, what=f"an execution of {name}")
    (new_id,) = set(app.session.entries) - before
    await wait_for(pilot, lambda: app.session.entries[new_id].status.is_final, 30, what="final state")
    return app.session.entries[new_id]


async def test_group_node_workflow_runs_with_the_frontends_inner_node_ids(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    folder = group_workflow(tmp_path, "edited_values", "sampler-group")
    app = ComfyRealityApp(
        Settings(server_url=server.url), bundled_dir=WORKFLOWS, workflow_dirs=[folder], frame_interval=0.005
    )
    async with app.run_test(size=(120, 36)) as pilot:
        entry = await run_file(pilot, app, "sampler-group")
        assert entry.status is TaskStatus.COMPLETED, entry.execution.error
        await wait_for_text(pilot, "#10:0")  # the inner KSampler, under the group instance's id
        received = await history_prompt(server, entry.execution.prompt_id or "")
        sampler = received["10:0"]["inputs"]
        assert (sampler["seed"], sampler["steps"], sampler["sampler_name"]) == (42, 7, "dpmpp_2m")
        assert received["9"]["inputs"]["images"] == ["10:1", 0]


async def test_frontend_defect_is_reproduced_unless_corrections_are_on(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    """A PrimitiveNode outside a group node: the browser drops the seed, so the server refuses it."""
    folder = group_workflow(tmp_path, "primitive_outside", "outer-seed")
    app = ComfyRealityApp(
        Settings(server_url=server.url), bundled_dir=WORKFLOWS, workflow_dirs=[folder], frame_interval=0.005
    )
    async with app.run_test(size=(160, 48)) as pilot:  # tall enough for the log pane
        entry = await run_file(pilot, app, "outer-seed")
        assert entry.status is TaskStatus.FAILED
        expected = "node 10:0 (KSampler): the web UI leaves input 'seed' unconnected (meant: 99)"
        await wait_for(pilot, lambda: expected in log_text(app), what="the defect in the log pane")
        await wait_for(
            pilot,
            lambda: "seed" in screen_text(app) and "missing" in screen_text(app).lower(),
            what="the server's reason on screen",
        )

    corrected = ComfyRealityApp(
        Settings(server_url=server.url, correct_frontend_defects=True),
        bundled_dir=WORKFLOWS,
        workflow_dirs=[folder],
        frame_interval=0.005,
    )
    async with corrected.run_test(size=(160, 48)) as pilot:
        entry = await run_file(pilot, corrected, "outer-seed")
        assert entry.status is TaskStatus.COMPLETED, entry.execution.error
        # Log lines are written in time order once settled (a fraction of a second).
        await wait_for(pilot, lambda: "completed" in log_text(corrected), what="the run in the log")
        assert "web UI" not in log_text(corrected)
        received = await history_prompt(server, entry.execution.prompt_id or "")
        assert received["10:0"]["inputs"]["seed"] == 99


def test_preview_names_group_nodes_and_subgraphs_instead_of_their_type_ids() -> None:
    from comfy_reality.tui.widgets.workflow_browser import workflow_nodes

    rows = workflow_nodes(json.loads((FIXTURES / "group_nodes" / "ksampler_decode.ui.json").read_text()))
    assert ("10", "group node Sample and decode (2 nodes)", None) in rows
    legacy = json.loads((FIXTURES / "group_nodes" / "legacy_slash_separator.ui.json").read_text())
    assert ("10", "group node Sample and decode (2 nodes)", None) in workflow_nodes(legacy)
    pair = FIXTURES / "conversion" / "pairs" / "3d_hunyuan3d-v2.1.ui.json"
    kinds = {kind for _, kind, _ in workflow_nodes(json.loads(pair.read_text()))}
    assert "subgraph Image to 3D (Hunyun3D 2.1) (8 nodes)" in kinds
