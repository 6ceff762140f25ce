"""On start, unfinished executions are followed again, filled in from /history, or marked lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from comfy_reality.journal import Journal, queue_prompt_ids, server_history_result
from comfy_reality.runtime import TaskStatus

from ..conftest import PROTOCOL_FIXTURES
from .fakes import FakeRuntime


def recorded_history(scenario: str) -> tuple[str, dict[str, Any]]:
    """The first GET /history/{id} answer with an entry in a recorded transcript."""
    for line in (PROTOCOL_FIXTURES / scenario).read_text().splitlines():
        record = json.loads(line)
        if (
            record.get("dir") == "http"
            and record.get("path", "").startswith("/history/")
            and record.get("json")
        ):
            prompt_id, entry = next(iter(record["json"].items()))
            return prompt_id, entry
    raise AssertionError(f"no history entry in {scenario}")


async def previous_session(path: Path, *prompt_ids: str | None) -> dict[str | None, str]:
    """An app run that queued prompts and died before they finished; returns prompt_id -> row id."""
    journal = await Journal.open(path)
    runtime = FakeRuntime(client_id="client-old")
    journal.attach(runtime)
    ids: dict[str | None, str] = {}
    for prompt_id in prompt_ids:
        execution = runtime.new_execution(prompt_id=prompt_id or "placeholder")
        if prompt_id is None:
            execution.prompt_id = None
        else:
            runtime.run_node(execution, "1")
        ids[prompt_id] = execution.id
    await journal.close()
    return ids


async def test_reconcile_follows_finishes_and_marks_lost(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    ok_id, ok_entry = recorded_history("01_success.jsonl")
    bad_id, bad_entry = recorded_history("04_runtime_error.jsonl")
    ids = await previous_session(path, "p-running", "p-pending", ok_id, bad_id, "p-gone")

    journal = await Journal.open(path)
    runtime = FakeRuntime(client_id="client-new")
    runtime.client.queue = {
        "queue_running": [[7, "p-running", {}, {"client_id": "client-old"}, ["3"]]],
        "queue_pending": [[8, "p-pending", {}, {"client_id": "client-old"}, ["3"]]],
    }
    runtime.client.history = {ok_id: ok_entry, bad_id: bad_entry}
    try:
        journal.attach(runtime)
        report = await journal.reconcile(runtime)
        assert sorted(e.prompt_id or "" for e in report.followed) == ["p-pending", "p-running"]
        assert {a["client_id"] for a in runtime.attached} == {"client-old"}
        assert all(a["prompt"] for a in runtime.attached)  # the recorded prompt is handed back
        assert sorted(report.finished) == sorted([ids[ok_id], ids[bad_id]])
        assert report.lost == [ids["p-gone"]]
        assert "2 followed again" in report.summary and "1 lost" in report.summary

        ok = await journal.get(ok_id)
        assert ok is not None and ok.status is TaskStatus.COMPLETED
        assert {f.filename for f in ok.output_files} == {
            "reality_success_00003_.png",
            "ComfyUI_temp_qpkjk_00001_.png",
        }
        bad = await journal.get(bad_id)
        assert bad is not None and bad.status is TaskStatus.FAILED
        assert (
            bad.error is not None and bad.error.node_id == "3" and bad.error.exception_type == "RuntimeError"
        )
        assert next(n for n in bad.nodes if n.node_id == "3").status is TaskStatus.FAILED
        assert next(n for n in bad.nodes if n.node_id == "2").status is TaskStatus.COMPLETED

        gone = await journal.get("p-gone")
        assert gone is not None and gone.lost and gone.display_status == "lost"
        assert gone.status is TaskStatus.CANCELLED
        assert gone.status_detail is not None
        assert "no longer knows prompt p-gone" in gone.status_detail and "restarted" in gone.status_detail
        assert all(n.status.is_final for n in gone.nodes)
        assert [e.id for e in await journal.list_executions(status="lost")] == [ids["p-gone"]]

        # The followed prompts finish live and land in their original rows: no duplicates.
        for execution in report.followed:
            runtime.complete(execution)
        await journal.flush()
        entries = await journal.list_executions()
        assert len(entries) == 5
        running = await journal.get("p-running")
        assert running is not None and running.id == ids["p-running"]
        assert running.status is TaskStatus.COMPLETED

        # A second reconcile finds nothing left to do.
        again = await journal.reconcile(runtime)
        assert not (again.followed or again.finished or again.lost)
    finally:
        await journal.close()


async def test_a_prompt_never_confirmed_by_the_server_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    ids = await previous_session(path, None)
    journal = await Journal.open(path)
    runtime = FakeRuntime()
    try:
        report = await journal.reconcile(runtime)
        assert report.lost == [ids[None]]
        entry = await journal.get(ids[None])
        assert entry is not None and entry.lost
        assert entry.status_detail is not None and "before the server confirmed" in entry.status_detail
    finally:
        await journal.close()


async def test_an_unreachable_server_leaves_executions_untouched(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    ids = await previous_session(path, "p-1")
    journal = await Journal.open(path)
    runtime = FakeRuntime()
    runtime.client.unreachable = True
    try:
        report = await journal.reconcile(runtime)
        assert report.unreachable is not None and "Cannot reach ComfyUI" in report.unreachable
        assert "could not check" in report.summary
        entry = await journal.get(ids["p-1"])
        assert entry is not None and entry.status is TaskStatus.RUNNING and not entry.lost
    finally:
        await journal.close()


async def test_reconcile_only_touches_its_own_server(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    await previous_session(path, "p-elsewhere")
    journal = await Journal.open(path)
    runtime = FakeRuntime(server_url="http://another-server:8188")
    try:
        report = await journal.reconcile(runtime)
        assert not (report.followed or report.finished or report.lost)
        assert runtime.client.history_calls == []
    finally:
        await journal.close()


def test_history_of_an_interrupted_prompt_is_cancelled() -> None:
    prompt_id, entry = recorded_history("05_interrupt.jsonl")
    result = server_history_result(entry, prompt_id)
    assert result is not None
    assert result.status is TaskStatus.CANCELLED
    assert result.node_states["2"][0] is TaskStatus.CANCELLED
    assert result.node_states["1"][0] is TaskStatus.COMPLETED
    assert result.started_at is not None and result.completed_at is not None
    assert result.completed_at > result.started_at


@pytest.mark.parametrize(
    "entry",
    [
        None,
        5,
        "x",
        [],
        {"status": "weird"},
        {"status": {"messages": [[1, 2], "x", ["execution_error", 5]]}},
        {"outputs": {"9": {"images": [{"filename": 3}, "nope", {"filename": "ok.png", "subfolder": 7}]}}},
    ],
)
def test_history_parsing_survives_odd_entries(entry: Any) -> None:
    result = server_history_result(entry, "p")
    if result is not None:
        assert result.status in (TaskStatus.FAILED, TaskStatus.COMPLETED, TaskStatus.CANCELLED)
        assert all(isinstance(f.filename, str) and isinstance(f.subfolder, str) for f in result.output_files)


def test_queue_prompt_ids_reads_both_lists_and_ignores_junk() -> None:
    queue = {"queue_running": [[1, "a", {}, {}, []], "junk"], "queue_pending": [[2, "b"], [3, 4]], "x": 1}
    assert queue_prompt_ids(queue) == {"a", "b"}
    assert queue_prompt_ids({"queue_running": None}) == set()
