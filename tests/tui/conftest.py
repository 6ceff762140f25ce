"""TUI fixtures: logging into the isolated home, the clock thawed after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from comfy_reality.logs import configure_logging
from comfy_reality.tui import format as fmt


@pytest.fixture(autouse=True)
def file_logging(isolated_home: Path) -> Iterator[None]:
    """Log to the test's home (never to the terminal the app draws on); other suites get theirs back."""
    saved = structlog.get_config()
    configure_logging(level="info", log_path=isolated_home / "log" / "tui.jsonl")
    yield
    structlog.configure(**saved)


@pytest.fixture(autouse=True)
def thaw_clock() -> Iterator[None]:
    yield
    fmt.freeze_clock(None)
