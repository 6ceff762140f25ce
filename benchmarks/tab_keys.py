"""Tab between panes, idle and with many executions held: ``python -m benchmarks.tab_keys``

The keys' figures of ``benchmarks.scale`` on their own, with more presses and the counters a busy
machine does not move. Headless at 160x48, the server in its own process, keys posted as the
terminal driver posts them, each timed to the first frame composed after the focus moved:

* the floor: a minimal Textual app (two focusable panes with their own keys and Textual's Footer),
  Tab timed the same way: what this machine gives any Textual app;
* the app idle after a 6-node and a 500-node run (Tab, then expand/collapse of the newest execution),
  and while one runs;
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


SETTLE_QUIET = 0.12
"""A key's frames are over once none came for this long (idle only: a run draws all the time)."""


class StatusOnly:
    """Whether the frame just drawn redrew the status bar and nothing else.

    The status bar draws on its own (the server's stats every few seconds, a retry countdown
    every second while disconnected): such a frame in a key's quiet window is not the key's.
    """

    def __init__(self, app: Any) -> None:
        self.status_bar = app.main_screen.status_bar
        self.asked: set[Any] = set()
        compositor = app.main_screen._compositor
        update_widgets = compositor.update_widgets

        def counting(widgets: set[Any]) -> None:
            self.asked.update(widgets)
            update_widgets(widgets)

        compositor.update_widgets = counting

    def __call__(self) -> bool:
        """For the frame just drawn (then forgets what it drew)."""
        only = self.asked == {self.status_bar}
        self.asked.clear()
        return only


async def timed_presses(
    app: Any, frames: Frames, keys: list[str], effect: Any, settle: bool
) -> dict[str, list[float]]:
    """Press each key: ms to the first frame where ``effect(before)`` holds (``before`` is what
    ``effect(None)`` returned before the key), and, idle, ms to the key's last frame (frames that
    only redraw the status bar are not the key's)."""
    first: list[float] = []
    settled: list[float] = []
    status_only = StatusOnly(app)
    for key in keys:
        await asyncio.sleep(0.03)
        before = effect(None)
        stamps: list[float] = []

        def stamp(now: float, stamps: list[float] = stamps) -> None:
            if not status_only():
                stamps.append(now)

        frames.watchers.append(stamp)
        sent = time.perf_counter()
        app.post_message(events.Key(key, None))
        first.append(await frames.until(lambda before=before: bool(effect(before)), sent))
        if settle:
            while True:
                seen = len(stamps)
                await asyncio.sleep(SETTLE_QUIET)
                if len(stamps) == seen:
                    break
            settled.append((stamps[-1] - sent) * 1000 if stamps else float("nan"))
        frames.watchers.remove(stamp)
    del app.main_screen._compositor.update_widgets  # the class's own again
    return {"first": first, "settled": settled}


def pane_whole(app: Any) -> bool:
    """The detail pane shows the cursor's execution, laid out: its rows sized, its scrollbars decided."""
    screen = app.main_screen
    view = screen.execution_view
    entry = view.entry
    if entry is None or entry.id != screen.task_tree.selected_execution_id:
        return False
    nodes = view.nodes  # the rows scroll themselves, at most the pane's height: sized to min(rows, room)
    if nodes.virtual_size.height != nodes._lines or not nodes.size.height:
        return False
    rows_need_bar = nodes._lines > nodes.size.height
    needs_bar = view.virtual_size.height > view.container_size.height
    return bool(nodes.show_vertical_scrollbar == rows_need_bar and view.show_vertical_scrollbar == needs_bar)


async def tree_rounds(
    app: Any, frames: Frames, presses: int, settle: bool
) -> dict[str, dict[str, list[float]]]:
    """With the tree focused: expand/collapse of the big execution (newest), cursor down/up between
    it and the small one below (the detail pane follows), down/up inside its open branch, and a
    keystroke in the Executions filter (and its backspace)."""
    tree = app.task_tree
    screen = app.main_screen
    tree.focus()
    big = tree.root.children[0]
    tree.move_cursor(big)
    await asyncio.sleep(0.1)
    pairs = max(1, presses // 2)

    def folded(before: Any) -> Any:
        # Its rows shown or gone: the line index rebuilt (the tree's height in rows changed).
        now = (big.is_expanded, tree.virtual_size.height)
        return now if before is None else now[0] != before[0] and now[1] != before[1]

    results = {"expand": await timed_presses(app, frames, ["right", "left"] * pairs, folded, settle)}

    def branch_shown(before: Any) -> Any:
        selected = tree.selected_execution_id
        return selected if before is None else selected != before and pane_whole(app)

    results["branches"] = await timed_presses(app, frames, ["down", "up"] * pairs, branch_shown, settle)
    big.expand()
    await asyncio.sleep(0.1)
    tree.move_cursor(big.children[len(big.children) // 2])
    await asyncio.sleep(0.1)

    def moved(before: Any) -> Any:
        return tree.cursor_line if before is None else tree.cursor_line != before

    results["in-branch"] = await timed_presses(app, frames, ["down", "up"] * pairs, moved, settle)
    big.collapse()
    tree.move_cursor(big)
    await asyncio.sleep(0.1)
    app.post_message(events.Key("slash", "/"))
    await wait_until(lambda: screen.tasks_filter.has_focus)

    def filtered(before: Any) -> Any:
        return tree.filter_query if before is None else tree.filter_query != before

    # "c" keeps both ("chain-500", "quick"): the tree's rows are rebuilt all the same.
    results["filter"] = await timed_presses(app, frames, ["c", "backspace"] * pairs, filtered, settle)
    app.post_message(events.Key("escape", None))
    await wait_until(lambda: tree.has_focus)
    screen.browser.option_list.focus()
    await asyncio.sleep(0.1)
    return results


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


async def floor_scenario(tabs: int, profile: Path | None) -> dict[str, Any]:
    app = FloorApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        frames = Frames(app)  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        return await timed_tabs(app, frames, tabs, profile)


async def run_to_end(pilot: Any, app: Any, workflow: str) -> None:
    """Run ``workflow`` (highlighted in the list) and wait for its end."""
    count = len(app.session.entries)
    app.main_screen.browser.highlight(workflow)
    app.post_message(events.Key("r", "r"))
    await wait_for(pilot, lambda: len(app.session.entries) > count, 20, "queued")
    await wait_for(pilot, lambda: not app.session.active(), 60, "the run's end")


async def started(pilot: Any, app: Any) -> str:
    """``r`` on the highlighted workflow: the id of its execution, once running."""
    app.post_message(events.Key("r", "r"))

    def running() -> bool:
        entry = app.main_screen.execution_view.entry
        return entry is not None and entry.status.value == "running"

    await wait_for(pilot, running, 20, "running")
    entry = app.main_screen.execution_view.entry
    assert entry is not None
    return str(entry.id)


async def idle_scenario(
    server: ServerHandle, workflows: Path, nodes: int, tabs: int, profile: Path | None
) -> dict[str, Any]:
    app = await connected_app(server.url, workflows, use_journal=False)
    async with app.run_test(size=SIZE) as pilot:
        frames = await workflow_highlighted(pilot, app, "quick")
        await run_to_end(pilot, app, "quick")  # a small execution below the big one
        app.main_screen.browser.option_list.focus()
        app.main_screen.browser.highlight(f"chain-{nodes:03d}")
        await pilot.pause()
        execution_id = await started(pilot, app)
        await asyncio.sleep(0.5)
        runtime = app.runtime
        if runtime is not None and not app.session.entries[execution_id].status.is_final:
            await runtime.cancel(runtime.executions[execution_id])
        await wait_for(pilot, lambda: app.session.entries[execution_id].status.is_final, 120, "the run's end")
        await asyncio.sleep(0.5)
        result = await timed_tabs(app, frames, tabs, profile)
        result["keys"] = await tree_rounds(app, frames, max(8, tabs // 2), settle=True)
        return result


async def running_scenario(server: ServerHandle, workflows: Path, nodes: int, tabs: int) -> dict[str, Any]:
    """Keys while a ``nodes``-node workflow runs (its flood of progress batches drawn meanwhile)."""
    app = await connected_app(server.url, workflows, use_journal=False)
    async with app.run_test(size=SIZE) as pilot:
        frames = await workflow_highlighted(pilot, app, "quick")
        await run_to_end(pilot, app, "quick")
        app.main_screen.browser.option_list.focus()
        app.main_screen.browser.highlight(f"chain-{nodes:03d}")
        await pilot.pause()
        execution_id = await started(pilot, app)
        await asyncio.sleep(0.5)
        result = await timed_tabs(app, frames, tabs, None)
        result["keys"] = await tree_rounds(app, frames, max(8, tabs // 2), settle=False)
        result["ran_long"] = not app.session.entries[execution_id].status.is_final
        runtime = app.runtime
        if result["ran_long"] and runtime is not None:
            await runtime.cancel(runtime.executions[execution_id])
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
        return result


def report(results: dict[str, dict[str, Any]]) -> list[str]:
    floor = results["floor"]
    lines = [
        f"  {'scenario':<22} {'Tab p50':>8} {'p95':>7} {'x floor':>8} {'cpu p50':>8} {'p95':>6}"
        f" {'x floor':>8} {'layouts':>8} {'cpu p50 laid out':>17} {'sized':>6} {'lines':>6}"
        f" {'restyled':>9}"
    ]
    for name, result in results.items():
        p95 = pct(result["wall"], 0.95)
        cpu95 = pct(result["cpu"], 0.95)
        laid_out = result["cpu_laid_out"]
        lines.append(
            f"  {name:<22} {pct(result['wall'], 0.5):8.1f} {p95:7.1f} {p95 / pct(floor['wall'], 0.95):8.2f}"
            f" {statistics.median(result['cpu']):8.1f} {cpu95:6.1f} {cpu95 / pct(floor['cpu'], 0.95):8.2f}"
            f" {result['layouts']:8.2f} {pct(laid_out, 0.5) if laid_out else float('nan'):10.1f}"
            f" ({len(laid_out):2d}) {result['sized']:6.1f} {result['lines']:6.1f} {result['restyled']:9.1f}"
        )
    lines.append("")
    lines.append(
        f"  {'scenario':<22} {'key':<10} {'first frame p50':>16} {'p95':>7} {'last frame p50':>15} {'p95':>7}  target p95"
    )
    for name, result in results.items():
        keys = result.get("keys")
        if not keys:
            continue
        target = "< 50 ms" if name.startswith("running") else "< 30 ms"
        for key, times in keys.items():
            first, settled = times["first"], times["settled"]
            settled_text = (
                f"{pct(settled, 0.5):15.1f} {pct(settled, 0.95):7.1f}" if settled else f"{'-':>15} {'-':>7}"
            )
            lines.append(
                f"  {name:<22} {key:<10} {pct(first, 0.5):16.1f} {pct(first, 0.95):7.1f} {settled_text}  {target}"
            )
    for name, result in results.items():
        if result.get("stuck"):
            lines.append(
                f"  {name}: {result['stuck']} executions still shown running 60 s after the last ended"
            )
        if result.get("ran_long") is False:
            lines.append(f"  {name}: the run ended before the last key (some keys timed idle)")
    lines.append(
        "  targets: idle keys p95 < 30 ms; while a 500-node run runs, and held Tab, p95 < 50 ms (ms, wall)"
    )
    lines.append(
        "  Tab cpu: CPU ms from the key to its frame; layouts, sized (widgets resized), lines (widget lines"
        " drawn; the floor's compositor is not counted) and restyled: per Tab"
    )
    lines.append(
        "  keys: first frame = the first frame showing the key's effect (branches: the detail pane whole for"
        " the execution under the cursor); last frame = the key's last frame (idle: no frame for 120 ms after)"
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
        for nodes in (6, 500):
            if f"running{nodes}" in only:
                results[f"running, {nodes} nodes"] = await running_scenario(server, workflows, nodes, tabs)
        if "held" in only:
            results[f"{held} held"] = await held_scenario(
                server, workflows, held, tabs, profile("held"), workdir / "held.sqlite3"
            )
    return report(results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tabs", type=int, default=30, help="Tab presses per scenario")
    parser.add_argument("--held", type=int, default=150, help="executions held in the held scenario")
    parser.add_argument(
        "--only", default="idle6,idle500,running6,running500,held", help="scenarios besides the floor"
    )
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
