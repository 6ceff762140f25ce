"""The detail pane of one execution: header, error details, per-node progress, outputs."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.control import strip_control_codes
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget

from ...runtime.kinds import TaskStatus
from .. import format as fmt
from ..image_actions import GalleryActions
from ..state import ExecutionEntry
from .live_text import LiveText
from .node_progress import NodeProgressList
from .one_layout import SizedInOneLayout
from .pane_focus import PaneLitByScreen
from .scrollbar_frame import ScrollbarsInLayoutFrame

if TYPE_CHECKING:
    from ...runtime import PreviewFrame
    from ...runtime.models import OutputFile
    from ..images import ImageSupport
    from .gallery import Gallery
    from .preview import LivePreview

KEPT_PREVIEWS = 64  # newest frame of this many executions, so reselecting one shows its picture at once
HEADER_INTERVAL = 0.2
"""While an execution runs, its header (node count, elapsed time) is redrawn at most this often:
with hundreds of fast nodes every frame moved the count, and that line was most of the frames.
Under a flood, batches come 0.2 s apart (batch_pace), so each one redraws it in its own frame."""
HEADER_LATE = 0.1
"""A header update still due this long after its interval is drawn by a timer of its own; until
then the next batch draws it, in the frame it draws anyway (a timer on the interval itself made
a frame of its own four times a second while batches came thirty times a second; 0.05 s made
one about three times a second while a flood's batches came 0.2 s apart)."""
FOLLOW_CONTEXT = 3  # finished rows kept in view above the running node
HEADER_GAP = 1  # the header's padding-bottom (DEFAULT_CSS)

OutputKey = tuple[str, str, str, str]


def output_key(file: OutputFile) -> OutputKey:
    return (file.node_id, file.subfolder, file.filename, file.type)


def header_text(entry: ExecutionEntry) -> Text:
    execution = entry.execution
    state = entry.state_key
    text = Text()
    text.append_text(fmt.icon_text(state))
    text.append(f" {fmt.plain(entry.title, one_line=True)}", style="bold")
    verb = {
        "pending": "queued",
        "running": "running",
        "completed": "completed",
        "failed": "failed",
        "cancelled": "cancelled",
        "rejected": "rejected by the server",
    }[state]
    text.append(f"  {verb}", style=fmt.RICH_STATUS_STYLE.get(state, ""))
    if execution.status.is_final and execution.duration is not None and not entry.rejected:
        text.append(f" in {fmt.duration(execution.duration)}", style="dim")
    elif execution.started_at is not None and not execution.status.is_final:
        text.append(f" for {fmt.duration((fmt.now() - execution.started_at).total_seconds())}", style="dim")
    facts: list[str] = []
    server_name = execution.metadata.get("server_name")  # set by a pool of several servers
    if isinstance(server_name, str):
        facts.append(f"on {strip_control_codes(server_name)}")
    if execution.prompt_id:
        facts.append(f"prompt {fmt.short_id(execution.prompt_id)}")
    if execution.number is not None and state == "pending":
        # ComfyUI's running prompt number: only useful while waiting in its queue.
        facts.append(f"queue no. {execution.number}")
    if entry.nodes:
        done = sum(1 for t in entry.nodes.values() if t.status is TaskStatus.COMPLETED)
        facts.append(f"{done}/{len(entry.nodes)} nodes")
    if execution.retry_of:
        facts.append("retry")
    if facts:
        text.append("\n" + " · ".join(facts), style="dim")
    if execution.status_detail and state in ("cancelled", "rejected"):
        text.append(f"\n{fmt.plain(execution.status_detail)}", style=fmt.RICH_STATUS_STYLE[state])
    return text


def error_renderable(entry: ExecutionEntry) -> RenderableType | None:
    """What went wrong, in the words of the server; None when nothing did."""
    execution = entry.execution
    parts: list[RenderableType] = []
    error = execution.error
    if entry.rejected:
        head = Text("The server refused the prompt", style="bold red")
        if error is not None:
            head.append(f": {fmt.plain(error.exception_message)}", style="red")
        parts.append(head)
        messages = entry.validation_messages
        if messages:
            for line in messages:
                parts.append(fmt.block_text(f"• {line}", style="red"))
        parts.append(Text("Fix the inputs (e to edit) and run again, or t to resubmit.", style="dim"))
    elif error is not None and execution.status is TaskStatus.FAILED:
        where = ""
        if error.node_id:
            where = f" in node {error.node_id}" + (f" ({error.node_type})" if error.node_type else "")
        parts.append(fmt.line_text(f"{error.exception_type}{where}", style="bold red"))
        parts.append(fmt.block_text(error.exception_message.strip() or "(no message)", style="red"))
        if error.traceback:
            # The server's traceback entries hold several lines each; the last few say where.
            lines = [ln.rstrip() for entry in error.traceback for ln in entry.splitlines() if ln.strip()]
            for line in traceback_tail(lines):
                parts.append(
                    Text(fmt.plain(line, one_line=True), style="dim", no_wrap=True, overflow="ellipsis")
                )
    if execution.node_errors and not entry.rejected:
        parts.append(Text("Some outputs were refused and will not run:", style="bold yellow"))
        for node_id, detail in execution.node_errors.items():
            errors = detail.get("errors", []) if isinstance(detail, dict) else []
            for err in errors:
                msg = err.get("message", "invalid")
                details = err.get("details")
                parts.append(
                    fmt.block_text(
                        f"• node {node_id}: {msg}" + (f": {details}" if details else ""), style="yellow"
                    )
                )
    return Group(*parts) if parts else None


TRACEBACK_LINES = 4


def _is_marker(line: str) -> bool:
    """A caret/tilde line pointing into the code line above it: meaningless on its own."""
    stripped = line.strip()
    return bool(stripped) and set(stripped) <= set("^~ ")


def traceback_tail(lines: list[str], room: int = TRACEBACK_LINES) -> list[str]:
    """The last frame(s) of a traceback, starting at a ``File …`` line (or a code line), never at a caret."""
    start = max(0, len(lines) - room)
    # Back up to the frame's own "File" line when it is just above the window.
    for back in range(start, max(-1, start - 3), -1):
        if lines[back].lstrip().startswith("File "):
            start = back
            break
    while start < len(lines) - 1 and _is_marker(lines[start]):
        start += 1
    return lines[start:]


def outputs_renderable(files: list[OutputFile], sizes: dict[OutputKey, int]) -> RenderableType:
    table = Table(
        box=None, expand=True, show_edge=False, pad_edge=False, header_style="bold", title_justify="left"
    )
    table.add_column("node", no_wrap=True, width=6)
    table.add_column("file", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("type", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    for file in files:
        size = sizes.get(output_key(file))
        # Text cells: a real ComfyUI names files "]_00001_.png" in a subfolder "[" (no markup).
        table.add_row(
            fmt.line_text(file.node_id),
            fmt.line_text(file.filename if not file.subfolder else f"{file.subfolder}/{file.filename}"),
            fmt.line_text(file.type),
            fmt.size(size) if size is not None else Text("not saved", style="dim"),
        )
    return Group(Text(f"Outputs ({len(files)}) · o to save", style="bold"), table)


def _node_names(entry: ExecutionEntry) -> dict[str, str]:
    return {t.node_id: t.class_type or t.name for t in entry.nodes.values() if t.node_id is not None}


def _show_scrollbar(widget: Widget, shown: bool) -> None:
    """Show or hide a widget's vertical scrollbar before the layout would decide it, a frame late."""
    if widget.show_vertical_scrollbar != shown:
        widget.show_vertical_scrollbar = shown
        widget.vertical_scrollbar.display = shown


EMPTY = Text("No execution selected. Pick a workflow and press r to run it.", style="dim")


class ExecutionView(
    ScrollbarsInLayoutFrame, VerticalScroll, PaneLitByScreen, SizedInOneLayout, GalleryActions
):
    """Shows the execution the task tree's cursor is on."""

    DEFAULT_CSS = """
    ExecutionView {
        #exec-header {
            /* Docked: it stays in view while the nodes below scroll (or follow the running one). */
            dock: top;
            padding-bottom: 1;
        }
        #exec-error {
            border-left: tall $error;
            padding: 0 1;
            margin-bottom: 1;
            background: $error 10%;
        }
        #exec-outputs {
            margin-top: 1;
            border-left: tall $success;
            padding: 0 1;
        }
    }
    """

    HELP = """\
## Execution

The execution selected in the task tree: how it is going node by node,
what went wrong, and what it produced.

- **x** cancel · **t** retry · **o** save outputs to a folder
- Images: **←/→** pick · **Enter** full screen · **v** desktop viewer · **y** copy its path
"""

    def __init__(
        self, *, id: str | None = None, classes: str | None = None, images: ImageSupport | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.entry: ExecutionEntry | None = None
        self._details_key: tuple[object, ...] | None = None
        # None, or images off: no preview widget, no gallery, nothing decoded.
        self.images = images if images is not None and images.enabled else None
        self.live_preview: LivePreview | None = None
        self.gallery: Gallery | None = None
        self._frames: OrderedDict[str, PreviewFrame] = OrderedDict()
        self._header_key: tuple[str, str] | None = None  # (execution, state) the header shows
        self._header_at = 0.0
        self._header_due = False  # a timer will draw a skipped update
        self._header_skipped = False  # an update was not drawn yet (the timer draws it, no other)
        # Follow the running node down a long graph until the user scrolls the pane themselves.
        self._following: str | None = None  # the execution followed; None: the user took over
        self._execution_shown: str | None = None

    def compose(self) -> ComposeResult:
        self.header = LiveText(EMPTY, id="exec-header")
        self.error_box = LiveText(id="exec-error")
        self.error_box.display = False
        self.nodes = NodeProgressList(id="exec-nodes")
        self.outputs = LiveText(id="exec-outputs")
        self.outputs.display = False
        yield self.header
        yield self.error_box
        yield self.nodes
        if self.images is not None:
            from .gallery import Gallery
            from .preview import LivePreview

            self.live_preview = LivePreview(self.images, id="exec-preview")
            self.live_preview.display = False
            yield self.live_preview
            self.gallery = Gallery(self.images, id="exec-gallery")
            self.gallery.display = False
            yield self.gallery
        yield self.outputs

    # ----------------------------------------------------------------- pictures
    def add_preview(self, frame: PreviewFrame) -> None:
        """A live preview frame from the runtime; frames of prompts that are not ours are dropped."""
        if self.live_preview is None or frame.execution_id is None:
            return
        self._frames[frame.execution_id] = frame
        self._frames.move_to_end(frame.execution_id)
        while len(self._frames) > KEPT_PREVIEWS:
            self._frames.popitem(last=False)
        entry = self.entry
        if entry is not None and entry.id == frame.execution_id and not entry.status.is_final:
            self.live_preview.node_names = _node_names(entry)
            self.live_preview.display = True
            self.live_preview.offer(frame)

    def _show_pictures(self, entry: ExecutionEntry | None) -> None:
        preview, gallery = self.live_preview, self.gallery
        if preview is None or gallery is None:
            return
        running = entry is not None and not entry.status.is_final and not entry.rejected
        frame = self._frames.get(entry.id) if entry is not None else None
        if running and frame is not None:
            assert entry is not None
            preview.node_names = _node_names(entry)
            if preview.latest is not frame:
                preview.offer(frame)
            preview.display = True
        elif preview.display:
            preview.display = False
            preview.clear()
        if entry is not None and entry.status.is_final:
            gallery.show_outputs(entry.execution.prompt_id, entry.execution.output_files)
        else:
            gallery.show_outputs(None, [])

    def show(self, entry: ExecutionEntry | None, sizes: dict[OutputKey, int]) -> None:
        """Called once per frame for the selected execution: touch only what changed."""
        self.entry = entry
        if entry is None:
            self._execution_shown = self._following = None
            self._header_key = None
            self.header.set(EMPTY)
            self.error_box.show(False)
            self.outputs.show(False)
            self.nodes.show(None, [])
            self._details_key = None
            self._show_pictures(None)
            return
        self._update_header(entry)
        execution = entry.execution
        key = (
            entry.id,
            execution.status,
            execution.error is not None,
            len(execution.output_files),
            len(execution.node_errors),
            len(sizes),
        )
        if key != self._details_key:
            # Errors and outputs change with the execution's own state, not with node progress.
            self._details_key = key
            error = error_renderable(entry)
            self.error_box.show(error is not None)
            if error is not None:
                self.error_box.set(error)
            files = entry.execution.output_files
            self.outputs.show(bool(files))
            if files:
                self.outputs.set(outputs_renderable(files, sizes))
        shown_before = self._execution_shown
        self.nodes.show(entry.id, list(entry.nodes.values()))
        self._show_pictures(entry)
        rows_alone = self._bound_rows()
        self._follow_running(entry)
        if entry.id != shown_before or rows_alone is not None:
            self._expect_scrollbar(entry)

    def _bound_rows(self) -> bool | None:
        """The node rows scroll themselves only when nothing else shares the pane with them.

        Alone below the header they are at most the pane's height, so following the running node
        moves their own offset (no layout). With an error box, outputs or pictures, the pane
        scrolls everything (one scrollbar, every line reachable) and the rows are as tall as they
        are. Returns the new state when it changed, None otherwise.
        """
        alone = not (self.error_box.display or self.outputs.display or self._pictures_shown())
        if not self.nodes.bound(alone):
            return None
        if not alone:
            self.nodes.scroll_home(animate=False)  # their offset is the pane's to keep now
        return alone

    def _expect_scrollbar(self, entry: ExecutionEntry) -> None:
        """Another execution, or the rows alone or not any more: show or hide the scrollbars
        before the layout, when it is sure.

        Textual decides them after laying the pane out, then lays the screen out again at the new
        width, a frame later. Between a 500-node execution and a 6-node one that was a second
        layout and frame for every cursor key; when unsure (errors, outputs, pictures), it still does.
        Alone, the node rows are at most the pane's height below the header: past it they scroll
        themselves, with their own scrollbar; otherwise only the pane's scrollbar shows.
        """
        height = self.container_size.height
        nodes = self.nodes
        width = nodes.size.width or self.container_size.width
        if not height or not width or self.styles.overflow_y != "auto":
            return
        rows = nodes.get_content_height(self.container_size, self.size, width)
        header = sum(max(1, -(-cell_len(line) // width)) for line in header_text(entry).plain.split("\n"))
        room = height - header - HEADER_GAP  # the rows' most when alone: below it they scroll themselves
        if not nodes.bounded:
            # The pane scrolls the rows with the rest: theirs never shows; the pane's surely does
            # when the rows alone overflow it (the other parts' heights are known after the layout).
            _show_scrollbar(nodes, False)
            if rows > room:
                _show_scrollbar(self, True)
            return
        if rows != room:
            _show_scrollbar(nodes, rows > room)
        _show_scrollbar(self, False)  # the header and the rows fit: the pane does not scroll

    def _pictures_shown(self) -> bool:
        return bool(
            (self.live_preview is not None and self.live_preview.display)
            or (self.gallery is not None and self.gallery.display)
        )

    # ---------------------------------------------------------------- following
    def _follow_running(self, entry: ExecutionEntry) -> None:
        """Keep the running node in view, as the log follows its last line.

        With hundreds of nodes the one running is soon far below the pane; scrolling by hand
        (keys or wheel) stops it for this execution, End starts it again. The node rows scroll
        themselves (no layout); the pane scrolls only when they fit and something pushes them down.
        """
        if entry.id != self._execution_shown:
            self._execution_shown = entry.id
            self._following = entry.id
            self.scroll_home(animate=False, immediate=True)
            self.nodes.scroll_home(animate=False)
        if self._following != entry.id or entry.status.is_final:
            return
        line = self.nodes.first_running_line()
        if line is None:
            return
        if self.nodes.follow(line, FOLLOW_CONTEXT):
            line -= round(self.nodes.scroll_y)
        y = self.nodes.virtual_region.y + line
        top, height = int(self.scroll_y), self.scrollable_content_region.height
        if height and not top <= y < top + height - 1:
            # A few finished rows stay above it, so the run's progress reads in context.
            self.scroll_to(y=max(0, y - FOLLOW_CONTEXT), animate=False, immediate=True)

    def _user_scrolled(self) -> None:
        self._following = None

    def on_node_progress_list_user_scrolled(self, _message: NodeProgressList.UserScrolled) -> None:
        self._user_scrolled()

    def _rows_in_view(self) -> bool:
        """Whether the node rows are wholly in the pane's view: keys scroll them, not the pane."""
        nodes = self.nodes
        if nodes.max_scroll_y <= 0:
            return False
        top = int(self.scroll_y)
        start = nodes.virtual_region.y
        return top <= start and start + nodes.outer_size.height <= top + self.scrollable_content_region.height

    def _scroll_rows(self, lines: int) -> bool:
        """Scroll the node rows by ``lines`` when they are in view and can move that way."""
        nodes = self.nodes
        if not self._rows_in_view():
            return False
        target = max(0, min(nodes.max_scroll_y, round(nodes.scroll_y) + lines))
        if target == round(nodes.scroll_y):
            return False
        nodes.scroll_to(y=target, animate=False)
        return True

    def action_scroll_up(self) -> None:
        self._user_scrolled()
        if not self._scroll_rows(-1):
            super().action_scroll_up()

    def action_scroll_down(self) -> None:
        self._user_scrolled()
        if not self._scroll_rows(1):
            super().action_scroll_down()

    def action_page_up(self) -> None:
        self._user_scrolled()
        if not self._scroll_rows(-self.nodes.size.height):
            super().action_page_up()

    def action_page_down(self) -> None:
        self._user_scrolled()
        if not self._scroll_rows(self.nodes.size.height):
            super().action_page_down()

    def action_scroll_home(self) -> None:
        self._user_scrolled()
        self.nodes.scroll_home(animate=False)
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self._following = self._execution_shown
        self.nodes.scroll_end(animate=False)
        super().action_scroll_end()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._user_scrolled()
        super()._on_mouse_scroll_up(event)

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._user_scrolled()
        super()._on_mouse_scroll_down(event)

    def _update_header(self, entry: ExecutionEntry) -> None:
        """At once for another execution or state; otherwise at most every HEADER_INTERVAL."""
        key = (entry.id, entry.state_key)
        now = time.monotonic()
        if key != self._header_key or now - self._header_at >= HEADER_INTERVAL:
            self._header_key, self._header_at, self._header_skipped = key, now, False
            self.header.set(header_text(entry))
            return
        self._header_skipped = True
        if not self._header_due:
            self._header_due = True
            self.set_timer(self._header_at + HEADER_INTERVAL + HEADER_LATE - now, self._header_timer)

    def _header_timer(self) -> None:
        self._header_due = False
        if self._header_skipped and self.entry is not None:
            self._update_header(self.entry)

    def tick(self) -> None:
        """Advance elapsed times while the execution runs."""
        if self.entry is not None and not self.entry.status.is_final and not self.entry.rejected:
            self._update_header(self.entry)
            self.nodes.refresh_running()
