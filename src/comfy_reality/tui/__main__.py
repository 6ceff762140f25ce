"""``comfy-reality-tui``: open the terminal app (optionally on an embedded demo server)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError
from ..safe_text import safe_str
from .gc_tuning import hold_collections, release_collections

if TYPE_CHECKING:
    from ..config import Settings
    from ..config_sources import FirstFrameSettings, PendingSettings


def _on_a_terminal() -> bool:
    """The app draws to a terminal (not a pipe or a test runner): there is a first frame to hurry."""
    stdout = sys.__stdout__
    return stdout is not None and stdout.isatty()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--server",
    "server_urls",
    metavar="URL",
    multiple=True,
    help=(
        "ComfyUI server URL; repeat it to pool several servers. Precedence: this flag, then "
        "$COMFYUI_URL, then the config file's server_url, then http://127.0.0.1:8188."
    ),
)
@click.option("--token", metavar="T", help="API token sent as a bearer header (or $COMFYUI_TOKEN).")
@click.option(
    "--workflows",
    "workflow_dirs",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Extra folder of saved workflows (repeatable); listed after the bundled and your own.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Start an embedded ComfyUI look-alike on a free 127.0.0.1 port and connect to it. "
    "What you save to it is kept (in the user data dir, demo-server/) for the next --demo.",
)
@click.option(
    "--fresh-demo",
    is_flag=True,
    help="Like --demo, on an empty server that forgets everything when the app quits.",
)
@click.option(
    "--servers",
    "demo_servers",
    type=click.IntRange(min=1, max=16),
    default=1,
    help="With --demo: start N embedded servers of different speeds and pool them.",
)
@click.option("--insecure", is_flag=True, help="Do not verify the server's TLS certificate.")
@click.option(
    "--images",
    type=click.Choice(["auto", "kitty", "sixel", "halfblock", "off"]),
    help="How to draw pictures (previews, outputs): auto asks the terminal; off draws and decodes none. "
    "Default: config key images, then auto.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (TOML). Default: config.toml in the user config dir.",
)
def main(
    server_urls: tuple[str, ...],
    token: str | None,
    workflow_dirs: tuple[Path, ...],
    demo: bool,
    fresh_demo: bool,
    demo_servers: int,
    insecure: bool,
    images: str | None,
    config_path: Path | None,
) -> None:
    """Queue, watch, cancel and retry ComfyUI workflows from the terminal.

    Pick a saved workflow and press r to run it; every node's progress shows live.
    x cancels, t retries, l toggles the log, F1 or ? shows every key. Quitting never
    interrupts prompts already on the server. Keys can be remapped in the config
    file's [keymap] table (binding id = key).
    """
    # The collector's automatic passes are held until the first frame's objects are frozen (gc_tuning).
    hold_collections()
    try:
        _open_app(
            server_urls,
            token,
            workflow_dirs,
            demo,
            fresh_demo,
            demo_servers,
            insecure,
            images,
            config_path,
        )
    finally:
        release_collections()


def _option_clash(
    server_urls: tuple[str, ...], demo: bool, fresh_demo: bool, demo_servers: int
) -> str | None:
    """Why these options cannot go together (None when they can): a demo is its own server, so a
    --server beside it would be silently dropped. The URL is not repeated (it may hold a password)."""
    if server_urls and (demo or fresh_demo):
        flag = "--fresh-demo" if fresh_demo else "--demo"
        return (
            f"{flag} starts its own server on 127.0.0.1, so --server cannot go with it: "
            f"drop --server to try the demo, or drop {flag} to connect to your server."
        )
    if demo_servers > 1 and not (demo or fresh_demo):
        return (
            f"--servers {demo_servers} starts that many demo servers and needs --demo or --fresh-demo; "
            "to pool servers you run, repeat --server URL instead."
        )
    return None


def _open_app(
    server_urls: tuple[str, ...],
    token: str | None,
    workflow_dirs: tuple[Path, ...],
    demo: bool,
    fresh_demo: bool,
    demo_servers: int,
    insecure: bool,
    images: str | None,
    config_path: Path | None,
) -> None:
    from .. import startup

    clash = _option_clash(server_urls, demo, fresh_demo, demo_servers)
    if clash is not None:
        click.echo(f"comfy-reality-tui: {clash}", err=True)
        sys.exit(2)
    if config_path is not None and not config_path.is_file():
        # Named on purpose: running on defaults instead would hide the typo.
        click.echo(f"comfy-reality-tui: --config {safe_str(config_path)}: no such file", err=True)
        sys.exit(2)
    pooled = (
        [{"url": url, **({"token": token} if token else {})} for url in server_urls]
        if len(server_urls) > 1
        else None
    )
    try:
        pending = startup.read(
            config_path,
            server_url=server_urls[0] if len(server_urls) == 1 else None,
            servers=pooled,
            token=token,
            verify_tls=False if insecure else None,
            images=images,
        )
        # In a terminal the settings model (pydantic, about 60 ms) is loaded after the first frame, and
        # the values that frame needs passed the model's own rules; otherwise it validates them now.
        first = pending.first_frame if _on_a_terminal() else None
        early: Settings | FirstFrameSettings = first if first is not None else pending.validate()
    except ConfigError as exc:
        click.echo(f"comfy-reality-tui: {safe_str(exc)}", err=True)
        sys.exit(2)
    try:
        log_path: Path | None = startup.start_logging(early)
    except OSError as exc:
        # No log file (read-only home, no space): the app runs without one rather than not at all.
        click.echo(f"comfy-reality-tui: cannot open the log file ({safe_str(exc)}); logging is off", err=True)
        log_path = None

    from .images import probe_terminal, resolve_renderer

    # Ask the terminal what it can draw now (once Textual runs it owns stdin and the answer is lost),
    # on a thread: its answers (or their 0.1 s time-outs) arrive while Textual and the app load.
    answered = probe_terminal(early.images)
    try:
        from .. import paths
        from .app import ComfyRealityApp
        from .logtap import LogTap
    finally:
        answered()  # the terminal is back in its normal mode before anything else happens
    renderer = resolve_renderer(early.images)
    settings: Settings | PendingSettings
    if first is not None:
        pending.first_frame = dataclasses.replace(first, images=renderer)
        settings = pending
    else:
        settings = pending.validate().model_copy(update={"images": renderer})

    app = ComfyRealityApp(
        settings,
        workflow_dirs=list(workflow_dirs),
        demo=demo or fresh_demo,
        demo_data_dir=None if fresh_demo or not demo else paths.demo_server_dir(),
        demo_servers=demo_servers,
        log_tap=LogTap(),
        freeze_long_lived=True,
    )
    app.run()
    if app.config_error is not None:  # found right after the first frame: said as it would be before it
        click.echo(f"comfy-reality-tui: {safe_str(app.config_error)}", err=True)
        sys.exit(2)
    if app.return_code:
        where = f"; see the log file {log_path}" if log_path is not None else ""
        click.echo(f"comfy-reality-tui stopped with an error{where}", err=True)
    sys.exit(app.return_code or 0)


if __name__ == "__main__":
    main()
