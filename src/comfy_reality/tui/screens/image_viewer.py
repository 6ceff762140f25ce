"""One output image full-screen, with its file name, pixel size, byte size and node; Esc goes back."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center
from textual.screen import Screen

from ...runtime.models import OutputFile
from .. import format as fmt
from ..image_actions import copy_path, open_externally
from ..images import ImageSupport, image_size, image_widget, show_picture
from ..widgets.gallery import output_cache_key
from ..widgets.live_text import LiveText


def viewer_title(file: OutputFile, dimensions: tuple[int, int] | None, size: int | None) -> Text:
    text = Text(file.filename if not file.subfolder else f"{file.subfolder}/{file.filename}", style="bold")
    facts = []
    if dimensions is not None:
        facts.append(f"{dimensions[0]}×{dimensions[1]}")
    if size is not None:
        facts.append(fmt.size(size))
    facts.append(f"node {file.node_id}")
    facts.append(file.type)
    text.append("  " + " · ".join(facts), style="dim")
    return text


class ImageViewerScreen(Screen[None]):
    """Enter on a thumbnail opens this; the picture fills what the terminal has."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="viewer.back"),
        Binding("q", "app.pop_screen", "Back", show=False, id="viewer.back_q"),
        Binding("v", "open_external", "Desktop viewer", id="viewer.external"),
        Binding("y", "copy_path", "Copy path", id="viewer.copy_path"),
    ]

    DEFAULT_CSS = """
    ImageViewerScreen {
        layout: vertical;
    }
    ImageViewerScreen > #viewer-title {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    ImageViewerScreen > #viewer-hint {
        height: 1;
        padding: 0 1;
        dock: bottom;
    }
    ImageViewerScreen > Center {
        height: 1fr;
    }
    ImageViewerScreen #viewer-image {
        width: auto;
        height: 1fr;
    }
    """

    def __init__(self, images: ImageSupport, prompt_id: str | None, file: OutputFile) -> None:
        super().__init__()
        self.images = images
        self.prompt_id = prompt_id
        self.file = file
        self.data: bytes | None = None
        self.dimensions: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        self.title_text = LiveText(viewer_title(self.file, None, None), id="viewer-title")
        yield self.title_text
        with Center():
            self.picture = image_widget(self.images.renderer, id="viewer-image")
            yield self.picture
        yield LiveText(
            Text("Esc back · v open in the desktop viewer · y copy its path", style="dim"), id="viewer-hint"
        )

    def on_mount(self) -> None:
        self.run_worker(self._load(), group="viewer", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        fetch = self.images.fetch_output
        if fetch is None:
            return
        try:
            data = await fetch(self.file)
        except Exception as exc:
            self.title_text.set(Text(f"{self.file.filename}: cannot fetch it ({exc})", style="red"))
            return
        self.data = data
        self.dimensions = image_size(data)
        self.title_text.set(viewer_title(self.file, self.dimensions, len(data)))
        size = self.size
        width, height = self.images.pixels_for(max(10, size.width), max(4, size.height - 2))

        async def source() -> bytes:
            return data

        try:
            picture = await self.images.loader.load(
                (*output_cache_key(self.prompt_id, self.file), "full"), source, width, height
            )
        except Exception as exc:
            self.title_text.set(Text(f"{self.file.filename}: not a readable image ({exc})", style="red"))
            return
        show_picture(self.picture, picture)

    def action_open_external(self) -> None:
        self.run_worker(
            open_externally(self.app, self.images, self.prompt_id, self.file),
            group="viewer-open",
            exit_on_error=False,
        )

    def action_copy_path(self) -> None:
        copy_path(self.app, self.images, self.prompt_id, self.file)
