"""The synchronous SQLite side of the journal: schema, migrations, upserts and queries.

Everything here runs on one thread (the journal's writer thread, or a caller that uses
:class:`JournalStore` directly, such as the benchmark). The database is shared between app
instances, so every write is one ``BEGIN IMMEDIATE`` transaction and every row is an upsert:
an execution is keyed by its id, and a second id for the same ``(server_url, prompt_id)``
(another instance re-attaching to the prompt) is folded into the existing row.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from ..errors import JournalError
from ..runtime.models import ErrorReport, OutputFile, TaskStatus, utc_now

T = TypeVar("T")

SCHEMA_VERSION = 2
DEFAULT_BUSY_TIMEOUT = 10.0
# A prompt bigger than this is not copied into the journal (its row says so instead).
MAX_JSON_BYTES = 8 * 1024 * 1024

_FINAL = ("completed", "failed", "cancelled")
_FINAL_SQL = "('completed', 'failed', 'cancelled')"
# The widest offset a timestamp can carry (UTC+14): the margin of prune's index-friendly pre-filter.
_MAX_UTC_OFFSET = timedelta(hours=14)


# --------------------------------------------------------------------------- public rows
class JournalNode(BaseModel):
    """One node of a recorded execution, as it last stood."""

    node_id: str
    class_type: str | None = None
    name: str | None = None
    status: TaskStatus = TaskStatus.PENDING
    cached: bool = False
    progress: float = 0.0
    value: float | None = None
    max: float | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    error_type: str | None = None
    status_detail: str | None = None
    traceback: list[str] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)


class JournalEntry(BaseModel):
    """One recorded execution. ``prompt`` and ``nodes`` are filled only by ``get`` / ``full=True``."""

    id: str
    prompt_id: str | None = None
    server_url: str | None = None
    client_id: str | None = None
    workflow_id: str | None = None
    name: str | None = None
    number: int | None = None
    status: TaskStatus = TaskStatus.PENDING
    status_detail: str | None = None
    lost: bool = False
    retry_of: str | None = None
    progress: float = 0.0
    prompt: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    output_files: list[OutputFile] = Field(default_factory=list)
    error: ErrorReport | None = None
    node_errors: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime
    node_count: int = 0
    nodes: list[JournalNode] = Field(default_factory=list)

    @property
    def display_status(self) -> str:
        """What a history view shows: the status, or ``lost`` when the server forgot the prompt."""
        return "lost" if self.lost else self.status.value

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def duration(self) -> float | None:
        if self.started_at and self.completed_at:
            return (self.completed_at - self.started_at).total_seconds()
        return None


# ------------------------------------------------------------------ snapshots to write
@dataclass(slots=True)
class ExecutionSnapshot:
    """Plain values copied from a live execution on the event loop, written on the writer thread."""

    id: str
    prompt_id: str | None
    server_url: str | None
    client_id: str | None
    workflow_id: str | None
    name: str | None
    number: int | None
    status: str
    status_detail: str | None
    retry_of: str | None
    progress: float
    prompt_json: str | None  # None = leave the stored prompt as it is
    outputs_json: str
    output_files_json: str
    error_json: str | None
    node_errors_json: str
    created_at: str
    started_at: str | None
    completed_at: str | None
    # Submitted by the recording app under its own client_id, and which app instance that is
    # (the journal's instance key): who may hold the live socket of that client_id.
    own: bool = False
    owner: str | None = None


@dataclass(slots=True)
class NodeSnapshot:
    execution_id: str
    node_id: str
    class_type: str | None
    name: str | None
    status: str
    cached: bool
    progress: float
    value: float | None
    max: float | None
    started_at: str | None
    completed_at: str | None
    error: str | None
    error_type: str | None
    status_detail: str | None
    traceback_json: str
    outputs_json: str


@dataclass(slots=True, frozen=True)
class PruneResult:
    """What a prune removed, or for a dry run would remove."""

    executions: int
    nodes: int
    dry_run: bool = False


@dataclass(slots=True)
class ServerHistoryResult:
    """What /history says about a prompt that finished while nobody watched it."""

    status: TaskStatus
    status_detail: str | None
    outputs: dict[str, Any]
    output_files: list[OutputFile]
    error: ErrorReport | None
    started_at: datetime | None
    completed_at: datetime | None
    # node_id -> (status, detail); nodes not named keep their state unless the run ended
    node_states: dict[str, tuple[TaskStatus, str | None]] = field(default_factory=dict)


# ------------------------------------------------------------------------ helpers
def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def dumps(value: Any, *, limit: int = MAX_JSON_BYTES) -> str:
    """JSON for a column; oversized values are replaced by a note rather than bloating the file."""
    text = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    if len(text) > limit:
        return json.dumps({"_journal_omitted": f"{len(text)} bytes, above the {limit}-byte limit"})
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def finite(value: float | None) -> float | None:
    """NaN and infinities (a hostile server can send them) are stored as unknown."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def _payload(rows: list[tuple[Any, ...]]) -> str:
    """One JSON array for a batch; lone surrogates from hostile names become U+FFFD, not errors."""
    text = json.dumps(rows, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


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


# Index i migrates from user_version i to i + 1. Append only; never edit a shipped step.
MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (_migrate_to_1, _migrate_to_2)
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

_LIST_COLUMNS = (
    "id, prompt_id, server_url, client_id, workflow_id, name, number, status, status_detail, lost, "
    "retry_of, progress, outputs_json, output_files_json, error_json, node_errors_json, "
    "created_at, started_at, completed_at, updated_at, "
    "(SELECT COUNT(*) FROM nodes WHERE nodes.execution_id = executions.id) AS node_count"
)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def normalize_server(url: str | None) -> str | None:
    return url.rstrip("/") if url else url


class JournalStore:
    """One connection to the journal file. Not thread-safe: use it from one thread."""

    def __init__(self, path: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.wal = False
        # runtime execution id -> journal row id, for ids folded into another row
        self._aliases: dict[str, str] = {}
        # execution id -> the prompt_id it was last resolved with (its own row holds that prompt)
        self._own: dict[str, str | None] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                self.path,
                f"cannot create its folder ({exc.strerror or exc})",
                "Check the permissions of that folder or point COMFY_REALITY_HOME elsewhere.",
            ) from exc
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()
            self.wal = bool(mode) and str(mode[0]).lower() == "wal"
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._translate(exc) from exc
        except JournalError:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def _translate(self, exc: sqlite3.Error) -> JournalError:
        text = str(exc)
        lowered = text.lower()
        if "locked" in lowered or "busy" in lowered:
            return JournalError(
                self.path,
                f"the database is locked by another program ({text})",
                "Close the other program using it, or wait and start again; "
                "the app keeps running without a journal meanwhile.",
            )
        if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
            return JournalError(
                self.path,
                f"the file is not a readable SQLite database ({text})",
                "Move it aside (for example rename it to journal.sqlite3.bad); "
                "a fresh journal is created on the next start.",
            )
        if "disk is full" in lowered or "database or disk is full" in lowered:
            return JournalError(
                self.path,
                f"the disk is full ({text})",
                "Free some disk space; the app keeps running without a journal meanwhile.",
            )
        if "readonly" in lowered or "unable to open" in lowered or "disk i/o" in lowered:
            return JournalError(
                self.path,
                f"cannot open or write the file ({text})",
                "Check the file's permissions and free disk space.",
            )
        return JournalError(
            self.path, f"database error ({text})", "Move the file aside if the problem stays."
        )

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise JournalError(
                self.path,
                f"it was written by a newer version of the app (schema {version}, this one knows {SCHEMA_VERSION})",
                "Upgrade comfy-reality, or move the file aside to start a new journal.",
            )
        while version < SCHEMA_VERSION:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # Re-read under the lock: another instance may have migrated meanwhile.
                current = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
                if current == version:
                    MIGRATIONS[version](self._conn)
                    self._conn.execute(f"PRAGMA user_version = {version + 1}")
                self._conn.execute("COMMIT")
            except BaseException as exc:
                # A failed COMMIT (disk full) has already rolled back: ROLLBACK would then fail with
                # "cannot rollback - no transaction is active" and hide the real cause.
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise self._translate(exc) from exc
                raise
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _transaction(self, work: Callable[[], T]) -> T:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            result = work()
            self._conn.execute("COMMIT")
            return result
        except BaseException as exc:
            self._own.clear()  # resolutions made in the rolled-back transaction are void
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(exc, sqlite3.Error):
                raise self._translate(exc) from exc
            raise

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        try:
            self._conn.close()
        except sqlite3.Error:
            pass

    # -------------------------------------------------------------------- writes
    def _resolve(self, execution_id: str, server_url: str | None, prompt_id: str | None) -> str:
        """The row an execution id writes to: its own, or the row already holding its prompt."""
        known = self._aliases.get(execution_id)
        if known is not None:
            return known
        if execution_id in self._own and self._own[execution_id] == prompt_id:
            return execution_id
        if prompt_id:
            row = self._conn.execute(
                "SELECT id FROM executions WHERE server_url IS ? AND prompt_id = ?",
                (server_url, prompt_id),
            ).fetchone()
            if row is not None and row[0] != execution_id:
                self._aliases[execution_id] = row[0]
                return str(row[0])
        self._own[execution_id] = prompt_id
        return execution_id

    def resolve(self, execution_id: str) -> str:
        return self._aliases.get(execution_id, execution_id)

    def alias(self, execution_id: str, row_id: str) -> None:
        """Route a new execution id (a re-attached prompt) into an existing row."""
        if execution_id != row_id:
            self._aliases[execution_id] = row_id

    def write_batch(self, executions: Iterable[ExecutionSnapshot], nodes: Iterable[NodeSnapshot]) -> int:
        """Upsert executions, then their nodes, in one transaction; returns rows written."""
        executions = list(executions)
        nodes = list(nodes)

        def work() -> int:
            now = iso(utc_now())
            exec_rows = []
            for snap in executions:
                server = normalize_server(snap.server_url)
                row_id = self._resolve(snap.id, server, snap.prompt_id)
                retry_of = self._aliases.get(snap.retry_of, snap.retry_of) if snap.retry_of else None
                # Another execution of a recorded prompt (a re-attach) updates its state only:
                # the name, owner and prompt stay those of the original submission.
                own = row_id == snap.id
                exec_rows.append(
                    (
                        row_id,
                        snap.prompt_id,
                        server,
                        snap.client_id if own else None,
                        snap.workflow_id if own else None,
                        snap.name if own else None,
                        snap.number if own else None,
                        snap.status,
                        snap.status_detail,
                        retry_of if own else None,
                        snap.progress,
                        snap.prompt_json if own else None,
                        snap.outputs_json,
                        snap.output_files_json,
                        snap.error_json,
                        snap.node_errors_json,
                        snap.created_at,
                        snap.started_at,
                        snap.completed_at,
                        now,
                        int(snap.status.lower() in _FINAL and (snap.status_detail or "").startswith("lost:")),
                        int(snap.own and own),
                        snap.owner if own and snap.own else None,
                    )
                )
            self._conn.execute(_EXEC_UPSERT, (_payload(exec_rows),))
            node_rows = [
                (
                    self._aliases.get(n.execution_id, n.execution_id),
                    n.node_id,
                    n.class_type,
                    n.name,
                    n.status,
                    int(n.cached),
                    n.progress,
                    n.value,
                    n.max,
                    n.started_at,
                    n.completed_at,
                    n.error,
                    n.error_type,
                    n.status_detail,
                    n.traceback_json,
                    n.outputs_json,
                )
                for n in nodes
            ]
            if node_rows:
                self._conn.execute(_NODE_UPSERT, (_payload(node_rows),))
            return len(exec_rows) + len(node_rows)

        return self._transaction(work)

    def owners(self, server: str | None, client_id: str) -> dict[str | None, int]:
        """Who holds the unfinished executions this app submitted under ``client_id``:
        instance key (None = released) -> rows. Empty when none of them is ours."""
        rows = self._conn.execute(
            f"SELECT owner, COUNT(*) FROM executions WHERE server_url IS ? AND client_id = ? AND own = 1 "
            f"AND status NOT IN {_FINAL_SQL} GROUP BY owner",
            (normalize_server(server), client_id),
        ).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    def claim_client(
        self, server: str | None, client_id: str, instance: str, expected: Iterable[str | None]
    ) -> bool:
        """Make ``instance`` the owner of those executions, if their owners are still exactly
        ``expected`` (the ones the caller found gone). One transaction: of two instances racing
        for the same client_id, one wins and the other sees the winner, alive."""
        wanted = set(expected)

        def work() -> bool:
            if set(self.owners(server, client_id)) != wanted or not wanted:
                return False
            self._conn.execute(
                f"UPDATE executions SET owner = ? WHERE server_url IS ? AND client_id = ? AND own = 1 "
                f"AND status NOT IN {_FINAL_SQL}",
                (instance, normalize_server(server), client_id),
            )
            return True

        return self._transaction(work)

    def release_owner(self, instance: str) -> int:
        """The instance is closing: its unfinished executions may be followed live by the next one."""

        def work() -> int:
            cursor = self._conn.execute(
                f"UPDATE executions SET owner = NULL WHERE owner = ? AND status NOT IN {_FINAL_SQL}",
                (instance,),
            )
            return int(cursor.rowcount)

        return self._transaction(work)

    def forget(self, execution_id: str) -> bool:
        """Delete an unfinished row (a prompt the server never queued); False if none was deleted."""
        row_id = self._aliases.pop(execution_id, execution_id)
        self._own.pop(execution_id, None)

        def work() -> bool:
            self._conn.execute(
                f"DELETE FROM nodes WHERE execution_id = ? AND status NOT IN {_FINAL_SQL}", (row_id,)
            )
            cursor = self._conn.execute(
                f"DELETE FROM executions WHERE id = ? AND status NOT IN {_FINAL_SQL}", (row_id,)
            )
            return bool(cursor.rowcount)

        return self._transaction(work)

    def mark_lost(self, row_id: str, detail: str) -> bool:
        """Record that the server no longer knows an unfinished execution; False if it had finished."""

        def work() -> bool:
            now = iso(utc_now())
            cursor = self._conn.execute(
                f"UPDATE executions SET status = 'cancelled', lost = 1, status_detail = ?, "
                f"completed_at = COALESCE(completed_at, ?), updated_at = ? "
                f"WHERE id = ? AND status NOT IN {_FINAL_SQL}",
                (detail, now, now, row_id),
            )
            if cursor.rowcount:
                self._conn.execute(
                    f"UPDATE nodes SET status = 'cancelled', status_detail = ?, "
                    f"completed_at = COALESCE(completed_at, ?) "
                    f"WHERE execution_id = ? AND status NOT IN {_FINAL_SQL}",
                    ("not run: the execution was lost", now, row_id),
                )
            return bool(cursor.rowcount)

        return self._transaction(work)

    def apply_server_history(self, row_id: str, result: ServerHistoryResult) -> bool:
        """Fill in a prompt that finished while nobody followed it; False if the row was final."""

        def work() -> bool:
            now = iso(utc_now())
            completed = iso(result.completed_at) or now
            cursor = self._conn.execute(
                f"UPDATE executions SET status = ?, status_detail = ?, lost = 0, outputs_json = ?, "
                f"output_files_json = ?, error_json = COALESCE(?, error_json), "
                f"started_at = COALESCE(started_at, ?), completed_at = COALESCE(completed_at, ?), "
                f"progress = CASE WHEN ? = 'completed' THEN 1.0 ELSE progress END, updated_at = ? "
                f"WHERE id = ? AND status NOT IN {_FINAL_SQL}",
                (
                    result.status.value,
                    result.status_detail,
                    dumps(result.outputs),
                    dumps([f.model_dump() for f in result.output_files]),
                    result.error.model_dump_json() if result.error else None,
                    iso(result.started_at),
                    completed,
                    result.status.value,
                    now,
                    row_id,
                ),
            )
            if not cursor.rowcount:
                return False
            for node_id, (status, detail) in result.node_states.items():
                self._conn.execute(
                    f"UPDATE nodes SET status = ?, status_detail = COALESCE(?, status_detail), "
                    f"completed_at = COALESCE(completed_at, ?), "
                    f"progress = CASE WHEN ? = 'completed' THEN 1.0 ELSE progress END "
                    f"WHERE execution_id = ? AND node_id = ? AND status NOT IN {_FINAL_SQL}",
                    (status.value, detail, completed, status.value, row_id, node_id),
                )
            for node_id, outputs in result.outputs.items():
                self._conn.execute(
                    "UPDATE nodes SET outputs_json = ? WHERE execution_id = ? AND node_id = ?",
                    (dumps(outputs), row_id, str(node_id)),
                )
            # Whatever is still open ended with the run.
            leftover = "completed" if result.status is TaskStatus.COMPLETED else "cancelled"
            self._conn.execute(
                f"UPDATE nodes SET status = ?, completed_at = COALESCE(completed_at, ?), "
                f"status_detail = CASE WHEN ? = 'cancelled' THEN COALESCE(status_detail, ?) ELSE status_detail END "
                f"WHERE execution_id = ? AND status NOT IN {_FINAL_SQL}",
                (leftover, completed, leftover, "not run: the prompt ended without running it", row_id),
            )
            return True

        return self._transaction(work)

    # --------------------------------------------------------------------- reads
    def _entry(self, row: sqlite3.Row | tuple[Any, ...]) -> JournalEntry:
        (
            id_,
            prompt_id,
            server_url,
            client_id,
            workflow_id,
            name,
            number,
            status,
            status_detail,
            lost,
            retry_of,
            progress,
            outputs_json,
            output_files_json,
            error_json,
            node_errors_json,
            created_at,
            started_at,
            completed_at,
            updated_at,
            node_count,
        ) = row
        error = None
        if error_json:
            try:
                error = ErrorReport.model_validate_json(error_json)
            except ValueError:
                error = None
        files = []
        for item in _loads(output_files_json, []):
            try:
                files.append(OutputFile.model_validate(item))
            except ValueError:
                continue
        return JournalEntry(
            id=id_,
            prompt_id=prompt_id,
            server_url=server_url,
            client_id=client_id,
            workflow_id=workflow_id,
            name=name,
            number=number,
            status=TaskStatus(status),
            status_detail=status_detail,
            lost=bool(lost),
            retry_of=retry_of,
            progress=progress or 0.0,
            outputs=_loads(outputs_json, {}),
            output_files=files,
            error=error,
            node_errors=_loads(node_errors_json, {}),
            created_at=_dt(created_at) or utc_now(),
            started_at=_dt(started_at),
            completed_at=_dt(completed_at),
            updated_at=_dt(updated_at) or utc_now(),
            node_count=node_count,
        )

    def _fill(self, entry: JournalEntry) -> JournalEntry:
        row = self._conn.execute("SELECT prompt_json FROM executions WHERE id = ?", (entry.id,)).fetchone()
        entry.prompt = _loads(row[0] if row else None, {})
        entry.nodes = [
            JournalNode(
                node_id=r[0],
                class_type=r[1],
                name=r[2],
                status=TaskStatus(r[3]),
                cached=bool(r[4]),
                progress=r[5] or 0.0,
                value=r[6],
                max=r[7],
                started_at=_dt(r[8]),
                completed_at=_dt(r[9]),
                error=r[10],
                error_type=r[11],
                status_detail=r[12],
                traceback=_loads(r[13], []),
                outputs=_loads(r[14], {}),
            )
            for r in self._conn.execute(
                "SELECT node_id, class_type, name, status, cached, progress, value, max, started_at, "
                "completed_at, error, error_type, status_detail, traceback_json, outputs_json "
                "FROM nodes WHERE execution_id = ?",
                (entry.id,),
            )
        ]
        entry.nodes.sort(key=lambda n: _node_sort_key(n.node_id))
        return entry

    def list_executions(
        self,
        *,
        status: TaskStatus | str | Iterable[TaskStatus | str] | None = None,
        text: str | None = None,
        server: str | None = None,
        limit: int = 200,
        full: bool = False,
    ) -> list[JournalEntry]:
        """Newest first. ``status`` may include ``"lost"``; ``text`` matches name, ids, errors."""
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            clauses = []
            plain = [str(TaskStatus(s).value) for s in wanted if str(s) != "lost"]
            if plain:
                clauses.append(f"(status IN ({', '.join('?' * len(plain))}) AND lost = 0)")
                args.extend(plain)
            if any(str(s) == "lost" for s in wanted):
                clauses.append("lost = 1")
            where.append("(" + " OR ".join(clauses) + ")")
        if server:
            where.append("server_url = ?")
            args.append(normalize_server(server))
        if text:
            pattern = f"%{_escape_like(text)}%"
            where.append(
                "("
                + " OR ".join(
                    f"{col} LIKE ? ESCAPE '\\'"
                    for col in ("name", "workflow_id", "prompt_id", "id", "status_detail", "error_json")
                )
                + ")"
            )
            args.extend([pattern] * 6)
        sql = f"SELECT {_LIST_COLUMNS} FROM executions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(max(0, int(limit)))
        entries = [self._entry(row) for row in self._conn.execute(sql, args)]
        return [self._fill(e) for e in entries] if full else entries

    def get(self, key: str) -> JournalEntry | None:
        """An entry by execution id (or an id folded into it) or by prompt_id, with prompt and nodes."""
        row_id = self._aliases.get(key, key)
        row = self._conn.execute(
            f"SELECT {_LIST_COLUMNS} FROM executions WHERE id = ? OR prompt_id = ? "
            "ORDER BY (id = ?) DESC LIMIT 1",
            (row_id, key, row_id),
        ).fetchone()
        return self._fill(self._entry(row)) if row else None

    def unfinished(self, server: str | None) -> list[JournalEntry]:
        """Executions of a server that were not final when last written, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_LIST_COLUMNS} FROM executions WHERE status NOT IN {_FINAL_SQL} "
            "AND server_url IS ? ORDER BY created_at",
            (normalize_server(server),),
        ).fetchall()
        return [self._fill(self._entry(row)) for row in rows]

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM executions").fetchone()[0])

    # ------------------------------------------------------------------- pruning
    def count_unfinished(self, server: str | None) -> dict[str | None, int]:
        """Executions of a server not final when last written, by owner (None: no live owner
        recorded); a cheap local read."""
        # IN, not NOT IN: the status index then finds the few open rows among thousands of final ones.
        open_statuses = [s.value for s in TaskStatus if not s.is_final]
        rows = self._conn.execute(
            f"SELECT owner, COUNT(*) FROM executions WHERE status IN ({', '.join('?' * len(open_statuses))}) "
            "AND server_url IS ? GROUP BY owner",
            (*open_statuses, normalize_server(server)),
        ).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    def prune(
        self,
        *,
        older_than: timedelta | None = None,
        keep: int | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> PruneResult:
        """Delete finished executions (with their nodes) created before ``now - older_than``,
        or beyond the newest ``keep`` finished ones; either bound removes a row. Unfinished
        executions are never touched: reconcile still has to settle them."""
        if older_than is None and keep is None:
            raise ValueError("prune needs older_than, keep or both")
        if older_than is not None and older_than <= timedelta(0):
            raise ValueError(f"older_than must be positive, not {older_than}")
        if keep is not None and keep < 0:
            raise ValueError(f"keep must be 0 or more, not {keep}")
        clauses: list[str] = []
        args: list[Any] = []
        if older_than is not None:
            cutoff = (now or utc_now()) - older_than
            loose = iso(cutoff + _MAX_UTC_OFFSET)
            # The string test uses the created_at index; its margin covers any UTC offset a
            # timestamp was written with, and julianday() then compares the instants exactly.
            clauses.append("(created_at < ? AND julianday(created_at) < julianday(?))")
            args.extend([loose, iso(cutoff)])
            if (
                keep is None
                and not self._conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM executions WHERE created_at < ?)", (loose,)
                ).fetchone()[0]
            ):
                # Nothing that old (the usual case when the journal opens): no write lock taken.
                return PruneResult(executions=0, nodes=0, dry_run=dry_run)
        if keep is not None:
            clauses.append(
                f"id NOT IN (SELECT id FROM executions WHERE status IN {_FINAL_SQL} "
                "ORDER BY created_at DESC, id DESC LIMIT ?)"
            )
            args.append(keep)
        # "+status": keeps the planner on the created_at index (a status index scan reads every final row).
        selection = f"SELECT id FROM executions WHERE +status IN {_FINAL_SQL} AND ({' OR '.join(clauses)})"

        def work() -> PruneResult:
            if dry_run:
                executions = self._conn.execute(f"SELECT COUNT(*) FROM ({selection})", args).fetchone()[0]
                nodes = self._conn.execute(
                    f"SELECT COUNT(*) FROM nodes WHERE execution_id IN ({selection})", args
                ).fetchone()[0]
                return PruneResult(executions=int(executions), nodes=int(nodes), dry_run=True)
            # Nodes first and explicitly: the cascade needs foreign_keys on, which is per connection.
            nodes_deleted = self._conn.execute(
                f"DELETE FROM nodes WHERE execution_id IN ({selection})", args
            ).rowcount
            executions_deleted = self._conn.execute(
                f"DELETE FROM executions WHERE id IN ({selection})", args
            ).rowcount
            return PruneResult(executions=executions_deleted, nodes=nodes_deleted)

        return self._transaction(work)

    def file_size(self) -> int:
        """Bytes on disk: the database plus its write-ahead log."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += Path(f"{self.path}{suffix}").stat().st_size
            except OSError:
                continue
        return total

    def vacuum(self) -> None:
        """Give the space of deleted rows back to the file system (rewrites the whole file)."""
        try:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc


def _node_sort_key(node_id: str) -> tuple[tuple[int, str], ...]:
    """Order ids like 2, 10, 2.0.0.1, 12:5 numerically where they are numbers."""
    parts = node_id.replace(":", ".").split(".")
    return tuple((int(p), "") if p.isdigit() else (1 << 62, p) for p in parts)
