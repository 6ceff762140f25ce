"""ServerPool: several ComfyUI servers behind one submit / wait / cancel / retry.

A layer above :class:`~.runtime.ComfyUIAsyncRuntime`: one runtime (one socket, one client id,
its own auth) per server, and ONE task manager shared by all, so the app, the printer and the
journal see one task tree. Every execution names its server (``server_url``); everything that
acts on an execution goes to that server's runtime.

Dispatch (see :mod:`.dispatch`): the servers whose ``/object_info`` has every node type and
combo value of the prompt, then the one that would finish it soonest. A pool of one server
dispatches nothing: the prompt goes there as it always did, with no extra request.

Failover (see :mod:`.failover`): a server whose socket stays unreachable for
``failover_after`` seconds is marked down; its waiting prompts are queued elsewhere under a new
prompt id (the new execution's ``retry_of`` names the first), its running ones are reported
lost (or queued elsewhere too with ``retry_lost``). When it comes back, the prompts that moved
are deleted from its queue (or interrupted if it already started one), so nothing runs twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import ComfyError, ExecutionNotFoundError, ServerUnreachableError
from ..logs import get_logger
from .auth import Auth
from .connection import Backoff
from .dispatch import Catalogue, NoCapableServerError, PromptNeeds, RoundRobin, choose_server, prompt_needs
from .dispatch import missing_on as lacks_for
from .manager import AsyncTaskManager, Unsubscribe
from .models import (
    ConnectionState,
    OutputFile,
    ServerStatus,
    TaskEvent,
    TaskType,
    WorkflowExecution,
)
from .runtime import ComfyUIAsyncRuntime, logged_job

__all__ = ["PoolMember", "PoolServer", "ServerPool", "UnknownServerError"]

log = get_logger("comfy_reality.pool")

_FINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})
CATALOGUE_REFRESH_EVERY = 5.0  # seconds: node lists are read again at most this often when none fits


class UnknownServerError(ComfyError):
    """``--server NAME`` names no server of the pool."""


@dataclass(frozen=True)
class PoolServer:
    """One server to pool: where, how to log in, how fast it is relative to the others."""

    url: str
    name: str | None = None
    auth: Auth | None = None
    weight: float = 1.0
    enabled: bool = True

    @classmethod
    def from_entry(cls, entry: Any) -> PoolServer:
        """From a config ``[[servers]]`` table (:class:`comfy_reality.config.ServerEntry`)."""
        return cls(
            url=entry.url,
            name=entry.name,
            auth=Auth.from_settings(entry),
            weight=float(entry.weight),
            enabled=bool(entry.enabled),
        )


def short_name(url: str) -> str:
    """``http://gpu1.lab:8188/comfy`` -> ``gpu1.lab:8188`` (no credentials: hostname and port only)."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = parts.hostname or url
    return f"{host}:{parts.port}" if parts.port else host


def without_userinfo(url: str, auth: Auth | None) -> tuple[str, Auth | None]:
    """``http://user:pw@host`` -> ``http://host`` with the user and password moved into the auth,
    so the URL every execution, log line and summary shows carries no credentials."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.username is None and parts.password is None:
        return url, auth
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    login = {"username": unquote(parts.username or ""), "password": unquote(parts.password or "")}
    # A new Auth (not a copy): building it registers the password with the log redactor.
    return bare, Auth(**{**(auth.model_dump() if auth is not None else {}), **login})


@dataclass(eq=False)
class PoolMember:
    """One server of the pool and what the pool knows about it."""

    name: str
    runtime: ComfyUIAsyncRuntime
    weight: float = 1.0
    enabled: bool = True
    draining: bool = False
    down: bool = False
    catalogue: Catalogue | None = None
    in_flight: int = 0  # this client's prompts there that have not ended
    submitted: int = 0
    # Prompt ids that moved away (or were retried elsewhere) while it was down: deleted from
    # its queue, or interrupted, when it comes back.
    orphans: dict[str, str] = field(default_factory=dict)
    back: asyncio.Event = field(default_factory=asyncio.Event)
    catalogue_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failover_timer: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return self.runtime.server_url

    @property
    def status(self) -> ServerStatus:
        return self.runtime.status

    @property
    def queue_remaining(self) -> int:
        return self.runtime.status.queue_remaining or 0

    @property
    def connected(self) -> bool:
        return self.runtime.status.state is ConnectionState.CONNECTED

    @property
    def taking(self) -> bool:
        """Takes new prompts: enabled, not draining, not down."""
        return self.enabled and not self.draining and not self.down

    @property
    def state(self) -> str:
        """One word for status bars and summaries."""
        if not self.enabled:
            return "disabled"
        if self.down:
            return "down"
        if self.draining:
            return "draining"
        return self.runtime.status.state.value


class ServerPool:
    """Run prompts across several ComfyUI servers (see the module docstring)."""

    def __init__(
        self,
        servers: Sequence[PoolServer | str],
        *,
        task_manager: AsyncTaskManager | None = None,
        failover_after: float = 15.0,
        retry_lost: bool = False,
        timeout: float = 30.0,
        verify_tls: bool = True,
        backoff: Backoff | None = None,
        poll_interval: float = 2.0,
    ) -> None:
        if not servers:
            raise ValueError("A pool needs at least one server.")
        self.task_manager = task_manager or AsyncTaskManager()
        self.failover_after = failover_after
        self.retry_lost = retry_lost
        self._runtime_options: dict[str, Any] = {
            "timeout": timeout,
            "verify_tls": verify_tls,
            "backoff": backoff,
            "poll_interval": poll_interval,
        }
        self.members: list[PoolMember] = []
        self._by_url: dict[str, PoolMember] = {}
        for server in servers:
            self._add_member(server if isinstance(server, PoolServer) else PoolServer(url=server))
        self._turn = RoundRobin()
        self._open: dict[str, PoolMember] = {}  # execution id -> its member, until it ends
        self._replaced_by: dict[str, WorkflowExecution] = {}
        self._stack: AsyncExitStack | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._closing = False
        self._unsubscribe: list[Unsubscribe] = []
        self._listeners: list[Callable[[], None]] = []
        self.failovers = 0
        self._refreshed_at = float("-inf")

    # ----------------------------------------------------------------- members
    def _add_member(self, server: PoolServer) -> PoolMember:
        url, auth = without_userinfo(server.url, server.auth)
        runtime = ComfyUIAsyncRuntime(url, task_manager=self.task_manager, auth=auth, **self._runtime_options)
        if runtime.server_url in self._by_url:
            raise ValueError(f"{runtime.server_url} is in the pool twice.")
        name = server.name or short_name(runtime.server_url)
        taken = {m.name for m in self.members}
        base, n = name, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        member = PoolMember(name=name, runtime=runtime, weight=server.weight, enabled=server.enabled)
        self.members.append(member)
        self._by_url[runtime.server_url] = member
        return member

    def member(self, key: str) -> PoolMember:
        """A member by name or URL (``--server NAME``)."""
        for member in self.members:
            if key in (member.name, member.url):
                return member
        found = self._by_url.get(key.rstrip("/"))
        if found is not None:
            return found
        names = ", ".join(m.name for m in self.members)
        raise UnknownServerError(f"No server named {key!r} in the pool (its servers: {names}).")

    def member_of(self, execution: WorkflowExecution) -> PoolMember:
        """The server an execution ran or runs on (its ``server_url``)."""
        member = self._by_url.get(execution.server_url or "")
        if member is None:
            raise ExecutionNotFoundError(f"Execution {execution.id} names no server of this pool.")
        return member

    def runtime_of(self, execution: WorkflowExecution) -> ComfyUIAsyncRuntime:
        return self.member_of(execution).runtime

    def reference_runtime(self) -> ComfyUIAsyncRuntime:
        """The server whose node specs convert workflows and type overrides: the first enabled one
        that answered (its catalogue is known), else the first."""
        for member in self.members:
            if member.enabled and not member.down and member.catalogue is not None:
                return member.runtime
        return self.members[0].runtime

    @property
    def single(self) -> bool:
        return len(self.members) == 1

    @property
    def executions(self) -> dict[str, WorkflowExecution]:
        """Every execution of every server (a new dict: read it, do not keep it)."""
        merged: dict[str, WorkflowExecution] = {}
        for member in self.members:
            merged.update(member.runtime.executions)
        return merged

    def subscribe_changes(self, callback: Callable[[], None]) -> Unsubscribe:
        """Called whenever a member's state, queue or switch changes (the app's status bar)."""
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return Unsubscribe(remove)

    def notify_changed(self) -> None:
        """Tell the listeners (a switch changed outside the pool, e.g. a front end's pin)."""
        self._changed()

    def _changed(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:
                log.exception("pool_listener_failed")

    # ----------------------------------------------------------------- session
    @asynccontextmanager
    async def session(self) -> AsyncIterator[ServerPool]:
        """Open every server's session; failover watches run while it is open."""
        if self._stack is not None:
            raise RuntimeError("This pool's session is already open.")
        self._closing = False
        body_error: BaseException | None = None
        async with AsyncExitStack() as stack:
            self._stack = stack
            for member in self.members:
                await stack.enter_async_context(member.runtime.session())
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._unsubscribe.append(self.task_manager.subscribe(self._on_event))
                for member in self.members:
                    self._watch(member)
                try:
                    yield self
                except BaseException as exc:  # re-raised below, outside the TaskGroup
                    body_error = exc
                finally:
                    self._closing = True
                    for unsubscribe in self._unsubscribe:
                        unsubscribe()
                    self._unsubscribe.clear()
                    for member in self.members:
                        if member.failover_timer is not None:
                            member.failover_timer.cancel()
                            member.failover_timer = None
            self._tg = None
        self._stack = None
        if body_error is not None:
            raise body_error

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[None] | None:
        if self._tg is None or self._closing:
            coro.close()
            return None
        return self._tg.create_task(logged_job(coro, "pool_job_failed", name), name=name)

    def _watch(self, member: PoolMember) -> None:
        self._unsubscribe.append(
            member.runtime.subscribe_status(lambda status: self._on_status(member, status))
        )
        self._on_status(member, member.runtime.status)

    async def add_server(self, server: PoolServer | str) -> PoolMember:
        """Add a server while the session is open (the app's 'add one for this session')."""
        if self._stack is None:
            raise RuntimeError("Open the pool first: 'async with pool.session(): ...'.")
        member = self._add_member(server if isinstance(server, PoolServer) else PoolServer(url=server))
        await self._stack.enter_async_context(member.runtime.session())
        self._watch(member)
        self._spawn(self._load_catalogue(member), f"catalogue-{member.name}")
        self._changed()
        return member

    async def ready(self) -> None:
        """Read every enabled server's node list; fails only when no server answers at all."""
        if self.single:
            return  # nothing to choose between: the server validates the prompt itself
        wanted = [m for m in self.members if m.enabled]
        results = await asyncio.gather(*(self._load_catalogue(m) for m in wanted), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if wanted and len(errors) == len(wanted):
            first = errors[0]
            if isinstance(first, ComfyError):
                raise first
            raise ServerUnreachableError(wanted[0].url, str(first))

    async def _load_catalogue(self, member: PoolMember, *, refresh: bool = False) -> None:
        """Read a member's node list (once: concurrent callers share the first read)."""
        known = member.catalogue
        async with member.catalogue_lock:
            if member.catalogue is not None and (not refresh or member.catalogue is not known):
                return
            try:
                info = await member.runtime.client.get_object_info()
            except ComfyError as exc:
                log.info("pool_catalogue_unavailable", server=member.name, error=str(exc)[:200])
                raise
            member.catalogue = catalogue = Catalogue.from_object_info(info)
        log.info("pool_catalogue", server=member.name, node_types=len(catalogue.class_types))
        self._changed()

    # ------------------------------------------------------------- state watch
    def _on_status(self, member: PoolMember, status: ServerStatus) -> None:
        if self._closing:
            return
        if status.state is ConnectionState.CONNECTED:
            if member.failover_timer is not None:
                member.failover_timer.cancel()
                member.failover_timer = None
            if member.down:
                member.down = False
                log.info("pool_server_back", server=member.name)
                self._spawn(self._came_back(member), f"came-back-{member.name}")
            elif not member.back.is_set():
                member.back.set()
            if member.catalogue is None and not self.single:
                self._spawn(self._load_catalogue(member), f"catalogue-{member.name}")
        elif not member.down and member.failover_timer is None and not self.single:
            member.failover_timer = self._spawn(self._failover_after(member), f"failover-{member.name}")
        self._changed()

    async def _failover_after(self, member: PoolMember) -> None:
        try:
            await asyncio.sleep(self.failover_after)
        finally:
            if member.failover_timer is asyncio.current_task():
                member.failover_timer = None
        if member.connected or member.down:
            return
        from .failover import fail_over

        member.down = True
        member.back.clear()
        self.failovers += 1
        log.warning("pool_server_down", server=member.name, after=self.failover_after)
        self._changed()
        await fail_over(self, member)

    async def _came_back(self, member: PoolMember) -> None:
        from .failover import clean_returned

        try:
            await clean_returned(member)
        finally:
            member.back.set()
            self._changed()

    async def wait_back(self, name: str, timeout: float | None = None) -> None:
        """Until a member is connected again and what moved away from it is cleaned up there."""
        await asyncio.wait_for(self.member(name).back.wait(), timeout)

    def _on_event(self, event: TaskEvent) -> None:
        """A workflow task ended: its prompt is no longer in flight on its server."""
        if event.task_type is not TaskType.WORKFLOW or event.event_type not in _FINAL_EVENTS:
            return
        member = self._open.pop(event.execution_id or "", None)
        if member is not None:
            member.in_flight -= 1
            self._changed()

    # --------------------------------------------------------------- switches
    def set_enabled(self, name: str, enabled: bool) -> PoolMember:
        """Disabled: takes no new prompts (what it has queued still runs: :meth:`drain` says so)."""
        member = self.member(name)
        member.enabled = enabled
        if enabled:
            member.draining = False
        self._changed()
        return member

    def drain(self, name: str, draining: bool = True) -> PoolMember:
        """Take no new prompts; those already there run to the end."""
        member = self.member(name)
        member.draining = draining
        self._changed()
        return member

    # --------------------------------------------------------------- dispatch
    def choose(
        self,
        prompt: dict[str, Any] | PromptNeeds,
        server: str | None = None,
        exclude: frozenset[str] | set[str] = frozenset(),
    ) -> PoolMember:
        """The member that will run ``prompt`` (see :mod:`.dispatch`); raises when none can."""
        if server is not None:
            member = self.member(server)
            if member.catalogue is not None:
                needs = prompt if isinstance(prompt, PromptNeeds) else prompt_needs(prompt)
                lacks = lacks_for(member.catalogue, needs)
                if lacks:
                    raise NoCapableServerError({member.name: lacks})
            return member
        if self.single:
            return self.members[0]
        needs = prompt if isinstance(prompt, PromptNeeds) else prompt_needs(prompt)
        taking = [m for m in self.members if m.taking and m.name not in exclude]
        connected = [m for m in taking if m.connected]
        best, missing = choose_server(connected or taking, needs, self._turn)
        if best is None and connected and len(connected) < len(taking):
            best, missing = choose_server(taking, needs, self._turn)
        if best is None:
            for m in self.members:
                if not m.taking:
                    missing.setdefault(m.name, [m.state])
                elif m.name in exclude:
                    missing.setdefault(m.name, ["unreachable just now"])
            raise NoCapableServerError({m.name: missing[m.name] for m in self.members if m.name in missing})
        assert isinstance(best, PoolMember)
        return best

    async def _choose_fresh(
        self, prompt: dict[str, Any], server: str | None, exclude: set[str]
    ) -> PoolMember:
        """:meth:`choose`, reading the node lists again once when no server seems able (a model
        may have been added, a server reached for the first time)."""
        try:
            return self.choose(prompt, server, exclude)
        except NoCapableServerError:
            stale = [m for m in self.members if (m.taking and m.name not in exclude) or m.name == server]
            now = asyncio.get_running_loop().time()
            if not stale or now - self._refreshed_at < CATALOGUE_REFRESH_EVERY:
                raise  # a batch of prompts no server can run asks the servers once, not once per prompt
            self._refreshed_at = now
            await asyncio.gather(
                *(self._load_catalogue(m, refresh=True) for m in stale), return_exceptions=True
            )
            return self.choose(prompt, server, exclude)

    # -------------------------------------------------------------------- API
    async def submit(
        self,
        prompt: dict[str, Any],
        *,
        server: str | None = None,
        name: str | None = None,
        workflow_id: str | None = None,
        front: bool = False,
        extra_data: dict[str, Any] | None = None,
        partial_execution_targets: list[str] | None = None,
        retry_of: str | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> WorkflowExecution:
        """Queue a prompt on the best server (or on ``server``, a name or URL)."""
        tried: set[str] = set(exclude)
        while True:
            member = await self._choose_fresh(prompt, server, tried)
            member.in_flight += 1  # counted before the POST: concurrent submits spread out
            try:
                execution = await member.runtime.submit(
                    prompt,
                    name=name,
                    workflow_id=workflow_id,
                    front=front,
                    extra_data=extra_data,
                    partial_execution_targets=partial_execution_targets,
                    retry_of=retry_of,
                )
            except ServerUnreachableError:
                member.in_flight -= 1
                if server is not None or self.single:
                    raise
                tried.add(member.name)  # only this prompt avoids it; failover decides about the server
                if all(m.name in tried for m in self.members if m.taking):
                    raise
                continue
            except BaseException:
                member.in_flight -= 1
                raise
            member.submitted += 1
            if not self.single:
                execution.metadata["server_name"] = member.name  # for front ends: where it runs
            if execution.is_final:
                member.in_flight -= 1
            else:
                self._open[execution.id] = member
            self._changed()
            return execution

    def current(self, execution: WorkflowExecution) -> WorkflowExecution:
        """The newest execution of a prompt that moved to other servers (itself if it never moved)."""
        while execution.id in self._replaced_by:
            execution = self._replaced_by[execution.id]
        return execution

    def replaced(self, old: WorkflowExecution, new: WorkflowExecution) -> None:
        """Failover: ``new`` carries on ``old`` (waiters of ``old`` follow it)."""
        self._replaced_by[old.id] = new

    async def wait(self, execution: WorkflowExecution, timeout: float | None = None) -> WorkflowExecution:
        """The final state of the prompt, following it to the servers it moved to."""
        async with asyncio.timeout(timeout):
            while True:
                final = await self.runtime_of(execution).wait(execution)
                following = self._replaced_by.get(execution.id)
                if following is None:
                    return final
                execution = following

    async def cancel(self, execution: WorkflowExecution) -> WorkflowExecution:
        """Cancel on the server the prompt is on now."""
        execution = self.current(execution)
        return await self.runtime_of(execution).cancel(execution)

    async def retry(self, execution: WorkflowExecution, server: str | None = None) -> WorkflowExecution:
        """Queue the prompt again: on its server if that one still takes prompts, else the best."""
        if not execution.prompt:
            return await self.runtime_of(execution).retry(execution)  # raises the runtime's error
        if server is None:
            member = self._by_url.get(execution.server_url or "")
            if member is not None and member.taking:
                server = member.name
        extra = execution.metadata.get("extra_data")
        return await self.submit(
            execution.prompt,
            server=server,
            name=execution.name,
            workflow_id=execution.workflow_id,
            front=bool(execution.metadata.get("front", False)),
            extra_data=extra if isinstance(extra, dict) else None,
            partial_execution_targets=execution.metadata.get("partial_execution_targets"),
            retry_of=execution.id,
        )

    async def download_output(self, execution: WorkflowExecution, file: OutputFile) -> bytes:
        """An output file's bytes, from the server that made it."""
        return await self.runtime_of(execution).download_output(file)

    def get_execution(self, execution_id: str) -> WorkflowExecution:
        for member in self.members:
            found = member.runtime.executions.get(execution_id)
            if found is not None:
                return found
        raise ExecutionNotFoundError(f"No execution {execution_id} in this pool.")

    def statuses(self) -> list[dict[str, Any]]:
        """Per server, flat and JSON-ready (no credentials: names and bare URLs only)."""
        return [
            {
                "name": m.name,
                "url": m.url,
                "state": m.state,
                "queue_remaining": m.status.queue_remaining,
                "in_flight": m.in_flight,
                "weight": m.weight,
                "submitted": m.submitted,
                "node_types": len(m.catalogue.class_types) if m.catalogue else None,
            }
            for m in self.members
        ]


async def wait_all(pool: ServerPool, executions: Sequence[WorkflowExecution]) -> list[WorkflowExecution]:
    """Every execution's final state (following moves), in order."""
    return list(await asyncio.gather(*(pool.wait(e) for e in executions)))
