"""Big graphs stay instant? ``python -m benchmarks.scale [--quick]``

A measurement, not a test. The real app runs headless (Pilot) against the embedded server through
the real runtime, at 160x48. The server runs in its own process, as a real ComfyUI is another
program (often another machine): the CPU figures are the app's own, the server's is printed beside
them (``--server-in-process`` puts it back on the app's loop, as this benchmark did before). Keys
are posted as the terminal driver posts them; a key's latency runs until the first frame composed
after its effect is visible (the focus moved, the cursor moved, the branch opened, the list answered).

Scenarios:

* a chain workflow of 6, 50, 200 and 500 nodes (each node a few progress steps, about 10 s of
  running in all): time from pressing r to a frame with every node shown; app CPU while it runs
  with no key pressed; Tab, cursor and expand latency while it runs and once it is idle;
* 300 runs queued from the keyboard at once, recorded in a journal as a user's app records them
  (so past the newest 30 finished, executions are compacted to summaries): key latency with them
  in the tree; the memory each held execution costs, from the first hundred finished to all of
  them, counted by tracemalloc
  (objects still allocated after gc, the in-process server's excepted; RSS, which moves by whole
  pages and reuses freed arenas, and is inflated while tracing, is ``benchmarks.memory``'s curve);
* History over a journal of 20,000 executions: open, End (the cursor on the oldest row), one
  filter keystroke, beside the same over 200 rows.

Every figure is printed beside its baseline (the 6-node workflow, or the 200-row journal) and its
target. The machine is shared: compare ratios within one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual import events

from comfy_reality.config import Settings
from comfy_reality.journal import JournalStore
from comfy_reality.runtime.models import ConnectionState
from comfy_reality.server import EmbeddedServer, ServerConfig
from comfy_reality.tui.app import ComfyRealityApp
from tests.tui.pilot import wait_for

SIZE = (160, 48)
NODE_COUNTS = (6, 50, 200, 500)
RUN_SECONDS = 10.0
KEY_TIMEOUT = 5.0


# ---------------------------------------------------------------------------- workflows
def chain_prompt(nodes: int, seconds: float) -> dict[str, Any]:
    """EmptyImage, then ``nodes - 2`` progress nodes in a chain, then SaveImage: every node runs."""
    steps = 4
    delay = max(0.0005, seconds / max(1, nodes - 2) / steps)
    prompt: dict[str, Any] = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}
    }
    for index in range(2, nodes):
        prompt[str(index)] = {
            "class_type": "RealityProgress",
            "inputs": {"image": [str(index - 1), 0], "steps": steps, "delay": delay},
        }
    prompt[str(nodes)] = {
        "class_type": "SaveImage",
        "inputs": {"images": [str(nodes - 1), 0], "filename_prefix": f"scale_{nodes}"},
    }
    return prompt


def write_workflows(folder: Path) -> None:
    for nodes in NODE_COUNTS:
        (folder / f"chain-{nodes:03d}.json").write_text(json.dumps(chain_prompt(nodes, RUN_SECONDS)))
    (folder / "quick.json").write_text(json.dumps(chain_prompt(6, 0.01)))


# ---------------------------------------------------------------------------- the server
@dataclass
class ServerHandle:
    """Where the server listens, and (when it is another process) how much CPU it has used."""

    url: str
    pid: int | None = None

    def cpu_seconds(self) -> float:
        """The server process's user+system CPU; 0 when it shares the app's process."""
        if self.pid is None:
            return 0.0
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def workflows_served(in_process: bool) -> AsyncIterator[tuple[ServerHandle, Path, Path]]:
    """The scale workflows in a temporary folder and a server to run them: (server, workflows, that folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        workflows = workdir / "workflows"
        workflows.mkdir()
        write_workflows(workflows)
        async with serving(workdir, in_process) as server:
            yield server, workflows, workdir


@contextlib.asynccontextmanager
async def serving(workdir: Path, in_process: bool) -> AsyncIterator[ServerHandle]:
    """The embedded server: in its own process (as in real use), or on this loop."""
    if in_process:
        async with EmbeddedServer(ServerConfig(host="127.0.0.1", port=0, speed=1.0)) as server:
            yield ServerHandle(server.url)
        return
    log_path = workdir / "server.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "comfy_reality.server", "--host", "127.0.0.1", "--port", "0"),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None:
            found = re.search(r"server on (http://127\.0\.0\.1:\d+)", log_path.read_text(errors="replace"))
            if found:
                url = found.group(1)
            elif process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not start: {log_path.read_text(errors='replace')[-2000:]}"
                )
            else:
                await asyncio.sleep(0.05)
        yield ServerHandle(url, process.pid)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


# ---------------------------------------------------------------------------- measuring
class Frames:
    """Calls watchers on every frame the app composes (the headless driver writes nothing)."""

    def __init__(self, app: ComfyRealityApp) -> None:
        self.count = 0
        self.watchers: list[Callable[[float], None]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            self.count += 1
            now = time.perf_counter()
            for watcher in list(self.watchers):
                watcher(now)

        app._display = display  # type: ignore[method-assign]

    async def until(self, condition: Callable[[], bool], start: float, timeout: float = KEY_TIMEOUT) -> float:
        """Milliseconds from ``start`` to the first frame on which ``condition()`` holds."""
        shown = asyncio.Event()
        result: list[float] = []

        def watcher(now: float) -> None:
            if not shown.is_set() and condition():
                result.append((now - start) * 1000)
                shown.set()

        self.watchers.append(watcher)
        try:
            await asyncio.wait_for(shown.wait(), timeout)
        except TimeoutError:
            result.append(timeout * 1000)
        finally:
            self.watchers.remove(watcher)
        return result[0]


async def press(app: ComfyRealityApp, frames: Frames, key: str, effect: Callable[[], bool]) -> float:
    sent = time.perf_counter()
    app.post_message(events.Key(key, None))
    return await frames.until(effect, sent)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def key_round(app: ComfyRealityApp, frames: Frames, presses: int) -> dict[str, list[float]]:
    """Tab between panes; open/close the newest execution; cursor down/up through its nodes."""
    tab: list[float] = []
    cursor: list[float] = []
    expand: list[float] = []
    for _ in range(presses):
        before = app.focused
        tab.append(await press(app, frames, "tab", lambda b=before: app.focused is not b))
        await asyncio.sleep(0.03)
    tree = app.task_tree
    tree.focus()
    newest = tree.root.children[0] if tree.root.children else None
    tree.move_cursor(newest)
    await asyncio.sleep(0.05)
    for _index in range(max(2, presses // 2)):
        node = tree.cursor_node
        if node is None:
            break
        opened = node.is_expanded
        key = "left" if opened else "right"
        expand.append(await press(app, frames, key, lambda n=node, o=opened: n.is_expanded != o))
        await asyncio.sleep(0.03)
    if newest is not None:
        newest.expand()
    await asyncio.sleep(0.05)
    for index in range(presses):
        line = tree.cursor_line
        key = "down" if index % 2 == 0 else "up"
        cursor.append(await press(app, frames, key, lambda line=line: tree.cursor_line != line))
        await asyncio.sleep(0.03)
    if newest is not None:
        newest.collapse()
    app.main_screen.browser.option_list.focus()
    await asyncio.sleep(0.05)
    return {"tab": tab, "cursor": cursor, "expand": expand}


async def connected_app(server_url: str, workflows: Path, **kwargs: Any) -> ComfyRealityApp:
    # freeze_long_lived: as the comfy-reality-tui command runs the app.
    return ComfyRealityApp(
        Settings(server_url=server_url), bundled_dir=workflows, freeze_long_lived=True, **kwargs
    )


async def wait_connected(pilot: Any, app: ComfyRealityApp) -> None:
    await wait_for(
        pilot,
        lambda: app.runtime is not None and app.runtime.status.state is ConnectionState.CONNECTED,
        timeout=30,
        what="connection",
    )
    await wait_for(pilot, lambda: len(app.workflow_files) >= len(NODE_COUNTS), timeout=30, what="scan")


# ---------------------------------------------------------------------------- scenarios
async def workflow_highlighted(pilot: Any, app: ComfyRealityApp, name: str) -> Frames:
    """Connected, the workflow list focused on workflow ``name``: ready for ``r``; frames counted."""
    await wait_connected(pilot, app)
    frames = Frames(app)
    browser = app.main_screen.browser
    browser.option_list.focus()
    assert browser.highlight(name) is not None
    await pilot.pause()
    return frames


async def chain_highlighted(pilot: Any, app: ComfyRealityApp, nodes: int) -> Frames:
    """The ``nodes``-node chain highlighted (see :func:`workflow_highlighted`)."""
    return await workflow_highlighted(pilot, app, f"chain-{nodes:03d}")


async def graph_scenario(server: ServerHandle, workflows: Path, nodes: int, presses: int) -> dict[str, Any]:
    app = await connected_app(server.url, workflows, use_journal=False)
    async with app.run_test(size=SIZE) as pilot:
        frames = await chain_highlighted(pilot, app, nodes)

        def all_shown() -> bool:
            entry = app.main_screen.execution_view.entry
            return entry is not None and len(entry.nodes) == nodes

        sent = time.perf_counter()
        app.post_message(events.Key("r", "r"))
        shown_ms = await frames.until(all_shown, sent, timeout=20)
        entry = app.main_screen.execution_view.entry
        assert entry is not None
        execution_id = entry.id
        await wait_for(pilot, lambda: app.session.entries[execution_id].status.value == "running", 20)
        # CPU while it runs and nothing is pressed.
        cpu_start, server_start, wall_start = time.process_time(), server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(2.0)
        wall = time.perf_counter() - wall_start
        cpu = (time.process_time() - cpu_start) / wall * 100
        server_cpu = (server.cpu_seconds() - server_start) / wall * 100
        running = await key_round(app, frames, presses)
        still_running = not app.session.entries[execution_id].status.is_final
        runtime = app.runtime
        if still_running and runtime is not None:
            # Idle figures need the run over: stop it rather than wait for a slow app to finish it.
            await runtime.cancel(runtime.executions[execution_id])
        await wait_for(pilot, lambda: app.session.entries[execution_id].status.is_final, 120, "the run's end")
        await asyncio.sleep(0.3)
        idle = await key_round(app, frames, presses)
        return {
            "shown": shown_ms,
            "cpu": cpu,
            "server_cpu": server_cpu,
            "running": running,
            "idle": idle,
            "ran_long": still_running,
        }


async def burst_scenario(
    server: ServerHandle, workflows: Path, runs: int, presses: int, journal: Path | None = None
) -> dict[str, Any]:
    """``journal``: the app records to it, as a user's app does (and then keeps only the newest 30
    finished executions whole, reading older ones back from it); None runs without one."""
    app = await connected_app(server.url, workflows, use_journal=journal is not None, journal_path=journal)
    async with app.run_test(size=SIZE) as pilot:
        frames = await workflow_highlighted(pilot, app, "quick")
        marks: dict[int, int] = {}
        traced: dict[int, int] = {}

        async def queue(count: int) -> None:
            target = len(app.session.entries) + count
            for _ in range(count):
                app.post_message(events.Key("r", "r"))
            await wait_for(pilot, lambda: len(app.session.entries) >= target, 120, "queued")
            await wait_for(pilot, lambda: not app.session.active(), 180, "all finished")
            await asyncio.sleep(0.5)
            gc.collect()
            marks[len(app.session.entries)] = rss_kib()  # under tracing: see benchmarks.memory for RSS
            traced[len(app.session.entries)] = app_traced_bytes()

        first = runs // 3
        # Objects, not pages: tracemalloc counts what stays allocated (RSS reuses freed arenas and
        # moves by whole pages). Traced from here only, and off again before the keys are timed.
        tracemalloc.start(TRACE_FRAMES)
        try:
            await queue(first)
            await queue(runs - first)
        finally:
            tracemalloc.stop()
        keys = await key_round(app, frames, presses)
        (low, low_rss), (high, high_rss) = sorted(marks.items())
        return {
            "keys": keys,
            "rss_low": low_rss,
            "rss_high": high_rss,
            "per_execution_kib": (high_rss - low_rss) / max(1, high - low),
            "traced_per_execution_kib": (traced[high] - traced[low]) / max(1, high - low) / 1024,
            "held": high,
        }


TRACE_FRAMES = 25
_SERVER_FILES = tracemalloc.Filter(False, "*/comfy_reality/server/*", all_frames=True)


def app_traced_bytes() -> int:
    """Bytes allocated since tracing started and still alive, the in-process server's excepted."""
    snapshot = tracemalloc.take_snapshot().filter_traces([_SERVER_FILES])
    return sum(stat.size for stat in snapshot.statistics("filename"))


def make_journal(path: Path, rows: int) -> None:
    store = JournalStore(path)
    store.close()
    import sqlite3

    conn = sqlite3.connect(path)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = ("completed", "completed", "completed", "failed", "cancelled")
    conn.executemany(
        "INSERT INTO executions (id, prompt_id, server_url, workflow_id, name, number, status, "
        "created_at, started_at, completed_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                f"exec-{index:06d}",
                str(uuid.UUID(int=index)),
                "http://127.0.0.1:8188",
                f"workflows/wf-{index % 37}.json",
                f"workflow {index % 37} run {index}",
                index,
                statuses[index % len(statuses)],
                (start + timedelta(seconds=index * 30)).isoformat(),
                (start + timedelta(seconds=index * 30 + 1)).isoformat(),
                (start + timedelta(seconds=index * 30 + 9)).isoformat(),
                (start + timedelta(seconds=index * 30 + 9)).isoformat(),
            )
            for index in range(rows)
        ],
    )
    conn.commit()
    conn.close()


# ---------------------------------------------------------------------------- report
def line(name: str, value: float, unit: str, baseline: float | None, target: str, ok: bool) -> str:
    base = f"{baseline:9.1f}" if baseline is not None else " " * 9
    ratio = f"×{value / baseline:5.2f}" if baseline else " " * 6
    return f"  {name:<44} {value:9.1f} {unit:<4} {base} {ratio}  {target:<22} {'pass' if ok else 'MISS'}"


class Printed(list[str]):
    """The report's lines, each printed as soon as it is known (a full run takes minutes)."""

    def append(self, line: str) -> None:
        super().append(line)
        print(line, flush=True)

    def extend(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.append(line)


async def run(quick: bool, server_in_process: bool = False) -> list[str]:
    presses = 8 if quick else 16
    out = Printed()
    where = "on the app's loop (CPU: app + server)" if server_in_process else "in its own process"
    out.append(f"server {where}")
    out.append(f"  {'figure':<44} {'value':>9} {'':<4} {'baseline':>9} {'ratio':>6}  {'target':<22} verdict")
    async with workflows_served(server_in_process) as (server, workflows, workdir):
        graphs: dict[int, dict[str, Any]] = {}
        for nodes in NODE_COUNTS if not quick else (6, 500):
            graphs[nodes] = result = await graph_scenario(server, workflows, nodes, presses)
            base = graphs[6]
            out.append(f"{nodes} nodes{'' if result['ran_long'] else ' (run ended before the keys)'}:")
            out.append(
                line(
                    "run -> all nodes shown",
                    result["shown"],
                    "ms",
                    base["shown"],
                    "< 150 ms",
                    result["shown"] < 150,
                )
            )
            out.append(
                line(
                    "CPU while running, no keys" + (" (app+server)" if server_in_process else " (app)"),
                    result["cpu"],
                    "%",
                    base["cpu"],
                    "<= 2x 6-node",
                    result["cpu"] <= 2 * base["cpu"] + 1e-9,
                )
            )
            if not server_in_process:
                out.append(
                    line(
                        "  the server process meanwhile (not the app's)",
                        result["server_cpu"],
                        "%",
                        base["server_cpu"],
                        "(information)",
                        True,
                    )
                )
            for phase, limit in (("running", 50.0), ("idle", 30.0)):
                for key in ("tab", "cursor", "expand"):
                    values = result[phase][key]
                    p50, p95 = pct(values, 0.5), pct(values, 0.95)
                    b95 = pct(base[phase][key], 0.95)
                    out.append(
                        line(
                            f"{key} p95 ({phase}; p50 {p50:.1f})",
                            p95,
                            "ms",
                            b95,
                            f"< {limit:.0f} ms p95",
                            p95 < limit,
                        )
                    )
        burst = await burst_scenario(
            server, workflows, 150 if quick else 300, presses, journal=workdir / "burst-journal.sqlite3"
        )
        out.append(f"{burst['held']} executions held in the tree:")
        for key in ("tab", "cursor", "expand"):
            p95 = pct(burst["keys"][key], 0.95)
            out.append(
                line(f"{key} p95", p95, "ms", pct(graphs[6]["idle"][key], 0.95), "< 50 ms p95", p95 < 50)
            )
        out.append(
            line(
                "memory per held execution (tracemalloc)",
                burst["traced_per_execution_kib"],
                "KiB",
                None,
                "< 20 KiB",
                burst["traced_per_execution_kib"] < 20,
            )
        )
        # The History figures: the same scenario as ``python -m benchmarks.history``.
        from benchmarks import history

        out.extend(await history.run(2_000 if quick else 20_000, presses))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="6 and 500 nodes only, fewer keys, 2,000 rows")
    parser.add_argument(
        "--server-in-process",
        action="store_true",
        help="run the embedded server on the app's loop (its CPU then counts as the app's)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    asyncio.run(run(args.quick, args.server_in_process))
    print(f"({time.perf_counter() - started:.0f} s; times in ms, shared machine: compare ratios)")


if __name__ == "__main__":
    main()
