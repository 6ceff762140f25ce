"""`rerun PROMPT_ID` and `history save PROMPT_ID FILE`: a prompt from the server's history, again.

The server's history holds every client's prompts with their values as they ran (a random seed
is already resolved there), so they can be run again (with ``--set`` edits, checked against the
node specs exactly as for `run`) or kept as a local workflow file. ``rerun`` goes through the same
path as ``run``: live progress, journal, downloads, exit codes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from comfy_reality.url_secrets import redact_url

from ._common import (
    CliError,
    ExitCode,
    echo,
    echo_json,
    json_option,
    run_client_command,
    server_options,
    setup_logging,
)
from ._common import settings_for as _settings_for
from .queue_steer import local_server_options

if TYPE_CHECKING:
    from comfy_reality.config import Settings
    from comfy_reality.runtime import ComfyUIClient, HistoryPrompt


def _load(settings: Settings, prompt_id: str) -> HistoryPrompt:
    from comfy_reality.runtime.server_history import history_prompt

    async def body(client: ComfyUIClient) -> HistoryPrompt:
        return await history_prompt(client, prompt_id)

    return run_client_command(settings, body)


@click.command()
@click.argument("prompt_id")
@server_options
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="NODE.INPUT=VALUE",
    help="Change an input before queueing, checked against the node's spec (repeatable).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to save output files (default: the config's output_dir, else the current directory).",
)
@click.option("--no-journal", is_flag=True, help="Do not record this run in the execution journal.")
@json_option
def rerun(
    prompt_id: str,
    server_url: str | None,
    token: str | None,
    assignments: tuple[str, ...],
    output_dir: Path | None,
    no_journal: bool,
    as_json: bool,
) -> None:
    """Run a prompt from the server's history again (any client's), with the values it ran with.

    The web UI's metadata (its graph, so saved images still embed it) goes along; the new run
    is this app's, under a new prompt id. Output and exit codes as for `run`."""
    from .run import Job, RunCommand, parse_assignments

    settings = _settings_for(server_url, token)
    setup_logging(settings)
    overrides = parse_assignments(assignments)
    source = _load(settings, prompt_id)
    name = source.workflow_name or f"rerun of {prompt_id[:8]}"
    job = Job(
        path=Path(f"rerun-{prompt_id}"),
        data=source.prompt,
        extra_data=source.rerun_extra_data() or None,
    )
    command = RunCommand(
        [job],
        settings=settings,
        overrides=overrides,
        output_dir=output_dir or settings.output_dir or Path.cwd(),
        json_mode=as_json or not sys.stdout.isatty(),
        use_journal=not no_journal,
    )
    if not as_json and sys.stdout.isatty():
        echo(f"Re-running {prompt_id} ({name}) on {settings.server_url}.", err=True)
    try:
        code = asyncio.run(command.main())
    except KeyboardInterrupt:
        echo("Interrupted: stopped waiting; the prompt may still be running on the server.", err=True)
        code = ExitCode.INTERRUPTED
    sys.exit(int(code))


@click.command("save")
@click.argument("prompt_id")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--ui",
    "as_ui",
    is_flag=True,
    help="Save the web UI's graph stored with the prompt (extra_pnginfo) instead of the API prompt.",
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@local_server_options
@json_option
@click.pass_context
def history_save(
    ctx: click.Context,
    prompt_id: str,
    file: Path,
    as_ui: bool,
    force: bool,
    server_url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Save the prompt of a history entry (values as they ran) as a local workflow FILE."""
    parent = ctx.obj if isinstance(ctx.obj, dict) else {}
    settings = _settings_for(server_url or parent.get("server_url"), token or parent.get("token"))
    setup_logging(settings)
    if file.exists() and not force:
        raise CliError(f"{file} exists", hint="pass --force to overwrite it")
    source = _load(settings, prompt_id)
    if as_ui:
        pnginfo = source.extra_data.get("extra_pnginfo")
        graph = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
        if not isinstance(graph, dict):
            raise CliError(
                f"prompt {prompt_id} carries no web UI graph", hint="leave out --ui to save its API prompt"
            )
        data = graph
    else:
        data = source.prompt
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {file}: {exc.strerror or exc}") from None
    if as_json:
        echo_json(
            {
                "server": redact_url(settings.server_url),
                "prompt_id": prompt_id,
                "file": file,
                "format": "ui" if as_ui else "api",
            }
        )
    else:
        echo(f"Saved the {'web UI graph' if as_ui else 'API prompt'} of {prompt_id} to {file}.")
