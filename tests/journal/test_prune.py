"""Pruning forgets old finished executions (and their nodes) and never an unfinished one."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from comfy_reality.journal import Journal, JournalStore
from comfy_reality.journal import store as store_module
from comfy_reality.journal.journal import InstanceKey
from comfy_reality.journal.store import ExecutionSnapshot, NodeSnapshot, PruneResult

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SERVER = "http://fake:8188"


def snapshot(
    id_: str,
    *,
    age: timedelta,
    status: str = "completed",
    server: str = SERVER,
    detail: str | None = None,
    tz: timezone = UTC,
    prompt_size: int = 10,
) -> ExecutionSnapshot:
    created = (NOW - age).astimezone(tz)
    final = status in ("completed", "failed", "cancelled")
    return ExecutionSnapshot(
        id=id_,
        prompt_id=f"p-{id_}",
        server_url=server,
        client_id="c",
        workflow_id=id_,
        name=id_,
        number=None,
        status=status,
        status_detail=detail,
        retry_of=None,
        progress=1.0 if final else 0.5,
        prompt_json='{"pad":"' + "x" * prompt_size + '"}',
        outputs_json="{}",
        output_files_json="[]",
        error_json=None,
        node_errors_json="{}",
        created_at=created.isoformat(),
        started_at=created.isoformat(),
        completed_at=(created + timedelta(seconds=5)).isoformat() if final else None,
    )


def nodes(id_: str, count: int = 3) -> list[NodeSnapshot]:
    return [
        NodeSnapshot(
            execution_id=id_,
            node_id=str(n),
            class_type="EmptyImage",
            name=None,
            status="completed",
            cached=False,
            progress=1.0,
            value=None,
            max=None,
            started_at=None,
            completed_at=None,
            error=None,
            error_type=None,
            status_detail=None,
            traceback_json="[]",
            outputs_json="{}",
        )
        for n in range(1, count + 1)
    ]


@pytest.fixture
def store(tmp_path: Path):
    s = JournalStore(tmp_path / "journal.sqlite3")
    yield s
    s.close()


def fill(store: JournalStore, *snaps: ExecutionSnapshot) -> None:
    store.write_batch(snaps, [n for snap in snaps for n in nodes(snap.id)])


def ids(store: JournalStore) -> set[str]:
    return {e.id for e in store.list_executions(limit=10_000)}


def node_rows(store: JournalStore, execution_id: str) -> int:
    conn = sqlite3.connect(store.path)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM nodes WHERE execution_id = ?", (execution_id,)).fetchone()[0]
        )
    finally:
        conn.close()


def test_older_than_removes_old_finished_runs_and_their_nodes_only(store: JournalStore) -> None:
    fill(
        store,
        snapshot("old-ok", age=timedelta(days=40)),
        snapshot("old-failed", age=timedelta(days=31), status="failed"),
        snapshot("old-lost", age=timedelta(days=50), status="cancelled", detail="lost: the server restarted"),
        snapshot("old-running", age=timedelta(days=60), status="running"),
        snapshot("old-pending", age=timedelta(days=60), status="pending"),
        snapshot("recent", age=timedelta(days=29)),
    )
    result = store.prune(older_than=timedelta(days=30), now=NOW)
    assert result == PruneResult(executions=3, nodes=9)
    assert ids(store) == {"old-running", "old-pending", "recent"}
    assert node_rows(store, "old-ok") == 0 and node_rows(store, "old-running") == 3
    # A second pass finds nothing more.
    assert store.prune(older_than=timedelta(days=30), now=NOW) == PruneResult(executions=0, nodes=0)


def test_keep_counts_only_finished_runs_newest_first(store: JournalStore) -> None:
    fill(
        store,
        *(snapshot(f"done-{i}", age=timedelta(hours=i)) for i in range(1, 6)),
        snapshot("queued-long-ago", age=timedelta(days=400), status="pending"),
    )
    result = store.prune(keep=2, now=NOW)
    assert result.executions == 3 and result.nodes == 9
    assert ids(store) == {"done-1", "done-2", "queued-long-ago"}
    assert store.prune(keep=0, now=NOW).executions == 2
    assert ids(store) == {"queued-long-ago"}


def test_both_bounds_remove_whatever_breaks_either(store: JournalStore) -> None:
    fill(
        store,
        snapshot("a", age=timedelta(days=1)),
        snapshot("b", age=timedelta(days=2)),
        snapshot("c", age=timedelta(days=3)),
        snapshot("d", age=timedelta(days=100)),
    )
    # keep=3 alone would remove d only; older_than alone would remove c and d.
    store.prune(older_than=timedelta(days=2, hours=12), keep=3, now=NOW)
    assert ids(store) == {"a", "b"}


def test_dry_run_counts_without_deleting(store: JournalStore) -> None:
    fill(store, snapshot("old", age=timedelta(days=100)), snapshot("new", age=timedelta(days=1)))
    result = store.prune(older_than=timedelta(days=90), dry_run=True, now=NOW)
    assert result == PruneResult(executions=1, nodes=3, dry_run=True)
    assert ids(store) == {"old", "new"} and node_rows(store, "old") == 3


def test_timestamps_with_other_offsets_are_compared_as_instants(store: JournalStore) -> None:
    far_east = timezone(timedelta(hours=14))
    far_west = timezone(timedelta(hours=-12))
    fill(
        store,
        # Written on local clocks, these sort on the wrong side of the cutoff as plain strings.
        snapshot("east-old", age=timedelta(hours=30, minutes=10), tz=far_east),
        snapshot("west-recent", age=timedelta(hours=29, minutes=50), tz=far_west),
        snapshot("utc-old", age=timedelta(hours=30, minutes=1)),
    )
    store.prune(older_than=timedelta(hours=30), now=NOW)
    assert ids(store) == {"west-recent"}


def test_bad_bounds_are_refused(store: JournalStore) -> None:
    with pytest.raises(ValueError, match="older_than, keep or both"):
        store.prune()
    with pytest.raises(ValueError, match="positive"):
        store.prune(older_than=timedelta(0))
    with pytest.raises(ValueError, match="0 or more"):
        store.prune(keep=-1)


def test_count_unfinished_is_per_server(store: JournalStore) -> None:
    fill(
        store,
        snapshot("r1", age=timedelta(minutes=5), status="running"),
        snapshot("r2", age=timedelta(minutes=4), status="pending"),
        snapshot("done", age=timedelta(minutes=3)),
        snapshot("elsewhere", age=timedelta(minutes=2), status="running", server="http://other:8188"),
    )
    assert store.count_unfinished(SERVER) == {None: 2}
    assert store.count_unfinished(SERVER + "/") == {None: 2}  # normalized like every other server filter
    assert store.count_unfinished("http://other:8188") == {None: 1}
    assert store.count_unfinished("http://nobody:1") == {}


async def test_unfinished_count_leaves_out_runs_of_live_instances(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    store = JournalStore(path)
    fill(
        store,
        snapshot("released", age=timedelta(minutes=9), status="running"),
        snapshot("owner-killed", age=timedelta(minutes=8), status="running"),
        snapshot("owner-alive", age=timedelta(minutes=7), status="pending"),
        snapshot("owner-unreadable", age=timedelta(minutes=6), status="running"),
        snapshot("finished", age=timedelta(minutes=5)),
    )
    store.close()
    here = InstanceKey.current()
    if not here.started:
        pytest.skip("telling a reused pid from a live one needs /proc")
    # The same pid with another start time: that process ended and its pid was reused.
    gone = InstanceKey(here.host, here.pid, "1", "dead")
    alive = InstanceKey(here.host, here.pid, here.started, "another-journal-of-this-process")
    conn = sqlite3.connect(path)
    conn.executemany(
        "UPDATE executions SET owner = ? WHERE id = ?",
        [
            (str(gone), "owner-killed"),
            (str(alive), "owner-alive"),
            ("garbage", "owner-unreadable"),
        ],
    )
    conn.commit()
    conn.close()
    journal = await Journal.open(path)
    try:
        assert await journal.unfinished_count(SERVER) == 3  # released, killed, unreadable
        assert await journal.unfinished_count("http://nobody:1") == 0
    finally:
        await journal.close()


def test_vacuum_gives_the_space_back(store: JournalStore) -> None:
    fill(store, *(snapshot(f"big-{i}", age=timedelta(days=200), prompt_size=50_000) for i in range(40)))
    fill(store, snapshot("keeper", age=timedelta(days=1)))
    before = store.file_size()
    assert before > 40 * 50_000
    assert store.prune(older_than=timedelta(days=90), now=NOW).executions == 40
    store.vacuum()
    after = store.file_size()
    assert after < before / 10
    assert ids(store) == {"keeper"}


async def test_open_applies_the_age_bound_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    store = JournalStore(path)
    now = datetime.now(UTC)
    age_from_now = now - NOW
    fill(
        store,
        snapshot("ancient", age=timedelta(days=120) - age_from_now),
        snapshot("ancient-running", age=timedelta(days=120) - age_from_now, status="running"),
        snapshot("fresh", age=timedelta(days=2) - age_from_now),
    )
    store.close()

    journal = await Journal.open(path, keep_days=0)
    try:
        assert journal.auto_pruned is None
        assert {e.id for e in await journal.list_executions()} == {"ancient", "ancient-running", "fresh"}
    finally:
        await journal.close()

    journal = await Journal.open(path, keep_days=90)
    try:
        assert journal.auto_pruned == PruneResult(executions=1, nodes=3)
        assert {e.id for e in await journal.list_executions()} == {"ancient-running", "fresh"}
        assert await journal.unfinished_count(SERVER) == 1
        assert [e.id for e in await journal.unfinished(SERVER)] == ["ancient-running"]
        dry = await journal.prune(keep=0, dry_run=True)
        assert dry == PruneResult(executions=1, nodes=3, dry_run=True)
        assert (await journal.prune(keep=0)).executions == 1
        size = await journal.file_size()
        await journal.vacuum()
        assert 0 < await journal.file_size() <= size
        assert {e.id for e in await journal.list_executions()} == {"ancient-running"}
    finally:
        await journal.close()


async def test_auto_prune_on_a_locked_journal_opens_anyway(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    store = JournalStore(path)
    fill(store, snapshot("ancient", age=timedelta(days=3000)))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        journal = await Journal.open(path, keep_days=1, busy_timeout=0.05)
        try:
            assert journal.auto_pruned is None
        finally:
            blocker.execute("ROLLBACK")
            await journal.close()
    finally:
        blocker.close()
        store.close()
    reopened = JournalStore(path)
    try:
        assert ids(reopened) == {"ancient"}
    finally:
        reopened.close()


def test_the_store_remembers_a_bounded_number_of_own_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long session does not keep every execution id it wrote; a forgotten one still writes its own row."""
    monkeypatch.setattr(store_module, "OWN_RESOLUTIONS_KEPT", 2)
    store = JournalStore(tmp_path / "journal.sqlite3")
    try:
        for id_ in ("a", "b", "c"):
            store.write_batch([snapshot(id_, age=timedelta(0), status="running")], [])
        assert list(store._own) == ["b", "c"]
        store.write_batch(
            [snapshot("a", age=timedelta(0), status="completed")], []
        )  # resolved again by its prompt
        assert store.count() == 3 and not store._aliases
        entry = store.get("a")
        assert entry is not None and entry.status.value == "completed"
    finally:
        store.close()
