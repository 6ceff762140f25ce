"""The app over a pool when a server dies mid-batch, and the journal of that pool after a restart.

The pool-level tests check every rule of failover; these check what a user of the app sees: the
dead server's chip, the moved prompts finishing on the other server, the running one reported
lost with the reason, and, in a new session, History listing the executions of both servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from comfy_reality.config import ServerEntry, Settings
from comfy_reality.runtime import TaskStatus
from comfy_reality.runtime.pool_app import PoolRuntime
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.screens.journal_screen import JournalScreen

from ..pool.conftest import quick_prompt
from .helpers import WORKFLOWS, screen_text, wait_for, wait_for_text

SIZE = (160, 40)


@pytest.fixture
async def two_servers() -> AsyncIterator[list[EmbeddedServer]]:
    async with (
        EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as first,
        EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=50.0)) as second,
    ):
        yield [first, second]


def pool_app(servers: list[EmbeddedServer], journal_path: Path) -> ComfyRealityApp:
    settings = Settings(
        servers=[ServerEntry(url=servers[0].url, name="s0"), ServerEntry(url=servers[1].url, name="s1")],
        failover_after=0.3,
        timeout=0.5,
    )
    return ComfyRealityApp(settings, bundled_dir=WORKFLOWS, frame_interval=0.005, journal_path=journal_path)


async def test_a_server_dying_mid_batch_in_the_app_then_history_after_a_restart(
    two_servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    s0, s1 = two_servers
    journal_path = tmp_path / "journal.sqlite3"
    app = pool_app(two_servers, journal_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.runtime, PoolRuntime), what="the pool")
        runtime = app.runtime
        assert isinstance(runtime, PoolRuntime)
        pool = runtime.pool
        await wait_for(pilot, lambda: all(m.connected and m.catalogue for m in pool.members), what="servers")
        await wait_for_text(pilot, "● s1 q")

        s0.faults.step_delay = 0.2  # s0's first prompt runs long; two more wait behind it
        on_s0 = [
            await pool.submit(quick_prompt(n, steps=50), server="s0", name=f"on-s0-{n}") for n in range(3)
        ]
        on_s1 = await pool.submit(quick_prompt(10), server="s1", name="on-s1")
        running, waiting = on_s0[0], on_s0[1:]
        await wait_for(pilot, lambda: running.status is TaskStatus.RUNNING, what="s0's first prompt running")

        # s0 stops answering: its HTTP stalls and its sockets drop.
        s0.faults.stall_http = True
        await s0.faults.drop_websockets()
        await wait_for(pilot, lambda: pool.member("s0").down, what="s0 marked down", timeout=20)
        await wait_for(pilot, lambda: running.is_final, what="the running prompt reported lost", timeout=20)
        first_tries = {w.id for w in waiting}
        await wait_for(
            pilot,
            lambda: (
                sum(
                    1
                    for e in app.session.entries.values()
                    if e.execution.retry_of in first_tries and e.execution.status is TaskStatus.COMPLETED
                )
                == 2
            ),
            what="the waiting prompts finished on s1",
            timeout=20,
        )
        moved = [e.execution for e in app.session.entries.values() if e.execution.retry_of in first_tries]
        assert all(e.server_url == s1.url and e.metadata.get("server_name") == "s1" for e in moved)
        assert running.status is TaskStatus.FAILED
        await wait_for(pilot, lambda: on_s1.status is TaskStatus.COMPLETED, what="s1's own prompt")

        # What the user sees: s0's chip says it is down, the moved runs name s1, the lost one says why.
        await wait_for_text(pilot, "● s0 down")
        assert "s0 q" not in screen_text(app)  # no stale queue length for a dead server
        await wait_for_text(pilot, "↻  @s1")
        await wait_for(
            pilot,
            lambda: (
                "Task 'on-s0-0' failed: lost: s0 stopped answering"
                in " ".join(strip.text for strip in app.log_pane.lines).replace("  ", " ")
            ),
            what="the lost run's reason in the log",
        )
    s0.faults.stall_http = False  # back for the next session (its queue still holds the moved prompts)

    # A new session over the same journal: History lists what ran on both servers.
    app = pool_app(two_servers, journal_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.journal is not None, what="the journal")
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen), what="History")
        await wait_for_text(pilot, "Executions: 6")
        s0_host, s1_host = (s.url.split("://", 1)[1] for s in two_servers)
        rows = [line for line in screen_text(app).splitlines() if s0_host in line or s1_host in line]

        def row(name: str, host: str) -> str:
            (line,) = [line for line in rows if f" {name} " in line and host in line]
            return line.strip("│ ")

        for name in ("on-s0-1", "on-s0-2"):  # the first try on s0, cancelled; the moved run on s1, done
            assert row(name, s0_host).startswith("⊘") and row(name, s1_host).startswith("✓")
        assert row("on-s0-0", s0_host).startswith("?")  # lost
        assert row("on-s1", s1_host).startswith("✓")
