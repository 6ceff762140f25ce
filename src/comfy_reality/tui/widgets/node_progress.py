"""Per-node progress of one execution: status, bar, value/max, rate and ETA, elapsed, error."""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import Visual, visualize
from textual.widget import Widget

from ...runtime.kinds import TaskStatus
from ...safe_text import finite_number
from .. import format as fmt
from .scrollbar_frame import ScrollbarsInLayoutFrame
from .text_strips import TextStrips

if TYPE_CHECKING:
    from ...runtime.models import Task

_BAR_STYLE: dict[str, str] = {
    "running": "yellow",
    "completed": "green",
    "cached": "cyan",
    "failed": "red",
    "cancelled": "magenta",
    "pending": "grey37",
}


QUEUE_REMOVAL = "not run: removed from the queue"


def bar_pieces(fraction: float, width: int, style: str) -> list[tuple[str, str]]:
    """The bar's (text, style) pieces, empty ones left out: done cells, a half cell, the rest."""
    cells = max(0.0, min(1.0, fraction)) * width
    full = int(cells)
    half = full < width and cells - full >= 0.5
    rest = width - full - (1 if half else 0)
    pieces = [("━" * full, style)] if full > 0 else []
    if half:
        pieces.append(("╸", style))
    if rest > 0:
        pieces.append(("━" * rest, "grey23"))
    return pieces


def bar_text(fraction: float, width: int, style: str) -> Text:
    """A thin progress bar with half-cell resolution (the look of Rich's bar, without its layout cost)."""
    text = Text(no_wrap=True)
    for piece, piece_style in bar_pieces(fraction, width, style):
        text.append(piece, style=piece_style)
    return text


def detail_pieces(task: Task, state: str, *, compact: bool = False) -> list[tuple[str, str]]:
    """The right-hand column's (text, style) pieces: counts and speed while running, how it ended otherwise."""
    pieces: list[tuple[str, str]] = []
    if state == "running":
        if task.max:
            pieces.append((f"{fmt.number(task.value)}/{fmt.number(task.max)}", ""))
        if task.rate and not compact:
            pieces.append((f"  {finite_number(task.rate, '.1f')} it/s", "dim"))
        if task.eta_seconds is not None:
            pieces.append((f" ETA {fmt.duration(task.eta_seconds)}", "yellow"))
        elif not task.max:
            pieces.append((f"{fmt.duration(task.elapsed(fmt.now()))}", "yellow"))
    elif state == "cached":
        pieces.append(("cached", "cyan"))
    elif state == "completed":
        if task.max:
            value = task.value if task.value is not None else task.max
            pieces.append((f"{fmt.number(value)}/{fmt.number(task.max)}  ", ""))
        pieces.append((fmt.duration(task.duration), "green"))
    elif state == "failed":
        pieces.append(("failed" if compact else f"failed after {fmt.duration(task.duration)}", "bold red"))
    elif state == "cancelled":
        if task.max and task.value:
            # Where it stopped: "32/50 cancelled".
            pieces.append((f"{fmt.number(task.value)}/{fmt.number(task.max)} ", ""))
        pieces.append(("cancelled", "magenta"))
    else:
        pieces.append(("pending", "dim"))
    return pieces


def node_detail(task: Task, *, compact: bool = False) -> Text:
    """The right-hand column as a Text (see :func:`detail_pieces`)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for piece, style in detail_pieces(task, fmt.task_state(task), compact=compact):
        text.append(piece, style=style)
    return text


def _fraction(task: Task, state: str) -> float:
    if state in ("completed", "cached"):
        return 1.0
    if task.max:
        return float(task.value or 0.0) / float(task.max)
    return float(task.progress)


def _fit_name(task: Task, name_width: int) -> str:
    """The node's title (made safe), cut to ``name_width`` characters keeping its " #id"."""
    name = fmt.plain(task.name or f"{task.class_type} #{task.node_id}", one_line=True)
    if len(name) > name_width:
        # Cut the title, keep its " #id": two nodes of the same title differ only by it.
        _title, sep, node_id = name.rpartition(" #")
        keep = f"{sep}{node_id}" if sep and len(node_id) < name_width // 2 else ""
        name = name[: name_width - 1 - len(keep)].rstrip() + "…" + keep
    return name


def _row_widths(width: int) -> tuple[bool, int, int, int]:
    """A row's layout at ``width``: whether it is narrow, then the detail's, the bar's and the name's widths."""
    narrow = width < 60
    detail_width = 15 if narrow else max(24, min(32, width // 3))
    bar_width = 8 if narrow else max(8, min(30, width // 6))
    return narrow, detail_width, bar_width, max(4, width - 2 - bar_width - detail_width - 2)


def row_lines(task: Task, width: int) -> list[Text]:
    """A node's line (icon, name, bar, detail) and, when it failed or was cancelled, why."""
    # Plain Text, not a Table: this runs for every progress frame of the selected execution.
    state = fmt.task_state(task)
    narrow, detail_width, bar_width, name_width = _row_widths(width)
    # The detail (count, rate, ETA) is kept whole: the rate goes first, then the bar shrinks, the name last.
    detail = node_detail(task, compact=narrow)
    if detail.cell_len > detail_width:
        detail = node_detail(task, compact=True)
    fraction = _fraction(task, state)
    line = fmt.icon_text(state)
    line.append(" ")
    name = _fit_name(task, name_width)
    line.append(name.ljust(name_width), style="dim" if state == "pending" else "")
    line.append(" ")
    line.append_text(bar_text(fraction, bar_width, _BAR_STYLE.get(state, "white")))
    line.append(" ")
    detail.truncate(detail_width, overflow="ellipsis")
    line.append(" " * (detail_width - detail.cell_len))
    line.append_text(detail)
    extra = _extra_line(task, state)
    return [line] if extra is None else [line, extra]


_PLAIN_STATES = frozenset({"pending", "running", "completed", "cached"})


def plain_row(task: Task, width: int) -> tuple[str, list[tuple[str, str]]] | None:
    """The common one-line row as its Text's style and (text, style) pieces, without building a Text.

    Equal, piece for piece, to what :func:`row_lines` appends (a test compares the strips); None
    when the row is not plain: two lines, an end other than completed, a running clock, anything
    to cut (a long count, a name of wide characters) or a character wider than one cell.
    """
    state = fmt.task_state(task)
    if state not in _PLAIN_STATES:
        return None
    narrow, detail_width, bar_width, name_width = _row_widths(width)
    detail = _plain_detail(task, state, compact=narrow)
    if detail is None:
        return None
    detail_len = sum(len(piece) for piece, _ in detail)
    if detail_len > detail_width:
        detail = _plain_detail(task, state, compact=True)
        if detail is None:
            return None
        detail_len = sum(len(piece) for piece, _ in detail)
        if detail_len > detail_width:
            return None
    if 4 + name_width + bar_width + detail_width > width:
        return None  # cut by the row's width
    name = _fit_name(task, name_width)
    if not name.isascii():
        return None
    whole = fmt.RICH_STATUS_STYLE.get(state, "")
    pieces = [
        (f"{fmt.STATUS_ICON.get(state, '?')} ", ""),
        (name.ljust(name_width), "dim" if state == "pending" else ""),
        (" ", ""),
        *bar_pieces(_fraction(task, state), bar_width, _BAR_STYLE.get(state, "white")),
        (" " + " " * (detail_width - detail_len), ""),
        *detail,
    ]
    return whole, pieces


def _plain_detail(task: Task, state: str, *, compact: bool) -> list[tuple[str, str]] | None:
    """:func:`detail_pieces` for the plain states; None for a running clock or a wide character."""
    if state == "running" and not task.max and task.eta_seconds is None:
        return None  # a clock: drawn through Text at the moment it is drawn
    pieces = detail_pieces(task, state, compact=compact)
    if not all(piece.isascii() for piece, _ in pieces):
        return None
    return pieces


def shows_clock(task: Task) -> bool:
    """Whether the node's row shows its running time (see :func:`node_detail`)."""
    return task.status is TaskStatus.RUNNING and not task.max and task.eta_seconds is None


def _row_height(task: Task) -> int:
    return 1 if _extra_line(task, fmt.task_state(task)) is None else 2


def _looks_the_same(old: Task, new: Task) -> bool:
    """What a row shows did not move (a new snapshot of a task often changes nothing on screen)."""
    fields = (
        "status",
        "cached",
        "value",
        "max",
        "rate",
        "eta_seconds",
        "progress",
        "name",
        "error",
        "status_detail",
    )
    return all(getattr(old, name) == getattr(new, name) for name in fields)


class NodeProgress(Widget):
    """One node of the selected execution; redrawn only when its task snapshot changes."""

    DEFAULT_CSS = """
    NodeProgress {
        height: auto;
    }
    """

    DEFAULT_CLASSES = "node-progress"

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task_snapshot = task

    def update_task(self, task: Task) -> None:
        old = self.task_snapshot
        self.task_snapshot = task
        if _extra_line(old, fmt.task_state(old)) is None and _extra_line(task, fmt.task_state(task)) is None:
            if (old.status, old.value, old.max, old.rate, old.eta_seconds, old.progress) != (
                task.status,
                task.value,
                task.max,
                task.rate,
                task.eta_seconds,
                task.progress,
            ):
                self.refresh()
        else:
            self.refresh(layout=True)

    def render(self) -> RenderableType:
        lines = row_lines(self.task_snapshot, self.size.width or 80)
        return lines[0] if len(lines) == 1 else Group(*lines)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return 1 if _extra_line(self.task_snapshot, fmt.task_state(self.task_snapshot)) is None else 2


def _extra_line(task: Task, state: str) -> Text | None:
    if state == "failed":
        message = task.error or "unknown error"
        head = f"{task.error_type}: " if task.error_type else ""
        first = (f"{head}{message}".splitlines() or [""])[0]
        line = Text(f"  └ {fmt.plain(first, one_line=True)}", style="red", no_wrap=True, overflow="ellipsis")
        return line
    if state == "cancelled" and task.status_detail and not task.status_detail.startswith(QUEUE_REMOVAL):
        # A run removed from the queue says so once, in the header, not under every node.
        detail = fmt.plain(task.status_detail, one_line=True)
        return Text(f"  └ {detail}", style="magenta", no_wrap=True, overflow="ellipsis")
    return None


class NodeProgressList(ScrollbarsInLayoutFrame, ScrollView, can_focus=False):
    """One line (two when it failed) per node task in graph order, drawn only where visible.

    A line-based widget, not a widget per node: with 500 nodes a layout arranges one widget, a
    batch repaints only the lines of the nodes whose snapshot changed, and scrolling renders only
    the rows on screen (each row's lines are kept until its snapshot or the width changes).

    Bounded (the default; see :meth:`bound`), it is at most as tall as its pane and scrolls its own
    rows: following the running node down a long graph moves its own offset and repaints its
    lines, where scrolling the pane laid the whole screen out (5-10 ms, once a second at 500
    nodes). Unbounded, it is as tall as its rows and the pane scrolls it with the rest.
    """

    DEFAULT_CSS = """
    NodeProgressList {
        height: auto;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """

    DEFAULT_CLASSES = "node-progress-list"

    class UserScrolled(Message):
        """The user scrolled the rows with the mouse wheel: following stops."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_reactive(Widget.auto_links, False)  # rows hold no links (nothing to restyle on hover)
        self._execution_id: str | None = None
        self._tasks: list[Task] = []
        self._ids: tuple[str, ...] = ()
        self._starts: list[int] = []  # first line of each row
        self._lines = 0
        self._drawn: dict[int, tuple[Task, int, list[Strip]]] = {}  # row -> (snapshot, width, lines)
        self._drawn_style: object = None  # the visual style the kept lines were drawn with
        self._other: tuple[object, dict[int, tuple[Task, int, list[Strip]]]] | None = None
        """The lines kept for the previous visual style: the pane's focus toggles between two."""
        self._text_strips: TextStrips | None = None
        self.bounded = False
        self.bound(True)

    def bound(self, bounded: bool) -> bool:
        """At most the pane's height (scrolling its own rows), or as tall as the rows; True if it changed.

        An inline style, not a class: a class restyles the widget through the stylesheet, about
        a millisecond on a cursor key between executions that bound and do not bound their rows.
        """
        if bounded == self.bounded:
            return False
        self.bounded = bounded
        self.styles.max_height = "100%" if bounded else None
        return True

    @property
    def snapshots(self) -> dict[str, Task]:
        """The task each row shows, by node id, in graph order."""
        return {task.node_id or task.id: task for task in self._tasks}

    def show(self, execution_id: str | None, tasks: list[Task]) -> None:
        # Called every frame: the rows are compared by their ids' tuple (one C-level comparison).
        ids = tuple([task.id for task in tasks])
        if execution_id != self._execution_id or ids != self._ids:
            self._execution_id = execution_id
            self._ids = ids
            self._tasks = list(tasks)
            self._relayout()
            return
        heights_moved = False
        moved: list[int] = []
        for index, task in enumerate(tasks):
            old = self._tasks[index]
            if old is task:
                continue
            self._tasks[index] = task
            if _row_height(old) != _row_height(task):
                heights_moved = True
            elif not _looks_the_same(old, task):
                moved.append(index)
        if heights_moved:
            self._relayout()
        elif moved:
            self._repaint(moved)

    def _relayout(self) -> None:
        self._starts = []
        line = 0
        for task in self._tasks:
            self._starts.append(line)
            line += _row_height(task)
        self._lines = line
        self._drawn.clear()
        self._other = None
        self.virtual_size = Size(0, line)
        self.refresh(layout=True)

    def _repaint(self, indexes: list[int]) -> None:
        """Redraw these rows: one refresh for those in view, whatever their number.

        Rows out of view are only forgotten (drawn again when scrolled to): with hundreds of
        nodes the rows that move are mostly off screen.
        """
        other = self._other[1] if self._other is not None else None
        for index in indexes:
            self._drawn.pop(index, None)
            if other is not None:
                other.pop(index, None)
        width = self.scrollable_content_region.width
        if not width:
            return
        top = round(self.scroll_y)
        bottom = top + self.size.height
        shown: list[Region] = []
        for index in indexes:
            start = self._starts[index]
            height = _row_height(self._tasks[index])
            if start < bottom and start + height > top:
                shown.append(Region(0, start - top, width, height))
        if shown:
            self.refresh(*shown)

    def follow(self, line: int, context: int) -> bool:
        """Keep ``line`` in view by scrolling the rows themselves, ``context`` rows above it.

        A jump, not a step per node: every scroll repaints all the rows in view, so jumping when
        the line reaches the bottom draws each row about once. False when the rows do not scroll
        (they all fit): then the pane around them must.
        """
        if self.max_scroll_y <= 0:
            return False
        top, height = round(self.scroll_y), self.size.height
        if height and not top <= line < top + height - 1:
            self.scroll_to(y=max(0, line - context), animate=False)
        return True

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.scroll_y > 0:
            self.post_message(self.UserScrolled())
        super()._on_mouse_scroll_up(event)

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if self.scroll_y < self.max_scroll_y:
            self.post_message(self.UserScrolled())
        super()._on_mouse_scroll_down(event)

    def first_running_line(self) -> int | None:
        """The first line of the first running node (graph order), or None when none runs."""
        for index, task in enumerate(self._tasks):
            if task.status is TaskStatus.RUNNING:
                return self._starts[index]
        return None

    def refresh_running(self) -> None:
        """The elapsed time of a running node without steps moves on with the clock.

        A node with steps or an ETA shows what the server reported, not the clock: it is
        redrawn when its snapshot changes, not every second.
        """
        clocks = [index for index, task in enumerate(self._tasks) if shows_clock(task)]
        if clocks:
            self._repaint(clocks)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._lines

    def render_lines(self, crop: Region) -> list[Strip]:
        """The kept row lines as the screen takes them, when nothing frames them.

        Textual's styles cache wraps each line it has not drawn before in a new Strip (and so
        passes it through the line filters again) and applies border, padding, tint and opacity;
        this list has none of them, so each kept line goes out as it is, filtered once (the
        filtered line is kept on the line). Anything that frames or tints the list takes
        Textual's way (a test compares both).
        """
        if not self._unframed():
            return super().render_lines(crop)
        width = self.scrollable_content_region.width
        base_background, background = self.background_colors
        inner = self._styles_cache.get_inner_outer(base_background, background)[0].rich_style
        filters = self.get_line_filters()
        render_line = self.render_line
        strips: list[Strip] = []
        for y in crop.line_range:
            strip = render_line(y).adjust_cell_length(width, inner)
            for line_filter in filters:
                strip = strip.apply_filter(line_filter, background)
            strips.append(strip)
        if crop.column_span != (0, width):
            x1, x2 = crop.column_span
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips

    def _unframed(self) -> bool:
        """No border, outline, padding, title, tint, hatch or opacity: the lines are the content."""
        styles = self.styles
        return not (
            self.BLANK
            or self.auto_links
            or self._border_title is not None
            or self._border_subtitle is not None
            or any(styles.gutter)
            or any(edge for edge, _color in styles.outline)
            or styles.tint.a
            or styles.has_rule("hatch")
            or styles.text_opacity != 1.0
            or self.opacity != 1.0
        )

    def render_line(self, y: int) -> Strip:
        y += round(self.scroll_y)  # a line of the view: its row is that many lines further down
        width = self.scrollable_content_region.width
        visual_style = self.visual_style
        if visual_style != self._drawn_style:
            # Kept lines hold the colours they were drawn with: those of the other style are kept
            # too, as moving the focus in and out of the pane switches between two styles.
            other = self._other
            self._other = (self._drawn_style, self._drawn)
            self._drawn = other[1] if other is not None and other[0] == visual_style else {}
            self._drawn_style = visual_style
        if not self._tasks or y < 0 or y >= self._lines:
            return Strip.blank(width, self.rich_style)
        index = bisect_right(self._starts, y) - 1
        task = self._tasks[index]
        drawn = self._drawn.get(index)
        if drawn is None or drawn[0] is not task or drawn[1] != width:
            drawn = (task, width, self._row_strips(task, width, visual_style))
            self._drawn[index] = drawn
        offset = y - self._starts[index]
        return drawn[2][offset] if offset < len(drawn[2]) else Strip.blank(width, self.rich_style)

    def _row_strips(self, task: Task, width: int, visual_style: VisualStyle) -> list[Strip]:
        """A row's lines: a plain one-line row straight to segments, anything else through Textual."""
        if self.text_selection is None:
            maker = self._text_strips
            if maker is None or maker.base != visual_style:
                maker = self._text_strips = TextStrips(self, visual_style)
            plain = plain_row(task, width)
            if plain is not None:
                return [maker.pieces_strip(*plain)]
            lines = row_lines(task, width)
            for text in lines:
                text.truncate(width, overflow="ellipsis")
            if len(lines) == 1:
                strip = maker.strip(lines[0])
                if strip is not None:
                    return [strip]
        else:
            lines = row_lines(task, width)
            for text in lines:
                text.truncate(width, overflow="ellipsis")
        return self._visual_strips(lines, width, visual_style)

    def _visual_strips(self, lines: list[Text], width: int, visual_style: VisualStyle) -> list[Strip]:
        """Through Textual's visuals, as a widget's render() is (the reference the fast path matches)."""
        visual = visualize(self, lines[0] if len(lines) == 1 else Group(*lines))
        return Visual.to_strips(self, visual, width, len(lines), visual_style)

    # No clearing on resize: each kept row holds the width it was drawn for (being shown again
    # after the workflow preview sends a Resize of the same width).
