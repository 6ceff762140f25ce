"""Read queries of the journal store: history lists, one entry with its nodes, open rows.

Reads only (no transaction): a mixin of :class:`~comfy_reality.journal.store.JournalStore`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from ..runtime.models import ErrorReport, OutputFile, TaskStatus, utc_now
from .connection import StoreConnection
from .rows import _FINAL_SQL, CHECKED_ON_SERVER, JournalEntry, JournalNode, _dt, _loads, normalize_server

_LIST_COLUMNS = (
    "id, prompt_id, server_url, client_id, workflow_id, name, number, status, status_detail, lost, "
    "retry_of, progress, outputs_json, output_files_json, error_json, node_errors_json, "
    "created_at, started_at, completed_at, updated_at, "
    "(SELECT COUNT(*) FROM nodes WHERE nodes.execution_id = executions.id) AS node_count"
)


class StoreQueries(StoreConnection):
    """History reads on the store's connection."""

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

    def _filters(
        self,
        status: TaskStatus | str | Iterable[TaskStatus | str] | None,
        text: str | None,
        server: str | None,
        unsettled: frozenset[str] = frozenset(),
    ) -> tuple[list[str], list[Any]]:
        """``unsettled``: the ids of unfinished rows nothing follows (shown as ``interrupted``,
        which the status ``"interrupted"`` selects and the running and pending ones leave out)."""
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            clauses = []
            plain = [str(TaskStatus(s).value) for s in wanted if str(s) not in ("lost", "interrupted")]
            if plain:
                clause = f"status IN ({', '.join('?' * len(plain))}) AND lost = 0"
                args.extend(plain)
                if unsettled and any(not TaskStatus(s).is_final for s in plain):
                    clause += " AND id NOT IN (SELECT value FROM json_each(?))"
                    args.append(json.dumps(sorted(unsettled)))
                clauses.append(f"({clause})")
            if any(str(s) == "lost" for s in wanted):
                clauses.append("lost = 1")
            if any(str(s) == "interrupted" for s in wanted):
                clauses.append("id IN (SELECT value FROM json_each(?))")
                args.append(json.dumps(sorted(unsettled)))
            where.append("(" + " OR ".join(clauses) + ")")
        if server:
            where.append("server_url = ?")
            args.append(normalize_server(server))
        if text:
            # The search copy's one lowercased text (schema v5): a substring anywhere in name,
            # workflow, ids, status detail or error, as the six LIKEs it replaces found it.
            where.append("instr(text, lower(?)) > 0")
            args.append(text)
        return where, args

    def list_executions(
        self,
        *,
        status: TaskStatus | str | Iterable[TaskStatus | str] | None = None,
        text: str | None = None,
        server: str | None = None,
        limit: int = 200,
        full: bool = False,
        before: str | None = None,
        after: str | None = None,
        oldest: bool = False,
        unsettled: frozenset[str] = frozenset(),
    ) -> list[JournalEntry]:
        """Newest first. ``status`` may include ``"lost"`` and ``"interrupted"`` (the rows in
        ``unsettled``, which the entries then say); ``text`` matches name, ids, errors.

        Pages by key, not offset, so a page deep in 20,000 rows costs what the first does:
        ``before``/``after`` an execution id give the page older/newer than that row,
        ``oldest`` the oldest page. Order is (created_at, id), which an index covers.
        """
        where, args = self._filters(status, text, server, unsettled)
        ascending = oldest or after is not None
        anchor = before if before is not None else after
        if anchor is not None:
            op = "<" if before is not None else ">"
            # The anchor's own key, read by id: no datetime text round trip to get wrong.
            where.append(f"(created_at, id) {op} (SELECT created_at, id FROM executions WHERE id = ?)")
            args.append(anchor)
        order = " ORDER BY created_at ASC, id ASC" if ascending else " ORDER BY created_at DESC, id DESC"
        # The page's ids from the narrow search copy, walked in its key order and stopped at the
        # limit; then only those rows read whole.
        ids = "SELECT id FROM execution_search"
        if where:
            ids += " WHERE " + " AND ".join(where)
        ids += order + " LIMIT ?"
        args.append(max(0, int(limit)))
        sql = f"SELECT {_LIST_COLUMNS} FROM executions WHERE id IN ({ids})" + order
        entries = [self._entry(row) for row in self._conn.execute(sql, args)]
        for entry in entries:
            entry.interrupted = entry.id in unsettled
        if ascending:
            entries.reverse()
        return [self._fill(e) for e in entries] if full else entries

    def count_executions(
        self,
        *,
        status: TaskStatus | str | Iterable[TaskStatus | str] | None = None,
        text: str | None = None,
        server: str | None = None,
        unsettled: frozenset[str] = frozenset(),
    ) -> int:
        """How many executions :meth:`list_executions` would page through with these filters."""
        where, args = self._filters(status, text, server, unsettled)
        sql = "SELECT COUNT(*) FROM execution_search"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return int(self._conn.execute(sql, args).fetchone()[0])

    def get(self, key: str, unsettled: frozenset[str] = frozenset()) -> JournalEntry | None:
        """An entry by execution id (or an id folded into it) or by prompt_id, with prompt and nodes."""
        row_id = self._aliases.get(key, key)
        row = self._conn.execute(
            f"SELECT {_LIST_COLUMNS} FROM executions WHERE id = ? OR prompt_id = ? "
            "ORDER BY (id = ?) DESC LIMIT 1",
            (row_id, key, row_id),
        ).fetchone()
        if not row:
            return None
        entry = self._fill(self._entry(row))
        entry.interrupted = entry.id in unsettled
        return entry

    def open_rows(self) -> list[tuple[str, str | None]]:
        """The unfinished rows not marked lost, with their owners: few, found by the status index.
        Those a reconcile last found on their server's queue are left out (that server has them)."""
        open_statuses = [s.value for s in TaskStatus if not s.is_final]
        return [
            (str(row[0]), row[1])
            for row in self._conn.execute(
                f"SELECT id, owner FROM executions WHERE status IN ({', '.join('?' * len(open_statuses))}) "
                "AND lost = 0 AND coalesce(status_detail, '') != ?",
                (*open_statuses, CHECKED_ON_SERVER),
            )
        ]

    def unfinished(self, server: str | None) -> list[JournalEntry]:
        """Executions of a server that were not final when last written, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_LIST_COLUMNS} FROM executions WHERE status NOT IN {_FINAL_SQL} "
            "AND server_url IS ? ORDER BY created_at",
            (normalize_server(server),),
        ).fetchall()
        return [self._fill(self._entry(row)) for row in rows]

    def unfinished_by_server(self) -> dict[str | None, int]:
        """Executions not final when last written, counted by server."""
        open_statuses = [s.value for s in TaskStatus if not s.is_final]
        rows = self._conn.execute(
            f"SELECT server_url, COUNT(*) FROM executions WHERE status IN ({', '.join('?' * len(open_statuses))}) "
            "GROUP BY server_url",
            open_statuses,
        ).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM executions").fetchone()[0])

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


def _node_sort_key(node_id: str) -> tuple[tuple[int, str], ...]:
    """Order ids like 2, 10, 2.0.0.1, 12:5 numerically where they are numbers."""
    parts = node_id.replace(":", ".").split(".")
    return tuple((int(p), "") if p.isdigit() else (1 << 62, p) for p in parts)
