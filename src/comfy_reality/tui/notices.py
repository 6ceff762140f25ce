"""Toasts that can never freeze the app, and bursts of them folded into one.

Textual's toast starts a timer for the notification's ``time_left``. A notification handled
after its own expiry (the loop running seconds behind while prompts are queued) gets a
negative interval, and a Textual timer with a negative interval spins forever at 100% CPU.
So every notification here keeps a positive ``time_left`` (its expiry is still real:
``has_expired`` uses the true clock), and notices of one kind raised close together replace
each other with one summary instead of stacking one toast per queued prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import time

from textual.notifications import Notification, SeverityLevel

MIN_TOAST_SECONDS = 0.5
"""The shortest a toast is shown (and so the shortest timer a toast can start)."""

COALESCE_SECONDS = 1.5
"""Notices of one severity and title raised within this time of the last one become one summary."""

SUMMARY_LINES = 3
"""How many of the folded messages a summary quotes (the newest)."""


@dataclass
class SafeNotification(Notification):
    """A notification whose ``time_left`` never reaches zero (whatever starts a timer with it)."""

    @property
    def time_left(self) -> float:
        return max(MIN_TOAST_SECONDS, (self.raised_at + self.timeout) - time())

    @property
    def has_expired(self) -> bool:
        return (self.raised_at + self.timeout) - time() <= 0


@dataclass
class _Burst:
    """The notices of one kind folded into the toast now shown for them."""

    shown: SafeNotification
    messages: list[str] = field(default_factory=list)
    count: int = 0


class NoticeFolder:
    """Decides what toast a notice becomes: a new one, or the summary of a burst it joins."""

    def __init__(self) -> None:
        self._bursts: dict[tuple[str, str], _Burst] = {}

    def fold(
        self, message: str, *, title: str, severity: SeverityLevel, timeout: float
    ) -> tuple[SafeNotification, SafeNotification | None]:
        """The toast to show and the one it replaces (None: nothing to take down)."""
        now = time()
        timeout = max(MIN_TOAST_SECONDS, timeout)
        key = (severity, title)
        burst = self._bursts.get(key)
        joins = (
            burst is not None
            and now - burst.shown.raised_at < COALESCE_SECONDS
            and not burst.shown.has_expired
        )
        if burst is None or not joins:
            shown = SafeNotification(message, title, severity, timeout, markup=False, raised_at=now)
            self._bursts[key] = _Burst(shown, [message], 1)
            self._forget_expired(now)
            return shown, None
        replaced = burst.shown
        replaced.raised_at = 0.0  # expired: dropped wherever it is, even if not yet shown
        burst.count += 1
        burst.messages = [*burst.messages, message][-SUMMARY_LINES:]
        hidden = burst.count - len(burst.messages)
        text = "\n".join(burst.messages)
        if hidden:
            text = f"{text}\n(and {hidden} more like these)"
        burst.shown = SafeNotification(
            text, title, severity, max(timeout, replaced.timeout), markup=False, raised_at=now
        )
        return burst.shown, replaced

    def _forget_expired(self, now: float) -> None:
        for key, burst in list(self._bursts.items()):
            if burst.shown.raised_at + burst.shown.timeout < now:
                del self._bursts[key]


__all__ = ["COALESCE_SECONDS", "MIN_TOAST_SECONDS", "NoticeFolder", "SafeNotification"]
