"""Long-lived objects out of the garbage collector's way, so a full collection does not stall a key.

CPython's full (generation 2) collection walks every object it tracks. Textual, pydantic, the
panes and the server's node catalogue are well over 100,000 objects that live as long as the
app; walking them took 60-150 ms, and it came in the middle of key presses (the slowest Tabs
of the scale benchmark were these pauses). Once they exist (a second after the first frame, and
again when the node catalogue has arrived) they are moved to the permanent generation: the
collector then walks only what was made since. Garbage is collected first, as frozen garbage would stay.

Before that, while the modules load and the first frame is built, the collector's automatic
passes only walk objects that all survive (two full passes, about 20 ms of a cold start):
``comfy-reality-tui`` holds them (:func:`hold_collections`) until the first freeze.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

FREEZE_AFTER = 1.0
"""Seconds after the first frame before start-up's objects are frozen: the collection first (about
25 ms) then falls after the journal, the workflow scan and the first keys, not before them."""
QUIET = 1.0
"""Seconds without a frame that count as a quiet moment for a full collection."""
LONGEST = 60.0
"""A full collection that is due waits at most this long for a quiet moment (a long run never has one)."""
BACKLOG = 3
"""A due full collection runs at once, quiet or not, once this many times CPython's own threshold of
younger collections has passed without one. Waiting by time alone let garbage pile up as fast as it
was made: 1,000 trivial runs queued in 20 s left 12 MB of it (Textual's drawn lines and layout maps,
httpx's responses: reference cycles that outlive the younger collections)."""

_saved_threshold: tuple[int, int, int] | None = None

_held = False
"""Automatic collections are off because :func:`hold_collections` turned them off."""


def hold_collections() -> None:
    """No automatic collections until :func:`freeze_long_lived` (or :func:`release_collections`)."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


def release_collections() -> None:
    """Automatic collections on again, if :func:`hold_collections` turned them off."""
    global _held
    if _held:
        gc.enable()
        _held = False


def freeze_long_lived() -> None:
    """Collect what is garbage now, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()
    release_collections()


def thaw() -> None:
    """When the app ends: what was frozen can be collected again (another app may follow in this
    process, as in tests and benchmarks; frozen, the old one's panes would never be freed), and
    full collections run by themselves again."""
    global _saved_threshold, _active
    _active = None
    gc.unfreeze()
    if _saved_threshold is not None:
        gc.set_threshold(*_saved_threshold)
        _saved_threshold = None
    release_collections()


class QuietCollector:
    """Full collections at quiet moments, not in the middle of a key.

    What a big run leaves (its tasks, tree rows, drawn lines) is not frozen: it is freed as the
    session forgets old executions. A full collection walks it all, 30-40 ms after a 500-node run,
    and CPython starts one whenever enough objects have survived, often in the middle of a Tab.
    Here CPython's full collections are off; one that is due (by CPython's own count) runs once no
    frame has been drawn for QUIET seconds, or after LONGEST seconds whatever happens.
    Younger generations are collected as before. However busy the app is, a collection due BACKLOG
    times over runs at once: what waits for it is bounded by the garbage made, not only by time.
    """

    def __init__(
        self,
        quiet: float = QUIET,
        longest: float = LONGEST,
        clock: Callable[[], float] = time.monotonic,
        backlog: int = BACKLOG,
    ) -> None:
        self.quiet = quiet
        self.longest = longest
        self.backlog = backlog
        self._clock = clock
        self.drawn_at = clock()
        self.collected_at = clock()
        self.collections = 0
        self._due_after = gc.get_threshold()[2]

    def start(self) -> None:
        """Take full collections over from CPython (until :func:`thaw`)."""
        global _saved_threshold
        threshold = gc.get_threshold()
        if _saved_threshold is None:
            _saved_threshold = threshold
        self._due_after = _saved_threshold[2]
        gc.set_threshold(threshold[0], threshold[1], 1 << 30)

    def frame_drawn(self) -> None:
        self.drawn_at = self._clock()

    def check(self) -> bool:
        """Run a due full collection if now is a quiet moment (or it waited too long); True if it ran."""
        pending = gc.get_count()[2]  # younger collections since the last full one
        if pending < self._due_after:
            return False
        now = self._clock()
        waiting = now - self.drawn_at < self.quiet and now - self.collected_at < self.longest
        if waiting and pending < max(self._due_after, 1) * self.backlog:
            return False
        gc.collect()
        self.collected_at = self._clock()
        self.collections += 1
        return True


_active: QuietCollector | None = None
"""The collector :func:`collect_when_quiet` started, which every screen's frames concern."""


def collect_when_quiet(owner: MessagePump) -> QuietCollector:
    """A started QuietCollector, checked on ``owner``'s timer; tell it of each frame (``frame_drawn``)."""
    global _active
    collector = QuietCollector()
    collector.start()
    owner.set_interval(collector.quiet / 2, collector.check)
    _active = collector
    return collector


def frame_drawn() -> None:
    """A frame of another screen than the one that started the collector (History): the app is
    not quiet. Without this a full collection (20-50 ms) ran in the middle of History's keys,
    one second after the main screen's last frame."""
    if _active is not None:
        _active.frame_drawn()


__all__ = [
    "FREEZE_AFTER",
    "QuietCollector",
    "collect_when_quiet",
    "frame_drawn",
    "freeze_long_lived",
    "hold_collections",
    "release_collections",
    "thaw",
]
