"""Keys typed in one burst after a key that opens a field (a paste, tmux send-keys, SSH) go into it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events
from textual.app import App
from textual.widgets import Input

from comfy_reality.tui.screens.journal_screen import JournalScreen
from comfy_reality.tui.widgets import WorkflowBrowser
from comfy_reality.tui.widgets.execution_filter import ExecutionFilter
from tests.tui.scenes import apply_scene, fill_history_journal, open_history, scene_app

from .helpers import WORKFLOWS, wait_for

NAMES = {"/": "slash", " ": "space", "\r": "enter", "\x1b": "escape", "-": "minus"}


def send_burst(app: App[Any], text: str) -> None:
    """The keys as a terminal's driver hands them to the app: all read before the first is handled."""
    for char in text:
        key = NAMES.get(char, char)
        event = events.Key(key, None if key in ("enter", "escape") else char)
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

        # Enter in the burst acts as the field's enter: back to the (filtered) list; the filter already
        # open, / goes back into it and the next letters add to it.
        send_burst(app, "\r")
        await wait_for(pilot, lambda: app.focused is browser.option_list, what="back on the list")
        send_burst(app, "/\x1bj")
        await wait_for(pilot, lambda: not browser.filter_input.value, what="esc clearing the filter")
        await settle(pilot)
        assert len(shown_workflows(browser)) == len(app.workflow_files)
        assert app.screen is app.main_screen


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


async def test_a_burst_after_slash_is_typed_into_the_history_filter(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    fill_history_journal(journal)
    app = scene_app(WORKFLOWS, journal_path=journal)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_history(pilot)
        screen = app.screen
        assert isinstance(screen, JournalScreen)
        before = screen.loaded
        # e re-runs through the form, t retries, r runs again, o saves: here they are text.
        send_burst(app, "/retro")
        field = screen.query_one("#history-filter", Input)
        await wait_for(pilot, lambda: field.value == "retro", what="the history filter typed")
        await wait_for(pilot, lambda: screen.loaded > before, what="History filtered")
        await settle(pilot)
        assert app.screen is screen
        assert app.focused is field
