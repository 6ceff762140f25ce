"""The app and the execution journal: recovery on start (followed again / lost), history, disabled journal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfy_reality.config import Settings
from comfy_reality.journal import Journal
from comfy_reality.runtime import ComfyUIAsyncRuntime
from comfy_reality.runtime.models import ConnectionState, TaskStatus, WorkflowExecution
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.input_form import InputFormScreen
from comfy_reality.tui.screens.journal_screen import JournalScreen

from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text

SLOW = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    # 100 steps of 4 s at speed 50: about 8 s, long enough to outlive the first session.
    "2": {"class_type": "RealityProgress", "inputs": {"image": ["1", 0], "steps": 100, "delay": 4.0}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "journal"}},
}


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def leave_running(server: EmbeddedServer, journal_path: Path) -> WorkflowExecution:
    """A previous session: queue a slow prompt, see it start, quit without interrupting it."""
    async with await Journal.open(journal_path) as journal:
        runtime = ComfyUIAsyncRuntime(server.url)
        journal.attach(runtime)
        async with runtime.session():
            execution = await runtime.submit(SLOW, name="left running")
            await until(lambda: execution.status is TaskStatus.RUNNING)
    async with await Journal.open(journal_path) as journal:
        entry = await journal.get(execution.id)
        assert entry is not None and entry.status is TaskStatus.RUNNING
    return execution


def _app(server: EmbeddedServer, journal_path: Path) -> ComfyRealityApp:
    return ComfyRealityApp(
        Settings(server_url=server.url),
        bundled_dir=WORKFLOWS,
        frame_interval=0.005,
        journal_path=journal_path,
    )


async def run_to_its_end(pilot: Any, app: ComfyRealityApp, workflow: str) -> None:
    """Connected and the workflows listed, run one with r and wait until it is over."""
    await wait_for(
        pilot,
        lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
    )
    await wait_for(pilot, lambda: bool(app.workflow_files))
    app.browser.option_list.focus()
    app.browser.highlight(workflow)
    await pilot.press("r")
    await wait_for(
        pilot,
        lambda: any(e.execution.is_final for e in app.session.entries.values()),
        what=f"{workflow} to end",
    )


async def test_an_unfinished_execution_is_followed_again_and_shown_in_the_tree(tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.sqlite3"
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50)) as server:
        previous = await leave_running(server, journal_path)
        app = _app(server, journal_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: bool(app.reconcile_reports), what="reconcile")
            report = app.reconcile_reports[0]
            assert [e.prompt_id for e in report.followed] == [previous.prompt_id]
            assert not report.lost
            await wait_for(
                pilot,
                lambda: any(
                    e.execution.prompt_id == previous.prompt_id for e in app.session.entries.values()
                ),
                what="the followed execution in the tree",
            )
            await wait_for_text(pilot, "left running")
            # Log lines are written in time order once settled (a fraction of a second).
            await wait_for(
                pilot,
                lambda: (
                    "Journal: followed again 1, finished 0, lost 0"
                    in "\n".join(strip.text for strip in app.log_pane.lines)
                ),
                what="the journal's summary in the log",
            )
            runtime = app.runtime
            assert runtime is not None
            followed = report.followed[0]
            await runtime.cancel(followed)
            await wait_for(pilot, lambda: followed.is_final, what="cancel of the followed prompt")
        assert app.journal is None  # closed on exit
    async with await Journal.open(journal_path) as journal:
        entries = await journal.list_executions()
        assert len(entries) == 1  # followed into the same row, not a duplicate
        assert entries[0].status is TaskStatus.CANCELLED and not entries[0].lost


async def test_a_prompt_the_restarted_server_forgot_shows_as_lost(tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.sqlite3"
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50)) as server:
        previous = await leave_running(server, journal_path)
        await server.restart()
        app = _app(server, journal_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: bool(app.reconcile_reports), what="reconcile")
            assert app.reconcile_reports[0].lost == [previous.id]
            await wait_for_text(pilot, "Journal: followed again 0, finished 0, lost 1")
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen), what="history screen")
            screen = app.screen
            assert isinstance(screen, JournalScreen)
            await wait_for(pilot, lambda: screen.selected is not None, what="details")
            await wait_for_text(
                pilot, f"lost: the server at {server.url} no longer knows prompt {previous.prompt_id}"
            )
            assert "left running" in screen_text(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, JournalScreen))


async def test_runs_are_recorded_and_history_opens_from_the_palette(tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.sqlite3"
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50)) as server:
        app = _app(server, journal_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await run_to_its_end(pilot, app, "progress")
            await pilot.press("ctrl+p")
            await pilot.press(*"history")
            await wait_for_text(pilot, "Past executions from the journal")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen), what="history screen")
            screen = app.screen
            assert isinstance(screen, JournalScreen)
            await wait_for(
                pilot, lambda: [e.name for e in screen.entries] == ["progress"], what="recorded run"
            )


async def test_an_unusable_journal_is_a_warning_and_the_app_still_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the journal's folder should be")
    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:9"),
        bundled_dir=WORKFLOWS,
        connect=False,
        journal_path=blocker / "journal.sqlite3",
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.journal_note is not None, what="journal disabled note")
        assert app.journal is None
        await wait_for_text(pilot, "Running without a journal")
        await wait_for(pilot, lambda: bool(app.workflow_files), what="the app keeps working")
        await pilot.press("h")
        await pilot.pause()
        assert not isinstance(app.screen, JournalScreen)


async def test_the_users_journal_forgets_finished_runs_older_than_journal_keep_days() -> None:
    from datetime import timedelta

    from comfy_reality import paths
    from comfy_reality.journal import JournalStore
    from comfy_reality.runtime.models import utc_now
    from tests.journal.test_prune import NOW, fill, snapshot

    age = utc_now() - NOW  # the helper's rows are dated from its own NOW
    store = JournalStore(paths.journal_file())
    try:
        fill(
            store,
            snapshot("ancient", age=timedelta(days=120) - age),
            snapshot("recent", age=timedelta(days=2) - age),
            snapshot("ancient-running", age=timedelta(days=120) - age, status="running"),
        )
    finally:
        store.close()
    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:9", journal_keep_days=90), connect=False, bundled_dir=WORKFLOWS
    )
    async with app.run_test(size=(120, 48)) as pilot:
        await wait_for(pilot, lambda: app.journal is not None, what="the journal")
        journal = app.journal
        assert journal is not None
        listed = {e.id for e in await journal.list_executions(limit=50)}
        assert listed == {"recent", "ancient-running"}  # unfinished runs are never pruned
        await wait_for(
            pilot,
            lambda: (
                "1 finished execution(s) older than 90 days removed"
                in " ".join(strip.text for strip in app.log_pane.lines)
            ),
            what="the log line",
        )


async def test_a_run_retried_from_history_is_listed_there_at_once(tmp_path: Path) -> None:
    """Found by hand: t, r or e in History queued the run, but the list showed it only after F5
    (it follows the unfinished runs it lists, and a retried failure is already over)."""
    journal_path = tmp_path / "journal.sqlite3"
    async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50)) as server:
        app = _app(server, journal_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await run_to_its_end(pilot, app, "fail")
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen), what="history screen")
            screen = app.screen
            assert isinstance(screen, JournalScreen)
            await wait_for(pilot, lambda: [e.name for e in screen.entries] == ["fail"], what="the failed run")
            await pilot.press("t")
            await wait_for(
                pilot,
                lambda: [e.name for e in screen.entries] == ["fail", "fail"],
                what="the retried run listed",
            )
            await wait_for_text(pilot, "Executions: 2")
            await wait_for(
                pilot, lambda: all(e.is_final for e in screen.entries), 15, what="both listed as over"
            )
            # e: through the form; History lists the run once the session has it (at its next tick).
            await wait_for(pilot, lambda: app.main_screen.library.object_info is not None, what="catalogue")
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, InputFormScreen), what="the form")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.screen is screen, what="back in History")
            await wait_for(
                pilot,
                lambda: [e.name for e in screen.entries] == ["fail (edited)", "fail", "fail"],
                15,
                what="the re-run listed",
            )
