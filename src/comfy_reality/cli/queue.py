"""Server inspection commands: `queue`, `history`, `interrupt`, `stats`.

Human tables by default, ``--json`` for machines. They talk HTTP only (no WebSocket),
so they answer fast and work against a busy server. `queue` and `history` read one page of
the jobs API where the server has it (newer ComfyUI), /queue and /history otherwise; the
JSON says which (``source``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from comfy_reality.url_secrets import redact_url

from ._common import (
    echo,
    echo_json,
    json_option,
    print_table,
    run_client_command,
    server_options,
    settings_for,
    setup_logging,
)
from .queue_steer import clear, delete, move, server_queue
from .rerun import history_save

if TYPE_CHECKING:
    from comfy_reality.runtime import (
        ComfyUIClient,
        HistoryEntry,
        QueueEntry,
        QueueItem,
        QueueSnapshot,
    )
    from comfy_reality.runtime.jobs import Job, JobsPage

_OUTCOMES = {"completed": "success", "failed": "error", "cancelled": "interrupted"}


# ----------------------------------------------------------------------------- shapes
def queue_items(items: list[QueueItem], state: str) -> list[dict[str, Any]]:
    """The client's QueueItems as plain records (the client already sorts pending by number)."""
    return [
        {
            "state": state,
            "number": item.number,
            "prompt_id": item.prompt_id,
            "nodes": len(item.prompt),
            "client_id": item.client_id,
            "outputs": list(item.outputs_to_execute),
            "created_at": None,
            "workflow_id": None,
        }
        for item in items
    ]


def job_queue_item(job: Job) -> dict[str, Any]:
    """A queued/running job from the jobs API, in queue_items' record (it has no node count)."""
    created = _ms_to_datetime(job.create_time)
    return {
        "state": "running" if job.status == "in_progress" else "pending",
        "number": job.priority,
        "prompt_id": job.id,
        "nodes": None,
        "client_id": None,
        "outputs": [],
        "created_at": created.isoformat() if created else None,
        "workflow_id": job.workflow_id,
    }


def job_history_entry(job: Job) -> dict[str, Any]:
    """A finished job from the jobs API, in history_entry's record (outputs: the preview file)."""
    started = _ms_to_datetime(job.execution_start_time)
    ended = _ms_to_datetime(job.execution_end_time)
    preview = job.preview_output or {}
    error = job.execution_error
    return {
        "prompt_id": job.id,
        "number": job.priority,
        "status": _OUTCOMES.get(job.status, "unknown"),
        "completed": job.status == "completed",
        "started_at": started.isoformat() if started else None,
        "completed_at": ended.isoformat() if ended else None,
        "duration": job.duration,
        "outputs": [preview["filename"]] if isinstance(preview.get("filename"), str) else [],
        "outputs_count": job.outputs_count,
        "error": (
            {
                "node_id": error.get("node_id"),
                "node_type": error.get("node_type"),
                "exception_type": error.get("exception_type"),
                "exception_message": error.get("exception_message"),
            }
            if error
            else None
        ),
    }


def _ms_to_datetime(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (ValueError, OverflowError, OSError):  # NaN, or a time no calendar holds
            return None
    return None


def history_entry(prompt_id: str, entry: HistoryEntry) -> dict[str, Any]:
    """One /history entry (the client's HistoryEntry) as a flat record: outcome, timings, files."""
    kinds = dict(entry.message_list())
    if entry.interrupted:
        outcome = "interrupted"
    elif entry.status_str in ("success", "error"):
        outcome = entry.status_str
    else:
        outcome = "unknown"
    started = _ms_to_datetime(kinds.get("execution_start", {}).get("timestamp"))
    ended = None
    for kind in ("execution_success", "execution_error", "execution_interrupted"):
        ended = ended or _ms_to_datetime(kinds.get(kind, {}).get("timestamp"))
    files: list[str] = []
    for ui in entry.outputs.values():
        if not isinstance(ui, dict):
            continue
        for value in ui.values():
            for item in value if isinstance(value, list) else []:
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    files.append(item["filename"])
    item = entry.item
    number = item.number if item is not None else None
    error = kinds.get("execution_error")
    return {
        "prompt_id": prompt_id,
        "number": number,
        "status": outcome,
        "completed": bool(entry.status.completed) if entry.status else False,
        "started_at": started.isoformat() if started else None,
        "completed_at": ended.isoformat() if ended else None,
        "duration": (ended - started).total_seconds() if started and ended else None,
        "outputs": files,
        "outputs_count": len(files),
        "error": (
            {
                "node_id": error.get("node_id"),
                "node_type": error.get("node_type"),
                "exception_type": error.get("exception_type"),
                "exception_message": error.get("exception_message"),
            }
            if error
            else None
        ),
    }


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    print_table(title, columns, rows)


# --------------------------------------------------------------------------- commands
@click.group(invoke_without_command=True)
@server_options
@json_option
@click.pass_context
def queue(ctx: click.Context, server_url: str | None, token: str | None, as_json: bool) -> None:
    """Show every client's running and pending prompts (who queued them: the Owner column);
    steer them with the subcommands."""
    ctx.obj = {"server_url": server_url, "token": token}
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_for(server_url, token)
    setup_logging(settings)

    async def body(client: ComfyUIClient) -> tuple[QueueSnapshot, JobsPage | None]:
        from comfy_reality.runtime.capabilities import capabilities
        from comfy_reality.runtime.jobs import list_jobs

        whole = await (await server_queue(client)).snapshot()
        if (await capabilities(client)).jobs_api:
            return whole, await list_jobs(client, statuses=["in_progress", "pending"])
        return whole, None

    whole, jobs = run_client_command(settings, body)
    if jobs is not None:
        records = [job_queue_item(job) for job in jobs.jobs]
        running = [r for r in records if r["state"] == "running"]
        pending = sorted(
            (r for r in records if r["state"] == "pending"),
            key=lambda r: r["number"] if isinstance(r["number"], (int, float)) else 0,
        )
        source = "jobs"
    else:
        running = queue_items([], "running")
        pending = []
        source = "queue"
    running, pending = _with_owners(whole, running, pending, from_jobs=jobs is not None)
    if as_json:
        echo_json(
            {
                "server": redact_url(settings.server_url),
                "source": source,
                "running": running,
                "pending": pending,
            }
        )
        return
    if not running and not pending:
        echo(f"The queue of {settings.server_url} is empty.")
        return
    rows = [
        [
            str(item["position"]) if item["position"] is not None else "",
            item["state"],
            item["prompt_id"],
            _owner_cell(item),
            item["workflow_name"] or "",
            "" if item["nodes"] is None else str(item["nodes"]),
            (item["created_at"] or "") if source == "jobs" else _age(item["age"]),
        ]
        for item in running + pending
    ]
    _table(
        f"Queue of {settings.server_url}: {len(running)} running, {len(pending)} pending",
        [
            "Pos",
            "State",
            "Prompt id",
            "Owner",
            "Workflow",
            "Nodes",
            "Queued at" if source == "jobs" else "Age",
        ],
        rows,
    )


def _owner_cell(item: dict[str, Any]) -> str:
    """The owner, and for another client its id (shortened: the JSON has it whole)."""
    owner = str(item["owner"] or "")
    client = item["client_id"]
    if client and owner == "other client":
        return f"{owner} {client[:12]}"
    return owner


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _age(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return ""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"


def _with_owners(
    whole: QueueSnapshot, running: list[dict[str, Any]], pending: list[dict[str, Any]], *, from_jobs: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records with what only /queue has: owner, client id, workflow name, node count, position."""
    if not from_jobs:
        running = [_entry_record(e) for e in whole.running]
        pending = [_entry_record(e) for e in whole.pending]
        return running, pending
    by_id = {e.prompt_id: e for e in whole.entries}
    for position, record in enumerate(running + pending):
        entry = by_id.get(record["prompt_id"])
        extra = _entry_record(entry) if entry is not None else {}
        record.update(
            position=extra.get("position", 0 if record["state"] == "running" else position),
            owner=extra.get("owner"),
            workflow_name=extra.get("workflow_name"),
            nodes=extra.get("nodes"),
            client_id=extra.get("client_id"),
            outputs=extra.get("outputs", []),
            age=extra.get("age"),
        )
    return running, pending


def _entry_record(entry: QueueEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "state": entry.state,
        "number": entry.number,
        "prompt_id": entry.prompt_id,
        "owner": entry.owner.value,
        "workflow_name": entry.workflow_name,
        "nodes": entry.node_count,
        "client_id": entry.client_id,
        "outputs": [],
        "created_at": entry.queued_at.isoformat() if entry.queued_at else None,
        "workflow_id": None,
        # Unknown when the server gives no queue time (ComfyUI before its jobs API): a fresh CLI has only
        # just seen the prompt, so "seconds since first seen" would read 0 for every entry.
        "age": round(entry.age(), 3) if entry.queue_time_known else None,
    }


@click.group(invoke_without_command=True)
@server_options
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Newest N entries.")
@click.option(
    "--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Skip the newest N entries."
)
@json_option
@click.pass_context
def history(
    ctx: click.Context, server_url: str | None, token: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """Show the newest finished prompts of the server (every client's), one page at a time;
    `history save` writes one's prompt to a workflow file."""
    ctx.obj = {"server_url": server_url, "token": token}
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_for(server_url, token)
    setup_logging(settings)

    async def body(client: ComfyUIClient) -> dict[str, HistoryEntry] | JobsPage:
        from comfy_reality.runtime.capabilities import capabilities
        from comfy_reality.runtime.jobs import FINISHED_STATUSES, list_jobs

        if (await capabilities(client)).jobs_api:
            return await list_jobs(client, statuses=FINISHED_STATUSES, limit=limit, offset=offset)
        return await client.get_history(max_items=offset + limit)  # only the newest offset+limit

    raw = run_client_command(settings, body)
    pagination: dict[str, Any] = {"offset": offset, "limit": limit, "total": None}
    if isinstance(raw, dict):
        entries = [history_entry(str(pid), entry) for pid, entry in raw.items()]
        entries.sort(key=lambda e: e["number"] if isinstance(e["number"], (int, float)) else 0, reverse=True)
        pagination["has_more"] = len(entries) > offset + limit or len(raw) == offset + limit
        entries = entries[offset : offset + limit]
        source = "history"
    else:
        entries = [job_history_entry(job) for job in raw.jobs]
        pagination.update(total=raw.total, has_more=raw.has_more)
        source = "jobs"
    if as_json:
        echo_json(
            {
                "server": redact_url(settings.server_url),
                "source": source,
                "pagination": pagination,
                "history": entries,
            }
        )
        return
    if not entries:
        echo(f"{settings.server_url} has no history yet.")
        return
    rows = []
    for e in entries:
        duration = f"{e['duration']:.2f}s" if e["duration"] is not None else ""
        detail = ", ".join(e["outputs"]) if e["status"] == "success" else ""
        if e["error"]:
            detail = f"node {e['error']['node_id']}: {e['error']['exception_type']}: {e['error']['exception_message']}"
        rows.append([str(e["number"]), e["prompt_id"], e["status"], duration, detail])
    shown = f"newest {len(entries)}" if not offset else f"{len(entries)} after the newest {offset}"
    if pagination["total"] is not None:
        shown += f" of {pagination['total']}"
    _table(
        f"History of {settings.server_url} ({shown})",
        ["#", "Prompt id", "Status", "Duration", "Outputs / error"],
        rows,
    )


@click.command()
@server_options
@click.argument("prompt_id", required=False)
@json_option
def interrupt(server_url: str | None, token: str | None, prompt_id: str | None, as_json: bool) -> None:
    """Interrupt the running prompt, or only PROMPT_ID if it is the one running.

    ComfyUI always answers 200, so the queue is read first to say what was stopped. The stop
    names the prompt (the jobs API's cancel on newer servers, a targeted /interrupt otherwise).
    """
    settings = settings_for(server_url, token)
    setup_logging(settings)

    async def body(client: Any) -> tuple[list[dict[str, Any]], bool]:
        from comfy_reality.runtime.jobs import cancel_running

        running = queue_items((await client.get_queue()).running, "running")
        target_running = any(i["prompt_id"] == prompt_id for i in running) if prompt_id else bool(running)
        if target_running:
            # Named, even without PROMPT_ID: a prompt that starts meanwhile is not stopped by mistake.
            await cancel_running(client, prompt_id or running[0]["prompt_id"])
        return running, target_running

    running, sent = run_client_command(settings, body)
    interrupted = (prompt_id or running[0]["prompt_id"]) if sent else None
    if as_json:
        echo_json(
            {
                "server": redact_url(settings.server_url),
                "interrupted": interrupted,
                "running": [i["prompt_id"] for i in running],
            }
        )
        return
    if interrupted:
        echo(f"Interrupted prompt {interrupted} on {settings.server_url}.")
    elif prompt_id:
        echo(f"Prompt {prompt_id} is not running on {settings.server_url}; nothing interrupted.")
    else:
        echo(f"Nothing is running on {settings.server_url}; nothing interrupted.")


@click.command()
@server_options
@json_option
def stats(server_url: str | None, token: str | None, as_json: bool) -> None:
    """Show the server's system stats (versions, RAM) and devices (VRAM)."""
    settings = settings_for(server_url, token)
    setup_logging(settings)

    async def body(client: ComfyUIClient) -> tuple[dict[str, Any], dict[str, Any]]:
        from comfy_reality.runtime.capabilities import capabilities

        return await client.get_system_stats(), (await capabilities(client)).summary()

    raw, found = run_client_command(settings, body)
    if as_json:
        echo_json(
            {
                "server": redact_url(settings.server_url),
                **(raw if isinstance(raw, dict) else {"stats": raw}),
                "capabilities": found,
            }
        )
        return
    system = raw.get("system", {}) if isinstance(raw, dict) else {}
    rows = [[key, _human(key, value)] for key, value in system.items() if key != "argv"]
    _table(f"System of {settings.server_url}", ["Field", "Value"], rows)
    devices = raw.get("devices", []) if isinstance(raw, dict) else []
    if devices:
        _table(
            "Devices",
            ["Name", "Type", "VRAM total", "VRAM free"],
            [
                [
                    str(d.get("name", "")),
                    str(d.get("type", "")),
                    _human("vram", d.get("vram_total")),
                    _human("vram", d.get("vram_free")),
                ]
                for d in devices
                if isinstance(d, dict)
            ],
        )
    _table(
        "Capabilities (what this client uses)",
        ["Capability", "Value"],
        [
            [key, ", ".join(value) if isinstance(value, list) else _yes_no(value)]
            for key, value in found.items()
        ],
    )


def _yes_no(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _human(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "?"
    if isinstance(value, (int, float)) and ("ram" in key or "vram" in key) and value > 1024:
        return f"{value / 1024**3:.1f} GiB"
    return "" if value is None else str(value)


queue.add_command(delete)
queue.add_command(clear)
queue.add_command(move)
history.add_command(history_save)
