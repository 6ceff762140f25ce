"""End-to-end overhead counted in instructions (callgrind), the repeatable form of the e2e figure.

Wall time of 100 prompts swings by 10-20% on a shared machine; callgrind's instruction count does
not. Each client (the runtime, and the bare httpx + websockets client of ``benchmarks.runtime``)
runs in a child process under ``valgrind --tool=callgrind`` twice, with 5 and with 45 trivial
prompts after the same warm-up, against the same embedded server (its own process, not counted).
The difference divided by 40 is the cost of one prompt: start-up, imports and the warm-up cancel
out. ``python -m benchmarks.runtime --only e2e-instructions`` runs it (a few minutes).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .report import Report, Row

TARGET = 1.05
FEW, MANY = 5, 45
WARM_UP = 2


async def _child(kind: str, url: str, count: int) -> None:
    from .runtime import BareClient, trivial_prompt

    base = random.randrange(0, 16_000_000)  # fresh prompts: the server must not answer from its cache
    prompts = [trivial_prompt(base + i) for i in range(WARM_UP + count)]
    if kind == "bare":
        client = BareClient(url)
        async with client.session():
            for prompt in prompts:
                await client.wait(await client.submit(prompt))
        return
    from comfy_reality.runtime.runtime import ComfyUIAsyncRuntime

    runtime = ComfyUIAsyncRuntime(url)
    async with runtime.session():
        for i, prompt in enumerate(prompts):
            await runtime.wait(await runtime.submit(prompt, name=f"bench {i}"))


def _child_main(kind: str, url: str, count: int, log_dir: str) -> None:
    from comfy_reality import logs

    # The log file as the CLI writes it (structlog not imported): the two info lines per prompt count.
    logs.configure_logging(level="info", log_path=Path(log_dir) / "bench.jsonl")
    try:
        asyncio.run(_child(kind, url, count))
    finally:
        logs.close_log_file()


def _instructions(kind: str, url: str, count: int, work: Path) -> int:
    out = work / f"{kind}-{count}.callgrind"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "benchmarks.e2e_instructions",
            "child",
            kind,
            url,
            str(count),
            str(work),
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=1800,
    )
    found = re.search(r"^(?:totals|summary): (\d+)", out.read_text(), re.M)
    if found is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(found[1])


def per_prompt(kind: str, url: str, work: Path) -> float:
    """Instructions of one prompt: (MANY prompts - FEW prompts) / (MANY - FEW)."""
    few = _instructions(kind, url, FEW, work)
    many = _instructions(kind, url, MANY, work)
    return (many - few) / (MANY - FEW)


def bench_e2e_instructions(report: Report, url: str) -> None:
    if shutil.which("valgrind") is None:
        report.add(Row("e2e", "instructions per prompt", None, "", note="not available (no valgrind)"))
        return
    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-cg-") as tmp:
        work = Path(tmp)
        bare = per_prompt("bare", url, work)
        ours = per_prompt("ours", url, work)
    ratio = ours / bare
    report.add(
        Row(
            "e2e",
            "instructions per trivial prompt (callgrind)",
            ours / 1e6,
            "M instr",
            baseline=bare / 1e6,
            baseline_name="bare httpx+websockets",
            ratio=ratio,
            target=f"overhead <= {TARGET}x",
            ok=ratio <= TARGET,
            note=f"({MANY} - {FEW} prompts) / {MANY - FEW}, each client in its own process under callgrind, "
            "the server in another; deterministic, unlike the wall figure",
        )
    )


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "child":
    _child_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
