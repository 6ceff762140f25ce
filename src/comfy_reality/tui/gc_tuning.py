"""Long-lived objects out of the garbage collector's way, so a full collection does not stall a key.

CPython's full (generation 2) collection walks every object it tracks. Textual, pydantic, the
panes and the server's node catalogue are well over 100,000 objects that live as long as the
app; walking them took 60-150 ms, and it came in the middle of key presses (the slowest Tabs
of the scale benchmark were these pauses). Once they exist (after the first frame, and again
when the node catalogue has arrived) they are moved to the permanent generation: the collector
then walks only what was made since. Garbage is collected first, as frozen garbage would stay.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect what is garbage now, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """When the app ends: what was frozen can be collected again (another app may follow in this
    process, as in tests and benchmarks; frozen, the old one's panes would never be freed)."""
    gc.unfreeze()


__all__ = ["freeze_long_lived", "thaw"]
