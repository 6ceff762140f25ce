"""How soon the event pump may post its next batch: at the frame rate, slower under a flood.

Every batch costs the app a fold, a redraw of what moved and a composed frame. While a big graph
floods the runtime (hundreds of nodes restated many times a second) the screen cannot show more
than the eye follows, so batches are spaced further apart:

* a lone event after a quiet spell (a node starting, a run ending) goes out at once;
* under a flood a batch waits at least ``FLOOD_FACTOR`` frames after the last one, and up to
  ``SLOW_FACTOR`` frames (5 batches a second at 30 frames a second) while what piled up is only
  node progress and node states: the node list and the tree move five times a second, in steps
  of several nodes when hundreds run fast (a 500-node chain finishes about 8 nodes a step);
* a run's own change of state (created, started, ended) or a failure ends that wait at the
  ``FLOOD_FACTOR`` mark: what the user acts on is not held back.

Keys never wait on this: Textual handles them as its own messages, between batches, and draws
their effect in its next frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..runtime.kinds import LIFECYCLE_EVENTS, TaskType

if TYPE_CHECKING:
    from ..runtime.models import TaskEvent

FLOOD_EVENTS = 32
"""A batch of this many task events is a flood by itself."""
FLOOD_FACTOR = 2.0
"""Under a flood, batches are at least this many frame intervals apart (about 15 a second)."""
SLOW_FACTOR = 6.0
"""Under a flood of progress only, batches are this many frame intervals apart (5 a second).
benchmarks.app_cpu, 500-node chain, two runs each: 4 frames (7.5 a second): app 11.8, 10.0 % of a
core; 6 frames: 9.1, 7.8 % (folding 0.9 -> 0.5 %, composing 2.7 -> 2.0 %)."""


def batch_spacing(frame_interval: float, batch_events: int, waiting: int) -> float:
    """Seconds from one batch's post to the next, at the soonest.

    ``batch_events``: events in the batch just posted; ``waiting``: events already buffered one
    frame later (the stream did not pause, so the next batch would follow within a frame).
    """
    if is_flood(batch_events, waiting):
        return frame_interval * FLOOD_FACTOR
    return frame_interval


def is_flood(batch_events: int, waiting: int) -> bool:
    """Whether the stream floods: a big batch, or more events already waiting a frame later."""
    return batch_events >= FLOOD_EVENTS or waiting > 0


def slow_spacing(frame_interval: float) -> float:
    """Seconds from one batch's post to the next under a flood of progress only."""
    return frame_interval * SLOW_FACTOR


def is_urgent(events: Iterable[TaskEvent]) -> bool:
    """Whether any event changes what a run is (its own state) or reports a failure."""
    for event in events:
        kind = event.event_type
        if kind == "failed" or (kind in LIFECYCLE_EVENTS and event.task_type is not TaskType.NODE):
            return True
    return False
