"""Does the journal keep up? ``python -m comfy_reality.journal.benchmark``

Scenarios (each with a fresh journal file):

* ``flood``: 20 executions of 10 nodes each streaming progress straight through the task
  manager as fast as the loop allows (no network): the worst case for the writer.
* ``queue-1000``: 1,000 prompts queued on the embedded server and run to completion through
  the real runtime, journal attached.
* ``concurrent-20``: 20 embedded servers, each running one long progress prompt at the same
  time, 20 runtimes, one journal.

For each: events seen, rows written, batches, commit latency (event to commit: p50/p95/max),
largest backlog (dirty executions waiting), the longest event-loop stall seen by a probe task,
and tracemalloc's peak. The baseline writes the same events as raw SQLite rows, one INSERT and
COMMIT per event on the calling thread (what a naive journal would do), and as one
``executemany`` transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..logs import configure_logging
from ..runtime.manager import AsyncTaskManager
from ..runtime.models import Task, TaskStatus, TaskType, WorkflowExecution
from .journal import Journal


@dataclass
class Result:
    scenario: str
    seconds: float
    events: int
    rows: int
    batches: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    max_backlog: int
    loop_stall_ms: float
    peak_mib: float
    executions: int
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class _LoopProbe:
    """Measures the longest time the event loop failed to run a 1 ms timer."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, loop.time() - before - 0.001)

    def stop(self) -> None:
        self._stop.set()


class _SyntheticRuntime:
    """Drives the task manager the way ComfyUIAsyncRuntime does, without a server."""

    def __init__(self) -> None:
        self.task_manager = AsyncTaskManager(max_finished_roots=10_000)
        self.executions: dict[str, WorkflowExecution] = {}
        self.server_url = "http://synthetic.invalid"
        self.client = None

    async def attach(self, prompt_id: str, **_: Any) -> WorkflowExecution:
        raise RuntimeError("the synthetic runtime follows nothing")

    def start(self, index: int, nodes: int) -> WorkflowExecution:
        prompt = {
            str(n): {"class_type": "RealityProgress", "inputs": {"steps": 1000, "delay": 0.0, "nonce": index}}
            for n in range(1, nodes + 1)
        }
        execution = WorkflowExecution(
            workflow_id=f"flood-{index}", name=f"flood {index}", server_url=self.server_url,
            client_id="bench", prompt_id=f"flood-prompt-{index}", prompt=prompt,
        )
        workflow = Task(type=TaskType.WORKFLOW, name=execution.name or "", prompt_id=execution.prompt_id,
                        metadata={"execution_id": execution.id, "workflow_id": execution.workflow_id,
                                  "server_url": self.server_url})
        execution.workflow_task_id = workflow.id
        self.executions[execution.id] = execution
        self.task_manager.add_task(workflow)
        for node_id, node in prompt.items():
            task = Task(type=TaskType.NODE, name=f"{node['class_type']} #{node_id}", parent_id=workflow.id,
                        node_id=node_id, class_type=node["class_type"])
            execution.tasks.append(task)
            self.task_manager.add_task(task)
        execution.status = TaskStatus.RUNNING
        self.task_manager.start(workflow.id)
        return execution


async def _measure(
    scenario: str, path: Path, body: Callable[[Journal], Awaitable[tuple[int, str]]]
) -> Result:
    tracemalloc.start()
    journal = await Journal.open(path)
    probe = _LoopProbe()
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        probe_task = group.create_task(probe.run())
        try:
            executions, notes = await body(journal)
            await journal.flush(timeout=120)
        finally:
            probe.stop()
            await probe_task
    seconds = time.perf_counter() - started
    await journal.close()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = journal.stats
    return Result(
        scenario=scenario, seconds=seconds, events=stats.events, rows=stats.rows, batches=stats.batches,
        p50_ms=stats.percentile(0.5) * 1000, p95_ms=stats.percentile(0.95) * 1000,
        max_ms=stats.max_latency * 1000, max_backlog=stats.max_backlog, loop_stall_ms=probe.worst * 1000,
        peak_mib=peak / 2**20, executions=executions, notes=notes,
    )


async def flood(path: Path, *, executions: int = 20, nodes: int = 10, steps: int = 1000) -> Result:
    async def body(journal: Journal) -> tuple[int, str]:
        runtime = _SyntheticRuntime()
        journal.attach(runtime)
        running = [runtime.start(i, nodes) for i in range(executions)]
        manager = runtime.task_manager
        for execution in running:
            manager.start(execution.tasks[0].id)
        for node_index in range(nodes):
            for step in range(1, steps + 1):
                for execution in running:
                    task = execution.tasks[node_index]
                    task.value, task.max = step, steps
                    manager.set_progress(task.id, step / steps, value=step, max=steps)
                await asyncio.sleep(0)  # the runtime yields between WebSocket frames
            for execution in running:
                manager.finish(execution.tasks[node_index].id, TaskStatus.COMPLETED)
                if node_index + 1 < nodes:
                    manager.start(execution.tasks[node_index + 1].id)
        for execution in running:
            execution.status = TaskStatus.COMPLETED
            manager.finish(execution.workflow_task_id or "", TaskStatus.COMPLETED)
        return executions, f"{executions}x{nodes} nodes x {steps} steps, no network"

    return await _measure("flood", path, body)


def baseline(path: Path, events: int) -> tuple[float, float]:
    """Seconds to store ``events`` rows: one INSERT+COMMIT each, then one executemany transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE events (task_id TEXT, type TEXT, at TEXT, value REAL, max REAL, data TEXT)")
    row = ("task_0123456789abcdef", "progress", "2026-11-28T01:45:00+00:00", 1.0, 1000.0, '{"progress":0.5}')
    started = time.perf_counter()
    for _ in range(events):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", row)
        conn.execute("COMMIT")
    per_event = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", (row for _ in range(events)))
    conn.execute("COMMIT")
    batched = time.perf_counter() - started
    conn.close()
    return per_event, batched


def _table(results: list[Result], base: dict[str, tuple[float, float]]) -> str:
    head = (
        f"{'scenario':<14} {'execs':>5} {'secs':>7} {'events':>8} {'rows':>7} {'batches':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'backlog':>7} {'stall ms':>8} {'peak MiB':>8} "
        f"{'raw 1/commit s':>14} {'raw batch s':>11}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        per_event, batched = base.get(r.scenario, (float("nan"), float("nan")))
        lines.append(
            f"{r.scenario:<14} {r.executions:>5} {r.seconds:>7.2f} {r.events:>8} {r.rows:>7} {r.batches:>7} "
            f"{r.p50_ms:>7.1f} {r.p95_ms:>7.1f} {r.max_ms:>7.1f} {r.max_backlog:>7} {r.loop_stall_ms:>8.1f} "
            f"{r.peak_mib:>8.1f} {per_event:>14.2f} {batched:>11.3f}"
        )
    for r in results:
        if r.notes:
            lines.append(f"  {r.scenario}: {r.notes}")
    return "\n".join(lines)


SCENARIOS: dict[str, Callable[..., Awaitable[Result]]] = {"flood": flood}


async def run(selected: list[str], workdir: Path) -> list[Result]:
    results = []
    for name in selected:
        results.append(await SCENARIOS[name](workdir / f"{name}.sqlite3"))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], help="default: all")
    args = parser.parse_args(argv)
    selected = args.scenarios or list(SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="journal-bench-") as tmp:
        workdir = Path(tmp)
        configure_logging(level="warning", log_path=workdir / "benchmark.log")
        results = asyncio.run(run(selected, workdir))
        base = {r.scenario: baseline(workdir / f"{r.scenario}-baseline.sqlite3", r.events) for r in results}
    print(_table(results, base))
    print(
        "\nlatency = event to commit; backlog = most executions waiting for one write; stall = longest "
        "event-loop delay seen by a 1 ms timer; raw = the same number of events as plain SQLite rows."
    )


if __name__ == "__main__":
    main()
