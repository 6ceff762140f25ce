"""Paths of the TUI test fixtures; the waiting helpers live in tests.tui.pilot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.screen import Screen

from tests.tui.pilot import screen_text, wait_for, wait_for_text

FIXTURES = Path(__file__).parent / "fixtures"
WORKFLOWS = FIXTURES / "workflows"
BROKEN = FIXTURES / "broken"

__all__ = ["BROKEN", "FIXTURES", "WORKFLOWS", "screen_text", "wait_for", "wait_for_text"]


def count_layouts(screen: Screen[Any]) -> list[int]:
    """Counts the screen's layouts (not the scroll-only reflows) from now on."""
    counted: list[int] = []
    refresh_layout = screen._refresh_layout

    def counting(*args: Any, **kwargs: Any) -> None:
        if screen._layout_required:
            counted.append(1)
        refresh_layout(*args, **kwargs)

    screen._refresh_layout = counting  # type: ignore[method-assign]
    return counted
