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
    "--preview-method",
    type=click.Choice(["none", "auto", "latent2rgb", "taesd"]),
    default="auto",
    show_default=True,
    help="Sampler previews when a prompt does not choose (ComfyUI's --preview-method).",
)
def server(host: str, port: int, speed: float, preview_method: str) -> None:
    """Serve a ComfyUI-compatible API (HTTP + WebSocket) with simulated nodes.

    It answers /prompt, /queue, /history, /view, /object_info, /ws ... like ComfyUI
    0.3.64, running simulated nodes (demo checkpoint, RealityProgress/RealityFail...).
    Stop it with Ctrl-C.
    """
    setup_logging()
    from comfy_reality.server import serve

    try:  # serve() prints the URL once it is listening
        serve(host=host, port=port, speed=speed, preview_method=preview_method)  # type: ignore[arg-type]
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
