"""What History shows of one execution: its status mark, how long ago and how long it ran, and the
details pane's full description (what, when, why it failed, files, nodes)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text

from ...journal import JournalEntry
from ...journal.rows import interrupted_text
from ...safe_text import made_safe
from ...url_secrets import redact_url
from .. import format as fmt

HISTORY_ICON = {**fmt.STATUS_ICON, "lost": "?", "interrupted": "◌"}
HISTORY_STYLE = {**fmt.RICH_STATUS_STYLE, "lost": "bold magenta", "interrupted": "magenta"}
HEADLINE = {
    "completed": "completed in {duration}",
    "failed": "failed after {duration}",
    "cancelled": "cancelled after {duration}",
    "running": "running for {duration}",
    "pending": "queued",
    "lost": "lost",
    "interrupted": "interrupted",
}


def ago(moment: datetime | None, now: datetime, tz: tzinfo | None = None) -> str:
    """At most 8 characters: ``12s ago``, ``5m ago``, ``3h ago``, ``6d ago``, ``Mar 14``, ``Mar 2025``.

    Older than a week, the date (in ``tz``, None: local time) says more than a count of days.
    """
    if moment is None:
        return "–"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    if seconds < 7 * 86400:
        return f"{seconds // 86400}d ago"
    local = moment.astimezone(tz)
    return local.strftime("%b %d") if local.year == now.astimezone(tz).year else local.strftime("%b %Y")


def traceback_tail(traceback: list[str], lines: int = 6) -> list[str]:
    """The last lines of a server traceback, without the ``^^^^`` markers that only fill the narrow pane."""
    kept = [
        line.rstrip()
        for item in traceback
        for line in item.splitlines()
        if line.strip() and not set(line.strip()) <= set("^~")
    ]
    return kept[-lines:]


def status_text(state: str) -> Text:
    return Text(HISTORY_ICON.get(state, "?"), style=HISTORY_STYLE.get(state, ""))


def duration_text(entry: JournalEntry) -> str:
    """How long it ran (``…`` while it still runs); ``–`` when unknown, lost or interrupted."""
    if entry.lost or (entry.interrupted and not entry.is_final):
        return "–"  # its end is when we noticed (or unknown), not when it stopped
    if entry.duration is not None:
        return fmt.duration(entry.duration)
    if not entry.is_final and entry.started_at is not None:
        return fmt.duration(max(0.0, (fmt.now() - entry.started_at).total_seconds())) + "…"
    return "–"


def when_text(moment: datetime | None, tz: tzinfo | None) -> str:
    """A time of day today, the date too otherwise, in ``tz`` (None: local time)."""
    if moment is None:
        return "–"
    local = moment.astimezone(tz)
    today = fmt.now().astimezone(tz).date()
    return local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")


def span_text(start: datetime, end: datetime, tz: tzinfo | None) -> str:
    """``14:40:00–14:40:12``: the end's date only when it differs from the start's."""
    first, last = start.astimezone(tz), end.astimezone(tz)
    if first.date() != last.date():
        return f"{when_text(start, tz)}–{when_text(end, tz)}"
    today = first.date() == fmt.now().astimezone(tz).date()
    return f"{when_text(start, tz)}–{last.strftime('%H:%M:%S' if today else '%H:%M')}"


def describe(entry: JournalEntry, tz: tzinfo | None) -> Text:
    """Everything recorded about one execution, most wanted first: what, when, why it failed, files, nodes."""
    state = entry.display_status
    out = Text()
    out.append_text(status_text(state))
    out.append(f" {entry.name or entry.workflow_id or 'untitled'}", style="bold")
    headline = HEADLINE.get(state, state).format(duration=duration_text(entry).rstrip("…"))
    out.append(f"  {headline}", style=HISTORY_STYLE.get(state, ""))
    moment = entry.started_at or entry.created_at
    out.append(f"  {ago(moment, fmt.now(), tz)}\n", style="dim")
    facts = [
        ("prompt", entry.prompt_id or "never confirmed by the server"),
        ("server", redact_url(entry.server_url or "?")),
        ("execution", entry.id),
    ]
    if entry.retry_of:
        facts.append(("retry of", entry.retry_of))
    times = f"queued {when_text(entry.created_at, tz)}"
    if entry.started_at is not None and entry.completed_at is not None and not entry.lost:
        times += f" · ran {span_text(entry.started_at, entry.completed_at, tz)}"
    elif entry.started_at is not None:
        times += f" · started {when_text(entry.started_at, tz)}"
    if state == "interrupted":
        times += f" · last heard {when_text(entry.updated_at, tz)}"
    facts.append(("times", times))
    for label, value in facts:
        out.append(f"{label:>9} ", style="dim")
        out.append(f"{value}\n")
    if entry.lost:
        detail = entry.status_detail or "lost: the server no longer knows this prompt"
        out.append("\n")
        out.append(detail if detail.startswith("lost") else f"lost: {detail}", style="bold magenta")
        out.append("\n")
    elif state == "interrupted":
        out.append("\n")
        out.append(interrupted_text(entry, redact_url(entry.server_url or "?")), style="magenta")
        out.append("\n")
    elif entry.status_detail and entry.error is None:
        out.append(f"\n{entry.status_detail}\n", style="italic")
    if entry.error is not None:
        error = entry.error
        out.append("\nError: ", style="bold red")
        out.append(f"{error.exception_type}: {error.exception_message}\n", style="red")
        if error.node_id is not None:
            failing = next((n for n in entry.nodes if n.node_id == error.node_id), None)
            name = failing.name if failing and failing.name else f"{error.node_type or '?'} #{error.node_id}"
            out.append(f"  failing node: {name}\n", style="red")
        for line in traceback_tail(error.traceback):
            out.append(f"  {line}\n", style="dim")
    if entry.node_errors:
        out.append("\nRejected inputs:\n", style="bold red")
        for node_id, info in entry.node_errors.items():
            errors = info.get("errors", []) if isinstance(info, dict) else []
            for err in errors or [{}]:
                message = err.get("message", "invalid") if isinstance(err, dict) else str(err)
                details = err.get("details", "") if isinstance(err, dict) else ""
                out.append(f"  #{node_id}: {message}{(': ' + details) if details else ''}\n", style="red")
    if entry.output_files:
        out.append(f"\nOutputs ({len(entry.output_files)}):\n", style="bold green")
        for file in entry.output_files:
            where = f"{file.subfolder}/{file.filename}" if file.subfolder else file.filename
            out.append(f"  {where}", style="green")
            out.append(f"  ({file.type}, node #{file.node_id})\n", style="dim")
    elif entry.is_final and not entry.lost:
        out.append("\nNo output files.\n", style="dim")
    if entry.nodes:
        out.append(f"\nNodes ({len(entry.nodes)}):\n", style="bold")
        for node in entry.nodes:
            node_state = "cached" if node.cached and node.status.value == "completed" else node.status.value
            out.append("  ")
            out.append_text(status_text(node_state))
            out.append(f" {node.name or f'{node.class_type} #{node.node_id}'}")
            extra = node.error or node.status_detail
            if node_state == "cached":
                extra = "cached"
            elif node.max and node.value is not None and node.status.value != "completed":
                extra = f"{fmt.number(node.value)}/{fmt.number(node.max)}" + (f"  {extra}" if extra else "")
            if extra:
                out.append(f"  {extra}", style="dim")
            out.append("\n")
    out.rstrip()
    # Names, errors, tracebacks and file names come from the server and files: made inert here.
    return made_safe(out)
