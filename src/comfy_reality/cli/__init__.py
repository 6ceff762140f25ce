"""`comfy-reality`: the headless command line.

Each command lives in its own module and is imported only when it is invoked, so
``comfy-reality run`` pays for the runtime and Rich, never for Textual or the aiohttp
server (start-up time is measured against a bare httpx+websockets script).
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any

import click

from comfy_reality import __version__
from comfy_reality.url_secrets import redact_url

# command name -> (module, attribute, one-line help shown by `comfy-reality --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("comfy_reality.cli.run", "run", "Run workflow files on a ComfyUI server with live progress."),
    "validate": (
        "comfy_reality.cli.validate",
        "validate",
        "Check workflow files locally and against a server.",
    ),
    "convert": ("comfy_reality.cli.convert", "convert", "Convert a UI-format workflow to an API prompt."),
    "queue": (
        "comfy_reality.cli.queue",
        "queue",
        "Every client's queued prompts: list, delete, clear, move.",
    ),
    "history": (
        "comfy_reality.cli.queue",
        "history",
        "Show the server's finished prompts (save one's prompt).",
    ),
    "rerun": (
        "comfy_reality.cli.rerun",
        "rerun",
        "Run a prompt from the server's history again (with --set edits).",
    ),
    "journal": (
        "comfy_reality.cli.journal",
        "journal",
        "Past executions recorded on this machine (prune, reconcile).",
    ),
    "interrupt": ("comfy_reality.cli.queue", "interrupt", "Interrupt the running prompt (or one by id)."),
    "stats": ("comfy_reality.cli.queue", "stats", "Show the server's system stats and devices."),
    "show": (
        "comfy_reality.cli.show",
        "show",
        "Draw image files, or a prompt's output images, in the terminal.",
    ),
    "server": ("comfy_reality.cli.server", "server", "Run the embedded ComfyUI-compatible demo server."),
    "logs": ("comfy_reality.cli.logs", "logs", "Pretty-print the app's JSON log file."),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, _ = entry
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        started = time.monotonic()
        code: int | str | None = 1
        try:
            result = super().invoke(ctx)
            code = 0
            return result
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            raise
        except (click.ClickException, click.exceptions.Exit) as exc:
            code = exc.exit_code
            raise
        except (KeyboardInterrupt, click.Abort):
            code = 130
            raise
        finally:
            _log_command_end(ctx, code, time.monotonic() - started)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every command (and with them the server and TUI).
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _log_command_end(ctx: click.Context, code: int | str | None, seconds: float) -> None:
    """One line per command for whoever reads the log later: which, against what, how it ended.

    Only once the command has set up logging (never on --help, never onto stdout)."""
    from comfy_reality import logs

    if not logs.is_configured():
        return
    settings = ctx.meta.get("comfy_reality.settings")
    server = getattr(settings, "server_url", None)
    logs.get_logger("comfy_reality.cli").info(
        "command_ended",
        command=ctx.invoked_subcommand,
        server_url=redact_url(server) if isinstance(server, str) else None,
        exit_code=code,
        seconds=round(seconds, 2),
    )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="comfy-reality")
def cli() -> None:
    """Queue, watch, cancel and retry ComfyUI workflows from the terminal.

    Server URL and token come from flags, else COMFYUI_URL / COMFYUI_TOKEN, else
    config.toml in the app's config directory (COMFY_REALITY_HOME moves every app
    directory), else http://127.0.0.1:8188.

    Exit codes: 0 success, 1 an execution failed, 2 invalid workflow or usage,
    3 server unreachable, 130 interrupted (Ctrl-C).
    """


_fast_exit_requested = False


def request_fast_exit() -> None:
    """Called by a command whose ending needs no interpreter teardown (``run``: it closed its
    journal, sockets and threads itself). When the command is the whole process, :func:`main`
    then ends it at once instead of spending a tenth of a second freeing every module's objects."""
    global _fast_exit_requested
    _fast_exit_requested = True


def _exit_now(code: int) -> None:
    """Flush what the user is owed (stdout, stderr, the log file), then end the process.

    Returns (and the caller exits the ordinary way) when anything could still need teardown: a
    flush that fails (a closed pipe) or a thread that is still running."""
    import os
    import threading

    from comfy_reality.logs import close_log_file

    if threading.active_count() > 1:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # the ordinary exit reports it as Python always does
    close_log_file()
    os._exit(code)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point (``comfy-reality = comfy_reality.cli:main``).

    With ``argv`` given the caller embeds the command (a test, a script): it always returns or
    raises ``SystemExit`` as click does, never ends the process itself."""
    if argv is not None:
        return cli.main(args=argv, prog_name="comfy-reality")
    try:
        return cli.main(args=sys.argv[1:], prog_name="comfy-reality")
    except SystemExit as exc:
        if _fast_exit_requested and (exc.code is None or isinstance(exc.code, int)):
            _exit_now(exc.code or 0)
        raise


__all__ = ["COMMANDS", "cli", "main"]
