"""`comfy-reality validate`: check workflow files before queueing them.

Local checks always run (readable JSON, a known format, links that point at existing nodes,
no dependency cycle). When a server answers, each prompt is also checked against its
/object_info with the server's own rules and wording, without queueing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._common import (
    CliError,
    ExitCode,
    conversion_option,
    echo,
    echo_json,
    json_option,
    run_client_command,
    server_options,
    settings_for,
    setup_logging,
)

if TYPE_CHECKING:
    from comfy_reality.runtime import ComfyUIClient


@dataclass
class Verdict:
    path: Path
    format: str | None = None
    nodes: int | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked_against: str | None = None
    web_ui_defects: list[str] = field(
        default_factory=list
    )  # where the web UI's conversion differs from the graph

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow": str(self.path),
            "format": self.format,
            "nodes": self.nodes,
            "valid": self.valid,
            "errors": self.errors,
            "notes": self.notes,
            "checked_against": self.checked_against,
            "web_ui_defects": self.web_ui_defects,
        }


def graph_problems(prompt: dict[str, Any]) -> list[str]:
    """Links to missing nodes or bad output slots, and dependency cycles (no catalogue needed)."""
    from comfy_reality.workflows.graph import find_cycle, iter_links

    problems: list[str] = []
    for node_id, name, source, slot in iter_links(prompt):
        class_type = prompt[node_id].get("class_type", "?")
        if source not in prompt:
            problems.append(
                f"node {node_id} ({class_type}): {name}: links to node {source}, which is not in the workflow"
            )
        elif slot < 0:
            problems.append(f"node {node_id} ({class_type}): {name}: output index {slot} is negative")
    cycle = find_cycle(prompt)
    if cycle:
        problems.append(f"dependency cycle: {' -> '.join(cycle)}")
    return problems


def check_file(
    path: Path, object_info: Any, server_url: str | None, *, correct_frontend_defects: bool = False
) -> Verdict:
    from comfy_reality.errors import InvalidWorkflowError
    from comfy_reality.workflows import WorkflowFormat, detect_format, prepare_workflow, read_json_file
    from comfy_reality.workflows.validate import validate_prompt

    verdict = Verdict(path)
    try:
        data = read_json_file(path)
    except InvalidWorkflowError as exc:
        verdict.errors.append(str(exc))
        return verdict
    fmt, reason = detect_format(data)
    if fmt is WorkflowFormat.INVALID:
        verdict.errors.append(f"not a ComfyUI workflow: {reason}")
        return verdict
    verdict.format = fmt.value
    if fmt is WorkflowFormat.UI and object_info is None:
        verdict.nodes = len(data.get("nodes", []))
        verdict.notes.append(
            "UI format: only its structure was checked (converting it needs a server's /object_info)"
        )
        return verdict
    try:
        prepared = prepare_workflow(
            data, object_info, source=str(path), correct_frontend_defects=correct_frontend_defects
        )
    except InvalidWorkflowError as exc:
        verdict.errors.append(str(exc))
        return verdict
    prompt = prepared.prompt
    verdict.web_ui_defects = prepared.web_ui_defects
    if verdict.web_ui_defects:
        verdict.notes.append(
            "the web UI converts this workflow differently from how its graph is drawn "
            "(--fix-frontend-defects checks it as drawn):"
        )
        verdict.notes.extend(f"  {defect}" for defect in verdict.web_ui_defects)
    verdict.nodes = len(prompt)
    verdict.errors.extend(graph_problems(prompt))
    if object_info is not None:
        verdict.checked_against = server_url
        report = validate_prompt(prompt, object_info)
        for line in report.messages():
            if line not in verdict.errors:
                verdict.errors.append(line)
    return verdict


@click.command()
@click.argument("workflows", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="WORKFLOW...")
@server_options
@conversion_option
@click.option("--offline", is_flag=True, help="Only the local checks; do not ask any server.")
@json_option
def validate(
    workflows: tuple[Path, ...],
    server_url: str | None,
    token: str | None,
    correct_frontend_defects: bool | None,
    offline: bool,
    as_json: bool,
) -> None:
    """Check WORKFLOW files: JSON, format, graph links and, if a server answers, every input.

    The server check uses its /object_info and reports each problem the way the server
    would reject the prompt (node 3 (KSampler): steps: Value 0 smaller than min of 1),
    without queueing anything. Exit 0 when every file is valid, 2 otherwise.
    """
    settings = settings_for(server_url, token, correct_frontend_defects=correct_frontend_defects)
    setup_logging(settings)
    object_info = None
    note: str | None = None
    if not offline:
        from comfy_reality.workflows import ObjectInfo

        async def body(client: ComfyUIClient) -> dict[str, Any]:
            return await client.get_object_info()

        try:
            object_info = ObjectInfo.from_json(run_client_command(settings, body))
        except CliError as exc:
            # A server that is down or misbehaving is not the workflow's fault: check locally.
            if exc.exit_code == ExitCode.UNREACHABLE:
                note = f"{settings.server_url} is not reachable: checked locally only"
            else:
                note = f"cannot use the /object_info of {settings.server_url} ({exc.format_message()}): checked locally only"
    verdicts = [
        check_file(
            path,
            object_info,
            settings.server_url if object_info is not None else None,
            correct_frontend_defects=settings.correct_frontend_defects,
        )
        for path in workflows
    ]
    if note:
        for verdict in verdicts:
            verdict.notes.append(note)
    if as_json:
        echo_json({"valid": all(v.valid for v in verdicts), "workflows": [v.as_json() for v in verdicts]})
    else:
        if note:
            echo(f"warning: {note}", err=True)
        for verdict in verdicts:
            where = (
                f", checked against {verdict.checked_against}"
                if verdict.checked_against
                else ", checked locally"
            )
            size = f", {verdict.nodes} nodes" if verdict.nodes is not None else ""
            kind = f"{verdict.format.upper()} format" if verdict.format else "unreadable"
            if verdict.valid:
                echo(f"✓ {verdict.path}: valid ({kind}{size}{where})")
            else:
                echo(f"✗ {verdict.path}: {len(verdict.errors)} problem(s) ({kind}{size}{where})", err=True)
                for line in verdict.errors:
                    echo(f"  {line}", err=True)
            for line in verdict.notes:
                if line != note:
                    echo(f"  note: {line}", err=not verdict.valid)
    raise SystemExit(ExitCode.OK if all(v.valid for v in verdicts) else ExitCode.INVALID)
