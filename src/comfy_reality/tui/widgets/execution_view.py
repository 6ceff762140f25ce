"""The detail pane of one execution: header, error details, per-node progress, outputs."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll

from ...runtime.models import OutputFile, TaskStatus
from .. import format as fmt
from ..state import ExecutionEntry
from .live_text import LiveText
from .node_progress import NodeProgressList

OutputKey = tuple[str, str, str, str]


def output_key(file: OutputFile) -> OutputKey:
    return (file.node_id, file.subfolder, file.filename, file.type)


def header_text(entry: ExecutionEntry) -> Text:
    execution = entry.execution
    state = entry.state_key
    text = Text()
    text.append_text(fmt.icon_text(state))
    text.append(f" {entry.title}", style="bold")
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
    if execution.prompt_id:
        facts.append(f"prompt {fmt.short_id(execution.prompt_id)}")
    if execution.number is not None:
        facts.append(f"#{execution.number}")
    if entry.nodes:
        done = sum(1 for t in entry.nodes.values() if t.status is TaskStatus.COMPLETED)
        facts.append(f"{done}/{len(entry.nodes)} nodes")
    if execution.retry_of:
        facts.append("retry")
    if facts:
        text.append("\n" + " · ".join(facts), style="dim")
    if execution.status_detail and state in ("cancelled", "rejected"):
        text.append(f"\n{execution.status_detail}", style=fmt.RICH_STATUS_STYLE[state])
    return text


def error_renderable(entry: ExecutionEntry) -> RenderableType | None:
    """What went wrong, in the words of the server; None when nothing did."""
    execution = entry.execution
    parts: list[RenderableType] = []
    error = execution.error
    if entry.rejected:
        head = Text("The server refused the prompt", style="bold red")
        if error is not None:
            head.append(f": {error.exception_message}", style="red")
        parts.append(head)
        messages = entry.validation_messages
        if messages:
            for line in messages:
                parts.append(Text(f"• {line}", style="red"))
        parts.append(Text("Fix the inputs (e to edit) and run again, or t to resubmit.", style="dim"))
    elif error is not None and execution.status is TaskStatus.FAILED:
        where = ""
        if error.node_id:
            where = f" in node {error.node_id}" + (f" ({error.node_type})" if error.node_type else "")
        parts.append(Text(f"{error.exception_type}{where}", style="bold red"))
        parts.append(Text(error.exception_message.strip() or "(no message)", style="red"))
        if error.traceback:
            # The server's traceback entries hold several lines each; the last few say where.
            lines = [ln.rstrip() for entry in error.traceback for ln in entry.splitlines() if ln.strip()]
            for line in lines[-4:]:
                parts.append(Text(line, style="dim", no_wrap=True, overflow="ellipsis"))
    if execution.node_errors and not entry.rejected:
        parts.append(Text("Some outputs were refused and will not run:", style="bold yellow"))
        for node_id, detail in execution.node_errors.items():
            errors = detail.get("errors", []) if isinstance(detail, dict) else []
            for err in errors:
                msg = err.get("message", "invalid")
                details = err.get("details")
                parts.append(
                    Text(f"• node {node_id}: {msg}" + (f": {details}" if details else ""), style="yellow")
                )
    return Group(*parts) if parts else None


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
        table.add_row(
            file.node_id,
            file.filename if not file.subfolder else f"{file.subfolder}/{file.filename}",
            file.type,
            fmt.size(size) if size is not None else "—",
        )
    return Group(Text(f"Outputs ({len(files)}) · o to save", style="bold"), table)


EMPTY = Text("No execution selected. Pick a workflow and press r to run it.", style="dim")


class ExecutionView(VerticalScroll):
    """Shows the execution the task tree's cursor is on."""

    DEFAULT_CSS = """
    ExecutionView {
        #exec-header {
            margin-bottom: 1;
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
"""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.entry: ExecutionEntry | None = None
        self._details_key: tuple[object, ...] | None = None

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
        yield self.outputs

    def show(self, entry: ExecutionEntry | None, sizes: dict[OutputKey, int]) -> None:
        """Called once per frame for the selected execution: touch only what changed."""
        self.entry = entry
        if entry is None:
            self.header.set(EMPTY)
            self.error_box.show(False)
            self.outputs.show(False)
            self.nodes.show(None, [])
            self._details_key = None
            return
        self.header.set(header_text(entry))
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
        self.nodes.show(entry.id, list(entry.nodes.values()))

    def tick(self) -> None:
        """Advance elapsed times while the execution runs."""
        if self.entry is not None and not self.entry.status.is_final and not self.entry.rejected:
            self.header.set(header_text(self.entry))
            for row in self.nodes.running_rows():
                row.refresh()
