"""Long-lived objects out of the garbage collector's way, so a full collection does not stall a key.

CPython's full (generation 2) collection walks every object it tracks. Textual, pydantic, the
panes and the server's node catalogue are well over 100,000 objects that live as long as the
app; walking them took 60-150 ms, and it came in the middle of key presses (the slowest Tabs
of the scale benchmark were these pauses). Once they exist (after the first frame, and again
when the node catalogue has arrived) they are moved to the permanent generation: the collector
then walks only what was made since. Garbage is collected first, as frozen garbage would stay.

Before that, while the modules load and the first frame is built, the collector's automatic
passes only walk objects that all survive (two full passes, about 20 ms of a cold start):
``comfy-reality-tui`` holds them (:func:`hold_collections`) until the first freeze.
"""

from __future__ import annotations

import gc

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
    process, as in tests and benchmarks; frozen, the old one's panes would never be freed)."""
    gc.unfreeze()
    release_collections()


__all__ = ["freeze_long_lived", "hold_collections", "release_collections", "thaw"]
