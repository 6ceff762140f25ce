"""The journal's history reads and retention, run on its writer thread after a flush.

A mixin of :class:`~comfy_reality.journal.journal.Journal`: the async face of the store's
queries and prune, kept apart from recording.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from comfy_reality.logs import get_logger

from ..runtime.models import TaskStatus
from .owners import InstanceKey, process_gone, unsettled_rows
from .rows import JournalEntry, PruneResult

if TYPE_CHECKING:
    from .store import JournalStore

log = get_logger("comfy_reality.journal")
T = TypeVar("T")


class JournalReads:
    """History queries, prune and file size of a :class:`Journal`."""

    path: Path
    instance: InstanceKey
    _store: JournalStore
    _attachments: list[Any]  # journal._Attachment: each has .runtime

    if TYPE_CHECKING:

        async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

        async def flush(self, timeout: float | None = 10.0) -> None: ...

    # ------------------------------------------------------------------- queries
    async def list_executions(
        self,
        status: TaskStatus | str | Iterable[TaskStatus | str] | None = None,
        text: str | None = None,
        server: str | None = None,
        limit: int = 200,
        *,
        full: bool = False,
        before: str | None = None,
        after: str | None = None,
        oldest: bool = False,
    ) -> list[JournalEntry]:
        """History, newest first. ``status="lost"`` selects executions the server forgot,
        ``status="interrupted"`` unfinished ones nothing follows any more (see :meth:`unsettled`).

        ``before``/``after`` (an execution id) and ``oldest`` page through it by key."""
        await self.flush()
        followed = self._followed_here()

        def read() -> list[JournalEntry]:
            return self._store.list_executions(
                status=status,
                text=text,
                server=server,
                limit=limit,
                full=full,
                before=before,
                after=after,
                oldest=oldest,
                unsettled=self._unsettled(followed),
            )

        return await self._run(read)

    async def count_executions(
        self,
        status: TaskStatus | str | Iterable[TaskStatus | str] | None = None,
        text: str | None = None,
        server: str | None = None,
    ) -> int:
        """How many executions match these filters (the History's total)."""
        await self.flush()
        followed = self._followed_here()
        return await self._run(
            lambda: self._store.count_executions(
                status=status, text=text, server=server, unsettled=self._unsettled(followed)
            )
        )

    async def get(self, key: str) -> JournalEntry | None:
        """One execution with its prompt and nodes, by execution id or prompt_id."""
        await self.flush()
        followed = self._followed_here()
        return await self._run(lambda: self._store.get(key, self._unsettled(followed)))

    async def unsettled(self) -> frozenset[str]:
        """Ids of the unfinished rows that nothing follows any more: the app that recorded them
        stopped (quit or crashed) during them, no running app holds them, and no server has
        settled them since. Listings show them as ``interrupted``; their rows still say running,
        so a reconcile against their server, whenever it answers, settles them for real."""
        await self.flush()
        followed = self._followed_here()
        return await self._run(self._unsettled, followed)

    def _followed_here(self) -> set[str]:
        """Execution ids the runtimes attached to this journal still follow (on the event loop)."""
        return {
            execution.id
            for attachment in list(getattr(self, "_attachments", ()))
            for execution in list(attachment.runtime.executions.values())
            if not execution.is_final
        }

    def _unsettled(self, followed: set[str]) -> frozenset[str]:
        # On the writer thread: followed execution ids resolved to the rows they write.
        rows = {self._store.resolve(execution_id) for execution_id in followed}
        return unsettled_rows(self._store.open_rows(), rows)

    async def unfinished_count(self, server: str | None) -> int:
        """Executions of ``server`` left unfinished by app instances that are gone: what a
        reconcile would settle. Those of an instance still running (a parallel `run`, an open
        TUI) are its business. A local read, no server round trip."""

        def count() -> int:
            total = 0
            for owner, rows in self._store.count_unfinished(server).items():
                key = InstanceKey.parse(owner) if owner is not None else None
                if key is not None and (
                    key.same_process(self.instance) or not process_gone(key.host, key.pid, key.started)
                ):
                    continue
                total += rows
            return total

        return await self._run(count)

    async def unfinished(self, server: str | None) -> list[JournalEntry]:
        """Executions of ``server`` recorded as not finished (what :meth:`reconcile` settles), oldest first."""
        await self.flush()
        return await self._run(self._store.unfinished, server)

    async def unfinished_by_server(self) -> dict[str | None, int]:
        """How many executions each server has recorded as not finished (a local read)."""
        await self.flush()
        return await self._run(self._store.unfinished_by_server)

    # ------------------------------------------------------------------- pruning
    async def prune(
        self, *, older_than: timedelta | None = None, keep: int | None = None, dry_run: bool = False
    ) -> PruneResult:
        """Forget finished executions older than ``older_than`` or beyond the newest ``keep``.

        Unfinished executions always stay. Space is not given back until :meth:`vacuum`.
        """
        await self.flush()
        result = await self._run(self._store.prune, older_than=older_than, keep=keep, dry_run=dry_run)
        log.info(
            "journal_pruned",
            path=str(self.path),
            executions=result.executions,
            nodes=result.nodes,
            dry_run=dry_run,
        )
        return result

    async def vacuum(self) -> None:
        """Shrink the file after a prune (rewrites it on the writer thread; can take seconds)."""
        await self._run(self._store.vacuum)

    async def file_size(self) -> int:
        """Bytes the journal takes on disk (database plus write-ahead log)."""
        return await self._run(self._store.file_size)
