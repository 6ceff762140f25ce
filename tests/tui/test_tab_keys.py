"""Tab round the panes with a 500-node execution shown: the panes it moves between are restyled once,
nothing inside them; the pane in use is lit and the footer shows its keys.

The execution view's borders were lit by ``:focus-within``: Textual then restyled its five widgets
on the focus change, and again as the view's own focus changed (twelve restyles for one Tab).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from rich.color import Color as RichColor
from textual.color import Color
from textual.widget import Widget

from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.widgets.node_progress import NodeProgressList
from tests.tui.scenes import scene_app

from .helpers import WORKFLOWS, screen_text
from .test_tree_keys import listed, settled

PANES = ("workflows", "tasks", "execution", "log")
FRESH_PANES = ("workflows", "tasks", "preview", "log")
"""Before anything runs, the preview is the detail pane Tab goes through."""
FOOTER = {
    "workflows": ("r Run", "x Cancel"),
    "tasks": ("x Cancel", "r Run"),
    "execution": ("Y Copy error", "r Run"),
    "log": ("f Follow", "x Cancel"),
    "preview": ("r Run", "x Cancel"),
}
"""Per pane: a key the footer shows while it is in use, and one it does not show then."""


def restyles(app: ComfyRealityApp) -> Counter[str]:
    """Counts, by widget, the restyles from now on (Stylesheet.update_nodes, as Textual calls it)."""
    counted: Counter[str] = Counter()
    sheet = app.stylesheet
    update_nodes = sheet.update_nodes

    def counting(nodes: Any, animate: bool = False) -> None:
        listed_nodes = list(nodes)
        counted.update(repr(node) for node in listed_nodes)
        update_nodes(listed_nodes, animate=animate)

    sheet.update_nodes = counting  # type: ignore[method-assign]
    return counted


def updates_of(app: ComfyRealityApp, widgets: set[Widget]) -> list[int]:
    """From now on, one entry per screen update (a frame's worth of dirty widgets) that includes any of ``widgets``."""
    updates: list[int] = []
    compositor = app.screen._compositor
    update_widgets = compositor.update_widgets

    def counting(dirty: set[Widget]) -> None:
        if dirty & widgets:
            updates.append(len(dirty & widgets))
        update_widgets(dirty)

    compositor.update_widgets = counting  # type: ignore[method-assign]
    return updates


def border_colour(app: ComfyRealityApp, pane: Widget) -> RichColor | None:
    """The colour drawn at the pane's top-left corner (its border), as the terminal shows it."""
    region = pane.region
    line = app.screen._compositor.render_strips()[region.y]
    x = 0
    for segment in line:
        if x <= region.x < x + segment.cell_length:
            return segment.style.color if segment.style else None
        x += segment.cell_length
    return None


def lit_panes(app: ComfyRealityApp) -> set[str]:
    """The main screen's panes whose border is drawn in the accent colour (the one in use)."""
    accent = Color.parse(app.theme_variables["accent"]).rich_color
    screen = app.main_screen
    panes = (screen.browser, screen.task_tree, screen.preview, screen.execution_view, screen.log_pane)
    return {str(pane.id) for pane in panes if pane.display and border_colour(app, pane) == accent}


def styles_by_widget(screen: Widget) -> dict[str, object]:
    return {
        repr(node): (node.styles.base.get_rules(), sorted(node._component_styles.items(), key=str))
        for node in screen.walk_children(Widget, with_self=True)
    }


async def ready(pilot: Any, executions: bool) -> ComfyRealityApp:
    """The app with the 500-node execution listed (the execution view in the Tab round), or fresh."""
    if executions:
        return await listed(pilot)
    app = pilot.app
    assert isinstance(app, ComfyRealityApp)
    await settled(pilot)
    return app


@pytest.mark.parametrize("executions", [True, False], ids=["500 nodes", "fresh"])
async def test_a_tab_restyles_only_the_panes_it_moves_between_once_each(executions: bool) -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, executions)
        screen = app.main_screen
        screen.browser.option_list.focus()
        await settled(pilot)
        inside_view = {
            repr(node)
            for pane in (screen.execution_view, screen.preview)
            for node in pane.walk_children(Widget)
        }
        seen: list[str] = []
        for _ in range(8):
            counted = restyles(app)
            await pilot.press("tab")
            await settled(pilot)
            del app.stylesheet.update_nodes  # the class's own again
            pane = screen._focused_pane()
            assert pane is not None
            seen.append(pane)
            assert not inside_view & set(counted), (pane, counted)
            assert max(counted.values()) == 1, (pane, counted)  # each widget once
            assert sum(counted.values()) <= 3, (pane, counted)  # the pane left, the pane entered, the list
        assert set(seen) == set(PANES if executions else FRESH_PANES)


async def test_a_tab_draws_the_panes_it_moves_between_in_one_frame() -> None:
    """Borders, rows and scrollbars change in the Tab's first frame; a second one drew them again.

    (Tabs that swap the detail pane lay the screen out, and may draw a scrollbar once more after.)
    """
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await listed(pilot)
        screen = app.main_screen
        view, tree, log = screen.execution_view, screen.task_tree, screen.log_pane
        rows = view.query_one(NodeProgressList)  # 500 node rows scroll themselves, inside the view
        assert rows.show_vertical_scrollbar and tree.show_vertical_scrollbar
        panes: set[Widget] = {view, *view.walk_children(Widget), tree, log}
        panes |= {pane.vertical_scrollbar for pane in (view, rows, tree, log) if pane.show_vertical_scrollbar}
        for _ in (
            PANES
        ):  # once round first: the view's new scrollbar is styled (and laid out) by its first restyle
            await pilot.press("tab")
            await settled(pilot)
        assert screen._focused_pane() == "tasks"
        for expected in ("execution", "log"):  # from the tree into the view, then out of it
            updates = updates_of(app, panes)
            await pilot.press("tab")
            await settled(pilot)
            del app.screen._compositor.update_widgets  # the class's own again
            assert screen._focused_pane() == expected
            assert len(updates) == 1, (expected, updates)


@pytest.mark.parametrize("executions", [True, False], ids=["500 nodes", "fresh"])
async def test_after_each_tab_the_styles_are_those_a_full_restyle_gives(executions: bool) -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, executions)
        screen = app.main_screen
        for _ in range(5):
            await pilot.press("tab")
            await settled(pilot)
            shown = styles_by_widget(screen)
            app.stylesheet.update(screen)
            assert styles_by_widget(screen) == shown, screen._focused_pane()


@pytest.mark.parametrize("executions", [True, False], ids=["500 nodes", "fresh"])
async def test_tab_lights_the_pane_in_use_and_the_footer_shows_its_keys(executions: bool) -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, executions)
        screen = app.main_screen
        screen.browser.option_list.focus()
        await settled(pilot)
        names = PANES if executions else FRESH_PANES
        for _ in range(4):
            await pilot.press("tab")
            await settled(pilot)
            in_use = screen._focused_pane()
            assert in_use in names
            assert lit_panes(app) == {in_use}
            footer = screen_text(app).splitlines()[-1]
            shown, not_shown = FOOTER[in_use]
            assert shown in footer and not_shown not in footer, (in_use, footer)
