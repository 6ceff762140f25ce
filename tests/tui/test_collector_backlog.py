"""Full collections held for a quiet moment are still bounded by the garbage waiting for them."""

from __future__ import annotations

import gc

from comfy_reality.tui.gc_tuning import BACKLOG, QuietCollector, thaw


def test_a_collection_due_backlog_times_over_runs_while_frames_are_drawn() -> None:
    """Executions queued back to back draw frames all the time: before, the garbage their frames
    and requests left waited up to a minute (12 MB over 1,000 quick runs); now a collection due
    ``backlog`` times over runs at once."""
    now = [100.0]
    full: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(1)

    before = gc.get_threshold()
    collector = QuietCollector(quiet=1.0, longest=60.0, clock=lambda: now[0], backlog=3)
    gc.callbacks.append(seen)
    gc.disable()  # only the collections this test makes count
    try:
        collector.start()
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
    finally:
        gc.enable()
        gc.callbacks.remove(seen)
        thaw()
    assert gc.get_threshold() == before
    assert BACKLOG >= 2  # the quiet moment still comes first in an ordinary session
