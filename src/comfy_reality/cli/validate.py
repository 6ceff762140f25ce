"""`comfy-reality validate`: check workflow files before queueing them.

Local checks always run (readable JSON, a known format, links that point at existing nodes,
no dependency cycle). Every input is then checked with the server's own rules and wording,
without queueing anything, against a catalogue of node types: the server's /object_info when it
answers (remembered for later), else the last one remembered for that server, else the one
bundled with comfy-reality. The output says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    from comfy_reality.workflows import ObjectInfo
    from comfy_reality.workflows.validate import ValidationReport


@dataclass
class Catalogue:
    """The node types the inputs were checked against, and where they came from."""

    object_info: ObjectInfo
    source: str  # "server" (asked now), "cache" (its last known answer) or "bundled"
    server_url: str | None = None
    fetched_at: datetime | None = None

    def describe(self) -> str:
        if self.source == "server":
            return f"checked against {self.server_url}"
        if self.source == "cache":
            when = f", fetched {self.fetched_at:%Y-%m-%d %H:%M} UTC" if self.fetched_at else ""
            return f"checked against the last known catalogue of {self.server_url}{when}"
        return "checked against the bundled catalogue (ComfyUI's core nodes; no custom nodes)"

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "server_url": self.server_url,
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "node_types": len(self.object_info),
        }


def saved_catalogue(server_url: str) -> Catalogue:
    """Offline: the server's last known /object_info (the app and `validate` remember it), else the bundled one."""
    from comfy_reality.workflows import ObjectInfo, ObjectInfoCache, packaged_object_info

    entry = ObjectInfoCache().load(server_url)
    if entry is not None:
        return Catalogue(ObjectInfo(entry.object_info), "cache", server_url, entry.fetched_at)
    return Catalogue(packaged_object_info(), "bundled")


def remember_catalogue(server_url: str, raw: dict[str, Any]) -> Catalogue:
    from comfy_reality.workflows import ObjectInfo, ObjectInfoCache

    try:
        info, _changed = ObjectInfoCache().store(server_url, raw)
    except OSError:  # no usable cache dir: this check still uses the fresh answer
        info = ObjectInfo(raw)
    return Catalogue(info, "server", server_url)


@dataclass
class Verdict:
    path: Path
    format: str | None = None
    nodes: int | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked_against: str | None = None  # the live server's URL (None: it was not asked)
    catalogue: Catalogue | None = None
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
            "catalogue": self.catalogue.as_json() if self.catalogue else None,
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


def for_people(report: ValidationReport, catalogue: Catalogue) -> ValidationReport:
    """The verdict in words for people (the server's own dicts stay as they are): a bad choice names
    close matches; with the bundled catalogue, a choice among a server's files (unknown there) is not judged."""
    from comfy_reality.validation.specs import choice_hint

    node_errors: dict[str, Any] = {}
    for node_id, entry in report.node_errors.items():
        class_type = entry.get("class_type") if isinstance(entry, dict) else None
        if not isinstance(class_type, str) or class_type not in catalogue.object_info:
            node_errors[node_id] = entry
            continue
        kept: list[dict[str, Any]] = []
        for error in entry.get("errors", []):
            info = error.get("extra_info") or {}
            spec = catalogue.object_info.input_spec(class_type, str(info.get("input_name")))
            if error.get("type") == "value_not_in_list" and spec is not None and spec.choices is not None:
                if not spec.choices and catalogue.source == "bundled":
                    continue
                value = info.get("received_value")
                words = f"{spec.name}: {value!r} is not a choice; {choice_hint(value, spec.choices)}"
                error = {**error, "message": words, "details": ""}
            kept.append(error)
        if kept:
            node_errors[node_id] = {**entry, "errors": kept}
    error = report.error
    if not node_errors and error is not None and error.get("type") == "prompt_outputs_failed_validation":
        error = None
    return report.model_copy(update={"node_errors": node_errors, "error": error})


def check_file(path: Path, catalogue: Catalogue | None, *, correct_frontend_defects: bool = False) -> Verdict:
    from comfy_reality.errors import InvalidWorkflowError
    from comfy_reality.workflows import WorkflowFormat, detect_format, prepare_workflow, read_json_file
    from comfy_reality.workflows.validate import validate_prompt

    verdict = Verdict(path)
    object_info = catalogue.object_info if catalogue is not None else None
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
    if catalogue is None or object_info is None:
        return verdict
    verdict.catalogue = catalogue
    verdict.checked_against = catalogue.server_url if catalogue.source == "server" else None
    report = for_people(validate_prompt(prompt, object_info), catalogue)
    if catalogue.source == "bundled" and report.unknown_class_types:
        # Likely custom nodes the bundled catalogue cannot know: not the workflow's fault.
        names = ", ".join(sorted(report.unknown_class_types))
        verdict.notes.append(
            f"node types not in the bundled catalogue: {names}; the inputs were not checked "
            "(check against the server that has them)"
        )
        return verdict
    for line in report.messages():
        if line not in verdict.errors:
            verdict.errors.append(line)
    return verdict


@click.command()
@click.argument("workflows", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="WORKFLOW...")
@server_options
@conversion_option
@click.option(
    "--offline",
    is_flag=True,
    help="Do not ask the server: check against its last known catalogue, else the bundled one.",
)
@json_option
def validate(
    workflows: tuple[Path, ...],
    server_url: str | None,
    token: str | None,
    correct_frontend_defects: bool | None,
    offline: bool,
    as_json: bool,
) -> None:
    """Check WORKFLOW files: JSON, format, graph links and every input.

    Inputs are checked against the server's /object_info and each problem is reported the way
    the server would reject the prompt (node 3 (KSampler): steps: Value 0 smaller than min of 1),
    without queueing anything. When the server is not asked (--offline) or does not answer, its
    last known catalogue is used, else the bundled one; the output names which.
    Exit 0 when every file is valid, 2 otherwise.
    """
    settings = settings_for(server_url, token, correct_frontend_defects=correct_frontend_defects)
    setup_logging(settings)
    catalogue: Catalogue | None = None
    note: str | None = None
    if not offline:

        async def body(client: ComfyUIClient) -> dict[str, Any]:
            return await client.get_object_info()

        try:
            catalogue = remember_catalogue(settings.server_url, run_client_command(settings, body))
        except CliError as exc:
            # A server that is down or misbehaving is not the workflow's fault: check without it.
            if exc.exit_code == ExitCode.UNREACHABLE:
                note = f"{settings.server_url} is not reachable"
            else:
                note = f"cannot use the /object_info of {settings.server_url} ({exc.format_message()})"
    if catalogue is None:
        catalogue = saved_catalogue(settings.server_url)
        note = f"{note}: {catalogue.describe()}" if note else None
    verdicts = [
        check_file(path, catalogue, correct_frontend_defects=settings.correct_frontend_defects)
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
            where = f", {verdict.catalogue.describe()}" if verdict.catalogue else ", checked locally"
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
