"""The outputs gallery as a user meets it in a narrow pane: every key named, names told apart, one Tab stop.

Found by hand in tmux at 80x24 and 120x40: the keys line lost its end ("· o save" never showed),
long file names lost their counter and extension, and Tab stopped twice in the gallery (the
second time on its scrolling strip, where ←/→ scrolled instead of picking a thumbnail).
"""

from __future__ import annotations

import pytest

from comfy_reality.runtime.models import OutputFile
from comfy_reality.tui.screens.image_viewer import ImageViewerScreen
from comfy_reality.tui.widgets.gallery import Gallery

from .helpers import WORKFLOWS
from .picture_scenes import apply_picture_scene, picture_app
from .pilot import screen_text, wait_for

LONG_NAMES = ("portrait_42_upscaled_final_00001_.png", "portrait_43_upscaled_final_00002_.png")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_gallery_names_every_key_and_tells_long_names_apart(size: tuple[int, int]) -> None:
    app = picture_app(WORKFLOWS)
    async with app.run_test(size=size) as pilot:
        await apply_picture_scene(pilot, "completed")
        gallery = app.query_one(Gallery)
        gallery.show_outputs(
            gallery.prompt_id, [OutputFile(node_id="9", filename=name) for name in LONG_NAMES]
        )
        await wait_for(
            pilot,
            lambda: len(gallery.thumbnails) == 2 and all(t.loaded for t in gallery.thumbnails),
            what="the thumbnails",
        )
        gallery.thumbnails[0].query_one(".thumb-name").scroll_visible(
            animate=False
        )  # below the fold at 80x24
        await pilot.pause()
        text = screen_text(app)
        assert "o save" in text  # the last key of the line, wrapped rather than cut
        # Cut in the middle: the counter and the extension that tell the two apart stay.
        assert "portrait_4…_00001_.png" in text
        if size[0] >= 120:  # at 80 columns the second one is beyond the strip's right edge
            assert "portrait_4…_00002_.png" in text


async def test_tab_stops_once_in_the_gallery_and_arrows_pick() -> None:
    app = picture_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_picture_scene(pilot, "completed")
        gallery = app.query_one(Gallery)
        gallery.focus()
        await pilot.pause()
        await pilot.press("tab")
        focused = app.focused
        assert focused is not None and focused is not gallery and gallery not in focused.ancestors
        await pilot.press("shift+tab")
        assert app.focused is gallery
        await pilot.press("right")
        assert gallery.selected == 1 and gallery.thumbnails[1].has_class("-selected")


async def test_v_without_a_display_names_a_key_that_works_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by hand in the full-screen picture: "o saves the outputs", but o does nothing there."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    app = picture_app(WORKFLOWS)
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_picture_scene(pilot, "completed")
        app.query_one(Gallery).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ImageViewerScreen), what="the picture")
        await pilot.press("v")
        await wait_for(pilot, lambda: "No display here" in screen_text(app), what="the notice")
        assert "y copies the picture's path" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: "Copied output/ComfyUI_00042_.png" in screen_text(app), what="copied")
