"""History over 20,000 executions: ``python -m benchmarks.history``

The History part of ``benchmarks.scale`` on its own (no workflows run, well under a minute): the real
app headless at 160x48 over a journal of 200 and of 20,000 executions; open (h), End (the cursor on
the oldest row), Home, and filter keystrokes, each printed beside the 200-row baseline and the target.
A keystroke that matches nothing makes the query read every row: measured apart as the worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from textual.widgets import Input

from benchmarks.scale import SIZE, Frames, history_scenario, line, pct, press
from comfy_reality.config import Settings
from comfy_reality.tui.app import ComfyRealityApp
from tests.tui.pilot import wait_for


async def no_match_keystrokes(workdir: Path, rows: int, presses: int) -> list[float]:
    """Keystrokes of a filter nothing matches, over the journal ``history_scenario`` wrote."""
    path = workdir / f"journal-{rows}.sqlite3"
    app = ComfyRealityApp(
        Settings(server_url="http://127.0.0.1:9"), connect=False, bundled_dir=workdir, journal_path=path
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.journal is not None, 20, "journal")
        frames = Frames(app)
        await pilot.press("h")
        await wait_for(pilot, lambda: getattr(app.screen, "loaded", 0) > 0, 20, "history")
        app.screen.query_one("#history-filter", Input).focus()
        await pilot.pause()
        typed: list[float] = []
        for index in range(presses):
            key = "backspace" if index % 2 else "z"
            before = getattr(app.screen, "loaded", 0)
            typed.append(await press(app, frames, key, lambda b=before: getattr(app.screen, "loaded", 0) > b))
            await asyncio.sleep(0.03)
        await pilot.press("escape")
        return typed


async def run(rows: int, presses: int) -> list[str]:
    out: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        small = await history_scenario(workdir, 200, presses)
        big = await history_scenario(workdir, rows, presses)
        small_none = await no_match_keystrokes(workdir, 200, presses)
        big_none = await no_match_keystrokes(workdir, rows, presses)
    out.append(f"History over {rows} executions (baseline: 200):")
    out.append(f"  {'figure':<44} {'value':>9} {'':<4} {'baseline':>9} {'ratio':>6}  {'target':<22} verdict")
    out.append(line("open", big["open"], "ms", small["open"], "< 200 ms", big["open"] < 200))
    reached = "" if big["end_reached"] else " (NOT reached)"
    out.append(
        line(
            "End: cursor on the oldest row" + reached,
            big["end"],
            "ms",
            small["end"],
            "reaches it",
            bool(big["end_reached"]),
        )
    )
    out.append(line("Home: back on the newest row", big["home"], "ms", small["home"], "", True))
    figures: list[tuple[str, list[float], list[float]]] = [
        ("filter keystroke p95 (many matches)", big["filter"], small["filter"]),
        ("filter keystroke p95 (no match: every row read)", big_none, small_none),
    ]
    for name, values, baseline in figures:
        p95 = pct(values, 0.95)
        out.append(line(name, p95, "ms", pct(baseline, 0.95), "< 50 ms p95", p95 < 50))
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
