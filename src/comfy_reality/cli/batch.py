"""`run` over several servers and many variants: which servers, which variants, and the summary.

Kept out of ``run.py`` (one job each): this module turns ``--server``/config into a pool with an
optional pin, ``--repeat``/``--sweep`` into override sets, and finished executions into the
batch summary (per server: count, busy time, images; the wall time beside the sum of run times).
Imports no Textual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._common import CliError, check_server_url

if TYPE_CHECKING:
    from comfy_reality.config import Settings
    from comfy_reality.runtime import WorkflowExecution
    from comfy_reality.runtime.pool import PoolServer
    from comfy_reality.workflows.batch import Variant


F = TypeVar("F", bound=Callable[..., Any])


def pool_options(func: F) -> F:
    """--server (repeatable, URL or NAME), --token, --repeat, --sweep, --failover-after, --retry-lost."""
    options = [
        click.option(
            "--server",
            "server_flags",
            multiple=True,
            metavar="URL|NAME",
            help=(
                "ComfyUI server URL; repeat it to run over a pool of servers. A NAME of the config's [[servers]] "
                "pins the run to that server (default: the config's servers, COMFYUI_URL, or http://127.0.0.1:8188)."
            ),
        ),
        click.option(
            "--token", metavar="TOKEN", help="API token (default: COMFYUI_TOKEN or the config file)."
        ),
        click.option(
            "--repeat",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Queue each workflow N times.",
        ),
        click.option(
            "--sweep",
            "sweeps",
            multiple=True,
            metavar="NODE.INPUT=V1,V2",
            help="Queue one run per value (repeatable: several form their product; seed=random draws a new seed each time).",
        ),
        click.option(
            "--failover-after",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Pool: a server unreachable this long counts as down and its waiting prompts move (default 15).",
        ),
        click.option(
            "--retry-lost",
            is_flag=True,
            default=None,
            help="Pool: a prompt that was running on a server that went down is queued elsewhere.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def variants(sweeps: Sequence[str], repeat: int) -> list[Variant]:
    """The batch's override sets (:func:`comfy_reality.workflows.batch.variants`); a bad one is a usage error."""
    from comfy_reality.workflows.batch import variants as batch_variants

    try:
        return batch_variants(sweeps, repeat)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sweep") from exc


def pool_servers(settings: Settings, flags: Sequence[str]) -> tuple[list[PoolServer], str | None]:
    """The servers to pool and the one a run is pinned to.

    ``--server URL`` (repeatable) names the pool, replacing the config's; ``--server NAME`` (a
    name of a configured ``[[servers]]`` table) pins the run to it. No flag: the config's
    servers, or ``server_url`` alone, exactly as with one server.
    """
    from comfy_reality.runtime.pool import PoolServer

    configured = [PoolServer.from_entry(entry) for entry in settings.pool_entries()]
    names = {s.name: s for s in configured if s.name}
    urls: list[str] = []
    pin: str | None = None
    for flag in flags:
        if flag in names:
            if pin is not None and pin != flag:
                raise CliError(f"--server names two servers to pin to ({pin}, {flag}); a run goes to one")
            pin = flag
        else:
            urls.append(check_server_url(flag))
    if not urls:
        return configured, pin
    from comfy_reality.runtime import Auth

    by_url = {s.url.rstrip("/"): s for s in configured}
    auth = Auth.from_settings(settings)  # --token and the top-level credentials
    chosen = [by_url.get(url) or PoolServer(url=url, auth=auth) for url in urls]
    if pin is not None and pin not in {s.name for s in chosen}:
        chosen.append(names[pin])
    return chosen, pin


def _images(execution: WorkflowExecution) -> int:
    return sum(1 for f in execution.output_files if f.type == "output" and f.kind == "images")


def batch_summary(
    executions: Sequence[WorkflowExecution], names: dict[str, str], wall_seconds: float
) -> dict[str, Any]:
    """Per server: how many ran there, the time it was busy with them, the images they made."""
    servers: dict[str, dict[str, Any]] = {}
    total = 0.0
    for execution in executions:
        url = execution.server_url or "?"
        row = servers.setdefault(
            url,
            {"name": names.get(url, url), "server_url": url, "count": 0, "busy_seconds": 0.0, "images": 0},
        )
        row["count"] += 1
        row["images"] += _images(execution)
        if execution.duration is not None:
            row["busy_seconds"] += execution.duration
            total += execution.duration
    for row in servers.values():
        row["busy_seconds"] = round(row["busy_seconds"], 3)
    return {
        "type": "batch",
        "executions": len(executions),
        "wall_seconds": round(wall_seconds, 3),
        "execution_seconds": round(total, 3),
        "servers": list(servers.values()),
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The batch summary for people."""
    from comfy_reality.durations import format_duration

    lines = [
        f"batch: {summary['executions']} executions in {format_duration(summary['wall_seconds'])} wall time, "
        f"{format_duration(summary['execution_seconds'])} of execution time in all"
    ]
    for row in summary["servers"]:
        lines.append(
            f"  {row['name']}: {row['count']} ran, busy {format_duration(row['busy_seconds'])}, "
            f"{row['images']} image{'s' if row['images'] != 1 else ''}"
        )
    return lines


def expand_variants(jobs: list[Any], found: Sequence[Variant], object_info: Any) -> list[Any]:
    """Each prepared job once per variant, with the variant's overrides applied (typed by its spec)."""
    from dataclasses import replace

    from comfy_reality.errors import InvalidWorkflowError
    from comfy_reality.workflows import apply_overrides

    expanded: list[Any] = []
    problems: list[str] = []
    for job in jobs:
        if job.prompt is None:
            expanded.append(job)
            continue
        for variant in found:
            try:
                prompt = apply_overrides(job.prompt, variant.overrides, object_info)
            except InvalidWorkflowError as exc:
                problems.append(f"{job.path}: --sweep: {exc}")
                break
            expanded.append(
                replace(
                    job, prompt=prompt, variant=variant.label, saved=[], download_errors=[], node_errors=[]
                )
            )
    if problems:
        raise CliError("\n".join(dict.fromkeys(problems)))
    return expanded


def report_batch(jobs: Sequence[Any], pool: Any, wall_seconds: float, reporter: Any) -> None:
    """The batch summary: a ``"type": "batch"`` NDJSON line, or lines for people on stderr/stdout."""
    executions = [job.execution for job in jobs if job.execution is not None]
    if not executions:
        return
    names = {m.url: m.name for m in pool.members}
    summary = batch_summary(executions, names, wall_seconds)
    if hasattr(reporter, "write"):
        reporter.write(summary)
        return
    for line in summary_lines(summary):
        click.echo(line)
