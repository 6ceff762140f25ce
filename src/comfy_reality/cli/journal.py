"""`comfy-reality journal`: past executions recorded on this machine (the TUI's History, headless).

Unlike `history`, which asks a server what it still remembers, this reads the local journal:
it outlives server restarts and spans every server used, and it needs no connection.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from ._common import CliError, echo_json, json_option, setup_logging

STATUSES = ["pending", "running", "completed", "failed", "cancelled", "lost"]


def entry_record(entry: Any) -> dict[str, Any]:
    """A journal entry as a flat record for --json (stable keys, ISO times)."""
    error = entry.error
    return {
        "id": entry.id,
        "prompt_id": entry.prompt_id,
        "name": entry.name,
        "workflow_id": entry.workflow_id,
        "server": entry.server_url,
        "status": entry.display_status,
        "status_detail": entry.status_detail,
        "created_at": entry.created_at.isoformat(),
        "started_at": entry.started_at.isoformat() if entry.started_at else None,
        "completed_at": entry.completed_at.isoformat() if entry.completed_at else None,
        "duration": None if entry.lost else entry.duration,
        "nodes": entry.node_count,
        "outputs": [f.model_dump() for f in entry.output_files],
        "error": (
            {
                "node_id": error.node_id,
                "node_type": error.node_type,
                "exception_type": error.exception_type,
                "exception_message": error.exception_message,
            }
            if error is not None
            else None
        ),
        "retry_of": entry.retry_of,
    }


async def _read(path: Path | None, status: str | None, text: str | None, server: str | None, limit: int) -> Any:
    from comfy_reality.journal import Journal, JournalError

    try:
        journal = await Journal.open(path)
    except JournalError as exc:
        raise CliError(str(exc)) from None
    try:
        return await journal.list_executions(status=status, text=text, server=server, limit=limit)
    finally:
        await journal.close()


@click.command()
@click.option("--status", type=click.Choice(STATUSES), help="Only executions with this outcome.")
@click.option("--text", "text", metavar="WORDS", help="Only executions whose name, ids or error contain WORDS.")
@click.option("--server", "server", metavar="URL", help="Only executions run on this server.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Newest N executions.")
@click.option(
    "--path",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Journal file to read (default: journal.sqlite3 in the app's data directory).",
)
@json_option
def journal(
    status: str | None, text: str | None, server: str | None, limit: int, path: Path | None, as_json: bool
) -> None:
    """List past executions from the local journal, newest first.

    Recorded by `comfy-reality run` and the TUI, including runs whose server has since
    restarted (shown as lost). Needs no server.
    """
    setup_logging()
    entries = asyncio.run(_read(path, status, text, server, limit))
    records = [entry_record(e) for e in entries]
    if as_json:
        echo_json({"executions": records})
        return
    if not records:
        filtered = status or text or server
        click.echo("No executions match." if filtered else "No executions recorded yet.")
        return
    from rich.console import Console
    from rich.table import Table

    from comfy_reality.runtime.printer import format_duration

    table = Table(title=f"Journal (newest {len(records)})", title_justify="left")
    for column in ("Status", "Workflow", "Started", "Duration", "Outputs", "Server / error"):
        # Names and times stay whole; the last column folds when the terminal is narrow.
        table.add_column(column, overflow="fold", no_wrap=column != "Server / error")
    for r, e in zip(records, entries, strict=True):
        started = (e.started_at or e.created_at).astimezone().strftime("%m-%d %H:%M:%S")
        note = (e.server_url or "?").split("://", 1)[-1]
        if r["error"]:
            note += f"\nnode {r['error']['node_id']}: {r['error']['exception_type']}: {r['error']['exception_message']}"
        elif r["status"] == "lost" and e.status_detail:
            note += f"\n{e.status_detail}"
        table.add_row(
            r["status"], e.name or e.workflow_id or e.id[:8], started,
            format_duration(r["duration"]) if r["duration"] is not None else "",
            str(len(e.output_files)), note,
        )
    Console().print(table)


__all__ = ["entry_record", "journal"]
