"""Node rows drawn straight to segments equal what Textual's visual pipeline draws, segment by segment;
the plain rows built as pieces, without a Text, equal the Text rows."""

from __future__ import annotations

import random
from datetime import timedelta

from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip

from comfy_reality.runtime.models import Task, TaskStatus
from comfy_reality.tui import format as fmt
from comfy_reality.tui.widgets import NodeProgressList
from comfy_reality.tui.widgets.node_progress import plain_row, row_lines


def tasks() -> list[Task]:
    now = fmt.now()
    started = now - timedelta(seconds=3)
    ended = now - timedelta(seconds=1)
    return [
        *chain_tasks(),
        Task(name="Load Checkpoint #1", node_id="1", class_type="CheckpointLoader"),
        Task(name="KSampler #3", node_id="3", status=TaskStatus.RUNNING, started_at=started, value=7, max=20),
        Task(
            name="KSampler #4",
            node_id="4",
            status=TaskStatus.RUNNING,
            started_at=started,
            value=12,
            max=20,
            rate=3.5,
            eta_seconds=2.4,
        ),
        Task(name="Wait #5", node_id="5", status=TaskStatus.RUNNING, started_at=started, progress=0.55),
        Task(name="Decode #6", node_id="6", status=TaskStatus.RUNNING, started_at=started),
        Task(
            name="Save #7", node_id="7", status=TaskStatus.COMPLETED, started_at=started, completed_at=ended
        ),
        Task(
            name="Steps #8",
            node_id="8",
            status=TaskStatus.COMPLETED,
            started_at=started,
            completed_at=ended,
            value=20,
            max=20,
        ),
        Task(name="Cached #9", node_id="9", status=TaskStatus.COMPLETED, cached=True),
        Task(name="Stopped #10", node_id="10", status=TaskStatus.CANCELLED, value=3, max=9),
        Task(name="[bold]not markup[/] #11", node_id="11", status=TaskStatus.RUNNING, value=1, max=3),
        Task(name="A very long node title that will not fit in the row at all #12345", node_id="12345"),
        Task(
            name="Broke #13",
            node_id="13",
            status=TaskStatus.FAILED,
            error="it broke",
            error_type="ValueError",
        ),
    ]


def chain_tasks() -> list[Task]:
    """Rows as a long run shows them, and the odd ones the plain path must leave to Text."""
    now = fmt.now()
    rng = random.Random(19)
    made: list[Task] = []
    names = [
        "RealityProgress #{n}",
        "",
        "Étape #{n}",
        "宽字符节点 #{n}",
        "x" * 90 + " #{n}",
        "tab\there #{n}",
    ]
    for n in range(1, 121):
        status = rng.choice(list(TaskStatus))
        maximum = rng.choice([None, 0, 4, 20, 1000, 123456789, float("nan")])
        value = None if maximum is None else rng.choice([None, 0, 1, 3, maximum])
        started = now - timedelta(seconds=rng.choice([0.4, 3, 75, 8000]))
        made.append(
            Task(
                name=rng.choice(names).format(n=n),
                node_id=str(n),
                class_type="RealityProgress",
                status=status,
                cached=rng.random() < 0.2,
                value=value,
                max=maximum,
                rate=rng.choice([None, 0.0, 2.25, 1234.5]),
                eta_seconds=rng.choice([None, 0.0, 3.5, 4000.0]),
                progress=rng.choice([0.0, 0.25, 0.5, 0.99]),
                started_at=started,
                completed_at=now if status is TaskStatus.COMPLETED else None,
            )
        )
    return made


def test_plain_rows_are_the_text_rows_piece_for_piece() -> None:
    plain_rows = 0
    for width in (20, 24, 40, 59, 60, 80, 119, 160, 240):
        for task in tasks():
            plain = plain_row(task, width)
            if plain is None:
                continue
            plain_rows += 1
            whole, pieces = plain
            built = Text(style=whole)
            for piece, style in pieces:
                built.append(piece, style=style)
            (reference,) = row_lines(task, width)
            assert built.plain == reference.plain, (task.name, width)
            assert built.spans == reference.spans, (task.name, width)
            assert built.style == reference.style
            assert built.cell_len == len(built.plain) <= width
    assert plain_rows > 150


class Rows(App[None]):
    def compose(self) -> ComposeResult:
        yield NodeProgressList(id="nodes")


def segments(strip: Strip) -> list[tuple[str, object, object]]:
    return [(segment.text, segment.style, segment.control) for segment in strip]


async def test_row_segments_equal_textuals_drawing() -> None:
    # A running clock (a node without steps) reads the time: one moment for both drawings
    # (the tests' conftest lets it run again afterwards).
    fmt.freeze_clock(fmt.now())
    app = Rows()
    async with app.run_test(size=(120, 20)) as pilot:
        nodes = app.query_one(NodeProgressList)
        await pilot.pause()
        fast_rows = plain_rows = 0
        for focused in (False, True):
            if focused:
                nodes.can_focus = True
                nodes.focus()
                await pilot.pause()
            style = nodes.visual_style
            for width in (24, 40, 59, 60, 80, 119, 160):
                for task in tasks():
                    lines = row_lines(task, width)
                    for text in lines:
                        text.truncate(width, overflow="ellipsis")
                    reference = nodes._visual_strips(lines, width, style)
                    drawn = nodes._row_strips(task, width, style)
                    assert [segments(s) for s in drawn] == [segments(s) for s in reference], (
                        task.name,
                        width,
                    )
                    assert [s.cell_length for s in drawn] == [s.cell_length for s in reference]
                    if len(lines) == 1:
                        maker = nodes._text_strips
                        fast_rows += maker is not None and maker.strip(lines[0]) is not None
                        plain_rows += plain_row(task, width) is not None
        assert fast_rows > 100  # the fast path was taken (the failed row goes through Textual)
        assert plain_rows > 100  # and the pieces' path


async def test_the_lists_lines_equal_textuals_styled_lines() -> None:
    from textual.containers import VerticalScroll
    from textual.geometry import Region
    from textual.widget import Widget

    fmt.freeze_clock(fmt.now())

    class Pane(App[None]):
        CSS = "VerticalScroll { background: $panel; } VerticalScroll:focus-within { background: $boost; }"

        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield NodeProgressList(id="nodes")

    app = Pane()
    async with app.run_test(size=(100, 30)) as pilot:
        nodes = app.query_one(NodeProgressList)
        nodes.show("exec", tasks()[:60])
        await pilot.pause()
        width = nodes.scrollable_content_region.width  # beside the rows' own scrollbar
        crops = [
            Region(0, 0, width, 30),
            Region(0, 24, width, 6),  # the last lines shown
            Region(5, 3, 40, 7),
            Region(0, 14, width, 1),
        ]
        for framed in ("", "padding", "tint", "scrolled"):
            if framed == "padding":
                nodes.styles.padding = (0, 1)
            elif framed == "tint":
                nodes.styles.padding = 0
                nodes.styles.tint = "red 20%"
            elif framed == "scrolled":  # the rows' own offset: the last rows in view
                nodes.styles.tint = "red 0%"
                nodes.scroll_end(animate=False)
            if framed:
                await pilot.pause()
                assert nodes._unframed() == (framed == "scrolled")
            for focused in (False, True):
                nodes.can_focus = focused
                if focused:
                    nodes.focus()
                await pilot.pause()
                if framed in ("", "scrolled"):
                    assert nodes._unframed()
                for crop in crops:
                    drawn = nodes.render_lines(crop)
                    nodes._styles_cache.clear()
                    reference = Widget.render_lines(nodes, crop)
                    assert [segments(s) for s in drawn] == [segments(s) for s in reference], (crop, focused)
                    assert [s.cell_length for s in drawn] == [s.cell_length for s in reference]
