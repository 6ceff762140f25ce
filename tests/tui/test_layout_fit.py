"""The main screen's layout as a user meets it at 80x24, 120x40 and 200x60 (found by hand in tmux).

The preview's node column took twice the title's width whatever its content ("Convert Image to
M…" beside twenty empty cells); the log was hidden only when the app started under 40 rows, not
when resized there; the footer cut its last key mid-word ("^p Pal") or left the palette off, and
with the gallery focused listed two keys named "Copy path".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from comfy_reality.tui.widgets.gallery import Gallery
from comfy_reality.tui.widgets.node_table import node_column_width
from comfy_reality.tui.widgets.steady_footer import footer_entries

from .picture_scenes import apply_picture_scene, picture_app
from .pilot import screen_text, wait_for
from .scenes import apply_scene, scene_app

BUNDLED = Path(__file__).parents[2] / "workflows"


def _footer_keys(text: str) -> list[str]:
    """The footer's keys as shown, each "key description" (the line puts two spaces between keys)."""
    return [key.strip() for key in text.splitlines()[-1].strip().split("  ") if key.strip()]


@pytest.mark.parametrize(
    ("size", "titles"),
    [
        ((80, 24), ["Empty Image (RGB)", "Convert Image to Mask (…"]),
        ((120, 40), ["Empty Image (RGB)", "Convert Image to Mask (alpha)", "Convert Mask to Image"]),
    ],
)
async def test_the_preview_gives_titles_the_width_the_node_column_does_not_need(
    size: tuple[int, int], titles: list[str]
) -> None:
    app = scene_app(BUNDLED)
    async with app.run_test(size=size) as pilot:
        browser = app.main_screen.browser
        await wait_for(pilot, lambda: browser.highlight("failing-node") is not None, what="the workflows")

        def titles_whole() -> bool:
            # The node column is as wide as its longest name ("ImageToMask", "MaskToImage"), two cells apart.
            lines = screen_text(app).splitlines()
            shown = [title for title in titles if any(title in line for line in lines)]
            return shown == titles and any("ImageToMask  Convert" in line for line in lines)

        # Waited for whole: the table is drawn once before the preview pane has its final width.
        await wait_for(pilot, titles_whole, what="the titles beside a node column as wide as its names")


def test_a_long_node_name_keeps_half_the_width_when_both_cannot_fit() -> None:
    assert node_column_width(60, 11, 29) == 11  # both fit: the node column as wide as its names
    assert node_column_width(40, 11, 29) == 11
    assert node_column_width(40, 35, 30) == 20  # neither fits: half each
    assert node_column_width(40, 35, 8) == 32  # short titles: the node column takes what they leave


async def test_the_log_follows_the_height_whether_started_or_resized_there_until_l() -> None:
    app = scene_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await apply_scene(pilot, "running")
        log = app.main_screen.log_pane
        assert log.display and log.region.height > 0
        log.focus()
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: app.size == (80, 24), what="the resize")
        await pilot.pause()
        assert not log.display and log.region.height == 0  # as when started at 80x24
        assert app.focused is app.main_screen.browser.option_list  # not lost with the hidden log
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: log.region.height > 0, what="the log back at 40 rows")
        await pilot.press("l")  # the user hides it: that holds at any size
        await pilot.resize_terminal(200, 60)
        await wait_for(pilot, lambda: app.size == (200, 60), what="the resize")
        await pilot.pause()
        assert not log.display
        await pilot.press("l")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: app.size == (80, 24), what="the resize")
        await pilot.pause()
        assert log.display and log.region.height > 0


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
async def test_the_footer_shows_help_and_palette_first_and_only_whole_keys(size: tuple[int, int]) -> None:
    app = picture_app(BUNDLED)
    async with app.run_test(size=size) as pilot:
        await apply_picture_scene(pilot, "completed")
        screen = app.main_screen
        for pane in (screen.browser.option_list, screen.task_tree, app.query_one(Gallery), screen.log_pane):
            screen.log_pane.display = True
            pane.focus()
            await pilot.pause()
            shown = _footer_keys(screen_text(app))
            every = [f"{entry.display} {entry.description}" for entry in footer_entries(app.screen)]
            assert shown[:2] == ["? Help", "^p Palette"], (type(pane).__name__, shown)
            assert shown == every[: len(shown)], (type(pane).__name__, shown)  # whole keys, none cut
            if size[0] >= 120:
                assert shown == every, type(pane).__name__
        app.query_one(Gallery).focus()
        await pilot.pause()
        shown = _footer_keys(screen_text(app))
        assert "y Copy path" in shown and "p Copy path" not in shown
