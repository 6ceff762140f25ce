"""Pieces every command shares: exit codes, settings, error messages, JSON output."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

from comfy_reality import startup
from comfy_reality.config import Settings
from comfy_reality.errors import ConfigError
from comfy_reality.safe_text import finite, safe_json, safe_line, safe_str
from comfy_reality.url_secrets import redact_url

if TYPE_CHECKING:
    from comfy_reality.runtime import Auth, ComfyUIClient

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    INVALID = 2
    UNREACHABLE = 3
    INTERRUPTED = 130


class CliError(click.ClickException):
    """A user-facing error: printed as ``error: ...`` on stderr, exits with ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.INVALID, hint: str | None = None) -> None:
        super().__init__(message)
        self._exit_code = int(code)
        self.hint = hint

    # click reads exit_code from the instance, but types it as one constant per class; every
    # CliError carries its own code, so here it is a property.
    @property
    def exit_code(self) -> int:
        return self._exit_code

    @exit_code.setter
    def exit_code(self, value: int) -> None:
        self._exit_code = value

    def show(self, file: Any = None) -> None:
        # Messages quote server text, file names and URLs: shown safe, without credentials.
        stream = file or sys.stderr
        click.secho(f"error: {shown(self.format_message())}", file=stream, fg="red", err=True)
        if self.hint:
            click.echo(f"hint: {shown(self.hint)}", file=stream, err=True)


def shown(text: object) -> str:
    """Text for the terminal: URL credentials removed, control characters made visible."""
    return safe_str(redact_url(str(text)))


def echo(text: object, *, err: bool = False, nl: bool = True) -> None:
    """click.echo for any line that may hold outside text (server, file, journal, log)."""
    click.echo(shown(text), err=err, nl=nl)


def print_table(title: str, columns: list[str], rows: list[list[Any]], *, stderr: bool = False) -> None:
    """A Rich table whose title and cells are plain text (never markup, never escapes)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=safe_line(redact_url(title)), title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(safe_line(redact_url(str(cell))) for cell in row))
    Console(stderr=stderr).print(table)


def server_options(func: F) -> F:
    """--server and --token, shared by every command that talks to a server."""
    func = click.option(
        "--token",
        metavar="TOKEN",
        help="API token for a server behind auth (default: COMFYUI_TOKEN or the config file).",
    )(func)
    func = click.option(
        "--server",
        "server_url",
        metavar="URL",
        help="ComfyUI server URL (default: COMFYUI_URL, the config file, or http://127.0.0.1:8188).",
    )(func)
    return func


def conversion_option(func: F) -> F:
    """--fix-frontend-defects / --as-web-ui, for every command that converts UI-format workflows."""
    return click.option(
        "--fix-frontend-defects/--as-web-ui",
        "correct_frontend_defects",
        default=None,
        help=(
            "UI-format workflows: convert them as drawn where ComfyUI's web UI (frontend 1.27.10) gets it wrong "
            "(legacy group nodes, bypassed or muted subgraphs), or exactly as the web UI would "
            "(default: correct_frontend_defects in the config, else as the web UI)."
        ),
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of tables.")(
        func
    )


def check_server_url(url: str) -> str:
    shown = redact_url(url)
    hint = "give it as http://HOST:PORT, for example --server http://127.0.0.1:8188"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # 'http://[::1'
        raise CliError(f"invalid server URL {shown!r}: it is not a URL ({exc})", hint=hint) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"invalid server URL {shown!r}", hint=hint)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise CliError(
            f"invalid server URL {shown!r}: {exc}", hint="the port must be a number 1-65535"
        ) from exc
    host = parts.hostname
    if len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        raise CliError(
            f"invalid server URL {shown!r}: the host name is too long "
            "(at most 63 characters between dots, 253 in all)",
            hint=hint,
        )
    return url.rstrip("/")


def settings_for(server_url: str | None = None, token: str | None = None, **flags: Any) -> Settings:
    """Flags over environment over config file; a bad file or value is a usage error (exit 2).

    ``flags`` are other settings given on the command line (None: not given)."""
    if server_url is not None:
        check_server_url(server_url)
    try:
        settings = startup.load(server_url=server_url, token=token, **flags)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    check_server_url(settings.server_url)
    return settings


def setup_logging(settings: Settings | None = None) -> None:
    """Log to the JSON file only: stdout may be carrying NDJSON for a machine."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and settings is not None:  # the group's "command_ended" line names the server
        ctx.find_root().meta["comfy_reality.settings"] = settings
    try:
        startup.start_logging(settings)
    except OSError as exc:
        echo(f"warning: cannot open the log file ({exc}); logging is off", err=True)


def make_auth(settings: Settings) -> Auth | None:
    from comfy_reality.runtime import Auth

    return Auth.from_settings(settings)


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return finite(value.model_dump(mode="json"))
    return str(value)


def dumps(value: Any) -> str:
    """Strict JSON for machines: NaN/Infinity as null, no raw terminal control character."""
    return safe_json(value, default=json_default)


def echo_json(value: Any) -> None:
    click.echo(dumps(value))


def error_from_exception(exc: BaseException, server_url: str) -> CliError:
    """Map a runtime error to the user message and the exit code of the contract."""
    from comfy_reality.runtime import (
        InvalidWorkflowError,
        PromptValidationError,
        ServerResponseError,
        ServerUnreachableError,
    )

    if isinstance(exc, ServerUnreachableError):
        reason = getattr(exc, "reason", "") or ""
        if "401" in reason or "403" in reason:
            hint = "the server wants credentials: pass --token or set COMFYUI_TOKEN"
        elif "HTTP" in reason:
            hint = f"something answers at {server_url} but refuses the connection; check its log"
        else:
            hint = "start one with `comfy-reality server`, or point --server / COMFYUI_URL at yours"
        return CliError(str(exc), ExitCode.UNREACHABLE, hint=hint)
    if isinstance(exc, PromptValidationError):
        return CliError(
            str(exc),
            ExitCode.INVALID,
            hint="fix the inputs named above, or check them with `comfy-reality validate --server URL FILE`",
        )
    if isinstance(exc, InvalidWorkflowError):
        return CliError(str(exc), ExitCode.INVALID)
    if isinstance(exc, ServerResponseError) and exc.status_code in (401, 403):
        return CliError(
            f"{server_url} refused access (HTTP {exc.status_code})",
            ExitCode.FAILED,
            hint="pass a valid token with --token or COMFYUI_TOKEN",
        )
    if isinstance(exc, ServerResponseError):
        status = f" (HTTP {exc.status_code})" if exc.status_code else ""
        return CliError(f"{exc}{status}", ExitCode.FAILED, hint=f"check the server log at {server_url}")
    return CliError(f"{type(exc).__name__}: {exc}", ExitCode.FAILED)


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[ComfyUIClient]:
    """A bare ComfyUIClient (HTTP only, no WebSocket) for one-shot commands."""
    from comfy_reality.runtime import ComfyUIClient

    client = ComfyUIClient(
        settings.server_url,
        auth=make_auth(settings),
        timeout=settings.timeout,
        verify_tls=settings.verify_tls,
    )
    async with client:
        yield client


def run_client_command(settings: Settings, body: Callable[[ComfyUIClient], Awaitable[T]]) -> T:
    """Run ``body(client)`` on a fresh event loop, turning runtime errors into CLI errors."""
    from comfy_reality.runtime import ComfyError

    async def main() -> T:
        async with open_client(settings) as client:
            return await body(client)

    try:
        return asyncio.run(main())
    except ComfyError as exc:
        raise error_from_exception(exc, settings.server_url) from exc
