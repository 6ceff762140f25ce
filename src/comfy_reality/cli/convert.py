"""`comfy-reality convert`: a UI-format workflow (the editor's save file) to an API prompt."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from comfy_reality.safe_text import safe_json

from ._common import (
    CliError,
    conversion_option,
    echo,
    run_client_command,
    server_options,
    settings_for,
    setup_logging,
)

if TYPE_CHECKING:
    from comfy_reality.runtime import ComfyUIClient


def load_object_info_file(path: Path) -> Any:
    from comfy_reality.errors import InvalidWorkflowError
    from comfy_reality.workflows import ObjectInfo, read_json_file

    try:
        data = read_json_file(path)
    except InvalidWorkflowError as exc:
        raise CliError(f"cannot use {path} as /object_info: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CliError(
            f"{path} is not an /object_info dump (expected {{class_type: {{input: ...}}}})",
            hint="save one with: curl http://127.0.0.1:8188/object_info > object_info.json",
        )
    return ObjectInfo.from_json(data)


@click.command()
@click.argument("workflow", type=click.Path(path_type=Path))
@click.option(
    "--object-info",
    "object_info_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A saved GET /object_info JSON to convert against (instead of asking a server).",
)
@server_options
@conversion_option
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write here instead of stdout."
)
def convert(
    workflow: Path,
    object_info_path: Path | None,
    server_url: str | None,
    token: str | None,
    correct_frontend_defects: bool | None,
    output: Path | None,
) -> None:
    """Print WORKFLOW as an API prompt ({node_id: {class_type, inputs}}).

    UI-format files need the server's node catalogue (which widget value is which input):
    from --object-info FILE, else from the server. API-format input is printed unchanged.
    """
    from comfy_reality.errors import InvalidWorkflowError
    from comfy_reality.workflows import WorkflowFormat, detect_format, prepare_workflow, read_json_file

    from .run import warn_web_ui_defects

    settings = settings_for(server_url, token, correct_frontend_defects=correct_frontend_defects)
    setup_logging(settings)
    try:
        data = read_json_file(workflow)
    except InvalidWorkflowError as exc:
        raise CliError(str(exc)) from exc
    fmt, reason = detect_format(data)
    if fmt is WorkflowFormat.INVALID:
        raise CliError(f"{workflow} is not a ComfyUI workflow: {reason}")
    object_info = None
    if fmt is WorkflowFormat.UI:
        if object_info_path is not None:
            object_info = load_object_info_file(object_info_path)
        else:
            from comfy_reality.workflows import ObjectInfo

            async def body(client: ComfyUIClient) -> dict[str, Any]:
                return await client.get_object_info()

            try:
                object_info = ObjectInfo.from_json(run_client_command(settings, body))
            except CliError as exc:
                exc.hint = "converting needs the node catalogue: start a server or pass --object-info FILE"
                raise
    try:
        prepared = prepare_workflow(
            data,
            object_info,
            source=str(workflow),
            correct_frontend_defects=settings.correct_frontend_defects,
        )
    except InvalidWorkflowError as exc:
        raise CliError(str(exc)) from exc
    warn_web_ui_defects(str(workflow), prepared.web_ui_defects)
    prompt = prepared.prompt
    text = safe_json(prompt, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)  # JSON text: control characters are already escaped
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from exc
    echo(f"Wrote the API prompt ({len(prompt)} nodes) to {output}.", err=True)
