"""`comfy-reality journal`: past executions recorded on this machine (the TUI's History, headless).

Unlike `history`, which asks a server what it still remembers, this reads the local journal:
it outlives server restarts and spans every server used, and it needs no connection.
``journal prune`` forgets old finished executions.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from comfy_reality.safe_text import safe_line, safe_text
from comfy_reality.url_secrets import redact_url

from ._common import (
    CliError,
    echo,
    echo_json,
    json_option,
    setup_logging,
)
from .journal_files import existing_path, open_journal, path_option
from .journal_reconcile import reconcile

if TYPE_CHECKING:
    from comfy_reality.journal import JournalEntry
    from comfy_reality.journal.store import PruneResult

STATUSES = ["pending", "running", "completed", "failed", "cancelled", "lost", "interrupted"]
_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
MAX_AGE = timedelta(days=36_500)  # older_than beyond this cannot be subtracted from today
_DURATION_HELP = "write it as a number and a unit (w, d, h, m, s), for example 30d, 12h, 90m or 1d12h"


def parse_duration(text: str) -> timedelta:
    """``30d`` / ``12h`` / ``90m`` / ``1d12h`` -> a positive timedelta; ValueError says what is wrong."""
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise ValueError(f"an empty duration; {_DURATION_HELP}")
    if compact.replace(".", "", 1).isdigit():
        raise ValueError(
            f"{text!r} has no unit; write {compact}d for days, {compact}h for hours or {compact}m for minutes"
        )
    total = timedelta(0)
    position = 0
    for match in _DURATION_PART.finditer(compact):
        if match.start() != position:
            break
        try:
            total += float(match.group(1)) * _UNITS[match.group(2)]
        except OverflowError:
            total = timedelta.max
        position = match.end()
    if position != len(compact):
        raise ValueError(f"{text!r} is not a duration; {_DURATION_HELP}")
    if total > MAX_AGE:
        raise ValueError(
            f"{text!r} is longer than {MAX_AGE.days} days (a hundred years); to forget every finished "
            "execution use --keep 0"
        )
    if total <= timedelta(0):
        raise ValueError(
            f"{text!r} is no time at all; give a duration above zero (--keep 0 removes "
            "every finished execution)"
        )
    return total


def _duration_option(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def human_size(size: int) -> str:
    """Bytes as a short human figure (1000-based, like `ls -h --si`)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def entry_record(entry: JournalEntry) -> dict[str, Any]:
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


def configured_keep_days() -> int:
    """The config's ``journal_keep_days``; a broken config file is a usage error, as everywhere."""
    from comfy_reality import startup
    from comfy_reality.errors import ConfigError

    try:
        return startup.load().journal_keep_days
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


# ------------------------------------------------------------------------------ listing
async def _read(
    path: Path | None, status: str | None, text: str | None, server: str | None, limit: int, keep_days: int
) -> list[JournalEntry]:
    journal = await open_journal(path, keep_days=keep_days)
    try:
        return await journal.list_executions(status=status, text=text, server=server, limit=limit)
    finally:
        await journal.close()


_LISTING_OPTIONS = {
    "status": "--status",
    "text": "--text",
    "server": "--server",
    "limit": "--limit",
    "as_json": "--json",
}


@click.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(STATUSES), help="Only executions with this outcome.")
@click.option(
    "--text", "text", metavar="WORDS", help="Only executions whose name, ids or error contain WORDS."
)
@click.option("--server", "server", metavar="URL", help="Only executions run on this server.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Newest N executions."
)
@path_option
@json_option
@click.pass_context
def journal(
    ctx: click.Context,
    status: str | None,
    text: str | None,
    server: str | None,
    limit: int,
    path: Path | None,
    as_json: bool,
) -> None:
    """List past executions from the local journal, newest first.

    Recorded by `comfy-reality run` and the TUI, including runs whose server has since
    restarted (shown as lost) and runs whose app stopped while they ran, which nothing has
    settled since (shown as interrupted until `journal reconcile` or the next start asks
    their server). Needs no server. Finished executions older than the config's
    journal_keep_days (default 90, 0 keeps everything) are forgotten when the journal opens;
    `journal prune` forgets more.
    """
    if ctx.invoked_subcommand is not None:
        misplaced = [
            flag
            for name, flag in _LISTING_OPTIONS.items()
            if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
        ]
        if misplaced:
            raise click.UsageError(
                f"{', '.join(misplaced)} {'is' if len(misplaced) == 1 else 'are'} for the listing; put "
                f"options of `journal {ctx.invoked_subcommand}` after its name",
                ctx=ctx,
            )
        ctx.obj = path  # `journal --path FILE prune` works like `journal prune --path FILE`
        return
    setup_logging()
    # Only the app's own journal is bounded: a file named with --path is read as it is.
    keep_days = configured_keep_days() if path is None else 0
    entries = asyncio.run(_read(path, status, text, server, limit, keep_days))
    records = [entry_record(e) for e in entries]
    if as_json:
        echo_json({"executions": records})
        return
    if not records:
        filtered = status or text or server
        echo("No executions match." if filtered else "No executions recorded yet.")
        return
    from rich.console import Console
    from rich.table import Table

    from comfy_reality.durations import format_duration

    table = Table(title=f"Journal (newest {len(records)})", title_justify="left")  # no outside text
    for column in ("Status", "Workflow", "Started", "Duration", "Outputs", "Server / error"):
        # Names and times stay whole; the last column folds when the terminal is narrow.
        table.add_column(column, overflow="fold", no_wrap=column != "Server / error")
    for r, e in zip(records, entries, strict=True):
        started = (e.started_at or e.created_at).astimezone().strftime("%m-%d %H:%M:%S")
        note = redact_url(e.server_url or "?").split("://", 1)[-1]
        if r["error"]:
            note += f"\nnode {r['error']['node_id']}: {r['error']['exception_type']}: {r['error']['exception_message']}"
        elif r["status"] == "lost" and e.status_detail:
            note += f"\n{e.status_detail}"
        elif r["status"] == "interrupted":
            note += (
                "\ninterrupted: its app stopped during it; `journal reconcile` asks this server how it ended"
            )
        # Text, never markup; control characters from the server or file made visible.
        table.add_row(
            safe_line(r["status"]),
            safe_line(e.name or e.workflow_id or e.id[:8]),
            started,
            format_duration(r["duration"]) if r["duration"] is not None else "",
            str(len(e.output_files)),
            safe_text(note),
        )
    Console().print(table)


# -------------------------------------------------------------------------------- prune
async def _prune(
    path: Path | None, older_than: timedelta | None, keep: int | None, dry_run: bool
) -> tuple[Path, PruneResult, int, int, str | None]:
    """Prune, then compact when something went; returns path, result, sizes and a vacuum problem."""
    from comfy_reality.journal import JournalError

    journal = await open_journal(path)
    try:
        before = await journal.file_size()
        try:
            result = await journal.prune(older_than=older_than, keep=keep, dry_run=dry_run)
        except JournalError as exc:
            raise CliError(str(exc)) from None
        problem = None
        if result.executions and not dry_run:
            try:
                await journal.vacuum()
            except JournalError as exc:
                problem = exc.problem
        return journal.path, result, before, await journal.file_size(), problem
    finally:
        await journal.close()


def format_age(delta: timedelta) -> str:
    """A duration in the units --older-than takes: ``30d``, ``1d12h``, ``1h30m``."""
    seconds = int(delta.total_seconds())
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _bounds_text(older_than: timedelta | None, keep: int | None) -> str:
    parts = []
    if older_than is not None:
        parts.append(f"created more than {format_age(older_than)} ago")
    if keep is not None:
        parts.append(f"beyond the newest {keep}")
    return " or ".join(parts)


@journal.command(short_help="Forget old finished executions (--older-than AGE, --keep N).")
@click.option(
    "--older-than",
    "older_than",
    metavar="AGE",
    callback=_duration_option,
    help="Forget finished executions created more than AGE ago: 30d, 12h, 90m, 2w, 1d12h.",
)
@click.option(
    "--keep", type=click.IntRange(min=0), metavar="N", help="Keep only the newest N finished executions."
)
@click.option("--dry-run", is_flag=True, help="Only count what would be forgotten; change nothing.")
@path_option
@json_option
@click.pass_context
def prune(
    ctx: click.Context,
    older_than: timedelta | None,
    keep: int | None,
    dry_run: bool,
    path: Path | None,
    as_json: bool,
) -> None:
    """Forget finished executions (and their nodes) from the local journal.

    With both --older-than and --keep, an execution goes when it breaks either bound.
    With neither, the config's journal_keep_days (default 90) is the bound. Executions
    still queued or running when last seen always stay: settle them with
    `comfy-reality journal reconcile`. The file is compacted when anything was removed.
    """
    setup_logging()
    if path is None and isinstance(ctx.obj, Path):
        path = ctx.obj
    if older_than is None and keep is None:
        days = configured_keep_days()
        if days == 0:
            raise CliError(
                "nothing to prune by: journal_keep_days is 0 in the config (keep everything)",
                hint="give --older-than AGE (for example 30d) or --keep N",
            )
        older_than = timedelta(days=days)
    journal_path, result, before, after, vacuum_problem = asyncio.run(
        _prune(existing_path(path), older_than, keep, dry_run)
    )
    if as_json:
        echo_json(
            {
                "path": journal_path,
                "dry_run": dry_run,
                "removed": {"executions": result.executions, "nodes": result.nodes},
                "size_before": before,
                "size_after": after,
                "compacted": bool(result.executions) and not dry_run and vacuum_problem is None,
            }
        )
    else:
        bounds = _bounds_text(older_than, keep)
        what = (
            f"{result.executions} finished execution{'s' if result.executions != 1 else ''} "
            f"({result.nodes} node row{'s' if result.nodes != 1 else ''}) {bounds}"
        )
        if dry_run:
            echo(f"Would forget {what}; nothing changed (--dry-run).")
            echo(f"Journal {journal_path}: {human_size(before)}.")
        elif result.executions:
            echo(f"Forgot {what}.")
            echo(f"Journal {journal_path}: {human_size(before)} -> {human_size(after)}.")
        else:
            echo(f"Nothing to forget: no finished execution {bounds}.")
            echo(f"Journal {journal_path}: {human_size(before)}.")
    if vacuum_problem is not None:
        echo(
            f"warning: the file was not compacted ({vacuum_problem}); the space is reused by new "
            "executions, or run prune again when no other comfy-reality uses the journal",
            err=True,
        )


journal.add_command(reconcile)

__all__ = ["entry_record", "human_size", "journal", "open_journal", "parse_duration"]
