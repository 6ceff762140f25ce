"""A key that lays the screen out draws one frame: the scrollbars it resized are drawn in it.

Textual refreshes a scrolling widget's scrollbars from inside the layout that resized it (and a
ScrollView's, the log's and the node rows', at every layout): they were drawn again in a frame of
their own 30-40 ms after the key, the "last frame" of ``benchmarks.tab_keys``.
"""

from __future__ import annotations

from typing import Any

from textual.scrollbar import ScrollBar
from textual.widget import Widget

from comfy_reality.tui.app import ComfyRealityApp
from tests.tui.scenes import scene_app

from .helpers import WORKFLOWS, count_layouts, screen_text
from .test_tree_keys import listed, settled


def frames_drawn(app: ComfyRealityApp, ignored: Widget) -> list[set[str]]:
    """From now on, per frame the app draws, what it was asked to draw (``ignored``'s frames left out)."""
    frames: list[set[str]] = []
    asked: set[str] = set()
    compositor = app.screen._compositor
    update_widgets = compositor.update_widgets

    def counting_updates(widgets: set[Widget]) -> None:
        # A scrollbar by the widget it scrolls.
        asked.update(repr(w.parent if isinstance(w, ScrollBar) else w) for w in widgets if w is not ignored)
        update_widgets(widgets)

    def counting_frames(screen: Any, renderable: Any) -> None:
        if renderable is not None and asked:
            frames.append(set(asked))
        asked.clear()
        display(screen, renderable)

    display = app._display
    compositor.update_widgets = counting_updates  # type: ignore[method-assign]
    app._display = counting_frames  # type: ignore[method-assign]
    return frames


async def test_a_key_that_lays_the_screen_out_draws_one_frame() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await listed(pilot)
        view, log = app.main_screen.execution_view, app.main_screen.log_pane
        assert log.show_vertical_scrollbar and view.nodes.show_vertical_scrollbar
        layouts = count_layouts(app.screen)
        clock = app.main_screen.query_one("#status-bar")  # its clock ticks on its own, once a second
        for key, nodes in (("down", "/6 nodes"), ("up", "/500 nodes"), ("down", "/6 nodes")):
            frames = frames_drawn(app, clock)
            await pilot.press(key)
            await settled(pilot)  # each pause draws what is left to draw
            del app._display, app.screen._compositor.update_widgets  # the classes' own again
            assert nodes in screen_text(app)
            assert len(frames) == 1, (key, frames)
        assert len(layouts) == 3
