"""The journal's SQLite schema: tables, migrations and the batch upserts that write them.

Migrations are append-only steps keyed by ``PRAGMA user_version``; the upsert SQL lives here
too because it must match the columns the migrations create.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from .rows import _FINAL_SQL

SCHEMA_VERSION = 5


# ------------------------------------------------------------------------ schema
def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the migration's transaction first; run statement by statement.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE IF NOT EXISTS executions (
            id                TEXT PRIMARY KEY,
            prompt_id         TEXT,
            server_url        TEXT,
            client_id         TEXT,
            workflow_id       TEXT,
            name              TEXT,
            number            INTEGER,
            status            TEXT NOT NULL,
            status_detail     TEXT,
            lost              INTEGER NOT NULL DEFAULT 0,
            retry_of          TEXT,
            progress          REAL NOT NULL DEFAULT 0,
            prompt_json       TEXT,
            outputs_json      TEXT NOT NULL DEFAULT '{}',
            output_files_json TEXT NOT NULL DEFAULT '[]',
            error_json        TEXT,
            node_errors_json  TEXT NOT NULL DEFAULT '{}',
            created_at        TEXT NOT NULL,
            started_at        TEXT,
            completed_at      TEXT,
            updated_at        TEXT NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS executions_prompt
            ON executions(server_url, prompt_id) WHERE prompt_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS executions_created ON executions(created_at);
        CREATE INDEX IF NOT EXISTS executions_status ON executions(status);
        CREATE TABLE IF NOT EXISTS nodes (
            execution_id   TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
            node_id        TEXT NOT NULL,
            class_type     TEXT,
            name           TEXT,
            status         TEXT NOT NULL,
            cached         INTEGER NOT NULL DEFAULT 0,
            progress       REAL NOT NULL DEFAULT 0,
            value          REAL,
            max            REAL,
            started_at     TEXT,
            completed_at   TEXT,
            error          TEXT,
            error_type     TEXT,
            status_detail  TEXT,
            traceback_json TEXT NOT NULL DEFAULT '[]',
            outputs_json   TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (execution_id, node_id)
        );
        """,
    )


def _migrate_to_2(conn: sqlite3.Connection) -> None:
    # Rows of older files have no known owner: own = 0, so nobody takes over their client_id.
    _run_script(
        conn,
        """
        ALTER TABLE executions ADD COLUMN own INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE executions ADD COLUMN owner TEXT;
        CREATE INDEX IF NOT EXISTS executions_owner ON executions(owner) WHERE owner IS NOT NULL;
        """,
    )


def _migrate_to_3(conn: sqlite3.Connection) -> None:
    # Looking an execution up by prompt id alone (get, the history's details) scanned the table.
    conn.execute(
        "CREATE INDEX IF NOT EXISTS executions_prompt_id ON executions(prompt_id) WHERE prompt_id IS NOT NULL"
    )


def _migrate_to_4(conn: sqlite3.Connection) -> None:
    # History pages by key on (created_at, id): one index walk per page, however deep.
    conn.execute("CREATE INDEX IF NOT EXISTS executions_created_id ON executions(created_at, id)")


# What the History filter searches, one lowercased text per execution. Lowercased by SQLite's
# lower() like LIKE folds case (ASCII only); fields joined by a newline, which no typed filter holds.
SEARCH_TEXT_SQL = (
    "lower(coalesce({p}name, '') || char(10) || coalesce({p}workflow_id, '') || char(10) || "
    "coalesce({p}prompt_id, '') || char(10) || {p}id || char(10) || coalesce({p}status_detail, '') || "
    "char(10) || coalesce({p}error_json, ''))"
)
_SEARCH_ROW = "({p}created_at, {p}id, {p}status, {p}lost, {p}server_url, " + SEARCH_TEXT_SQL + ")"
_SEARCHED = (
    *("created_at", "id", "status", "lost", "server_url"),
    *("name", "workflow_id", "prompt_id", "status_detail", "error_json"),
)


def _migrate_to_5(conn: sqlite3.Connection) -> None:
    # A filter keystroke that matched little read every executions row (prompts, outputs and all)
    # through six LIKEs: ~27 ms over 20,000 rows. This narrow copy, in History order, holds only
    # what a filter looks at, so the same scan reads a few MB once; triggers keep it in step.
    # Statement by statement: a trigger's body holds semicolons.
    new = _SEARCH_ROW.format(p="NEW.")
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _SEARCHED)
    forget_old = "DELETE FROM execution_search WHERE created_at = OLD.created_at AND id = OLD.id;"
    for statement in (
        """CREATE TABLE IF NOT EXISTS execution_search (
            created_at TEXT NOT NULL,
            id         TEXT NOT NULL,
            status     TEXT NOT NULL,
            lost       INTEGER NOT NULL,
            server_url TEXT,
            text       TEXT NOT NULL,
            PRIMARY KEY (created_at, id)
        ) WITHOUT ROWID""",
        f"INSERT OR REPLACE INTO execution_search SELECT {_SEARCH_ROW.format(p='')[1:-1]} FROM executions",
        f"""CREATE TRIGGER IF NOT EXISTS execution_search_insert AFTER INSERT ON executions BEGIN
            INSERT OR REPLACE INTO execution_search VALUES {new};
        END""",
        f"""CREATE TRIGGER IF NOT EXISTS execution_search_update AFTER UPDATE ON executions WHEN {changed} BEGIN
            {forget_old}
            INSERT OR REPLACE INTO execution_search VALUES {new};
        END""",
        f"""CREATE TRIGGER IF NOT EXISTS execution_search_delete AFTER DELETE ON executions BEGIN
            {forget_old}
        END""",
    ):
        conn.execute(statement)


# Index i migrates from user_version i to i + 1. Append only; never edit a shipped step.
MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (
    _migrate_to_1,
    _migrate_to_2,
    _migrate_to_3,
    _migrate_to_4,
    _migrate_to_5,
)
assert len(MIGRATIONS) == SCHEMA_VERSION


def _json_columns(count: int) -> str:
    return ", ".join(f"json_extract(value, '$[{i}]')" for i in range(count))


# A whole batch is bound as one JSON array and upserted by one statement. executemany() would
# take the GIL back for every row, and under a busy event loop each of those waits out the
# interpreter's switch interval: 200 rows took a second that way, one statement takes a few ms.
_EXEC_UPSERT = f"""
INSERT INTO executions (
    id, prompt_id, server_url, client_id, workflow_id, name, number, status, status_detail,
    retry_of, progress, prompt_json, outputs_json, output_files_json, error_json, node_errors_json,
    created_at, started_at, completed_at, updated_at, lost, own, owner
) SELECT {_json_columns(23)} FROM json_each(?) WHERE true
ON CONFLICT(id) DO UPDATE SET
    prompt_id = COALESCE(excluded.prompt_id, executions.prompt_id),
    server_url = COALESCE(excluded.server_url, executions.server_url),
    client_id = COALESCE(excluded.client_id, executions.client_id),
    workflow_id = COALESCE(excluded.workflow_id, executions.workflow_id),
    name = COALESCE(excluded.name, executions.name),
    number = COALESCE(excluded.number, executions.number),
    retry_of = COALESCE(executions.retry_of, excluded.retry_of),
    prompt_json = COALESCE(excluded.prompt_json, executions.prompt_json),
    created_at = MIN(executions.created_at, excluded.created_at),
    updated_at = excluded.updated_at,
    -- A final state is sticky: a stale snapshot from a slower instance never revives a row.
    status = CASE WHEN executions.status IN {_FINAL_SQL} AND excluded.status NOT IN {_FINAL_SQL}
                  THEN executions.status ELSE excluded.status END,
    status_detail = CASE WHEN executions.status IN {_FINAL_SQL} AND excluded.status NOT IN {_FINAL_SQL}
                  THEN executions.status_detail ELSE excluded.status_detail END,
    -- The runtime reports a prompt its server forgot as cancelled with a "lost: ..." detail.
    lost = CASE WHEN executions.status IN {_FINAL_SQL} AND excluded.status NOT IN {_FINAL_SQL}
                  THEN executions.lost
                  ELSE excluded.lost END,
    progress = MAX(executions.progress, excluded.progress),
    outputs_json = CASE WHEN excluded.outputs_json = '{{}}' THEN executions.outputs_json
                  ELSE excluded.outputs_json END,
    output_files_json = CASE WHEN excluded.output_files_json = '[]' THEN executions.output_files_json
                  ELSE excluded.output_files_json END,
    error_json = COALESCE(excluded.error_json, executions.error_json),
    node_errors_json = CASE WHEN excluded.node_errors_json = '{{}}' THEN executions.node_errors_json
                  ELSE excluded.node_errors_json END,
    started_at = COALESCE(executions.started_at, excluded.started_at),
    completed_at = COALESCE(executions.completed_at, excluded.completed_at),
    own = MAX(executions.own, excluded.own),
    -- Set once by the submitting instance; changed only by claim_client / release_owner.
    owner = COALESCE(executions.owner, excluded.owner)
"""

_NODE_UPSERT = f"""
INSERT INTO nodes (
    execution_id, node_id, class_type, name, status, cached, progress, value, max,
    started_at, completed_at, error, error_type, status_detail, traceback_json, outputs_json
) SELECT {_json_columns(16)} FROM json_each(?) WHERE true
ON CONFLICT(execution_id, node_id) DO UPDATE SET
    class_type = COALESCE(excluded.class_type, nodes.class_type),
    name = COALESCE(excluded.name, nodes.name),
    status = CASE WHEN nodes.status IN {_FINAL_SQL} AND excluded.status NOT IN {_FINAL_SQL}
                  THEN nodes.status ELSE excluded.status END,
    cached = MAX(nodes.cached, excluded.cached),
    progress = CASE WHEN nodes.status IN {_FINAL_SQL} AND excluded.status NOT IN {_FINAL_SQL}
                  THEN nodes.progress ELSE excluded.progress END,
    value = COALESCE(excluded.value, nodes.value),
    max = COALESCE(excluded.max, nodes.max),
    started_at = COALESCE(nodes.started_at, excluded.started_at),
    completed_at = COALESCE(nodes.completed_at, excluded.completed_at),
    error = COALESCE(excluded.error, nodes.error),
    error_type = COALESCE(excluded.error_type, nodes.error_type),
    status_detail = COALESCE(excluded.status_detail, nodes.status_detail),
    traceback_json = CASE WHEN excluded.traceback_json = '[]' THEN nodes.traceback_json
                  ELSE excluded.traceback_json END,
    outputs_json = CASE WHEN excluded.outputs_json = '{{}}' THEN nodes.outputs_json
                  ELSE excluded.outputs_json END
"""
