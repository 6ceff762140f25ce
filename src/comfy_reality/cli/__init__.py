"""`comfy-reality`: the headless command line.

Each command lives in its own module and is imported only when it is invoked, so
``comfy-reality run`` pays for the runtime and Rich, never for Textual or the aiohttp
server (start-up time is measured against a bare httpx+websockets script).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from comfy_reality import __version__

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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every command (and with them the server and TUI).
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


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


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point (``comfy-reality = comfy_reality.cli:main``)."""
    return cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="comfy-reality")


__all__ = ["COMMANDS", "cli", "main"]
