"""`comfy-reality server`: the embedded ComfyUI look-alike, for demos and offline tests.

The one definition of the server's command line: ``python -m comfy_reality.server`` runs it too.
"""

from __future__ import annotations

from pathlib import Path

import click

from ._common import CliError, ExitCode, setup_logging


def _positive_speed(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if value <= 0:
        raise click.BadParameter("--speed must be greater than 0")
    return value


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (keep 127.0.0.1 unless you mean it).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8188,
    show_default=True,
    help="Port (0 picks a free one).",
)
@click.option(
    "--speed",
    type=float,
    default=1.0,
    show_default=True,
    callback=_positive_speed,
    help="Scale every simulated delay: 10 runs ten times faster.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the server's input/output/temp/user files (default: a temporary folder, removed at exit).",
)
@click.option(
    "--api",
    "api",
    type=click.Choice(["0.3.64", "current"]),
    default="0.3.64",
    show_default=True,
    help="Which ComfyUI generation to imitate: 0.3.64 (the recorded one) or current "
    "(adds the jobs API, targeted cancel and strict prompt ids).",
)
@click.option(
    "--preview-method",
    type=click.Choice(["none", "auto", "latent2rgb", "taesd"]),
    default="auto",
    show_default=True,
    help="Sampler previews when a prompt does not choose (ComfyUI's --preview-method).",
)
def server(host: str, port: int, speed: float, data_dir: Path | None, api: str, preview_method: str) -> None:
    """Serve a ComfyUI-compatible API (HTTP + WebSocket) with simulated nodes.

    It answers /prompt, /queue, /history, /view, /object_info, /ws ... like ComfyUI
    0.3.64, running simulated nodes (demo checkpoint, RealityProgress/RealityFail...).
    Stop it with Ctrl-C.
    """
    setup_logging()
    from comfy_reality.server import serve

    try:  # serve() prints the URL once it is listening
        serve(
            host=host,
            port=port,
            speed=speed,
            data_dir=data_dir,
            api="current" if api == "current" else "0.3.64",
            preview_method=preview_method,  # type: ignore[arg-type]
        )
    except KeyboardInterrupt:
        click.echo("Server stopped.", err=True)
    except OSError as exc:
        message = (
            str(exc) if "listen" in str(exc) else f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        )
        hint = (
            None
            if "--port" in message
            else "the port is probably taken (another ComfyUI?); pick another with --port"
        )
        raise CliError(message, ExitCode.FAILED, hint=hint) from exc
