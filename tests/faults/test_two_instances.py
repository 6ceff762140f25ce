"""Two app instances share one journal file: both write at once, both re-attach the same
unfinished prompt; every execution ends up exactly once, final, with no write errors."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from comfy_reality.journal import Journal
from comfy_reality.runtime import ComfyUIAsyncRuntime, TaskStatus
from comfy_reality.server import EmbeddedServer

from .conftest import progress_prompt, wait_for_progress

REPO = Path(__file__).resolve().parents[2]
Session = Callable[..., Awaitable[ComfyUIAsyncRuntime]]


async def test_two_instances_in_one_process(server: EmbeddedServer, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    first, second = await Journal.open(path), await Journal.open(path)
    try:
        a, b = await session(server.url), await session(server.url)
        first.attach(a)
        second.attach(b)
        mine = await a.submit(progress_prompt(steps=30, delay=1.0), name="shared")
        await wait_for_progress(a, mine)
        # Instance B follows A's prompt too (as its reconcile would) while both queue more.
        followed = await b.attach(mine.prompt_id or "", client_id=a.client_id)
        more = await asyncio.gather(
            *(a.submit(progress_prompt(nonce=i), name=f"a{i}") for i in range(5)),
            *(b.submit(progress_prompt(nonce=10 + i), name=f"b{i}") for i in range(5)),
        )
        await asyncio.gather(
            a.wait(mine), b.wait(followed), *((a if e.id in a.executions else b).wait(e) for e in more)
        )
        await first.flush()
        await second.flush()
        assert first.error is None and second.error is None
        entries = await first.list_executions()
        assert len(entries) == 11
        assert len({e.prompt_id for e in entries}) == 11
        assert all(e.status is TaskStatus.COMPLETED for e in entries)
        shared = await second.get(mine.prompt_id or "")
        assert shared is not None and shared.id == mine.id and shared.name == "shared"
    finally:
        await first.close()
        await second.close()


async def start_instance(
    server: EmbeddedServer, path: Path, count: int, label: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.journal_instance",
        server.url,
        str(path),
        str(count),
        label,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )


async def read_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 120)
    if not line:
        assert process.stderr is not None
        raise AssertionError((await process.stderr.read()).decode(errors="replace")[-3000:])
    result: dict[str, Any] = json.loads(line)
    return result


async def finish(process: asyncio.subprocess.Process) -> dict[str, Any]:
    result = await read_line(process)
    await asyncio.wait_for(process.wait(), 60)
    assert process.returncode == 0
    return result


async def test_two_instance_processes_on_one_journal(
    server: EmbeddedServer, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite3"
    # A previous app run left one prompt unfinished in the journal; it runs until we stop it.
    crashed = await Journal.open(path)
    runtime = await session(server.url)
    crashed.attach(runtime)
    left_behind = await runtime.submit(progress_prompt(steps=100_000, delay=1.0), name="left behind")
    await wait_for_progress(runtime, left_behind)
    await crashed.close()

    processes = [await start_instance(server, path, 8, label) for label in ("one", "two")]
    try:
        reconciled = await asyncio.gather(*(read_line(p) for p in processes))
        # Both found it unfinished and follow it; their own prompts queue behind it. An instance
        # that reconciles after the other queued its prompts follows those too: same journal.
        assert all(left_behind.prompt_id in r["reconciled"] for r in reconciled)
        await runtime.cancel(left_behind)
        one, two = await asyncio.gather(*(finish(p) for p in processes))
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    for mine, other in ((one, two), (two, one)):
        extra = set(mine["followed"]) - {left_behind.prompt_id}
        assert extra <= set(other["submitted"]), "only unfinished prompts of the journal are followed"
    for result in (one, two):
        assert result["journal_error"] is None
        assert result["statuses"] == ["cancelled", "completed"]
        assert len(result["submitted"]) == 8

    journal = await Journal.open(path)
    try:
        entries = await journal.list_executions(limit=1000)
        prompt_ids = [e.prompt_id for e in entries]
        assert len(prompt_ids) == len(set(prompt_ids)) == 17, "no duplicated and no missing executions"
        left = await journal.get(left_behind.prompt_id or "")
        assert left is not None and left.id == left_behind.id and left.name == "left behind"
        assert left.status is TaskStatus.CANCELLED and not left.lost
        assert all(e.status is TaskStatus.COMPLETED for e in entries if e.id != left.id)
    finally:
        await journal.close()
