"""`queue delete / clear / move`: steer every client's prompts on a server.

ComfyUI answers 200 to every queue change whatever happened, so each command re-reads the queue
and says what really changed. A move keeps the prompt id (delete + re-queue with the same id,
prompt and extra_data: see :mod:`comfy_reality.runtime.server_queue`). Which client ids are
this app's comes from the journal: ``clear --mine`` drops only prompts this app queued.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from comfy_reality.url_secrets import redact_url

from ._common import (
    CliError,
    ExitCode,
    echo,
    echo_json,
    json_option,
    run_client_command,
    settings_for,
    setup_logging,
)

if TYPE_CHECKING:
    from comfy_reality.config import Settings
    from comfy_reality.runtime import ComfyUIClient, DeleteReport, MoveReport, ServerQueue

JOURNAL_SCAN = 5000  # newest journal rows read to learn this app's client ids and prompt names


async def app_prompts(server_url: str) -> tuple[set[str], dict[str, str]]:
    """Client ids this app used on ``server_url`` and the names of its prompts, from the journal
    (nothing when there is no journal yet: a listing never creates one)."""
    from comfy_reality import paths
    from comfy_reality.journal import Journal

    if not paths.journal_file().is_file():
        return set(), {}
    journal, _ = await Journal.open_or_disabled()
    if journal is None:
        return set(), {}
    try:
        rows = await journal.list_executions(server=server_url, limit=JOURNAL_SCAN)
    finally:
        await journal.close()
    ids = {row.client_id for row in rows if row.client_id}
    names = {row.prompt_id: row.name for row in rows if row.prompt_id and row.name}
    return ids, names


async def server_queue(client: ComfyUIClient) -> ServerQueue:
    """The whole-queue view of ``client``'s server, knowing this app's prompts from the journal."""
    from comfy_reality.runtime import ServerQueue

    ids, names = await app_prompts(client.server_url)
    return ServerQueue(client, app_client_ids=ids, name_of=names.get)


def _settings(ctx: click.Context, server_url: str | None, token: str | None) -> Settings:
    parent = ctx.obj if isinstance(ctx.obj, dict) else {}
    settings = settings_for(server_url or parent.get("server_url"), token or parent.get("token"))
    setup_logging(settings)
    return settings


def local_server_options(func: Any) -> Any:
    func = click.option("--token", metavar="TOKEN", help="API token (default: as for `queue`).")(func)
    return click.option("--server", "server_url", metavar="URL", help="ComfyUI server URL.")(func)


def _report_delete(server: str, report: DeleteReport, as_json: bool, what: str) -> None:
    if as_json:
        echo_json({"server": redact_url(server), **report.model_dump()})
    else:
        echo(f"{what} {len(report.deleted)} prompt(s) on {server}.")
        for prompt_id in report.deleted:
            echo(f"  deleted    {prompt_id}")
        for prompt_id in report.running:
            echo(f"  running    {prompt_id} (left alone: `comfy-reality interrupt {prompt_id}` stops it)")
        for prompt_id in report.not_found:
            echo(f"  not queued {prompt_id}")


@click.command()
@local_server_options
@click.argument("prompt_ids", nargs=-1, required=True)
@json_option
@click.pass_context
def delete(
    ctx: click.Context, server_url: str | None, token: str | None, prompt_ids: tuple[str, ...], as_json: bool
) -> None:
    """Delete pending prompts (of any client) by id; a running one is left alone and named."""
    settings = _settings(ctx, server_url, token)

    async def body(client: ComfyUIClient) -> DeleteReport:
        return await (await server_queue(client)).delete(prompt_ids)

    report = run_client_command(settings, body)
    _report_delete(settings.server_url, report, as_json, "Deleted")
    if report.running or report.not_found:
        ctx.exit(int(ExitCode.FAILED))


@click.command()
@local_server_options
@click.option("--mine", is_flag=True, help="Only prompts this app queued (any of its instances).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask first.")
@json_option
@click.pass_context
def clear(
    ctx: click.Context, server_url: str | None, token: str | None, mine: bool, yes: bool, as_json: bool
) -> None:
    """Drop the pending prompts of every client (or only this app's); the running one stays."""
    settings = _settings(ctx, server_url, token)
    whose = "this app's pending prompts" if mine else "EVERY client's pending prompts"
    if not yes:
        if not sys.stdin.isatty():
            raise CliError(
                f"not clearing {whose} on {redact_url(settings.server_url)} without confirmation",
                hint="pass --yes to clear without asking",
            )
        click.confirm(f"Clear {whose} on {redact_url(settings.server_url)}?", abort=True, err=True)

    async def body(client: ComfyUIClient) -> DeleteReport:
        return await (await server_queue(client)).clear(only_app=mine)

    report = run_client_command(settings, body)
    _report_delete(settings.server_url, report, as_json, "Cleared")


@click.command()
@local_server_options
@click.argument("prompt_id")
@click.option("--front", "to", flag_value="front", help="Run it next.")
@click.option("--up", "to", flag_value="up", help="One place earlier.")
@click.option("--down", "to", flag_value="down", help="One place later.")
@click.option("--before", "before", metavar="ID", help="Just before this pending prompt.")
@click.option("--after", "after", metavar="ID", help="Just after this pending prompt.")
@json_option
@click.pass_context
def move(
    ctx: click.Context,
    server_url: str | None,
    token: str | None,
    prompt_id: str,
    to: str | None,
    before: str | None,
    after: str | None,
    as_json: bool,
) -> None:
    """Move a pending prompt; it keeps its prompt id, and its owner still receives its progress.

    ComfyUI has no move: the prompt is deleted and queued again with the same id, prompt and
    extra_data. If it starts running meanwhile it is left alone and that is reported."""
    chosen = [c for c in (to, before and "before", after and "after") if c]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --front, --up, --down, --before ID, --after ID")
    target = chosen[0]
    anchor = before or after
    settings = _settings(ctx, server_url, token)

    async def body(client: ComfyUIClient) -> MoveReport:
        return await (await server_queue(client)).move(prompt_id, target, anchor)  # type: ignore[arg-type]

    report = run_client_command(settings, body)
    if as_json:
        echo_json({"server": redact_url(settings.server_url), **report.model_dump(exclude_none=True)})
    elif report.outcome == "moved":
        echo(f"Moved {prompt_id} to position {report.position} on {settings.server_url} (same prompt id).")
    elif report.outcome == "unchanged":
        echo(f"{prompt_id} stays where it is: {report.detail}.")
    else:
        echo(f"{prompt_id} not moved ({report.outcome}): {report.detail}.", err=True)
        if report.prompt is not None:
            from ._common import dumps

            echo("Its prompt, to queue it again yourself:", err=True)
            echo(dumps({"prompt": report.prompt, "extra_data": report.extra_data}), err=True)
    if not report.ok:
        ctx.exit(int(ExitCode.FAILED))
