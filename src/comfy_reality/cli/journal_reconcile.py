"""`comfy-reality journal reconcile`: settle unfinished executions on each server they ran on.

A pool spreads one session's prompts over several servers, and the journal records which server
each ran on; reconcile asks every server it is given (all the configured ones by default) about
its own executions, with that server's credentials, and says which other servers still have
unfinished executions recorded.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from comfy_reality.safe_text import safe_line, safe_text
from comfy_reality.url_secrets import redact_url

from ._common import (
    CliError,
    ExitCode,
    check_server_url,
    echo,
    echo_json,
    error_from_exception,
    json_option,
    settings_for,
    setup_logging,
)
from .journal_files import existing_path, open_journal, path_option

if TYPE_CHECKING:
    from comfy_reality.config import Settings
    from comfy_reality.journal import Journal, JournalEntry, ReconcileReport
    from comfy_reality.runtime import WorkflowExecution
    from comfy_reality.runtime.pool import PoolServer


@dataclass
class Settled:
    """What reconcile made of one execution the journal had as unfinished."""

    entry: JournalEntry  # as recorded before reconcile
    outcome: str  # finished | lost | running | queued | unchecked | unchanged
    status: str  # the status now recorded (or the server's, for a prompt still on its queue)
    detail: str

    def record(self) -> dict[str, Any]:
        return {
            "id": self.entry.id,
            "prompt_id": self.entry.prompt_id,
            "name": self.entry.name,
            "server_url": self.entry.server_url,
            "was": self.entry.status.value,
            "outcome": self.outcome,
            "status": self.status,
            "detail": self.detail or None,
        }


def _settled(
    before: JournalEntry,
    after: JournalEntry | None,
    followed: dict[str, WorkflowExecution],
    report: ReconcileReport,
) -> Settled:
    """Classified by the rows as now recorded, so it holds whatever path reconcile took."""
    from comfy_reality.runtime import TaskStatus

    if after is not None and after.is_final:
        if after.lost:
            return Settled(before, "lost", "lost", after.status_detail or "")
        detail = after.status_detail or ""
        if after.error is not None:
            where = f"node {after.error.node_id}: " if after.error.node_id else ""
            detail = f"{where}{after.error.exception_type}: {after.error.exception_message}"
        elif after.status is TaskStatus.COMPLETED:
            count = len(after.output_files)
            files = f"{count} output file{'s' if count != 1 else ''}"
            detail = f"{files}; {detail}" if detail else files
        return Settled(before, "finished", after.status.value, detail)
    execution = followed.get(before.prompt_id or "")
    if execution is not None:
        running = execution.status is TaskStatus.RUNNING
        where = "running" if running else "queued"
        return Settled(before, where, execution.status.value, f"still {where} on the server")
    problems = [e for e in report.errors if before.prompt_id and before.prompt_id in e]
    if problems or report.unreachable:
        return Settled(before, "unchecked", before.status.value, (problems or [report.unreachable or ""])[0])
    return Settled(before, "unchanged", before.status.value, "left as recorded")


@dataclass
class ServerOutcome:
    """One server's part of a reconcile: what was settled, or why it could not be asked."""

    server: str  # without credentials
    settled: list[Settled] = field(default_factory=list)
    unreachable: str | None = None  # the reason, when the server did not answer


def select_servers(settings: Settings, flags: Sequence[str]) -> list[PoolServer]:
    """The servers to ask: each ``--server`` (a URL, or a NAME of the config's ``[[servers]]``),
    else every configured server (``server_url`` alone without ``[[servers]]``)."""
    from comfy_reality.runtime import Auth
    from comfy_reality.runtime.pool import PoolServer

    configured = [PoolServer.from_entry(entry) for entry in settings.pool_entries()]
    if not flags:
        return configured
    names = {s.name: s for s in configured if s.name}
    by_url = {s.url.rstrip("/"): s for s in configured}
    chosen: list[PoolServer] = []
    for flag in flags:
        if flag in names:
            server = names[flag]
        else:
            url = check_server_url(flag)
            server = by_url.get(url) or PoolServer(url=url, auth=Auth.from_settings(settings))
        if all(server.url.rstrip("/") != s.url.rstrip("/") for s in chosen):
            chosen.append(server)
    return chosen


async def _reconcile_server(
    journal: Journal, server: PoolServer, settings: Settings, *, alone: bool
) -> ServerOutcome:
    """Settle one server's unfinished executions; no connection at all when it has none."""
    from comfy_reality.runtime import ComfyError, ComfyUIAsyncRuntime
    from comfy_reality.runtime.pool import without_userinfo

    url, auth = without_userinfo(server.url, server.auth)
    url = url.rstrip("/")
    pending = await journal.unfinished(url)
    if not pending:
        return ServerOutcome(url)
    runtime = ComfyUIAsyncRuntime(url, auth=auth, timeout=settings.timeout, verify_tls=settings.verify_tls)
    detach = journal.attach(runtime)
    try:
        async with runtime.session():
            # One-shot: prompts still on the server are left running, not followed live.
            report = await journal.reconcile(runtime, follow_live=False)
            followed = {e.prompt_id: e for e in report.followed if e.prompt_id}
            settled = [_settled(row, await journal.get(row.id), followed, report) for row in pending]
    except ComfyError as exc:
        if alone:
            raise
        # One server of several failing leaves the others to be settled.
        unchecked = [Settled(row, "unchecked", row.status.value, str(exc)) for row in pending]
        return ServerOutcome(url, unchecked, unreachable=str(exc))
    finally:
        detach()
    return ServerOutcome(url, settled, unreachable=report.unreachable)


async def _reconcile(
    settings: Settings, servers: list[PoolServer], path: Path | None
) -> tuple[list[ServerOutcome], dict[str, int]]:
    """Every server's outcome, and the unfinished counts of servers that were not asked."""
    journal = await open_journal(path, keep_days=settings.journal_keep_days if path is None else 0)
    try:
        outcomes = [
            await _reconcile_server(journal, server, settings, alone=len(servers) == 1) for server in servers
        ]
        asked = {outcome.server for outcome in outcomes}
        others = {
            url: count
            for url, count in (await journal.unfinished_by_server()).items()
            if url is not None and url not in asked
        }
        return outcomes, others
    finally:
        await journal.close()


_OUTCOME_STYLE = {
    "finished": "green",
    "lost": "yellow",
    "running": "cyan",
    "queued": "cyan",
    "unchecked": "red",
    "unchanged": "dim",
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _counts(settled: Sequence[Settled]) -> dict[str, int]:
    return {outcome: sum(1 for s in settled if s.outcome == outcome) for outcome in _OUTCOME_STYLE}


def _print_table(outcome: ServerOutcome) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=safe_line(f"Unfinished executions on {redact_url(outcome.server)}"), title_justify="left"
    )
    for column in ("Workflow", "Prompt", "Was", "Now", "Detail"):
        table.add_column(column, overflow="fold", no_wrap=column != "Detail")
    for item in outcome.settled:
        now = item.status if item.outcome in ("finished", "lost") else item.outcome
        # Text, not markup: names and server messages may contain [brackets].
        table.add_row(
            safe_line(item.entry.name or item.entry.workflow_id or item.entry.id[:8]),
            safe_line((item.entry.prompt_id or "-")[:8]),  # --json has the whole id
            item.entry.status.value,
            safe_line(now, style=_OUTCOME_STYLE[item.outcome]),
            safe_text(redact_url(item.detail)),
        )
    Console().print(table)
    counts = _counts(outcome.settled)
    summary = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
    echo(f"Reconciled {len(outcome.settled)}: {summary}.")
    if counts["running"] or counts["queued"]:
        echo("Prompts still on the server stay unfinished in the journal; run reconcile again later.")


def _unreachable_line(outcome: ServerOutcome) -> str:
    return (
        f"cannot check {_plural(len(outcome.settled), 'unfinished execution')}: "
        f"{outcome.server} is unreachable ({outcome.unreachable})"
    )


def _print_human(outcomes: list[ServerOutcome], others: dict[str, int]) -> None:
    for outcome in outcomes:
        if outcome.unreachable is not None:
            echo(f"error: {safe_line(redact_url(_unreachable_line(outcome)))}", err=True)
        elif not outcome.settled:
            echo(f"No unfinished executions recorded for {outcome.server}.")
        else:
            _print_table(outcome)
    if others:
        listed = ", ".join(f"{url} ({count})" for url, count in sorted(others.items()))
        echo(
            f"{_plural(sum(others.values()), 'unfinished execution')} recorded for other servers: "
            f"{safe_line(redact_url(listed))}; reconcile them with --server URL."
        )


@click.command(short_help="Ask the servers about executions still recorded as queued or running.")
@click.option(
    "--server",
    "server_flags",
    multiple=True,
    metavar="URL|NAME",
    help=(
        "A server to ask (repeatable; a NAME of the config's [[servers]] works too). "
        "Default: every configured server, COMFYUI_URL, or http://127.0.0.1:8188."
    ),
)
@click.option("--token", metavar="TOKEN", help="API token (default: COMFYUI_TOKEN or the config file).")
@path_option
@json_option
@click.pass_context
def reconcile(
    ctx: click.Context, server_flags: tuple[str, ...], token: str | None, path: Path | None, as_json: bool
) -> None:
    """Settle executions the journal still has as queued or running on a server.

    Earlier runs that stopped before their prompt ended (a killed `run`, a closed TUI) stay
    unfinished in the journal. This asks each server about its own: finished ones get their
    status and outputs from /history, ones the server no longer knows (it restarted) are
    marked lost with the reason, and ones still queued or running are left to finish (run
    reconcile again later). The servers asked are those given with --server, else every
    configured one; executions recorded for other servers are counted, not touched.

    Exit codes: 0 all checked, 1 some could not be checked, 2 invalid usage, 3 server
    unreachable.
    """
    from comfy_reality.runtime import ComfyError

    # One URL is the one-server case, exactly as ever (it replaces COMFYUI_URL and the config's URL).
    single = server_flags[0] if len(server_flags) == 1 and "://" in server_flags[0] else None
    settings = settings_for(single, token)
    setup_logging(settings)
    servers = select_servers(settings, server_flags)
    if path is None and isinstance(ctx.obj, Path):
        path = ctx.obj
    try:
        outcomes, others = asyncio.run(_reconcile(settings, servers, existing_path(path)))
    except ComfyError as exc:
        raise error_from_exception(exc, servers[0].url if servers else settings.server_url) from exc
    unreachable = [o for o in outcomes if o.unreachable is not None]
    if len(outcomes) == 1 and unreachable:  # the one-server case: a plain error, as ever
        raise CliError(
            _unreachable_line(unreachable[0]),
            ExitCode.UNREACHABLE,
            hint="start the server, or point --server / COMFYUI_URL at the one those runs used",
        )
    settled = [item for outcome in outcomes for item in outcome.settled]
    if as_json:
        record: dict[str, Any] = {"server": outcomes[0].server} if len(outcomes) == 1 else {}
        record |= {
            "servers": [o.server for o in outcomes],
            "unreachable": {o.server: o.unreachable for o in unreachable},
            "executions": [s.record() for s in settled],
            "counts": {k: v for k, v in _counts(settled).items() if v},
            "other_servers": others,
        }
        echo_json(record)
    else:
        _print_human(outcomes, others)
    waiting = [o for o in outcomes if o.settled]
    if unreachable and len(unreachable) == len(waiting):
        raise CliError(
            f"no server with unfinished executions answered ({len(unreachable)} unreachable)",
            ExitCode.UNREACHABLE,
            hint="start the servers, or name the reachable ones with --server",
        )
    if unreachable or any(s.outcome == "unchecked" for s in settled):
        sys.exit(int(ExitCode.FAILED))


__all__ = ["ServerOutcome", "Settled", "reconcile", "select_servers"]
