"""Server inspection commands: `queue`, `history`, `interrupt`, `stats`.

Human tables by default, ``--json`` for machines. They talk HTTP only (no WebSocket),
so they answer fast and work against a busy server.
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

if TYPE_CHECKING:
    from comfy_reality.runtime import ComfyUIClient, HistoryEntry, QueueItem, QueueState


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
        }
        for item in items
    ]


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
@click.command()
@server_options
@json_option
def queue(server_url: str | None, token: str | None, as_json: bool) -> None:
    """Show the running and pending prompts of the server."""
    settings = settings_for(server_url, token)
    setup_logging(settings)

    async def body(client: ComfyUIClient) -> QueueState:
        return await client.get_queue()

    raw = run_client_command(settings, body)
    running = queue_items(raw.running, "running")
    pending = queue_items(raw.pending, "pending")
    if as_json:
        echo_json({"server": redact_url(settings.server_url), "running": running, "pending": pending})
        return
    if not running and not pending:
        echo(f"The queue of {settings.server_url} is empty.")
        return
    rows = [
        [item["state"], str(item["number"]), item["prompt_id"], str(item["nodes"]), item["client_id"] or ""]
        for item in running + pending
    ]
    _table(
        f"Queue of {settings.server_url}: {len(running)} running, {len(pending)} pending",
        ["State", "#", "Prompt id", "Nodes", "Client"],
        rows,
    )


@click.command()
@server_options
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Newest N entries.")
@json_option
def history(server_url: str | None, token: str | None, limit: int, as_json: bool) -> None:
    """Show the newest finished prompts of the server."""
    settings = settings_for(server_url, token)
    setup_logging(settings)

    async def body(client: ComfyUIClient) -> dict[str, HistoryEntry]:
        return await client.get_history(max_items=limit)

    raw = run_client_command(settings, body)
    entries = [history_entry(str(pid), entry) for pid, entry in (raw or {}).items()]
    entries.sort(key=lambda e: e["number"] if isinstance(e["number"], (int, float)) else 0, reverse=True)
    entries = entries[:limit]
    if as_json:
        echo_json({"server": redact_url(settings.server_url), "history": entries})
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
    _table(
        f"History of {settings.server_url} (newest {len(entries)})",
        ["#", "Prompt id", "Status", "Duration", "Outputs / error"],
        rows,
    )


@click.command()
@server_options
@click.argument("prompt_id", required=False)
@json_option
def interrupt(server_url: str | None, token: str | None, prompt_id: str | None, as_json: bool) -> None:
    """Interrupt the running prompt, or only PROMPT_ID if it is the one running.

    ComfyUI always answers 200, so the queue is read first to say what was stopped.
    """
    settings = settings_for(server_url, token)
    setup_logging(settings)

    async def body(client: Any) -> tuple[list[dict[str, Any]], bool]:
        running = queue_items((await client.get_queue()).running, "running")
        target_running = any(i["prompt_id"] == prompt_id for i in running) if prompt_id else bool(running)
        if target_running:
            await client.interrupt(prompt_id)
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

    async def body(client: ComfyUIClient) -> dict[str, Any]:
        return await client.get_system_stats()

    raw = run_client_command(settings, body)
    if as_json:
        echo_json(
            {"server": redact_url(settings.server_url), **(raw if isinstance(raw, dict) else {"stats": raw})}
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


def _human(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "?"
    if isinstance(value, (int, float)) and ("ram" in key or "vram" in key) and value > 1024:
        return f"{value / 1024**3:.1f} GiB"
    return "" if value is None else str(value)
