"""One app instance for the two-instances test: reconcile, queue prompts, wait for everything it
follows, report. ``python -m tests.faults.journal_instance URL JOURNAL COUNT LABEL``"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from comfy_reality.journal import Journal
from comfy_reality.logs import configure_logging
from comfy_reality.runtime import Backoff, ComfyUIAsyncRuntime

from .conftest import progress_prompt


async def main(url: str, journal_path: Path, count: int, label: str) -> None:
    configure_logging(level="info")
    journal = await Journal.open(journal_path, progress_interval=0.01)
    runtime = ComfyUIAsyncRuntime(url, timeout=10.0, backoff=Backoff(initial=0.01, maximum=0.05, jitter=0.0))
    journal.attach(runtime)
    async with runtime.session():
        report = await journal.reconcile(runtime)
        print(json.dumps({"reconciled": [e.prompt_id for e in report.followed]}), flush=True)
        submitted = [
            await runtime.submit(progress_prompt(steps=3, nonce=i, prefix=label), name=f"{label} {i}")
            for i in range(count)
        ]
        finals = [await runtime.wait(e, timeout=120) for e in [*report.followed, *submitted]]
    await journal.close()
    print(
        json.dumps(
            {
                "followed": [e.prompt_id for e in report.followed],
                "submitted": [e.prompt_id for e in submitted],
                "statuses": sorted({e.status.value for e in finals}),
                "journal_error": journal.error,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
