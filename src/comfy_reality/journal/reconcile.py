"""Reconciliation: settling the executions a server had unfinished when the app last stopped.

Still queued: followed again (live through an observer socket when their owner is gone, else
by polling); finished: read from /history; unknown to the server: marked lost. A mixin of
:class:`~comfy_reality.journal.journal.Journal`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from comfy_reality.logs import get_logger

from ..errors import ComfyError, JournalError
from ..runtime.models import TaskStatus, WorkflowExecution
from .owners import _OPEN, InstanceKey, process_gone
from .rows import CHECKED_ON_SERVER, JournalEntry, normalize_server
from .runtime_like import RuntimeLike
from .server_history import server_history_result

if TYPE_CHECKING:
    from .store import JournalStore

log = get_logger("comfy_reality.journal")
T = TypeVar("T")


@dataclass
class ReconcileReport:
    """What reconcile found for the unfinished executions of one server."""

    server_url: str
    followed: list[WorkflowExecution] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unreachable: str | None = None
    # Followed executions whose live messages come through an observer socket (their recording
    # instance is gone); the others are followed by polling /history.
    live: list[WorkflowExecution] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if self.unreachable:
            return f"Journal: could not check unfinished executions: {self.unreachable}"
        parts = []
        if self.followed:
            live = f" ({len(self.live)} with live progress)" if self.live else ""
            parts.append(f"{len(self.followed)} followed again{live}")
        if self.finished:
            parts.append(f"{len(self.finished)} finished while away")
        if self.lost:
            parts.append(f"{len(self.lost)} lost")
        if self.errors:
            parts.append(f"{len(self.errors)} could not be checked")
        return "Journal: " + (", ".join(parts) if parts else "nothing to recover")


class JournalReconciler:
    """Reconcile and live-follow (observer claims) of a :class:`Journal`."""

    instance: InstanceKey
    _store: JournalStore
    _closed: bool
    _attachments: list[Any]  # journal._Attachment: each has .runtime
    _observing: dict[str, RuntimeLike]
    _written_prompt: set[str]

    if TYPE_CHECKING:

        async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

        async def flush(self, timeout: float | None = 10.0) -> None: ...

        def record(self, runtime: RuntimeLike, execution: WorkflowExecution) -> None: ...

    # ----------------------------------------------------------------- reconcile
    async def reconcile(self, runtime: RuntimeLike, *, follow_live: bool = True) -> ReconcileReport:
        """Settle the executions this server had unfinished when the app last stopped.

        Still queued or running: followed again (``runtime.attach`` with the recorded
        client_id); with ``follow_live``, live through an observer socket when the instance
        that queued them is gone (``report.live``), else by polling. Finished: status and
        outputs read from /history. Unknown to the server (it restarted and lost its queue):
        marked lost with that reason. Call it inside ``runtime.session()``, after
        :meth:`attach`, so the re-attached executions are recorded. A one-shot check that does
        not wait for the prompts passes ``follow_live=False``.
        """
        server = normalize_server(runtime.server_url) or ""
        report = ReconcileReport(server_url=server)
        await self.flush()
        rows = await self._run(self._store.unfinished, server)
        followed_here = {
            e.prompt_id for e in list(runtime.executions.values()) if e.prompt_id and not e.is_final
        }
        rows = [row for row in rows if row.prompt_id not in followed_here or row.prompt_id is None]
        if not rows:
            return report
        try:
            queue = await runtime.client.get_queue()
        except ComfyError as exc:
            report.unreachable = str(exc)
            log.warning("journal_reconcile_unreachable", server=server, reason=str(exc))
            return report
        active = queue_prompt_ids(queue)
        missing: list[JournalEntry] = []
        for row in rows:
            try:
                if not await self._reconcile_one(runtime, row, active, report, follow_live=follow_live):
                    missing.append(row)
            except JournalError:
                raise  # the journal itself failed: not a per-prompt problem
            except ComfyError as exc:
                report.errors.append(f"{row.prompt_id}: {exc}")
                log.warning("journal_reconcile_failed", prompt_id=row.prompt_id, reason=str(exc))
        if missing:
            # A prompt taken off the queue is briefly in neither /queue nor /history: look again
            # before calling it lost.
            try:
                active = queue_prompt_ids(await runtime.client.get_queue())
            except ComfyError as exc:
                report.errors.extend(f"{row.prompt_id}: {exc}" for row in missing)
                missing = []
            for row in missing:
                try:
                    if not await self._reconcile_one(runtime, row, active, report, follow_live=follow_live):
                        await self._mark_lost(row, server, report)
                except JournalError:
                    raise  # the journal itself failed: not a per-prompt problem
                except ComfyError as exc:
                    report.errors.append(f"{row.prompt_id}: {exc}")
        if report.followed and follow_live:
            await self._follow_live(runtime, server, report)
        log.info(
            "journal_reconciled",
            server=server,
            followed=len(report.followed),
            live=len(report.live),
            finished=len(report.finished),
            lost=len(report.lost),
            errors=len(report.errors),
        )
        return report

    async def _follow_live(self, runtime: RuntimeLike, server: str, report: ReconcileReport) -> None:
        """Observer sockets for followed prompts this app queued under a client_id whose instance
        is gone; a runtime without ``observe`` (or a live owner) leaves them to polling."""
        observe = getattr(runtime, "observe", None)
        if not callable(observe):
            return
        own_client = getattr(runtime, "client_id", None)
        by_client: dict[str, list[WorkflowExecution]] = {}
        for execution in report.followed:
            client_id = execution.client_id
            if client_id and client_id != own_client and execution.prompt_id and not execution.is_final:
                by_client.setdefault(client_id, []).append(execution)
        for client_id, executions in by_client.items():
            try:
                owners = await self._run(self._store.owners, server, client_id)
                gone = [await self._owner_gone(owner, client_id) for owner in owners]
                if not owners or not all(gone):
                    log.info(
                        "journal_follow_polling",
                        client=client_id[:8],
                        prompts=len(executions),
                        reason="not queued by this app"
                        if not owners
                        else "the instance that queued them still runs",
                    )
                    continue
                if not await self._run(
                    self._store.claim_client, server, client_id, str(self.instance), set(owners)
                ):
                    log.info(
                        "journal_follow_polling",
                        client=client_id[:8],
                        reason="another instance took them over",
                    )
                    continue
            except JournalError as exc:
                log.warning("journal_follow_live_failed", client=client_id[:8], reason=str(exc))
                continue
            self._observing[client_id] = runtime
            for execution in executions:
                if observe(execution.prompt_id):
                    report.live.append(execution)

    async def _owner_gone(self, owner: str | None, client_id: str) -> bool:
        """Whether the instance recorded as holding ``client_id``'s socket no longer does."""
        if owner is None:
            return True  # released by a clean close
        key = InstanceKey.parse(owner)
        if key is None:
            return False
        if key.same_process(self.instance):
            journal = _OPEN.get(key.token)
            return journal is None or not journal._holds(client_id)
        return await self._run(process_gone, key.host, key.pid, key.started)

    def _holds(self, client_id: str) -> bool:
        """Whether a runtime of this (open) journal may still have a socket under ``client_id``."""
        if self._closed:
            return False
        runtimes = [
            a.runtime for a in self._attachments if getattr(a.runtime, "client_id", None) == client_id
        ]
        if client_id in self._observing:
            runtimes.append(self._observing[client_id])
        return any(getattr(runtime, "session_open", True) for runtime in runtimes)

    async def _reconcile_one(
        self,
        runtime: RuntimeLike,
        row: JournalEntry,
        active: set[str],
        report: ReconcileReport,
        *,
        follow_live: bool = True,
    ) -> bool:
        """Settle one row; False when the server knows nothing about it (yet)."""
        if not row.prompt_id:
            detail = "lost: the app stopped before the server confirmed the prompt, so it cannot be found"
            if await self._run(self._store.mark_lost, row.id, detail):
                report.lost.append(row.id)
            return True
        if row.prompt_id in active:
            execution = await runtime.attach(
                row.prompt_id,
                prompt=row.prompt or None,
                name=row.name,
                client_id=row.client_id,
                number=row.number,
            )
            if not execution.status.is_final:
                # Still going: its times are the recorded ones, not this restart's.
                execution.created_at = row.created_at or execution.created_at
                if row.started_at is not None and execution.started_at is not None:
                    execution.started_at = min(row.started_at, execution.started_at)
                if not follow_live:
                    # A one-shot check: the server has it, though nothing will follow it from here
                    # (not interrupted: see JournalReads.unsettled).
                    execution.status_detail = CHECKED_ON_SERVER
            await self._run(self._store.alias, execution.id, row.id)
            self._written_prompt.add(execution.id)
            if self._attachments:
                self.record(runtime, execution)
            report.followed.append(execution)
            return True
        history = await runtime.client.get_history(row.prompt_id)
        entry = history.get(row.prompt_id) if isinstance(history, dict) else None
        if entry is not None and hasattr(entry, "model_dump"):
            entry = entry.model_dump()
        result = server_history_result(entry, row.prompt_id) if entry is not None else None
        if result is None:
            return False
        if await self._run(self._store.apply_server_history, row.id, result):
            report.finished.append(row.id)
        return True

    async def _mark_lost(self, row: JournalEntry, server: str, report: ReconcileReport) -> None:
        detail = f"lost: the server at {server} no longer knows prompt {row.prompt_id} (it restarted?)"
        if row.status is TaskStatus.PENDING and (row.status_detail or "").startswith(
            ("submitting", "unconfirmed")
        ):
            # Recorded before its POST, never confirmed: most likely the server never got it.
            detail = (
                f"lost: the server at {server} never queued prompt {row.prompt_id} (its POST did not arrive)"
            )
        if await self._run(self._store.mark_lost, row.id, detail):
            report.lost.append(row.id)


def queue_prompt_ids(queue: Any) -> set[str]:
    """Prompt ids in a /queue answer: raw JSON, or the client's QueueState (running / pending)."""
    ids: set[str] = set()
    keys = ("queue_running", "queue_pending") if isinstance(queue, dict) else ("running", "pending")
    for key in keys:
        items = queue.get(key) if isinstance(queue, dict) else getattr(queue, key, None)
        if not isinstance(items, (list, tuple)):
            continue
        for item in items:
            if isinstance(item, (list, tuple)) and len(item) > 1 and isinstance(item[1], str):
                ids.add(item[1])
            elif isinstance(getattr(item, "prompt_id", None), str):
                ids.add(item.prompt_id)
    return ids
