"""The synchronous SQLite side of the journal: the store, and the writes it makes.

Everything here runs on one thread (the journal's writer thread, or a caller that uses
:class:`JournalStore` directly, such as the benchmark). The database is shared between app
instances, so every write is one ``BEGIN IMMEDIATE`` transaction and every row is an upsert:
an execution is keyed by its id, and a second id for the same ``(server_url, prompt_id)``
(another instance re-attaching to the prompt) is folded into the existing row.

The parts live in their own modules: row shapes in :mod:`.rows`, the schema in :mod:`.schema`,
the connection in :mod:`.connection`, reads in :mod:`.queries`, retention in :mod:`.prune`.
This module holds the writes and re-exports the rest under their historic names.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import JournalError
from ..runtime.models import TaskStatus, utc_now
from .connection import DEFAULT_BUSY_TIMEOUT, StoreConnection
from .prune import StorePruning
from .queries import StoreQueries
from .rows import (
    _FINAL,
    _FINAL_SQL,
    MAX_JSON_BYTES,
    ExecutionSnapshot,
    JournalEntry,
    JournalNode,
    NodeSnapshot,
    PruneResult,
    ServerHistoryResult,
    _payload,
    dumps,
    finite,
    iso,
    normalize_server,
)
from .schema import _EXEC_UPSERT, _NODE_UPSERT, MIGRATIONS, SCHEMA_VERSION
from .schema import _migrate_to_1 as _migrate_to_1  # tests build schema-1 files with it

# Historic import path: everything the store module used to define stays importable from here.
__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "MAX_JSON_BYTES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ExecutionSnapshot",
    "JournalEntry",
    "JournalError",
    "JournalNode",
    "JournalStore",
    "NodeSnapshot",
    "PruneResult",
    "ServerHistoryResult",
    "StoreConnection",
    "dumps",
    "finite",
    "iso",
    "normalize_server",
]


OWN_RESOLUTIONS_KEPT = 256
"""Executions whose own row the store remembers resolving (the newest): a long session's writes
would otherwise keep every execution id and prompt id of the session."""


class JournalStore(StoreQueries, StorePruning):
    """One connection to the journal file. Not thread-safe: use it from one thread."""

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
        own = self._own
        own[execution_id] = prompt_id
        if len(own) > OWN_RESOLUTIONS_KEPT:
            # A cache, bounded for a long session: a forgotten resolution costs one SELECT, no more.
            del own[next(iter(own))]
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
