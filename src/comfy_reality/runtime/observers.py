"""Observer sockets: extra connections under a previous instance's ``client_id``.

ComfyUI sends a prompt's live messages only to the newest socket of the ``client_id`` it was
POSTed with. A prompt re-attached after a restart was POSTed by an instance that is gone, so
the runtime may open a socket under that old id (an observer) to follow it live again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection

from comfy_reality.logs import get_logger

from ..errors import ComfyError
from .client import ComfyUIClient
from .connection import Backoff, Connection
from .protocol import Frame
from .tracker import Tracker

log = get_logger("comfy_reality.runtime")

# An observer socket that cannot connect (or keeps dropping at once) this many times in a row
# gives up: the /history poller still finishes its prompts.
OBSERVER_MAX_FAILURES = 5
# How long an observer that missed two status broadcasts gets to show it is still routed
# (its frames may just be waiting to be read) before it is reopened.
OBSERVER_SILENCE_GRACE = 1.0


class Observer:
    """The prompts followed under one foreign client_id, and the socket that follows them."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.prompt_ids: set[str] = set()
        self.connection: Connection | None = None
        # The main socket's status count when this socket last received anything. ComfyUI
        # broadcasts status to every registered socket; when any socket of a client_id closes
        # it forgets that client_id, so an older socket of the old client closing late leaves
        # this one open but unrouted. Silence across two broadcasts the main socket got, and
        # for a grace period after, = that.
        self.mark = 0
        self.last_progress: tuple[str | None, str | None] = (None, None)
        self.suspect = False
        self.heard = asyncio.Event()

    @property
    def label(self) -> str:
        # A client_id is a routing key (whoever holds it gets the messages): log a prefix only.
        return self.client_id[:8]

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self.connection.task if self.connection is not None else None

    @property
    def ws(self) -> ClientConnection | None:
        return self.connection.ws if self.connection is not None else None

    @property
    def connections(self) -> int:
        return self.connection.connections if self.connection is not None else 0

    def heard_from(self, status_count: int) -> None:
        """A frame arrived on this observer's socket: it is still routed."""
        self.mark = status_count
        if self.suspect:
            self.heard.set()

    def silent_since(self, status_count: int) -> bool:
        """Missed two status broadcasts the main socket got (and not already being checked)."""
        return self.ws is not None and not self.suspect and status_count - self.mark >= 2

    def begin_check(self) -> None:
        """Suspect it from now on; any frame that arrives clears the suspicion (:meth:`heard_from`)."""
        self.suspect = True
        self.heard.clear()

    async def verify(self, ws: ClientConnection, grace: float = OBSERVER_SILENCE_GRACE) -> bool:
        """After :meth:`begin_check`: True when a frame came within ``grace`` seconds, or the socket
        changed meanwhile; False when it stayed silent (the caller reopens it)."""
        try:
            await asyncio.wait_for(self.heard.wait(), grace)
        except TimeoutError:
            return self.ws is not ws
        finally:
            self.suspect = False
        return True


Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[None] | None"]


class ObserverSet:
    """The observer sockets of one runtime, by the client_id each listens as.

    It owns the sockets only; the runtime lends it what it needs as callables: ``route`` (fold a
    message in for one observer's prompts), ``spawn`` (a background job of the session),
    ``tracker_of`` (a prompt's tracker), ``status_count`` (status broadcasts the main socket got),
    ``active`` (the session is open), ``reconcile`` (ask the server where a prompt is) and
    ``gave_up`` (an observer stopped: polling must follow its prompts).
    """

    def __init__(
        self,
        client: ComfyUIClient,
        backoff: Backoff,
        *,
        route: Callable[[Frame, Observer], None],
        spawn: Spawn,
        tracker_of: Callable[[str], Tracker | None],
        status_count: Callable[[], int],
        active: Callable[[], bool],
        reconcile: Callable[[Tracker], Awaitable[bool]],
        gave_up: Callable[[], None],
    ) -> None:
        self.client = client
        self.backoff = backoff
        self.by_client: dict[str, Observer] = {}
        self._route = route
        self._spawn = spawn
        self._tracker_of = tracker_of
        self._status_count = status_count
        self._active = active
        self._reconcile = reconcile
        self._gave_up = gave_up

    def states(self) -> dict[str, bool]:
        """client_id -> connected, for every observer open now."""
        return {client_id: o.ws is not None for client_id, o in self.by_client.items()}

    def add(self, client_id: str, prompt_id: str) -> Observer:
        """Follow ``prompt_id`` on the socket of ``client_id`` (opened if it is not running)."""
        observer = self.by_client.get(client_id)
        if observer is None:
            observer = self.by_client[client_id] = Observer(client_id)
        observer.prompt_ids.add(prompt_id)
        if observer.task is None or observer.task.done():
            connection = observer.connection = self._connection(observer)
            connection.task = self._spawn(self._run(observer, connection), f"observe-{observer.label}")
        return observer

    def remove(self, client_id: str, prompt_id: str) -> None:
        """The prompt ended: close its observer socket if no other prompt of that client_id is left."""
        observer = self.by_client.get(client_id)
        if observer is None:
            return
        observer.prompt_ids.discard(prompt_id)
        if observer.prompt_ids:
            return
        del self.by_client[client_id]
        task = observer.task
        if task is not None and not task.done():
            if task is not asyncio.current_task():
                task.cancel()
            elif observer.ws is not None:  # from inside its own loop: end the read instead
                self._spawn(observer.ws.close(), f"close-observer-{observer.label}")
        log.info("observer_closing", observed_client=observer.label, reason="its last prompt ended")

    def clear(self) -> None:
        """The session closed: forget every observer (their tasks ended with the session)."""
        for observer in self.by_client.values():
            for prompt_id in observer.prompt_ids:
                if (tracker := self._tracker_of(prompt_id)) is not None:
                    tracker.observed = False
        self.by_client.clear()

    def check(self) -> None:
        """After a status broadcast: suspect an observer the server may have stopped routing to."""
        count = self._status_count()
        for observer in self.by_client.values():
            ws = observer.ws
            if ws is None or not observer.silent_since(count):
                continue
            observer.begin_check()
            self._spawn(self._verify(observer, ws), f"verify-observer-{observer.label}")

    # ---------------------------------------------------------------- internals
    def _is_active(self, observer: Observer) -> bool:
        return (
            self._active()
            and bool(observer.prompt_ids)
            and self.by_client.get(observer.client_id) is observer
        )

    def _connection(self, observer: Observer) -> Connection:
        def opened(_reconnected: bool) -> None:
            observer.mark = self._status_count()
            observer.suspect = False
            log.info("observer_connected", observed_client=observer.label, prompts=len(observer.prompt_ids))
            # What happened before this socket opened (the prompt may be over already): ask.
            self._spawn(self._reconcile_prompts(observer), f"reconcile-observed-{observer.label}")

        def connect_failed(reason: str, _retry_in: float, _failures: int, _ever: bool) -> None:
            log.warning(
                "observer_connect_failed",
                observed_client=observer.label,
                reason=reason,
                attempt=connection.failed_in_a_row,
            )

        def dropped(reason: str, _retry_in: float) -> None:
            log.info("observer_dropped", observed_client=observer.label, reason=reason)

        connection = Connection(
            self.client,
            observer.client_id,
            lambda message: self._route(message, observer),
            backoff=self.backoff,
            active=lambda: self._is_active(observer),
            give_up_after=OBSERVER_MAX_FAILURES,
            on_open=opened,
            on_connect_failed=connect_failed,
            on_drop=dropped,
            on_frame=lambda: observer.heard_from(self._status_count()),
        )
        return connection

    async def _run(self, observer: Observer, connection: Connection) -> None:
        """Hold the socket while it has prompts; when it gives up, polling finishes its prompts."""
        try:
            await connection.run()
        finally:
            if self.by_client.get(observer.client_id) is observer:
                # Gave up (or the session is closing): polling /history follows what is left.
                del self.by_client[observer.client_id]
                for prompt_id in observer.prompt_ids:
                    if (tracker := self._tracker_of(prompt_id)) is not None:
                        tracker.observed = False
                if self._active():
                    log.warning(
                        "observer_gave_up",
                        observed_client=observer.label,
                        failures=connection.failed_in_a_row,
                        message="following those prompts by polling /history only (no live progress)",
                    )
                    self._gave_up()

    async def _verify(self, observer: Observer, ws: ClientConnection) -> None:
        """Reopen the observer unless it receives anything within the grace period."""
        if not await observer.verify(ws):
            log.warning(
                "observer_orphaned",
                observed_client=observer.label,
                message="the server stopped sending to the observer socket; reconnecting it",
            )
            await ws.close()

    async def _reconcile_prompts(self, observer: Observer) -> None:
        for prompt_id in list(observer.prompt_ids):
            tracker = self._tracker_of(prompt_id)
            if tracker is None or not tracker.following:
                continue
            try:
                await self._reconcile(tracker)
            except ComfyError as exc:
                log.debug("observer_reconcile_failed", prompt_id=prompt_id, error=str(exc))
