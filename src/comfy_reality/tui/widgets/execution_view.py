"""The detail pane of one execution: header, error details, per-node progress, outputs."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...runtime.models import OutputFile, TaskStatus
from .. import format as fmt
from ..state import ExecutionEntry
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
            last = [ln.rstrip() for ln in error.traceback[-3:] if ln.strip()]
            for line in last:
                parts.append(Text(line, style="dim", no_wrap=True, overflow="ellipsis"))
    if execution.node_errors and not entry.rejected:
        parts.append(Text("Some outputs were refused and will not run:", style="bold yellow"))
        for node_id, detail in execution.node_errors.items():
            errors = detail.get("errors", []) if isinstance(detail, dict) else []
            for err in errors:
                msg = err.get("message", "invalid")
                details = err.get("details")
                parts.append(Text(f"• node {node_id}: {msg}" + (f": {details}" if details else ""), style="yellow"))
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


class ExecutionView(VerticalScroll):
    """Shows the execution the task tree's cursor is on."""

    HELP = """\
## Execution

The execution selected in the task tree: how it is going node by node,
what went wrong, and what it produced.

- **x** cancel · **t** retry · **o** save outputs to a folder
"""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.entry: ExecutionEntry | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("No execution selected. Pick a workflow and press r to run it.", style="dim"),
                     id="exec-header")
        yield Static(id="exec-error", classes="hidden")
        yield NodeProgressList(id="exec-nodes")
        yield Static(id="exec-outputs", classes="hidden")

    def show(self, entry: ExecutionEntry | None, sizes: dict[OutputKey, int]) -> None:
        self.entry = entry
        header = self.query_one("#exec-header", Static)
        error_box = self.query_one("#exec-error", Static)
        outputs = self.query_one("#exec-outputs", Static)
        nodes = self.query_one(NodeProgressList)
        if entry is None:
            header.update(Text("No execution selected. Pick a workflow and press r to run it.", style="dim"))
            error_box.set_class(True, "hidden")
            outputs.set_class(True, "hidden")
            nodes.show(None, [])
            return
        header.update(header_text(entry))
        error = error_renderable(entry)
        error_box.set_class(error is None, "hidden")
        if error is not None:
            error_box.update(error)
        files = entry.execution.output_files
        outputs.set_class(not files, "hidden")
        if files:
            outputs.update(outputs_renderable(files, sizes))
        nodes.show(entry.id, list(entry.nodes.values()))

    def tick(self) -> None:
        """Advance elapsed times while the execution runs."""
        if self.entry is not None and not self.entry.status.is_final and not self.entry.rejected:
            self.query_one("#exec-header", Static).update(header_text(self.entry))
            for row in self.query_one(NodeProgressList).running_rows():
                row.refresh()
