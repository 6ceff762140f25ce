"""Leaving the terminal with a picture: the desktop's viewer, and a path for the clipboard.

The viewer is started without waiting on the UI loop (``xdg-open``/``open`` return at once
anyway), and only where there is a display to show it on.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App

    from ..runtime.models import OutputFile
    from .images import ImageSupport
    from .widgets.gallery import Gallery


def has_display() -> bool:
    if sys.platform == "darwin" or sys.platform == "win32":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def viewer_command() -> list[str] | None:
    """The desktop's "open this file" command, or None where there is none (or no display)."""
    if not has_display():
        return None
    if sys.platform == "darwin":
        return ["open"]
    if sys.platform == "win32":
        return None  # os.startfile, see open_with_viewer
    opener = shutil.which("xdg-open")
    return [opener] if opener else None


def server_path(file: OutputFile) -> str:
    """Where the file lives on the server, relative to its ComfyUI folder (``output/sub/name.png``)."""
    parts = [file.type, *([file.subfolder] if file.subfolder else []), file.filename]
    return "/".join(parts)


def _write_temp(data: bytes, filename: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="comfy-reality-"))
    target = folder / (Path(filename).name or "image.png")  # the name only: never a path from the server
    target.write_bytes(data)
    return target


async def open_with_viewer(data: bytes, filename: str) -> Path:
    """Write the picture to a private temp file and hand it to the desktop's viewer; returns the file.

    Raises OSError when there is no display or no viewer command.
    """
    command = viewer_command()
    if command is None and sys.platform != "win32":
        raise OSError("no display or no xdg-open/open here: save it with o instead")
    path = await asyncio.to_thread(_write_temp, data, filename)
    if sys.platform == "win32":  # pragma: no cover - not tested on Windows
        await asyncio.to_thread(os.startfile, path)  # type: ignore[attr-defined]
        return path
    assert command is not None
    process = await asyncio.create_subprocess_exec(
        *command,
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    await process.wait()  # xdg-open/open hand over to the viewer and return
    return path


def _key(prompt_id: str | None, file: OutputFile) -> tuple[str, ...]:
    return (prompt_id or "", file.node_id, file.subfolder, file.filename, file.type)


async def open_externally(
    app: App[object], images: ImageSupport, prompt_id: str | None, file: OutputFile
) -> None:
    """Fetch the picture and show it in the desktop's viewer; problems become a notification."""
    if viewer_command() is None and sys.platform != "win32":
        # y works wherever v does (gallery, full screen, either history); o does not.
        app.notify("No display here to open a viewer on; y copies the picture's path.", severity="warning")
        return
    if images.fetch_output is None:
        return
    try:
        data = await images.fetch_output(file)
        path = await open_with_viewer(data, file.filename)
    except Exception as exc:
        app.notify(f"Cannot open {file.filename}: {exc}", severity="error")
        return
    images.local_paths[_key(prompt_id, file)] = path
    app.notify(f"Opened {file.filename} in the desktop viewer", timeout=3)


def copy_path(app: App[object], images: ImageSupport, prompt_id: str | None, file: OutputFile) -> str:
    """Copy the local copy's path if there is one (viewer), else where it is on the server."""
    local = images.local_paths.get(_key(prompt_id, file))
    text = str(local) if local is not None else server_path(file)
    app.copy_to_clipboard(text)
    app.notify(f"Copied {text}", timeout=3)
    return text


class GalleryActions:
    """What a gallery's keys do, for any widget or screen that shows one (Enter, v, y).

    A mixin: Textual finds ``on_gallery_*`` handlers through the class's MRO, so the execution
    view and the History screen share one copy. ``images`` is None when pictures are off.
    """

    images: ImageSupport | None

    if TYPE_CHECKING:  # provided by the Textual widget or screen this is mixed into

        @property
        def app(self) -> App[object]: ...

    def on_gallery_opened(self, message: Gallery.Opened) -> None:
        message.stop()
        if self.images is not None:
            from .screens.image_viewer import ImageViewerScreen

            self.app.push_screen(ImageViewerScreen(self.images, message.prompt_id, message.file))

    def on_gallery_external_requested(self, message: Gallery.ExternalRequested) -> None:
        message.stop()
        if self.images is not None:
            self.app.run_worker(  # the viewer outlives this screen: the app owns the job
                open_externally(self.app, self.images, message.prompt_id, message.file),
                group="open-image",
                exit_on_error=False,
            )

    def on_gallery_copy_requested(self, message: Gallery.CopyRequested) -> None:
        message.stop()
        if self.images is not None:
            copy_path(self.app, self.images, message.prompt_id, message.file)
