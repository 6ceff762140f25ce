"""Keys typed in one burst after a key that opens a field (a paste, tmux send-keys, SSH) go into it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events
from textual.app import App
from textual.command import CommandPalette
from textual.widgets import DataTable, Input

from comfy_reality.tui.burst_keys import BurstKeysApp
from comfy_reality.tui.screens.servers import ServersScreen
from comfy_reality.tui.widgets import WorkflowBrowser
from comfy_reality.tui.widgets.execution_filter import ExecutionFilter
from comfy_reality.tui.widgets.history_table import HistoryTable
from tests.tui.scenes import apply_scene, fill_history_journal, open_history, scene_app

from .helpers import WORKFLOWS, wait_for

NAMES = {
    "/": "slash",
    " ": "space",
    "\r": "enter",
    "\x1b": "escape",
    "-": "minus",
    "\x10": "ctrl+p",
    "\x13": "ctrl+s",
}


def send_burst(app: App[Any], text: str) -> None:
    """The keys as a terminal's driver hands them to the app: all read before the first is handled."""
    for char in text:
        key = NAMES.get(char, char)
        event = events.Key(key, char if char.isprintable() else None)
        event.set_sender(app)
        assert app._driver is not None
        app._driver.send_message(event)


async def settle(pilot: Any) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def shown_workflows(browser: WorkflowBrowser) -> list[str]:
    return [wf.name for wf in browser._shown]


async def test_a_burst_after_slash_is_typed_into_the_workflow_filter() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.workflow_files) > 2, what="the workflows")
        log_shown = app.log_pane.display
        # "l" would toggle the log, "o" save outputs: all four letters belong to the filter.
        send_burst(app, "/slow")
        browser = app.browser
        await wait_for(pilot, lambda: browser.filter_input.value == "slow", what="the filter typed")
        await settle(pilot)
        assert browser.filter_input.value == "slow"
        assert app.focused is browser.filter_input
        assert shown_workflows(browser) == ["slow"]
        assert app.log_pane.display == log_shown
        assert app.screen is app.main_screen

        # esc leaves (and clears) the filter, / opens it again, enter goes back to the list: each in its
        # turn, so "j" after enter moves down the filtered list instead of being typed into the filter.
        send_burst(app, "\x1b/in\rj")
        await wait_for(pilot, lambda: app.focused is browser.option_list, what="back on the list")
        await settle(pilot)
        assert browser.filter_input.value == "in"
        shown = shown_workflows(browser)
        assert 1 < len(shown) < len(app.workflow_files)
        assert browser.highlighted is not None and browser.highlighted.name == shown[1]
        assert app.screen is app.main_screen

        # The filter open again, esc clears it and keeps the chosen workflow; j moves on from it.
        send_burst(app, "/\x1bj")
        await wait_for(
            pilot, lambda: browser.filter_input.has_class("hidden"), what="esc clearing the filter"
        )
        await settle(pilot)
        assert not browser.filter_input.value and app.focused is browser.option_list
        every = shown_workflows(browser)
        assert (
            browser.highlighted is not None and browser.highlighted.name == every[every.index(shown[1]) + 1]
        )

        # In the field, / is text.
        send_burst(app, "//")
        await wait_for(pilot, lambda: browser.filter_input.value == "/", what="/ typed into the filter")


async def test_a_burst_after_slash_is_typed_into_the_executions_filter() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(80, 24)) as pilot:
        await apply_scene(pilot, "running")
        app.task_tree.focus()
        await wait_for(pilot, lambda: app.focused is app.task_tree, what="the Executions pane")
        assert app.task_tree._branches
        send_burst(app, "/xhl")  # x cancels, h opens History, l the log: none of them may happen
        field = app.main_screen.tasks_filter
        await wait_for(pilot, lambda: field.value == "xhl", what="the executions filter typed")
        await settle(pilot)
        assert isinstance(field, ExecutionFilter)
        assert not app.task_tree._branches  # no execution is named like that
        assert app.focused is field
        assert app.screen is app.main_screen

        # esc clears and leaves the filter in its turn: the j after it moves down the tree.
        line = app.task_tree.cursor_line
        send_burst(app, "\x1bj")
        await wait_for(pilot, lambda: app.task_tree.cursor_line == line + 1, what="j on the tree")
        await settle(pilot)
        assert not field.value and field.has_class("hidden")
        assert app.focused is app.task_tree and app.task_tree._branches


async def test_a_burst_after_slash_is_typed_into_the_history_filter(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    fill_history_journal(journal)
    app = scene_app(WORKFLOWS, journal_path=journal)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_history(pilot)
        table = screen.query_one(HistoryTable)
        row = table.cursor_row
        # Into the filter and out again (esc) in one burst: the j after esc moves down the table.
        send_burst(app, "/\x1bj")
        await wait_for(pilot, lambda: table.cursor_row == row + 1, what="j on the table")
        assert app.focused is table
        before = screen.loaded
        # e re-runs through the form, t retries, r runs again, o saves: here they are text.
        send_burst(app, "/retro")
        field = screen.query_one("#history-filter", Input)
        await wait_for(pilot, lambda: field.value == "retro", what="the history filter typed")
        await wait_for(pilot, lambda: screen.loaded > before, what="History filtered")
        await settle(pilot)
        assert app.screen is screen
        assert app.focused is field

        # esc to the table, esc out of History, then / : the / is taken where the focus is by its
        # turn, on the main screen's Workflows list, and the letters after it go into that filter.
        send_burst(app, "\x1b\x1b/ab")
        browser = app.main_screen.browser
        await wait_for(pilot, lambda: browser.filter_input.value == "ab", what="the workflow filter typed")
        assert app.screen is app.main_screen
        assert app.focused is browser.filter_input


async def test_a_burst_after_ctrl_p_is_the_palette_search() -> None:
    app = scene_app(WORKFLOWS)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.workflow_files) > 2, what="the workflows")
        log_shown = app.log_pane.display
        send_burst(app, "\x10slow")  # without the palette: l toggles the log, o saves outputs
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        palette = app.screen
        await wait_for(pilot, lambda: bool(palette.query(Input)), what="the palette's search field")
        field = palette.query_one(Input)
        await wait_for(pilot, lambda: field.value == "slow", what="the palette's search typed")
        await settle(pilot)
        assert app.focused is field
        assert app.log_pane.display == log_shown


class ServersHost(BurstKeysApp[None]):
    """The Servers screen over stand-ins for the pool's actions, as the main screen pushes it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        def record(what: str) -> Any:
            return lambda name: self.calls.append((what, name))

        async def add(url: str) -> None:
            self.calls.append(("add", url))

        rows = [{"name": "demo1", "url": "http://127.0.0.1:1", "state": "connected"}]
        self.push_screen(
            ServersScreen(
                rows,
                toggle_enabled=record("disable"),
                toggle_drain=record("drain"),
                toggle_pin=record("pin"),
                add_server=add,
            )
        )


async def test_a_url_pasted_after_a_goes_into_the_servers_add_field() -> None:
    app = ServersHost()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.focused, DataTable), what="the Servers table")
        # p pins, d disables, n drains: in the field they are the URL's letters.
        send_burst(app, "ahttp://pdn:8188\r")
        await wait_for(pilot, lambda: bool(app.calls), what="the server added")
        await settle(pilot)
        assert app.calls == [("add", "http://pdn:8188")]
