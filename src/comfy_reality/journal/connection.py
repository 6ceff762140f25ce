"""One SQLite connection to the journal file: opening, migrating, transactions, error advice.

The base of :class:`~comfy_reality.journal.store.JournalStore`; the query and prune parts
build on it, so each of them sees the same connection and the same ``_transaction``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import JournalError
from .schema import MIGRATIONS, SCHEMA_VERSION

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT = 10.0
PAGE_CACHE_KIB = 256
"""SQLite's page cache per connection (its default is 2,000 KiB). A long session writes new pages
all the time, so the cache fills to its bound whatever it is; History reads a page of rows through
an index, from the OS's file cache as fast as from SQLite's (``benchmarks.history``)."""


class StoreConnection:
    """The journal file's connection and its plumbing. Not thread-safe: use it from one thread."""

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
            self._conn.execute(f"PRAGMA cache_size = -{int(PAGE_CACHE_KIB)}")
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
