"""The app's quiet-moment collector: full collections wait for a moment with no frame drawn, but
never longer than ``longest``, nor once the garbage waiting is ``backlog`` times what was due."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from comfy_reality.tui.gc_tuning import BACKLOG, QuietCollector, thaw


@contextmanager
def full_collections_counted(collector: QuietCollector) -> Iterator[list[int]]:
    """The collector started; yields a list that grows by one per full collection, then restores CPython's settings."""
    full: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(1)

    before = gc.get_threshold()
    gc.callbacks.append(seen)
    try:
        collector.start()
        yield full
    finally:
        gc.enable()
        gc.callbacks.remove(seen)
        thaw()
    assert gc.get_threshold() == before


def test_full_collections_wait_for_a_quiet_moment() -> None:
    now = [100.0]
    collector = QuietCollector(quiet=1.0, longest=60.0, clock=lambda: now[0], backlog=1 << 30)
    with full_collections_counted(collector) as full:
        assert gc.get_threshold()[2] > 1_000_000  # CPython starts none by itself
        collector._due_after = 0  # one is due
        collector.frame_drawn()
        now[0] += 0.5
        assert not collector.check() and not full  # a frame half a second ago: not now
        now[0] += 0.6
        assert collector.check() and len(full) == 1  # quiet for over a second
        for _ in range(130):  # drawing all the time (a long run): it waits at most `longest`
            now[0] += 0.5
            collector.frame_drawn()
            collector.check()
        assert len(full) == 2
        collector._due_after = 1 << 40  # none due: none runs, however quiet
        now[0] += 10
        assert not collector.check()


def test_a_collection_due_backlog_times_over_runs_while_frames_are_drawn() -> None:
    """Executions queued back to back draw frames all the time: before, the garbage their frames
    and requests left waited up to a minute (12 MB over 1,000 quick runs); now a collection due
    ``backlog`` times over runs at once."""
    now = [100.0]
    collector = QuietCollector(quiet=1.0, longest=60.0, clock=lambda: now[0], backlog=3)
    with full_collections_counted(collector) as full:
        gc.disable()  # only the collections this test makes count
        collector._due_after = 2
        gc.collect()
        full.clear()
        for passes in range(1, 6):
            gc.collect(1)  # one younger collection: CPython counts it towards the next full one
            now[0] += 0.1
            collector.frame_drawn()
            collector.check()
            if passes < 2 * 3:
                assert not full, passes  # due (from 2) but the app is drawing: it waits
        gc.collect(1)
        collector.frame_drawn()
        assert collector.check() and len(full) == 1  # six passes: three times what was due
        assert gc.get_count()[2] == 0
    assert BACKLOG >= 2  # the quiet moment still comes first in an ordinary session
