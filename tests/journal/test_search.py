"""The History filter's search copy (schema v5): built from a v4 journal's rows on upgrade, kept in
step with every insert, update and delete, and matching as the six LIKEs it replaced did."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from comfy_reality.journal import SCHEMA_VERSION, JournalStore
from comfy_reality.journal.schema import MIGRATIONS

ROW_SQL = (
    "INSERT INTO executions (id, prompt_id, server_url, workflow_id, name, status, status_detail, lost, "
    "error_json, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)


def _row(index: int, **values: object) -> tuple[object, ...]:
    fields: dict[str, object] = {
        "id": f"exec-{index:03d}",
        "prompt_id": f"prompt-{index:03d}",
        "server_url": "http://127.0.0.1:8188",
        "workflow_id": f"workflows/wf-{index}.json",
        "name": f"Portrait {index}",
        "status": "completed",
        "status_detail": None,
        "lost": 0,
        "error_json": None,
        "created_at": f"2026-01-01T00:{index // 60:02d}:{index % 60:02d}+00:00",
        "updated_at": "2026-01-01T01:00:00+00:00",
    }
    fields.update(values)
    return tuple(fields.values())


def _v4_journal(path: Path) -> None:
    conn = sqlite3.connect(path)
    for migrate in MIGRATIONS[:4]:
        migrate(conn)
    conn.execute("PRAGMA user_version = 4")
    conn.executemany(ROW_SQL, [_row(i) for i in range(30)])
    error = json.dumps({"exception_type": "RuntimeError", "exception_message": "CUDA out of memory"})
    conn.execute(ROW_SQL, _row(30, status="failed", error_json=error))
    conn.execute(ROW_SQL, _row(31, status="cancelled", lost=1, status_detail="lost: server restarted"))
    conn.commit()
    conn.close()


def _ids(store: JournalStore, **query: object) -> list[str]:
    return [entry.id for entry in store.list_executions(limit=100, **query)]  # type: ignore[arg-type]


def test_a_v4_journal_is_upgraded_and_its_rows_are_found(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    _v4_journal(path)
    store = JournalStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 5
        assert store._conn.execute("SELECT COUNT(*) FROM execution_search").fetchone()[0] == 32
        assert _ids(store, text="portrait 7") == ["exec-007"]  # any case, as LIKE matched
        assert _ids(store, text="WF-12.JSON") == ["exec-012"]
        assert _ids(store, text="out of memory") == ["exec-030"]
        assert _ids(store, text="restarted") == ["exec-031"]
        assert _ids(store, text="prompt-02") == [f"exec-{i:03d}" for i in range(29, 19, -1)]
        assert _ids(store, text="nothing like this") == []
        assert _ids(store, text="%") == [] and _ids(store, text="p_rtrait") == []  # literal, not wildcards
        assert _ids(store, status="lost") == ["exec-031"]
        assert _ids(store, status="failed", text="cuda") == ["exec-030"]
        assert _ids(store, status="completed", text="cuda") == []
        assert store.count_executions(text="portrait 2") == 11
        assert store.count_executions(status="cancelled") == 0  # lost is not cancelled
        # Paging by key through the search copy, with a filter, covers each match once.
        first = store.list_executions(text="portrait", limit=20)
        rest = store.list_executions(text="portrait", limit=20, before=first[-1].id)
        assert [e.id for e in first + rest] == [f"exec-{i:03d}" for i in range(31, -1, -1)]
        assert [e.id for e in store.list_executions(text="portrait", limit=5, oldest=True)] == [
            f"exec-{i:03d}" for i in range(4, -1, -1)
        ]
    finally:
        store.close()


def test_the_search_copy_follows_updates_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    store = JournalStore(path)
    store.close()
    with sqlite3.connect(path) as conn:
        conn.executemany(ROW_SQL, [_row(i) for i in range(5)])
        conn.execute("UPDATE executions SET name = 'Landscape' WHERE id = 'exec-001'")
        conn.execute("UPDATE executions SET status = 'failed', status_detail = 'boom' WHERE id = 'exec-002'")
        conn.execute("UPDATE executions SET progress = 0.5 WHERE id = 'exec-003'")  # not searched: no rewrite
        conn.execute("DELETE FROM executions WHERE id = 'exec-004'")
    store = JournalStore(path)
    try:
        assert _ids(store, text="landscape") == ["exec-001"]
        assert "exec-001" not in _ids(store, text="portrait")
        assert _ids(store, text="boom", status="failed") == ["exec-002"]
        assert _ids(store) == ["exec-003", "exec-002", "exec-001", "exec-000"]
        rows = store._conn.execute("SELECT id, status FROM execution_search ORDER BY id").fetchall()
        assert rows == [
            ("exec-000", "completed"),
            ("exec-001", "completed"),
            ("exec-002", "failed"),
            ("exec-003", "completed"),
        ]
    finally:
        store.close()


def test_a_filter_that_matches_nothing_reads_the_narrow_copy_not_the_executions(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "journal.sqlite3")
    try:
        plan = " ".join(
            str(row[-1])
            for row in store._conn.execute(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM execution_search WHERE instr(text, lower(?)) > 0",
                ("z",),
            )
        )
        assert "execution_search" in plan and "executions " not in plan + " "
    finally:
        store.close()
