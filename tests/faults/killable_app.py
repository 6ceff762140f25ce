"""A minimal app for the SIGKILL test: queue one slow prompt with the journal attached, report it,
then wait to be killed. ``python -m tests.faults.killable_app URL JOURNAL STEPS DELAY``"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from comfy_reality.journal import Journal
from comfy_reality.logs import configure_logging
from comfy_reality.runtime import Backoff, ComfyUIAsyncRuntime, TaskEvent

from .conftest import progress_prompt


async def main(url: str, journal_path: Path, steps: int, delay: float) -> None:
    configure_logging(level="info")
    journal = await Journal.open(journal_path, progress_interval=0.02)
    runtime = ComfyUIAsyncRuntime(url, timeout=5.0, backoff=Backoff(initial=0.01, maximum=0.05, jitter=0.0))
    journal.attach(runtime)
    async with runtime.session():
        execution = await runtime.submit(progress_prompt(steps, delay), name="killed mid-run")
        node = execution.node_task("2")
        assert node is not None
        running = asyncio.Event()

        def watch(event: TaskEvent) -> None:
            if event.task_id == node.id and (node.value or 0) >= 2:
                running.set()

        runtime.task_manager.subscribe(watch)
        await asyncio.wait_for(running.wait(), 30)
        await journal.flush()
        print(
            json.dumps(
                {
                    "execution_id": execution.id,
                    "prompt_id": execution.prompt_id,
                    "client_id": runtime.client_id,
                }
            ),
            flush=True,
        )
        await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
