"""Drive the app headless without guessing times: wait on conditions, read the screen as text.

Used by the snapshot scenes, the screenshot exporter, the TUI benchmark and the tests. It reads two of
Textual's private attributes (the compositor's strips, the notifications), which is why it lives with the
tests and not in the package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot


def screen_text(app: App[Any]) -> str:
    """What a person would read on the terminal right now (characters only), toasts last."""
    strips = app.screen._compositor.render_strips()
    lines = ["".join(segment.text for segment in strip) for strip in strips]
    # Toasts live on their own layer; their text is what the person reads, so include it.
    lines.extend(f"[toast] {notification.message}" for notification in app._notifications)
    return "\n".join(lines)


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Let the app run until ``condition()`` is true; fail with the screen contents if it never is."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or condition}\n--- screen ---\n{screen_text(pilot.app)}"
            )
        await pilot.pause(0.01)


async def wait_for_text(pilot: Pilot[Any], text: str, timeout: float = 10.0) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), timeout, what=repr(text))
