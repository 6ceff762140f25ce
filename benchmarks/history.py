"""History over 20,000 executions: ``python -m benchmarks.history [--rows N] [--presses N]``

The History part of ``benchmarks.scale`` on its own (no workflows run, well under a minute): the real
app headless at 160x48 over a journal of 200 and of 20,000 executions. Each figure is printed beside
the same over 200 rows (the baseline) and its target (issue 19):

* open (h) until the first rows show: < 200 ms;
* idle keys, < 30 ms p95: End (the cursor on the oldest row, a page read by key), Home (back on the
  newest), cursor down, page down (which reads the next page in as it nears the window's edge), page
  up from the oldest row (which reads the newer page in above the window);
* filter keystrokes, < 50 ms p95, each until its answer is on screen: many matches (a digit typed
  and erased: the rows shown change each time), and no match (``z`` typed and erased: the query
  reads every row, then all rows come back).

A key's time runs from posting it, as the terminal driver does, to the first frame composed after
its effect is visible. Beside each p95 the CPU time of the process over the same presses (up to that
frame: not the work the app does while idle after it), which a shared machine disturbs less than wall
time.

Then the work each key did up to that frame (medians over its presses; counts do not depend on the
machine's load): frames composed, screen layouts, table lines drawn anew for a frame and drawn
ahead while idle, journal reads (list / count / get) the key waited on, and full garbage
collections (their mean: they are rare, and long).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.screen import Screen
from textual.widgets import DataTable, Input

from benchmarks.scale import SIZE, Frames, line, make_journal, pct, press
from comfy_reality.config import Settings
from comfy_reality.journal.reads import JournalReads
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.widgets.history_table import HistoryTable
from tests.tui.pilot import wait_for

IDLE_MS = 30.0
FILTER_MS = 50.0
PAUSE = 0.05  # between presses: each is measured on an idle app


WORK = ("frames", "layouts", "lines drawn", "drawn ahead", "list", "count", "get", "full gc")


class Work(Counter[str]):
    """What the app does, counted by patching the few places that do it (undone on exit)."""

    def __init__(self) -> None:
        super().__init__()
        self._undo: list[Callable[[], None]] = []
        self._ahead = False

    def __enter__(self) -> Work:
        work = self

        def patch(owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
            original = owner.__dict__[name]
            setattr(owner, name, wrap(original))
            self._undo.append(lambda: setattr(owner, name, original))

        def counted(what: str) -> Callable[[Any], Any]:
            def wrap(original: Any) -> Any:
                def call(*args: Any, **kwargs: Any) -> Any:
                    work[what] += 1
                    return original(*args, **kwargs)

                return call

            return wrap

        def drawn(original: Any) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                work["drawn ahead" if work._ahead else "lines drawn"] += 1
                return original(*args, **kwargs)

            return call

        def ahead(original: Any) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                work._ahead = True
                try:
                    return original(*args, **kwargs)
                finally:
                    work._ahead = False

            return call

        def read(what: str) -> Callable[[Any], Any]:
            def wrap(original: Any) -> Any:
                async def call(*args: Any, **kwargs: Any) -> Any:
                    work[what] += 1
                    return await original(*args, **kwargs)

                return call

            return wrap

        def collected(phase: str, info: dict[str, int]) -> None:
            if phase == "start" and info.get("generation") == 2:
                work["full gc"] += 1

        gc.callbacks.append(collected)
        self._undo.append(lambda: gc.callbacks.remove(collected))
        patch(Screen, "_refresh_layout", counted("layouts"))
        patch(DataTable, "_render_line", drawn)  # the table's cache missed: a line drawn cell by cell
        patch(HistoryTable, "_draw_ahead", ahead)
        for name in ("list", "count", "get"):
            patch(
                JournalReads,
                {"list": "list_executions", "count": "count_executions"}.get(name, name),
                read(name),
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()


class Figures(dict[str, list[float]]):
    """Milliseconds per press, the process CPU time they took, and the work done, by figure."""

    def __init__(self, work: Work) -> None:
        super().__init__()
        self.cpu: dict[str, list[float]] = {}
        self.work = work
        self.done: dict[str, list[Counter[str]]] = {}

    async def press(
        self, name: str, app: ComfyRealityApp, frames: Frames, key: str, effect: Callable[[], bool]
    ) -> None:
        await asyncio.sleep(PAUSE)
        shown: list[float] = []
        done: list[Counter[str]] = []

        def check() -> bool:
            # The CPU time up to the frame that shows the effect, not what the app does after it.
            result = effect()
            if result and not shown:
                shown.append(time.process_time())
                done.append(Counter({**self.work, "frames": frames.count}))
            return result

        self.work.clear()
        first_frame = frames.count
        started = time.process_time()
        self.setdefault(name, []).append(await press(app, frames, key, check))
        self.cpu.setdefault(name, []).append((shown[0] - started) * 1000)
        if done:
            done[0]["frames"] -= first_frame
            self.done.setdefault(name, []).append(done[0])

    def work_p50(self, name: str) -> str:
        counts = self.done.get(name, [])

        def typical(what: str) -> float:
            values = [c[what] for c in counts]
            return statistics.fmean(values) if what == "full gc" else statistics.median(values)

        return "  ".join(f"{what} {typical(what):.3g}" if counts else f"{what} ?" for what in WORK)


async def scenario(workdir: Path, rows: int, presses: int) -> Figures:
    path = workdir / f"journal-{rows}.sqlite3"
    make_journal(path, rows)
    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:9"),
        connect=False,
        bundled_dir=workdir,
        journal_path=path,
        freeze_long_lived=True,  # as the comfy-reality-tui command runs the app
    )
    with Work() as work:
        return await _scenario(app, rows, presses, Figures(work))


async def _scenario(app: ComfyRealityApp, rows: int, presses: int, figures: Figures) -> Figures:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.journal is not None, 20, "journal")
        frames = Frames(app)
        await pilot.pause()

        def table() -> DataTable[Any] | None:
            try:
                return app.screen.query_one("#history-table", DataTable)
            except Exception:
                return None

        def on_row(key: str) -> Callable[[], bool]:
            # The table holds a window of the journal: the cursor's row, not its index.
            def check() -> bool:
                found = table()
                return (
                    found is not None
                    and found.row_count > 0
                    and found.coordinate_to_cell_key(found.cursor_coordinate).row_key == key
                )

            return check

        newest, oldest = f"exec-{rows - 1:06d}", "exec-000000"
        await figures.press("open", app, frames, "h", on_row(newest))
        await wait_for(pilot, lambda: getattr(app.screen, "loaded", 0) > 0, 20, "history")
        found = table()
        assert found is not None
        for _ in range(presses // 2):
            await figures.press("end", app, frames, "end", on_row(oldest))
            await figures.press("home", app, frames, "home", on_row(newest))
        for _ in range(presses):
            row = found.cursor_row
            await figures.press("down", app, frames, "down", lambda r=row: found.cursor_row == r + 1)
        for _ in range(presses):
            if found.cursor_row + 60 > found.row_count and getattr(app.screen, "at_tail", True):
                await pilot.press("home")  # back up: a page down at the last row moves nothing
                await wait_for(pilot, on_row(newest), 20, "home")
            row = found.cursor_row
            await figures.press("pagedown", app, frames, "pagedown", lambda r=row: found.cursor_row > r)
        for index in range(presses):
            if index == 0 or (found.cursor_row < 60 and getattr(app.screen, "at_head", True)):
                await pilot.press("end")  # from the oldest: a page up at the first row moves nothing
                await wait_for(pilot, on_row(oldest), 20, "end")
            key = found.coordinate_to_cell_key(found.cursor_coordinate).row_key

            def moved_up(k: Any = key) -> bool:
                # The window grows by a page above as the cursor nears its top: the row, not the index.
                return (
                    found.row_count > 0 and found.coordinate_to_cell_key(found.cursor_coordinate).row_key != k
                )

            await figures.press("pageup", app, frames, "pageup", moved_up)
        app.screen.query_one("#history-filter", Input).focus()
        await pilot.pause()
        for name, typed in (("filter", "5"), ("no match", "z")):
            for index in range(presses):
                key = "backspace" if index % 2 else typed
                before = getattr(app.screen, "loaded", 0)
                await figures.press(
                    name, app, frames, key, lambda b=before: getattr(app.screen, "loaded", 0) > b
                )
        await pilot.press("escape")
    return figures


async def run(rows: int, presses: int) -> list[str]:
    """The figures' lines (``benchmarks.scale`` prints them too)."""
    with tempfile.TemporaryDirectory() as tmp:
        small = await scenario(Path(tmp), 200, presses)
        big = await scenario(Path(tmp), rows, presses)
    out = [f"History over {rows} executions (baseline: 200 executions):"]
    out.append(f"  {'figure':<44} {'value':>9} {'':<4} {'baseline':>9} {'ratio':>6}  {'target':<22} verdict")
    out.append(line("open", big["open"][0], "ms", small["open"][0], "< 200 ms", big["open"][0] < 200))
    rows_of: list[tuple[str, str, float]] = [
        ("end", "End (on the oldest)", IDLE_MS),
        ("home", "Home (on the newest)", IDLE_MS),
        ("down", "cursor down", IDLE_MS),
        ("pagedown", "page down", IDLE_MS),
        ("pageup", "page up (from the oldest)", IDLE_MS),
        ("filter", "filter key (many match)", FILTER_MS),
        ("no match", "filter key (none, then all)", FILTER_MS),
    ]
    for key, name, limit in rows_of:
        p95 = pct(big[key], 0.95)
        cpu = pct(big.cpu[key], 0.5)
        label = f"{name} p95; cpu p50 {cpu:.0f}"
        out.append(line(label, p95, "ms", pct(small[key], 0.95), f"< {limit:.0f} ms p95", p95 < limit))
    out.append(f"Work per key up to its frame, median over the presses ({rows} executions):")
    for key, name, _limit in [("open", "open", 0.0), *rows_of]:
        out.append(f"  {name:<28} {big.work_p50(key)}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--presses", type=int, default=16)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for text in asyncio.run(run(args.rows, args.presses)):
        print(text)
    print(f"({time.perf_counter() - started:.0f} s; times in ms, shared machine: compare ratios)")


if __name__ == "__main__":
    main()
