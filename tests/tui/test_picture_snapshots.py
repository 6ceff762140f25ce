"""Snapshots of the execution view with a live preview and with the gallery of outputs.

Update after an intended change with ``pytest tests/tui/test_picture_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import WORKFLOWS
from .picture_scenes import apply_picture_scene, picture_app


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("state", ["running", "completed"], ids=["preview", "gallery"])
def test_pictures(snap_compare: Any, state: str, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await apply_picture_scene(pilot, state)

    assert snap_compare(picture_app(WORKFLOWS), terminal_size=size, run_before=run_before)
