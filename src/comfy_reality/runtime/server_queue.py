"""The whole server's queue: every client's prompts in order, who queued them, and steering them.

ComfyUI's ``/queue`` lists the running and pending prompts of *every* client; each item carries
the ``extra_data`` it was POSTed with, so its ``client_id`` names the owner. This app tells its own
prompts (this instance's ``client_id``), its other instances' (client ids the journal recorded)
and other clients' apart.

ComfyUI has no "move" call. A move here is ``POST /queue {"delete"}`` then ``POST /prompt`` with
the **same** ``prompt_id``, prompt and ``extra_data`` (``client_id`` included, so the owner, say a
web UI, still receives its progress) and a new place: ``front: true`` (the server then files it
as ``-counter``, ahead of everything) or an explicit ``number`` (the server keeps it as a float
and orders the heap by it, so a number halfway between two neighbours lands between them). A
prompt that the worker took while it was being moved is left alone (deleting a running prompt is
a no-op on the server) and reported as ``started``. What the server hides from ``/queue`` (newer
servers strip "sensitive" extra_data such as API-node tokens) cannot be re-sent by a move.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ComfyError
from ..logs import get_logger

if TYPE_CHECKING:
    from .client import ComfyUIClient, QueueItem, QueueState
    from .manager import Unsubscribe

__all__ = [
    "DeleteReport",
    "MoveReport",
    "Owner",
    "QueueEntry",
    "QueueSnapshot",
    "ServerQueue",
    "owner_of",
    "workflow_name_of",
]

log = get_logger("comfy_reality.runtime.server_queue")


class Owner(StrEnum):
    """Who queued a prompt, as far as this app can tell from its ``client_id``."""

    THIS_APP = "this app"
    OTHER_INSTANCE = "this app (other instance)"
    OTHER_CLIENT = "other client"
    NO_CLIENT = "no client id"

    @property
    def is_app(self) -> bool:
        return self in (Owner.THIS_APP, Owner.OTHER_INSTANCE)


def owner_of(client_id: str | None, own_client_id: str | None, app_client_ids: Iterable[str] = ()) -> Owner:
    if not client_id:
        return Owner.NO_CLIENT
    if client_id == own_client_id:
        return Owner.THIS_APP
    if client_id in set(app_client_ids):
        return Owner.OTHER_INSTANCE
    return Owner.OTHER_CLIENT


def workflow_name_of(extra_data: Any) -> str | None:
    """The name a client stored with its prompt: the web UI saves its graph in
    ``extra_data.extra_pnginfo.workflow``; a ``name``/``title`` there (or in its ``extra``) wins,
    else the graph's ``id`` is all there is."""
    if not isinstance(extra_data, dict):
        return None
    pnginfo = extra_data.get("extra_pnginfo")
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
    if not isinstance(workflow, dict):
        return None
    extra = workflow.get("extra")
    for source in (workflow, extra if isinstance(extra, dict) else {}):
        for key in ("name", "title", "filename"):
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
    workflow_id = workflow.get("id")
    if isinstance(workflow_id, str) and workflow_id:
        return f"workflow {workflow_id[:8]}"
    return None


def _ms(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


class QueueEntry(BaseModel):
    """One running or pending prompt of any client (its texts are server data: show them as data)."""

    model_config = ConfigDict(frozen=True)

    server_url: str
    state: Literal["running", "pending"]
    position: int  # 0 = running, 1, 2, ... = the order pending prompts will run in
    prompt_id: str
    number: float
    client_id: str | None
    owner: Owner
    workflow_name: str | None
    node_count: int
    # When it was queued: from the server (newer ComfyUI puts create_time in extra_data), else
    # this app's own record of the prompts it queued; None for another client's on an older server.
    queued_at: datetime | None
    first_seen: datetime  # when this app first saw it queued: the age when the server gives none

    @property
    def queue_time_known(self) -> bool:
        """False: :meth:`age` only says how long ago this app first saw it (at least that old)."""
        return self.queued_at is not None

    def age(self, now: datetime | None = None) -> float:
        """Seconds since it was queued (or, when the server does not say, first seen here)."""
        start = self.queued_at or self.first_seen
        return max(0.0, ((now or datetime.now(UTC)) - start).total_seconds())


class QueueSnapshot(BaseModel):
    """The whole queue of one server at one moment; ``error`` says why it could not be read."""

    model_config = ConfigDict(frozen=True)

    server_url: str
    taken_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    running: list[QueueEntry] = Field(default_factory=list)
    pending: list[QueueEntry] = Field(default_factory=list)
    error: str | None = None

    @property
    def entries(self) -> list[QueueEntry]:
        return [*self.running, *self.pending]

    def find(self, prompt_id: str) -> QueueEntry | None:
        return next((e for e in self.entries if e.prompt_id == prompt_id), None)


class DeleteReport(BaseModel):
    """What a delete or clear did: ComfyUI answers 200 whatever happened, so the queue is re-read."""

    deleted: list[str] = Field(default_factory=list)
    running: list[str] = Field(default_factory=list)  # left alone: the server deletes pending only
    not_found: list[str] = Field(default_factory=list)


MoveOutcome = Literal["moved", "unchanged", "started", "running", "not_found", "failed"]


class MoveReport(BaseModel):
    """The result of one move. ``failed`` after the delete means the prompt is no longer queued:
    ``prompt`` and ``extra_data`` hold it so nothing is lost."""

    prompt_id: str
    outcome: MoveOutcome
    detail: str = ""
    number: float | None = None
    position: int | None = None
    prompt: dict[str, Any] | None = None
    extra_data: dict[str, Any] | None = None
    new_prompt_id: str | None = None  # moved to another server of a pool: ids do not cross servers
    server_url: str | None = None  # that other server

    @property
    def ok(self) -> bool:
        return self.outcome in ("moved", "unchanged")


MoveTo = Literal["front", "before", "after", "up", "down"]


class ServerQueue:
    """Read and steer the whole queue of one server over HTTP (see the module docstring).

    ``own_client_id`` is this app instance's id; ``app_client_ids`` the ids of its other
    instances (from the journal); ``name_of(prompt_id)`` names this app's own prompts and
    ``queued_at_of(prompt_id)`` says when this app queued them (the server may not say)."""

    def __init__(
        self,
        client: ComfyUIClient,
        *,
        own_client_id: str | None = None,
        app_client_ids: Iterable[str] = (),
        name_of: Callable[[str], str | None] | None = None,
        queued_at_of: Callable[[str], datetime | None] | None = None,
    ) -> None:
        self.client = client
        self.own_client_id = own_client_id
        self.app_client_ids: set[str] = set(app_client_ids)
        self.name_of = name_of
        self.queued_at_of = queued_at_of
        self._first_seen: dict[str, datetime] = {}

    @property
    def server_url(self) -> str:
        return self.client.server_url

    # ------------------------------------------------------------------ reading
    def owner(self, client_id: str | None) -> Owner:
        return owner_of(client_id, self.own_client_id, self.app_client_ids)

    def _entry(self, item: QueueItem, state: Literal["running", "pending"], position: int) -> QueueEntry:
        now = datetime.now(UTC)
        first_seen = self._first_seen.setdefault(item.prompt_id, now)
        name = workflow_name_of(item.extra_data)
        if name is None and self.name_of is not None:
            name = self.name_of(item.prompt_id)
        owner = self.owner(item.client_id)
        queued_at = _ms(item.extra_data.get("create_time"))
        if queued_at is None and owner.is_app and self.queued_at_of is not None:
            # Only this app's own: another client's prompt this app follows was "created" here
            # when it was first followed, not when it was queued.
            queued_at = self.queued_at_of(item.prompt_id)
        return QueueEntry(
            server_url=self.server_url,
            state=state,
            position=position,
            prompt_id=item.prompt_id,
            number=item.number,
            client_id=item.client_id,
            owner=owner,
            workflow_name=name,
            node_count=len(item.prompt),
            queued_at=queued_at,
            first_seen=first_seen,
        )

    def snapshot_of(self, state: QueueState) -> QueueSnapshot:
        running = [self._entry(item, "running", 0) for item in state.running]
        pending = [self._entry(item, "pending", index + 1) for index, item in enumerate(state.pending)]
        present = {e.prompt_id for e in running} | {e.prompt_id for e in pending}
        for gone in set(self._first_seen) - present:
            del self._first_seen[gone]
        return QueueSnapshot(server_url=self.server_url, running=running, pending=pending)

    async def snapshot(self) -> QueueSnapshot:
        """GET /queue as entries in run order (pending sorted by ``number``, the server's order)."""
        return self.snapshot_of(await self.client.get_queue())

    async def follow(
        self,
        subscribe: Callable[[Callable[[], None]], Unsubscribe],
        *,
        fallback_interval: float = 10.0,
    ) -> AsyncIterator[QueueSnapshot]:
        """Yield a snapshot now and after every queue change the server broadcasts (``status``;
        changes arriving during a read are coalesced into one more read). A failed read yields a
        snapshot with ``error`` and the loop goes on; ``fallback_interval`` re-reads anyway."""
        changed = asyncio.Event()
        changed.set()
        unsubscribe = subscribe(changed.set)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), fallback_interval)
                changed.clear()
                try:
                    snapshot = await self.snapshot()
                except ComfyError as exc:
                    snapshot = QueueSnapshot(server_url=self.server_url, error=str(exc))
                yield snapshot
        finally:
            unsubscribe()

    # ------------------------------------------------------------------ deleting
    async def delete(self, prompt_ids: Iterable[str]) -> DeleteReport:
        """Drop pending prompts of any client; running ones are reported, not interrupted."""
        wanted = list(dict.fromkeys(prompt_ids))
        before = await self.client.get_queue()
        report = DeleteReport()
        targets = []
        for prompt_id in wanted:
            found = before.find(prompt_id)
            if found is None:
                report.not_found.append(prompt_id)
            elif found[0] == "running":
                report.running.append(prompt_id)
            else:
                targets.append(prompt_id)
        if targets:
            await self.client.delete_from_queue(targets)
            after = await self.client.get_queue()
            for prompt_id in targets:
                found = after.find(prompt_id)
                if found is None:
                    report.deleted.append(prompt_id)
                elif found[0] == "running":
                    report.running.append(prompt_id)  # the worker took it first
                else:
                    report.not_found.append(prompt_id)  # still there: the server did not delete it
        log.info("queue_delete", deleted=report.deleted, running=report.running, not_found=report.not_found)
        return report

    async def clear(self, *, only_app: bool = False) -> DeleteReport:
        """Drop every pending prompt (``POST /queue {"clear"}``), or with ``only_app`` only those
        this app queued (this instance or another one); the running prompt always stays."""
        before = await self.client.get_queue()
        if only_app:
            mine = [i.prompt_id for i in before.pending if self.owner(i.client_id).is_app]
            return await self.delete(mine) if mine else DeleteReport()
        await self.client.clear_queue()
        after = await self.client.get_queue()
        left = {i.prompt_id for i in after.pending}
        report = DeleteReport(deleted=[i.prompt_id for i in before.pending if i.prompt_id not in left])
        report.running = [i.prompt_id for i in before.running]
        log.info("queue_clear", deleted=len(report.deleted))
        return report

    # ------------------------------------------------------------------ moving
    async def move(self, prompt_id: str, to: MoveTo, anchor: str | None = None) -> MoveReport:
        """Move a pending prompt: to the ``front``, one place ``up``/``down``, or ``before``/``after``
        the pending prompt ``anchor``. The prompt id, prompt and extra_data stay the same."""
        if to in ("before", "after") and not anchor:
            raise ValueError(f"moving {to} another prompt needs its prompt id")
        if anchor == prompt_id:
            return MoveReport(
                prompt_id=prompt_id, outcome="unchanged", detail="a prompt cannot move around itself"
            )
        before = await self.client.get_queue()
        found = before.find(prompt_id)
        if found is None:
            return MoveReport(prompt_id=prompt_id, outcome="not_found", detail="it is not in the queue")
        if found[0] == "running":
            return MoveReport(prompt_id=prompt_id, outcome="running", detail="it is already running")
        item = found[1]
        order = [i.prompt_id for i in before.pending]
        index = order.index(prompt_id)
        if to == "up" or to == "down":
            neighbour = index - 1 if to == "up" else index + 1
            if neighbour < 0 or neighbour >= len(order):
                return MoveReport(
                    prompt_id=prompt_id,
                    outcome="unchanged",
                    number=item.number,
                    position=index + 1,
                    detail="it is already first" if to == "up" else "it is already last",
                )
            to, anchor = ("before" if to == "up" else "after"), order[neighbour]
        if to == "front" and index == 0:
            return MoveReport(
                prompt_id=prompt_id,
                outcome="unchanged",
                number=item.number,
                position=1,
                detail="it is already first",
            )
        if anchor is not None and before.find(anchor) is None:
            return MoveReport(
                prompt_id=prompt_id, outcome="not_found", detail=f"{anchor} is not in the queue"
            )
        if to == "before" and anchor is not None and index + 1 < len(order) and order[index + 1] == anchor:
            return MoveReport(
                prompt_id=prompt_id,
                outcome="unchanged",
                number=item.number,
                position=index + 1,
                detail="already there",
            )
        if to == "after" and anchor is not None and index > 0 and order[index - 1] == anchor:
            return MoveReport(
                prompt_id=prompt_id,
                outcome="unchanged",
                number=item.number,
                position=index + 1,
                detail="already there",
            )
        return await self._requeue(item, to, anchor)

    async def _requeue(self, item: QueueItem, to: MoveTo, anchor: str | None) -> MoveReport:
        prompt_id = item.prompt_id
        await self.client.delete_from_queue([prompt_id])
        after = await self.client.get_queue()
        found = after.find(prompt_id)
        if found is not None and found[0] == "running":
            log.info("queue_move_started", prompt_id=prompt_id)
            return MoveReport(
                prompt_id=prompt_id,
                outcome="started",
                detail="it started running during the move; left alone",
            )
        if found is not None:
            return MoveReport(
                prompt_id=prompt_id, outcome="failed", detail="the server did not delete it; left in place"
            )
        ran = await self.client.get_history_entry(prompt_id)
        ran_item = ran.item if ran is not None else None
        if ran_item is not None and ran_item.number == item.number:
            return MoveReport(
                prompt_id=prompt_id, outcome="started", detail="it ran during the move; left alone"
            )
        front, number = _place(after, to, anchor, item.number)
        try:
            answer = await self.client.post_prompt(
                item.prompt,
                client_id=item.client_id,
                prompt_id=prompt_id,
                extra_data=item.extra_data,
                front=front,
                number=number,
                partial_execution_targets=item.outputs_to_execute or None,
            )
        except ComfyError as exc:
            log.error("queue_move_lost", prompt_id=prompt_id, error=str(exc)[:300])
            return MoveReport(
                prompt_id=prompt_id,
                outcome="failed",
                detail=f"deleted, but the server refused it back: {exc}",
                prompt=item.prompt,
                extra_data=item.extra_data,
            )
        if answer.prompt_id != prompt_id:  # an old server that ignores a client-chosen id
            log.warning("queue_move_new_id", prompt_id=prompt_id, got=answer.prompt_id)
            return MoveReport(
                prompt_id=prompt_id,
                outcome="failed",
                detail=f"re-queued, but the server gave it a new id {answer.prompt_id}",
                number=answer.number,
            )
        final = await self.client.get_queue()
        placed = final.find(prompt_id)
        position = final.pending.index(placed[1]) + 1 if placed is not None and placed[0] == "pending" else 0
        log.info("queue_moved", prompt_id=prompt_id, to=to, anchor=anchor, number=answer.number)
        if anchor is not None and to != "front" and after.find(anchor) is None:
            return MoveReport(
                prompt_id=prompt_id,
                outcome="unchanged",
                number=answer.number,
                position=position,
                detail=f"{anchor} left the queue meanwhile; put back where it was",
            )
        return MoveReport(prompt_id=prompt_id, outcome="moved", number=answer.number, position=position)


def _place(state: QueueState, to: MoveTo, anchor: str | None, original: float) -> tuple[bool, float | None]:
    """``(front, number)`` for POST /prompt that puts a prompt at ``to`` in ``state.pending``
    (read after the prompt itself was deleted). An anchor that started running meanwhile means
    the front; one that vanished means the prompt's old place."""
    if to == "front":
        return True, None
    pending = state.pending
    index = next((i for i, item in enumerate(pending) if item.prompt_id == anchor), None)
    if index is None:
        if any(item.prompt_id == anchor for item in state.running):
            return True, None
        return False, original
    if to == "before":
        previous = pending[index - 1].number if index > 0 else None
        number = pending[index].number - 0.5 if previous is None else (previous + pending[index].number) / 2
    else:
        following = pending[index + 1].number if index + 1 < len(pending) else None
        number = pending[index].number + 0.5 if following is None else (pending[index].number + following) / 2
    return False, number
