"""Tab between panes, idle and with many executions held: ``python -m benchmarks.tab_keys``

The keys' figures of ``benchmarks.scale`` on their own, with more presses and the counters a busy
machine does not move. Headless at 160x48, the server in its own process, keys posted as the
terminal driver posts them, each timed to the first frame composed after the focus moved:

* the floor: a minimal Textual app (two focusable panes with their own keys and Textual's Footer),
  Tab timed the same way: what this machine gives any Textual app;
* the app idle after a 6-node and a 500-node run (Tab, then expand/collapse of the newest execution);
* the app with ``--held`` executions held in the tree (a burst of quick runs, recorded in a journal).

Per Tab it also counts the layouts the screen ran, the widget lines drawn, the widgets restyled
and the CPU time to the frame. ``--profile DIR`` writes a cProfile of each scenario's Tabs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.stylesheet import Stylesheet
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, OptionList

from benchmarks.app_cpu import Counted, LinesDrawn
from benchmarks.profiling import profiled
from benchmarks.scale import (
    SIZE,
    Frames,
    ServerHandle,
    chain_highlighted,
    connected_app,
    pct,
    workflow_highlighted,
    workflows_served,
)
from tests.tui.pilot import wait_for


class _Pane(OptionList):
    BINDINGS = [Binding("a", "noop", "Add"), Binding("d", "noop", "Delete")]

    def action_noop(self) -> None:
        """A key to show in the footer."""


class _OtherPane(OptionList):
    BINDINGS = [Binding("x", "noop", "Cancel"), Binding("enter", "noop", "Open")]

    def action_noop(self) -> None:
        """A key to show in the footer."""


class FloorApp(App[None]):
    """Two focusable panes, each with its own keys, and Textual's Footer."""

    BINDINGS = [Binding("q", "quit", "Quit"), Binding("?", "noop", "Help")]

    def compose(self) -> ComposeResult:
        yield _Pane(*(f"workflow {index}" for index in range(30)))
        yield _OtherPane(*(f"execution {index}" for index in range(30)))
        yield Footer(show_command_palette=False)

    def action_noop(self) -> None:
        """A key to show in the footer."""


class Restyled:
    """Widgets restyled (Stylesheet.update_nodes), counted while active."""

    def __init__(self) -> None:
        self.nodes = 0
        self._original = Stylesheet.update_nodes

    def __enter__(self) -> Restyled:
        original = self._original

        def update_nodes(sheet: Stylesheet, nodes: Any, animate: bool = False) -> None:
            listed = list(nodes)
            self.nodes += len(listed)
            original(sheet, listed, animate=animate)

        Stylesheet.update_nodes = update_nodes  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        Stylesheet.update_nodes = self._original  # type: ignore[method-assign]


async def timed_tabs(app: App[Any], frames: Frames, tabs: int, profile: Path | None) -> dict[str, Any]:
    """``tabs`` presses of Tab: wall ms to the frame, CPU ms to it, and per-press counters."""
    wall: list[float] = []
    cpu: list[float] = []
    cpu_laid_out: list[float] = []  # the Tabs that laid the screen out (a detail pane swapped)
    with ExitStack() as stack:
        layouts = stack.enter_context(Counted(Screen, "_refresh_layout"))
        laid_out = stack.enter_context(Counted(Widget, "_size_updated"))
        drawn = stack.enter_context(LinesDrawn())
        restyled = stack.enter_context(Restyled())
        stack.enter_context(profiled(profile))
        full_layouts = 0
        original = Screen._refresh_layout

        def counted_layout(screen: Screen[Any], *args: Any, **kwargs: Any) -> None:
            nonlocal full_layouts
            if screen._layout_required:
                full_layouts += 1
            original(screen, *args, **kwargs)

        stack.callback(setattr, Screen, "_refresh_layout", original)
        Screen._refresh_layout = counted_layout  # type: ignore[method-assign,assignment]
        layouts.reset()
        for _ in range(tabs):
            await asyncio.sleep(0.03)
            before = app.focused
            shown_cpu: list[float] = []

            def moved(before: Widget | None = before, shown_cpu: list[float] = shown_cpu) -> bool:
                if app.focused is before:
                    return False
                shown_cpu.append(time.process_time())
                return True

            layouts_before = full_layouts
            started_cpu = time.process_time()
            sent = time.perf_counter()
            app.post_message(events.Key("tab", None))
            wall.append(await frames.until(moved, sent))
            cpu.append((shown_cpu[0] - started_cpu) * 1000 if shown_cpu else float("nan"))
            if full_layouts > layouts_before:
                cpu_laid_out.append(cpu[-1])
        await asyncio.sleep(0.2)  # a layout scheduled after the frame is counted too
    return {
        "wall": wall,
        "cpu": cpu,
        "cpu_laid_out": cpu_laid_out,
        "layouts": full_layouts / tabs,
        "sized": laid_out.calls / tabs,
        "lines": drawn.lines / tabs,
        "restyled": restyled.nodes / tabs,
    }


async def expand_round(app: Any, frames: Frames, presses: int) -> list[float]:
    """Open and close the newest execution in the tree: ms to the frame showing it."""
    tree = app.task_tree
    tree.focus()
    newest = tree.root.children[0] if tree.root.children else None
    tree.move_cursor(newest)
    await asyncio.sleep(0.05)
    times: list[float] = []
    for _ in range(presses):
        node = tree.cursor_node
        if node is None:
            break
        opened = node.is_expanded
        sent = time.perf_counter()
        app.post_message(events.Key("left" if opened else "right", None))
        times.append(await frames.until(lambda n=node, o=opened: n.is_expanded != o, sent))
        await asyncio.sleep(0.03)
    app.main_screen.browser.option_list.focus()
    await asyncio.sleep(0.05)
    return times


async def floor_scenario(tabs: int, profile: Path | None) -> dict[str, Any]:
    app = FloorApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        frames = Frames(app)  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        return await timed_tabs(app, frames, tabs, profile)


async def idle_scenario(
    server: ServerHandle, workflows: Path, nodes: int, tabs: int, profile: Path | None
) -> dict[str, Any]:
    app = await connected_app(server.url, workflows, use_journal=False)
    async with app.run_test(size=SIZE) as pilot:
        frames = await chain_highlighted(pilot, app, nodes)
        app.post_message(events.Key("r", "r"))

        def running() -> bool:
            entry = app.main_screen.execution_view.entry
            return entry is not None and entry.status.value == "running"

        await wait_for(pilot, running, 20, "running")
        entry = app.main_screen.execution_view.entry
        assert entry is not None
        execution_id = entry.id
        await asyncio.sleep(0.5)
        runtime = app.runtime
        if runtime is not None and not app.session.entries[execution_id].status.is_final:
            await runtime.cancel(runtime.executions[execution_id])
        await wait_for(pilot, lambda: app.session.entries[execution_id].status.is_final, 120, "the run's end")
        await asyncio.sleep(0.5)
        result = await timed_tabs(app, frames, tabs, profile)
        result["expand"] = await expand_round(app, frames, max(8, tabs // 2))
        return result


async def held_scenario(
    server: ServerHandle, workflows: Path, held: int, tabs: int, profile: Path | None, journal: Path
) -> dict[str, Any]:
    app = await connected_app(server.url, workflows, use_journal=True, journal_path=journal)
    async with app.run_test(size=SIZE) as pilot:
        frames = await workflow_highlighted(pilot, app, "quick")
        for _ in range(held):
            app.post_message(events.Key("r", "r"))
        await wait_for(pilot, lambda: len(app.session.entries) >= held, 120, "queued")
        try:
            await wait_for(pilot, lambda: not app.session.active(), 60, "all finished")
        except AssertionError:
            pass  # reported: a row left "running" whose execution the runtime has let go
        stuck = len(app.session.active())
        await asyncio.sleep(1.5)
        result = await timed_tabs(app, frames, tabs, profile)
        result["stuck"] = stuck
        result["expand"] = await expand_round(app, frames, max(8, tabs // 2))
        return result


def report(results: dict[str, dict[str, Any]]) -> list[str]:
    floor = results["floor"]
    lines = [
        f"  {'scenario':<22} {'Tab p50':>8} {'p95':>7} {'x floor':>8} {'cpu p50':>8} {'p95':>6}"
        f" {'x floor':>8} {'layouts':>8} {'cpu p50 laid out':>17} {'sized':>6} {'lines':>6}"
        f" {'restyled':>9}   expand p50/p95"
    ]
    for name, result in results.items():
        p95 = pct(result["wall"], 0.95)
        expand = result.get("expand")
        expand_text = f"{pct(expand, 0.5):6.1f} / {pct(expand, 0.95):6.1f}" if expand else "-"
        cpu95 = pct(result["cpu"], 0.95)
        laid_out = result["cpu_laid_out"]
        lines.append(
            f"  {name:<22} {pct(result['wall'], 0.5):8.1f} {p95:7.1f} {p95 / pct(floor['wall'], 0.95):8.2f}"
            f" {statistics.median(result['cpu']):8.1f} {cpu95:6.1f} {cpu95 / pct(floor['cpu'], 0.95):8.2f}"
            f" {result['layouts']:8.2f} {pct(laid_out, 0.5) if laid_out else float('nan'):10.1f}"
            f" ({len(laid_out):2d}) {result['sized']:6.1f} {result['lines']:6.1f} {result['restyled']:9.1f}"
            f"   {expand_text}"
        )
    for name, result in results.items():
        if result.get("stuck"):
            lines.append(
                f"  {name}: {result['stuck']} executions still shown running 60 s after the last ended"
            )
    lines.append("  targets: idle Tab and expand p95 < 30 ms; held Tab p95 < 50 ms (ms, wall)")
    lines.append(
        "  cpu: CPU ms from the key to its frame; layouts, sized (widgets resized), lines (widget lines"
        " drawn; the floor's compositor is not counted) and restyled: per Tab"
    )
    return lines


async def run(tabs: int, held: int, profile_dir: Path | None, only: set[str]) -> list[str]:
    def profile(name: str) -> Path | None:
        return profile_dir / f"tab-{name}.prof" if profile_dir else None

    results: dict[str, dict[str, Any]] = {"floor": await floor_scenario(tabs, profile("floor"))}
    async with workflows_served(in_process=False) as (server, workflows, workdir):
        for nodes in (6, 500):
            if f"idle{nodes}" in only:
                results[f"idle, {nodes} nodes"] = await idle_scenario(
                    server, workflows, nodes, tabs, profile(f"idle{nodes}")
                )
        if "held" in only:
            results[f"{held} held"] = await held_scenario(
                server, workflows, held, tabs, profile("held"), workdir / "held.sqlite3"
            )
    return report(results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tabs", type=int, default=30, help="Tab presses per scenario")
    parser.add_argument("--held", type=int, default=150, help="executions held in the held scenario")
    parser.add_argument("--only", default="idle6,idle500,held", help="scenarios besides the floor")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile files to this folder")
    args = parser.parse_args(argv)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for line in asyncio.run(run(args.tabs, args.held, args.profile, set(args.only.split(",")))):
        print(line)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
