"""What one key costs, counted: ``python -m benchmarks.key_counts [--compare SRC]``

The offline scene app (no server) at 160x48 holds a finished 500-node execution and 20 small ones
(or a 6-node one, for the baseline). Each key is pressed headless through Pilot, several times,
and counted: the screen layouts it ran, the widgets resized, the widget lines drawn, the widgets
restyled, and the CPU time spent rendering, restyling and in all (process time, median per key).
Counts do not move with the machine's load, so a before/after pair reads on a busy machine;
``--compare SRC`` runs the same keys against another source tree (``git archive`` of main) in a
child process, so both columns come from one run.

Keys: Tab round the panes; cursor down/up between executions (the detail pane follows) and
inside the open 500-node branch; expand/collapse of that branch; a keystroke in the Executions
filter and its backspace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.css.stylesheet import Stylesheet
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget

from benchmarks.app_cpu import Counted, LinesDrawn
from benchmarks.tab_keys import Restyled
from comfy_reality.runtime import TaskStatus
from comfy_reality.tui.dirty_lines import DirtyLinesCompositor
from tests.tui.chains import running_chain_spec
from tests.tui.helpers import WORKFLOWS, wait_for
from tests.tui.scenes import batch, scene_app

SIZE = (160, 48)
SMALL_EXECUTIONS = 20
KEYS = ("tab", "branches", "in-branch", "expand", "filter")


def finished_chain(key: str, name: str, nodes: int, created: float) -> Any:
    spec = running_chain_spec(key, name, nodes, nodes, 1)
    return replace(spec, status=TaskStatus.COMPLETED, created=created)


@contextmanager
def counting() -> Iterator[dict[str, Any]]:
    """Counters for a window: layouts of the whole screen, resized, lines, restyled, CPU by part."""
    counts: dict[str, Any] = {"layouts": 0}
    with ExitStack() as stack:
        original = Screen._refresh_layout

        def counted_layout(screen: Screen[Any], *args: Any, **kwargs: Any) -> None:
            if screen._layout_required:
                counts["layouts"] += 1
            original(screen, *args, **kwargs)

        stack.callback(setattr, Screen, "_refresh_layout", original)
        Screen._refresh_layout = counted_layout  # type: ignore[method-assign,assignment]
        counts["sized"] = stack.enter_context(Counted(Widget, "_size_updated"))
        counts["drawn"] = stack.enter_context(LinesDrawn())
        counts["restyled"] = stack.enter_context(Restyled())
        counts["frames"] = stack.enter_context(Counted(DirtyLinesCompositor, "render_update"))
        counts["render"] = stack.enter_context(Counted(Widget, "render_lines"))
        counts["restyle"] = stack.enter_context(Counted(Stylesheet, "update_nodes"))
        yield counts


async def press_counted(pilot: Pilot[Any], keys: list[str]) -> dict[str, float]:
    """Press each key and wait until its frame is drawn; per key: counts (mean) and CPU ms (median)."""
    cpu: list[float] = []
    with counting() as counts:
        render_ms: list[float] = []
        restyle_ms: list[float] = []
        for key in keys:
            await pilot.pause()
            counts["render"].reset()
            counts["restyle"].reset()
            started = time.process_time()
            await pilot.press(key)
            await pilot.pause()  # its messages handled and the frame it asked for drawn
            cpu.append((time.process_time() - started) * 1000)
            render_ms.append(counts["render"].seconds * 1000)
            restyle_ms.append(counts["restyle"].seconds * 1000)
        await asyncio.sleep(0.1)  # a layout or frame scheduled after the key is counted too
        presses = len(keys)
        return {
            "layouts": counts["layouts"] / presses,
            "frames": counts["frames"].calls / presses,
            "sized": counts["sized"].calls / presses,
            "lines": counts["drawn"].lines / presses,
            "restyled": counts["restyled"].nodes / presses,
            "cpu": statistics.median(cpu),
            "render": statistics.median(render_ms),
            "restyle": statistics.median(restyle_ms),
        }


async def scenario(nodes: int, presses: int) -> dict[str, dict[str, float]]:
    app = scene_app(WORKFLOWS)
    results: dict[str, dict[str, float]] = {}
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(app.workflow_files))
        for index in reversed(
            range(SMALL_EXECUTIONS)
        ):  # the newest first in the tree, then the big one on top
            app.post_message(batch([finished_chain(f"s{index}", f"small{index}", 6, -10.0 - index)]))
        app.post_message(batch([finished_chain("big", "chain", nodes, 0.0)]))
        await wait_for(pilot, lambda: len(app.session.entries) == SMALL_EXECUTIONS + 1, what="executions")
        screen = app.main_screen
        tree = screen.task_tree
        tree.focus()
        tree.select_execution("exec_big")
        await pilot.pause()
        assert tree.cursor_line == 0, "the big execution is the newest, on top"
        screen.browser.option_list.focus()
        await pilot.pause()
        await asyncio.sleep(0.3)
        results["tab"] = await press_counted(pilot, ["tab"] * presses)
        tree.focus()
        tree.select_execution("exec_big")
        await pilot.pause()
        results["branches"] = await press_counted(pilot, ["down", "up"] * (presses // 2))
        results["expand"] = await press_counted(pilot, ["right", "left"] * (presses // 2))
        big = tree.cursor_node
        assert big is not None
        big.expand()
        await pilot.pause()
        tree.move_cursor(big.children[len(big.children) // 2])
        await pilot.pause()
        results["in-branch"] = await press_counted(pilot, ["down", "up"] * (presses // 2))
        big.collapse()
        tree.select_execution("exec_big")
        await pilot.pause()
        await pilot.press("slash")
        await pilot.pause()
        results["filter"] = await press_counted(pilot, ["a", "backspace"] * (presses // 2))
    return results


async def run(presses: int) -> dict[str, dict[str, dict[str, float]]]:
    return {f"{nodes} nodes": await scenario(nodes, presses) for nodes in (6, 500)}


FIELDS = ("layouts", "frames", "sized", "lines", "restyled", "cpu", "render", "restyle")


def report(results: dict[str, dict[str, dict[str, dict[str, float]]]]) -> list[str]:
    """``results[tree][scenario][key]``: one row per scenario and key, the trees side by side."""
    trees = list(results)
    head = f"  {'scenario':<10} {'key':<10}"
    for tree in trees:
        head += " | " + " ".join(f"{field:>8}" for field in FIELDS) + f"  ({tree})"
    lines = [head]
    first = results[trees[0]]
    for scenario_name, keys in first.items():
        for key in keys:
            row = f"  {scenario_name:<10} {key:<10}"
            for tree in trees:
                values = results[tree][scenario_name][key]
                row += " | " + " ".join(f"{values[field]:8.1f}" for field in FIELDS)
            lines.append(row)
    lines.append(
        "  per key: layouts (of the screen), frames (composed), sized (widgets resized), lines (widget lines drawn),"
        " restyled (widgets); cpu, render, restyle: CPU ms, median"
    )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--presses", type=int, default=12, help="presses of each key")
    parser.add_argument("--compare", type=Path, default=None, help="another tree's src folder to run too")
    parser.add_argument(
        "--json", action="store_true", help="print the raw figures as JSON (used by --compare)"
    )
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(asyncio.run(run(args.presses))))
        return
    results: dict[str, Any] = {}
    sources: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.compare is not None:
        sources.insert(0, (f"{args.compare}", args.compare))
    for name, src in sources:
        results[name] = child_run(src, args.presses)
    for line in report(results):
        print(line)


def child_run(src: Path | None, presses: int) -> Any:
    """The figures of one tree, from a fresh process (``src`` first on the path)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.key_counts", "--json", "--presses", str(presses)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
