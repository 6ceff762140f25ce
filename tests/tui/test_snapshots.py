"""Snapshots of each main state (pytest-textual-snapshot). Deterministic: fixed size, frozen clock and ids.

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``,
then look at the SVGs; ``python -m tools.screenshots`` exports the same states
into ``screenshots/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.scenes import SERVER_STATES, SIZES, apply_scene, apply_server_scene, scene_app

from .helpers import WORKFLOWS

STATES = ["idle", "running", "completed", "failed", "cancelled", "disconnected", "help", "input_form"]


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
@pytest.mark.parametrize("state", STATES)
def test_state(snap_compare: Any, state: str, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await apply_scene(pilot, state)

    assert snap_compare(scene_app(WORKFLOWS), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("state", SERVER_STATES)
def test_server_screen(snap_compare: Any, state: str, size: tuple[int, int]) -> None:
    """The Queue and Server History screens over a fixed busy server (every client's prompts)."""

    async def run_before(pilot: Any) -> None:
        await apply_server_scene(pilot, state)

    assert snap_compare(scene_app(WORKFLOWS), terminal_size=size, run_before=run_before)
