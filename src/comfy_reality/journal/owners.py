"""App instances and who owns what: the key an open journal records as an execution's owner,
and whether that owner's process still runs.

A prompt's live messages go to the newest socket of its client_id, so another instance may
only take over a client_id whose owner is gone; these helpers decide that.
"""

from __future__ import annotations

import os
import socket
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .journal import Journal


# ------------------------------------------------------------------ app instances
def _process_start(pid: int) -> str | None:
    """When a process started (Linux /proc), to tell a live pid from a reused one. None: no such
    process; "": this system cannot say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode("ascii", "replace")
    except FileNotFoundError:
        return None if os.path.exists("/proc/self/stat") else ""
    except OSError:
        return ""
    fields = text.rsplit(")", 1)[-1].split()  # the command name may hold spaces and ")"
    return fields[19] if len(fields) > 19 else ""


_OWN_START: dict[int, str] = {}


@dataclass(frozen=True)
class InstanceKey:
    """One open journal = one app instance: ``host|pid|process start|random token``."""

    host: str
    pid: int
    started: str
    token: str

    def __str__(self) -> str:
        return f"{self.host}|{self.pid}|{self.started}|{self.token}"

    @classmethod
    def parse(cls, text: str) -> InstanceKey | None:
        parts = text.rsplit("|", 3)
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2], parts[3])

    @classmethod
    def current(cls) -> InstanceKey:
        pid = os.getpid()
        if pid not in _OWN_START:  # read once per process (a forked child reads its own)
            _OWN_START[pid] = _process_start(pid) or ""
        return cls(socket.gethostname(), pid, _OWN_START[pid], uuid.uuid4().hex)

    def same_process(self, other: InstanceKey) -> bool:
        return (self.host, self.pid, self.started) == (other.host, other.pid, other.started)


def process_gone(host: str, pid: int, started: str) -> bool:
    """True only when sure that process no longer runs: same host, and the pid is free or now
    belongs to a process started later. Another host, or no way to check: assume it runs."""
    if host != socket.gethostname() or pid <= 0:
        return False
    now = _process_start(pid)
    if now is None:
        return True
    if now and started:
        return now != started
    if os.name == "nt":
        return False  # os.kill(pid, 0) is no probe on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (EPERM: another user's) or cannot be asked
    return False


# Journals open in this process, by instance token: whether one of them still holds a
# client_id's socket is a question for it, not for the pid.
_OPEN: weakref.WeakValueDictionary[str, Journal] = weakref.WeakValueDictionary()


def owner_gone(owner: str | None, gone_cache: dict[str, bool] | None = None) -> bool:
    """Whether no running app holds an unfinished row recorded with ``owner``: released by a
    clean close (None), its journal closed in this process, or its process no longer runs. An
    owner on another host, or one that cannot be read, is taken to run."""
    if owner is None:
        return True
    if gone_cache is not None and owner in gone_cache:
        return gone_cache[owner]
    key = InstanceKey.parse(owner)
    if key is None:
        gone = False
    elif key.same_process(InstanceKey.current()):
        gone = _OPEN.get(key.token) is None
    else:
        gone = process_gone(key.host, key.pid, key.started)
    if gone_cache is not None:
        gone_cache[owner] = gone
    return gone


def unsettled_rows(open_rows: Iterable[tuple[str, str | None]], followed: Iterable[str]) -> frozenset[str]:
    """Of the unfinished rows (id, owner), those nothing follows: neither their owner (see
    :func:`owner_gone`) nor a runtime of a journal open in this process (``followed``: row ids)."""
    followed = set(followed)
    cache: dict[str, bool] = {}
    return frozenset(
        row_id for row_id, owner in open_rows if row_id not in followed and owner_gone(owner, cache)
    )
