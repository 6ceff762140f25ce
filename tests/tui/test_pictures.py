"""Pictures in the app, end to end on the embedded server, drawn in half blocks (plain text + colours).

A half block "▀" shows two pixels: the foreground colour is the upper one, the background the
lower one, so the screen's styles are the picture and can be compared with the frame's pixels.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from comfy_reality.config import Settings
from comfy_reality.runtime.models import ConnectionState, TaskStatus
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.images import shown_picture
from comfy_reality.tui.screens.image_viewer import ImageViewerScreen
from comfy_reality.tui.widgets import WorkflowBrowser
from comfy_reality.tui.widgets.gallery import Gallery, Thumbnail
from comfy_reality.tui.widgets.preview import LivePreview

from .helpers import FIXTURES, screen_text, wait_for, wait_for_text
from .test_tab_keys import lit_panes

PICTURES = FIXTURES / "pictures"
SIZE = (120, 40)
OUTPUT_RGB = (0x33, 0x66, 0xCC)  # the EmptyImage colour of pictures.json


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as running:
        yield running


def make_app(url: str, images: str, journal: Path | None = None) -> ComfyRealityApp:
    return ComfyRealityApp(
        Settings(server_url=url, images=images),  # type: ignore[arg-type]
        bundled_dir=PICTURES,
        frame_interval=0.005,
        journal_path=journal,
        use_journal=journal is not None,
    )


async def start_run(pilot: Any, app: ComfyRealityApp) -> str:
    await wait_for(
        pilot,
        lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
        what="connection",
    )
    await wait_for(pilot, lambda: any(wf.name == "pictures" for wf in app.workflow_files), what="scan")
    browser = app.query_one(WorkflowBrowser)
    browser.option_list.focus()
    assert browser.highlight("pictures") is not None
    await pilot.press("r")
    await wait_for(pilot, lambda: bool(app.session.entries), what="an execution")
    (entry_id,) = app.session.entries
    return entry_id


def half_block_colours(widget: Any) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """(upper, lower) pixel colours of every "▀" cell the widget draws."""
    cells = []
    for y in range(widget.size.height):
        for segment in widget.render_line(y):
            style = segment.style
            if segment.text and set(segment.text) == {"▀"} and style and style.color and style.bgcolor:
                upper = style.color.get_truecolor()
                lower = style.bgcolor.get_truecolor()
                cells.extend(
                    [((upper.red, upper.green, upper.blue), (lower.red, lower.green, lower.blue))]
                    * len(segment.text)
                )
    return cells


async def test_live_preview_then_gallery_then_full_screen(server: EmbeddedServer) -> None:
    app = make_app(server.url, "halfblock")
    frames: list[Any] = []
    async with app.run_test(size=SIZE) as pilot:
        entry_id = await start_run(pilot, app)
        assert app.runtime is not None
        app.runtime.subscribe_previews(frames.append)
        preview = app.query_one(LivePreview)
        await wait_for(pilot, lambda: preview.frames_drawn >= 1 and preview.display, what="a preview drawn")
        await wait_for_text(pilot, "Preview · node 2 RealityProgress")
        shown = preview.frame
        assert shown is not None and shown.execution_id == entry_id and shown.node_id == "2"
        # What is on screen is the frame's pixels, scaled to the widget: the same average colour.
        # (The picture is sized by the layout that follows the frame, so wait for that layout.)
        await wait_for(
            pilot,
            lambda: len(half_block_colours(preview.picture)) >= 10 * 10,
            what="the preview's half blocks",
        )
        cells = half_block_colours(preview.picture)
        pixels = [colour for cell in cells for colour in cell]
        on_screen = [sum(p[c] for p in pixels) / len(pixels) for c in range(3)]
        expected = ImageStat.Stat(Image.open(io.BytesIO(shown.image)).convert("RGB")).mean
        assert on_screen == pytest.approx(expected, abs=12)
        # A newer frame replaces it (newest wins), at most a few times a second.
        first = preview.frames_drawn
        await wait_for(pilot, lambda: preview.frames_drawn > first, what="a newer preview drawn")
        assert preview.frame is not shown
        entry = app.session.entries[entry_id]
        await wait_for(pilot, lambda: app.session.entries[entry_id].status.is_final, 30, what="the end")
        assert app.session.entries[entry_id].status is TaskStatus.COMPLETED
        assert 1 < preview.frames_drawn < preview.frames_offered <= 30 and frames
        # Finished: no preview, the gallery of outputs instead.
        gallery = app.query_one(Gallery)
        await wait_for(pilot, lambda: not preview.display and gallery.display, what="the gallery")
        await wait_for(
            pilot,
            lambda: all(t.loaded for t in gallery.thumbnails) and len(gallery.thumbnails) == 2,
            what="thumbs",
        )
        await wait_for_text(pilot, "Images (2)")
        text = screen_text(app)
        assert "tui_pictur…_00001_.png" in text  # one column too long: cut in the middle, its number kept
        thumb_cells = half_block_colours(gallery.thumbnails[0].picture)
        assert thumb_cells and all(cell == (OUTPUT_RGB, OUTPUT_RGB) for cell in thumb_cells)
        # Arrow keys pick, Enter opens full-screen, Esc goes back.
        gallery.focus()
        await pilot.press("right")
        assert gallery.selected == 1 and gallery.thumbnails[1].has_class("-selected")
        assert lit_panes(app) == {"execution"}  # the gallery's pane is the one in use
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ImageViewerScreen), what="the viewer")
        viewer = app.screen
        assert isinstance(viewer, ImageViewerScreen)
        await wait_for(pilot, lambda: shown_picture(viewer.picture) is not None, what="the full picture")
        await wait_for_text(pilot, "tui_pictures_00002_.png  96×64")
        assert "node 3" in screen_text(app)
        big = half_block_colours(viewer.picture)
        assert len(big) > len(thumb_cells) and all(cell == (OUTPUT_RGB, OUTPUT_RGB) for cell in big)
        await pilot.press("y")
        await wait_for_text(pilot, "Copied output/tui_pictures_00002_.png")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ImageViewerScreen), what="back")
        assert entry.id == entry_id


async def test_images_off_shows_none_and_decodes_nothing(server: EmbeddedServer) -> None:
    app = make_app(server.url, "off")
    async with app.run_test(size=SIZE) as pilot:
        entry_id = await start_run(pilot, app)
        await wait_for(pilot, lambda: app.session.entries[entry_id].status.is_final, 30, what="the end")
        await wait_for_text(pilot, "Outputs (2)")
        assert not app.query(LivePreview) and not app.query(Gallery) and not app.query(Thumbnail)
        assert "Images (" not in screen_text(app) and "Preview" not in screen_text(app)
        assert app.images.loader.decodes == 0
        assert app.runtime is not None and not app.runtime._preview_callbacks  # not even subscribed


async def test_history_details_show_the_outputs_as_thumbnails(server: EmbeddedServer, tmp_path: Path) -> None:
    from comfy_reality.tui.screens.journal_screen import JournalScreen

    app = make_app(server.url, "halfblock", journal=tmp_path / "journal.sqlite3")
    async with app.run_test(size=SIZE) as pilot:
        entry_id = await start_run(pilot, app)
        await wait_for(pilot, lambda: app.session.entries[entry_id].status.is_final, 30, what="the end")
        app.task_tree.focus()
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen), what="history")
        history = app.screen
        assert isinstance(history, JournalScreen)
        await wait_for(pilot, lambda: history.selected is not None, what="a selected execution")
        gallery = history.query_one(Gallery)
        await wait_for(
            pilot,
            lambda: len(gallery.thumbnails) == 2 and all(t.loaded for t in gallery.thumbnails),
            what="thumbnails",
        )
        assert all(
            cell == (OUTPUT_RGB, OUTPUT_RGB)
            for t in gallery.thumbnails
            for cell in half_block_colours(t.picture)
        )
        gallery.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ImageViewerScreen), what="the viewer")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is history, what="back to the history")


async def test_the_preview_method_goes_with_each_prompt_and_the_palette_changes_it(
    server: EmbeddedServer,
) -> None:
    import httpx

    from comfy_reality.tui.commands import set_preview_method

    app = make_app(server.url, "off")
    async with app.run_test(size=SIZE) as pilot:
        first = await start_run(pilot, app)
        await wait_for(pilot, lambda: app.session.entries[first].status.is_final, 30, what="the end")
        set_preview_method(app, "none")
        await wait_for_text(pilot, "Previews: none for the next runs")
        await pilot.press("r")
        await wait_for(pilot, lambda: len(app.session.entries) == 2, what="a second execution")
        (second,) = set(app.session.entries) - {first}
        await wait_for(pilot, lambda: app.session.entries[second].status.is_final, 30, what="the end")
        async with httpx.AsyncClient(base_url=server.url) as http:
            methods = []
            for entry_id in (first, second):
                prompt_id = app.session.entries[entry_id].execution.prompt_id
                entry = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
                methods.append(entry["prompt"][3].get("preview_method"))
        assert methods == ["auto", "none"]


async def test_server_history_shows_the_outputs_as_thumbnails(server: EmbeddedServer) -> None:
    from comfy_reality.tui.screens.server_history import ServerHistoryScreen

    app = make_app(server.url, "halfblock")
    async with app.run_test(size=SIZE) as pilot:
        entry_id = await start_run(pilot, app)
        await wait_for(pilot, lambda: app.session.entries[entry_id].status.is_final, 30, what="the end")
        app.task_tree.focus()
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, ServerHistoryScreen), what="server history")
        history = app.screen
        assert isinstance(history, ServerHistoryScreen)
        await wait_for(
            pilot, lambda: history.loaded >= 1 and bool(history.items), what="the server's history"
        )
        gallery = history.query_one(Gallery)
        await wait_for(
            pilot,
            lambda: len(gallery.thumbnails) == 2 and all(t.loaded for t in gallery.thumbnails),
            what="thumbnails",
        )
        await wait_for_text(pilot, "Images (2)")
        assert gallery.display and gallery.prompt_id == history.items[0].prompt_id
        assert all(
            cell == (OUTPUT_RGB, OUTPUT_RGB)
            for t in gallery.thumbnails
            for cell in half_block_colours(t.picture)
        )
        gallery.focus()
        await pilot.press("right", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ImageViewerScreen), what="the viewer")
        await wait_for_text(pilot, "tui_pictures_00002_.png")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is history, what="back to the server history")


async def test_server_history_without_pictures_shows_no_thumbnails(server: EmbeddedServer) -> None:
    from comfy_reality.tui.screens.server_history import ServerHistoryScreen

    app = make_app(server.url, "off")
    async with app.run_test(size=SIZE) as pilot:
        entry_id = await start_run(pilot, app)
        await wait_for(pilot, lambda: app.session.entries[entry_id].status.is_final, 30, what="the end")
        app.task_tree.focus()
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, ServerHistoryScreen), what="server history")
        history = app.screen
        assert isinstance(history, ServerHistoryScreen)
        await wait_for(
            pilot, lambda: history.loaded >= 1 and bool(history.items), what="the server's history"
        )
        await wait_for_text(pilot, "tui_pictures_00001_.png")  # named in the details, not drawn
        assert not history.query(Gallery) and not history.query(Thumbnail)
        assert "Images (" not in screen_text(app)
        assert app.images.loader.decodes == 0
