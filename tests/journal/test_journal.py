"""The journal records executions as they happen, off the event loop, and reads them back."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from comfy_reality import paths
from comfy_reality.journal import SCHEMA_VERSION, Journal, JournalError, JournalStore
from comfy_reality.runtime import TaskStatus

from .fakes import FakeRuntime


@pytest.fixture
async def journal(tmp_path: Path):
    j = await Journal.open(tmp_path / "journal.sqlite3", progress_interval=0.01)
    yield j
    await j.close()


async def test_open_defaults_to_the_app_journal_file() -> None:
    journal = await Journal.open()
    try:
        assert journal.path == paths.journal_file()
        assert journal.path.exists()
    finally:
        await journal.close()


async def test_records_an_execution_with_its_nodes_as_it_runs(journal: Journal) -> None:
    runtime = FakeRuntime()
    journal.attach(runtime)
    execution = runtime.new_execution()
    await journal.flush()
    entry = await journal.get(execution.id)
    assert entry is not None
    assert entry.status is TaskStatus.PENDING
    assert entry.prompt_id == execution.prompt_id
    assert entry.client_id == "client-live"
    assert entry.server_url == "http://fake:8188"
    assert entry.prompt == execution.prompt
    assert [n.node_id for n in entry.nodes] == ["1", "2", "3"]

    runtime.run_node(execution, "1")
    runtime.run_node(execution, "2", steps=500)
    await journal.flush()
    entry = await journal.get(execution.id)
    assert entry is not None
    assert entry.status is TaskStatus.RUNNING
    node2 = next(n for n in entry.nodes if n.node_id == "2")
    assert node2.status is TaskStatus.COMPLETED
    assert node2.value == 500 and node2.max == 500

    runtime.complete(execution)
    await journal.flush()
    entry = await journal.get(execution.prompt_id or "")
    assert entry is not None and entry.id == execution.id
    assert entry.status is TaskStatus.COMPLETED
    assert [f.filename for f in entry.output_files] == ["j_00001_.png"]
    assert entry.completed_at is not None and entry.completed_at.tzinfo is not None
    # 500 progress events were coalesced: far fewer rows than events reached the database.
    assert journal.stats.events > 500
    assert journal.stats.rows < journal.stats.events / 2


async def test_failure_and_retry_are_recorded(journal: Journal) -> None:
    runtime = FakeRuntime()
    journal.attach(runtime)
    first = runtime.new_execution(name="broken")
    runtime.run_node(first, "1")
    runtime.fail(first, "2", "RealityFail: boom")
    retry = runtime.new_execution(name="broken", retry_of=first.id)
    await journal.flush()
    failed = await journal.get(first.id)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert failed.error is not None and failed.error.exception_message == "RealityFail: boom"
    assert next(n for n in failed.nodes if n.node_id == "2").error == "RealityFail: boom"
    again = await journal.get(retry.id)
    assert again is not None and again.retry_of == first.id


async def test_writes_happen_on_the_writer_thread(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    original = journal._store.write_batch

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(journal._store, "write_batch", spy)
    runtime = FakeRuntime()
    journal.attach(runtime)
    runtime.new_execution()
    await journal.flush()
    assert threads and all(name.startswith("journal-writer") for name in threads)
    assert threading.current_thread().name not in threads


async def test_list_executions_filters(journal: Journal) -> None:
    runtime = FakeRuntime()
    other = FakeRuntime(server_url="http://other:8188/")
    journal.attach(runtime)
    journal.attach(other)
    cat = runtime.new_execution(name="a cat_portrait")
    runtime.complete(cat)
    dog = runtime.new_execution(name="dog 100%")
    runtime.fail(dog, "2", "out of memory")
    elsewhere = other.new_execution(name="remote")
    await journal.flush()

    assert [e.id for e in await journal.list_executions()] == [elsewhere.id, dog.id, cat.id]
    assert [e.id for e in await journal.list_executions(status="failed")] == [dog.id]
    assert [e.id for e in await journal.list_executions(status=[TaskStatus.COMPLETED, "failed"])] == [
        dog.id,
        cat.id,
    ]
    assert [e.id for e in await journal.list_executions(text="cat_")] == [cat.id]
    assert [e.id for e in await journal.list_executions(text="100%")] == [dog.id]
    assert [e.id for e in await journal.list_executions(text="memory")] == [dog.id]
    # "_" and "%" are literal characters, not LIKE wildcards
    assert await journal.list_executions(text="c_t") == []
    assert [e.id for e in await journal.list_executions(server="http://other:8188")] == [elsewhere.id]
    assert len(await journal.list_executions(limit=2)) == 2
    listed = (await journal.list_executions(text="remote"))[0]
    assert listed.prompt == {} and listed.nodes == [] and listed.node_count == 3
    full = (await journal.list_executions(text="remote", full=True))[0]
    assert full.prompt and len(full.nodes) == 3


async def test_a_second_execution_id_for_the_same_prompt_updates_the_same_row(journal: Journal) -> None:
    runtime = FakeRuntime()
    journal.attach(runtime)
    first = runtime.new_execution(prompt_id="prompt-shared")
    await journal.flush()
    again = await runtime.attach("prompt-shared", name="txt2img")
    runtime.complete(again)
    await journal.flush()
    rows = await journal.list_executions()
    assert len(rows) == 1
    assert rows[0].id == first.id
    assert rows[0].status is TaskStatus.COMPLETED


async def test_a_stale_snapshot_never_revives_a_finished_execution(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    execution = runtime.new_execution(prompt_id="p-final")
    slow = await Journal.open(tmp_path / "j.sqlite3")
    fast = await Journal.open(tmp_path / "j.sqlite3")
    try:
        fast.attach(runtime)
        runtime.complete(execution)
        await fast.flush()
        # An instance that still believes the prompt is running writes later.
        stale = FakeRuntime()
        stale_execution = stale.new_execution(prompt_id="p-final")
        stale_execution.status = TaskStatus.RUNNING
        slow.attach(stale)
        await slow.flush()
        entry = await fast.get("p-final")
        assert entry is not None and entry.status is TaskStatus.COMPLETED
        assert len(await fast.list_executions()) == 1
    finally:
        await slow.close()
        await fast.close()


async def test_close_writes_the_last_state(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = await Journal.open(path, progress_interval=60)
    runtime = FakeRuntime()
    journal.attach(runtime)
    execution = runtime.new_execution()
    await journal.flush()
    # A change made without any event (e.g. outputs filled in after the final event).
    execution.outputs = {"3": {"text": ["late"]}}
    await journal.close()
    store = JournalStore(path)
    try:
        entry = store.get(execution.id)
        assert entry is not None and entry.outputs == {"3": {"text": ["late"]}}
    finally:
        store.close()


async def test_schema_is_versioned(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    store = JournalStore(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.wal
    store.close()
    # Opening again does not re-run migrations or lose rows.
    store = JournalStore(path)
    assert store.count() == 0
    store.close()


async def test_a_journal_from_a_newer_version_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(JournalError) as info:
        await Journal.open(path)
    assert str(path) in str(info.value)
    assert "newer version" in str(info.value)


async def test_a_corrupt_journal_disables_recording_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    journal, warning = await Journal.open_or_disabled(path)
    assert journal is None
    assert warning is not None
    assert str(path) in warning
    assert "not a readable SQLite database" in warning
    assert "Move it aside" in warning
    assert path.read_bytes().startswith(b"this is not sqlite")  # never destroyed


async def test_a_locked_journal_gives_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    JournalStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        journal, warning = await Journal.open_or_disabled(path, busy_timeout=0.05)
        assert journal is None
        assert warning is not None and "locked" in warning and str(path) in warning
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_failing_disk_turns_recording_off_without_crashing(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(journal._store, "write_batch", broken)
    runtime = FakeRuntime()
    journal.attach(runtime)
    execution = runtime.new_execution()
    await journal.flush()
    assert journal.error is not None
    assert "disk is full" in journal.error and str(journal.path) in journal.error
    runtime.complete(execution)  # further events are ignored, nothing raises
    await journal.flush()


async def test_bursts_of_executions_are_all_recorded_in_few_batches(journal: Journal) -> None:
    runtime = FakeRuntime()
    journal.attach(runtime)
    for _ in range(50):
        execution = runtime.new_execution()
        runtime.run_node(execution, "2", steps=50)
        runtime.complete(execution)
    await journal.flush()
    entries = await journal.list_executions()
    assert len(entries) == 50
    assert all(e.status is TaskStatus.COMPLETED for e in entries)
    # Everything happened between two awaits: it was written as one coalesced batch.
    assert journal.stats.batches <= 2
    assert journal.stats.max_backlog == 50


async def test_hostile_values_are_stored_without_disabling_the_journal(journal: Journal) -> None:
    runtime = FakeRuntime()
    journal.attach(runtime)
    prompt = {"1": {"class_type": "Bad\ud800Name", "inputs": {"x": float("nan")}}}
    execution = runtime.new_execution(prompt, name="name with \udcff surrogate")
    node = runtime.node(execution, "1")
    node.value, node.max = float("nan"), float("inf")
    execution.outputs = {"1": {"text": ["\ud83d broken emoji half", "x" * 10_000_000]}}
    runtime.task_manager.update(node.id, status_detail="odd \x00 nul")
    await journal.flush()
    assert journal.error is None
    entry = await journal.get(execution.id)
    assert entry is not None
    assert entry.name == "name with \ufffd surrogate"
    stored = entry.nodes[0]
    assert stored.value is None and stored.max is None
    assert stored.class_type == "Bad\ufffdName"
    assert "_journal_omitted" in entry.outputs  # a 10 MB output is not copied into the journal


async def test_bookkeeping_stays_bounded_over_a_long_session(journal: Journal) -> None:
    runtime = FakeRuntime()
    journal.attach(runtime)
    for _ in range(600):
        execution = runtime.new_execution()
        runtime.complete(execution)
    await journal.flush()
    assert len(await journal.list_executions(limit=1000)) == 600
    # Finished executions leave the journal's in-memory state; only a bounded tail is kept.
    assert journal._seen == {}
    assert len(journal._recent_final) <= 256
    assert journal._written_prompt == set()


async def test_a_large_backlog_is_written_in_bounded_batches(journal: Journal) -> None:
    runtime = FakeRuntime()
    journal.attach(runtime)
    for _ in range(250):
        runtime.new_execution()
    await journal.flush()
    assert len(await journal.list_executions(limit=1000)) == 250
    assert journal.stats.batches >= 3  # at most MAX_BATCH executions snapshotted per pass


async def test_a_busy_database_is_retried_without_losing_rows(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = journal._store.write_batch
    calls = 0

    def busy_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise JournalError(
                journal.path, "the database is locked by another program (database is locked)", ""
            )
        return original(*args, **kwargs)

    monkeypatch.setattr(journal._store, "write_batch", busy_once)
    runtime = FakeRuntime()
    journal.attach(runtime)
    execution = runtime.new_execution()
    await journal.flush()
    runtime.complete(execution)
    await journal.flush()
    assert calls >= 2 and journal.error is None
    entry = await journal.get(execution.id)
    assert entry is not None and entry.status is TaskStatus.COMPLETED and len(entry.nodes) == 3


async def test_the_final_state_is_written_even_if_the_runtime_forgets_the_execution(journal: Journal) -> None:
    runtime = FakeRuntime()
    journal.attach(runtime)
    execution = runtime.new_execution()
    runtime.complete(execution)
    del runtime.executions[execution.id]  # the runtime's memory bound evicted it before the write
    await journal.flush()
    entry = await journal.get(execution.id)
    assert entry is not None and entry.status is TaskStatus.COMPLETED


async def test_how_a_run_ended_is_written_even_if_its_task_tree_was_forgotten_first(journal: Journal) -> None:
    # The runtime keeps only its newest few finished runs: a burst can end many before a write.
    runtime = FakeRuntime()
    journal.attach(runtime)
    execution = runtime.new_execution()
    workflow = runtime.workflow(execution)
    runtime.task_manager.set_progress(workflow.id, 0.5)
    runtime.fail(execution, "3", "out of memory")
    del runtime.executions[execution.id]
    runtime.task_manager.forget(workflow.id)
    await journal.flush()
    entry = await journal.get(execution.id)
    assert entry is not None and entry.status is TaskStatus.FAILED
    assert (entry.progress, entry.status_detail) == (0.5, "out of memory")  # the workflow task's


def test_an_execution_is_found_by_prompt_id_through_an_index(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "journal.sqlite3")
    plan = store._conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM executions WHERE prompt_id = ?", ("p",)
    ).fetchall()
    store.close()
    assert any("executions_prompt_id" in str(row[-1]) for row in plan)


def test_the_page_cache_is_bounded_below_sqlites_default(tmp_path: Path) -> None:
    # A long session writes new pages all the time: the cache fills to its bound (SQLite's default
    # is 2,000 KiB, most of the app's memory growth over 1,000 executions).
    from comfy_reality.journal.connection import PAGE_CACHE_KIB

    store = JournalStore(tmp_path / "journal.sqlite3")
    try:
        assert store._conn.execute("PRAGMA cache_size").fetchone()[0] == -PAGE_CACHE_KIB
        assert PAGE_CACHE_KIB < 2000
    finally:
        store.close()
