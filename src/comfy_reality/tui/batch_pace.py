"""How soon the event pump may post its next batch: at the frame rate, at half of it under a flood.

Every batch costs the app a fold, a redraw of what moved and a composed frame. While a big graph
floods the runtime (hundreds of nodes restated many times a second) the screen cannot show more
than the eye follows, so batches are spaced twice as far; a lone event after a quiet spell (a
node starting, a run ending) still goes out at once. Keys never wait on this: Textual handles
them as its own messages, between batches.
"""

from __future__ import annotations

FLOOD_EVENTS = 32
"""A batch of this many task events is a flood by itself."""
FLOOD_FACTOR = 2.0
"""Under a flood, batches are this many frame intervals apart (about 15 a second)."""


def batch_spacing(frame_interval: float, batch_events: int, waiting: int) -> float:
    """Seconds from one batch's post to the next.

    ``batch_events``: events in the batch just posted; ``waiting``: events already buffered one
    frame later (the stream did not pause, so the next batch would follow within a frame).
    """
    if batch_events >= FLOOD_EVENTS or waiting > 0:
        return frame_interval * FLOOD_FACTOR
    return frame_interval
