"""The running node's live preview: the newest frame wins, redrawn a few times a second at most.

Frames arrive as fast as the sampler makes them (and several executions may run at once); each
one only replaces the pending frame, and a decode starts when the last one is drawn and the
interval has passed. Decoding runs in a thread (``ImageSupport.loader``), never on the UI loop.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget

from ...runtime import PreviewFrame
from ..images import ImageSupport, image_widget, show_picture
from .live_text import LiveText

MAX_FPS = 4.0
PREVIEW_ROWS = 10
PREVIEW_MAX_COLUMNS = 60


def preview_caption(frame: PreviewFrame, node_name: str | None) -> Text:
    node = frame.display_node_id or frame.node_id
    text = Text("Preview", style="bold")
    if node:
        text.append(f" · node {node}", style="dim")
        if node_name:
            text.append(f" {node_name}", style="dim")
    return text


class LivePreview(Widget):
    """Shows the newest preview frame offered; throttled, decoded off the UI loop."""

    DEFAULT_CSS = f"""
    LivePreview {{
        height: auto;
        margin-top: 1;
    }}
    LivePreview > .preview-image {{
        width: auto;
        height: {PREVIEW_ROWS};
    }}
    """

    def __init__(self, images: ImageSupport, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.images = images
        self.frame: PreviewFrame | None = None  # the one on screen
        self.latest: PreviewFrame | None = None  # the newest offered
        self._pending: PreviewFrame | None = None
        self._busy = False
        self._last_draw = 0.0
        self._timer: Any = None
        self.frames_offered = 0
        self.frames_drawn = 0
        self.node_names: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        self.caption = LiveText(Text("Preview", style="bold"), classes="preview-caption")
        yield self.caption
        self.picture = image_widget(self.images.renderer, classes="preview-image")
        yield self.picture

    def offer(self, frame: PreviewFrame) -> None:
        """A newer frame: it replaces whatever was waiting; drawn when the interval allows."""
        self.frames_offered += 1
        self.latest = frame
        self._pending = frame
        self._schedule()

    def clear(self) -> None:
        self._pending = None
        self.frame = None
        self.latest = None
        if self.is_mounted:
            show_picture(self.picture, None)

    def _schedule(self) -> None:
        if self._busy or self._timer is not None or self._pending is None:
            return
        wait = self._last_draw + 1.0 / MAX_FPS - time.monotonic()
        if wait <= 0:
            self._start()
        else:
            self._timer = self.set_timer(wait, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._schedule()

    def _start(self) -> None:
        frame, self._pending = self._pending, None
        if frame is None:
            return
        self._busy = True
        self.run_worker(self._draw(frame), group="live-preview", exit_on_error=False)

    async def _draw(self, frame: PreviewFrame) -> None:
        try:
            columns = min(PREVIEW_MAX_COLUMNS, max(8, self.size.width or PREVIEW_MAX_COLUMNS))
            width, height = self.images.pixels_for(columns, PREVIEW_ROWS)
            try:
                picture = await self.images.loader.decode(frame.image, width, height)
            except Exception as exc:  # a frame that is not an image: say so, keep the last one
                self.caption.set(Text(f"Preview: unreadable frame ({type(exc).__name__})", style="yellow"))
                return
            self.frame = frame
            show_picture(self.picture, picture)
            node = frame.display_node_id or frame.node_id
            self.caption.set(preview_caption(frame, self.node_names.get(node or "")))
            self.frames_drawn += 1
        finally:
            self._busy = False
            self._last_draw = time.monotonic()
            self._schedule()
