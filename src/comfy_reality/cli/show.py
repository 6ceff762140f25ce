"""`comfy-reality show FILE... | PROMPT_ID`, and `run --show`: pictures drawn in the terminal.

The same renderers as the app (textual-image's Rich renderables: Kitty graphics, Sixel or half
blocks), chosen by the config key ``images`` or ``--images``; ``auto`` asks the terminal. When
stdout is not a terminal nothing is drawn (a picture is no use to a pipe).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._common import CliError, json_option, run_client_command, server_options, settings_for, setup_logging

if TYPE_CHECKING:
    from rich.console import Console

    from comfy_reality.runtime import ComfyUIClient

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
MAX_COLUMNS = 80


@dataclass
class Picture:
    """Bytes to draw and the caption above them (file name, where it came from)."""

    caption: str
    data: bytes


def terminal_renderer(mode: str) -> str:
    """The renderer to draw with, or ``off`` when stdout is not a terminal."""
    if not sys.stdout.isatty():
        return "off"
    from comfy_reality.tui.images import resolve_renderer

    return resolve_renderer(mode)


def draw(
    pictures: list[Picture], renderer: str, columns: int | None = None, console: Console | None = None
) -> int:
    """Print each picture with its caption; returns how many were drawn (0 when ``off``)."""
    if renderer == "off" or not pictures:
        return 0
    from rich.console import Console
    from rich.text import Text

    from comfy_reality.tui.images import decode_scaled, fit_columns, image_size, rich_renderable

    console = console or Console()
    width = min(columns or console.width, MAX_COLUMNS)
    drawn = 0
    for picture in pictures:
        size = image_size(picture.data)
        caption = Text(picture.caption, style="bold")  # names from a server are data, never markup
        if size is None:
            caption.append("  (not an image)", style="yellow")
            console.print(caption)
            continue
        caption.append(f"  {size[0]}×{size[1]}", style="dim")
        console.print(caption)
        columns = fit_columns(size, width, max(4, console.height - 3))
        # Scale once here: the renderable would otherwise resize the full picture per line.
        scaled = decode_scaled(picture.data, columns * 20, columns * 40)
        console.print(rich_renderable(renderer, scaled, width=columns))  # type: ignore[arg-type]
        drawn += 1
    return drawn


def pictures_from_files(paths: list[Path]) -> list[Picture]:
    return [Picture(str(path), path.read_bytes()) for path in paths if path.suffix.lower() in IMAGE_SUFFIXES]


async def pictures_of_prompt(client: ComfyUIClient, prompt_id: str) -> list[Picture]:
    """The output images of a prompt in the server's history, fetched through /view."""
    from comfy_reality.runtime.models import output_files_from

    entry = await client.get_history_entry(prompt_id)
    if entry is None:
        raise CliError(f"no prompt {prompt_id} in the server's history")
    pictures: list[Picture] = []
    for file in output_files_from(entry.outputs):
        if file.kind != "images" or not file.filename.lower().endswith(IMAGE_SUFFIXES):
            continue
        data = await client.view(file.filename, file.subfolder, file.type)
        where = f"{file.subfolder}/{file.filename}" if file.subfolder else file.filename
        pictures.append(Picture(f"{where} (node {file.node_id}, {file.type})", bytes(data)))
    return pictures


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="FILE... | PROMPT_ID")
@server_options
@click.option(
    "--images",
    type=click.Choice(["auto", "kitty", "sixel", "halfblock"]),
    help="How to draw (default: config key images, else auto: ask the terminal).",
)
@json_option
def show(
    targets: tuple[str, ...], server_url: str | None, token: str | None, images: str | None, as_json: bool
) -> None:
    """Draw saved images (FILE...) or the output images of a prompt in the server's history.

    Nothing is drawn when stdout is not a terminal or with --json (which lists what would be).
    """
    settings = settings_for(server_url, token, images=images)
    setup_logging(settings)
    paths = [Path(t) for t in targets]
    if all(p.is_file() for p in paths):
        pictures = pictures_from_files(paths)
    elif len(targets) == 1 and not Path(targets[0]).exists():
        prompt_id = targets[0]

        async def body(client: ComfyUIClient) -> list[Picture]:
            return await pictures_of_prompt(client, prompt_id)

        pictures = run_client_command(settings, body)
    else:
        missing = ", ".join(t for t in targets if not Path(t).is_file())
        raise CliError(f"not files: {missing} (give image files, or one prompt id)")
    if as_json:
        import json

        for picture in pictures:
            size = _size(picture.data)
            click.echo(json.dumps({"image": picture.caption, "bytes": len(picture.data), "size": size}))
        return
    if not pictures:
        click.echo("No images to show.", err=True)
        return
    if settings.images == "off":
        click.echo("Images are off (config key images); nothing drawn.", err=True)
        return
    if draw(pictures, terminal_renderer(settings.images)) == 0:
        click.echo("stdout is not a terminal: nothing drawn (use --json for the list).", err=True)


def _size(data: bytes) -> list[int] | None:
    from comfy_reality.tui.images import image_size

    size = image_size(data)
    return list(size) if size else None


__all__ = ["Picture", "draw", "pictures_from_files", "show", "terminal_renderer"]
