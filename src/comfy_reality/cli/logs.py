"""`comfy-reality logs`: the JSON-lines log file, made readable."""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

import click

from comfy_reality.safe_text import safe_json, safe_str

from ._common import CliError

_LEVEL_COLOURS = {"debug": "blue", "info": "green", "warning": "yellow", "error": "red", "critical": "red"}
_FIRST_KEYS = ("timestamp", "level", "event")
POLL_SECONDS = 0.25


def format_line(raw: str, *, colour: bool = False) -> str | None:
    """``2026-11-28T01:45:31Z info  started  task_id=... message=...``; non-JSON lines pass through."""
    raw = raw.rstrip("\n")
    if not raw.strip():
        return None
    try:
        record: Any = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return safe_str(raw)
    if not isinstance(record, dict):
        return safe_str(raw)
    # The file keeps what was received; what reaches the terminal is made safe field by field.
    stamp = safe_str(record.get("timestamp", ""), one_line=True)
    level = safe_str(record.get("level", ""), one_line=True)
    event = safe_str(record.get("event", ""))
    rest = " ".join(
        f"{safe_str(key, one_line=True)}="
        f"{safe_str(value) if isinstance(value, str) else safe_json(value, default=str)}"
        for key, value in record.items()
        if key not in _FIRST_KEYS and key != "exception"
    )
    level_text = f"{level:<7}"
    if colour:
        level_text = click.style(level_text, fg=_LEVEL_COLOURS.get(level, "white"))
        event = click.style(event, bold=True)
    text = " ".join(part for part in (stamp, level_text, event, rest) if part)
    exception = record.get("exception")
    if exception:
        text += "\n" + safe_str(exception)
    return text


def _emit(lines: list[str], colour: bool, raw: bool = False) -> None:
    for line in lines:
        text = safe_str(line.rstrip("\n")) if raw else format_line(line, colour=colour)
        if text is not None:
            click.echo(text)


def follow(path: Path, handle: IO[str] | None, colour: bool, raw: bool = False) -> None:
    """Print new lines as they are written, surviving truncation and the file appearing late."""
    position = handle.tell() if handle is not None else 0
    partial = ""
    while True:
        if handle is None:
            if not path.exists():
                time.sleep(POLL_SECONDS)
                continue
            handle = path.open("r", encoding="utf-8", errors="replace")
            position = 0
        size = path.stat().st_size if path.exists() else 0
        if size < position:  # truncated or replaced: start again from the top
            handle.close()
            handle = None
            partial = ""
            continue
        chunk = handle.read()
        if not chunk:
            time.sleep(POLL_SECONDS)
            continue
        position = handle.tell()
        chunk = partial + chunk
        lines = chunk.split("\n")
        partial = lines.pop()
        _emit(lines, colour, raw)


@click.command()
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new lines as they are written.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="How many of the last lines to show first.",
)
@click.option(
    "--raw", is_flag=True, help="Print the JSON lines as they are (control characters shown escaped)."
)
@click.option("--path", "show_path", is_flag=True, help="Only print where the log file is.")
def logs(follow_: bool, lines: int, raw: bool, show_path: bool) -> None:
    """Pretty-print the app's JSON log file (COMFY_REALITY_HOME moves it)."""
    from comfy_reality import paths

    path = paths.log_file()
    if show_path:
        click.echo(str(path))
        return
    colour = sys.stdout.isatty() and not raw
    handle: IO[str] | None = None
    if path.exists():
        try:
            handle = path.open("r", encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CliError(f"cannot read the log file {path}: {exc.strerror or exc}") from exc
        tail = deque(handle, maxlen=lines) if lines else deque()
        _emit(list(tail), colour, raw)
    elif not follow_:
        raise CliError(
            f"no log file yet at {path}",
            hint="it is created by the first command that runs (try `comfy-reality run ...`), "
            "or use --follow to wait for it",
        )
    else:
        click.echo(f"Waiting for {path} to appear…", err=True)
    if follow_:
        try:
            follow(path, handle, colour, raw)
        except KeyboardInterrupt:
            pass
    elif handle is not None:
        handle.close()
