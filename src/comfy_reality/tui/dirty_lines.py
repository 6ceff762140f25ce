"""A compositor that redraws only the lines that changed, not every widget the change's bounding box touches.

Textual's partial update takes the bounding box of the dirty regions, then renders in full every
widget whose *clip* (its container's area) overlaps that box. A pane's clip is the whole screen,
so a progress row changing in the execution pane re-rendered, every frame, every line of the
screen background, the status bar, the log pane, the footer and every container between them
(about 270 lines a frame at 160x48, for the one to three lines that had moved): while a big
graph runs, that was most of the app's CPU.

This compositor gives each widget only the lines of the dirty regions that touch what it shows,
and skips widgets no dirty region touches, and widgets whose dirty part is wholly covered by
widgets in front of it (the screen and the containers behind a changed row: their lines would be
drawn only to be hidden, as the first strip for a cut wins). What reaches the terminal is the same: only the dirty
spans are written, and every chop in them is covered by a widget that overlaps a dirty region
(a test compares the written updates with Textual's own). A full render (the first frame, a
resize) skips the widgets wholly hidden the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rich.console import RenderableType
from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip


class DirtyLinesCompositor(Compositor):
    """Textual's compositor, rendering in a partial update only the dirty lines of the widgets they touch."""

    def __init__(self) -> None:
        super().__init__()
        self._updating: list[Region] | None = None
        """The dirty regions of the partial update in progress; None outside one (full renders)."""
        self.on_frame: Callable[[], None] | None = None
        """Called as each frame is composed (the app's quiet moments are those without one)."""

    def render_update(
        self, full: bool = False, screen_stack: list[Any] | None = None, simplify: bool = False
    ) -> RenderableType | None:
        if self.on_frame is not None:
            self.on_frame()
        return super().render_update(full, screen_stack, simplify)

    def render_partial_update(self) -> ChopsUpdate | None:
        self._updating = list(self._dirty_regions)
        try:
            return super().render_partial_update()
        finally:
            self._updating = None

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        dirty = self._updating
        if crop is None:
            yield from super()._get_renders(crop)
            return
        if not dirty:
            yield from self._front_renders(crop)
            return
        intersection = Region.intersection
        drawn: list[Region] = []  # what the widgets drawn so far (in front) show
        # Front to back, as Textual's: the first strip for a cut wins.
        for widget, (region, clip) in self.visible_widgets.items():
            shown = intersection(region, clip)
            if not shown:
                continue
            top, bottom = shown.bottom, shown.y
            shown_overlaps = shown.overlaps
            needed: list[Region] = []
            for area in dirty:
                if shown_overlaps(area):
                    top = min(top, area.y)
                    bottom = max(bottom, area.bottom)
                    needed.append(intersection(area, shown))
            top, bottom = max(top, shown.y), min(bottom, shown.bottom)
            if top >= bottom:
                continue  # no dirty region touches what this widget shows
            if drawn and _covered(needed, drawn):
                continue  # every dirty cell it shows is drawn by a widget in front of it
            drawn.append(shown)
            band = Region(shown.x, top, shown.width, bottom - top)
            yield (
                region,
                band,
                widget.render_lines(Region(band.x - region.x, band.y - region.y, band.width, band.height)),
            )

    def _front_renders(self, crop: Region) -> Iterable[tuple[Region, Region, list[Strip]]]:
        """A full render: every widget in ``crop`` but those wholly hidden behind widgets in front of
        them (the screen and the containers behind the panes: on the first frame, five of nineteen)."""
        intersection = Region.intersection
        drawn: list[Region] = []
        for widget, (region, clip) in self.visible_widgets.items():
            if not crop.overlaps(clip):
                continue
            shown = intersection(region, clip)
            if not shown:
                continue
            if drawn and _covered([shown], [cover for cover in drawn if cover.overlaps(shown)]):
                continue
            drawn.append(shown)
            yield (
                region,
                clip,
                widget.render_lines(
                    Region(shown.x - region.x, shown.y - region.y, shown.width, shown.height)
                ),
            )


def _covered(areas: list[Region], covers: list[Region]) -> bool:
    """Whether the union of ``covers`` contains every cell of ``areas``."""
    for cover in covers:
        areas = [piece for area in areas for piece in _subtract(area, cover)]
        if not areas:
            return True
    return False


def _subtract(area: Region, cover: Region) -> list[Region]:
    """The parts of ``area`` outside ``cover``: at most four regions (above, below, left, right)."""
    if not area.overlaps(cover):
        return [area]
    x, y, width, height = area
    right, bottom = x + width, y + height
    top, low = max(y, cover.y), min(bottom, cover.bottom)
    left, end = max(x, cover.x), min(right, cover.right)
    pieces = []
    if top > y:
        pieces.append(Region(x, y, width, top - y))
    if bottom > low:
        pieces.append(Region(x, low, width, bottom - low))
    if left > x:
        pieces.append(Region(x, top, left - x, low - top))
    if right > end:
        pieces.append(Region(end, top, right - end, low - top))
    return pieces


__all__ = ["DirtyLinesCompositor"]
