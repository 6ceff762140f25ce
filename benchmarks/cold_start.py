"""Cold start of ``comfy-reality-tui`` against a minimal Textual app (``python -m benchmarks.tui --cold-only``).

Each child is a fresh interpreter, headless, with bytecode present (PYTHONDONTWRITEBYTECODE unset,
a private cache prefix warmed by one unmeasured round: a user's install has its bytecode). Each
prints, with the wall clock and its CPU time (all threads) at that moment:

* FIRST: the first screen update handed to the driver (what a user first sees);
* KEY: Tab is posted at FIRST, as a user's key that arrives with the first frame; KEY is the
  first update handed to the driver after the focus moved (the frame that answers it);
* IDLE: the screen has handled its events and the process went idle (Pilot's pause), so every
  start-up job that runs on the loop is counted;
* LISTED (ours only): the workflow list drawn.

Tab is the key because its effect is visible in both apps whatever has loaded: the focus moves
to the next pane and the footer's keys follow it (ours lists no workflow before the folders are read).

Wall clock on a shared machine swings with the load, so each round runs the apps back to back in
a rotating order and the figure is the median of the per-round ratios, with the load average
before and after. :func:`cold_instructions` is the repeatable form: each child under callgrind,
stopped at FIRST or KEY, its instructions counted (``--cold-instructions``, a couple of minutes).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from comfy_reality.paths import bundled_workflows_dir

from .report import Row

COLD_TARGET = 1.2
MARKS = ("FIRST", "KEY", "IDLE", "LISTED")

# Shared by both children: the first update is marked and Tab posted with it; the update after the
# focus moved is the answer.
_MARKING = r"""
import asyncio, os, sys, time
from textual import events

STOP_AT = os.environ.get("COLD_STOP_AT")  # under callgrind: the process ends at this mark

def mark(name):
    print(name, time.time(), time.process_time(), flush=True)
    if name == STOP_AT:
        os._exit(0)

def watch_frames(app):
    display = app._display
    state = {"focused": None, "first": False, "key": False}

    def marked(screen, renderable):
        display(screen, renderable)
        if renderable is None:
            return
        if not state["first"]:
            state["first"] = True
            state["focused"] = app.screen.focused
            mark("FIRST")
            key = events.Key("tab", "\t")  # as the terminal driver hands it over (Pilot does the same)
            key.set_sender(app)
            app._driver.send_message(key)
        elif not state["key"] and app.screen.focused is not state["focused"]:
            state["key"] = True
            mark("KEY")
            app._display = display

    app._display = marked
    return state

async def wait_for_key(pilot, state):
    deadline = time.monotonic() + 30
    while not state["key"]:
        if time.monotonic() > deadline:
            sys.exit("the key was never answered")
        await pilot.pause(0.001)
"""

# The app started as ``comfy-reality-tui`` starts it in a terminal (collections held, the settings'
# sources read and validated after the first frame, the file log, the log tap, long-lived objects
# frozen a second after the first frame, outside these marks), headless.
OURS_CHILD = (
    _MARKING
    + r"""
from pathlib import Path
try:
    from comfy_reality.tui.gc_tuning import hold_collections
except ImportError:  # a tree from before it (PYTHONPATH=OLD/src measures one with this benchmark)
    hold_collections = lambda: None
hold_collections()  # as comfy-reality-tui's main does, before the settings and the app load
from comfy_reality import startup
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.logtap import LogTap

async def main():
    if hasattr(startup, "read"):  # read now, validated by the model after the first frame, as in a terminal
        settings = startup.read(None, server_url="http://127.0.0.1:9")
        startup.start_logging(settings.first_frame)
    else:  # a tree from before it
        settings = startup.load(None, server_url="http://127.0.0.1:9")
        startup.start_logging(settings)
    app = ComfyRealityApp(
        settings, connect=False, bundled_dir=Path(sys.argv[1]), log_tap=LogTap(), freeze_long_lived=True
    )
    state = watch_frames(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_key(pilot, state)
        await pilot.pause()
        mark("IDLE")
        while not app.workflow_files:
            await pilot.pause(0.001)
        await pilot.pause()
        mark("LISTED")

asyncio.run(main())
"""
)

# The floor: a minimal Textual app with the same kinds of panes, measured the same way.
MINIMAL_CHILD = (
    _MARKING
    + r"""
from textual.app import App
from textual.widgets import Footer, Header, RichLog, Tree

class Minimal(App[None]):
    def compose(self):
        yield Header()
        yield Tree("workflows")
        yield RichLog()
        yield Footer()

async def main():
    app = Minimal()
    state = watch_frames(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_key(pilot, state)
        await pilot.pause()
        mark("IDLE")

asyncio.run(main())
"""
)


def child_marks(code: str, args: list[str], env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Each mark the child printed: (ms from spawning it, its CPU ms so far)."""
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env
    )
    marks: dict[str, tuple[float, float]] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in MARKS:
            marks[parts[0]] = ((float(parts[1]) - start) * 1000, float(parts[2]) * 1000)
    return marks


@dataclass
class ColdRuns:
    """Every measured round: the minimal app's marks, ours, and the compared tree's (if any)."""

    minimal: list[dict[str, tuple[float, float]]] = field(default_factory=list)
    ours: list[dict[str, tuple[float, float]]] = field(default_factory=list)
    other: list[dict[str, tuple[float, float]]] = field(default_factory=list)
    other_src: str | None = None
    load: tuple[float, float] = (0.0, 0.0)
    """The 1-minute load average before the rounds and after them."""


def _child_env(home: str) -> dict[str, str]:
    """Bytecode written and read (a private cache prefix), a private app home (the benchmark never
    opens the user's journal, log or config)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(COMFY_REALITY_HOME=home, PYTHONPYCACHEPREFIX=str(Path(home) / "pycache"))
    return env


def cold_start(repeats: int, other_src: str | None = None) -> ColdRuns:
    """``repeats`` rounds of the minimal app and ours (and the tree at ``other_src``), in rotating order.

    Bytecode present: PYTHONDONTWRITEBYTECODE unset and a private cache prefix, warmed by one
    unmeasured round.
    """
    runs = ColdRuns(other_src=other_src)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-") as home:
        env = _child_env(home)
        other_env = {**env, "PYTHONPATH": other_src} if other_src else None
        ours_args = [str(bundled_workflows_dir())]
        for i in range(repeats + 1):
            jobs = [("minimal", MINIMAL_CHILD, [], env), ("ours", OURS_CHILD, ours_args, env)]
            if other_env is not None:
                jobs.append(("other", OURS_CHILD, ours_args, other_env))
            shift = i % len(jobs)
            measured = {
                name: child_marks(code, args, e) for name, code, args, e in jobs[shift:] + jobs[:shift]
            }
            if i == 0:
                continue  # warm-up: bytecode written, files in the OS cache
            runs.minimal.append(measured["minimal"])
            runs.ours.append(measured["ours"])
            if other_env is not None:
                runs.other.append(measured["other"])
    runs.load = (load_before, os.getloadavg()[0])
    return runs


@dataclass
class ColdInstructions:
    """Instructions from spawn to each mark (callgrind), per app: minimal, ours, and the compared tree's."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    other_src: str | None = None


def _instructions(code: str, args: list[str], env: dict[str, str], stop_at: str, work: Path) -> int:
    out = work / "child.callgrind"
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", code, *args],
        capture_output=True,
        check=True,
        env={**env, "COLD_STOP_AT": stop_at, "PYTHONHASHSEED": "0"},
        timeout=900,
    )
    found = re.search(r"^(?:totals|summary): (\d+)", out.read_text(), re.M)
    if found is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(found[1])


def cold_instructions(other_src: str | None = None) -> ColdInstructions | None:
    """Each app's instructions from spawn to FIRST and to KEY under callgrind (None: no valgrind).

    Bytecode present, written by one unmeasured run of each; a fixed hash seed. Counts repeat to
    about 0.1%, whatever the load.
    """
    if shutil.which("valgrind") is None:
        return None
    result = ColdInstructions(other_src=other_src)
    with tempfile.TemporaryDirectory(prefix="comfy-reality-bench-") as home:
        env = _child_env(home)
        ours_args = [str(bundled_workflows_dir())]
        jobs = [("minimal", MINIMAL_CHILD, [], env), ("ours", OURS_CHILD, ours_args, env)]
        if other_src:
            jobs.append(("other", OURS_CHILD, ours_args, {**env, "PYTHONPATH": other_src}))
        for name, code, args, e in jobs:
            subprocess.run([sys.executable, "-c", code, *args], capture_output=True, check=True, env=e)
            result.counts[name] = {
                mark: _instructions(code, args, e, mark, Path(home)) for mark in ("FIRST", "KEY")
            }
    return result


def instruction_rows(result: ColdInstructions | None) -> list[Row]:
    """Spawn to the first frame and to the first interactive frame, in instructions, against the minimal app."""
    if result is None:
        return [Row("tui", "cold start in instructions", None, "", note="not available (no valgrind)")]
    rows: list[Row] = []
    minimal = result.counts["minimal"]
    for which in [name for name in ("ours", "other") if name in result.counts]:
        for mark, what in (("FIRST", "the first frame painted"), ("KEY", "the first interactive frame")):
            count = result.counts[which][mark]
            ratio = count / minimal[mark]
            name = f"cold start to {what}, instructions"
            rows.append(
                Row(
                    "tui",
                    name + (f" [{result.other_src}]" if which == "other" else ""),
                    round(count / 1e6, 1),
                    "M",
                    baseline=round(minimal[mark] / 1e6, 1),
                    baseline_name="minimal Textual app (Header, Tree, RichLog, Footer)",
                    ratio=round(ratio, 3),
                    target=f"<= {COLD_TARGET}x",
                    ok=ratio <= COLD_TARGET,
                    note="callgrind, spawn to the mark (the process ends there); bytecode present",
                )
            )
    return rows


def _ratios(
    ours: list[dict[str, tuple[float, float]]],
    minimal: list[dict[str, tuple[float, float]]],
    mark: str,
    cpu: int,
) -> list[float]:
    return [o[mark][cpu] / m[mark][cpu] for o, m in zip(ours, minimal, strict=True)]


def _row(runs: ColdRuns, which: str, mark: str, name: str, what: str, primary: bool) -> Row:
    median = statistics.median
    ours = runs.ours if which == "ours" else runs.other
    wall = _ratios(ours, runs.minimal, mark, 0)
    cpu = _ratios(ours, runs.minimal, mark, 1)
    value = median(o[mark][0] for o in ours)
    note = (
        f"{what}; median of {len(wall)} rounds; per-round wall ratios: "
        + ", ".join(f"{r:.2f}" for r in wall)
        + f"; CPU {median(o[mark][1] for o in ours):.0f} ms vs {median(m[mark][1] for m in runs.minimal):.0f} ms, "
        f"per-round ratio {median(cpu):.2f} (" + ", ".join(f"{r:.2f}" for r in cpu) + ")"
    )
    if mark == "KEY":
        latency = median(o["KEY"][0] - o["FIRST"][0] for o in ours)
        floor = median(m["KEY"][0] - m["FIRST"][0] for m in runs.minimal)
        note += f"; first frame to the key's frame {latency:.0f} ms vs {floor:.0f} ms"
    if mark == "IDLE" and all("LISTED" in o for o in ours):
        note += f"; workflow list drawn at {median(o['LISTED'][0] for o in ours):.0f} ms"
    note += f"; 1-minute load {runs.load[0]:.1f} before, {runs.load[1]:.1f} after"
    if which == "other":
        name += f" [{runs.other_src}]"
    return Row(
        "tui",
        name,
        round(value),
        "ms",
        baseline=round(median(m[mark][0] for m in runs.minimal)),
        baseline_name="minimal Textual app (Header, Tree, RichLog, Footer)",
        ratio=round(median(wall), 2),
        target=f"<= {COLD_TARGET}x" if primary else None,
        ok=median(wall) <= COLD_TARGET if primary else None,
        note=note,
    )


def cold_rows(runs: ColdRuns) -> list[Row]:
    """First frame painted, first interactive frame (the key answered), and process idle (secondary)."""
    rows: list[Row] = []
    for which in ("ours", "other") if runs.other else ("ours",):
        rows += [
            _row(
                runs,
                which,
                "FIRST",
                "cold start to the first frame painted",
                "spawn to the first screen update handed to the driver",
                True,
            ),
            _row(
                runs,
                which,
                "KEY",
                "cold start to the first interactive frame",
                "spawn to the update that shows a Tab pressed at the first frame (focus moved)",
                True,
            ),
            _row(
                runs,
                which,
                "IDLE",
                "(secondary) cold start to process idle",
                "spawn to the Tab handled and every start-up event on the loop handled (Pilot's pause); "
                "started as comfy-reality-tui starts in a terminal (settings validated after the first frame, "
                "file log, log tap; the freeze a second later is outside it)",
                False,
            ),
        ]
    return rows
