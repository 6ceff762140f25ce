"""Pruning of the journal store: dropping old finished executions and shrinking the file.

A mixin of :class:`~comfy_reality.journal.store.JournalStore`; unfinished rows are never pruned.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..runtime.models import utc_now
from .connection import StoreConnection
from .rows import _FINAL_SQL, PruneResult, iso

# The widest offset a timestamp can carry (UTC+14): the margin of prune's index-friendly pre-filter.
_MAX_UTC_OFFSET = timedelta(hours=14)


class StorePruning(StoreConnection):
    """Retention (prune) and file size on the store's connection."""

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
