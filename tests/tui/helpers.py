"""Paths of the TUI test fixtures; the waiting helpers live in tests.tui.pilot."""

from __future__ import annotations

from pathlib import Path

from tests.tui.pilot import screen_text, wait_for, wait_for_text

FIXTURES = Path(__file__).parent / "fixtures"
WORKFLOWS = FIXTURES / "workflows"
BROKEN = FIXTURES / "broken"

__all__ = ["BROKEN", "FIXTURES", "WORKFLOWS", "screen_text", "wait_for", "wait_for_text"]
