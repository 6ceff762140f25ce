"""Thumbnails of an execution's output images: arrow keys move, Enter opens one full-screen.

Thumbnails are fetched through ``ImageSupport.fetch_output`` (the runtime downloads them from
the server's /view), decoded and scaled in a thread, and cached, so moving back and forth or
reselecting an execution decodes nothing again.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ...runtime.models import OutputFile
from ...safe_text import safe_str
from ..images import ImageSupport, image_widget, show_picture
from .live_text import LiveText

THUMB_COLUMNS = 22
THUMB_ROWS = 7
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


def is_image(file: OutputFile) -> bool:
    return file.kind == "images" and file.filename.lower().endswith(IMAGE_SUFFIXES)


def short_name(filename: str, width: int = THUMB_COLUMNS) -> str:
    """A file name cut in the middle to ``width``: its end (counter, extension) tells outputs apart."""
    name = safe_str(filename, one_line=True)
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return f"{name[:head]}…{name[head + 1 - width :]}"


def output_cache_key(prompt_id: str | None, file: OutputFile) -> tuple[str, ...]:
    return (prompt_id or "", file.node_id, file.subfolder, file.filename, file.type)


class Thumbnail(Vertical):
    """One output: its picture (once loaded) and its name."""

    DEFAULT_CSS = f"""
    Thumbnail {{
        width: {THUMB_COLUMNS + 2};
        height: auto;
        border: round $panel-lighten-2;
        padding: 0;
    }}
    Thumbnail.-selected {{
        border: round $accent;
    }}
    Thumbnail > .thumb-image {{
        width: auto;
        height: {THUMB_ROWS};
    }}
    Thumbnail > .thumb-name {{
        height: 1;
        width: 100%;
    }}
    """

    def __init__(self, file: OutputFile, images: ImageSupport) -> None:
        super().__init__()
        self.file = file
        self.images = images
        self.loaded = False

    def compose(self) -> ComposeResult:
        self.picture = image_widget(self.images.renderer, classes="thumb-image")
        yield self.picture
        yield LiveText(Text(short_name(self.file.filename), no_wrap=True, style="dim"), classes="thumb-name")

    def on_click(self, event: events.Click) -> None:
        gallery = next((a for a in self.ancestors if isinstance(a, Gallery)), None)
        if gallery is not None and self.file in gallery.files:
            gallery.focus()
            gallery.selected = gallery.files.index(self.file)
            if event.chain >= 2:
                gallery.action_open()


class Gallery(Widget, can_focus=True):
    """The output images of one execution, side by side."""

    BINDINGS = [
        Binding("left", "move(-1)", "Previous", show=False),
        Binding("right", "move(1)", "Next", show=False),
        Binding("enter", "open", "Open", id="gallery_open"),
        Binding("v", "open_external", "Viewer", id="gallery_viewer"),
        Binding("y", "copy_path", "Copy path", id="gallery_copy_path"),
    ]

    DEFAULT_CSS = """
    Gallery {
        height: auto;
        margin-top: 1;
    }
    Gallery > .gallery-title {
        height: auto;  /* the keys wrap onto a second line in a narrow pane rather than lose their end */
    }
    Gallery > HorizontalScroll {
        height: auto;
        scrollbar-size-horizontal: 1;
    }
    Gallery:focus > .gallery-title {
        text-style: bold reverse;
    }
    """

    selected: reactive[int] = reactive(0)

    class Opened(Message):
        """Enter (or a click) on a thumbnail: show it full-screen."""

        def __init__(self, gallery: Gallery, prompt_id: str | None, file: OutputFile) -> None:
            super().__init__()
            self.gallery = gallery
            self.prompt_id = prompt_id
            self.file = file

    class ExternalRequested(Message):
        def __init__(self, prompt_id: str | None, file: OutputFile) -> None:
            super().__init__()
            self.prompt_id = prompt_id
            self.file = file

    class CopyRequested(Message):
        def __init__(self, prompt_id: str | None, file: OutputFile) -> None:
            super().__init__()
            self.prompt_id = prompt_id
            self.file = file

    def __init__(self, images: ImageSupport, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.images = images
        self.prompt_id: str | None = None
        self.files: list[OutputFile] = []
        self._key: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        self.title = LiveText(classes="gallery-title")
        yield self.title
        # Not a Tab stop of its own: the gallery takes the keys (its ←/→ would scroll, not pick).
        self.strip = HorizontalScroll(can_focus=False)
        yield self.strip

    def show_outputs(self, prompt_id: str | None, files: list[OutputFile]) -> None:
        """Replace the thumbnails when the execution or its list of images changed."""
        images = [f for f in files if is_image(f)]
        key = (prompt_id, tuple(output_cache_key(prompt_id, f) for f in images))
        if key == self._key:
            return
        self._key = key
        self.prompt_id = prompt_id
        self.files = images
        self.strip.remove_children()
        thumbs = [Thumbnail(f, self.images) for f in images]
        if thumbs:
            self.strip.mount_all(thumbs)
        self.selected = 0
        self._retitle()
        self._mark()
        for thumb in thumbs:
            self.run_worker(self._load(thumb), group="gallery", exit_on_error=False)

    @property
    def thumbnails(self) -> list[Thumbnail]:
        return list(self.strip.query(Thumbnail))

    @property
    def current(self) -> OutputFile | None:
        return self.files[self.selected] if 0 <= self.selected < len(self.files) else None

    async def _load(self, thumb: Thumbnail) -> None:
        fetch = self.images.fetch_output
        if fetch is None:
            return
        width, height = self.images.pixels_for(THUMB_COLUMNS, THUMB_ROWS)
        file = thumb.file

        async def source() -> bytes:
            return await fetch(file)

        try:
            picture = await self.images.loader.load(
                output_cache_key(self.prompt_id, file), source, width, height
            )
        except Exception as exc:  # unreachable server, not an image: the name stays, marked
            thumb.query_one(".thumb-name", LiveText).set(
                Text(short_name(f"{file.filename} ({type(exc).__name__})"), style="yellow", no_wrap=True)
            )
            return
        if thumb.is_attached:
            show_picture(thumb.picture, picture)
            thumb.loaded = True

    def _retitle(self) -> None:
        count = len(self.files)
        title = Text(f"Images ({count})", style="bold")
        if count:
            title.append("  ←/→ pick · Enter full screen · v viewer · y copy path · o save", style="dim")
        self.title.set(title)
        self.display = bool(count)

    def _mark(self) -> None:
        for index, thumb in enumerate(self.thumbnails):
            thumb.set_class(index == self.selected, "-selected")

    def watch_selected(self) -> None:
        if self.is_mounted:
            self._mark()
            thumbs = self.thumbnails
            if 0 <= self.selected < len(thumbs):
                self.strip.scroll_to_widget(thumbs[self.selected], animate=False)

    def action_move(self, delta: int) -> None:
        if self.files:
            self.selected = max(0, min(len(self.files) - 1, self.selected + delta))

    def action_open(self) -> None:
        if self.current is not None:
            self.post_message(self.Opened(self, self.prompt_id, self.current))

    def action_open_external(self) -> None:
        if self.current is not None:
            self.post_message(self.ExternalRequested(self.prompt_id, self.current))

    def action_copy_path(self) -> None:
        if self.current is not None:
            self.post_message(self.CopyRequested(self.prompt_id, self.current))
