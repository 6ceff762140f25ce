"""`comfy-reality server`: the embedded ComfyUI look-alike, for demos and offline tests."""

from __future__ import annotations

import click

from ._common import CliError, ExitCode, setup_logging


@click.command()
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
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Scale every simulated delay: 10 runs ten times faster.",
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
def server(host: str, port: int, speed: float, api: str) -> None:
    """Serve a ComfyUI-compatible API (HTTP + WebSocket) with simulated nodes.

    It answers /prompt, /queue, /history, /view, /object_info, /ws ... like ComfyUI
    0.3.64, running simulated nodes (demo checkpoint, RealityProgress/RealityFail...).
    Stop it with Ctrl-C.
    """
    setup_logging()
    from comfy_reality.server import serve

    try:  # serve() prints the URL once it is listening
        serve(host=host, port=port, speed=speed, api="current" if api == "current" else "0.3.64")
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
